/* authenticator.h - the one place where a request's credentials become a verified identity.
 *
 * REST routes and Socket.IO handshakes both ask it: an "Authorization: Bearer" header wins;
 * failing that the auth cookie counts, but only from a page the origin policy admits
 * (auth/origin.h), and on REST only with the CSRF checks below; the CONNECT packet's auth
 * payload goes through authenticator_verify_token(). It owns the JWT verifier built from
 * [auth] and the origin policy built from [socketio] cors_origins, and counts the credentials
 * it refuses, by reason (auth_stats_t); callers count the rest. */
#ifndef IOGATE_AUTH_AUTHENTICATOR_H
#define IOGATE_AUTH_AUTHENTICATOR_H

#include <stddef.h>
#include <stdint.h>

#include "auth/jwt_verify.h"
#include "auth/origin.h"
#include "config/config.h"
#include "http/http.h"

typedef struct authenticator authenticator_t;

typedef enum auth_result {
    AUTH_OK = 0,
    AUTH_NO_CREDENTIALS, /* no token offered, or no key configured to verify one */
    AUTH_INVALID,        /* a token that does not verify (malformed, signature, exp, ...) */
    AUTH_CROSS_SITE,     /* the cookie, sent by a page the origin policy does not admit */
    AUTH_BODY_NOT_JSON,  /* the cookie on a state-changing request whose body is not JSON */
} auth_result_t;

/* Who asks: the checks on a cookie differ. */
typedef enum auth_use {
    /* A REST request: the cookie counts on safe methods (GET, HEAD, OPTIONS, TRACE) from any
     * page, which is harmless since the page cannot read a cross-origin answer; on any other
     * method only from an admitted page and with a JSON body (a foreign page can send a
     * cookie-bearing form without a CORS preflight, but not a JSON one). */
    AUTH_USE_REST,
    /* A Socket.IO handshake (polling GET or WebSocket upgrade): no CORS protects a WebSocket,
     * so the cookie counts only from an admitted page, whatever the method. */
    AUTH_USE_HANDSHAKE,
} auth_use_t;

/* Builds the verifier from cfg's [auth] (none when no key is configured: every check then
 * gives AUTH_NO_CREDENTIALS) and the origin policy from [socketio] cors_origins. cfg must
 * outlive the authenticator. Returns NULL with err when a key file cannot be read or a key
 * does not fit the algorithms; a problem with the secret names the key or file it came from. */
authenticator_t *authenticator_new(const config_t *cfg, char *err, size_t err_size);
void authenticator_free(authenticator_t *a);
/* What authenticator_new would refuse in cfg, without keeping anything (--check-config). */
int authenticator_check_config(const config_t *cfg, char *err, size_t err_size);

/* The HMAC secret of [auth] as the verifier uses it: jwt_secret's bytes, or jwt_secret_file's
 * content without its trailing line breaks (`iogate token` signs with it). Returns 1 with *out
 * (owned: release with authenticator_secret_free, which wipes it) and *len; 0 when no secret
 * is configured; -1 with err when both keys are set or the file cannot be read. */
int authenticator_secret(const config_t *cfg, char **out, size_t *len, char *err, size_t err_size);
void authenticator_secret_free(char *secret, size_t len);

/* 1 when a key is configured, so that tokens can be verified at all. */
int authenticator_enabled(const authenticator_t *a);
/* Whether the CONNECT packet's {"token": ...} may authenticate a socket ([auth]). */
int authenticator_allows_auth_payload(const authenticator_t *a);

/* The credentials of req, checked for use. AUTH_OK fills *out (free it with
 * jwt_principal_free); otherwise *out is zeroed and *reason says why, for an answer or a log
 * line (static text). */
auth_result_t authenticator_check_request(const authenticator_t *a, const http_request_t *req,
                                          auth_use_t use, jwt_principal_t *out,
                                          const char **reason);
/* A bare token (the CONNECT auth payload's), presented for use. As above; AUTH_NO_CREDENTIALS
 * only when no key is configured. */
auth_result_t authenticator_verify_token(const authenticator_t *a, auth_use_t use,
                                         const char *token, size_t len, jwt_principal_t *out,
                                         const char **reason);

/* Credentials refused, for GET /metrics: a token that does not verify, by its jwt_status_t
 * (malformed, bad_algorithm, bad_signature, expired, not_yet_valid, bad_claims), and a cookie
 * the origin rules refuse (cross_site, body_not_json); by who asked (auth_use_t). Plain adds on
 * the loop thread. No credentials at all is not a failure. */
#define AUTH_FAILURE_REASONS 8
typedef struct auth_stats {
    uint64_t failures[2][AUTH_FAILURE_REASONS]; /* [auth_use_t][reason] */
} auth_stats_t;
const auth_stats_t *authenticator_stats(const authenticator_t *a);
/* The reason's stable lowercase name ("expired", "cross_site", ...). */
const char *auth_failure_reason_name(int reason);

/* The HTTP status that refuses a request for r: 401 (no or invalid credentials), 403 (cross
 * site) or 415 (body not JSON); 0 for AUTH_OK. */
int auth_result_http_status(auth_result_t r);
/* A stable lowercase name for r ("ok", "no_credentials", ...), for logs and counters. */
const char *auth_result_name(auth_result_t r);

#endif
