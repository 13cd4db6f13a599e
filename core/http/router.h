/* router.h - REST routing: method + path pattern -> opaque handler.
 *
 * Patterns are made of '/'-separated segments: literals ("notifications") and parameters
 * (":id"). Routes live in a segment trie, so a lookup costs about one step per path segment
 * whatever the number of routes. Matching rules:
 *   - the path is split on raw '/', then each segment is percent-decoded; literals and
 *     parameters both see the decoded segment ("/a%62c" matches "/abc"; "%2F" stays inside its
 *     segment). A malformed escape or an encoded NUL anywhere is ROUTER_BAD_PATH.
 *   - strict slashes: "/notifications/" does not match "/notifications" (patterns cannot end
 *     in '/', except the root pattern "/"); an empty segment never matches a parameter.
 *   - a literal wins over a parameter at the same position, with backtracking: with
 *     "/n/unread-count" and "/n/:id/read", the path "/n/unread-count/read" matches the latter.
 *   - a route matches only if its method matches too: precedence picks among the routes that
 *     accept the request's method. HEAD uses a HEAD route if the matched node has one, else
 *     its GET route.
 * No wildcard segments: the Socket.IO endpoint is dispatched before the router.
 * Pure module: no I/O, no logging, single-threaded (the loop thread). */
#ifndef IOGATE_ROUTER_H
#define IOGATE_ROUTER_H

#include <stddef.h>

#include "base/buf.h"

#define ROUTER_MAX_PARAMS 16

/* router_add errors. */
#define ROUTER_EINVAL (-1)    /* bad method, pattern or handler */
#define ROUTER_ECONFLICT (-2) /* same method and same set of matched paths as an existing route */

typedef struct router router_t;

router_t *router_new(void);
/* Frees the router and its routes (not the handlers, which it never owned). NULL is a no-op. */
void router_free(router_t *r);

/* Adds a route; handler (not NULL) is an opaque pointer given back on match. method is an
   upper-case HTTP token ("GET", "PATCH", "PURGE", ...). method and pattern are copied.
   Returns 0, ROUTER_EINVAL (pattern must start with '/', no empty segments or trailing '/',
   no '?', '#', spaces or control bytes, valid escapes, parameter names [A-Za-z_][A-Za-z0-9_]*
   without duplicates, at most ROUTER_MAX_PARAMS parameters, no "*wildcard" segments) or
   ROUTER_ECONFLICT (same method and a pattern matching exactly the same paths, e.g. "/a/:id"
   vs "/a/:x" or "/abc" vs "/a%62c"); on error a message naming the problem (for a conflict,
   the existing route) is written to err (if not NULL and err_size > 0). */
int router_add(router_t *r, const char *method, const char *pattern, void *handler, char *err,
               size_t err_size);

typedef struct router_match {
    void *handler;
    const char *pattern; /* the matched route's pattern (owned by the router) */
    size_t nparams;
    struct {
        const char *name; /* owned by the router */
        char *value;      /* decoded; owned by the match */
    } params[ROUTER_MAX_PARAMS];
} router_match_t;

typedef enum router_result {
    ROUTER_FOUND = 0,
    ROUTER_NOT_FOUND,
    ROUTER_METHOD_NOT_ALLOWED,
    ROUTER_BAD_PATH, /* malformed escape, encoded NUL, or no leading '/': answer 400 */
} router_result_t;

/* Matches method + path (without the query, still percent-encoded). m is always initialised
   (call router_match_free on it whatever the result); it holds the handler and parameters
   only on ROUTER_FOUND, and stays valid until the route is removed or the router freed.
   On ROUTER_METHOD_NOT_ALLOWED, allow (if not NULL) is reset to the methods that would match
   this path, sorted and comma-separated, e.g. "GET, HEAD, PATCH" (HEAD whenever GET is). */
router_result_t router_match(const router_t *r, const char *method, const char *path,
                             size_t path_len, router_match_t *m, buf_t *allow);

/* The decoded value of parameter name in m, or NULL. Borrowed from m. */
const char *router_match_param(const router_match_t *m, const char *name);

/* Frees the parameter values; m is left empty. */
void router_match_free(router_match_t *m);

/* Calls cb for every route in registration order. cb must not add or remove routes. */
void router_foreach(const router_t *r,
                    void (*cb)(void *user, const char *method, const char *pattern, void *handler),
                    void *user);

/* Removes every route whose handler == handler (so a failed plugin leaves nothing behind).
   Returns how many were removed. */
size_t router_remove_handler(router_t *r, void *handler);

#endif
