/* test_objmap.c - the set of self-keyed objects: lookups, duplicates, byte keys, growth and
 * shrinking, removal in any order, iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/objmap.h"

typedef struct thing {
    _Alignas(max_align_t) size_t len; /* objects are aligned as malloc aligns them */
    char key[24];
    int seen;
} thing_t;

static const char *thing_key(const void *obj, size_t *len)
{
    const thing_t *t = obj;
    *len = t->len;
    return t->key;
}

static thing_t *thing_new(const char *key, size_t len)
{
    thing_t *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    assert_true(len <= sizeof(t->key));
    memcpy(t->key, key, len);
    t->len = len;
    return t;
}

static void add_get_remove(void **state)
{
    (void)state;
    objmap_t m;
    objmap_init(&m, thing_key);
    assert_null(objmap_get(&m, "a", 1));
    assert_null(objmap_remove(&m, "a", 1));
    thing_t *a = thing_new("alpha", 5), *b = thing_new("beta", 4);
    assert_null(objmap_add(&m, a));
    assert_null(objmap_add(&m, b));
    assert_int_equal(objmap_count(&m), 2);
    assert_ptr_equal(objmap_get(&m, "alpha", 5), a);
    assert_ptr_equal(objmap_get(&m, "beta", 4), b);
    assert_null(objmap_get(&m, "alph", 4));
    assert_null(objmap_get(&m, "alphaa", 6));
    assert_null(objmap_get(&m, "", 0));

    /* A second object under a key present stays out; the first is returned. */
    thing_t *a2 = thing_new("alpha", 5);
    assert_ptr_equal(objmap_add(&m, a2), a);
    assert_int_equal(objmap_count(&m), 2);
    assert_ptr_equal(objmap_get(&m, "alpha", 5), a);

    assert_ptr_equal(objmap_remove(&m, "alpha", 5), a);
    assert_null(objmap_remove(&m, "alpha", 5));
    assert_null(objmap_get(&m, "alpha", 5));
    assert_ptr_equal(objmap_get(&m, "beta", 4), b);
    assert_ptr_equal(objmap_remove(&m, "beta", 4), b);
    assert_int_equal(objmap_count(&m), 0);
    assert_null(m.slots); /* an emptied map holds no memory */
    objmap_free(&m);
    free(a);
    free(a2);
    free(b);
}

static void keys_are_bytes(void **state)
{
    (void)state;
    objmap_t m;
    objmap_init(&m, thing_key);
    thing_t *x = thing_new("a\0b", 3), *y = thing_new("a\0c", 3), *z = thing_new("a", 1);
    thing_t *e = thing_new("", 0);
    assert_null(objmap_add(&m, x));
    assert_null(objmap_add(&m, y));
    assert_null(objmap_add(&m, z));
    assert_null(objmap_add(&m, e));
    assert_ptr_equal(objmap_get(&m, "a\0b", 3), x);
    assert_ptr_equal(objmap_get(&m, "a\0c", 3), y);
    assert_ptr_equal(objmap_get(&m, "a", 1), z);
    assert_ptr_equal(objmap_get(&m, "", 0), e);
    assert_null(objmap_get(&m, "a\0", 2));
    objmap_free(&m);
    free(x);
    free(y);
    free(z);
    free(e);
}

/* Every object reachable from its home slot without crossing an empty slot. */
static void check_invariants(const objmap_t *m, thing_t *all, const char *in, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        thing_t *got = objmap_get(m, all[i].key, all[i].len);
        if (in[i]) {
            assert_ptr_equal(got, &all[i]);
            count++;
        } else {
            assert_null(got);
        }
    }
    assert_int_equal(objmap_count(m), count);
    if (m->cap) assert_true(m->count * 4 <= m->cap * 3);
}

static void growth_churn_and_shrink(void **state)
{
    (void)state;
    enum { N = 5000 };
    thing_t *all = aligned_alloc(16, N * sizeof(thing_t));
    char *in = calloc(N, 1);
    assert_non_null(all);
    assert_non_null(in);
    memset(all, 0, N * sizeof(thing_t));
    for (size_t i = 0; i < N; i++)
        all[i].len = (size_t)snprintf(all[i].key, sizeof(all[i].key), "key-%zu", i);
    objmap_t m;
    objmap_init(&m, thing_key);
    for (size_t i = 0; i < N; i++) {
        assert_null(objmap_add(&m, &all[i]));
        in[i] = 1;
    }
    size_t grown = m.cap;
    check_invariants(&m, all, in, N);
    uint64_t x = 88172645463325252ULL;
    for (int round = 0; round < 40000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t i = (size_t)(x % N);
        if (in[i]) {
            assert_ptr_equal(objmap_remove(&m, all[i].key, all[i].len), &all[i]);
            in[i] = 0;
        } else {
            assert_null(objmap_add(&m, &all[i]));
            in[i] = 1;
        }
        if (round % 5000 == 0) check_invariants(&m, all, in, N);
    }
    check_invariants(&m, all, in, N);
    /* Iteration sees every object once. */
    size_t pos = 0, seen = 0;
    thing_t *t;
    while ((t = objmap_next(&m, &pos))) {
        assert_int_equal(t->seen, 0);
        t->seen = 1;
        seen++;
    }
    assert_int_equal(seen, objmap_count(&m));
    /* Removing most of them shrinks the table. */
    for (size_t i = 0; i < N; i++)
        if (in[i] && i % 50) {
            objmap_remove(&m, all[i].key, all[i].len);
            in[i] = 0;
        }
    check_invariants(&m, all, in, N);
    assert_true(m.cap < grown);
    objmap_free(&m);
    free(all);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_get_remove),
        cmocka_unit_test(keys_are_bytes),
        cmocka_unit_test(growth_churn_and_shrink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
