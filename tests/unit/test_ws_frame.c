/* test_ws_frame.c - RFC 6455 frame reader and writer.
 *
 * Covers the categories of the Autobahn suite for a server: framing (every length encoding,
 * masking), pings/pongs, reserved bits, opcodes, fragmentation (with control frames in
 * between), UTF-8 handling (fail fast, split code points), close handling (codes, reasons,
 * nothing after close) and limits. Every scenario is replayed in several chunkings, down to
 * one byte at a time, and must give exactly the same events and result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "ws/ws_frame.h"

/* ---- client frame builder ---- */

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

static const uint8_t default_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a client frame. lenform: 0 = minimal, 16 or 64 = force that extended form. */
static void frame_ex(buf_t *b, uint8_t b0, const void *payload, size_t len, const uint8_t *key,
                     int lenform)
{
    uint8_t mbit = key ? 0x80 : 0;
    buf_append_byte(b, b0);
    if (lenform == 0 && len < 126) {
        buf_append_byte(b, (uint8_t)(mbit | len));
    } else if (lenform == 16 || (lenform == 0 && len <= 0xffff)) {
        buf_append_byte(b, mbit | 126);
        buf_append_byte(b, (uint8_t)(len >> 8));
        buf_append_byte(b, (uint8_t)len);
    } else {
        buf_append_byte(b, mbit | 127);
        for (int i = 7; i >= 0; i--)
            buf_append_byte(b, (uint8_t)((uint64_t)len >> (8 * i)));
    }
    if (key) buf_append(b, key, 4);
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        buf_append_byte(b, (uint8_t)(p[i] ^ (key ? key[i & 3] : 0)));
}

static void frame(buf_t *b, uint8_t b0, const void *payload, size_t len)
{
    frame_ex(b, b0, payload, len, default_key, 0);
}

static void frame_str(buf_t *b, uint8_t b0, const char *s)
{
    frame(b, b0, s, strlen(s));
}

static void close_frame(buf_t *b, int code, const char *reason, size_t rlen)
{
    uint8_t body[256];
    body[0] = (uint8_t)(code >> 8);
    body[1] = (uint8_t)code;
    memcpy(body + 2, reason, rlen);
    frame(b, FIN | WS_OP_CLOSE, body, rlen + 2);
}

/* ---- event recorder ---- */

enum { EV_TEXT, EV_BINARY, EV_PING, EV_PONG, EV_CLOSE };

typedef struct event {
    int type;
    int code;
    size_t len;
    char *data;
} event_t;

#define MAX_EVENTS 64

typedef struct result {
    int rc;
    int close_code;
    const char *error;
    int n;
    event_t ev[MAX_EVENTS];
    int stop_at; /* index of the event whose callback returns 42, or -1 */
} result_t;

static int record(result_t *res, int type, int code, const char *data, size_t len)
{
    assert_true(res->n < MAX_EVENTS);
    event_t *e = &res->ev[res->n];
    e->type = type;
    e->code = code;
    e->len = len;
    e->data = malloc(len + 1);
    memcpy(e->data, data, len);
    e->data[len] = '\0';
    assert_int_equal(data[len], '\0'); /* payloads are NUL-terminated past len */
    return res->n++ == res->stop_at ? 42 : 0;
}

static int on_message(void *user, int is_binary, const char *data, size_t len)
{
    if (!is_binary) assert_true(utf8_valid(data, len));
    return record(user, is_binary ? EV_BINARY : EV_TEXT, 0, data, len);
}

static int on_ping(void *user, const char *data, size_t len)
{
    return record(user, EV_PING, 0, data, len);
}

static int on_pong(void *user, const char *data, size_t len)
{
    return record(user, EV_PONG, 0, data, len);
}

static int on_close(void *user, int code, const char *reason, size_t len)
{
    return record(user, EV_CLOSE, code, reason, len);
}

static const ws_reader_callbacks_t callbacks = {on_message, on_ping, on_pong, on_close};

static void result_free(result_t *res)
{
    for (int i = 0; i < res->n; i++)
        free(res->ev[i].data);
    res->n = 0;
}

/* Feeds in pieces of chunk bytes (0: all at once) until the reader stops. */
static void run_chunked(result_t *res, const buf_t *in, size_t max, size_t chunk, int stop_at)
{
    memset(res, 0, sizeof(*res));
    res->stop_at = stop_at;
    ws_reader_t r;
    ws_reader_init(&r, max, &callbacks, res);
    assert_null(ws_reader_error(&r));
    if (chunk == 0) chunk = in->len ? in->len : 1;
    size_t off = 0;
    do {
        size_t n = in->len - off < chunk ? in->len - off : chunk;
        res->close_code = -1;
        res->rc = ws_reader_feed(&r, in->data + off, n, &res->close_code);
        off += n;
    } while (res->rc == 0 && off < in->len);
    res->error = ws_reader_error(&r);
    if (res->rc < 0) {
        /* Errors are sticky and come with a message. */
        int code = -1;
        assert_int_equal(ws_reader_feed(&r, "\x81\x80\0\0\0\0", 6, &code), res->rc);
        assert_int_equal(code, res->close_code);
        assert_non_null(res->error);
        assert_true(ws_reader_done(&r));
    } else {
        assert_int_equal(res->close_code, 0);
        if (res->rc == 0) assert_null(res->error);
    }
    if (res->rc > 0) assert_true(ws_reader_done(&r));
    ws_reader_free(&r);
}

static void assert_same(const result_t *a, const result_t *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->close_code, b->close_code);
    assert_int_equal(a->n, b->n);
    if (a->error || b->error) assert_string_equal(a->error, b->error);
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->ev[i].type, b->ev[i].type);
        assert_int_equal(a->ev[i].code, b->ev[i].code);
        assert_int_equal(a->ev[i].len, b->ev[i].len);
        assert_memory_equal(a->ev[i].data, b->ev[i].data, a->ev[i].len);
    }
}

/* Runs in one piece, then checks that other chunkings give the same outcome. */
static void run_stop(result_t *res, const buf_t *in, size_t max, int stop_at)
{
    static const size_t chunks[] = {1, 2, 3, 5, 7, 13, 128, 4096};
    run_chunked(res, in, max, 0, stop_at);
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        if (in->len > 200000 && chunks[i] < 128) continue; /* keep large cases fast */
        result_t other;
        run_chunked(&other, in, max, chunks[i], stop_at);
        assert_same(res, &other);
        result_free(&other);
    }
}

static void run(result_t *res, const buf_t *in, size_t max)
{
    run_stop(res, in, max, -1);
}

static void expect_event(const result_t *res, int i, int type, const void *data, size_t len)
{
    assert_true(i < res->n);
    assert_int_equal(res->ev[i].type, type);
    assert_int_equal(res->ev[i].len, len);
    assert_memory_equal(res->ev[i].data, data, len);
}

static void expect_error(const buf_t *in, size_t max, int rc, int close_code)
{
    result_t res;
    run(&res, in, max);
    assert_int_equal(res.rc, rc);
    assert_int_equal(res.close_code, close_code);
    result_free(&res);
}

#define LIMIT (1u << 20)

/* ---- framing ---- */

static void rfc_example_frames(void **state)
{
    (void)state;
    /* RFC 6455 section 5.7: masked "Hello", then masked ping "Hello". */
    static const char hello[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
                                "\x89\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    buf_t in = BUF_INIT;
    buf_append(&in, hello, sizeof(hello) - 1);
    result_t res;
    run(&res, &in, LIMIT);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 2);
    expect_event(&res, 0, EV_TEXT, "Hello", 5);
    expect_event(&res, 1, EV_PING, "Hello", 5);
    result_free(&res);
    buf_free(&in);
}

static void every_opcode_is_delivered(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    frame_str(&in, FIN | WS_OP_TEXT, "text");
    frame(&in, FIN | WS_OP_BINARY, "\x00\xff\x80", 3);
    frame_str(&in, FIN | WS_OP_PING, "ping");
    frame_str(&in, FIN | WS_OP_PONG, "pong");
    frame_str(&in, WS_OP_TEXT, "frag");
    frame_str(&in, FIN | WS_OP_CONTINUATION, "ment");
    close_frame(&in, 1000, "bye", 3);
    result_t res;
    run(&res, &in, LIMIT);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 6);
    expect_event(&res, 0, EV_TEXT, "text", 4);
    expect_event(&res, 1, EV_BINARY, "\x00\xff\x80", 3);
    expect_event(&res, 2, EV_PING, "ping", 4);
    expect_event(&res, 3, EV_PONG, "pong", 4);
    expect_event(&res, 4, EV_TEXT, "fragment", 8);
    expect_event(&res, 5, EV_CLOSE, "bye", 3);
    assert_int_equal(res.ev[5].code, 1000);
    result_free(&res);
    buf_free(&in);
}

static void empty_messages(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    frame(&in, FIN | WS_OP_TEXT, "", 0);
    frame(&in, FIN | WS_OP_BINARY, "", 0);
    frame(&in, FIN | WS_OP_PING, "", 0);
    frame(&in, FIN | WS_OP_PONG, "", 0);
    result_t res;
    run(&res, &in, 0); /* a zero limit still admits empty messages */
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 4);
    expect_event(&res, 0, EV_TEXT, "", 0);
    expect_event(&res, 1, EV_BINARY, "", 0);
    expect_event(&res, 2, EV_PING, "", 0);
    expect_event(&res, 3, EV_PONG, "", 0);
    result_free(&res);
    buf_free(&in);
}

static char *pattern(size_t len)
{
    char *p = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)('a' + (i * 7 + i / 251) % 26);
    p[len] = '\0';
    return p;
}

static void every_length_encoding(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 100000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        for (int op = WS_OP_TEXT; op <= WS_OP_BINARY; op++) {
            char *p = pattern(lens[i]);
            buf_t in = BUF_INIT;
            frame(&in, (uint8_t)(FIN | op), p, lens[i]);
            size_t hdr = lens[i] < 126 ? 2 : lens[i] <= 0xffff ? 4 : 10;
            assert_int_equal(in.len, hdr + 4 + lens[i]);
            result_t res;
            run(&res, &in, LIMIT);
            assert_int_equal(res.rc, 0);
            assert_int_equal(res.n, 1);
            expect_event(&res, 0, op == WS_OP_TEXT ? EV_TEXT : EV_BINARY, p, lens[i]);
            result_free(&res);
            buf_free(&in);
            free(p);
        }
    }
}

static void non_minimal_lengths_are_accepted(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    frame_ex(&in, FIN | WS_OP_TEXT, "short", 5, default_key, 16);
    frame_ex(&in, FIN | WS_OP_BINARY, "also", 4, default_key, 64);
    frame_ex(&in, FIN | WS_OP_PING, "p", 1, default_key, 16);
    result_t res;
    run(&res, &in, LIMIT);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 3);
    expect_event(&res, 0, EV_TEXT, "short", 5);
    expect_event(&res, 1, EV_BINARY, "also", 4);
    expect_event(&res, 2, EV_PING, "p", 1);
    result_free(&res);
    buf_free(&in);
}

static void masking_keys_and_offsets(void **state)
{
    (void)state;
    static const uint8_t keys[][4] = {
        {0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, {1, 2, 3, 4}, {0x80, 0x7f, 0x00, 0xa5}};
    for (size_t k = 0; k < 4; k++) {
        for (size_t len = 0; len < 40; len++) {
            uint8_t data[40];
            for (size_t i = 0; i < len; i++)
                data[i] = (uint8_t)(i * 37 + k);
            buf_t in = BUF_INIT;
            /* Fragmented so later fragments start at every mask offset. */
            frame_ex(&in, WS_OP_BINARY, data, len / 3, keys[k], 0);
            frame_ex(&in, WS_OP_CONTINUATION, data + len / 3, len - len / 3, keys[(k + 1) % 4], 0);
            frame_ex(&in, FIN | WS_OP_CONTINUATION, NULL, 0, keys[k], 0);
            result_t res;
            run(&res, &in, LIMIT);
            assert_int_equal(res.rc, 0);
            assert_int_equal(res.n, 1);
            expect_event(&res, 0, EV_BINARY, data, len);
            result_free(&res);
            buf_free(&in);
        }
    }
}

static void many_frames_in_one_read(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    char msg[16];
    for (int i = 0; i < 50; i++) {
        int n = snprintf(msg, sizeof(msg), "m%d", i);
        frame(&in, FIN | WS_OP_TEXT, msg, (size_t)n);
    }
    result_t res;
    run(&res, &in, LIMIT);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 50);
    expect_event(&res, 49, EV_TEXT, "m49", 3);
    result_free(&res);
    buf_free(&in);
}

static void unmasked_frames_are_refused(void **state)
{
    (void)state;
    static const uint8_t ops[] = {WS_OP_TEXT, WS_OP_BINARY, WS_OP_PING, WS_OP_CLOSE};
    for (size_t i = 0; i < sizeof(ops); i++) {
        buf_t in = BUF_INIT;
        frame_ex(&in, (uint8_t)(FIN | ops[i]), "x", 1, NULL, 0);
        expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
        buf_free(&in);
    }
}

/* ---- reserved bits and opcodes ---- */

static void reserved_bits_are_refused(void **state)
{
    (void)state;
    static const uint8_t bits[] = {RSV1, RSV2, RSV3, RSV1 | RSV2 | RSV3};
    for (size_t i = 0; i < sizeof(bits); i++) {
        buf_t in = BUF_INIT;
        frame_str(&in, FIN | WS_OP_TEXT, "ok"); /* delivered before the bad frame */
        frame_str(&in, (uint8_t)(FIN | bits[i] | WS_OP_TEXT), "bad");
        frame_str(&in, FIN | WS_OP_TEXT, "never");
        result_t res;
        run(&res, &in, LIMIT);
        assert_int_equal(res.rc, WS_ERR_PROTOCOL);
        assert_int_equal(res.close_code, WS_CLOSE_PROTOCOL_ERROR);
        assert_int_equal(res.n, 1);
        expect_event(&res, 0, EV_TEXT, "ok", 2);
        result_free(&res);
        buf_free(&in);
        /* Also on control frames. */
        frame_str(&in, (uint8_t)(FIN | bits[i] | WS_OP_PING), "p");
        expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
        buf_free(&in);
    }
}

static void unknown_opcodes_are_refused(void **state)
{
    (void)state;
    static const uint8_t ops[] = {3, 4, 5, 6, 7, 11, 12, 13, 14, 15};
    for (size_t i = 0; i < sizeof(ops); i++) {
        buf_t in = BUF_INIT;
        frame_str(&in, (uint8_t)(FIN | ops[i]), "");
        expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
        buf_free(&in);
        /* Also with FIN clear and in the middle of a fragmented message. */
        frame_str(&in, WS_OP_TEXT, "a");
        frame_str(&in, ops[i], "b");
        expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
        buf_free(&in);
    }
}

/* ---- pings and pongs ---- */

static void control_frame_limits(void **state)
{
    (void)state;
    char big[126];
    memset(big, 'p', sizeof(big));
    buf_t in = BUF_INIT;
    frame(&in, FIN | WS_OP_PING, big, 125);
    frame(&in, FIN | WS_OP_PONG, big, 125);
    result_t res;
    run(&res, &in, 10); /* control frames are not bound by the message limit */
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 2);
    expect_event(&res, 0, EV_PING, big, 125);
    expect_event(&res, 1, EV_PONG, big, 125);
    result_free(&res);
    buf_free(&in);

    static const uint8_t ops[] = {WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE};
    for (size_t i = 0; i < sizeof(ops); i++) {
        frame(&in, (uint8_t)(FIN | ops[i]), big, 126);
        expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
        buf_free(&in);
        /* A length over 125 in the 64-bit form is refused from the header alone. */
        buf_append(&in, (uint8_t[]){(uint8_t)(FIN | ops[i]), 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 126},
                   10);
        buf_append(&in, default_key, 4);
        expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
        buf_free(&in);
        frame(&in, ops[i], "", 0); /* control frames may not be fragmented */
        expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
        buf_free(&in);
    }
}

static void binary_ping_payload(void **state)
{
    (void)state;
    uint8_t data[125];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(255 - i);
    buf_t in = BUF_INIT;
    frame(&in, FIN | WS_OP_PING, data, sizeof(data));
    frame(&in, FIN | WS_OP_PING, "\xff\xfe", 2); /* pings carry bytes, not text */
    result_t res;
    run(&res, &in, LIMIT);
    assert_int_equal(res.n, 2);
    expect_event(&res, 0, EV_PING, data, sizeof(data));
    expect_event(&res, 1, EV_PING, "\xff\xfe", 2);
    result_free(&res);
    buf_free(&in);
}

/* ---- fragmentation ---- */

static void fragments_with_control_frames_between(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    frame_str(&in, WS_OP_TEXT, "Hel");
    frame_str(&in, FIN | WS_OP_PING, "1");
    frame_str(&in, WS_OP_CONTINUATION, "lo, ");
    frame_str(&in, FIN | WS_OP_PONG, "2");
    frame_str(&in, FIN | WS_OP_PING, "3");
    frame(&in, WS_OP_CONTINUATION, "", 0);
    frame_str(&in, FIN | WS_OP_CONTINUATION, "world");
    frame(&in, WS_OP_BINARY, "", 0);
    frame(&in, WS_OP_CONTINUATION, "\x01", 1);
    frame(&in, FIN | WS_OP_CONTINUATION, "\x02", 1);
    result_t res;
    run(&res, &in, LIMIT);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 5);
    expect_event(&res, 0, EV_PING, "1", 1);
    expect_event(&res, 1, EV_PONG, "2", 1);
    expect_event(&res, 2, EV_PING, "3", 1);
    expect_event(&res, 3, EV_TEXT, "Hello, world", 12);
    expect_event(&res, 4, EV_BINARY, "\x01\x02", 2);
    result_free(&res);
    buf_free(&in);
}

static void one_byte_fragments(void **state)
{
    (void)state;
    const char *text = "fragmented \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 text";
    size_t len = strlen(text);
    buf_t in = BUF_INIT;
    for (size_t i = 0; i < len; i++)
        frame(&in, (uint8_t)((i == len - 1 ? FIN : 0) | (i == 0 ? WS_OP_TEXT : 0)), text + i, 1);
    result_t res;
    run(&res, &in, LIMIT);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 1);
    expect_event(&res, 0, EV_TEXT, text, len);
    result_free(&res);
    buf_free(&in);
}

static void fragmentation_errors(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    frame_str(&in, FIN | WS_OP_CONTINUATION, "orphan");
    expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
    buf_free(&in);

    frame_str(&in, WS_OP_CONTINUATION, "orphan");
    expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
    buf_free(&in);

    /* A continuation after a finished message has nothing to continue. */
    frame_str(&in, FIN | WS_OP_TEXT, "done");
    frame_str(&in, FIN | WS_OP_CONTINUATION, "more");
    expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
    buf_free(&in);

    static const uint8_t starts[] = {WS_OP_TEXT, WS_OP_BINARY};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 2; j++) {
            frame_str(&in, starts[i], "open");
            frame_str(&in, (uint8_t)(FIN | starts[j]), "new");
            expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
            buf_free(&in);
            frame_str(&in, starts[i], "open");
            frame_str(&in, starts[j], "new");
            expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
            buf_free(&in);
        }
    }
}

/* ---- UTF-8 handling ---- */

static void invalid_text_is_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "\xc0\xaf",
        "\xed\xa0\x80",
        "\xf4\x90\x80\x80",
        "\xff",
        "ok\x80",
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_t in = BUF_INIT;
        frame_str(&in, FIN | WS_OP_TEXT, bad[i]);
        expect_error(&in, LIMIT, WS_ERR_INVALID_DATA, WS_CLOSE_INVALID_DATA);
        buf_free(&in);
        frame_str(&in, FIN | WS_OP_BINARY, bad[i]); /* binary is not checked */
        result_t res;
        run(&res, &in, LIMIT);
        assert_int_equal(res.rc, 0);
        expect_event(&res, 0, EV_BINARY, bad[i], strlen(bad[i]));
        result_free(&res);
        buf_free(&in);
    }
}

static void code_points_split_across_fragments(void **state)
{
    (void)state;
    const char *text = "\xf0\x9f\x98\x80\xce\xba\xe2\x82\xac"; /* 4-, 2- and 3-byte */
    size_t len = strlen(text);
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            buf_t in = BUF_INIT;
            frame(&in, WS_OP_TEXT, text, a);
            frame_str(&in, FIN | WS_OP_PING, "");
            frame(&in, WS_OP_CONTINUATION, text + a, b - a);
            frame(&in, FIN | WS_OP_CONTINUATION, text + b, len - b);
            result_t res;
            run(&res, &in, LIMIT);
            assert_int_equal(res.rc, 0);
            assert_int_equal(res.n, 2);
            expect_event(&res, 1, EV_TEXT, text, len);
            result_free(&res);
            buf_free(&in);
        }
    }
}

static void truncated_text_at_message_end(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    frame_str(&in, WS_OP_TEXT, "ab\xce");
    frame_str(&in, FIN | WS_OP_CONTINUATION, "");
    expect_error(&in, LIMIT, WS_ERR_INVALID_DATA, WS_CLOSE_INVALID_DATA);
    buf_free(&in);
    frame_str(&in, FIN | WS_OP_TEXT, "\xf0\x9f\x98");
    expect_error(&in, LIMIT, WS_ERR_INVALID_DATA, WS_CLOSE_INVALID_DATA);
    buf_free(&in);
}

static void invalid_text_fails_fast(void **state)
{
    (void)state;
    /* The first fragment is already invalid: fail before the message ends. */
    buf_t in = BUF_INIT;
    frame_str(&in, WS_OP_TEXT, "ok\xed\xa0\x80");
    expect_error(&in, LIMIT, WS_ERR_INVALID_DATA, WS_CLOSE_INVALID_DATA);
    buf_free(&in);

    /* Inside one frame whose end has not arrived yet (the rest never comes). */
    char head[64];
    memset(head, 'a', sizeof(head));
    head[10] = '\xc0';
    buf_append(&in, (uint8_t[]){FIN | WS_OP_TEXT, 0x80 | 126, 0x10, 0x00}, 4); /* 4096 bytes */
    buf_append(&in, default_key, 4);
    for (size_t i = 0; i < sizeof(head); i++)
        buf_append_byte(&in, (uint8_t)(head[i] ^ default_key[i & 3]));
    expect_error(&in, LIMIT, WS_ERR_INVALID_DATA, WS_CLOSE_INVALID_DATA);
    buf_free(&in);
}

/* ---- close handling ---- */

static void close_frames(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    frame(&in, FIN | WS_OP_CLOSE, "", 0);
    result_t res;
    run(&res, &in, LIMIT);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 1);
    expect_event(&res, 0, EV_CLOSE, "", 0);
    assert_int_equal(res.ev[0].code, WS_CLOSE_NO_STATUS);
    result_free(&res);
    buf_free(&in);

    char reason[124];
    memset(reason, 'r', sizeof(reason));
    memcpy(reason, "\xce\xba\xe1\xbd\xb9", 5);
    close_frame(&in, 4999, reason, 123); /* 125-byte body */
    run(&res, &in, LIMIT);
    assert_int_equal(res.rc, 0);
    expect_event(&res, 0, EV_CLOSE, reason, 123);
    assert_int_equal(res.ev[0].code, 4999);
    result_free(&res);
    buf_free(&in);

    /* Close in the middle of a fragmented message is allowed and ends everything. */
    frame_str(&in, WS_OP_TEXT, "half");
    close_frame(&in, 1001, "", 0);
    frame_str(&in, FIN | WS_OP_CONTINUATION, "never");
    run(&res, &in, LIMIT);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 1);
    expect_event(&res, 0, EV_CLOSE, "", 0);
    assert_int_equal(res.ev[0].code, 1001);
    result_free(&res);
    buf_free(&in);
}

static void nothing_after_close(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    close_frame(&in, 1000, "", 0);
    frame_str(&in, FIN | WS_OP_TEXT, "after");
    frame_str(&in, FIN | WS_OP_PING, "after");
    buf_append(&in, "garbage that would be a protocol error", 38);
    result_t res;
    run(&res, &in, LIMIT);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n, 1);
    assert_int_equal(res.ev[0].type, EV_CLOSE);
    result_free(&res);
    buf_free(&in);

    /* And in a later call. */
    ws_reader_t r;
    memset(&res, 0, sizeof(res));
    res.stop_at = -1;
    ws_reader_init(&r, LIMIT, &callbacks, &res);
    close_frame(&in, 1000, "", 0);
    int code = -1;
    assert_int_equal(ws_reader_feed(&r, in.data, in.len, &code), 0);
    assert_int_equal(code, 0);
    assert_true(ws_reader_done(&r));
    assert_int_equal(ws_reader_feed(&r, "\xff\xff", 2, &code), 0);
    assert_int_equal(res.n, 1);
    assert_null(ws_reader_error(&r));
    ws_reader_free(&r);
    result_free(&res);
    buf_free(&in);
}

static void close_codes(void **state)
{
    (void)state;
    static const int valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const int invalid[] = {0,    1,    999,  1004, 1005, 1006, 1015,
                                  1016, 1100, 2000, 2999, 5000, 6000, 65535};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        assert_true(ws_close_code_valid(valid[i]));
        buf_t in = BUF_INIT;
        close_frame(&in, valid[i], "why", 3);
        result_t res;
        run(&res, &in, LIMIT);
        assert_int_equal(res.rc, 0);
        assert_int_equal(res.n, 1);
        assert_int_equal(res.ev[0].code, valid[i]);
        expect_event(&res, 0, EV_CLOSE, "why", 3);
        result_free(&res);
        buf_free(&in);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        assert_false(ws_close_code_valid(invalid[i]));
        buf_t in = BUF_INIT;
        close_frame(&in, invalid[i], "", 0);
        expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
        buf_free(&in);
    }
}

static void bad_close_bodies(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    frame(&in, FIN | WS_OP_CLOSE, "\x03", 1); /* 1-byte body */
    expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
    buf_free(&in);

    static const char bad_reason[] =
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64";
    close_frame(&in, 1000, bad_reason, sizeof(bad_reason) - 1);
    expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
    buf_free(&in);

    close_frame(&in, 1000, "\xce", 1); /* truncated */
    expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
    buf_free(&in);
}

/* ---- limits ---- */

static void message_limit_is_checked_on_announcement(void **state)
{
    (void)state;
    char *p = pattern(1000);
    buf_t in = BUF_INIT;
    frame(&in, FIN | WS_OP_BINARY, p, 1000);
    result_t res;
    run(&res, &in, 1000); /* exactly the limit: fine */
    assert_int_equal(res.rc, 0);
    expect_event(&res, 0, EV_BINARY, p, 1000);
    result_free(&res);
    buf_free(&in);

    /* One over: refused from the header alone, no payload needed. */
    buf_append(&in, (uint8_t[]){FIN | WS_OP_TEXT, 0x80 | 126, 0x03, 0xe9}, 4); /* 1001 */
    buf_append(&in, default_key, 4);
    expect_error(&in, 1000, WS_ERR_TOO_BIG, WS_CLOSE_TOO_BIG);
    buf_free(&in);

    /* A 64-bit length far past the limit. */
    buf_append(&in, (uint8_t[]){FIN | WS_OP_BINARY, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0}, 10);
    buf_append(&in, default_key, 4);
    expect_error(&in, LIMIT, WS_ERR_TOO_BIG, WS_CLOSE_TOO_BIG);
    buf_free(&in);

    /* The sum of fragments counts, refused at the fragment that crosses the limit. */
    frame(&in, WS_OP_TEXT, p, 600);
    frame(&in, FIN | WS_OP_PING, "", 0);
    buf_append(&in, (uint8_t[]){FIN | WS_OP_CONTINUATION, 0x80 | 126, 0x01, 0x91}, 4); /* 401 */
    buf_append(&in, default_key, 4);
    run(&res, &in, 1000);
    assert_int_equal(res.rc, WS_ERR_TOO_BIG);
    assert_int_equal(res.close_code, WS_CLOSE_TOO_BIG);
    assert_int_equal(res.n, 1);
    expect_event(&res, 0, EV_PING, "", 0);
    result_free(&res);
    buf_free(&in);

    frame(&in, WS_OP_TEXT, p, 600);
    frame(&in, FIN | WS_OP_CONTINUATION, p + 600, 400);
    run(&res, &in, 1000);
    assert_int_equal(res.rc, 0);
    expect_event(&res, 0, EV_TEXT, p, 1000);
    result_free(&res);
    buf_free(&in);
    free(p);
}

static void top_bit_of_64_bit_length_is_refused(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    buf_append(&in, (uint8_t[]){FIN | WS_OP_BINARY, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, 10);
    buf_append(&in, default_key, 4);
    expect_error(&in, SIZE_MAX, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
    buf_free(&in);
}

static void memory_follows_the_payload(void **state)
{
    (void)state;
    ws_reader_t r;
    result_t res;
    memset(&res, 0, sizeof(res));
    res.stop_at = -1;
    ws_reader_init(&r, SIZE_MAX, &callbacks, &res);
    int code;

    /* A header announcing a large (allowed) frame allocates nothing by itself. */
    uint8_t hdr[] = {FIN | WS_OP_BINARY, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4};
    assert_int_equal(ws_reader_feed(&r, (char *)hdr, sizeof(hdr), &code), 0);
    assert_int_equal(r.msg.cap, 0);
    /* Payload bytes are buffered as they arrive, with a bounded look-ahead. */
    char chunk[100] = {0};
    assert_int_equal(ws_reader_feed(&r, chunk, sizeof(chunk), &code), 0);
    assert_int_equal(r.msg.len, 100);
    assert_true(r.msg.cap <= 2 * 65536 + 1);
    ws_reader_free(&r);
    assert_null(r.msg.data);

    /* Every message's buffer is released once delivered: an idle reader holds nothing. */
    ws_reader_init(&r, SIZE_MAX, &callbacks, &res);
    char *p = pattern(70000);
    buf_t in = BUF_INIT;
    frame(&in, FIN | WS_OP_TEXT, p, 70000);
    assert_int_equal(ws_reader_feed(&r, in.data, in.len, &code), 0);
    assert_int_equal(res.n, 1);
    assert_null(r.msg.data);
    buf_free(&in);
    frame_str(&in, FIN | WS_OP_TEXT, "small");
    assert_int_equal(ws_reader_feed(&r, in.data, in.len, &code), 0);
    assert_int_equal(res.n, 2);
    assert_null(r.msg.data);
    ws_reader_free(&r);
    buf_free(&in);
    free(p);
    result_free(&res);

    /* Control frames never touch the message buffer, and leave no control buffer behind. */
    ws_reader_init(&r, SIZE_MAX, NULL, NULL);
    frame_str(&in, FIN | WS_OP_PING, "ping");
    frame_str(&in, FIN | WS_OP_PONG, "pong");
    assert_int_equal(ws_reader_feed(&r, in.data, in.len, &code), 0);
    assert_null(r.msg.data);
    assert_null(r.ctrl);
    ws_reader_free(&r);
    buf_free(&in);
}

/* ---- callbacks ---- */

static void callback_stops_feeding(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    frame_str(&in, FIN | WS_OP_TEXT, "first");
    frame_str(&in, FIN | WS_OP_PING, "second");
    frame_str(&in, FIN | WS_OP_TEXT, "third");
    for (int stop = 0; stop < 3; stop++) {
        result_t res;
        run_stop(&res, &in, LIMIT, stop);
        assert_int_equal(res.rc, 42);
        assert_int_equal(res.close_code, 0);
        assert_int_equal(res.n, stop + 1);
        result_free(&res);
    }
    buf_free(&in);

    /* Later input is ignored. */
    result_t res;
    memset(&res, 0, sizeof(res));
    res.stop_at = 0;
    ws_reader_t r;
    ws_reader_init(&r, LIMIT, &callbacks, &res);
    frame_str(&in, FIN | WS_OP_PONG, "x");
    int code = -1;
    assert_int_equal(ws_reader_feed(&r, in.data, in.len, &code), 42);
    assert_int_equal(code, 0);
    assert_true(ws_reader_done(&r));
    assert_int_equal(ws_reader_feed(&r, in.data, in.len, &code), 0);
    assert_int_equal(res.n, 1);
    ws_reader_free(&r);
    result_free(&res);
    buf_free(&in);
}

static void null_callbacks_are_skipped(void **state)
{
    (void)state;
    ws_reader_callbacks_t none = {0};
    ws_reader_t r;
    ws_reader_init(&r, LIMIT, &none, NULL);
    buf_t in = BUF_INIT;
    frame_str(&in, FIN | WS_OP_TEXT, "t");
    frame_str(&in, FIN | WS_OP_PING, "p");
    frame_str(&in, FIN | WS_OP_PONG, "p");
    close_frame(&in, 1000, "", 0);
    assert_int_equal(ws_reader_feed(&r, NULL, 0, NULL), 0); /* empty reads are harmless */
    assert_int_equal(ws_reader_feed(&r, in.data, in.len, NULL), 0);
    assert_true(ws_reader_done(&r));
    ws_reader_free(&r);
    buf_free(&in);
}

static void garbage_and_truncated_input(void **state)
{
    (void)state;
    /* A truncated frame is simply kept for later: no event, no error. */
    buf_t in = BUF_INIT;
    frame_str(&in, FIN | WS_OP_TEXT, "complete me");
    for (size_t cut = 0; cut < in.len; cut++) {
        result_t res;
        buf_t part = BUF_INIT;
        buf_append(&part, in.data, cut);
        run(&res, &part, LIMIT);
        assert_int_equal(res.rc, 0);
        assert_int_equal(res.n, 0);
        result_free(&res);
        buf_free(&part);
    }
    buf_free(&in);
    /* HTTP sent to a WebSocket: 'G' = 0x47 has RSV bits set. */
    buf_append_str(&in, "GET / HTTP/1.1\r\n\r\n");
    expect_error(&in, LIMIT, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR);
    buf_free(&in);
}

/* ---- writer ---- */

static void frame_headers(void **state)
{
    (void)state;
    uint8_t h[10];
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 0), 2);
    assert_memory_equal(h, "\x81\x00", 2);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 125), 2);
    assert_memory_equal(h, "\x82\x7d", 2);
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 126), 4);
    assert_memory_equal(h, "\x81\x7e\x00\x7e", 4);
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 65535), 4);
    assert_memory_equal(h, "\x81\x7e\xff\xff", 4);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 65536), 10);
    assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    assert_int_equal(ws_frame_header(h, WS_OP_PING, 3), 2);
    assert_memory_equal(h, "\x89\x03", 2);
    assert_int_equal(ws_frame_header(h, WS_OP_PONG, 0), 2);
    assert_memory_equal(h, "\x8a\x00", 2);
    assert_int_equal(ws_frame_header(h, WS_OP_CLOSE, 2), 2);
    assert_memory_equal(h, "\x88\x02", 2);
}

static void write_frames(void **state)
{
    (void)state;
    buf_t out = BUF_INIT;
    ws_write_frame(&out, WS_OP_TEXT, "Hello", 5); /* RFC 6455 section 5.7 */
    assert_int_equal(out.len, 7);
    assert_memory_equal(out.data, "\x81\x05Hello", 7);
    ws_write_frame(&out, WS_OP_PONG, NULL, 0);
    assert_int_equal(out.len, 9);
    assert_memory_equal(out.data + 7, "\x8a\x00", 2);
    buf_free(&out);

    char *p = pattern(70000);
    ws_write_frame(&out, WS_OP_BINARY, p, 70000);
    assert_int_equal(out.len, 70010);
    assert_memory_equal(out.data, "\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10);
    assert_memory_equal(out.data + 10, p, 70000);
    buf_free(&out);
    free(p);
}

static void write_close_frames(void **state)
{
    (void)state;
    buf_t out = BUF_INIT;
    ws_write_close(&out, WS_CLOSE_NORMAL, "bye");
    assert_int_equal(out.len, 7);
    assert_memory_equal(out.data,
                        "\x88\x05\x03\xe8"
                        "bye",
                        7);
    buf_reset(&out);
    ws_write_close(&out, WS_CLOSE_TOO_BIG, NULL);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, "\x88\x02\x03\xf1", 4);
    buf_reset(&out);
    ws_write_close(&out, 0, "ignored");
    assert_int_equal(out.len, 2);
    assert_memory_equal(out.data, "\x88\x00", 2);
    buf_reset(&out);

    /* Long ASCII reason: cut to 123 bytes. */
    char reason[300];
    memset(reason, 'x', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    ws_write_close(&out, WS_CLOSE_POLICY, reason);
    assert_int_equal(out.len, 2 + 125);
    assert_int_equal((uint8_t)out.data[1], 125);
    buf_reset(&out);

    /* Long multi-byte reason: cut on a character boundary. */
    reason[0] = '\0';
    for (int i = 0; i < 60; i++)
        strcat(reason, "\xe2\x82\xac"); /* 180 bytes */
    ws_write_close(&out, WS_CLOSE_POLICY, reason);
    assert_int_equal((uint8_t)out.data[1], 2 + 123);
    assert_true(utf8_valid(out.data + 4, out.len - 4));
    buf_reset(&out);
    reason[0] = 'a';
    reason[1] = '\0';
    for (int i = 0; i < 60; i++)
        strcat(reason, "\xc3\xa9"); /* 121 bytes */
    ws_write_close(&out, WS_CLOSE_POLICY, reason);
    assert_int_equal((uint8_t)out.data[1], 2 + 121);
    buf_reset(&out);
    strcat(reason, "\xc3\xa9\xc3\xa9"); /* 125 bytes: the 2nd added char would straddle */
    ws_write_close(&out, WS_CLOSE_POLICY, reason);
    assert_int_equal((uint8_t)out.data[1], 2 + 123);
    assert_true(utf8_valid(out.data + 4, out.len - 4));
    buf_free(&out);
}

/* Turns a server frame into the client frame a browser would send. */
static void mask_frame(buf_t *out, const char *f, size_t len, const uint8_t key[4])
{
    size_t h = ((uint8_t)f[1] & 0x7f) == 126 ? 4 : ((uint8_t)f[1] & 0x7f) == 127 ? 10 : 2;
    buf_append_byte(out, (uint8_t)f[0]);
    buf_append_byte(out, (uint8_t)(f[1] | 0x80));
    buf_append(out, f + 2, h - 2);
    buf_append(out, key, 4);
    for (size_t i = h; i < len; i++)
        buf_append_byte(out, (uint8_t)(f[i] ^ key[(i - h) & 3]));
}

static void writer_output_reads_back(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 5, 125, 126, 65535, 65536};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        char *p = pattern(lens[i]);
        buf_t srv = BUF_INIT, cli = BUF_INIT;
        ws_write_frame(&srv, WS_OP_TEXT, p, lens[i]);
        mask_frame(&cli, srv.data, srv.len, default_key);
        buf_reset(&srv);
        ws_write_close(&srv, 1000, "done");
        mask_frame(&cli, srv.data, srv.len, default_key);
        result_t res;
        run(&res, &cli, LIMIT);
        assert_int_equal(res.rc, 0);
        assert_int_equal(res.n, 2);
        expect_event(&res, 0, EV_TEXT, p, lens[i]);
        expect_event(&res, 1, EV_CLOSE, "done", 4);
        assert_int_equal(res.ev[1].code, 1000);
        result_free(&res);
        buf_free(&srv);
        buf_free(&cli);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_example_frames),
        cmocka_unit_test(every_opcode_is_delivered),
        cmocka_unit_test(empty_messages),
        cmocka_unit_test(every_length_encoding),
        cmocka_unit_test(non_minimal_lengths_are_accepted),
        cmocka_unit_test(masking_keys_and_offsets),
        cmocka_unit_test(many_frames_in_one_read),
        cmocka_unit_test(unmasked_frames_are_refused),
        cmocka_unit_test(reserved_bits_are_refused),
        cmocka_unit_test(unknown_opcodes_are_refused),
        cmocka_unit_test(control_frame_limits),
        cmocka_unit_test(binary_ping_payload),
        cmocka_unit_test(fragments_with_control_frames_between),
        cmocka_unit_test(one_byte_fragments),
        cmocka_unit_test(fragmentation_errors),
        cmocka_unit_test(invalid_text_is_refused),
        cmocka_unit_test(code_points_split_across_fragments),
        cmocka_unit_test(truncated_text_at_message_end),
        cmocka_unit_test(invalid_text_fails_fast),
        cmocka_unit_test(close_frames),
        cmocka_unit_test(nothing_after_close),
        cmocka_unit_test(close_codes),
        cmocka_unit_test(bad_close_bodies),
        cmocka_unit_test(message_limit_is_checked_on_announcement),
        cmocka_unit_test(top_bit_of_64_bit_length_is_refused),
        cmocka_unit_test(memory_follows_the_payload),
        cmocka_unit_test(callback_stops_feeding),
        cmocka_unit_test(null_callbacks_are_skipped),
        cmocka_unit_test(garbage_and_truncated_input),
        cmocka_unit_test(frame_headers),
        cmocka_unit_test(write_frames),
        cmocka_unit_test(write_close_frames),
        cmocka_unit_test(writer_output_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
