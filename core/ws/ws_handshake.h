/* ws_handshake.h - pieces of the RFC 6455 opening handshake (section 4.2).
 *
 * Owns the computations the HTTP layer needs to accept an upgrade: the Sec-WebSocket-Accept
 * value and token matching in comma-separated header values. It never sees a request or a
 * socket; deciding whether to upgrade stays with the caller. No allocation, no logging. */
#ifndef IOGATE_WS_HANDSHAKE_H
#define IOGATE_WS_HANDSHAKE_H

#include <stddef.h>

/* Length of a Sec-WebSocket-Accept value (base64 of a SHA-1 digest), without the NUL. */
#define WS_ACCEPT_LEN 28

/* Computes Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA1(key + GUID)). Leading
   and trailing spaces/tabs around the key are ignored. Writes 28 characters and a NUL into
   out. Returns 0, or -1 (out untouched) if the key is not the canonical base64 encoding of
   16 bytes. */
int ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);

/* Returns 1 if the comma-separated header value (for example "keep-alive, Upgrade") holds
   token as one of its elements, compared case-insensitively with surrounding spaces and tabs
   ignored; else 0. */
int ws_header_has_token(const char *value, size_t len, const char *token);

#endif
