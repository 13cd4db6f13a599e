/* test_origin.c - parsing Origin and Referer values, and the allowed-origin list. (How a
 * request is classified against Host is driven end to end in tests/node/origin-policy.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "auth/origin.h"

/* Parses a heap copy of exactly strlen(v) bytes, so ASan flags a read past the end. Returns
 * the authority (caller frees) or NULL, and the origin's length in *origin_len. */
static char *parse(const char *v, size_t *origin_len)
{
    size_t len = strlen(v), auth_len = 0;
    char *copy = malloc(len ? len : 1);
    memcpy(copy, v, len);
    const char *auth = NULL;
    char *out = NULL;
    if (origin_parse(copy, len, origin_len, &auth, &auth_len)) {
        assert_true(auth >= copy && auth + auth_len <= copy + len);
        out = strndup(auth, auth_len);
    }
    free(copy);
    return out;
}

static void origins_and_referers_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in, *authority;
        size_t origin_len;
    } ok[] = {
        {"https://app.example.com", "app.example.com", 23},
        {"http://127.0.0.1:3000", "127.0.0.1:3000", 21},
        {"http://[::1]:8080", "[::1]:8080", 17},
        {"https://app.example.com/path/page?q=1#f", "app.example.com", 23},
        {"https://a.example?x", "a.example", 17},
        {"chrome-extension://abcdef", "abcdef", 25},
        {"HTTPS://APP.example.com", "APP.example.com", 23},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t origin_len = 0;
        char *auth = parse(ok[i].in, &origin_len);
        assert_non_null(auth);
        assert_string_equal(auth, ok[i].authority);
        assert_int_equal(origin_len, ok[i].origin_len);
        free(auth);
    }
}

static void malformed_values_have_no_origin(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "null",
        "app.example.com",
        "://app.example.com",
        "https:/app.example.com",
        "https://",
        "https:///path",
        "1http://a.example",
        "https://user@evil.example",
        "https://user:pass@app.example.com",
        "https://a b.example",
        "https://a\tb.example",
        "https://a\x01.example",
        "https://a\x7f.example",
        "ht tp://a.example",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t origin_len = 0;
        char *auth = parse(bad[i], &origin_len);
        if (auth) fail_msg("\"%s\" parsed as \"%s\"", bad[i], auth);
    }
}

static void policy_copies_origins_without_wildcards_or_trailing_slashes(void **state)
{
    (void)state;
    char a[] = "https://app.example.com/";
    const char *list[] = {a, "*", "http://localhost:5173", "https://b.example//"};
    origin_policy_t p;
    origin_policy_init(&p, list, 4);
    a[0] = 'X'; /* the policy holds copies */
    assert_int_equal(p.nallowed, 3);
    assert_string_equal(p.allowed[0], "https://app.example.com");
    assert_string_equal(p.allowed[1], "http://localhost:5173");
    assert_string_equal(p.allowed[2], "https://b.example");
    origin_policy_free(&p);
    assert_null(p.allowed);
    assert_int_equal(p.nallowed, 0);

    origin_policy_init(&p, NULL, 0);
    assert_int_equal(p.nallowed, 0);
    origin_policy_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(origins_and_referers_parse),
        cmocka_unit_test(malformed_values_have_no_origin),
        cmocka_unit_test(policy_copies_origins_without_wildcards_or_trailing_slashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
