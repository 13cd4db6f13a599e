/* cookie.c - Cookie header lookup; see cookie.h for the parsing rules it mirrors. */
#include "auth/cookie.h"

#include <stdint.h>
#include <string.h>

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the escape "%XX" at s[i]; returns the byte or -1. */
static int escape_at(const char *s, size_t n, size_t i)
{
    if (i + 2 >= n || s[i] != '%') return -1;
    int hi = hex_value((unsigned char)s[i + 1]);
    int lo = hex_value((unsigned char)s[i + 2]);
    if (hi < 0 || lo < 0) return -1;
    return hi << 4 | lo;
}

/* decodeURIComponent: every %XX is decoded, and escapes of bytes >= 0x80 must group into one
 * well-formed UTF-8 sequence (no overlongs, surrogates or code points past U+10FFFF). Returns 0
 * and appends the result to out, or -1 (out untouched) where JavaScript would throw. */
static int percent_decode(const char *s, size_t n, buf_t *out)
{
    buf_t tmp = BUF_INIT;
    size_t i = 0;
    while (i < n) {
        if (s[i] != '%') {
            buf_append_byte(&tmp, (uint8_t)s[i]);
            i++;
            continue;
        }
        int b = escape_at(s, n, i);
        if (b < 0) goto fail;
        i += 3;
        if (b < 0x80) {
            buf_append_byte(&tmp, (uint8_t)b);
            continue;
        }
        size_t extra;
        uint32_t cp, min;
        if ((b & 0xE0) == 0xC0) {
            extra = 1, cp = b & 0x1F, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            extra = 2, cp = b & 0x0F, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            extra = 3, cp = b & 0x07, min = 0x10000;
        } else {
            goto fail; /* a continuation byte or 0xF8..0xFF cannot start a sequence */
        }
        uint8_t seq[4] = {(uint8_t)b};
        for (size_t k = 1; k <= extra; k++) {
            int c = escape_at(s, n, i);
            if (c < 0 || (c & 0xC0) != 0x80) goto fail;
            seq[k] = (uint8_t)c;
            cp = cp << 6 | (uint32_t)(c & 0x3F);
            i += 3;
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto fail;
        buf_append(&tmp, seq, extra + 1);
    }
    buf_append(out, tmp.data, tmp.len);
    buf_free(&tmp);
    return 0;
fail:
    buf_free(&tmp);
    return -1;
}

int cookie_get(const char *header, size_t len, const char *name, int decode_percent, buf_t *out)
{
    if (!header || !name) return 0;
    size_t name_len = strlen(name);
    if (name_len == 0) return 0;

    size_t pos = 0;
    while (pos < len) {
        const char *semi = memchr(header + pos, ';', len - pos);
        size_t end = semi ? (size_t)(semi - header) : len;
        const char *eq = memchr(header + pos, '=', end - pos);
        if (eq) {
            size_t ks = pos, ke = (size_t)(eq - header);
            while (ks < ke && is_ows(header[ks]))
                ks++;
            while (ke > ks && is_ows(header[ke - 1]))
                ke--;
            if (ke - ks == name_len && memcmp(header + ks, name, name_len) == 0) {
                size_t vs = (size_t)(eq - header) + 1, ve = end;
                while (vs < ve && is_ows(header[vs]))
                    vs++;
                while (ve > vs && is_ows(header[ve - 1]))
                    ve--;
                if (ve > vs && header[vs] == '"' && header[ve - 1] == '"') {
                    /* A lone '"' reads as an empty value, as in npm cookie. */
                    vs++;
                    ve = ve - 1 > vs ? ve - 1 : vs;
                }
                const char *v = header + vs;
                size_t vlen = ve - vs;
                int decoded = 0;
                if (decode_percent && memchr(v, '%', vlen))
                    decoded = percent_decode(v, vlen, out) == 0;
                if (!decoded) buf_append(out, v, vlen);
                return 1;
            }
        }
        pos = end + 1;
    }
    return 0;
}
