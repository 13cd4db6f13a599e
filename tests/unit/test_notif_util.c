/* test_notif_util.c - the notifications plugin's pure helpers: types, character
 * counting, ISO 8601 timestamps, limit and cursor parsing, Content-Type. The
 * plugin's file is compiled in directly (plugins never link into the core). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../plugins/notifications/notif_util.c"

static void types(void **state)
{
    (void)state;
    assert_int_equal(notif_type_parse("notification", 12), 0);
    assert_int_equal(notif_type_parse("info", 4), 1);
    assert_int_equal(notif_type_parse("warning", 7), 2);
    assert_int_equal(notif_type_parse("error", 5), 3);
    assert_int_equal(notif_type_parse("success", 7), 4);
    assert_int_equal(notif_type_parse("infos", 5), -1);
    assert_int_equal(notif_type_parse("info", 3), -1); /* a prefix is not a type */
    assert_int_equal(notif_type_parse("INFO", 4), -1);
    assert_int_equal(notif_type_parse("", 0), -1);
    assert_int_equal(notif_type_parse(NULL, 0), -1);
    for (int i = 0; i < NOTIF_TYPE_COUNT; i++)
        assert_int_equal(notif_type_parse(notif_type_names[i], strlen(notif_type_names[i])), i);
}

static void characters(void **state)
{
    (void)state;
    assert_int_equal(notif_utf8_chars("", 0), 0);
    assert_int_equal(notif_utf8_chars("abc", 3), 3);
    assert_int_equal(notif_utf8_chars("h\xc3\xa9llo", 6), 5);      /* é: 2 bytes */
    assert_int_equal(notif_utf8_chars("\xe2\x82\xac", 3), 1);      /* €: 3 bytes */
    assert_int_equal(notif_utf8_chars("\xf0\x9f\x98\x80!", 5), 2); /* emoji: 4 bytes */
    assert_int_equal(notif_utf8_chars("a\0b", 3), 3);              /* NUL is a character */
}

static void iso(int64_t ms, const char *want)
{
    char out[NOTIF_ISO_LEN + 1];
    assert_int_equal(notif_iso8601(ms, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void timestamps(void **state)
{
    (void)state;
    /* Expected values as new Date(ms).toISOString() gives them. */
    iso(0, "1970-01-01T00:00:00.000Z");
    iso(1, "1970-01-01T00:00:00.001Z");
    iso(-1, "1969-12-31T23:59:59.999Z");
    iso(951782400000, "2000-02-29T00:00:00.000Z"); /* leap day of a century leap year */
    iso(951868799999, "2000-02-29T23:59:59.999Z");
    iso(4107542399999, "2100-02-28T23:59:59.999Z"); /* 2100 is not a leap year */
    iso(4107542400000, "2100-03-01T00:00:00.000Z");
    iso(1795615387123, "2026-11-25T14:03:07.123Z");
    iso(1709164800000, "2024-02-29T00:00:00.000Z");
    iso(253402300799999, "9999-12-31T23:59:59.999Z");
    iso(-62167219200000, "0000-01-01T00:00:00.000Z");
    char out[NOTIF_ISO_LEN + 1];
    assert_int_equal(notif_iso8601(253402300800000, out, sizeof(out)), -1); /* year 10000 */
    assert_int_equal(notif_iso8601(-62167219200001, out, sizeof(out)), -1); /* year -1 */
    assert_int_equal(notif_iso8601(0, out, NOTIF_ISO_LEN), -1);             /* no room for NUL */
}

static void limits(void **state)
{
    (void)state;
    assert_int_equal(notif_parse_limit("1", 100), 1);
    assert_int_equal(notif_parse_limit("20", 100), 20);
    assert_int_equal(notif_parse_limit("100", 100), 100);
    assert_int_equal(notif_parse_limit("007", 100), 7);
    const char *bad[] = {"0",   "101", "-1", "+5",  "1.5", "1e2",
                         "",    " 5",  "5 ", "abc", "5x",  "99999999999999999999999",
                         "1000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(notif_parse_limit(bad[i], 100), -1);
    assert_int_equal(notif_parse_limit(NULL, 100), -1);
}

static void cursors(void **state)
{
    (void)state;
    char out[21];
    assert_int_equal(notif_cursor_format(1, out, sizeof(out)), 0);
    assert_string_equal(out, "1");
    assert_int_equal(notif_cursor_parse(out), 1);
    assert_int_equal(notif_cursor_format(INT64_MAX, out, sizeof(out)), 0);
    assert_string_equal(out, "9223372036854775807");
    assert_true(notif_cursor_parse(out) == INT64_MAX);
    assert_int_equal(notif_cursor_format(0, out, sizeof(out)), -1);
    assert_int_equal(notif_cursor_format(-3, out, sizeof(out)), -1);
    assert_int_equal(notif_cursor_format(12345, out, 5), -1); /* does not fit */
    const char *bad[] = {"0",
                         "-1",
                         "01",
                         "",
                         "abc",
                         "1.5",
                         " 1",
                         "1 ",
                         "+1",
                         "9223372036854775808",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_true(notif_cursor_parse(bad[i]) == -1);
    assert_true(notif_cursor_parse(NULL) == -1);
    assert_int_equal(notif_cursor_parse("42"), 42);
}

static void content_types(void **state)
{
    (void)state;
    const char *good[] = {"application/json",
                          "application/json; charset=utf-8",
                          "Application/JSON",
                          "  application/json  ",
                          "application/json;charset=UTF-8",
                          "application/json ; charset=utf-8"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(notif_is_json_content_type(good[i]), 1);
    const char *bad[] = {"",
                         "text/plain",
                         "application/jsonp",
                         "application/json-patch+json",
                         "application/x-json",
                         "json",
                         "application/js",
                         "application/json,text/plain"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(notif_is_json_content_type(bad[i]), 0);
    assert_int_equal(notif_is_json_content_type(NULL), 0);
}

/* The problem notif_create_parse finds in body ("" when it accepts it). */
static const char *create_problem(const char *body, size_t len, int for_user, char *msg,
                                  size_t msg_size)
{
    notif_create_t c;
    const char *problem = notif_create_parse(body, len, for_user, 5, &c, msg, msg_size);
    if (problem) {
        assert_null(c.root);
        return problem;
    }
    notif_create_clear(&c);
    return "";
}

static void create_bodies(void **state)
{
    (void)state;
    char msg[160];
    static const struct {
        const char *body;
        int for_user;
        const char *problem;
    } cases[] = {
        {"{\"message\":\"hi\",\"userId\":\"u\"}", 1, ""},
        {"{\"message\":\"hi\"}", 0, ""},
        {"{\"message\":\"h\xc3\xa9llo\",\"type\":\"warning\",\"userId\":\"u\"}", 1, ""},
        {"{\"message\":\"hi\",\"userId\":7}", 0, ""}, /* a broadcast ignores userId */
        {"", 1, "invalid JSON: "},
        {"{\"message\":\"a\",\"message\":\"b\"}", 0, "invalid JSON: "},
        {"[]", 0, "the body must be a JSON object"},
        {"{}", 0, "message is required"},
        {"{\"message\":1}", 0, "message must be a string"},
        {"{\"message\":\"\"}", 0, "message must not be empty"},
        {"{\"message\":\"a\\u0000b\"}", 0, "message must not contain NUL characters"},
        {"{\"message\":\"abcdef\"}", 0, "message is longer than 5 characters"},
        {"{\"message\":\"a\",\"type\":null}", 0, "type must be a string"},
        {"{\"message\":\"a\",\"type\":\"Info\"}", 0,
         "type must be one of notification, info, "
         "warning, error, success"},
        {"{\"message\":\"a\"}", 1, "userId is required"},
        {"{\"message\":\"a\",\"userId\":1}", 1, "userId must be a string"},
        {"{\"message\":\"a\",\"userId\":\"\"}", 1, "userId must not be empty"},
        {"{\"message\":\"a\",\"userId\":\"u\\u0000v\"}", 1, "userId is not a valid user id"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = create_problem(cases[i].body, strlen(cases[i].body), cases[i].for_user,
                                         msg, sizeof(msg));
        if (strncmp(got, cases[i].problem, strlen(cases[i].problem)) != 0 ||
            (!*cases[i].problem && *got))
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].body, got, cases[i].problem);
    }

    notif_create_t c;
    const char *body = "{\"type\":\"error\",\"message\":\"h\xc3\xa9\",\"userId\":\"42\"}";
    assert_null(notif_create_parse(body, strlen(body), 1, 2, &c, msg, sizeof(msg)));
    assert_int_equal(c.type, 3);
    assert_int_equal(c.message_len, 3);
    assert_memory_equal(c.message, "h\xc3\xa9", 4);
    assert_string_equal(c.user_id, "42");
    notif_create_clear(&c);
    assert_null(c.root);
    assert_null(notif_create_parse(body, strlen(body), 0, 2, &c, msg, sizeof(msg)));
    assert_null(c.user_id);
    notif_create_clear(&c);

    /* The longest user id passes; one byte more does not. */
    char big[NOTIF_MAX_USER_ID_BYTES + 40];
    for (int extra = 0; extra <= 1; extra++) {
        int n = snprintf(big, sizeof(big), "{\"message\":\"a\",\"userId\":\"%0*d\"}",
                         NOTIF_MAX_USER_ID_BYTES + extra, 0);
        assert_string_equal(create_problem(big, (size_t)n, 1, msg, sizeof(msg)),
                            extra ? "userId is not a valid user id" : "");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(types),         cmocka_unit_test(characters),
        cmocka_unit_test(timestamps),    cmocka_unit_test(limits),
        cmocka_unit_test(cursors),       cmocka_unit_test(content_types),
        cmocka_unit_test(create_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
