/* ws_handshake.c - Sec-WebSocket-Accept and header token matching; see ws_handshake.h. */
#include "ws/ws_handshake.h"

#include <string.h>

#include <openssl/sha.h>

#include "base/base64.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* 16 bytes encode to 22 symbols and "=="; the strict decoder also checks that the last
   symbol's 4 padding bits are zero, so the encoding is canonical. */
static int key_is_valid(const char *key, size_t len)
{
    return len == 24 && key[22] == '=' && key[23] == '=' && base64_validate(key, len) == 0;
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
    base64_encode(out, digest, sizeof(digest));
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
