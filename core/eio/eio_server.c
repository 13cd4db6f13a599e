/* eio_server.c - Engine.IO v4 sessions: handshake, long-polling, WebSocket,
 * upgrade, heartbeat, output limits and close. Mirrors the reference
 * server's behaviour (engine.io's server.ts, socket.ts and transports).
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

#include "base/base64.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/random.h"
#include "base/objmap.h"
#include "base/timerheap.h"
#include "eio/eio_packet.h"
#include "http/url.h"
#include "ws/ws_frame.h"
#include "ws/ws_handshake.h"

enum { TRANSPORT_POLLING = 0, TRANSPORT_WEBSOCKET = 1 };
enum { STATE_OPEN = 0, STATE_CLOSING = 1, STATE_CLOSED = 2 };
/* Who ends a session: the server itself (errors, timeouts), the client, or the
 * application through eio_socket_close(), whose last packets are worth a final poll. */
enum { BY_SERVER = 0, BY_CLIENT = 1, BY_APP = 2 };

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
/* The body of ERR_BAD_REQUEST, answered as is where no other code can apply. */
#define BAD_REQUEST_BODY "{\"code\":3,\"message\":\"Bad request\"}"

typedef struct eio_out {
    rbuf_t *data;
    int binary;
} eio_out_t;

typedef struct eio_ws {
    eio_server_t *srv;
    http_conn_t *conn;
    eio_socket_t *session; /* NULL once detached */
    ws_reader_t reader;
    uint8_t probing; /* an upgrade candidate, not yet the session's transport */
    uint8_t closing;
} eio_ws_t;

/* One per connected client, so laid out tight (136 bytes): deadlines that never run at the
 * same time share a field, and the queue's capacity follows from its length. */
struct eio_socket {
    eio_server_t *srv;
    void *user;
    timerheap_node_t deadline; /* the earliest of the deadlines below, in the server's heap */
    union {
        uint64_t ping_at; /* when to ping, unless awaiting_pong */
        uint64_t pong_by; /* while awaiting_pong */
    };
    union {
        uint64_t upgrade_by; /* while open */
        uint64_t close_by;   /* once closing */
    };
    uint64_t user_at;
    struct eio_socket *next_dead; /* waiting to be freed */
    http_request_t *poll;         /* the pending long-polling GET */
    eio_out_t *queue;             /* polling output (and WebSocket output before it attaches) */
    size_t qbytes;
    eio_ws_t *ws;    /* the WebSocket transport */
    eio_ws_t *probe; /* the WebSocket being probed for an upgrade */
    uint32_t qlen;   /* entries queued; the capacity follows from it (queue_push) */
    char sid[EIO_SID_LEN + 1];
    uint8_t transport;
    uint8_t state;
    uint8_t upgrading;     /* probe answered, waiting for the upgrade packet */
    uint8_t opened;        /* on_open ran, so on_close is owed */
    uint8_t awaiting_pong; /* a ping went out: pong_by runs, not ping_at */
};

struct eio_server {
    uv_loop_t *loop;
    eio_options_t opts;
    char *path;
    size_t path_len;
    char **cors;
    size_t ncors;
    eio_callbacks_t cb;
    void *user;
    objmap_t sessions; /* by sid */
    eio_stats_t stats;
    membudget_t *budget; /* bytes held for clients: the shared one, or own_budget */
    membudget_t own_budget;
    /* Every session's next deadline in one heap under one libuv timer, and sessions
     * freed from a check handle once no callback can still hold them. Both handles
     * exist from the first session on (handles_open) until eio_server_release(). */
    timerheap_t deadlines;
    uv_timer_t timer;
    uv_check_t reaper;
    eio_socket_t *dead;
    int handles_open;
    int released;
    int shutting_down; /* close_all ran: WebSockets close with 1001 (going away) */
    int reclaim_due;   /* the budget was past: drop the sessions over their share (on_reap) */
    rbuf_t *pkt_ping, *pkt_noop, *pkt_close, *pkt_pong_probe;
};

static void session_close(eio_socket_t *s, const char *reason, int by);
static void session_free(eio_socket_t *s);
static void on_reap(uv_check_t *h);
static void on_budget_pressure(void *user);
static void session_rearm(eio_socket_t *s);
static void ws_close(eio_ws_t *ws, int code, const char *reason);

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
        session_close(all[j], "server shutting down", BY_SERVER);
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

static size_t out_len(const eio_out_t *o)
{
    return o->data->len;
}

static void queue_clear(eio_socket_t *s)
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

/* The queue only ever empties all at once (queue_clear), so its capacity is a function of
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

static void ws_write(eio_ws_t *ws, rbuf_t *data, int binary)
{
    uint8_t hdr[10];
    size_t n = ws_frame_header(hdr, binary ? WS_OP_BINARY : WS_OP_TEXT, data->len);
    http_conn_write_shared(ws->conn, hdr, n, data);
}

static void add_cors(eio_server_t *srv, http_request_t *req)
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

/* Answers the pending GET with everything queued (and extra, if given). */
static void poll_flush(eio_socket_t *s, rbuf_t *extra)
{
    http_request_t *req = s->poll;
    if (!req) return;
    s->poll = NULL;
    http_request_on_abort(req, NULL, NULL);
    buf_t payload = BUF_INIT;
    for (size_t i = 0; i < s->qlen; i++) {
        if (payload.len) buf_append_byte(&payload, 0x1e);
        if (s->queue[i].binary) {
            buf_append_byte(&payload, 'b');
            base64_encode_append(&payload, s->queue[i].data->data, out_len(&s->queue[i]));
        } else {
            buf_append(&payload, s->queue[i].data->data, out_len(&s->queue[i]));
        }
    }
    queue_clear(s);
    if (extra) {
        if (payload.len) buf_append_byte(&payload, 0x1e);
        buf_append(&payload, extra->data, extra->len);
    }
    http_response_header(req, "Cache-Control", "no-store");
    http_respond(req, 200, "text/plain; charset=UTF-8", payload.data, payload.len);
    buf_free(&payload);
}

/* Output the kernel has not taken from conn is over limit (extra bytes waiting elsewhere).
 * Output the connection deferred is written first: it is not a slow consumer's until the
 * kernel refuses it. */
static int conn_over_limit(http_conn_t *conn, size_t extra, size_t limit)
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
static size_t outbox_limit(eio_server_t *srv)
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
    if (s->ws && s->ws->conn) return conn_over_limit(s->ws->conn, s->qbytes, limit);
    return s->qbytes > limit;
}

static int over_limit(eio_socket_t *s)
{
    return outbox_over(s, outbox_limit(s->srv));
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

static void drop_slow_consumer(eio_socket_t *s)
{
    s->srv->stats.slow_consumers_dropped++;
    char addr[HTTP_ADDR_MAX];
    size_t held = eio_socket_outbox_bytes(s);
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
    queue_clear(s); /* nothing queued can be delivered in time anyway */
    if (s->ws && s->ws->conn) {
        http_conn_t *conn = s->ws->conn;
        s->ws->closing = 1;
        http_conn_close(conn, 1);
    }
    session_close(s, "slow consumer", BY_SERVER);
}

/* Sends one packet on the session's current transport. */
static void session_push(eio_socket_t *s, rbuf_t *data, int binary)
{
    if (s->state != STATE_OPEN) return;
    if (s->transport == TRANSPORT_WEBSOCKET && s->ws && s->ws->conn && !s->qlen) {
        ws_write(s->ws, data, binary);
    } else {
        queue_push(s, data, binary);
        if (s->transport == TRANSPORT_POLLING && s->poll) poll_flush(s, NULL);
    }
    if (over_limit(s)) drop_slow_consumer(s);
}

/* Writes what was queued before the WebSocket attached (handshake, upgrade). */
static void ws_flush_queue(eio_socket_t *s)
{
    for (size_t i = 0; i < s->qlen; i++)
        ws_write(s->ws, s->queue[i].data, s->queue[i].binary);
    queue_clear(s);
}

/* ------------------------------------------------------------------ sessions */

static void session_free(eio_socket_t *s)
{
    queue_clear(s);
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
        if (over[i]->state == STATE_OPEN) drop_slow_consumer(over[i]);
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
static void session_destroy(eio_socket_t *s)
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
    queue_clear(s);
    if (s->ws) {
        s->ws->session = NULL;
        if (s->srv->shutting_down)
            ws_close(s->ws, WS_CLOSE_GOING_AWAY, "server shutting down");
        else
            ws_close(s->ws, WS_CLOSE_NORMAL, NULL);
        s->ws = NULL;
    }
    if (s->probe) {
        s->probe->session = NULL;
        ws_close(s->probe, WS_CLOSE_NORMAL, NULL);
        s->probe = NULL;
    }
    s->srv->stats.sessions_closed++;
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
    log_debug("eio", "session %s closed: %s", s->sid, reason);
    if (s->srv->cb.on_close) s->srv->cb.on_close(s->srv->user, s, reason);
}

static void session_close(eio_socket_t *s, const char *reason, int by)
{
    if (s->state != STATE_OPEN) return;
    s->ping_at = s->upgrade_by = s->user_at = 0;
    s->awaiting_pong = 0;
    if (s->probe) {
        s->probe->session = NULL;
        ws_close(s->probe, WS_CLOSE_NORMAL, NULL);
        s->probe = NULL;
    }
    if (s->transport == TRANSPORT_POLLING) {
        if (s->poll) {
            /* The reference answers a client's close with a noop, its own with a close. */
            poll_flush(s, by == BY_CLIENT ? s->srv->pkt_noop : s->srv->pkt_close);
        } else if (by == BY_APP && s->qlen) {
            /* Keep what is queued (a Socket.IO DISCONNECT, say) for the client's next GET. */
            queue_push(s, s->srv->pkt_close, 0);
            s->state = STATE_CLOSING;
            s->close_by =
                uv_now(s->srv->loop) + s->srv->opts.ping_interval_ms + s->srv->opts.ping_timeout_ms;
            session_closed_notify(s, reason);
            session_rearm(s);
            return;
        }
    }
    session_closed_notify(s, reason);
    session_destroy(s);
}

static void session_rearm(eio_socket_t *s)
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

/* One session's deadline came: do what is due, then schedule the next. */
static void session_due(eio_socket_t *s)
{
    eio_server_t *srv = s->srv;
    uint64_t now = uv_now(srv->loop);
    if (s->state == STATE_CLOSING) {
        if (s->close_by && now >= s->close_by)
            session_destroy(s);
        else
            session_rearm(s);
        return;
    }
    if (s->awaiting_pong && now >= s->pong_by) {
        session_close(s, "ping timeout", BY_SERVER);
        return;
    }
    if (s->upgrade_by && now >= s->upgrade_by) {
        s->upgrade_by = 0;
        s->upgrading = 0;
        if (s->probe) {
            log_debug("eio", "session %s: upgrade timed out", s->sid);
            s->probe->session = NULL;
            ws_close(s->probe, WS_CLOSE_NORMAL, NULL);
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
    session_rearm(s);
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

static eio_socket_t *session_new(eio_server_t *srv, http_request_t *req, int transport)
{
    eio_socket_t *s = xcalloc(1, sizeof(*s));
    s->srv = srv;
    s->transport = (uint8_t)transport;
    do {
        random_id(s->sid, EIO_SID_LEN);
    } while (objmap_get(&srv->sessions, s->sid, EIO_SID_LEN));
    timerheap_node_init(&s->deadline);
    server_handles_init(srv);
    objmap_add(&srv->sessions, s);
    srv->stats.sessions_opened++;

    buf_t open = BUF_INIT;
    buf_printf(&open,
               "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%llu,\"pingTimeout\":%llu,"
               "\"maxPayload\":%zu}",
               s->sid,
               transport == TRANSPORT_POLLING && srv->opts.allow_websocket ? "\"websocket\"" : "",
               (unsigned long long)srv->opts.ping_interval_ms,
               (unsigned long long)srv->opts.ping_timeout_ms, srv->opts.max_payload);
    rbuf_t *packet = rbuf_from_buf(&open);
    queue_push(s, packet, 0);
    rbuf_unref(packet);
    s->ping_at = uv_now(srv->loop) + srv->opts.ping_interval_ms;
    session_rearm(s);
    log_debug("eio", "session %s opened over %s from %s", s->sid,
              transport == TRANSPORT_POLLING ? "polling" : "websocket",
              http_request_remote_addr(req));
    return s;
}

static void session_on_packet(eio_socket_t *s, const eio_packet_t *p)
{
    eio_server_t *srv = s->srv;
    if (s->state != STATE_OPEN) return;
    switch (p->type) {
    case EIO_PONG:
        s->awaiting_pong = 0;
        s->ping_at = uv_now(srv->loop) + srv->opts.ping_interval_ms;
        session_rearm(s);
        break;
    case EIO_PING:
        /* In protocol v4 only the server pings. */
        session_close(s, "transport error", BY_SERVER);
        break;
    case EIO_MESSAGE:
        if (srv->cb.on_message) srv->cb.on_message(srv->user, s, p->binary, p->data, p->len);
        break;
    case EIO_CLOSE:
        session_close(s, "transport close", BY_CLIENT);
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

const char *eio_socket_transport(const eio_socket_t *s)
{
    return s->transport == TRANSPORT_WEBSOCKET ? "websocket" : "polling";
}

void eio_socket_set_user(eio_socket_t *s, void *user)
{
    s->user = user;
}

void *eio_socket_user(const eio_socket_t *s)
{
    return s->user;
}

int eio_socket_is_open(const eio_socket_t *s)
{
    return s->state == STATE_OPEN;
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

void eio_socket_close(eio_socket_t *s, const char *reason)
{
    session_close(s, reason ? reason : "server close", BY_APP);
}

void eio_socket_abort(eio_socket_t *s, const char *reason)
{
    session_close(s, reason ? reason : "server close", BY_SERVER);
}

void eio_socket_set_timeout(eio_socket_t *s, uint64_t ms)
{
    if (s->state != STATE_OPEN) return;
    s->user_at = ms ? uv_now(s->srv->loop) + ms : 0;
    session_rearm(s);
}

size_t eio_socket_outbox_bytes(const eio_socket_t *s)
{
    size_t n = s->qbytes;
    if (s->ws && s->ws->conn) n += http_conn_pending_bytes(s->ws->conn);
    return n;
}

/* ------------------------------------------------------------------ WebSocket transport */

static void ws_close(eio_ws_t *ws, int code, const char *reason)
{
    if (ws->closing || !ws->conn) return;
    ws->closing = 1;
    buf_t frame = BUF_INIT;
    ws_write_close(&frame, code, reason);
    http_conn_write(ws->conn, frame.data, frame.len);
    buf_free(&frame);
    http_conn_close(ws->conn, 0);
}

static void ws_probe_drop(eio_ws_t *ws)
{
    eio_socket_t *s = ws->session;
    if (s && s->probe == ws) {
        s->probe = NULL;
        s->upgrading = 0;
        s->upgrade_by = 0;
        session_rearm(s);
    }
    ws->session = NULL;
    ws_close(ws, WS_CLOSE_NORMAL, NULL);
}

static void ws_complete_upgrade(eio_ws_t *ws)
{
    eio_socket_t *s = ws->session;
    ws->probing = 0;
    s->probe = NULL;
    s->upgrading = 0;
    s->upgrade_by = 0;
    /* The paused poll, if any, ends with a noop; queued output moves to the WebSocket. */
    if (s->poll) {
        http_request_t *req = s->poll;
        s->poll = NULL;
        http_request_on_abort(req, NULL, NULL);
        http_response_header(req, "Cache-Control", "no-store");
        http_respond(req, 200, "text/plain; charset=UTF-8", BUF_LIT("6"));
    }
    s->transport = TRANSPORT_WEBSOCKET;
    s->ws = ws;
    s->srv->stats.upgrades++;
    ws_flush_queue(s);
    session_rearm(s);
    log_debug("eio", "session %s upgraded to websocket", s->sid);
}

static void ws_probe_packet(eio_ws_t *ws, const eio_packet_t *p)
{
    eio_socket_t *s = ws->session;
    if (p->type == EIO_PING && p->len == 5 && memcmp(p->data, "probe", 5) == 0) {
        ws_write(ws, s->srv->pkt_pong_probe, 0);
        s->upgrading = 1;
        /* End the pending poll now so the client can pause polling and finish. */
        if (s->poll) poll_flush(s, s->srv->pkt_noop);
    } else if (p->type == EIO_UPGRADE && s->upgrading) {
        ws_complete_upgrade(ws);
    } else {
        ws_probe_drop(ws);
    }
}

static int ws_on_message(void *user, int is_binary, const char *data, size_t len)
{
    eio_ws_t *ws = user;
    eio_socket_t *s = ws->session;
    if (!s || s->state != STATE_OPEN) return 0;
    eio_packet_t p;
    buf_t scratch = BUF_INIT; /* base64 frames of forceBase64 clients only; not kept */
    if (is_binary) {
        eio_packet_decode_binary(data, len, &p);
    } else if (eio_packet_decode_ws_text(data, len, &scratch, &p) != 0) {
        buf_free(&scratch);
        log_debug("eio", "session %s: invalid packet over websocket", s->sid);
        if (ws->probing)
            ws_probe_drop(ws);
        else
            session_close(s, "parse error", BY_SERVER);
        return 0;
    }
    if (ws->probing)
        ws_probe_packet(ws, &p);
    else
        session_on_packet(s, &p);
    buf_free(&scratch);
    return 0;
}

static int ws_on_ping(void *user, const char *data, size_t len)
{
    eio_ws_t *ws = user;
    if (ws->closing || !ws->conn) return 0;
    buf_t frame = BUF_INIT;
    ws_write_frame(&frame, WS_OP_PONG, data, len);
    http_conn_write(ws->conn, frame.data, frame.len);
    buf_free(&frame);
    /* Pongs count against the outbox like everything else: a ping flood from a
     * client that never reads must not grow our memory. */
    if (ws->conn && conn_over_limit(ws->conn, 0, outbox_limit(ws->srv))) {
        eio_socket_t *s = ws->session;
        if (s && s->ws == ws) {
            drop_slow_consumer(s);
        } else {
            ws->closing = 1;
            http_conn_close(ws->conn, 1);
        }
        return 1; /* stop reading this connection's frames */
    }
    return 0;
}

static int ws_on_pong(void *user, const char *data, size_t len)
{
    (void)user, (void)data, (void)len;
    return 0;
}

/* The WebSocket is ending: its session ends with it, or, when it was only probed for an
 * upgrade, the probe is dropped (the session lives on over polling). */
static void ws_end_session(eio_ws_t *ws, const char *reason, int by)
{
    eio_socket_t *s = ws->session;
    if (s && s->ws == ws) {
        ws->session = NULL;
        s->ws = NULL;
        session_close(s, reason, by);
    } else if (s) {
        ws_probe_drop(ws);
    }
}

static int ws_on_close_frame(void *user, int code, const char *reason, size_t len)
{
    eio_ws_t *ws = user;
    (void)reason, (void)len;
    ws_end_session(ws, "transport close", BY_CLIENT);
    ws_close(ws, code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : code, NULL);
    return 1;
}

static const ws_reader_callbacks_t ws_reader_cb = {ws_on_message, ws_on_ping, ws_on_pong,
                                                   ws_on_close_frame};

/* The part of a message still arriving that the WebSocket reader keeps is held for the client
 * as a request body is: its length is what is charged to the budget between reads (so the
 * transport needs no field of its own). A message that takes the total past the budget
 * closes its connection (1013, try again later) as a body gets 503. Returns 1 if it did. */
static int ws_input_over_budget(eio_ws_t *ws, size_t charged)
{
    membudget_t *b = ws->srv->budget;
    size_t held = ws->reader.msg.len;
    if (held <= charged) {
        membudget_release(b, charged - held);
        return 0;
    }
    if (!membudget_charge(b, held - charged) || ws->closing) return 0;
    membudget_shed(b, "WebSocket messages refused with 1013");
    ws_end_session(ws, "transport error", BY_SERVER);
    ws_close(ws, WS_CLOSE_TRY_AGAIN_LATER, "server busy");
    return 1;
}

static void ws_raw_data(void *user, const char *data, size_t len)
{
    eio_ws_t *ws = user;
    int close_code = 0;
    size_t charged = ws->reader.msg.len;
    int r = ws_reader_feed(&ws->reader, data, len, &close_code);
    if (ws_input_over_budget(ws, charged)) return;
    if (r < 0 && !ws->closing) {
        log_debug("eio", "websocket from %s: %s (close %d)",
                  http_conn_remote_addr(ws->conn, (char[HTTP_ADDR_MAX]){0}),
                  ws_reader_error(&ws->reader), close_code);
        ws_end_session(ws, "parse error", BY_SERVER);
        ws_close(ws, close_code ? close_code : WS_CLOSE_PROTOCOL_ERROR,
                 ws_reader_error(&ws->reader));
    }
}

static void ws_raw_close(void *user)
{
    eio_ws_t *ws = user;
    eio_socket_t *s = ws->session;
    ws->conn = NULL;
    if (s && s->ws == ws) {
        s->ws = NULL;
        session_close(s, "transport close", BY_CLIENT);
    } else if (s && s->probe == ws) {
        ws_probe_drop(ws);
    }
    membudget_release(ws->srv->budget, ws->reader.msg.len);
    ws_reader_free(&ws->reader);
    free(ws);
}

static void ws_raw_shutdown(void *user)
{
    eio_ws_t *ws = user;
    eio_socket_t *s = ws->session;
    /* 1001 first: closing the session would otherwise close the socket with 1000. */
    ws_close(ws, WS_CLOSE_GOING_AWAY, "server shutting down");
    if (s) session_close(s, "server shutting down", BY_SERVER);
}

static const http_raw_callbacks_t ws_raw_cb = {ws_raw_data, ws_raw_close, ws_raw_shutdown};

/* ------------------------------------------------------------------ requests */

static void abort_request(eio_server_t *srv, http_request_t *req, int code)
{
    if (http_request_is_upgrade(req)) {
        /* As the reference does for a refused upgrade: a plain-text 400 and close. */
        const char *msg = error_messages[code];
        http_response_close(req);
        http_respond(req, 400, "text/html", msg, strlen(msg));
        return;
    }
    buf_t body = BUF_INIT;
    buf_printf(&body, "{\"code\":%d,\"message\":\"%s\"}", code, error_messages[code]);
    add_cors(srv, req);
    http_respond(req, code == ERR_FORBIDDEN ? 403 : 400, "application/json", body.data, body.len);
    buf_free(&body);
}

/* Asks the layer above whether a handshake may open a session; answers 503 when not. */
static int handshake_refused(eio_server_t *srv, http_request_t *req)
{
    const char *why = srv->cb.on_handshake ? srv->cb.on_handshake(srv->user, req) : NULL;
    if (!why) return 0;
    srv->stats.handshakes_refused++;
    log_debug("eio", "handshake from %s refused: %s", http_request_remote_addr(req), why);
    if (http_request_is_upgrade(req))
        http_response_close(req);
    else
        add_cors(srv, req);
    http_respond_error(req, 503, "service_unavailable", why);
    return 1;
}

static void on_poll_abort(void *user, http_request_t *req)
{
    eio_socket_t *s = user;
    (void)req;
    if (s->poll != req) return;
    s->poll = NULL;
    session_close(s, "transport close", BY_CLIENT);
}

static void handle_poll_get(eio_server_t *srv, eio_socket_t *s, http_request_t *req)
{
    add_cors(srv, req);
    size_t body_len;
    http_request_body(req, &body_len);
    if (body_len) {
        /* A poll has no use for a body; kept with the pending poll, it would be memory the
         * client holds for as long as it likes. Refused like an overlapping poll. */
        log_debug("eio", "session %s: GET with a %zu-byte body refused", s->sid, body_len);
        http_respond(req, 400, "application/json", BUF_LIT(BAD_REQUEST_BODY));
        session_close(s, "transport error", BY_SERVER);
        return;
    }
    if (s->state == STATE_CLOSING) {
        /* The last delivery of a session the server closed. */
        s->poll = req;
        poll_flush(s, NULL);
        session_destroy(s);
        return;
    }
    if (s->poll) {
        http_respond(req, 400, "application/json", BUF_LIT(BAD_REQUEST_BODY));
        session_close(s, "transport error", BY_SERVER);
        return;
    }
    s->poll = req;
    http_request_on_abort(req, on_poll_abort, s);
    if (s->qlen)
        poll_flush(s, NULL);
    else if (s->upgrading)
        poll_flush(s, srv->pkt_noop);
}

typedef struct post_ctx {
    eio_socket_t *s;
} post_ctx_t;

static int on_post_packet(void *user, const eio_packet_t *p)
{
    post_ctx_t *ctx = user;
    session_on_packet(ctx->s, p);
    return ctx->s->state == STATE_OPEN ? 0 : 1;
}

static void handle_poll_post(eio_server_t *srv, eio_socket_t *s, http_request_t *req)
{
    add_cors(srv, req);
    const char *type = http_request_header(req, "content-type");
    if (type && strncmp(type, "application/octet-stream", 24) == 0) {
        http_respond(req, 400, "application/json", BUF_LIT(BAD_REQUEST_BODY));
        session_close(s, "transport error", BY_SERVER);
        return;
    }
    size_t len;
    const char *body = http_request_body(req, &len);
    if (len > srv->opts.max_payload) {
        http_respond_error(req, 413, "payload_too_large", "payload exceeds maxPayload");
        return;
    }
    if (s->state != STATE_OPEN) {
        http_respond(req, 200, "text/html", BUF_LIT("ok"));
        return;
    }
    post_ctx_t ctx = {s};
    int r = eio_payload_decode(body, len, on_post_packet, &ctx);
    if (r < 0) {
        log_debug("eio", "session %s: invalid payload: %s", s->sid, eio_strerror(r));
        http_respond(req, 400, "application/json", BUF_LIT(BAD_REQUEST_BODY));
        session_close(s, "parse error", BY_SERVER);
        return;
    }
    http_respond(req, 200, "text/html", BUF_LIT("ok"));
}

static void handle_preflight(eio_server_t *srv, http_request_t *req)
{
    add_cors(srv, req);
    const char *want = http_request_header(req, "access-control-request-headers");
    if (want && http_request_header(req, "origin") && srv->ncors) {
        http_response_header(req, "Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
        http_response_header(req, "Access-Control-Allow-Headers", want);
    } else if (http_request_header(req, "origin") && srv->ncors) {
        http_response_header(req, "Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
    }
    http_respond(req, 204, NULL, NULL, 0);
}

/* Validates the WebSocket handshake headers and builds the 101 response. */
static int ws_handshake_head(http_request_t *req, buf_t *head)
{
    const char *upgrade = http_request_header(req, "upgrade");
    const char *connection = http_request_header(req, "connection");
    const char *version = http_request_header(req, "sec-websocket-version");
    const char *key = http_request_header(req, "sec-websocket-key");
    char accept[29];
    if (strcmp(http_request_method(req), "GET") != 0 || !upgrade || !connection || !key ||
        !ws_header_has_token(upgrade, strlen(upgrade), "websocket") ||
        !ws_header_has_token(connection, strlen(connection), "upgrade"))
        return -1;
    if (!version || strcmp(version, "13") != 0) return -2;
    if (ws_accept_key(key, strlen(key), accept) != 0) return -1;
    buf_printf(head,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n\r\n",
               accept);
    return 0;
}

static eio_ws_t *ws_new(eio_server_t *srv)
{
    eio_ws_t *ws = xcalloc(1, sizeof(*ws));
    ws->srv = srv;
    ws_reader_init(&ws->reader, srv->opts.max_payload, &ws_reader_cb, ws);
    return ws;
}

static void handle_websocket(eio_server_t *srv, http_request_t *req, eio_socket_t *existing)
{
    buf_t head = BUF_INIT;
    int r = ws_handshake_head(req, &head);
    if (r != 0) {
        buf_free(&head);
        http_response_close(req);
        if (r == -2) http_response_header(req, "Sec-WebSocket-Version", "13");
        http_respond(req, 400, "text/html", BUF_LIT("Bad request"));
        return;
    }
    if (!existing && handshake_refused(srv, req)) {
        buf_free(&head);
        return;
    }
    eio_ws_t *ws = ws_new(srv);
    eio_socket_t *s = existing;
    if (existing) {
        if (existing->state != STATE_OPEN || existing->transport != TRANSPORT_POLLING ||
            existing->probe) {
            /* Already upgraded or upgrading: as the reference does, this WebSocket is
             * accepted and closed at once; the session lives on. */
            http_conn_t *conn = http_upgrade(req, head.data, head.len, &ws_raw_cb, ws);
            buf_free(&head);
            if (!conn) {
                ws_reader_free(&ws->reader);
                free(ws);
                return;
            }
            ws->conn = conn;
            ws_close(ws, WS_CLOSE_NORMAL, NULL);
            return;
        }
        ws->probing = 1;
        ws->session = existing;
        existing->probe = ws;
        existing->upgrade_by = uv_now(srv->loop) + srv->opts.upgrade_timeout_ms;
        session_rearm(existing);
    } else {
        s = session_new(srv, req, TRANSPORT_WEBSOCKET);
        s->ws = ws;
        ws->session = s;
        s->opened = 1;
        if (srv->cb.on_open) srv->cb.on_open(srv->user, s, req);
    }
    http_conn_t *conn = http_upgrade(req, head.data, head.len, &ws_raw_cb, ws);
    buf_free(&head);
    if (!conn) {
        if (ws->session && ws->session->probe == ws) ws->session->probe = NULL;
        if (ws->session && ws->session->ws == ws) {
            ws->session->ws = NULL;
            session_close(ws->session, "transport error", BY_SERVER);
        }
        ws_reader_free(&ws->reader);
        free(ws);
        return;
    }
    ws->conn = conn;
    if (!ws->session)
        ws_close(ws, WS_CLOSE_NORMAL, NULL); /* the session ended during on_open */
    else if (!existing && s->ws == ws)
        ws_flush_queue(s);
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
        handle_websocket(srv, req, s);
    } else if (s) {
        if (strcmp(method, "GET") == 0)
            handle_poll_get(srv, s, req);
        else if (strcmp(method, "POST") == 0)
            handle_poll_post(srv, s, req);
        else
            abort_request(srv, req, ERR_BAD_REQUEST);
    } else {
        /* Polling handshake: the open packet (and anything on_open sends) answers it. */
        if (handshake_refused(srv, req)) return;
        s = session_new(srv, req, TRANSPORT_POLLING);
        s->opened = 1;
        if (srv->cb.on_open) srv->cb.on_open(srv->user, s, req);
        add_cors(srv, req);
        if (s->state == STATE_OPEN) {
            s->poll = req;
            poll_flush(s, NULL);
        } else {
            http_respond(req, 200, "text/plain; charset=UTF-8", BUF_LIT("1"));
        }
    }
}
