/* supervisor.c - the process behind [server] workers > 1. It resolves the port once, makes
 * each worker's hand-off channel, forks the workers (each runs a whole server on its own
 * loop), restarts one that dies with a growing delay, and on SIGTERM or SIGINT stops them
 * all, within [server] shutdown_grace_ms, before exiting.
 *
 * It runs no event loop and loads no plugin: a plain poll() over a signalfd and the pipe
 * the workers report readiness on, so nothing of its own is inherited by a worker but the
 * configuration and the descriptors each worker needs. */
#define _GNU_SOURCE
#include "gateway/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "base/mem.h"
#include "gateway/service_notify.h"

/* A worker that dies soon after it started waits twice as long as the last time before it
 * is started again, from the floor up to the ceiling; one that ran for RESTART_STABLE_MS
 * starts from the floor again. */
#define RESTART_FLOOR_MS 100
#define RESTART_CEILING_MS 10000
#define RESTART_STABLE_MS 10000
/* Past shutdown_grace_ms, workers still running get this much longer before SIGKILL. */
#define KILL_AFTER_GRACE_MS 5000

typedef struct supervisor supervisor_t;
static void tell_service(supervisor_t *sv, const char *state);

typedef struct worker {
    pid_t pid;             /* 0 while not running */
    int64_t started_ms;    /* when it was last forked */
    int64_t restart_at_ms; /* > 0: start it again then */
    int64_t backoff_ms;    /* the delay before its next restart */
    int ever_ready;        /* it has listened at least once */
} worker_t;

struct supervisor {
    const config_t *cfg;
    worker_main_fn run_worker;
    pid_t self;
    unsigned count;
    worker_t *workers;
    int *inbox_fds;  /* receive ends, by worker: each worker keeps its own */
    int *outbox_fds; /* send ends, by worker: every worker keeps all */
    int ready_pipe[2];
    int signal_fd;
    int reserve_fd; /* bound to the port (not listening) so it stays ours across restarts */
    int port;
    unsigned ready_count;
    int announced;
    int stopping;
    int64_t kill_at_ms;   /* > 0 while stopping: SIGKILL for what is left then */
    uint64_t watchdog_ms; /* systemd's watchdog: WATCHDOG=1 this often (0: none) */
    int64_t ping_at_ms;   /* the next ping, once READY=1 was sent */
    int notify_warned;    /* one warning for a service manager that refuses our messages */
    int exit_code;
};

static void tell_service(supervisor_t *sv, const char *state)
{
    int rc = service_notify_send(state);
    if (rc < 0 && !sv->notify_warned) {
        sv->notify_warned = 1;
        log_warn("systemd", "cannot notify the service manager: %s", strerror(-rc));
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned supervisor_worker_count(const config_t *cfg)
{
    if (cfg->server.workers > 0) return (unsigned)cfg->server.workers;
    unsigned cpus = uv_available_parallelism();
    if (cpus < 1) cpus = 1;
    return cpus > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : cpus;
}

/* Binds a socket to [server] host and port with SO_REUSEPORT, without listening: port 0
 * becomes one free port that every worker then shares, and no other user's process can
 * take it while a worker restarts. */
static int reserve_port(supervisor_t *sv, char *err, size_t err_size)
{
    const char *host = sv->cfg->server.host;
    struct sockaddr_storage addr;
    int v6 = strchr(host, ':') != NULL;
    int r = v6 ? uv_ip6_addr(host, (int)sv->cfg->server.port, (struct sockaddr_in6 *)&addr)
               : uv_ip4_addr(host, (int)sv->cfg->server.port, (struct sockaddr_in *)&addr);
    if (r != 0) {
        snprintf(err, err_size, "invalid listen address %s: %s", host, uv_strerror(r));
        return -1;
    }
    socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, len) != 0) {
        snprintf(err, err_size, "cannot listen on %s:%lld: %s", host,
                 (long long)sv->cfg->server.port, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    len = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &len);
    sv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);
    sv->reserve_fd = fd;
    return 0;
}

/* One SOCK_SEQPACKET pair per worker: it reads the receive end, every worker may send on
 * the other. Non-blocking: a full inbox refuses a hand-off instead of stalling a loop. */
static int make_channels(supervisor_t *sv, char *err, size_t err_size)
{
    for (unsigned i = 0; i < sv->count; i++) {
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
            snprintf(err, err_size, "cannot make the workers' hand-off channels: %s",
                     strerror(errno));
            return -1;
        }
        sv->inbox_fds[i] = pair[0];
        sv->outbox_fds[i] = pair[1];
    }
    return 0;
}

/* In the child: what the supervisor holds that the worker must not, then the server. */
static void run_child(supervisor_t *sv, unsigned index)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* A supervisor killed outright (kill -9) takes its workers with it, gracefully. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != sv->self) _exit(1);
    close(sv->signal_fd);
    close(sv->ready_pipe[0]);
    close(sv->reserve_fd);
    for (unsigned i = 0; i < sv->count; i++)
        if (i != index) close(sv->inbox_fds[i]);
    /* The supervisor alone speaks for the service to systemd. */
    unsetenv("NOTIFY_SOCKET");
    log_set_worker((int)index);
    worker_slot_t slot = {index,          sv->count,        sv->port, sv->inbox_fds[index],
                          sv->outbox_fds, sv->ready_pipe[1]};
    exit(sv->run_worker(sv->cfg, &slot));
}

static void start_worker(supervisor_t *sv, unsigned index)
{
    worker_t *w = &sv->workers[index];
    w->restart_at_ms = 0;
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid == 0) run_child(sv, index);
    if (pid < 0) {
        log_error("supervisor", "cannot start worker %u: %s", index, strerror(errno));
        w->backoff_ms = w->backoff_ms ? w->backoff_ms : RESTART_FLOOR_MS;
        w->restart_at_ms = now_ms() + w->backoff_ms;
        return;
    }
    w->pid = pid;
    w->started_ms = now_ms();
    log_debug("supervisor", "worker %u started (pid %d)", index, (int)pid);
}

static void signal_workers(supervisor_t *sv, int signum)
{
    for (unsigned i = 0; i < sv->count; i++)
        if (sv->workers[i].pid > 0) kill(sv->workers[i].pid, signum);
}

static void begin_stop(supervisor_t *sv, int signum)
{
    if (sv->stopping) {
        log_warn("supervisor", "second signal %d: the workers exit at once", signum);
        sv->exit_code = 1;
        signal_workers(sv, signum);
        return;
    }
    sv->stopping = 1;
    log_info("supervisor", "stopping %u workers (grace %lld ms)", sv->count,
             (long long)sv->cfg->server.shutdown_grace_ms);
    tell_service(sv, "STOPPING=1\nSTATUS=stopping the workers");
    for (unsigned i = 0; i < sv->count; i++)
        sv->workers[i].restart_at_ms = 0;
    signal_workers(sv, SIGTERM);
    sv->kill_at_ms = now_ms() + sv->cfg->server.shutdown_grace_ms + KILL_AFTER_GRACE_MS;
}

static void describe_status(int status, char *out, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(out, size, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(out, size, "exited with code %d", WEXITSTATUS(status));
}

/* A worker ended: while stopping, that is the plan; at its first start with an error, the
 * configuration or the machine is wrong and the others stop too; otherwise it starts again
 * after its backoff. */
static void worker_ended(supervisor_t *sv, unsigned index, int status)
{
    worker_t *w = &sv->workers[index];
    char how[64];
    describe_status(status, how, sizeof(how));
    int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    pid_t pid = w->pid;
    w->pid = 0;
    if (sv->stopping) {
        if (!clean) {
            log_warn("supervisor", "worker %u %s while stopping", index, how);
            sv->exit_code = 1;
        }
        return;
    }
    if (!w->ever_ready && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        log_error("supervisor", "worker %u could not start (%s): stopping", index, how);
        sv->exit_code = 1;
        begin_stop(sv, SIGTERM);
        return;
    }
    int64_t now = now_ms();
    if (now - w->started_ms >= RESTART_STABLE_MS || !w->backoff_ms)
        w->backoff_ms = RESTART_FLOOR_MS;
    else if ((w->backoff_ms *= 2) > RESTART_CEILING_MS)
        w->backoff_ms = RESTART_CEILING_MS;
    w->restart_at_ms = now + w->backoff_ms;
    log_warn("supervisor", "worker %u (pid %d) %s; restarting it in %lld ms", index, (int)pid, how,
             (long long)w->backoff_ms);
}

static void reap(supervisor_t *sv)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (unsigned i = 0; i < sv->count; i++)
            if (sv->workers[i].pid == pid) worker_ended(sv, i, status);
    }
}

static void on_ready(supervisor_t *sv)
{
    unsigned char bytes[256];
    ssize_t n = read(sv->ready_pipe[0], bytes, sizeof(bytes));
    for (ssize_t i = 0; i < n; i++) {
        if (bytes[i] >= sv->count) continue;
        worker_t *w = &sv->workers[bytes[i]];
        if (!w->ever_ready) sv->ready_count++;
        w->ever_ready = 1;
    }
    if (!sv->announced && sv->ready_count == sv->count && !sv->stopping) {
        sv->announced = 1;
        log_info("gateway", "iogate %s listening on http://%s:%d (%u workers)", IOGATE_VERSION,
                 sv->cfg->server.host, sv->port, sv->count);
        char state[192];
        snprintf(state, sizeof(state), "READY=1\nSTATUS=%u workers serving %s:%d", sv->count,
                 sv->cfg->server.host, sv->port);
        tell_service(sv, state);
        sv->ping_at_ms = now_ms() + (int64_t)sv->watchdog_ms;
    }
}

static int live_workers(const supervisor_t *sv)
{
    int n = 0;
    for (unsigned i = 0; i < sv->count; i++)
        n += sv->workers[i].pid > 0;
    return n;
}

/* The next deadline (a restart, or the SIGKILL after the grace) as a poll() timeout. */
static int next_timeout(const supervisor_t *sv)
{
    int64_t next = sv->kill_at_ms;
    if (sv->watchdog_ms && sv->announced && (next == 0 || sv->ping_at_ms < next))
        next = sv->ping_at_ms;
    for (unsigned i = 0; i < sv->count; i++) {
        int64_t at = sv->workers[i].restart_at_ms;
        if (at > 0 && (next == 0 || at < next)) next = at;
    }
    if (next == 0) return -1;
    int64_t wait = next - now_ms();
    return wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
}

static void run_deadlines(supervisor_t *sv)
{
    int64_t now = now_ms();
    /* The supervisor answers for the service: it pings while it supervises (a worker that
     * hangs is its own loop's matter; one that dies is restarted). */
    if (sv->watchdog_ms && sv->announced && now >= sv->ping_at_ms) {
        tell_service(sv, "WATCHDOG=1");
        sv->ping_at_ms = now + (int64_t)sv->watchdog_ms;
    }
    for (unsigned i = 0; i < sv->count; i++) {
        worker_t *w = &sv->workers[i];
        if (w->restart_at_ms > 0 && w->restart_at_ms <= now && !sv->stopping) start_worker(sv, i);
    }
    if (sv->kill_at_ms > 0 && now >= sv->kill_at_ms && live_workers(sv)) {
        log_warn("supervisor", "workers still running past the grace: killing them");
        sv->exit_code = 1;
        signal_workers(sv, SIGKILL);
        sv->kill_at_ms = 0;
    }
}

static void on_signals(supervisor_t *sv)
{
    struct signalfd_siginfo si;
    while (read(sv->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
            reap(sv);
        else
            begin_stop(sv, (int)si.ssi_signo);
    }
}

static void supervise(supervisor_t *sv)
{
    while (!(sv->stopping && live_workers(sv) == 0)) {
        struct pollfd fds[2] = {{sv->signal_fd, POLLIN, 0}, {sv->ready_pipe[0], POLLIN, 0}};
        int n = poll(fds, 2, next_timeout(sv));
        if (n < 0 && errno != EINTR) {
            log_error("supervisor", "poll: %s", strerror(errno));
            sv->exit_code = 1;
            begin_stop(sv, SIGTERM);
        }
        if (n > 0 && (fds[0].revents & POLLIN)) on_signals(sv);
        if (n > 0 && (fds[1].revents & POLLIN)) on_ready(sv);
        run_deadlines(sv);
    }
}

int supervisor_run(const config_t *cfg, worker_main_fn run_worker)
{
    char err[512] = "";
    supervisor_t sv = {.cfg = cfg, .run_worker = run_worker, .self = getpid()};
    sv.count = supervisor_worker_count(cfg);
    sv.workers = xcalloc(sv.count, sizeof(*sv.workers));
    sv.inbox_fds = xcalloc(sv.count, sizeof(int));
    sv.outbox_fds = xcalloc(sv.count, sizeof(int));
    sv.signal_fd = sv.reserve_fd = sv.ready_pipe[0] = sv.ready_pipe[1] = -1;
    for (unsigned i = 0; i < sv.count; i++)
        sv.inbox_fds[i] = sv.outbox_fds[i] = -1;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int code = 1;
    if (reserve_port(&sv, err, sizeof(err)) != 0 || make_channels(&sv, err, sizeof(err)) != 0) {
        log_error("supervisor", "%s", err);
    } else if (pipe2(sv.ready_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
               (sv.signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        log_error("supervisor", "cannot set up: %s", strerror(errno));
    } else {
        log_info("supervisor", "starting %u workers on port %d", sv.count, sv.port);
        /* Read before the workers start: they are not the service's main process. */
        sv.watchdog_ms = service_notify_watchdog_ms();
        for (unsigned i = 0; i < sv.count; i++)
            start_worker(&sv, i);
        supervise(&sv);
        code = sv.exit_code;
        log_info("supervisor", code == 0 ? "stopped" : "stopped with errors");
    }
    int fds[] = {sv.signal_fd, sv.reserve_fd, sv.ready_pipe[0], sv.ready_pipe[1]};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0) close(fds[i]);
    for (unsigned i = 0; i < sv.count; i++) {
        if (sv.inbox_fds[i] >= 0) close(sv.inbox_fds[i]);
        if (sv.outbox_fds[i] >= 0) close(sv.outbox_fds[i]);
    }
    free(sv.workers);
    free(sv.inbox_fds);
    free(sv.outbox_fds);
    return code;
}
