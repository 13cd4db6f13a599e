/* base64.c - strict standard base64 encoding and decoding. */
#include "base/base64.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of a character of the standard (url = 0) or URL alphabet, or -1. */
static int b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

int base64url_is_char(unsigned char c)
{
    return b64_value(c, 1) >= 0;
}

size_t base64_encoded_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

void base64_encode(char *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    char *w = out;
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
    *w = '\0';
}

void base64_encode_append(buf_t *out, const void *data, size_t len)
{
    size_t n = base64_encoded_len(len);
    buf_reserve(out, n); /* and room for the NUL, which a buf_t always keeps */
    base64_encode(out->data + out->len, data, len);
    out->len += n;
}

void base64url_encode_append(buf_t *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    buf_reserve(out, base64_encoded_len(len));
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8 | p[i]) & 0xFFFF;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out->data[out->len++] = url_alphabet[(acc >> bits) & 63];
        }
    }
    if (bits) out->data[out->len++] = url_alphabet[(acc << (6 - bits)) & 63];
    out->data[out->len] = '\0';
}

/* Decodes into dst when it is not NULL; returns the byte count or BASE64_EINVAL. One routine
 * serves both variants, validation and decoding, so they can never disagree. The standard
 * variant is padded to a multiple of 4; the URL one is unpadded, so its last group has 2 or
 * 3 characters (never 1). */
static long long b64_decode(const char *in, size_t len, unsigned char *dst, int url)
{
    size_t chars = len;
    if (!url) {
        if (len % 4 != 0) return BASE64_EINVAL;
        if (len && in[len - 1] == '=') chars -= in[len - 2] == '=' ? 2 : 1;
    } else if (len % 4 == 1) {
        return BASE64_EINVAL;
    }
    if (chars % 4 == 1) return BASE64_EINVAL;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < chars; i++) {
        int v = b64_value((unsigned char)in[i], url);
        if (v < 0) return BASE64_EINVAL;
        acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (dst) dst[n] = (unsigned char)(acc >> bits);
            n++;
        }
    }
    /* Unused bits of the last character must be zero (canonical encoding). */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return BASE64_EINVAL;
    return (long long)n;
}

int base64_validate(const char *in, size_t len)
{
    return b64_decode(in, len, NULL, 0) < 0 ? BASE64_EINVAL : 0;
}

/* Appends what in[0..len) decodes to in the variant, or leaves out as it was. */
static int decode_append(buf_t *out, const char *in, size_t len, int url)
{
    buf_reserve(out, len / 4 * 3 + 2);
    long long n = b64_decode(in, len, (unsigned char *)out->data + out->len, url);
    if (n < 0) {
        out->data[out->len] = '\0'; /* may have been overwritten by partial output */
        return BASE64_EINVAL;
    }
    out->len += (size_t)n;
    out->data[out->len] = '\0';
    return 0;
}

int base64_decode_append(buf_t *out, const char *in, size_t len)
{
    return decode_append(out, in, len, 0);
}

int base64url_decode_append(buf_t *out, const char *in, size_t len)
{
    return decode_append(out, in, len, 1);
}
