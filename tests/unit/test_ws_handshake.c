/* test_ws_handshake.c - Sec-WebSocket-Accept and header token matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "ws/ws_handshake.h"

static void check_accept(const char *key, const char *expect)
{
    char out[WS_ACCEPT_LEN + 1];
    assert_int_equal(ws_accept_key(key, strlen(key), out), 0);
    assert_string_equal(out, expect);
}

static void accept_key_matches_known_values(void **state)
{
    (void)state;
    /* RFC 6455 section 1.3 */
    check_accept("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    check_accept("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    check_accept("AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
}

static void accept_key_ignores_surrounding_whitespace(void **state)
{
    (void)state;
    check_accept("  dGhlIHNhbXBsZSBub25jZQ==\t", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* The length is honoured: no NUL terminator needed. */
    const char buf[] = "dGhlIHNhbXBsZSBub25jZQ==garbage";
    char out[WS_ACCEPT_LEN + 1];
    assert_int_equal(ws_accept_key(buf, 24, out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void accept_key_rejects_bad_keys(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "   ",
        "dGhlIHNhbXBsZSBub25jZQ=",                  /* 23 chars */
        "dGhlIHNhbXBsZSBub25jZQ===",                /* 25 chars */
        "dGhlIHNhbXBsZSBub25jZQAA",                 /* no padding */
        "dGhlIHNhbXBsZSBub25jZ===",                 /* padding too early */
        "dGhlIHNhbXBsZSBub2*jZQ==",                 /* not base64 */
        "dGhlIHNhbXBs ZSBub25jZQ==",                /* inner space */
        "dGhlIHNhbXBsZSBub25jZR==",                 /* non-zero padding bits */
        "dGhlIHNhbXBsZSBub25jZQ",                   /* unpadded */
        "dGhlIHNhbXBsZSBub25jZQ==dGhl",             /* too long */
        "c2FtcGxlIG5vbmNlIHRoYXQgaXMgdG9vIGxvbmc=", /* valid base64, wrong size */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[WS_ACCEPT_LEN + 1] = "untouched";
        assert_int_equal(ws_accept_key(bad[i], strlen(bad[i]), out), -1);
        assert_string_equal(out, "untouched");
    }
    const char with_nul[] = "dGhlIHNhbXBsZSBu\0b25jZQ==";
    char out[WS_ACCEPT_LEN + 1];
    assert_int_equal(ws_accept_key(with_nul, sizeof(with_nul) - 1, out), -1);
}

static int has(const char *value, const char *token)
{
    return ws_header_has_token(value, strlen(value), token);
}

static void header_tokens_are_matched_as_elements(void **state)
{
    (void)state;
    assert_true(has("Upgrade", "upgrade"));
    assert_true(has("keep-alive, Upgrade", "upgrade"));
    assert_true(has("keep-alive,Upgrade", "Upgrade"));
    assert_true(has("UPGRADE , keep-alive", "upgrade"));
    assert_true(has("\t upgrade \t", "upgrade"));
    assert_true(has(",,upgrade,,", "upgrade"));
    assert_true(has("websocket", "WebSocket"));
    assert_true(has("keep-alive, Upgrade", "keep-alive"));

    assert_false(has("", "upgrade"));
    assert_false(has(",", "upgrade"));
    assert_false(has("keep-alive", "upgrade"));
    assert_false(has("upgrades", "upgrade"));
    assert_false(has("x-upgrade", "upgrade"));
    assert_false(has("upgrade-insecure-requests", "upgrade"));
    assert_false(has("up grade", "upgrade"));
    assert_false(has("upgrade", ""));
    assert_false(has("upgrad", "upgrade"));
    /* Only the first len bytes count. */
    assert_false(ws_header_has_token("keep-alive, Upgrade", 12, "upgrade"));
    assert_true(ws_header_has_token("keep-alive, Upgrade", 10, "keep-alive"));
    assert_false(ws_header_has_token("upgrade", 0, "upgrade"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_key_matches_known_values),
        cmocka_unit_test(accept_key_ignores_surrounding_whitespace),
        cmocka_unit_test(accept_key_rejects_bad_keys),
        cmocka_unit_test(header_tokens_are_matched_as_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
