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
#include "auth/cookie.h"
#include "auth/origin.h"
#include "base/mem.h"
#include "gateway/testing_routes.h"
#include "plugins/plugin_host.h"

typedef struct gateway_route {
    gateway_route_fn fn;
    void *user;
    struct gateway_route *next;
} gateway_route_t;

int gateway_add_route(gateway_t *gw, const char *method, const char *pattern, gateway_route_fn fn,
                      void *user, char *err, size_t err_size)
{
    gateway_route_t *route = xcalloc(1, sizeof(*route));
    route->fn = fn;
    route->user = user;
    int r = router_add(gw->router, method, pattern, route, err, err_size);
    if (r != 0) {
        free(route);
        return r;
    }
    route->next = gw->routes;
    gw->routes = route;
    return 0;
}

size_t gateway_remove_routes(gateway_t *gw, void *user)
{
    size_t n = 0;
    for (gateway_route_t **p = &gw->routes; *p;) {
        gateway_route_t *r = *p;
        if (r->user == user) {
            router_remove_handler(gw->router, r);
            *p = r->next;
            free(r);
            n++;
        } else {
            p = &r->next;
        }
    }
    return n;
}

/* Methods that change nothing (RFC 9110 §9.2.1): a cross-site page may make them freely. */
static int method_is_safe(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
           strcmp(method, "OPTIONS") == 0 || strcmp(method, "TRACE") == 0;
}

/* application/json or any application/...+json, parameters allowed. */
static int content_type_is_json(const char *type)
{
    if (!type) return 0;
    size_t n = strcspn(type, ";");
    while (n && (type[n - 1] == ' ' || type[n - 1] == '\t'))
        n--;
    if (strncasecmp(type, "application/", 12) != 0) return 0;
    return (n == 16 && strncasecmp(type + 12, "json", 4) == 0) ||
           (n > 17 && strncasecmp(type + n - 5, "+json", 5) == 0);
}

/* A state-changing request that the cookie would authenticate must come from this server's
 * pages or an allowed origin, and carry JSON if it carries a body: a foreign page can send
 * a cookie-bearing form POST (url-encoded, multipart or text/plain) without any CORS
 * preflight, but not a JSON one. Returns 0, or the status to refuse with. */
static int cookie_request_check(gateway_t *gw, http_request_t *req, const char **reason)
{
    if (method_is_safe(http_request_method(req))) return 0;
    if (!origin_allows_cookie(&gw->origins, req)) {
        *reason = "cross-site request refused: the Origin is not allowed to use the cookie";
        return 403;
    }
    size_t len;
    http_request_body(req, &len);
    if (len && !content_type_is_json(http_request_header(req, "content-type"))) {
        *reason = "a cookie-authenticated request body must be JSON (Content-Type: application/json)";
        return 415;
    }
    return 0;
}

int gateway_authenticate(gateway_t *gw, http_request_t *req, jwt_principal_t *out,
                         const char **reason)
{
    memset(out, 0, sizeof(*out));
    *reason = "authentication required";
    if (!gw->verifier) return 401;
    buf_t token = BUF_INIT;
    const char *authz = http_request_header(req, "authorization");
    const char *bearer;
    size_t bearer_len;
    const char *cookie = http_request_header(req, "cookie");
    if (authz && jwt_bearer_token(authz, strlen(authz), &bearer, &bearer_len)) {
        buf_append(&token, bearer, bearer_len);
    } else if (cookie &&
               cookie_get(cookie, strlen(cookie), gw->cfg->auth.cookie_name, 1, &token) == 1) {
        int refused = cookie_request_check(gw, req, reason);
        if (refused) {
            buf_free(&token);
            log_debug("auth", "%s %s refused: %s", http_request_method(req),
                      http_request_target(req), *reason);
            return refused;
        }
    } else {
        buf_free(&token);
        return 401;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    jwt_status_t st = jwt_verify(gw->verifier, token.data ? token.data : "", token.len,
                                 (int64_t)tv.tv_sec, out, reason);
    buf_free(&token);
    if (st != JWT_OK) {
        log_debug("auth", "REST token refused: %s (%s)", jwt_status_name(st),
                  *reason ? *reason : "");
        *reason = "invalid or expired token";
        return 401;
    }
    return 0;
}

static void route_healthz(gateway_t *gw, http_request_t *req, const router_match_t *m, void *user)
{
    (void)gw, (void)m, (void)user;
    static const char body[] = "{\"status\":\"ok\"}";
    http_respond_json_text(req, 200, body, sizeof(body) - 1);
}

static void on_request(void *user, http_request_t *req)
{
    gateway_t *gw = user;
    size_t path_len;
    const char *path = http_request_path(req, &path_len);
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
    router_match_t m;
    buf_t allow = BUF_INIT;
    router_result_t r =
        router_match(gw->router, http_request_method(req), path, path_len, &m, &allow);
    switch (r) {
    case ROUTER_FOUND: {
        gateway_route_t *route = m.handler;
        route->fn(gw, req, &m, route->user);
        break;
    }
    case ROUTER_METHOD_NOT_ALLOWED:
        http_response_header(req, "Allow", allow.data ? allow.data : "");
        http_respond_error(req, 405, "method_not_allowed", "method not allowed for this path");
        break;
    case ROUTER_BAD_PATH:
        http_respond_error(req, 400, "bad_request", "malformed path");
        break;
    case ROUTER_NOT_FOUND:
    default:
        http_respond_error(req, 404, "not_found", "no route for this path");
        break;
    }
    router_match_free(&m);
    buf_free(&allow);
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
        log_info("http", "accepting up to %zu connections (open-file limit %zu, %d kept for the "
                         "server; [http] max_connections sets another)",
                 fit, nofile, HTTP_RESERVED_DESCRIPTORS);
        return fit;
    }
    if (want > fit) {
        log_warn("http", "[http] max_connections = %zu lowered to %zu: the open-file limit is %zu "
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

/* Reads a whole small file (keys, secrets); NULL with err on failure. */
static char *read_small_file(const char *path, size_t *len, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < 1024 * 1024)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b, len);
}

/* The JWT verifier from [auth]; *out stays NULL when no key is configured. */
static int build_verifier(const config_t *cfg, jwt_verifier_t **out, char *err, size_t err_size)
{
    *out = NULL;
    const char *secret = cfg->auth.jwt_secret;
    size_t secret_len = secret ? strlen(secret) : 0;
    char *secret_file = NULL, *pem = NULL;
    size_t pem_len = 0;
    int rc = -1;
    if (secret && cfg->auth.jwt_secret_file) {
        snprintf(err, err_size, "[auth] set jwt_secret or jwt_secret_file, not both");
        return -1;
    }
    if (cfg->auth.jwt_secret_file) {
        secret_file = read_small_file(cfg->auth.jwt_secret_file, &secret_len, err, err_size);
        if (!secret_file) return -1;
        while (secret_len &&
               (secret_file[secret_len - 1] == '\n' || secret_file[secret_len - 1] == '\r'))
            secret_file[--secret_len] = '\0';
        secret = secret_file;
    }
    if (cfg->auth.jwt_public_key_file) {
        pem = read_small_file(cfg->auth.jwt_public_key_file, &pem_len, err, err_size);
        if (!pem) goto done;
    }
    if (!secret && !pem) {
        rc = 0;
        goto done;
    }
    jwt_verifier_config_t vc = {
        .secret = (const unsigned char *)secret,
        .secret_len = secret ? secret_len : 0,
        .public_key_pem = pem,
        .public_key_len = pem_len,
        .algorithms = (const char *const *)cfg->auth.algorithms.items,
        .algorithms_len = cfg->auth.algorithms.len,
        .clock_skew_s = cfg->auth.clock_skew_s,
        .require_exp = cfg->auth.require_exp,
        .issuer = cfg->auth.issuer,
        .audience = cfg->auth.audience,
    };
    char why[256];
    *out = jwt_verifier_new(&vc, why, sizeof(why));
    if (!*out) {
        /* A problem with the secret names the key it came from: where it is set inline,
         * or the file it was read from. */
        static const char prefix[] = "secret: ";
        const char *what = why;
        if (strncmp(why, prefix, sizeof(prefix) - 1) == 0) what = why + sizeof(prefix) - 1;
        if (what == why) {
            snprintf(err, err_size, "[auth] %s", why);
        } else if (cfg->auth.jwt_secret_file) {
            snprintf(err, err_size, "[auth] jwt_secret_file \"%s\": %s", cfg->auth.jwt_secret_file,
                     what);
        } else {
            char origin[512];
            config_key_origin(cfg, "auth", "jwt_secret", origin, sizeof(origin));
            snprintf(err, err_size, "%s: [auth] jwt_secret: %s", origin, what);
        }
        goto done;
    }
    rc = 0;
done:
    if (secret_file) {
        memset(secret_file, 0, secret_len);
        free(secret_file);
    }
    free(pem);
    return rc;
}

int gateway_check_config(const config_t *cfg, char *err, size_t err_size)
{
    jwt_verifier_t *v = NULL;
    if (build_verifier(cfg, &v, err, err_size) != 0) return -1;
    jwt_verifier_free(v);
    return 0;
}

int gateway_init(gateway_t *gw, uv_loop_t *loop, const config_t *cfg, char *err, size_t err_size)
{
    memset(gw, 0, sizeof(*gw));
    gw->loop = loop;
    gw->cfg = cfg;
    gw->router = router_new();
    origin_policy_init(&gw->origins, (const char *const *)cfg->socketio.cors_origins.items,
                       cfg->socketio.cors_origins.len);
    http_limits_t limits;
    limits_from_config(cfg, &limits);
    gw->http = http_server_new(loop, &limits, on_request, gw);
    if (gateway_add_route(gw, "GET", "/healthz", route_healthz, NULL, err, err_size) != 0)
        return -1;
    if (build_verifier(cfg, &gw->verifier, err, err_size) != 0) return -1;
    if (!gw->verifier)
        log_warn("auth", "no JWT key configured ([auth] jwt_secret, jwt_secret_file or "
                         "jwt_public_key_file): sockets connect unauthenticated");
    eio_options_t eo;
    eio_options_from_config(cfg, cfg->socketio.path, &eo);
    eo.budget = http_server_budget(gw->http);
    sio_options_t so = {
        .connect_timeout_ms = (uint64_t)cfg->socketio.connect_timeout_ms,
        .max_attachments = (size_t)cfg->socketio.max_attachments,
        .max_binary_bytes = (size_t)(cfg->socketio.max_binary_packet_bytes
                                         ? cfg->socketio.max_binary_packet_bytes
                                         : cfg->socketio.max_payload_bytes),
        .attachment_timeout_ms = (uint64_t)cfg->socketio.attachment_timeout_ms,
        .max_unjoined = (size_t)cfg->socketio.max_unjoined_sessions,
        .max_unjoined_per_address = (size_t)cfg->socketio.max_unjoined_per_address,
        .verifier = gw->verifier,
        .cookie_name = cfg->auth.cookie_name,
        .origins = &gw->origins,
        .allow_auth_payload = cfg->auth.allow_auth_payload,
    };
    gw->sio = sio_server_new(loop, &eo, &so);
    for (size_t i = 0; i < cfg->socketio.namespaces.len; i++)
        sio_server_nsp(gw->sio, cfg->socketio.namespaces.items[i]);
    if (cfg->testing.emit_routes) {
        if (testing_routes_install(gw, err, err_size) != 0) return -1;
        log_warn("gateway", "test routes /testing/emit and /testing/stats are enabled");
    }
    gw->plugins = plugin_host_new(gw);
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

void gateway_stop(gateway_t *gw)
{
    if (gw->stopping) return;
    gw->stopping = 1;
    log_info("gateway", "shutting down (grace %lld ms)",
             (long long)gw->cfg->server.shutdown_grace_ms);
    /* Sessions first: their disconnect hooks may still use the plugins' timers. */
    sio_server_close_all(gw->sio);
    if (gw->echo) eio_server_close_all(gw->echo);
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
    jwt_verifier_free(gw->verifier);
    origin_policy_free(&gw->origins);
    router_free(gw->router);
    while (gw->routes) {
        gateway_route_t *next = gw->routes->next;
        free(gw->routes);
        gw->routes = next;
    }
}
