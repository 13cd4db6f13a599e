/* http_server.c - the listening socket, the set of connections, and the
 * graceful shutdown that drains them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "http/http_internal.h"

void http_limits_default(http_limits_t *limits)
{
    limits->max_header_bytes = 16 * 1024;
    limits->max_body_bytes = 1024 * 1024;
    limits->header_timeout_ms = 10000;
    limits->body_timeout_ms = 30000;
    limits->idle_timeout_ms = 60000;
    limits->max_connections = 10000;
    limits->max_pipelined = 16;
    limits->max_queued_output = 64 * 1024;
    limits->linger_ms = 2000;
}

http_server_t *http_server_new(uv_loop_t *loop, const http_limits_t *limits,
                               http_handler_fn handler, void *user)
{
    http_server_t *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->limits = *limits;
    s->handler = handler;
    s->handler_user = user;
    return s;
}

void http_server_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    http_conn_t *c = handle->data;
    buf->base = c->server->read_buffer;
    buf->len = sizeof(c->server->read_buffer);
}

static void on_connection(uv_stream_t *listener, int status)
{
    http_server_t *s = listener->data;
    if (status < 0) {
        log_warn("http", "accept failed: %s", uv_strerror(status));
        return;
    }
    http_conn_accept(s);
}

int http_server_listen(http_server_t *s, const char *host, int port, char *err, size_t err_size)
{
    struct sockaddr_storage addr;
    int r;
    if (s->handles_open) {
        snprintf(err, err_size, "server already listening");
        return UV_EALREADY;
    }
    /* The handles exist from here on and are closed by http_server_shutdown(). */
    uv_tcp_init(s->loop, &s->listener);
    uv_timer_init(s->loop, &s->grace_timer);
    s->listener.data = s;
    s->grace_timer.data = s;
    s->handles_open = 2;
    if (strchr(host, ':'))
        r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    else
        r = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (r != 0) {
        snprintf(err, err_size, "invalid listen address %s: %s", host, uv_strerror(r));
        return r;
    }
    r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (r == 0) r = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (r != 0) {
        snprintf(err, err_size, "cannot listen on %s:%d: %s", host, port, uv_strerror(r));
        return r;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    s->listening = 1;
    return 0;
}

int http_server_port(const http_server_t *s)
{
    return s->port;
}

size_t http_server_connection_count(const http_server_t *s)
{
    return s->nconns;
}

uv_loop_t *http_server_loop(const http_server_t *s)
{
    return s->loop;
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

void http_server_conn_closed(http_server_t *s, http_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    if (s->shutting_down && s->nconns == 0 && !uv_is_closing((uv_handle_t *)&s->grace_timer))
        uv_close((uv_handle_t *)&s->grace_timer, on_server_handle_closed);
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
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    /* Each connection may unlink itself from the list while we walk it. */
    for (http_conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        http_conn_shutdown(c);
    }
    if (s->nconns)
        uv_timer_start(&s->grace_timer, on_grace_expired, grace_ms, 0);
    else
        uv_close((uv_handle_t *)&s->grace_timer, on_server_handle_closed);
}

void http_server_free(http_server_t *s)
{
    free(s);
}
