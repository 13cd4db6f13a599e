/* json_out.h - compact JSON text of a jansson value, as JavaScript's JSON.stringify prints it.
 *
 * Socket.IO peers compare payloads byte for byte with what a Node.js server would send, so the
 * output follows JSON.stringify rather than jansson's own dumper: no whitespace; object keys in
 * JavaScript property order (array-index keys such as "0" or "42" first in ascending numeric
 * order, then the others in insertion order); strings escape only '"', '\\' and control
 * characters (\b \f \n \r \t, else \u00xx in lowercase hex), never '/' or non-ASCII; reals in
 * the shortest form that reads back to the same double, with JavaScript's exponent rules
 * (1e+21, 1e-7, 0.000001, 2.0 -> 2, -0 -> 0). Pure: no logging, no global state. */
#ifndef IOGATE_JSON_OUT_H
#define IOGATE_JSON_OUT_H

#include <stddef.h>

#include <jansson.h>

#include "base/buf.h"

/* Appends the JSON text of value to out. value must not be NULL. */
void json_out_append(buf_t *out, const json_t *value);
/* Called for every value (the root included) before it is written: returns 0 to let json_out
 * write it, 1 after writing it to out itself, or a negative code to stop. */
typedef int (*json_out_hook_t)(void *user, buf_t *out, const json_t *value);
/* json_out_append with a hook (for rewriting special objects). Returns 0, or the hook's
 * negative code, with out then holding a partial text the caller should discard. */
int json_out_append_hook(buf_t *out, const json_t *value, json_out_hook_t hook, void *user);
/* Appends s[0..len) (UTF-8, may hold NULs) as a quoted, escaped JSON string. */
void json_out_append_string(buf_t *out, const char *s, size_t len);
/* Appends a number as JavaScript prints it (NaN and infinities print "null", as in JSON). */
void json_out_append_real(buf_t *out, double v);

#endif
