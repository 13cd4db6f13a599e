/* jwt_verify.h - verification of the session JWTs shared with the REST API.
 *
 * Tokens arrive in the `token` cookie, an `Authorization: Bearer` header or a Socket.IO CONNECT
 * auth payload; all go through jwt_verify(). libjwt checks signatures, but it trusts the
 * token's own `alg` and checks no claims, so this module decides everything else first:
 *   - the header is decoded here (strict base64url, a JSON object without duplicate names);
 *     `alg` must be in the configured allow-list, "none" never passes, and the key is picked
 *     by the algorithm family (HS* only ever sees the secret, RS and ES only the public key),
 *     which defeats the algorithm-confusion attack of HMAC-signing with the public key text;
 *   - HMAC signatures are compared in constant time before libjwt's own check runs;
 *   - `exp` and `nbf` are enforced with clock_skew_s leeway (valid while now < exp + skew,
 *     and once now >= nbf - skew); when present they must be numbers. `iat` must be a number
 *     when present but is not compared with the clock: the REST API's verifier does not, and a
 *     fast issuer clock would otherwise lock users out; exp and nbf bound the validity;
 *   - a token without `exp` is refused when require_exp is set (a token that never expires
 *     cannot be revoked by waiting);
 *   - when an issuer is configured, `iss` must be that exact string; when an audience is
 *     configured, `aud` must be that string or an array holding it (RFC 7519 section 4.1.3).
 *     Unconfigured, both claims are ignored, as the REST API's verifier may not set them;
 *   - `sub` must be a non-empty string; it becomes the user id. A numeric `sub` is refused.
 * An HMAC secret must be at least as long as the hash output (RFC 7518 section 3.2): 32 bytes
 * for HS256, 48 for HS384, 64 for HS512. The secret is used as raw bytes, never decoded, so a
 * base64 text counts by its characters.
 * Tokens over JWT_MAX_TOKEN_LEN bytes are refused unread. Failure reasons are static strings
 * that never quote the token. The module holds no global state and never logs. */
#ifndef IOGATE_AUTH_JWT_VERIFY_H
#define IOGATE_AUTH_JWT_VERIFY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Longest token accepted, in bytes (browsers cap a cookie at about 4 KiB anyway). */
#define JWT_MAX_TOKEN_LEN 8192
/* Largest clock_skew_s accepted: a bigger leeway would make exp meaningless. */
#define JWT_MAX_CLOCK_SKEW_S 86400

typedef struct jwt_verifier jwt_verifier_t;

typedef struct jwt_verifier_config {
    const unsigned char *secret; /* HMAC secret for HS256/HS384/HS512, or NULL */
    size_t secret_len;
    const char *public_key_pem; /* "-----BEGIN PUBLIC KEY-----" (SPKI) for RS* or ES*, or NULL */
    size_t public_key_len;
    const char *const *algorithms; /* allow-list: "HS256" ... "ES512", case-sensitive */
    size_t algorithms_len;
    int64_t clock_skew_s; /* leeway for exp/nbf, 0..JWT_MAX_CLOCK_SKEW_S */
    int require_exp;      /* nonzero: a token without exp is refused */
    const char *issuer;   /* required value of iss, or NULL not to check it */
    const char *audience; /* a value aud must be or hold, or NULL not to check it */
} jwt_verifier_config_t;

/* Builds a verifier from cfg, copying what it needs (cfg may be freed afterwards).
 * The config must name at least one key and one algorithm; every algorithm must be known,
 * supported (libjwt 1.10 has no PS256/PS384/PS512) and usable with a configured key: HS* need
 * a secret at least as long as their hash (32, 48, 64 bytes), RS* need an RSA public key of at
 * least 2048 bits, ES256/ES384/ES512 need an EC public key on P-256/P-384/P-521 respectively.
 * "none" is refused. A given PEM must parse as a public key even if no listed algorithm uses
 * it. An issuer or audience, when given, must not be empty.
 * Returns NULL and writes a message to err (when err_size > 0) on any problem. */
jwt_verifier_t *jwt_verifier_new(const jwt_verifier_config_t *cfg, char *err, size_t err_size);

/* Frees v and wipes its copy of the secret. NULL is ignored. */
void jwt_verifier_free(jwt_verifier_t *v);

typedef struct jwt_principal {
    char *user_id;  /* owned: the sub claim */
    json_t *claims; /* owned: the whole payload object */
    int64_t exp;    /* the exp claim (rounded down), 0 when the token has none */
} jwt_principal_t;

typedef enum jwt_status {
    JWT_OK = 0,
    JWT_MALFORMED,     /* not a well-formed JWS compact token, or too long */
    JWT_BAD_ALGORITHM, /* alg missing, "none", unknown, not allowed, or no key for it */
    JWT_BAD_SIGNATURE, /* signature absent or not valid for the configured key */
    JWT_EXPIRED,       /* now >= exp + skew */
    JWT_NOT_YET_VALID, /* now < nbf - skew */
    JWT_BAD_CLAIMS,    /* payload not an object, bad sub, non-numeric exp/nbf/iat, exp missing
                          while required, iss or aud missing or not the configured value */
} jwt_status_t;

/* Verifies token[0..len) at time now (seconds since the epoch); the token need not be
 * NUL-terminated and out must not be NULL. On JWT_OK fills *out (release with
 * jwt_principal_free) and sets *reason to "ok". Otherwise *out is zeroed and, if reason is not
 * NULL, *reason points to a static human-readable reason that never contains token text. */
jwt_status_t jwt_verify(const jwt_verifier_t *v, const char *token, size_t len, int64_t now,
                        jwt_principal_t *out, const char **reason);

/* Frees what p owns and zeroes it; safe on a zeroed principal. */
void jwt_principal_free(jwt_principal_t *p);

/* A stable lowercase name for s ("ok", "malformed", "bad_algorithm", ...), for logs. */
const char *jwt_status_name(jwt_status_t s);

/* Extracts the token from an Authorization header value "Bearer <token>": the scheme is
 * case-insensitive, SP/HTAB around the value and between scheme and token are tolerated, and
 * the token must be non-empty without inner whitespace or control bytes. Returns 1 and points
 * *token and *token_len into value, or 0 (outputs untouched). */
int jwt_bearer_token(const char *value, size_t len, const char **token, size_t *token_len);

#endif
