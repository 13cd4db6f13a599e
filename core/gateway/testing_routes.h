/* testing_routes.h - test-only REST routes ([testing] emit_routes): trigger
 * emits and read the emitter's counters, so interop tests and benchmarks can
 * drive the core before any plugin is loaded. Never enabled in production. */
#ifndef IOGATE_TESTING_ROUTES_H
#define IOGATE_TESTING_ROUTES_H

#include "gateway/gateway.h"

/* Registers POST /testing/emit and GET /testing/stats. Returns 0 or -1 with err. */
int testing_routes_install(gateway_t *gw, char *err, size_t err_size);

#endif
