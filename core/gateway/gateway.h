/* gateway.h - the loop's context: configuration, HTTP server, REST router and
 * (as they land) the Engine.IO / Socket.IO layers and plugins.
 *
 * Everything the process mutates lives under one gateway_t, owned by main()
 * and touched only from the loop thread. */
#ifndef IOGATE_GATEWAY_H
#define IOGATE_GATEWAY_H

#include <uv.h>

#include "auth/authenticator.h"
#include "config/config.h"
#include "eio/eio_server.h"
#include "gateway/handoff.h"
#include "gateway/metrics.h"
#include "gateway/service_notify.h"
#include "gateway/testing_routes.h"
#include "http/http.h"
#include "rest/rest.h"
#include "sio/sio_server.h"

typedef struct gateway gateway_t;

struct gateway {
    uv_loop_t *loop;
    const config_t *cfg;
    http_server_t *http;
    authenticator_t *auth; /* the identity behind a request's credentials */
    rest_t *rest;          /* REST routes: /healthz, the plugins', the test routes */
    eio_server_t *echo;    /* [testing] engineio_echo_path: plain Engine.IO echo endpoint */
    sio_server_t *sio;     /* Socket.IO at [socketio] path */
    struct plugin_host *plugins;
    struct cluster *cluster;     /* [cluster] adapter = "redis"; NULL for one node alone */
    testing_routes_t testing;    /* [testing] emit_routes */
    metrics_t metrics;           /* GET /metrics */
    http_route_stats_t engineio_stats[HTTP_METHOD_CLASSES]; /* answers of the Socket.IO path */
    http_server_t *ops_http;     /* [metrics] listen: /metrics, /healthz, /readyz; else NULL */
    rest_t *ops_rest;            /* its routes */
    service_notify_t notify;     /* systemd: READY, STOPPING, WATCHDOG, STATUS */
    const worker_slot_t *worker; /* this process's place among [server] workers; NULL alone */
    handoff_t *handoff;          /* workers: connections other workers pass to this one */
    uv_signal_t sigint, sigterm;
    int stopping;
    int signals_started;
    int exit_code;
};

/* What gateway_init would refuse in cfg beyond its own validation, without starting anything:
 * the key files must be readable and the keys fit the algorithms, the plugins load and their
 * checks accept their tables (`iogate --check-config`). What the checks say (what a plugin
 * would use) goes to note. Returns 0, or -1 with err. */
int gateway_check_config(const config_t *cfg, void (*note)(void *user, const char *line),
                         void *user, char *err, size_t err_size);
/* Sets up the server from cfg (which must outlive the gateway), as one of several workers
 * when worker is not NULL (it must outlive the gateway too). Returns 0, or -1 with err. */
int gateway_init(gateway_t *gw, uv_loop_t *loop, const config_t *cfg, const worker_slot_t *worker,
                 char *err, size_t err_size);
/* Listens and runs the loop until a signal (or gateway_stop) has drained it. Returns the exit code.
 */
int gateway_run(gateway_t *gw, char *err, size_t err_size);
/* Begins the graceful shutdown (same as SIGTERM). */
void gateway_stop(gateway_t *gw);
void gateway_free(gateway_t *gw);

#endif
