/* test_random.c - CSPRNG bytes and URL-safe identifiers: lengths, terminator, alphabet,
 * uniqueness and coverage of all 64 characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/random.h"

static const char url_safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int char_index(char c)
{
    const char *p = c ? strchr(url_safe, c) : NULL;
    return p ? (int)(p - url_safe) : -1;
}

static void ids_have_requested_length(void **state)
{
    (void)state;
    /* Lengths around the generator's 64-byte chunk size, and long ones. */
    static const size_t lens[] = {1, 2, 5, 20, 63, 64, 65, 127, 128, 129, 1000, 4097};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i];
        /* Exactly len + 1 bytes: AddressSanitizer reports any write past the NUL. */
        char *id = malloc(len + 1);
        assert_non_null(id);
        memset(id, '\0', len + 1); /* a short write would leave an early NUL */
        id[len] = 'X';             /* the terminator must be written */
        random_id(id, len);
        assert_int_equal(id[len], '\0');
        assert_int_equal(strlen(id), len);
        for (size_t j = 0; j < len; j++)
            if (char_index(id[j]) < 0) fail_msg("byte 0x%02x in an id", (unsigned char)id[j]);
        free(id);
    }
}

static void zero_length_id_is_empty_string(void **state)
{
    (void)state;
    char *id = malloc(1);
    assert_non_null(id);
    id[0] = 'X';
    random_id(id, 0);
    assert_int_equal(id[0], '\0');
    free(id);
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 21);
}

static void ids_are_unique_and_cover_the_alphabet(void **state)
{
    (void)state;
    enum { N = 100000, LEN = 20 };
    char *ids = malloc((size_t)N * (LEN + 1));
    assert_non_null(ids);
    size_t total[64] = {0};
    size_t(*per_pos)[64] = calloc(LEN, sizeof(*per_pos));
    assert_non_null(per_pos);
    for (size_t i = 0; i < N; i++) {
        char *id = ids + i * (LEN + 1);
        random_id(id, LEN);
        assert_int_equal(id[LEN], '\0');
        for (int j = 0; j < LEN; j++) {
            int k = char_index(id[j]);
            if (k < 0) fail_msg("byte 0x%02x in an id", (unsigned char)id[j]);
            total[k]++;
            per_pos[j][k]++;
        }
    }
    /* No duplicates: sort and compare neighbours. */
    qsort(ids, N, LEN + 1, cmp_id);
    for (size_t i = 1; i < N; i++)
        if (memcmp(ids + (i - 1) * (LEN + 1), ids + i * (LEN + 1), LEN + 1) == 0)
            fail_msg("duplicate id %s", ids + i * (LEN + 1));
    free(ids);

    /* Each of the 64 characters appears, about equally often (2,000,000 characters: 31,250
     * expected each, standard deviation about 175, so +-3,000 never fails by chance), and at
     * every position (1,562 expected, deviation about 39). */
    for (int k = 0; k < 64; k++) {
        if (total[k] < 28250 || total[k] > 34250)
            fail_msg("'%c' appeared %zu times", url_safe[k], total[k]);
        for (int j = 0; j < LEN; j++)
            if (per_pos[j][k] < 1000 || per_pos[j][k] > 2150)
                fail_msg("'%c' at position %d: %zu times", url_safe[k], j, per_pos[j][k]);
    }
    free(per_pos);
}

static void random_bytes_fill_the_buffer(void **state)
{
    (void)state;
    random_bytes(NULL, 0); /* nothing to fill */
    unsigned char a[32], b[32], zero[32] = {0};
    random_bytes(a, sizeof a);
    random_bytes(b, sizeof b);
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, sizeof a);

    /* A large request is filled completely: about half of its bits are set, and its last
     * bytes are not left untouched. 8 Mi bits: deviation about 1,450, bound +-40,000. */
    size_t n = 1 << 20;
    unsigned char *big = calloc(n, 1);
    assert_non_null(big);
    random_bytes(big, n);
    size_t ones = 0;
    for (size_t i = 0; i < n; i++)
        ones += (size_t)__builtin_popcount(big[i]);
    assert_true(ones > 4 * n - 40000 && ones < 4 * n + 40000);
    assert_memory_not_equal(big + n - 32, zero, 32);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids_have_requested_length),
        cmocka_unit_test(zero_length_id_is_empty_string),
        cmocka_unit_test(ids_are_unique_and_cover_the_alphabet),
        cmocka_unit_test(random_bytes_fill_the_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
