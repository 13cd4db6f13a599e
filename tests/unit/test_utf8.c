/* test_utf8.c - strict UTF-8 validation, whole and streaming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/utf8.h"

typedef struct sample {
    const char *bytes;
    size_t len;
} sample_t;

#define S(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

static const sample_t valid_samples[] = {
    S(""),
    S("hello, world"),
    S("\x00"),                                         /* NUL is a code point */
    S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), /* "kosme" in Greek */
    S("\xc2\x80"),                                     /* U+0080, first 2-byte */
    S("\xdf\xbf"),                                     /* U+07FF, last 2-byte */
    S("\xe0\xa0\x80"),                                 /* U+0800, first 3-byte */
    S("\xed\x9f\xbf"),                                 /* U+D7FF, just below the surrogates */
    S("\xee\x80\x80"),                                 /* U+E000, just above them */
    S("\xef\xbf\xbd"),                                 /* U+FFFD */
    S("\xef\xbf\xbf"),                                 /* U+FFFF (a noncharacter, still valid) */
    S("\xf0\x90\x80\x80"),                             /* U+10000, first 4-byte */
    S("\xf4\x8f\xbf\xbf"),                             /* U+10FFFF, the last code point */
    S("abcdefgh\xc3\xa9ijklmnopqrstuvwxyz\xf0\x9f\x98\x80 ok"), /* ASCII fast path + others */
};

static const sample_t invalid_samples[] = {
    S("\x80"), /* lone continuation */
    S("\xbf"),
    S("\xc0\xaf"),                 /* overlong '/' */
    S("\xc1\xbf"),                 /* overlong U+007F */
    S("\xe0\x80\xaf"),             /* overlong 3-byte */
    S("\xe0\x9f\xbf"),             /* overlong U+07FF */
    S("\xf0\x80\x80\xaf"),         /* overlong 4-byte */
    S("\xf0\x8f\xbf\xbf"),         /* overlong U+FFFF */
    S("\xed\xa0\x80"),             /* U+D800 */
    S("\xed\xbf\xbf"),             /* U+DFFF */
    S("\xed\xa0\x80\xed\xb0\x80"), /* surrogate pair encoded as CESU-8 */
    S("\xf4\x90\x80\x80"),         /* U+110000 */
    S("\xf5\x80\x80\x80"),         /* lead byte beyond the range */
    S("\xf8\x88\x80\x80\x80"),     /* old 5-byte form */
    S("\xfe"),
    S("\xff"),
    S("\xc2"), /* truncated at the end */
    S("\xe0\xa0"),
    S("\xf0\x90\x80"),
    S("\xc2\x41"), /* lead byte followed by ASCII */
    S("\xe1\x80\x41"),
    S("abcdefghijklmnop\x80qrstuvwxyz"), /* bad byte after the fast path */
    S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"),
};

static void valid_samples_pass(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_samples) / sizeof(valid_samples[0]); i++)
        assert_true(utf8_valid(valid_samples[i].bytes, valid_samples[i].len));
}

static void invalid_samples_fail(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid_samples) / sizeof(invalid_samples[0]); i++)
        assert_false(utf8_valid(invalid_samples[i].bytes, invalid_samples[i].len));
}

/* Feeding in any split must give the same verdict as checking the whole. */
static int stream_verdict(const char *s, size_t len, size_t cut1, size_t cut2)
{
    utf8_stream_t st;
    utf8_stream_init(&st);
    int ok = utf8_stream_feed(&st, s, cut1) == 0;
    ok = (utf8_stream_feed(&st, s + cut1, cut2 - cut1) == 0) && ok;
    ok = (utf8_stream_feed(&st, s + cut2, len - cut2) == 0) && ok;
    return ok && utf8_stream_finish(&st) == 0;
}

static void check_all_splits(const sample_t *set, size_t n, int expect)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = set[i].len;
        for (size_t a = 0; a <= len; a++)
            for (size_t b = a; b <= len; b++)
                assert_int_equal(stream_verdict(set[i].bytes, len, a, b), expect);
        utf8_stream_t st;
        utf8_stream_init(&st);
        int ok = 1;
        for (size_t k = 0; k < len; k++)
            ok = (utf8_stream_feed(&st, set[i].bytes + k, 1) == 0) && ok;
        assert_int_equal(ok && utf8_stream_finish(&st) == 0, expect);
    }
}

static void streaming_matches_whole_in_every_split(void **state)
{
    (void)state;
    check_all_splits(valid_samples, sizeof(valid_samples) / sizeof(valid_samples[0]), 1);
    check_all_splits(invalid_samples, sizeof(invalid_samples) / sizeof(invalid_samples[0]), 0);
}

static void stream_fails_fast_and_stays_failed(void **state)
{
    (void)state;
    utf8_stream_t st;
    utf8_stream_init(&st);
    assert_int_equal(utf8_stream_feed(&st, "\xce\xba", 2), 0);
    assert_int_equal(utf8_stream_feed(&st, "\xed", 1), 0);  /* could still become U+D7FF */
    assert_int_equal(utf8_stream_finish(&st), -1);          /* but not if it ends here */
    assert_int_equal(utf8_stream_feed(&st, "\xa0", 1), -1); /* a surrogate: fail now */
    assert_int_equal(utf8_stream_feed(&st, "ok", 2), -1);   /* sticky */
    assert_int_equal(utf8_stream_finish(&st), -1);
    utf8_stream_init(&st);
    assert_int_equal(utf8_stream_feed(&st, "ok", 2), 0);
    assert_int_equal(utf8_stream_finish(&st), 0);
    assert_int_equal(utf8_stream_feed(&st, NULL, 0), 0);
}

/* Reference decoder, written for clarity rather than speed: decodes one sequence by its bit
   pattern and checks minimal length, surrogates and range. */
static int reference_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (i + n > len) return 0;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += n;
    }
    return 1;
}

static void agrees_with_reference_on_all_short_sequences(void **state)
{
    (void)state;
    uint8_t s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        assert_int_equal(utf8_valid((char *)s, 1), reference_valid(s, 1));
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            assert_int_equal(utf8_valid((char *)s, 2), reference_valid(s, 2));
            if (a < 0xc0)
                continue; /* 3-byte strings starting with ASCII/continuation are
                             covered by the shorter cases */
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                assert_int_equal(utf8_valid((char *)s, 3), reference_valid(s, 3));
                if (a < 0xf0 || a > 0xf7) continue;
                /* Four-byte leads: vary the last byte across its interesting values. */
                static const uint8_t last[] = {0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xff};
                for (size_t k = 0; k < sizeof(last); k++) {
                    s[3] = last[k];
                    assert_int_equal(utf8_valid((char *)s, 4), reference_valid(s, 4));
                }
            }
        }
    }
}

static size_t encode(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

static void every_code_point_but_surrogates_is_valid(void **state)
{
    (void)state;
    uint8_t s[4];
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        size_t n = encode(cp, s);
        int surrogate = cp >= 0xd800 && cp <= 0xdfff;
        assert_int_equal(utf8_valid((char *)s, n), !surrogate);
        if (n > 1) assert_false(utf8_valid((char *)s, n - 1)); /* truncated */
    }
    encode(0x110000, s);
    assert_false(utf8_valid((char *)s, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_samples_pass),
        cmocka_unit_test(invalid_samples_fail),
        cmocka_unit_test(streaming_matches_whole_in_every_split),
        cmocka_unit_test(stream_fails_fast_and_stays_failed),
        cmocka_unit_test(agrees_with_reference_on_all_short_sequences),
        cmocka_unit_test(every_code_point_but_surrogates_is_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
