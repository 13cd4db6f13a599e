/* eio_server.c - Engine.IO v4 sessions: handshake, heartbeat, the output queue
 * and its limits, close, and the routing of requests to the transports
 * (eio_polling.c, eio_websocket.c). Mirrors the reference server's behaviour
 * (engine.io's server.ts and socket.ts; its transports/ are the two files named).
 *
 * Ownership: the server owns its sessions (indexed by sid). A WebSocket
 * transport (eio_ws_t) is owned by its HTTP connection and freed when the
 * connection closes; it points at its session until either side lets go.
 * A session's memory is released from its timer's close callback, never
 * synchronously, so callbacks may close sessions freely. */
#include "eio/eio_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/random.h"
#include "eio/eio_internal.h"
#include "http/url.h"

/* Engine.IO protocol errors, as the reference server numbers and words them. */
enum {
    ERR_UNKNOWN_TRANSPORT = 0,
    ERR_UNKNOWN_SID = 1,
    ERR_BAD_HANDSHAKE_METHOD = 2,
    ERR_BAD_REQUEST = 3,
    ERR_FORBIDDEN = 4,
    ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
};
static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version",
};
static const char *const error_names[EIO_ERRORS] = {
    "unknown_transport", "unknown_sid", "bad_handshake_method",
    "bad_request",       "forbidden",   "unsupported_protocol_version",
};

const char *eio_error_name(int code)
{
    return code >= 0 && code < EIO_ERRORS ? error_names[code] : "unknown";
}

/* The reasons Engine.IO itself gives, by stats index; anything else is the application's. */
static const char *const close_reasons[EIO_CLOSE_REASONS][2] = {
    {"transport close", "transport_close"}, {"transport error", "transport_error"},
    {"parse error", "parse_error"},         {"ping timeout", "ping_timeout"},
    {"slow consumer", "slow_consumer"},     {"server shutting down", "server_shutdown"},
    {"server close", "server_close"},
};

const char *eio_close_reason_name(int reason)
{
    return reason >= 0 && reason < EIO_CLOSE_REASONS ? close_reasons[reason][1] : "unknown";
}

static int close_reason_index(const char *reason)
{
    for (int i = 0; i < EIO_CLOSE_REASONS - 1; i++)
        if (strcmp(reason, close_reasons[i][0]) == 0) return i;
    return EIO_CLOSE_REASONS - 1;
}

const char *eio_transport_name(int transport)
{
    return transport == TRANSPORT_WEBSOCKET ? "websocket" : "polling";
}

static void session_free(eio_socket_t *s);
static void on_reap(uv_check_t *h);
static void on_budget_pressure(void *user);

/* ------------------------------------------------------------------ server */

static const char *session_key(const void *obj, size_t *len)
{
    *len = EIO_SID_LEN;
    return ((const eio_socket_t *)obj)->sid;
}

eio_server_t *eio_server_new(uv_loop_t *loop, const eio_options_t *opts, const eio_callbacks_t *cb,
                             void *user)
{
    eio_server_t *srv = xcalloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->opts = *opts;
    srv->path = xstrdup(opts->path);
    srv->path_len = strlen(srv->path);
    srv->opts.path = srv->path;
    srv->ncors = opts->cors_origins_len;
    srv->cors = xcalloc(srv->ncors ? srv->ncors : 1, sizeof(char *));
    for (size_t i = 0; i < srv->ncors; i++)
        srv->cors[i] = xstrdup(opts->cors_origins[i]);
    srv->opts.cors_origins = NULL;
    srv->cb = *cb;
    srv->user = user;
    membudget_init(&srv->own_budget, 0);
    srv->budget = opts->budget ? opts->budget : &srv->own_budget;
    membudget_add_reclaimer(srv->budget, on_budget_pressure, srv);
    objmap_init(&srv->sessions, session_key);
    timerheap_init(&srv->deadlines);
    srv->pkt_ping = rbuf_new(BUF_LIT("2"));
    srv->pkt_noop = rbuf_new(BUF_LIT("6"));
    srv->pkt_close = rbuf_new(BUF_LIT("1"));
    srv->pkt_pong_probe = rbuf_new(BUF_LIT("3probe"));
    return srv;
}

void eio_server_close_all(eio_server_t *srv)
{
    srv->shutting_down = 1;
    /* Closing removes entries: collect first. */
    size_t n = objmap_count(&srv->sessions), pos = 0, i = 0;
    eio_socket_t **all = xcalloc(n ? n : 1, sizeof(*all));
    eio_socket_t *s;
    while ((s = objmap_next(&srv->sessions, &pos)) && i < n)
        all[i++] = s;
    for (size_t j = 0; j < i; j++)
        eio_session_close(all[j], "server shutting down", BY_SERVER);
    free(all);
}

static void on_server_handle_closed(uv_handle_t *h)
{
    (void)h;
}

void eio_server_release(eio_server_t *srv)
{
    if (srv->released) return;
    srv->released = 1;
    /* The shared budget may be freed before this server: what is left is released here. */
    membudget_remove_reclaimer(srv->budget, srv);
    srv->budget = &srv->own_budget;
    if (!srv->handles_open) return;
    srv->handles_open = 0;
    on_reap(&srv->reaper);
    uv_close((uv_handle_t *)&srv->timer, on_server_handle_closed);
    uv_close((uv_handle_t *)&srv->reaper, on_server_handle_closed);
}

void eio_server_free(eio_server_t *srv)
{
    if (!srv) return;
    while (srv->dead) {
        eio_socket_t *s = srv->dead;
        srv->dead = s->next_dead;
        session_free(s);
    }
    /* Sessions still closing (waiting for a last poll) when the loop stopped. */
    size_t pos = 0;
    eio_socket_t *s;
    while ((s = objmap_next(&srv->sessions, &pos)))
        session_free(s);
    timerheap_free(&srv->deadlines);
    objmap_free(&srv->sessions);
    rbuf_unref(srv->pkt_ping);
    rbuf_unref(srv->pkt_noop);
    rbuf_unref(srv->pkt_close);
    rbuf_unref(srv->pkt_pong_probe);
    for (size_t i = 0; i < srv->ncors; i++)
        free(srv->cors[i]);
    free(srv->cors);
    free(srv->path);
    free(srv);
}

int eio_server_matches(const eio_server_t *srv, http_request_t *req)
{
    size_t len;
    const char *path = http_request_path(req, &len);
    /* The reference matches the path as a prefix; "/socket.io" without the slash too. */
    if (len >= srv->path_len) return memcmp(path, srv->path, srv->path_len) == 0;
    return len + 1 == srv->path_len && srv->path[len] == '/' && memcmp(path, srv->path, len) == 0;
}

/* A worker index in a session id's first two characters: 12 bits in the id's alphabet. */
#define SID_TAG_LEN 2

static int sid_digit(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

static void sid_tag(char *sid, unsigned index)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    sid[0] = alphabet[(index >> 6) & 63];
    sid[1] = alphabet[index & 63];
}

int eio_server_owner(const eio_server_t *srv, const char *target, size_t len)
{
    if (srv->opts.worker_count < 2) return -1;
    const char *q = memchr(target, '?', len);
    size_t path_len = q ? (size_t)(q - target) : len;
    /* The same match as eio_server_matches(). */
    int ours = path_len >= srv->path_len
                   ? memcmp(target, srv->path, srv->path_len) == 0
                   : path_len + 1 == srv->path_len && srv->path[path_len] == '/' &&
                         memcmp(target, srv->path, path_len) == 0;
    if (!ours || !q) return -1;
    const char *p = q + 1, *end = target + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop - p == 4 + EIO_SID_LEN && memcmp(p, "sid=", 4) == 0) {
            int hi = sid_digit(p[4]), lo = sid_digit(p[5]);
            if (hi < 0 || lo < 0) return -1;
            int index = hi << 6 | lo;
            return (unsigned)index < srv->opts.worker_count ? index : -1;
        }
        p = stop + 1;
    }
    return -1;
}

size_t eio_server_session_count(const eio_server_t *srv)
{
    return objmap_count(&srv->sessions);
}

const eio_stats_t *eio_server_stats(const eio_server_t *srv)
{
    return &srv->stats;
}

membudget_t *eio_server_budget(eio_server_t *srv)
{
    return srv->budget;
}

/* ------------------------------------------------------------------ output */

void eio_queue_clear(eio_socket_t *s)
{
    membudget_release(s->srv->budget, s->qbytes);
    for (size_t i = 0; i < s->qlen; i++)
        rbuf_unref(s->queue[i].data);
    s->qlen = 0;
    s->qbytes = 0;
    /* An idle WebSocket session keeps no queue memory. */
    free(s->queue);
    s->queue = NULL;
}

/* The queue only ever empties all at once (eio_queue_clear), so its capacity is a function of
 * its length: 4 entries, doubled each time a power of two fills. */
static void queue_push(eio_socket_t *s, rbuf_t *data, int binary)
{
    uint32_t n = s->qlen;
    if (n == 0)
        s->queue = xrealloc(s->queue, 4 * sizeof(*s->queue));
    else if (n >= 4 && (n & (n - 1)) == 0)
        s->queue = xrealloc(s->queue, 2 * (size_t)n * sizeof(*s->queue));
    s->queue[s->qlen].data = rbuf_ref(data);
    s->queue[s->qlen].binary = binary;
    s->qlen++;
    s->qbytes += data->len;
    /* Counted as max_outbox_bytes counts: a shared payload once per session holding it, an
     * upper bound of what the queue keeps alive. session_push judges the total. */
    membudget_charge(s->srv->budget, data->len);
}

void eio_add_cors(eio_server_t *srv, http_request_t *req)
{
    const char *origin = http_request_header(req, "origin");
    if (!origin || !srv->ncors) return;
    for (size_t i = 0; i < srv->ncors; i++) {
        if (strcmp(srv->cors[i], "*") == 0) {
            http_response_header(req, "Access-Control-Allow-Origin", "*");
            return;
        }
        if (strcmp(srv->cors[i], origin) == 0) {
            http_response_header(req, "Access-Control-Allow-Origin", origin);
            http_response_header(req, "Access-Control-Allow-Credentials", "true");
            http_response_header(req, "Vary", "Origin");
            return;
        }
    }
}

/* Output the kernel has not taken from conn is over limit (extra bytes waiting elsewhere).
 * Output the connection deferred is written first: it is not a slow consumer's until the
 * kernel refuses it. */
int eio_conn_over_limit(http_conn_t *conn, size_t extra, size_t limit)
{
    if (extra + http_conn_pending_bytes(conn) <= limit) return 0;
    http_conn_flush(conn);
    return extra + http_conn_pending_bytes(conn) > limit;
}

/* What one session may hold: max_outbox_bytes, and once the bytes held for all clients are
 * past their budget, no more than its fair share of it. So the sessions holding the memory
 * are dropped as their outboxes grow, while one with an empty outbox is not dropped for the
 * others (finding the very largest would need an index over every session, kept up to date
 * on every write). */
size_t eio_outbox_limit(eio_server_t *srv)
{
    size_t limit = srv->opts.max_outbox_bytes;
    if (membudget_over(srv->budget)) {
        size_t share = membudget_fair_share(srv->budget, objmap_count(&srv->sessions));
        if (share < limit) limit = share;
    }
    return limit;
}

static int outbox_over(eio_socket_t *s, size_t limit)
{
    if (s->ws && s->ws->conn) return eio_conn_over_limit(s->ws->conn, s->qbytes, limit);
    return s->qbytes > limit;
}

static int over_limit(eio_socket_t *s)
{
    return outbox_over(s, eio_outbox_limit(s->srv));
}

/* The session's peer address for a log line: its transport's, or "-" between polls (the
 * session keeps no copy: that would be per-connection memory for logs alone). */
static const char *session_remote(const eio_socket_t *s, char out[HTTP_ADDR_MAX])
{
    const http_conn_t *conn = s->ws && s->ws->conn ? s->ws->conn
                              : s->poll            ? http_request_conn(s->poll)
                                                   : NULL;
    if (conn) return http_conn_remote_addr(conn, out);
    strcpy(out, "-");
    return out;
}

/* Bytes queued for this session that the client has not taken yet. */
static size_t outbox_bytes(const eio_socket_t *s)
{
    size_t n = s->qbytes;
    if (s->ws && s->ws->conn) n += http_conn_pending_bytes(s->ws->conn);
    return n;
}

void eio_drop_slow_consumer(eio_socket_t *s)
{
    s->srv->stats.slow_consumers_dropped++;
    char addr[HTTP_ADDR_MAX];
    size_t held = outbox_bytes(s);
    if (held <= s->srv->opts.max_outbox_bytes) {
        /* Its fair share of max_client_bytes was the limit: the budget logs once per episode. */
        membudget_shed(s->srv->budget, "slow consumers over their share dropped");
        log_debug("eio",
                  "session %s (%s) dropped: %zu bytes queued, over its share of "
                  "max_client_bytes",
                  s->sid, session_remote(s, addr), held);
    } else {
        log_warn("eio", "session %s (%s) dropped: %zu bytes queued exceed max_outbox_bytes %zu",
                 s->sid, session_remote(s, addr), held, s->srv->opts.max_outbox_bytes);
    }
    eio_queue_clear(s); /* nothing queued can be delivered in time anyway */
    if (s->ws && s->ws->conn) {
        http_conn_t *conn = s->ws->conn;
        s->ws->closing = 1;
        http_conn_close(conn, 1);
    }
    eio_session_close(s, "slow consumer", BY_SERVER);
}

/* Sends one packet on the session's current transport. */
static void session_push(eio_socket_t *s, rbuf_t *data, int binary)
{
    if (s->state != STATE_OPEN) return;
    s->srv->stats.packets_sent[s->transport]++;
    s->srv->stats.bytes_sent[s->transport] += data->len;
    if (s->transport == TRANSPORT_WEBSOCKET && s->ws && s->ws->conn && !s->qlen) {
        eio_ws_write(s->ws, data, binary);
    } else {
        queue_push(s, data, binary);
        if (s->transport == TRANSPORT_POLLING && s->poll) eio_poll_flush(s, NULL);
    }
    if (over_limit(s)) eio_drop_slow_consumer(s);
}

/* ------------------------------------------------------------------ sessions */

static void session_free(eio_socket_t *s)
{
    eio_queue_clear(s);
    free(s->queue);
    free(s);
}

/* Near the budget, something was refused (a request body, say) while what fills it may sit
 * still: sessions whose outboxes no push makes grow. Those over their share go now, as they
 * would at their next push past the budget, until the total is under 90 % again. */
static void reclaim_outboxes(eio_server_t *srv)
{
    if (!membudget_pressed(srv->budget)) return;
    size_t n = objmap_count(&srv->sessions), pos = 0, k = 0;
    size_t share = membudget_fair_share(srv->budget, n);
    eio_socket_t **over = xcalloc(n ? n : 1, sizeof(*over)), *s;
    while ((s = objmap_next(&srv->sessions, &pos)) && k < n)
        if (s->state == STATE_OPEN && outbox_over(s, share)) over[k++] = s;
    for (size_t i = 0; i < k && membudget_pressed(srv->budget); i++)
        if (over[i]->state == STATE_OPEN) eio_drop_slow_consumer(over[i]);
    free(over);
}

static void on_reap(uv_check_t *h)
{
    eio_server_t *srv = h->data;
    eio_socket_t *dead = srv->dead;
    srv->dead = NULL;
    if (srv->reclaim_due && !srv->released) {
        srv->reclaim_due = 0;
        reclaim_outboxes(srv);
    }
    while (dead) {
        eio_socket_t *s = dead;
        dead = s->next_dead;
        session_free(s);
    }
    if (!srv->dead) uv_check_stop(h); /* sessions the reclaim closed go next turn */
}

/* The budget refused something: the work waits for the check handle (this runs inside a
 * parser or a push). */
static void on_budget_pressure(void *user)
{
    eio_server_t *srv = user;
    if (!srv->handles_open) return;
    srv->reclaim_due = 1;
    uv_check_start(&srv->reaper, on_reap);
}

static void on_server_timer(uv_timer_t *t);

static void server_handles_init(eio_server_t *srv)
{
    if (srv->handles_open || srv->released) return;
    uv_timer_init(srv->loop, &srv->timer);
    uv_check_init(srv->loop, &srv->reaper);
    srv->timer.data = srv;
    srv->reaper.data = srv;
    srv->handles_open = 1;
}

/* Arms the server's one timer for the earliest deadline of all sessions. */
static void server_rearm(eio_server_t *srv)
{
    if (!srv->handles_open) return;
    timerheap_node_t *top = timerheap_top(&srv->deadlines);
    if (!top) {
        uv_timer_stop(&srv->timer);
        return;
    }
    uint64_t now = uv_now(srv->loop);
    uv_timer_start(&srv->timer, on_server_timer, top->deadline > now ? top->deadline - now : 0, 0);
}

/* Final release: unlinks transports and lets the timer's close callback free it. */
void eio_session_destroy(eio_socket_t *s)
{
    if (s->state == STATE_CLOSED) return;
    s->state = STATE_CLOSED;
    objmap_remove(&s->srv->sessions, s->sid, EIO_SID_LEN);
    if (s->poll) {
        http_request_t *req = s->poll;
        s->poll = NULL;
        http_request_on_abort(req, NULL, NULL);
        http_respond(req, 200, "text/plain; charset=UTF-8", BUF_LIT("6"));
    }
    eio_queue_clear(s);
    if (s->ws) {
        s->ws->session = NULL;
        if (s->srv->shutting_down)
            eio_ws_close(s->ws, WS_CLOSE_GOING_AWAY, "server shutting down");
        else
            eio_ws_close(s->ws, WS_CLOSE_NORMAL, NULL);
        s->ws = NULL;
    }
    if (s->probe) {
        s->probe->session = NULL;
        eio_ws_close(s->probe, WS_CLOSE_NORMAL, NULL);
        s->probe = NULL;
    }
    s->srv->stats.sessions_closed++;
    s->srv->stats.sessions_open[s->transport]--;
    eio_server_t *srv = s->srv;
    timerheap_remove(&srv->deadlines, &s->deadline);
    server_rearm(srv);
    /* Callbacks up the stack may still hold s: it is freed after this loop turn. */
    if (srv->handles_open) {
        s->next_dead = srv->dead;
        srv->dead = s;
        uv_check_start(&srv->reaper, on_reap);
    } else {
        session_free(s);
    }
}

static void session_closed_notify(eio_socket_t *s, const char *reason)
{
    if (!s->opened) return;
    s->opened = 0;
    s->srv->stats.closed[close_reason_index(reason)]++;
    log_debug("eio", "session %s closed: %s", s->sid, reason);
    if (s->srv->cb.on_close) s->srv->cb.on_close(s->srv->user, s, reason);
}

void eio_session_close(eio_socket_t *s, const char *reason, int by)
{
    if (s->state != STATE_OPEN) return;
    s->ping_at = s->upgrade_by = s->user_at = 0;
    s->awaiting_pong = 0;
    if (s->probe) {
        s->probe->session = NULL;
        eio_ws_close(s->probe, WS_CLOSE_NORMAL, NULL);
        s->probe = NULL;
    }
    if (s->transport == TRANSPORT_POLLING) {
        if (s->poll) {
            /* The reference answers a client's close with a noop, its own with a close. */
            eio_poll_flush(s, by == BY_CLIENT ? s->srv->pkt_noop : s->srv->pkt_close);
        } else if (by == BY_APP && s->qlen) {
            /* Keep what is queued (a Socket.IO DISCONNECT, say) for the client's next GET. */
            queue_push(s, s->srv->pkt_close, 0);
            s->state = STATE_CLOSING;
            s->close_by =
                uv_now(s->srv->loop) + s->srv->opts.ping_interval_ms + s->srv->opts.ping_timeout_ms;
            session_closed_notify(s, reason);
            eio_session_rearm(s);
            return;
        }
    }
    session_closed_notify(s, reason);
    eio_session_destroy(s);
}

void eio_session_rearm(eio_socket_t *s)
{
    if (s->state == STATE_CLOSED) return;
    eio_server_t *srv = s->srv;
    uint64_t next = UINT64_MAX;
    const uint64_t deadlines[] = {s->ping_at, s->upgrade_by, s->user_at}; /* with their aliases */
    for (size_t i = 0; i < sizeof(deadlines) / sizeof(deadlines[0]); i++)
        if (deadlines[i] && deadlines[i] < next) next = deadlines[i];
    if (next == UINT64_MAX)
        timerheap_remove(&srv->deadlines, &s->deadline);
    else
        timerheap_set(&srv->deadlines, &s->deadline, next);
    server_rearm(srv);
}

/* Whether the client's bytes (its pong, perhaps) wait in the kernel, unread: known on a
 * WebSocket; a polling client's next POST may come on any connection. */
static int pong_may_be_waiting(const eio_socket_t *s)
{
    return s->transport == TRANSPORT_WEBSOCKET && s->ws && http_conn_input_waiting(s->ws->conn);
}

/* One session's deadline came: do what is due, then schedule the next. */
static void session_due(eio_socket_t *s)
{
    eio_server_t *srv = s->srv;
    uint64_t now = uv_now(srv->loop);
    if (s->state == STATE_CLOSING) {
        if (s->close_by && now >= s->close_by)
            eio_session_destroy(s);
        else
            eio_session_rearm(s);
        return;
    }
    if (s->awaiting_pong && now >= s->pong_by) {
        if (s->awaiting_pong == 1 && pong_may_be_waiting(s)) {
            /* A loop that fell behind (a long fan-out on a starved machine: timers run before
             * the sockets are read, 256 ready sockets a turn) must not take its own lateness
             * for the client's. Bytes from the client wait unread: judge once more after
             * another ping_timeout_ms, by when the loop has read them. Once per ping, so a
             * client that talks but never answers still goes. */
            s->awaiting_pong = 2;
            s->pong_by = now + srv->opts.ping_timeout_ms;
            srv->stats.pong_verdicts_deferred++;
            eio_session_rearm(s);
            return;
        }
        eio_session_close(s, "ping timeout", BY_SERVER);
        return;
    }
    if (s->upgrade_by && now >= s->upgrade_by) {
        s->upgrade_by = 0;
        s->upgrading = 0;
        if (s->probe) {
            log_debug("eio", "session %s: upgrade timed out", s->sid);
            s->probe->session = NULL;
            eio_ws_close(s->probe, WS_CLOSE_NORMAL, NULL);
            s->probe = NULL;
        }
    }
    if (!s->awaiting_pong && s->ping_at && now >= s->ping_at) {
        s->awaiting_pong = 1;
        s->pong_by = now + srv->opts.ping_timeout_ms;
        session_push(s, srv->pkt_ping, 0);
        if (s->state != STATE_OPEN) return;
    }
    if (s->user_at && now >= s->user_at) {
        s->user_at = 0;
        if (srv->cb.on_timeout) srv->cb.on_timeout(srv->user, s);
        if (s->state != STATE_OPEN) return;
    }
    eio_session_rearm(s);
}

static void on_server_timer(uv_timer_t *t)
{
    eio_server_t *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    /* Only what was due when this turn began: a deadline set meanwhile waits. */
    size_t budget = timerheap_size(&srv->deadlines);
    timerheap_node_t *top;
    while (budget-- > 0 && (top = timerheap_top(&srv->deadlines)) && top->deadline <= now) {
        eio_socket_t *s = (eio_socket_t *)((char *)top - offsetof(eio_socket_t, deadline));
        timerheap_remove(&srv->deadlines, top);
        session_due(s);
    }
    server_rearm(srv);
}

eio_socket_t *eio_session_new(eio_server_t *srv, http_request_t *req, int transport)
{
    eio_socket_t *s = xcalloc(1, sizeof(*s));
    s->srv = srv;
    s->transport = (uint8_t)transport;
    do {
        random_id(s->sid, EIO_SID_LEN);
        if (srv->opts.worker_count > 1) sid_tag(s->sid, srv->opts.worker_index);
    } while (objmap_get(&srv->sessions, s->sid, EIO_SID_LEN));
    timerheap_node_init(&s->deadline);
    server_handles_init(srv);
    objmap_add(&srv->sessions, s);
    srv->stats.sessions_opened++;
    srv->stats.opened[transport]++;
    srv->stats.sessions_open[transport]++;

    buf_t open = BUF_INIT;
    buf_printf(&open,
               "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%llu,\"pingTimeout\":%llu,"
               "\"maxPayload\":%zu}",
               s->sid,
               transport == TRANSPORT_POLLING && srv->opts.allow_websocket ? "\"websocket\"" : "",
               (unsigned long long)srv->opts.ping_interval_ms,
               (unsigned long long)srv->opts.ping_timeout_ms, srv->opts.max_payload);
    rbuf_t *packet = rbuf_from_buf(&open);
    srv->stats.packets_sent[transport]++;
    srv->stats.bytes_sent[transport] += packet->len;
    queue_push(s, packet, 0);
    rbuf_unref(packet);
    s->ping_at = uv_now(srv->loop) + srv->opts.ping_interval_ms;
    eio_session_rearm(s);
    log_debug("eio", "session %s opened over %s from %s", s->sid,
              transport == TRANSPORT_POLLING ? "polling" : "websocket",
              http_request_remote_addr(req));
    return s;
}

void eio_session_on_packet(eio_socket_t *s, const eio_packet_t *p)
{
    eio_server_t *srv = s->srv;
    if (s->state != STATE_OPEN) return;
    srv->stats.packets_received[s->transport]++;
    srv->stats.bytes_received[s->transport] += p->len + (p->binary ? 0 : 1);
    switch (p->type) {
    case EIO_PONG:
        s->awaiting_pong = 0;
        s->ping_at = uv_now(srv->loop) + srv->opts.ping_interval_ms;
        eio_session_rearm(s);
        break;
    case EIO_PING:
        /* In protocol v4 only the server pings. */
        eio_session_close(s, "transport error", BY_SERVER);
        break;
    case EIO_MESSAGE:
        if (srv->cb.on_message) srv->cb.on_message(srv->user, s, p->binary, p->data, p->len);
        break;
    case EIO_CLOSE:
        eio_session_close(s, "transport close", BY_CLIENT);
        break;
    default: /* open, upgrade and noop carry nothing for an open session */
        break;
    }
}

/* ------------------------------------------------------------------ public session API */

const char *eio_socket_id(const eio_socket_t *s)
{
    return s->sid;
}

void eio_socket_set_user(eio_socket_t *s, void *user)
{
    s->user = user;
}

void *eio_socket_user(const eio_socket_t *s)
{
    return s->user;
}

void eio_socket_send(eio_socket_t *s, int binary, const void *data, size_t len)
{
    if (s->state != STATE_OPEN) return;
    rbuf_t *r;
    if (binary) {
        r = rbuf_new(data, len);
    } else {
        r = rbuf_new(NULL, len + 1);
        r->data[0] = '4';
        if (len) memcpy(r->data + 1, data, len);
        r->data[len + 1] = '\0';
    }
    session_push(s, r, binary);
    rbuf_unref(r);
}

void eio_socket_send_shared(eio_socket_t *s, rbuf_t *packet)
{
    session_push(s, packet, 0);
}

void eio_socket_send_shared_binary(eio_socket_t *s, rbuf_t *data)
{
    session_push(s, data, 1);
}

size_t eio_socket_outbox_bytes(const eio_socket_t *s)
{
    return outbox_bytes(s);
}

void eio_socket_close(eio_socket_t *s, const char *reason)
{
    eio_session_close(s, reason ? reason : "server close", BY_APP);
}

void eio_socket_abort(eio_socket_t *s, const char *reason)
{
    eio_session_close(s, reason ? reason : "server close", BY_SERVER);
}

void eio_socket_set_timeout(eio_socket_t *s, uint64_t ms)
{
    if (s->state != STATE_OPEN) return;
    s->user_at = ms ? uv_now(s->srv->loop) + ms : 0;
    eio_session_rearm(s);
}

/* ------------------------------------------------------------------ requests */

static void abort_request(eio_server_t *srv, http_request_t *req, int code)
{
    srv->stats.errors[code]++;
    if (http_request_is_upgrade(req)) {
        /* As the reference does for a refused upgrade: a plain-text 400 and close. */
        const char *msg = error_messages[code];
        http_response_close(req);
        http_respond(req, 400, "text/html", msg, strlen(msg));
        return;
    }
    buf_t body = BUF_INIT;
    buf_printf(&body, "{\"code\":%d,\"message\":\"%s\"}", code, error_messages[code]);
    eio_add_cors(srv, req);
    http_respond(req, code == ERR_FORBIDDEN ? 403 : 400, "application/json", body.data, body.len);
    buf_free(&body);
}

/* Asks the layer above whether a handshake may open a session; answers 503 when not. */
int eio_handshake_refused(eio_server_t *srv, http_request_t *req)
{
    const char *why = srv->cb.on_handshake ? srv->cb.on_handshake(srv->user, req) : NULL;
    if (!why) return 0;
    srv->stats.handshakes_refused++;
    log_debug("eio", "handshake from %s refused: %s", http_request_remote_addr(req), why);
    if (http_request_is_upgrade(req))
        http_response_close(req);
    else
        eio_add_cors(srv, req);
    http_respond_error(req, 503, "service_unavailable", why);
    return 1;
}

static void handle_preflight(eio_server_t *srv, http_request_t *req)
{
    eio_add_cors(srv, req);
    const char *want = http_request_header(req, "access-control-request-headers");
    if (want && http_request_header(req, "origin") && srv->ncors) {
        http_response_header(req, "Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
        http_response_header(req, "Access-Control-Allow-Headers", want);
    } else if (http_request_header(req, "origin") && srv->ncors) {
        http_response_header(req, "Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
    }
    http_respond(req, 204, NULL, NULL, 0);
}

void eio_server_handle(eio_server_t *srv, http_request_t *req)
{
    const char *method = http_request_method(req);
    int upgrade = http_request_is_upgrade(req);
    if (!upgrade && strcmp(method, "OPTIONS") == 0) {
        handle_preflight(srv, req);
        return;
    }
    size_t qlen;
    const char *qs = http_request_query(req, &qlen);
    url_query_t q = URL_QUERY_INIT;
    if (qs && url_query_parse(&q, qs, qlen, 64) != 0) {
        abort_request(srv, req, ERR_BAD_REQUEST);
        return;
    }
    const char *transport = url_query_get(&q, "transport");
    const char *sid = url_query_get(&q, "sid");
    const char *eio = url_query_get(&q, "EIO");
    int is_ws = transport && strcmp(transport, "websocket") == 0;
    int is_polling = transport && strcmp(transport, "polling") == 0;
    eio_socket_t *s = NULL;
    int err = -1;

    if (!(is_ws && srv->opts.allow_websocket) && !(is_polling && srv->opts.allow_polling)) {
        err = ERR_UNKNOWN_TRANSPORT;
    } else if (sid) {
        s = objmap_get(&srv->sessions, sid, strlen(sid));
        if (!s || s->state == STATE_CLOSED)
            err = ERR_UNKNOWN_SID;
        else if (!upgrade && (s->transport == TRANSPORT_WEBSOCKET ? !is_ws : !is_polling))
            err = ERR_BAD_REQUEST;
        else if (upgrade && !is_ws)
            err = ERR_BAD_REQUEST;
    } else if (strcmp(method, "GET") != 0) {
        err = ERR_BAD_HANDSHAKE_METHOD;
    } else if (is_ws && !upgrade) {
        err = ERR_BAD_REQUEST;
    } else if (!eio || strcmp(eio, "4") != 0) {
        err = ERR_UNSUPPORTED_PROTOCOL_VERSION;
    }
    url_query_free(&q);
    if (err >= 0) {
        log_debug("eio", "%s %s refused: %s", method, http_request_target(req),
                  error_messages[err]);
        abort_request(srv, req, err);
        return;
    }

    if (upgrade) {
        eio_ws_handle(srv, req, s);
    } else if (s) {
        if (strcmp(method, "GET") == 0)
            eio_poll_get(srv, s, req);
        else if (strcmp(method, "POST") == 0)
            eio_poll_post(srv, s, req);
        else
            abort_request(srv, req, ERR_BAD_REQUEST);
    } else {
        /* Polling handshake: the open packet (and anything on_open sends) answers it. */
        if (eio_handshake_refused(srv, req)) return;
        s = eio_session_new(srv, req, TRANSPORT_POLLING);
        s->opened = 1;
        if (srv->cb.on_open) srv->cb.on_open(srv->user, s, req);
        eio_add_cors(srv, req);
        if (s->state == STATE_OPEN) {
            s->poll = req;
            eio_poll_flush(s, NULL);
        } else {
            http_respond(req, 200, "text/plain; charset=UTF-8", BUF_LIT("1"));
        }
    }
}
