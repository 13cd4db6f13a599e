/* gateway.h - the loop's context: configuration, HTTP server, REST router and
 * (as they land) the Engine.IO / Socket.IO layers and plugins.
 *
 * Everything the process mutates lives under one gateway_t, owned by main()
 * and touched only from the loop thread. */
#ifndef IOGATE_GATEWAY_H
#define IOGATE_GATEWAY_H

#include <uv.h>

#include "config/config.h"
#include "auth/jwt_verify.h"
#include "auth/origin.h"
#include "eio/eio_server.h"
#include "sio/sio_server.h"
#include "http/http.h"
#include "http/router.h"

typedef struct gateway gateway_t;

/* A REST route's handler. params holds the matched path parameters. */
typedef void (*gateway_route_fn)(gateway_t *gw, http_request_t *req, const router_match_t *params,
                                 void *user);

struct gateway {
    uv_loop_t *loop;
    const config_t *cfg;
    http_server_t *http;
    router_t *router;
    eio_server_t *echo;       /* [testing] engineio_echo_path: plain Engine.IO echo endpoint */
    sio_server_t *sio;        /* Socket.IO at [socketio] path */
    jwt_verifier_t *verifier; /* NULL when no key is configured */
    origin_policy_t origins;  /* pages whose requests may use the auth cookie */
    struct plugin_host *plugins;
    struct gateway_route *routes; /* every registered route record, for freeing */
    uv_signal_t sigint, sigterm;
    int stopping;
    int signals_started;
    int exit_code;
};

/* What gateway_init would refuse in cfg beyond its own validation, without starting anything:
 * the key files must be readable and the keys fit the algorithms (`iogate --check-config`).
 * Returns 0, or -1 with err. */
int gateway_check_config(const config_t *cfg, char *err, size_t err_size);
/* Sets up the server from cfg (which must outlive the gateway). Returns 0, or -1 with err. */
int gateway_init(gateway_t *gw, uv_loop_t *loop, const config_t *cfg, char *err, size_t err_size);
/* Listens and runs the loop until a signal (or gateway_stop) has drained it. Returns the exit code.
 */
int gateway_run(gateway_t *gw, char *err, size_t err_size);
/* Begins the graceful shutdown (same as SIGTERM). */
void gateway_stop(gateway_t *gw);
void gateway_free(gateway_t *gw);

/* Removes every route registered with this user pointer (a failed plugin's routes). */
size_t gateway_remove_routes(gateway_t *gw, void *user);
/* The REST auth helper: verifies the token from an "Authorization: Bearer" header or, failing
 * that, the auth cookie. Returns 0 with *out filled (free with jwt_principal_free), or the
 * status to refuse with and its reason in *reason: 401 (no token, or not valid), 403 (the
 * cookie on a state-changing request from a foreign page: auth/origin.h) or 415 (the cookie
 * on a state-changing request whose body is not JSON, which a foreign form could send). */
int gateway_authenticate(gateway_t *gw, http_request_t *req, jwt_principal_t *out,
                         const char **reason);

/* Registers a REST route; the route record is owned by the gateway. Returns 0 or a
 * ROUTER_E* error with err. */
int gateway_add_route(gateway_t *gw, const char *method, const char *pattern, gateway_route_fn fn,
                      void *user, char *err, size_t err_size);

#endif
