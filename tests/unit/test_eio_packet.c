/* test_eio_packet.c - Engine.IO v4 frames and long-polling payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "eio/eio_packet.h"

#define LIT(s) s, sizeof(s) - 1

static void text_frames_of_every_type(void **state)
{
    (void)state;
    eio_packet_t p;
    static const char *const frames[] = {"0{\"sid\":\"x\"}", "1", "2probe", "3probe",
                                         "4hello",           "5", "6"};
    for (int t = 0; t <= EIO_NOOP; t++) {
        assert_int_equal(eio_packet_decode_text(frames[t], strlen(frames[t]), &p), 0);
        assert_int_equal(p.type, t);
        assert_int_equal(p.binary, 0);
        assert_ptr_equal(p.data, frames[t] + 1);
        assert_int_equal(p.len, strlen(frames[t]) - 1);
    }
    /* Data may hold anything, even NUL and the payload separator. */
    assert_int_equal(eio_packet_decode_text(LIT("4a\0b\x1e"), &p), 0);
    assert_int_equal(p.len, 4);
}

static void text_frame_errors(void **state)
{
    (void)state;
    eio_packet_t p;
    assert_int_equal(eio_packet_decode_text("", 0, &p), EIO_EEMPTY);
    assert_int_equal(eio_packet_decode_text(LIT("7"), &p), EIO_ETYPE);
    assert_int_equal(eio_packet_decode_text(LIT("abc"), &p), EIO_ETYPE);
    assert_int_equal(eio_packet_decode_text(LIT("/4"), &p), EIO_ETYPE);
    assert_int_equal(eio_packet_decode_text(LIT(" 4"), &p), EIO_ETYPE);
    assert_int_equal(eio_packet_decode_text(LIT("\x00"), &p), EIO_ETYPE);
    assert_int_equal(eio_packet_decode_text(LIT("bAQID"), &p), EIO_EBINTEXT);
    assert_string_equal(eio_strerror(EIO_ETYPE), "unknown Engine.IO packet type");
    assert_string_equal(eio_strerror(-99), "unknown Engine.IO error");
}

static void ws_text_accepts_base64_binary(void **state)
{
    (void)state;
    eio_packet_t p;
    buf_t scratch = BUF_INIT;
    assert_int_equal(eio_packet_decode_ws_text(LIT("bAQIDBA=="), &scratch, &p), 0);
    assert_int_equal(p.type, EIO_MESSAGE);
    assert_int_equal(p.binary, 1);
    assert_int_equal(p.len, 4);
    assert_memory_equal(p.data, "\x01\x02\x03\x04", 4);
    assert_int_equal(eio_packet_decode_ws_text(LIT("b"), &scratch, &p), 0);
    assert_int_equal(p.len, 0);
    assert_int_equal(eio_packet_decode_ws_text(LIT("bAQID*A=="), &scratch, &p), EIO_EBASE64);
    assert_int_equal(eio_packet_decode_ws_text(LIT("4x"), &scratch, &p), 0);
    assert_int_equal(p.binary, 0);
    assert_memory_equal(p.data, "x", 1);
    assert_int_equal(eio_packet_decode_ws_text("", 0, &scratch, &p), EIO_EEMPTY);
    assert_int_equal(eio_packet_decode_ws_text(LIT("9"), &scratch, &p), EIO_ETYPE);
    buf_free(&scratch);
}

static void binary_frames_are_messages(void **state)
{
    (void)state;
    eio_packet_t p;
    eio_packet_decode_binary("\x01\x02\x03\x04", 4, &p);
    assert_int_equal(p.type, EIO_MESSAGE);
    assert_int_equal(p.binary, 1);
    assert_int_equal(p.len, 4);
    /* A binary frame starting with a digit is still raw data. */
    eio_packet_decode_binary("4x", 2, &p);
    assert_int_equal(p.len, 2);
}

static void encode_text_frames(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    eio_packet_encode_text(&b, EIO_PING, NULL, 0);
    assert_string_equal(b.data, "2");
    buf_reset(&b);
    eio_packet_encode_text(&b, EIO_PONG, "probe", 5);
    assert_string_equal(b.data, "3probe");
    buf_reset(&b);
    eio_packet_encode_text(&b, EIO_MESSAGE, "2[\"foo\"]", 8);
    assert_string_equal(b.data, "42[\"foo\"]");
    buf_free(&b);
}

/* Records what eio_payload_decode delivers as "<type>|<b?>|<data>;" lines. */
typedef struct rec {
    buf_t log;
    int calls;
    int stop_after;
} rec_t;

static int record(void *user, const eio_packet_t *p)
{
    rec_t *r = user;
    r->calls++;
    buf_printf(&r->log, "%d%s", p->type, p->binary ? "b:" : ":");
    buf_append(&r->log, p->data, p->len);
    buf_append_byte(&r->log, ';');
    return r->calls == r->stop_after ? 42 : 0;
}

static int decode_log(const char *body, size_t len, buf_t *log)
{
    rec_t r = {BUF_INIT, 0, 0};
    int rc = eio_payload_decode(body, len, record, &r);
    buf_reset(log);
    if (r.log.len)
        buf_append(log, r.log.data, r.log.len);
    else
        buf_append_str(log, "");
    buf_free(&r.log);
    return rc;
}

static void payload_decodes_in_order(void **state)
{
    (void)state;
    buf_t log = BUF_INIT;
    assert_int_equal(decode_log(LIT("4hello"), &log), 0);
    assert_string_equal(log.data, "4:hello;");
    assert_int_equal(decode_log(LIT("4test1\x1e"
                                    "4test2\x1e"
                                    "4test3"),
                                &log),
                     0);
    assert_string_equal(log.data, "4:test1;4:test2;4:test3;");
    assert_int_equal(decode_log(LIT("4hello\x1e"
                                    "bAQIDBA=="),
                                &log),
                     0);
    assert_string_equal(log.data, "4:hello;4b:\x01\x02\x03\x04;");
    assert_int_equal(decode_log(LIT("3\x1e"
                                    "1"),
                                &log),
                     0);
    assert_string_equal(log.data, "3:;1:;");
    /* Empty binary message, then a message that is just the type. */
    assert_int_equal(decode_log(LIT("b\x1e"
                                    "4"),
                                &log),
                     0);
    assert_string_equal(log.data, "4b:;4:;");
    buf_free(&log);
}

static void malformed_payload_delivers_nothing(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        size_t len;
        int err;
    } cases[] = {
        {LIT(""), EIO_EEMPTY},
        {LIT("abc"), EIO_ETYPE},
        {LIT("\x1e"), EIO_EEMPTY},
        {LIT("4a\x1e"), EIO_EEMPTY}, /* trailing separator */
        {LIT("\x1e"
             "4a"),
         EIO_EEMPTY}, /* leading separator */
        {LIT("4a\x1e\x1e"
             "4b"),
         EIO_EEMPTY}, /* empty record in the middle */
        {LIT("4a\x1e"
             "7b"),
         EIO_ETYPE},
        {LIT("4a\x1e"
             "4b\x1e"
             "x"),
         EIO_ETYPE},
        {LIT("4a\x1e"
             "bAQI"),
         EIO_EBASE64}, /* truncated base64 */
        {LIT("4a\x1e"
             "bAQ!DBA=="),
         EIO_EBASE64},
        {LIT("bAQIDBA"), EIO_EBASE64}, /* unpadded */
        {LIT("4a\x1e"
             "b====\x1e"
             "4c"),
         EIO_EBASE64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec_t r = {BUF_INIT, 0, 0};
        assert_int_equal(eio_payload_decode(cases[i].body, cases[i].len, record, &r), cases[i].err);
        assert_int_equal(r.calls, 0);
        buf_free(&r.log);
    }
    assert_int_equal(eio_payload_decode(NULL, 0, record, NULL), EIO_EEMPTY);
}

static void callback_stops_the_walk(void **state)
{
    (void)state;
    rec_t r = {BUF_INIT, 0, 2};
    assert_int_equal(eio_payload_decode(LIT("4a\x1e"
                                            "bAA==\x1e"
                                            "4c"),
                                        record, &r),
                     42);
    assert_int_equal(r.calls, 2);
    assert_string_equal(r.log.data, "4:a;4b:\0;" /* NUL byte of the binary message */);
    assert_int_equal(r.log.len, 9);
    buf_free(&r.log);
}

static void payload_append_round_trips(void **state)
{
    (void)state;
    buf_t out = BUF_INIT, log = BUF_INIT;
    eio_payload_append(&out, EIO_OPEN, 0, LIT("{\"sid\":\"x\"}"));
    assert_string_equal(out.data, "0{\"sid\":\"x\"}");
    buf_reset(&out);
    eio_payload_append(&out, EIO_MESSAGE, 0, LIT("hello"));
    eio_payload_append(&out, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
    eio_payload_append(&out, EIO_PING, 0, NULL, 0);
    eio_payload_append(&out, EIO_MESSAGE, 1, NULL, 0);
    eio_payload_append(&out, EIO_NOOP, 0, NULL, 0);
    assert_string_equal(out.data, "4hello\x1e"
                                  "bAQIDBA==\x1e"
                                  "2\x1e"
                                  "b\x1e"
                                  "6");
    assert_int_equal(decode_log(out.data, out.len, &log), 0);
    assert_string_equal(log.data, "4:hello;4b:\x01\x02\x03\x04;2:;4b:;6:;");
    buf_free(&out);
    buf_free(&log);
}

static void large_binary_payload(void **state)
{
    (void)state;
    size_t n = 100000;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7);
    buf_t out = BUF_INIT;
    eio_payload_append(&out, EIO_MESSAGE, 1, data, n);
    eio_payload_append(&out, EIO_MESSAGE, 1, data, n - 1);
    rec_t r = {BUF_INIT, 0, 0};
    assert_int_equal(eio_payload_decode(out.data, out.len, record, &r), 0);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.log.len, (3 + n + 1) + (3 + n - 1 + 1));
    assert_memory_equal(r.log.data + 3, data, n);
    free(data);
    buf_free(&out);
    buf_free(&r.log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_frames_of_every_type),
        cmocka_unit_test(text_frame_errors),
        cmocka_unit_test(ws_text_accepts_base64_binary),
        cmocka_unit_test(binary_frames_are_messages),
        cmocka_unit_test(encode_text_frames),
        cmocka_unit_test(payload_decodes_in_order),
        cmocka_unit_test(malformed_payload_delivers_nothing),
        cmocka_unit_test(callback_stops_the_walk),
        cmocka_unit_test(payload_append_round_trips),
        cmocka_unit_test(large_binary_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
