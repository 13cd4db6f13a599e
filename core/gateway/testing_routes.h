/* testing_routes.h - test-only REST routes ([testing] emit_routes): trigger
 * emits and read the emitter's counters, so interop tests and benchmarks can
 * drive the core before any plugin is loaded. Never enabled in production. */
#ifndef IOGATE_TESTING_ROUTES_H
#define IOGATE_TESTING_ROUTES_H

#include "http/http.h"
#include "rest/rest.h"
#include "sio/sio_server.h"

/* What the routes act on and report (borrowed). */
typedef struct testing_routes {
    sio_server_t *sio;
    http_server_t *http;
    struct cluster *cluster; /* NULL for one node alone */
} testing_routes_t;

/* Registers the test routes (testing_routes.c) on rest; t must outlive the routes.
 * Returns 0 or -1 with err. */
int testing_routes_install(testing_routes_t *t, rest_t *rest, char *err, size_t err_size);

#endif
