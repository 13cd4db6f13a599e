/* base64.h - standard base64 (RFC 4648 alphabet, with '=' padding).
 *
 * Engine.IO carries binary packets inside text long-polling payloads as "b" + base64. Decoding
 * is strict: only the standard alphabet, length a multiple of 4, padding only at the end and
 * unused trailing bits zero, so one byte string has exactly one accepted encoding. */
#ifndef IOGATE_BASE64_H
#define IOGATE_BASE64_H

#include <stddef.h>

#include "base/buf.h"

#define BASE64_EINVAL (-1)

/* Number of characters base64_encode_append writes for len input bytes. */
size_t base64_encoded_len(size_t len);
/* Appends the padded encoding of data[0..len) to out. */
void base64_encode_append(buf_t *out, const void *data, size_t len);
/* Checks in[0..len) is valid padded base64 without decoding it: 0 or BASE64_EINVAL. */
int base64_validate(const char *in, size_t len);
/* Appends the decoded bytes to out: 0, or BASE64_EINVAL (bad character, length or padding)
 * with out left as it was. */
int base64_decode_append(buf_t *out, const char *in, size_t len);

#endif
