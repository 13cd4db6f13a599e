/* test_authenticator.c - building the authenticator from [auth], verifying bare tokens, and the
 * statuses and names of its results. Requests are covered end to end by the node tests
 * (origin-policy, auth-tokens), which drive real HTTP and Socket.IO clients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/authenticator.h"

#define SECRET "authenticator-test-secret-0123456789abcdef"

static authenticator_t *from_text(config_t *cfg, const char *text, char *err, size_t err_size)
{
    assert_int_equal(config_load_text(cfg, text, strlen(text), "a.toml", err, err_size), 0);
    return authenticator_new(cfg, err, err_size);
}

static char *mint(const char *claims_json)
{
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, claims_json), 0);
    assert_int_equal(jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)SECRET, strlen(SECRET)),
                     0);
    char *tok = jwt_encode_str(j);
    assert_non_null(tok);
    jwt_free(j);
    return tok;
}

static void tokens_verify_against_the_configured_secret(void **state)
{
    (void)state;
    config_t cfg;
    char err[512] = "";
    authenticator_t *a = from_text(&cfg, "[auth]\njwt_secret = \"" SECRET "\"\n", err, sizeof(err));
    assert_non_null(a);
    assert_true(authenticator_enabled(a));
    char claims[128];
    snprintf(claims, sizeof(claims), "{\"sub\":\"42\",\"exp\":%lld}", (long long)time(NULL) + 60);
    char *tok = mint(claims);
    jwt_principal_t p;
    const char *reason = NULL;
    assert_int_equal(authenticator_verify_token(a, AUTH_USE_REST, tok, strlen(tok), &p, &reason),
                     AUTH_OK);
    assert_string_equal(p.user_id, "42");
    jwt_principal_free(&p);

    /* One byte changed in the signature, an expired token, and garbage: all AUTH_INVALID,
     * with the same reason for the client whatever the cause. */
    tok[strlen(tok) - 2] ^= 1;
    assert_int_equal(authenticator_verify_token(a, AUTH_USE_REST, tok, strlen(tok), &p, &reason),
                     AUTH_INVALID);
    assert_string_equal(reason, "invalid or expired token");
    assert_null(p.user_id);
    free(tok);
    snprintf(claims, sizeof(claims), "{\"sub\":\"42\",\"exp\":%lld}", (long long)time(NULL) - 3600);
    tok = mint(claims);
    assert_int_equal(authenticator_verify_token(a, AUTH_USE_REST, tok, strlen(tok), &p, &reason),
                     AUTH_INVALID);
    free(tok);
    assert_int_equal(authenticator_verify_token(a, AUTH_USE_REST, "a.b", 3, &p, &reason),
                     AUTH_INVALID);
    assert_int_equal(authenticator_verify_token(a, AUTH_USE_REST, "", 0, &p, &reason),
                     AUTH_INVALID);
    authenticator_free(a);
    config_free(&cfg);
}

static void without_a_key_nothing_authenticates(void **state)
{
    (void)state;
    config_t cfg;
    char err[512] = "";
    authenticator_t *a = from_text(&cfg, "[server]\nport = 0\n", err, sizeof(err));
    assert_non_null(a);
    assert_false(authenticator_enabled(a));
    jwt_principal_t p;
    const char *reason = NULL;
    assert_int_equal(authenticator_verify_token(a, AUTH_USE_REST, "x.y.z", 5, &p, &reason),
                     AUTH_NO_CREDENTIALS);
    authenticator_free(a);
    config_free(&cfg);
}

static void bad_keys_are_named(void **state)
{
    (void)state;
    config_t cfg;
    char err[512] = "";
    assert_null(from_text(&cfg, "[auth]\njwt_secret = \"short\"\n", err, sizeof(err)));
    if (!strstr(err, "a.toml:2:") || !strstr(err, "jwt_secret")) fail_msg("message: %s", err);
    assert_int_equal(authenticator_check_config(&cfg, err, sizeof(err)), -1);
    config_free(&cfg);

    assert_null(from_text(&cfg, "[auth]\njwt_secret_file = \"/nonexistent/iogate-secret\"\n", err,
                          sizeof(err)));
    if (!strstr(err, "/nonexistent/iogate-secret")) fail_msg("message: %s", err);
    config_free(&cfg);

    /* A public key file that holds no key is named with its path. */
    char pem[] = "/tmp/iogate-test-key-XXXXXX";
    int fd = mkstemp(pem);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a key\n", 10), 10);
    close(fd);
    char text[256];
    snprintf(text, sizeof(text), "[auth]\njwt_public_key_file = \"%s\"\nalgorithms = [\"RS256\"]\n",
             pem);
    assert_null(from_text(&cfg, text, err, sizeof(err)));
    if (!strstr(err, pem) || !strstr(err, "no PEM block")) fail_msg("message: %s", err);
    unlink(pem);
    config_free(&cfg);

    assert_null(from_text(&cfg, "[auth]\njwt_secret = \"" SECRET "\"\njwt_secret_file = \"/x\"\n",
                          err, sizeof(err)));
    if (!strstr(err, "not both")) fail_msg("message: %s", err);
    config_free(&cfg);
}

static void the_secret_is_read_as_the_verifier_uses_it(void **state)
{
    (void)state;
    config_t cfg;
    char err[512] = "", *secret = NULL;
    size_t len = 0;
    const char *inline_text = "[auth]\njwt_secret = \"" SECRET "\"\n";
    assert_int_equal(
        config_load_text(&cfg, inline_text, strlen(inline_text), "a.toml", err, sizeof(err)), 0);
    assert_int_equal(authenticator_secret(&cfg, &secret, &len, err, sizeof(err)), 1);
    assert_int_equal(len, strlen(SECRET));
    assert_memory_equal(secret, SECRET, len);
    authenticator_secret_free(secret, len);
    config_free(&cfg);

    /* From a file: its trailing line breaks are not part of the secret. */
    char path[] = "/tmp/iogate-test-secret-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, SECRET "\r\n\n", strlen(SECRET) + 3), (ssize_t)strlen(SECRET) + 3);
    close(fd);
    char text[256];
    snprintf(text, sizeof(text), "[auth]\njwt_secret_file = \"%s\"\n", path);
    assert_int_equal(config_load_text(&cfg, text, strlen(text), "a.toml", err, sizeof(err)), 0);
    assert_int_equal(authenticator_secret(&cfg, &secret, &len, err, sizeof(err)), 1);
    assert_int_equal(len, strlen(SECRET));
    assert_string_equal(secret, SECRET);
    authenticator_secret_free(secret, len);
    unlink(path);
    assert_int_equal(authenticator_secret(&cfg, &secret, &len, err, sizeof(err)), -1);
    if (!strstr(err, path)) fail_msg("message: %s", err);
    assert_null(secret);
    config_free(&cfg);

    /* None configured. */
    config_defaults(&cfg);
    assert_int_equal(authenticator_secret(&cfg, &secret, &len, err, sizeof(err)), 0);
    assert_null(secret);
    assert_int_equal(len, 0);
    config_free(&cfg);
}

static void results_map_to_statuses_and_names(void **state)
{
    (void)state;
    assert_int_equal(auth_result_http_status(AUTH_OK), 0);
    assert_int_equal(auth_result_http_status(AUTH_NO_CREDENTIALS), 401);
    assert_int_equal(auth_result_http_status(AUTH_INVALID), 401);
    assert_int_equal(auth_result_http_status(AUTH_CROSS_SITE), 403);
    assert_int_equal(auth_result_http_status(AUTH_BODY_NOT_JSON), 415);
    assert_string_equal(auth_result_name(AUTH_CROSS_SITE), "cross_site");
    assert_string_equal(auth_result_name(AUTH_NO_CREDENTIALS), "no_credentials");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_verify_against_the_configured_secret),
        cmocka_unit_test(without_a_key_nothing_authenticates),
        cmocka_unit_test(bad_keys_are_named),
        cmocka_unit_test(the_secret_is_read_as_the_verifier_uses_it),
        cmocka_unit_test(results_map_to_statuses_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
