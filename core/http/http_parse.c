/* http_parse.c - requests as llhttp parses them: the parser's callbacks, the
 * limits checked while a request arrives (head and body sizes, the budget of
 * bytes held for clients), the transfer-coding and line-folding checks, the
 * connection's queue of requests in arrival order, and what a handler reads of
 * a request.
 *
 * Ownership: a request belongs to its connection's queue from the first byte
 * until it is answered and written, or aborted; the parse state is freed when
 * the connection closes or is upgraded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "http/http_internal.h"
#include "http/url.h"

/* ---------------------------------------------------------------- requests */

/* A body is charged to the budget of bytes held for clients from its arrival (on_body) until
 * its request is answered: the handler no longer reads it then. */
void http_request_drop_body(http_request_t *req)
{
    membudget_release(&req->conn->server->budget, req->body.len);
    buf_free(&req->body);
}

void http_request_free(http_request_t *req)
{
    membudget_release(&req->conn->server->budget, req->head_charged);
    buf_free(&req->head);
    http_request_drop_body(req);
    buf_free(&req->extra_headers);
    membudget_release(&req->conn->server->budget, req->response.len);
    buf_free(&req->response);
    free(req->headers);
    free(req);
}

http_request_t *http_request_new(http_conn_t *c)
{
    http_request_t *req = xcalloc(1, sizeof(*req));
    req->conn = c;
    req->keep_alive = 1;
    req->started_ns = uv_hrtime();
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
void http_request_pop_head(http_parse_state_t *st)
{
    http_request_t *req = st->head;
    st->head = req->next;
    if (!st->head) st->tail = NULL;
    st->queued--;
    if (st->current == req) st->current = NULL;
}

/* Aborts and frees every queued request (the connection is going away). */
void http_requests_abort_all(http_parse_state_t *st)
{
    while (st->head) {
        http_request_t *req = st->head;
        http_request_pop_head(st);
        if (req->complete && !req->responded && req->abort_cb) req->abort_cb(req->abort_user, req);
        http_request_free(req);
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

http_parse_state_t *http_parse_state_new(http_conn_t *c)
{
    http_parse_state_t *st = xcalloc(1, sizeof(*st));
    llhttp_init(&st->parser, HTTP_REQUEST, &parser_settings);
    st->parser.data = c;
    return st;
}

void http_parse_state_free(http_parse_state_t *st)
{
    if (!st) return;
    http_requests_abort_all(st);
    buf_free(&st->pending_in);
    buf_free(&st->line_in);
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
    st->current = http_request_new(c);
    st->head_bytes = 0;
    st->header_state = 0;
    st->headers_done = 0;
    st->deadline_ms = uv_now(c->server->loop) + c->server->limits.header_timeout_ms;
    http_conn_arm_timer(c);
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
void http_parse_remember_tail(http_parse_state_t *st, const char *data, size_t len)
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

/* The i-th header's name and value, NUL-terminated. */
static void header_at(const http_request_t *req, size_t i, const char **name, const char **value)
{
    const http_header_ref_t *h = &req->headers[i];
    *name = req->head.data + h->name_off;
    *value = h->value_off ? req->head.data + h->value_off : "";
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
        header_at(req, i, &name, &value);
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
    http_conn_arm_timer(c);
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
    if (!keep_alive || st->queued >= c->server->limits.max_pipelined || http_conn_output_full(c))
        return HPE_PAUSED;
    return 0;
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

void http_request_each_header(const http_request_t *req,
                              void (*fn)(void *user, const char *name, const char *value),
                              void *user)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name, *value;
        header_at(req, i, &name, &value);
        fn(user, name, value);
    }
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

const char *http_request_remote_addr(http_request_t *req)
{
    if (!req->remote[0]) http_conn_remote_addr(req->conn, req->remote);
    return req->remote;
}

http_conn_t *http_request_conn(const http_request_t *req)
{
    return req->conn;
}
