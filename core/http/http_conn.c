/* http_conn.c - one accepted connection's life: accepting it, reading, the
 * pauses and resumes of its parser, timeouts, the peer's half-close, upgrade,
 * shutdown and close. Parsing is http_parse.c's, output http_output.c's.
 *
 * Ownership: the connection owns its requests. A request is handed to the
 * handler once complete and comes back when answered (http_respond*) or is
 * aborted when the connection dies first. Handlers may answer from inside the
 * parser's callbacks; anything that would free the parser (upgrade, resuming
 * a paused parser) waits until llhttp_execute() has returned. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "http/http_internal.h"

static void conn_begin_close(http_conn_t *c);
static void conn_process_input(http_conn_t *c, const char *data, size_t len);
static void conn_on_input(http_conn_t *c, ssize_t nread, const char *data);

/* Registers in the server's epoll set what the connection waits for now: input while
 * reading, writability while output is queued. Unregistered when it waits for nothing, so
 * a dead peer cannot report errors on every loop turn. A failure closes the connection. */
void http_conn_update_events(http_conn_t *c)
{
    if (c->closing) return;
    /* Deferred output waits for the flush queue, not for writability. */
    int blocked = c->out_last && !c->flush_queued;
    uint8_t want = (uint8_t)((c->reading ? EPOLLIN : 0) | (blocked ? EPOLLOUT : 0));
    if (want == c->events) return;
    iopoll_t *io = &c->server->io;
    int r = 0;
    if (!want)
        iopoll_del(io, c->fd);
    else if (!c->events)
        r = iopoll_add(io, c->fd, want, c);
    else
        r = iopoll_mod(io, c->fd, want, c);
    if (r != 0) {
        log_debug("http", "%s: cannot poll the socket: %s", REMOTE(c), uv_strerror(r));
        conn_begin_close(c);
        return;
    }
    c->events = want;
}

static void conn_read_stop(http_conn_t *c)
{
    c->reading = 0;
    http_conn_update_events(c);
}

/* Starts reading unless already reading; a failure closes the connection. */
static void conn_read_start(http_conn_t *c)
{
    if (c->reading || c->closing) return;
    c->reading = 1;
    http_conn_update_events(c);
}

/* Nothing more is parsed from this connection: the parser stays paused for good, what waited
 * behind the last request is dropped, and reading stops (a lingering close reads on, but only
 * to drop). Every path that answers a request while bytes may be buffered behind it and then
 * closes (a refused upgrade, a fatal parse error, a timeout, the peer's FIN, a graceful close)
 * goes through here, so a paused parser can never be resumed on input of unknown meaning. */
static void conn_stop_input(http_conn_t *c)
{
    http_parse_state_t *st = c->http;
    if (!st) return;
    st->input_closed = 1;
    st->paused = 1;
    buf_free(&st->pending_in);
    conn_read_stop(c);
}

const char *http_conn_remote_addr(const http_conn_t *c, char out[HTTP_ADDR_MAX])
{
    if (c->remote_family == AF_INET)
        uv_inet_ntop(AF_INET, c->remote_addr, out, HTTP_ADDR_MAX);
    else if (c->remote_family == AF_INET6)
        uv_inet_ntop(AF_INET6, c->remote_addr, out, HTTP_ADDR_MAX);
    else
        strcpy(out, "?");
    return out;
}

int http_conn_input_waiting(const http_conn_t *c)
{
    int n = 0;
    return c->fd >= 0 && ioctl(c->fd, FIONREAD, &n) == 0 && n > 0;
}

/* ---------------------------------------------------------------- closing */

/* The last handle to close finishes the connection. */
static void conn_handle_closed(http_conn_t *c)
{
    if (--c->handles) return;
    http_parse_state_free(c->http);
    c->http = NULL;
    if (c->upgrade_leftover) {
        buf_free(c->upgrade_leftover);
        free(c->upgrade_leftover);
        c->upgrade_leftover = NULL;
    }
    if (c->raw && c->raw->on_close) c->raw->on_close(c->raw_user);
    http_server_conn_closed(c->server, c);
    free(c);
}

void http_conn_reap(http_conn_t *c)
{
    conn_handle_closed(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    http_conn_t *c = h->data;
    free(h);
    conn_handle_closed(c);
}

/* The connection's timer, created on demand (an upgraded connection has none). */
static uv_timer_t *conn_timer(http_conn_t *c)
{
    if (!c->timer) {
        c->timer = xmalloc(sizeof(*c->timer));
        uv_timer_init(c->server->loop, c->timer);
        c->timer->data = c;
        c->handles++;
    }
    return c->timer;
}

static void conn_timer_release(http_conn_t *c)
{
    if (!c->timer) return;
    uv_timer_stop(c->timer);
    uv_close((uv_handle_t *)c->timer, on_timer_closed);
    c->timer = NULL;
}

/* Closes the socket now (what is queued is dropped); the memory goes from the server's
 * reaper, outside every callback that may still hold the connection, once the timer has
 * closed too. */
static void conn_begin_close(http_conn_t *c)
{
    if (c->closing) return;
    c->reading = 0;
    if (c->events) iopoll_del(&c->server->io, c->fd);
    c->events = 0;
    c->closing = 1;
    close(c->fd);
    c->fd = -1;
    http_conn_output_clear(c);
    conn_timer_release(c);
    http_server_conn_reap_later(c->server, c);
}

static void on_linger_timeout(uv_timer_t *t)
{
    conn_begin_close(t->data);
}

/* Our side is done: FIN after the last byte queued, then reading on (and dropping the
 * input) until the peer closes or briefly, so it sees our last response instead of a
 * reset caused by unread input. */
static void conn_half_close(http_conn_t *c)
{
    if (shutdown(c->fd, SHUT_WR) != 0) {
        conn_begin_close(c);
        return;
    }
    c->lingering = 1;
    conn_read_start(c);
    if (c->closing) return;
    uv_timer_start(conn_timer(c), on_linger_timeout, c->server->limits.linger_ms, 0);
}

/* Closes after the last write, with a half-close and a short linger. */
void http_conn_graceful_close(http_conn_t *c)
{
    if (c->closing || c->lingering) return;
    conn_stop_input(c);
    if (c->writes_in_flight) {
        c->close_when_flushed = 1;
        conn_read_stop(c);
        /* A client that stopped reading must not keep a closing connection forever
         * (an upgraded connection has no HTTP deadline of its own). */
        uv_timer_start(conn_timer(c), on_linger_timeout, c->server->limits.idle_timeout_ms, 0);
        return;
    }
    if (c->timer) uv_timer_stop(c->timer);
    conn_read_stop(c);
    conn_half_close(c);
}

void http_conn_close(http_conn_t *c, int abort)
{
    if (abort)
        conn_begin_close(c);
    else
        http_conn_graceful_close(c);
}

void http_conn_force_close(http_conn_t *c)
{
    conn_begin_close(c);
}

/* ---------------------------------------------------------------- timers */

static void on_timer(uv_timer_t *t)
{
    http_conn_t *c = t->data;
    if (c->closing || !c->http) return;
    http_parse_state_t *st = c->http;
    if (st->current && !st->current->complete) {
        log_debug("http", "%s: request timed out", REMOTE(c));
        st->error_status = 408;
        st->error_message =
            st->headers_done ? "request body timed out" : "request headers timed out";
        /* Answer what is answerable, then 408 in order, then close. */
        http_request_t *req = st->current;
        st->current = NULL;
        req->complete = 1;
        req->close_after = 1;
        if (!req->method[0]) snprintf(req->method, sizeof(req->method), "-"); /* for the log */
        /* Nothing more is parsed, even if the rest of the request arrives now. */
        conn_stop_input(c);
        http_respond_error(req, 408, "request_timeout", st->error_message);
        return;
    }
    if (c->writes_in_flight)
        log_debug("http", "%s: client stopped reading; connection closed", REMOTE(c));
    else
        log_debug("http", "%s: idle keep-alive connection closed", REMOTE(c));
    conn_begin_close(c);
}

void http_conn_arm_timer(http_conn_t *c)
{
    if (c->closing || !c->http) return;
    http_parse_state_t *st = c->http;
    uint64_t now = uv_now(c->server->loop);
    uint64_t deadline;
    if (c->writes_in_flight)
        /* A client that stops reading may hold neither the connection nor the queued
         * response forever: every completed write restarts this deadline. */
        deadline = now + c->server->limits.idle_timeout_ms;
    else if (c->close_when_flushed)
        return;
    else if (st->current && !st->current->complete)
        deadline = st->deadline_ms;
    else if (!st->head)
        deadline = now + c->server->limits.idle_timeout_ms;
    else {
        uv_timer_stop(conn_timer(c));
        return;
    }
    uv_timer_start(conn_timer(c), on_timer, deadline > now ? deadline - now : 0, 0);
}

/* ---------------------------------------------------------------- input */

/* Answers a request the parser refused (400, 413, 431 ...) after those before it,
 * then closes. */
static void conn_fail(http_conn_t *c, int status, const char *message)
{
    http_parse_state_t *st = c->http;
    conn_stop_input(c);
    http_request_t *req = st->current;
    if (!req) req = http_request_new(c);
    st->current = NULL;
    req->complete = 1;
    req->close_after = 1;
    if (!req->method[0]) snprintf(req->method, sizeof(req->method), "-"); /* for the log */
    log_debug("http", "%s: %d %s", REMOTE(c), status, message);
    http_respond_error(req, status, http_error_code_for_status(status), message);
}

static void conn_dispatch_upgrade(http_conn_t *c)
{
    http_parse_state_t *st = c->http;
    http_request_t *req = st->tail;
    if (!req || !req->upgrade || req->responded) return; /* answered already: closing */
    if (st->head != req) {
        req->close_after = 1;
        http_respond_error(req, 400, "bad_request", "upgrade request must not be pipelined");
        return;
    }
    c->server->handler(c->server->handler_user, req);
}

static void conn_parse(http_conn_t *c, const char *data, size_t len);

/* Input for the parser: first steered to the worker it belongs to (workers only), then
 * parsed here. */
static void conn_process_input(http_conn_t *c, const char *data, size_t len)
{
    http_parse_state_t *st = c->http;
    if (st->input_closed) return;
    if (st->paused) {
        buf_append(&st->pending_in, data, len);
        return;
    }
    if (!c->server->steering.steer) {
        conn_parse(c, data, len);
        return;
    }
    size_t arrived = len;
    switch (http_conn_steer(c, &data, &len)) {
    case HTTP_STEER_WAIT:
        /* A request line begun: it has the headers' deadline, from its first bytes on. */
        if (len == arrived)
            uv_timer_start(conn_timer(c), on_timer, c->server->limits.header_timeout_ms, 0);
        return;
    case HTTP_STEER_GONE:
        return;
    case HTTP_STEER_REFUSE:
        buf_free(&st->line_in);
        conn_fail(c, 503, "the worker holding this session cannot take the request");
        return;
    case HTTP_STEER_PARSE:
        break;
    }
    buf_t joined = st->line_in; /* what data may point into, freed after parsing */
    buf_init(&st->line_in);
    conn_parse(c, data, len);
    buf_free(&joined);
}

/* Runs the parser over data; afterwards handles pauses, upgrades and errors. */
static void conn_parse(http_conn_t *c, const char *data, size_t len)
{
    http_parse_state_t *st = c->http;
    st->exec_start = data;
    llhttp_errno_t err = llhttp_execute(&st->parser, data, len);
    if (c->closing || !c->http) return;
    st->exec_start = NULL;
    if (err == HPE_OK) {
        http_parse_remember_tail(st, data, len);
        http_conn_arm_timer(c);
        return;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        const char *pos = llhttp_get_error_pos(&st->parser);
        size_t used = pos ? (size_t)(pos - data) : len;
        http_parse_remember_tail(st, data, used);
        st->paused = 1;
        conn_read_stop(c);
        http_request_t *last = st->tail;
        if (c->close_when_flushed || (last && last->close_after && err == HPE_PAUSED)) {
            conn_stop_input(c); /* nothing more is read from this connection */
            return;
        }
        if (used < len) buf_append(&st->pending_in, data + used, len - used);
        if (err == HPE_PAUSED_UPGRADE) conn_dispatch_upgrade(c);
        return;
    }
    int status = st->error_status ? st->error_status : 400;
    const char *message =
        st->error_message ? st->error_message : llhttp_get_error_reason(&st->parser);
    if (!message) message = llhttp_errno_name(err);
    conn_fail(c, status, status == 400 && !st->error_status ? "malformed request" : message);
    if (status == 400) log_debug("http", "%s: parse error: %s", REMOTE(c), message);
}

/* Resumes a parser paused for a full queue once responses have drained it. */
void http_conn_maybe_resume(http_conn_t *c)
{
    http_parse_state_t *st = c->http;
    if (!st || !st->paused || st->input_closed || c->closing || c->close_when_flushed) return;
    if (st->queued >= c->server->limits.max_pipelined || http_conn_output_full(c)) return;
    if (st->tail && (st->tail->upgrade || !st->tail->keep_alive || st->tail->close_after)) return;
    st->paused = 0;
    llhttp_resume(&st->parser);
    buf_t pending = st->pending_in;
    buf_init(&st->pending_in);
    if (pending.len) conn_process_input(c, pending.data, pending.len);
    buf_free(&pending);
    if (!c->closing && c->http && !c->http->paused) conn_read_start(c);
}

/* The client half-closed: the answers already given at the head of the queue still go out,
 * in order; from the first request not answered yet on, every request is dropped (an
 * unanswered one is aborted: a long poll whose client left ends its session), since an
 * answer sent past an unanswered request would be read as that request's. Then the
 * connection closes. */
static void conn_peer_finished(http_conn_t *c)
{
    http_parse_state_t *st = c->http;
    conn_stop_input(c);
    /* Unlink every unanswered request first: abort callbacks run only once the queue is
     * consistent again, since one of them may answer (and so flush) another request. */
    http_request_t *dropped = NULL, **link = &st->head;
    st->tail = NULL;
    int gap = 0; /* an unanswered request was met: nothing after it may be sent */
    while (*link) {
        http_request_t *req = *link;
        if (req->responded && !gap) {
            st->tail = req;
            link = &req->next;
            continue;
        }
        gap = 1;
        *link = req->next;
        st->queued--;
        if (st->current == req) st->current = NULL;
        req->next = dropped;
        dropped = req;
    }
    if (st->tail) st->tail->close_after = 1;
    while (dropped) {
        http_request_t *req = dropped;
        dropped = req->next;
        if (req->complete && req->abort_cb) req->abort_cb(req->abort_user, req);
        http_request_free(req);
    }
    if (c->closing) return;
    if (st->head)
        http_conn_flush_responses(c);
    else
        http_conn_graceful_close(c);
}

/* nread bytes of input at data, 0 at end of input, or a negative errno. */
static void conn_on_input(http_conn_t *c, ssize_t nread, const char *data)
{
    if (nread == 0 && c->http && !c->closing) {
        conn_peer_finished(c);
        return;
    }
    if (nread <= 0) {
        if (nread < 0) log_debug("http", "%s: read error: %s", REMOTE(c), uv_strerror((int)nread));
        conn_begin_close(c);
        return;
    }
    if (c->raw) {
        c->raw->on_data(c->raw_user, data, (size_t)nread);
        return;
    }
    conn_process_input(c, data, (size_t)nread);
}

/* Reads per readiness event at most while the buffer comes back full (the set is
 * level-triggered: what is left is reported again next turn). */
#define READS_PER_EVENT 4

static void conn_readable(http_conn_t *c)
{
    http_server_t *s = c->server;
    for (int i = 0; i < READS_PER_EVENT && c->reading && !c->closing; i++) {
        ssize_t n;
        do {
            n = read(c->fd, s->read_buffer, sizeof(s->read_buffer));
        } while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (c->lingering) {
            if (n <= 0) conn_begin_close(c); /* the peer closed (or reset): done */
            continue;
        }
        /* Reads happen one at a time on the loop thread, and each is consumed before the
         * next starts, so one buffer serves every connection. */
        conn_on_input(c, n < 0 ? -errno : n, s->read_buffer);
        if (n < (ssize_t)sizeof(s->read_buffer)) return;
    }
}

void http_conn_io(http_server_t *s, http_conn_t *c, uint32_t events)
{
    (void)s;
    if (c->closing) return; /* closed earlier in this batch */
    /* An error or hang-up surfaces through the read or write it makes fail. */
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        if (c->reading) conn_readable(c);
    }
    if (!c->closing && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->out_last)
        http_conn_send_queue(c);
}

/* ---------------------------------------------------------------- upgrade */

static void on_upgrade_leftover(uv_timer_t *t)
{
    http_conn_t *c = t->data;
    buf_t pending = *c->upgrade_leftover;
    free(c->upgrade_leftover);
    c->upgrade_leftover = NULL;
    if (c->closing) {
        buf_free(&pending);
        return;
    }
    c->raw->on_data(c->raw_user, pending.data, pending.len);
    buf_free(&pending);
    if (c->closing) return;
    conn_timer_release(c);
    conn_read_start(c);
}

http_conn_t *http_upgrade(http_request_t *req, const char *head, size_t head_len,
                          const http_raw_callbacks_t *cb, void *user)
{
    http_conn_t *c = req->conn;
    http_parse_state_t *st = c->http;
    if (c->closing || !st || st->head != req || !req->upgrade) {
        req->close_after = 1;
        http_respond_error(req, 400, "bad_request", "connection cannot be upgraded");
        return NULL;
    }
    http_conn_write(c, head, head_len);
    http_request_count(req, 101);
    buf_t pending = st->pending_in;
    buf_init(&st->pending_in);
    http_request_pop_head(st);
    http_request_free(req);
    http_parse_state_free(st);
    c->http = NULL;
    c->raw = cb;
    c->raw_user = user;
    if (c->closing) {
        /* The 101 could not be written: the connection is going, on_close will follow. */
        buf_free(&pending);
    } else if (pending.len) {
        /* Delivered on the next loop turn, once the caller holds the connection. */
        c->upgrade_leftover = xmalloc(sizeof(pending));
        *c->upgrade_leftover = pending;
        uv_timer_start(conn_timer(c), on_upgrade_leftover, 0, 0);
    } else {
        buf_free(&pending);
        conn_timer_release(c); /* an upgraded connection needs no HTTP timer */
        conn_read_start(c);
    }
    return c;
}

/* ---------------------------------------------------------------- accept */

static void remote_address(http_conn_t *c, const struct sockaddr *peer)
{
    if (peer->sa_family == AF_INET) {
        c->remote_family = AF_INET;
        memcpy(c->remote_addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer->sa_family == AF_INET6) {
        c->remote_family = AF_INET6;
        memcpy(c->remote_addr, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    }
}

http_conn_t *http_conn_accept(http_server_t *s, int fd, const struct sockaddr *peer)
{
    http_conn_t *c = xcalloc(1, sizeof(*c));
    c->server = s;
    c->fd = fd;
    c->handles = 1; /* the socket; the timer adds itself */
    conn_timer(c);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    remote_address(c, peer);
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    c->http = http_parse_state_new(c);
    if (s->nconns > s->limits.max_connections || s->shutting_down) {
        log_warn("http", "refusing connection from %s: %zu connections (limit %zu)", REMOTE(c),
                 s->nconns - 1, s->limits.max_connections);
        http_request_t *req = http_request_new(c);
        req->complete = 1;
        req->close_after = 1;
        snprintf(req->method, sizeof(req->method), "-");
        http_respond_error(req, 503, "service_unavailable", "too many connections");
        return NULL;
    }
    conn_read_start(c);
    http_conn_arm_timer(c);
    return c;
}

void http_conn_feed(http_conn_t *c, const char *data, size_t len)
{
    if (c->closing || !c->http) return;
    c->http->steered = 1;
    conn_process_input(c, data, len);
}

void http_conn_shutdown(http_conn_t *c)
{
    if (c->closing) return;
    if (c->raw) {
        if (!c->shutdown_notified && c->raw->on_shutdown) {
            c->shutdown_notified = 1;
            c->raw->on_shutdown(c->raw_user);
        } else if (!c->raw->on_shutdown) {
            http_conn_graceful_close(c);
        }
        return;
    }
    http_parse_state_t *st = c->http;
    if (!st->head && !st->current) {
        http_conn_graceful_close(c);
        return;
    }
    /* Requests in flight finish; the connection closes after the last answer. */
    conn_read_stop(c);
    st->paused = 1;
    for (http_request_t *r = st->head; r; r = r->next)
        r->close_after = 1;
}
