/* msgpack.c - MessagePack writer and reader with notepack.io's choices (see msgpack.h). */
#include "base/msgpack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/errbuf.h"
#include "base/json_out.h"
#include "base/mem.h"
#include "base/utf8.h"

/* Integers up to 2^53 in magnitude are JavaScript numbers exactly; beyond, a double. */
#define EXACT_INT_MAX ((int64_t)1 << 53)
#define TWO_POW_32 4294967296.0
#define TWO_POW_64 18446744073709551616.0
/* The largest time value of a valid JavaScript Date, in milliseconds. */
#define DATE_MAX_MS 8.64e15
#define MS_PER_DAY 86400000

/* ---- Writer */

/* tag, then the low n bytes of v, big-endian. */
static void put_be(buf_t *out, uint8_t tag, uint64_t v, unsigned n)
{
    uint8_t b[9];
    b[0] = tag;
    for (unsigned i = 0; i < n; i++)
        b[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    buf_append(out, b, 1 + n);
}

void msgpack_write_nil(buf_t *out)
{
    buf_append_byte(out, 0xc0);
}

void msgpack_write_bool(buf_t *out, int v)
{
    buf_append_byte(out, v ? 0xc3 : 0xc2);
}

void msgpack_write_uint64(buf_t *out, uint64_t v)
{
    if (v < 0x80)
        buf_append_byte(out, (uint8_t)v);
    else if (v <= UINT8_MAX)
        put_be(out, 0xcc, v, 1);
    else if (v <= UINT16_MAX)
        put_be(out, 0xcd, v, 2);
    else if (v <= UINT32_MAX)
        put_be(out, 0xce, v, 4);
    else
        put_be(out, 0xcf, v, 8);
}

void msgpack_write_int64(buf_t *out, int64_t v)
{
    if (v >= 0)
        msgpack_write_uint64(out, (uint64_t)v);
    else if (v >= -32)
        buf_append_byte(out, (uint8_t)v);
    else if (v >= INT8_MIN)
        put_be(out, 0xd0, (uint64_t)v, 1);
    else if (v >= INT16_MIN)
        put_be(out, 0xd1, (uint64_t)v, 2);
    else if (v >= INT32_MIN)
        put_be(out, 0xd2, (uint64_t)v, 4);
    else
        put_be(out, 0xd3, (uint64_t)v, 8);
}

void msgpack_write_double(buf_t *out, double v)
{
    /* notepack.io splits integers into 32-bit halves, which wraps from 2^64 up and below
     * -2^63: those stay doubles here, which it reads back as the same number. */
    if (!isfinite(v) || floor(v) != v || v >= TWO_POW_64 || v < -TWO_POW_64 / 2) {
        uint64_t bits = UINT64_C(0x7ff8000000000000); /* the NaN JavaScript writes */
        if (!isnan(v)) memcpy(&bits, &v, sizeof bits);
        put_be(out, 0xcb, bits, 8);
    } else if (v >= 0) { /* -0 too: notepack tests v >= 0 */
        msgpack_write_uint64(out, (uint64_t)v);
    } else {
        msgpack_write_int64(out, (int64_t)v);
    }
}

/* A length header: fix | n when n < nfix, else the 8-, 16- or 32-bit form (tag[0] 0: there is
 * no 8-bit form). -1 when n does not fit 32 bits. */
static int write_head(buf_t *out, size_t n, uint8_t fix, size_t nfix, const uint8_t tag[3])
{
    if (n < nfix)
        buf_append_byte(out, (uint8_t)(fix | n));
    else if (tag[0] && n <= UINT8_MAX)
        put_be(out, tag[0], n, 1);
    else if (n <= UINT16_MAX)
        put_be(out, tag[1], n, 2);
    else if ((uint64_t)n <= UINT32_MAX)
        put_be(out, tag[2], n, 4);
    else
        return -1;
    return 0;
}

int msgpack_write_str(buf_t *out, const char *s, size_t len)
{
    static const uint8_t tag[3] = {0xd9, 0xda, 0xdb};
    if (write_head(out, len, 0xa0, 32, tag) < 0) return -1;
    buf_append(out, s, len);
    return 0;
}

int msgpack_write_bin(buf_t *out, const void *data, size_t len)
{
    static const uint8_t tag[3] = {0xc4, 0xc5, 0xc6};
    if (write_head(out, len, 0, 0, tag) < 0) return -1;
    buf_append(out, data, len);
    return 0;
}

int msgpack_write_array(buf_t *out, size_t n)
{
    static const uint8_t tag[3] = {0, 0xdc, 0xdd};
    return write_head(out, n, 0x90, 16, tag);
}

int msgpack_write_map(buf_t *out, size_t n)
{
    static const uint8_t tag[3] = {0, 0xde, 0xdf};
    return write_head(out, n, 0x80, 16, tag);
}

/* ---- JavaScript property order, for writing objects and numbering attachments */

/* A canonical array index ("0", "42", below 2^32 - 1) or -1. JavaScript lists an object's
 * array-index keys first, ascending, whatever the order they were added in. */
static int64_t array_index(const char *key, size_t len)
{
    if (len == 0 || len > 10 || (len > 1 && key[0] == '0')) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] < '0' || key[i] > '9') return -1;
        v = v * 10 + (key[i] - '0');
    }
    return v < UINT32_MAX ? v : -1;
}

typedef struct member {
    uint64_t rank; /* the index for array-index keys, 2^32 + position for the others */
    void *iter;
} member_t;

static int member_cmp(const void *a, const void *b)
{
    uint64_t x = ((const member_t *)a)->rank, y = ((const member_t *)b)->rank;
    return x < y ? -1 : x > y;
}

typedef int (*member_fn_t)(void *ctx, void *iter);

/* Calls fn for each member of obj in JavaScript property order; stops at its first non-zero
 * result and returns it. Objects without array-index keys (nearly all) need no sorting. */
static int each_member(json_t *obj, member_fn_t fn, void *ctx)
{
    size_t n = 0, nindex = 0;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it), n++)
        nindex += array_index(json_object_iter_key(it), json_object_iter_key_len(it)) >= 0;
    int rc = 0;
    if (nindex == 0) {
        for (void *it = json_object_iter(obj); it && rc == 0; it = json_object_iter_next(obj, it))
            rc = fn(ctx, it);
        return rc;
    }
    member_t *m = xmalloc(n * sizeof *m);
    size_t i = 0;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it), i++) {
        int64_t index = array_index(json_object_iter_key(it), json_object_iter_key_len(it));
        m[i].rank = index >= 0 ? (uint64_t)index : (UINT64_C(1) << 32) + i;
        m[i].iter = it;
    }
    qsort(m, n, sizeof *m, member_cmp);
    for (i = 0; i < n && rc == 0; i++)
        rc = fn(ctx, m[i].iter);
    free(m);
    return rc;
}

/* ---- jansson values as notepack.io writes the JavaScript value */

typedef struct writer {
    buf_t *out;
    const msgpack_bin_t *bins;
    size_t nbins;
    unsigned depth;
    char *err;
    size_t err_size;
} writer_t;

static int write_value(writer_t *w, const json_t *v);

static int write_member(void *ctx, void *iter)
{
    writer_t *w = ctx;
    size_t len = json_object_iter_key_len(iter);
    if (msgpack_write_str(w->out, json_object_iter_key(iter), len) < 0) {
        errbuf_set(w->err, w->err_size, "an object key of %zu bytes is too long", len);
        return -1;
    }
    return write_value(w, json_object_iter_value(iter));
}

/* socket.io-parser swaps the placeholder for attachment num when 0 <= num < count. */
static int write_placeholder(writer_t *w, const json_t *obj)
{
    json_t *num = json_object_get(obj, "num");
    double k = json_is_number(num) ? json_number_value(num) : -1;
    if (!(k >= 0 && k < (double)w->nbins && floor(k) == k)) {
        errbuf_set(w->err, w->err_size,
                   "a binary placeholder's num is not an attachment index below %zu", w->nbins);
        return -1;
    }
    const msgpack_bin_t *b = &w->bins[(size_t)k];
    if (msgpack_write_bin(w->out, b->data, b->len) < 0) {
        errbuf_set(w->err, w->err_size, "an attachment of %zu bytes is too long", b->len);
        return -1;
    }
    return 0;
}

static int write_container(writer_t *w, const json_t *v)
{
    if (w->depth == MSGPACK_MAX_DEPTH) {
        errbuf_set(w->err, w->err_size, "value nested deeper than %d levels", MSGPACK_MAX_DEPTH);
        return -1;
    }
    w->depth++;
    int rc = 0;
    if (json_is_object(v)) {
        msgpack_write_map(w->out, json_object_size(v));
        rc = each_member((json_t *)v, write_member, w);
    } else {
        size_t n = json_array_size(v);
        msgpack_write_array(w->out, n);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = write_value(w, json_array_get(v, i));
    }
    w->depth--;
    return rc;
}

static int write_value(writer_t *w, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (w->bins && json_is_true(json_object_get(v, "_placeholder")))
            return write_placeholder(w, v);
        return write_container(w, v);
    case JSON_ARRAY:
        return write_container(w, v);
    case JSON_STRING:
        if (msgpack_write_str(w->out, json_string_value(v), json_string_length(v)) < 0) {
            errbuf_set(w->err, w->err_size, "a string of %zu bytes is too long",
                       json_string_length(v));
            return -1;
        }
        return 0;
    case JSON_INTEGER: {
        int64_t i = json_integer_value(v);
        if (i >= -EXACT_INT_MAX && i <= EXACT_INT_MAX)
            msgpack_write_int64(w->out, i);
        else
            msgpack_write_double(w->out, (double)i); /* what JSON.parse makes of it */
        return 0;
    }
    case JSON_REAL:
        msgpack_write_double(w->out, json_real_value(v));
        return 0;
    case JSON_TRUE:
    case JSON_FALSE:
        msgpack_write_bool(w->out, json_is_true(v));
        return 0;
    case JSON_NULL:
        msgpack_write_nil(w->out);
        return 0;
    }
    return 0;
}

int msgpack_write_json(buf_t *out, const json_t *value, const msgpack_bin_t *bins, size_t nbins,
                       char *err, size_t err_size)
{
    writer_t w = {out, bins, nbins, 0, err, err_size};
    return write_value(&w, value);
}

/* ---- Reader */

void msgpack_bins_free(msgpack_bins_t *bins)
{
    free(bins->items);
    bins->items = NULL;
    bins->count = bins->cap = 0;
}

typedef struct reader {
    const uint8_t *start, *p, *end;
    unsigned depth;
    int want_bins;
    /* Binary values in input order and the placeholder made for each: attachments are
     * numbered once the whole tree is known (see number_bins). */
    msgpack_bin_t *bin;
    json_t **ph;
    size_t nbin, capbin;
    msgpack_bins_t *out_bins;
    char *err;
    size_t err_size;
} reader_t;

static size_t left(const reader_t *r)
{
    return (size_t)(r->end - r->p);
}

static size_t offset_of(const reader_t *r, const uint8_t *at)
{
    return (size_t)(at - r->start);
}

static int need(reader_t *r, size_t n)
{
    if (left(r) >= n) return 0;
    errbuf_set(r->err, r->err_size, "truncated: %zu more bytes needed at byte %zu, %zu left", n,
               offset_of(r, r->p), left(r));
    return -1;
}

static uint64_t take_be(reader_t *r, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | r->p[i];
    r->p += n;
    return v;
}

static int oom(reader_t *r)
{
    errbuf_set(r->err, r->err_size, "out of memory at byte %zu", offset_of(r, r->p));
    return -1;
}

static int give(reader_t *r, json_t *v, json_t **out)
{
    if (!v) return oom(r);
    *out = v;
    return 0;
}

/* The n-byte length that follows a str/bin/array/map/ext tag. */
static int take_len(reader_t *r, unsigned n, size_t *len)
{
    if (need(r, n) < 0) return -1;
    *len = (size_t)take_be(r, n);
    return 0;
}

/* A number as JavaScript reads it: d always; i too when exact (an integer within 2^53). */
typedef struct jsnum {
    double d;
    int64_t i;
    int exact;
} jsnum_t;

static int is_number_tag(uint8_t tag)
{
    return tag <= 0x7f || tag >= 0xe0 || (tag >= 0xca && tag <= 0xd3);
}

/* The number whose tag was just read. */
static int read_number(reader_t *r, uint8_t tag, jsnum_t *n)
{
    n->exact = 1;
    if (tag <= 0x7f || tag >= 0xe0) {
        n->i = (int8_t)tag;
    } else if (tag == 0xca || tag == 0xcb) {
        unsigned size = tag == 0xca ? 4 : 8;
        if (need(r, size) < 0) return -1;
        uint64_t bits = take_be(r, size);
        if (size == 4) {
            uint32_t b32 = (uint32_t)bits;
            float f;
            memcpy(&f, &b32, sizeof f);
            n->d = f;
        } else {
            memcpy(&n->d, &bits, sizeof n->d);
        }
        n->exact = 0;
        return 0;
    } else if (tag <= 0xcf) { /* uint 8/16/32/64 */
        unsigned size = 1u << (tag - 0xcc);
        if (need(r, size) < 0) return -1;
        uint64_t u = take_be(r, size);
        n->exact = u <= (uint64_t)EXACT_INT_MAX;
        n->i = n->exact ? (int64_t)u : 0;
        n->d = (double)u;
        return 0;
    } else { /* int 8/16/32/64 */
        unsigned size = 1u << (tag - 0xd0);
        if (need(r, size) < 0) return -1;
        uint64_t u = take_be(r, size);
        n->i = size == 1 ? (int8_t)u : size == 2 ? (int16_t)u : size == 4 ? (int32_t)u : (int64_t)u;
        n->exact = n->i >= -EXACT_INT_MAX && n->i <= EXACT_INT_MAX;
    }
    n->d = (double)n->i;
    return 0;
}

/* Appends s[0..n) with every ill-formed sequence replaced by U+FFFD, one for each maximal
 * subpart, which is what Node's Buffer.toString("utf8") does. */
static void append_utf8_lossy(buf_t *out, const uint8_t *s, size_t n)
{
    if (utf8_valid((const char *)s, n)) {
        buf_append(out, s, n);
        return;
    }
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i], lo = 0x80, hi = 0xbf;
        size_t more;
        if (c < 0x80) {
            buf_append_byte(out, c);
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlongs */
            hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing past U+10FFFF */
        } else {
            more = 0;
        }
        size_t j = 1;
        while (more && j <= more && i + j < n && s[i + j] >= lo && s[i + j] <= hi) {
            j++;
            lo = 0x80;
            hi = 0xbf;
        }
        if (more && j > more)
            buf_append(out, s + i, j);
        else
            buf_append(out, "\xef\xbf\xbd", 3);
        i += j;
    }
}

/* If tag starts a string, reads its length and checks the bytes are there: 1; else 0. */
static int str_len(reader_t *r, uint8_t tag, size_t *len)
{
    int rc;
    if (tag >= 0xa0 && tag <= 0xbf) {
        *len = tag & 0x1f;
        rc = 0;
    } else if (tag >= 0xd9 && tag <= 0xdb) {
        rc = take_len(r, 1u << (tag - 0xd9), len);
    } else {
        return 0;
    }
    if (rc == 0) rc = need(r, *len);
    return rc < 0 ? -1 : 1;
}

/* A Date of time value ms as JSON.stringify prints it: toISOString, or null when invalid. */
static json_t *date_json(double ms)
{
    if (!isfinite(ms) || fabs(ms) > DATE_MAX_MS) return json_null();
    int64_t t = (int64_t)ms; /* TimeClip truncates */
    int64_t days = t / MS_PER_DAY, in_day = t % MS_PER_DAY;
    if (in_day < 0) {
        in_day += MS_PER_DAY;
        days--;
    }
    /* Civil date from days since 1970-01-01 (proleptic Gregorian, H. Hinnant's method). */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int day = (int)(doy - (153 * mp + 2) / 5 + 1);
    int month = (int)(mp < 10 ? mp + 3 : mp - 9);
    long long year = yoe + era * 400 + (month <= 2);
    char text[40];
    int n = year >= 0 && year <= 9999 ? snprintf(text, sizeof text, "%04lld", year)
                                      : snprintf(text, sizeof text, "%+07lld", year);
    snprintf(text + n, sizeof text - (size_t)n, "-%02d-%02dT%02d:%02d:%02d.%03dZ", month, day,
             (int)(in_day / 3600000), (int)(in_day / 60000 % 60), (int)(in_day / 1000 % 60),
             (int)(in_day % 1000));
    return json_string(text);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The time value notepack.io gives the Date of a timestamp extension, computed in doubles with
 * its very operations so that rounding matches. */
static double timestamp_ms(const uint8_t *p, size_t len)
{
    if (len == 4) return (double)be32(p) * 1e3;
    if (len == 8) /* 30 bits of nanoseconds, 34 of seconds */
        return ((double)(be32(p) & 3) * TWO_POW_32 + (double)be32(p + 4)) * 1e3 +
               (double)(be32(p) >> 2) / 1e6;
    /* 32 bits of nanoseconds, 64 of signed seconds */
    return ((double)(int32_t)be32(p + 4) * TWO_POW_32 + (double)be32(p + 8)) * 1e3 +
           (double)be32(p) / 1e6;
}

static int read_bin(reader_t *r, const uint8_t *at, size_t len, json_t **out)
{
    if (need(r, len) < 0) return -1;
    if (!r->want_bins) {
        errbuf_set(r->err, r->err_size, "binary value at byte %zu where none is accepted",
                   offset_of(r, at));
        return -1;
    }
    json_t *ph = json_object();
    if (!ph || json_object_set_new(ph, "_placeholder", json_true()) < 0 ||
        json_object_set_new(ph, "num", json_integer((json_int_t)r->nbin)) < 0) {
        json_decref(ph);
        return oom(r);
    }
    if (r->nbin == r->capbin) {
        r->capbin = r->capbin ? r->capbin * 2 : 4;
        r->bin = xrealloc(r->bin, r->capbin * sizeof *r->bin);
        r->ph = xrealloc(r->ph, r->capbin * sizeof *r->ph);
    }
    r->bin[r->nbin] = (msgpack_bin_t){r->p, len};
    r->ph[r->nbin++] = ph;
    r->p += len;
    *out = ph;
    return 0;
}

/* An extension of len bytes whose type byte is next; tag says which form carried it. *out
 * stays NULL for undefined. */
static int read_ext(reader_t *r, const uint8_t *at, uint8_t tag, size_t len, json_t **out)
{
    if (need(r, 1 + len) < 0) return -1;
    int8_t type = (int8_t)*r->p++;
    int fixed = tag >= 0xd4;
    if (type == 0 && !fixed) return read_bin(r, at, len, out); /* notepack's old ArrayBuffer */
    const uint8_t *p = r->p;
    if (type == 0 && tag == 0xd4) { /* notepack's old undefined */
        r->p += len;
        return 0;
    }
    if (type == 0 && tag == 0xd7) { /* notepack's old Date: int64 milliseconds */
        r->p += len;
        return give(r, date_json((double)(int32_t)be32(p) * TWO_POW_32 + (double)be32(p + 4)), out);
    }
    if (type == -1 && (tag == 0xd6 || tag == 0xd7 || (tag == 0xc7 && len == 12))) {
        r->p += len;
        return give(r, date_json(timestamp_ms(p, len)), out);
    }
    errbuf_set(r->err, r->err_size, "unsupported extension type %d of %zu bytes at byte %zu", type,
               len, offset_of(r, at));
    return -1;
}

static int read_value(reader_t *r, json_t **out);

static int enter(reader_t *r, const uint8_t *at)
{
    if (r->depth < MSGPACK_MAX_DEPTH) {
        r->depth++;
        return 0;
    }
    errbuf_set(r->err, r->err_size, "nesting deeper than %d levels at byte %zu", MSGPACK_MAX_DEPTH,
               offset_of(r, at));
    return -1;
}

static int read_array(reader_t *r, const uint8_t *at, size_t n, json_t **out)
{
    if (n > left(r)) { /* every element takes a byte at least */
        errbuf_set(r->err, r->err_size, "array of %zu elements at byte %zu: only %zu bytes left", n,
                   offset_of(r, at), left(r));
        return -1;
    }
    if (enter(r, at) < 0) return -1;
    json_t *arr = json_array();
    int rc = arr ? 0 : oom(r);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *v = NULL;
        rc = read_value(r, &v);
        if (rc == 0 && !v) rc = give(r, json_null(), &v); /* undefined */
        if (rc == 0 && json_array_append_new(arr, v) < 0) rc = oom(r);
    }
    r->depth--;
    if (rc) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

/* A map key as the JavaScript property key it becomes. */
static int read_key(reader_t *r, buf_t *key)
{
    if (need(r, 1) < 0) return -1;
    const uint8_t *at = r->p;
    uint8_t tag = *r->p++;
    size_t len;
    int is_str = str_len(r, tag, &len);
    if (is_str < 0) return -1;
    if (is_str) {
        append_utf8_lossy(key, r->p, len);
        r->p += len;
    } else if (is_number_tag(tag)) {
        jsnum_t n;
        if (read_number(r, tag, &n) < 0) return -1;
        if (isnan(n.d))
            buf_append_str(key, "NaN");
        else if (isinf(n.d))
            buf_append_str(key, n.d < 0 ? "-Infinity" : "Infinity");
        else
            json_out_append_real(key, n.d); /* Number.prototype.toString */
    } else if (tag == 0xc0 || tag == 0xc2 || tag == 0xc3) {
        buf_append_str(key, tag == 0xc0 ? "null" : tag == 0xc2 ? "false" : "true");
    } else {
        errbuf_set(r->err, r->err_size,
                   "map key at byte %zu is not a string, number, boolean or nil (0x%02x)",
                   offset_of(r, at), tag);
        return -1;
    }
    buf_reserve(key, 0); /* data is never NULL, even for "" */
    return 0;
}

static int read_map(reader_t *r, const uint8_t *at, size_t n, json_t **out)
{
    if (n > left(r) / 2) { /* every entry takes two bytes at least */
        errbuf_set(r->err, r->err_size, "map of %zu entries at byte %zu: only %zu bytes left", n,
                   offset_of(r, at), left(r));
        return -1;
    }
    if (enter(r, at) < 0) return -1;
    json_t *obj = json_object();
    int rc = obj ? 0 : oom(r);
    buf_t key = BUF_INIT;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *v = NULL;
        buf_reset(&key);
        rc = read_key(r, &key);
        if (rc == 0) rc = read_value(r, &v);
        if (rc) break;
        if (key.len == 9 && memcmp(key.data, "__proto__", 9) == 0)
            json_decref(v); /* sets the prototype in JavaScript: no own property */
        else if (!v)
            json_object_deln(obj, key.data, key.len); /* undefined: JSON.stringify skips it */
        else if (json_object_setn_new_nocheck(obj, key.data, key.len, v) < 0)
            rc = oom(r);
    }
    buf_free(&key);
    r->depth--;
    if (rc) {
        json_decref(obj);
        return -1;
    }
    *out = obj;
    return 0;
}

static int read_value(reader_t *r, json_t **out)
{
    *out = NULL;
    if (need(r, 1) < 0) return -1;
    const uint8_t *at = r->p;
    uint8_t tag = *r->p++;
    size_t len;
    if (is_number_tag(tag)) {
        jsnum_t n;
        if (read_number(r, tag, &n) < 0) return -1;
        if (n.exact) return give(r, json_integer(n.i), out);
        return give(r, isfinite(n.d) ? json_real(n.d) : json_null(), out);
    }
    int is_str = str_len(r, tag, &len);
    if (is_str < 0) return -1;
    if (is_str) {
        json_t *s;
        if (utf8_valid((const char *)r->p, len)) {
            s = json_stringn_nocheck((const char *)r->p, len);
        } else {
            buf_t fixed = BUF_INIT;
            append_utf8_lossy(&fixed, r->p, len);
            s = json_stringn_nocheck(fixed.data, fixed.len);
            buf_free(&fixed);
        }
        r->p += len;
        return give(r, s, out);
    }
    if (tag >= 0x80 && tag <= 0x8f) return read_map(r, at, tag & 0x0f, out);
    if (tag >= 0x90 && tag <= 0x9f) return read_array(r, at, tag & 0x0f, out);
    switch (tag) {
    case 0xc0:
        return give(r, json_null(), out);
    case 0xc2:
    case 0xc3:
        return give(r, json_boolean(tag == 0xc3), out);
    case 0xc4:
    case 0xc5:
    case 0xc6:
        if (take_len(r, 1u << (tag - 0xc4), &len) < 0) return -1;
        return read_bin(r, at, len, out);
    case 0xc7:
    case 0xc8:
    case 0xc9:
        if (take_len(r, 1u << (tag - 0xc7), &len) < 0) return -1;
        return read_ext(r, at, tag, len, out);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return read_ext(r, at, tag, (size_t)1 << (tag - 0xd4), out);
    case 0xdc:
    case 0xdd:
        if (take_len(r, tag == 0xdc ? 2 : 4, &len) < 0) return -1;
        return read_array(r, at, len, out);
    case 0xde:
    case 0xdf:
        if (take_len(r, tag == 0xde ? 2 : 4, &len) < 0) return -1;
        return read_map(r, at, len, out);
    default: /* 0xc1, the one byte the format never uses */
        errbuf_set(r->err, r->err_size, "reserved byte 0x%02x at byte %zu", tag, offset_of(r, at));
        return -1;
    }
}

static int number_bins_in(reader_t *r, json_t *v);

static int number_member(void *ctx, void *iter)
{
    return number_bins_in(ctx, json_object_iter_value(iter));
}

/* Numbers the placeholders made while reading as socket.io-parser numbers attachments (depth
 * first, members in JavaScript property order) and collects their bytes in that order. A
 * binary value no longer in the tree (under a repeated key or "__proto__") is left out. */
static int number_bins_in(reader_t *r, json_t *v)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            number_bins_in(r, json_array_get(v, i));
    } else if (json_is_object(v)) {
        json_t *num = json_object_get(v, "num");
        json_int_t k = json_is_integer(num) ? json_integer_value(num) : -1;
        if (k >= 0 && (size_t)k < r->nbin && r->ph[k] == v) {
            msgpack_bins_t *b = r->out_bins;
            if (b->count == b->cap) {
                b->cap = b->cap ? b->cap * 2 : 4;
                b->items = xrealloc(b->items, b->cap * sizeof *b->items);
            }
            b->items[b->count] = r->bin[k];
            json_integer_set(num, (json_int_t)b->count++);
            r->ph[k] = NULL;
            return 0;
        }
        each_member(v, number_member, r);
    }
    return 0;
}

int msgpack_decode(const void *data, size_t len, json_t **out, msgpack_bins_t *bins, char *err,
                   size_t err_size)
{
    *out = NULL;
    if (bins) bins->count = 0;
    if (len == 0) {
        errbuf_set(err, err_size, "empty input");
        return -1;
    }
    reader_t r = {0};
    r.start = r.p = data;
    r.end = r.start + len;
    r.want_bins = bins != NULL;
    r.out_bins = bins;
    r.err = err;
    r.err_size = err_size;
    json_t *v = NULL;
    int rc = read_value(&r, &v);
    if (rc == 0 && r.p != r.end) {
        errbuf_set(err, err_size, "%zu bytes after the value, from byte %zu", left(&r),
                   offset_of(&r, r.p));
        rc = -1;
    }
    if (rc == 0 && !v) rc = give(&r, json_null(), &v); /* a lone undefined */
    if (rc == 0 && r.nbin) number_bins_in(&r, v);
    free(r.bin);
    free(r.ph);
    if (rc) {
        json_decref(v);
        if (bins) bins->count = 0;
        return -1;
    }
    *out = v;
    return 0;
}
