/* test_json_writer.c - the streaming JSON builder: commas, value types, JavaScript number
 * format, raw values, every misuse that must fail the writer, the depth bound and reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/json_writer.h"

/* The writer's text is exactly expected, its length is reported, and it is valid JSON. */
static void expect_text(json_writer_t *w, const char *expected, size_t expected_len)
{
    size_t len = 12345;
    const char *text = json_writer_text(w, &len);
    assert_non_null(text);
    assert_int_equal(len, expected_len);
    assert_memory_equal(text, expected, expected_len);
    assert_int_equal(text[len], '\0');
    assert_ptr_equal(json_writer_text(w, NULL), text);
    json_error_t err;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!v) fail_msg("not valid JSON (%s): %s", err.text, text);
    json_decref(v);
}

static void raw_str(json_writer_t *w, const char *json)
{
    json_writer_raw(w, json, strlen(json));
}

#define EXPECT(w, literal) expect_text((w), (literal), sizeof(literal) - 1)

static void expect_failed(json_writer_t *w)
{
    size_t len = 12345;
    assert_null(json_writer_text(w, &len));
    assert_int_equal(len, 0);
    assert_true(w->failed);
}

/* The text parses with jansson to the same value as expected_json. */
static void expect_parsed(json_writer_t *w, const char *expected_json)
{
    size_t len;
    const char *text = json_writer_text(w, &len);
    assert_non_null(text);
    json_error_t err;
    json_t *got = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!got) fail_msg("not valid JSON (%s): %s", err.text, text);
    json_t *want = json_loads(expected_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    assert_non_null(want);
    if (!json_equal(got, want)) fail_msg("got %s, want %s", text, expected_json);
    json_decref(got);
    json_decref(want);
}

static void nested_containers_get_commas(void **state)
{
    (void)state;
    json_writer_t w;
    json_writer_init(&w);
    json_writer_object_begin(&w);
    json_writer_key(&w, "a", 1);
    json_writer_int(&w, 1);
    json_writer_key(&w, "b", 1);
    json_writer_array_begin(&w);
    json_writer_int(&w, 1);
    json_writer_int(&w, 2);
    json_writer_object_begin(&w);
    json_writer_key(&w, "c", 1);
    json_writer_null(&w);
    json_writer_object_end(&w);
    json_writer_array_begin(&w);
    json_writer_array_end(&w);
    json_writer_array_end(&w);
    json_writer_key(&w, "d", 1);
    json_writer_object_begin(&w);
    json_writer_object_end(&w);
    json_writer_key(&w, "e", 1);
    json_writer_array_begin(&w);
    json_writer_array_begin(&w);
    json_writer_int(&w, 3);
    json_writer_array_end(&w);
    json_writer_array_begin(&w);
    json_writer_int(&w, 4);
    json_writer_array_end(&w);
    json_writer_array_end(&w);
    assert_null(json_writer_text(&w, NULL)); /* still open */
    assert_false(w.failed);
    json_writer_object_end(&w);
    EXPECT(&w, "{\"a\":1,\"b\":[1,2,{\"c\":null},[]],\"d\":{},\"e\":[[3],[4]]}");
    json_writer_free(&w);
}

static void every_value_type(void **state)
{
    (void)state;
    json_writer_t w;
    json_writer_init(&w);
    json_writer_array_begin(&w);
    json_writer_string(&w, "plain", 5);
    json_writer_string(&w, "", 0);
    static const char ctl[] = "q\"b\\s/n\nr\rt\tb\bf\f\x01\x1f";
    json_writer_string(&w, ctl, sizeof ctl - 1);
    json_writer_string(&w, "a\0b", 3);                          /* NUL bytes are kept, escaped */
    json_writer_string(&w, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10); /* non-ASCII passes through */
    json_writer_string(&w, "only-this-part", 4);
    json_writer_int(&w, 0);
    json_writer_int(&w, -42);
    json_writer_int(&w, INT64_MAX);
    json_writer_int(&w, INT64_MIN);
    json_writer_double(&w, 2.5);
    json_writer_bool(&w, 1);
    json_writer_bool(&w, 0);
    json_writer_bool(&w, 7); /* any non-zero is true */
    json_writer_null(&w);
    json_writer_array_end(&w);
    EXPECT(&w, "[\"plain\",\"\",\"q\\\"b\\\\s/n\\nr\\rt\\tb\\bf\\f\\u0001\\u001f\","
               "\"a\\u0000b\",\"caf\xc3\xa9 \xf0\x9f\x98\x80\",\"only\",0,-42,"
               "9223372036854775807,-9223372036854775808,2.5,true,false,true,null]");
    json_writer_free(&w);

    /* Each scalar also stands alone as the top-level value. */
    json_writer_init(&w);
    json_writer_string(&w, "top", 3);
    EXPECT(&w, "\"top\"");
    json_writer_reset(&w);
    json_writer_int(&w, -1);
    EXPECT(&w, "-1");
    json_writer_reset(&w);
    json_writer_bool(&w, 0);
    EXPECT(&w, "false");
    json_writer_reset(&w);
    json_writer_null(&w);
    EXPECT(&w, "null");
    json_writer_reset(&w);
    json_writer_double(&w, 0.25);
    EXPECT(&w, "0.25");

    /* Keys are escaped like strings, NUL bytes included (jansson cannot read those back,
     * so this one is compared as text only). */
    json_writer_reset(&w);
    json_writer_object_begin(&w);
    json_writer_key(&w, "k\0\"\n\x7f", 5);
    json_writer_int(&w, 1);
    json_writer_key(&w, "", 0);
    json_writer_int(&w, 2);
    json_writer_object_end(&w);
    assert_string_equal(json_writer_text(&w, NULL), "{\"k\\u0000\\\"\\n\x7f\":1,\"\":2}");
    json_writer_free(&w);
}

static void doubles_print_as_javascript(void **state)
{
    (void)state;
    /* Expected strings are what JavaScript's String(x) / JSON.stringify give. */
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {1.5, "1.5"},
        {-1.5, "-1.5"},
        {2.0, "2"},
        {0.0, "0"},
        {-0.0, "0"},
        {0.1, "0.1"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.0 / 3.0, "0.3333333333333333"},
        {100.0, "100"},
        {1e20, "100000000000000000000"},
        {1e21, "1e+21"},
        {1.5e21, "1.5e+21"},
        {123456789012345680000.0, "123456789012345680000"},
        {1e-6, "0.000001"},
        {1.5e-6, "0.0000015"},
        {1e-7, "1e-7"},
        {-1.25e-7, "-1.25e-7"},
        {9007199254740993.0, "9007199254740992"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-123.456, "-123.456"},
    };
    json_writer_t w;
    json_writer_init(&w);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_writer_reset(&w);
        json_writer_double(&w, cases[i].v);
        size_t len;
        const char *text = json_writer_text(&w, &len);
        assert_non_null(text);
        if (strcmp(text, cases[i].text) != 0)
            fail_msg("%.17g printed as %s, want %s", cases[i].v, text, cases[i].text);
        assert_int_equal(len, strlen(cases[i].text));
        /* And it reads back to the same double (except the sign of zero). */
        assert_true(strtod(text, NULL) == cases[i].v);
    }

    /* Non-finite numbers have no JSON form: null, as JSON.stringify does. */
    json_writer_reset(&w);
    json_writer_array_begin(&w);
    json_writer_double(&w, NAN);
    json_writer_double(&w, INFINITY);
    json_writer_double(&w, -INFINITY);
    json_writer_double(&w, 1);
    json_writer_array_end(&w);
    EXPECT(&w, "[null,null,null,1]");
    json_writer_reset(&w);
    json_writer_object_begin(&w);
    json_writer_key(&w, "x", 1);
    json_writer_double(&w, NAN);
    json_writer_object_end(&w);
    EXPECT(&w, "{\"x\":null}");
    json_writer_free(&w);
}

static void raw_values(void **state)
{
    (void)state;
    json_writer_t w;
    json_writer_init(&w);
    json_writer_object_begin(&w);
    json_writer_key(&w, "obj", 3);
    raw_str(&w, "{\"x\": [1, 2.0, \"s\"], \"y\": {}}");
    json_writer_key(&w, "list", 4);
    json_writer_array_begin(&w);
    raw_str(&w, " true ");
    raw_str(&w, "null");
    raw_str(&w, "\"str\"");
    raw_str(&w, "-7");
    raw_str(&w, "[]");
    json_writer_raw(&w, "[1,2]garbage", 5); /* only len bytes are read */
    json_writer_int(&w, 8);
    json_writer_array_end(&w);
    json_writer_object_end(&w);
    /* Raw text is re-serialized compactly, numbers as JavaScript prints them. */
    EXPECT(&w, "{\"obj\":{\"x\":[1,2,\"s\"],\"y\":{}},\"list\":[true,null,\"str\",-7,[],[1,2],8]}");
    json_writer_free(&w);

    /* A raw value alone is a complete document. */
    json_writer_init(&w);
    raw_str(&w, "{\"b\":1,\"a\":[{}]}");
    EXPECT(&w, "{\"b\":1,\"a\":[{}]}");
    json_writer_free(&w);

    /* Anything that is not exactly one valid JSON value fails the writer. */
    static const char *const bad[] = {
        "",        "   ",           "{",        "[1,]",       "[1 2]",        "1 2",
        "nul",     "tru",           "'single'", "{\"a\":1}x", "{a:1}",        "01",
        "NaN",     "Infinity",      "\"open",   "\"\xff\"",   "\"\xc0\x80\"", "[1],[2]",
        "{\"a\"}", "\"tab\there\"", "+1",       "1.",         ".5",           "--1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_writer_init(&w);
        json_writer_array_begin(&w);
        json_writer_raw(&w, bad[i], strlen(bad[i]));
        json_writer_array_end(&w);
        if (!w.failed) fail_msg("raw %s accepted", bad[i]);
        expect_failed(&w);
        json_writer_free(&w);
    }
    json_writer_init(&w);
    json_writer_raw(&w, NULL, 0);
    expect_failed(&w);
    json_writer_free(&w);
    /* A valid raw value where a key is due is misuse too. */
    json_writer_init(&w);
    json_writer_object_begin(&w);
    raw_str(&w, "1");
    expect_failed(&w);
    json_writer_free(&w);
}

/* Runs one misuse sequence on a fresh writer and checks it failed, and stays failed after
 * calls that would otherwise be valid. */
typedef void (*misuse_fn)(json_writer_t *w);

static void check_misuse(misuse_fn fn, const char *name)
{
    json_writer_t w;
    json_writer_init(&w);
    fn(&w);
    if (!w.failed) fail_msg("misuse not detected: %s", name);
    expect_failed(&w);
    size_t before = w.out.len;
    json_writer_object_end(&w);
    json_writer_array_end(&w);
    json_writer_int(&w, 1);
    json_writer_object_begin(&w);
    json_writer_key(&w, "k", 1);
    json_writer_string(&w, "s", 1);
    json_writer_object_end(&w);
    raw_str(&w, "1");
    assert_int_equal(w.out.len, before); /* nothing more is written */
    expect_failed(&w);
    json_writer_free(&w);
}

static void m_key_at_top(json_writer_t *w)
{
    json_writer_key(w, "k", 1);
}
static void m_key_after_top_value(json_writer_t *w)
{
    json_writer_int(w, 1);
    json_writer_key(w, "k", 1);
}
static void m_key_in_array(json_writer_t *w)
{
    json_writer_array_begin(w);
    json_writer_key(w, "k", 1);
}
static void m_value_where_key_due(json_writer_t *w)
{
    json_writer_object_begin(w);
    json_writer_int(w, 1);
}
static void m_string_where_key_due(json_writer_t *w)
{
    json_writer_object_begin(w);
    json_writer_key(w, "a", 1);
    json_writer_int(w, 1);
    json_writer_string(w, "b", 1);
}
static void m_container_where_key_due(json_writer_t *w)
{
    json_writer_object_begin(w);
    json_writer_array_begin(w);
}
static void m_two_keys(json_writer_t *w)
{
    json_writer_object_begin(w);
    json_writer_key(w, "a", 1);
    json_writer_key(w, "b", 1);
}
static void m_end_after_key(json_writer_t *w)
{
    json_writer_object_begin(w);
    json_writer_key(w, "a", 1);
    json_writer_object_end(w);
}
static void m_object_end_at_top(json_writer_t *w)
{
    json_writer_object_end(w);
}
static void m_array_end_at_top(json_writer_t *w)
{
    json_writer_array_end(w);
}
static void m_mismatched_end(json_writer_t *w)
{
    json_writer_array_begin(w);
    json_writer_object_end(w);
}
static void m_mismatched_end2(json_writer_t *w)
{
    json_writer_object_begin(w);
    json_writer_array_end(w);
}
static void m_extra_end(json_writer_t *w)
{
    json_writer_array_begin(w);
    json_writer_array_end(w);
    json_writer_array_end(w);
}
static void m_second_top_scalar(json_writer_t *w)
{
    json_writer_int(w, 1);
    json_writer_int(w, 2);
}
static void m_second_top_container(json_writer_t *w)
{
    json_writer_object_begin(w);
    json_writer_object_end(w);
    json_writer_array_begin(w);
}
static void m_second_top_raw(json_writer_t *w)
{
    json_writer_null(w);
    raw_str(w, "1");
}
static void m_second_top_string(json_writer_t *w)
{
    json_writer_string(w, "a", 1);
    json_writer_string(w, "b", 1);
}
static void m_string_bad_utf8(json_writer_t *w)
{
    json_writer_array_begin(w);
    json_writer_string(w, "ok\xff", 3);
}
static void m_string_overlong(json_writer_t *w)
{
    json_writer_string(w, "\xc0\xaf", 2);
}
static void m_string_surrogate(json_writer_t *w)
{
    json_writer_string(w, "\xed\xa0\x80", 3);
}
static void m_string_truncated(json_writer_t *w)
{
    json_writer_string(w, "\xe2\x82", 2);
}
static void m_string_too_big(json_writer_t *w)
{
    json_writer_string(w, "\xf4\x90\x80\x80", 4); /* above U+10FFFF */
}
static void m_string_cut_by_len(json_writer_t *w)
{
    json_writer_string(w, "\xc3\xa9", 1); /* len splits a sequence */
}
static void m_string_null(json_writer_t *w)
{
    json_writer_string(w, NULL, 0);
}
static void m_key_bad_utf8(json_writer_t *w)
{
    json_writer_object_begin(w);
    json_writer_key(w, "k\x80", 2);
}
static void m_key_null(json_writer_t *w)
{
    json_writer_object_begin(w);
    json_writer_key(w, NULL, 0);
}
static void m_too_deep(json_writer_t *w)
{
    for (int i = 0; i <= JSON_WRITER_MAX_DEPTH; i++)
        json_writer_array_begin(w);
}
static void m_too_deep_objects(json_writer_t *w)
{
    json_writer_array_begin(w);
    for (int i = 1; i <= JSON_WRITER_MAX_DEPTH; i++) {
        json_writer_object_begin(w);
        json_writer_key(w, "k", 1);
    }
}

static void misuse_fails_the_writer(void **state)
{
    (void)state;
#define MISUSE(fn) check_misuse(fn, #fn)
    MISUSE(m_key_at_top);
    MISUSE(m_key_after_top_value);
    MISUSE(m_key_in_array);
    MISUSE(m_value_where_key_due);
    MISUSE(m_string_where_key_due);
    MISUSE(m_container_where_key_due);
    MISUSE(m_two_keys);
    MISUSE(m_end_after_key);
    MISUSE(m_object_end_at_top);
    MISUSE(m_array_end_at_top);
    MISUSE(m_mismatched_end);
    MISUSE(m_mismatched_end2);
    MISUSE(m_extra_end);
    MISUSE(m_second_top_scalar);
    MISUSE(m_second_top_container);
    MISUSE(m_second_top_raw);
    MISUSE(m_second_top_string);
    MISUSE(m_string_bad_utf8);
    MISUSE(m_string_overlong);
    MISUSE(m_string_surrogate);
    MISUSE(m_string_truncated);
    MISUSE(m_string_too_big);
    MISUSE(m_string_cut_by_len);
    MISUSE(m_string_null);
    MISUSE(m_key_bad_utf8);
    MISUSE(m_key_null);
    MISUSE(m_too_deep);
    MISUSE(m_too_deep_objects);
#undef MISUSE
}

static void unfinished_text_is_null(void **state)
{
    (void)state;
    json_writer_t w;
    json_writer_init(&w);
    size_t len = 99;
    assert_null(json_writer_text(&w, &len)); /* nothing written yet */
    assert_int_equal(len, 0);
    json_writer_array_begin(&w);
    json_writer_object_begin(&w);
    assert_null(json_writer_text(&w, NULL));
    json_writer_object_end(&w);
    assert_null(json_writer_text(&w, NULL));
    json_writer_array_end(&w);
    assert_false(w.failed);
    EXPECT(&w, "[{}]");
    json_writer_free(&w);
}

static void depth_limit_is_exact(void **state)
{
    (void)state;
    json_writer_t w;
    json_writer_init(&w);
    char expected[2 * JSON_WRITER_MAX_DEPTH + 2];
    for (int i = 0; i < JSON_WRITER_MAX_DEPTH; i++)
        json_writer_array_begin(&w);
    assert_false(w.failed);
    json_writer_int(&w, 1);
    for (int i = 0; i < JSON_WRITER_MAX_DEPTH; i++)
        json_writer_array_end(&w);
    memset(expected, '[', JSON_WRITER_MAX_DEPTH);
    expected[JSON_WRITER_MAX_DEPTH] = '1';
    memset(expected + JSON_WRITER_MAX_DEPTH + 1, ']', JSON_WRITER_MAX_DEPTH);
    expect_text(&w, expected, 2 * JSON_WRITER_MAX_DEPTH + 1);

    /* Objects count toward the same bound. */
    json_writer_reset(&w);
    for (int i = 0; i < JSON_WRITER_MAX_DEPTH - 1; i++) {
        json_writer_object_begin(&w);
        json_writer_key(&w, "k", 1);
    }
    json_writer_array_begin(&w);
    assert_false(w.failed);
    json_writer_array_begin(&w); /* one past the bound */
    expect_failed(&w);
    json_writer_free(&w);
}

static void reset_starts_over(void **state)
{
    (void)state;
    json_writer_t w;
    json_writer_init(&w);
    json_writer_object_begin(&w);
    json_writer_int(&w, 1); /* misuse */
    expect_failed(&w);
    json_writer_reset(&w);
    assert_false(w.failed);
    assert_null(json_writer_text(&w, NULL)); /* empty again, not a value */
    json_writer_array_begin(&w);
    json_writer_int(&w, 1);
    json_writer_array_end(&w);
    EXPECT(&w, "[1]");

    /* Reset after a complete value allows a new top-level value. */
    json_writer_reset(&w);
    json_writer_object_begin(&w);
    json_writer_key(&w, "a", 1);
    json_writer_bool(&w, 1);
    json_writer_object_end(&w);
    EXPECT(&w, "{\"a\":true}");

    /* Reset with containers still open forgets them. */
    json_writer_reset(&w);
    json_writer_array_begin(&w);
    json_writer_object_begin(&w);
    json_writer_key(&w, "z", 1);
    json_writer_reset(&w);
    json_writer_string(&w, "x", 1);
    EXPECT(&w, "\"x\"");
    json_writer_free(&w);
    json_writer_free(&w); /* a freed writer can be freed again */
}

static void output_parses_to_expected_value(void **state)
{
    (void)state;
    json_writer_t w;
    json_writer_init(&w);
    json_writer_object_begin(&w);
    json_writer_key(&w, "event", 5);
    json_writer_string(&w, "chat \"message\"", 14);
    json_writer_key(&w, "key", 3);
    json_writer_string(&w, "v\0al", 4);
    json_writer_key(&w, "", 0);
    json_writer_string(&w, "empty key", 9);
    json_writer_key(&w, "nums", 4);
    json_writer_array_begin(&w);
    json_writer_int(&w, -3);
    json_writer_double(&w, 0.5);
    json_writer_double(&w, 1e300);
    json_writer_array_end(&w);
    json_writer_key(&w, "nested", 6);
    json_writer_object_begin(&w);
    json_writer_key(&w, "deep", 4);
    json_writer_array_begin(&w);
    json_writer_object_begin(&w);
    json_writer_object_end(&w);
    raw_str(&w, "{\"r\":[false]}");
    json_writer_null(&w);
    json_writer_array_end(&w);
    json_writer_object_end(&w);
    json_writer_object_end(&w);
    expect_parsed(&w, "{\"event\":\"chat \\\"message\\\"\",\"key\":\"v\\u0000al\","
                      "\"\":\"empty key\",\"nums\":[-3,0.5,1e300],"
                      "\"nested\":{\"deep\":[{},{\"r\":[false]},null]}}");

    /* More than 255 members: commas stay right past the saturating counter. */
    json_writer_reset(&w);
    json_writer_array_begin(&w);
    for (int i = 0; i < 300; i++)
        json_writer_int(&w, i);
    json_writer_array_end(&w);
    size_t len;
    const char *text = json_writer_text(&w, &len);
    assert_non_null(text);
    json_error_t err;
    json_t *arr = json_loadb(text, len, 0, &err);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 300);
    for (size_t i = 0; i < 300; i++)
        assert_int_equal(json_integer_value(json_array_get(arr, i)), (json_int_t)i);
    json_decref(arr);

    json_writer_reset(&w);
    json_writer_object_begin(&w);
    char key[16];
    for (int i = 0; i < 300; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        json_writer_key(&w, key, (size_t)n);
        json_writer_int(&w, i);
    }
    json_writer_object_end(&w);
    text = json_writer_text(&w, &len);
    assert_non_null(text);
    json_t *obj = json_loadb(text, len, 0, &err);
    assert_non_null(obj);
    assert_int_equal(json_object_size(obj), 300);
    assert_int_equal(json_integer_value(json_object_get(obj, "k299")), 299);
    json_decref(obj);
    json_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nested_containers_get_commas),
        cmocka_unit_test(every_value_type),
        cmocka_unit_test(doubles_print_as_javascript),
        cmocka_unit_test(raw_values),
        cmocka_unit_test(misuse_fails_the_writer),
        cmocka_unit_test(unfinished_text_is_null),
        cmocka_unit_test(depth_limit_is_exact),
        cmocka_unit_test(reset_starts_over),
        cmocka_unit_test(output_parses_to_expected_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
