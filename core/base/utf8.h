/* utf8.h - strict UTF-8 validation (RFC 3629), whole-buffer and streaming.
 *
 * Owns only the decision "is this valid UTF-8": overlong forms, UTF-16 surrogates
 * (U+D800..U+DFFF), code points above U+10FFFF and sequences cut short are all rejected.
 * The streaming form lets a caller check text that arrives in pieces (a WebSocket message
 * split across frames and reads) and fail on the first byte that can no longer be part of
 * valid text, without buffering anything. No allocation, no logging. */
#ifndef IOGATE_UTF8_H
#define IOGATE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Returns 1 if the len bytes at s are valid UTF-8 (NUL bytes are valid code points), else 0. */
int utf8_valid(const char *s, size_t len);

/* Incremental validator state; a plain value, embed it and utf8_stream_init() it. */
typedef struct utf8_stream {
    uint8_t need; /* continuation bytes still expected; UTF8_STREAM_BAD once invalid */
    uint8_t lo;   /* allowed range of the next continuation byte (tighter right after */
    uint8_t hi;   /* some lead bytes, which is how overlongs and surrogates are refused) */
} utf8_stream_t;

#define UTF8_STREAM_BAD 0xff

void utf8_stream_init(utf8_stream_t *st);
/* Checks the next len bytes. Returns 0 if everything seen so far is a prefix of valid UTF-8,
   -1 if not; once -1 the state stays invalid until utf8_stream_init(). */
int utf8_stream_feed(utf8_stream_t *st, const char *data, size_t len);
/* Returns 0 if the text seen so far is complete valid UTF-8 (no sequence left open), else -1. */
int utf8_stream_finish(const utf8_stream_t *st);

#endif
