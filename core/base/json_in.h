/* json_in.h - reading JSON text as JavaScript's JSON.parse would, on top of jansson.
 *
 * Peers here are JavaScript programs: what JSON.stringify writes must be read. So any
 * value is accepted at the top level, strings may hold NUL, integers beyond int64 are
 * read as doubles (JavaScript numbers), and lone surrogate escapes ("\ud800"), which
 * UTF-8 and so jansson cannot hold, become U+FFFD instead of failing the whole text. */
#ifndef IOGATE_JSON_IN_H
#define IOGATE_JSON_IN_H

#include <jansson.h>
#include <stddef.h>

/* The value (a new reference), or NULL when the text is not one JSON value. */
json_t *json_parse_js(const char *text, size_t len);

#endif
