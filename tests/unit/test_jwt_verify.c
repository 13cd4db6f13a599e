/* test_jwt_verify.c - JWT verification: real tokens minted with libjwt and OpenSSL keys,
 * algorithm confusion, claim checks, malformed input and configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt_verify.h"
#include "base/buf.h"

#define NOW INT64_C(1700000000)
/* 64 bytes: long enough for HS512, the longest rule (RFC 7518 section 3.2). */
static const char SECRET[] = "a-shared-secret-of-64-bytes-so-that-hs512-accepts-it-0123456789.";

typedef struct keys {
    char *rsa_priv, *rsa_pub; /* RSA 2048 */
    char *ec_priv, *ec_pub;   /* EC P-256 */
    char *ec384_pub;          /* EC P-384 */
    char *rsa1024_pub;        /* too small */
} keys_t;

static char *bio_text(BIO *b)
{
    char *mem = NULL;
    long n = BIO_get_mem_data(b, &mem);
    char *s = malloc((size_t)n + 1);
    memcpy(s, mem, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static char *pem_private(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    return bio_text(b);
}

static char *pem_public(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    return bio_text(b);
}

static int setup_keys(void **state)
{
    keys_t *k = calloc(1, sizeof *k);
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    if (!rsa || !ec || !ec384 || !rsa1024) return -1;
    k->rsa_priv = pem_private(rsa);
    k->rsa_pub = pem_public(rsa);
    k->ec_priv = pem_private(ec);
    k->ec_pub = pem_public(ec);
    k->ec384_pub = pem_public(ec384);
    k->rsa1024_pub = pem_public(rsa1024);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(rsa1024);
    *state = k;
    return 0;
}

static int teardown_keys(void **state)
{
    keys_t *k = *state;
    free(k->rsa_priv);
    free(k->rsa_pub);
    free(k->ec_priv);
    free(k->ec_pub);
    free(k->ec384_pub);
    free(k->rsa1024_pub);
    free(k);
    return 0;
}

/* Mints a token with libjwt: claims_json is added as grants. Caller frees. */
static char *mint(jwt_alg_t alg, const void *key, size_t key_len, const char *claims_json)
{
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, claims_json), 0);
    assert_int_equal(jwt_set_alg(j, alg, key, (int)key_len), 0);
    char *tok = jwt_encode_str(j);
    assert_non_null(tok);
    jwt_free(j);
    return tok;
}

static char *mint_hs(jwt_alg_t alg, const char *claims_json)
{
    return mint(alg, SECRET, strlen(SECRET), claims_json);
}

static void b64url_append(buf_t *out, const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = acc << 8 | p[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            buf_append_byte(out, (uint8_t)tab[(acc >> bits) & 63]);
        }
    }
    if (bits > 0) buf_append_byte(out, (uint8_t)tab[(acc << (6 - bits)) & 63]);
}

/* Hand-crafts "header.payload" and, with a secret, an HMAC-SHA256 signature over it. */
static char *craft(const char *header, const char *payload, const char *hmac_secret)
{
    buf_t t = BUF_INIT;
    b64url_append(&t, header, strlen(header));
    buf_append_byte(&t, '.');
    b64url_append(&t, payload, strlen(payload));
    size_t signed_len = t.len;
    buf_append_byte(&t, '.');
    if (hmac_secret) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        HMAC(EVP_sha256(), hmac_secret, (int)strlen(hmac_secret), (unsigned char *)t.data,
             signed_len, mac, &mac_len);
        b64url_append(&t, mac, mac_len);
    }
    size_t n;
    return buf_steal(&t, &n);
}

static jwt_verifier_t *verifier_from(const jwt_verifier_config_t *cfg)
{
    char err[256];
    jwt_verifier_t *v = jwt_verifier_new(cfg, err, sizeof err);
    if (!v) fail_msg("config refused: %s", err);
    return v;
}

static jwt_verifier_t *verifier(const char *secret, const char *pem, const char *const *algs,
                                size_t nalgs, int64_t skew)
{
    jwt_verifier_config_t cfg = {
        .secret = (const unsigned char *)secret,
        .secret_len = secret ? strlen(secret) : 0,
        .public_key_pem = pem,
        .public_key_len = pem ? strlen(pem) : 0,
        .algorithms = algs,
        .algorithms_len = nalgs,
        .clock_skew_s = skew,
    };
    return verifier_from(&cfg);
}

static const char *const HS_ALL[] = {"HS256", "HS384", "HS512"};

/* An HS256 verifier with SECRET and the claim rules given. */
static jwt_verifier_t *claims_verifier(int require_exp, const char *issuer, const char *audience)
{
    static const char *const hs256[] = {"HS256"};
    return verifier_from(&(jwt_verifier_config_t){.secret = (const unsigned char *)SECRET,
                                                  .secret_len = strlen(SECRET),
                                                  .algorithms = hs256,
                                                  .algorithms_len = 1,
                                                  .require_exp = require_exp,
                                                  .issuer = issuer,
                                                  .audience = audience});
}

/* Verifies and checks the status; on failure also checks the principal is zeroed and the
 * reason does not quote the token. Returns the reason. */
static const char *check(const jwt_verifier_t *v, const char *tok, jwt_status_t want)
{
    jwt_principal_t p;
    const char *reason = NULL;
    jwt_status_t st = jwt_verify(v, tok, strlen(tok), NOW, &p, &reason);
    if (st != want)
        fail_msg("got %s (%s), want %s", jwt_status_name(st), reason, jwt_status_name(want));
    assert_non_null(reason);
    if (st == JWT_OK) {
        jwt_principal_free(&p);
    } else {
        assert_null(p.user_id);
        assert_null(p.claims);
        assert_int_equal(p.exp, 0);
        if (strlen(tok) >= 6) {
            char head[7];
            memcpy(head, tok, 6);
            head[6] = '\0';
            assert_null(strstr(reason, head));
        }
    }
    return reason;
}

static void valid_hmac_tokens(void **state)
{
    (void)state;
    jwt_verifier_t *v = verifier(SECRET, NULL, HS_ALL, 3, 0);
    const jwt_alg_t algs[] = {JWT_ALG_HS256, JWT_ALG_HS384, JWT_ALG_HS512};
    for (size_t i = 0; i < 3; i++) {
        char *tok = mint_hs(algs[i], "{\"sub\":\"user-42\",\"role\":\"admin\",\"exp\":1700003600,"
                                     "\"iat\":1699999000}");
        jwt_principal_t p;
        const char *reason = NULL;
        assert_int_equal(jwt_verify(v, tok, strlen(tok), NOW, &p, &reason), JWT_OK);
        assert_string_equal(reason, "ok");
        assert_string_equal(p.user_id, "user-42");
        assert_int_equal(p.exp, 1700003600);
        assert_string_equal(json_string_value(json_object_get(p.claims, "role")), "admin");
        jwt_principal_free(&p);
        assert_null(p.user_id);
        jwt_principal_free(&p); /* safe twice */
        free(tok);
    }
    jwt_verifier_free(v);
    jwt_verifier_free(NULL);
}

static void valid_rs256_and_es256_tokens(void **state)
{
    keys_t *k = *state;
    const char *const rs[] = {"RS256", "RS384", "RS512"};
    jwt_verifier_t *v = verifier(NULL, k->rsa_pub, rs, 3, 0);
    char *tok = mint(JWT_ALG_RS256, k->rsa_priv, strlen(k->rsa_priv), "{\"sub\":\"rsa-user\"}");
    jwt_principal_t p;
    assert_int_equal(jwt_verify(v, tok, strlen(tok), NOW, &p, NULL), JWT_OK);
    assert_string_equal(p.user_id, "rsa-user");
    assert_int_equal(p.exp, 0);
    jwt_principal_free(&p);
    free(tok);
    tok = mint(JWT_ALG_RS512, k->rsa_priv, strlen(k->rsa_priv), "{\"sub\":\"rsa-512\"}");
    check(v, tok, JWT_OK);
    free(tok);
    /* An ES256 token against an RSA-only verifier. */
    tok = mint(JWT_ALG_ES256, k->ec_priv, strlen(k->ec_priv), "{\"sub\":\"ec-user\"}");
    assert_string_equal(check(v, tok, JWT_BAD_ALGORITHM), "algorithm not allowed");
    jwt_verifier_free(v);

    const char *const es[] = {"ES256"};
    v = verifier(NULL, k->ec_pub, es, 1, 0);
    assert_int_equal(jwt_verify(v, tok, strlen(tok), NOW, &p, NULL), JWT_OK);
    assert_string_equal(p.user_id, "ec-user");
    jwt_principal_free(&p);
    free(tok);
    jwt_verifier_free(v);
}

static void tampered_and_wrongly_keyed_tokens(void **state)
{
    keys_t *k = *state;
    jwt_verifier_t *hs = verifier(SECRET, NULL, HS_ALL, 3, 0);
    const char *const rs_es[] = {"RS256"};
    jwt_verifier_t *rs = verifier(NULL, k->rsa_pub, rs_es, 1, 0);
    const char *const es_only[] = {"ES256"};
    jwt_verifier_t *es = verifier(NULL, k->ec_pub, es_only, 1, 0);

    char *toks[3] = {
        mint_hs(JWT_ALG_HS256, "{\"sub\":\"u1\"}"),
        mint(JWT_ALG_RS256, k->rsa_priv, strlen(k->rsa_priv), "{\"sub\":\"u1\"}"),
        mint(JWT_ALG_ES256, k->ec_priv, strlen(k->ec_priv), "{\"sub\":\"u1\"}"),
    };
    jwt_verifier_t *vs[3] = {hs, rs, es};
    for (int i = 0; i < 3; i++) {
        check(vs[i], toks[i], JWT_OK);
        /* Flip one character inside the signature (not the last, whose low bits are padding). */
        char *bad = strdup(toks[i]);
        char *sig = strrchr(bad, '.') + 1;
        sig[3] = sig[3] == 'A' ? 'B' : 'A';
        check(vs[i], bad, JWT_BAD_SIGNATURE);
        /* Swap in another payload, keeping the signature. */
        buf_t t = BUF_INIT;
        buf_append(&t, toks[i], (size_t)(strchr(toks[i], '.') - toks[i]) + 1);
        b64url_append(&t, "{\"sub\":\"admin\"}", 15);
        buf_append_str(&t, strrchr(toks[i], '.'));
        check(vs[i], t.data, JWT_BAD_SIGNATURE);
        buf_free(&t);
        /* No signature at all. */
        *sig = '\0';
        assert_string_equal(check(vs[i], bad, JWT_BAD_SIGNATURE), "signature is missing");
        free(bad);
    }

    /* Right algorithm, wrong key. */
    char *other = mint(JWT_ALG_HS256, "another-secret", 14, "{\"sub\":\"u1\"}");
    assert_string_equal(check(hs, other, JWT_BAD_SIGNATURE), "signature does not match");
    free(other);
    EVP_PKEY *rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    char *rsa2_priv = pem_private(rsa2);
    other = mint(JWT_ALG_RS256, rsa2_priv, strlen(rsa2_priv), "{\"sub\":\"u1\"}");
    check(rs, other, JWT_BAD_SIGNATURE);
    free(other);
    free(rsa2_priv);
    EVP_PKEY_free(rsa2);

    for (int i = 0; i < 3; i++)
        free(toks[i]);
    jwt_verifier_free(hs);
    jwt_verifier_free(rs);
    jwt_verifier_free(es);
}

static void algorithm_confusion_is_refused(void **state)
{
    keys_t *k = *state;
    /* HS256 signed with the RSA public key text as the HMAC secret. */
    char *attack = mint(JWT_ALG_HS256, k->rsa_pub, strlen(k->rsa_pub), "{\"sub\":\"admin\"}");
    /* libjwt alone accepts it when handed the PEM: the attack is real. */
    jwt_t *j = NULL;
    assert_int_equal(
        jwt_decode(&j, attack, (const unsigned char *)k->rsa_pub, (int)strlen(k->rsa_pub)), 0);
    jwt_free(j);

    const char *const rs[] = {"RS256"};
    jwt_verifier_t *v = verifier(NULL, k->rsa_pub, rs, 1, 0);
    assert_string_equal(check(v, attack, JWT_BAD_ALGORITHM), "algorithm not allowed");
    jwt_verifier_free(v);

    /* HS256 and RS256 both allowed with only a public key: refused at configuration. */
    const char *const both[] = {"HS256", "RS256"};
    jwt_verifier_config_t cfg = {.public_key_pem = k->rsa_pub,
                                 .public_key_len = strlen(k->rsa_pub),
                                 .algorithms = both,
                                 .algorithms_len = 2};
    char err[128];
    assert_null(jwt_verifier_new(&cfg, err, sizeof err));
    assert_string_equal(err, "algorithms: HS256 needs a secret");

    /* Both allowed and both keys configured: HS256 is checked with the secret only. */
    v = verifier(SECRET, k->rsa_pub, both, 2, 0);
    assert_string_equal(check(v, attack, JWT_BAD_SIGNATURE), "signature does not match");
    char *good = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\"}");
    check(v, good, JWT_OK);
    free(good);
    good = mint(JWT_ALG_RS256, k->rsa_priv, strlen(k->rsa_priv), "{\"sub\":\"u\"}");
    check(v, good, JWT_OK);
    free(good);
    jwt_verifier_free(v);
    free(attack);

    /* Same with an EC key. */
    attack = mint(JWT_ALG_HS256, k->ec_pub, strlen(k->ec_pub), "{\"sub\":\"admin\"}");
    const char *const es[] = {"ES256"};
    v = verifier(NULL, k->ec_pub, es, 1, 0);
    check(v, attack, JWT_BAD_ALGORITHM);
    jwt_verifier_free(v);
    free(attack);
}

static void unsigned_and_unlisted_algorithms(void **state)
{
    (void)state;
    const char *const hs256[] = {"HS256"};
    jwt_verifier_t *v = verifier(SECRET, NULL, hs256, 1, 0);
    const char *nones[] = {"none", "None", "NONE"};
    for (int i = 0; i < 3; i++) {
        char hdr[64];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", nones[i]);
        char *tok = craft(hdr, "{\"sub\":\"admin\"}", NULL);
        assert_string_equal(check(v, tok, JWT_BAD_ALGORITHM),
                            "unsigned tokens (alg none) are refused");
        free(tok);
        tok = craft(hdr, "{\"sub\":\"admin\"}", SECRET); /* with a signature too */
        check(v, tok, JWT_BAD_ALGORITHM);
        free(tok);
    }
    char *tok = mint_hs(JWT_ALG_HS384, "{\"sub\":\"u\"}");
    assert_string_equal(check(v, tok, JWT_BAD_ALGORITHM), "algorithm not allowed");
    free(tok);
    /* libjwt matches names case-insensitively; we do not, even with a correct signature. */
    tok = craft("{\"alg\":\"hs256\"}", "{\"sub\":\"u\"}", SECRET);
    assert_string_equal(check(v, tok, JWT_BAD_ALGORITHM), "unsupported algorithm");
    free(tok);
    tok = craft("{\"alg\":\"HS256\"}", "{\"sub\":\"u\"}", SECRET); /* control: no typ is fine */
    check(v, tok, JWT_OK);
    free(tok);
    const char *bad_headers[] = {"{\"typ\":\"JWT\"}", "{\"alg\":256}", "{\"alg\":null}",
                                 "{\"alg\":\"PS256\"}", "{\"alg\":\"\"}"};
    for (int i = 0; i < 5; i++) {
        tok = craft(bad_headers[i], "{\"sub\":\"u\"}", SECRET);
        check(v, tok, JWT_BAD_ALGORITHM);
        free(tok);
    }
    /* Two alg members: parsers disagree on which wins, so the header is refused. */
    tok = craft("{\"alg\":\"none\",\"alg\":\"HS256\"}", "{\"sub\":\"u\"}", SECRET);
    assert_string_equal(check(v, tok, JWT_MALFORMED), "header is not valid JSON");
    free(tok);
    tok = craft("{\"alg\":\"HS256\",\"typ\":\"JOSE+JSON\"}", "{\"sub\":\"u\"}", SECRET);
    assert_string_equal(check(v, tok, JWT_MALFORMED), "unsupported typ header");
    free(tok);
    tok = craft("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", "{\"sub\":\"u\"}", SECRET);
    assert_string_equal(check(v, tok, JWT_MALFORMED), "crit header is not supported");
    free(tok);
    jwt_verifier_free(v);
}

static void exp_and_nbf_with_skew(void **state)
{
    (void)state;
    jwt_verifier_t *strict = verifier(SECRET, NULL, HS_ALL, 3, 0);
    jwt_verifier_t *lenient = verifier(SECRET, NULL, HS_ALL, 3, 30);
    char claims[128];
    struct {
        const char *fmt;
        int64_t t;
        jwt_status_t strict, lenient;
    } cases[] = {
        {"{\"sub\":\"u\",\"exp\":%lld}", NOW - 10, JWT_EXPIRED, JWT_OK},
        {"{\"sub\":\"u\",\"exp\":%lld}", NOW - 30, JWT_EXPIRED, JWT_EXPIRED},
        {"{\"sub\":\"u\",\"exp\":%lld}", NOW, JWT_EXPIRED, JWT_OK},
        {"{\"sub\":\"u\",\"exp\":%lld}", NOW + 1, JWT_OK, JWT_OK},
        {"{\"sub\":\"u\",\"nbf\":%lld}", NOW + 10, JWT_NOT_YET_VALID, JWT_OK},
        {"{\"sub\":\"u\",\"nbf\":%lld}", NOW + 31, JWT_NOT_YET_VALID, JWT_NOT_YET_VALID},
        {"{\"sub\":\"u\",\"nbf\":%lld}", NOW + 30, JWT_NOT_YET_VALID, JWT_OK},
        {"{\"sub\":\"u\",\"nbf\":%lld}", NOW, JWT_OK, JWT_OK},
        /* iat is not compared with the clock (see jwt_verify.h). */
        {"{\"sub\":\"u\",\"iat\":%lld}", NOW + 3600, JWT_OK, JWT_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(claims, sizeof claims, cases[i].fmt, (long long)cases[i].t);
        char *tok = mint_hs(JWT_ALG_HS256, claims);
        check(strict, tok, cases[i].strict);
        check(lenient, tok, cases[i].lenient);
        free(tok);
    }
    /* Fractional NumericDates are allowed; the principal gets whole seconds. */
    char *tok = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\",\"exp\":1700000000.5}");
    jwt_principal_t p;
    assert_int_equal(jwt_verify(strict, tok, strlen(tok), NOW, &p, NULL), JWT_OK);
    assert_int_equal(p.exp, NOW);
    jwt_principal_free(&p);
    free(tok);
    tok = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\",\"exp\":1e300}");
    assert_int_equal(jwt_verify(strict, tok, strlen(tok), NOW, &p, NULL), JWT_OK);
    assert_int_equal(p.exp, INT64_MAX);
    jwt_principal_free(&p);
    free(tok);
    jwt_verifier_free(strict);
    jwt_verifier_free(lenient);
}

static void bad_claims(void **state)
{
    (void)state;
    jwt_verifier_t *v = verifier(SECRET, NULL, HS_ALL, 3, 60);
    struct {
        const char *claims;
        const char *reason;
    } cases[] = {
        {"{\"name\":\"x\"}", "sub claim is missing"},
        {"{\"sub\":\"\"}", "sub must not be empty"},
        {"{\"sub\":42}", "sub must be a string"},
        {"{\"sub\":null}", "sub must be a string"},
        {"{\"sub\":[\"u\"]}", "sub must be a string"},
        {"{\"sub\":\"u\",\"exp\":\"tomorrow\"}", "exp must be a number"},
        {"{\"sub\":\"u\",\"exp\":true}", "exp must be a number"},
        {"{\"sub\":\"u\",\"exp\":null}", "exp must be a number"},
        {"{\"sub\":\"u\",\"nbf\":\"0\"}", "nbf must be a number"},
        {"{\"sub\":\"u\",\"iat\":\"now\"}", "iat must be a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = mint_hs(JWT_ALG_HS256, cases[i].claims);
        assert_string_equal(check(v, tok, JWT_BAD_CLAIMS), cases[i].reason);
        free(tok);
    }
    /* Correctly signed payloads that are not a claims object. */
    char *tok = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "[\"sub\",\"u\"]", SECRET);
    assert_string_equal(check(v, tok, JWT_BAD_CLAIMS), "payload is not a JSON object");
    free(tok);
    tok = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"a\",\"sub\":\"b\"}", SECRET);
    assert_string_equal(check(v, tok, JWT_MALFORMED), "payload is not valid JSON");
    free(tok);
    tok = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "not json", SECRET);
    check(v, tok, JWT_MALFORMED);
    free(tok);
    jwt_verifier_free(v);
}

static void exp_is_required_when_asked(void **state)
{
    (void)state;
    jwt_verifier_t *required = claims_verifier(1, NULL, NULL);
    jwt_verifier_t *optional = claims_verifier(0, NULL, NULL);
    char *no_exp = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\",\"iat\":1699999000}");
    assert_string_equal(check(required, no_exp, JWT_BAD_CLAIMS), "exp claim is missing");
    check(optional, no_exp, JWT_OK);
    char *with_exp = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\",\"exp\":1700003600}");
    check(required, with_exp, JWT_OK);
    check(optional, with_exp, JWT_OK);
    /* Required or not, an expired token stays expired and a bad exp stays bad. */
    char *expired = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\",\"exp\":1600000000}");
    check(required, expired, JWT_EXPIRED);
    char *null_exp = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\",\"exp\":null}");
    assert_string_equal(check(required, null_exp, JWT_BAD_CLAIMS), "exp must be a number");
    free(no_exp);
    free(with_exp);
    free(expired);
    free(null_exp);
    jwt_verifier_free(required);
    jwt_verifier_free(optional);
}

static void issuer_and_audience(void **state)
{
    (void)state;
    jwt_verifier_t *v = claims_verifier(0, "https://auth.example.com", "iogate");
    jwt_verifier_t *unchecked = claims_verifier(0, NULL, NULL);
    struct {
        const char *claims;
        jwt_status_t want;
        const char *reason;
    } cases[] = {
        {"{\"sub\":\"u\",\"iss\":\"https://auth.example.com\",\"aud\":\"iogate\"}", JWT_OK, "ok"},
        {"{\"sub\":\"u\",\"iss\":\"https://auth.example.com\",\"aud\":[\"api\",\"iogate\"]}",
         JWT_OK, "ok"},
        {"{\"sub\":\"u\",\"aud\":\"iogate\"}", JWT_BAD_CLAIMS, "iss claim is missing"},
        {"{\"sub\":\"u\",\"iss\":\"https://evil.example.com\",\"aud\":\"iogate\"}", JWT_BAD_CLAIMS,
         "iss is not the configured issuer"},
        /* Compared whole: a longer string or a different case is another issuer. */
        {"{\"sub\":\"u\",\"iss\":\"https://auth.example.com.evil\",\"aud\":\"iogate\"}",
         JWT_BAD_CLAIMS, "iss is not the configured issuer"},
        {"{\"sub\":\"u\",\"iss\":\"HTTPS://AUTH.EXAMPLE.COM\",\"aud\":\"iogate\"}", JWT_BAD_CLAIMS,
         "iss is not the configured issuer"},
        {"{\"sub\":\"u\",\"iss\":[\"https://auth.example.com\"],\"aud\":\"iogate\"}",
         JWT_BAD_CLAIMS, "iss must be a string"},
        {"{\"sub\":\"u\",\"iss\":\"https://auth.example.com\"}", JWT_BAD_CLAIMS,
         "aud claim is missing"},
        {"{\"sub\":\"u\",\"iss\":\"https://auth.example.com\",\"aud\":\"other\"}", JWT_BAD_CLAIMS,
         "aud does not name the configured audience"},
        {"{\"sub\":\"u\",\"iss\":\"https://auth.example.com\",\"aud\":[\"api\",\"other\"]}",
         JWT_BAD_CLAIMS, "aud does not name the configured audience"},
        {"{\"sub\":\"u\",\"iss\":\"https://auth.example.com\",\"aud\":[]}", JWT_BAD_CLAIMS,
         "aud does not name the configured audience"},
        {"{\"sub\":\"u\",\"iss\":\"https://auth.example.com\",\"aud\":[\"iogate\",1]}",
         JWT_BAD_CLAIMS, "aud must be a string or an array of strings"},
        {"{\"sub\":\"u\",\"iss\":\"https://auth.example.com\",\"aud\":7}", JWT_BAD_CLAIMS,
         "aud must be a string or an array of strings"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = mint_hs(JWT_ALG_HS256, cases[i].claims);
        assert_string_equal(check(v, tok, cases[i].want), cases[i].reason);
        /* Without an issuer or audience configured, neither claim is looked at. */
        check(unchecked, tok, JWT_OK);
        free(tok);
    }
    jwt_verifier_free(v);
    jwt_verifier_free(unchecked);

    /* A NUL inside a claim cannot cut a comparison short: such a payload does not parse. */
    v = claims_verifier(0, "https://auth.example.com", NULL);
    char *nul = craft("{\"alg\":\"HS256\"}",
                      "{\"sub\":\"u\",\"iss\":\"https://auth.example.com\\u0000x\"}", SECRET);
    assert_string_equal(check(v, nul, JWT_MALFORMED), "payload is not valid JSON");
    free(nul);
    jwt_verifier_free(v);

    /* Each check alone. */
    v = claims_verifier(0, "issuer-only", NULL);
    char *tok = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\",\"iss\":\"issuer-only\"}");
    check(v, tok, JWT_OK);
    free(tok);
    jwt_verifier_free(v);
    v = claims_verifier(0, NULL, "audience-only");
    tok = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\",\"aud\":[\"audience-only\"]}");
    check(v, tok, JWT_OK);
    free(tok);
    jwt_verifier_free(v);
}

static void malformed_tokens(void **state)
{
    (void)state;
    jwt_verifier_t *v = verifier(SECRET, NULL, HS_ALL, 3, 0);
    char *good = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\"}");
    jwt_principal_t p;
    const char *reason = NULL;

    assert_int_equal(jwt_verify(v, "", 0, NOW, &p, &reason), JWT_MALFORMED);
    assert_string_equal(reason, "token is empty");
    assert_int_equal(jwt_verify(v, NULL, 0, NOW, &p, &reason), JWT_MALFORMED);
    assert_int_equal(jwt_verify(NULL, good, strlen(good), NOW, &p, NULL), JWT_BAD_ALGORITHM);

    assert_string_equal(check(v, "abcdef", JWT_MALFORMED), "token must have three segments");
    assert_string_equal(check(v, "abcd.efgh", JWT_MALFORMED), "token must have three segments");
    buf_t t = BUF_INIT;
    buf_printf(&t, "%s.abcd", good);
    assert_string_equal(check(v, t.data, JWT_MALFORMED), "token must have three segments");
    buf_free(&t);
    check(v, "..", JWT_MALFORMED);
    assert_string_equal(check(v, ".abcd.efgh", JWT_MALFORMED), "header segment is empty");
    assert_string_equal(check(v, "abcd..efgh", JWT_MALFORMED), "payload segment is empty");
    assert_string_equal(check(v, "ab!d.efgh.ijkl", JWT_MALFORMED),
                        "token has characters outside base64url");
    check(v, "abc=.efgh.ijkl", JWT_MALFORMED); /* padding is not part of base64url JWS */
    check(v, "ab+/.efgh.ijkl", JWT_MALFORMED); /* standard base64 alphabet */
    check(v, "eyJ hbGc.efgh.ijkl", JWT_MALFORMED);
    assert_string_equal(check(v, "a.b.c", JWT_MALFORMED), "header is not valid base64url");
    assert_string_equal(check(v, "eyJhbGciOiJIUzI1NiJ9x.e30.c2ln", JWT_MALFORMED),
                        "header is not valid base64url"); /* 21 chars: impossible length */
    assert_string_equal(check(v, "eyJhbGciOiJIUzI1NiJ9B.e30.c2ln", JWT_MALFORMED),
                        "header is not valid base64url"); /* non-zero trailing bits */

    char *tok = craft("not json at all", "{\"sub\":\"u\"}", SECRET);
    assert_string_equal(check(v, tok, JWT_MALFORMED), "header is not valid JSON");
    free(tok);
    tok = craft("[\"HS256\"]", "{\"sub\":\"u\"}", SECRET);
    assert_string_equal(check(v, tok, JWT_MALFORMED), "header is not a JSON object");
    free(tok);
    tok = craft("\"HS256\"", "{\"sub\":\"u\"}", SECRET);
    check(v, tok, JWT_MALFORMED);
    free(tok);
    tok = craft("{\"alg\":\"HS256\"", "{\"sub\":\"u\"}", SECRET); /* truncated JSON */
    check(v, tok, JWT_MALFORMED);
    free(tok);

    /* Signature in the wrong encoding. */
    buf_append(&t, good, (size_t)(strrchr(good, '.') - good));
    buf_append_str(&t, ".x");
    assert_string_equal(check(v, t.data, JWT_MALFORMED), "signature is not valid base64url");
    buf_free(&t);

    /* A NUL inside the token (len covers it) is just a bad character. */
    size_t n = strlen(good);
    char *with_nul = malloc(n + 1);
    memcpy(with_nul, good, n + 1);
    with_nul[5] = '\0';
    assert_int_equal(jwt_verify(v, with_nul, n, NOW, &p, &reason), JWT_MALFORMED);
    free(with_nul);

    /* Not NUL-terminated: an exactly sized copy verifies, and len is honoured. */
    char *exact = malloc(n);
    memcpy(exact, good, n);
    assert_int_equal(jwt_verify(v, exact, n, NOW, &p, NULL), JWT_OK);
    jwt_principal_free(&p);
    /* 43 signature characters cut to 40: still base64url, but a 30-byte HMAC. */
    assert_int_equal(jwt_verify(v, exact, n - 3, NOW, &p, NULL), JWT_BAD_SIGNATURE);
    free(exact);

    /* Size bound: 8 KiB accepted as a length, beyond it refused unread. */
    size_t big = 100 * 1024;
    char *huge = malloc(big);
    memset(huge, 'A', big);
    huge[10] = '.';
    huge[20] = '.';
    assert_int_equal(jwt_verify(v, huge, big, NOW, &p, &reason), JWT_MALFORMED);
    assert_string_equal(reason, "token is too long");
    assert_int_equal(jwt_verify(v, huge, JWT_MAX_TOKEN_LEN + 1, NOW, &p, &reason), JWT_MALFORMED);
    assert_string_equal(reason, "token is too long");
    free(huge);
    /* A genuine token just under the bound still verifies. */
    buf_t claims = BUF_INIT;
    buf_append_str(&claims, "{\"sub\":\"u\",\"pad\":\"");
    for (int i = 0; i < 5800; i++)
        buf_append_byte(&claims, 'x');
    buf_append_str(&claims, "\"}");
    tok = mint_hs(JWT_ALG_HS256, claims.data);
    assert_true(strlen(tok) <= JWT_MAX_TOKEN_LEN);
    check(v, tok, JWT_OK);
    free(tok);
    buf_free(&claims);

    /* Every prefix of a valid token is refused without crashing. */
    for (size_t i = 0; i < n; i++) {
        char *prefix = malloc(i ? i : 1);
        memcpy(prefix, good, i);
        assert_int_not_equal(jwt_verify(v, prefix, i, NOW, &p, &reason), JWT_OK);
        assert_null(p.user_id);
        free(prefix);
    }
    free(good);
    jwt_verifier_free(v);
}

static void garbage_never_crashes(void **state)
{
    (void)state;
    jwt_verifier_t *v = verifier(SECRET, NULL, HS_ALL, 3, 0);
    char *good = mint_hs(JWT_ALG_HS256, "{\"sub\":\"u\",\"exp\":1700003600}");
    size_t n = strlen(good);
    uint32_t seed = 99;
    for (int round = 0; round < 3000; round++) {
        char *t = malloc(n);
        memcpy(t, good, n);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            t[pos] = (char)(seed >> 16);
        }
        jwt_principal_t p;
        const char *reason = NULL;
        jwt_status_t st = jwt_verify(v, t, n, NOW, &p, &reason);
        assert_non_null(reason);
        if (st == JWT_OK) jwt_principal_free(&p);
        free(t);
    }
    free(good);
    jwt_verifier_free(v);
}

static void config_err(const jwt_verifier_config_t *cfg, const char *want)
{
    char err[256] = "untouched";
    jwt_verifier_t *v = jwt_verifier_new(cfg, err, sizeof err);
    if (v) fail_msg("config accepted, expected: %s", want);
    if (!strstr(err, want)) fail_msg("error \"%s\" does not mention \"%s\"", err, want);
}

static void configuration_errors(void **state)
{
    keys_t *k = *state;
    const unsigned char *s = (const unsigned char *)SECRET;
    size_t sl = strlen(SECRET);
    const char *const hs[] = {"HS256"};
    const char *const rs[] = {"RS256"};
    const char *const es[] = {"ES256"};
    const char *const none[] = {"HS256", "none"};
    const char *const unknown[] = {"HS1024"};
    const char *const lower[] = {"hs256"};
    const char *const pss[] = {"PS256"};
    const char *const null_entry[] = {NULL};
    const char *garbage =
        "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n";

    config_err(NULL, "no JWT configuration");
    config_err(&(jwt_verifier_config_t){.algorithms = hs, .algorithms_len = 1}, "no key");
    config_err(
        &(jwt_verifier_config_t){
            .secret = s, .secret_len = 0, .algorithms = hs, .algorithms_len = 1},
        "no key");
    config_err(
        &(jwt_verifier_config_t){
            .secret = NULL, .secret_len = 5, .algorithms = hs, .algorithms_len = 1},
        "length given without data");
    config_err(&(jwt_verifier_config_t){.secret = s, .secret_len = sl}, "at least one");
    config_err(
        &(jwt_verifier_config_t){
            .secret = s, .secret_len = sl, .algorithms = unknown, .algorithms_len = 1},
        "unknown algorithm \"HS1024\"");
    config_err(
        &(jwt_verifier_config_t){
            .secret = s, .secret_len = sl, .algorithms = lower, .algorithms_len = 1},
        "unknown algorithm \"hs256\"");
    config_err(
        &(jwt_verifier_config_t){
            .secret = s, .secret_len = sl, .algorithms = pss, .algorithms_len = 1},
        "PS256 is not supported");
    config_err(
        &(jwt_verifier_config_t){
            .secret = s, .secret_len = sl, .algorithms = none, .algorithms_len = 2},
        "\"none\"");
    config_err(
        &(jwt_verifier_config_t){
            .secret = s, .secret_len = sl, .algorithms = null_entry, .algorithms_len = 1},
        "entry 0 is missing");
    config_err(
        &(jwt_verifier_config_t){
            .secret = s, .secret_len = sl, .algorithms = rs, .algorithms_len = 1},
        "RS256 needs a public key");
    config_err(&(jwt_verifier_config_t){.public_key_pem = k->rsa_pub,
                                        .public_key_len = strlen(k->rsa_pub),
                                        .algorithms = hs,
                                        .algorithms_len = 1},
               "HS256 needs a secret");
    config_err(&(jwt_verifier_config_t){.secret = s,
                                        .secret_len = sl,
                                        .algorithms = hs,
                                        .algorithms_len = 1,
                                        .clock_skew_s = -1},
               "clock skew");
    config_err(&(jwt_verifier_config_t){.secret = s,
                                        .secret_len = sl,
                                        .algorithms = hs,
                                        .algorithms_len = 1,
                                        .clock_skew_s = 86401},
               "clock skew");

    /* Public key problems. */
#define PEM_CFG(pem, algs)                                                                         \
    (&(jwt_verifier_config_t){.public_key_pem = (pem),                                             \
                              .public_key_len = strlen(pem),                                       \
                              .algorithms = (algs),                                                \
                              .algorithms_len = 1})
    config_err(PEM_CFG("just some text", rs), "no PEM block");
    config_err(PEM_CFG(garbage, rs), "public key");
    config_err(PEM_CFG(k->rsa_priv, rs), "expected a \"-----BEGIN PUBLIC KEY-----\" block");
    config_err(PEM_CFG(k->rsa1024_pub, rs), "at least 2048 bits");
    config_err(PEM_CFG(k->ec_pub, rs), "RS256 needs an RSA public key");
    config_err(PEM_CFG(k->rsa_pub, es), "ES256 needs an EC public key on P-256");
    config_err(PEM_CFG(k->ec384_pub, es), "ES256 needs an EC public key on P-256");
    {
        buf_t two = BUF_INIT;
        buf_append_str(&two, k->rsa_pub);
        buf_append_str(&two, k->ec_pub);
        config_err(PEM_CFG(two.data, rs), "more than one block");
        buf_free(&two);
    }
    /* A garbage PEM is refused even when only HMAC algorithms are listed. */
    config_err(&(jwt_verifier_config_t){.secret = s,
                                        .secret_len = sl,
                                        .public_key_pem = garbage,
                                        .public_key_len = strlen(garbage),
                                        .algorithms = hs,
                                        .algorithms_len = 1},
               "public key");
    /* The PEM length is honoured: a truncated key does not parse. */
    config_err(&(jwt_verifier_config_t){.public_key_pem = k->rsa_pub,
                                        .public_key_len = strlen(k->rsa_pub) / 2,
                                        .algorithms = rs,
                                        .algorithms_len = 1},
               "public key");
#undef PEM_CFG

    /* An HMAC secret shorter than the hash is refused, for each algorithm that is enabled
     * (RFC 7518 section 3.2), and the message says which, how long and why. */
    {
        static const char *const each[][1] = {{"HS256"}, {"HS384"}, {"HS512"}};
        const size_t min[] = {32, 48, 64};
        for (size_t i = 0; i < 3; i++) {
            char want[128];
            snprintf(want, sizeof want,
                     "secret: %s needs at least %zu bytes, this one has %zu (RFC 7518", each[i][0],
                     min[i], min[i] - 1);
            config_err(&(jwt_verifier_config_t){.secret = s,
                                                .secret_len = min[i] - 1,
                                                .algorithms = each[i],
                                                .algorithms_len = 1},
                       want);
            jwt_verifier_free(verifier_from(&(jwt_verifier_config_t){
                .secret = s, .secret_len = min[i], .algorithms = each[i], .algorithms_len = 1}));
        }
        /* The longest hash enabled decides; "change-me" fits none. */
        const char *const hs256_512[] = {"HS256", "HS512"};
        config_err(
            &(jwt_verifier_config_t){
                .secret = s, .secret_len = 40, .algorithms = hs256_512, .algorithms_len = 2},
            "HS512 needs at least 64 bytes, this one has 40");
        config_err(&(jwt_verifier_config_t){.secret = (const unsigned char *)"change-me",
                                            .secret_len = 9,
                                            .algorithms = hs,
                                            .algorithms_len = 1},
                   "HS256 needs at least 32 bytes, this one has 9");
        /* A short secret no enabled algorithm uses is not refused. */
        jwt_verifier_free(
            verifier_from(&(jwt_verifier_config_t){.secret = s,
                                                   .secret_len = 9,
                                                   .public_key_pem = k->rsa_pub,
                                                   .public_key_len = strlen(k->rsa_pub),
                                                   .algorithms = rs,
                                                   .algorithms_len = 1}));
    }
    /* An empty issuer or audience would compare with nothing useful. */
    config_err(
        &(jwt_verifier_config_t){
            .secret = s, .secret_len = sl, .algorithms = hs, .algorithms_len = 1, .issuer = ""},
        "issuer must not be empty");
    config_err(
        &(jwt_verifier_config_t){
            .secret = s, .secret_len = sl, .algorithms = hs, .algorithms_len = 1, .audience = ""},
        "audience must not be empty");

    /* Small or absent error buffers are safe. */
    char tiny[8];
    assert_null(jwt_verifier_new(&(jwt_verifier_config_t){.algorithms = hs, .algorithms_len = 1},
                                 tiny, sizeof tiny));
    assert_int_equal(strlen(tiny), 7);
    assert_null(jwt_verifier_new(NULL, NULL, 0));

    /* And a P-384 key does serve ES384. */
    const char *const es384[] = {"ES384"};
    jwt_verifier_t *v = verifier(NULL, k->ec384_pub, es384, 1, 0);
    jwt_verifier_free(v);
}

static void status_names(void **state)
{
    (void)state;
    assert_string_equal(jwt_status_name(JWT_OK), "ok");
    assert_string_equal(jwt_status_name(JWT_MALFORMED), "malformed");
    assert_string_equal(jwt_status_name(JWT_BAD_ALGORITHM), "bad_algorithm");
    assert_string_equal(jwt_status_name(JWT_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(jwt_status_name(JWT_EXPIRED), "expired");
    assert_string_equal(jwt_status_name(JWT_NOT_YET_VALID), "not_yet_valid");
    assert_string_equal(jwt_status_name(JWT_BAD_CLAIMS), "bad_claims");
}

static int bearer(const char *value, const char *want)
{
    const char *tok = NULL;
    size_t n = 0;
    size_t len = strlen(value);
    char *copy = malloc(len ? len : 1); /* exactly sized: reads past len would be caught */
    memcpy(copy, value, len);
    int found = jwt_bearer_token(copy, len, &tok, &n);
    if (found) {
        assert_non_null(want);
        assert_true(tok >= copy && tok + n <= copy + len);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(tok, want, n);
    } else {
        assert_null(want);
    }
    free(copy);
    return found;
}

static void bearer_tokens(void **state)
{
    (void)state;
    assert_true(bearer("Bearer abc.def.ghi", "abc.def.ghi"));
    assert_true(bearer("bearer abc", "abc"));
    assert_true(bearer("BEARER\tabc", "abc"));
    assert_true(bearer("  Bearer    abc  \t", "abc"));
    assert_true(bearer("Bearer a+b/c==", "a+b/c=="));
    assert_false(bearer("Bearer", NULL));
    assert_false(bearer("Bearer ", NULL));
    assert_false(bearer("Bearer \t ", NULL));
    assert_false(bearer("Bearerabc", NULL));
    assert_false(bearer("Basic dXNlcjpwYXNz", NULL));
    assert_false(bearer("Bearer a b", NULL));
    assert_false(bearer("Bearer a\x01"
                        "b",
                        NULL));
    assert_false(bearer("", NULL));
    assert_false(bearer("Bear abc", NULL));
    const char *tok = NULL;
    size_t n = 0;
    assert_false(jwt_bearer_token(NULL, 0, &tok, &n));
    /* The length bounds the value. */
    assert_true(jwt_bearer_token("Bearer abcdef", 9, &tok, &n));
    assert_int_equal(n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_hmac_tokens),
        cmocka_unit_test(valid_rs256_and_es256_tokens),
        cmocka_unit_test(tampered_and_wrongly_keyed_tokens),
        cmocka_unit_test(algorithm_confusion_is_refused),
        cmocka_unit_test(unsigned_and_unlisted_algorithms),
        cmocka_unit_test(exp_and_nbf_with_skew),
        cmocka_unit_test(bad_claims),
        cmocka_unit_test(exp_is_required_when_asked),
        cmocka_unit_test(issuer_and_audience),
        cmocka_unit_test(malformed_tokens),
        cmocka_unit_test(garbage_never_crashes),
        cmocka_unit_test(configuration_errors),
        cmocka_unit_test(status_names),
        cmocka_unit_test(bearer_tokens),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
