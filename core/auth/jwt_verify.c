/* jwt_verify.c - JWT verification around libjwt 1.10: header, algorithm and key choice, claim
 * checks. libjwt only ever receives a token whose algorithm we have already accepted, together
 * with the one key that algorithm family may use. See jwt_verify.h for the rules. */
#include "base/errbuf.h"
#include "auth/jwt_verify.h"

#include <jwt.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base64.h"
#include "base/buf.h"
#include "base/mem.h"

/* Keys are handed to libjwt with an int length; keep them far below that. */
#define JWT_MAX_KEY_LEN (64 * 1024)

enum alg_family { FAM_HMAC, FAM_RSA, FAM_EC };

typedef struct alg_info {
    const char *name;
    jwt_alg_t lib;
    enum alg_family family;
    int curve_nid; /* EC only */
    const EVP_MD *(*md)(void);
} alg_info_t;

/* Names are case-sensitive (RFC 7518 section 3.1), unlike libjwt's own lookup. */
static const alg_info_t ALGS[] = {
    {"HS256", JWT_ALG_HS256, FAM_HMAC, NID_undef, EVP_sha256},
    {"HS384", JWT_ALG_HS384, FAM_HMAC, NID_undef, EVP_sha384},
    {"HS512", JWT_ALG_HS512, FAM_HMAC, NID_undef, EVP_sha512},
    {"RS256", JWT_ALG_RS256, FAM_RSA, NID_undef, EVP_sha256},
    {"RS384", JWT_ALG_RS384, FAM_RSA, NID_undef, EVP_sha384},
    {"RS512", JWT_ALG_RS512, FAM_RSA, NID_undef, EVP_sha512},
    {"ES256", JWT_ALG_ES256, FAM_EC, NID_X9_62_prime256v1, EVP_sha256},
    {"ES384", JWT_ALG_ES384, FAM_EC, NID_secp384r1, EVP_sha384},
    {"ES512", JWT_ALG_ES512, FAM_EC, NID_secp521r1, EVP_sha512},
};
#define ALG_COUNT (sizeof ALGS / sizeof ALGS[0])

struct jwt_verifier {
    unsigned char *secret; /* NULL when not configured */
    size_t secret_len;
    char *pem; /* canonical SPKI PEM re-encoded from the configured key, or NULL */
    size_t pem_len;
    unsigned allowed; /* bit i: ALGS[i] is in the allow-list */
    unsigned usable;  /* bit i: a configured key fits ALGS[i] */
    int64_t skew;
    int require_exp;
    char *issuer;   /* NULL: iss is not checked */
    char *audience; /* NULL: aud is not checked */
};

static int alg_index(const char *name)
{
    for (size_t i = 0; i < ALG_COUNT; i++)
        if (strcmp(ALGS[i].name, name) == 0) return (int)i;
    return -1;
}

/* libjwt 1.10 implements no RSASSA-PSS; say so rather than "unknown". */
static int is_pss(const char *name)
{
    return strcmp(name, "PS256") == 0 || strcmp(name, "PS384") == 0 || strcmp(name, "PS512") == 0;
}

static const char *curve_label(int nid)
{
    switch (nid) {
    case NID_X9_62_prime256v1:
        return "P-256";
    case NID_secp384r1:
        return "P-384";
    case NID_secp521r1:
        return "P-521";
    default:
        return "an unsupported curve";
    }
}

/* Parses the configured PEM: exactly one "PUBLIC KEY" block (SubjectPublicKeyInfo), RSA of at
 * least 2048 bits or EC on a JOSE curve. Stores a freshly encoded PEM of that key, so libjwt
 * never sees extra blocks or anything but a public key, and sets the usable bits. */
static int load_public_key(jwt_verifier_t *v, const char *pem, size_t pem_len, char *err,
                           size_t err_size)
{
    int ok = 0;
    EVP_PKEY *pkey = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    BIO *out = NULL;
    BIO *in = BIO_new_mem_buf(pem, (int)pem_len);
    if (!in) goto done;

    if (PEM_read_bio(in, &name, &header, &der, &der_len) != 1) {
        errbuf_set(err, err_size, "public key: no PEM block found");
        goto done;
    }
    if (strcmp(name, "PUBLIC KEY") != 0 || header[0] != '\0') {
        errbuf_set(err, err_size, "public key: expected a \"-----BEGIN PUBLIC KEY-----\" block");
        goto done;
    }
    {
        char *n2 = NULL, *h2 = NULL;
        unsigned char *d2 = NULL;
        long l2 = 0;
        int more = PEM_read_bio(in, &n2, &h2, &d2, &l2) == 1;
        OPENSSL_free(n2);
        OPENSSL_free(h2);
        OPENSSL_free(d2);
        if (more) {
            errbuf_set(err, err_size, "public key: the PEM holds more than one block");
            goto done;
        }
    }
    const unsigned char *p = der;
    pkey = d2i_PUBKEY(NULL, &p, der_len);
    if (!pkey || p != der + der_len) {
        errbuf_set(err, err_size, "public key: the PUBLIC KEY block does not parse");
        goto done;
    }

    int type = EVP_PKEY_get_base_id(pkey);
    if (type == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(pkey) < 2048) {
            errbuf_set(err, err_size, "public key: RSA keys must have at least 2048 bits");
            goto done;
        }
        for (size_t i = 0; i < ALG_COUNT; i++)
            if (ALGS[i].family == FAM_RSA) v->usable |= 1u << i;
    } else if (type == EVP_PKEY_EC) {
        char group[64];
        int nid = NID_undef;
        if (EVP_PKEY_get_group_name(pkey, group, sizeof group, NULL) == 1) {
            nid = OBJ_sn2nid(group);
            if (nid == NID_undef) nid = EC_curve_nist2nid(group);
        }
        int matched = 0;
        for (size_t i = 0; i < ALG_COUNT; i++) {
            if (ALGS[i].family == FAM_EC && ALGS[i].curve_nid == nid) {
                v->usable |= 1u << i;
                matched = 1;
            }
        }
        if (!matched) {
            errbuf_set(err, err_size, "public key: EC keys must be on P-256, P-384 or P-521");
            goto done;
        }
    } else {
        errbuf_set(err, err_size, "public key: only RSA and EC keys are supported");
        goto done;
    }

    out = BIO_new(BIO_s_mem());
    if (!out || PEM_write_bio_PUBKEY(out, pkey) != 1) {
        errbuf_set(err, err_size, "public key: cannot re-encode the key");
        goto done;
    }
    char *mem = NULL;
    long mem_len = BIO_get_mem_data(out, &mem);
    if (mem_len <= 0) {
        errbuf_set(err, err_size, "public key: cannot re-encode the key");
        goto done;
    }
    v->pem = xmemdup0(mem, (size_t)mem_len);
    v->pem_len = (size_t)mem_len;
    ok = 1;
done:
    if (!ok && err && err_size && err[0] == '\0')
        errbuf_set(err, err_size, "public key: cannot read the PEM");
    BIO_free(out);
    BIO_free(in);
    EVP_PKEY_free(pkey);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    ERR_clear_error(); /* leave no stale entries for unrelated OpenSSL users */
    return ok;
}

jwt_verifier_t *jwt_verifier_new(const jwt_verifier_config_t *cfg, char *err, size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    if (!cfg) {
        errbuf_set(err, err_size, "no JWT configuration");
        return NULL;
    }
    if (cfg->secret_len > 0 && !cfg->secret) {
        errbuf_set(err, err_size, "secret: length given without data");
        return NULL;
    }
    if (cfg->public_key_len > 0 && !cfg->public_key_pem) {
        errbuf_set(err, err_size, "public key: length given without data");
        return NULL;
    }
    int has_secret = cfg->secret && cfg->secret_len > 0;
    int has_pem = cfg->public_key_pem && cfg->public_key_len > 0;
    if (!has_secret && !has_pem) {
        errbuf_set(err, err_size, "no key configured: set a secret or a public key");
        return NULL;
    }
    if (cfg->secret_len > JWT_MAX_KEY_LEN || cfg->public_key_len > JWT_MAX_KEY_LEN) {
        errbuf_set(err, err_size, "key too long (the limit is %d bytes)", JWT_MAX_KEY_LEN);
        return NULL;
    }
    if (cfg->clock_skew_s < 0 || cfg->clock_skew_s > JWT_MAX_CLOCK_SKEW_S) {
        errbuf_set(err, err_size, "clock skew must be between 0 and %d seconds",
                   JWT_MAX_CLOCK_SKEW_S);
        return NULL;
    }
    if (!cfg->algorithms || cfg->algorithms_len == 0) {
        errbuf_set(err, err_size, "algorithms: list at least one algorithm");
        return NULL;
    }
    if ((cfg->issuer && !cfg->issuer[0]) || (cfg->audience && !cfg->audience[0])) {
        errbuf_set(err, err_size, "%s must not be empty (leave it out not to check it)",
                   cfg->issuer && !cfg->issuer[0] ? "issuer" : "audience");
        return NULL;
    }

    jwt_verifier_t *v = xcalloc(1, sizeof *v);
    v->skew = cfg->clock_skew_s;
    v->require_exp = cfg->require_exp != 0;
    v->issuer = cfg->issuer ? xstrdup(cfg->issuer) : NULL;
    v->audience = cfg->audience ? xstrdup(cfg->audience) : NULL;
    if (has_secret) {
        v->secret = (unsigned char *)xmemdup0(cfg->secret, cfg->secret_len);
        v->secret_len = cfg->secret_len;
        for (size_t i = 0; i < ALG_COUNT; i++)
            if (ALGS[i].family == FAM_HMAC) v->usable |= 1u << i;
    }
    if (has_pem && !load_public_key(v, cfg->public_key_pem, cfg->public_key_len, err, err_size))
        goto fail;

    for (size_t i = 0; i < cfg->algorithms_len; i++) {
        const char *name = cfg->algorithms[i];
        if (!name) {
            errbuf_set(err, err_size, "algorithms: entry %zu is missing", i);
            goto fail;
        }
        if (strcasecmp(name, "none") == 0) {
            errbuf_set(err, err_size, "algorithms: \"none\" would accept unsigned tokens");
            goto fail;
        }
        int idx = alg_index(name);
        if (idx < 0) {
            if (is_pss(name))
                errbuf_set(err, err_size, "algorithms: %s is not supported (no RSASSA-PSS)", name);
            else
                errbuf_set(err, err_size, "algorithms: unknown algorithm \"%.32s\"", name);
            goto fail;
        }
        const alg_info_t *a = &ALGS[idx];
        if (!(v->usable & 1u << idx)) {
            if (a->family == FAM_HMAC)
                errbuf_set(err, err_size, "algorithms: %s needs a secret", a->name);
            else if (!has_pem)
                errbuf_set(err, err_size, "algorithms: %s needs a public key", a->name);
            else if (a->family == FAM_RSA)
                errbuf_set(err, err_size, "algorithms: %s needs an RSA public key", a->name);
            else
                errbuf_set(err, err_size, "algorithms: %s needs an EC public key on %s", a->name,
                           curve_label(a->curve_nid));
            goto fail;
        }
        /* RFC 7518 section 3.2: a shorter key weakens the MAC below the hash's strength,
         * and a short shared secret can be brute-forced offline from one token. */
        size_t min_len = a->family == FAM_HMAC ? (size_t)EVP_MD_get_size(a->md()) : 0;
        if (v->secret_len < min_len) {
            errbuf_set(err, err_size,
                       "secret: %s needs at least %zu bytes, this one has %zu (RFC 7518 section "
                       "3.2: an HMAC key must be at least as long as the hash output)",
                       a->name, min_len, v->secret_len);
            goto fail;
        }
        v->allowed |= 1u << idx;
    }
    return v;
fail:
    jwt_verifier_free(v);
    return NULL;
}

void jwt_verifier_free(jwt_verifier_t *v)
{
    if (!v) return;
    if (v->secret) OPENSSL_cleanse(v->secret, v->secret_len);
    free(v->secret);
    free(v->pem);
    free(v->issuer);
    free(v->audience);
    free(v);
}

/* Reads an optional NumericDate claim: 0 absent, 1 present (*value set), -1 not a number. */
static int numeric_claim(json_t *claims, const char *name, double *value)
{
    json_t *c = json_object_get(claims, name);
    if (!c) return 0;
    if (!json_is_number(c)) return -1;
    *value = json_number_value(c);
    return 1;
}

/* aud is one string or an array of strings (RFC 7519 section 4.1.3): 1 if it names want,
 * 0 if not, -1 if it has another shape. */
static int audience_has(json_t *aud, const char *want)
{
    if (json_is_string(aud)) return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud)) return -1;
    int found = 0;
    for (size_t i = 0; i < json_array_size(aud); i++) {
        json_t *item = json_array_get(aud, i);
        if (!json_is_string(item)) return -1;
        if (strcmp(json_string_value(item), want) == 0) found = 1;
    }
    return found;
}

static int64_t clamp_seconds(double t)
{
    if (t >= 9.2e18) return INT64_MAX;
    if (t <= -9.2e18) return INT64_MIN;
    return (int64_t)floor(t);
}

jwt_status_t jwt_verify(const jwt_verifier_t *v, const char *token, size_t len, int64_t now,
                        jwt_principal_t *out, const char **reason)
{
    jwt_status_t st = JWT_OK;
    const char *why = "ok";
    json_t *header = NULL, *claims = NULL;
    buf_t tmp = BUF_INIT;
    char *copy = NULL;
    jwt_t *jwt = NULL;
    memset(out, 0, sizeof *out);

#define FAIL(status, text)                                                                         \
    do {                                                                                           \
        st = (status);                                                                             \
        why = (text);                                                                              \
        goto done;                                                                                 \
    } while (0)

    if (!v) FAIL(JWT_BAD_ALGORITHM, "no verifier configured");
    if (!token || len == 0) FAIL(JWT_MALFORMED, "token is empty");
    if (len > JWT_MAX_TOKEN_LEN) FAIL(JWT_MALFORMED, "token is too long");

    size_t dot[2], ndots = 0;
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots == 2) FAIL(JWT_MALFORMED, "token must have three segments");
            dot[ndots++] = i;
        } else if (!base64url_is_char((unsigned char)token[i])) {
            FAIL(JWT_MALFORMED, "token has characters outside base64url");
        }
    }
    if (ndots != 2) FAIL(JWT_MALFORMED, "token must have three segments");
    if (dot[0] == 0) FAIL(JWT_MALFORMED, "header segment is empty");
    if (dot[1] == dot[0] + 1) FAIL(JWT_MALFORMED, "payload segment is empty");

    /* The header decides which algorithm and key may be used, so it is read here, not by
     * libjwt. Duplicate names are refused: parsers disagree on which one wins. */
    if (base64url_decode_append(&tmp, token, dot[0]) != 0)
        FAIL(JWT_MALFORMED, "header is not valid base64url");
    header = json_loadb(tmp.data, tmp.len, JSON_REJECT_DUPLICATES, NULL);
    if (!header) FAIL(JWT_MALFORMED, "header is not valid JSON");
    if (!json_is_object(header)) FAIL(JWT_MALFORMED, "header is not a JSON object");

    json_t *alg = json_object_get(header, "alg");
    if (!alg) FAIL(JWT_BAD_ALGORITHM, "header has no alg");
    if (!json_is_string(alg)) FAIL(JWT_BAD_ALGORITHM, "alg is not a string");
    if (strcasecmp(json_string_value(alg), "none") == 0)
        FAIL(JWT_BAD_ALGORITHM, "unsigned tokens (alg none) are refused");
    int idx = alg_index(json_string_value(alg));
    if (idx < 0) FAIL(JWT_BAD_ALGORITHM, "unsupported algorithm");
    if (!(v->allowed & 1u << idx)) FAIL(JWT_BAD_ALGORITHM, "algorithm not allowed");
    if (!(v->usable & 1u << idx)) FAIL(JWT_BAD_ALGORITHM, "no key for this algorithm");
    const alg_info_t *a = &ALGS[idx];

    json_t *typ = json_object_get(header, "typ");
    if (typ && !(json_is_string(typ) && strcasecmp(json_string_value(typ), "JWT") == 0))
        FAIL(JWT_MALFORMED, "unsupported typ header");
    /* We implement no header extensions, so any critical one must be refused (RFC 7515). */
    if (json_object_get(header, "crit")) FAIL(JWT_MALFORMED, "crit header is not supported");

    /* The payload is parsed (same strict rules) before the signature check so that a token
     * libjwt could not read is reported as malformed, not as a bad signature. */
    buf_reset(&tmp);
    if (base64url_decode_append(&tmp, token + dot[0] + 1, dot[1] - dot[0] - 1) != 0)
        FAIL(JWT_MALFORMED, "payload is not valid base64url");
    claims = json_loadb(tmp.data, tmp.len, JSON_REJECT_DUPLICATES, NULL);
    if (!claims) FAIL(JWT_MALFORMED, "payload is not valid JSON");

    size_t sig_len = len - dot[1] - 1;
    if (sig_len == 0) FAIL(JWT_BAD_SIGNATURE, "signature is missing");
    buf_reset(&tmp);
    if (base64url_decode_append(&tmp, token + dot[1] + 1, sig_len) != 0)
        FAIL(JWT_MALFORMED, "signature is not valid base64url");

    /* The key is chosen by family, never by what the token asks for beyond that: HMAC gets
     * only the secret, RSA and EC only the public key. */
    const unsigned char *key;
    size_t key_len;
    if (a->family == FAM_HMAC) {
        /* libjwt compares HMACs with strcmp; a constant-time check first means its compare
         * only ever runs on signatures that are already known to be right. */
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        if (!HMAC(a->md(), v->secret, (int)v->secret_len, (const unsigned char *)token, dot[1], mac,
                  &mac_len))
            FAIL(JWT_BAD_SIGNATURE, "signature could not be checked");
        if (mac_len != tmp.len || CRYPTO_memcmp(mac, tmp.data, mac_len) != 0)
            FAIL(JWT_BAD_SIGNATURE, "signature does not match");
        key = v->secret;
        key_len = v->secret_len;
    } else {
        key = (const unsigned char *)v->pem;
        key_len = v->pem_len;
    }

    copy = xmemdup0(token, len);
    if (jwt_decode(&jwt, copy, key, (int)key_len) != 0 || !jwt) {
        ERR_clear_error();
        FAIL(JWT_BAD_SIGNATURE, "signature does not match");
    }
    if (jwt_get_alg(jwt) != a->lib) FAIL(JWT_BAD_ALGORITHM, "algorithm mismatch");

    /* Only now, with the signature verified, are the claims looked at. */
    if (!json_is_object(claims)) FAIL(JWT_BAD_CLAIMS, "payload is not a JSON object");

    double exp = 0, nbf = 0, iat = 0;
    int has_exp = numeric_claim(claims, "exp", &exp);
    if (has_exp < 0) FAIL(JWT_BAD_CLAIMS, "exp must be a number");
    int has_nbf = numeric_claim(claims, "nbf", &nbf);
    if (has_nbf < 0) FAIL(JWT_BAD_CLAIMS, "nbf must be a number");
    if (numeric_claim(claims, "iat", &iat) < 0) FAIL(JWT_BAD_CLAIMS, "iat must be a number");
    /* Compared as doubles: claims may be fractional, and no sum can overflow. */
    if (has_exp && (double)now >= exp + (double)v->skew) FAIL(JWT_EXPIRED, "token has expired");
    if (has_nbf && (double)now < nbf - (double)v->skew)
        FAIL(JWT_NOT_YET_VALID, "token is not valid yet");
    if (!has_exp && v->require_exp) FAIL(JWT_BAD_CLAIMS, "exp claim is missing");

    if (v->issuer) {
        json_t *iss = json_object_get(claims, "iss");
        if (!iss) FAIL(JWT_BAD_CLAIMS, "iss claim is missing");
        if (!json_is_string(iss)) FAIL(JWT_BAD_CLAIMS, "iss must be a string");
        if (strcmp(json_string_value(iss), v->issuer) != 0)
            FAIL(JWT_BAD_CLAIMS, "iss is not the configured issuer");
    }
    if (v->audience) {
        json_t *aud = json_object_get(claims, "aud");
        if (!aud) FAIL(JWT_BAD_CLAIMS, "aud claim is missing");
        int has = audience_has(aud, v->audience);
        if (has < 0) FAIL(JWT_BAD_CLAIMS, "aud must be a string or an array of strings");
        if (!has) FAIL(JWT_BAD_CLAIMS, "aud does not name the configured audience");
    }

    json_t *sub = json_object_get(claims, "sub");
    if (!sub) FAIL(JWT_BAD_CLAIMS, "sub claim is missing");
    if (!json_is_string(sub)) FAIL(JWT_BAD_CLAIMS, "sub must be a string");
    if (json_string_length(sub) == 0) FAIL(JWT_BAD_CLAIMS, "sub must not be empty");

    out->user_id = xstrdup(json_string_value(sub));
    out->exp = has_exp ? clamp_seconds(exp) : 0;
    out->claims = claims;
    claims = NULL;
#undef FAIL

done:
    if (jwt) jwt_free(jwt);
    free(copy);
    json_decref(header);
    json_decref(claims);
    buf_free(&tmp);
    if (reason) *reason = why;
    return st;
}

void jwt_principal_free(jwt_principal_t *p)
{
    if (!p) return;
    free(p->user_id);
    json_decref(p->claims);
    memset(p, 0, sizeof *p);
}

const char *jwt_status_name(jwt_status_t s)
{
    switch (s) {
    case JWT_OK:
        return "ok";
    case JWT_MALFORMED:
        return "malformed";
    case JWT_BAD_ALGORITHM:
        return "bad_algorithm";
    case JWT_BAD_SIGNATURE:
        return "bad_signature";
    case JWT_EXPIRED:
        return "expired";
    case JWT_NOT_YET_VALID:
        return "not_yet_valid";
    case JWT_BAD_CLAIMS:
        return "bad_claims";
    }
    return "unknown";
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int jwt_bearer_token(const char *value, size_t len, const char **token, size_t *token_len)
{
    if (!value) return 0;
    size_t s = 0, e = len;
    while (s < e && is_ows(value[s]))
        s++;
    while (e > s && is_ows(value[e - 1]))
        e--;
    if (e - s < 7 || strncasecmp(value + s, "Bearer", 6) != 0 || !is_ows(value[s + 6])) return 0;
    s += 6;
    while (s < e && is_ows(value[s]))
        s++;
    if (s == e) return 0;
    for (size_t i = s; i < e; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c <= 0x20 || c == 0x7F) return 0;
    }
    *token = value + s;
    *token_len = e - s;
    return 1;
}
