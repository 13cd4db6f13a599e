/* test_rooms.c - the room registry: membership, room lifetime, broadcast selection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio/rooms.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* A stand-in for a socket: the member embedded in it, and a call counter for select. */
typedef struct fake_sock {
    rooms_member_t m;
    unsigned calls;
    char id[32];
} fake_sock_t;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void shuffle(size_t *a, size_t n, uint64_t *seed)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(seed) % i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static fake_sock_t *socks_new(rooms_t *r, size_t n)
{
    fake_sock_t *s = calloc(n, sizeof(*s));
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        rooms_member_init(&s[i].m, &s[i]);
        snprintf(s[i].id, sizeof(s[i].id), "sock%zu", i);
        rooms_add_member(r, &s[i].m);
    }
    return s;
}

static void socks_free(rooms_t *r, fake_sock_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rooms_remove_member(r, &s[i].m);
    free(s);
}

static void count_call(void *user, void *owner)
{
    (*(size_t *)user)++;
    ((fake_sock_t *)owner)->calls++;
}

/* Personal-room hooks over an array of fake sockets: "sockN" is socket N's own room. */
typedef struct fake_socks {
    fake_sock_t *s;
    size_t n;
} fake_socks_t;

static rooms_member_t *fake_find(void *user, const char *name, size_t len)
{
    fake_socks_t *all = user;
    for (size_t i = 0; i < all->n; i++)
        if (strlen(all->s[i].id) == len && memcmp(all->s[i].id, name, len) == 0)
            return &all->s[i].m;
    return NULL;
}

static const char *fake_name_of(void *user, const void *owner, size_t *len)
{
    (void)user;
    const fake_sock_t *f = owner;
    *len = strlen(f->id);
    return f->id;
}

static void reset_calls(fake_sock_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s[i].calls = 0;
}

static void join_leave_are_idempotent(void **state)
{
    (void)state;
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = socks_new(&r, 2);
    rooms_member_t *a = &s[0].m, *b = &s[1].m;

    assert_int_equal(rooms_join(&r, a, S("lobby")), 1);
    assert_int_equal(rooms_join(&r, a, S("lobby")), 0);
    assert_int_equal(rooms_join(&r, b, S("lobby")), 1);
    assert_int_equal(rooms_room_size(&r, S("lobby")), 2);
    assert_int_equal(rooms_member_room_count(a), 1);
    assert_int_equal(rooms_room_count(&r), 1);

    assert_true(rooms_is_member(&r, a, S("lobby")));
    assert_false(rooms_is_member(&r, a, S("lobb")));
    assert_false(rooms_is_member(&r, a, S("lobby2")));

    assert_int_equal(rooms_leave(&r, a, S("lobby")), 1);
    assert_int_equal(rooms_leave(&r, a, S("lobby")), 0);
    assert_int_equal(rooms_leave(&r, a, S("nowhere")), 0);
    assert_false(rooms_is_member(&r, a, S("lobby")));
    assert_true(rooms_is_member(&r, b, S("lobby")));
    assert_int_equal(rooms_room_size(&r, S("lobby")), 1);
    assert_int_equal(rooms_member_room_count(a), 0);

    /* b is in the room, a is not: leaving must not take b out. */
    assert_int_equal(rooms_leave(&r, a, S("lobby")), 0);
    assert_int_equal(rooms_room_size(&r, S("lobby")), 1);

    assert_int_equal(rooms_leave(&r, b, S("lobby")), 1);
    assert_int_equal(rooms_room_count(&r), 0);
    assert_int_equal(rooms_room_size(&r, S("lobby")), 0);

    socks_free(&r, s, 2);
    rooms_free(&r);
}

static void names_are_bytes_and_empty_is_refused(void **state)
{
    (void)state;
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = socks_new(&r, 1);
    rooms_member_t *a = &s[0].m;

    assert_int_equal(rooms_join(&r, a, "", 0), ROOMS_EINVAL);
    assert_int_equal(rooms_join(&r, a, "x", 0), ROOMS_EINVAL);
    assert_int_equal(rooms_leave(&r, a, "", 0), 0);
    assert_false(rooms_is_member(&r, a, "", 0));
    assert_int_equal(rooms_room_size(&r, "", 0), 0);
    assert_int_equal(rooms_room_count(&r), 0);
    assert_int_equal(rooms_member_room_count(a), 0);

    /* Embedded NULs and high bytes make distinct names. */
    assert_int_equal(rooms_join(&r, a, S("a\0b")), 1);
    assert_int_equal(rooms_join(&r, a, S("a")), 1);
    assert_int_equal(rooms_join(&r, a, S("a\0c")), 1);
    assert_int_equal(rooms_join(&r, a, S("\xff\xfe")), 1);
    assert_int_equal(rooms_room_count(&r), 4);
    assert_true(rooms_is_member(&r, a, S("a\0b")));
    assert_false(rooms_is_member(&r, a, S("a\0d")));
    assert_int_equal(rooms_leave(&r, a, S("a\0b")), 1);
    assert_true(rooms_is_member(&r, a, S("a")));
    assert_true(rooms_is_member(&r, a, S("a\0c")));
    assert_false(rooms_is_member(&r, a, S("a\0b")));

    socks_free(&r, s, 1);
    assert_int_equal(rooms_room_count(&r), 0);
    rooms_free(&r);
}

typedef struct names {
    char buf[256];
    size_t len;
    size_t n;
    int full;
} names_t;

/* Records names as "name|" (NULs shown as '0'). */
static void collect_name(void *user, const char *room, size_t len)
{
    names_t *c = user;
    c->n++;
    if (c->full || c->len + len + 2 > sizeof(c->buf)) { /* keeps a prefix, counts all */
        c->full = 1;
        return;
    }
    for (size_t i = 0; i < len; i++)
        c->buf[c->len++] = room[i] ? room[i] : '0';
    c->buf[c->len++] = '|';
    c->buf[c->len] = '\0';
}

static void member_rooms_come_in_join_order(void **state)
{
    (void)state;
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = socks_new(&r, 1);
    rooms_member_t *a = &s[0].m;

    rooms_join(&r, a, S("sock0"));
    rooms_join(&r, a, S("user:42"));
    rooms_join(&r, a, S("b\0"));
    rooms_join(&r, a, S("user:42"));
    names_t c = {0};
    rooms_member_foreach(&r, a, collect_name, &c);
    assert_string_equal(c.buf, "sock0|user:42|b0|");
    assert_int_equal(c.n, 3);

    rooms_leave(&r, a, S("user:42"));
    rooms_join(&r, a, S("user:42"));
    memset(&c, 0, sizeof(c));
    rooms_member_foreach(&r, a, collect_name, &c);
    assert_string_equal(c.buf, "sock0|b0|user:42|");

    socks_free(&r, s, 1);
    rooms_free(&r);
}

static void leave_all_frees_only_emptied_rooms(void **state)
{
    (void)state;
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = socks_new(&r, 2);
    rooms_member_t *a = &s[0].m, *b = &s[1].m;

    rooms_join(&r, a, S("own-a"));
    rooms_join(&r, a, S("user:1"));
    rooms_join(&r, a, S("shared"));
    rooms_join(&r, b, S("shared"));
    assert_int_equal(rooms_room_count(&r), 3);

    rooms_leave_all(&r, a);
    assert_int_equal(rooms_member_room_count(a), 0);
    assert_int_equal(rooms_room_count(&r), 1);
    assert_int_equal(rooms_room_size(&r, S("shared")), 1);
    assert_false(rooms_is_member(&r, a, S("shared")));
    assert_true(rooms_is_member(&r, b, S("shared")));
    assert_int_equal(rooms_member_total(&r), 2);

    /* Still added: it can join again. */
    assert_int_equal(rooms_join(&r, a, S("shared")), 1);
    assert_int_equal(rooms_room_size(&r, S("shared")), 2);

    /* Removing a member leaves its rooms. */
    rooms_remove_member(&r, a);
    assert_int_equal(rooms_member_total(&r), 1);
    assert_int_equal(rooms_room_size(&r, S("shared")), 1);
    rooms_leave_all(&r, b);
    assert_int_equal(rooms_room_count(&r), 0);
    assert_int_equal(r.map.cap, 0);

    rooms_remove_member(&r, b);
    assert_int_equal(rooms_member_total(&r), 0);
    free(s);
    rooms_free(&r);
}

static void empty_rooms_free_and_the_map_shrinks(void **state)
{
    (void)state;
    enum { N = 4000 };
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = socks_new(&r, N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(rooms_join(&r, &s[i].m, s[i].id, strlen(s[i].id)), 1);
        assert_int_equal(rooms_join(&r, &s[i].m, S("everyone")), 1);
    }
    assert_int_equal(rooms_room_count(&r), N + 1);
    assert_true(r.map.cap >= N + 1);

    /* Down to 10 own-id rooms plus the shared one: the map gives its slots back. */
    for (size_t i = 10; i < N; i++)
        rooms_remove_member(&r, &s[i].m);
    assert_int_equal(rooms_room_count(&r), 11);
    assert_int_equal(rooms_room_size(&r, S("everyone")), 10);
    assert_true(r.map.cap <= 128);

    for (size_t i = 0; i < 10; i++)
        rooms_leave_all(&r, &s[i].m);
    assert_int_equal(rooms_room_count(&r), 0);
    assert_int_equal(r.map.cap, 0);
    assert_null(r.map.slots);

    /* The cycle repeats cleanly. */
    for (size_t i = 0; i < 10; i++)
        rooms_join(&r, &s[i].m, S("again"));
    assert_int_equal(rooms_room_size(&r, S("again")), 10);
    socks_free(&r, s, 10); /* the others were removed above */
    assert_int_equal(rooms_room_count(&r), 0);
    rooms_free(&r);
}

typedef struct room_seen {
    size_t rooms;
    size_t members;
    int saw_big;
} room_seen_t;

static void note_room(void *user, const char *room, size_t len, size_t size)
{
    room_seen_t *seen = user;
    seen->rooms++;
    seen->members += size;
    if (len == 3 && memcmp(room, "big", 3) == 0) seen->saw_big = (int)size;
}

static void foreach_lists_every_room(void **state)
{
    (void)state;
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = socks_new(&r, 5);
    for (size_t i = 0; i < 5; i++) {
        rooms_join(&r, &s[i].m, s[i].id, strlen(s[i].id));
        rooms_join(&r, &s[i].m, S("big"));
    }
    room_seen_t seen = {0};
    rooms_foreach(&r, note_room, &seen);
    assert_int_equal(seen.rooms, 6);
    assert_int_equal(seen.members, 10);
    assert_int_equal(seen.saw_big, 5);
    socks_free(&r, s, 5);
    rooms_free(&r);
}

/* A socket's own room is a flag, not a room: it costs no map slot, yet every call sees it,
 * and another socket may join a room of that name for real. */
static void personal_rooms_are_virtual(void **state)
{
    (void)state;
    rooms_t r;
    rooms_init(&r);
    fake_socks_t all = {calloc(3, sizeof(fake_sock_t)), 3};
    assert_non_null(all.s);
    rooms_set_personal(&r, &(rooms_personal_t){fake_find, fake_name_of, &all});
    for (size_t i = 0; i < 3; i++) {
        rooms_member_init(&all.s[i].m, &all.s[i]);
        snprintf(all.s[i].id, sizeof(all.s[i].id), "sock%zu", i);
        rooms_add_member(&r, &all.s[i].m);
        assert_int_equal(rooms_join(&r, &all.s[i].m, all.s[i].id, strlen(all.s[i].id)), 1);
    }
    rooms_member_t *a = &all.s[0].m, *b = &all.s[1].m;
    assert_int_equal(rooms_join(&r, a, S("sock0")), 0);
    assert_int_equal(objmap_count(&r.map), 0); /* nothing materialized */
    assert_int_equal(rooms_room_count(&r), 3);
    assert_int_equal(rooms_room_size(&r, S("sock0")), 1);
    assert_true(rooms_is_member(&r, a, S("sock0")));
    assert_false(rooms_is_member(&r, b, S("sock0")));
    assert_int_equal(rooms_member_room_count(a), 1);

    /* b joins a's room for real: one room of two, counted and listed once. */
    rooms_join(&r, a, S("user:1"));
    assert_int_equal(rooms_join(&r, b, S("sock0")), 1);
    assert_true(rooms_is_member(&r, b, S("sock0")));
    assert_int_equal(rooms_room_size(&r, S("sock0")), 2);
    assert_int_equal(rooms_room_count(&r), 4);
    room_seen_t seen = {0};
    rooms_foreach(&r, note_room, &seen);
    assert_int_equal(seen.rooms, 4);
    assert_int_equal(seen.members, 5);
    names_t c = {0};
    rooms_member_foreach(&r, a, collect_name, &c);
    assert_string_equal(c.buf, "sock0|user:1|");

    size_t n = 0;
    const char *one[] = {"sock0"}, *two[] = {"sock0", "sock2"};
    const size_t one_len[] = {5}, two_len[] = {5, 5};
    assert_int_equal(rooms_select(&r, one, one_len, 1, NULL, NULL, 0, count_call, &n), 2);
    assert_int_equal(rooms_select(&r, two, two_len, 2, one, one_len, 1, count_call, &n), 1);
    assert_int_equal(all.s[2].calls, 1);
    assert_int_equal(rooms_select(&r, NULL, NULL, 0, one, one_len, 1, count_call, &n), 1);
    assert_int_equal(all.s[2].calls, 2);

    /* a leaves its own room: b's real room of that name stays, then goes with b. */
    assert_int_equal(rooms_leave(&r, a, S("sock0")), 1);
    assert_int_equal(rooms_leave(&r, a, S("sock0")), 0);
    assert_int_equal(rooms_room_size(&r, S("sock0")), 1);
    assert_int_equal(rooms_room_count(&r), 4);
    assert_int_equal(rooms_join(&r, a, S("sock0")), 1);
    assert_int_equal(rooms_room_count(&r), 4);
    rooms_leave(&r, b, S("sock0"));
    assert_int_equal(rooms_room_size(&r, S("sock0")), 1);
    assert_int_equal(rooms_room_count(&r), 4);
    rooms_leave_all(&r, a);
    assert_false(rooms_is_member(&r, a, S("sock0")));
    assert_int_equal(rooms_room_count(&r), 2);
    for (size_t i = 0; i < 3; i++)
        rooms_remove_member(&r, &all.s[i].m);
    assert_int_equal(rooms_room_count(&r), 0);
    rooms_free(&r);
    free(all.s);
}

/* Five sockets: 0,1,2 in "a"; 2,3 in "b"; 4 in no room; 1 in "muted". */
static fake_sock_t *select_fixture(rooms_t *r)
{
    fake_sock_t *s = socks_new(r, 5);
    rooms_join(r, &s[0].m, S("a"));
    rooms_join(r, &s[1].m, S("a"));
    rooms_join(r, &s[2].m, S("a"));
    rooms_join(r, &s[2].m, S("b"));
    rooms_join(r, &s[3].m, S("b"));
    rooms_join(r, &s[1].m, S("muted"));
    return s;
}

static void expect_calls(const fake_sock_t *s, const char *want)
{
    for (size_t i = 0; want[i]; i++)
        assert_int_equal(s[i].calls, (unsigned)(want[i] - '0'));
}

static void select_one_and_overlapping_rooms(void **state)
{
    (void)state;
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = select_fixture(&r);
    size_t n = 0;

    const char *one[] = {"a"};
    const size_t one_len[] = {1};
    assert_int_equal(rooms_select(&r, one, one_len, 1, NULL, NULL, 0, count_call, &n), 3);
    assert_int_equal(n, 3);
    expect_calls(s, "11100");

    /* Overlap (2 is in a and b) and a repeated room: still one call each. */
    reset_calls(s, 5);
    n = 0;
    const char *two[] = {"a", "b", "a", "b"};
    const size_t two_len[] = {1, 1, 1, 1};
    assert_int_equal(rooms_select(&r, two, two_len, 4, NULL, NULL, 0, count_call, &n), 4);
    assert_int_equal(n, 4);
    expect_calls(s, "11110");

    /* Unknown and empty names select nobody. */
    reset_calls(s, 5);
    n = 0;
    const char *none[] = {"zzz", ""};
    const size_t none_len[] = {3, 0};
    assert_int_equal(rooms_select(&r, none, none_len, 2, NULL, NULL, 0, count_call, &n), 0);
    assert_int_equal(n, 0);
    expect_calls(s, "00000");

    socks_free(&r, s, 5);
    rooms_free(&r);
}

static void select_with_except(void **state)
{
    (void)state;
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = select_fixture(&r);
    size_t n = 0;

    const char *ab[] = {"a", "b"};
    const size_t ab_len[] = {1, 1};
    const char *ex[] = {"muted", "nothing"};
    const size_t ex_len[] = {5, 7};
    assert_int_equal(rooms_select(&r, ab, ab_len, 2, ex, ex_len, 2, count_call, &n), 3);
    expect_calls(s, "10110");

    /* Excluding a listed room removes all of it, even members also in another listed room. */
    reset_calls(s, 5);
    const char *exb[] = {"b"};
    const size_t exb_len[] = {1};
    assert_int_equal(rooms_select(&r, ab, ab_len, 2, exb, exb_len, 1, count_call, &n), 2);
    expect_calls(s, "11000");

    /* Excluding every listed member leaves nothing. */
    reset_calls(s, 5);
    assert_int_equal(rooms_select(&r, ab, ab_len, 2, ab, ab_len, 2, count_call, &n), 0);
    expect_calls(s, "00000");

    socks_free(&r, s, 5);
    rooms_free(&r);
}

static void select_everyone(void **state)
{
    (void)state;
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = select_fixture(&r);
    size_t n = 0;

    /* nrooms == 0: every added member, including 4 who is in no room. */
    assert_int_equal(rooms_select(&r, NULL, NULL, 0, NULL, NULL, 0, count_call, &n), 5);
    expect_calls(s, "11111");

    reset_calls(s, 5);
    const char *ex[] = {"b", "muted"};
    const size_t ex_len[] = {1, 5};
    assert_int_equal(rooms_select(&r, NULL, NULL, 0, ex, ex_len, 2, count_call, &n), 2);
    expect_calls(s, "10001");

    /* A removed member is no longer part of everyone. */
    rooms_remove_member(&r, &s[4].m);
    reset_calls(s, 5);
    assert_int_equal(rooms_select(&r, NULL, NULL, 0, NULL, NULL, 0, count_call, &n), 4);
    expect_calls(s, "11110");
    rooms_add_member(&r, &s[4].m);

    socks_free(&r, s, 5);
    rooms_free(&r);
}

static void member_moving_registries_is_not_skipped(void **state)
{
    (void)state;
    rooms_t r1, r2;
    rooms_init(&r1);
    rooms_init(&r2);
    fake_sock_t *s = socks_new(&r1, 1);
    size_t n = 0;
    /* Push r1's epoch far past r2's, then move the member. */
    for (int i = 0; i < 50; i++)
        rooms_select(&r1, NULL, NULL, 0, NULL, NULL, 0, count_call, &n);
    assert_int_equal(n, 50);
    rooms_remove_member(&r1, &s[0].m);
    rooms_add_member(&r2, &s[0].m);
    n = 0;
    for (int i = 0; i < 60; i++)
        rooms_select(&r2, NULL, NULL, 0, NULL, NULL, 0, count_call, &n);
    assert_int_equal(n, 60);
    socks_free(&r2, s, 1);
    rooms_free(&r1);
    rooms_free(&r2);
}

static void random_churn_leaves_registry_empty(void **state)
{
    (void)state;
    enum { N = 10000, PER = 3, SHARED = 64 };
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = socks_new(&r, N);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;

    /* Each socket: its own-id room and two of SHARED rooms (possibly the same one twice). */
    char(*names)[PER][32] = calloc(N, sizeof(*names));
    assert_non_null(names);
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i][0], 32, "%s", s[i].id);
        snprintf(names[i][1], 32, "room%u", (unsigned)(rng_next(&seed) % SHARED));
        snprintf(names[i][2], 32, "room%u", (unsigned)(rng_next(&seed) % SHARED));
    }
    size_t *ops = malloc(N * PER * sizeof(*ops));
    assert_non_null(ops);
    for (size_t i = 0; i < (size_t)N * PER; i++)
        ops[i] = i;

    shuffle(ops, (size_t)N * PER, &seed);
    size_t joined = 0;
    for (size_t k = 0; k < (size_t)N * PER; k++) {
        size_t i = ops[k] / PER, j = ops[k] % PER;
        int rc = rooms_join(&r, &s[i].m, names[i][j], strlen(names[i][j]));
        assert_true(rc == 0 || rc == 1);
        joined += (size_t)rc;
    }
    size_t total = 0;
    for (size_t i = 0; i < N; i++) {
        total += rooms_member_room_count(&s[i].m);
        for (size_t j = 0; j < PER; j++)
            assert_true(rooms_is_member(&r, &s[i].m, names[i][j], strlen(names[i][j])));
    }
    assert_int_equal(total, joined);
    assert_true(rooms_room_count(&r) <= N + SHARED);

    /* Everyone, minus nobody, once each. */
    size_t n = 0;
    assert_int_equal(rooms_select(&r, NULL, NULL, 0, NULL, NULL, 0, count_call, &n), N);

    /* Leave in another random order; every tenth socket leaves its last rooms by leave_all. */
    shuffle(ops, (size_t)N * PER, &seed);
    size_t left = 0;
    for (size_t k = 0; k < (size_t)N * PER; k++) {
        size_t i = ops[k] / PER, j = ops[k] % PER;
        if (i % 10 == 0 && rooms_member_room_count(&s[i].m) == 1) {
            rooms_leave_all(&r, &s[i].m);
            left++;
            continue;
        }
        left += (size_t)rooms_leave(&r, &s[i].m, names[i][j], strlen(names[i][j]));
    }
    assert_int_equal(left, joined);
    assert_int_equal(rooms_room_count(&r), 0);
    assert_int_equal(r.map.cap, 0);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(rooms_member_room_count(&s[i].m), 0);

    free(ops);
    free(names);
    socks_free(&r, s, N);
    rooms_free(&r);
}

static void socket_in_thousands_of_rooms(void **state)
{
    (void)state;
    enum { R = 5000 };
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = socks_new(&r, 2);
    rooms_member_t *a = &s[0].m, *b = &s[1].m;
    char name[32];

    for (size_t i = 0; i < R; i++) {
        int len = snprintf(name, sizeof(name), "r%zu", i);
        assert_int_equal(rooms_join(&r, a, name, (size_t)len), 1);
        if (i % 7 == 0) rooms_join(&r, b, name, (size_t)len);
    }
    assert_non_null(a->idx);
    assert_int_equal(rooms_member_room_count(a), R);
    assert_int_equal(rooms_room_count(&r), R);
    for (size_t i = 0; i < R; i++) {
        int len = snprintf(name, sizeof(name), "r%zu", i);
        assert_int_equal(rooms_join(&r, a, name, (size_t)len), 0);
        assert_true(rooms_is_member(&r, a, name, (size_t)len));
        assert_int_equal(rooms_is_member(&r, b, name, (size_t)len), i % 7 == 0);
    }
    names_t c = {0};
    rooms_member_foreach(&r, b, collect_name, &c);
    assert_int_equal(c.n, (R + 6) / 7);
    assert_memory_equal(c.buf, "r0|r7|r14|", 10);

    /* Leave a random two thirds; the rest stay exactly. */
    size_t *order = malloc(R * sizeof(*order));
    assert_non_null(order);
    for (size_t i = 0; i < R; i++)
        order[i] = i;
    uint64_t seed = 12345;
    shuffle(order, R, &seed);
    char *gone = calloc(R, 1);
    assert_non_null(gone);
    for (size_t k = 0; k < R * 2 / 3; k++) {
        int len = snprintf(name, sizeof(name), "r%zu", order[k]);
        assert_int_equal(rooms_leave(&r, a, name, (size_t)len), 1);
        assert_int_equal(rooms_leave(&r, a, name, (size_t)len), 0);
        gone[order[k]] = 1;
    }
    size_t still = 0;
    for (size_t i = 0; i < R; i++) {
        int len = snprintf(name, sizeof(name), "r%zu", i);
        assert_int_equal(rooms_is_member(&r, a, name, (size_t)len), !gone[i]);
        still += !gone[i];
        size_t want = (size_t)!gone[i] + (i % 7 == 0);
        assert_int_equal(rooms_room_size(&r, name, (size_t)len), want);
    }
    assert_int_equal(rooms_member_room_count(a), still);
    /* The index shrank with the member. */
    assert_true(((size_t)1 << a->idx_shift) <= 8 * still);

    rooms_leave_all(&r, a);
    assert_null(a->idx);
    assert_int_equal(rooms_room_count(&r), (R + 6) / 7);
    rooms_leave_all(&r, b);
    assert_int_equal(rooms_room_count(&r), 0);

    free(gone);
    free(order);
    socks_free(&r, s, 2);
    rooms_free(&r);
}

static void index_appears_and_disappears_at_thresholds(void **state)
{
    (void)state;
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = socks_new(&r, 1);
    rooms_member_t *a = &s[0].m;
    char name[16];

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < ROOMS_INDEX_AT; i++) {
            int len = snprintf(name, sizeof(name), "x%d", i);
            assert_int_equal(rooms_join(&r, a, name, (size_t)len), 1);
        }
        assert_null(a->idx);
        assert_int_equal(rooms_join(&r, a, S("x-last")), 1);
        assert_non_null(a->idx);
        /* Down to one above the drop mark: the index stays and keeps answering. */
        for (int i = 0; i < ROOMS_INDEX_AT - ROOMS_UNINDEX_AT; i++) {
            int len = snprintf(name, sizeof(name), "x%d", i);
            assert_int_equal(rooms_leave(&r, a, name, (size_t)len), 1);
        }
        assert_non_null(a->idx);
        assert_true(rooms_is_member(&r, a, S("x-last")));
        assert_false(rooms_is_member(&r, a, S("x0")));
        assert_int_equal(rooms_leave(&r, a, S("x-last")), 1);
        assert_null(a->idx);
        assert_int_equal(rooms_member_room_count(a), ROOMS_UNINDEX_AT);
        for (int i = ROOMS_INDEX_AT - ROOMS_UNINDEX_AT; i < ROOMS_INDEX_AT; i++) {
            int len = snprintf(name, sizeof(name), "x%d", i);
            assert_true(rooms_is_member(&r, a, name, (size_t)len));
            assert_int_equal(rooms_leave(&r, a, name, (size_t)len), 1);
        }
        assert_int_equal(rooms_room_count(&r), 0);
    }
    socks_free(&r, s, 1);
    rooms_free(&r);
}

static void select_over_a_huge_room(void **state)
{
    (void)state;
    enum { N = 100000 };
    rooms_t r;
    rooms_init(&r);
    fake_sock_t *s = socks_new(&r, N);
    for (size_t i = 0; i < N; i++) {
        rooms_join(&r, &s[i].m, S("big"));
        if (i % 2) rooms_join(&r, &s[i].m, S("odd"));
    }
    assert_int_equal(rooms_room_size(&r, S("big")), N);

    size_t n = 0;
    const char *big[] = {"big"};
    const size_t big_len[] = {3};
    assert_int_equal(rooms_select(&r, big, big_len, 1, NULL, NULL, 0, count_call, &n), N);
    assert_int_equal(n, N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(s[i].calls, 1);

    const char *odd[] = {"odd"};
    const size_t odd_len[] = {3};
    n = 0;
    assert_int_equal(rooms_select(&r, big, big_len, 1, odd, odd_len, 1, count_call, &n), N / 2);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(s[i].calls, 1 + (i % 2 == 0));

    socks_free(&r, s, N);
    assert_int_equal(rooms_room_count(&r), 0);
    rooms_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(join_leave_are_idempotent),
        cmocka_unit_test(names_are_bytes_and_empty_is_refused),
        cmocka_unit_test(member_rooms_come_in_join_order),
        cmocka_unit_test(leave_all_frees_only_emptied_rooms),
        cmocka_unit_test(empty_rooms_free_and_the_map_shrinks),
        cmocka_unit_test(foreach_lists_every_room),
        cmocka_unit_test(personal_rooms_are_virtual),
        cmocka_unit_test(select_one_and_overlapping_rooms),
        cmocka_unit_test(select_with_except),
        cmocka_unit_test(select_everyone),
        cmocka_unit_test(member_moving_registries_is_not_skipped),
        cmocka_unit_test(random_churn_leaves_registry_empty),
        cmocka_unit_test(socket_in_thousands_of_rooms),
        cmocka_unit_test(index_appears_and_disappears_at_thresholds),
        cmocka_unit_test(select_over_a_huge_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
