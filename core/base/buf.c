/* buf.c - growable buffers and reference-counted shared payloads. */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

void buf_init(buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_free(buf_t *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void buf_reserve(buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1; /* room for the trailing NUL */
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_append(buf_t *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_append_str(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_append_byte(buf_t *b, uint8_t byte)
{
    buf_reserve(b, 1);
    b->data[b->len++] = (char)byte;
    b->data[b->len] = '\0';
}

void buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n <= 0) return;
    buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_consume(buf_t *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *buf_steal(buf_t *b, size_t *len)
{
    char *data = b->data;
    if (len) *len = b->len;
    if (!data) data = xcalloc(1, 1);
    buf_init(b);
    return data;
}

rbuf_t *rbuf_new(const void *data, size_t len)
{
    rbuf_t *r = xmalloc(sizeof(*r) + len + 1);
    r->refs = 1;
    r->len = len;
    if (len && data) memcpy(r->data, data, len);
    r->data[len] = '\0';
    return r;
}

rbuf_t *rbuf_from_buf(buf_t *b)
{
    rbuf_t *r = rbuf_new(b->data, b->len);
    buf_free(b);
    return r;
}

rbuf_t *rbuf_ref(rbuf_t *r)
{
    r->refs++;
    return r;
}

void rbuf_unref(rbuf_t *r)
{
    if (r && --r->refs == 0) free(r);
}
