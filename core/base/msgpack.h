/* msgpack.h - MessagePack encoding and decoding, byte-compatible with notepack.io 3.0.1.
 *
 * The Redis adapter and emitter of Socket.IO (@socket.io/redis-adapter 8, redis-emitter 5)
 * exchange notepack.io bytes, and a Node peer compares nothing but bytes and values, so this
 * module writes exactly what notepack.io writes for the same JavaScript value and reads what
 * it reads. Values cross into the core as jansson trees holding what JSON.parse would hold.
 *
 * Numbers are JavaScript numbers. An integral value takes the smallest integer form (positive
 * fixint, uint 8/16/32/64 from 0 up; negative fixint, int 8/16/32/64 below 0; -0 is 0); any
 * other value, NaN and the infinities take float 64 (see msgpack_write_double() for integral
 * values past 64 bits). Integers beyond 2^53 in magnitude do not exist in JavaScript: they are
 * first rounded to the nearest double, in both directions.
 *
 * Owns only the format: no logging, no global state, errors are return values. */
#ifndef IOGATE_MSGPACK_H
#define IOGATE_MSGPACK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"

/* Arrays and maps nest at most this deep, in both directions: the depth jansson's JSON parser
 * accepts, so whatever a client can send as JSON can cross the adapter. It bounds recursion
 * (the stack), not memory; memory is bounded by the input, see msgpack_decode(). */
#define MSGPACK_MAX_DEPTH 2048

/* ---- Streaming writer: each call appends one item to out. A container header is followed by
 * its n items (a map: key, value, key, value...). Lengths above 2^32 - 1 do not exist in the
 * format: those calls then write nothing and return -1; the others cannot fail. */

void msgpack_write_nil(buf_t *out);
void msgpack_write_bool(buf_t *out, int v);
void msgpack_write_int64(buf_t *out, int64_t v);
void msgpack_write_uint64(buf_t *out, uint64_t v);
/* A JavaScript number: integral values take the integer forms as above, and NaN is written as
 * 0x7ff8000000000000. The one departure from notepack.io: integral values from 2^64 up or
 * below -2^63 are written as float 64. notepack.io writes them as uint 64 / int 64 modulo 2^64
 * (its split into 32-bit halves wraps), so a peer would read another number (1e21 arrives as
 * 3875820019684212736); a float 64 arrives as the number sent. */
void msgpack_write_double(buf_t *out, double v);
/* s[0..len) as a string (fixstr, str 8/16/32); s should be UTF-8. */
int msgpack_write_str(buf_t *out, const char *s, size_t len);
int msgpack_write_bin(buf_t *out, const void *data, size_t len);
int msgpack_write_array(buf_t *out, size_t n);
int msgpack_write_map(buf_t *out, size_t n);

/* One binary value: a Socket.IO attachment. */
typedef struct msgpack_bin {
    const uint8_t *data;
    size_t len;
} msgpack_bin_t;

/* Appends value as notepack.io encodes the JavaScript value JSON.parse would give for its JSON
 * text: object members in JavaScript property order (keys that are array indices first, in
 * ascending order, then the rest in insertion order), integers beyond 2^53 rounded to doubles,
 * integral reals (1.0) as integers.
 *
 * When bins is not NULL, every object whose "_placeholder" is true is a Socket.IO binary
 * placeholder: it is written as bin holding bins[num], and a "num" that is not an index below
 * nbins is an error (socket.io-parser refuses it too). When bins is NULL such objects are
 * ordinary maps.
 *
 * Returns 0, or -1 with a message in err (value nested deeper than MSGPACK_MAX_DEPTH, which
 * also stops a cyclic value; a bad placeholder; a string over 4 GiB); out then holds a partial
 * encoding the caller should discard. */
int msgpack_write_json(buf_t *out, const json_t *value, const msgpack_bin_t *bins, size_t nbins,
                       char *err, size_t err_size);

/* ---- Decoding */

/* The binary values met while decoding. The bytes are not copied: each points into the
 * decoded input and is valid as long as that input is. */
typedef struct msgpack_bins {
    msgpack_bin_t *items;
    size_t count;
    size_t cap;
} msgpack_bins_t;

#define MSGPACK_BINS_INIT                                                                          \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void msgpack_bins_free(msgpack_bins_t *bins);

/* Decodes the one MessagePack value in data[0..len) into *out (a new reference) as the value a
 * Node peer reads with notepack.io and would hand to JSON.stringify:
 *
 * - nil, booleans, strings (invalid UTF-8 becomes U+FFFD, as Buffer.toString does), arrays;
 * - integers: json integers when within 2^53, else json reals (the double JavaScript reads);
 *   float 32/64: json reals, NaN and the infinities null (JSON.stringify prints null);
 * - maps: objects. A key that is a number, nil or boolean becomes its JavaScript string
 *   ("1", "1.5", "null", "true"), as property keys do; a key that is an array, map, binary or
 *   extension is an error. A repeated key keeps the last value. A "__proto__" key is dropped
 *   (in JavaScript it sets the prototype and is no own property);
 * - bin, and notepack's legacy ArrayBuffer (ext 8/16/32 of type 0): binary. When bins is not
 *   NULL each becomes a placeholder {"_placeholder":true,"num":N} and bins receives the bytes
 *   (emptied first), numbered in the order socket.io-parser numbers attachments (depth first,
 *   members in JavaScript property order), so the Socket.IO layer can send value and bins as
 *   a binary packet. When bins is NULL, binary is an error;
 * - timestamps (ext type -1: timestamp 32, 64 and 96) and notepack's legacy dates (fixext 8 of
 *   type 0): the ISO-8601 string JSON.stringify prints for that Date ("1970-01-01T00:00:00.000Z",
 *   years outside 0..9999 as "+275760" / "-000001"), or null for an invalid Date;
 * - notepack's undefined (fixext 1 of type 0): a map member holding it is dropped, elsewhere it
 *   is null, as JSON.stringify does;
 * - any other extension type, the reserved byte 0xc1, input cut short, a length past the end,
 *   nesting deeper than MSGPACK_MAX_DEPTH, or bytes after the value: an error.
 *
 * Never reads outside data[0..len). Every element takes at least one input byte, so counts are
 * checked against the bytes left before anything is allocated, and the decoded tree is linear
 * in len. Returns 0, or -1 with *out NULL, bins empty and a message (with the byte offset)
 * in err. */
int msgpack_decode(const void *data, size_t len, json_t **out, msgpack_bins_t *bins, char *err,
                   size_t err_size);

#endif
