/* ws_frame.h - RFC 6455 frames, server side: the reader that turns client bytes into
 * messages, and the writer that frames what the server sends.
 *
 * The reader owns framing rules only: masking, reserved bits, opcodes, fragmentation,
 * control frames, the message size limit, UTF-8 of text and close frames. It never touches
 * a socket: the connection layer feeds it bytes as they arrive (any split, even one byte at a
 * time) and acts on its callbacks and on the close code it reports. Replying to pings and
 * echoing the close frame are the caller's job (with the writer below).
 *
 * Memory: a reader holds its fixed state (a few hundred bytes, control frames included) plus
 * one buffer for the data message being received; that buffer grows only as payload bytes
 * arrive, never past the limit, and is released after a large message. No logging. */
#ifndef IOGATE_WS_FRAME_H
#define IOGATE_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/utf8.h"

/* Close codes (RFC 6455 section 7.4.1). */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,
    WS_CLOSE_ABNORMAL = 1006,
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
    WS_CLOSE_TRY_AGAIN_LATER = 1013
};

typedef enum ws_opcode {
    WS_OP_CONTINUATION = 0,
    WS_OP_TEXT = 1,
    WS_OP_BINARY = 2,
    WS_OP_CLOSE = 8,
    WS_OP_PING = 9,
    WS_OP_PONG = 10
} ws_opcode_t;

/* Errors returned by ws_reader_feed(); each comes with a close code to send. */
enum {
    WS_ERR_PROTOCOL = -1,     /* framing rule broken: close with 1002 */
    WS_ERR_INVALID_DATA = -2, /* text message is not UTF-8: close with 1007 */
    WS_ERR_TOO_BIG = -3       /* message over the size limit: close with 1009 */
};

/* Largest control frame payload (RFC 6455 section 5.5). */
#define WS_MAX_CONTROL_PAYLOAD 125

/* All callbacks are optional (NULL: the event is dropped). Pointers handed to a callback are
   valid only during the call. A non-zero return (use a positive value, so it cannot be
   mistaken for a WS_ERR_* code) stops the reader: ws_reader_feed() returns that value at
   once, the rest of its input is dropped and later input is ignored. A callback must not feed
   or free its own reader (stop it, then free it after ws_reader_feed returns). */
typedef struct ws_reader_callbacks {
    /* A complete message: fragments reassembled, unmasked, text already UTF-8 validated.
       data is NUL-terminated past len for convenience (it may also contain NULs). */
    int (*on_message)(void *user, int is_binary, const char *data, size_t len);
    /* A ping; the caller should answer with a pong carrying the same data. */
    int (*on_ping)(void *user, const char *data, size_t len);
    int (*on_pong)(void *user, const char *data, size_t len);
    /* The peer's close frame: code (WS_CLOSE_NO_STATUS if the frame had no body) and a valid
       UTF-8 reason. The reader ignores everything after it. */
    int (*on_close)(void *user, int code, const char *reason, size_t len);
} ws_reader_callbacks_t;

/* Reader state. Public so a connection can embed it; the fields are private to ws_frame.c. */
typedef struct ws_reader {
    const ws_reader_callbacks_t *cb;
    void *user;
    size_t max_message;
    const char *error;  /* static message of the last error, or NULL */
    int err;            /* sticky error (WS_ERR_*), or 0 */
    int err_close;      /* close code that goes with err */
    uint8_t done;       /* close frame seen or callback stopped: ignore input */
    uint8_t hdr_len;    /* header bytes gathered so far */
    uint8_t hdr_need;   /* header size once known (2 until the second byte arrives) */
    uint8_t in_payload; /* header complete, reading the payload */
    uint8_t hdr[14];    /* 2 + 8 (length) + 4 (mask) */
    uint8_t opcode;     /* opcode of the current frame */
    uint8_t fin;        /* FIN bit of the current frame */
    uint8_t mask[4];    /* masking key of the current frame */
    uint8_t msg_opcode; /* WS_OP_TEXT/BINARY of the message being assembled, 0 if none */
    utf8_stream_t utf8; /* UTF-8 state of the text message being assembled */
    uint64_t frame_len; /* payload length of the current frame */
    uint64_t frame_got; /* payload bytes of the current frame received so far */
    buf_t msg;          /* unmasked data message (all fragments so far) */
    char *ctrl;         /* unmasked control payload (+1 for a NUL), allocated for a control
                           frame and released after it, as msg is after a message */
} ws_reader_t;

/* Prepares r. max_message_size bounds a whole data message (the sum of its fragments);
   cb (not copied: it must outlive the reader; NULL for none) and user are passed to every
   callback. The reader allocates nothing until payload bytes arrive. */
void ws_reader_init(ws_reader_t *r, size_t max_message_size, const ws_reader_callbacks_t *cb,
                    void *user);
/* Releases the reader's memory; r may be initialised again afterwards. */
void ws_reader_free(ws_reader_t *r);
/* Feeds len bytes read from the client. Returns 0 when all was consumed (a partial frame is
   kept for the next call), a negative WS_ERR_* with *close_code set to the close code to send
   (1002, 1007 or 1009; see ws_reader_error()), or the non-zero value a callback returned to
   stop (then *close_code is 0). An error is sticky: later calls return it again. After the
   peer's close frame or a callback stop, further input is ignored and 0 is returned.
   close_code may be NULL. */
int ws_reader_feed(ws_reader_t *r, const char *data, size_t len, int *close_code);
/* A short static description of the last error, or NULL if there was none. */
const char *ws_reader_error(const ws_reader_t *r);
/* Returns 1 once the reader ignores input (error, peer close frame, callback stop), else 0. */
int ws_reader_done(const ws_reader_t *r);

/* Returns 1 if code may appear in a close frame on the wire (1000-1003, 1007-1014,
   3000-4999), else 0. */
int ws_close_code_valid(int code);

/* Writer (server to client frames are never masked). All frames are final (FIN set). */

/* Appends one frame to out. Control frames (close, ping, pong) must have len <= 125. */
void ws_write_frame(buf_t *out, ws_opcode_t opcode, const void *payload, size_t len);
/* Writes into hdr the header of a frame whose payload the caller sends separately (one shared
   payload, many sockets). Returns the header length, 2 to 10. */
size_t ws_frame_header(uint8_t hdr[10], ws_opcode_t opcode, size_t payload_len);
/* Appends a close frame. code <= 0 writes an empty body (no status); otherwise the body is the
   code and reason (may be NULL), the reason cut on a character boundary so that the payload
   stays <= 125 bytes. */
void ws_write_close(buf_t *out, int code, const char *reason);

#endif
