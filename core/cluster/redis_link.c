/* redis_link.c - a subscriber and a publisher connection to one Redis server (see
 * redis_link.h).
 *
 * Each connection runs the same cycle: IDLE (retry timer) -> RESOLVING (uv_getaddrinfo, so a
 * slow DNS never blocks the loop) -> CONNECTING -> HANDSHAKE ([AUTH] [SELECT] PING, pipelined;
 * the PING makes every connect prove the server answers) -> READY; the subscriber passes
 * through SYNCING while its subscriptions are confirmed. Any failure goes back to IDLE with
 * the next backoff delay. One timer per connection serves as retry delay and connect deadline.
 *
 * hiredis rules this file keeps: a context is never freed inside its own connect or
 * disconnect callback (hiredis frees it right after), and a context we drop gets data = NULL
 * first, so the callbacks hiredis still runs for it (NULL replies) are recognised as stale. */
#include "cluster/redis_link.h"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/random.h"
#include "base/strmap.h"

#define LOG_COMP "redis"

typedef enum conn_phase {
    PH_IDLE,
    PH_RESOLVING,
    PH_CONNECTING,
    PH_HANDSHAKE,
    PH_SYNCING,
    PH_READY,
} conn_phase_t;

typedef struct rl_conn {
    redis_link_t *link;
    const char *name; /* "subscriber" | "publisher", for messages */
    int is_sub;
    conn_phase_t phase;
    redisAsyncContext *ac; /* from CONNECTING on */
    uv_getaddrinfo_t *gai; /* while RESOLVING; frees itself in its callback */
    uv_timer_t timer;      /* retry delay when IDLE, connect deadline otherwise */
    unsigned backoff_ms;   /* the next retry delay before jitter */
    int hs_sent, hs_done;  /* handshake commands sent and answered */
    const char *hs_cmd[3]; /* their names, for the error message */
} rl_conn_t;

/* A queued publish: the channel (NUL-terminated) then the payload, in one block. */
typedef struct rl_item {
    struct rl_item *next;
    size_t chan_len, len;
    char bytes[];
} rl_item_t;

/* A pending redis_link_command(). */
typedef struct rl_cmd {
    redis_link_t *link;
    redis_link_reply_cb cb;
    void *arg;
} rl_cmd_t;

/* Our libuv attachment of a hiredis context (in place of hiredis/adapters/libuv.h, see
 * poll_cb; and it lets the link count its handles for a clean close). */
typedef struct rl_poll {
    uv_poll_t handle;
    redisAsyncContext *ac; /* NULL once hiredis has let go */
    redis_link_t *link;
    int events;
} rl_poll_t;

struct redis_link {
    uv_loop_t *loop;
    redis_url_t url;
    char where[300]; /* the URL without credentials, for messages */
    redis_link_opts_t opts;
    rl_conn_t sub, pub;
    strmap_t channels, patterns; /* what to subscribe after every connect; values unused */
    size_t sub_pending;          /* subscribe confirmations awaited */
    rl_item_t *head, *tail;      /* the queue, oldest first */
    int failing;                 /* a connection failed since the link was last up */
    unsigned episode_failures;   /* failures since the link was last up */
    uint64_t episode_dropped;    /* drops since the overflow warning */
    int overflow_logged;
    int closing;
    unsigned open; /* libuv handles and requests not yet closed or completed */
    redis_link_closed_cb done;
    void *done_arg;
    redis_link_stats_t st;
};

static void conn_start(rl_conn_t *c);
static void conn_fail(rl_conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void link_update(redis_link_t *l);
static void drain(redis_link_t *l);

/* ---- closing: the link is freed once its last handle or request is done ---- */

static void link_release(redis_link_t *l)
{
    if (--l->open > 0 || !l->closing) return;
    if (l->done) l->done(l->done_arg);
    strmap_free(&l->channels);
    strmap_free(&l->patterns);
    free(l);
}

/* ---- the libuv attachment ---- */

static void poll_cb(uv_poll_t *h, int status, int events)
{
    rl_poll_t *p = h->data;
    /* On POLLERR libuv stops the handle and reports an error without events; hiredis 0.14's
     * own adapter then does nothing, and a refused or reset connection hangs forever. Let
     * hiredis read and write: it finds the socket error and disconnects. */
    int ev = status < 0 ? p->events : events;
    if (p->ac && (ev & UV_READABLE)) redisAsyncHandleRead(p->ac);
    if (p->ac && (ev & UV_WRITABLE)) redisAsyncHandleWrite(p->ac);
}

static void poll_set(rl_poll_t *p, int events)
{
    p->events = events;
    if (events)
        uv_poll_start(&p->handle, events, poll_cb);
    else
        uv_poll_stop(&p->handle);
}

static void ev_add_read(void *d)
{
    rl_poll_t *p = d;
    poll_set(p, p->events | UV_READABLE);
}

static void ev_del_read(void *d)
{
    rl_poll_t *p = d;
    poll_set(p, p->events & ~UV_READABLE);
}

static void ev_add_write(void *d)
{
    rl_poll_t *p = d;
    poll_set(p, p->events | UV_WRITABLE);
}

static void ev_del_write(void *d)
{
    rl_poll_t *p = d;
    poll_set(p, p->events & ~UV_WRITABLE);
}

static void on_poll_closed(uv_handle_t *h)
{
    rl_poll_t *p = h->data;
    redis_link_t *l = p->link;
    free(p);
    link_release(l);
}

/* hiredis is freeing the context. */
static void ev_cleanup(void *d)
{
    rl_poll_t *p = d;
    p->ac = NULL;
    uv_close((uv_handle_t *)&p->handle, on_poll_closed);
}

static int poll_attach(redis_link_t *l, redisAsyncContext *ac)
{
    rl_poll_t *p = xcalloc(1, sizeof(*p));
    int rc = uv_poll_init(l->loop, &p->handle, ac->c.fd);
    if (rc != 0) {
        free(p);
        return rc;
    }
    p->handle.data = p;
    p->ac = ac;
    p->link = l;
    ac->ev.data = p;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    l->open++;
    /* hiredis 0.14 learns that a connect completed from the first writable event. */
    poll_set(p, UV_WRITABLE);
    return 0;
}

/* ---- one connection ---- */

/* Lets go of the context or the DNS request, if any; hiredis still runs the pending reply
 * callbacks (with NULL) and closes the poll handle through ev_cleanup. Inside a callback of
 * this context hiredis defers the free until that callback returns. */
static void conn_detach(rl_conn_t *c)
{
    /* First, so that what the callbacks run below see is already down. */
    c->phase = PH_IDLE;
    if (c->is_sub) c->link->sub_pending = 0;
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if (c->gai) {
        uv_cancel((uv_req_t *)c->gai); /* its callback still runs and frees it */
        c->gai = NULL;
    }
}

/* The delay before the next attempt: backoff_ms jittered to 50-100%, so a fleet that lost
 * Redis at once does not come back in lockstep. */
static unsigned next_delay(rl_conn_t *c)
{
    const redis_link_opts_t *o = &c->link->opts;
    unsigned b = c->backoff_ms, r;
    random_bytes(&r, sizeof(r));
    c->backoff_ms = b >= o->backoff_max_ms / 2 ? o->backoff_max_ms : b * 2;
    return b / 2 + r % (b - b / 2 + 1);
}

static void on_timer(uv_timer_t *t)
{
    rl_conn_t *c = t->data;
    if (c->phase == PH_IDLE)
        conn_start(c);
    else
        conn_fail(c, "no answer within %u ms", c->link->opts.connect_timeout_ms);
}

static void conn_fail(rl_conn_t *c, const char *fmt, ...)
{
    redis_link_t *l = c->link;
    char why[160]; /* before the detach, which may free what the arguments point into */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    conn_detach(c); /* may run command callbacks, which may close the link */
    if (l->closing) return;
    snprintf(l->st.last_error, sizeof(l->st.last_error), "%s: %s", c->name, why);
    l->st.failures++;
    l->episode_failures++;
    unsigned delay = next_delay(c);
    /* One warning per outage; the retries that follow are debug lines. */
    if (!l->failing)
        log_warn(LOG_COMP, "%s: %s (retrying with backoff)", l->where, l->st.last_error);
    else
        log_debug(LOG_COMP, "%s: %s (retry in %u ms)", l->where, l->st.last_error, delay);
    l->failing = 1;
    uv_timer_start(&c->timer, on_timer, delay, 0);
    link_update(l);
}

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv);

/* Sends SUBSCRIBE (or PSUBSCRIBE) for every name in m, in batches to keep commands small. */
static void subscribe_all(rl_conn_t *c, strmap_t *m, const char *cmd)
{
    enum { BATCH = 256 };
    const char *argv[BATCH + 1];
    size_t lens[BATCH + 1];
    size_t pos = 0;
    const strmap_entry_t *e = strmap_next(m, &pos);
    while (e && c->ac) {
        int argc = 1;
        argv[0] = cmd;
        lens[0] = strlen(cmd);
        for (; e && argc <= BATCH; e = strmap_next(m, &pos), argc++) {
            argv[argc] = e->key;
            lens[argc] = e->len;
        }
        if (redisAsyncCommandArgv(c->ac, on_sub_reply, c, argc, argv, lens) != REDIS_OK) return;
        c->link->sub_pending += (size_t)argc - 1;
    }
}

/* Logged in: the publisher is ready; the subscriber subscribes everything first. */
static void conn_ready(rl_conn_t *c)
{
    redis_link_t *l = c->link;
    c->backoff_ms = l->opts.backoff_min_ms;
    c->phase = PH_READY;
    if (c->is_sub) {
        l->sub_pending = 0;
        subscribe_all(c, &l->channels, "SUBSCRIBE");
        subscribe_all(c, &l->patterns, "PSUBSCRIBE");
        if (l->sub_pending > 0) c->phase = PH_SYNCING; /* the deadline still runs */
    }
    if (c->phase == PH_READY) uv_timer_stop(&c->timer);
    link_update(l);
}

static void on_handshake_reply(redisAsyncContext *ac, void *r, void *priv)
{
    rl_conn_t *c = priv;
    redisReply *reply = r;
    if (ac->data != c || !reply) return; /* dropped, or dropping: on_disconnect reports */
    int step = c->hs_done++;
    if (reply->type == REDIS_REPLY_ERROR) {
        conn_fail(c, "%s refused: %s", c->hs_cmd[step], reply->str);
        return;
    }
    if (c->hs_done == c->hs_sent) conn_ready(c);
}

static void handshake_send(rl_conn_t *c, int argc, const char **argv)
{
    c->hs_cmd[c->hs_sent] = argv[0];
    if (redisAsyncCommandArgv(c->ac, on_handshake_reply, c, argc, argv, NULL) == REDIS_OK)
        c->hs_sent++;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rl_conn_t *c = ac->data;
    if (!c) return;
    if (status != REDIS_OK) {
        c->ac = NULL; /* hiredis frees it after this callback */
        conn_fail(c, "%s", ac->c.errstr);
        return;
    }
    redis_link_t *l = c->link;
    c->phase = PH_HANDSHAKE;
    c->hs_sent = c->hs_done = 0;
    if (l->url.password[0] && l->url.user[0]) /* Redis 6 ACL */
        handshake_send(c, 3, (const char *[]){"AUTH", l->url.user, l->url.password});
    else if (l->url.password[0])
        handshake_send(c, 2, (const char *[]){"AUTH", l->url.password});
    if (l->url.db > 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", l->url.db);
        handshake_send(c, 2, (const char *[]){"SELECT", db});
    }
    handshake_send(c, 1, (const char *[]){"PING"});
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    rl_conn_t *c = ac->data;
    if (!c) return;
    c->ac = NULL; /* hiredis frees it after this callback */
    if (status == REDIS_OK)
        conn_fail(c, "connection closed");
    else
        conn_fail(c, "%s", ac->c.errstr);
}

static void conn_connect(rl_conn_t *c, const char *ip)
{
    redis_link_t *l = c->link;
    redisAsyncContext *ac =
        l->url.is_unix ? redisAsyncConnectUnix(l->url.path) : redisAsyncConnect(ip, l->url.port);
    if (!ac) {
        conn_fail(c, "out of memory");
        return;
    }
    if (ac->err) {
        conn_fail(c, "%s", ac->c.errstr);
        redisAsyncFree(ac);
        return;
    }
    int rc = poll_attach(l, ac);
    if (rc != 0) {
        redisAsyncFree(ac);
        conn_fail(c, "cannot poll the socket: %s", uv_strerror(rc));
        return;
    }
    ac->data = c;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Notices a peer that vanished without closing (a dead host, a cut network). */
    if (!l->url.is_unix) redisEnableKeepAlive(&ac->c);
    c->ac = ac;
    c->phase = PH_CONNECTING;
}

/* The first IPv4 address, else the first IPv6 one (hiredis's own preference). */
static int pick_address(const struct addrinfo *res, char *ip, size_t ipsz)
{
    for (int want = AF_INET;; want = AF_INET6) {
        for (const struct addrinfo *a = res; a; a = a->ai_next) {
            if (a->ai_family != want) continue;
            const void *src = want == AF_INET
                                  ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                                  : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
            if (inet_ntop(want, src, ip, (socklen_t)ipsz)) return 0;
        }
        if (want == AF_INET6) return -1;
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    rl_conn_t *c = req->data;
    redis_link_t *l = c->link;
    int current = c->gai == req;
    free(req);
    if (current) {
        c->gai = NULL;
        char ip[INET6_ADDRSTRLEN];
        if (status != 0)
            conn_fail(c, "cannot resolve %s: %s", l->url.host, uv_strerror(status));
        else if (pick_address(res, ip, sizeof(ip)) != 0)
            conn_fail(c, "cannot resolve %s: no IPv4 or IPv6 address", l->url.host);
        else
            conn_connect(c, ip);
    }
    uv_freeaddrinfo(res);
    link_release(l);
}

static int is_ip_literal(const char *host)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

static void conn_start(rl_conn_t *c)
{
    redis_link_t *l = c->link;
    uv_timer_start(&c->timer, on_timer, l->opts.connect_timeout_ms, 0);
    if (l->url.is_unix || is_ip_literal(l->url.host)) {
        conn_connect(c, l->url.host);
        return;
    }
    uv_getaddrinfo_t *req = xmalloc(sizeof(*req));
    req->data = c;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(l->loop, req, on_resolved, l->url.host, NULL, &hints);
    if (rc != 0) {
        free(req);
        conn_fail(c, "cannot resolve %s: %s", l->url.host, uv_strerror(rc));
        return;
    }
    l->open++;
    c->gai = req;
    c->phase = PH_RESOLVING;
}

/* ---- subscriptions ---- */

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    rl_conn_t *c = priv;
    redis_link_t *l = c->link;
    redisReply *reply = r;
    if (ac->data != c || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    redisReply **el = reply->element;
    if (el[0]->type != REDIS_REPLY_STRING) return;
    const char *kind = el[0]->str;
    if (strcmp(kind, "message") == 0 || strcmp(kind, "pmessage") == 0) {
        int pat = kind[0] == 'p';
        if ((size_t)(3 + pat) > reply->elements) return;
        redisReply *name = el[1], *chan = el[1 + pat], *data = el[2 + pat];
        /* Unsubscribed meanwhile: Redis may still have sent a few. */
        if (!strmap_get(pat ? &l->patterns : &l->channels, name->str, name->len)) return;
        l->st.received++;
        l->opts.on_message(l->opts.user, chan->str, pat ? name->str : NULL, data->str, data->len);
    } else if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "psubscribe") == 0) {
        if (l->sub_pending > 0 && --l->sub_pending > 0) return;
        if (c->phase == PH_SYNCING) {
            c->phase = PH_READY;
            uv_timer_stop(&c->timer);
            link_update(l);
        } else {
            drain(l); /* publishes held back for a new subscription */
        }
    }
}

static int sub_connected(const rl_conn_t *c)
{
    return c->phase == PH_SYNCING || c->phase == PH_READY;
}

int redis_link_subscribe(redis_link_t *l, int pattern, const char *name)
{
    if (l->closing) return UV_ECANCELED;
    if (!name || !*name) return UV_EINVAL;
    strmap_t *m = pattern ? &l->patterns : &l->channels;
    size_t len = strlen(name);
    if (strmap_get(m, name, len)) return 0;
    strmap_put(m, name, len, l);
    if (sub_connected(&l->sub)) {
        const char *argv[2] = {pattern ? "PSUBSCRIBE" : "SUBSCRIBE", name};
        if (redisAsyncCommandArgv(l->sub.ac, on_sub_reply, &l->sub, 2, argv, NULL) == REDIS_OK)
            l->sub_pending++;
    }
    return 0;
}

int redis_link_unsubscribe(redis_link_t *l, int pattern, const char *name)
{
    if (l->closing) return UV_ECANCELED;
    strmap_t *m = pattern ? &l->patterns : &l->channels;
    if (!name || !strmap_remove(m, name, strlen(name))) return UV_ENOENT;
    if (sub_connected(&l->sub)) {
        /* The confirmation goes to the channel's callback (on_sub_reply), which ignores it. */
        const char *argv[2] = {pattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE", name};
        redisAsyncCommandArgv(l->sub.ac, NULL, NULL, 2, argv, NULL);
    }
    return 0;
}

/* ---- publishing ---- */

/* Both connections logged in and subscribed: the phases, not st.state, which is updated after
 * the callbacks that a lost connection runs. */
static int link_is_up(const redis_link_t *l)
{
    return l->sub.phase == PH_READY && l->pub.phase == PH_READY;
}

static int can_send(const redis_link_t *l)
{
    return link_is_up(l) && l->sub_pending == 0 && l->st.inflight < l->opts.inflight_max &&
           sdslen(l->pub.ac->c.obuf) < l->opts.outbuf_max_bytes;
}

static void on_publish_reply(redisAsyncContext *ac, void *r, void *priv)
{
    redis_link_t *l = priv;
    redisReply *reply = r;
    l->st.inflight--;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        l->st.unconfirmed++;
        if (reply) log_debug(LOG_COMP, "%s: PUBLISH refused: %s", l->where, reply->str);
        return;
    }
    l->st.published++;
    if (!l->closing && ac->data) drain(l);
}

static int send_publish(redis_link_t *l, const char *chan, size_t chan_len, const void *data,
                        size_t len)
{
    const char *argv[3] = {"PUBLISH", chan, data};
    size_t lens[3] = {7, chan_len, len};
    if (redisAsyncCommandArgv(l->pub.ac, on_publish_reply, l, 3, argv, lens) != REDIS_OK) return -1;
    l->st.inflight++;
    return 0;
}

/* The end of an overflow episode: say how much it cost. */
static void overflow_over(redis_link_t *l)
{
    if (!l->overflow_logged) return;
    log_warn(LOG_COMP, "%s: %llu publishes were dropped (queue full); publishing again", l->where,
             (unsigned long long)l->episode_dropped);
    l->overflow_logged = 0;
    l->episode_dropped = 0;
}

static void drain(redis_link_t *l)
{
    while (l->head && can_send(l)) {
        rl_item_t *it = l->head;
        if (send_publish(l, it->bytes, it->chan_len, it->bytes + it->chan_len + 1, it->len) != 0)
            return;
        l->head = it->next;
        if (!l->head) l->tail = NULL;
        l->st.queued--;
        l->st.queued_bytes -= it->chan_len + it->len;
        free(it);
    }
    if (!l->head) overflow_over(l);
}

/* Overflow drops the newest publish, not the oldest: the caller learns it now (an error
 * value) instead of a publish it made long ago vanishing, and what does go out stays an
 * unbroken prefix of what was published, with any gap at the end. */
static int enqueue(redis_link_t *l, const char *chan, size_t chan_len, const void *data, size_t len)
{
    size_t size = chan_len + len;
    if (l->st.queued >= l->opts.queue_max_msgs ||
        size > l->opts.queue_max_bytes - l->st.queued_bytes) {
        l->st.dropped++;
        l->episode_dropped++;
        if (!l->overflow_logged) {
            log_warn(LOG_COMP,
                     "%s: publish queue full (%zu messages, %zu bytes; link %s): dropping "
                     "publishes until it drains",
                     l->where, l->st.queued, l->st.queued_bytes,
                     l->st.state == REDIS_LINK_UP ? "up" : "not up");
            l->overflow_logged = 1;
        }
        return UV_ENOBUFS;
    }
    rl_item_t *it = xmalloc(sizeof(*it) + chan_len + 1 + len);
    it->next = NULL;
    it->chan_len = chan_len;
    it->len = len;
    memcpy(it->bytes, chan, chan_len + 1);
    if (len) memcpy(it->bytes + chan_len + 1, data, len);
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    l->st.queued++;
    l->st.queued_bytes += size;
    return 0;
}

int redis_link_publish(redis_link_t *l, const char *channel, const void *data, size_t len)
{
    if (l->closing) return UV_ECANCELED;
    if (!channel || !*channel || (!data && len)) return UV_EINVAL;
    if (!data) data = "";
    size_t chan_len = strlen(channel);
    if (!l->head && can_send(l) && send_publish(l, channel, chan_len, data, len) == 0) {
        /* Written now, not on the next poll: on a broadcast the other nodes start while this
         * one is still writing to its own sockets. A failure surfaces as for any write. */
        redisAsyncHandleWrite(l->pub.ac);
        return 0;
    }
    return enqueue(l, channel, chan_len, data, len);
}

/* ---- commands ---- */

static void on_command_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    rl_cmd_t *cmd = priv;
    int status = r ? 0 : cmd->link->closing ? UV_ECANCELED : UV_ECONNRESET;
    cmd->cb(cmd->arg, r, status);
    free(cmd);
}

int redis_link_command(redis_link_t *l, int argc, const char **argv, const size_t *argvlen,
                       redis_link_reply_cb cb, void *arg)
{
    if (l->closing) return UV_ECANCELED;
    if (argc < 1 || !argv || !cb) return UV_EINVAL;
    if (!link_is_up(l)) return UV_ENOTCONN;
    rl_cmd_t *cmd = xmalloc(sizeof(*cmd));
    *cmd = (rl_cmd_t){l, cb, arg};
    if (redisAsyncCommandArgv(l->pub.ac, on_command_reply, cmd, argc, argv, argvlen) != REDIS_OK) {
        free(cmd);
        return UV_ENOTCONN;
    }
    return 0;
}

/* ---- the link ---- */

static void link_update(redis_link_t *l)
{
    if (l->closing) return;
    redis_link_state_t s = link_is_up(l) ? REDIS_LINK_UP
                           : l->failing  ? REDIS_LINK_DOWN
                                         : REDIS_LINK_CONNECTING;
    redis_link_state_t prev = l->st.state;
    if (s == prev) return;
    l->st.state = s;
    l->st.since_ms = uv_now(l->loop);
    if (s == REDIS_LINK_UP) {
        if (prev == REDIS_LINK_DOWN) {
            l->st.reconnects++;
            log_info(LOG_COMP, "%s: up again after %u connection failures", l->where,
                     l->episode_failures);
        } else {
            log_info(LOG_COMP, "%s: up", l->where);
        }
        l->failing = 0;
        l->episode_failures = 0;
        drain(l);
        overflow_over(l); /* the episode ends when the link is back, drained or not */
    }
    if (l->opts.on_state) l->opts.on_state(l->opts.user, s);
}

void redis_link_opts_init(redis_link_opts_t *o)
{
    *o = (redis_link_opts_t){
        .queue_max_msgs = 10000,
        .queue_max_bytes = (size_t)64 << 20,
        .inflight_max = 1000,
        .outbuf_max_bytes = (size_t)1 << 20,
        .connect_timeout_ms = 2000,
        .backoff_min_ms = 100,
        .backoff_max_ms = 5000,
    };
}

static void conn_init(redis_link_t *l, rl_conn_t *c, const char *name, int is_sub)
{
    c->link = l;
    c->name = name;
    c->is_sub = is_sub;
    c->phase = PH_IDLE;
    c->backoff_ms = l->opts.backoff_min_ms;
    uv_timer_init(l->loop, &c->timer);
    c->timer.data = c;
    l->open++;
    /* Connect on the next loop turn, so no callback runs inside redis_link_new(). */
    uv_timer_start(&c->timer, on_timer, 0, 0);
}

int redis_link_new(uv_loop_t *loop, const redis_url_t *url, const redis_link_opts_t *opts,
                   redis_link_t **out)
{
    if (!opts->on_message || opts->inflight_max == 0 || opts->outbuf_max_bytes == 0 ||
        opts->connect_timeout_ms == 0 || opts->backoff_min_ms == 0 ||
        opts->backoff_min_ms > opts->backoff_max_ms)
        return UV_EINVAL;
    redis_link_t *l = xcalloc(1, sizeof(*l));
    l->loop = loop;
    l->url = *url;
    l->opts = *opts;
    redis_url_describe(url, l->where, sizeof(l->where));
    strmap_init(&l->channels);
    strmap_init(&l->patterns);
    l->st.state = REDIS_LINK_CONNECTING;
    l->st.since_ms = uv_now(loop);
    conn_init(l, &l->sub, "subscriber", 1);
    conn_init(l, &l->pub, "publisher", 0);
    *out = l;
    return 0;
}

const redis_link_stats_t *redis_link_stats(const redis_link_t *l)
{
    return &l->st;
}

static void on_timer_closed(uv_handle_t *h)
{
    rl_conn_t *c = h->data;
    link_release(c->link);
}

void redis_link_close(redis_link_t *l, redis_link_closed_cb done, void *arg)
{
    if (l->closing) return;
    l->closing = 1;
    l->done = done;
    l->done_arg = arg;
    rl_conn_t *conns[2] = {&l->sub, &l->pub};
    for (int i = 0; i < 2; i++) {
        conn_detach(conns[i]);
        uv_close((uv_handle_t *)&conns[i]->timer, on_timer_closed);
    }
    while (l->head) {
        rl_item_t *it = l->head;
        l->head = it->next;
        free(it);
    }
    l->tail = NULL;
    l->st.queued = l->st.queued_bytes = 0;
}
