/* iopoll.c - one epoll set for many sockets under one libuv poll handle (see iopoll.h). */
#include "http/iopoll.h"

#include <errno.h>
#include <unistd.h>

static void on_ready(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    iopoll_t *p = h->data;
    int n;
    do {
        n = epoll_wait(p->epfd, p->ready, IOPOLL_BATCH, 0);
    } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; i++)
        p->cb(p->user, p->ready[i].data.ptr, p->ready[i].events);
}

int iopoll_init(iopoll_t *p, uv_loop_t *loop, iopoll_cb cb, void *user)
{
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) return -errno;
    p->cb = cb;
    p->user = user;
    int r = uv_poll_init(loop, &p->handle, p->epfd);
    if (r == 0) {
        p->handle.data = p;
        r = uv_poll_start(&p->handle, UV_READABLE, on_ready);
        if (r != 0) uv_close((uv_handle_t *)&p->handle, NULL);
    }
    if (r != 0) {
        close(p->epfd);
        p->epfd = -1;
    }
    return r;
}

static int ctl(iopoll_t *p, int op, int fd, uint32_t events, void *ptr)
{
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    return epoll_ctl(p->epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

int iopoll_add(iopoll_t *p, int fd, uint32_t events, void *ptr)
{
    return ctl(p, EPOLL_CTL_ADD, fd, events, ptr);
}

int iopoll_mod(iopoll_t *p, int fd, uint32_t events, void *ptr)
{
    return ctl(p, EPOLL_CTL_MOD, fd, events, ptr);
}

void iopoll_del(iopoll_t *p, int fd)
{
    ctl(p, EPOLL_CTL_DEL, fd, 0, NULL);
}

void iopoll_close(iopoll_t *p, uv_close_cb done)
{
    uv_poll_stop(&p->handle);
    uv_close((uv_handle_t *)&p->handle, done);
    close(p->epfd);
    p->epfd = -1;
}
