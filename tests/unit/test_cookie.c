/* test_cookie.c - Cookie header lookup: RFC 6265 pairs, npm `cookie` tolerance and decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "auth/cookie.h"
#include "base/buf.h"

/* Looks name up in a heap copy of exactly len bytes (no NUL), so ASan flags any read past len.
 * Returns the value (caller frees) or NULL when absent. */
static char *get_n(const char *header, size_t len, const char *name, int decode)
{
    char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, header, len);
    buf_t out = BUF_INIT;
    int found = cookie_get(copy, len, name, decode, &out);
    free(copy);
    if (!found) {
        assert_int_equal(out.len, 0);
        assert_null(out.data);
        return NULL;
    }
    assert_non_null(out.data);
    size_t n;
    return buf_steal(&out, &n);
}

static char *get(const char *header, const char *name, int decode)
{
    return get_n(header, strlen(header), name, decode);
}

static void expect(const char *header, const char *name, int decode, const char *want)
{
    char *got = get(header, name, decode);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void finds_pairs_and_strips_quotes(void **state)
{
    (void)state;
    const char *h = "a=1; token=xyz; b=\"q\"";
    expect(h, "a", 0, "1");
    expect(h, "token", 0, "xyz");
    expect(h, "b", 0, "q");
    expect(h, "c", 0, NULL);
    expect("token=eyJ.x.y", "token", 1, "eyJ.x.y");
    expect("token=a=b==", "token", 0, "a=b==");
}

static void first_pair_wins_and_names_are_exact(void **state)
{
    (void)state;
    expect("token=one; token=two", "token", 0, "one");
    expect("Token=x", "token", 0, NULL);
    expect("TOKEN=x; token=y", "token", 0, "y");
    expect("xtoken=1; tokenx=2; token=3", "token", 0, "3");
    expect("token=1", "", 0, NULL);
    expect("=1; token=2", "token", 0, "2");
}

static void whitespace_is_tolerated(void **state)
{
    (void)state;
    expect("  token  =  abc  ;x=1", "token", 0, "abc");
    expect("x=1;\ttoken\t=\tv w\t", "token", 0, "v w");
    expect("x=1;token=abc", "token", 0, "abc");
    expect("x=1 ;  token=  \"quoted\"  ", "token", 0, "quoted");
    expect("x=1; ;; token=z;", "token", 0, "z");
}

static void pairs_without_equals_are_skipped(void **state)
{
    (void)state;
    expect("foo; token=abc", "token", 0, "abc");
    expect("token; token=abc", "token", 0, "abc");
    expect("token", "token", 0, NULL);
    expect(";;;", "token", 0, NULL);
    expect("", "token", 0, NULL);
}

static void empty_and_odd_quoted_values(void **state)
{
    (void)state;
    expect("token=", "token", 0, "");
    expect("token=; a=1", "token", 0, "");
    expect("token=\"\"", "token", 0, "");
    expect("token=\"", "token", 0, ""); /* a lone quote is both the opening and the closing */
    expect("token=\"abc", "token", 0, "\"abc");
    expect("token=abc\"", "token", 0, "abc\"");
    expect("token=\"a\"b\"", "token", 0, "a\"b");
}

static void percent_decoding_follows_decode_uri_component(void **state)
{
    (void)state;
    expect("token=a%20b", "token", 0, "a%20b");
    expect("token=a%20b", "token", 1, "a b");
    expect("token=%25", "token", 1, "%");
    expect("token=%3B%3d", "token", 1, ";=");
    expect("token=a+b", "token", 1, "a+b");
    expect("token=%C3%A9", "token", 1, "\xC3\xA9");
    expect("token=%e2%82%ac", "token", 1, "\xE2\x82\xAC");
    expect("token=%F0%9F%98%80", "token", 1, "\xF0\x9F\x98\x80");
    expect("token=\"%41\"", "token", 1, "A");
    /* Each of these makes decodeURIComponent throw, so the raw value is kept. */
    expect("token=a%2", "token", 1, "a%2");
    expect("token=%", "token", 1, "%");
    expect("token=%zz1", "token", 1, "%zz1");
    expect("token=%20%G0", "token", 1, "%20%G0");
    expect("token=%C3", "token", 1, "%C3");
    expect("token=%C3%41", "token", 1, "%C3%41");
    expect("token=%C3\xA9", "token", 1, "%C3\xA9");
    expect("token=%A9", "token", 1, "%A9");
    expect("token=%C0%AF", "token", 1, "%C0%AF");             /* overlong */
    expect("token=%E0%80%AF", "token", 1, "%E0%80%AF");       /* overlong */
    expect("token=%ED%A0%80", "token", 1, "%ED%A0%80");       /* surrogate */
    expect("token=%F4%90%80%80", "token", 1, "%F4%90%80%80"); /* past U+10FFFF */
    expect("token=%F8%80%80%80%80", "token", 1, "%F8%80%80%80%80");
    expect("token=%FF", "token", 1, "%FF");
    /* Raw bytes outside ASCII pass through untouched. */
    expect("token=\xE9t\xE9%21", "token", 1, "\xE9t\xE9!");
}

static void appends_to_existing_buffer(void **state)
{
    (void)state;
    buf_t out = BUF_INIT;
    buf_append_str(&out, "pre:");
    assert_int_equal(cookie_get("token=xyz", 9, "token", 0, &out), 1);
    assert_string_equal(out.data, "pre:xyz");
    assert_int_equal(cookie_get("other=1", 7, "token", 0, &out), 0);
    assert_string_equal(out.data, "pre:xyz");
    assert_int_equal(cookie_get("token=a%2", 9, "token", 1, &out), 1);
    assert_string_equal(out.data, "pre:xyza%2");
    buf_free(&out);
    assert_int_equal(cookie_get(NULL, 0, "token", 0, &out), 0);
    assert_int_equal(cookie_get("token=1", 7, NULL, 0, &out), 0);
    assert_null(out.data);
}

static void respects_length_and_embedded_nuls(void **state)
{
    (void)state;
    static const char h[] = "a=1\0x; token=ok\0tail";
    char *got = get_n(h, sizeof h - 1, "token", 0);
    assert_non_null(got);
    assert_int_equal(strlen(got), 2);
    assert_string_equal(got, "ok");
    free(got);
    /* The length bounds the header, even when more text follows in memory. */
    assert_null(get_n("token=abc", 5, "token", 0));
    got = get_n("token=abc; x=1", 7, "token", 0);
    assert_string_equal(got, "a");
    free(got);
    got = get_n("token=%41%42", 11, "token", 1); /* cut after "%41%4": raw */
    assert_string_equal(got, "%41%4");
    free(got);
    /* Every prefix of a realistic header, each in an exactly sized allocation. */
    const char *full = "theme=\"dark\"; token=eyJhbGciOi.eyJzdWIi.c2ln; lang=en%2DGB";
    for (size_t n = 0; n <= strlen(full); n++) {
        char *t = get_n(full, n, "token", 1);
        char *l = get_n(full, n, "lang", 1);
        if (t) assert_true(strlen(t) <= 24);
        if (n == strlen(full)) {
            assert_string_equal(t, "eyJhbGciOi.eyJzdWIi.c2ln");
            assert_string_equal(l, "en-GB");
        }
        free(t);
        free(l);
    }
}

static void oversized_and_garbage_headers(void **state)
{
    (void)state;
    size_t big = 1 << 20;
    char *h = malloc(big + 16);
    for (size_t i = 0; i < big; i += 4)
        memcpy(h + i, "a=;;", 4);
    memcpy(h + big, "token=end", 9);
    char *got = get_n(h, big + 9, "token", 1);
    assert_string_equal(got, "end");
    free(got);
    free(h);

    /* Random headers over a small alphabet that stresses the separators. */
    static const char alphabet[] = ";= \t\"%Aa0\x80\xff\0";
    uint32_t seed = 12345;
    char tmp[64];
    for (int round = 0; round < 20000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 16) % sizeof tmp;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            tmp[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        for (int decode = 0; decode <= 1; decode++) {
            char *v = get_n(tmp, n, "A", decode);
            if (v) assert_true(strlen(v) <= n);
            free(v);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_pairs_and_strips_quotes),
        cmocka_unit_test(first_pair_wins_and_names_are_exact),
        cmocka_unit_test(whitespace_is_tolerated),
        cmocka_unit_test(pairs_without_equals_are_skipped),
        cmocka_unit_test(empty_and_odd_quoted_values),
        cmocka_unit_test(percent_decoding_follows_decode_uri_component),
        cmocka_unit_test(appends_to_existing_buffer),
        cmocka_unit_test(respects_length_and_embedded_nuls),
        cmocka_unit_test(oversized_and_garbage_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
