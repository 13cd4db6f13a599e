/* base64.c - strict standard base64 encoding and decoding. */
#include "base/base64.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 character, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

size_t base64_encoded_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

void base64_encode_append(buf_t *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    buf_reserve(out, base64_encoded_len(len));
    char *w = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *w++ = alphabet[v >> 18];
        *w++ = alphabet[(v >> 12) & 63];
        *w++ = alphabet[(v >> 6) & 63];
        *w++ = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *w++ = alphabet[v >> 18];
        *w++ = alphabet[(v >> 12) & 63];
        *w++ = '=';
        *w++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *w++ = alphabet[v >> 18];
        *w++ = alphabet[(v >> 12) & 63];
        *w++ = alphabet[(v >> 6) & 63];
        *w++ = '=';
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
}

/* Decodes into dst when it is not NULL; returns the byte count or BASE64_EINVAL. One routine
 * serves both validation and decoding so the two can never disagree. */
static long long b64_decode(const char *in, size_t len, unsigned char *dst)
{
    if (len % 4 != 0) return BASE64_EINVAL;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        const unsigned char *q = (const unsigned char *)in + i;
        int last = i + 4 == len;
        int pad = 0;
        if (last && q[3] == '=') pad = q[2] == '=' ? 2 : 1;
        int v[4] = {0, 0, 0, 0};
        for (int k = 0; k < 4 - pad; k++) {
            v[k] = b64_value(q[k]);
            if (v[k] < 0) return BASE64_EINVAL;
        }
        /* Unused bits of the last character must be zero (canonical encoding). */
        if (pad == 2 && (v[1] & 15)) return BASE64_EINVAL;
        if (pad == 1 && (v[2] & 3)) return BASE64_EINVAL;
        uint32_t word = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        unsigned char bytes[3] = {(unsigned char)(word >> 16), (unsigned char)(word >> 8),
                                  (unsigned char)word};
        for (int k = 0; k < 3 - pad; k++) {
            if (dst) dst[n] = bytes[k];
            n++;
        }
    }
    return (long long)n;
}

int base64_validate(const char *in, size_t len)
{
    return b64_decode(in, len, NULL) < 0 ? BASE64_EINVAL : 0;
}

int base64_decode_append(buf_t *out, const char *in, size_t len)
{
    buf_reserve(out, len / 4 * 3);
    long long n = b64_decode(in, len, (unsigned char *)out->data + out->len);
    if (n < 0) {
        out->data[out->len] = '\0'; /* may have been overwritten by partial output */
        return BASE64_EINVAL;
    }
    out->len += (size_t)n;
    out->data[out->len] = '\0';
    return 0;
}
