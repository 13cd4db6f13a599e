/* metrics.c - the Prometheus page: families written from the layers' counters, the plugins'
 * metrics and /proc. */
#include "gateway/metrics.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth/jwt_verify.h"
#include "base/buf.h"
#include "base/membudget.h"
#include "base/prom.h"
#include "cluster/cluster.h"
#include "eio/eio_server.h"
#include "plugins/plugin_host.h"

/* A family of one sample. */
static void one(buf_t *out, const char *name, const char *type, const char *help, uint64_t v)
{
    prom_family(out, name, type, help);
    prom_sample_u64(out, name, NULL, v);
}

/* A sample with one label. */
static void labelled(buf_t *out, const char *name, const char *label, const char *value, uint64_t v)
{
    buf_t labels = BUF_INIT;
    prom_label(&labels, label, value);
    prom_sample_u64(out, name, labels.data, v);
    buf_free(&labels);
}

/* ------------------------------------------------------------------ process */

static uint64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* the directory's own descriptor */
}

/* When the process started, in seconds since the epoch, as the kernel says: its start in
 * clock ticks after boot (/proc/self/stat) plus the boot time (/proc/stat btime). 0 when
 * either cannot be read. */
static double proc_start_time(void)
{
    char line[1024];
    double start = 0, btime = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        size_t n = fread(line, 1, sizeof(line) - 1, f);
        line[n] = '\0';
        fclose(f);
        /* Fields after the command, which may hold spaces and ')': starttime is the 20th. */
        const char *p = strrchr(line, ')');
        unsigned long long ticks = 0;
        for (int field = 2; p && field < 22; field++)
            p = strchr(p + 1, ' ');
        if (p && sscanf(p + 1, "%llu", &ticks) == 1)
            start = (double)ticks / (double)sysconf(_SC_CLK_TCK);
    }
    f = fopen("/proc/stat", "r");
    if (f) {
        unsigned long long b;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "btime %llu", &b) == 1) btime = (double)b;
        fclose(f);
    }
    return start > 0 && btime > 0 ? btime + start : 0;
}

static void process_metrics(const metrics_t *m, buf_t *out)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    prom_family(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    prom_sample(out, "process_cpu_seconds_total", NULL, cpu);
    unsigned long long pages_vm = 0, pages_rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &pages_vm, &pages_rss) != 2) pages_vm = pages_rss = 0;
        fclose(f);
    }
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    one(out, "process_resident_memory_bytes", "gauge", "Resident memory size.",
        (uint64_t)pages_rss * page);
    one(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size.",
        (uint64_t)pages_vm * page);
    one(out, "process_open_fds", "gauge", "Open file descriptors.", open_fds());
    struct rlimit rl;
    uint64_t max = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 0;
    one(out, "process_max_fds", "gauge", "The open-file limit.", max);
    double started = proc_start_time();
    prom_family(out, "process_start_time_seconds", "gauge",
                "Start time of the process since the epoch in seconds.");
    prom_sample(out, "process_start_time_seconds", NULL,
                started > 0 ? started : (double)m->start_time_s);
}

/* ------------------------------------------------------------------ HTTP */

#define REQUESTS "iogate_http_requests_total"
#define DURATION "iogate_http_request_duration_seconds"

static uint64_t answered(const http_route_stats_t *st)
{
    uint64_t n = 0;
    for (size_t i = 0; i < HTTP_STATUS_SLOTS; i++)
        n += st->by_status[i].count;
    return n;
}

typedef struct http_pass {
    buf_t *out;
    int durations; /* 0: the requests family, 1: the durations family */
} http_pass_t;

/* One route's lines of the family the pass writes; a registered route has its histogram from
 * the start, a group of requests (always: 1) only once it counted one. */
static void route_lines(http_pass_t *pass, const char *method, const char *route,
                        const http_route_stats_t *st, int always)
{
    if (!always && !answered(st)) return;
    buf_t labels = BUF_INIT;
    prom_label(&labels, "method", method);
    prom_label(&labels, "route", route);
    if (pass->durations) {
        prom_duration_write(pass->out, DURATION, labels.data, &st->duration);
        buf_free(&labels);
        return;
    }
    size_t keep = labels.len;
    for (size_t i = 0; i < HTTP_STATUS_SLOTS && st->by_status[i].status; i++) {
        labels.len = keep;
        char code[8];
        int status = st->by_status[i].status;
        if (status == HTTP_STATUS_OTHER)
            snprintf(code, sizeof(code), "other");
        else
            snprintf(code, sizeof(code), "%d", status);
        prom_label(&labels, "code", code);
        prom_sample_u64(pass->out, REQUESTS, labels.data, st->by_status[i].count);
    }
    buf_free(&labels);
}

static void rest_route_lines(void *user, const char *method, const char *pattern,
                             const http_route_stats_t *stats)
{
    route_lines(user, method, pattern, stats, 1);
}

/* Every route's answers, then the Engine.IO endpoint's and those no route took, by method. */
static void http_pass(const metrics_t *m, http_pass_t *pass)
{
    rest_each_route(m->rest, rest_route_lines, pass);
    for (int i = 0; i < HTTP_METHOD_CLASSES; i++)
        route_lines(pass, http_method_class_name(i), m->cfg->socketio.path, &m->engineio[i], 0);
    for (int i = 0; i < HTTP_METHOD_CLASSES; i++)
        route_lines(pass, http_method_class_name(i), "unmatched",
                    http_server_unrouted_stats(m->http, i), 0);
}

static void http_metrics(const metrics_t *m, buf_t *out)
{
    one(out, "iogate_http_connections", "gauge", "Open HTTP connections, WebSocket ones included.",
        http_server_connection_count(m->http));
    prom_family(out, REQUESTS, "counter",
                "HTTP requests answered, by method, route pattern (the Socket.IO path for "
                "Engine.IO, unmatched when no route took it) and status code.");
    http_pass_t pass = {out, 0};
    http_pass(m, &pass);
    prom_family(out, DURATION, "histogram",
                "Time from a request's first byte to its answer, by method and route pattern.");
    pass.durations = 1;
    http_pass(m, &pass);
    const http_stats_t *hs = http_server_stats(m->http);
    one(out, "iogate_http_socket_writes_total", "counter", "sendmsg calls on connections.",
        hs->socket_writes);
    one(out, "iogate_http_writes_deferred_total", "counter",
        "WebSocket writes that waited in the flush queue.", hs->writes_deferred);
}

/* ------------------------------------------------------------------ Engine.IO */

static void by_transport(buf_t *out, const char *name, const char *type, const char *help,
                         const uint64_t v[EIO_TRANSPORTS])
{
    prom_family(out, name, type, help);
    for (int t = 0; t < EIO_TRANSPORTS; t++)
        labelled(out, name, "transport", eio_transport_name(t), v[t]);
}

static void engineio_metrics(const metrics_t *m, buf_t *out)
{
    const eio_stats_t *es = eio_server_stats(sio_server_eio(m->sio));
    by_transport(out, "iogate_engineio_sessions", "gauge",
                 "Open Engine.IO sessions (connections of Socket.IO clients), by transport.",
                 es->sessions_open);
    by_transport(out, "iogate_engineio_sessions_opened_total", "counter",
                 "Engine.IO handshakes that opened a session, by transport.", es->opened);
    const char *closed = "iogate_engineio_sessions_closed_total";
    prom_family(out, closed, "counter",
                "Engine.IO sessions closed, by reason: transport_close (the client left), "
                "transport_error, parse_error, ping_timeout, slow_consumer, server_shutdown, "
                "server_close (the application).");
    for (int i = 0; i < EIO_CLOSE_REASONS; i++)
        labelled(out, closed, "reason", eio_close_reason_name(i), es->closed[i]);
    one(out, "iogate_engineio_ping_timeouts_deferred_total", "counter",
        "Ping timeouts judged once more because the client's bytes were waiting unread (the "
        "loop was behind).",
        es->pong_verdicts_deferred);
    one(out, "iogate_engineio_upgrades_total", "counter", "Polling sessions upgraded to WebSocket.",
        es->upgrades);
    const char *refused = "iogate_engineio_requests_refused_total";
    prom_family(out, refused, "counter",
                "Engine.IO requests refused, by reason: the protocol's errors, and busy for "
                "handshakes over the bounds on sessions waiting to join.");
    for (int i = 0; i < EIO_ERRORS; i++)
        labelled(out, refused, "reason", eio_error_name(i), es->errors[i]);
    labelled(out, refused, "reason", "busy", es->handshakes_refused);
    by_transport(out, "iogate_engineio_received_packets_total", "counter",
                 "Engine.IO packets received from clients, by transport.", es->packets_received);
    by_transport(out, "iogate_engineio_received_bytes_total", "counter",
                 "Bytes of the Engine.IO packets received (type and data, without HTTP or "
                 "WebSocket framing), by transport.",
                 es->bytes_received);
    by_transport(out, "iogate_engineio_sent_packets_total", "counter",
                 "Engine.IO packets sent to sessions (open, pings, messages; once per recipient), "
                 "by transport.",
                 es->packets_sent);
    by_transport(out, "iogate_engineio_sent_bytes_total", "counter",
                 "Bytes of the Engine.IO packets sent, by transport.", es->bytes_sent);
    one(out, "iogate_slow_consumers_dropped_total", "counter",
        "Sessions closed because their queued output overflowed.", es->slow_consumers_dropped);
}

/* ------------------------------------------------------------------ Socket.IO and events */

typedef struct nsp_pass {
    buf_t *out;
    int what; /* NSP_* */
    const char *nsp;
} nsp_pass_t;
enum { NSP_SOCKETS, NSP_AUTHENTICATED, NSP_EVENTS, NSP_UNHANDLED };

static void event_line(void *user, const char *event, uint64_t received)
{
    nsp_pass_t *pass = user;
    buf_t labels = BUF_INIT;
    prom_label(&labels, "namespace", pass->nsp);
    prom_label(&labels, "event", event);
    prom_sample_u64(pass->out, "iogate_socketio_events_received_total", labels.data, received);
    buf_free(&labels);
}

static void nsp_line(void *user, sio_nsp_t *nsp)
{
    nsp_pass_t *pass = user;
    pass->nsp = sio_nsp_name(nsp);
    switch (pass->what) {
    case NSP_SOCKETS:
        labelled(pass->out, "iogate_socketio_sockets", "namespace", pass->nsp,
                 sio_nsp_socket_count(nsp));
        break;
    case NSP_AUTHENTICATED:
        labelled(pass->out, "iogate_socketio_authenticated_sockets", "namespace", pass->nsp,
                 sio_nsp_authenticated_count(nsp));
        break;
    case NSP_EVENTS:
        sio_nsp_each_event(nsp, event_line, pass);
        break;
    default:
        labelled(pass->out, "iogate_socketio_events_unhandled_total", "namespace", pass->nsp,
                 sio_nsp_unhandled_events(nsp));
        break;
    }
}

static void each_nsp(const metrics_t *m, buf_t *out, int what, const char *name, const char *type,
                     const char *help)
{
    prom_family(out, name, type, help);
    nsp_pass_t pass = {out, what, NULL};
    sio_server_each_nsp(m->sio, nsp_line, &pass);
}

typedef struct emitted_pass {
    buf_t *out;
    int recipients; /* 0: the emits family, 1: the recipients family */
} emitted_pass_t;

static void emitted_line(void *user, const char *event, uint64_t emitted, uint64_t recipients)
{
    emitted_pass_t *pass = user;
    labelled(pass->out,
             pass->recipients ? "iogate_socketio_events_recipients_total"
                              : "iogate_socketio_events_emitted_total",
             "event", event, pass->recipients ? recipients : emitted);
}

/* The events plugins registered (register_event): their emits and the sockets reached. */
static void emitted_metrics(const metrics_t *m, buf_t *out)
{
    if (!m->plugins) return;
    emitted_pass_t pass = {out, 0};
    prom_family(out, "iogate_socketio_events_emitted_total", "counter",
                "emit() calls of the events plugins registered, by event.");
    plugin_host_each_event(m->plugins, emitted_line, &pass);
    prom_family(out, "iogate_socketio_events_recipients_total", "counter",
                "Sockets reached by the emit() calls of the events plugins registered, by event.");
    pass.recipients = 1;
    plugin_host_each_event(m->plugins, emitted_line, &pass);
}

static void socketio_metrics(const metrics_t *m, buf_t *out)
{
    const sio_stats_t *ss = sio_server_stats(m->sio);
    each_nsp(m, out, NSP_SOCKETS, "iogate_socketio_sockets", "gauge",
             "Connected Socket.IO sockets by namespace.");
    each_nsp(m, out, NSP_AUTHENTICATED, "iogate_socketio_authenticated_sockets", "gauge",
             "Connected Socket.IO sockets of an authenticated user, by namespace.");
    one(out, "iogate_socketio_unjoined_sessions", "gauge",
        "Sessions that have not joined a namespace yet.", sio_server_unjoined_count(m->sio));
    one(out, "iogate_socketio_connects_total", "counter", "Sockets that joined a namespace.",
        ss->connects);
    one(out, "iogate_socketio_disconnects_total", "counter", "Sockets that left.", ss->disconnects);
    prom_family(out, "iogate_socketio_auth_total", "counter",
                "Socket authentications by result (ok, or a token that did not verify).");
    labelled(out, "iogate_socketio_auth_total", "result", "ok", ss->auth_ok);
    labelled(out, "iogate_socketio_auth_total", "result", "failed", ss->auth_failed);
    one(out, "iogate_socketio_cross_site_cookies_total", "counter",
        "Handshake cookies ignored because the page was foreign.", ss->cross_site_cookies);
    each_nsp(m, out, NSP_EVENTS, "iogate_socketio_events_received_total", "counter",
             "Client events received for the names plugins handle, by namespace and event.");
    each_nsp(m, out, NSP_UNHANDLED, "iogate_socketio_events_unhandled_total", "counter",
             "Client events received that no plugin handles, by namespace.");
    emitted_metrics(m, out);
    one(out, "iogate_emits_total", "counter", "Packets encoded by the emitter (once per emit).",
        ss->serializations);
    one(out, "iogate_deliveries_total", "counter", "Packets handed to sockets by the emitter.",
        ss->deliveries);
    one(out, "iogate_binary_packets_dropped_total", "counter",
        "Binary packets dropped: too large, late, or over the budget.", ss->binary_packets_dropped);
}

static void auth_metrics(const metrics_t *m, buf_t *out)
{
    const char *name = "iogate_auth_failures_total";
    prom_family(out, name, "counter",
                "Credentials refused, by source (socketio: handshake cookie or CONNECT payload, "
                "rest: Bearer or cookie) and reason (the token's fault, or the cookie's origin).");
    const auth_stats_t *st = authenticator_stats(m->auth);
    static const char *const sources[2] = {"rest", "socketio"}; /* by auth_use_t */
    for (int use = 0; use < 2; use++) {
        for (int r = 0; r < AUTH_FAILURE_REASONS; r++) {
            if (use == AUTH_USE_HANDSHAKE &&
                strcmp(auth_failure_reason_name(r), "body_not_json") == 0)
                continue; /* a REST rule only */
            buf_t labels = BUF_INIT;
            prom_label(&labels, "source", sources[use]);
            prom_label(&labels, "reason", auth_failure_reason_name(r));
            prom_sample_u64(out, name, labels.data, st->failures[use][r]);
            buf_free(&labels);
        }
    }
}

/* ------------------------------------------------------------------ memory and the fleet */

static void budget_metrics(const metrics_t *m, buf_t *out)
{
    const membudget_t *b = http_server_budget(m->http);
    one(out, "iogate_client_bytes", "gauge", "Bytes held on behalf of clients.", b->used);
    one(out, "iogate_client_bytes_limit", "gauge", "[limits] max_client_bytes.", b->limit);
    one(out, "iogate_client_bytes_shed_total", "counter",
        "Clients shed because the bytes held for clients reached their limit.", b->shed);
}

static void cluster_metrics(const metrics_t *m, buf_t *out)
{
    if (!m->cluster) return;
    const cluster_stats_t *cs = cluster_stats(m->cluster);
    const redis_link_stats_t *ls = cluster_link_stats(m->cluster);
    one(out, "iogate_cluster_up", "gauge", "1 while Redis is reachable and subscribed.",
        cluster_ready(m->cluster) ? 1 : 0);
    prom_family(out, "iogate_cluster_state", "gauge",
                "The Redis link's state: 1 for the current one of connecting, up, down.");
    static const char *const states[3] = {"connecting", "up", "down"};
    for (int i = 0; i < 3; i++)
        labelled(out, "iogate_cluster_state", "state", states[i], (int)ls->state == i);
    one(out, "iogate_cluster_published_total", "counter", "Messages published to the fleet.",
        cs->published);
    one(out, "iogate_cluster_received_total", "counter",
        "Broadcasts of other nodes delivered here.", cs->received);
    one(out, "iogate_cluster_requests_answered_total", "counter",
        "Requests of other nodes acted upon.", cs->requests_answered);
    one(out, "iogate_cluster_ignored_total", "counter",
        "Messages of other nodes not for this node (namespace, room, request type).", cs->ignored);
    one(out, "iogate_cluster_malformed_total", "counter", "Malformed messages dropped.",
        cs->malformed);
    one(out, "iogate_cluster_unpublishable_total", "counter",
        "Emits that could not be encoded for the fleet.", cs->unpublishable);
    one(out, "iogate_cluster_queued_messages", "gauge", "Publishes waiting for Redis.", ls->queued);
    one(out, "iogate_cluster_queued_bytes", "gauge", "Bytes of the publishes waiting for Redis.",
        ls->queued_bytes);
    one(out, "iogate_cluster_dropped_total", "counter",
        "Publishes dropped because the queue was full.", ls->dropped);
    one(out, "iogate_cluster_unconfirmed_total", "counter",
        "Publishes written whose reply never came, or came as an error.", ls->unconfirmed);
    one(out, "iogate_cluster_connection_failures_total", "counter",
        "Failed or lost connections to Redis.", ls->failures);
    one(out, "iogate_cluster_reconnects_total", "counter", "Times the Redis link came back up.",
        ls->reconnects);
}

/* Connection state recovery ([socketio] connection_state_recovery): what is kept, and what
 * fell out or came back. */
static void recovery_metrics(buf_t *out, const sio_recovery_stats_t *rs)
{
    one(out, "iogate_recovery_kept_bytes", "gauge",
        "Bytes kept for connection state recovery (packets and sessions).", rs->bytes);
    one(out, "iogate_recovery_kept_packets", "gauge", "Packets kept for recovery.", rs->packets);
    one(out, "iogate_recovery_kept_sessions", "gauge", "Sessions kept for recovery.", rs->sessions);
    one(out, "iogate_recovery_sessions_persisted_total", "counter",
        "Sessions kept as their transport closed.", rs->persisted);
    prom_family(out, "iogate_recovery_dropped_total", "counter",
                "What recovery stopped keeping: by age (expired), to make room (evicted), or a "
                "session over max_recovery_bytes_per_session (too_large).");
    const struct {
        const char *kind, *reason;
        uint64_t n;
    } dropped[] = {{"packet", "expired", rs->packets_expired},
                   {"packet", "evicted", rs->packets_evicted},
                   {"session", "expired", rs->sessions_expired},
                   {"session", "evicted", rs->sessions_evicted},
                   {"session", "too_large", rs->sessions_too_large}};
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
        buf_printf(out, "iogate_recovery_dropped_total{kind=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
                   dropped[i].kind, dropped[i].reason, dropped[i].n);
    prom_family(out, "iogate_recovery_attempts_total", "counter",
                "CONNECTs naming a session (pid), by outcome.");
    const struct {
        const char *result;
        uint64_t n;
    } attempts[] = {{"recovered", rs->restored},        {"invalid", rs->invalid},
                    {"unknown", rs->unknown},           {"expired", rs->expired},
                    {"user_changed", rs->user_changed}, {"too_old", rs->too_old},
                    {"too_large", rs->too_large}};
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++)
        buf_printf(out, "iogate_recovery_attempts_total{result=\"%s\"} %" PRIu64 "\n",
                   attempts[i].result, attempts[i].n);
    prom_family(out, "iogate_recovery_store_replays_total", "counter",
                "Fresh sessions given what they missed from a plugin's store, by outcome.");
    buf_printf(out, "iogate_recovery_store_replays_total{result=\"ok\"} %" PRIu64 "\n",
               rs->store_replays_ok);
    buf_printf(out, "iogate_recovery_store_replays_total{result=\"failed\"} %" PRIu64 "\n",
               rs->store_replays_failed);
    one(out, "iogate_recovery_store_events_total", "counter",
        "Events replayed from plugins' stores.", rs->store_events);
}

void metrics_render(const metrics_t *m, buf_t *out)
{
    prom_family(out, "iogate_build_info", "gauge", "The running version.");
    labelled(out, "iogate_build_info", "version", IOGATE_VERSION, 1);
    http_metrics(m, out);
    engineio_metrics(m, out);
    socketio_metrics(m, out);
    const sio_recovery_stats_t *rs = sio_server_recovery_stats(m->sio);
    if (rs) recovery_metrics(out, rs);
    auth_metrics(m, out);
    budget_metrics(m, out);
    cluster_metrics(m, out);
    if (m->plugins) plugin_host_write_metrics(m->plugins, out);
    process_metrics(m, out);
}

/* ------------------------------------------------------------------ the route */

/* Constant time in the token's length: a scraper's guess learns nothing from timing. */
static int token_matches(const char *want, const char *got, size_t got_len)
{
    size_t n = strlen(want);
    unsigned char diff = (unsigned char)(n != got_len);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(want[i] ^ (i < got_len ? got[i] : 0));
    return diff == 0;
}

static int may_scrape(const metrics_t *m, http_request_t *req)
{
    const char *addr = http_request_remote_addr(req);
    for (size_t i = 0; i < m->cfg->metrics.allow.len; i++)
        if (strcmp(addr, m->cfg->metrics.allow.items[i]) == 0) return 1;
    const char *authz = http_request_header(req, "authorization");
    const char *token;
    size_t len;
    return m->cfg->metrics.token && authz && jwt_bearer_token(authz, strlen(authz), &token, &len) &&
           token_matches(m->cfg->metrics.token, token, len);
}

static void route_metrics(void *user, http_request_t *req, const router_match_t *params)
{
    (void)params;
    const metrics_t *m = user;
    if (!may_scrape(m, req)) {
        http_respond_error(req, 403, "forbidden",
                           "metrics: this address is not in [metrics] allow, and no valid token");
        return;
    }
    buf_t page = BUF_INIT;
    metrics_render(m, &page);
    http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", page.data, page.len);
    buf_free(&page);
}

int metrics_install(metrics_t *m, rest_t *rest, char *err, size_t err_size)
{
    if (!m->cfg->metrics.enabled) return 0;
    return rest_add_route(rest, "GET", m->cfg->metrics.path, route_metrics, m, err, err_size) == 0
               ? 0
               : -1;
}
