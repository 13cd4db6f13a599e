/* buf.h - growable byte buffers and shared, reference-counted payloads.
 *
 * buf_t is the one growable buffer of the core: parsers and encoders append
 * to it, connections queue it. It is always NUL-terminated past len (when
 * data is not NULL) so text can be handed to C string functions.
 *
 * rbuf_t is an immutable byte string with a reference count: the emitter
 * encodes a packet once and every recipient holds a reference to the same
 * bytes ("encode once, write many"). Everything runs on the loop thread, so
 * the count is a plain integer. */
#ifndef IOGATE_BUF_H
#define IOGATE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* A string literal and its length without the NUL, for the (data, len) arguments of a fixed
 * body: the length can never disagree with the text (the "" rejects anything but a literal). */
#define BUF_LIT(s) ("" s ""), (sizeof(s) - 1)

void buf_init(buf_t *b);
void buf_free(buf_t *b);
/* Empties the buffer but keeps its memory for reuse. */
void buf_reset(buf_t *b);
/* Makes room for at least extra more bytes. */
void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *data, size_t len);
void buf_append_str(buf_t *b, const char *s);
void buf_append_byte(buf_t *b, uint8_t byte);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Drops the first n bytes (n <= len). */
void buf_consume(buf_t *b, size_t n);
/* Hands the memory to the caller (free() it); the buffer is left empty. */
char *buf_steal(buf_t *b, size_t *len);

typedef struct rbuf {
    unsigned refs;
    size_t len;
    char data[];
} rbuf_t;

/* A new shared buffer holding a copy of data (or len bytes for the caller to fill when
 * data is NULL), with one reference. */
rbuf_t *rbuf_new(const void *data, size_t len);
/* A new shared buffer that takes the contents of b (b is left empty). */
rbuf_t *rbuf_from_buf(buf_t *b);
rbuf_t *rbuf_ref(rbuf_t *r);
void rbuf_unref(rbuf_t *r);

#endif
