/* authenticator.c - credentials to a verified identity, for REST and Socket.IO alike; the
 * verifier and the origin policy built from the configuration. */
#include "auth/authenticator.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "auth/cookie.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"

struct authenticator {
    jwt_verifier_t *verifier; /* NULL when no key is configured */
    origin_policy_t origins;
    const char *cookie_name;
    int allow_auth_payload;
    auth_stats_t *stats; /* apart: the checks take a const authenticator and still count */
};

/* Reasons 0..5 are the jwt_status_t failures in their order, then the cookie's refusals. */
#define REASON_CROSS_SITE (JWT_BAD_CLAIMS)
#define REASON_BODY_NOT_JSON (JWT_BAD_CLAIMS + 1)
_Static_assert(REASON_BODY_NOT_JSON + 1 == AUTH_FAILURE_REASONS, "auth failure reasons");

const char *auth_failure_reason_name(int reason)
{
    if (reason == REASON_CROSS_SITE) return "cross_site";
    if (reason == REASON_BODY_NOT_JSON) return "body_not_json";
    return jwt_status_name((jwt_status_t)(reason + 1));
}

const auth_stats_t *authenticator_stats(const authenticator_t *a)
{
    return a->stats;
}

/* Reads a whole small file (keys, secrets); NULL with err on failure. */
static char *read_small_file(const char *path, size_t *len, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < 1024 * 1024)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b, len);
}

int authenticator_secret(const config_t *cfg, char **out, size_t *len, char *err, size_t err_size)
{
    *out = NULL;
    *len = 0;
    if (cfg->auth.jwt_secret && cfg->auth.jwt_secret_file) {
        snprintf(err, err_size, "[auth] set jwt_secret or jwt_secret_file, not both");
        return -1;
    }
    if (cfg->auth.jwt_secret) {
        *len = strlen(cfg->auth.jwt_secret);
        *out = xmemdup0(cfg->auth.jwt_secret, *len);
        return 1;
    }
    if (!cfg->auth.jwt_secret_file) return 0;
    char *s = read_small_file(cfg->auth.jwt_secret_file, len, err, err_size);
    if (!s) return -1;
    /* A file's trailing line break is the editor's, not the secret's. */
    while (*len && (s[*len - 1] == '\n' || s[*len - 1] == '\r'))
        s[--*len] = '\0';
    *out = s;
    return 1;
}

void authenticator_secret_free(char *secret, size_t len)
{
    if (!secret) return;
    memset(secret, 0, len);
    free(secret);
}

/* The JWT verifier from [auth]; *out stays NULL when no key is configured. */
static int build_verifier(const config_t *cfg, jwt_verifier_t **out, char *err, size_t err_size)
{
    *out = NULL;
    char *secret = NULL, *pem = NULL;
    size_t secret_len = 0, pem_len = 0;
    int rc = -1;
    if (authenticator_secret(cfg, &secret, &secret_len, err, err_size) < 0) return -1;
    if (cfg->auth.jwt_public_key_file) {
        pem = read_small_file(cfg->auth.jwt_public_key_file, &pem_len, err, err_size);
        if (!pem) goto done;
    }
    if (!secret && !pem) {
        rc = 0;
        goto done;
    }
    jwt_verifier_config_t vc = {
        .secret = (const unsigned char *)secret,
        .secret_len = secret ? secret_len : 0,
        .public_key_pem = pem,
        .public_key_len = pem_len,
        .algorithms = (const char *const *)cfg->auth.algorithms.items,
        .algorithms_len = cfg->auth.algorithms.len,
        .clock_skew_s = cfg->auth.clock_skew_s,
        .require_exp = cfg->auth.require_exp,
        .issuer = cfg->auth.issuer,
        .audience = cfg->auth.audience,
    };
    char why[256];
    *out = jwt_verifier_new(&vc, why, sizeof(why));
    if (!*out) {
        /* A problem with the secret names the key it came from: where it is set inline,
         * or the file it was read from. */
        static const char prefix[] = "secret: ", key_prefix[] = "public key: ";
        const char *what = why;
        if (strncmp(why, prefix, sizeof(prefix) - 1) == 0) what = why + sizeof(prefix) - 1;
        if (strncmp(why, key_prefix, sizeof(key_prefix) - 1) == 0 &&
            cfg->auth.jwt_public_key_file) {
            snprintf(err, err_size, "[auth] jwt_public_key_file \"%s\": %s",
                     cfg->auth.jwt_public_key_file, why + sizeof(key_prefix) - 1);
        } else if (what == why) {
            snprintf(err, err_size, "[auth] %s", why);
        } else if (cfg->auth.jwt_secret_file) {
            snprintf(err, err_size, "[auth] jwt_secret_file \"%s\": %s", cfg->auth.jwt_secret_file,
                     what);
        } else {
            char origin[512];
            config_key_origin(cfg, "auth", "jwt_secret", origin, sizeof(origin));
            snprintf(err, err_size, "%s: [auth] jwt_secret: %s", origin, what);
        }
        goto done;
    }
    rc = 0;
done:
    authenticator_secret_free(secret, secret_len);
    free(pem);
    return rc;
}

int authenticator_check_config(const config_t *cfg, char *err, size_t err_size)
{
    jwt_verifier_t *v = NULL;
    if (build_verifier(cfg, &v, err, err_size) != 0) return -1;
    jwt_verifier_free(v);
    return 0;
}

authenticator_t *authenticator_new(const config_t *cfg, char *err, size_t err_size)
{
    authenticator_t *a = xcalloc(1, sizeof(*a));
    if (build_verifier(cfg, &a->verifier, err, err_size) != 0) {
        free(a);
        return NULL;
    }
    origin_policy_init(&a->origins, (const char *const *)cfg->socketio.cors_origins.items,
                       cfg->socketio.cors_origins.len);
    a->cookie_name = cfg->auth.cookie_name ? cfg->auth.cookie_name : "token";
    a->allow_auth_payload = cfg->auth.allow_auth_payload;
    a->stats = xcalloc(1, sizeof(*a->stats));
    return a;
}

void authenticator_free(authenticator_t *a)
{
    if (!a) return;
    jwt_verifier_free(a->verifier);
    origin_policy_free(&a->origins);
    free(a->stats);
    free(a);
}

int authenticator_enabled(const authenticator_t *a)
{
    return a->verifier != NULL;
}

int authenticator_allows_auth_payload(const authenticator_t *a)
{
    return a->allow_auth_payload;
}

/* Methods that change nothing (RFC 9110 §9.2.1): a cross-site page may make them freely. */
static int method_is_safe(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
           strcmp(method, "OPTIONS") == 0 || strcmp(method, "TRACE") == 0;
}

/* application/json or any application/...+json, parameters allowed. */
static int content_type_is_json(const char *type)
{
    if (!type) return 0;
    size_t n = strcspn(type, ";");
    while (n && (type[n - 1] == ' ' || type[n - 1] == '\t'))
        n--;
    if (strncasecmp(type, "application/", 12) != 0) return 0;
    return (n == 16 && strncasecmp(type + 12, "json", 4) == 0) ||
           (n > 17 && strncasecmp(type + n - 5, "+json", 5) == 0);
}

/* Whether the cookie on req may act as a credential for use (see auth_use_t). */
static auth_result_t cookie_check(const authenticator_t *a, const http_request_t *req,
                                  auth_use_t use, const char **reason)
{
    if (use == AUTH_USE_REST && method_is_safe(http_request_method(req))) return AUTH_OK;
    if (!origin_allows_cookie(&a->origins, req)) {
        *reason = "cross-site request refused: the Origin is not allowed to use the cookie";
        a->stats->failures[use][REASON_CROSS_SITE]++;
        return AUTH_CROSS_SITE;
    }
    if (use == AUTH_USE_HANDSHAKE) return AUTH_OK;
    size_t len;
    http_request_body(req, &len);
    if (len && !content_type_is_json(http_request_header(req, "content-type"))) {
        *reason =
            "a cookie-authenticated request body must be JSON (Content-Type: application/json)";
        a->stats->failures[use][REASON_BODY_NOT_JSON]++;
        return AUTH_BODY_NOT_JSON;
    }
    return AUTH_OK;
}

auth_result_t authenticator_verify_token(const authenticator_t *a, auth_use_t use,
                                         const char *token, size_t len, jwt_principal_t *out,
                                         const char **reason)
{
    memset(out, 0, sizeof(*out));
    if (!a->verifier) {
        *reason = "no key is configured to verify tokens";
        return AUTH_NO_CREDENTIALS;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    const char *why = NULL;
    jwt_status_t st = jwt_verify(a->verifier, token, len, (int64_t)tv.tv_sec, out, &why);
    if (st != JWT_OK) {
        a->stats->failures[use][st - 1]++;
        log_debug("auth", "token refused: %s (%s)", jwt_status_name(st), why ? why : "");
        *reason = "invalid or expired token";
        return AUTH_INVALID;
    }
    *reason = "ok";
    return AUTH_OK;
}

auth_result_t authenticator_check_request(const authenticator_t *a, const http_request_t *req,
                                          auth_use_t use, jwt_principal_t *out, const char **reason)
{
    memset(out, 0, sizeof(*out));
    *reason = "authentication required";
    if (!a->verifier) return AUTH_NO_CREDENTIALS;
    const char *authz = http_request_header(req, "authorization");
    const char *bearer;
    size_t bearer_len;
    if (authz && jwt_bearer_token(authz, strlen(authz), &bearer, &bearer_len))
        return authenticator_verify_token(a, use, bearer, bearer_len, out, reason);
    const char *cookie = http_request_header(req, "cookie");
    buf_t token = BUF_INIT;
    if (!cookie || cookie_get(cookie, strlen(cookie), a->cookie_name, 1, &token) != 1) {
        buf_free(&token);
        return AUTH_NO_CREDENTIALS;
    }
    auth_result_t r = cookie_check(a, req, use, reason);
    if (r == AUTH_OK)
        r = authenticator_verify_token(a, use, token.data ? token.data : "", token.len, out,
                                       reason);
    else
        log_debug("auth", "%s %s: cookie not used: %s", http_request_method(req),
                  http_request_target(req), *reason);
    buf_free(&token);
    return r;
}

int auth_result_http_status(auth_result_t r)
{
    switch (r) {
    case AUTH_OK:
        return 0;
    case AUTH_CROSS_SITE:
        return 403;
    case AUTH_BODY_NOT_JSON:
        return 415;
    case AUTH_NO_CREDENTIALS:
    case AUTH_INVALID:
    default:
        return 401;
    }
}

const char *auth_result_name(auth_result_t r)
{
    switch (r) {
    case AUTH_OK:
        return "ok";
    case AUTH_NO_CREDENTIALS:
        return "no_credentials";
    case AUTH_INVALID:
        return "invalid";
    case AUTH_CROSS_SITE:
        return "cross_site";
    case AUTH_BODY_NOT_JSON:
        return "body_not_json";
    }
    return "unknown";
}
