/* iopoll.h - one epoll set for many sockets, serviced from a single libuv poll handle.
 *
 * Why: a libuv TCP handle is 248 bytes, more than everything else an idle WebSocket user
 * costs the server together. A socket registered here costs its file descriptor and the
 * pointer it was registered with. Level-triggered: a registered socket reports, to the one
 * callback, the pointer it was registered with and the ready events (EPOLLIN, EPOLLOUT,
 * EPOLLERR, EPOLLHUP), once per loop turn while the condition holds.
 *
 * The callback may add, modify and remove any socket, itself included. An event already
 * collected in the current batch for a socket removed meanwhile is still delivered: owners
 * must keep the memory behind a pointer valid until the batch is over (http_conn frees
 * connections from an idle handle, never from inside a callback) and ignore events for what
 * they closed. Linux only (epoll). Single-threaded: the loop thread. */
#ifndef IOGATE_IOPOLL_H
#define IOGATE_IOPOLL_H

#include <stdint.h>
#include <sys/epoll.h>
#include <uv.h>

/* Ready events handled per loop turn; the rest wait for the next turn. */
#define IOPOLL_BATCH 256

typedef void (*iopoll_cb)(void *user, void *ptr, uint32_t events);

typedef struct iopoll {
    uv_poll_t handle; /* on epfd; handle.data is the iopoll */
    int epfd;
    iopoll_cb cb;
    void *user;
    struct epoll_event ready[IOPOLL_BATCH];
} iopoll_t;

/* Creates the epoll set and starts polling it. Returns 0 or a negative errno (nothing is
 * left to close then). */
int iopoll_init(iopoll_t *p, uv_loop_t *loop, iopoll_cb cb, void *user);
/* Registers fd for events (EPOLLIN and/or EPOLLOUT) with ptr. 0 or a negative errno. */
int iopoll_add(iopoll_t *p, int fd, uint32_t events, void *ptr);
/* Changes the events of a registered fd. 0 or a negative errno. */
int iopoll_mod(iopoll_t *p, int fd, uint32_t events, void *ptr);
/* Unregisters fd; call before closing it. */
void iopoll_del(iopoll_t *p, int fd);
/* Stops polling and closes the set; done runs once libuv has closed the handle (its data
 * field is the iopoll). Every socket must have been removed first. */
void iopoll_close(iopoll_t *p, uv_close_cb done);

#endif
