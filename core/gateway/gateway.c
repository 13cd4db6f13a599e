/* gateway.c - wires the HTTP server to the router and the protocol layers,
 * handles signals and the graceful shutdown. */
#include "gateway/gateway.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "base/log.h"
#include "base/json_out.h"
#include "base/mem.h"
#include "cluster/cluster.h"
#include "plugins/plugin_host.h"

static void route_healthz(void *user, http_request_t *req, const router_match_t *m)
{
    (void)user, (void)m;
    static const char body[] = "{\"status\":\"ok\"}";
    http_respond_json_text(req, 200, body, sizeof(body) - 1);
}

static void add_failing(void *user, const char *name, const char *reason)
{
    json_object_set_new(user, name, json_string(reason));
}

/* Readiness, for load balancers and orchestrators (/healthz is liveness): 200 while this node
 * takes work, 503 naming each failing check (the fleet's Redis unreachable, shutting down). */
static void route_readyz(void *user, http_request_t *req, const router_match_t *m)
{
    (void)m;
    gateway_t *gw = user;
    json_t *failing = json_object();
    if (gw->stopping) json_object_set_new(failing, "shutdown", json_string("draining"));
    if (gw->cluster && !cluster_ready(gw->cluster)) {
        const redis_link_stats_t *ls = cluster_link_stats(gw->cluster);
        buf_t why = BUF_INIT;
        buf_printf(&why, "Redis %s%s%s",
                   ls->state == REDIS_LINK_CONNECTING ? "connecting" : "unreachable",
                   ls->last_error[0] ? ": " : "", ls->last_error);
        json_object_set_new(failing, "cluster", json_stringn(why.data, why.len));
        buf_free(&why);
    }
    plugin_host_each_unready(gw->plugins, add_failing, failing);
    json_t *body = json_object();
    int ready = json_object_size(failing) == 0;
    json_object_set_new(body, "status", json_string(ready ? "ready" : "not_ready"));
    if (!ready) json_object_set(body, "failing", failing);
    buf_t text = BUF_INIT;
    json_out_append(&text, body);
    if (!ready) http_response_header(req, "Retry-After", "1");
    http_respond_json_text(req, ready ? 200 : 503, text.data, text.len);
    buf_free(&text);
    json_decref(body);
    json_decref(failing);
}

static void on_request(void *user, http_request_t *req)
{
    gateway_t *gw = user;
    if (eio_server_matches(sio_server_eio(gw->sio), req)) {
        eio_server_handle(sio_server_eio(gw->sio), req);
        return;
    }
    if (gw->echo && eio_server_matches(gw->echo, req)) {
        eio_server_handle(gw->echo, req);
        return;
    }
    if (http_request_is_upgrade(req)) {
        http_response_close(req);
        http_respond_error(req, 400, "bad_request", "no upgrade is offered at this path");
        return;
    }
    rest_handle(gw->rest, req);
}

static void echo_on_message(void *user, eio_socket_t *s, int binary, const char *data, size_t len)
{
    (void)user;
    eio_socket_send(s, binary, data, len);
}

/* Engine.IO options shared by every endpoint, from [socketio]. */
static void eio_options_from_config(const config_t *cfg, const char *path, eio_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->path = path;
    o->ping_interval_ms = (uint64_t)cfg->socketio.ping_interval_ms;
    o->ping_timeout_ms = (uint64_t)cfg->socketio.ping_timeout_ms;
    o->upgrade_timeout_ms = (uint64_t)cfg->socketio.upgrade_timeout_ms;
    o->max_payload = (size_t)cfg->socketio.max_payload_bytes;
    o->max_outbox_bytes = (size_t)cfg->limits.max_outbox_bytes;
    for (size_t i = 0; i < cfg->socketio.transports.len; i++) {
        if (strcmp(cfg->socketio.transports.items[i], "polling") == 0) o->allow_polling = 1;
        if (strcmp(cfg->socketio.transports.items[i], "websocket") == 0) o->allow_websocket = 1;
    }
    o->cors_origins = (const char *const *)cfg->socketio.cors_origins.items;
    o->cors_origins_len = cfg->socketio.cors_origins.len;
}

/* [http] max_connections: 0 (the default) takes what the open-file limit allows; a value
 * past that is lowered to it, since a connection that cannot be accepted cannot even be
 * answered 503. Either way the value in force is logged. */
static size_t max_connections_from_config(const config_t *cfg)
{
    size_t nofile, fit = http_connection_capacity(HTTP_RESERVED_DESCRIPTORS, &nofile);
    size_t want = (size_t)cfg->http.max_connections;
    if (!fit) fit = 1; /* a limit below the reserve: the accept loop's EMFILE path copes */
    if (want == 0) {
        log_info("http",
                 "accepting up to %zu connections (open-file limit %zu, %d kept for the "
                 "server; [http] max_connections sets another)",
                 fit, nofile, HTTP_RESERVED_DESCRIPTORS);
        return fit;
    }
    if (want > fit) {
        log_warn("http",
                 "[http] max_connections = %zu lowered to %zu: the open-file limit is %zu "
                 "and %d descriptors are kept for the server (raise LimitNOFILE / ulimit -n)",
                 want, fit, nofile, HTTP_RESERVED_DESCRIPTORS);
        return fit;
    }
    log_info("http", "accepting up to %zu connections", want);
    return want;
}

static void limits_from_config(const config_t *cfg, http_limits_t *lim)
{
    http_limits_default(lim);
    lim->max_header_bytes = (size_t)cfg->http.max_header_bytes;
    lim->max_body_bytes = (size_t)cfg->http.max_body_bytes;
    lim->header_timeout_ms = (uint64_t)cfg->http.header_timeout_ms;
    lim->body_timeout_ms = (uint64_t)cfg->http.body_timeout_ms;
    lim->idle_timeout_ms = (uint64_t)cfg->http.idle_timeout_ms;
    lim->max_connections = max_connections_from_config(cfg);
    lim->max_pipelined = (size_t)cfg->http.max_pipelined;
    lim->max_queued_output = (size_t)cfg->http.max_queued_output_bytes;
    lim->linger_ms = (uint64_t)cfg->http.linger_ms;
    lim->immediate_writes_per_turn = (unsigned)cfg->http.immediate_writes_per_turn;
    lim->max_client_bytes = (size_t)cfg->limits.max_client_bytes;
}

static int uses_redis(const config_t *cfg)
{
    return strcmp(cfg->cluster.adapter, "redis") == 0;
}

int gateway_check_config(const config_t *cfg, char *err, size_t err_size)
{
    if (authenticator_check_config(cfg, err, err_size) != 0) return -1;
    if (plugin_host_check_config(cfg, err, err_size) != 0) return -1;
    return uses_redis(cfg) ? cluster_check_config(cfg, err, err_size) : 0;
}

int gateway_init(gateway_t *gw, uv_loop_t *loop, const config_t *cfg, char *err, size_t err_size)
{
    memset(gw, 0, sizeof(*gw));
    gw->loop = loop;
    gw->cfg = cfg;
    gw->auth = authenticator_new(cfg, err, err_size);
    if (!gw->auth) return -1;
    gw->rest = rest_new(gw->auth);
    http_limits_t limits;
    limits_from_config(cfg, &limits);
    gw->http = http_server_new(loop, &limits, on_request, gw);
    if (rest_add_route(gw->rest, "GET", "/healthz", route_healthz, NULL, err, err_size) != 0 ||
        rest_add_route(gw->rest, "GET", "/readyz", route_readyz, gw, err, err_size) != 0)
        return -1;
    if (!authenticator_enabled(gw->auth))
        log_warn("auth", "no JWT key configured ([auth] jwt_secret, jwt_secret_file or "
                         "jwt_public_key_file): sockets connect unauthenticated");
    eio_options_t eo;
    eio_options_from_config(cfg, cfg->socketio.path, &eo);
    eo.budget = http_server_budget(gw->http);
    sio_options_t so = {
        .connect_timeout_ms = (uint64_t)cfg->socketio.connect_timeout_ms,
        .max_attachments = (size_t)cfg->socketio.max_attachments,
        .max_binary_bytes =
            (size_t)(cfg->socketio.max_binary_packet_bytes ? cfg->socketio.max_binary_packet_bytes
                                                           : cfg->socketio.max_payload_bytes),
        .attachment_timeout_ms = (uint64_t)cfg->socketio.attachment_timeout_ms,
        .max_unjoined = (size_t)cfg->socketio.max_unjoined_sessions,
        .max_unjoined_per_address = (size_t)cfg->socketio.max_unjoined_per_address,
        .auth = gw->auth,
        .keep_handshake = uses_redis(cfg), /* fetchSockets() of the fleet's Node peers */
    };
    if (cfg->socketio.connection_state_recovery) {
        /* Left out, the per-session bound follows a smaller max_recovery_bytes. */
        int64_t all = cfg->socketio.max_recovery_bytes;
        int64_t one = cfg->socketio.max_recovery_bytes_per_session;
        so.recovery = (sio_recovery_options_t){(uint64_t)cfg->socketio.max_disconnection_ms,
                                               (size_t)all, (size_t)(one < all ? one : all)};
    }
    gw->sio = sio_server_new(loop, &eo, &so);
    for (size_t i = 0; i < cfg->socketio.namespaces.len; i++)
        sio_server_nsp(gw->sio, cfg->socketio.namespaces.items[i]);
    struct timeval now;
    gettimeofday(&now, NULL);
    gw->metrics = (metrics_t){cfg, gw->http, gw->sio, NULL, (int64_t)now.tv_sec};
    if (metrics_install(&gw->metrics, gw->rest, err, err_size) != 0) return -1;
    if (cfg->testing.emit_routes) {
        gw->testing.sio = gw->sio;
        gw->testing.http = gw->http;
        if (testing_routes_install(&gw->testing, gw->rest, err, err_size) != 0) return -1;
        log_warn("gateway", "test routes /testing/emit and /testing/stats are enabled");
    }
    plugin_host_deps_t deps = {loop, cfg, gw->rest, gw->sio};
    gw->plugins = plugin_host_new(&deps);
    if (plugin_host_load_config(gw->plugins, err, err_size) != 0) {
        /* Close what the plugins loaded so far (and a failed one) left open, so the
         * caller can free everything. */
        plugin_host_stop(gw->plugins);
        uv_run(loop, UV_RUN_DEFAULT);
        return -1;
    }
    if (cfg->testing.engineio_echo_path) {
        static const eio_callbacks_t echo_cb = {NULL, echo_on_message, NULL, NULL, NULL};
        eio_options_t o;
        eio_options_from_config(cfg, cfg->testing.engineio_echo_path, &o);
        o.budget = http_server_budget(gw->http);
        gw->echo = eio_server_new(loop, &o, &echo_cb, gw);
        log_warn("gateway", "test endpoint: plain Engine.IO echo at %s",
                 cfg->testing.engineio_echo_path);
    }
    /* Last: every namespace the config and the plugins make is known by now, and nothing
     * after this can fail (the link's handles would otherwise need a loop run to close). */
    if (uses_redis(cfg)) {
        gw->cluster = cluster_new(loop, cfg, gw->sio, err, err_size);
        if (!gw->cluster) return -1;
        gw->testing.cluster = gw->cluster;
        gw->metrics.cluster = gw->cluster;
    }
    return 0;
}

static void on_drained(void *user)
{
    gateway_t *gw = user;
    sio_server_release(gw->sio);
    if (gw->echo) eio_server_release(gw->echo);
    if (gw->signals_started) {
        uv_close((uv_handle_t *)&gw->sigint, NULL);
        uv_close((uv_handle_t *)&gw->sigterm, NULL);
    }
    log_info("gateway", "stopped");
}

/* Leaves the fleet: nothing more is published or received (shutdown). */
static void cluster_leave(gateway_t *gw)
{
    if (!gw->cluster) return;
    cluster_close(gw->cluster, NULL, NULL);
    gw->cluster = NULL;
    gw->testing.cluster = NULL;
    gw->metrics.cluster = NULL;
}

void gateway_stop(gateway_t *gw)
{
    if (gw->stopping) return;
    gw->stopping = 1;
    log_info("gateway", "shutting down (grace %lld ms)",
             (long long)gw->cfg->server.shutdown_grace_ms);
    /* Sessions first: their disconnect hooks may still use the plugins' timers. */
    sio_server_close_all(gw->sio);
    if (gw->echo) eio_server_close_all(gw->echo);
    cluster_leave(gw);
    plugin_host_stop(gw->plugins);
    http_server_shutdown(gw->http, (uint64_t)gw->cfg->server.shutdown_grace_ms, on_drained, gw);
}

static void on_signal(uv_signal_t *h, int signum)
{
    gateway_t *gw = h->data;
    if (gw->stopping) {
        log_warn("gateway", "second signal %d: exiting at once", signum);
        gw->exit_code = 1;
        uv_stop(gw->loop);
        return;
    }
    gateway_stop(gw);
}

int gateway_run(gateway_t *gw, char *err, size_t err_size)
{
    const config_t *cfg = gw->cfg;
    if (http_server_listen(gw->http, cfg->server.host, (int)cfg->server.port, err, err_size) != 0) {
        /* Close the handles the attempt opened (and the plugins' timers) before
         * anything is freed. */
        gw->stopping = 1;
        cluster_leave(gw);
        plugin_host_stop(gw->plugins);
        http_server_shutdown(gw->http, 0, on_drained, gw);
        uv_run(gw->loop, UV_RUN_DEFAULT);
        return 1;
    }
    gw->signals_started = 1;
    uv_signal_init(gw->loop, &gw->sigint);
    uv_signal_init(gw->loop, &gw->sigterm);
    gw->sigint.data = gw;
    gw->sigterm.data = gw;
    uv_signal_start(&gw->sigint, on_signal, SIGINT);
    uv_signal_start(&gw->sigterm, on_signal, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    log_info("gateway", "iogate %s listening on http://%s:%d", IOGATE_VERSION, cfg->server.host,
             http_server_port(gw->http));
    uv_run(gw->loop, UV_RUN_DEFAULT);
    return gw->exit_code;
}

void gateway_free(gateway_t *gw)
{
    plugin_host_free(gw->plugins); /* fini and dlclose, after the loop has stopped */
    if (gw->http) http_server_free(gw->http);
    eio_server_free(gw->echo);
    sio_server_free(gw->sio);
    rest_free(gw->rest);
    authenticator_free(gw->auth);
}
