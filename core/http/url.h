/* url.h - percent-decoding, query strings and request-target splitting.
 *
 * Pure helpers for the HTTP layer and the router: no I/O, no logging. Everything that comes
 * from a client is bounded (escapes are validated, the number of query parameters is capped)
 * and decoded NUL bytes are refused because decoded text is handed on as C strings. */
#ifndef IOGATE_URL_H
#define IOGATE_URL_H

#include <stddef.h>

#include "base/buf.h"

/* Percent-decodes len bytes of src and appends them to out (which stays NUL-terminated and is
   non-NULL afterwards). plus_is_space: '+' becomes ' ' (query strings); "%2B" is always '+'.
   Returns 0, or -1 for a malformed escape ('%' not followed by two hex digits) or a NUL byte
   (decoded or raw); on error out is restored to its previous length. */
int url_decode(buf_t *out, const char *src, size_t len, int plus_is_space);

typedef struct url_param {
    char *name;  /* owned, decoded */
    char *value; /* owned, decoded; "" for a key without '=' */
} url_param_t;

typedef struct url_query {
    url_param_t *items; /* in query order */
    size_t len;
} url_query_t;

#define URL_QUERY_INIT                                                                             \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

/* Parses "a=1&b=x%20y&flag&c=" (without the '?') into q, which is overwritten (not freed).
   Empty segments are skipped; a key without '=' has value ""; "=v" gives the name "".
   Names and values are decoded with '+' as space. More than max_params parameters, a malformed
   escape or a decoded NUL is an error. Returns 0, or -1 with q left empty (nothing to free). */
int url_query_parse(url_query_t *q, const char *src, size_t len, size_t max_params);

/* The value of the first parameter called name, or NULL. Borrowed from q. */
const char *url_query_get(const url_query_t *q, const char *name);

/* Frees every parameter; q is left empty and can be reused. */
void url_query_free(url_query_t *q);

/* Splits a request target "/path?query#frag" into path and query, pointing into target (no
   copies). The path ends at the first '?' or '#', the query runs from after the '?' to any '#'
   (a fragment is dropped). No '?': *query is NULL and *query_len 0. Absolute-form targets
   ("http://host:8080/path?q") are reduced to their path; an empty path there means "/" (the
   path then points to a static string). Returns 0, or -1 if the target is empty, is "*", or
   does not start with '/' after that reduction. */
int url_split_target(const char *target, size_t len, const char **path, size_t *path_len,
                     const char **query, size_t *query_len);

#endif
