/* json_out.c - JSON.stringify-compatible serialization of jansson values. */
#include "base/json_out.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

void json_out_append_string(buf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    buf_reserve(out, len + 2);
    buf_append_byte(out, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        buf_append(out, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        buf_append(out, esc, n);
    }
    buf_append(out, s + run, len - run);
    buf_append_byte(out, '"');
}

void json_out_append_real(buf_t *out, double v)
{
    if (!isfinite(v)) {
        buf_append_str(out, "null");
        return;
    }
    if (v == 0) { /* also -0, which JavaScript prints as "0" */
        buf_append_byte(out, '0');
        return;
    }
    /* Shortest precision that reads back exactly; %e rounds correctly, so at that precision it
     * is also the closest such decimal, which is the digit string JavaScript picks. */
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* tmp is "[-]d[.ddd]e[+-]xx": collect the significant digits and the decimal exponent. */
    const char *p = tmp;
    if (*p == '-') {
        buf_append_byte(out, '-');
        p++;
    }
    char digits[20];
    int k = 0;
    for (; *p != 'e'; p++)
        if (*p != '.') digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    int n = atoi(p + 1) + 1; /* value = 0.digits * 10^n */

    if (k <= n && n <= 21) { /* integer: digits then zeros */
        buf_append(out, digits, (size_t)k);
        for (int i = k; i < n; i++)
            buf_append_byte(out, '0');
    } else if (0 < n && n <= 21) { /* point inside the digits */
        buf_append(out, digits, (size_t)n);
        buf_append_byte(out, '.');
        buf_append(out, digits + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) { /* small: leading zeros after the point */
        buf_append(out, "0.", 2);
        for (int i = 0; i < -n; i++)
            buf_append_byte(out, '0');
        buf_append(out, digits, (size_t)k);
    } else {
        buf_append_byte(out, digits[0]);
        if (k > 1) {
            buf_append_byte(out, '.');
            buf_append(out, digits + 1, (size_t)(k - 1));
        }
        buf_printf(out, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
}

/* If key is a canonical array index ("0", "17", no sign or leading zero, below 2^32 - 1),
 * stores it in *index and returns 1: JavaScript lists such keys first, in numeric order. */
static int array_index_key(const char *key, size_t len, uint32_t *index)
{
    if (len == 0 || len > 10 || (len > 1 && key[0] == '0')) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] < '0' || key[i] > '9') return 0;
        v = v * 10 + (uint64_t)(key[i] - '0');
    }
    if (v >= UINT32_MAX) return 0;
    *index = (uint32_t)v;
    return 1;
}

typedef struct index_key {
    uint32_t index;
    void *iter;
} index_key_t;

static int index_key_cmp(const void *a, const void *b)
{
    uint32_t x = ((const index_key_t *)a)->index, y = ((const index_key_t *)b)->index;
    return x < y ? -1 : x > y;
}

typedef struct out_ctx {
    buf_t *out;
    json_out_hook_t hook;
    void *user;
} out_ctx_t;

static int append_value(out_ctx_t *c, const json_t *value);

static int append_member(out_ctx_t *c, void *iter, int *first)
{
    if (!*first) buf_append_byte(c->out, ',');
    *first = 0;
    json_out_append_string(c->out, json_object_iter_key(iter), json_object_iter_key_len(iter));
    buf_append_byte(c->out, ':');
    return append_value(c, json_object_iter_value(iter));
}

static int append_object(out_ctx_t *c, const json_t *obj)
{
    /* jansson's iterators take a non-const object but do not modify it. */
    json_t *o = (json_t *)obj;
    index_key_t *idx = NULL;
    size_t nidx = 0, cap = 0;
    uint32_t index;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        if (!array_index_key(json_object_iter_key(it), json_object_iter_key_len(it), &index))
            continue;
        if (nidx == cap) {
            cap = cap ? cap * 2 : 8;
            idx = xrealloc(idx, cap * sizeof *idx);
        }
        idx[nidx++] = (index_key_t){index, it};
    }
    buf_append_byte(c->out, '{');
    int first = 1, rc = 0;
    if (nidx > 1) qsort(idx, nidx, sizeof *idx, index_key_cmp);
    for (size_t i = 0; i < nidx && rc == 0; i++)
        rc = append_member(c, idx[i].iter, &first);
    for (void *it = json_object_iter(o); it && rc == 0; it = json_object_iter_next(o, it)) {
        if (nidx && array_index_key(json_object_iter_key(it), json_object_iter_key_len(it), &index))
            continue;
        rc = append_member(c, it, &first);
    }
    buf_append_byte(c->out, '}');
    free(idx);
    return rc;
}

static int append_value(out_ctx_t *c, const json_t *value)
{
    if (c->hook) {
        int rc = c->hook(c->user, c->out, value);
        if (rc) return rc < 0 ? rc : 0;
    }
    buf_t *out = c->out;
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return append_object(c, value);
    case JSON_ARRAY: {
        buf_append_byte(out, '[');
        size_t n = json_array_size(value);
        for (size_t i = 0; i < n; i++) {
            if (i) buf_append_byte(out, ',');
            int rc = append_value(c, json_array_get(value, i));
            if (rc) return rc;
        }
        buf_append_byte(out, ']');
        break;
    }
    case JSON_STRING:
        json_out_append_string(out, json_string_value(value), json_string_length(value));
        break;
    case JSON_INTEGER:
        buf_printf(out, "%" PRId64, (int64_t)json_integer_value(value));
        break;
    case JSON_REAL:
        json_out_append_real(out, json_real_value(value));
        break;
    case JSON_TRUE:
        buf_append(out, "true", 4);
        break;
    case JSON_FALSE:
        buf_append(out, "false", 5);
        break;
    case JSON_NULL:
        buf_append(out, "null", 4);
        break;
    }
    return 0;
}

int json_out_append_hook(buf_t *out, const json_t *value, json_out_hook_t hook, void *user)
{
    out_ctx_t c = {out, hook, user};
    return append_value(&c, value);
}

void json_out_append(buf_t *out, const json_t *value)
{
    out_ctx_t c = {out, NULL, NULL};
    append_value(&c, value);
}
