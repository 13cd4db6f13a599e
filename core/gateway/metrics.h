/* metrics.h - GET /metrics: the Prometheus text exposition format (version 0.0.4) of what the
 * layers already count, named by Prometheus conventions with the iogate_ prefix, the metrics
 * plugins register (iogate_plugin_*, ABI 1.3), and the standard process_* metrics.
 *
 * Nothing here runs on the hot path: the counters are the layers' own plain integers (the
 * plugins' are atomics), read when a scrape comes. Who may scrape: the client addresses of
 * [metrics] allow (loopback by default), or anyone with "Authorization: Bearer" [metrics]
 * token; others get 403. README, "Metrics", lists the families. */
#ifndef IOGATE_METRICS_H
#define IOGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "auth/authenticator.h"
#include "config/config.h"
#include "http/http.h"
#include "rest/rest.h"
#include "sio/sio_server.h"

struct cluster;
struct plugin_host;

/* What the page reads (borrowed; each must outlive the route). */
typedef struct metrics {
    const config_t *cfg;
    http_server_t *http;                /* the public server: connections, unrouted answers */
    rest_t *rest;                       /* the public routes and their answers */
    const http_route_stats_t *engineio; /* [HTTP_METHOD_CLASSES]: the Engine.IO endpoint's */
    sio_server_t *sio;
    const authenticator_t *auth;
    const struct plugin_host *plugins; /* NULL until loaded */
    struct cluster *cluster;           /* NULL for one node alone, or once it left the fleet */
    int64_t start_time_s;              /* process start, for process_start_time_seconds */
} metrics_t;

/* Registers GET [metrics] path on rest (the public routes, or those of [metrics] listen) when
 * [metrics] enabled. Returns 0 or -1 with err. */
int metrics_install(metrics_t *m, rest_t *rest, char *err, size_t err_size);

/* Appends the whole page to out (exposed for the tests). */
void metrics_render(const metrics_t *m, buf_t *out);

#endif
