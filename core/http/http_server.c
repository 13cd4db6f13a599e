/* http_server.c - the listening socket, the set of connections, and the
 * graceful shutdown that drains them.
 *
 * The listener and every connection are bare descriptors in one epoll set (iopoll.h);
 * the server's own libuv handles are that set's poll handle, the reaper that frees closed
 * connections, the flusher that writes deferred output, the accept pause and the grace
 * timer. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "config/config.h"
#include "http/http_internal.h"

void http_limits_default(http_limits_t *limits)
{
    limits->max_header_bytes = CONFIG_HTTP_MAX_HEADER_BYTES;
    limits->max_body_bytes = CONFIG_HTTP_MAX_BODY_BYTES;
    limits->header_timeout_ms = CONFIG_HTTP_HEADER_TIMEOUT_MS;
    limits->body_timeout_ms = CONFIG_HTTP_BODY_TIMEOUT_MS;
    limits->idle_timeout_ms = CONFIG_HTTP_IDLE_TIMEOUT_MS;
    limits->max_connections = 10000;
    limits->max_pipelined = CONFIG_HTTP_MAX_PIPELINED;
    limits->max_queued_output = CONFIG_HTTP_MAX_QUEUED_OUTPUT_BYTES;
    limits->linger_ms = CONFIG_HTTP_LINGER_MS;
    limits->immediate_writes_per_turn = CONFIG_HTTP_IMMEDIATE_WRITES_PER_TURN;
    limits->max_client_bytes = CONFIG_LIMITS_MAX_CLIENT_BYTES;
}

size_t http_connection_capacity(size_t reserved, size_t *nofile)
{
    struct rlimit rl;
    *nofile = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur != rl.rlim_max) {
        /* The hard limit is the operator's ceiling; the soft one is only a default. The
         * kernel refuses RLIM_INFINITY for descriptors, so an unlimited hard limit is asked
         * for as its usual ceiling (fs.nr_open). */
        struct rlimit want = {rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) getrlimit(RLIMIT_NOFILE, &rl);
    }
    *nofile = rl.rlim_cur == RLIM_INFINITY ? SIZE_MAX : (size_t)rl.rlim_cur;
    return *nofile > reserved ? *nofile - reserved : 0;
}

http_server_t *http_server_new(uv_loop_t *loop, const http_limits_t *limits,
                               http_handler_fn handler, void *user)
{
    http_server_t *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->limits = *limits;
    membudget_init(&s->budget, limits->max_client_bytes);
    s->handler = handler;
    s->handler_user = user;
    s->listen_fd = -1;
    return s;
}

/* Connections accepted per loop turn at most, so a connection storm cannot starve the
 * connections already open. */
#define ACCEPT_BATCH 128
/* How long the listener rests when the process is out of descriptors (the listener is
 * level-triggered: retrying at once would spin). */
#define ACCEPT_PAUSE_MS 100

static void on_accept_resume(uv_timer_t *t)
{
    http_server_t *s = t->data;
    if (s->listen_fd >= 0) iopoll_add(&s->io, s->listen_fd, EPOLLIN, s);
}

static void accept_ready(http_server_t *s)
{
    for (int i = 0; i < ACCEPT_BATCH && s->listen_fd >= 0; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd =
            accept4(s->listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            http_conn_accept(s, fd, (const struct sockaddr *)&peer);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        log_warn("http", "accept failed: %s", strerror(errno));
        iopoll_del(&s->io, s->listen_fd);
        uv_timer_start(&s->accept_pause, on_accept_resume, ACCEPT_PAUSE_MS, 0);
        return;
    }
}

static void on_io(void *user, void *ptr, uint32_t events)
{
    http_server_t *s = user;
    if (ptr == s)
        accept_ready(s);
    else
        http_conn_io(s, ptr, events);
}

static void on_reap(uv_idle_t *h)
{
    http_server_t *s = h->data;
    while (s->closed) {
        http_conn_t *c = s->closed;
        s->closed = c->next_queued;
        http_conn_reap(c);
    }
    if (!uv_is_closing((uv_handle_t *)h)) uv_idle_stop(h);
}

void http_server_conn_reap_later(http_server_t *s, http_conn_t *c)
{
    if (c->flush_queued) return; /* the flusher hands it over when its turn comes */
    c->next_queued = s->closed;
    s->closed = c;
    uv_idle_start(&s->reaper, on_reap);
}

/* After a broadcast storm (this many deferred writes since the last time), once the flush
 * queue has stayed empty for TRIM_QUIET_MS, free heap goes back to the system. A storm
 * holds a queue entry per waiting message per connection (tens of MB at 10,000 users);
 * once written they are free but scattered, and glibc keeps such memory unless asked.
 * Trimming inside a storm would only make the next wave fault the pages in again. */
#define TRIM_AFTER_DEFERRED 65536
#define TRIM_QUIET_MS 1000

static void on_trim_timer(uv_timer_t *t)
{
    http_server_t *s = t->data;
    if (s->flush_head) return;
    s->deferred_at_trim = s->stats.writes_deferred;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void trim_after_storm(http_server_t *s)
{
    if (s->stats.writes_deferred - s->deferred_at_trim < TRIM_AFTER_DEFERRED) return;
    uv_timer_start(&s->trim_timer, on_trim_timer, TRIM_QUIET_MS, 0);
}

/* Connections flushed per loop turn. Between slices the loop reads again, so output that
 * arrives meanwhile joins what still waits and leaves in the same system call. */
#define FLUSH_SLICE 128

static void on_flush(uv_idle_t *h)
{
    http_server_t *s = h->data;
    for (int i = 0; i < FLUSH_SLICE && s->flush_head; i++) {
        http_conn_t *c = s->flush_head;
        s->flush_head = c->next_queued;
        if (!s->flush_head) s->flush_tail = NULL;
        c->next_queued = NULL;
        c->flush_queued = 0;
        if (c->closing)
            http_server_conn_reap_later(s, c);
        else
            http_conn_flush(c);
    }
    if (s->flush_head || uv_is_closing((uv_handle_t *)h)) return;
    uv_idle_stop(h);
    trim_after_storm(s);
}

void http_server_flush_later(http_server_t *s, http_conn_t *c)
{
    c->flush_queued = 1;
    c->next_queued = NULL;
    if (s->flush_tail)
        s->flush_tail->next_queued = c;
    else
        s->flush_head = c;
    s->flush_tail = c;
    uv_idle_start(&s->flusher, on_flush);
}

/* A listening socket on (host, port); returns it or a negative errno. */
static int listen_socket(const struct sockaddr *addr, socklen_t addr_len, int reuse_port)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        bind(fd, addr, addr_len) != 0 || listen(fd, 1024) != 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

int http_server_listen(http_server_t *s, const char *host, int port, char *err, size_t err_size)
{
    struct sockaddr_storage addr;
    int r;
    if (s->handles_open) {
        snprintf(err, err_size, "server already listening");
        return UV_EALREADY;
    }
    int v6 = strchr(host, ':') != NULL;
    if (v6)
        r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    else
        r = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (r != 0) {
        snprintf(err, err_size, "invalid listen address %s: %s", host, uv_strerror(r));
        return r;
    }
    int fd =
        listen_socket((const struct sockaddr *)&addr,
                      v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in), s->reuse_port);
    if (fd < 0) {
        snprintf(err, err_size, "cannot listen on %s:%d: %s", host, port, uv_strerror(fd));
        return fd;
    }
    r = iopoll_init(&s->io, s->loop, on_io, s);
    if (r == 0) {
        r = iopoll_add(&s->io, fd, EPOLLIN, s);
        if (r != 0) iopoll_close(&s->io, NULL);
    }
    if (r != 0) {
        close(fd);
        snprintf(err, err_size, "cannot poll the listener: %s", uv_strerror(r));
        return r;
    }
    /* The handles exist from here on and are closed by http_server_shutdown(). */
    s->listen_fd = fd;
    uv_idle_init(s->loop, &s->reaper);
    uv_idle_init(s->loop, &s->flusher);
    uv_timer_init(s->loop, &s->trim_timer);
    uv_timer_init(s->loop, &s->accept_pause);
    uv_timer_init(s->loop, &s->grace_timer);
    s->reaper.data = s;
    s->flusher.data = s;
    s->trim_timer.data = s;
    s->accept_pause.data = s;
    s->grace_timer.data = s;
    s->handles_open = 6;
    struct sockaddr_storage bound;
    socklen_t len = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    s->listening = 1;
    return 0;
}

void http_server_share_port(http_server_t *s)
{
    s->reuse_port = 1;
}

void http_server_set_steering(http_server_t *s, const http_steering_t *steering)
{
    s->steering = *steering;
}

void http_server_adopt(http_server_t *s, int fd, const char *bytes, size_t len)
{
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0)
        peer.ss_family = AF_UNSPEC; /* reset meanwhile: the first read will say so */
    s->stats.adopted++;
    http_conn_t *c = http_conn_accept(s, fd, (const struct sockaddr *)&peer);
    if (c) http_conn_feed(c, bytes, len);
}

int http_server_port(const http_server_t *s)
{
    return s->port;
}

size_t http_server_connection_count(const http_server_t *s)
{
    return s->nconns;
}

const http_stats_t *http_server_stats(const http_server_t *s)
{
    return &s->stats;
}

membudget_t *http_server_budget(http_server_t *s)
{
    return &s->budget;
}

const char *http_server_date(http_server_t *s)
{
    time_t now = time(NULL);
    if (now != s->date_second) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_second = now;
    }
    return s->date;
}

static void maybe_shutdown_done(http_server_t *s)
{
    if (!s->shutting_down || s->nconns || s->handles_open || !s->shutdown_done) return;
    void (*done)(void *) = s->shutdown_done;
    s->shutdown_done = NULL;
    done(s->shutdown_user);
}

static void on_server_handle_closed(uv_handle_t *h)
{
    http_server_t *s = h->data;
    s->handles_open--;
    maybe_shutdown_done(s);
}

static void on_io_closed(uv_handle_t *h)
{
    iopoll_t *io = h->data;
    http_server_t *s = io->user;
    s->handles_open--;
    maybe_shutdown_done(s);
}

/* Once shutting down with no connection left: the server's own handles go. */
static void close_server_handles(http_server_t *s)
{
    if (uv_is_closing((uv_handle_t *)&s->grace_timer)) return;
    uv_close((uv_handle_t *)&s->grace_timer, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->accept_pause, on_server_handle_closed);
    uv_idle_stop(&s->reaper);
    uv_close((uv_handle_t *)&s->reaper, on_server_handle_closed);
    uv_idle_stop(&s->flusher);
    uv_close((uv_handle_t *)&s->flusher, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->trim_timer, on_server_handle_closed);
    iopoll_close(&s->io, on_io_closed);
}

void http_server_conn_closed(http_server_t *s, http_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    if (s->shutting_down && s->nconns == 0) close_server_handles(s);
    maybe_shutdown_done(s);
}

static void on_grace_expired(uv_timer_t *t)
{
    http_server_t *s = t->data;
    if (s->nconns) log_warn("http", "grace period over: closing %zu connections", s->nconns);
    for (http_conn_t *c = s->conns; c; c = c->next)
        http_conn_force_close(c);
}

void http_server_shutdown(http_server_t *s, uint64_t grace_ms, void (*done)(void *user), void *user)
{
    if (s->shutting_down) return;
    s->shutting_down = 1;
    s->shutdown_done = done;
    s->shutdown_user = user;
    if (!s->handles_open) {
        done(user);
        return;
    }
    iopoll_del(&s->io, s->listen_fd);
    close(s->listen_fd);
    s->listen_fd = -1;
    uv_timer_stop(&s->accept_pause);
    /* Each connection may unlink itself from the list while we walk it. */
    for (http_conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        http_conn_shutdown(c);
    }
    if (s->nconns)
        uv_timer_start(&s->grace_timer, on_grace_expired, grace_ms, 0);
    else
        close_server_handles(s);
}

void http_server_free(http_server_t *s)
{
    free(s);
}
