/* json_writer.h - a streaming JSON text builder with automatic commas.
 *
 * Backs the plugin ABI's writer (iog_json_writer_t) and the host's own
 * responses. Misuse (a key outside an object, unbalanced ends, invalid UTF-8,
 * a value where a key is due) marks the writer failed instead of producing
 * bad JSON. Nesting is bounded. */
#ifndef IOGATE_JSON_WRITER_H
#define IOGATE_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define JSON_WRITER_MAX_DEPTH 64

typedef struct json_writer {
    buf_t out;
    int failed;
    int depth;
    int top_done;                              /* a complete top-level value was written */
    uint8_t kind[JSON_WRITER_MAX_DEPTH];       /* 'o' object, 'a' array */
    uint8_t count[JSON_WRITER_MAX_DEPTH];      /* values so far in that container (saturating) */
    uint8_t want_value[JSON_WRITER_MAX_DEPTH]; /* object: a key was written */
} json_writer_t;

void json_writer_init(json_writer_t *w);
void json_writer_free(json_writer_t *w);
void json_writer_reset(json_writer_t *w);
/* The text, or NULL after a misuse or while containers are open. */
const char *json_writer_text(json_writer_t *w, size_t *len);
void json_writer_object_begin(json_writer_t *w);
void json_writer_object_end(json_writer_t *w);
void json_writer_array_begin(json_writer_t *w);
void json_writer_array_end(json_writer_t *w);
void json_writer_key(json_writer_t *w, const char *key, size_t len);
void json_writer_string(json_writer_t *w, const char *s, size_t len);
void json_writer_int(json_writer_t *w, int64_t v);
void json_writer_double(json_writer_t *w, double v);
void json_writer_bool(json_writer_t *w, int v);
void json_writer_null(json_writer_t *w);
/* One complete JSON value as text; it is parsed to check it. */
void json_writer_raw(json_writer_t *w, const char *json, size_t len);

#endif
