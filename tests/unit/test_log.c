/* test_log.c - log levels and the exact text and JSON line formats written to stderr (captured
 * by pointing fd 2 at a temporary file around each call). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

typedef struct capture {
    FILE *file;
    int saved_fd;
    int64_t before_ms, after_ms; /* wall clock around the capture */
} capture_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void capture_begin(capture_t *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved_fd = dup(STDERR_FILENO);
    assert_true(c->saved_fd >= 0);
    assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
    c->before_ms = now_ms();
}

/* Restores stderr and returns everything written meanwhile (caller frees). */
static char *capture_end(capture_t *c, size_t *len)
{
    c->after_ms = now_ms();
    fflush(stderr);
    assert_true(dup2(c->saved_fd, STDERR_FILENO) >= 0);
    close(c->saved_fd);
    long size = ftell(c->file);
    assert_true(size >= 0);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    rewind(c->file);
    assert_int_equal(fread(text, 1, (size_t)size, c->file), (size_t)size);
    text[size] = '\0';
    fclose(c->file);
    if (len) *len = (size_t)size;
    return text;
}

static void vwrite_wrapper(log_level_t level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, component, fmt, ap);
    va_end(ap);
}

/* Checks "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 characters) and that, read as UTC, it falls within
 * the capture (to the millisecond). */
static void check_timestamp(const char *ts, const capture_t *c)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd') {
            if (ts[i] < '0' || ts[i] > '9') fail_msg("bad timestamp %.24s", ts);
        } else if (ts[i] != shape[i]) {
            fail_msg("bad timestamp %.24s", ts);
        }
    }
    struct tm tm = {0};
    tm.tm_year = atoi(ts) - 1900;
    tm.tm_mon = atoi(ts + 5) - 1;
    tm.tm_mday = atoi(ts + 8);
    tm.tm_hour = atoi(ts + 11);
    tm.tm_min = atoi(ts + 14);
    tm.tm_sec = atoi(ts + 17);
    assert_in_range(tm.tm_mon, 0, 11);
    assert_in_range(tm.tm_mday, 1, 31);
    assert_in_range(tm.tm_hour, 0, 23);
    assert_in_range(tm.tm_min, 0, 59);
    assert_in_range(tm.tm_sec, 0, 60);
    int64_t logged = (int64_t)timegm(&tm) * 1000 + atoi(ts + 20);
    if (logged < c->before_ms || logged > c->after_ms)
        fail_msg("timestamp %.24s outside [%lld, %lld] ms", ts, (long long)c->before_ms,
                 (long long)c->after_ms);
}

static void defaults_are_info_and_text(void **state)
{
    (void)state;
    /* Runs first, before any log_setup() in this program. */
    assert_false(log_enabled(LOG_DEBUG));
    assert_true(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_ERROR));
    capture_t c;
    capture_begin(&c);
    log_info("boot", "up");
    char *out = capture_end(&c, NULL);
    assert_int_equal(strlen(out), 24 + strlen(" info  [boot] up\n"));
    check_timestamp(out, &c);
    assert_string_equal(out + 24, " info  [boot] up\n");
    free(out);
}

static void level_names_parse(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        log_level_t level;
    } good[] = {
        {"debug", LOG_DEBUG},
        {"info", LOG_INFO},
        {"warn", LOG_WARN},
        {"error", LOG_ERROR},
    };
    for (size_t i = 0; i < 4; i++) {
        log_level_t got = (log_level_t)99;
        assert_int_equal(log_level_parse(good[i].name, &got), 0);
        assert_int_equal(got, good[i].level);
        assert_string_equal(log_level_name(good[i].level), good[i].name);
    }
    static const char *const bad[] = {
        "",      "DEBUG", "Info",   "WARN",  "warning", "err",    "fatal", "trace", "inf",
        "info ", " info", "info\n", "infos", "debugx",  "error!", "0",     "3",     "?",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        log_level_t got = (log_level_t)99;
        if (log_level_parse(bad[i], &got) != -1) fail_msg("accepted level \"%s\"", bad[i]);
        assert_int_equal(got, 99); /* untouched on failure */
    }
    assert_string_equal(log_level_name((log_level_t)4), "?");
    assert_string_equal(log_level_name((log_level_t)-1), "?");
}

static void enabled_by_level(void **state)
{
    (void)state;
    for (int threshold = LOG_DEBUG; threshold <= LOG_ERROR; threshold++) {
        log_setup((log_level_t)threshold, LOG_FORMAT_TEXT);
        for (int level = LOG_DEBUG; level <= LOG_ERROR; level++)
            assert_int_equal(log_enabled((log_level_t)level), level >= threshold);
    }

    /* Lines below the threshold are not written at all. */
    log_setup(LOG_WARN, LOG_FORMAT_TEXT);
    capture_t c;
    capture_begin(&c);
    log_debug("x", "debug %d", 1);
    log_info("x", "info %d", 2);
    log_write(LOG_INFO, "x", "info %d", 3);
    vwrite_wrapper(LOG_DEBUG, "x", "debug %d", 4);
    log_warn("x", "kept");
    size_t len;
    char *out = capture_end(&c, &len);
    assert_int_equal(len, 24 + strlen(" warn  [x] kept\n"));
    assert_string_equal(out + 24, " warn  [x] kept\n");
    free(out);

    /* log_debug does not even evaluate its arguments while debug is off. */
    int evaluated = 0;
    capture_begin(&c);
    log_debug("x", "%d", evaluated++);
    out = capture_end(&c, &len);
    assert_int_equal(evaluated, 0);
    assert_int_equal(len, 0);
    free(out);
    log_setup(LOG_DEBUG, LOG_FORMAT_TEXT);
    capture_begin(&c);
    log_debug("x", "%d", evaluated++);
    out = capture_end(&c, &len);
    assert_int_equal(evaluated, 1);
    assert_string_equal(out + 24, " debug [x] 0\n");
    free(out);
}

static void text_line_format(void **state)
{
    (void)state;
    log_setup(LOG_DEBUG, LOG_FORMAT_TEXT);
    static const struct {
        log_level_t level;
        const char *rest;
    } cases[] = {
        {LOG_DEBUG, " debug [http] GET /x 200 in 1.50 ms\n"},
        {LOG_INFO, " info  [http] GET /x 200 in 1.50 ms\n"},
        {LOG_WARN, " warn  [http] GET /x 200 in 1.50 ms\n"},
        {LOG_ERROR, " error [http] GET /x 200 in 1.50 ms\n"},
    };
    for (size_t i = 0; i < 4; i++) {
        capture_t c;
        capture_begin(&c);
        log_write(cases[i].level, "http", "%s %s %d in %.2f ms", "GET", "/x", 200, 1.5);
        size_t len;
        char *out = capture_end(&c, &len);
        assert_int_equal(len, 24 + strlen(cases[i].rest));
        check_timestamp(out, &c);
        assert_string_equal(out + 24, cases[i].rest);
        free(out);
    }

    /* log_vwrite, the warn/error macros, an empty message and a literal percent sign. */
    capture_t c;
    capture_begin(&c);
    vwrite_wrapper(LOG_WARN, "plugin-a", "n=%d s=%s", -3, "x");
    log_error("eio", "%s", "");
    log_warn("ws", "100%%");
    size_t len;
    char *out = capture_end(&c, &len);
    const char *expected[] = {" warn  [plugin-a] n=-3 s=x\n", " error [eio] \n",
                              " warn  [ws] 100%\n"};
    const char *p = out;
    for (size_t i = 0; i < 3; i++) {
        check_timestamp(p, &c);
        assert_memory_equal(p + 24, expected[i], strlen(expected[i]));
        p += 24 + strlen(expected[i]);
    }
    assert_int_equal((size_t)(p - out), len); /* nothing else */
    free(out);
}

/* Captures one JSON-mode line, checks its exact text (after the timestamp) and that jansson
 * reads back exactly ts, level, component and msg with the original strings. */
static void check_json_line(log_level_t level, const char *component, const char *msg,
                            const char *expected_rest)
{
    capture_t c;
    capture_begin(&c);
    log_write(level, component, "%s", msg);
    size_t len;
    char *out = capture_end(&c, &len);
    static const char prefix[] = "{\"ts\":\"";
    assert_memory_equal(out, prefix, sizeof prefix - 1);
    check_timestamp(out + sizeof prefix - 1, &c);
    const char *rest = out + sizeof prefix - 1 + 24;
    if (strcmp(rest, expected_rest) != 0) fail_msg("got %s\nwant %s", rest, expected_rest);
    assert_int_equal(out[len - 1], '\n');
    assert_null(memchr(out, '\n', len - 1)); /* one line */

    json_error_t err;
    json_t *v = json_loadb(out, len, 0, &err);
    if (!v) fail_msg("line is not JSON (%s): %s", err.text, out);
    assert_true(json_is_object(v));
    assert_int_equal(json_object_size(v), 4);
    const char *ts = json_string_value(json_object_get(v, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24);
    check_timestamp(ts, &c);
    assert_string_equal(json_string_value(json_object_get(v, "level")), log_level_name(level));
    assert_string_equal(json_string_value(json_object_get(v, "component")), component);
    assert_string_equal(json_string_value(json_object_get(v, "msg")), msg);
    json_decref(v);
    free(out);
}

static void json_line_format(void **state)
{
    (void)state;
    log_setup(LOG_DEBUG, LOG_FORMAT_JSON);
    check_json_line(LOG_INFO, "http", "listening on 127.0.0.1:3000",
                    "\",\"level\":\"info\",\"component\":\"http\","
                    "\"msg\":\"listening on 127.0.0.1:3000\"}\n");
    check_json_line(LOG_DEBUG, "eio", "",
                    "\",\"level\":\"debug\",\"component\":\"eio\",\"msg\":\"\"}\n");
    check_json_line(LOG_WARN, "ws", "w",
                    "\",\"level\":\"warn\",\"component\":\"ws\",\"msg\":\"w\"}\n");
    check_json_line(LOG_ERROR, "sio", "e",
                    "\",\"level\":\"error\",\"component\":\"sio\",\"msg\":\"e\"}\n");

    /* Quotes, backslashes, newlines and every other control character are escaped, in the
     * message and in the component; '/', DEL and UTF-8 text pass through. */
    check_json_line(LOG_WARN, "my \"plugin\"\\x", "say \"hi\"\\ a/b\nnext\r\tend",
                    "\",\"level\":\"warn\",\"component\":\"my \\\"plugin\\\"\\\\x\","
                    "\"msg\":\"say \\\"hi\\\"\\\\ a/b\\nnext\\r\\tend\"}\n");
    check_json_line(LOG_ERROR, "c\n", "\x01\x02\b\f\x1b\x1f\x7f caf\xc3\xa9",
                    "\",\"level\":\"error\",\"component\":\"c\\n\","
                    "\"msg\":\"\\u0001\\u0002\\u0008\\u000c\\u001b\\u001f\x7f caf\xc3\xa9\"}\n");
    check_json_line(LOG_INFO, "a\"\"b", "\\\\\"\"\n\n",
                    "\",\"level\":\"info\",\"component\":\"a\\\"\\\"b\","
                    "\"msg\":\"\\\\\\\\\\\"\\\"\\n\\n\"}\n");

    /* A long message stays one intact line. */
    char *long_msg = malloc(20001);
    assert_non_null(long_msg);
    for (int i = 0; i < 20000; i++)
        long_msg[i] = (char)('a' + i % 26);
    long_msg[20000] = '\0';
    size_t n = strlen("\",\"level\":\"info\",\"component\":\"big\",\"msg\":\"") + 20000 + 3;
    char *expected = malloc(n + 1);
    assert_non_null(expected);
    snprintf(expected, n + 1, "\",\"level\":\"info\",\"component\":\"big\",\"msg\":\"%s\"}\n",
             long_msg);
    check_json_line(LOG_INFO, "big", long_msg, expected);
    free(expected);
    free(long_msg);

    /* The threshold applies in JSON mode too. */
    log_setup(LOG_ERROR, LOG_FORMAT_JSON);
    capture_t c;
    capture_begin(&c);
    log_warn("x", "dropped");
    size_t len;
    char *out = capture_end(&c, &len);
    assert_int_equal(len, 0);
    free(out);
    log_setup(LOG_INFO, LOG_FORMAT_TEXT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_info_and_text), /* must stay first */
        cmocka_unit_test(level_names_parse),          cmocka_unit_test(enabled_by_level),
        cmocka_unit_test(text_line_format),           cmocka_unit_test(json_line_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
