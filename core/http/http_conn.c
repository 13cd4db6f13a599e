/* http_conn.c - one accepted connection: reading, parsing with llhttp, the
 * ordered queue of pipelined requests, writes, timeouts, upgrade and close.
 *
 * Ownership: the connection owns its requests. A request is handed to the
 * handler once complete and comes back when answered (http_respond*) or is
 * aborted when the connection dies first. Handlers may answer from inside the
 * parser's callbacks; anything that would free the parser (upgrade, resuming
 * a paused parser) waits until llhttp_execute() has returned. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "http/http_internal.h"
#include "http/url.h"

/* The peer's address as text for a log line (a buffer that lives to the end of the block). */
#define REMOTE(c) http_conn_remote_addr((c), (char[HTTP_ADDR_MAX]){0})

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

static void conn_begin_close(http_conn_t *c);
static void conn_arm_timer(http_conn_t *c);
static void conn_flush_responses(http_conn_t *c);
static void conn_process_input(http_conn_t *c, const char *data, size_t len);
static void conn_on_input(http_conn_t *c, ssize_t nread, const char *data);

static int conn_output_full(const http_conn_t *c)
{
    /* Answers waiting past this pause reading: a client that pipelines requests
     * without reading the answers cannot grow our memory. */
    return c->out_bytes > c->server->limits.max_queued_output;
}

static void conn_maybe_resume(http_conn_t *c);

/* Registers in the server's epoll set what the connection waits for now: input while
 * reading, writability while output is queued. Unregistered when it waits for nothing, so
 * a dead peer cannot report errors on every loop turn. A failure closes the connection. */
static void conn_update_events(http_conn_t *c)
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
    conn_update_events(c);
}

/* Starts reading unless already reading; a failure closes the connection. */
static void conn_read_start(http_conn_t *c)
{
    if (c->reading || c->closing) return;
    c->reading = 1;
    conn_update_events(c);
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

/* ---------------------------------------------------------------- requests */

/* A body is charged to the budget of bytes held for clients from its arrival (on_body) until
 * its request is answered: the handler no longer reads it then. */
static void request_drop_body(http_request_t *req)
{
    membudget_release(&req->conn->server->budget, req->body.len);
    buf_free(&req->body);
}

static void request_free(http_request_t *req)
{
    membudget_release(&req->conn->server->budget, req->head_charged);
    buf_free(&req->head);
    request_drop_body(req);
    buf_free(&req->extra_headers);
    membudget_release(&req->conn->server->budget, req->response.len);
    buf_free(&req->response);
    free(req->headers);
    free(req);
}

static http_request_t *request_new(http_conn_t *c)
{
    http_request_t *req = xcalloc(1, sizeof(*req));
    req->conn = c;
    req->id = ++c->server->next_request_id;
    req->keep_alive = 1;
    http_parse_state_t *st = c->http;
    if (st->tail)
        st->tail->next = req;
    else
        st->head = req;
    st->tail = req;
    st->queued++;
    return req;
}

/* Unlinks the head request of the queue. */
static void request_pop_head(http_parse_state_t *st)
{
    http_request_t *req = st->head;
    st->head = req->next;
    if (!st->head) st->tail = NULL;
    st->queued--;
    if (st->current == req) st->current = NULL;
}

/* Aborts and frees every queued request (the connection is going away). */
static void requests_abort_all(http_parse_state_t *st)
{
    while (st->head) {
        http_request_t *req = st->head;
        request_pop_head(st);
        if (req->complete && !req->responded && req->abort_cb) req->abort_cb(req->abort_user, req);
        request_free(req);
    }
}

/* ------------------------------------------------------------ parse state */

static int on_message_begin(llhttp_t *p);
static int on_url(llhttp_t *p, const char *at, size_t len);
static int on_url_complete(llhttp_t *p);
static int on_header_field(llhttp_t *p, const char *at, size_t len);
static int on_header_value(llhttp_t *p, const char *at, size_t len);
static int on_headers_complete(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t len);
static int on_message_complete(llhttp_t *p);

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static http_parse_state_t *parse_state_new(http_conn_t *c)
{
    http_parse_state_t *st = xcalloc(1, sizeof(*st));
    llhttp_init(&st->parser, HTTP_REQUEST, &parser_settings);
    st->parser.data = c;
    return st;
}

static void parse_state_free(http_parse_state_t *st)
{
    if (!st) return;
    requests_abort_all(st);
    buf_free(&st->pending_in);
    free(st);
}

static int refuse(http_conn_t *c, int status, const char *message)
{
    c->http->error_status = status;
    c->http->error_message = message;
    llhttp_set_error_reason(&c->http->parser, message);
    return HPE_USER;
}

/* Charges n more bytes of the current request to the budget of bytes held for clients; past
 * it the request is refused with 503 (and the connection closes, as after every refusal). */
static int charge_request(http_conn_t *c, size_t n)
{
    if (membudget_try_charge(&c->server->budget, n) == 0) return 0;
    membudget_shed(&c->server->budget, "requests refused with 503");
    return refuse(c, 503, "the server holds too much for its clients; retry later");
}

static int count_head_bytes(http_conn_t *c, size_t len, int in_url)
{
    http_parse_state_t *st = c->http;
    st->head_bytes += len;
    if (st->head_bytes > c->server->limits.max_header_bytes)
        return in_url ? refuse(c, 414, "request target too long")
                      : refuse(c, 431, "request header fields too large");
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    http_conn_t *c = p->data;
    http_parse_state_t *st = c->http;
    if (c->closing || c->close_when_flushed) return refuse(c, 400, "connection closing");
    st->current = request_new(c);
    st->head_bytes = 0;
    st->header_state = 0;
    st->headers_done = 0;
    st->deadline_ms = uv_now(c->server->loop) + c->server->limits.header_timeout_ms;
    conn_arm_timer(c);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;
    if (count_head_bytes(c, len, 1)) return HPE_USER;
    buf_append(&c->http->current->head, at, len);
    return 0;
}

/* path and query were found while head held only the target; head may have moved
 * since, so re-run the split over the settled buffer. */
static void request_rebase_target(http_request_t *req)
{
    url_split_target(req->head.data, req->url_len, &req->path, &req->path_len, &req->query,
                     &req->query_len);
}

static int on_url_complete(llhttp_t *p)
{
    http_conn_t *c = p->data;
    http_request_t *req = c->http->current;
    req->url_len = (uint32_t)req->head.len;
    buf_append_byte(&req->head, '\0');
    /* Validated now; the pointers are set again once the head buffer stops growing. */
    if (url_split_target(req->head.data, req->url_len, &req->path, &req->path_len, &req->query,
                         &req->query_len) != 0)
        return refuse(c, 400, "invalid request target");
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;
    http_parse_state_t *st = c->http;
    http_request_t *req = st->current;
    if (count_head_bytes(c, len, 0)) return HPE_USER;
    if (st->header_state != 1) {
        /* Each header's index entry counts too: a head of many empty headers would
         * otherwise cost sixteen times what max_header_bytes allows. */
        if (count_head_bytes(c, sizeof(http_header_ref_t), 0)) return HPE_USER;
        if (st->header_state == 2) buf_append_byte(&req->head, '\0');
        if (req->nheaders == req->headers_cap) {
            req->headers_cap = req->headers_cap ? req->headers_cap * 2 : 8;
            req->headers = xrealloc(req->headers, req->headers_cap * sizeof(*req->headers));
        }
        http_header_ref_t *h = &req->headers[req->nheaders++];
        memset(h, 0, sizeof(*h));
        h->name_off = (uint32_t)req->head.len;
        st->header_state = 1;
    }
    buf_append(&req->head, at, len);
    req->headers[req->nheaders - 1].name_len += (uint32_t)len;
    return 0;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Keeps the last non-blank byte of a parsed chunk, for is_obs_fold() on the next one. */
static void remember_tail(http_parse_state_t *st, const char *data, size_t len)
{
    while (len && is_blank(data[len - 1]))
        len--;
    if (len) st->prev_tail = data[len - 1];
}

/* llhttp accepts obsolete line folding (a header line that starts with a blank continues the
 * previous value) and hands the continuation over as more value. RFC 9112 §5.2 lets a server
 * refuse it, and it must: "Transfer-Encoding:\r\n chunked" would otherwise be read as
 * chunked here and differently by a proxy in front. A value span is folded when the last
 * non-blank byte before it is the line feed that ended the previous line (a plain value
 * follows the colon); across chunk boundaries the previous chunk's tail tells. An empty value
 * ("X-Empty:\r\n") comes as an empty span at the start of the next line: not a fold. */
static int is_obs_fold(const http_parse_state_t *st, const char *at, size_t len)
{
    if (len == 0) return 0;
    const char *p = at;
    const char *start = st->exec_start;
    if (!start || at < start) return 0;
    while (p > start && is_blank(p[-1]))
        p--;
    char before = p > start ? p[-1] : st->prev_tail;
    return before == '\n';
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;
    http_parse_state_t *st = c->http;
    http_request_t *req = st->current;
    if (count_head_bytes(c, len, 0)) return HPE_USER;
    if (is_obs_fold(st, at, len)) return refuse(c, 400, "obsolete line folding in a header");
    http_header_ref_t *h = &req->headers[req->nheaders - 1];
    if (st->header_state != 2) {
        buf_append_byte(&req->head, '\0');
        h->value_off = (uint32_t)req->head.len;
        st->header_state = 2;
    }
    buf_append(&req->head, at, len);
    h->value_len += (uint32_t)len;
    return 0;
}

/* The one transfer coding a request may carry is a single final "chunked" (RFC 9112 §6): this
 * server decodes no other, and a coding list that a proxy in front may read differently is
 * how requests get smuggled. Returns 0; 400 when "chunked" is not the final coding (the body
 * length cannot be known: §6.3 says 400 and close), is repeated, or the list is empty; 501
 * for a final "chunked" behind a coding this server does not implement (§6.1). */
static int check_transfer_coding(const http_request_t *req)
{
    size_t tokens = 0, chunked = 0;
    int last_chunked = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name, *value;
        http_request_header_at(req, i, &name, &value);
        if (strcasecmp(name, "transfer-encoding") != 0) continue;
        for (const char *v = value; *v;) {
            while (*v == ',' || is_blank(*v))
                v++;
            if (!*v) break;
            const char *tok = v;
            while (*v && *v != ',' && *v != ';' && !is_blank(*v))
                v++;
            tokens++;
            last_chunked = (size_t)(v - tok) == 7 && strncasecmp(tok, "chunked", 7) == 0;
            chunked += (size_t)last_chunked;
            while (*v && *v != ',') /* a coding's parameters: none is understood */
                v++;
        }
    }
    if (!last_chunked || chunked != 1) return 400;
    return tokens == 1 ? 0 : 501;
}

static int on_headers_complete(llhttp_t *p)
{
    http_conn_t *c = p->data;
    http_parse_state_t *st = c->http;
    http_request_t *req = st->current;
    const http_limits_t *lim = &c->server->limits;
    if (st->header_state == 2) buf_append_byte(&req->head, '\0');
    st->header_state = 0;
    request_rebase_target(req);
    st->headers_done = 1;
    st->deadline_ms = uv_now(c->server->loop) + lim->body_timeout_ms;

    if (p->http_major != 1) {
        if (p->http_major == 0) return refuse(c, 400, "HTTP/0.9 is not supported");
        return refuse(c, 505, "only HTTP/1.x is supported");
    }
    const char *method = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
    snprintf(req->method, sizeof(req->method), "%s", method);
    req->is_head = strcmp(req->method, "HEAD") == 0;

    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > lim->max_body_bytes)
        return refuse(c, 413, "request body too large");
    if (p->flags & F_TRANSFER_ENCODING) {
        int te = check_transfer_coding(req);
        if (te == 501) return refuse(c, 501, "transfer coding not implemented");
        if (te) return refuse(c, 400, "invalid Transfer-Encoding");
    }
    /* A complete head (its text and index) is held until its request is freed (behind a
     * long poll, say). */
    size_t head_held = req->head.len + req->headers_cap * sizeof(*req->headers);
    if (charge_request(c, head_held)) return HPE_USER;
    req->head_charged = (uint32_t)head_held;

    const char *expect = http_request_header(req, "expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0)
            return refuse(c, 417, "unsupported Expect header");
        if (p->http_minor >= 1) req->expect_continue = 1;
    }
    if (req->expect_continue && st->head == req) {
        req->continue_sent = 1;
        http_conn_write(c, BUF_LIT("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    conn_arm_timer(c);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;
    http_request_t *req = c->http->current;
    if (req->body.len + len > c->server->limits.max_body_bytes)
        return refuse(c, 413, "request body too large");
    if (charge_request(c, len)) return HPE_USER;
    buf_append(&req->body, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    http_conn_t *c = p->data;
    http_parse_state_t *st = c->http;
    http_request_t *req = st->current;
    st->current = NULL;
    if (st->header_state == 2) buf_append_byte(&req->head, '\0'); /* after trailers */
    st->header_state = 0;
    request_rebase_target(req); /* trailers may have moved the head buffer */
    req->complete = 1;
    req->keep_alive = llhttp_should_keep_alive(p) ? 1 : 0;
    if (!req->keep_alive) req->close_after = 1;
    if (llhttp_get_upgrade(p)) {
        /* Dispatched after llhttp_execute() returns: an upgrade frees the parser. */
        req->upgrade = 1;
        return 0;
    }
    int keep_alive = req->keep_alive;
    c->server->handler(c->server->handler_user, req); /* req may be freed from here on */
    if (c->closing || c->close_when_flushed) return HPE_PAUSED;
    /* Past a request that closes the connection nothing more is read; past a full
     * queue reading waits until responses have gone out. */
    if (!keep_alive || st->queued >= c->server->limits.max_pipelined || conn_output_full(c))
        return HPE_PAUSED;
    return 0;
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
static void conn_output_clear(http_conn_t *c)
{
    while (c->out_last)
        conn_write_free(out_pop(c));
    membudget_release(&c->server->budget, c->out_bytes);
    c->out_bytes = 0;
    c->writes_in_flight = 0;
}

static void conn_half_close(http_conn_t *c);

/* After queued output went out: what waited for it (a close, a half-close, a parser paused
 * by full output) goes on, and the idle deadline restarts. */
static void conn_output_progressed(http_conn_t *c)
{
    if (c->closing) return;
    if (c->writes_in_flight == 0 && c->close_when_flushed) {
        conn_begin_close(c);
        return;
    }
    conn_arm_timer(c);
    if (c->http && c->http->paused && !conn_output_full(c)) conn_maybe_resume(c);
}

/* The socket is writable: as much of the queue as the kernel takes, in one system call. */
static void conn_flush(http_conn_t *c)
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
        conn_begin_close(c);
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
    conn_update_events(c);
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
            conn_flush(c);
        else if (!c->flush_queued)
            http_server_flush_later(c->server, c);
        return;
    }
    conn_update_events(c);
}

void http_conn_flush(http_conn_t *c)
{
    if (!c->closing && c->out_last && !(c->events & EPOLLOUT)) conn_flush(c);
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
        conn_begin_close(c);
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
    conn_begin_close(c);
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

/* ---------------------------------------------------------------- closing */

/* The last handle to close finishes the connection. */
static void conn_handle_closed(http_conn_t *c)
{
    if (--c->handles) return;
    parse_state_free(c->http);
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
    conn_output_clear(c);
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
static void conn_graceful_close(http_conn_t *c)
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
        conn_graceful_close(c);
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

static void conn_arm_timer(http_conn_t *c)
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
    if (!req) req = request_new(c);
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

/* Runs the parser over data; afterwards handles pauses, upgrades and errors. */
static void conn_process_input(http_conn_t *c, const char *data, size_t len)
{
    http_parse_state_t *st = c->http;
    if (st->input_closed) return;
    if (st->paused) {
        buf_append(&st->pending_in, data, len);
        return;
    }
    st->exec_start = data;
    llhttp_errno_t err = llhttp_execute(&st->parser, data, len);
    if (c->closing || !c->http) return;
    st->exec_start = NULL;
    if (err == HPE_OK) {
        remember_tail(st, data, len);
        conn_arm_timer(c);
        return;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        const char *pos = llhttp_get_error_pos(&st->parser);
        size_t used = pos ? (size_t)(pos - data) : len;
        remember_tail(st, data, used);
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
static void conn_maybe_resume(http_conn_t *c)
{
    http_parse_state_t *st = c->http;
    if (!st || !st->paused || st->input_closed || c->closing || c->close_when_flushed) return;
    if (st->queued >= c->server->limits.max_pipelined || conn_output_full(c)) return;
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
        request_free(req);
    }
    if (c->closing) return;
    if (st->head)
        conn_flush_responses(c);
    else
        conn_graceful_close(c);
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
    if (!c->closing && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->out_last) conn_flush(c);
}

/* ---------------------------------------------------------------- responses */

static void conn_flush_responses(http_conn_t *c)
{
    http_parse_state_t *st = c->http;
    while (st->head && st->head->responded) {
        http_request_t *req = st->head;
        request_pop_head(st);
        int close_after = req->close_after;
        size_t len;
        char *data = buf_steal(&req->response, &len);
        membudget_release(&c->server->budget, len); /* now charged as output, if it waits */
        conn_write_owned(c, data, len);
        request_free(req);
        if (close_after) {
            requests_abort_all(st);
            conn_graceful_close(c);
            return;
        }
    }
    http_request_t *head = st->head;
    if (head && head->expect_continue && !head->continue_sent && !head->complete) {
        head->continue_sent = 1;
        http_conn_write(c, BUF_LIT("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    conn_arm_timer(c);
}

static void request_respond_raw(http_request_t *req, int status, const char *content_type,
                                const void *body, size_t len)
{
    http_conn_t *c = req->conn;
    if (req->responded) return;
    req->responded = 1;
    /* An upgrade answered with anything but the switch (http_upgrade) leaves the bytes behind
     * it in an unknown protocol: the connection closes after the answer. */
    if (c->server->shutting_down || req->upgrade) req->close_after = 1;
    int keep_alive = !req->close_after && req->keep_alive;
    http_response_serialize(req, status, content_type, body, len, keep_alive,
                            http_server_date(c->server));
    request_drop_body(req); /* serialized: body may have pointed into it */
    /* An answer may wait behind an earlier one (a long poll): held until it is written. */
    membudget_charge(&c->server->budget, req->response.len);
    log_debug("http", "%s \"%s %s\" %d %zu", REMOTE(c), req->method, http_request_target(req),
              status, len);
    if (c->closing) return; /* freed with the connection */
    conn_flush_responses(c);
    conn_maybe_resume(c);
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

/* ---------------------------------------------------------------- accessors */

const char *http_request_method(const http_request_t *req)
{
    return req->method;
}

const char *http_request_target(const http_request_t *req)
{
    return req->head.data ? req->head.data : "";
}

const char *http_request_path(const http_request_t *req, size_t *len)
{
    if (len) *len = req->path ? req->path_len : 1;
    return req->path ? req->path : "/";
}

const char *http_request_query(const http_request_t *req, size_t *len)
{
    if (len) *len = req->query ? req->query_len : 0;
    return req->query;
}

const char *http_request_header(const http_request_t *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++) {
        const http_header_ref_t *h = &req->headers[i];
        if (h->name_len == n && strncasecmp(req->head.data + h->name_off, name, n) == 0)
            return h->value_len || h->value_off ? req->head.data + h->value_off : "";
    }
    return NULL;
}

size_t http_request_header_count(const http_request_t *req)
{
    return req->nheaders;
}

void http_request_header_at(const http_request_t *req, size_t i, const char **name,
                            const char **value)
{
    const http_header_ref_t *h = &req->headers[i];
    *name = req->head.data + h->name_off;
    *value = h->value_off ? req->head.data + h->value_off : "";
}

const char *http_request_body(const http_request_t *req, size_t *len)
{
    if (len) *len = req->body.len;
    return req->body.data ? req->body.data : "";
}

int http_request_is_upgrade(const http_request_t *req)
{
    return req->upgrade;
}

int http_request_is_head(const http_request_t *req)
{
    return req->is_head;
}

const char *http_request_remote_addr(http_request_t *req)
{
    if (!req->remote[0]) http_conn_remote_addr(req->conn, req->remote);
    return req->remote;
}

http_conn_t *http_request_conn(const http_request_t *req)
{
    return req->conn;
}

uint64_t http_request_id(const http_request_t *req)
{
    return req->id;
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
    buf_t pending = st->pending_in;
    buf_init(&st->pending_in);
    request_pop_head(st);
    request_free(req);
    parse_state_free(st);
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

void http_conn_accept(http_server_t *s, int fd, const struct sockaddr *peer)
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
    c->http = parse_state_new(c);
    if (s->nconns > s->limits.max_connections || s->shutting_down) {
        log_warn("http", "refusing connection from %s: %zu connections (limit %zu)", REMOTE(c),
                 s->nconns - 1, s->limits.max_connections);
        http_request_t *req = request_new(c);
        req->complete = 1;
        req->close_after = 1;
        snprintf(req->method, sizeof(req->method), "-");
        http_respond_error(req, 503, "service_unavailable", "too many connections");
        return;
    }
    conn_read_start(c);
    conn_arm_timer(c);
}

void http_conn_shutdown(http_conn_t *c)
{
    if (c->closing) return;
    if (c->raw) {
        if (!c->shutdown_notified && c->raw->on_shutdown) {
            c->shutdown_notified = 1;
            c->raw->on_shutdown(c->raw_user);
        } else if (!c->raw->on_shutdown) {
            conn_graceful_close(c);
        }
        return;
    }
    http_parse_state_t *st = c->http;
    if (!st->head && !st->current) {
        conn_graceful_close(c);
        return;
    }
    /* Requests in flight finish; the connection closes after the last answer. */
    conn_read_stop(c);
    st->paused = 1;
    for (http_request_t *r = st->head; r; r = r->next)
        r->close_after = 1;
}
