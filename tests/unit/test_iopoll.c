/* test_iopoll.c - the shared epoll set under one libuv poll handle: events reach the one
 * callback with the registered pointer, changes of interest take effect, removed sockets go
 * quiet, a callback may remove a socket whose event is later in the same batch, and the set
 * closes cleanly. Real sockets (socketpair), a real loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/iopoll.h"

typedef struct end {
    int fd, peer;
    unsigned in, out, hup;
    int removed; /* the owner's flag: events for it must be ignored */
} end_t;

typedef struct fixture {
    iopoll_t io;
    uv_loop_t loop;
    end_t ends[3];
    int remove_others; /* the first callback removes every other end */
    unsigned calls;
    int closed;
} fixture_t;

static void on_event(void *user, void *ptr, uint32_t events)
{
    fixture_t *f = user;
    end_t *e = ptr;
    f->calls++;
    if (f->remove_others && f->calls == 1) {
        for (int i = 0; i < 3; i++) {
            if (&f->ends[i] == e) continue;
            iopoll_del(&f->io, f->ends[i].fd);
            f->ends[i].removed = 1;
        }
    }
    if (e->removed) return;
    if (events & EPOLLIN) {
        char buf[64];
        ssize_t n = read(e->fd, buf, sizeof(buf));
        if (n > 0) e->in += (unsigned)n;
        if (n == 0) e->hup++;
    }
    if (events & EPOLLOUT) e->out++;
    if (events & (EPOLLHUP | EPOLLERR)) e->hup++;
}

static void setup_ends(fixture_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        f->ends[i].fd = sv[0];
        f->ends[i].peer = sv[1];
    }
}

static void on_closed(uv_handle_t *h)
{
    iopoll_t *io = h->data;
    ((fixture_t *)io->user)->closed = 1;
}

static void teardown_all(fixture_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!f->ends[i].removed) iopoll_del(&f->io, f->ends[i].fd);
        close(f->ends[i].fd);
        close(f->ends[i].peer);
    }
    iopoll_close(&f->io, on_closed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->closed);
    assert_int_equal(f->io.epfd, -1);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void events_reach_the_callback_with_their_pointer(void **state)
{
    (void)state;
    fixture_t f;
    memset(&f, 0, sizeof(f));
    uv_loop_init(&f.loop);
    assert_int_equal(iopoll_init(&f.io, &f.loop, on_event, &f), 0);
    setup_ends(&f, 2);
    assert_int_equal(iopoll_add(&f.io, f.ends[0].fd, EPOLLIN, &f.ends[0]), 0);
    assert_int_equal(iopoll_add(&f.io, f.ends[1].fd, EPOLLIN, &f.ends[1]), 0);
    assert_int_equal(iopoll_add(&f.io, f.ends[1].fd, EPOLLIN, &f.ends[1]), -EEXIST);

    assert_int_equal(write(f.ends[1].peer, "hello", 5), 5);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_int_equal(f.ends[0].in, 0);
    assert_int_equal(f.ends[1].in, 5);

    /* Interest in writability, then none: removed sockets stay quiet. */
    assert_int_equal(iopoll_mod(&f.io, f.ends[0].fd, EPOLLOUT, &f.ends[0]), 0);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_true(f.ends[0].out >= 1);
    unsigned out = f.ends[0].out;
    iopoll_del(&f.io, f.ends[0].fd);
    f.ends[0].removed = 1;
    assert_int_equal(write(f.ends[0].peer, "x", 1), 1);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_int_equal(f.ends[0].out, out);
    assert_int_equal(f.ends[0].in, 0);

    /* The peer going away is reported. */
    close(f.ends[1].peer);
    f.ends[1].peer = -1;
    uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_true(f.ends[1].hup >= 1);
    teardown_all(&f, 2);
}

/* Three sockets ready in one batch; the first callback removes the two others. Their
 * events, already collected, still arrive with their pointers (which the owner must keep
 * valid), and the owner's flag lets them be ignored. */
static void a_callback_may_remove_a_socket_later_in_the_batch(void **state)
{
    (void)state;
    fixture_t f;
    memset(&f, 0, sizeof(f));
    uv_loop_init(&f.loop);
    assert_int_equal(iopoll_init(&f.io, &f.loop, on_event, &f), 0);
    setup_ends(&f, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(iopoll_add(&f.io, f.ends[i].fd, EPOLLIN, &f.ends[i]), 0);
        assert_int_equal(write(f.ends[i].peer, "abc", 3), 3);
    }
    f.remove_others = 1;
    uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_int_equal(f.calls, 3);
    int kept = -1;
    for (int i = 0; i < 3; i++)
        if (!f.ends[i].removed) kept = i;
    assert_true(kept >= 0);
    assert_int_equal(f.ends[0].in + f.ends[1].in + f.ends[2].in, 3);
    assert_int_equal(f.ends[kept].in, 3);
    /* Nothing more for the removed ones; the kept one goes on. */
    f.calls = 0;
    f.remove_others = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(write(f.ends[i].peer, "more", 4), 4);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.ends[kept].in, 7);
    teardown_all(&f, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_reach_the_callback_with_their_pointer),
        cmocka_unit_test(a_callback_may_remove_a_socket_later_in_the_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
