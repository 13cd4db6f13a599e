/* test_keycount.c - counters by key: counts per key, entries that live only while counted,
 * long keys cut at KEYCOUNT_KEY_MAX, and many keys (the map grows and shrinks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/keycount.h"

#define KEY(s) s, strlen(s)

static void counts_per_key(void **state)
{
    (void)state;
    keycount_t t;
    keycount_init(&t);
    assert_int_equal(keycount_get(&t, KEY("10.0.0.1")), 0);
    keycount_entry_t *a1 = keycount_add(&t, KEY("10.0.0.1"));
    keycount_entry_t *a2 = keycount_add(&t, KEY("10.0.0.1"));
    keycount_entry_t *b = keycount_add(&t, KEY("10.0.0.2"));
    assert_ptr_equal(a1, a2); /* one entry per key */
    assert_int_equal(keycount_get(&t, KEY("10.0.0.1")), 2);
    assert_int_equal(keycount_get(&t, KEY("10.0.0.2")), 1);
    assert_int_equal(keycount_get(&t, KEY("10.0.0.")), 0); /* a prefix is another key */
    assert_int_equal(keycount_keys(&t), 2);
    keycount_release(&t, b);
    assert_int_equal(keycount_get(&t, KEY("10.0.0.2")), 0);
    assert_int_equal(keycount_keys(&t), 1); /* freed at zero (ASan checks the rest) */
    keycount_release(&t, a1);
    assert_int_equal(keycount_get(&t, KEY("10.0.0.1")), 1);
    keycount_free(&t); /* frees the entry still counted */
}

static void long_keys_are_cut(void **state)
{
    (void)state;
    keycount_t t;
    keycount_init(&t);
    char a[100], b[100];
    memset(a, 'x', sizeof(a));
    memcpy(b, a, sizeof(b));
    b[99] = 'y'; /* differs only past KEYCOUNT_KEY_MAX */
    keycount_entry_t *e = keycount_add(&t, a, sizeof(a));
    assert_int_equal(keycount_get(&t, b, sizeof(b)), 1);
    keycount_release(&t, e);
    assert_int_equal(keycount_keys(&t), 0);
    keycount_free(&t);
}

static void many_keys(void **state)
{
    (void)state;
    keycount_t t;
    keycount_init(&t);
    enum { N = 5000 };
    static keycount_entry_t *held[N];
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        held[i] = keycount_add(&t, KEY(key));
    }
    assert_int_equal(keycount_keys(&t), N);
    for (int i = 0; i < N; i += 2)
        keycount_release(&t, held[i]);
    assert_int_equal(keycount_keys(&t), N / 2);
    for (int i = 1; i < N; i += 2) {
        snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        assert_int_equal(keycount_get(&t, KEY(key)), 1);
        keycount_release(&t, held[i]);
    }
    assert_int_equal(keycount_keys(&t), 0);
    keycount_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_per_key),
        cmocka_unit_test(long_keys_are_cut),
        cmocka_unit_test(many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
