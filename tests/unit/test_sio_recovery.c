/* test_sio_recovery.c - what connection state recovery keeps: offsets and pids made and parsed
 * back (malformed ones refused), the clock, packets matched to sessions as socket.io does,
 * what is replayed after a clean and a lossy disconnection, refusals (another user, expired,
 * dropped packets, over the per-session bound), eviction oldest first with its counters, and
 * what a fresh session may ask a store for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "sio/sio_recovery.h"

#define SID_A "AAAAAAAAAAAAAAAAAAAA"
#define SID_B "BBBBBBBBBBBBBBBBBBBB"
#define T0 1700000000000ULL /* a wall time, ms */

static const int nsp_main = 1, nsp_other = 2; /* namespaces are compared by address */

static sio_recovery_t *new_recovery(size_t max_bytes, size_t max_session)
{
    sio_recovery_options_t o = {120000, max_bytes, max_session};
    return sio_recovery_new(&o);
}

/* Keeps "[n]" sent to rooms (NULL: everybody), numbered now. Returns its number. */
static uint64_t keep(sio_recovery_t *r, uint64_t now, int kind, const char *room,
                     const char *except, const char *text)
{
    uint64_t seq = sio_recovery_next_seq(r, now);
    const char *rooms[1] = {room}, *ex[1] = {except};
    size_t rl[1] = {room ? strlen(room) : 0}, el[1] = {except ? strlen(except) : 0};
    sio_keep_target_t t = {&nsp_main, kind, rooms, rl, room ? 1 : 0, ex, el, except ? 1 : 0};
    rbuf_t *p = rbuf_new(text, strlen(text));
    sio_recovery_keep(r, seq, now, &t, p, NULL, 0);
    rbuf_unref(p);
    return seq;
}

/* Persists SID with rooms {sid, user:U (when user), extra}. */
static void persist(sio_recovery_t *r, const char *sid, const char *user, const char *extra,
                    uint64_t start, uint64_t last_sent, uint64_t now)
{
    char user_room[64];
    sio_room_name_t rooms[3] = {{sid, strlen(sid)}};
    size_t n = 1;
    if (user) {
        snprintf(user_room, sizeof(user_room), "user:%s", user);
        rooms[n++] = (sio_room_name_t){user_room, strlen(user_room)};
    }
    if (extra) rooms[n++] = (sio_room_name_t){extra, strlen(extra)};
    sio_session_in_t in = {&nsp_main, sid, user, start, last_sent, rooms, n};
    assert_int_equal(sio_recovery_persist(r, &in, now), 0);
}

static void pid_of(sio_recovery_t *r, const char *sid, const char *user, uint64_t start, buf_t *out)
{
    buf_reset(out);
    sio_recovery_pid(r, out, sid, user, start);
}

static void offset_of(sio_recovery_t *r, uint64_t seq, buf_t *out)
{
    buf_reset(out);
    sio_recovery_offset(r, out, seq, -1, NULL);
}

/* The replayed packets' texts, joined by spaces. */
static void replayed(const sio_restored_t *out, char *text, size_t size)
{
    text[0] = '\0';
    for (size_t i = 0; i < out->npackets; i++) {
        size_t at = strlen(text);
        snprintf(text + at, size - at, "%s%.*s", i ? " " : "", (int)out->packets[i].packet->len,
                 out->packets[i].packet->data);
    }
}

static int restore(sio_recovery_t *r, const char *pid, const char *offset, const char *user,
                   uint64_t now, sio_restored_t *out)
{
    return sio_recovery_restore(r, &nsp_main, pid, strlen(pid), offset, offset ? strlen(offset) : 0,
                                user, now, out);
}

static void positions_round_trip(void **state)
{
    (void)state;
    sio_recovery_t *r = new_recovery(1 << 20, 1 << 16);
    assert_int_equal(sio_recovery_add_source(r, "notification", "id"), 0);
    uint64_t seq = sio_recovery_next_seq(r, T0);
    buf_t b = BUF_INIT;
    offset_of(r, seq, &b);
    sio_position_t at;
    assert_int_equal(sio_position_parse(b.data, b.len, &at), 0);
    assert_int_equal(at.seq, seq);
    assert_int_equal(at.ncursors, 0); /* no cursor seen yet */
    sio_recovery_note_cursor(r, 0, "42");
    sio_recovery_note_cursor(r, 0, "9"); /* older: the greatest stays */
    offset_of(r, seq, &b);
    assert_non_null(strstr(b.data, "~notification=42"));
    buf_reset(&b);
    sio_recovery_offset(r, &b, seq, 0, "43"); /* a packet's own, newer cursor */
    assert_non_null(strstr(b.data, "~notification=43"));
    assert_int_equal(sio_position_parse(b.data, b.len, &at), 0);
    assert_int_equal(at.ncursors, 1);
    assert_string_equal(at.cursors[0].name, "notification");
    assert_string_equal(at.cursors[0].value, "43");

    pid_of(r, SID_A, "u1", seq, &b);
    sio_pid_t pid;
    assert_int_equal(sio_pid_parse(b.data, b.len, &pid), 0);
    assert_string_equal(pid.sid, SID_A);
    assert_int_equal(strlen(pid.mac), SIO_RECOVERY_MAC_LEN);
    assert_int_equal(strlen(pid.uhash), SIO_RECOVERY_UHASH_LEN);
    assert_int_equal(pid.at.seq, seq);
    assert_true(sio_recovery_pid_ours(r, &pid));
    pid.mac[0] = pid.mac[0] == 'A' ? 'B' : 'A';
    assert_false(sio_recovery_pid_ours(r, &pid));
    pid_of(r, SID_A, NULL, seq, &b); /* unauthenticated: empty uhash */
    assert_int_equal(sio_pid_parse(b.data, b.len, &pid), 0);
    assert_string_equal(pid.uhash, "");

    /* Another incarnation makes other macs for the same sid. */
    sio_recovery_t *other = new_recovery(1 << 20, 1 << 16);
    pid_of(other, SID_A, "u1", seq, &b);
    assert_int_equal(sio_pid_parse(b.data, b.len, &pid), 0);
    assert_false(sio_recovery_pid_ours(r, &pid));
    sio_recovery_free(other);
    buf_free(&b);
    sio_recovery_free(r);
}

static void malformed_positions_are_refused(void **state)
{
    (void)state;
    static const char *const offsets[] = {
        "",
        "abcdefgh",                        /* no sequence */
        "abcdefg.1a",                      /* node too short */
        "abcdefgh.",                       /* empty sequence */
        "abcdefgh.1A",                     /* upper-case hex */
        "abcdefgh.11111111111111111",      /* 17 hex digits */
        "abcdefgh.1a.2",                   /* a third field */
        "abcd+fgh.1a",                     /* not base64url */
        "abcdefgh.1a~",                    /* empty cursor */
        "abcdefgh.1a~n",                   /* no '=' */
        "abcdefgh.1a~=1",                  /* empty name */
        "abcdefgh.1a~n=",                  /* empty value */
        "abcdefgh.1a~n=1 2",               /* a space */
        "abcdefgh.1a~n=\"x",               /* a quote */
        "abcdefgh.1a~a=1~b=2~c=3~d=4~e=5", /* more cursors than sources */
        "abcdefgh.1a~n=1=2",
        "abcdefgh.1a~n=1111111111111111111111111111111111111111111111111111111111111111111",
    };
    sio_position_t at;
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++)
        if (sio_position_parse(offsets[i], strlen(offsets[i]), &at) == 0)
            fail_msg("offset \"%s\" was accepted", offsets[i]);
    assert_int_equal(sio_position_parse("abcdefgh.1a~n=1~m=x.y:z-_", 25, &at), 0);
    assert_int_equal(at.ncursors, 2);
    assert_int_equal(at.seq, 0x1a);
    /* A NUL inside is not the end. */
    assert_int_equal(sio_position_parse("abcdefgh.1a\0~n=1", 16, &at), -1);

    static const char *const pids[] = {
        "",
        SID_A,
        SID_A ".AAAAAAAAAAAAAAAA..abcdefgh",                 /* no sequence */
        SID_A "X.AAAAAAAAAAAAAAAA..abcdefgh.1",              /* sid too long */
        SID_A ".AAAAAAAAAAAAAAA..abcdefgh.1",                /* mac too short */
        SID_A ".AAAAAAAAAAAAAAAA.short.abcdefgh.1",          /* uhash length */
        SID_A ".AAAAAAAAAAAAAAAA..abcdefgh.1.9",             /* a sixth field */
        SID_A ".AAAAAAAAAAAAAAAA..abcdefgh.1~bad",           /* a bad cursor */
        "AAAAAAAAAAAAAAAAAA/A.AAAAAAAAAAAAAAAA..abcdefgh.1", /* not base64url */
    };
    sio_pid_t pid;
    for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++)
        if (sio_pid_parse(pids[i], strlen(pids[i]), &pid) == 0)
            fail_msg("pid \"%s\" was accepted", pids[i]);
    const char *ok = SID_A ".AAAAAAAAAAAAAAAA..abcdefgh.1~n=2";
    assert_int_equal(sio_pid_parse(ok, strlen(ok), &pid), 0);
}

static void cursors_and_the_clock(void **state)
{
    (void)state;
    assert_true(sio_cursor_cmp("9", "10") < 0);
    assert_true(sio_cursor_cmp("010", "9") > 0);
    assert_int_equal(sio_cursor_cmp("007", "7"), 0);
    assert_true(sio_cursor_cmp("b", "a") > 0);
    assert_true(sio_cursor_cmp("a", "10") > 0); /* not both digits: bytewise */
    assert_true(sio_recovery_name_valid("notification", 12));
    assert_false(sio_recovery_name_valid("a~b", 3));
    assert_false(sio_recovery_name_valid("", 0));

    sio_recovery_t *r = new_recovery(1 << 20, 1 << 16);
    uint64_t a = sio_recovery_next_seq(r, T0);
    uint64_t b = sio_recovery_next_seq(r, T0);
    uint64_t c = sio_recovery_next_seq(r, T0 - 5000); /* the wall clock stepped back */
    assert_true(a < b && b < c);
    assert_int_equal(a >> SIO_RECOVERY_SEQ_SHIFT, T0);
    uint64_t now = sio_recovery_now_seq(r, T0);
    assert_int_equal(now, c); /* not a new number */
    assert_true(sio_recovery_next_seq(r, T0) > now);
    assert_int_equal(sio_recovery_now_seq(r, T0 + 1) >> SIO_RECOVERY_SEQ_SHIFT, T0 + 1);
    sio_recovery_free(r);
}

/* A client that had everything sent to it gets what matched its rooms after it left. */
static void replays_what_came_after_a_clean_disconnection(void **state)
{
    (void)state;
    sio_recovery_t *r = new_recovery(1 << 20, 1 << 16);
    uint64_t start = sio_recovery_now_seq(r, T0);
    uint64_t before = keep(r, T0 + 1, SIO_KEEP_ROOMS, "user:u1", NULL, "before");
    persist(r, SID_A, "u1", "chat", start, before, T0 + 2);
    assert_true(sio_recovery_wants_room(r, "chat", 4));
    assert_false(sio_recovery_wants_room(r, "other", 5));
    keep(r, T0 + 3, SIO_KEEP_ROOMS, "user:u1", NULL, "mine");
    keep(r, T0 + 3, SIO_KEEP_ROOMS, "user:u2", NULL, "theirs");
    keep(r, T0 + 4, SIO_KEEP_ALL, NULL, NULL, "all");
    keep(r, T0 + 4, SIO_KEEP_AUTHENTICATED, NULL, NULL, "authenticated");
    keep(r, T0 + 5, SIO_KEEP_ROOMS, "chat", "user:u1", "excepted");
    keep(r, T0 + 5, SIO_KEEP_ROOMS, SID_A, NULL, "to-the-socket");
    keep(r, T0 + 6, SIO_KEEP_ROOMS, "chat", NULL, "chat");
    buf_t pid = BUF_INIT, off = BUF_INIT;
    pid_of(r, SID_A, "u1", start, &pid);
    offset_of(r, before, &off);
    sio_restored_t out;
    assert_int_equal(restore(r, pid.data, off.data, "u1", T0 + 10, &out), SIO_RESTORE_OK);
    char text[256];
    replayed(&out, text, sizeof(text));
    assert_string_equal(text, "mine all authenticated to-the-socket chat");
    assert_string_equal(out.sid, SID_A);
    assert_int_equal(out.nrooms, 3);
    assert_int_equal(out.start, start);
    sio_restored_free(&out);
    /* Once: the session is gone. */
    assert_int_equal(restore(r, pid.data, off.data, "u1", T0 + 11, &out), SIO_RESTORE_UNKNOWN);
    const sio_recovery_stats_t *st = sio_recovery_stats(r);
    assert_int_equal(st->restored, 1);
    assert_int_equal(st->unknown, 1);
    assert_int_equal(st->sessions, 0);
    /* Without an offset, and nothing ever sent to it: the same. */
    uint64_t start_b = sio_recovery_now_seq(r, T0 + 20);
    persist(r, SID_B, NULL, NULL, start_b, 0, T0 + 21);
    keep(r, T0 + 22, SIO_KEEP_ALL, NULL, NULL, "late");
    keep(r, T0 + 22, SIO_KEEP_AUTHENTICATED, NULL, NULL, "not-for-anonymous");
    pid_of(r, SID_B, NULL, start_b, &pid);
    assert_int_equal(restore(r, pid.data, NULL, NULL, T0 + 23, &out), SIO_RESTORE_OK);
    replayed(&out, text, sizeof(text));
    assert_string_equal(text, "late");
    sio_restored_free(&out);
    buf_free(&pid);
    buf_free(&off);
    sio_recovery_free(r);
}

/* A client whose last packets were lost in transit gets them again, from its offset, never
 * from before the socket started. */
static void replays_what_was_lost_in_transit(void **state)
{
    (void)state;
    sio_recovery_t *r = new_recovery(1 << 20, 1 << 16);
    keep(r, T0, SIO_KEEP_ROOMS, "user:u1", NULL, "older-session");
    uint64_t start = sio_recovery_now_seq(r, T0 + 1);
    uint64_t got = keep(r, T0 + 2, SIO_KEEP_ROOMS, "user:u1", NULL, "got");
    keep(r, T0 + 3, SIO_KEEP_ROOMS, "user:u1", NULL, "lost1");
    uint64_t last = keep(r, T0 + 4, SIO_KEEP_ROOMS, "user:u1", NULL, "lost2");
    persist(r, SID_A, "u1", NULL, start, last, T0 + 5);
    keep(r, T0 + 6, SIO_KEEP_ROOMS, "user:u1", NULL, "after");
    buf_t pid = BUF_INIT, off = BUF_INIT;
    pid_of(r, SID_A, "u1", start, &pid);
    offset_of(r, got, &off);
    sio_restored_t out;
    char text[256];
    assert_int_equal(restore(r, pid.data, off.data, "u1", T0 + 7, &out), SIO_RESTORE_OK);
    replayed(&out, text, sizeof(text));
    assert_string_equal(text, "lost1 lost2 after");
    sio_restored_free(&out);

    /* No offset at all, though packets were sent: everything since its start. */
    persist(r, SID_A, "u1", NULL, start, last, T0 + 8);
    assert_int_equal(restore(r, pid.data, NULL, "u1", T0 + 9, &out), SIO_RESTORE_OK);
    replayed(&out, text, sizeof(text));
    assert_string_equal(text, "got lost1 lost2 after");
    sio_restored_free(&out);

    /* An offset of another node counts as none; one past the session is forged. */
    persist(r, SID_A, "u1", NULL, start, last, T0 + 10);
    assert_int_equal(restore(r, pid.data, "zzzzzzzz.1", "u1", T0 + 11, &out), SIO_RESTORE_OK);
    replayed(&out, text, sizeof(text));
    assert_string_equal(text, "got lost1 lost2 after");
    sio_restored_free(&out);
    persist(r, SID_A, "u1", NULL, start, last, T0 + 12);
    offset_of(r, sio_recovery_next_seq(r, T0 + 13) + 100, &off);
    assert_int_equal(restore(r, pid.data, off.data, "u1", T0 + 14, &out), SIO_RESTORE_INVALID);
    buf_free(&pid);
    buf_free(&off);
    sio_recovery_free(r);
}

static void refuses_other_users_expired_and_unknown_sessions(void **state)
{
    (void)state;
    sio_recovery_t *r = new_recovery(1 << 20, 1 << 16);
    uint64_t start = sio_recovery_now_seq(r, T0);
    persist(r, SID_A, "u1", NULL, start, 0, T0 + 1);
    buf_t pid = BUF_INIT;
    pid_of(r, SID_A, "u1", start, &pid);
    sio_restored_t out;
    assert_int_equal(restore(r, pid.data, NULL, "u2", T0 + 2, &out), SIO_RESTORE_USER);
    assert_int_equal(restore(r, pid.data, NULL, NULL, T0 + 2, &out), SIO_RESTORE_USER);
    assert_int_equal(
        sio_recovery_restore(r, &nsp_other, pid.data, pid.len, NULL, 0, "u1", T0 + 2, &out),
        SIO_RESTORE_UNKNOWN);
    /* Refusals leave the session for its owner. */
    assert_int_equal(restore(r, pid.data, NULL, "u1", T0 + 3, &out), SIO_RESTORE_OK);
    sio_restored_free(&out);

    persist(r, SID_A, "u1", NULL, start, 0, T0 + 4);
    assert_int_equal(restore(r, pid.data, NULL, "u1", T0 + 4 + 120001, &out), SIO_RESTORE_EXPIRED);
    /* An anonymous session needs anonymous credentials. */
    persist(r, SID_B, NULL, NULL, start, 0, T0 + 5);
    pid_of(r, SID_B, NULL, start, &pid);
    assert_int_equal(restore(r, pid.data, NULL, "u1", T0 + 6, &out), SIO_RESTORE_USER);
    /* A pid of another node: unknown here; a forged mac: invalid; garbage: invalid. */
    sio_recovery_t *other = new_recovery(1 << 20, 1 << 16);
    pid_of(other, SID_B, NULL, start, &pid);
    assert_int_equal(restore(r, pid.data, NULL, NULL, T0 + 6, &out), SIO_RESTORE_UNKNOWN);
    pid_of(r, SID_B, NULL, start, &pid);
    pid.data[SIO_RECOVERY_SID_LEN + 1] ^= 1;
    assert_int_equal(restore(r, pid.data, NULL, NULL, T0 + 6, &out), SIO_RESTORE_INVALID);
    assert_int_equal(restore(r, "garbage", NULL, NULL, T0 + 6, &out), SIO_RESTORE_INVALID);
    const sio_recovery_stats_t *st = sio_recovery_stats(r);
    assert_int_equal(st->user_changed, 3);
    assert_int_equal(st->expired, 1);
    assert_int_equal(st->invalid, 2);
    sio_recovery_free(other);
    buf_free(&pid);
    sio_recovery_free(r);
}

/* Past max_bytes the oldest goes first, packets and sessions alike, counted; a session that
 * needs a dropped packet gets a fresh one. */
static void evicts_the_oldest_and_counts_it(void **state)
{
    (void)state;
    char pad[200];
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    sio_recovery_t *r = new_recovery(4096, 4096);
    uint64_t start = sio_recovery_now_seq(r, T0);
    uint64_t got = keep(r, T0 + 1, SIO_KEEP_ROOMS, "user:u1", NULL, "got");
    uint64_t lost = keep(r, T0 + 2, SIO_KEEP_ROOMS, "user:u1", NULL, pad);
    persist(r, SID_A, "u1", NULL, start, lost, T0 + 3);
    /* Newer packets push the old ones out first, then the session itself. */
    const sio_recovery_stats_t *st = sio_recovery_stats(r);
    while (st->packets_evicted < 2)
        keep(r, T0 + 4, SIO_KEEP_ALL, NULL, NULL, pad);
    assert_int_equal(st->sessions, 1);
    assert_true(st->bytes <= 4096);
    buf_t pid = BUF_INIT, off = BUF_INIT;
    pid_of(r, SID_A, "u1", start, &pid);
    offset_of(r, got, &off);
    sio_restored_t out;
    /* Still kept, but the packet it lost is gone. */
    assert_int_equal(restore(r, pid.data, off.data, "u1", T0 + 5, &out), SIO_RESTORE_TOO_OLD);
    for (int i = 0; i < 20; i++)
        keep(r, T0 + 6, SIO_KEEP_ALL, NULL, NULL, pad);
    assert_int_equal(st->sessions, 0);
    assert_int_equal(st->sessions_evicted, 1);
    assert_true(st->bytes <= 4096);
    assert_int_equal(restore(r, pid.data, off.data, "u1", T0 + 7, &out), SIO_RESTORE_UNKNOWN);

    /* A session persisted after the evicted packets does not need them. */
    uint64_t start_b = sio_recovery_now_seq(r, T0 + 8);
    persist(r, SID_B, NULL, NULL, start_b, 0, T0 + 8);
    keep(r, T0 + 9, SIO_KEEP_ALL, NULL, NULL, "fresh");
    pid_of(r, SID_B, NULL, start_b, &pid);
    assert_int_equal(restore(r, pid.data, NULL, NULL, T0 + 10, &out), SIO_RESTORE_OK);
    assert_int_equal(out.npackets, 1);
    sio_restored_free(&out);
    buf_free(&pid);
    buf_free(&off);
    sio_recovery_free(r);
}

static void bounds_each_session(void **state)
{
    (void)state;
    char pad[600];
    memset(pad, 'y', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    sio_recovery_t *r = new_recovery(1 << 20, 1500);
    /* A record over the bound is not kept. */
    char big[1400];
    memset(big, 'r', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sio_room_name_t rooms[2] = {{SID_A, SIO_RECOVERY_SID_LEN}, {big, strlen(big)}};
    sio_session_in_t in = {&nsp_main, SID_A, NULL, 0, 0, rooms, 2};
    assert_int_equal(sio_recovery_persist(r, &in, T0), -1);
    assert_int_equal(sio_recovery_stats(r)->sessions_too_large, 1);
    assert_int_equal(sio_recovery_stats(r)->sessions, 0);
    /* What it missed over the bound: a fresh session instead. */
    uint64_t start = sio_recovery_now_seq(r, T0);
    persist(r, SID_A, NULL, NULL, start, 0, T0 + 1);
    keep(r, T0 + 2, SIO_KEEP_ALL, NULL, NULL, pad);
    keep(r, T0 + 2, SIO_KEEP_ALL, NULL, NULL, pad);
    keep(r, T0 + 2, SIO_KEEP_ALL, NULL, NULL, pad);
    buf_t pid = BUF_INIT;
    pid_of(r, SID_A, NULL, start, &pid);
    sio_restored_t out;
    assert_int_equal(restore(r, pid.data, NULL, NULL, T0 + 3, &out), SIO_RESTORE_TOO_LARGE);
    assert_int_equal(sio_recovery_stats(r)->too_large, 1);
    /* A packet alone over the bound is never kept, and whoever needed it is refused. */
    persist(r, SID_B, NULL, NULL, start, 0, T0 + 4);
    char huge[1600];
    memset(huge, 'z', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    uint64_t evicted = sio_recovery_stats(r)->packets_evicted;
    keep(r, T0 + 5, SIO_KEEP_ALL, NULL, NULL, huge);
    assert_int_equal(sio_recovery_stats(r)->packets_evicted, evicted + 1);
    pid_of(r, SID_B, NULL, start, &pid);
    assert_int_equal(restore(r, pid.data, NULL, NULL, T0 + 6, &out), SIO_RESTORE_TOO_OLD);
    buf_free(&pid);
    sio_recovery_free(r);
}

static void expires_in_time(void **state)
{
    (void)state;
    sio_recovery_t *r = new_recovery(1 << 20, 1 << 16);
    assert_false(sio_recovery_sweep(r, T0));
    keep(r, T0, SIO_KEEP_ALL, NULL, NULL, "p");
    persist(r, SID_A, NULL, NULL, 0, 0, T0 + 1000);
    assert_true(sio_recovery_sweep(r, T0 + 120000));
    assert_true(sio_recovery_sweep(r, T0 + 120001)); /* the packet goes, the session stays */
    assert_int_equal(sio_recovery_stats(r)->packets, 0);
    assert_int_equal(sio_recovery_stats(r)->packets_expired, 1);
    assert_int_equal(sio_recovery_stats(r)->sessions, 1);
    assert_false(sio_recovery_sweep(r, T0 + 121001));
    assert_int_equal(sio_recovery_stats(r)->sessions_expired, 1);
    assert_int_equal(sio_recovery_stats(r)->bytes, 0);
    assert_false(sio_recovery_wants_room(r, SID_A, SIO_RECOVERY_SID_LEN));
    sio_recovery_free(r);
}

static void what_a_fresh_session_asks_the_stores(void **state)
{
    (void)state;
    sio_recovery_t *r = new_recovery(1 << 20, 1 << 16);
    assert_int_equal(sio_recovery_add_source(r, "notification", "id"), 0);
    assert_int_equal(sio_recovery_add_source(r, "notification", "id"), -1); /* taken */
    assert_int_equal(sio_recovery_add_source(r, "bad name", "id"), -1);
    const char *key;
    assert_int_equal(sio_recovery_source_of(r, "notification", &key), 0);
    assert_string_equal(key, "id");
    sio_store_hint_t hints[SIO_RECOVERY_MAX_SOURCES];
    buf_t pid = BUF_INIT, off = BUF_INIT;
    uint64_t start = sio_recovery_now_seq(r, T0);
    pid_of(r, SID_A, "u1", start, &pid);
    /* No cursor anywhere: since the session started. */
    assert_int_equal(sio_recovery_store_hints(r, pid.data, pid.len, NULL, 0, "u1", hints), 1);
    assert_string_equal(hints[0].after, "");
    assert_int_equal(hints[0].since_ms, (int64_t)T0);
    /* Another user, or none, asks nothing. */
    assert_int_equal(sio_recovery_store_hints(r, pid.data, pid.len, NULL, 0, "u2", hints), 0);
    assert_int_equal(sio_recovery_store_hints(r, pid.data, pid.len, NULL, 0, NULL, hints), 0);
    /* The pid's cursor, then the offset's when newer. */
    sio_recovery_note_cursor(r, 0, "7");
    pid_of(r, SID_A, "u1", start, &pid);
    assert_int_equal(sio_recovery_store_hints(r, pid.data, pid.len, NULL, 0, "u1", hints), 1);
    assert_string_equal(hints[0].after, "7");
    sio_recovery_note_cursor(r, 0, "12");
    offset_of(r, sio_recovery_next_seq(r, T0 + 1), &off);
    assert_int_equal(sio_recovery_store_hints(r, pid.data, pid.len, off.data, off.len, "u1", hints),
                     1);
    assert_string_equal(hints[0].after, "12");
    /* It parses offsets of other incarnations: that is its purpose. */
    sio_recovery_t *after_restart = new_recovery(1 << 20, 1 << 16);
    assert_int_equal(sio_recovery_add_source(after_restart, "notification", "id"), 0);
    assert_int_equal(
        sio_recovery_store_hints(after_restart, pid.data, pid.len, off.data, off.len, "u1", hints),
        1);
    assert_string_equal(hints[0].after, "12");
    assert_int_equal(sio_recovery_store_hints(after_restart, "bad", 3, NULL, 0, "u1", hints), 0);
    sio_recovery_free(after_restart);
    buf_free(&pid);
    buf_free(&off);
    sio_recovery_free(r);
}

static void events_can_opt_out(void **state)
{
    (void)state;
    sio_recovery_t *r = new_recovery(1 << 20, 1 << 16);
    assert_true(sio_recovery_is_recoverable(r, "typing"));
    sio_recovery_set_recoverable(r, "typing", 0);
    assert_false(sio_recovery_is_recoverable(r, "typing"));
    assert_true(sio_recovery_is_recoverable(r, "message"));
    sio_recovery_set_recoverable(r, "typing", 1);
    assert_true(sio_recovery_is_recoverable(r, "typing"));
    /* Who wants a packet nobody here received: a session in one of its rooms. */
    const char *rooms[1] = {"chat"};
    size_t lens[1] = {4};
    sio_keep_target_t t = {&nsp_main, SIO_KEEP_ROOMS, rooms, lens, 1, NULL, NULL, 0};
    assert_false(sio_recovery_wants(r, &t));
    persist(r, SID_A, NULL, "chat", 0, 0, T0);
    assert_true(sio_recovery_wants(r, &t));
    t.kind = SIO_KEEP_AUTHENTICATED;
    assert_false(sio_recovery_wants(r, &t));
    t.kind = SIO_KEEP_ALL;
    assert_true(sio_recovery_wants(r, &t));
    sio_recovery_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(positions_round_trip),
        cmocka_unit_test(malformed_positions_are_refused),
        cmocka_unit_test(cursors_and_the_clock),
        cmocka_unit_test(replays_what_came_after_a_clean_disconnection),
        cmocka_unit_test(replays_what_was_lost_in_transit),
        cmocka_unit_test(refuses_other_users_expired_and_unknown_sessions),
        cmocka_unit_test(evicts_the_oldest_and_counts_it),
        cmocka_unit_test(bounds_each_session),
        cmocka_unit_test(expires_in_time),
        cmocka_unit_test(what_a_fresh_session_asks_the_stores),
        cmocka_unit_test(events_can_opt_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
