/* fuzz_ws_frame.c - libFuzzer target for the WebSocket frame reader (and writer round trip).
 *
 * The first input byte picks the message limit and whether a callback stops the reader, the
 * second seeds the chunking; the rest is the client byte stream. The stream is fed whole, one
 * byte at a time and in pseudo-random chunks: all three must report the same events and the
 * same result, and every event must respect the reader's guarantees (valid UTF-8 text, valid
 * close codes, bounded sizes, NUL-terminated data). Built outside CMake, see the ws report:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icore tests/fuzz/fuzz_ws_frame.c \
 *     core/ws/ws_frame.c core/base/utf8.c core/base/buf.c core/base/mem.c -o fuzz_ws_frame */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "ws/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) abort();                                                                      \
    } while (0)

#define STOP_VALUE 77

typedef struct trace {
    uint64_t hash; /* FNV-1a over every event */
    unsigned events;
    int stop_at; /* event index whose callback stops the reader, or -1 */
    size_t max;
} trace_t;

static void mix(trace_t *t, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++) {
        t->hash ^= b[i];
        t->hash *= UINT64_C(1099511628211);
    }
}

static int event(trace_t *t, int type, int code, const char *d, size_t len)
{
    CHECK(d != NULL && d[len] == '\0');
    mix(t, &type, sizeof(type));
    mix(t, &code, sizeof(code));
    mix(t, &len, sizeof(len));
    mix(t, d, len);
    return t->events++ == (unsigned)t->stop_at ? STOP_VALUE : 0;
}

static int on_message(void *user, int is_binary, const char *d, size_t len)
{
    trace_t *t = user;
    CHECK(len <= t->max);
    if (!is_binary) CHECK(utf8_valid(d, len));
    return event(t, is_binary ? 2 : 1, 0, d, len);
}

static int on_ping(void *user, const char *d, size_t len)
{
    CHECK(len <= WS_MAX_CONTROL_PAYLOAD);
    return event(user, 9, 0, d, len);
}

static int on_pong(void *user, const char *d, size_t len)
{
    CHECK(len <= WS_MAX_CONTROL_PAYLOAD);
    return event(user, 10, 0, d, len);
}

static int on_close(void *user, int code, const char *reason, size_t len)
{
    CHECK(code == WS_CLOSE_NO_STATUS ? len == 0 : ws_close_code_valid(code));
    CHECK(len <= WS_MAX_CONTROL_PAYLOAD - 2 && utf8_valid(reason, len));
    return event(user, 8, code, reason, len);
}

static const ws_reader_callbacks_t callbacks = {on_message, on_ping, on_pong, on_close};

typedef struct outcome {
    uint64_t hash;
    unsigned events;
    int rc;
    int close_code;
    const char *error;
} outcome_t;

/* mode 0: whole, 1: byte by byte, 2: pseudo-random chunks from seed. */
static outcome_t run(const uint8_t *in, size_t len, size_t max, int stop_at, int mode,
                     uint32_t seed)
{
    trace_t t = {UINT64_C(14695981039346656037), 0, stop_at, max};
    ws_reader_t r;
    ws_reader_init(&r, max, &callbacks, &t);
    outcome_t o = {0, 0, 0, 0, NULL};
    size_t off = 0;
    do {
        size_t n = len - off;
        if (mode == 1 && n > 1) n = 1;
        if (mode == 2) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            size_t want = (seed & 0x100) ? (seed & 0x0f) + 1 : (seed & 0xff) + 1;
            if (n > want) n = want;
        }
        o.close_code = -1;
        o.rc = ws_reader_feed(&r, (const char *)in + off, n, &o.close_code);
        off += n;
    } while (o.rc == 0 && off < len);
    o.error = ws_reader_error(&r);
    if (o.rc < 0) {
        CHECK(o.rc == WS_ERR_PROTOCOL || o.rc == WS_ERR_INVALID_DATA || o.rc == WS_ERR_TOO_BIG);
        CHECK(o.close_code == WS_CLOSE_PROTOCOL_ERROR || o.close_code == WS_CLOSE_INVALID_DATA ||
              o.close_code == WS_CLOSE_TOO_BIG);
        CHECK(o.error != NULL && ws_reader_done(&r));
        int again = 0;
        CHECK(ws_reader_feed(&r, "\x81\x80\0\0\0\0", 6, &again) == o.rc && again == o.close_code);
    } else {
        CHECK(o.rc == 0 || (o.rc == STOP_VALUE && ws_reader_done(&r)));
        CHECK(o.close_code == 0 && o.error == NULL);
    }
    CHECK(r.msg.len <= max);
    ws_reader_free(&r);
    o.hash = t.hash;
    o.events = t.events;
    return o;
}

static void same(const outcome_t *a, const outcome_t *b)
{
    CHECK(a->hash == b->hash && a->events == b->events && a->rc == b->rc &&
          a->close_code == b->close_code && a->error == b->error);
}

/* Whatever the writer frames, the reader reads back once masked as a client would. */
static void writer_round_trip(const uint8_t *payload, size_t len)
{
    static const uint8_t key[4] = {0xa5, 0x5a, 0x0f, 0xf0};
    buf_t srv = BUF_INIT, cli = BUF_INIT;
    ws_write_frame(&srv, WS_OP_BINARY, payload, len);
    uint8_t hdr[10];
    size_t h = ws_frame_header(hdr, WS_OP_BINARY, len);
    CHECK(srv.len == h + len && memcmp(srv.data, hdr, h) == 0);
    buf_append_byte(&cli, hdr[0]);
    buf_append_byte(&cli, hdr[1] | 0x80);
    buf_append(&cli, hdr + 2, h - 2);
    buf_append(&cli, key, 4);
    for (size_t i = 0; i < len; i++)
        buf_append_byte(&cli, payload[i] ^ key[i & 3]);
    trace_t t = {UINT64_C(14695981039346656037), 0, -1, len};
    ws_reader_t r;
    ws_reader_init(&r, len, &callbacks, &t);
    CHECK(ws_reader_feed(&r, cli.data, cli.len, NULL) == 0 && t.events == 1);
    ws_reader_free(&r);
    buf_free(&srv);
    buf_free(&cli);

    /* A close reason of any length comes out within 125 bytes, and stays UTF-8 if it was. */
    char *reason = malloc(len + 1);
    memcpy(reason, payload, len);
    reason[len] = '\0';
    ws_write_close(&srv, WS_CLOSE_NORMAL, reason);
    CHECK(srv.len >= 4 && srv.len <= 2 + WS_MAX_CONTROL_PAYLOAD);
    if (utf8_valid(reason, strlen(reason))) CHECK(utf8_valid(srv.data + 4, srv.len - 4));
    free(reason);
    buf_free(&srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {0, 1, 125, 126, 1000, 65536, SIZE_MAX};
    if (size < 2) return 0;
    size_t max = limits[(data[0] & 0x0f) % (sizeof(limits) / sizeof(limits[0]))];
    int stop_at = (data[0] & 0x80) ? (data[0] >> 4) & 0x07 : -1;
    uint32_t seed = (uint32_t)data[1] * 2654435761u + 1;
    const uint8_t *in = data + 2;
    size_t len = size - 2;

    outcome_t whole = run(in, len, max, stop_at, 0, seed);
    outcome_t bytes = run(in, len, max, stop_at, 1, seed);
    outcome_t chunks = run(in, len, max, stop_at, 2, seed);
    same(&whole, &bytes);
    same(&whole, &chunks);

    writer_round_trip(in, len);
    return 0;
}
