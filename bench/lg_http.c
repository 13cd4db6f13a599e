/* lg_http.c - see lg_http.h. */
#include "lg_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct lg_http {
    uv_tcp_t tcp;
    uv_connect_t creq;
    lg_http_cb cb;
    void *user;
    char host[64];
    int connected, failed, closing;
    int released;                        /* lg_http_close() was called: free once closed */
    uv_loop_t *loop;                     /* for reconnecting */
    struct sockaddr_in dst;              /* the server */
    uint64_t tags[LG_HTTP_MAX_PIPELINE]; /* ring of requests awaiting answers */
    size_t head, count;
    char *rx;
    size_t rx_len, rx_cap;
};

typedef struct hreq {
    uv_write_t req;
    char data[];
} hreq_t;

static void fail_all(lg_http_t *h)
{
    h->failed = 1;
    h->connected = 0;
    while (h->count) {
        uint64_t tag = h->tags[h->head];
        h->head = (h->head + 1) % LG_HTTP_MAX_PIPELINE;
        h->count--;
        h->cb(h->user, tag, -1, NULL, 0);
    }
}

static void on_closed(uv_handle_t *hd)
{
    lg_http_t *h = hd->data;
    free(h->rx);
    free(h);
}

static void on_connect(uv_connect_t *req, int status);

/* Connects (again): the handle is fresh. */
static void start_connect(lg_http_t *h)
{
    uv_tcp_init(h->loop, &h->tcp);
    h->tcp.data = h;
    h->creq.data = h;
    uv_tcp_nodelay(&h->tcp, 1);
    if (uv_tcp_connect(&h->creq, &h->tcp, (const struct sockaddr *)&h->dst, on_connect) != 0)
        h->failed = 1;
}

/* The server closed an idle keep-alive connection (its idle timeout, during a long phase
 * without REST requests): a new one replaces it; nothing was owed on it. */
static void on_closed_reconnect(uv_handle_t *hd)
{
    lg_http_t *h = hd->data;
    if (h->released) {
        on_closed(hd);
        return;
    }
    h->rx_len = 0;
    h->closing = 0;
    start_connect(h);
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    lg_http_t *h = hd->data;
    if (h->rx_cap - h->rx_len < 16384) {
        size_t cap = h->rx_cap ? h->rx_cap * 2 : 65536;
        char *n = realloc(h->rx, cap);
        if (!n) abort();
        h->rx = n;
        h->rx_cap = cap;
    }
    *buf = uv_buf_init(h->rx + h->rx_len, (unsigned)(h->rx_cap - h->rx_len));
}

/* One whole answer at the start of rx: its size, 0 when incomplete, -1 when malformed. */
static long parse_one(lg_http_t *h, int *status, const char **body, size_t *blen)
{
    const char *p = h->rx, *end = memmem(p, h->rx_len, "\r\n\r\n", 4);
    if (!end) return h->rx_len > 65536 ? -1 : 0;
    size_t hl = (size_t)(end - p) + 4;
    if (hl < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0) return -1;
    *status = atoi(p + 9);
    long clen = -1;
    for (const char *line = memchr(p, '\n', hl); line && line < end;
         line = memchr(line + 1, '\n', (size_t)(end - line))) {
        if (strncasecmp(line + 1, "content-length:", 15) == 0) clen = atol(line + 16);
        if (strncasecmp(line + 1, "connection: close", 17) == 0) h->closing = 1;
    }
    if (clen < 0) clen = 0;
    if (h->rx_len < hl + (size_t)clen) return 0;
    *body = p + hl;
    *blen = (size_t)clen;
    return (long)(hl + (size_t)clen);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    lg_http_t *h = s->data;
    if (nread == UV_EOF && h->count == 0 && !h->released) {
        h->connected = 0;
        uv_read_stop(s);
        uv_close((uv_handle_t *)s, on_closed_reconnect);
        return;
    }
    if (nread < 0) {
        fail_all(h);
        return;
    }
    h->rx_len += (size_t)nread;
    for (;;) {
        int status = 0;
        const char *body = NULL;
        size_t blen = 0;
        long used = parse_one(h, &status, &body, &blen);
        if (used < 0) {
            fprintf(stderr, "loadgen: malformed HTTP answer from the server\n");
            fail_all(h);
            uv_read_stop(s);
            return;
        }
        if (used == 0) break;
        if (h->count == 0) {
            fprintf(stderr, "loadgen: HTTP answer without a request\n");
            fail_all(h);
            uv_read_stop(s);
            return;
        }
        uint64_t tag = h->tags[h->head];
        h->head = (h->head + 1) % LG_HTTP_MAX_PIPELINE;
        h->count--;
        h->cb(h->user, tag, status, body, blen);
        memmove(h->rx, h->rx + used, h->rx_len - (size_t)used);
        h->rx_len -= (size_t)used;
        if (h->closing) { /* the server ends keep-alive: what is left fails */
            fail_all(h);
            uv_read_stop(s);
            return;
        }
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    lg_http_t *h = req->data;
    if (status < 0) {
        fprintf(stderr, "loadgen: HTTP connect: %s\n", uv_strerror(status));
        h->failed = 1;
        return;
    }
    h->connected = 1;
    uv_read_start((uv_stream_t *)&h->tcp, on_alloc, on_read);
}

lg_http_t *lg_http_new(uv_loop_t *loop, const struct sockaddr_in *dst, const char *host_header,
                       lg_http_cb cb, void *user)
{
    lg_http_t *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->cb = cb;
    h->user = user;
    snprintf(h->host, sizeof h->host, "%s", host_header);
    h->loop = loop;
    h->dst = *dst;
    start_connect(h);
    return h;
}

int lg_http_connected(const lg_http_t *h)
{
    return h->connected;
}

int lg_http_failed(const lg_http_t *h)
{
    return h->failed;
}

size_t lg_http_in_flight(const lg_http_t *h)
{
    return h->count;
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

int lg_http_request(lg_http_t *h, const char *method, const char *path, const char *body,
                    size_t len, uint64_t tag)
{
    if (!h->connected || h->count == LG_HTTP_MAX_PIPELINE) return -1;
    char head[512];
    int hl = body ? snprintf(head, sizeof head,
                             "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\n\r\n",
                             method, path, h->host, len)
                  : snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, path,
                             h->host);
    if (hl <= 0 || (size_t)hl >= sizeof head) return -1;
    size_t total = (size_t)hl + (body ? len : 0);
    hreq_t *r = malloc(sizeof *r + total);
    if (!r) return -1;
    memcpy(r->data, head, (size_t)hl);
    if (body) memcpy(r->data + hl, body, len);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)total);
    int n = uv_try_write((uv_stream_t *)&h->tcp, &b, 1);
    if (n == (int)total) {
        free(r);
    } else {
        if (n < 0) n = 0;
        memmove(r->data, r->data + n, total - (size_t)n);
        b = uv_buf_init(r->data, (unsigned)(total - (size_t)n));
        if (uv_write(&r->req, (uv_stream_t *)&h->tcp, &b, 1, on_written) != 0) {
            free(r);
            return -1;
        }
    }
    h->tags[(h->head + h->count) % LG_HTTP_MAX_PIPELINE] = tag;
    h->count++;
    return 0;
}

void lg_http_close(lg_http_t *h)
{
    if (!h) return;
    h->released = 1; /* a reconnect under way frees it instead */
    if (!uv_is_closing((uv_handle_t *)&h->tcp)) uv_close((uv_handle_t *)&h->tcp, on_closed);
}
