/* test_msgpack.c - the MessagePack codec. Expected bytes are what notepack.io 3.0.1 encodes for
 * the same JavaScript value, expected values what it decodes (tests/node/msgpack-notepack
 * checks the same against the package itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_in.h"
#include "base/json_out.h"
#include "base/msgpack.h"

/* ---- helpers */

static char *to_hex(const buf_t *b)
{
    char *s = malloc(b->len * 2 + 1);
    for (size_t i = 0; i < b->len; i++)
        sprintf(s + 2 * i, "%02x", (uint8_t)b->data[i]);
    s[b->len * 2] = '\0';
    return s;
}

static void assert_hex(const buf_t *b, const char *hex)
{
    char *s = to_hex(b);
    assert_string_equal(s, hex);
    free(s);
}

static void from_hex(const char *hex, buf_t *out)
{
    size_t n = strlen(hex);
    assert_int_equal(n % 2, 0);
    for (size_t i = 0; i < n; i += 2) {
        unsigned byte;
        assert_int_equal(sscanf(hex + i, "%2x", &byte), 1);
        buf_append_byte(out, (uint8_t)byte);
    }
}

/* The JSON.stringify text of v (json_out), freed by the caller. */
static char *text_of(const json_t *v)
{
    buf_t b = BUF_INIT;
    json_out_append(&b, v);
    return buf_steal(&b, NULL);
}

/* Decodes hex, which must succeed, and checks the value's JSON text and, unless firsts is
 * NULL, the attachments: as many as firsts has bytes, each starting with its byte. */
static void check_decode_bins(const char *hex, const char *json, const char *firsts)
{
    buf_t in = BUF_INIT;
    from_hex(hex, &in);
    json_t *v = NULL;
    msgpack_bins_t bins = MSGPACK_BINS_INIT;
    char err[256] = "";
    int rc = msgpack_decode(in.data, in.len, &v, &bins, err, sizeof err);
    if (rc != 0) fail_msg("decoding %s: %s", hex, err);
    char *t = text_of(v);
    assert_string_equal(t, json);
    free(t);
    if (firsts) {
        assert_int_equal(bins.count, strlen(firsts));
        for (size_t i = 0; i < bins.count; i++)
            assert_int_equal(bins.items[i].data[0], (uint8_t)firsts[i]);
    }
    json_decref(v);
    msgpack_bins_free(&bins);
    buf_free(&in);
}

static void check_decode(const char *hex, const char *json)
{
    check_decode_bins(hex, json, NULL);
}

/* Decodes bytes that must be refused, with a message naming what matches. */
static void check_refused(const void *data, size_t len, const char *message_part)
{
    json_t *v = (json_t *)1;
    msgpack_bins_t bins = MSGPACK_BINS_INIT;
    char err[256] = "";
    assert_int_equal(msgpack_decode(data, len, &v, &bins, err, sizeof err), -1);
    assert_null(v);
    assert_int_equal(bins.count, 0);
    if (!strstr(err, message_part)) fail_msg("message \"%s\" lacks \"%s\"", err, message_part);
    msgpack_bins_free(&bins);
}

static void check_refused_hex(const char *hex, const char *message_part)
{
    buf_t in = BUF_INIT;
    from_hex(hex, &in);
    check_refused(in.data, in.len, message_part);
    buf_free(&in);
}

/* Encodes a JSON text (read as JSON.parse reads it) and checks the bytes. */
static void check_encode_json(const char *json, const char *hex)
{
    json_t *v = json_parse_js(json, strlen(json));
    assert_non_null(v);
    buf_t b = BUF_INIT;
    char err[128];
    assert_int_equal(msgpack_write_json(&b, v, NULL, 0, err, sizeof err), 0);
    assert_hex(&b, hex);
    buf_free(&b);
    json_decref(v);
}

/* ---- numbers */

typedef struct int_case {
    int64_t v;
    const char *hex;
    const char *decoded; /* the JSON text of the value a JavaScript peer reads */
} int_case_t;

static const int_case_t int_cases[] = {
    {0, "00", "0"},
    {1, "01", "1"},
    {127, "7f", "127"},
    {128, "cc80", "128"},
    {255, "ccff", "255"},
    {256, "cd0100", "256"},
    {65535, "cdffff", "65535"},
    {65536, "ce00010000", "65536"},
    {4294967295, "ceffffffff", "4294967295"},
    {4294967296, "cf0000000100000000", "4294967296"},
    {9007199254740992, "cf0020000000000000", "9007199254740992"},
    {-1, "ff", "-1"},
    {-32, "e0", "-32"},
    {-33, "d0df", "-33"},
    {-128, "d080", "-128"},
    {-129, "d1ff7f", "-129"},
    {-32768, "d18000", "-32768"},
    {-32769, "d2ffff7fff", "-32769"},
    {-2147483647 - 1, "d280000000", "-2147483648"},
    {-2147483649, "d3ffffffff7fffffff", "-2147483649"},
    {-9007199254740992, "d3ffe0000000000000", "-9007199254740992"},
    /* Beyond 2^53 a JavaScript peer reads the nearest double. */
    {INT64_MAX, "cf7fffffffffffffff", "9223372036854776000"},
    {INT64_MIN, "d38000000000000000", "-9223372036854776000"},
};

static void integers_take_the_smallest_form(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof int_cases / sizeof *int_cases; i++) {
        const int_case_t *c = &int_cases[i];
        buf_t b = BUF_INIT;
        msgpack_write_int64(&b, c->v);
        assert_hex(&b, c->hex);
        if (c->v >= 0) {
            buf_reset(&b);
            msgpack_write_uint64(&b, (uint64_t)c->v);
            assert_hex(&b, c->hex);
        }
        /* The same value as a JavaScript number, when it is one exactly. */
        if (c->v >= -9007199254740992 && c->v <= 9007199254740992) {
            buf_reset(&b);
            msgpack_write_double(&b, (double)c->v);
            assert_hex(&b, c->hex);
        }
        check_decode(c->hex, c->decoded);
        buf_free(&b);
    }
    buf_t b = BUF_INIT;
    msgpack_write_uint64(&b, UINT64_MAX);
    assert_hex(&b, "cfffffffffffffffff");
    buf_free(&b);
    check_decode("cfffffffffffffffff", "18446744073709552000");
    check_decode("cf0020000000000001", "9007199254740992"); /* 2^53 + 1 */
    check_decode("cf0000000000000005", "5");                /* wide forms are accepted */
    check_decode("d3ffffffffffffffff", "-1");
    check_decode("d0ff", "-1");
    check_decode("d17fff", "32767");
}

static void decoded_integers_are_json_integers_within_2_pow_53(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        int is_integer;
    } cases[] = {
        {"cf0020000000000000", 1}, {"d3ffe0000000000000", 1}, {"cf0020000000000001", 0},
        {"cfffffffffffffffff", 0}, {"d38000000000000000", 0}, {"ceffffffff", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf_t in = BUF_INIT;
        from_hex(cases[i].hex, &in);
        json_t *v;
        assert_int_equal(msgpack_decode(in.data, in.len, &v, NULL, NULL, 0), 0);
        assert_int_equal(json_is_integer(v), cases[i].is_integer);
        assert_true(json_is_number(v));
        json_decref(v);
        buf_free(&in);
    }
}

static void doubles_are_javascript_numbers(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *hex;
    } cases[] = {
        {1.5, "cb3ff8000000000000"},
        {-1.5, "cbbff8000000000000"},
        {0.1, "cb3fb999999999999a"},
        {-0.0, "00"}, /* notepack tests v >= 0: -0 is the fixint 0 */
        {1.0, "01"},
        {-32.0, "e0"},
        {4294967295.0, "ceffffffff"},
        {4294967296.5, "cb41f0000000080000"},
        {9223372036854775808.0, "cf8000000000000000"},
        {18446744073709549568.0, "cffffffffffffff800"}, /* the last double below 2^64 */
        {-9223372036854775808.0, "d38000000000000000"},
        /* From 2^64 up and below -2^63 notepack.io wraps modulo 2^64 (1e20 would read back as
         * 7766279631452241920): these stay float 64, the number sent. */
        {18446744073709551616.0, "cb43f0000000000000"},
        {1e20, "cb4415af1d78b58c40"},
        {1e300, "cb7e37e43c8800759c"},
        {-9223372036854777856.0, "cbc3e0000000000001"}, /* the next double below -2^63 */
        {-1e20, "cbc415af1d78b58c40"},
        {INFINITY, "cb7ff0000000000000"},
        {-INFINITY, "cbfff0000000000000"},
        {NAN, "cb7ff8000000000000"},
        {-NAN, "cb7ff8000000000000"}, /* JavaScript's one NaN */
        {5e-324, "cb0000000000000001"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf_t b = BUF_INIT;
        msgpack_write_double(&b, cases[i].v);
        assert_hex(&b, cases[i].hex);
        buf_free(&b);
    }
    check_decode("cb3ff8000000000000", "1.5");
    check_decode("ca3fc00000", "1.5");
    check_decode("ca3dcccccd", "0.10000000149011612"); /* float 32 widened exactly */
    check_decode("cb3ff0000000000000", "1");
    check_decode("cb7ff8000000000000", "null"); /* JSON.stringify(NaN) */
    check_decode("ca7fc00000", "null");
    check_decode("cb7ff0000000000000", "null");
    check_decode("cbfff0000000000000", "null");
    check_decode("cb4415af1d78b58c40", "100000000000000000000");
    check_decode("cb44b52d02c7e14af6", "1e+23");
    buf_t in = BUF_INIT;
    from_hex("cb8000000000000000", &in);
    json_t *v;
    assert_int_equal(msgpack_decode(in.data, in.len, &v, NULL, NULL, 0), 0);
    assert_true(json_is_real(v));
    assert_true(signbit(json_real_value(v)));
    json_decref(v);
    buf_free(&in);
}

/* ---- strings, binary, containers */

static void length_boundaries(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536};
    static const char *str_head[] = {"a0",   "a1",   "af",     "b0",     "bf",
                                     "d920", "d9ff", "da0100", "daffff", "db00010000"};
    static const char *bin_head[] = {"c400", "c401", "c40f",   "c410",   "c41f",
                                     "c420", "c4ff", "c50100", "c5ffff", "c600010000"};
    static const char *arr_head[] = {"90",     "91",     "9f",     "dc0010", "dc001f",
                                     "dc0020", "dc00ff", "dc0100", "dcffff", "dd00010000"};
    static const char *map_head[] = {"80",     "81",     "8f",     "de0010", "de001f",
                                     "de0020", "de00ff", "de0100", "deffff", "df00010000"};
    char *text = malloc(65536);
    memset(text, 'x', 65536);
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        size_t n = lens[i];
        buf_t b = BUF_INIT, expect = BUF_INIT;
        from_hex(str_head[i], &expect);
        assert_int_equal(msgpack_write_str(&b, text, n), 0);
        assert_int_equal(b.len, expect.len + n);
        assert_memory_equal(b.data, expect.data, expect.len);
        json_t *v;
        assert_int_equal(msgpack_decode(b.data, b.len, &v, NULL, NULL, 0), 0);
        assert_int_equal(json_string_length(v), n);
        json_decref(v);

        buf_reset(&b);
        buf_reset(&expect);
        from_hex(bin_head[i], &expect);
        assert_int_equal(msgpack_write_bin(&b, text, n), 0);
        assert_int_equal(b.len, expect.len + n);
        assert_memory_equal(b.data, expect.data, expect.len);
        msgpack_bins_t bins = MSGPACK_BINS_INIT;
        assert_int_equal(msgpack_decode(b.data, b.len, &v, &bins, NULL, 0), 0);
        assert_int_equal(bins.count, 1);
        assert_int_equal(bins.items[0].len, n);
        assert_ptr_equal(bins.items[0].data, (const uint8_t *)b.data + expect.len);
        json_decref(v);
        msgpack_bins_free(&bins);

        /* Arrays and maps of n nils / n members, through the streaming writer and from
         * jansson; both decode back to n elements. */
        json_t *arr = json_array(), *obj = json_object();
        for (size_t k = 0; k < n; k++) {
            char key[24];
            snprintf(key, sizeof key, "k%zu", k);
            json_array_append_new(arr, json_null());
            json_object_set_new(obj, key, json_null());
        }
        const char *heads[2] = {arr_head[i], map_head[i]};
        json_t *vals[2] = {arr, obj};
        for (int m = 0; m < 2; m++) {
            buf_reset(&b);
            buf_reset(&expect);
            from_hex(heads[m], &expect);
            assert_int_equal(m ? msgpack_write_map(&b, n) : msgpack_write_array(&b, n), 0);
            assert_int_equal(b.len, expect.len);
            assert_memory_equal(b.data, expect.data, expect.len);
            buf_reset(&b);
            assert_int_equal(msgpack_write_json(&b, vals[m], NULL, 0, NULL, 0), 0);
            assert_memory_equal(b.data, expect.data, expect.len);
            assert_int_equal(msgpack_decode(b.data, b.len, &v, NULL, NULL, 0), 0);
            assert_int_equal(m ? json_object_size(v) : json_array_size(v), n);
            assert_true(json_equal(v, vals[m]));
            json_decref(v);
        }
        json_decref(arr);
        json_decref(obj);
        buf_free(&b);
        buf_free(&expect);
    }
    free(text);

    /* Lengths past 32 bits do not exist in the format: nothing is written. */
    if (sizeof(size_t) > 4) {
        size_t huge = (size_t)UINT32_MAX + 1;
        buf_t b = BUF_INIT;
        assert_int_equal(msgpack_write_str(&b, "", huge), -1);
        assert_int_equal(msgpack_write_bin(&b, "", huge), -1);
        assert_int_equal(msgpack_write_array(&b, huge), -1);
        assert_int_equal(msgpack_write_map(&b, huge), -1);
        assert_int_equal(b.len, 0);
        assert_int_equal(msgpack_write_array(&b, UINT32_MAX), 0);
        assert_hex(&b, "ddffffffff");
        buf_free(&b);
    }
}

static void scalars_and_strings(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    msgpack_write_nil(&b);
    msgpack_write_bool(&b, 0);
    msgpack_write_bool(&b, 7);
    msgpack_write_str(&b, "h\0i", 3);
    assert_hex(&b, "c0c2c3a3680069");
    buf_free(&b);
    check_encode_json("\"\"", "a0");
    check_encode_json("\"\\u0000\"", "a100");
    check_encode_json("\"caf\\u00e9 \\ud83d\\ude00\"", "aa636166c3a920f09f9880");
    check_encode_json("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "a8225c2f080c0a0d09");
    check_encode_json("[true,false,null]", "93c3c2c0");
    check_decode("a3680069", "\"h\\u0000i\"");
    check_decode("a4f09f9880", "\"\xf0\x9f\x98\x80\"");
    /* Invalid UTF-8 becomes U+FFFD per maximal subpart, as Buffer.toString("utf8") does. */
    check_decode("acffe08041f09080eda080c080", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                               "A\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                               "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    check_decode("a3f09f98", "\"\xef\xbf\xbd\""); /* cut short */
    check_decode("a4f4908080", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void json_values_as_notepack_writes_json_parse_results(void **state)
{
    (void)state;
    /* Array-index keys first, ascending; then insertion order. */
    check_encode_json(
        "{\"b\":1,\"1\":2,\"0\":3,\"a\":4,\"01\":5,\"4294967295\":6,\"4294967294\":7}",
        "87a13003a13102aa3432393439363732393407a16201a16104a2303105aa34323934393637"
        "32393506");
    check_encode_json("{}", "80");
    check_encode_json("[]", "90");
    check_encode_json("[[[]],{\"\":{}}]", "92919081a080");
    check_encode_json("1.0", "01");
    check_encode_json("-0", "00");
    check_encode_json("-0.0", "00");
    check_encode_json("1e2", "64");
    check_encode_json("-1.5e1", "f1");
    check_encode_json("-1.25e1", "cbc029000000000000");
    /* JSON.parse rounds integers beyond 2^53 to doubles, and so does msgpack_write_json. */
    check_encode_json("9007199254740993", "cf0020000000000000");
    check_encode_json("-9007199254740993", "d3ffe0000000000000");
    check_encode_json("9223372036854775807", "cf8000000000000000");
    check_encode_json("-9223372036854775808", "d38000000000000000");
    check_encode_json("18446744073709551615", "cb43f0000000000000");
    check_encode_json("[1e19,1e21]", "92cf8ac7230489e80000cb444b1ae4d6e2ef50");
    check_encode_json("{\"a\":1,\"b\":2,\"a\":3}", "82a16103a16202"); /* last value, first place */
}

static void encode_reference_vectors(void **state)
{
    (void)state;
    /* io.to("user:42").emit("notification", {id:7, text:"hi"}) from adapter uid AbC123. */
    static const char adapter_hex[] =
        "93a641624331323383a47479706502a46461746192ac6e6f74696669636174696f6e82a2696407a4746578"
        "74a26869a36e7370a12f83a5726f6f6d7391a7757365723a3432a665786365707490a5666c61677380";
    static const char adapter_json[] =
        "[\"AbC123\",{\"type\":2,\"data\":[\"notification\",{\"id\":7,\"text\":\"hi\"}],"
        "\"nsp\":\"/\"},{\"rooms\":[\"user:42\"],\"except\":[],\"flags\":{}}]";
    check_encode_json(adapter_json, adapter_hex);
    check_decode(adapter_hex, adapter_json);

    /* The same message through the streaming writer. */
    buf_t b = BUF_INIT;
    msgpack_write_array(&b, 3);
    msgpack_write_str(&b, "AbC123", 6);
    msgpack_write_map(&b, 3);
    msgpack_write_str(&b, "type", 4);
    msgpack_write_int64(&b, 2);
    msgpack_write_str(&b, "data", 4);
    msgpack_write_array(&b, 2);
    msgpack_write_str(&b, "notification", 12);
    msgpack_write_map(&b, 2);
    msgpack_write_str(&b, "id", 2);
    msgpack_write_uint64(&b, 7);
    msgpack_write_str(&b, "text", 4);
    msgpack_write_str(&b, "hi", 2);
    msgpack_write_str(&b, "nsp", 3);
    msgpack_write_str(&b, "/", 1);
    msgpack_write_map(&b, 3);
    msgpack_write_str(&b, "rooms", 5);
    msgpack_write_array(&b, 1);
    msgpack_write_str(&b, "user:42", 7);
    msgpack_write_str(&b, "except", 6);
    msgpack_write_array(&b, 0);
    msgpack_write_str(&b, "flags", 5);
    msgpack_write_map(&b, 0);
    assert_hex(&b, adapter_hex);

    /* The emitter: a binary argument, volatile, except. */
    static const char emitter_hex[] =
        "93a7656d697474657283a47479706502a46461746192a362696ec403010203a36e7370a12f83a5726f6f6d"
        "7390a5666c61677381a8766f6c6174696c65c3a665786365707491a6757365723a31";
    static const char emitter_json[] =
        "[\"emitter\",{\"type\":2,\"data\":[\"bin\",{\"_placeholder\":true,\"num\":0}],"
        "\"nsp\":\"/\"},{\"rooms\":[],\"flags\":{\"volatile\":true},\"except\":[\"user:1\"]}]";
    static const uint8_t attachment[] = {1, 2, 3};
    const msgpack_bin_t bins[] = {{attachment, 3}};
    json_t *v = json_parse_js(emitter_json, strlen(emitter_json));
    buf_reset(&b);
    assert_int_equal(msgpack_write_json(&b, v, bins, 1, NULL, 0), 0);
    assert_hex(&b, emitter_hex);
    json_decref(v);

    buf_t in = BUF_INIT;
    from_hex(emitter_hex, &in);
    msgpack_bins_t got = MSGPACK_BINS_INIT;
    assert_int_equal(msgpack_decode(in.data, in.len, &v, &got, NULL, 0), 0);
    char *t = text_of(v);
    assert_string_equal(t, emitter_json);
    assert_int_equal(got.count, 1);
    assert_int_equal(got.items[0].len, 3);
    assert_memory_equal(got.items[0].data, attachment, 3);
    free(t);
    json_decref(v);
    msgpack_bins_free(&got);
    buf_free(&in);
    buf_free(&b);
}

static void placeholders_become_attachments(void **state)
{
    (void)state;
    static const uint8_t a[] = {0xaa}, big[300] = {0};
    const msgpack_bin_t bins[] = {{a, 1}, {big, 300}, {NULL, 0}};
    static const struct {
        const char *json;
        const char *hex; /* NULL: refused */
    } cases[] = {
        {"[{\"_placeholder\":true,\"num\":1},{\"num\":0,\"_placeholder\":true}]", NULL},
        {"{\"_placeholder\":true,\"num\":2}", "c400"},
        {"{\"_placeholder\":true,\"num\":0.0,\"extra\":1}", "c401aa"},
        {"{\"_placeholder\":false,\"num\":0}", "82ac5f706c616365686f6c646572c2a36e756d00"},
        {"{\"_placeholder\":1,\"num\":0}", "82ac5f706c616365686f6c64657201a36e756d00"},
        {"{\"_placeholder\":true,\"num\":3}", NULL},
        {"{\"_placeholder\":true,\"num\":-1}", NULL},
        {"{\"_placeholder\":true,\"num\":0.5}", NULL},
        {"{\"_placeholder\":true,\"num\":\"0\"}", NULL},
        {"{\"_placeholder\":true}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *v = json_parse_js(cases[i].json, strlen(cases[i].json));
        buf_t b = BUF_INIT;
        char err[128] = "";
        int rc = msgpack_write_json(&b, v, bins, 3, err, sizeof err);
        if (i == 0) {
            assert_int_equal(rc, 0);
            assert_int_equal(b.len, 1 + 3 + 300 + 3);
            assert_memory_equal(b.data, "\x92\xc5\x01\x2c", 4);
            assert_memory_equal(b.data + 304, "\xc4\x01\xaa", 3);
        } else if (cases[i].hex) {
            assert_int_equal(rc, 0);
            assert_hex(&b, cases[i].hex);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, "placeholder"));
        }
        /* Without attachments a placeholder is an ordinary object. */
        buf_reset(&b);
        assert_int_equal(msgpack_write_json(&b, v, NULL, 0, NULL, 0), 0);
        assert_int_equal((uint8_t)b.data[0] & 0xf0, i == 0 ? 0x90 : 0x80);
        buf_free(&b);
        json_decref(v);
    }
    /* No attachments at all, yet placeholders are on: every placeholder is refused. */
    json_t *v = json_parse_js("{\"_placeholder\":true,\"num\":0}", 29);
    buf_t b = BUF_INIT;
    assert_int_equal(msgpack_write_json(&b, v, bins, 0, NULL, 0), -1);
    buf_free(&b);
    json_decref(v);
}

/* ---- decoding what only a peer writes */

static void map_keys_become_javascript_property_keys(void **state)
{
    (void)state;
    check_decode("8201a16102a162", "{\"1\":\"a\",\"2\":\"b\"}");
    check_decode("81ff00", "{\"-1\":0}");
    check_decode("81cb3ff800000000000000", "{\"1.5\":0}");
    check_decode("81cb800000000000000000", "{\"0\":0}"); /* String(-0) */
    check_decode("81cb7ff800000000000000", "{\"NaN\":0}");
    check_decode("82cb7ff000000000000000cbfff000000000000001", "{\"Infinity\":0,\"-Infinity\":1}");
    check_decode("81cb4415af1d78b58c4000", "{\"100000000000000000000\":0}");
    check_decode("81cb444b1ae4d6e2ef5000", "{\"1e+21\":0}");
    check_decode("81cf002000000000000100", "{\"9007199254740992\":0}");
    check_decode("83c000c201c302", "{\"null\":0,\"false\":1,\"true\":2}");
    /* A repeated key keeps the last value; JavaScript order puts index keys first. */
    check_decode("83a16101a13102a16103", "{\"1\":2,\"a\":3}");
    check_decode("83a16101a16202a16103", "{\"a\":3,\"b\":2}");
    check_decode("81a0a0", "{\"\":\"\"}");
    check_decode("81a3610062a0", "{\"a\\u0000b\":\"\"}");
    check_decode("81a2ff61a0", "{\"\357\277\275a\":\"\"}"); /* U+FFFD, a */
    /* "__proto__" sets the prototype in JavaScript: no own property. */
    check_decode("82a95f5f70726f746f5f5f81a16101a16202", "{\"b\":2}");
    check_refused_hex("819000", "map key at byte 1");
    check_refused_hex("818000", "map key at byte 1");
    check_refused_hex("81c40000", "map key at byte 1");
    check_refused_hex("81d4000000", "map key at byte 1");
    check_refused_hex("81d6ff0000000000", "map key at byte 1");
}

static void undefined_and_extensions(void **state)
{
    (void)state;
    /* notepack's old undefined: dropped from maps, null elsewhere (JSON.stringify). */
    check_decode("d40000", "null");
    check_decode("92d40000d40000", "[null,null]");
    check_decode("82a161d40000a16201", "{\"b\":1}");
    check_decode("82a16101a161d40000", "{}");
    /* Timestamps as JSON.stringify prints a Date. */
    check_decode("d6ff00000000", "\"1970-01-01T00:00:00.000Z\"");
    check_decode("d6ff5f5e1000", "\"2020-09-13T12:26:40.000Z\"");
    check_decode("d6ffffffffff", "\"2106-02-07T06:28:15.000Z\"");
    check_decode("d7ff003d090000000000", "\"1970-01-01T00:00:00.001Z\"");
    check_decode("d7ffee2e1f0000000000", "\"1970-01-01T00:00:00.999Z\"");
    check_decode("d7ffee6b27fc00000000", "\"1970-01-01T00:00:00.999Z\""); /* 999999999 ns */
    check_decode("d7ff00000003ffffffff", "\"2514-05-30T01:53:03.000Z\""); /* 2^34 - 1 s */
    check_decode("c70cff3b8b87c0ffffffffffffffff", "\"1969-12-31T23:59:59.999Z\"");
    check_decode("c70cff00000000fffffff1886e0900", "\"0001-01-01T00:00:00.000Z\"");
    check_decode("c70cff00000000fffffff1868b8400", "\"0000-01-01T00:00:00.000Z\"");
    check_decode("c70cff00000000fffffff184aa5080", "\"-000001-01-01T00:00:00.000Z\"");
    check_decode("c70cff3b8b87c00000003afff4417f", "\"9999-12-31T23:59:59.999Z\"");
    check_decode("c70cff000000000000003afff44180", "\"+010000-01-01T00:00:00.000Z\"");
    check_decode("c70cff00000000000000003b9aca00", "\"2001-09-09T01:46:40.000Z\"");
    check_decode("c70cff0000000000000001ffffffff", "\"2242-03-16T12:56:31.000Z\"");
    check_decode("c70cff00000000000007dba8218000", "\"+275760-09-13T00:00:00.000Z\"");
    check_decode("c70cff00000000000007dba8218001", "null"); /* past a valid Date */
    check_decode("c70cff00000000fffff82457de8000", "\"-271821-04-20T00:00:00.000Z\"");
    check_decode("d70000000000000003e8", "\"1970-01-01T00:00:01.000Z\""); /* notepack's old Date */
    check_decode("d700ffffffffffffffff", "\"1969-12-31T23:59:59.999Z\"");
    /* notepack's old ArrayBuffer: binary. */
    msgpack_bins_t bins = MSGPACK_BINS_INIT;
    json_t *v;
    assert_int_equal(msgpack_decode("\xc7\x02\x00\x05\x06", 5, &v, &bins, NULL, 0), 0);
    assert_int_equal(bins.count, 1);
    assert_int_equal(bins.items[0].len, 2);
    assert_memory_equal(bins.items[0].data, "\x05\x06", 2);
    json_decref(v);
    assert_int_equal(msgpack_decode("\xc8\x00\x00\x00", 4, &v, &bins, NULL, 0), 0);
    assert_int_equal(bins.count, 1);
    assert_int_equal(bins.items[0].len, 0);
    json_decref(v);
    msgpack_bins_free(&bins);

    check_refused_hex("d40100", "extension type 1");
    check_refused_hex("d5000000", "extension type 0");
    check_refused_hex("d60000000000", "extension type 0");
    check_refused_hex("d80100000000000000000000000000000000", "extension type 1");
    check_refused_hex("c70bff0000000000000000000000", "extension type -1 of 11 bytes");
    check_refused_hex("c8000cff000000000000000000000000", "extension type -1 of 12 bytes");
    check_refused_hex("c70105ff", "extension type 5");
    check_refused_hex("c900000000ff", "extension type -1 of 0 bytes");
}

static void attachments_are_numbered_as_socket_io_numbers_them(void **state)
{
    (void)state;
    /* {b: <01>, "1": <02>, "0": <03>}: JavaScript visits "0", "1", b. */
    check_decode_bins("83a162c40101a131c40102a130c40103",
                      "{\"0\":{\"_placeholder\":true,\"num\":0},"
                      "\"1\":{\"_placeholder\":true,\"num\":1},"
                      "\"b\":{\"_placeholder\":true,\"num\":2}}",
                      "\3\2\1");
    /* Binary values that leave the tree (a repeated key, "__proto__") are not attachments. */
    check_decode_bins("93c4010183a161c40102a95f5f70726f746f5f5fc40103a161c40104c40105",
                      "[{\"_placeholder\":true,\"num\":0},{\"a\":{\"_placeholder\":true,"
                      "\"num\":1}},{\"_placeholder\":true,\"num\":2}]",
                      "\1\4\5");
    /* A literal placeholder in the input stays an ordinary object. */
    check_decode_bins("9282ac5f706c616365686f6c646572c3a36e756d00c40109",
                      "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":0}]",
                      "\t");

    /* Without a bins collector binary is refused; decoding empties bins first. */
    json_t *v;
    msgpack_bins_t bins = MSGPACK_BINS_INIT;
    char err[128];
    assert_int_equal(msgpack_decode("\x91\xc4\x01\x01", 4, &v, NULL, err, sizeof err), -1);
    assert_null(v);
    assert_string_equal(err, "binary value at byte 1 where none is accepted");
    assert_int_equal(msgpack_decode("\x91\xc4\x00", 3, &v, &bins, NULL, 0), 0);
    json_decref(v);
    assert_int_equal(msgpack_decode("\x01", 1, &v, &bins, NULL, 0), 0);
    assert_int_equal(bins.count, 0);
    json_decref(v);
    msgpack_bins_free(&bins);
}

static void round_trips(void **state)
{
    (void)state;
    static const char *texts[] = {
        "null",
        "true",
        "[false]",
        "0",
        "-1",
        "1.5",
        "-0.000001",
        "1e-7",
        "1.7976931348623157e+308",
        "-1e21",
        "[18446744073709552000,-9223372036854777856]",
        "5e-324",
        "\"\"",
        "\"a\\u0000b\\n\\\"\"",
        "\"\xf0\x9f\x98\x80\xe2\x82\xac\"",
        "[1,[2,[3,[4,{\"a\":[]}]]]]",
        "{\"x\":{\"y\":{\"z\":null}},\"42\":[1.25,-7,\"s\"]}",
        "[9007199254740992,-9007199254740992,4294967296,-2147483649,18446744073709552000]",
        "{\"a\":{\"_placeholder\":true,\"num\":0}}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        json_t *v = json_parse_js(texts[i], strlen(texts[i]));
        assert_non_null(v);
        buf_t b = BUF_INIT;
        assert_int_equal(msgpack_write_json(&b, v, NULL, 0, NULL, 0), 0);
        json_t *back;
        msgpack_bins_t bins = MSGPACK_BINS_INIT;
        assert_int_equal(msgpack_decode(b.data, b.len, &back, &bins, NULL, 0), 0);
        char *t1 = text_of(v), *t2 = text_of(back);
        assert_string_equal(t1, t2);
        free(t1);
        free(t2);
        json_decref(back);
        json_decref(v);
        msgpack_bins_free(&bins);
        buf_free(&b);
    }
}

/* ---- bounds and malformed input */

static json_t *nested_arrays(int depth)
{
    json_t *v = json_integer(1);
    for (int i = 0; i < depth; i++) {
        json_t *a = json_array();
        json_array_append_new(a, v);
        v = a;
    }
    return v;
}

static void nesting_is_bounded(void **state)
{
    (void)state;
    for (int extra = 0; extra < 2; extra++) {
        int depth = MSGPACK_MAX_DEPTH + extra;
        /* Encoding: jansson frees recursively, which a 2049-deep tree allows. */
        json_t *v = nested_arrays(depth);
        buf_t b = BUF_INIT;
        char err[128] = "";
        assert_int_equal(msgpack_write_json(&b, v, NULL, 0, err, sizeof err), extra ? -1 : 0);
        if (extra) assert_non_null(strstr(err, "deeper than 2048"));
        json_decref(v);
        /* Decoding: 0x91 ... 0x01 and the same with maps {"": ...}. */
        for (int map = 0; map < 2; map++) {
            buf_reset(&b);
            for (int i = 0; i < depth; i++) {
                if (map)
                    buf_append(&b, "\x81\xa0", 2);
                else
                    buf_append_byte(&b, 0x91);
            }
            buf_append_byte(&b, 0x01);
            if (extra) {
                check_refused(b.data, b.len, "nesting deeper than 2048 levels at byte");
            } else {
                assert_int_equal(msgpack_decode(b.data, b.len, &v, NULL, NULL, 0), 0);
                json_decref(v);
            }
        }
        buf_free(&b);
    }
    /* A cycle is stopped by the same bound. */
    json_t *a = json_array(), *b2 = json_array();
    json_array_append(a, b2);
    json_array_append(b2, a);
    buf_t b = BUF_INIT;
    assert_int_equal(msgpack_write_json(&b, a, NULL, 0, NULL, 0), -1);
    json_array_clear(b2);
    json_decref(a);
    json_decref(b2);
    buf_free(&b);
}

static void malformed_input_is_refused(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        const char *message;
    } cases[] = {
        {"", "empty input"},
        {"c1", "reserved byte 0xc1 at byte 0"},
        {"92c0c1", "reserved byte 0xc1 at byte 2"},
        {"0000", "1 bytes after the value, from byte 1"},
        {"90ffff", "2 bytes after the value, from byte 1"},
        {"cc", "truncated"},
        {"cd00", "truncated"},
        {"cf00000000000000", "truncated: 8 more bytes needed at byte 1, 7 left"},
        {"cb3ff8", "truncated"},
        {"a5616263", "truncated: 5 more bytes needed at byte 1, 3 left"},
        {"d9", "truncated"},
        {"d905616263", "truncated"},
        {"dbffffffff", "truncated: 4294967295 more bytes needed at byte 5, 0 left"},
        {"c40500", "truncated"},
        {"c6ffffffff00", "truncated"},
        {"c7", "truncated"},
        {"c701", "truncated"},
        {"c70100", "truncated"},
        {"d4", "truncated"},
        {"d6ff0000", "truncated"},
        {"dc0001", "array of 1 elements at byte 0: only 0 bytes left"},
        {"ddffffffff000000", "array of 4294967295 elements at byte 0: only 3 bytes left"},
        {"df7fffffff00", "map of 2147483647 entries at byte 0: only 1 bytes left"},
        {"de000300000000", "map of 3 entries at byte 0: only 4 bytes left"},
        {"9300", "array of 3 elements"},
        {"92", "array of 2 elements"},
        {"8100", "map of 1 entries"},
        {"82a16101a162", "truncated"},
        {"9100c0", "1 bytes after the value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_refused_hex(cases[i].hex, cases[i].message);
    /* A NULL buffer of length 0, and err may be NULL. */
    json_t *v;
    assert_int_equal(msgpack_decode(NULL, 0, &v, NULL, NULL, 0), -1);
    assert_int_equal(msgpack_decode("\xc1", 1, &v, NULL, NULL, 0), -1);
    char small[8];
    assert_int_equal(msgpack_decode("\xc1", 1, &v, NULL, small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1);
}

/* A message with every form in it: each of its prefixes must be refused (never read past the
 * end: run under ASan), and so is each byte mutation that breaks it, without crashing. */
static void build_everything(buf_t *b, size_t *long_from, size_t *long_to)
{
    static const uint8_t bytes[300] = {1, 2, 3};
    char text[70000];
    memset(text, 'y', sizeof text);
    msgpack_write_map(b, 17);
    msgpack_write_str(b, "ints", 4);
    msgpack_write_array(b, 20);
    for (size_t i = 0; i < sizeof int_cases / sizeof *int_cases && i < 20; i++)
        msgpack_write_int64(b, int_cases[i].v);
    msgpack_write_str(b, "uint", 4);
    msgpack_write_uint64(b, UINT64_MAX);
    msgpack_write_str(b, "floats", 6);
    msgpack_write_array(b, 3);
    msgpack_write_double(b, 1.5);
    msgpack_write_double(b, NAN);
    buf_append(b, "\xca\x3f\xc0\x00\x00", 5); /* float 32 */
    msgpack_write_str(b, "s8", 2);
    msgpack_write_str(b, text, 40);
    msgpack_write_str(b, "s16", 3);
    msgpack_write_str(b, text, 300);
    msgpack_write_str(b, "s32", 3);
    msgpack_write_str(b, text, 66000);
    *long_to = b->len;
    *long_from = b->len - 66000;
    msgpack_write_str(b, "bin", 3);
    msgpack_write_bin(b, bytes, 3);
    msgpack_write_str(b, "bin16", 5);
    msgpack_write_bin(b, bytes, 300);
    msgpack_write_str(b, "ts", 2);
    static const char stamps[] = "\x93\xd6\xff\x00\x00\x00\x01\xd7\xff\x00\x00\x00\x04\x00\x00"
                                 "\x00\x01\xc7\x0c\xff\x00\x00\x00\x01\xff\xff\xff\xff\xff"
                                 "\xff\xff\xff";
    buf_append(b, stamps, sizeof stamps - 1);
    msgpack_write_str(b, "undef", 5);
    buf_append(b, "\xd4\x00\x00", 3);
    msgpack_write_str(b, "ab", 2);
    buf_append(b, "\xc7\x01\x00\x07", 4);
    msgpack_write_str(b, "arr16", 5);
    msgpack_write_array(b, 16);
    for (int i = 0; i < 16; i++)
        msgpack_write_nil(b);
    msgpack_write_str(b, "map16", 5);
    msgpack_write_map(b, 16);
    for (int i = 0; i < 16; i++) {
        char k[4] = {'k', (char)('a' + i), 0, 0};
        msgpack_write_str(b, k, 2);
        msgpack_write_bool(b, i & 1);
    }
    msgpack_write_int64(b, 7); /* a number key */
    msgpack_write_nil(b);
    msgpack_write_nil(b); /* a nil key */
    msgpack_write_bool(b, 1);
    msgpack_write_str(b, "deep", 4);
    for (int i = 0; i < 20; i++)
        msgpack_write_array(b, 1);
    msgpack_write_map(b, 0);
    msgpack_write_str(b, "last", 4);
    msgpack_write_str(b, "\xc3\xa9", 2);
}

static void every_truncation_and_mutation_is_safe(void **state)
{
    (void)state;
    buf_t msg = BUF_INIT;
    size_t long_from, long_to; /* inside the str 32: only some offsets, for time */
    build_everything(&msg, &long_from, &long_to);
    json_t *v;
    msgpack_bins_t bins = MSGPACK_BINS_INIT;
    char err[256];
    if (msgpack_decode(msg.data, msg.len, &v, &bins, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(bins.count, 3);
    json_decref(v);
    /* Each prefix in its own allocation, so ASan sees any read past its end. */
    for (size_t n = 0; n<msg.len; n += n> long_from + 8 && n < long_to - 8 ? 997 : 1) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, msg.data, n);
        err[0] = '\0';
        v = (json_t *)1;
        if (msgpack_decode(copy, n, &v, &bins, err, sizeof err) != -1)
            fail_msg("prefix of %zu bytes decoded", n);
        assert_null(v);
        assert_int_equal(bins.count, 0);
        assert_true(err[0] != '\0');
        free(copy);
    }
    /* Mutations: every byte (of a short message) set to each of a few telling values. */
    buf_t small = BUF_INIT;
    from_hex("93a7656d697474657283a47479706502a46461746192a362696ec403010203a36e7370a12f83a5726f"
             "6f6d7390a5666c61677381a8766f6c6174696c65c3a665786365707491a6757365723a31d6ff0000000"
             "0cb3ff8000000000000",
             &small);
    small.data[0] = (char)0x95;
    assert_int_equal(msgpack_decode(small.data, small.len, &v, &bins, err, sizeof err), 0);
    json_decref(v);
    static const uint8_t values[] = {0x00, 0x7f, 0x80, 0x8f, 0x9f, 0xbf, 0xc1, 0xc4,
                                     0xc7, 0xd4, 0xd7, 0xdb, 0xdd, 0xdf, 0xe0, 0xff};
    for (size_t i = 0; i < small.len; i++) {
        for (size_t k = 0; k < sizeof values; k++) {
            uint8_t *copy = malloc(small.len);
            memcpy(copy, small.data, small.len);
            copy[i] = values[k];
            err[0] = '\0';
            if (msgpack_decode(copy, small.len, &v, &bins, err, sizeof err) == 0)
                json_decref(v);
            else
                assert_true(err[0] != '\0');
            free(copy);
        }
    }
    msgpack_bins_free(&bins);
    buf_free(&small);
    buf_free(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers_take_the_smallest_form),
        cmocka_unit_test(decoded_integers_are_json_integers_within_2_pow_53),
        cmocka_unit_test(doubles_are_javascript_numbers),
        cmocka_unit_test(length_boundaries),
        cmocka_unit_test(scalars_and_strings),
        cmocka_unit_test(json_values_as_notepack_writes_json_parse_results),
        cmocka_unit_test(encode_reference_vectors),
        cmocka_unit_test(placeholders_become_attachments),
        cmocka_unit_test(map_keys_become_javascript_property_keys),
        cmocka_unit_test(undefined_and_extensions),
        cmocka_unit_test(attachments_are_numbered_as_socket_io_numbers_them),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(nesting_is_bounded),
        cmocka_unit_test(malformed_input_is_refused),
        cmocka_unit_test(every_truncation_and_mutation_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
