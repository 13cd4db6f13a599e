/* loadgen.h - shared pieces of iogate-loadgen, the benchmark load generator.
 *
 * iogate-loadgen is an independent client: it speaks HTTP/1.1, WebSocket
 * (RFC 6455), Engine.IO v4 and Socket.IO v5 itself and never links against
 * the server's code. The parent process drives the phases and talks REST to
 * the server; forked workers (one libuv loop each) hold the WebSocket users
 * and report to the parent through pipes, in the framed messages below.
 *
 * Everything here targets loopback addresses only. */
#ifndef IOGATE_LOADGEN_H
#define IOGATE_LOADGEN_H

#include <stddef.h>
#include <stdint.h>

/* ---- options shared by parent and workers ---------------------------- */

#define LG_MAX_NODES 16 /* servers of a fleet (--ports) */
#define LG_MAX_RATES 8  /* emit rounds (--rate R1,R2,...) */

typedef struct lg_opts {
    char host[64];                 /* dotted IPv4 in 127.0.0.0/8 */
    uint32_t nodes;                /* servers: 1 (--port), or a fleet (--ports) */
    int ports[LG_MAX_NODES];       /* user i connects to ports[i % nodes] */
    long pids[LG_MAX_NODES];       /* per node; 0: its RSS and CPU figures are skipped */
    uint32_t emit_node;            /* the node REST requests go to (--emit-port) */
    int target_node;               /* emit_to_user targets only its users; -1: every user */
    long redis_pid;                /* 0: no Redis CPU figures */
    int broadcast_wait;            /* the next broadcast only once the last reached everyone */
    int server_workers;            /* the server is several processes ([server] workers) */
    uint32_t rates[LG_MAX_RATES];  /* phase 4: emits per second, one round each */
    uint32_t nrates;               /* 0: phase 4 skipped */
    uint32_t users;                /* N */
    uint32_t workers;              /* worker processes */
    uint32_t sources;              /* source addresses 127.0.0.2 .. 127.0.0.(1+sources) */
    uint32_t concurrency;          /* handshakes in flight, all workers together */
    char secret[256];              /* HS256 key for the tokens */
    uint32_t broadcasts;           /* phase 3: broadcasts sent (0: skip) */
    uint64_t broadcast_deliveries; /* when broadcasts is 0 and this is set: aim for it */
    uint32_t payload_bytes;        /* padding added to each payload */
    uint32_t duration_s;           /* phase 4: seconds per round */
    uint32_t http_conns;           /* keep-alive connections of the parent */
    uint32_t settle_ms;            /* idle time before the "after" RSS reading */
    uint32_t warmup;               /* users joined and released before the "before" reading */
    char user_prefix[8];           /* user i is "<prefix>-i": "user", or "warm" in the warm-up */
    uint32_t handshake_timeout_s;
    uint32_t phase_timeout_s; /* connect phase, broadcast phase, drain after emits */
    uint32_t deadline_s;      /* the whole run */
    uint64_t seed;
    int verbose;
    char latency_file[256]; /* phase 4: one line per emit, when set */
} lg_opts_t;

/* ---- pipe messages ------------------------------------------------------
 * Each message is a header {uint32 type, uint32 len} followed by len bytes.
 * Both ends are processes of one program on one machine: native byte order. */

enum {
    /* parent -> worker */
    LG_CMD_CONNECT = 1,  /* start the handshakes */
    LG_CMD_BCAST_FINISH, /* payload: uint32 M; answer LG_MSG_BCAST_FINAL */
    LG_CMD_EMIT_FLUSH,   /* answer: pending LG_MSG_EMIT_RECORDS, then LG_MSG_EMIT_FLUSHED */
    LG_CMD_QUIT,

    /* worker -> parent */
    LG_MSG_READY = 100,
    LG_MSG_HS_DONE,        /* lg_hs_done_t */
    LG_MSG_HS_LATENCY,     /* uint64 ns per joined socket */
    LG_MSG_HS_FAILED,      /* uint32 user indexes that did not join */
    LG_MSG_CLOSED,         /* lg_closed_t: a joined socket was closed by the server */
    LG_MSG_BCAST_PROGRESS, /* lg_bcast_t (running totals) */
    LG_MSG_BCAST_FINAL,    /* lg_bcast_t (lost includes messages never seen) */
    LG_MSG_EMIT_RECORDS,   /* lg_emit_rec_t[] */
    LG_MSG_EMIT_FLUSHED,
    LG_MSG_COUNTERS,    /* lg_counters_t, sent with LG_MSG_EMIT_FLUSHED */
    LG_MSG_BCAST_TIMES, /* before LG_MSG_BCAST_FINAL: uint64 first[k], then uint64 last[k] */
};

/* LG_MSG_BCAST_TIMES: for node n and broadcast i < k = min(M, LG_BCAST_TIMED_MAX),
 * first[n * k + i] and then last[n * k + i]: the CLOCK_MONOTONIC ns of the worker's first
 * and last receipt of it by a user of that node (0: none). The cap bounds memory for a
 * huge --broadcasts. */
#define LG_BCAST_TIMED_MAX 100000u
static inline uint32_t lg_bcast_timed(uint32_t m)
{
    return m < LG_BCAST_TIMED_MAX ? m : LG_BCAST_TIMED_MAX;
}

/* The node user i connects to. */
static inline uint32_t lg_node_of(const lg_opts_t *o, uint32_t user)
{
    return user % o->nodes;
}

typedef struct lg_msg_hdr {
    uint32_t type;
    uint32_t len;
} lg_msg_hdr_t;

typedef struct lg_hs_done {
    uint32_t joined;
    uint32_t failed;
    uint64_t first_connect_ns; /* CLOCK_MONOTONIC */
    uint64_t last_join_ns;
} lg_hs_done_t;

typedef struct lg_closed {
    uint32_t user;
    uint32_t reason; /* LG_CLOSE_* */
} lg_closed_t;

enum { LG_CLOSE_EOF = 1, LG_CLOSE_ERROR, LG_CLOSE_WS_CLOSE, LG_CLOSE_EIO_CLOSE, LG_CLOSE_PROTOCOL };

typedef struct lg_bcast {
    uint64_t received;   /* in-order, first-time receipts */
    uint64_t duplicated; /* an index seen again */
    uint64_t lost;       /* indexes skipped over (and, in the final report, never seen) */
} lg_bcast_t;

typedef struct lg_emit_rec {
    uint32_t seq;
    uint32_t misrouted; /* 1: the payload named another user than this socket's */
    int64_t latency_ns;
} lg_emit_rec_t;

typedef struct lg_counters {
    uint64_t frames;      /* WebSocket frames read */
    uint64_t pings;       /* Engine.IO pings answered */
    uint64_t ws_pings;    /* WebSocket-level pings answered */
    uint64_t unexpected;  /* packets the benchmark does not expect */
    uint64_t bad_payload; /* bench events whose payload could not be read */
} lg_counters_t;

/* ---- worker ------------------------------------------------------------ */

/* Runs worker `index`: users [first, first + count). Reads commands from
 * cmd_fd, writes reports to report_fd. Returns the exit status. */
int lg_worker_main(const lg_opts_t *o, uint32_t index, uint32_t first, uint32_t count, int cmd_fd,
                   int report_fd);

/* ---- utilities (lg_util.c) ------------------------------------------- */

uint64_t lg_now_ns(void); /* CLOCK_MONOTONIC */
/* Writes a whole message with blocking writes; 0 or -1. */
int lg_send_msg(int fd, uint32_t type, const void *data, size_t len);
/* HS256 JWT with sub = "<prefix>-<user>", iat = now, exp = exp. Returns its length
 * (0 on failure); out must hold 512 bytes. */
size_t lg_mint_token(const char *secret, const char *prefix, uint32_t user, int64_t exp, char *out,
                     size_t out_size);
/* Sec-WebSocket-Key (24 chars + NUL) and the matching Sec-WebSocket-Accept (28 + NUL). */
void lg_ws_key(uint64_t *rng, char key[25], char accept[29]);
uint64_t lg_rand(uint64_t *state); /* xorshift64* */
/* 1 when host is a dotted IPv4 address in 127.0.0.0/8 ("localhost" is rewritten). */
int lg_is_loopback(char *host, size_t size);
/* Server figures from /proc. */
typedef struct lg_mem {
    int64_t vm_rss;   /* VmRSS = RssAnon + RssFile + RssShmem, bytes; -1 when unavailable */
    int64_t rss_anon; /* heap, stacks, anonymous maps: the process's own memory */
    int64_t rss_file; /* file-backed pages: code and data of the binary and libraries */
} lg_mem_t;
/* Reads /proc/PID/status of the process and its children (a supervisor and its workers),
 * summed; 0, or -1 when unavailable (fields then -1). lg_proc_cpu() sums the same way. */
int lg_proc_mem(long pid, lg_mem_t *out);
/* The kernel's slab memory (Slab in /proc/meminfo) in bytes, or -1. */
int64_t lg_slab_bytes(void);
typedef struct lg_cpu {
    int ok;
    int64_t user_us, sys_us; /* utime, stime from /proc/PID/stat (clock-tick resolution) */
    int64_t sched_ns;        /* sum over threads of /proc/PID/task/T/schedstat, -1 if absent */
} lg_cpu_t;
void lg_proc_cpu(long pid, lg_cpu_t *out);
int lg_proc_alive(long pid);
/* Sorts v and returns the q-quantile (0..1), nearest-rank. n > 0. */
uint64_t lg_quantile(uint64_t *v, size_t n, double q, int sorted);
void lg_sort_u64(uint64_t *v, size_t n);

#endif
