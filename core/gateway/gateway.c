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
#include <unistd.h>

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
        http_request_count_as(req,
                              &gw->engineio_stats[http_method_class(http_request_method(req))]);
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

/* [metrics] listen: its own routes only, and nothing of Engine.IO. */
static void on_ops_request(void *user, http_request_t *req)
{
    gateway_t *gw = user;
    if (http_request_is_upgrade(req)) {
        http_response_close(req);
        http_respond_error(req, 400, "bad_request", "no upgrade is offered at this path");
        return;
    }
    rest_handle(gw->ops_rest, req);
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

int gateway_check_config(const config_t *cfg, void (*note)(void *user, const char *line),
                         void *user, char *err, size_t err_size)
{
    if (authenticator_check_config(cfg, err, err_size) != 0) return -1;
    if (plugin_host_check_config(cfg, note, user, err, err_size) != 0) return -1;
    return uses_redis(cfg) ? cluster_check_config(cfg, err, err_size) : 0;
}

/* The STATUS= line systemctl status shows. */
static void service_status(void *user, buf_t *out)
{
    gateway_t *gw = user;
    buf_printf(out, "%s %s:%d: %zu connections, %zu Socket.IO sessions",
               gw->stopping ? "draining" : "serving", gw->cfg->server.host,
               http_server_port(gw->http), http_server_connection_count(gw->http),
               eio_server_session_count(sio_server_eio(gw->sio)));
}

static int add_health_routes(gateway_t *gw, rest_t *rest, char *err, size_t err_size)
{
    return rest_add_route(rest, "GET", "/healthz", route_healthz, NULL, err, err_size) != 0 ||
                   rest_add_route(rest, "GET", "/readyz", route_readyz, gw, err, err_size) != 0
               ? -1
               : 0;
}

/* [metrics] listen: a server of its own for /metrics, /healthz and /readyz, so that the metrics
 * need not be served to the public port's clients. A scraper and a few probes need little: a
 * few connections, the default limits. */
static int ops_init(gateway_t *gw, char *err, size_t err_size)
{
    gw->ops_rest = rest_new(NULL);
    http_limits_t limits;
    http_limits_default(&limits);
    limits.max_connections = 64;
    gw->ops_http = http_server_new(gw->loop, &limits, on_ops_request, gw);
    if (add_health_routes(gw, gw->ops_rest, err, err_size) != 0) return -1;
    return metrics_install(&gw->metrics, gw->ops_rest, err, err_size);
}

int gateway_init(gateway_t *gw, uv_loop_t *loop, const config_t *cfg, const worker_slot_t *worker,
                 char *err, size_t err_size)
{
    memset(gw, 0, sizeof(*gw));
    gw->loop = loop;
    gw->cfg = cfg;
    gw->worker = worker;
    service_notify_init(&gw->notify, loop, service_status, gw);
    gw->auth = authenticator_new(cfg, err, err_size);
    if (!gw->auth) return -1;
    gw->rest = rest_new(gw->auth);
    http_limits_t limits;
    limits_from_config(cfg, &limits);
    gw->http = http_server_new(loop, &limits, on_request, gw);
    if (worker) http_server_share_port(gw->http);
    if (add_health_routes(gw, gw->rest, err, err_size) != 0) return -1;
    if (!authenticator_enabled(gw->auth))
        log_warn("auth", "no JWT key configured ([auth] jwt_secret, jwt_secret_file or "
                         "jwt_public_key_file): sockets connect unauthenticated. For a "
                         "configuration with a fresh secret: iogate genconfig FILE; then "
                         "iogate token --config FILE --sub ID");
    eio_options_t eo;
    eio_options_from_config(cfg, cfg->socketio.path, &eo);
    eo.budget = http_server_budget(gw->http);
    if (worker) {
        eo.worker_count = worker->count;
        eo.worker_index = worker->index;
    }
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
    gw->metrics = (metrics_t){
        .cfg = cfg,
        .http = gw->http,
        .rest = gw->rest,
        .engineio = gw->engineio_stats,
        .sio = gw->sio,
        .auth = gw->auth,
        .start_time_s = (int64_t)now.tv_sec,
    };
    if (cfg->metrics.listen ? ops_init(gw, err, err_size)
                            : metrics_install(&gw->metrics, gw->rest, err, err_size))
        return -1;
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
    gw->metrics.plugins = gw->plugins;
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

static void on_all_drained(void *user)
{
    gateway_t *gw = user;
    sio_server_release(gw->sio);
    if (gw->echo) eio_server_release(gw->echo);
    if (gw->signals_started) {
        uv_close((uv_handle_t *)&gw->sigint, NULL);
        uv_close((uv_handle_t *)&gw->sigterm, NULL);
    }
    service_notify_close(&gw->notify);
    log_info("gateway", "stopped");
}

/* The public server has drained: [metrics] listen, which answered /readyz with "draining"
 * meanwhile, closes now. */
static void on_drained(void *user)
{
    gateway_t *gw = user;
    if (gw->ops_http)
        http_server_shutdown(gw->ops_http, 0, on_all_drained, gw);
    else
        on_all_drained(gw);
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
    service_notify_stopping(&gw->notify);
    /* Sessions first: their disconnect hooks may still use the plugins' timers. */
    sio_server_close_all(gw->sio);
    if (gw->echo) eio_server_close_all(gw->echo);
    handoff_close(gw->handoff);
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

/* Steering: a request for a session of another worker goes to that worker. */
static int steer_request(void *user, const char *target, size_t len)
{
    gateway_t *gw = user;
    int owner = eio_server_owner(sio_server_eio(gw->sio), target, len);
    return owner >= 0 && (unsigned)owner != gw->worker->index ? owner : -1;
}

static int hand_off_request(void *user, int worker, int fd, const char *bytes, size_t len)
{
    gateway_t *gw = user;
    return handoff_send(gw->handoff, (unsigned)worker, fd, bytes, len);
}

/* A worker takes the connections the others hand it and hands them the ones it should. */
static int join_workers(gateway_t *gw, char *err, size_t err_size)
{
    gw->handoff = handoff_new(gw->loop, gw->worker, gw->http, err, err_size);
    if (!gw->handoff) return -1;
    http_steering_t steering = {steer_request, hand_off_request, gw};
    http_server_set_steering(gw->http, &steering);
    return 0;
}

/* Tells the supervisor this worker listens (one byte: its index). */
static void report_ready(gateway_t *gw)
{
    unsigned char index = (unsigned char)gw->worker->index;
    ssize_t n;
    do {
        n = write(gw->worker->ready_fd, &index, 1);
    } while (n < 0 && errno == EINTR);
    close(gw->worker->ready_fd);
    log_info("gateway", "worker %u of %u ready (pid %d)", gw->worker->index, gw->worker->count,
             (int)getpid());
}

/* [metrics] listen, once the public port listens (its log line comes first). */
static int ops_listen(gateway_t *gw, char *err, size_t err_size)
{
    if (!gw->ops_http) return 0;
    char host[64];
    int port;
    const char *why;
    if (config_split_host_port(gw->cfg->metrics.listen, host, sizeof(host), &port, &why) != 0) {
        snprintf(err, err_size, "[metrics] listen \"%s\" %s", gw->cfg->metrics.listen, why);
        return -1;
    }
    /* Workers: each serves its own series, worker i on the port after worker i - 1's. */
    if (gw->worker && port) port += (int)gw->worker->index;
    char why_not[256];
    if (http_server_listen(gw->ops_http, host, port, why_not, sizeof(why_not)) != 0) {
        snprintf(err, err_size, "[metrics] listen: %s", why_not);
        return -1;
    }
    log_info("gateway",
             "serving %s, /healthz and /readyz on http://%s%s%s:%d (not %s on the public port)",
             gw->cfg->metrics.path, strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", http_server_port(gw->ops_http), gw->cfg->metrics.path);
    return 0;
}

int gateway_run(gateway_t *gw, char *err, size_t err_size)
{
    const config_t *cfg = gw->cfg;
    /* Before the log line that says the server listens: a SIGTERM right after it drains. */
    gw->signals_started = 1;
    uv_signal_init(gw->loop, &gw->sigint);
    uv_signal_init(gw->loop, &gw->sigterm);
    gw->sigint.data = gw;
    gw->sigterm.data = gw;
    uv_signal_start(&gw->sigint, on_signal, SIGINT);
    uv_signal_start(&gw->sigterm, on_signal, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    int port = gw->worker ? gw->worker->port : (int)cfg->server.port;
    int failed = http_server_listen(gw->http, cfg->server.host, port, err, err_size) != 0;
    if (!failed && !gw->worker)
        log_info("gateway", "iogate %s listening on http://%s:%d", IOGATE_VERSION, cfg->server.host,
                 http_server_port(gw->http));
    if (failed || ops_listen(gw, err, err_size) != 0) {
        /* Close the handles the attempt opened (and the plugins' timers) before
         * anything is freed. */
        gw->stopping = 1;
        cluster_leave(gw);
        plugin_host_stop(gw->plugins);
        http_server_shutdown(gw->http, 0, on_drained, gw);
        uv_run(gw->loop, UV_RUN_DEFAULT);
        return 1;
    }
    if (gw->worker && join_workers(gw, err, err_size) != 0) {
        gateway_stop(gw);
        uv_run(gw->loop, UV_RUN_DEFAULT);
        return 1;
    }
    if (gw->worker) report_ready(gw);
    /* Plugins are loaded (gateway_init) and the port is open: systemd may start what
     * depends on us. */
    service_notify_ready(&gw->notify);
    uv_run(gw->loop, UV_RUN_DEFAULT);
    return gw->exit_code;
}

void gateway_free(gateway_t *gw)
{
    service_notify_free(&gw->notify);
    plugin_host_free(gw->plugins); /* fini and dlclose, after the loop has stopped */
    handoff_free(gw->handoff);
    if (gw->http) http_server_free(gw->http);
    if (gw->ops_http) http_server_free(gw->ops_http);
    rest_free(gw->ops_rest);
    eio_server_free(gw->echo);
    sio_server_free(gw->sio);
    rest_free(gw->rest);
    authenticator_free(gw->auth);
}
