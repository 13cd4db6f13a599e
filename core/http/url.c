/* url.c - percent-decoding, query strings and request-target splitting (see url.h). */
#include "http/url.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int url_decode(buf_t *out, const char *src, size_t len, int plus_is_space)
{
    size_t start = out->len;
    /* Decoding never grows the text, so one reservation covers it all. */
    buf_reserve(out, len);
    char *dst = out->data + out->len;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (len - i < 3) goto fail;
            int hi = hex_value(src[i + 1]);
            int lo = hex_value(src[i + 2]);
            if (hi < 0 || lo < 0) goto fail;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0') goto fail; /* raw or decoded: the result is used as a C string */
        *dst++ = c;
    }
    out->len = (size_t)(dst - out->data);
    out->data[out->len] = '\0';
    return 0;
fail:
    out->len = start;
    out->data[start] = '\0';
    return -1;
}

static char *decode_dup(const char *src, size_t len)
{
    buf_t b = BUF_INIT;
    if (url_decode(&b, src, len, 1) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

int url_query_parse(url_query_t *q, const char *src, size_t len, size_t max_params)
{
    q->items = NULL;
    q->len = 0;
    /* Count first so a hostile query is refused before anything is allocated for it. */
    size_t count = 0;
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(src + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - src) : len;
        if (end > i && ++count > max_params) return -1;
        i = end + 1;
    }
    if (count == 0) return 0;
    q->items = xcalloc(count, sizeof(*q->items));
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(src + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - src) : len;
        if (end > i) {
            const char *seg = src + i;
            size_t seg_len = end - i;
            const char *eq = memchr(seg, '=', seg_len);
            size_t name_len = eq ? (size_t)(eq - seg) : seg_len;
            url_param_t *p = &q->items[q->len++];
            p->name = decode_dup(seg, name_len);
            p->value = eq ? decode_dup(eq + 1, seg_len - name_len - 1) : xstrdup("");
            if (!p->name || !p->value) {
                url_query_free(q);
                return -1;
            }
        }
        i = end + 1;
    }
    return 0;
}

const char *url_query_get(const url_query_t *q, const char *name)
{
    for (size_t i = 0; i < q->len; i++) {
        if (strcmp(q->items[i].name, name) == 0) return q->items[i].value;
    }
    return NULL;
}

void url_query_free(url_query_t *q)
{
    for (size_t i = 0; i < q->len; i++) {
        free(q->items[i].name);
        free(q->items[i].value);
    }
    free(q->items);
    q->items = NULL;
    q->len = 0;
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Length of "scheme://authority" at the start of an absolute-form target, or 0 if it is not
   one (RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )). */
static size_t absolute_prefix(const char *t, size_t len)
{
    size_t i = 0;
    if (len == 0 || !is_alpha(t[0])) return 0;
    while (i < len && (is_alpha(t[i]) || (t[i] >= '0' && t[i] <= '9') || t[i] == '+' ||
                       t[i] == '-' || t[i] == '.'))
        i++;
    if (len - i < 3 || memcmp(t + i, "://", 3) != 0) return 0;
    i += 3;
    while (i < len && t[i] != '/' && t[i] != '?' && t[i] != '#')
        i++;
    return i;
}

int url_split_target(const char *target, size_t len, const char **path, size_t *path_len,
                     const char **query, size_t *query_len)
{
    *path = NULL;
    *path_len = 0;
    *query = NULL;
    *query_len = 0;
    if (len == 0) return -1;
    const char *t = target;
    size_t n = len;
    int empty_path = 0;
    if (t[0] != '/') {
        size_t skip = absolute_prefix(t, n);
        if (skip == 0) return -1; /* "*", authority-form, relative or garbage */
        t += skip;
        n -= skip;
        /* RFC 9112 3.3: an empty path in absolute-form means "/". */
        empty_path = n == 0 || t[0] != '/';
    }
    size_t p = 0;
    while (p < n && t[p] != '?' && t[p] != '#')
        p++;
    if (empty_path) {
        *path = "/";
        *path_len = 1;
    } else {
        *path = t;
        *path_len = p;
    }
    if (p < n && t[p] == '?') {
        size_t qs = p + 1, qe = qs;
        while (qe < n && t[qe] != '#')
            qe++;
        *query = t + qs;
        *query_len = qe - qs;
    }
    return 0;
}
