/* base64.h - base64 (RFC 4648): the standard alphabet with '=' padding, and the URL alphabet
 * without padding (base64url, as JWS uses it). The one codec of the server: Engine.IO's
 * binary packets in text payloads, the WebSocket handshake's keys, and JWTs.
 *
 * Decoding is strict: only the variant's alphabet, a length the variant allows, padding only
 * at the end (standard) or none at all (URL), and unused trailing bits zero, so one byte
 * string has exactly one accepted encoding. */
#ifndef IOGATE_BASE64_H
#define IOGATE_BASE64_H

#include <stddef.h>

#include "base/buf.h"

#define BASE64_EINVAL (-1)

/* Number of characters base64_encode writes for len input bytes (standard, padded). */
size_t base64_encoded_len(size_t len);
/* Writes the padded encoding of data[0..len) and a NUL to out, which holds at least
 * base64_encoded_len(len) + 1 bytes. */
void base64_encode(char *out, const void *data, size_t len);
/* Appends the padded encoding of data[0..len) to out. */
void base64_encode_append(buf_t *out, const void *data, size_t len);
/* Checks in[0..len) is valid padded base64 without decoding it: 0 or BASE64_EINVAL. */
int base64_validate(const char *in, size_t len);
/* Appends the decoded bytes to out: 0, or BASE64_EINVAL (bad character, length or padding)
 * with out left as it was. */
int base64_decode_append(buf_t *out, const char *in, size_t len);

/* Appends the unpadded base64url encoding of data[0..len) (RFC 4648 section 5). */
void base64url_encode_append(buf_t *out, const void *data, size_t len);
/* 1 when c belongs to the base64url alphabet. */
int base64url_is_char(unsigned char c);
/* base64_decode_append for unpadded base64url (RFC 7515 section 2). */
int base64url_decode_append(buf_t *out, const char *in, size_t len);

#endif
