/* test_timerheap.c - the deadline heap: order, updates in both directions, removal
 * from anywhere, and random operations checked against a plain scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "base/timerheap.h"

#define N 2000

static timerheap_node_t *scan_min(timerheap_node_t *nodes, size_t n)
{
    timerheap_node_t *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (nodes[i].index != TIMERHEAP_NONE && (!best || nodes[i].deadline < best->deadline))
            best = &nodes[i];
    return best;
}

static void pops_in_deadline_order(void **state)
{
    (void)state;
    timerheap_t h;
    timerheap_init(&h);
    timerheap_node_t nodes[8];
    const uint64_t deadlines[8] = {50, 10, 40, 10, 90, 0, 70, 30};
    for (int i = 0; i < 8; i++) {
        timerheap_node_init(&nodes[i]);
        timerheap_set(&h, &nodes[i], deadlines[i]);
    }
    uint64_t last = 0;
    for (int i = 0; i < 8; i++) {
        timerheap_node_t *top = timerheap_top(&h);
        assert_true(top->deadline >= last);
        last = top->deadline;
        timerheap_remove(&h, top);
        assert_int_equal(top->index, TIMERHEAP_NONE);
    }
    assert_null(timerheap_top(&h));
    assert_null(h.items);            /* an emptied heap frees its array */
    timerheap_remove(&h, &nodes[0]); /* removing a node not in the heap is a no-op */
}

static void random_operations_match_a_scan(void **state)
{
    (void)state;
    timerheap_t h;
    timerheap_init(&h);
    static timerheap_node_t nodes[N];
    for (size_t i = 0; i < N; i++)
        timerheap_node_init(&nodes[i]);
    srand(12345);
    for (int op = 0; op < 50000; op++) {
        timerheap_node_t *n = &nodes[(size_t)rand() % N];
        int what = rand() % 4;
        if (what < 2)
            timerheap_set(&h, n, (uint64_t)(rand() % 100000)); /* insert or move either way */
        else if (what == 2)
            timerheap_remove(&h, n);
        else if (timerheap_top(&h))
            timerheap_remove(&h, timerheap_top(&h));
        timerheap_node_t *top = timerheap_top(&h), *expect = scan_min(nodes, N);
        if (!expect) {
            assert_null(top);
        } else {
            assert_non_null(top);
            assert_true(top->deadline == expect->deadline);
        }
        for (size_t i = 0; i < h.len; i++)
            assert_int_equal(h.items[i]->index, i);
    }
    timerheap_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pops_in_deadline_order),
        cmocka_unit_test(random_operations_match_a_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
