/* cli_token.c - `iogate token --config FILE --sub ID [--claim k=v]... [--ttl 1h]`: a JWT signed
 * with the configuration's HMAC secret, carrying what the server checks (sub, iat, exp, and
 * iss and aud when [auth] names them), and verified by the server's own authenticator before
 * it is printed, so a token this prints is one the server accepts. */
#include <errno.h>
#include <inttypes.h>
#include <jwt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/authenticator.h"
#include "config/config.h"
#include "cli/cli_internal.h"

int cli_parse_ttl(const char *text, int64_t *seconds)
{
    int64_t n = 0;
    const char *p = text;
    /* Nine digits are far past the bound and far from overflowing. */
    while (*p >= '0' && *p <= '9' && p - text < 9)
        n = n * 10 + (*p++ - '0');
    if (p == text) return -1;
    int64_t unit = 1;
    switch (*p) {
    case '\0':
    case 's':
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return -1;
    }
    if (*p && p[1]) return -1;
    if (n < 1 || n > CLI_TOKEN_MAX_TTL_S / unit) return -1;
    *seconds = n * unit;
    return 0;
}

int cli_add_claim(json_t *claims, const char *spec, char *err, size_t err_size)
{
    const char *eq = strchr(spec, '=');
    if (!eq) {
        snprintf(err, err_size, "--claim '%s': expected NAME=VALUE or NAME:=JSON", spec);
        return -1;
    }
    int is_json = eq > spec && eq[-1] == ':';
    size_t name_len = (size_t)(eq - spec) - (is_json ? 1 : 0);
    if (name_len == 0) {
        snprintf(err, err_size, "--claim '%s': the claim name is empty", spec);
        return -1;
    }
    char name[256];
    if (name_len >= sizeof(name)) {
        snprintf(err, err_size, "--claim: the name is over %zu bytes", sizeof(name) - 1);
        return -1;
    }
    memcpy(name, spec, name_len);
    name[name_len] = '\0';
    static const char *const own[] = {"sub", "iat", "exp"};
    static const char *const how[] = {"--sub", "the signing time", "--ttl"};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(name, own[i]) == 0) {
            snprintf(err, err_size, "--claim %s: set by %s, not by --claim", name, how[i]);
            return -1;
        }
    }
    if (json_object_get(claims, name)) {
        snprintf(err, err_size, "--claim %s: given twice", name);
        return -1;
    }
    json_t *value;
    if (is_json) {
        json_error_t je;
        value = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!value) {
            snprintf(err, err_size, "--claim %s:=...: not JSON (%s); for a string use %s=VALUE",
                     name, je.text, name);
            return -1;
        }
    } else {
        value = json_string(eq + 1);
        if (!value) {
            snprintf(err, err_size, "--claim %s: the value is not UTF-8", name);
            return -1;
        }
    }
    json_object_set_new(claims, name, value);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: iogate token --config FILE --sub ID [--claim NAME=VALUE]... [--ttl 1h]\n"
            "  Prints a JWT signed with FILE's [auth] jwt_secret or jwt_secret_file, with the\n"
            "  first HS256/HS384/HS512 of [auth] algorithms, that the server started with FILE\n"
            "  accepts: sub is ID (the user room user:ID), iat now, exp after --ttl (s, m, h or\n"
            "  d; default 1h, at most 366d), iss and aud from [auth] issuer and audience.\n"
            "  --claim NAME=VALUE adds a string claim, --claim NAME:=JSON any JSON value\n"
            "  (for instance --claim role=admin, --claim 'groups:=[\"a\",\"b\"]').\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "iogate token: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    usage(stderr);
    return CLI_EXIT_USAGE;
}

/* The algorithm to sign with: the first HMAC one the server accepts. */
static const char *hmac_algorithm(const config_t *cfg, jwt_alg_t *alg)
{
    static const struct {
        const char *name;
        jwt_alg_t alg;
    } hs[] = {{"HS256", JWT_ALG_HS256}, {"HS384", JWT_ALG_HS384}, {"HS512", JWT_ALG_HS512}};
    for (size_t i = 0; i < cfg->auth.algorithms.len; i++) {
        for (size_t j = 0; j < 3; j++) {
            if (strcmp(cfg->auth.algorithms.items[i], hs[j].name) == 0) {
                *alg = hs[j].alg;
                return hs[j].name;
            }
        }
    }
    return NULL;
}

/* Says why cfg gives no key to sign with, and what to do. */
static void no_secret(const char *prog, const char *path, const config_t *cfg)
{
    if (cfg->auth.jwt_public_key_file)
        fprintf(stderr,
                "iogate token: %s verifies tokens with a public key ([auth] jwt_public_key_file "
                "\"%s\"): a public key cannot sign. Sign tokens with the matching private key "
                "where they are issued, or set [auth] jwt_secret for HS256 tokens.\n",
                path, cfg->auth.jwt_public_key_file);
    else
        fprintf(stderr,
                "iogate token: %s configures no JWT key, so the server accepts no token. Set "
                "[auth] jwt_secret (32+ bytes), or start from a configuration that has one: "
                "%s genconfig NEW-FILE\n",
                path, prog);
}

/* Signs claims with secret; the token, or NULL with err. */
static char *sign(jwt_alg_t alg, const char *secret, size_t secret_len, json_t *claims, char *err,
                  size_t err_size)
{
    jwt_t *jwt = NULL;
    char *payload = json_dumps(claims, JSON_COMPACT);
    char *token = NULL;
    int rc = jwt_new(&jwt);
    if (rc == 0) rc = jwt_add_grants_json(jwt, payload);
    if (rc == 0) rc = jwt_set_alg(jwt, alg, (const unsigned char *)secret, (int)secret_len);
    if (rc == 0) {
        token = jwt_encode_str(jwt);
        if (!token) rc = errno ? errno : EINVAL;
    }
    if (rc != 0) snprintf(err, err_size, "cannot sign the token: %s", strerror(rc));
    jwt_free(jwt);
    free(payload);
    return token;
}

typedef struct token_args {
    const char *config, *sub;
    int64_t ttl;
    json_t *claims;
} token_args_t;

/* Parses argv into a: -1 to go on, or the exit code to return (0 after --help, 2). */
static int parse_args(int argc, char **argv, token_args_t *a)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        int known = strcmp(opt, "--config") == 0 || strcmp(opt, "-c") == 0 ||
                    strcmp(opt, "--sub") == 0 || strcmp(opt, "--claim") == 0 ||
                    strcmp(opt, "--ttl") == 0;
        if (!known) return usage_error("unknown argument '%s'", opt);
        if (i + 1 >= argc) return usage_error("%s needs a value", opt);
        const char *v = argv[++i];
        if (strcmp(opt, "--config") == 0 || strcmp(opt, "-c") == 0) {
            a->config = v;
        } else if (strcmp(opt, "--sub") == 0) {
            if (!v[0]) return usage_error("--sub must not be empty");
            a->sub = v;
        } else if (strcmp(opt, "--ttl") == 0) {
            if (cli_parse_ttl(v, &a->ttl) != 0)
                return usage_error("--ttl '%s': expected a number and a unit (s, m, h, d), "
                                   "from 1s to 366d, for instance 1h",
                                   v);
        } else {
            char err[512];
            if (cli_add_claim(a->claims, v, err, sizeof(err)) != 0) return usage_error("%s", err);
        }
    }
    if (!a->config) return usage_error("--config FILE is required: the key comes from it");
    if (!a->sub) return usage_error("--sub ID is required: the user the token is for");
    return -1;
}

/* Adds the registered claims: iss and aud from [auth] (the server checks them against it, so
 * a --claim for them is refused), sub, iat and exp. 0, or the exit code to return. */
static int fill_registered(const config_t *cfg, const token_args_t *a, int64_t now)
{
    const char *const names[2] = {"iss", "aud"};
    const char *const values[2] = {cfg->auth.issuer, cfg->auth.audience};
    for (size_t i = 0; i < 2; i++) {
        if (!values[i]) continue;
        if (json_object_get(a->claims, names[i])) {
            fprintf(stderr, "iogate token: --claim %s: set from [auth] %s in %s\n", names[i],
                    i ? "audience" : "issuer", a->config);
            return CLI_EXIT_USAGE;
        }
        json_object_set_new(a->claims, names[i], json_string(values[i]));
    }
    json_object_set_new(a->claims, "sub", json_string(a->sub));
    json_object_set_new(a->claims, "iat", json_integer(now));
    json_object_set_new(a->claims, "exp", json_integer(now + a->ttl));
    return 0;
}

/* Signs, checks with the server's verifier, prints. */
static int mint(const char *prog, const config_t *cfg, token_args_t *a)
{
    char err[512];
    authenticator_t *auth = authenticator_new(cfg, err, sizeof(err));
    if (!auth) {
        fprintf(stderr, "iogate token: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    char *secret = NULL, *token = NULL;
    size_t secret_len = 0;
    jwt_alg_t alg = JWT_ALG_NONE;
    const char *alg_name = hmac_algorithm(cfg, &alg);
    int code = CLI_EXIT_FAIL;
    if (authenticator_secret(cfg, &secret, &secret_len, err, sizeof(err)) < 0) {
        fprintf(stderr, "iogate token: %s\n", err);
    } else if (!secret) {
        no_secret(prog, a->config, cfg);
    } else if (!alg_name) {
        fprintf(stderr,
                "iogate token: [auth] algorithms in %s lists no HS256, HS384 or HS512, so the "
                "server would refuse a token signed with the secret; add \"HS256\" to it\n",
                a->config);
    } else if ((code = fill_registered(cfg, a, (int64_t)time(NULL))) == 0) {
        code = CLI_EXIT_FAIL;
        token = sign(alg, secret, secret_len, a->claims, err, sizeof(err));
        jwt_principal_t p;
        const char *why = "";
        if (!token)
            fprintf(stderr, "iogate token: %s\n", err);
        else if (strlen(token) > JWT_MAX_TOKEN_LEN)
            fprintf(stderr, "iogate token: the token is %zu bytes, over the %d the server reads\n",
                    strlen(token), JWT_MAX_TOKEN_LEN);
        else if (authenticator_verify_token(auth, AUTH_USE_REST, token, strlen(token), &p, &why) !=
                 AUTH_OK)
            fprintf(stderr, "iogate token: the server would refuse this token: %s\n", why);
        else {
            jwt_principal_free(&p);
            printf("%s\n", token);
            code = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        }
    }
    free(token);
    authenticator_secret_free(secret, secret_len);
    authenticator_free(auth);
    return code;
}

int cli_token(const char *prog, int argc, char **argv)
{
    token_args_t a = {.ttl = 3600, .claims = json_object()};
    int code = parse_args(argc, argv, &a);
    if (code < 0) {
        config_t cfg;
        char err[512];
        if (config_load_file(&cfg, a.config, err, sizeof(err)) != 0) {
            fprintf(stderr, "iogate token: %s\n", err);
            code = CLI_EXIT_FAIL;
        } else {
            code = mint(prog, &cfg, &a);
        }
        config_free(&cfg);
    }
    json_decref(a.claims);
    return code;
}
