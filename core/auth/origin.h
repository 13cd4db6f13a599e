/* origin.h - where a request comes from, for deciding whether its cookie is a credential.
 *
 * A browser attaches the auth cookie to every request for this server, whichever page makes it:
 * a WebSocket handshake (no CORS applies to it) or a form POST from a foreign site would
 * otherwise act as the user. The page's origin is in the Origin header (every WebSocket
 * handshake, every cross-origin fetch/XHR and POST a browser makes), or failing that in the
 * Referer. A request is *same-origin* when the origin's host[:port] is the request's Host (the
 * check gorilla/websocket and Django make: a TLS proxy in front changes the scheme, not the
 * host), *listed* when the origin is one of [socketio] cors_origins exactly, and *foreign*
 * otherwise. "*" in that list serves anonymous CORS only: as in CORS itself, a wildcard never
 * admits credentials. A request with neither header (native clients, curl) is *absent*.
 *
 * The policy owns copies of its origins; the module keeps no other state and never logs. */
#ifndef IOGATE_AUTH_ORIGIN_H
#define IOGATE_AUTH_ORIGIN_H

#include <stddef.h>

#include "http/http.h"

typedef enum origin_verdict {
    ORIGIN_ABSENT = 0, /* no Origin and no Referer: not a browser page */
    ORIGIN_SAME,       /* the page came from this server (Host) */
    ORIGIN_LISTED,     /* one of the allowed origins */
    ORIGIN_FOREIGN,    /* any other page, "null", or a header that does not parse */
} origin_verdict_t;

typedef struct origin_policy {
    char **allowed; /* exact origins, "scheme://host[:port]"; "*" entries are left out */
    size_t nallowed;
} origin_policy_t;

/* Copies the allowed origins (entries equal to "*" are skipped: see above). */
void origin_policy_init(origin_policy_t *p, const char *const *origins, size_t n);
void origin_policy_free(origin_policy_t *p);

/* How the page that made req relates to this server. */
origin_verdict_t origin_classify(const origin_policy_t *p, const http_request_t *req);

/* 1 when a cookie on req may act as a credential: the request is not from a foreign page. */
int origin_allows_cookie(const origin_policy_t *p, const http_request_t *req);

/* The origin ("scheme://authority") of an Origin or Referer value v[0..len), or 0 when v has
 * none (no "scheme://", an empty authority, or "null"). On success *auth and *auth_len give the
 * authority (host[:port]) inside v and *origin_len the origin's length from v. Exposed for
 * the unit tests. */
int origin_parse(const char *v, size_t len, size_t *origin_len, const char **auth,
                 size_t *auth_len);

#endif
