/* metrics.c - the Prometheus page: families written from the layers' counters and /proc. */
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
#include "cluster/cluster.h"
#include "eio/eio_server.h"

static void family(buf_t *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(buf_t *out, const char *name, uint64_t value)
{
    buf_printf(out, "%s %" PRIu64 "\n", name, value);
}

/* A family of one sample. */
static void one(buf_t *out, const char *name, const char *type, const char *help, uint64_t v)
{
    family(out, name, type, help);
    sample(out, name, v);
}

/* A label value as the exposition format escapes it (backslash, quote, newline). */
static void label_value(buf_t *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_printf(out, "\\%c", *v);
        else if (*v == '\n')
            buf_append_str(out, "\\n");
        else
            buf_append_byte(out, *v);
    }
}

static void nsp_sockets(void *user, sio_nsp_t *nsp)
{
    buf_t *out = user;
    buf_append_str(out, "iogate_socketio_sockets{namespace=\"");
    label_value(out, sio_nsp_name(nsp));
    buf_printf(out, "\"} %zu\n", sio_nsp_socket_count(nsp));
}

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

static void process_metrics(const metrics_t *m, buf_t *out)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    family(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    buf_printf(out, "process_cpu_seconds_total %.6f\n", cpu);
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
    one(out, "process_start_time_seconds", "gauge", "Start time of the process since the epoch.",
        (uint64_t)m->start_time_s);
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
    family(out, "iogate_recovery_dropped_total", "counter",
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
    family(out, "iogate_recovery_attempts_total", "counter",
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
    family(out, "iogate_recovery_store_replays_total", "counter",
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
    buf_printf(out,
               "# HELP iogate_build_info The running version.\n"
               "# TYPE iogate_build_info gauge\niogate_build_info{version=\"%s\"} 1\n",
               IOGATE_VERSION);
    one(out, "iogate_http_connections", "gauge", "Open HTTP connections, WebSocket ones included.",
        http_server_connection_count(m->http));
    const http_stats_t *hs = http_server_stats(m->http);
    one(out, "iogate_http_socket_writes_total", "counter", "sendmsg calls on connections.",
        hs->socket_writes);
    one(out, "iogate_http_writes_deferred_total", "counter",
        "WebSocket writes that waited in the flush queue.", hs->writes_deferred);

    eio_server_t *eio = sio_server_eio(m->sio);
    const eio_stats_t *es = eio_server_stats(eio);
    one(out, "iogate_engineio_sessions", "gauge", "Open Engine.IO sessions.",
        eio_server_session_count(eio));
    one(out, "iogate_engineio_sessions_opened_total", "counter", "Engine.IO sessions opened.",
        es->sessions_opened);
    one(out, "iogate_engineio_sessions_closed_total", "counter", "Engine.IO sessions closed.",
        es->sessions_closed);
    one(out, "iogate_engineio_upgrades_total", "counter", "Polling sessions upgraded to WebSocket.",
        es->upgrades);
    one(out, "iogate_engineio_handshakes_refused_total", "counter",
        "Handshakes refused by the bounds on sessions waiting to join.", es->handshakes_refused);
    one(out, "iogate_slow_consumers_dropped_total", "counter",
        "Sessions closed because their queued output overflowed.", es->slow_consumers_dropped);

    const sio_stats_t *ss = sio_server_stats(m->sio);
    family(out, "iogate_socketio_sockets", "gauge", "Connected Socket.IO sockets by namespace.");
    sio_server_each_nsp(m->sio, nsp_sockets, out);
    one(out, "iogate_socketio_unjoined_sessions", "gauge",
        "Sessions that have not joined a namespace yet.", sio_server_unjoined_count(m->sio));
    one(out, "iogate_socketio_connects_total", "counter", "Sockets that joined a namespace.",
        ss->connects);
    one(out, "iogate_socketio_disconnects_total", "counter", "Sockets that left.", ss->disconnects);
    family(out, "iogate_socketio_auth_total", "counter",
           "Socket authentications by result (ok, or a token that did not verify).");
    buf_printf(out, "iogate_socketio_auth_total{result=\"ok\"} %" PRIu64 "\n", ss->auth_ok);
    buf_printf(out, "iogate_socketio_auth_total{result=\"failed\"} %" PRIu64 "\n", ss->auth_failed);
    one(out, "iogate_socketio_cross_site_cookies_total", "counter",
        "Handshake cookies ignored because the page was foreign.", ss->cross_site_cookies);
    one(out, "iogate_emits_total", "counter", "Packets encoded by the emitter (once per emit).",
        ss->serializations);
    one(out, "iogate_deliveries_total", "counter", "Packets handed to sockets by the emitter.",
        ss->deliveries);
    one(out, "iogate_binary_packets_dropped_total", "counter",
        "Binary packets dropped: too large, late, or over the budget.", ss->binary_packets_dropped);

    const sio_recovery_stats_t *rs = sio_server_recovery_stats(m->sio);
    if (rs) recovery_metrics(out, rs);

    const membudget_t *b = http_server_budget(m->http);
    one(out, "iogate_client_bytes", "gauge", "Bytes held on behalf of clients.", b->used);
    one(out, "iogate_client_bytes_limit", "gauge", "[limits] max_client_bytes.", b->limit);
    one(out, "iogate_client_bytes_shed_total", "counter",
        "Clients shed because the bytes held for clients reached their limit.", b->shed);

    if (m->cluster) {
        const cluster_stats_t *cs = cluster_stats(m->cluster);
        const redis_link_stats_t *ls = cluster_link_stats(m->cluster);
        one(out, "iogate_cluster_up", "gauge", "1 while Redis is reachable and subscribed.",
            cluster_ready(m->cluster) ? 1 : 0);
        one(out, "iogate_cluster_published_total", "counter", "Messages published to the fleet.",
            cs->published);
        one(out, "iogate_cluster_received_total", "counter",
            "Broadcasts of other nodes delivered here.", cs->received);
        one(out, "iogate_cluster_requests_answered_total", "counter",
            "Requests of other nodes acted upon.", cs->requests_answered);
        one(out, "iogate_cluster_malformed_total", "counter", "Malformed messages dropped.",
            cs->malformed);
        one(out, "iogate_cluster_queued_messages", "gauge", "Publishes waiting for Redis.",
            ls->queued);
        one(out, "iogate_cluster_dropped_total", "counter",
            "Publishes dropped because the queue was full.", ls->dropped);
        one(out, "iogate_cluster_reconnects_total", "counter", "Times the Redis link came back up.",
            ls->reconnects);
    }
    process_metrics(m, out);
}

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
