/* eio_packet.h - Engine.IO v4 packets: WebSocket frames and HTTP long-polling payloads.
 *
 * Owns only the byte format: "<type digit><data>" for text packets, a raw binary WebSocket
 * frame for a binary message, and for polling bodies records joined by 0x1e where a binary
 * message is "b" + base64. Sessions, heartbeats and upgrades live in the server layer above.
 * Pure: no I/O, no logging, no global state. */
#ifndef IOGATE_EIO_PACKET_H
#define IOGATE_EIO_PACKET_H

#include <stddef.h>

#include "base/buf.h"

typedef enum eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE,
    EIO_PING,
    EIO_PONG,
    EIO_MESSAGE,
    EIO_UPGRADE,
    EIO_NOOP
} eio_type_t;

/* Errors (negative). */
enum {
    EIO_EEMPTY = -1,   /* empty frame or empty payload record */
    EIO_ETYPE = -2,    /* first character is not a packet type */
    EIO_EBASE64 = -3,  /* "b" record whose base64 is malformed */
    EIO_EBINTEXT = -4, /* "b<base64>" text frame given to eio_packet_decode_text */
};

/* A decoded packet. data/len is the packet's data (without the type character) and points
 * into the decoded input, or into a scratch buffer for base64 binary; valid only as long as
 * that memory is. binary is 1 only for binary messages (type is then EIO_MESSAGE). */
typedef struct eio_packet {
    eio_type_t type;
    int binary;
    const char *data;
    size_t len;
} eio_packet_t;

/* Decodes a WebSocket text frame "<type digit><data>": 0, EIO_EEMPTY, EIO_ETYPE, or
 * EIO_EBINTEXT for a "b..." frame (base64 binary over WebSocket, sent only by clients with
 * forceBase64; use eio_packet_decode_ws_text to accept those). out->data points into frame. */
int eio_packet_decode_text(const char *frame, size_t len, eio_packet_t *out);
/* Like eio_packet_decode_text but also accepts "b<base64>": the bytes are decoded into
 * scratch (reset first) and out->data points there. Errors as above plus EIO_EBASE64. */
int eio_packet_decode_ws_text(const char *frame, size_t len, buf_t *scratch, eio_packet_t *out);
/* A WebSocket binary frame: always a binary message whose data is the whole frame. */
void eio_packet_decode_binary(const char *frame, size_t len, eio_packet_t *out);
/* Appends the WebSocket text form "<type digit><data>" to out (data may be NULL if len 0). */
void eio_packet_encode_text(buf_t *out, eio_type_t type, const void *data, size_t len);

/* Decodes a long-polling POST body: records separated by 0x1e, each "<digit><data>" or
 * "b<base64>". The whole body is validated first; if any record is malformed the error
 * (EIO_EEMPTY, EIO_ETYPE, EIO_EBASE64) is returned and cb is never called, so a bad payload
 * delivers nothing. Otherwise cb is called for each packet in order; binary data lives in a
 * scratch buffer valid during that call only. A nonzero return from cb stops the walk and is
 * returned as is. An empty body is EIO_EEMPTY. */
int eio_payload_decode(const char *body, size_t len, int (*cb)(void *user, const eio_packet_t *p),
                       void *user);
/* Appends one packet to a polling response payload: 0x1e first when out is not empty, then
 * "<digit><data>", or "b" + base64(data) when binary is nonzero (type is then ignored: only
 * messages are binary). */
void eio_payload_append(buf_t *out, eio_type_t type, int binary, const void *data, size_t len);

/* A static description of an EIO_E* code. */
const char *eio_strerror(int err);

#endif
