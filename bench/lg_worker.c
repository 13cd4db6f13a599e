/* lg_worker.c - one worker process of iogate-loadgen: a libuv loop holding a
 * share of the WebSocket users.
 *
 * Each user is a raw client: TCP from a 127.0.0.x source address to its node
 * (one server, or user i on the i % n-th server of a fleet), HTTP
 * upgrade to /socket.io/?EIO=4&transport=websocket with the token cookie,
 * Engine.IO open, Socket.IO CONNECT to "/", then it answers pings and checks
 * every "bench" event it receives: broadcast indexes must arrive once and in
 * order; an emit_to_user payload must name this socket's user, and its
 * latency is measured against the send time it carries (CLOCK_MONOTONIC is
 * shared by every process of the machine). For each broadcast and node the
 * worker keeps the times of its first and last user receipt, for the parent's
 * per-broadcast delivery latency. The worker never decides
 * anything: it reports to the parent, which owns the verdicts. */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum {
    ST_IDLE,       /* not started */
    ST_CONNECTING, /* TCP connect in flight */
    ST_UPGRADING,  /* upgrade request sent, waiting for 101 */
    ST_OPENING,    /* waiting for the Engine.IO open packet */
    ST_JOINING,    /* "40" sent, waiting for the CONNECT answer */
    ST_JOINED,
    ST_DEAD,
};

#define MAX_FRAME (1u << 20)
#define MAX_HTTP_HEAD 8192
#define RECS_FLUSH 1024

typedef struct worker worker_t;

typedef struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    worker_t *w;
    uint32_t user;
    uint8_t state;
    uint8_t was_joined;
    uint8_t handle_open;
    uint64_t t_start;
    char accept[29];
    char *pend; /* an incomplete head or frame carried to the next read */
    uint32_t pend_len, pend_cap;
    uint32_t next_b;   /* next broadcast index expected */
    char user_str[16]; /* "<prefix>-<n>" */
    uint8_t user_len;
} conn_t;

struct worker {
    const lg_opts_t *o;
    uv_loop_t loop;
    uint32_t index, first, count;
    conn_t *conns;
    int report_fd;
    uv_pipe_t cmd;
    char cmdbuf[4096];
    size_t cmdlen;
    uv_timer_t tick;
    struct sockaddr_in dst[LG_MAX_NODES];
    uint32_t next_to_start, in_flight, max_in_flight, joined, failed;
    uint32_t oldest_pending; /* every handshake before this index has finished */
    int hs_started, hs_reported;
    uint64_t first_connect_ns, last_join_ns;
    uint64_t *hs_lat;
    size_t hs_n;
    uint32_t *failed_users;
    size_t nfailed;
    lg_bcast_t bc;
    int bc_dirty;
    uint64_t *bc_first, *bc_last; /* [node * bc_timed + index]: receipt ns, 0 = none */
    uint32_t bc_timed;
    uint64_t read_ns; /* when the current read returned; 0 until a broadcast needs it */
    lg_emit_rec_t *recs;
    size_t nrecs, caprecs;
    lg_counters_t ctr;
    uint64_t rng;
    uint64_t deadline_ns;
    int64_t token_exp;
    char rbuf[65536];
};

static void report(worker_t *w, uint32_t type, const void *data, size_t len)
{
    if (lg_send_msg(w->report_fd, type, data, len) != 0) _exit(3); /* parent gone */
}

static void flush_recs(worker_t *w)
{
    if (w->nrecs == 0) return;
    report(w, LG_MSG_EMIT_RECORDS, w->recs, w->nrecs * sizeof *w->recs);
    w->nrecs = 0;
}

/* ---- writing ----------------------------------------------------------- */

typedef struct wreq {
    uv_write_t req;
    char data[];
} wreq_t;

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error or EOF */
    free(req);
}

static void conn_write(conn_t *c, const char *data, size_t len)
{
    if (c->state == ST_DEAD) return;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)len) return;
    if (n < 0) n = 0;
    size_t rest = len - (size_t)n;
    wreq_t *r = malloc(sizeof *r + rest);
    if (!r) abort();
    memcpy(r->data, data + n, rest);
    b = uv_buf_init(r->data, (unsigned)rest);
    if (uv_write(&r->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) free(r);
}

/* A masked client frame; control and Engine.IO frames here are all short. */
static void ws_send(conn_t *c, unsigned opcode, const char *p, size_t n)
{
    unsigned char f[2 + 4 + 125];
    if (n > 125) n = 125;
    f[0] = (unsigned char)(0x80 | opcode);
    f[1] = (unsigned char)(0x80 | n);
    uint64_t r = lg_rand(&c->w->rng);
    memcpy(f + 2, &r, 4);
    for (size_t i = 0; i < n; i++)
        f[6 + i] = (unsigned char)p[i] ^ f[2 + (i & 3)];
    conn_write(c, (const char *)f, 6 + n);
}

/* ---- lifecycle ----------------------------------------------------------- */

static void start_more(worker_t *w);
static void check_hs_done(worker_t *w);

static void on_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_cap = 0;
}

static void conn_close(conn_t *c, uint32_t reason)
{
    worker_t *w = c->w;
    if (c->state == ST_DEAD) return;
    uint8_t prev = c->state;
    c->state = ST_DEAD;
    if (c->handle_open && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    if (prev == ST_JOINED) {
        lg_closed_t m = {c->user, reason};
        report(w, LG_MSG_CLOSED, &m, sizeof m);
        return;
    }
    /* The handshake failed. */
    w->in_flight--;
    w->failed++;
    w->failed_users[w->nfailed++] = c->user;
    if (w->o->verbose)
        fprintf(stderr, "loadgen worker %u: user-%u handshake failed in state %u (reason %u)\n",
                w->index, c->user, prev, reason);
    start_more(w);
    check_hs_done(w);
}

static void conn_joined(conn_t *c)
{
    worker_t *w = c->w;
    uint64_t now = lg_now_ns();
    c->state = ST_JOINED;
    c->was_joined = 1;
    w->hs_lat[w->hs_n++] = now - c->t_start;
    w->joined++;
    w->in_flight--;
    w->last_join_ns = now;
    start_more(w);
    check_hs_done(w);
}

static void check_hs_done(worker_t *w)
{
    if (w->hs_reported || w->joined + w->failed < w->count) return;
    w->hs_reported = 1;
    report(w, LG_MSG_HS_LATENCY, w->hs_lat, w->hs_n * sizeof *w->hs_lat);
    if (w->nfailed) report(w, LG_MSG_HS_FAILED, w->failed_users, w->nfailed * sizeof(uint32_t));
    lg_hs_done_t d = {w->joined, w->failed, w->first_connect_ns, w->last_join_ns};
    report(w, LG_MSG_HS_DONE, &d, sizeof d);
}

/* ---- Engine.IO / Socket.IO ------------------------------------------------ */

/* Reads the unsigned integer after `"key":` in p[0..n); 0 when absent. */
static int find_uint(const char *p, size_t n, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    const char *k = memmem(p, n, key, kl);
    if (!k) return 0;
    const char *q = k + kl, *end = p + n;
    if (q >= end || *q < '0' || *q > '9') return 0;
    uint64_t v = 0;
    int digits = 0;
    while (q < end && *q >= '0' && *q <= '9' && digits < 20) {
        v = v * 10 + (uint64_t)(*q - '0');
        q++;
        digits++;
    }
    *out = v;
    return 1;
}

static void on_bench_event(conn_t *c, const char *p, size_t n)
{
    worker_t *w = c->w;
    uint64_t v;
    if (find_uint(p, n, "\"b\":", &v)) {
        if (!c->was_joined) {
            w->ctr.unexpected++;
            return;
        }
        if (v < c->next_b) {
            w->bc.duplicated++;
            w->bc_dirty = 1;
            return;
        }
        w->bc.lost += v - c->next_b;
        w->bc.received++;
        c->next_b = (uint32_t)v + 1;
        w->bc_dirty = 1;
        if (v < w->bc_timed) {
            /* One clock reading per read: every frame in it arrived together. */
            if (!w->read_ns) w->read_ns = lg_now_ns();
            size_t i = (size_t)lg_node_of(w->o, c->user) * w->bc_timed + v;
            if (!w->bc_first[i] || w->read_ns < w->bc_first[i]) w->bc_first[i] = w->read_ns;
            if (w->read_ns > w->bc_last[i]) w->bc_last[i] = w->read_ns;
        }
        return;
    }
    uint64_t seq, t;
    if (!find_uint(p, n, "\"seq\":", &seq) || !find_uint(p, n, "\"t\":", &t)) {
        w->ctr.bad_payload++;
        return;
    }
    uint64_t now = lg_now_ns();
    const char *to = memmem(p, n, "\"to\":\"", 6);
    int misrouted = 1;
    if (to) {
        to += 6;
        size_t left = (size_t)(p + n - to);
        misrouted = !(left > c->user_len && memcmp(to, c->user_str, c->user_len) == 0 &&
                      to[c->user_len] == '"');
    }
    if (w->nrecs == w->caprecs) flush_recs(w);
    lg_emit_rec_t *r = &w->recs[w->nrecs++];
    r->seq = (uint32_t)seq;
    r->misrouted = (uint32_t)misrouted;
    r->latency_ns = (int64_t)(now - t);
    if (w->nrecs >= RECS_FLUSH) flush_recs(w);
}

static void on_eio_packet(conn_t *c, const char *p, size_t n)
{
    worker_t *w = c->w;
    if (n == 0) {
        w->ctr.unexpected++;
        return;
    }
    switch (p[0]) {
    case '0': /* open */
        if (c->state != ST_OPENING || n < 2 || p[1] != '{') break;
        c->state = ST_JOINING;
        ws_send(c, 0x1, "40", 2);
        return;
    case '2': { /* ping -> pong with the same data */
        char pong[125];
        size_t m = n > sizeof pong ? sizeof pong : n;
        memcpy(pong, p, m);
        pong[0] = '3';
        ws_send(c, 0x1, pong, m);
        w->ctr.pings++;
        return;
    }
    case '1': /* close */
        conn_close(c, LG_CLOSE_EIO_CLOSE);
        return;
    case '6': /* noop */
        return;
    case '4': /* message: a Socket.IO packet */
        if (n < 2) break;
        if (p[1] == '0') {
            if (c->state == ST_JOINING && memmem(p, n, "\"sid\"", 5)) {
                conn_joined(c);
                return;
            }
            break;
        }
        if (p[1] == '2') {
            static const char prefix[] = "42[\"bench\",";
            if (n > sizeof prefix - 1 && memcmp(p, prefix, sizeof prefix - 1) == 0) {
                on_bench_event(c, p + sizeof prefix - 1, n - (sizeof prefix - 1));
                return;
            }
            break;
        }
        if (p[1] == '4' || p[1] == '1') { /* CONNECT_ERROR or DISCONNECT */
            conn_close(c, LG_CLOSE_PROTOCOL);
            return;
        }
        break;
    default:
        break;
    }
    w->ctr.unexpected++;
    if (c->state != ST_JOINED) conn_close(c, LG_CLOSE_PROTOCOL);
}

/* ---- reading ----------------------------------------------------------------- */

static int head_ok(conn_t *c, const char *p, size_t n)
{
    static const char status[] = "HTTP/1.1 101";
    if (n < sizeof status - 1 || memcmp(p, status, sizeof status - 1) != 0) return 0;
    return memmem(p, n, c->accept, 28) != NULL;
}

/* Consumes whole units (the HTTP head, then frames) from p[0..n); returns the
 * bytes used. Stops early when the connection dies. */
static size_t conn_parse(conn_t *c, const char *p, size_t n)
{
    size_t off = 0;
    if (c->state == ST_UPGRADING) {
        const char *end = memmem(p, n, "\r\n\r\n", 4);
        if (!end) {
            if (n > MAX_HTTP_HEAD) conn_close(c, LG_CLOSE_PROTOCOL);
            return 0;
        }
        size_t hl = (size_t)(end - p) + 4;
        if (!head_ok(c, p, hl)) {
            if (c->w->o->verbose)
                fprintf(stderr, "loadgen: user-%u upgrade refused: %.*s\n", c->user,
                        (int)(memchr(p, '\r', hl) ? (const char *)memchr(p, '\r', hl) - p : 0), p);
            conn_close(c, LG_CLOSE_PROTOCOL);
            return n;
        }
        c->state = ST_OPENING;
        off = hl;
    }
    while (off < n && c->state != ST_DEAD) {
        const unsigned char *f = (const unsigned char *)p + off;
        size_t avail = n - off;
        if (avail < 2) break;
        unsigned fin = f[0] & 0x80, op = f[0] & 0x0f;
        if (f[1] & 0x80) { /* a server must not mask */
            conn_close(c, LG_CLOSE_PROTOCOL);
            return n;
        }
        uint64_t plen = f[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (avail < 4) break;
            plen = (uint64_t)f[2] << 8 | f[3];
            hl = 4;
        } else if (plen == 127) {
            if (avail < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | f[2 + i];
            hl = 10;
        }
        if (plen > MAX_FRAME || !fin || op == 0x0) {
            conn_close(c, LG_CLOSE_PROTOCOL);
            return n;
        }
        if (avail < hl + plen) break;
        const char *payload = (const char *)f + hl;
        c->w->ctr.frames++;
        switch (op) {
        case 0x1:
            on_eio_packet(c, payload, (size_t)plen);
            break;
        case 0x8:
            conn_close(c, LG_CLOSE_WS_CLOSE);
            break;
        case 0x9:
            ws_send(c, 0xA, payload, (size_t)plen);
            c->w->ctr.ws_pings++;
            break;
        case 0xA:
            break;
        default:
            c->w->ctr.unexpected++;
            break;
        }
        off += hl + (size_t)plen;
    }
    return c->state == ST_DEAD ? n : off;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *c = h->data;
    *buf = uv_buf_init(c->w->rbuf, sizeof c->w->rbuf);
}

static void pend_set(conn_t *c, const char *p, size_t n)
{
    if (n == 0) {
        c->pend_len = 0;
        if (c->pend_cap > 4096) {
            free(c->pend);
            c->pend = NULL;
            c->pend_cap = 0;
        }
        return;
    }
    if (n > c->pend_cap) {
        char *np = malloc(n < 1024 ? 1024 : n);
        if (!np) abort();
        memcpy(np, p, n);
        free(c->pend);
        c->pend = np;
        c->pend_cap = (uint32_t)(n < 1024 ? 1024 : n);
    } else {
        memmove(c->pend, p, n);
    }
    c->pend_len = (uint32_t)n;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? LG_CLOSE_EOF : LG_CLOSE_ERROR);
        return;
    }
    if (nread == 0 || c->state == ST_DEAD) return;
    c->w->read_ns = 0;
    const char *p = buf->base;
    size_t n = (size_t)nread;
    if (c->pend_len) {
        size_t total = c->pend_len + n;
        if (total > MAX_FRAME + 16) {
            conn_close(c, LG_CLOSE_PROTOCOL);
            return;
        }
        if (total > c->pend_cap) {
            char *np = realloc(c->pend, total);
            if (!np) abort();
            c->pend = np;
            c->pend_cap = (uint32_t)total;
        }
        memcpy(c->pend + c->pend_len, p, n);
        c->pend_len = (uint32_t)total;
        size_t used = conn_parse(c, c->pend, total);
        if (c->state == ST_DEAD) return;
        pend_set(c, c->pend + used, total - used);
        return;
    }
    size_t used = conn_parse(c, p, n);
    if (c->state == ST_DEAD) return;
    pend_set(c, p + used, n - used);
}

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    worker_t *w = c->w;
    if (c->state != ST_CONNECTING) return; /* timed out meanwhile */
    if (status < 0) {
        if (w->o->verbose)
            fprintf(stderr, "loadgen: user-%u connect: %s\n", c->user, uv_strerror(status));
        conn_close(c, LG_CLOSE_ERROR);
        return;
    }
    char token[512], key[25], req_text[1024];
    if (lg_mint_token(w->o->secret, w->o->user_prefix, c->user, w->token_exp, token,
                      sizeof token) == 0) {
        conn_close(c, LG_CLOSE_ERROR);
        return;
    }
    lg_ws_key(&w->rng, key, c->accept);
    int len = snprintf(req_text, sizeof req_text,
                       "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                       "Host: %s:%d\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n"
                       "Cookie: token=%s\r\n\r\n",
                       w->o->host, w->o->ports[lg_node_of(w->o, c->user)], key, token);
    if (len <= 0 || (size_t)len >= sizeof req_text) {
        conn_close(c, LG_CLOSE_ERROR);
        return;
    }
    c->state = ST_UPGRADING;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c, LG_CLOSE_ERROR);
        return;
    }
    conn_write(c, req_text, (size_t)len);
}

/* Binds a user's socket to its source address and port. The port is chosen here, not by
 * connect(): once about half of an address's ephemeral range is taken, the kernel scans
 * thousands of taken ports for every new connection (measured: 364,000 connections over 25
 * addresses, then 100 connections/s with 80 % of both CPUs in __inet_check_established).
 * User u gets address u % S and port LG_FIRST_PORT + u / S, different for every user; with
 * SO_REUSEADDR a port that an earlier run left in TIME_WAIT is taken again. A port already
 * bound by something else (a listener on 0.0.0.0) falls back to the kernel's choice.
 * Returns 0 or a negative errno. */
#define LG_FIRST_PORT 1024u
static int bind_source(int fd, const lg_opts_t *o, uint32_t user)
{
    struct sockaddr_in src;
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7F000002u + user % o->sources);
    uint32_t slot = user / o->sources;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return -errno;
    if (slot < 65536u - LG_FIRST_PORT) {
        src.sin_port = htons((uint16_t)(LG_FIRST_PORT + slot));
        if (bind(fd, (const struct sockaddr *)&src, sizeof src) == 0) return 0;
        if (errno != EADDRINUSE) return -errno;
        src.sin_port = 0;
    }
    /* Defer the kernel's port choice to connect(), so the address offers its whole
     * ephemeral range to the one destination. */
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    return bind(fd, (const struct sockaddr *)&src, sizeof src) == 0 ? 0 : -errno;
}

static int conn_start(conn_t *c)
{
    worker_t *w = c->w;
    const lg_opts_t *o = w->o;
    c->t_start = lg_now_ns();
    if (!w->first_connect_ns) w->first_connect_ns = c->t_start;
    c->state = ST_CONNECTING;
    w->in_flight++;
    if (uv_tcp_init_ex(&w->loop, &c->tcp, AF_INET) != 0) {
        conn_close(c, LG_CLOSE_ERROR);
        return -1;
    }
    c->handle_open = 1;
    c->tcp.data = c;
    c->creq.data = c;
    if (o->sources > 0) {
        uv_os_fd_t fd;
        int r = uv_fileno((uv_handle_t *)&c->tcp, &fd);
        if (r == 0) r = bind_source(fd, o, c->user);
        if (r != 0) {
            if (o->verbose) fprintf(stderr, "loadgen: bind: %s\n", uv_strerror(r));
            conn_close(c, LG_CLOSE_ERROR);
            return -1;
        }
    }
    uv_tcp_nodelay(&c->tcp, 1);
    const struct sockaddr *dst = (const struct sockaddr *)&w->dst[lg_node_of(o, c->user)];
    int r = uv_tcp_connect(&c->creq, &c->tcp, dst, on_connect);
    if (r != 0) {
        if (o->verbose) fprintf(stderr, "loadgen: connect: %s\n", uv_strerror(r));
        conn_close(c, LG_CLOSE_ERROR);
        return -1;
    }
    return 0;
}

static void start_more(worker_t *w)
{
    /* Bounded: each pass starts at most max_in_flight connections; a failure
     * inside conn_start re-enters here with in_flight already lowered. */
    static int depth;
    if (!w->hs_started || depth > 0) return;
    depth++;
    while (w->in_flight < w->max_in_flight && w->next_to_start < w->count)
        conn_start(&w->conns[w->next_to_start++]);
    depth--;
}

/* ---- commands, timer ------------------------------------------------------------ */

static void bcast_finish(worker_t *w, uint32_t m)
{
    lg_bcast_t f = w->bc;
    for (uint32_t i = 0; i < w->count; i++) {
        conn_t *c = &w->conns[i];
        if (c->was_joined && c->next_b < m) f.lost += m - c->next_b;
    }
    /* first[] and last[] are one allocation, so they go out as one message. */
    if (w->bc_timed)
        report(w, LG_MSG_BCAST_TIMES, w->bc_first,
               2 * (size_t)w->o->nodes * w->bc_timed * sizeof(uint64_t));
    report(w, LG_MSG_BCAST_FINAL, &f, sizeof f);
}

static void on_command(worker_t *w, uint32_t type, const char *data, uint32_t len)
{
    switch (type) {
    case LG_CMD_CONNECT:
        w->hs_started = 1;
        start_more(w);
        check_hs_done(w);
        break;
    case LG_CMD_BCAST_FINISH: {
        uint32_t m = 0;
        if (len >= sizeof m) memcpy(&m, data, sizeof m);
        if (w->bc_dirty) report(w, LG_MSG_BCAST_PROGRESS, &w->bc, sizeof w->bc);
        w->bc_dirty = 0;
        bcast_finish(w, m);
        break;
    }
    case LG_CMD_EMIT_FLUSH:
        flush_recs(w);
        report(w, LG_MSG_COUNTERS, &w->ctr, sizeof w->ctr);
        report(w, LG_MSG_EMIT_FLUSHED, NULL, 0);
        break;
    case LG_CMD_QUIT:
        _exit(0); /* the kernel closes every socket */
    default:
        break;
    }
}

static void on_cmd_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    worker_t *w = h->data;
    *buf = uv_buf_init(w->cmdbuf + w->cmdlen, (unsigned)(sizeof w->cmdbuf - w->cmdlen));
}

static void on_cmd_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    worker_t *w = s->data;
    if (nread < 0) _exit(3); /* the parent is gone */
    w->cmdlen += (size_t)nread;
    size_t off = 0;
    while (w->cmdlen - off >= sizeof(lg_msg_hdr_t)) {
        lg_msg_hdr_t h;
        memcpy(&h, w->cmdbuf + off, sizeof h);
        if (h.len > sizeof w->cmdbuf - sizeof h) _exit(5);
        if (w->cmdlen - off < sizeof h + h.len) break;
        on_command(w, h.type, w->cmdbuf + off + sizeof h, h.len);
        off += sizeof h + h.len;
    }
    memmove(w->cmdbuf, w->cmdbuf + off, w->cmdlen - off);
    w->cmdlen -= off;
}

static void on_tick(uv_timer_t *t)
{
    worker_t *w = t->data;
    uint64_t now = lg_now_ns();
    if (now > w->deadline_ns) {
        fprintf(stderr, "loadgen worker %u: deadline reached, exiting\n", w->index);
        _exit(4);
    }
    if (w->hs_started && !w->hs_reported) {
        uint64_t limit = (uint64_t)w->o->handshake_timeout_s * 1000000000u;
        /* Handshakes start in order and finish within moments: the scan starts at the
         * oldest one still going, not at the first user (a scan of every started user, 50
         * times a second, took 5 % of the CPUs at 1,000,000 users). */
        while (w->oldest_pending < w->next_to_start &&
               w->conns[w->oldest_pending].state >= ST_JOINED)
            w->oldest_pending++;
        for (uint32_t i = w->oldest_pending; i < w->next_to_start; i++) {
            conn_t *c = &w->conns[i];
            if (c->state > ST_IDLE && c->state < ST_JOINED && now - c->t_start > limit)
                conn_close(c, LG_CLOSE_ERROR);
        }
    }
    if (w->bc_dirty) {
        report(w, LG_MSG_BCAST_PROGRESS, &w->bc, sizeof w->bc);
        w->bc_dirty = 0;
    }
    flush_recs(w);
}

int lg_worker_main(const lg_opts_t *o, uint32_t index, uint32_t first, uint32_t count, int cmd_fd,
                   int report_fd)
{
    static worker_t w; /* one per process */
    w.o = o;
    w.index = index;
    w.first = first;
    w.count = count;
    w.report_fd = report_fd;
    w.rng = o->seed ^ (0x9E3779B97F4A7C15ull * (index + 1));
    w.deadline_ns = lg_now_ns() + (uint64_t)(o->deadline_s + 5) * 1000000000u;
    w.token_exp = (int64_t)time(NULL) + o->deadline_s + 3600;
    w.max_in_flight = o->concurrency / o->workers;
    if (w.max_in_flight == 0) w.max_in_flight = 1;
    w.conns = calloc(count ? count : 1, sizeof *w.conns);
    w.hs_lat = calloc(count ? count : 1, sizeof *w.hs_lat);
    w.failed_users = calloc(count ? count : 1, sizeof *w.failed_users);
    w.caprecs = RECS_FLUSH;
    w.recs = calloc(w.caprecs, sizeof *w.recs);
    w.bc_timed = lg_bcast_timed(o->broadcasts);
    w.bc_first = calloc(2 * (size_t)o->nodes * w.bc_timed + 1, sizeof *w.bc_first);
    w.bc_last = w.bc_first ? w.bc_first + (size_t)o->nodes * w.bc_timed : NULL;
    if (!w.conns || !w.hs_lat || !w.failed_users || !w.recs || !w.bc_first) return 2;
    for (uint32_t i = 0; i < count; i++) {
        conn_t *c = &w.conns[i];
        c->w = &w;
        c->user = first + i;
        int ul = snprintf(c->user_str, sizeof c->user_str, "%s-%u", o->user_prefix, c->user);
        c->user_len = (uint8_t)ul;
    }
    for (uint32_t i = 0; i < o->nodes; i++)
        if (uv_ip4_addr(o->host, o->ports[i], &w.dst[i]) != 0) return 2;
    if (uv_loop_init(&w.loop) != 0) return 2;
    uv_pipe_init(&w.loop, &w.cmd, 0);
    w.cmd.data = &w;
    if (uv_pipe_open(&w.cmd, cmd_fd) != 0) return 2;
    uv_read_start((uv_stream_t *)&w.cmd, on_cmd_alloc, on_cmd_read);
    uv_timer_init(&w.loop, &w.tick);
    w.tick.data = &w;
    uv_timer_start(&w.tick, on_tick, 20, 20);
    report(&w, LG_MSG_READY, NULL, 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    return 0;
}
