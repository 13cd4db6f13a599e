/* test_membudget.c - the budget of bytes held for clients: charging up to the limit and not
 * past it, charges that must stand, release, the fair share, one episode per crossing (a new
 * one only after falling under half the limit), and reclaimers asked on every shed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/log.h"
#include "base/membudget.h"

static void try_charge_stops_at_the_limit(void **state)
{
    (void)state;
    membudget_t b;
    membudget_init(&b, 1000);
    assert_int_equal(membudget_try_charge(&b, 600), 0);
    assert_int_equal(membudget_try_charge(&b, 400), 0); /* exactly at the limit is fine */
    assert_int_equal(b.used, 1000);
    assert_int_equal(membudget_try_charge(&b, 1), -1); /* refused: nothing charged */
    assert_int_equal(b.used, 1000);
    assert_false(membudget_over(&b));
    membudget_release(&b, 500);
    assert_int_equal(membudget_try_charge(&b, (size_t)-1), -1); /* no overflow */
    assert_int_equal(membudget_try_charge(&b, 500), 0);
    assert_int_equal(b.peak, 1000);
}

static void charge_stands_past_the_limit(void **state)
{
    (void)state;
    membudget_t b;
    membudget_init(&b, 100);
    assert_int_equal(membudget_charge(&b, 100), 0);
    assert_int_equal(membudget_charge(&b, 1), 1);
    assert_true(membudget_over(&b));
    assert_int_equal(membudget_try_charge(&b, 0), -1); /* over already: even 0 is refused */
    membudget_release(&b, 1);
    assert_false(membudget_over(&b));
    membudget_release(&b, 500); /* more than charged: clamps at zero */
    assert_int_equal(b.used, 0);
    assert_int_equal(b.peak, 101);
}

static void no_limit_never_refuses(void **state)
{
    (void)state;
    membudget_t b;
    membudget_init(&b, 0);
    assert_int_equal(membudget_try_charge(&b, (size_t)1 << 40), 0);
    assert_int_equal(membudget_charge(&b, 1), 0);
    assert_false(membudget_over(&b));
    assert_int_equal(membudget_fair_share(&b, 10), SIZE_MAX);
}

static int reclaimed[2];

static void reclaim(void *user)
{
    reclaimed[(int *)user - reclaimed]++;
}

static void reclaimers_are_asked_on_every_shed(void **state)
{
    (void)state;
    membudget_t b;
    membudget_init(&b, 100);
    assert_int_equal(membudget_add_reclaimer(&b, reclaim, &reclaimed[0]), 0);
    assert_int_equal(membudget_add_reclaimer(&b, reclaim, &reclaimed[1]), 0);
    membudget_shed(&b, "test");
    membudget_shed(&b, "test");
    assert_int_equal(reclaimed[0], 2);
    assert_int_equal(reclaimed[1], 2);
    membudget_remove_reclaimer(&b, &reclaimed[0]);
    membudget_shed(&b, "test");
    assert_int_equal(reclaimed[0], 2);
    assert_int_equal(reclaimed[1], 3);
    for (int i = 1; i < MEMBUDGET_RECLAIMERS; i++)
        assert_int_equal(membudget_add_reclaimer(&b, reclaim, &reclaimed[0]), 0);
    assert_int_equal(membudget_add_reclaimer(&b, reclaim, &reclaimed[0]), -1); /* full */
}

static void pressure_starts_at_90_percent(void **state)
{
    (void)state;
    membudget_t b;
    membudget_init(&b, 1000);
    membudget_charge(&b, 899);
    assert_false(membudget_pressed(&b));
    membudget_charge(&b, 1);
    assert_true(membudget_pressed(&b));
    membudget_init(&b, 0);
    membudget_charge(&b, 1000);
    assert_false(membudget_pressed(&b)); /* no limit, no pressure */
}

static void fair_share_divides_the_limit(void **state)
{
    (void)state;
    membudget_t b;
    membudget_init(&b, 1000);
    assert_int_equal(membudget_fair_share(&b, 10), 100);
    assert_int_equal(membudget_fair_share(&b, 0), 1000);
}

static void one_episode_per_crossing(void **state)
{
    (void)state;
    membudget_t b;
    membudget_init(&b, 1000);
    membudget_charge(&b, 1200);
    membudget_shed(&b, "test");
    membudget_shed(&b, "test");
    assert_int_equal(b.shed, 2);
    assert_int_equal(b.episodes, 1);
    membudget_release(&b, 650); /* 550: under the limit and under 90 %, not under half */
    membudget_charge(&b, 100);
    membudget_shed(&b, "test");
    assert_int_equal(b.episodes, 1);
    membudget_release(&b, 200); /* 450: the episode ends */
    assert_int_equal(b.in_episode, 0);
    membudget_charge(&b, 700);
    membudget_shed(&b, "test");
    assert_int_equal(b.episodes, 2);
    assert_int_equal(b.shed, 4);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(try_charge_stops_at_the_limit),
        cmocka_unit_test(charge_stands_past_the_limit),
        cmocka_unit_test(no_limit_never_refuses),
        cmocka_unit_test(fair_share_divides_the_limit),
        cmocka_unit_test(one_episode_per_crossing),
        cmocka_unit_test(reclaimers_are_asked_on_every_shed),
        cmocka_unit_test(pressure_starts_at_90_percent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
