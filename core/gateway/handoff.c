/* handoff.c - connections passed between workers: a worker that read a request for a
 * session another worker holds sends that worker the descriptor (SCM_RIGHTS) and the bytes
 * it read, in one message on the receiver's SOCK_SEQPACKET inbox; the receiver adopts the
 * connection into its HTTP server as if it had accepted it.
 *
 * The inboxes are socket pairs the supervisor made before starting the workers: only they
 * hold the send ends, so nothing else can write to one. Each send end is shared by every
 * worker (one socket), and each message is one datagram: they never interleave. */
#define _GNU_SOURCE /* MSG_CMSG_CLOEXEC */
#include "gateway/handoff.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"

/* Every message starts with this: a worker of another build (a restart after an upgrade
 * mid-flight) is recognised and its message dropped. */
#define HANDOFF_MAGIC "IOH1"
#define HANDOFF_MAGIC_LEN 4
/* Messages taken per readiness event, so other workers cannot starve this loop. */
#define HANDOFF_BATCH 64

struct handoff {
    uv_poll_t poll;
    http_server_t *http;
    int inbox_fd;
    unsigned count;
    const int *outbox_fds;
    uint64_t full_warned_at; /* the last "queue full" warning (loop ms): one per second */
    char buffer[HANDOFF_MAGIC_LEN + HTTP_HANDOFF_MAX_BYTES];
};

typedef union control {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int))];
} control_t;

int handoff_send(handoff_t *h, unsigned worker, int fd, const char *bytes, size_t len)
{
    if (worker >= h->count || len > HTTP_HANDOFF_MAX_BYTES) return -1;
    struct iovec iov[2] = {{(void *)HANDOFF_MAGIC, HANDOFF_MAGIC_LEN}, {(void *)bytes, len}};
    control_t control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {.msg_iov = iov,
                         .msg_iovlen = 2,
                         .msg_control = control.bytes,
                         .msg_controllen = sizeof(control.bytes)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    ssize_t n;
    do {
        n = sendmsg(h->outbox_fds[worker], &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return 0;
    uint64_t now = uv_now(h->poll.loop);
    if (h->full_warned_at == 0 || now - h->full_warned_at >= 1000) {
        h->full_warned_at = now ? now : 1;
        log_warn("workers", "cannot hand a connection to worker %u: %s (answered 503)", worker,
                 strerror(errno));
    }
    return -1;
}

/* The descriptor a message carried, or -1; any other descriptor in it is closed. */
static int take_descriptor(struct msghdr *msg)
{
    int fd = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int got;
            memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (fd < 0)
                fd = got;
            else
                close(got);
        }
    }
    return fd;
}

static void on_inbox(uv_poll_t *p, int status, int events)
{
    (void)events;
    handoff_t *h = p->data;
    if (status < 0) {
        log_warn("workers", "hand-off inbox: %s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < HANDOFF_BATCH; i++) {
        struct iovec iov = {h->buffer, sizeof(h->buffer)};
        control_t control;
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control.bytes,
                             .msg_controllen = sizeof(control.bytes)};
        ssize_t n = recvmsg(h->inbox_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; /* EAGAIN: all taken */
        int fd = take_descriptor(&msg);
        if (fd < 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || n < HANDOFF_MAGIC_LEN ||
            memcmp(h->buffer, HANDOFF_MAGIC, HANDOFF_MAGIC_LEN) != 0) {
            log_warn("workers", "malformed hand-off message dropped");
            if (fd >= 0) close(fd);
            continue;
        }
        http_server_adopt(h->http, fd, h->buffer + HANDOFF_MAGIC_LEN,
                          (size_t)n - HANDOFF_MAGIC_LEN);
    }
}

static void on_closed_free(uv_handle_t *handle)
{
    free(handle->data);
}

handoff_t *handoff_new(uv_loop_t *loop, const worker_slot_t *slot, http_server_t *http, char *err,
                       size_t err_size)
{
    handoff_t *h = xcalloc(1, sizeof(*h));
    h->http = http;
    h->inbox_fd = slot->inbox_fd;
    h->count = slot->count;
    h->outbox_fds = slot->outbox_fds;
    int r = uv_poll_init(loop, &h->poll, h->inbox_fd);
    h->poll.data = h;
    if (r != 0) {
        free(h);
    } else if ((r = uv_poll_start(&h->poll, UV_READABLE, on_inbox)) != 0) {
        uv_close((uv_handle_t *)&h->poll, on_closed_free);
    } else {
        return h;
    }
    snprintf(err, err_size, "cannot poll the hand-off inbox: %s", uv_strerror(r));
    return NULL;
}

void handoff_close(handoff_t *h)
{
    if (h && !uv_is_closing((uv_handle_t *)&h->poll)) uv_close((uv_handle_t *)&h->poll, NULL);
}

void handoff_free(handoff_t *h)
{
    free(h);
}
