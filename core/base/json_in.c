/* json_in.c - JSON.parse-compatible reading (see json_in.h). */
#include "base/json_in.h"

#include <string.h>

#include "base/buf.h"

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16;
        if (d == 16) return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/* JavaScript strings may hold lone surrogates ("\ud800"), which JSON.stringify writes
 * as escapes and UTF-8 (so jansson) cannot hold. Rewrites each lone surrogate escape
 * as \ufffd, the replacement character, so such a packet is delivered instead of
 * dropping the client. Returns 1 when something was replaced. */
static int replace_lone_surrogates(const char *text, size_t len, buf_t *out)
{
    const char *p = text, *end = text + len;
    int in_string = 0, replaced = 0;
    while (p < end) {
        char c = *p;
        if (!in_string) {
            if (c == '"') in_string = 1;
            buf_append_byte(out, (uint8_t)c);
            p++;
            continue;
        }
        if (c == '"') {
            in_string = 0;
        } else if (c == '\\' && p + 1 < end && p[1] == 'u') {
            unsigned hi, lo;
            if (hex4(p + 2, end, &hi) == 0 && hi >= 0xD800 && hi <= 0xDFFF) {
                if (hi <= 0xDBFF && end - p >= 12 && p[6] == '\\' && p[7] == 'u' &&
                    hex4(p + 8, end, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                    buf_append(out, p, 12); /* a proper pair */
                    p += 12;
                    continue;
                }
                buf_append_str(out, "\\ufffd");
                replaced = 1;
                p += 6;
                continue;
            }
        } else if (c == '\\' && p + 1 < end) {
            buf_append(out, p, 2);
            p += 2;
            continue;
        }
        buf_append_byte(out, (uint8_t)c);
        p++;
    }
    return replaced;
}

json_t *json_parse_js(const char *text, size_t len)
{
    json_error_t err;
    const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *v = json_loadb(text, len, flags, &err);
    if (!v && json_error_code(&err) == json_error_numeric_overflow)
        v = json_loadb(text, len, flags | JSON_DECODE_INT_AS_REAL, &err);
    if (!v && memchr(text, '\\', len)) {
        buf_t fixed = BUF_INIT;
        if (replace_lone_surrogates(text, len, &fixed)) {
            v = json_loadb(fixed.data, fixed.len, flags, &err);
            if (!v && json_error_code(&err) == json_error_numeric_overflow)
                v = json_loadb(fixed.data, fixed.len, flags | JSON_DECODE_INT_AS_REAL, &err);
        }
        buf_free(&fixed);
    }
    return v;
}
