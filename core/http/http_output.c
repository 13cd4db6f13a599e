/* http_output.c - what a connection writes: responses serialized in request
 * order, the write queue of what the kernel did not take at once, and the
 * deferral of an upgraded connection's writes to the server's flush queue.
 *
 * Ownership: a queue entry owns its copy of the data, or holds a reference to a
 * shared payload until it is written; the queue goes with the connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "base/log.h"
#include "base/mem.h"
#include "http/http_internal.h"

/* Output the kernel did not take at once: a copy the entry owns, or a shared payload with
 * the frame head that goes before it. A broadcast storm holds one per waiting message per
 * connection, hence 40 bytes (a 48-byte block): the head is kept inline and what is left
 * to write is an offset, not an iovec. */
struct conn_write {
    conn_write_t *next;
    union {
        char *owned;    /* !shared */
        rbuf_t *shared; /* shared */
    };
    uint32_t len;  /* bytes of owned (a shared payload knows its own) */
    uint32_t done; /* bytes of the data already written */
    uint8_t is_shared;
    uint8_t head_len, head_done; /* the head goes first */
    uint8_t head[HTTP_SHARED_HEAD_MAX];
};

/* Writes gathered into one system call when the output queue drains. */
#define FLUSH_IOV_MAX 64

/* Output to an upgraded connection is written at once while the loop writes little: the
 * first limits.immediate_writes_per_turn writes of a loop turn (of its cached millisecond,
 * `[http] immediate_writes_per_turn`). Past that (a broadcast's fan-out, a burst of emits) it is
 * deferred: queued (a reference to the shared payload, no copy) and written when the connection's
 * turn in the server's flush queue comes, a slice of connections per loop turn. What arrives
 * meanwhile joins what waits, so one system call carries several messages: on loopback a write
 * costs the kernel about 4 µs however much it carries. This much waiting is written at once. */
#define DEFER_MAX_ENTRIES (FLUSH_IOV_MAX / 2)
#define DEFER_MAX_BYTES (32 * 1024)

/* Whether an upgraded connection's write may go out at once (see above). */
static int immediate_write_allowed(http_server_t *s)
{
    uint64_t now = uv_now(s->loop);
    if (now != s->turn_ms) {
        s->turn_ms = now;
        s->turn_writes = 0;
    }
    return s->turn_writes++ < s->limits.immediate_writes_per_turn;
}

/* writev without SIGPIPE, whatever the process does with that signal. */
static ssize_t send_iov(http_conn_t *c, struct iovec *iov, size_t n)
{
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n};
    ssize_t r;
    c->server->stats.socket_writes++;
    do {
        r = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    return r;
}

int http_conn_output_full(const http_conn_t *c)
{
    /* Answers waiting past this pause reading: a client that pipelines requests
     * without reading the answers cannot grow our memory. */
    return c->out_bytes > c->server->limits.max_queued_output;
}

/* ---------------------------------------------------------------- writes */

static void conn_write_free(conn_write_t *cw)
{
    if (cw->is_shared)
        rbuf_unref(cw->shared);
    else
        free(cw->owned);
    free(cw);
}

static const char *cw_data(const conn_write_t *cw)
{
    return cw->is_shared ? cw->shared->data : cw->owned;
}

static size_t cw_data_len(const conn_write_t *cw)
{
    return cw->is_shared ? cw->shared->len : cw->len;
}

static size_t cw_left(const conn_write_t *cw)
{
    return (size_t)(cw->head_len - cw->head_done) + (cw_data_len(cw) - cw->done);
}

/* The entry's unwritten pieces into iov (at most room of them); returns how many. */
static int cw_pieces(const conn_write_t *cw, struct iovec *iov, int room)
{
    int n = 0;
    if (cw->head_done < cw->head_len && n < room)
        iov[n++] = (struct iovec){(void *)(cw->head + cw->head_done),
                                  (size_t)(cw->head_len - cw->head_done)};
    if (cw->done < cw_data_len(cw) && n < room)
        iov[n++] = (struct iovec){(char *)cw_data(cw) + cw->done, cw_data_len(cw) - cw->done};
    return n;
}

/* Marks up to *written more bytes of the entry written; *written keeps what is beyond it. */
static void cw_advance(conn_write_t *cw, size_t *written)
{
    size_t h = (size_t)(cw->head_len - cw->head_done);
    if (h > *written) h = *written;
    cw->head_done = (uint8_t)(cw->head_done + h);
    *written -= h;
    size_t d = cw_data_len(cw) - cw->done;
    if (d > *written) d = *written;
    cw->done += (uint32_t)d;
    *written -= d;
}

/* The output queue is a ring through next, entered at its last entry (one pointer in the
 * connection instead of two). */
static conn_write_t *out_first(const http_conn_t *c)
{
    return c->out_last ? c->out_last->next : NULL;
}

/* Unlinks and returns the first entry. */
static conn_write_t *out_pop(http_conn_t *c)
{
    conn_write_t *cw = out_first(c);
    if (cw == c->out_last)
        c->out_last = NULL;
    else
        c->out_last->next = cw->next;
    return cw;
}

/* Drops the output queue (the connection is closing: nothing more will be written). */
void http_conn_output_clear(http_conn_t *c)
{
    while (c->out_last)
        conn_write_free(out_pop(c));
    membudget_release(&c->server->budget, c->out_bytes);
    c->out_bytes = 0;
    c->writes_in_flight = 0;
}

/* After queued output went out: what waited for it (a close, a half-close, a parser paused
 * by full output) goes on, and the idle deadline restarts. */
static void conn_output_progressed(http_conn_t *c)
{
    if (c->closing) return;
    if (c->writes_in_flight == 0 && c->close_when_flushed) {
        http_conn_force_close(c);
        return;
    }
    http_conn_arm_timer(c);
    if (c->http && c->http->paused && !http_conn_output_full(c)) http_conn_maybe_resume(c);
}

/* The socket is writable: as much of the queue as the kernel takes, in one system call. */
void http_conn_send_queue(http_conn_t *c)
{
    struct iovec iov[FLUSH_IOV_MAX];
    int n = 0;
    for (conn_write_t *cw = out_first(c); cw && n < FLUSH_IOV_MAX;
         cw = cw == c->out_last ? NULL : cw->next)
        n += cw_pieces(cw, iov + n, FLUSH_IOV_MAX - n);
    ssize_t w = send_iov(c, iov, (size_t)n);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        log_debug("http", "write to %s failed: %s", REMOTE(c), strerror(errno));
        http_conn_force_close(c);
        return;
    }
    size_t left = (size_t)w;
    c->out_bytes -= left;
    membudget_release(&c->server->budget, left);
    while (c->out_last) {
        conn_write_t *cw = out_first(c);
        cw_advance(cw, &left);
        if (cw_left(cw)) break;
        out_pop(c);
        c->writes_in_flight--;
        conn_write_free(cw);
    }
    http_conn_update_events(c);
    conn_output_progressed(c);
}

/* Queues what is left of cw to write (written bytes of it went out already). */
static void conn_queue_write(http_conn_t *c, conn_write_t *cw, size_t written)
{
    cw_advance(cw, &written);
    if (c->closing || !cw_left(cw)) {
        conn_write_free(cw);
        return;
    }
    c->out_bytes += cw_left(cw);
    membudget_charge(&c->server->budget, cw_left(cw));
    if (c->out_last) {
        cw->next = c->out_last->next;
        c->out_last->next = cw;
    } else {
        cw->next = cw;
    }
    c->out_last = cw;
    c->writes_in_flight++;
    if (c->raw && !(c->events & EPOLLOUT)) {
        c->server->stats.writes_deferred++;
        if (c->writes_in_flight >= DEFER_MAX_ENTRIES || c->out_bytes >= DEFER_MAX_BYTES)
            http_conn_send_queue(c);
        else if (!c->flush_queued)
            http_server_flush_later(c->server, c);
        return;
    }
    http_conn_update_events(c);
}

void http_conn_flush(http_conn_t *c)
{
    if (!c->closing && c->out_last && !(c->events & EPOLLOUT)) http_conn_send_queue(c);
}

/* Writes what the kernel takes right now when nothing is queued before it and output is not
 * being deferred (see immediate_write_allowed): the common case then costs one sendmsg and
 * no allocation, epoll change or callback. Returns the bytes written (bufs are advanced past
 * them), or -1 after closing on error. */
static ssize_t conn_try_write(http_conn_t *c, struct iovec *bufs, unsigned *nbufs)
{
    if (c->writes_in_flight || c->closing) return 0;
    if (c->raw && !immediate_write_allowed(c->server)) return 0; /* deferred */
    ssize_t r = send_iov(c, bufs, *nbufs);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        log_debug("http", "write to %s failed: %s", REMOTE(c), strerror(errno));
        http_conn_force_close(c);
        return -1;
    }
    size_t left = (size_t)r;
    unsigned first = 0;
    while (first < *nbufs && left >= bufs[first].iov_len)
        left -= bufs[first++].iov_len;
    if (first < *nbufs) {
        bufs[first].iov_base = (char *)bufs[first].iov_base + left;
        bufs[first].iov_len -= left;
    }
    memmove(bufs, bufs + first, (*nbufs - first) * sizeof(*bufs));
    *nbufs -= first;
    return r;
}

/* A queue entry holds at most 4 GiB; an answer that large is refused (the connection
 * closes), which no handler in practice comes near. */
static int conn_write_too_big(http_conn_t *c, size_t len)
{
    if (len <= UINT32_MAX) return 0;
    log_warn("http", "%s: refusing to queue %zu bytes of output", REMOTE(c), len);
    http_conn_force_close(c);
    return 1;
}

/* Queues data (owned from here on), of which written bytes went out already. */
static void conn_queue_owned(http_conn_t *c, char *data, size_t len, size_t written)
{
    if (conn_write_too_big(c, len)) {
        free(data);
        return;
    }
    conn_write_t *cw = xcalloc(1, sizeof(*cw));
    cw->owned = data;
    cw->len = (uint32_t)len;
    conn_queue_write(c, cw, written);
}

static void conn_write_owned(http_conn_t *c, char *data, size_t len)
{
    struct iovec b = {data, len};
    unsigned n = 1;
    ssize_t w = conn_try_write(c, &b, &n);
    if (w < 0 || n == 0) {
        free(data);
        return;
    }
    conn_queue_owned(c, data, len, (size_t)w);
}

void http_conn_write(http_conn_t *c, const void *data, size_t len)
{
    if (c->closing || len == 0) return;
    struct iovec b = {(void *)data, len};
    unsigned n = 1;
    ssize_t w = conn_try_write(c, &b, &n);
    if (w < 0 || n == 0) return;
    /* Only what the kernel did not take is copied. */
    conn_queue_owned(c, xmemdup0(b.iov_base, b.iov_len), b.iov_len, 0);
}

void http_conn_write_shared(http_conn_t *c, const void *head, size_t head_len, rbuf_t *payload)
{
    if (c->closing) return;
    struct iovec bufs[2];
    unsigned n = 0;
    if (head_len > HTTP_SHARED_HEAD_MAX) head_len = HTTP_SHARED_HEAD_MAX;
    if (head_len) bufs[n++] = (struct iovec){(void *)head, head_len};
    bufs[n++] = (struct iovec){payload->data, payload->len};
    ssize_t w = conn_try_write(c, bufs, &n);
    if (w < 0 || n == 0 || conn_write_too_big(c, payload->len)) return;
    /* The rest waits in the queue, holding the payload and a copy of the head. */
    conn_write_t *cw = xcalloc(1, sizeof(*cw));
    cw->shared = rbuf_ref(payload);
    cw->is_shared = 1;
    cw->head_len = (uint8_t)head_len;
    memcpy(cw->head, head, head_len);
    conn_queue_write(c, cw, (size_t)w);
}

size_t http_conn_pending_bytes(const http_conn_t *c)
{
    return c->out_bytes;
}

/* ---------------------------------------------------------------- responses */

void http_conn_flush_responses(http_conn_t *c)
{
    http_parse_state_t *st = c->http;
    while (st->head && st->head->responded) {
        http_request_t *req = st->head;
        http_request_pop_head(st);
        int close_after = req->close_after;
        size_t len;
        char *data = buf_steal(&req->response, &len);
        membudget_release(&c->server->budget, len); /* now charged as output, if it waits */
        conn_write_owned(c, data, len);
        http_request_free(req);
        if (close_after) {
            http_requests_abort_all(st);
            http_conn_graceful_close(c);
            return;
        }
    }
    http_request_t *head = st->head;
    if (head && head->expect_continue && !head->continue_sent && !head->complete) {
        head->continue_sent = 1;
        http_conn_write(c, BUF_LIT("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    http_conn_arm_timer(c);
}

static void request_respond_raw(http_request_t *req, int status, const char *content_type,
                                const void *body, size_t len)
{
    http_conn_t *c = req->conn;
    if (req->responded) return;
    req->responded = 1;
    http_request_count(req, status);
    /* An upgrade answered with anything but the switch (http_upgrade) leaves the bytes behind
     * it in an unknown protocol: the connection closes after the answer. */
    if (c->server->shutting_down || req->upgrade) req->close_after = 1;
    int keep_alive = !req->close_after && req->keep_alive;
    http_response_serialize(req, status, content_type, body, len, keep_alive,
                            http_server_date(c->server));
    http_request_drop_body(req); /* serialized: body may have pointed into it */
    /* An answer may wait behind an earlier one (a long poll): held until it is written. */
    membudget_charge(&c->server->budget, req->response.len);
    log_debug("http", "%s \"%s %s\" %d %zu", REMOTE(c), req->method, http_request_target(req),
              status, len);
    if (c->closing) return; /* freed with the connection */
    http_conn_flush_responses(c);
    http_conn_maybe_resume(c);
}

void http_respond(http_request_t *req, int status, const char *content_type, const void *body,
                  size_t len)
{
    request_respond_raw(req, status, content_type, body, len);
}

void http_respond_json_text(http_request_t *req, int status, const char *json, size_t len)
{
    request_respond_raw(req, status, "application/json; charset=utf-8", json, len);
}

void http_respond_error(http_request_t *req, int status, const char *code, const char *message)
{
    buf_t body = BUF_INIT;
    http_error_body(&body, code, message);
    request_respond_raw(req, status, "application/json; charset=utf-8", body.data, body.len);
    buf_free(&body);
}

void http_response_header(http_request_t *req, const char *name, const char *value)
{
    buf_printf(&req->extra_headers, "%s: %s\r\n", name, value);
}

void http_response_close(http_request_t *req)
{
    req->close_after = 1;
}

void http_request_on_abort(http_request_t *req, void (*cb)(void *user, http_request_t *req),
                           void *user)
{
    req->abort_cb = cb;
    req->abort_user = user;
}
