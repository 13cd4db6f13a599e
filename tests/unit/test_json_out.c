/* test_json_out.c - JSON.stringify-compatible output. Expected strings were printed by
 * JavaScript's JSON.stringify for the same values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_out.h"

static void check_value(json_t *v, const char *expected)
{
    buf_t b = BUF_INIT;
    buf_append_str(&b, ">"); /* output is appended, not overwritten */
    json_out_append(&b, v);
    assert_string_equal(b.data + 1, expected);
    buf_free(&b);
    json_decref(v);
}

/* Parses text with jansson and checks what json_out prints. */
static void check_text(const char *text, const char *expected)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    assert_non_null(v);
    check_value(v, expected);
}

static void check_real(double d, const char *expected)
{
    check_value(json_real(d), expected);
}

static void scalars(void **state)
{
    (void)state;
    check_value(json_true(), "true");
    check_value(json_false(), "false");
    check_value(json_null(), "null");
    check_value(json_integer(0), "0");
    check_value(json_integer(-42), "-42");
    check_value(json_integer(INT64_MAX), "9223372036854775807");
    check_value(json_integer(INT64_MIN), "-9223372036854775808");
}

static void reals_print_like_javascript(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        {0.0, "0"},
        {-0.0, "0"},
        {1.0, "1"},
        {-1.0, "-1"},
        {2.0, "2"},
        {1.1, "1.1"},
        {0.1, "0.1"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.0 / 3, "0.3333333333333333"},
        {-1.0 / 3, "-0.3333333333333333"},
        {1e21, "1e+21"},
        {1e20, "100000000000000000000"},
        {123456789012345680000.0, "123456789012345680000"},
        {1e-7, "1e-7"},
        {1e-6, "0.000001"},
        {0.000001234, "0.000001234"},
        {1.5e-7, "1.5e-7"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {9007199254740992.0, "9007199254740992"},
        {9007199254740994.0, "9007199254740994"},
        {-1.5e300, "-1.5e+300"},
        {100.0, "100"},
        {1e100, "1e+100"},
        {123.456, "123.456"},
        {9.999999999999999e22, "1e+23"},
        {0.5, "0.5"},
        {25e-5, "0.00025"},
        {4.35, "4.35"},
        {1e-5, "0.00001"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_real(cases[i].v, cases[i].s);
    /* Not representable in jansson trees, but the number writer handles them as JSON does. */
    buf_t b = BUF_INIT;
    json_out_append_real(&b, NAN);
    json_out_append_real(&b, INFINITY);
    json_out_append_real(&b, -INFINITY);
    assert_string_equal(b.data, "nullnullnull");
    buf_free(&b);
}

static void reals_round_trip(void **state)
{
    (void)state;
    /* Random bit patterns: the output must read back to the very same double. */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d)) continue;
        buf_t b = BUF_INIT;
        json_out_append_real(&b, d);
        assert_true(strtod(b.data, NULL) == d);
        if (b.len > 25) fail_msg("too long: %s", b.data); /* "-0.00000" + 17 digits */
        buf_free(&b);
    }
}

static void strings_escape_like_javascript(void **state)
{
    (void)state;
    check_value(json_string(""), "\"\"");
    check_value(json_string("plain"), "\"plain\"");
    /* Only '"', '\\' and controls; '/', DEL, U+2028 and non-ASCII stay as they are. */
    static const char raw[] = "a\0\x1f\x7f\"\\/\b\f\n\r\t\xe2\x80\xa8\xc3\xa9\xf0\x9f\x98\x80";
    check_value(
        json_stringn(raw, sizeof raw - 1),
        "\"a\\u0000\\u001f\x7f\\\"\\\\/\\b\\f\\n\\r\\t\xe2\x80\xa8\xc3\xa9\xf0\x9f\x98\x80\"");
    check_value(json_string("\x01\x0b\x0e\x1a"), "\"\\u0001\\u000b\\u000e\\u001a\"");
    buf_t b = BUF_INIT;
    json_out_append_string(&b, "x\ny", 3);
    assert_string_equal(b.data, "\"x\\ny\"");
    buf_free(&b);
}

static void containers_are_compact(void **state)
{
    (void)state;
    check_text("[]", "[]");
    check_text("{}", "{}");
    check_text(" [ 1 , \"2\" , { \"3\" : [ true ] } , null , [ [ ] ] ] ",
               "[1,\"2\",{\"3\":[true]},null,[[]]]");
    check_text("{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}", "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}");
    check_text("[\"baz\",{\"_placeholder\":true,\"num\":0}]",
               "[\"baz\",{\"_placeholder\":true,\"num\":0}]");
    check_text("{\"a\":{\"b\":{\"c\":[1.5,-0.0,2.0]}}}", "{\"a\":{\"b\":{\"c\":[1.5,0,2]}}}");
}

static void keys_in_javascript_order(void **state)
{
    (void)state;
    /* Insertion order, a duplicate keeps its first position with the last value. */
    check_text("{\"z\":1,\"a\":2,\"m\":3,\"a\":4}", "{\"z\":1,\"a\":4,\"m\":3}");
    /* Array-index keys come first in numeric order; "01", "-1" and 2^32-1 are not indexes. */
    check_text("{\"b\":1,\"2\":2,\"a\":3,\"1\":4,\"01\":5,\"4294967295\":6,\"4294967294\":7,"
               "\"-1\":8}",
               "{\"1\":4,\"2\":2,\"4294967294\":7,\"b\":1,\"a\":3,\"01\":5,\"4294967295\":6,"
               "\"-1\":8}");
    check_text("{\"10\":1,\"9\":2,\"0\":3}", "{\"0\":3,\"9\":2,\"10\":1}");
    /* Keys are escaped like strings. */
    json_t *o = json_object();
    json_object_set_new(o, "a\"b\n", json_integer(1));
    check_value(o, "{\"a\\\"b\\n\":1}");
}

static int hook_stars_strings(void *user, buf_t *out, const json_t *v)
{
    int *calls = user;
    (*calls)++;
    if (json_is_string(v)) {
        buf_append_str(out, "\"*\"");
        return 1;
    }
    if (json_is_false(v)) return -7;
    return 0;
}

static void hook_rewrites_and_stops(void **state)
{
    (void)state;
    json_error_t err;
    json_t *v = json_loads("{\"a\":[\"x\",1,{\"b\":\"y\"}]}", 0, &err);
    buf_t b = BUF_INIT;
    int calls = 0;
    assert_int_equal(json_out_append_hook(&b, v, hook_stars_strings, &calls), 0);
    assert_string_equal(b.data, "{\"a\":[\"*\",1,{\"b\":\"*\"}]}");
    assert_int_equal(calls, 6);
    json_decref(v);
    v = json_loads("[1,false,2]", 0, &err);
    buf_reset(&b);
    assert_int_equal(json_out_append_hook(&b, v, hook_stars_strings, &calls), -7);
    json_decref(v);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scalars),
        cmocka_unit_test(reals_print_like_javascript),
        cmocka_unit_test(reals_round_trip),
        cmocka_unit_test(strings_escape_like_javascript),
        cmocka_unit_test(containers_are_compact),
        cmocka_unit_test(keys_in_javascript_order),
        cmocka_unit_test(hook_rewrites_and_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
