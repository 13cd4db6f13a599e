/* eio_packet.c - Engine.IO v4 packet and polling payload codec. */
#include "eio/eio_packet.h"

#include <string.h>

#include "base/base64.h"

#define EIO_SEPARATOR '\x1e'

int eio_packet_decode_text(const char *frame, size_t len, eio_packet_t *out)
{
    if (len == 0) return EIO_EEMPTY;
    if (frame[0] == 'b') return EIO_EBINTEXT;
    if (frame[0] < '0' || frame[0] > '6') return EIO_ETYPE;
    out->type = (eio_type_t)(frame[0] - '0');
    out->binary = 0;
    out->data = frame + 1;
    out->len = len - 1;
    return 0;
}

int eio_packet_decode_ws_text(const char *frame, size_t len, buf_t *scratch, eio_packet_t *out)
{
    int rc = eio_packet_decode_text(frame, len, out);
    if (rc != EIO_EBINTEXT) return rc;
    buf_reset(scratch);
    if (base64_decode_append(scratch, frame + 1, len - 1) != 0) return EIO_EBASE64;
    out->type = EIO_MESSAGE;
    out->binary = 1;
    out->data = scratch->data;
    out->len = scratch->len;
    return 0;
}

void eio_packet_decode_binary(const char *frame, size_t len, eio_packet_t *out)
{
    out->type = EIO_MESSAGE;
    out->binary = 1;
    out->data = frame;
    out->len = len;
}

void eio_packet_encode_text(buf_t *out, eio_type_t type, const void *data, size_t len)
{
    buf_reserve(out, len + 1);
    buf_append_byte(out, (uint8_t)('0' + type));
    if (len) buf_append(out, data, len);
}

/* Checks one record; a valid "b" record's base64 is checked without being decoded. */
static int check_record(const char *rec, size_t len)
{
    if (len == 0) return EIO_EEMPTY;
    if (rec[0] == 'b') return base64_validate(rec + 1, len - 1) ? EIO_EBASE64 : 0;
    if (rec[0] < '0' || rec[0] > '6') return EIO_ETYPE;
    return 0;
}

/* Length of the record starting at p (up to the next separator or end). */
static size_t record_len(const char *p, const char *end)
{
    const char *sep = memchr(p, EIO_SEPARATOR, (size_t)(end - p));
    return (size_t)((sep ? sep : end) - p);
}

int eio_payload_decode(const char *body, size_t len, int (*cb)(void *user, const eio_packet_t *p),
                       void *user)
{
    if (len == 0) return EIO_EEMPTY;
    const char *end = body + len;
    /* Pass 1: validate everything, so a malformed payload delivers nothing. */
    const char *p = body;
    for (;;) {
        size_t n = record_len(p, end);
        int rc = check_record(p, n);
        if (rc) return rc;
        if (p + n == end) break;
        p += n + 1;
    }
    /* Pass 2: deliver. */
    buf_t scratch = BUF_INIT;
    int rc = 0;
    p = body;
    for (;;) {
        size_t n = record_len(p, end);
        eio_packet_t pkt;
        if (p[0] == 'b') {
            buf_reset(&scratch);
            base64_decode_append(&scratch, p + 1, n - 1); /* validated above */
            eio_packet_decode_binary(scratch.data, scratch.len, &pkt);
        } else {
            eio_packet_decode_text(p, n, &pkt);
        }
        rc = cb(user, &pkt);
        if (rc || p + n == end) break;
        p += n + 1;
    }
    buf_free(&scratch);
    return rc;
}

void eio_payload_append(buf_t *out, eio_type_t type, int binary, const void *data, size_t len)
{
    if (out->len) buf_append_byte(out, EIO_SEPARATOR);
    if (binary) {
        buf_append_byte(out, 'b');
        base64_encode_append(out, data, len);
    } else {
        eio_packet_encode_text(out, type, data, len);
    }
}

const char *eio_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case EIO_EEMPTY:
        return "empty Engine.IO packet";
    case EIO_ETYPE:
        return "unknown Engine.IO packet type";
    case EIO_EBASE64:
        return "malformed base64 in Engine.IO binary packet";
    case EIO_EBINTEXT:
        return "base64 binary packet in a WebSocket text frame";
    default:
        return "unknown Engine.IO error";
    }
}
