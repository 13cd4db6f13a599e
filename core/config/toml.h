/* toml.h - TOML 1.0.0 documents: parser, lookup and JSON rendering.
 *
 * The parser accepts exactly TOML 1.0.0 (not 1.1: no newlines in inline
 * tables, no \e or \xHH escapes, seconds required in times) and rejects every
 * invalid document with "SOURCE:LINE:COLUMN: message". Lines and columns are
 * 1-based; columns count characters (UTF-8 code points), not bytes.
 *
 * Choices the spec leaves open:
 * - a UTF-8 byte order mark at the very start is skipped; anywhere else it is
 *   an error;
 * - CRLF inside multi-line strings is returned as LF;
 * - fractional seconds keep 9 digits (nanoseconds), further digits are
 *   truncated; a float that overflows binary64 (1e400) is refused;
 * - arrays, inline tables and tables nest at most TOML_MAX_DEPTH levels;
 * - dotted keys may fill a table that a [a.b] header only created as a parent;
 *   it then counts as defined, so a later [a] header cannot define it again.
 *
 * The parsed tree is read-only: it is owned by the root and freed with
 * toml_free(). Pure module: no logging, no global state. */
#ifndef IOGATE_TOML_H
#define IOGATE_TOML_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Deepest nesting of tables and arrays below the root. */
#define TOML_MAX_DEPTH 128

typedef enum toml_type {
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_DATETIME, /* offset date-time */
    TOML_DATETIME_LOCAL,
    TOML_DATE_LOCAL,
    TOML_TIME_LOCAL,
    TOML_ARRAY,
    TOML_TABLE,
} toml_type_t;

typedef struct toml_datetime {
    int year, month, day;     /* 0 for a local time */
    int hour, minute, second; /* 0 for a local date */
    int nanosecond;
    int offset_minutes; /* TOML_DATETIME only: offset from UTC, Z = 0 */
    int offset_is_z;    /* 1 when written as Z/z */
    int frac_digits;    /* fractional-second digits as written (at most 9) */
} toml_datetime_t;

typedef struct toml_value toml_value_t;
typedef struct toml_keyval {
    char *key;
    size_t key_len;   /* decoded key, NUL-terminated */
    int line, column; /* where this key was written (1-based) */
    toml_value_t *value;
} toml_keyval_t;

struct toml_value {
    toml_type_t type;
    int line, column; /* where the value starts (tables: where defined/first created) */
    union {
        struct {
            char *ptr;
            size_t len;
        } string; /* UTF-8, NUL-terminated, may hold NUL */
        int64_t integer;
        double floating;
        int boolean;
        toml_datetime_t datetime;
        struct {
            toml_value_t **items;
            size_t len;
        } array;
        struct {
            toml_keyval_t *items;
            size_t len;
        } table; /* in document order */
    } u;
    /* Private to toml.c. */
    unsigned flags;
    size_t cap;       /* allocated items of array/table */
    uint32_t *index;  /* table: open-addressed slots holding item index + 1 */
    size_t index_cap; /* slots in index (power of two), 0 when not built */
};

/* Parses a whole document; returns the root table, or NULL with "SOURCE:L:C: message" in err. */
toml_value_t *toml_parse(const char *text, size_t len, const char *source_name, char *err,
                         size_t err_size);
/* Reads and parses a file (source name = path); I/O errors also come back in err. */
toml_value_t *toml_parse_file(const char *path, char *err, size_t err_size);
/* Frees a tree returned by toml_parse*(); NULL is ignored. */
void toml_free(toml_value_t *root);
/* The value of key in table, or NULL (also when table is NULL or not a table). */
const toml_value_t *toml_table_get(const toml_value_t *table, const char *key);
/* The entry for key (for its line/column), or NULL. */
const toml_keyval_t *toml_table_entry(const toml_value_t *table, const char *key);
/* Like toml_table_entry() for a key of key_len bytes that may hold NUL. */
const toml_keyval_t *toml_table_entry_n(const toml_value_t *table, const char *key, size_t key_len);
/* "string", "integer", "float", "bool", "datetime", "datetime-local", "date-local",
 * "time-local", "array", "table". */
const char *toml_type_name(toml_type_t type);

/* Writes the RFC 3339 text of a date/time value of the given type (e.g.
 * "1979-05-27T07:32:00.5-07:00", "07:32:00") into out (NUL-terminated,
 * truncated to out_size); returns the length it needed. */
size_t toml_datetime_format(toml_type_t type, const toml_datetime_t *dt, char *out,
                            size_t out_size);
enum {
    TOML_JSON_TAGGED = 1 << 0, /* toml-test form: every scalar is {"type": "...", "value": "..."} */
    TOML_JSON_PRETTY = 1 << 1, /* newlines and two-space indentation */
};
/* Appends value as JSON to out. Plain form: floats as their shortest round-trip
 * text, inf/nan as the strings "inf"/"-inf"/"nan", date-times as RFC 3339
 * strings. Tables keep document order. */
void toml_write_json(const toml_value_t *value, unsigned flags, buf_t *out);

#endif
