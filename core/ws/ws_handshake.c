/* ws_handshake.c - Sec-WebSocket-Accept and header token matching; see ws_handshake.h. */
#include "ws/ws_handshake.h"

#include <string.h>

#include <openssl/sha.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (int)(p - b64_alphabet) : -1;
}

/* 16 bytes encode to 22 symbols and "==". The last symbol carries 2 data bits and 4 padding
   bits, which must be zero for the encoding to be canonical. */
static int key_is_valid(const char *key, size_t len)
{
    if (len != 24 || key[22] != '=' || key[23] != '=') return 0;
    for (size_t i = 0; i < 22; i++)
        if (b64_value(key[i]) < 0) return 0;
    return (b64_value(key[21]) & 0x0f) == 0;
}

static void b64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *out++ = b64_alphabet[(v >> 18) & 63];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
        *out++ = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        *out++ = b64_alphabet[(v >> 18) & 63];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        *out++ = b64_alphabet[(v >> 18) & 63];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = '\0';
}

int ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1])
{
    while (key_len > 0 && is_ows(key[0])) {
        key++;
        key_len--;
    }
    while (key_len > 0 && is_ows(key[key_len - 1]))
        key_len--;
    if (!key_is_valid(key, key_len)) return -1;

    unsigned char input[24 + sizeof(ws_guid) - 1];
    memcpy(input, key, 24);
    memcpy(input + 24, ws_guid, sizeof(ws_guid) - 1);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(input, sizeof(input), digest);
    b64_encode(digest, sizeof(digest), out);
    return 0;
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int ws_header_has_token(const char *value, size_t len, const char *token)
{
    size_t tlen = strlen(token);
    size_t i = 0;

    while (i <= len) {
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (start < end && is_ows(value[start]))
            start++;
        while (end > start && is_ows(value[end - 1]))
            end--;
        if (end - start == tlen && tlen > 0) {
            size_t k = 0;
            while (k < tlen && ascii_lower((unsigned char)value[start + k]) ==
                                   ascii_lower((unsigned char)token[k]))
                k++;
            if (k == tlen) return 1;
        }
        i++; /* past the comma (or the end) */
    }
    return 0;
}
