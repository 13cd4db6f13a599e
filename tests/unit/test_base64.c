/* test_base64.c - strict standard base64, and base64url. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/base64.h"

/* RFC 4648 section 10 vectors. */
static const char *const vectors[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void encodes_rfc_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        buf_t b = BUF_INIT;
        buf_append_str(&b, "x");
        base64_encode_append(&b, vectors[i][0], strlen(vectors[i][0]));
        assert_int_equal(b.len, 1 + base64_encoded_len(strlen(vectors[i][0])));
        assert_int_equal(b.data[b.len], '\0');
        assert_string_equal(b.data + 1, vectors[i][1]);
        buf_free(&b);
    }
}

static void decodes_rfc_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        buf_t b = BUF_INIT;
        assert_int_equal(base64_validate(vectors[i][1], strlen(vectors[i][1])), 0);
        assert_int_equal(base64_decode_append(&b, vectors[i][1], strlen(vectors[i][1])), 0);
        assert_int_equal(b.len, strlen(vectors[i][0]));
        assert_memory_equal(b.data, vectors[i][0], b.len);
        assert_int_equal(b.data[b.len], '\0');
        buf_free(&b);
    }
}

static void round_trips_all_bytes(void **state)
{
    (void)state;
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    for (size_t n = 0; n <= sizeof all; n += 37) {
        buf_t enc = BUF_INIT, dec = BUF_INIT;
        base64_encode_append(&enc, all + (256 - n), n);
        assert_int_equal(base64_decode_append(&dec, enc.data, enc.len), 0);
        assert_int_equal(dec.len, n);
        if (n) assert_memory_equal(dec.data, all + (256 - n), n);
        buf_free(&enc);
        buf_free(&dec);
    }
    buf_t enc = BUF_INIT, dec = BUF_INIT;
    base64_encode_append(&enc, "\x01\x02\x03\x04", 4);
    assert_string_equal(enc.data, "AQIDBA==");
    base64_encode_append(&enc, "\xfb\xff", 2); /* exercises '+' and '/' */
    assert_string_equal(enc.data, "AQIDBA==+/8=");
    assert_int_equal(base64_decode_append(&dec, "+/8=", 4), 0);
    assert_memory_equal(dec.data, "\xfb\xff", 2);
    buf_free(&enc);
    buf_free(&dec);
}

static void rejects_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg",       /* unpadded */
        "Zg=",      /* short */
        "Zm9vY",    /* length not a multiple of 4 */
        "Zm9v====", /* all padding */
        "Z===",     /* too much padding */
        "Zg==Zg==", /* padding in the middle */
        "Z=g=",     /* padding then data */
        "Zh==",     /* non-zero unused bits */
        "Zm9=",     /* non-zero unused bits */
        "Zm9v\n",   /* whitespace */
        "Zm 9",     /* space */
        "Zm-_",     /* base64url alphabet */
        "Zm9\x80",  /* non-ASCII */
        "=Zm9",     /* leading padding */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_t b = BUF_INIT;
        buf_append_str(&b, "keep");
        assert_int_equal(base64_validate(bad[i], strlen(bad[i])), BASE64_EINVAL);
        assert_int_equal(base64_decode_append(&b, bad[i], strlen(bad[i])), BASE64_EINVAL);
        assert_int_equal(b.len, 4);
        assert_string_equal(b.data, "keep");
        buf_free(&b);
    }
    /* A NUL inside the input is a bad character, not an end. */
    assert_int_equal(base64_validate("Zm\0v", 4), BASE64_EINVAL);
}

static void encodes_into_a_char_buffer(void **state)
{
    (void)state;
    char out[9];
    memset(out, 'x', sizeof(out));
    base64_encode(out, "fooba", 5);
    assert_string_equal(out, "Zm9vYmE=");
    base64_encode(out, "", 0);
    assert_string_equal(out, "");
}

/* Unpadded base64url (RFC 7515 section 2): what JWT segments use. */
static void base64url_decodes_strictly(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        size_t out_len;
    } ok[] = {
        {"", "", 0},     {"Zg", "f", 1},    {"Zm8", "fo", 2},     {"Zm9v", "foo", 3},
        {"Zm9vYg", "foob", 4}, {"-_8", "\xfb\xff", 2}, {"AAA", "\0\0", 2},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        buf_t b = BUF_INIT;
        assert_int_equal(base64url_decode_append(&b, ok[i].in, strlen(ok[i].in)), 0);
        assert_int_equal(b.len, ok[i].out_len);
        assert_memory_equal(b.data, ok[i].out, ok[i].out_len);
        buf_free(&b);
    }
    static const char *const bad[] = {
        "Z",     /* one character cannot hold a byte */
        "Zm9vY", /* nor can a group of one */
        "Zh",    /* trailing bits not zero: not the canonical encoding of "f" */
        "Zm9=",  /* no padding in base64url */
        "Zm9v+", "Zm/v", /* the standard alphabet's characters */
        "Zm 9v", "Zm9v\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_t b = BUF_INIT;
        buf_append_str(&b, "keep");
        if (base64url_decode_append(&b, bad[i], strlen(bad[i])) != BASE64_EINVAL)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_string_equal(b.data, "keep");
        buf_free(&b);
    }
    assert_true(base64url_is_char('-') && base64url_is_char('_') && base64url_is_char('z'));
    assert_false(base64url_is_char('+') || base64url_is_char('/') || base64url_is_char('='));
}

/* Unpadded base64url encoding, the RFC vectors without '=' and every byte back through the
 * strict decoder. */
static void base64url_encodes_unpadded(void **state)
{
    (void)state;
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        buf_t b = BUF_INIT;
        base64url_encode_append(&b, vectors[i][0], strlen(vectors[i][0]));
        assert_string_equal(b.data ? b.data : "", url[i]);
        buf_free(&b);
    }
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)(255 - i);
    for (size_t n = 0; n <= sizeof all; n += 31) {
        buf_t enc = BUF_INIT, dec = BUF_INIT;
        base64url_encode_append(&enc, all, n);
        assert_null(strpbrk(enc.data ? enc.data : "", "+/="));
        assert_int_equal(base64url_decode_append(&dec, enc.data ? enc.data : "", enc.len), 0);
        assert_int_equal(dec.len, n);
        if (n) assert_memory_equal(dec.data, all, n);
        buf_free(&enc);
        buf_free(&dec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encodes_rfc_vectors),        cmocka_unit_test(decodes_rfc_vectors),
        cmocka_unit_test(round_trips_all_bytes),      cmocka_unit_test(rejects_malformed),
        cmocka_unit_test(encodes_into_a_char_buffer), cmocka_unit_test(base64url_decodes_strictly),
        cmocka_unit_test(base64url_encodes_unpadded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
