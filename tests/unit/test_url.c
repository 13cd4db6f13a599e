/* test_url.c - percent-decoding, query strings and request-target splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "http/url.h"

static int decode(buf_t *b, const char *s, int plus)
{
    return url_decode(b, s, strlen(s), plus);
}

static void decode_valid_escapes(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_int_equal(decode(&b, "a%20b%2fc%2F%7e%41%c3%b6", 0), 0);
    assert_string_equal(b.data, "a b/c/~A\xc3\xb6");
    buf_reset(&b);
    assert_int_equal(decode(&b, "x+y%2B", 0), 0);
    assert_string_equal(b.data, "x+y+");
    buf_reset(&b);
    assert_int_equal(decode(&b, "x+y%2B", 1), 0);
    assert_string_equal(b.data, "x y+");
    buf_free(&b);
}

static void decode_appends_and_empty_input(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_int_equal(url_decode(&b, "", 0, 0), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    buf_append_str(&b, "pre:");
    assert_int_equal(decode(&b, "%41", 0), 0);
    assert_string_equal(b.data, "pre:A");
    /* len is honoured: the escape past it is not read */
    assert_int_equal(url_decode(&b, "bc%4", 2, 0), 0);
    assert_string_equal(b.data, "pre:Abc");
    assert_int_equal(b.len, 7);
    buf_free(&b);
}

static void decode_rejects_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {"%",    "a%",  "%G1",   "%1G", "%0", "ab%4",
                                "%%41", "%00", "a%00b", "%-1", "% 1"};
    buf_t b = BUF_INIT;
    buf_append_str(&b, "keep");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(decode(&b, bad[i], 0), -1);
        /* the buffer is restored to what it held before */
        assert_int_equal(b.len, 4);
        assert_string_equal(b.data, "keep");
    }
    /* a raw NUL inside the given length is refused too */
    assert_int_equal(url_decode(&b, "a\0b", 3, 0), -1);
    assert_string_equal(b.data, "keep");
    buf_free(&b);
}

static url_query_t parse(const char *s, size_t max, int expect)
{
    url_query_t q = URL_QUERY_INIT;
    assert_int_equal(url_query_parse(&q, s, strlen(s), max), expect);
    return q;
}

static void query_parses_pairs(void **state)
{
    (void)state;
    url_query_t q = parse("a=1&b=x%20y&flag&c=&d=p+q%2Br&a=2", 16, 0);
    assert_int_equal(q.len, 6);
    assert_string_equal(q.items[0].name, "a");
    assert_string_equal(q.items[0].value, "1");
    assert_string_equal(url_query_get(&q, "a"), "1"); /* first value wins */
    assert_string_equal(q.items[5].value, "2");
    assert_string_equal(url_query_get(&q, "b"), "x y");
    assert_string_equal(url_query_get(&q, "flag"), "");
    assert_string_equal(url_query_get(&q, "c"), "");
    assert_string_equal(url_query_get(&q, "d"), "p q+r");
    assert_null(url_query_get(&q, "missing"));
    assert_null(url_query_get(&q, "A")); /* names are case-sensitive */
    url_query_free(&q);
    assert_int_equal(q.len, 0);
    assert_null(q.items);
    url_query_free(&q); /* idempotent */
}

static void query_skips_empty_segments_and_keeps_empty_keys(void **state)
{
    (void)state;
    url_query_t q = parse("&&a=1&&=v&=&b==x&", 16, 0);
    assert_int_equal(q.len, 4);
    assert_string_equal(q.items[0].name, "a");
    assert_string_equal(q.items[1].name, "");
    assert_string_equal(q.items[1].value, "v");
    assert_string_equal(q.items[2].name, "");
    assert_string_equal(q.items[2].value, "");
    assert_string_equal(url_query_get(&q, ""), "v");
    assert_string_equal(url_query_get(&q, "b"), "=x"); /* only the first '=' splits */
    url_query_free(&q);

    q = parse("", 0, 0);
    assert_int_equal(q.len, 0);
    url_query_free(&q);
    q = parse("&&&", 0, 0);
    assert_int_equal(q.len, 0);
    url_query_free(&q);
    q = parse("k%3D=v%26", 4, 0); /* escaped '=' and '&' are data */
    assert_string_equal(url_query_get(&q, "k="), "v&");
    url_query_free(&q);
}

static void query_rejects_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {"a=%", "a=%G1", "a=1&b=%0", "%zz=1", "a=%00", "%00", "x&y=1%"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        url_query_t q = parse(bad[i], 16, -1);
        assert_int_equal(q.len, 0);
        assert_null(q.items);
    }
    /* q is overwritten, so a stale value cannot leak through */
    url_query_t q = {(url_param_t *)&q, 99};
    assert_int_equal(url_query_parse(&q, "a=%", 3, 4), -1);
    assert_int_equal(q.len, 0);
    assert_null(q.items);
}

static void query_is_bounded(void **state)
{
    (void)state;
    url_query_t q = parse("a=1&b=2&c=3", 3, 0);
    assert_int_equal(q.len, 3);
    url_query_free(&q);
    q = parse("a=1&b=2&c=3&d", 3, -1);
    assert_int_equal(q.len, 0);
    q = parse("a", 0, -1);

    /* a huge query is refused by counting, before any allocation */
    size_t n = 200000;
    char *big = malloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(big + 2 * i, "x&", 2);
    big[n * 2] = '\0';
    q = parse(big, 64, -1);
    assert_int_equal(q.len, 0);
    assert_null(q.items);
    /* empty segments do not count towards the limit */
    memset(big, '&', n * 2);
    big[n] = 'k';
    q = parse(big, 1, 0);
    assert_int_equal(q.len, 1);
    assert_string_equal(url_query_get(&q, "k"), "");
    url_query_free(&q);
    free(big);
}

typedef struct split {
    int rc;
    char path[128];
    const char *query_ptr;
    char query[128];
} split_t;

static split_t split(const char *t)
{
    split_t s;
    const char *p, *q;
    size_t pl, ql;
    memset(&s, 0, sizeof(s));
    s.rc = url_split_target(t, strlen(t), &p, &pl, &q, &ql);
    if (s.rc == 0) {
        assert_true(pl < sizeof(s.path) && ql < sizeof(s.query));
        memcpy(s.path, p, pl);
        if (q) memcpy(s.query, q, ql);
        s.query_ptr = q;
    }
    return s;
}

static void split_origin_form(void **state)
{
    (void)state;
    split_t s = split("/notifications?limit=10&x");
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.path, "/notifications");
    assert_string_equal(s.query, "limit=10&x");
    s = split("/a/b");
    assert_string_equal(s.path, "/a/b");
    assert_null(s.query_ptr);
    s = split("/a?");
    assert_string_equal(s.path, "/a");
    assert_non_null(s.query_ptr);
    assert_string_equal(s.query, "");
    s = split("/");
    assert_string_equal(s.path, "/");
    s = split("/a#frag");
    assert_string_equal(s.path, "/a");
    assert_null(s.query_ptr);
    s = split("/a?x=1#frag?y");
    assert_string_equal(s.path, "/a");
    assert_string_equal(s.query, "x=1");
    s = split("/a?b?c");
    assert_string_equal(s.query, "b?c");
    s = split("//double");
    assert_string_equal(s.path, "//double");

    /* the length is honoured: no NUL terminator needed */
    const char *p, *q;
    size_t pl, ql;
    assert_int_equal(url_split_target("/ab?cd", 2, &p, &pl, &q, &ql), 0);
    assert_int_equal(pl, 2);
    assert_null(q);
}

static void split_absolute_form(void **state)
{
    (void)state;
    split_t s = split("http://example.com/a/b?x=1");
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.path, "/a/b");
    assert_string_equal(s.query, "x=1");
    s = split("HTTPS://user@h:8443/p");
    assert_string_equal(s.path, "/p");
    assert_null(s.query_ptr);
    s = split("http://example.com");
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.path, "/");
    assert_null(s.query_ptr);
    s = split("http://example.com?q=2");
    assert_string_equal(s.path, "/");
    assert_string_equal(s.query, "q=2");
    s = split("coap+tcp.x-y://h/z");
    assert_string_equal(s.path, "/z");
}

static void split_rejects_other_forms(void **state)
{
    (void)state;
    static const char *bad[] = {"",    "*",         "example.com:443", "a",       "?x=1",
                                "#f",  "http:/x",   "http:x",          "1a://h/", "://h/x",
                                " /a", "h\x01://x/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        split_t s = split(bad[i]);
        assert_int_equal(s.rc, -1);
    }
    const char *p = "x", *q = "x";
    size_t pl = 9, ql = 9;
    assert_int_equal(url_split_target("*", 1, &p, &pl, &q, &ql), -1);
    assert_null(p);
    assert_null(q);
    assert_int_equal(pl, 0);
    assert_int_equal(ql, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_valid_escapes),
        cmocka_unit_test(decode_appends_and_empty_input),
        cmocka_unit_test(decode_rejects_malformed),
        cmocka_unit_test(query_parses_pairs),
        cmocka_unit_test(query_skips_empty_segments_and_keeps_empty_keys),
        cmocka_unit_test(query_rejects_malformed),
        cmocka_unit_test(query_is_bounded),
        cmocka_unit_test(split_origin_form),
        cmocka_unit_test(split_absolute_form),
        cmocka_unit_test(split_rejects_other_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
