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
 *                   send time carried in the payload
 *   5. correctness  lost, duplicated, misrouted (must all be zero)
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
    P_DONE,
};

static const char *phase_names[] = {
    "start", "preflight", "warm-up baseline", "warm-up", "warm-up release", "connect", "settle",
    "stats", "broadcast", "broadcast-final",  "emit",    "drain",           "flush",   "done"};

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
    int awaiting_stats;
    char stats_text[1024];

    /* 0: the warm-up worker and the server's counts it must leave as it found them */
    wslot_t warm;
    long warm_sessions0, warm_sockets0, warm_sessions, warm_sockets;
    int warm_stats_status; /* of the last GET /testing/stats of the warm-up; 0 while awaited */
    uint64_t warm_t0, warm_next_poll_ns, warm_released_ns;

    /* 1, 2 */
    lg_mem_t mem_before, mem_after;
    lg_cpu_t cpu_hs0, cpu_hs1;
    uint32_t joined, hs_failed;
    uint64_t *hs_lat;
    size_t hs_n;
    uint8_t *user_failed; /* per user: did not join */
    uint32_t *alive_users;
    uint32_t nalive;
    uint64_t unexpected_closes;

    /* 3 */
    uint32_t bcast_total, bcast_sent, bcast_answered;
    uint64_t bcast_recipient_mismatch, bcast_http_errors;
    lg_cpu_t cpu_bc0, cpu_bc1;
    uint64_t bcast_t0, bcast_t1;
    uint32_t bcast_timed;     /* broadcasts with receipt times: lg_bcast_timed(M) */
    uint64_t *bcast_send_ns;  /* per broadcast < bcast_timed: just before its request */
    uint64_t *bcast_first_ns; /* earliest receipt over every worker, 0: none */
    uint64_t *bcast_last_ns;  /* latest receipt */

    /* 4, 5 */
    uint32_t emit_total, emit_sent, emit_answered;
    uint32_t *emit_target;
    uint64_t *emit_send_ns;
    int64_t *emit_first_lat; /* per seq, -1 until received */
    uint16_t *emit_recv;
    uint64_t *emit_lat; /* first receipt latency, ns */
    size_t emit_lat_n;
    uint64_t emit_t0, emit_t_last_sent, drain_settle_at;
    uint64_t emit_http_errors, emit_recipients_not_one, misrouted, bad_records;
    uint64_t emit_unique_received;
    lg_cpu_t cpu_em0, cpu_em1;
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
        uint32_t k = P.bcast_timed;
        if (len != 2 * (size_t)k * sizeof(uint64_t) || !P.bcast_first_ns) break;
        for (uint32_t i = 0; i < k; i++) {
            uint64_t first, last;
            memcpy(&first, data + i * sizeof first, sizeof first);
            memcpy(&last, data + ((size_t)k + i) * sizeof last, sizeof last);
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
                    P.emit_first_lat[r.seq] = r.latency_ns;
                    P.emit_lat[P.emit_lat_n++] = r.latency_ns > 0 ? (uint64_t)r.latency_ns : 0;
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

static void on_http(void *user, uint64_t tag, int status, const char *body, size_t len)
{
    (void)user;
    uint32_t kind = (uint32_t)(tag >> 32), n = (uint32_t)tag;
    switch (kind) {
    case TAG_PREFLIGHT:
        P.preflight_status = status ? status : -1;
        break;
    case TAG_STATS:
        P.awaiting_stats = 0;
        if (status == 200)
            snprintf(P.stats_text, sizeof P.stats_text, "%.*s", (int)len, body);
        else
            snprintf(P.stats_text, sizeof P.stats_text, "(status %d)", status);
        break;
    case TAG_WARM_STATS:
        P.warm_stats_status = status ? status : -1;
        P.warm_sessions = status == 200 ? json_long(body, len, "\"sessions\":") : -1;
        P.warm_sockets = status == 200 ? json_long(body, len, "\"sockets\":") : -1;
        break;
    case TAG_BCAST:
        P.bcast_answered++;
        if (status != 200)
            P.bcast_http_errors++;
        else if (recipients_of(body, len) != (long)P.nalive)
            P.bcast_recipient_mismatch++;
        break;
    case TAG_EMIT:
        P.emit_answered++;
        if (status != 200) {
            if (P.emit_http_errors < 5)
                fprintf(stderr, "loadgen: emit %u answered %d\n", n, status);
            P.emit_http_errors++;
        } else if (recipients_of(body, len) != 1) {
            P.emit_recipients_not_one++;
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

/* Server CPU between two readings, per unit of work. */
static void print_cpu(const lg_cpu_t *a, const lg_cpu_t *b, uint64_t units, const char *unit)
{
    if (!a->ok || !b->ok || units == 0) {
        printf("    server CPU: skipped (%s)\n",
               P.o.server_pid ? "nothing to divide by" : "no --pid");
        return;
    }
    int64_t user = b->user_us - a->user_us, sys = b->sys_us - a->sys_us;
    printf("    server CPU (utime+stime): %.3f s (user %.3f, sys %.3f) -> %.3f us per %s",
           (double)(user + sys) / 1e6, (double)user / 1e6, (double)sys / 1e6,
           (double)(user + sys) / (double)units, unit);
    if (a->sched_ns >= 0 && b->sched_ns >= 0)
        printf(" [schedstat: %.3f us]", (double)(b->sched_ns - a->sched_ns) / 1e3 / (double)units);
    printf("\n");
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
    for (uint32_t u = 0; u < P.o.users; u++)
        if (!P.user_failed[u]) P.alive_users[P.nalive++] = u;
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
    print_cpu(&P.cpu_hs0, &P.cpu_hs1, P.joined, "handshake");
    fflush(stdout);
}

static double mib(int64_t bytes)
{
    return (double)bytes / 1048576.0;
}

static double per_conn(int64_t before, int64_t after)
{
    return P.joined ? (double)(after - before) / P.joined : 0;
}

static void print_rss(void)
{
    const lg_mem_t *a = &P.mem_before, *b = &P.mem_after;
    if (!P.o.server_pid) {
        printf("[2] server RSS: skipped (no --pid)\n");
    } else if (a->vm_rss < 0 || b->vm_rss < 0) {
        printf("[2] server RSS: unavailable (/proc/%ld/status)\n", P.o.server_pid);
    } else {
        char warm[64];
        if (P.o.warmup)
            snprintf(warm, sizeof warm, "after a warm-up of %u users", P.o.warmup);
        else
            snprintf(warm, sizeof warm, "no warm-up");
        printf("[2] server RSS: %.1f MiB before, %.1f MiB with %u idle connections"
               " -> %.0f bytes per idle connection (VmRSS, %s)\n",
               mib(a->vm_rss), mib(b->vm_rss), P.joined, per_conn(a->vm_rss, b->vm_rss), warm);
        if (a->rss_anon >= 0 && b->rss_anon >= 0 && a->rss_file >= 0 && b->rss_file >= 0)
            printf("    of which RssAnon %.1f -> %.1f MiB: %.0f bytes per idle connection;"
                   " RssFile %.1f -> %.1f MiB\n",
                   mib(a->rss_anon), mib(b->rss_anon), per_conn(a->rss_anon, b->rss_anon),
                   mib(a->rss_file), mib(b->rss_file));
    }
    fflush(stdout);
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* Per broadcast: REST send -> first and -> last receipt over every user;
 * quantiles over the broadcasts that reached at least one user. */
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
    size_t n = 0;
    for (uint32_t i = 0; i < k; i++) {
        uint64_t t = P.bcast_send_ns[i], f = P.bcast_first_ns[i], l = P.bcast_last_ns[i];
        if (!f) continue;
        first[n] = f > t ? f - t : 0;
        last[n] = l > t ? l - t : 0;
        n++;
    }
    if (n == 0) {
        printf("    per-broadcast latency: no broadcast was received\n");
    } else {
        lg_sort_u64(first, n);
        lg_sort_u64(last, n);
        printf("    per-broadcast latency (REST send -> first / last user): p50 %.3f / %.3f ms,"
               " p99 %.3f / %.3f ms, max %.3f / %.3f ms",
               ms(lg_quantile(first, n, 0.50, 1)), ms(lg_quantile(last, n, 0.50, 1)),
               ms(lg_quantile(first, n, 0.99, 1)), ms(lg_quantile(last, n, 0.99, 1)),
               ms(first[n - 1]), ms(last[n - 1]));
        if (n < P.bcast_total) printf(" (over %zu of %u broadcasts)", n, P.bcast_total);
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
    print_bcast_latency();
    print_cpu(&P.cpu_bc0, &P.cpu_bc1, t.received, "delivered message");
    printf("    broadcast correctness: lost %" PRIu64 ", duplicated %" PRIu64
           ", HTTP errors %" PRIu64 ", answers with recipients != %u: %" PRIu64 "\n",
           t.lost, t.duplicated, P.bcast_http_errors, P.nalive, P.bcast_recipient_mismatch);
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
                (double)(P.emit_send_ns[s] - P.emit_t0) / 1e6,
                P.emit_first_lat[s] < 0 ? -1.0 : (double)P.emit_first_lat[s] / 1e3);
    fclose(f);
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
        double span = sec(P.emit_t_last_sent - P.emit_t0);
        printf("[4] emit_to_user: %u emits to random users at %u/s for %u s (achieved %.0f/s)\n",
               P.emit_sent, P.o.rate, P.o.duration_s,
               span > 0 ? (P.emit_sent > 1 ? (P.emit_sent - 1) / span : 0) : 0.0);
        if (P.emit_lat_n) {
            char p50[32], p99[32], p999[32], mx[32];
            lg_sort_u64(P.emit_lat, P.emit_lat_n);
            fmt_dur(p50, sizeof p50, lg_quantile(P.emit_lat, P.emit_lat_n, 0.50, 1));
            fmt_dur(p99, sizeof p99, lg_quantile(P.emit_lat, P.emit_lat_n, 0.99, 1));
            fmt_dur(p999, sizeof p999, lg_quantile(P.emit_lat, P.emit_lat_n, 0.999, 1));
            fmt_dur(mx, sizeof mx, P.emit_lat[P.emit_lat_n - 1]);
            printf("    latency (REST send -> socket receive): p50 %s, p99 %s, p99.9 %s, max %s\n",
                   p50, p99, p999, mx);
        }
        print_cpu(&P.cpu_em0, &P.cpu_em1, P.emit_answered, "emit (REST request included)");
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
           ", emit HTTP errors %" PRIu64 ", emit answers with recipients != 1: %" PRIu64
           ", unexpected packets %" PRIu64 ", unreadable payloads %" PRIu64 "\n",
           P.hs_failed, P.unexpected_closes, P.emit_http_errors, P.emit_recipients_not_one,
           c.unexpected + P.bad_records, c.bad_payload);
    printf("    client side: %" PRIu64 " frames read, %" PRIu64 " pings answered\n", c.frames,
           c.pings + c.ws_pings);
    write_latency_file();
    if (lost || dup || P.misrouted || P.hs_failed || P.unexpected_closes || P.emit_http_errors ||
        P.emit_recipients_not_one || c.unexpected || P.bad_records || c.bad_payload)
        P.exit_code = P.exit_code < 1 ? 1 : P.exit_code;
    fflush(stdout);
}

static void append_pad(char *out, size_t size, int *len)
{
    if (!P.pad || *len < 0 || (size_t)*len >= size) return;
    *len += snprintf(out + *len, size - (size_t)*len, ",\"pad\":\"%s\"", P.pad);
}

static void bcast_pump(void)
{
    if (P.phase != P_BCAST || P.bcast_sent >= P.bcast_total || P.bcast_sent != P.bcast_answered)
        return;
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
    uint64_t now = lg_now_ns();
    uint64_t due = (now - P.emit_t0) * P.o.rate / 1000000000u + 1;
    if (due > P.emit_total) due = P.emit_total;
    char body[4096];
    /* Bounded by the emits due and by the free pipeline slots. */
    while (P.emit_sent < due) {
        lg_http_t *h = least_busy_http(EMIT_PIPELINE);
        if (!h) break;
        uint32_t seq = P.emit_sent;
        uint32_t user = P.alive_users[lg_rand(&P.rng) % P.nalive];
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
        P.emit_t_last_sent = t;
    }
}

static void start_emits(void)
{
    P.emit_total = P.nalive ? P.o.rate * P.o.duration_s : 0;
    if (P.emit_total > MAX_EMITS) P.emit_total = MAX_EMITS;
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
    P.emit_lat = calloc(P.emit_total, sizeof *P.emit_lat);
    if (!P.emit_target || !P.emit_recv || !P.emit_lat || !P.emit_send_ns || !P.emit_first_lat) {
        fprintf(stderr, "loadgen: out of memory for %u emits\n", P.emit_total);
        stop_loop(2);
        return;
    }
    enter(P_EMIT, P.o.duration_s + P.o.phase_timeout_s);
    lg_proc_cpu(P.o.server_pid, &P.cpu_em0);
    P.emit_t0 = P.phase_start_ns;
    emit_pump();
}

static void start_broadcasts(void)
{
    if (P.bcast_total == 0 || P.nalive == 0) {
        printf("[3] broadcast: skipped\n");
        start_emits();
        return;
    }
    P.bcast_timed = lg_bcast_timed(P.bcast_total);
    P.bcast_send_ns = calloc(P.bcast_timed, sizeof *P.bcast_send_ns);
    P.bcast_first_ns = calloc(P.bcast_timed, sizeof *P.bcast_first_ns);
    P.bcast_last_ns = calloc(P.bcast_timed, sizeof *P.bcast_last_ns);
    if (!P.bcast_send_ns || !P.bcast_first_ns || !P.bcast_last_ns) {
        fprintf(stderr, "loadgen: out of memory for %u broadcasts\n", P.bcast_timed);
        stop_loop(2);
        return;
    }
    enter(P_BCAST, P.o.phase_timeout_s);
    if (P.o.server_pid) {
        lg_proc_cpu(P.o.server_pid, &P.cpu_bc0);
    }
    P.bcast_t0 = lg_now_ns();
    bcast_pump();
}

static int bcast_complete(void)
{
    uint64_t seen = 0;
    for (uint32_t i = 0; i < P.o.workers; i++)
        seen += P.ws[i].bc_progress.received + P.ws[i].bc_progress.lost;
    return P.bcast_answered == P.bcast_total && seen >= (uint64_t)P.bcast_total * P.nalive;
}

static void end_broadcasts(void)
{
    P.bcast_t1 = lg_now_ns();
    if (P.o.server_pid) {
        lg_proc_cpu(P.o.server_pid, &P.cpu_bc1);
    }
    uint32_t m = P.bcast_total;
    send_all(LG_CMD_BCAST_FINISH, &m, sizeof m);
    enter(P_BCAST_FINAL, 30);
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
    if (P.o.server_pid) {
        lg_proc_mem(P.o.server_pid, &P.mem_before);
        lg_proc_cpu(P.o.server_pid, &P.cpu_hs0);
    }
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
    if (P.o.server_pid && now - last_alive_check > 250000000u) {
        last_alive_check = now;
        if (!lg_proc_alive(P.o.server_pid)) {
            fprintf(stderr, "loadgen: server process %ld is gone (during %s)\n", P.o.server_pid,
                    phase_names[P.phase]);
            stop_loop(2);
            return;
        }
    }
    int timed_out = P.phase_deadline_ns && now > P.phase_deadline_ns;
    if (P.phase > P_PREFLIGHT && all_http_failed()) {
        fprintf(stderr, "loadgen: every REST connection to the server failed (during %s)%s\n",
                phase_names[P.phase],
                P.o.server_pid && !lg_proc_alive(P.o.server_pid) ? "; the server is gone" : "");
        stop_loop(2);
        return;
    }
    switch (P.phase) {
    case P_START:
        if (all_http_failed()) {
            fprintf(stderr, "loadgen: cannot reach the server at %s:%d\n", P.o.host, P.o.port);
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
            lg_proc_cpu(P.o.server_pid, &P.cpu_hs1);
            print_handshakes();
            enter(P_SETTLE, 0);
        } else if (timed_out) {
            fprintf(stderr, "loadgen: handshakes did not finish in time\n");
            stop_loop(2);
        }
        break;
    case P_SETTLE:
        if (now - P.phase_start_ns >= (uint64_t)P.o.settle_ms * 1000000u) {
            if (P.o.server_pid) lg_proc_mem(P.o.server_pid, &P.mem_after);
            print_rss();
            lg_http_t *h = least_busy_http(1);
            if (h && lg_http_request(h, "GET", "/testing/stats", NULL, 0, TAG(TAG_STATS, 0)) == 0)
                P.awaiting_stats = 1;
            enter(P_STATS, 10);
        }
        break;
    case P_STATS:
        if (!P.awaiting_stats || timed_out) {
            printf("    server counters: %s\n", P.stats_text[0] ? P.stats_text : "(none)");
            fflush(stdout);
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
    case P_EMIT:
        emit_pump();
        if (P.emit_sent == P.emit_total && P.emit_answered == P.emit_total) {
            lg_proc_cpu(P.o.server_pid, &P.cpu_em1);
            enter(P_DRAIN, P.o.phase_timeout_s);
            P.drain_settle_at = 0;
        } else if (timed_out) {
            fprintf(stderr, "loadgen: emits not all sent and answered in time (%u of %u)\n",
                    P.emit_answered, P.emit_total);
            enter(P_DRAIN, 1);
        }
        break;
    case P_DRAIN:
        if (!P.drain_settle_at && (P.emit_unique_received >= P.emit_sent || timed_out))
            P.drain_settle_at = now + 300000000u; /* late duplicates still count */
        if (P.drain_settle_at && now >= P.drain_settle_at) {
            send_all(LG_CMD_EMIT_FLUSH, NULL, 0);
            enter(P_FLUSH, 30);
        }
        break;
    case P_FLUSH:
        if (all_workers(offsetof(wslot_t, flushed))) {
            print_emits();
            stop_loop(0);
        } else if (timed_out) {
            fprintf(stderr, "loadgen: workers did not flush their records\n");
            stop_loop(2);
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
               "       iogate-loadgen --free-port\n"
               "  -n, --users N            authenticated WebSocket users (10000)\n"
               "      --host ADDR          server address, loopback only (127.0.0.1)\n"
               "      --port PORT          server port\n"
               "      --pid PID            server process, for RSS and CPU figures\n"
               "      --secret S           HS256 secret of the server's [auth] jwt_secret\n"
               "                           (or IOGATE_BENCH_SECRET in the environment)\n"
               "      --workers W          worker processes (4, more if the file limit needs)\n"
               "      --sources S          source addresses 127.0.0.2..127.0.0.(S+1) (16)\n"
               "      --concurrency C      handshakes in flight, all workers together (256)\n"
               "      --broadcasts M       broadcasts in phase 3 (auto: ~2,000,000 deliveries;\n"
               "                           0 skips)\n"
               "      --payload-bytes B    padding in each payload (64)\n"
               "      --rate R             emit_to_user per second in phase 4 (2000; 0 skips)\n"
               "      --duration S         seconds of phase 4 (10)\n"
               "      --http-conns K       keep-alive REST connections (4)\n"
               "      --settle-ms MS       idle time before the second RSS reading (1000)\n"
               "      --warmup K           users joined and released before the first RSS\n"
               "                           reading, not counted anywhere (32; 0: none)\n"
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
    o->rate = 2000;
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
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    uint32_t port = 0, pid = 0;
    int c, bad = 0;
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
        case O_RATE:
            bad |= lg_parse_u32(optarg, &o->rate, 0, 1000000);
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
    if (optind < argc || !port) {
        usage(stderr);
        return -1;
    }
    o->port = (int)port;
    o->server_pid = pid;
    if (!pid) o->warmup = 0; /* it only serves the server's RSS and CPU figures */
    if (!lg_is_loopback(o->host, sizeof o->host)) {
        fprintf(stderr, "loadgen: refusing target %s: loopback addresses (127.0.0.0/8) only\n",
                o->host);
        return -1;
    }
    if (!o->secret[0]) {
        fprintf(stderr, "loadgen: --secret (or IOGATE_BENCH_SECRET) is required\n");
        return -1;
    }
    if ((uint64_t)o->rate * o->duration_s > MAX_EMITS) {
        fprintf(stderr, "loadgen: rate x duration is limited to %u emits\n", MAX_EMITS);
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
    P.mem_before.vm_rss = P.mem_after.vm_rss = -1;
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
    printf("iogate-loadgen: %u users on %s:%d, %u workers, %u source addresses, "
           "%u handshakes in flight; server pid %ld\n",
           P.o.users, P.o.host, P.o.port, P.o.workers, P.o.sources, P.o.concurrency,
           P.o.server_pid);
    if (spawn_workers() != 0) {
        for (uint32_t i = 0; P.ws && i < P.o.workers; i++)
            if (P.ws[i].pid > 0) kill(P.ws[i].pid, SIGKILL);
        if (P.warm.pid > 0) kill(P.warm.pid, SIGKILL);
        return 2;
    }
    uv_ip4_addr(P.o.host, P.o.port, &P.dst);
    snprintf(P.host_header, sizeof P.host_header, "%s:%d", P.o.host, P.o.port);
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
