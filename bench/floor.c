/* floor.c - iogate-floor: the kernel's CPU cost of sending one small message
 * to each of many loopback TCP sockets, with no server code at all.
 *
 * The writer (this process) accepts N connections and writes a message to
 * every socket in turn, round after round, as a server broadcasting to N
 * users does; a reader in another process (epoll) drains every socket. The
 * figure is the writer's CPU (getrusage, user + system) per message: with one
 * write() per message per socket it is the floor of any server that sends each
 * message in its own system call. --per-write K puts K messages in one write()
 * to show what sharing a system call saves. On loopback the kernel runs the
 * receiving socket's TCP processing inside the sender's write(), so that cost
 * lands in this figure too, as it does in the server's.
 *
 * Links libc only. Loopback only; bounded by --deadline. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lg_args.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define SOURCES 16  /* source addresses 127.0.0.2 .. 127.0.0.17 */
#define FD_SLACK 32 /* listener, pipes, epoll, stdio */
#define TARGET_MSGS 2000000u
/* A broadcast frame of iogate-loadgen's defaults: 42["bench",{"b":NNN,"pad":"<64 x>"}]
 * is 94 bytes of payload, plus a 2-byte WebSocket header. */
#define DEFAULT_SIZE 96

typedef struct opts {
    uint32_t n;         /* sockets */
    uint32_t rounds;    /* messages per socket in each measurement (0: auto) */
    uint32_t size;      /* bytes per message */
    uint32_t per_write; /* messages per write() of the second measurement (1: none) */
    uint32_t deadline_s;
} opts_t;

/* What the reader answers after each measurement. */
typedef struct reader_report {
    uint64_t bytes;       /* received in this measurement, all sockets */
    uint32_t bad_sockets; /* sockets whose count is not the expected one */
    uint32_t timed_out;
    int64_t user_us, sys_us; /* the reader's CPU over the measurement */
} reader_report_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void cpu_us(int64_t *user, int64_t *sys)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
    *sys = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

static int io_all(int fd, void *data, size_t len, int writing)
{
    char *p = data;
    while (len > 0) {
        ssize_t k = writing ? write(fd, p, len) : read(fd, p, len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

/* ---- reader (child process) ------------------------------------------------ */

/* Connects n sockets to dst, then for each target read from ctl (cumulative
 * bytes expected per socket) drains until every socket has them or the
 * deadline passes, and answers a reader_report_t. Exits when ctl closes. */
static int reader_main(const opts_t *o, const struct sockaddr_in *dst, int ctl_in, int ctl_out,
                       uint64_t deadline_ns)
{
    int *fds = calloc(o->n, sizeof *fds);
    uint64_t *got = calloc(o->n, sizeof *got);
    int ep = epoll_create1(0);
    if (!fds || !got || ep < 0) return 2;
    for (uint32_t i = 0; i < o->n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            perror("iogate-floor: reader socket");
            return 2;
        }
        int one = 1;
        /* The port is chosen at connect(): each source address offers its whole range. */
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src;
        memset(&src, 0, sizeof src);
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7F000002u + i % SOURCES);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
            connect(fd, (const struct sockaddr *)dst, sizeof *dst) != 0) {
            perror("iogate-floor: reader connect");
            return 2;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) return 2;
        fds[i] = fd;
    }
    char ready = 'r';
    if (io_all(ctl_out, &ready, 1, 1) != 0) return 2;

    static char buf[65536];
    struct epoll_event evs[1024];
    uint64_t target, total = 0;
    while (io_all(ctl_in, &target, sizeof target, 0) == 0) {
        reader_report_t r;
        memset(&r, 0, sizeof r);
        int64_t u0, s0, u1, s1;
        cpu_us(&u0, &s0);
        uint64_t want = target * o->n, start = total;
        while (total < want) {
            if (now_ns() > deadline_ns) {
                r.timed_out = 1;
                break;
            }
            int k = epoll_wait(ep, evs, 1024, 100);
            for (int e = 0; e < k; e++) {
                uint32_t i = evs[e].data.u32;
                ssize_t m = read(fds[i], buf, sizeof buf);
                if (m > 0) {
                    got[i] += (uint64_t)m;
                    total += (uint64_t)m;
                } else if (m == 0 || (errno != EAGAIN && errno != EINTR)) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL); /* counted as short below */
                }
            }
        }
        cpu_us(&u1, &s1);
        for (uint32_t i = 0; i < o->n; i++)
            if (got[i] != target) r.bad_sockets++;
        r.bytes = total - start;
        r.user_us = u1 - u0;
        r.sys_us = s1 - s0;
        if (io_all(ctl_out, &r, sizeof r, 1) != 0) return 2;
    }
    return 0;
}

/* ---- writer ------------------------------------------------------------------- */

typedef struct run {
    uint64_t writes, messages, eagain;
    int64_t user_us, sys_us;
    uint64_t wall_ns;
    int timed_out;
} run_t;

/* Writes len bytes to a non-blocking socket, waiting when its send buffer is
 * full; -1 on error or past the deadline. */
static int write_msg(int fd, const char *p, size_t len, uint64_t deadline_ns, uint64_t *eagain)
{
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k > 0) {
            p += k;
            len -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EAGAIN) {
            (*eagain)++;
            if (now_ns() > deadline_ns) return -1;
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 100);
            continue;
        }
        return -1;
    }
    return 0;
}

/* rounds / k passes over every socket, k messages per write(). */
static int measure(const opts_t *o, const int *fds, uint32_t rounds, uint32_t k, const char *msg,
                   uint64_t deadline_ns, run_t *r)
{
    memset(r, 0, sizeof *r);
    size_t len = (size_t)k * o->size;
    int64_t u0, s0, u1, s1;
    uint64_t t0 = now_ns();
    cpu_us(&u0, &s0);
    for (uint32_t pass = 0; pass < rounds / k; pass++) {
        if (now_ns() > deadline_ns) {
            r->timed_out = 1;
            break;
        }
        for (uint32_t i = 0; i < o->n; i++) {
            if (write_msg(fds[i], msg, len, deadline_ns, &r->eagain) != 0) {
                r->timed_out = 1;
                break;
            }
            r->writes++;
        }
        if (r->timed_out) break;
    }
    cpu_us(&u1, &s1);
    r->wall_ns = now_ns() - t0;
    r->messages = r->writes * k;
    r->user_us = u1 - u0;
    r->sys_us = s1 - s0;
    return r->timed_out ? -1 : 0;
}

static void print_run(const char *label, uint32_t k, const run_t *r, const reader_report_t *rr)
{
    double cpu = (double)(r->user_us + r->sys_us);
    printf("%s %u message%s per write(): %" PRIu64 " messages in %" PRIu64 " writes, %.3f s\n",
           label, k, k == 1 ? "" : "s", r->messages, r->writes, (double)r->wall_ns / 1e9);
    printf("    writer CPU (user+sys): %.3f s (user %.3f, sys %.3f) -> %.3f us per message"
           " (%.3f us per write)\n",
           cpu / 1e6, (double)r->user_us / 1e6, (double)r->sys_us / 1e6,
           r->messages ? cpu / (double)r->messages : 0.0,
           r->writes ? cpu / (double)r->writes : 0.0);
    printf("    reader CPU (user+sys): %.3f s -> %.3f us per message; send buffer full %" PRIu64
           " times\n",
           (double)(rr->user_us + rr->sys_us) / 1e6,
           r->messages ? (double)(rr->user_us + rr->sys_us) / (double)r->messages : 0.0, r->eagain);
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: iogate-floor [options]\n"
            "  -n, --sockets N      loopback TCP connections (10000)\n"
            "      --rounds R       messages per socket in each measurement\n"
            "                       (auto: ~2,000,000 messages, 20..2000)\n"
            "      --size B         bytes per message (%u: a broadcast frame of iogate-loadgen)\n"
            "      --per-write K    also measure K messages per write() (1: only the floor)\n"
            "      --deadline S     the whole run (300)\n"
            "exit status: 0 the reader got every byte, 1 it did not, 2 setup error or deadline\n",
            DEFAULT_SIZE);
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    enum { O_ROUNDS = 256, O_SIZE, O_PER_WRITE, O_DEADLINE, O_HELP };
    static const struct option longopts[] = {
        {"sockets", required_argument, NULL, 'n'},
        {"rounds", required_argument, NULL, O_ROUNDS},
        {"size", required_argument, NULL, O_SIZE},
        {"per-write", required_argument, NULL, O_PER_WRITE},
        {"deadline", required_argument, NULL, O_DEADLINE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (opts_t){.n = 10000, .rounds = 0, .size = DEFAULT_SIZE, .per_write = 1, .deadline_s = 300};
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            bad = lg_parse_u32(optarg, &o->n, 1, 1000000);
            break;
        case O_ROUNDS:
            bad = lg_parse_u32(optarg, &o->rounds, 1, 1000000);
            break;
        case O_SIZE:
            bad = lg_parse_u32(optarg, &o->size, 1, 65536);
            break;
        case O_PER_WRITE:
            bad = lg_parse_u32(optarg, &o->per_write, 1, 1024);
            break;
        case O_DEADLINE:
            bad = lg_parse_u32(optarg, &o->deadline_s, 1, 86400);
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            bad = 1;
            break;
        }
    }
    if (bad || optind < argc) {
        usage(stderr);
        return -1;
    }
    if (o->rounds == 0) {
        uint32_t r = (TARGET_MSGS + o->n - 1) / o->n;
        o->rounds = r < 20 ? 20 : r > 2000 ? 2000 : r;
    }
    /* Both measurements send the same messages: whole batches of per_write. */
    o->rounds = (o->rounds + o->per_write - 1) / o->per_write * o->per_write;
    if ((uint64_t)o->per_write * o->size > 1u << 20) {
        fprintf(stderr, "iogate-floor: --per-write x --size is limited to 1 MiB\n");
        return -1;
    }
    return 0;
}

/* Raises the soft file limit to the hard one; each process holds n sockets. */
static int raise_nofile(uint32_t n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)n + FD_SLACK > (uint64_t)rl.rlim_cur) {
        fprintf(stderr,
                "iogate-floor: -n %u needs %u open files in each process; the limit is %llu\n", n,
                n + FD_SLACK, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

static int listen_loopback(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(0x7F000001u);
    socklen_t al = sizeof *addr;
    if (bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)addr, &al) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Accepts n connections as non-blocking, no-delay sockets (as the server's). */
static int accept_all(int lfd, int *fds, uint32_t n, uint64_t deadline_ns)
{
    uint32_t have = 0;
    while (have < n) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR) return -1;
            if (now_ns() > deadline_ns) return -1;
            struct pollfd pf = {.fd = lfd, .events = POLLIN};
            poll(&pf, 1, 100);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fds[have++] = fd;
    }
    return 0;
}

/* One measurement: tells the reader what to expect, writes, collects its report. */
static int run_one(const opts_t *o, const int *fds, uint32_t k, const char *msg, int to_reader,
                   int from_reader, uint64_t *per_socket, uint64_t deadline_ns, run_t *r,
                   reader_report_t *rr)
{
    *per_socket += (uint64_t)o->rounds * o->size;
    if (io_all(to_reader, per_socket, sizeof *per_socket, 1) != 0) return -1;
    measure(o, fds, o->rounds, k, msg, deadline_ns, r);
    if (io_all(from_reader, rr, sizeof *rr, 0) != 0) return -1;
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (parse_args(argc, argv, &o) != 0 || raise_nofile(o.n) != 0) return 2;
    uint64_t deadline_ns = now_ns() + (uint64_t)o.deadline_s * 1000000000u;

    struct sockaddr_in addr;
    int lfd = listen_loopback(&addr);
    int to_reader[2], from_reader[2];
    if (lfd < 0 || pipe(to_reader) != 0 || pipe(from_reader) != 0) {
        perror("iogate-floor: setup");
        return 2;
    }
    fflush(stdout);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        perror("iogate-floor: fork");
        return 2;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(3);
        close(lfd);
        close(to_reader[1]);
        close(from_reader[0]);
        _exit(reader_main(&o, &addr, to_reader[0], from_reader[1], deadline_ns + 5000000000u));
    }
    close(to_reader[0]);
    close(from_reader[1]);

    int status = 2;
    int *fds = calloc(o.n, sizeof *fds);
    char *msg = malloc((size_t)o.per_write * o.size);
    char ready = 0;
    if (!fds || !msg) goto out;
    memset(msg, 'x', (size_t)o.per_write * o.size);
    printf("iogate-floor: %u loopback TCP sockets (sources 127.0.0.2..127.0.0.%d), %u-byte "
           "messages, %u per socket; reader in another process (epoll)\n",
           o.n, 1 + SOURCES, o.size, o.rounds);
    if (accept_all(lfd, fds, o.n, deadline_ns) != 0 || io_all(from_reader[0], &ready, 1, 0) != 0) {
        fprintf(stderr, "iogate-floor: could not open %u connections\n", o.n);
        goto out;
    }
    uint64_t per_socket = 0;
    run_t r;
    reader_report_t rr;
    int bad = 0;
    for (uint32_t k = 1;; k = o.per_write) {
        if (run_one(&o, fds, k, msg, to_reader[1], from_reader[0], &per_socket, deadline_ns, &r,
                    &rr) != 0) {
            fprintf(stderr, "iogate-floor: the reader stopped\n");
            goto out;
        }
        print_run(k == 1 ? "[floor]" : "[batch]", k, &r, &rr);
        if (r.timed_out || rr.timed_out) {
            fprintf(stderr, "iogate-floor: deadline (%u s) reached\n", o.deadline_s);
            goto out;
        }
        uint64_t expect = (uint64_t)o.rounds * o.size * o.n;
        if (rr.bytes != expect || rr.bad_sockets) {
            printf("    check: FAILED: the reader got %" PRIu64 " of %" PRIu64
                   " bytes; %u sockets short or over\n",
                   rr.bytes, expect, rr.bad_sockets);
            bad = 1;
        } else {
            printf("    check: the reader got every byte (%" PRIu64 " on each socket)\n",
                   (uint64_t)o.rounds * o.size);
        }
        if (k == o.per_write) break;
    }
    status = bad ? 1 : 0;
out:
    close(to_reader[1]); /* the reader exits */
    for (uint32_t i = 0; fds && i < o.n; i++)
        if (fds[i] > 0) close(fds[i]);
    int ws;
    if (waitpid(pid, &ws, WNOHANG) == 0) {
        usleep(200000);
        if (waitpid(pid, &ws, WNOHANG) == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
        }
    }
    free(fds);
    free(msg);
    return status;
}
