/* loadgen.c - iogate-loadgen: options, the worker processes and the phases.
 *
 * The parent forks the workers (lg_worker.c), then runs its own libuv loop:
 * it reads the workers' reports from pipes, talks REST to the server over a
 * few keep-alive connections (lg_http.c) and reads the server's memory and
 * CPU from /proc. The phases, in order:
 *
 *   0. warm-up      a few users join and leave, so that code paged in by the first
 *                   handshakes is resident before the "before" reading of figure 2
 *   1. handshakes   every worker opens its users; N / (last join - first connect)
 *   2. idle RSS     VmRSS (and RssAnon) after the warm-up and after all are joined and idle
 *   3. broadcast    M broadcasts to every authenticated user; server CPU / (M x N),
 *                   and per broadcast the time from its REST send to its first and
 *                   last receipt
 *   4. emit_to_user a fixed rate of emits to random users; latency from the
 *                   send time carried in the payload; one round per rate given
 *   5. correctness  lost, duplicated, misrouted (must all be zero)
 *
 * A fleet (--ports) is several servers sharing one adapter: user i sits on
 * node i % n, REST goes to one node (--emit-port), emits may target the users
 * of another (--target-port), and the CPU figures are given per node (--pids)
 * and for Redis (--redis-pid).
 *
 * Every wait has a timeout and the run has a global deadline: the program
 * always stops by itself. Only loopback targets are accepted. */
#include "loadgen.h"
#include "lg_args.h"
#include "lg_http.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define AUTO_BROADCASTS UINT32_MAX
#define EMIT_PIPELINE 8 /* emit requests in flight per keep-alive connection */
#define MAX_EMITS 20000000u

/* ---- state of the parent ------------------------------------------------- */

typedef struct wslot {
    pid_t pid;
    uint32_t first, count;
    int cmd_fd;   /* write end, parent -> worker */
    uv_pipe_t rd; /* read end, worker -> parent */
    char *rx;
    size_t rx_len, rx_cap;
    int ready, hs_done, bcast_final, flushed, eof;
    lg_hs_done_t hs;
    lg_bcast_t bc_progress, bc_final;
    lg_counters_t ctr;
} wslot_t;

enum phase {
    P_START,
    P_PREFLIGHT,
    P_WARM_BASE,
    P_WARMUP,
    P_WARM_RELEASE,
    P_CONNECT,
    P_SETTLE,
    P_STATS,
    P_BCAST,
    P_BCAST_FINAL,
    P_EMIT,
    P_DRAIN,
    P_FLUSH,
    P_END_STATS,
    P_DONE,
};

static const char *phase_names[] = {
    "start", "preflight", "warm-up baseline", "warm-up", "warm-up release", "connect", "settle",
    "stats", "broadcast", "broadcast-final",  "emit",    "drain",           "flush",   "end stats",
    "done"};

/* CPU readings of every node, and of Redis, at one moment. */
typedef struct cpuset {
    lg_cpu_t node[LG_MAX_NODES];
    lg_cpu_t redis;
} cpuset_t;

/* GET /testing/stats of one node, on a connection of its own. */
typedef struct probe {
    lg_http_t *h;
    int sent, done;
    char text[1024];
} probe_t;

typedef struct parent {
    lg_opts_t o;
    uv_loop_t loop;
    uv_timer_t tick;
    struct sockaddr_in dst;
    char host_header[80];
    wslot_t *ws;
    lg_http_t **http;
    enum phase phase;
    uint64_t phase_start_ns, phase_deadline_ns, deadline_ns;
    int exit_code;
    int failed_setup;

    /* request bookkeeping */
    int preflight_status;
    probe_t probes[LG_MAX_NODES];

    /* 0: the warm-up worker and the server's counts it must leave as it found them */
    wslot_t warm;
    long warm_sessions0, warm_sockets0, warm_sessions, warm_sockets;
    int warm_stats_status; /* of the last GET /testing/stats of the warm-up; 0 while awaited */
    uint64_t warm_t0, warm_next_poll_ns, warm_released_ns;

    /* 1, 2 */
    lg_mem_t mem_before[LG_MAX_NODES], mem_after[LG_MAX_NODES];
    lg_mem_t self_before, self_after; /* this program: the parent and its workers */
    int64_t slab_before, slab_after;  /* the kernel's slab memory (sockets live there) */
    cpuset_t cpu_hs0, cpu_hs1;
    uint32_t joined, hs_failed;
    uint32_t node_alive[LG_MAX_NODES]; /* users of each node that joined */
    uint64_t *hs_lat;
    size_t hs_n;
    uint8_t *user_failed; /* per user: did not join */
    uint32_t *alive_users;
    uint32_t nalive;
    uint64_t unexpected_closes;

    /* 3 */
    uint32_t bcast_total, bcast_sent, bcast_answered;
    uint32_t bcast_expect; /* recipients a broadcast's answer names: the REST node's users */
    uint64_t bcast_recipient_mismatch, bcast_http_errors;
    cpuset_t cpu_bc0, cpu_bc1;
    uint64_t bcast_t0, bcast_t1;
    uint32_t bcast_timed;     /* broadcasts with receipt times: lg_bcast_timed(M) */
    uint64_t *bcast_send_ns;  /* per broadcast < bcast_timed: just before its request */
    uint64_t *bcast_first_ns; /* [node * bcast_timed + i]: earliest receipt, 0: none */
    uint64_t *bcast_last_ns;  /* latest receipt */

    /* 4, 5: the emits of every round, seq from 0; round r is seq [round_first[r],
     * round_first[r + 1]) */
    uint32_t emit_total, emit_sent, emit_answered;
    uint32_t round, round_first[LG_MAX_RATES + 1];
    uint32_t round_answered[LG_MAX_RATES]; /* emits answered in each round */
    uint64_t round_t0[LG_MAX_RATES], round_t_last[LG_MAX_RATES];
    cpuset_t cpu_em0[LG_MAX_RATES], cpu_em1[LG_MAX_RATES];
    uint32_t *targets; /* the users emits go to */
    uint32_t ntargets;
    uint32_t *emit_target;
    uint64_t *emit_send_ns;
    int64_t *emit_first_lat; /* per seq, -1 until received */
    uint16_t *emit_recv;
    uint64_t drain_settle_at;
    uint64_t emit_http_errors, emit_recipients_wrong, misrouted, bad_records;
    uint64_t emit_unique_received;
    char *pad;
    uint64_t rng;
} parent_t;

static parent_t P;

static double sec(uint64_t ns)
{
    return (double)ns / 1e9;
}

static void fmt_dur(char *out, size_t size, uint64_t ns)
{
    if (ns < 10000)
        snprintf(out, size, "%.2f us", (double)ns / 1e3);
    else if (ns < 10000000)
        snprintf(out, size, "%.1f us", (double)ns / 1e3);
    else
        snprintf(out, size, "%.1f ms", (double)ns / 1e6);
}

static void enter(enum phase ph, uint32_t timeout_s)
{
    P.phase = ph;
    P.phase_start_ns = lg_now_ns();
    P.phase_deadline_ns = timeout_s ? P.phase_start_ns + (uint64_t)timeout_s * 1000000000u : 0;
    if (P.o.verbose) fprintf(stderr, "loadgen: phase %s\n", phase_names[ph]);
}

static void send_cmd(wslot_t *w, uint32_t type, const void *data, size_t len)
{
    if (w->eof) return;
    if (lg_send_msg(w->cmd_fd, type, data, len) != 0) w->eof = 1;
}

static void send_all(uint32_t type, const void *data, size_t len)
{
    for (uint32_t i = 0; i < P.o.workers; i++)
        send_cmd(&P.ws[i], type, data, len);
}

static void stop_loop(int code)
{
    if (P.exit_code < code) P.exit_code = code;
    P.phase = P_DONE;
    uv_stop(&P.loop);
}

/* ---- reports from the workers ------------------------------------------- */

/* The warm-up worker's reports: only whether its users joined. */
static void on_warm_report(wslot_t *w, uint32_t type, const char *data, size_t len)
{
    if (type == LG_MSG_READY) {
        w->ready = 1;
    } else if (type == LG_MSG_HS_DONE) {
        if (len == sizeof w->hs) memcpy(&w->hs, data, len);
        w->hs_done = 1;
    }
}

static void on_report(wslot_t *w, uint32_t type, const char *data, size_t len)
{
    if (w == &P.warm) {
        on_warm_report(w, type, data, len);
        return;
    }
    switch (type) {
    case LG_MSG_READY:
        w->ready = 1;
        break;
    case LG_MSG_HS_LATENCY:
        for (size_t i = 0; i + sizeof(uint64_t) <= len; i += sizeof(uint64_t))
            memcpy(&P.hs_lat[P.hs_n++], data + i, sizeof(uint64_t));
        break;
    case LG_MSG_HS_FAILED:
        for (size_t i = 0; i + sizeof(uint32_t) <= len; i += sizeof(uint32_t)) {
            uint32_t u;
            memcpy(&u, data + i, sizeof u);
            if (u < P.o.users) P.user_failed[u] = 1;
        }
        break;
    case LG_MSG_HS_DONE:
        if (len == sizeof w->hs) memcpy(&w->hs, data, len);
        w->hs_done = 1;
        break;
    case LG_MSG_CLOSED: {
        lg_closed_t c;
        if (len != sizeof c) break;
        memcpy(&c, data, sizeof c);
        if (P.unexpected_closes < 10)
            fprintf(stderr, "loadgen: user-%u was disconnected (reason %u) during %s\n", c.user,
                    c.reason, phase_names[P.phase]);
        P.unexpected_closes++;
        break;
    }
    case LG_MSG_BCAST_PROGRESS:
        if (len == sizeof w->bc_progress) memcpy(&w->bc_progress, data, len);
        break;
    case LG_MSG_BCAST_TIMES: {
        size_t k = (size_t)P.o.nodes * P.bcast_timed;
        if (len != 2 * k * sizeof(uint64_t) || !P.bcast_first_ns) break;
        for (size_t i = 0; i < k; i++) {
            uint64_t first, last;
            memcpy(&first, data + i * sizeof first, sizeof first);
            memcpy(&last, data + (k + i) * sizeof last, sizeof last);
            if (first && (!P.bcast_first_ns[i] || first < P.bcast_first_ns[i]))
                P.bcast_first_ns[i] = first;
            if (last > P.bcast_last_ns[i]) P.bcast_last_ns[i] = last;
        }
        break;
    }
    case LG_MSG_BCAST_FINAL:
        if (len == sizeof w->bc_final) memcpy(&w->bc_final, data, len);
        w->bcast_final = 1;
        break;
    case LG_MSG_EMIT_RECORDS:
        for (size_t i = 0; i + sizeof(lg_emit_rec_t) <= len; i += sizeof(lg_emit_rec_t)) {
            lg_emit_rec_t r;
            memcpy(&r, data + i, sizeof r);
            if (r.seq >= P.emit_sent) {
                P.bad_records++;
            } else if (r.misrouted) {
                P.misrouted++;
            } else {
                if (P.emit_recv[r.seq] == 0) {
                    P.emit_unique_received++;
                    P.emit_first_lat[r.seq] = r.latency_ns > 0 ? r.latency_ns : 0;
                }
                if (P.emit_recv[r.seq] < UINT16_MAX) P.emit_recv[r.seq]++;
            }
        }
        break;
    case LG_MSG_COUNTERS:
        if (len == sizeof w->ctr) memcpy(&w->ctr, data, len);
        break;
    case LG_MSG_EMIT_FLUSHED:
        w->flushed = 1;
        break;
    default:
        fprintf(stderr, "loadgen: unknown report %u from a worker\n", type);
        break;
    }
}

static void on_rd_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    wslot_t *w = h->data;
    if (w->rx_cap - w->rx_len < 65536) {
        size_t cap = w->rx_cap ? w->rx_cap * 2 : 262144;
        char *n = realloc(w->rx, cap);
        if (!n) abort();
        w->rx = n;
        w->rx_cap = cap;
    }
    *buf = uv_buf_init(w->rx + w->rx_len, (unsigned)(w->rx_cap - w->rx_len));
}

static void on_rd(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    wslot_t *w = s->data;
    if (nread < 0) {
        w->eof = 1;
        uv_read_stop(s);
        if (P.phase != P_DONE && w != &P.warm) { /* the warm-up worker leaves when told */
            fprintf(stderr, "loadgen: worker %d stopped unexpectedly during %s\n", (int)w->pid,
                    phase_names[P.phase]);
            stop_loop(2);
        }
        return;
    }
    w->rx_len += (size_t)nread;
    size_t off = 0;
    while (w->rx_len - off >= sizeof(lg_msg_hdr_t)) {
        lg_msg_hdr_t h;
        memcpy(&h, w->rx + off, sizeof h);
        if (w->rx_len - off < sizeof h + h.len) break;
        on_report(w, h.type, w->rx + off + sizeof h, h.len);
        off += sizeof h + h.len;
    }
    memmove(w->rx, w->rx + off, w->rx_len - off);
    w->rx_len -= off;
}

/* ---- HTTP answers ---------------------------------------------------------- */

enum { TAG_PREFLIGHT = 1, TAG_STATS, TAG_WARM_STATS, TAG_BCAST, TAG_EMIT };
#define TAG(kind, n) (((uint64_t)(kind) << 32) | (uint32_t)(n))

/* The integer after `key` (`"name":`) in a flat JSON answer; -1 when absent. */
static long json_long(const char *body, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *k = body ? memmem(body, len, key, kl) : NULL;
    if (!k || (size_t)(k - body) + kl >= len) return -1;
    return strtol(k + kl, NULL, 10);
}

static long recipients_of(const char *body, size_t len)
{
    return json_long(body, len, "\"recipients\":");
}

/* user: the probe of a TAG_STATS request, NULL for the others. */
static void on_http(void *user, uint64_t tag, int status, const char *body, size_t len)
{
    uint32_t kind = (uint32_t)(tag >> 32), n = (uint32_t)tag;
    switch (kind) {
    case TAG_PREFLIGHT:
        P.preflight_status = status ? status : -1;
        break;
    case TAG_STATS: {
        probe_t *p = user;
        p->done = 1;
        if (status == 200)
            snprintf(p->text, sizeof p->text, "%.*s", (int)len, body);
        else
            snprintf(p->text, sizeof p->text, "(status %d)", status);
        break;
    }
    case TAG_WARM_STATS:
        P.warm_stats_status = status ? status : -1;
        P.warm_sessions = status == 200 ? json_long(body, len, "\"sessions\":") : -1;
        P.warm_sockets = status == 200 ? json_long(body, len, "\"sockets\":") : -1;
        break;
    case TAG_BCAST:
        P.bcast_answered++;
        if (status != 200)
            P.bcast_http_errors++;
        else if (P.o.server_workers ? recipients_of(body, len) > (long)P.bcast_expect
                                    : recipients_of(body, len) != (long)P.bcast_expect)
            P.bcast_recipient_mismatch++;
        break;
    case TAG_EMIT:
        P.emit_answered++;
        if (status != 200) {
            if (P.emit_http_errors < 5)
                fprintf(stderr, "loadgen: emit %u answered %d\n", n, status);
            P.emit_http_errors++;
        } else if (n < P.emit_sent) {
            /* The answer counts the REST node's own sockets: 1 when the user is on it (which
             * worker of a server with workers holds the user is not known here). */
            long got = recipients_of(body, len);
            if (P.o.server_workers ? got < 0 || got > 1
                                   : got != (lg_node_of(&P.o, P.emit_target[n]) == P.o.emit_node))
                P.emit_recipients_wrong++;
        }
        break;
    default:
        break;
    }
}

/* The connection with the fewest requests in flight (under limit); ties go
 * round-robin so that every connection stays in use (an idle one would meet
 * the server's keep-alive timeout). */
static lg_http_t *least_busy_http(size_t limit)
{
    static uint32_t rr;
    lg_http_t *best = NULL;
    rr++;
    for (uint32_t k = 0; k < P.o.http_conns; k++) {
        lg_http_t *h = P.http[(rr + k) % P.o.http_conns];
        if (!lg_http_connected(h) || lg_http_in_flight(h) >= limit) continue;
        if (!best || lg_http_in_flight(h) < lg_http_in_flight(best)) best = h;
    }
    return best;
}

static int all_http_failed(void)
{
    for (uint32_t i = 0; i < P.o.http_conns; i++)
        if (!lg_http_failed(P.http[i])) return 0;
    return 1;
}

/* ---- phases ----------------------------------------------------------------- */

static int fleet(void)
{
    return P.o.nodes > 1;
}

/* How the figures name the nodes of a fleet: A, B, C ... in --ports order. */
static char node_name(uint32_t i)
{
    return (char)('A' + i);
}

static void read_cpus(cpuset_t *c)
{
    for (uint32_t i = 0; i < P.o.nodes; i++)
        lg_proc_cpu(P.o.pids[i], &c->node[i]);
    lg_proc_cpu(P.o.redis_pid, &c->redis);
}

static void print_cpu_line(const char *who, const lg_cpu_t *a, const lg_cpu_t *b, uint64_t units,
                           const char *unit)
{
    int64_t user = b->user_us - a->user_us, sys = b->sys_us - a->sys_us;
    printf("    %s CPU (utime+stime): %.3f s (user %.3f, sys %.3f) -> %.3f us per %s", who,
           (double)(user + sys) / 1e6, (double)user / 1e6, (double)sys / 1e6,
           (double)(user + sys) / (double)units, unit);
    if (a->sched_ns >= 0 && b->sched_ns >= 0)
        printf(" [schedstat: %.3f us]", (double)(b->sched_ns - a->sched_ns) / 1e3 / (double)units);
    printf("\n");
}

/* CPU between two readings: each node's per units[node] of work, then Redis's per
 * redis_units. */
static void print_cpu(const cpuset_t *a, const cpuset_t *b, const uint64_t *units,
                      uint64_t redis_units, const char *unit)
{
    for (uint32_t i = 0; i < P.o.nodes; i++) {
        char who[16];
        if (fleet())
            snprintf(who, sizeof who, "node %c", node_name(i));
        else
            snprintf(who, sizeof who, "server");
        if (!a->node[i].ok || !b->node[i].ok || units[i] == 0)
            printf("    %s CPU: skipped (%s)\n", who,
                   P.o.pids[i] ? "nothing to divide by"
                   : fleet()   ? "no --pids"
                               : "no --pid");
        else
            print_cpu_line(who, &a->node[i], &b->node[i], units[i], unit);
    }
    if (a->redis.ok && b->redis.ok && redis_units)
        print_cpu_line("redis", &a->redis, &b->redis, redis_units, unit);
}

/* The same count of work for every node. */
static const uint64_t *units_all(uint64_t n)
{
    static uint64_t u[LG_MAX_NODES];
    for (uint32_t i = 0; i < LG_MAX_NODES; i++)
        u[i] = n;
    return u;
}

static void print_handshakes(void)
{
    uint64_t first = UINT64_MAX, last = 0;
    P.joined = P.hs_failed = 0;
    for (uint32_t i = 0; i < P.o.workers; i++) {
        const lg_hs_done_t *h = &P.ws[i].hs;
        P.joined += h->joined;
        P.hs_failed += h->failed;
        if (h->joined && h->first_connect_ns < first) first = h->first_connect_ns;
        if (h->joined && h->last_join_ns > last) last = h->last_join_ns;
    }
    P.nalive = 0;
    for (uint32_t u = 0; u < P.o.users; u++) {
        if (P.user_failed[u]) continue;
        P.alive_users[P.nalive++] = u;
        P.node_alive[lg_node_of(&P.o, u)]++;
    }
    printf("[1] handshakes: %u of %u users joined", P.joined, P.o.users);
    if (P.hs_failed) printf(" (%u FAILED)", P.hs_failed);
    if (P.joined && last > first) {
        double el = sec(last - first);
        char p50[32], p99[32], mx[32];
        lg_sort_u64(P.hs_lat, P.hs_n);
        fmt_dur(p50, sizeof p50, lg_quantile(P.hs_lat, P.hs_n, 0.50, 1));
        fmt_dur(p99, sizeof p99, lg_quantile(P.hs_lat, P.hs_n, 0.99, 1));
        fmt_dur(mx, sizeof mx, P.hs_lat[P.hs_n - 1]);
        printf(" in %.3f s -> %.0f handshakes/s\n", el, (double)P.joined / el);
        printf("    per-handshake latency (connect -> 40{sid}): p50 %s, p99 %s, max %s"
               " (%u in flight at most)\n",
               p50, p99, mx, P.o.concurrency / P.o.workers * P.o.workers);
    } else {
        printf("\n");
    }
    uint64_t units[LG_MAX_NODES];
    for (uint32_t i = 0; i < P.o.nodes; i++)
        units[i] = P.node_alive[i];
    print_cpu(&P.cpu_hs0, &P.cpu_hs1, units, P.joined, "handshake");
    fflush(stdout);
}

static double mib(int64_t bytes)
{
    return (double)bytes / 1048576.0;
}

static double per_conn(int64_t before, int64_t after, uint32_t conns)
{
    return conns ? (double)(after - before) / conns : 0;
}

static void print_rss(void)
{
    for (uint32_t i = 0; i < P.o.nodes; i++) {
        const lg_mem_t *a = &P.mem_before[i], *b = &P.mem_after[i];
        uint32_t n = P.node_alive[i];
        char who[16] = "";
        if (fleet()) snprintf(who, sizeof who, ", node %c", node_name(i));
        if (!P.o.pids[i]) {
            printf("[2] server RSS%s: skipped (no --pid)\n", who);
        } else if (a->vm_rss < 0 || b->vm_rss < 0) {
            printf("[2] server RSS%s: unavailable (/proc/%ld/status)\n", who, P.o.pids[i]);
        } else {
            char warm[64];
            if (P.o.warmup)
                snprintf(warm, sizeof warm, "after a warm-up of %u users", P.o.warmup);
            else
                snprintf(warm, sizeof warm, "no warm-up");
            printf("[2] server RSS%s: %.1f MiB before, %.1f MiB with %u idle connections"
                   " -> %.0f bytes per idle connection (VmRSS, %s)\n",
                   who, mib(a->vm_rss), mib(b->vm_rss), n, per_conn(a->vm_rss, b->vm_rss, n), warm);
            if (a->rss_anon >= 0 && b->rss_anon >= 0 && a->rss_file >= 0 && b->rss_file >= 0)
                printf("    of which RssAnon %.1f -> %.1f MiB: %.0f bytes per idle connection;"
                       " RssFile %.1f -> %.1f MiB\n",
                       mib(a->rss_anon), mib(b->rss_anon), per_conn(a->rss_anon, b->rss_anon, n),
                       mib(a->rss_file), mib(b->rss_file));
        }
    }
    /* What the rest of the machine pays: the kernel's socket memory (both ends of every
     * loopback connection) and the load generator's own. */
    uint32_t all = 0;
    for (uint32_t i = 0; i < P.o.nodes; i++)
        all += P.node_alive[i];
    if (P.slab_before >= 0 && P.slab_after >= 0)
        printf("[2] kernel slab memory: %.1f MiB before, %.1f MiB with %u connections -> %.0f bytes"
               " per connection (both ends; the whole machine's Slab)\n",
               mib(P.slab_before), mib(P.slab_after), all,
               per_conn(P.slab_before, P.slab_after, all));
    if (P.self_before.vm_rss >= 0 && P.self_after.vm_rss >= 0)
        printf("[2] load generator RSS: %.1f MiB before, %.1f MiB with %u connections -> %.0f bytes"
               " per connection\n",
               mib(P.self_before.vm_rss), mib(P.self_after.vm_rss), all,
               per_conn(P.self_before.vm_rss, P.self_after.vm_rss, all));
    fflush(stdout);
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* Per broadcast: REST send -> first and -> last receipt by a user of `node` (of any
 * node when -1), sorted, over the broadcasts that reached at least one of them; their
 * count. first and last hold one slot per broadcast. */
static size_t bcast_delays(int node, uint64_t *first, uint64_t *last)
{
    uint32_t k = P.bcast_timed < P.bcast_sent ? P.bcast_timed : P.bcast_sent;
    size_t n = 0;
    for (uint32_t i = 0; i < k; i++) {
        uint64_t t = P.bcast_send_ns[i], f = 0, l = 0;
        for (uint32_t j = 0; j < P.o.nodes; j++) {
            if (node >= 0 && (uint32_t)node != j) continue;
            size_t x = (size_t)j * P.bcast_timed + i;
            if (P.bcast_first_ns[x] && (!f || P.bcast_first_ns[x] < f)) f = P.bcast_first_ns[x];
            if (P.bcast_last_ns[x] > l) l = P.bcast_last_ns[x];
        }
        if (!f) continue;
        first[n] = f > t ? f - t : 0;
        last[n] = l > t ? l - t : 0;
        n++;
    }
    lg_sort_u64(first, n);
    lg_sort_u64(last, n);
    return n;
}

static void print_delays(const uint64_t *first, const uint64_t *last, size_t n)
{
    printf("p50 %.3f / %.3f ms, p99 %.3f / %.3f ms, max %.3f / %.3f ms",
           ms(lg_quantile((uint64_t *)first, n, 0.50, 1)),
           ms(lg_quantile((uint64_t *)last, n, 0.50, 1)),
           ms(lg_quantile((uint64_t *)first, n, 0.99, 1)),
           ms(lg_quantile((uint64_t *)last, n, 0.99, 1)), ms(first[n - 1]), ms(last[n - 1]));
}

/* Per broadcast: REST send -> first and -> last receipt over every user, then, in a
 * fleet, over the users of each node. */
static void print_bcast_latency(void)
{
    uint32_t k = P.bcast_timed < P.bcast_sent ? P.bcast_timed : P.bcast_sent;
    uint64_t *first = calloc(k ? k : 1, sizeof *first), *last = calloc(k ? k : 1, sizeof *last);
    if (!first || !last || !P.bcast_first_ns) {
        printf("    per-broadcast latency: unavailable\n");
        free(first);
        free(last);
        return;
    }
    size_t n = bcast_delays(-1, first, last);
    if (n == 0) {
        printf("    per-broadcast latency: no broadcast was received\n");
    } else {
        printf("    per-broadcast latency (REST send -> first / last user): ");
        print_delays(first, last, n);
        if (n < P.bcast_total) printf(" (over %zu of %u broadcasts)", n, P.bcast_total);
        printf("\n");
    }
    for (uint32_t j = 0; fleet() && n && j < P.o.nodes; j++) {
        size_t nj = bcast_delays((int)j, first, last);
        printf("      users of node %c%s: ", node_name(j), j == P.o.emit_node ? " (REST)" : "");
        if (nj)
            print_delays(first, last, nj);
        else
            printf("none received");
        printf("\n");
    }
    free(first);
    free(last);
}

static void print_broadcast(void)
{
    lg_bcast_t t = {0, 0, 0};
    for (uint32_t i = 0; i < P.o.workers; i++) {
        t.received += P.ws[i].bc_final.received;
        t.duplicated += P.ws[i].bc_final.duplicated;
        t.lost += P.ws[i].bc_final.lost;
    }
    uint64_t expected = (uint64_t)P.bcast_total * P.nalive;
    double el = sec(P.bcast_t1 - P.bcast_t0);
    printf("[3] broadcast: %u broadcasts x %u users = %" PRIu64 " deliveries expected, %" PRIu64
           " received in %.3f s (%.0f deliveries/s)\n",
           P.bcast_total, P.nalive, expected, t.received, el, el > 0 ? t.received / el : 0.0);
    if (P.o.broadcast_wait)
        printf("    each broadcast sent once the one before reached every user\n");
    print_bcast_latency();
    /* A node's work is the deliveries to its own users (the REST node also answers). */
    uint64_t units[LG_MAX_NODES];
    for (uint32_t i = 0; i < P.o.nodes; i++)
        units[i] = fleet() ? (uint64_t)P.bcast_total * P.node_alive[i] : t.received;
    print_cpu(&P.cpu_bc0, &P.cpu_bc1, units, t.received, "delivered message");
    printf("    broadcast correctness: lost %" PRIu64 ", duplicated %" PRIu64
           ", HTTP errors %" PRIu64 ", answers with recipients %s %u: %" PRIu64 "\n",
           t.lost, t.duplicated, P.bcast_http_errors,
           P.o.server_workers ? ">" : "!=", P.bcast_expect, P.bcast_recipient_mismatch);
    if (t.lost || t.duplicated || P.bcast_http_errors || P.bcast_recipient_mismatch)
        P.exit_code = P.exit_code < 1 ? 1 : P.exit_code;
    fflush(stdout);
}

static void write_latency_file(void)
{
    if (!P.o.latency_file[0] || !P.emit_sent) return;
    FILE *f = fopen(P.o.latency_file, "w");
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", P.o.latency_file, strerror(errno));
        return;
    }
    fprintf(f, "# seq user send_ms latency_us\n");
    for (uint32_t s = 0; s < P.emit_sent; s++)
        fprintf(f, "%u %u %.3f %.1f\n", s, P.emit_target[s],
                (double)(P.emit_send_ns[s] - P.round_t0[0]) / 1e6,
                P.emit_first_lat[s] < 0 ? -1.0 : (double)P.emit_first_lat[s] / 1e3);
    fclose(f);
}

/* Round r of phase 4: rate achieved, latency, CPU; lost and duplicated when there are
 * several rounds. */
static void print_round(uint32_t r)
{
    uint32_t first = P.round_first[r], end = P.round_first[r + 1];
    if (end > P.emit_sent) end = P.emit_sent;
    uint32_t sent = end > first ? end - first : 0;
    double span = sec(P.round_t_last[r] - P.round_t0[r]);
    printf("[4] emit_to_user: %u emits to random users at %u/s for %u s (achieved %.0f/s)\n", sent,
           P.o.rates[r], P.o.duration_s, span > 0 && sent > 1 ? (sent - 1) / span : 0.0);
    if (fleet()) {
        printf("    REST on node %c (port %d) -> ", node_name(P.o.emit_node),
               P.o.ports[P.o.emit_node]);
        if (P.o.target_node >= 0)
            printf("users of node %c (port %d)\n", node_name((uint32_t)P.o.target_node),
                   P.o.ports[P.o.target_node]);
        else
            printf("users of every node\n");
    }
    uint64_t *lat = calloc(sent ? sent : 1, sizeof *lat);
    size_t n = 0;
    uint64_t lost = 0, dup = 0;
    for (uint32_t s = first; s < end; s++) {
        if (P.emit_recv[s] == 0) lost++;
        if (P.emit_recv[s] > 1) dup += P.emit_recv[s] - 1u;
        if (lat && P.emit_first_lat[s] >= 0) lat[n++] = (uint64_t)P.emit_first_lat[s];
    }
    if (n) {
        char p50[32], p99[32], p999[32], mx[32];
        lg_sort_u64(lat, n);
        fmt_dur(p50, sizeof p50, lg_quantile(lat, n, 0.50, 1));
        fmt_dur(p99, sizeof p99, lg_quantile(lat, n, 0.99, 1));
        fmt_dur(p999, sizeof p999, lg_quantile(lat, n, 0.999, 1));
        fmt_dur(mx, sizeof mx, lat[n - 1]);
        printf("    latency (REST send -> socket receive): p50 %s, p99 %s, p99.9 %s, max %s\n", p50,
               p99, p999, mx);
    }
    free(lat);
    print_cpu(&P.cpu_em0[r], &P.cpu_em1[r], units_all(P.round_answered[r]), P.round_answered[r],
              fleet() ? "emit" : "emit (REST request included)");
    if (P.o.nrates > 1)
        printf("    this round: lost %" PRIu64 ", duplicated %" PRIu64 "\n", lost, dup);
}

static void print_emits(void)
{
    uint64_t lost = 0, dup = 0;
    for (uint32_t s = 0; s < P.emit_sent; s++) {
        if (P.emit_recv[s] == 0) {
            if (lost < 5)
                fprintf(stderr, "loadgen: emit seq %u to user-%u never arrived\n", s,
                        P.emit_target[s]);
            lost++;
        } else if (P.emit_recv[s] > 1) {
            dup += P.emit_recv[s] - 1u;
        }
    }
    if (P.emit_total) {
        for (uint32_t r = 0; r < P.o.nrates; r++)
            print_round(r);
    } else if (P.o.nrates) {
        printf("[4] emit_to_user: skipped (no user to emit to)\n");
    } else {
        printf("[4] emit_to_user: skipped (--rate 0)\n");
    }
    lg_counters_t c = {0, 0, 0, 0, 0};
    for (uint32_t i = 0; i < P.o.workers; i++) {
        c.frames += P.ws[i].ctr.frames;
        c.pings += P.ws[i].ctr.pings;
        c.ws_pings += P.ws[i].ctr.ws_pings;
        c.unexpected += P.ws[i].ctr.unexpected;
        c.bad_payload += P.ws[i].ctr.bad_payload;
    }
    printf("[5] correctness: lost %" PRIu64 ", duplicated %" PRIu64 ", misrouted %" PRIu64 "\n",
           lost, dup, P.misrouted);
    printf("    also: handshake failures %u, unexpected disconnects %" PRIu64
           ", emit HTTP errors %" PRIu64 ", emit answers with recipients != %s: %" PRIu64
           ", unexpected packets %" PRIu64 ", unreadable payloads %" PRIu64 "\n",
           P.hs_failed, P.unexpected_closes, P.emit_http_errors,
           fleet() || P.o.server_workers ? "the REST node's own (0 or 1)" : "1",
           P.emit_recipients_wrong, c.unexpected + P.bad_records, c.bad_payload);
    printf("    client side: %" PRIu64 " frames read, %" PRIu64 " pings answered\n", c.frames,
           c.pings + c.ws_pings);
    write_latency_file();
    if (lost || dup || P.misrouted || P.hs_failed || P.unexpected_closes || P.emit_http_errors ||
        P.emit_recipients_wrong || c.unexpected || P.bad_records || c.bad_payload)
        P.exit_code = P.exit_code < 1 ? 1 : P.exit_code;
    fflush(stdout);
}

static void append_pad(char *out, size_t size, int *len)
{
    if (!P.pad || *len < 0 || (size_t)*len >= size) return;
    *len += snprintf(out + *len, size - (size_t)*len, ",\"pad\":\"%s\"", P.pad);
}

/* Broadcast receipts the workers have reported so far (a loss counts as seen). */
static uint64_t bcast_seen(void)
{
    uint64_t seen = 0;
    for (uint32_t i = 0; i < P.o.workers; i++)
        seen += P.ws[i].bc_progress.received + P.ws[i].bc_progress.lost;
    return seen;
}

static void bcast_pump(void)
{
    if (P.phase != P_BCAST || P.bcast_sent >= P.bcast_total || P.bcast_sent != P.bcast_answered)
        return;
    if (P.o.broadcast_wait && bcast_seen() < (uint64_t)P.bcast_sent * P.nalive) return;
    lg_http_t *h = least_busy_http(1);
    if (!h) return;
    char body[4096];
    int n =
        snprintf(body, sizeof body,
                 "{\"authenticated\":true,\"event\":\"bench\",\"payload\":{\"b\":%u", P.bcast_sent);
    append_pad(body, sizeof body, &n);
    if (n < 0 || (size_t)n + 3 >= sizeof body) return;
    n += snprintf(body + n, sizeof body - (size_t)n, "}}");
    uint64_t t = lg_now_ns();
    if (lg_http_request(h, "POST", "/testing/emit", body, (size_t)n,
                        TAG(TAG_BCAST, P.bcast_sent)) == 0) {
        if (P.bcast_sent < P.bcast_timed) P.bcast_send_ns[P.bcast_sent] = t;
        P.bcast_sent++;
    }
}

static void emit_pump(void)
{
    if (P.phase != P_EMIT) return;
    uint32_t r = P.round, end = P.round_first[r + 1];
    uint64_t now = lg_now_ns();
    uint64_t due = P.round_first[r] + (now - P.round_t0[r]) * P.o.rates[r] / 1000000000u + 1;
    if (due > end) due = end;
    char body[4096];
    /* Bounded by the emits due and by the free pipeline slots. */
    while (P.emit_sent < due) {
        lg_http_t *h = least_busy_http(EMIT_PIPELINE);
        if (!h) break;
        uint32_t seq = P.emit_sent;
        uint32_t user = P.targets[lg_rand(&P.rng) % P.ntargets];
        uint64_t t = lg_now_ns();
        int n = snprintf(body, sizeof body,
                         "{\"userId\":\"user-%u\",\"event\":\"bench\",\"payload\":{\"seq\":%u,"
                         "\"t\":%" PRIu64 ",\"to\":\"user-%u\"",
                         user, seq, t, user);
        append_pad(body, sizeof body, &n);
        if (n < 0 || (size_t)n + 3 >= sizeof body) break;
        n += snprintf(body + n, sizeof body - (size_t)n, "}}");
        P.emit_target[seq] = user;
        P.emit_send_ns[seq] = t;
        P.emit_sent++; /* before the request: a record may name seq as soon as it is out */
        if (lg_http_request(h, "POST", "/testing/emit", body, (size_t)n, TAG(TAG_EMIT, seq)) != 0) {
            P.emit_sent--;
            break;
        }
        P.round_t_last[r] = t;
    }
}

static void start_round(uint32_t r)
{
    P.round = r;
    enter(P_EMIT, P.o.duration_s + P.o.phase_timeout_s);
    read_cpus(&P.cpu_em0[r]);
    P.round_answered[r] = P.emit_answered; /* the count at the start, until the round ends */
    P.round_t0[r] = P.phase_start_ns;
    P.drain_settle_at = 0;
    emit_pump();
}

static void start_emits(void)
{
    P.targets = calloc(P.nalive ? P.nalive : 1, sizeof *P.targets);
    if (!P.targets) {
        stop_loop(2);
        return;
    }
    P.ntargets = 0;
    for (uint32_t i = 0; i < P.nalive; i++) {
        uint32_t u = P.alive_users[i];
        if (P.o.target_node < 0 || lg_node_of(&P.o, u) == (uint32_t)P.o.target_node)
            P.targets[P.ntargets++] = u;
    }
    uint32_t total = 0;
    for (uint32_t r = 0; r < P.o.nrates; r++) {
        P.round_first[r] = total;
        total += P.o.rates[r] * P.o.duration_s; /* bounded by MAX_EMITS in parse_args */
    }
    P.round_first[P.o.nrates] = total;
    P.emit_total = P.ntargets ? total : 0;
    if (P.emit_total == 0) {
        send_all(LG_CMD_EMIT_FLUSH, NULL, 0);
        enter(P_FLUSH, 30);
        return;
    }
    P.emit_target = calloc(P.emit_total, sizeof *P.emit_target);
    P.emit_recv = calloc(P.emit_total, sizeof *P.emit_recv);
    P.emit_send_ns = calloc(P.emit_total, sizeof *P.emit_send_ns);
    P.emit_first_lat = malloc(P.emit_total * sizeof *P.emit_first_lat);
    if (P.emit_first_lat)
        for (uint32_t i = 0; i < P.emit_total; i++)
            P.emit_first_lat[i] = -1;
    if (!P.emit_target || !P.emit_recv || !P.emit_send_ns || !P.emit_first_lat) {
        fprintf(stderr, "loadgen: out of memory for %u emits\n", P.emit_total);
        stop_loop(2);
        return;
    }
    start_round(0);
}

static void start_broadcasts(void)
{
    if (P.bcast_total == 0 || P.nalive == 0) {
        printf("[3] broadcast: skipped\n");
        start_emits();
        return;
    }
    P.bcast_expect = fleet() ? P.node_alive[P.o.emit_node] : P.nalive;
    P.bcast_timed = lg_bcast_timed(P.bcast_total);
    size_t slots = (size_t)P.o.nodes * P.bcast_timed;
    P.bcast_send_ns = calloc(P.bcast_timed, sizeof *P.bcast_send_ns);
    P.bcast_first_ns = calloc(slots, sizeof *P.bcast_first_ns);
    P.bcast_last_ns = calloc(slots, sizeof *P.bcast_last_ns);
    if (!P.bcast_send_ns || !P.bcast_first_ns || !P.bcast_last_ns) {
        fprintf(stderr, "loadgen: out of memory for %u broadcasts\n", P.bcast_timed);
        stop_loop(2);
        return;
    }
    enter(P_BCAST, P.o.phase_timeout_s);
    read_cpus(&P.cpu_bc0);
    P.bcast_t0 = lg_now_ns();
    bcast_pump();
}

static int bcast_complete(void)
{
    return P.bcast_answered == P.bcast_total && bcast_seen() >= (uint64_t)P.bcast_total * P.nalive;
}

static void end_broadcasts(void)
{
    P.bcast_t1 = lg_now_ns();
    read_cpus(&P.cpu_bc1);
    uint32_t m = P.bcast_total;
    send_all(LG_CMD_BCAST_FINISH, &m, sizeof m);
    enter(P_BCAST_FINAL, 30);
}

static void on_http_cb(void *user, uint64_t tag, int status, const char *body, size_t len);

/* GET /testing/stats of every node, each on a new connection (an idle pooled one could
 * have met the server's keep-alive timeout). */
static void probes_start(void)
{
    for (uint32_t i = 0; i < P.o.nodes; i++) {
        probe_t *p = &P.probes[i];
        memset(p, 0, sizeof *p);
        struct sockaddr_in a;
        char host[80];
        uv_ip4_addr(P.o.host, P.o.ports[i], &a);
        snprintf(host, sizeof host, "%s:%d", P.o.host, P.o.ports[i]);
        p->h = lg_http_new(&P.loop, &a, host, on_http_cb, p);
    }
}

/* Sends what can be sent; 1 once every node answered or failed. */
static int probes_poll(void)
{
    int all = 1;
    for (uint32_t i = 0; i < P.o.nodes; i++) {
        probe_t *p = &P.probes[i];
        if (p->done) continue;
        if (!p->h || lg_http_failed(p->h)) {
            p->done = 1;
            snprintf(p->text, sizeof p->text, "(unreachable)");
            continue;
        }
        if (!p->sent && lg_http_connected(p->h) &&
            lg_http_request(p->h, "GET", "/testing/stats", NULL, 0, TAG(TAG_STATS, i)) == 0)
            p->sent = 1;
        all = 0;
    }
    return all;
}

static void probes_print(const char *when)
{
    for (uint32_t i = 0; i < P.o.nodes; i++) {
        probe_t *p = &P.probes[i];
        const char *text = p->text[0] ? p->text : "(none)";
        if (fleet())
            printf("    server counters%s, node %c: %s\n", when, node_name(i), text);
        else
            printf("    server counters%s: %s\n", when, text);
        lg_http_close(p->h);
        p->h = NULL;
    }
    fflush(stdout);
}

static int all_workers(size_t field_offset)
{
    for (uint32_t i = 0; i < P.o.workers; i++)
        if (!*(int *)((char *)&P.ws[i] + field_offset)) return 0;
    return 1;
}

static void on_http_pump(void)
{
    bcast_pump();
    emit_pump();
}

/* Phase 1 starts here: the "before" readings, then every worker connects. */
static void start_connect(void)
{
    for (uint32_t i = 0; i < P.o.nodes; i++)
        if (P.o.pids[i]) lg_proc_mem(P.o.pids[i], &P.mem_before[i]);
    lg_proc_mem(getpid(), &P.self_before);
    P.slab_before = lg_slab_bytes();
    read_cpus(&P.cpu_hs0);
    send_all(LG_CMD_CONNECT, NULL, 0);
    enter(P_CONNECT, P.o.phase_timeout_s + P.o.handshake_timeout_s);
}

static int request_warm_stats(void)
{
    lg_http_t *h = least_busy_http(1);
    if (!h || lg_http_request(h, "GET", "/testing/stats", NULL, 0, TAG(TAG_WARM_STATS, 0)) != 0)
        return -1;
    P.warm_stats_status = 0;
    return 0;
}

/* The server has let go of the warm-up users once its session and socket
 * counts are back to what they were before the warm-up. */
static int warm_released(void)
{
    if (P.warm.pid > 0 && waitpid(P.warm.pid, NULL, WNOHANG) == P.warm.pid) P.warm.pid = 0;
    return P.warm.pid == 0 && P.warm_stats_status == 200 && P.warm_sessions == P.warm_sessions0 &&
           P.warm_sockets == P.warm_sockets0;
}

static void warm_tick(uint64_t now, int timed_out)
{
    switch (P.phase) {
    case P_WARM_BASE:
        if (P.warm_stats_status == 200 && P.warm_sessions >= 0 && P.warm_sockets >= 0) {
            P.warm_sessions0 = P.warm_sessions;
            P.warm_sockets0 = P.warm_sockets;
            P.warm_t0 = now;
            send_cmd(&P.warm, LG_CMD_CONNECT, NULL, 0);
            enter(P_WARMUP, P.o.handshake_timeout_s + 5);
        } else if (P.warm_stats_status != 0 || timed_out) {
            fprintf(stderr, "loadgen: GET /testing/stats answered %d; cannot run the warm-up\n",
                    P.warm_stats_status);
            stop_loop(2);
        }
        break;
    case P_WARMUP:
        if (P.warm.hs_done) {
            if (P.warm.hs.failed)
                fprintf(stderr, "loadgen: %u of %u warm-up users did not join\n", P.warm.hs.failed,
                        P.o.warmup);
            send_cmd(&P.warm, LG_CMD_QUIT, NULL, 0); /* the worker exits; its sockets close */
            P.warm_next_poll_ns = now;
            P.warm_released_ns = 0;
            P.warm_sessions = P.warm_sockets = -1; /* the baseline answer is no release */
            enter(P_WARM_RELEASE, 10);
        } else if (P.warm.eof || timed_out) {
            fprintf(stderr, "loadgen: the warm-up handshakes did not finish\n");
            stop_loop(2);
        }
        break;
    case P_WARM_RELEASE:
        if (P.warm_released_ns) {
            /* A short pause more: the server frees the last handles on its next loop turns. */
            if (now - P.warm_released_ns >= 100000000u) start_connect();
        } else if (P.warm_stats_status != 0 && warm_released()) {
            P.warm_released_ns = now;
            printf("warm-up: %u users joined and left, released by the server %.3f s after"
                   " the first connect (sessions %ld, sockets %ld); not counted in any figure\n",
                   P.warm.hs.joined, sec(now - P.warm_t0), P.warm_sessions, P.warm_sockets);
            fflush(stdout);
        } else if (timed_out) {
            fprintf(stderr,
                    "loadgen: the server still holds warm-up users after 10 s (sessions %ld,"
                    " sockets %ld; %ld and %ld before); figure [2] includes them\n",
                    P.warm_sessions, P.warm_sockets, P.warm_sessions0, P.warm_sockets0);
            start_connect();
        } else if (P.warm_stats_status != 0 && now >= P.warm_next_poll_ns) {
            P.warm_next_poll_ns = now + 20000000u;
            request_warm_stats();
        }
        break;
    default:
        break;
    }
}

/* 0 (said on stderr) when a server or Redis is gone. */
static int watched_alive(void)
{
    for (uint32_t i = 0; i < P.o.nodes; i++) {
        if (!P.o.pids[i] || lg_proc_alive(P.o.pids[i])) continue;
        if (fleet())
            fprintf(stderr, "loadgen: server process %ld (node %c) is gone (during %s)\n",
                    P.o.pids[i], node_name(i), phase_names[P.phase]);
        else
            fprintf(stderr, "loadgen: server process %ld is gone (during %s)\n", P.o.pids[i],
                    phase_names[P.phase]);
        return 0;
    }
    if (P.o.redis_pid && !lg_proc_alive(P.o.redis_pid)) {
        fprintf(stderr, "loadgen: redis process %ld is gone (during %s)\n", P.o.redis_pid,
                phase_names[P.phase]);
        return 0;
    }
    return 1;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    static uint64_t last_alive_check;
    uint64_t now = lg_now_ns();
    if (now > P.deadline_ns) {
        fprintf(stderr, "loadgen: global deadline (%u s) reached during %s\n", P.o.deadline_s,
                phase_names[P.phase]);
        stop_loop(2);
        return;
    }
    if (now - last_alive_check > 250000000u) {
        last_alive_check = now;
        if (!watched_alive()) {
            stop_loop(2);
            return;
        }
    }
    int timed_out = P.phase_deadline_ns && now > P.phase_deadline_ns;
    if (P.phase > P_PREFLIGHT && all_http_failed()) {
        fprintf(stderr, "loadgen: every REST connection to the server failed (during %s)%s\n",
                phase_names[P.phase],
                P.o.pids[P.o.emit_node] && !lg_proc_alive(P.o.pids[P.o.emit_node])
                    ? "; the server is gone"
                    : "");
        stop_loop(2);
        return;
    }
    switch (P.phase) {
    case P_START:
        if (all_http_failed()) {
            fprintf(stderr, "loadgen: cannot reach the server at %s:%d\n", P.o.host,
                    P.o.ports[P.o.emit_node]);
            stop_loop(2);
        } else if (all_workers(offsetof(wslot_t, ready)) && (!P.o.warmup || P.warm.ready) &&
                   least_busy_http(1)) {
            const char *b = "{\"userId\":\"loadgen-preflight\",\"event\":\"bench\",\"payload\":{}}";
            lg_http_request(least_busy_http(1), "POST", "/testing/emit", b, strlen(b),
                            TAG(TAG_PREFLIGHT, 0));
            enter(P_PREFLIGHT, 10);
        } else if (timed_out) {
            fprintf(stderr, "loadgen: workers or HTTP connections not ready in time\n");
            stop_loop(2);
        }
        break;
    case P_PREFLIGHT:
        if (P.preflight_status == 200) {
            if (P.o.warmup && P.warm.ready && request_warm_stats() == 0)
                enter(P_WARM_BASE, 10);
            else if (!P.o.warmup)
                start_connect();
        } else if (P.preflight_status != 0 || timed_out) {
            fprintf(stderr,
                    "loadgen: POST /testing/emit answered %d; the server needs "
                    "[testing] emit_routes = true\n",
                    P.preflight_status);
            stop_loop(2);
        }
        break;
    case P_WARM_BASE:
    case P_WARMUP:
    case P_WARM_RELEASE:
        warm_tick(now, timed_out);
        break;
    case P_CONNECT:
        if (all_workers(offsetof(wslot_t, hs_done))) {
            read_cpus(&P.cpu_hs1);
            print_handshakes();
            enter(P_SETTLE, 0);
        } else if (timed_out) {
            fprintf(stderr, "loadgen: handshakes did not finish in time\n");
            stop_loop(2);
        }
        break;
    case P_SETTLE:
        if (now - P.phase_start_ns >= (uint64_t)P.o.settle_ms * 1000000u) {
            for (uint32_t i = 0; i < P.o.nodes; i++)
                if (P.o.pids[i]) lg_proc_mem(P.o.pids[i], &P.mem_after[i]);
            lg_proc_mem(getpid(), &P.self_after);
            P.slab_after = lg_slab_bytes();
            print_rss();
            probes_start();
            enter(P_STATS, 10);
        }
        break;
    case P_STATS:
        if (probes_poll() || timed_out) {
            probes_print("");
            start_broadcasts();
        }
        break;
    case P_BCAST:
        bcast_pump();
        if (bcast_complete()) {
            end_broadcasts();
        } else if (timed_out) {
            fprintf(stderr, "loadgen: broadcasts not all delivered in %u s\n", P.o.phase_timeout_s);
            end_broadcasts();
        }
        break;
    case P_BCAST_FINAL:
        if (all_workers(offsetof(wslot_t, bcast_final))) {
            print_broadcast();
            start_emits();
        } else if (timed_out) {
            fprintf(stderr, "loadgen: workers did not report broadcast totals\n");
            stop_loop(2);
        }
        break;
    case P_EMIT: {
        uint32_t first = P.round_first[P.round], end = P.round_first[P.round + 1];
        emit_pump();
        if (P.emit_sent == end && P.emit_answered == end) {
            enter(P_DRAIN, P.o.phase_timeout_s);
        } else if (timed_out) {
            fprintf(stderr, "loadgen: emits not all sent and answered in time (%u of %u)\n",
                    P.emit_answered - first, end - first);
            enter(P_DRAIN, 1);
        }
        break;
    }
    case P_DRAIN:
        if (!P.drain_settle_at && (P.emit_unique_received >= P.emit_sent || timed_out)) {
            /* The round's work is done on every node once every emit has arrived. */
            read_cpus(&P.cpu_em1[P.round]);
            P.round_answered[P.round] = P.emit_answered - P.round_answered[P.round];
            P.drain_settle_at = now + 300000000u; /* late duplicates still count */
        }
        if (P.drain_settle_at && now >= P.drain_settle_at) {
            if (P.round + 1 < P.o.nrates) {
                start_round(P.round + 1);
            } else {
                send_all(LG_CMD_EMIT_FLUSH, NULL, 0);
                enter(P_FLUSH, 30);
            }
        }
        break;
    case P_FLUSH:
        if (all_workers(offsetof(wslot_t, flushed))) {
            print_emits();
            if (fleet()) {
                probes_start();
                enter(P_END_STATS, 10);
            } else {
                stop_loop(0);
            }
        } else if (timed_out) {
            fprintf(stderr, "loadgen: workers did not flush their records\n");
            stop_loop(2);
        }
        break;
    case P_END_STATS:
        if (probes_poll() || timed_out) {
            probes_print(" at the end");
            stop_loop(0);
        }
        break;
    case P_DONE:
        break;
    }
}

/* ---- setup -------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: iogate-loadgen --port PORT --secret SECRET [options]\n"
               "       iogate-loadgen --ports P1,P2,... --secret SECRET [options]\n"
               "       iogate-loadgen --free-port\n"
               "  -n, --users N            authenticated WebSocket users (10000)\n"
               "      --host ADDR          server address, loopback only (127.0.0.1)\n"
               "      --port PORT          server port\n"
               "      --pid PID            server process, for RSS and CPU figures\n"
               "      --ports P1,P2,...    a fleet: user i on port P(i %% n + 1), nodes named\n"
               "                           A, B, ... in this order\n"
               "      --pids PID1,PID2,... the fleet's processes, in --ports order\n"
               "      --emit-port P        the node REST requests go to (the first)\n"
               "      --target-port P      emit_to_user only to users of this node (any)\n"
               "      --redis-pid PID      Redis, for its CPU figures\n"
               "      --server-workers     the server is a supervisor and its workers ([server]\n"
               "                           workers; give the supervisor's --pid): a REST answer\n"
               "                           counts the sockets of the worker that took it only\n"
               "      --secret S           HS256 secret of the server's [auth] jwt_secret\n"
               "                           (or IOGATE_BENCH_SECRET in the environment)\n"
               "      --workers W          worker processes (4, more if the file limit needs)\n"
               "      --sources S          source addresses 127.0.0.2..127.0.0.(S+1) (16)\n"
               "      --concurrency C      handshakes in flight, all workers together (256)\n"
               "      --broadcasts M       broadcasts in phase 3 (auto: ~2,000,000 deliveries;\n"
               "                           0 skips)\n"
               "      --broadcast-wait     send each broadcast once the one before reached\n"
               "                           every user (--no-broadcast-wait: once answered)\n"
               "      --payload-bytes B    padding in each payload (64)\n"
               "      --rate R[,R2,...]    emit_to_user per second in phase 4, one round per\n"
               "                           rate (2000; 0 skips)\n"
               "      --duration S         seconds of each round of phase 4 (10)\n"
               "      --http-conns K       keep-alive REST connections (4)\n"
               "      --settle-ms MS       idle time before the second RSS reading (1000)\n"
               "      --warmup K           users joined and released before the first RSS\n"
               "                           reading, not counted anywhere (32; 0: none;\n"
               "                           one server only)\n"
               "      --handshake-timeout S  per handshake (30)\n"
               "      --phase-timeout S    per phase wait (60)\n"
               "      --deadline S         the whole run (600)\n"
               "      --seed X             random seed\n"
               "      --latency-file F     write one line per emit of phase 4:\n"
               "                           seq user send_ms latency_us (-1: never received)\n"
               "  -v, --verbose\n"
               "exit status: 0 all correct, 1 a correctness count is not zero, 2 setup error\n");
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7F000001u);
    socklen_t al = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        close(fd);
        return 1;
    }
    printf("%u\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

static int parse_args(int argc, char **argv)
{
    lg_opts_t *o = &P.o;
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    o->users = 10000;
    o->workers = 0;
    o->sources = 16;
    o->concurrency = 256;
    o->broadcasts = AUTO_BROADCASTS;
    o->payload_bytes = 64;
    o->rates[0] = 2000;
    o->nrates = 1;
    o->target_node = -1;
    o->duration_s = 10;
    o->http_conns = 4;
    o->settle_ms = 1000;
    o->warmup = 32;
    snprintf(o->user_prefix, sizeof o->user_prefix, "user");
    o->handshake_timeout_s = 30;
    o->phase_timeout_s = 60;
    o->deadline_s = 600;
    o->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    const char *env_secret = getenv("IOGATE_BENCH_SECRET");
    if (env_secret) snprintf(o->secret, sizeof o->secret, "%s", env_secret);

    enum {
        O_HOST = 256,
        O_PORT,
        O_PID,
        O_SECRET,
        O_WORKERS,
        O_SOURCES,
        O_CONC,
        O_BCAST,
        O_PAD,
        O_RATE,
        O_DURATION,
        O_HTTP,
        O_SETTLE,
        O_WARMUP,
        O_HSTO,
        O_PHTO,
        O_DEADLINE,
        O_SEED,
        O_FREE,
        O_LATFILE,
        O_PORTS,
        O_PIDS,
        O_EMIT_PORT,
        O_TARGET_PORT,
        O_REDIS_PID,
        O_BCAST_WAIT,
        O_NO_BCAST_WAIT,
        O_SERVER_WORKERS,
        O_HELP
    };
    static const struct option longopts[] = {
        {"users", required_argument, NULL, 'n'},
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"pid", required_argument, NULL, O_PID},
        {"secret", required_argument, NULL, O_SECRET},
        {"workers", required_argument, NULL, O_WORKERS},
        {"sources", required_argument, NULL, O_SOURCES},
        {"concurrency", required_argument, NULL, O_CONC},
        {"broadcasts", required_argument, NULL, O_BCAST},
        {"payload-bytes", required_argument, NULL, O_PAD},
        {"rate", required_argument, NULL, O_RATE},
        {"duration", required_argument, NULL, O_DURATION},
        {"http-conns", required_argument, NULL, O_HTTP},
        {"settle-ms", required_argument, NULL, O_SETTLE},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"handshake-timeout", required_argument, NULL, O_HSTO},
        {"phase-timeout", required_argument, NULL, O_PHTO},
        {"deadline", required_argument, NULL, O_DEADLINE},
        {"seed", required_argument, NULL, O_SEED},
        {"free-port", no_argument, NULL, O_FREE},
        {"latency-file", required_argument, NULL, O_LATFILE},
        {"ports", required_argument, NULL, O_PORTS},
        {"pids", required_argument, NULL, O_PIDS},
        {"emit-port", required_argument, NULL, O_EMIT_PORT},
        {"target-port", required_argument, NULL, O_TARGET_PORT},
        {"redis-pid", required_argument, NULL, O_REDIS_PID},
        {"broadcast-wait", no_argument, NULL, O_BCAST_WAIT},
        {"no-broadcast-wait", no_argument, NULL, O_NO_BCAST_WAIT},
        {"verbose", no_argument, NULL, 'v'},
        {"server-workers", no_argument, NULL, O_SERVER_WORKERS},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    uint32_t port = 0, pid = 0, ports[LG_MAX_NODES], pids[LG_MAX_NODES], emit_port = 0;
    uint32_t target_port = 0, redis_pid = 0, warmup_given = 0;
    int nports = 0, npids = 0, c, bad = 0;
    while ((c = getopt_long(argc, argv, "n:v", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            bad |= lg_parse_u32(optarg, &o->users, 1, 1000000);
            break;
        case 'v':
            o->verbose = 1;
            break;
        case O_HOST:
            snprintf(o->host, sizeof o->host, "%s", optarg);
            break;
        case O_PORT:
            bad |= lg_parse_u32(optarg, &port, 1, 65535);
            break;
        case O_PID:
            bad |= lg_parse_u32(optarg, &pid, 1, 1u << 30);
            break;
        case O_SECRET:
            snprintf(o->secret, sizeof o->secret, "%s", optarg);
            break;
        case O_WORKERS:
            bad |= lg_parse_u32(optarg, &o->workers, 1, 64);
            break;
        case O_SOURCES:
            bad |= lg_parse_u32(optarg, &o->sources, 0, 250);
            break;
        case O_CONC:
            bad |= lg_parse_u32(optarg, &o->concurrency, 1, 100000);
            break;
        case O_BCAST:
            bad |= lg_parse_u32(optarg, &o->broadcasts, 0, 1000000);
            break;
        case O_PAD:
            bad |= lg_parse_u32(optarg, &o->payload_bytes, 0, 2048);
            break;
        case O_RATE: {
            int n = lg_parse_u32_list(optarg, o->rates, LG_MAX_RATES, 0, 1000000);
            if (n < 0) bad = 1;
            o->nrates = n == 1 && o->rates[0] == 0 ? 0 : (uint32_t)n;
            for (int i = 0; n > 1 && i < n; i++)
                if (o->rates[i] == 0) bad = 1; /* 0 skips phase 4; it is no round */
            break;
        }
        case O_PORTS:
            nports = lg_parse_u32_list(optarg, ports, LG_MAX_NODES, 1, 65535);
            bad |= nports < 0;
            break;
        case O_PIDS:
            npids = lg_parse_u32_list(optarg, pids, LG_MAX_NODES, 1, 1u << 30);
            bad |= npids < 0;
            break;
        case O_EMIT_PORT:
            bad |= lg_parse_u32(optarg, &emit_port, 1, 65535);
            break;
        case O_TARGET_PORT:
            bad |= lg_parse_u32(optarg, &target_port, 1, 65535);
            break;
        case O_REDIS_PID:
            bad |= lg_parse_u32(optarg, &redis_pid, 1, 1u << 30);
            break;
        case O_BCAST_WAIT:
        case O_NO_BCAST_WAIT:
            o->broadcast_wait = c == O_BCAST_WAIT;
            break;
        case O_DURATION:
            bad |= lg_parse_u32(optarg, &o->duration_s, 1, 3600);
            break;
        case O_HTTP:
            bad |= lg_parse_u32(optarg, &o->http_conns, 1, 64);
            break;
        case O_SETTLE:
            bad |= lg_parse_u32(optarg, &o->settle_ms, 0, 600000);
            break;
        case O_WARMUP:
            bad |= lg_parse_u32(optarg, &o->warmup, 0, 1000);
            warmup_given = 1;
            break;
        case O_HSTO:
            bad |= lg_parse_u32(optarg, &o->handshake_timeout_s, 1, 3600);
            break;
        case O_PHTO:
            bad |= lg_parse_u32(optarg, &o->phase_timeout_s, 1, 3600);
            break;
        case O_DEADLINE:
            bad |= lg_parse_u32(optarg, &o->deadline_s, 1, 86400);
            break;
        case O_SEED:
            o->seed = strtoull(optarg, NULL, 0);
            break;
        case O_FREE:
            exit(free_port());
        case O_LATFILE:
            snprintf(o->latency_file, sizeof o->latency_file, "%s", optarg);
            break;
        case O_SERVER_WORKERS:
            o->server_workers = 1;
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            bad = 1;
            break;
        }
        if (bad) {
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc || (!port) == (!nports) || (nports && pid) || (npids && npids != nports) ||
        ((emit_port || target_port) && !nports)) {
        if (port && nports) fprintf(stderr, "loadgen: --port or --ports, not both\n");
        if (nports && pid) fprintf(stderr, "loadgen: with --ports, give --pids\n");
        if (npids && npids != nports) fprintf(stderr, "loadgen: one pid per port in --pids\n");
        if ((emit_port || target_port) && !nports)
            fprintf(stderr, "loadgen: --emit-port and --target-port go with --ports\n");
        usage(stderr);
        return -1;
    }
    if (port) {
        o->nodes = 1;
        o->ports[0] = (int)port;
        o->pids[0] = pid;
    } else {
        int emit_found = !emit_port;
        o->nodes = (uint32_t)nports;
        for (int i = 0; i < nports; i++) {
            o->ports[i] = (int)ports[i];
            o->pids[i] = i < npids ? pids[i] : 0;
            if (emit_port == ports[i] && !emit_found) {
                o->emit_node = (uint32_t)i;
                emit_found = 1;
            }
            if (target_port == ports[i] && o->target_node < 0) o->target_node = i;
        }
        if (!emit_found || (target_port && o->target_node < 0)) {
            fprintf(stderr, "loadgen: --emit-port and --target-port must be among --ports\n");
            return -1;
        }
    }
    o->redis_pid = redis_pid;
    /* The warm-up only serves the server's RSS and CPU figures, of one server. */
    if (!o->pids[o->emit_node]) o->warmup = 0;
    if (o->nodes > 1 && o->warmup) {
        if (warmup_given) fprintf(stderr, "loadgen: --warmup needs one server; no warm-up\n");
        o->warmup = 0;
    }
    if (!lg_is_loopback(o->host, sizeof o->host)) {
        fprintf(stderr, "loadgen: refusing target %s: loopback addresses (127.0.0.0/8) only\n",
                o->host);
        return -1;
    }
    if (!o->secret[0]) {
        fprintf(stderr, "loadgen: --secret (or IOGATE_BENCH_SECRET) is required\n");
        return -1;
    }
    uint64_t emits = 0;
    for (uint32_t i = 0; i < o->nrates; i++)
        emits += (uint64_t)o->rates[i] * o->duration_s;
    if (emits > MAX_EMITS) {
        fprintf(stderr, "loadgen: rates x duration is limited to %u emits\n", MAX_EMITS);
        return -1;
    }
    return 0;
}

/* Raises the soft file limit to the hard one and picks the worker count so
 * every process stays under it. */
static int plan_workers(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t limit = rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : (uint64_t)rl.rlim_cur;
    if (limit <= 128) {
        fprintf(stderr, "loadgen: the open-file limit (%" PRIu64 ") is too low\n", limit);
        return -1;
    }
    uint64_t per = limit - 64; /* the loop, pipes, stdio and some slack */
    uint32_t need = (uint32_t)((P.o.users + per - 1) / per);
    if (P.o.workers == 0) P.o.workers = need > 4 ? need : 4;
    if (P.o.workers > P.o.users) P.o.workers = P.o.users;
    if (P.o.workers < need) {
        fprintf(stderr,
                "loadgen: %u workers cannot hold %u users with %" PRIu64
                " open files each; use --workers %u or more\n",
                P.o.workers, P.o.users, limit, need);
        return -1;
    }
    uint64_t pipes = 2ull * (P.o.workers + 1) + P.o.http_conns + 64;
    if (pipes > limit) {
        fprintf(stderr, "loadgen: too many workers for the open-file limit\n");
        return -1;
    }
    if (P.o.broadcasts == AUTO_BROADCASTS) {
        uint64_t m = (2000000ull + P.o.users - 1) / P.o.users;
        P.o.broadcasts = (uint32_t)(m < 20 ? 20 : m > 2000 ? 2000 : m);
    }
    return 0;
}

/* Slot i: the workers 0 .. workers-1, then the warm-up worker when there is one. */
static wslot_t *slot(uint32_t i)
{
    return i < P.o.workers ? &P.ws[i] : &P.warm;
}

static int spawn_workers(void)
{
    uint32_t nslots = P.o.workers + (P.o.warmup ? 1 : 0);
    P.ws = calloc(P.o.workers, sizeof *P.ws);
    if (!P.ws) return -1;
    int(*fds)[4] = calloc(nslots, sizeof *fds); /* cmd r,w; report r,w */
    if (!fds) return -1;
    for (uint32_t i = 0; i < nslots; i++) {
        if (pipe(&fds[i][0]) != 0 || pipe(&fds[i][2]) != 0) {
            perror("loadgen: pipe");
            return -1;
        }
    }
    /* The warm-up users are "warm-0" ... in one worker of their own, so that
     * they never meet a figure or a correctness count of the measured users. */
    lg_opts_t warm_opts = P.o;
    warm_opts.users = P.o.warmup;
    warm_opts.workers = 1;
    snprintf(warm_opts.user_prefix, sizeof warm_opts.user_prefix, "warm");
    pid_t parent = getpid();
    uint32_t base = P.o.users / P.o.workers, extra = P.o.users % P.o.workers, first = 0;
    fflush(stdout);
    fflush(stderr);
    for (uint32_t i = 0; i < nslots; i++) {
        wslot_t *w = slot(i);
        w->first = i < P.o.workers ? first : 0;
        w->count = i < P.o.workers ? base + (i < extra ? 1 : 0) : P.o.warmup;
        first += i < P.o.workers ? w->count : 0;
        pid_t pid = fork();
        if (pid < 0) {
            perror("loadgen: fork");
            return -1;
        }
        if (pid == 0) {
            /* The worker keeps only its own two ends. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(3);
            for (uint32_t j = 0; j < nslots; j++) {
                if (j != i) {
                    close(fds[j][0]);
                    close(fds[j][3]);
                }
                close(fds[j][1]);
                close(fds[j][2]);
            }
            const lg_opts_t *o = i < P.o.workers ? &P.o : &warm_opts;
            _exit(lg_worker_main(o, i, w->first, w->count, fds[i][0], fds[i][3]));
        }
        w->pid = pid;
    }
    for (uint32_t i = 0; i < nslots; i++) {
        close(fds[i][0]);
        close(fds[i][3]);
        slot(i)->cmd_fd = fds[i][1];
    }
    if (uv_loop_init(&P.loop) != 0) return -1;
    for (uint32_t i = 0; i < nslots; i++) {
        wslot_t *w = slot(i);
        uv_pipe_init(&P.loop, &w->rd, 0);
        w->rd.data = w;
        if (uv_pipe_open(&w->rd, fds[i][2]) != 0) return -1;
        uv_read_start((uv_stream_t *)&w->rd, on_rd_alloc, on_rd);
    }
    free(fds);
    return 0;
}

static void reap_workers(void)
{
    send_all(LG_CMD_QUIT, NULL, 0);
    uint64_t until = lg_now_ns() + 5000000000ull;
    uint32_t left = P.o.workers;
    while (left > 0 && lg_now_ns() < until) {
        left = 0;
        for (uint32_t i = 0; i < P.o.workers; i++) {
            if (P.ws[i].pid <= 0) continue;
            if (waitpid(P.ws[i].pid, NULL, WNOHANG) == P.ws[i].pid)
                P.ws[i].pid = 0;
            else
                left++;
        }
        if (left) usleep(10000);
    }
    for (uint32_t i = 0; i < P.o.workers; i++) {
        if (P.ws[i].pid <= 0) continue;
        kill(P.ws[i].pid, SIGKILL);
        waitpid(P.ws[i].pid, NULL, 0);
    }
    if (P.warm.pid > 0) { /* still there only when the run stopped during the warm-up */
        kill(P.warm.pid, SIGKILL);
        waitpid(P.warm.pid, NULL, 0);
    }
}

static void on_http_cb(void *user, uint64_t tag, int status, const char *body, size_t len)
{
    on_http(user, tag, status, body, len);
    on_http_pump();
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (parse_args(argc, argv) != 0) return 2;
    if (plan_workers() != 0) return 2;
    P.rng = P.o.seed ? P.o.seed : 1;
    for (uint32_t i = 0; i < LG_MAX_NODES; i++)
        P.mem_before[i].vm_rss = P.mem_after[i].vm_rss = -1;
    P.bcast_total = P.o.broadcasts;
    P.hs_lat = calloc(P.o.users, sizeof *P.hs_lat);
    P.user_failed = calloc(P.o.users, 1);
    P.alive_users = calloc(P.o.users, sizeof *P.alive_users);
    if (!P.hs_lat || !P.user_failed || !P.alive_users) return 2;
    if (P.o.payload_bytes) {
        P.pad = malloc(P.o.payload_bytes + 1);
        if (!P.pad) return 2;
        memset(P.pad, 'x', P.o.payload_bytes);
        P.pad[P.o.payload_bytes] = '\0';
    }
    if (fleet()) {
        printf(
            "iogate-loadgen: %u users on %u nodes (user i on node i %% %u), %u workers, %u source"
            " addresses, %u handshakes in flight\n",
            P.o.users, P.o.nodes, P.o.nodes, P.o.workers, P.o.sources, P.o.concurrency);
        for (uint32_t i = 0; i < P.o.nodes; i++)
            printf("    node %c: %s:%d, pid %ld%s\n", node_name(i), P.o.host, P.o.ports[i],
                   P.o.pids[i], i == P.o.emit_node ? " (REST requests)" : "");
        if (P.o.redis_pid) printf("    redis: pid %ld\n", P.o.redis_pid);
    } else {
        printf("iogate-loadgen: %u users on %s:%d, %u workers, %u source addresses, "
               "%u handshakes in flight; server pid %ld\n",
               P.o.users, P.o.host, P.o.ports[0], P.o.workers, P.o.sources, P.o.concurrency,
               P.o.pids[0]);
    }
    if (spawn_workers() != 0) {
        for (uint32_t i = 0; P.ws && i < P.o.workers; i++)
            if (P.ws[i].pid > 0) kill(P.ws[i].pid, SIGKILL);
        if (P.warm.pid > 0) kill(P.warm.pid, SIGKILL);
        return 2;
    }
    uv_ip4_addr(P.o.host, P.o.ports[P.o.emit_node], &P.dst);
    snprintf(P.host_header, sizeof P.host_header, "%s:%d", P.o.host, P.o.ports[P.o.emit_node]);
    P.http = calloc(P.o.http_conns, sizeof *P.http);
    for (uint32_t i = 0; i < P.o.http_conns; i++)
        P.http[i] = lg_http_new(&P.loop, &P.dst, P.host_header, on_http_cb, NULL);
    P.deadline_ns = lg_now_ns() + (uint64_t)P.o.deadline_s * 1000000000u;
    enter(P_START, 10);
    uv_timer_init(&P.loop, &P.tick);
    uv_timer_start(&P.tick, on_tick, 1, 1);
    uv_run(&P.loop, UV_RUN_DEFAULT);
    reap_workers();
    if (P.exit_code == 0)
        printf("result: all correctness counts are zero\n");
    else if (P.exit_code == 1)
        printf("result: FAILED (a correctness count is not zero)\n");
    else
        printf("result: run aborted (exit 2)\n");
    return P.exit_code;
}
