/* sio_packet.h - Socket.IO v5 packets: text encoding, decoding, binary attachments.
 *
 * Wire format of one packet (carried in an Engine.IO message):
 *     <type>[<attachments>-][<nsp>,][<id>][<json>]
 * followed, for BINARY_EVENT / BINARY_ACK, by <attachments> binary Engine.IO messages.
 *
 * Binary inside JSON trees. Attachments never enter jansson: a tree keeps the placeholder
 * objects {"_placeholder":true,"num":N} exactly as they came on the wire, and the attachment
 * bytes travel next to it in an array (sio_packet_t.bin), placeholder N naming bin[N]. An
 * outgoing emit with binary is likewise JSON text with placeholders plus an ordered list of
 * attachments; sio_binary_serialize turns a (tree, attachments) pair into that form,
 * renumbering placeholders in order of appearance, which is how a received binary event is
 * re-emitted unchanged. Placeholder-shaped objects mean something only next to attachments:
 * in a packet without attachments they are ordinary data.
 *
 * Pure: no I/O, no logging, no global state. */
#ifndef IOGATE_SIO_PACKET_H
#define IOGATE_SIO_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"

typedef enum sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT,
    SIO_EVENT,
    SIO_ACK,
    SIO_CONNECT_ERROR,
    SIO_BINARY_EVENT,
    SIO_BINARY_ACK
} sio_type_t;

/* Largest ack id accepted: 2^53 - 1, the largest integer a JavaScript peer holds exactly. */
#define SIO_MAX_ID INT64_C(9007199254740991)
/* Attachment limit of the reference server, a sensible default for sio_decoder_init. */
#define SIO_DEFAULT_MAX_ATTACHMENTS 10

/* Decoder results (non-negative) and errors (negative). */
enum {
    SIO_DECODE_MORE = 0,          /* a binary packet awaits more attachments */
    SIO_DECODE_PACKET = 1,        /* a complete packet was moved into *out */
    SIO_ETYPE = -1,               /* empty packet or unknown packet type */
    SIO_EATTACHMENTS = -2,        /* binary packet without a valid "<digits>-" count */
    SIO_ETOOMANY = -3,            /* more attachments announced than allowed */
    SIO_ENSP = -4,                /* namespace holds a NUL byte */
    SIO_EID = -5,                 /* ack id above SIO_MAX_ID */
    SIO_EJSON = -6,               /* payload is not one JSON value (bad JSON, trailing data) */
    SIO_EPAYLOAD = -7,            /* payload missing or of the wrong JSON type for the packet */
    SIO_ERESERVED = -8,           /* event name reserved (see sio_event_name_is_reserved) */
    SIO_EPLACEHOLDER = -9,        /* placeholder with a bad or out-of-range "num" */
    SIO_EUNEXPECTED_TEXT = -10,   /* text packet while attachments were awaited */
    SIO_EUNEXPECTED_BINARY = -11, /* binary message when no attachment was awaited */
    SIO_ETOOLARGE = -12,          /* binary packet over max_binary_bytes */
};

/* One attachment: len bytes (NUL-terminated past len for convenience), owned. */
typedef struct sio_bin {
    char *data;
    size_t len;
} sio_bin_t;

typedef struct sio_packet {
    sio_type_t type;    /* as on the wire: binary packets keep SIO_BINARY_EVENT / _ACK */
    char *nsp;          /* owned, "/" by default */
    int64_t id;         /* -1 when absent */
    json_t *data;       /* owned reference, NULL when absent; placeholders kept as is */
    size_t attachments; /* announced count (0 for non-binary packets) */
    sio_bin_t *bin;     /* owned attachments, placeholder N names bin[N] */
    size_t bin_len;     /* received so far; == attachments in a complete packet */
} sio_packet_t;

/* Frees everything p owns and leaves it empty (nsp NULL, data NULL, id -1). */
void sio_packet_free(sio_packet_t *p);

/* Decodes one text packet into *out (overwritten; free it with sio_packet_free). Rules of the
 * reference parser: type digit 0-6; for binary types "<digits>-" with at most max_attachments;
 * a namespace only when the next byte is '/', running to ',' or the end; then an optional
 * decimal id; then an optional JSON payload, which must fit the type: CONNECT object or absent,
 * DISCONNECT absent, CONNECT_ERROR object or string, (BINARY_)EVENT array whose first element
 * is a number or a non-reserved string, (BINARY_)ACK array. Stricter than the reference, which
 * lets EVENT, ACK and CONNECT_ERROR arrive without a payload (and then ignores them). For
 * binary types every placeholder must name an attachment below the announced count. Numbers
 * too big for int64 are read as reals, as JavaScript would; NUL in object keys, lone
 * surrogate escapes and numbers beyond double range are rejected (SIO_EJSON).
 * Returns 0 or a negative SIO_E* code (then *out holds nothing). bin is NULL, bin_len 0. */
int sio_packet_decode_text(const char *data, size_t len, size_t max_attachments, sio_packet_t *out);

/* What a decoder accepts; one instance, shared by every decoder, outlives them. */
typedef struct sio_decoder_limits {
    size_t max_attachments;
    /* A binary packet's bytes, its text and the attachments received so far: past this the
     * packet is refused (SIO_ETOOLARGE), so a packet whose last attachment never comes holds
     * at most this much. 0: no bound. */
    size_t max_binary_bytes;
} sio_decoder_limits_t;

/* The per-connection decoder; embed it in the connection (two pointers). Holds a partial
 * binary packet only while attachments are awaited. */
typedef struct sio_decoder {
    const sio_decoder_limits_t *limits;
    struct sio_pending *pending;
} sio_decoder_t;

void sio_decoder_init(sio_decoder_t *d, const sio_decoder_limits_t *limits);
/* Drops any partial packet. The decoder may be initialized again afterwards. */
void sio_decoder_free(sio_decoder_t *d);
/* Feeds one Engine.IO message (text, or binary when is_binary). Returns SIO_DECODE_PACKET (a
 * complete packet was moved into *out, which the caller frees with sio_packet_free),
 * SIO_DECODE_MORE (nothing in *out), or a negative SIO_E* code; after an error the decoder is
 * idle again (a partial packet is dropped), though the caller should close the connection, as
 * the reference server does. */
int sio_decoder_feed(sio_decoder_t *d, int is_binary, const char *data, size_t len,
                     sio_packet_t *out);
/* 1 while a binary packet awaits attachments. */
int sio_decoder_awaiting(const sio_decoder_t *d);
/* Bytes of the partial packet (its text and the attachments received), 0 when idle. */
size_t sio_decoder_pending_bytes(const sio_decoder_t *d);
/* The caller's deadline for the partial packet (a loop time, say), kept with it so that an
 * idle decoder holds nothing. Setting it while idle does nothing; idle, it reads 0. */
void sio_decoder_set_deadline(sio_decoder_t *d, uint64_t deadline);
uint64_t sio_decoder_deadline(const sio_decoder_t *d);

/* Appends "<type>[<attachments>-][<nsp>,][<id>]" and then json[0..json_len) (already
 * serialized JSON text, may be NULL/empty) to out. The count is written only for binary
 * types; nsp NULL or "/" is omitted; id < 0 is omitted. The caller sends the attachments
 * themselves as binary Engine.IO messages after this packet. */
void sio_encode(buf_t *out, sio_type_t type, const char *nsp, int64_t id, size_t attachments,
                const char *json, size_t json_len);

/* 1 for SIO_BINARY_EVENT and SIO_BINARY_ACK. */
int sio_type_is_binary(sio_type_t type);
/* 1 if an event may not carry this name: "connect", "connect_error", "disconnect",
 * "disconnecting", "newListener", "removeListener". Clients sending them are rejected by the
 * decoder; the server must not emit them either. */
int sio_event_name_is_reserved(const char *name, size_t len);

/* Classifies v: 1 with *num set when v is a placeholder {"_placeholder":true,"num":N} with N a
 * non-negative integer; 0 when v is not a placeholder (no "_placeholder": true member);
 * SIO_EPLACEHOLDER when it claims to be one but "num" is missing or not such an integer. */
int sio_placeholder_num(const json_t *v, size_t *num);
/* A new placeholder object {"_placeholder":true,"num":num} (one reference, caller owns). */
json_t *sio_placeholder_new(size_t num);
/* Writes value as JSON (see json_out.h) to out. When bin_len > 0, every placeholder is taken
 * to name bin[num] and is rewritten {"_placeholder":true,"num":K}, K counting placeholders in
 * order of appearance, and *order (malloc'd, caller frees; NULL when empty) receives the bin
 * index of each, *order_len their number: send bin[order[0]], bin[order[1]], ... after the
 * packet. When bin_len is 0, placeholder-shaped objects are written as ordinary data. Returns 0,
 * or SIO_EPLACEHOLDER (a bad placeholder or num >= bin_len) with out and *order untouched. */
int sio_binary_serialize(buf_t *out, const json_t *value, size_t bin_len, size_t **order,
                         size_t *order_len);

/* A static description of an SIO_E* code. */
const char *sio_strerror(int err);

#endif
