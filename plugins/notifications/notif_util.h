/* notif_util.h - the notifications plugin's pure helpers: validation of REST
 * input, the ISO 8601 timestamps and the list cursor. No I/O, no host API, and no
 * allocation but the parsed create body; tests/unit/test_notif_util.c and
 * tests/fuzz/fuzz_notif_json.c compile notif_util.c directly. */
#ifndef NOTIF_UTIL_H
#define NOTIF_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define NOTIF_TYPE_COUNT 5
/* The type names, indexed by type number (0 = "notification", the default). */
extern const char *const notif_type_names[NOTIF_TYPE_COUNT];

/* The type number of name[0..len), or -1 when it is not one of the five. */
int notif_type_parse(const char *name, size_t len);

/* Number of Unicode code points in s[0..len), which must be valid UTF-8 (as every
 * string out of the JSON parser is). */
size_t notif_utf8_chars(const char *s, size_t len);

/* Writes ms (milliseconds since the epoch, UTC) as "YYYY-MM-DDTHH:MM:SS.mmmZ", the
 * form of Date.prototype.toISOString() for years 0..9999. out needs 25 bytes.
 * Returns 0, or -1 when the year is out of that range or out is too small. */
#define NOTIF_ISO_LEN 24
int notif_iso8601(int64_t ms, char *out, size_t out_size);

/* Parses a "limit" query value: a decimal integer 1..max with no sign, space or
 * fraction. Returns it, or -1. */
int notif_parse_limit(const char *s, int max);

/* The list cursor names the last item of a page: items strictly older follow. It is
 * the decimal id (opaque to clients). notif_cursor_parse gives the id (> 0) of a
 * well-formed cursor, or -1. notif_cursor_format writes one; out needs 21 bytes. */
int64_t notif_cursor_parse(const char *s);
int notif_cursor_format(int64_t id, char *out, size_t out_size);

/* A notification id from a path parameter: the same grammar as a cursor. */
#define notif_id_parse notif_cursor_parse

/* 1 when a Content-Type header value names application/json (any case, optional
 * parameters such as "; charset=utf-8", surrounding spaces), else 0 (NULL too). */
int notif_is_json_content_type(const char *value);

/* A user id longer than this (in bytes) is refused. */
#define NOTIF_MAX_USER_ID_BYTES 1024

/* A checked create body (POST /notifications, /notifications/broadcast). The strings
 * point into root, which holds them until notif_create_clear. */
typedef struct notif_create {
    json_t *root;
    const char *message; /* valid UTF-8, not empty, no NUL */
    size_t message_len;
    const char *user_id; /* NULL when not for_user */
    int type;            /* index into notif_type_names */
} notif_create_t;

/* Parses and checks a create body: an object with "message" (a string of 1 to
 * max_message_chars code points without NUL), an optional "type" (one of the type
 * names) and, when for_user, "userId" (a string of 1 to NOTIF_MAX_USER_ID_BYTES bytes
 * without NUL). Returns NULL with out filled, or the problem for a 400 answer (in msg,
 * or a constant string); out is then empty. */
const char *notif_create_parse(const char *body, size_t len, int for_user,
                               int64_t max_message_chars, notif_create_t *out, char *msg,
                               size_t msg_size);
void notif_create_clear(notif_create_t *c);

#endif
