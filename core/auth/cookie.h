/* cookie.h - reading one cookie out of a Cookie request header (RFC 6265 section 4.2).
 *
 * Parsing is tolerant in the way browsers and the npm `cookie` package (used by the Node REST
 * API that shares our session cookie) are: pairs are split on ';', SP/HTAB around names and
 * values is ignored, pairs without '=' are skipped, the first pair with a name wins, and a value
 * wrapped in double quotes loses them. The module owns no state and never logs. */
#ifndef IOGATE_AUTH_COOKIE_H
#define IOGATE_AUTH_COOKIE_H

#include <stddef.h>

#include "base/buf.h"

/* Finds the cookie called name (exact, case-sensitive, non-empty) in the header value
 * header[0..len) and appends its value to out. The header may hold any bytes, NULs included;
 * nothing past len is read.
 *
 * With decode_percent 0 the value is returned as sent. With decode_percent 1 it is decoded the
 * way npm `cookie` does: a value containing '%' goes through decodeURIComponent rules (%XX
 * escapes, which must form valid UTF-8), and if that would throw the raw value is kept. The
 * server passes 1 so that a cookie reads the same here as in the REST API (a JWT never contains
 * '%', so for the `token` cookie both settings agree).
 *
 * Returns 1 when found (out grows by the value, possibly empty), 0 when absent (out untouched). */
int cookie_get(const char *header, size_t len, const char *name, int decode_percent, buf_t *out);

#endif
