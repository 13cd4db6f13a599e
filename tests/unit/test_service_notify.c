/* test_service_notify.c - systemd's notification protocol without systemd: each test binds a
 * Unix datagram socket, points NOTIFY_SOCKET (and WATCHDOG_USEC, WATCHDOG_PID) at it and reads
 * what arrives. In process: READY=1 with STATUS, WATCHDOG=1 from the loop's timer, STATUS only
 * when it changed, STOPPING=1, no watchdog for another WATCHDOG_PID, nothing at all without
 * NOTIFY_SOCKET. The real binary: READY=1 once /healthz answers on the port its STATUS names,
 * WATCHDOG=1 pings, then SIGTERM gives STOPPING=1 and exit status 0. Every wait is bounded and
 * ends as soon as its message arrives. Built without libsystemd (IOGATE_SYSTEMD=OFF), those
 * are skipped and the test is that nothing is ever sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "gateway/service_notify.h"

#define WAIT_MS 20000 /* generous: a busy machine, an ASan build; each wait ends early */

#ifdef IOGATE_HAVE_SYSTEMD
#define REQUIRE_SYSTEMD() ((void)0)
#else
#define REQUIRE_SYSTEMD() skip() /* built without libsystemd: nothing to read */
#endif

typedef struct fx {
    char dir[64];
    char path[96];
    int fd; /* the service manager's end */
} fx_t;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/iogate-notify-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
    f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(f->fd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->path);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setenv("NOTIFY_SOCKET", f->path, 1);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    close(f->fd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", f->dir);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    free(f);
    return 0;
}

/* The next datagram into out (NUL-terminated), waiting at most ms; 0, or -1 on timeout. */
static int recv_msg(fx_t *f, char *out, size_t size, int ms)
{
    struct pollfd p = {.fd = f->fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1) return -1;
    ssize_t n = recv(f->fd, out, size - 1, 0);
    assert_true(n >= 0);
    out[n] = '\0';
    return 0;
}

/* Whether the message holds the line (exactly, or as a prefix when it ends with '='). */
static const char *has_line(const char *msg, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = msg;;) {
        if (strncmp(p, line, n) == 0 && (line[n - 1] == '=' || p[n] == '\n' || p[n] == '\0'))
            return p + n;
        p = strchr(p, '\n');
        if (!p) return NULL;
        p++;
    }
}

/* ---- in process ---- */

typedef struct loop_fx {
    uv_loop_t loop;
    service_notify_t sn;
    char status[64];
} loop_fx_t;

static void status_of(void *user, buf_t *out)
{
    buf_append_str(out, ((loop_fx_t *)user)->status);
}

/* Runs the loop until a datagram arrives (the timer sends them). */
static void loop_recv(fx_t *f, loop_fx_t *l, char *out, size_t size)
{
    uint64_t deadline = now_ms() + WAIT_MS;
    while (recv_msg(f, out, size, 0) != 0) {
        if (now_ms() > deadline) fail_msg("no notification within %d ms", WAIT_MS);
        uv_run(&l->loop, UV_RUN_ONCE);
    }
}

static void loop_close(loop_fx_t *l)
{
    service_notify_close(&l->sn);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&l->loop), 0);
    service_notify_free(&l->sn);
}

static void ready_watchdog_status_stopping(void **state)
{
    REQUIRE_SYSTEMD();
    fx_t *f = *state;
    char pid[32], msg[512];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_USEC", "40000", 1); /* pings every 20 ms */
    setenv("WATCHDOG_PID", pid, 1);
    loop_fx_t l = {.status = "serving: 0 connections"};
    uv_loop_init(&l.loop);
    service_notify_init(&l.sn, &l.loop, status_of, &l);
    assert_true(l.sn.enabled);
    assert_int_equal(l.sn.watchdog_usec, 40000);

    service_notify_ready(&l.sn);
    assert_int_equal(recv_msg(f, msg, sizeof(msg), WAIT_MS), 0);
    assert_non_null(has_line(msg, "READY=1"));
    const char *status = has_line(msg, "STATUS=");
    assert_non_null(status);
    assert_string_equal(status, "serving: 0 connections");

    /* Pings from the timer; the status rides along only when it changed. */
    loop_recv(f, &l, msg, sizeof(msg));
    assert_string_equal(msg, "WATCHDOG=1");
    snprintf(l.status, sizeof(l.status), "serving: 1 connections");
    loop_recv(f, &l, msg, sizeof(msg));
    assert_string_equal(msg, "WATCHDOG=1\nSTATUS=serving: 1 connections");
    loop_recv(f, &l, msg, sizeof(msg));
    assert_string_equal(msg, "WATCHDOG=1");

    snprintf(l.status, sizeof(l.status), "draining: 1 connections");
    service_notify_stopping(&l.sn);
    assert_int_equal(recv_msg(f, msg, sizeof(msg), WAIT_MS), 0);
    assert_string_equal(msg, "STOPPING=1\nSTATUS=draining: 1 connections");
    /* The watchdog goes on while the loop drains. */
    loop_recv(f, &l, msg, sizeof(msg));
    assert_string_equal(msg, "WATCHDOG=1");
    loop_close(&l);
}

/* A WATCHDOG_PID naming another process (a parent that passed its environment on) asks
 * nothing of this one; the timer then only refreshes the status. */
static void watchdog_for_another_pid(void **state)
{
    REQUIRE_SYSTEMD();
    fx_t *f = *state;
    char pid[32], msg[512];
    snprintf(pid, sizeof(pid), "%d", (int)getppid());
    setenv("WATCHDOG_USEC", "40000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    loop_fx_t l = {.status = "serving"};
    uv_loop_init(&l.loop);
    service_notify_init(&l.sn, &l.loop, status_of, &l);
    assert_true(l.sn.enabled);
    assert_int_equal(l.sn.watchdog_usec, 0);
    service_notify_ready(&l.sn);
    assert_int_equal(recv_msg(f, msg, sizeof(msg), WAIT_MS), 0);
    assert_string_equal(msg, "READY=1\nSTATUS=serving");
    assert_int_equal(uv_timer_get_repeat(&l.sn.timer), SERVICE_STATUS_REFRESH_MS);
    loop_close(&l);
}

/* Without NOTIFY_SOCKET (or without libsystemd, whatever the environment). */
static void nothing_without_notify_socket(void **state)
{
    fx_t *f = *state;
    char msg[512];
#ifdef IOGATE_HAVE_SYSTEMD
    unsetenv("NOTIFY_SOCKET");
#endif
    setenv("WATCHDOG_USEC", "40000", 1);
    loop_fx_t l = {.status = "serving"};
    uv_loop_init(&l.loop);
    service_notify_init(&l.sn, &l.loop, status_of, &l);
    assert_false(l.sn.enabled);
    service_notify_ready(&l.sn);
    service_notify_stopping(&l.sn);
    assert_false(l.sn.timer_open);
    assert_int_equal(recv_msg(f, msg, sizeof(msg), 0), -1);
    assert_int_equal(uv_loop_close(&l.loop), 0); /* no handle was opened */
    service_notify_free(&l.sn);
}

/* ---- the real binary ---- */

static int get_healthz(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
    char head[64] = "";
    ssize_t n = read(fd, head, sizeof(head) - 1);
    close(fd);
    if (n > 0) head[n] = '\0';
    return strncmp(head, "HTTP/1.1 200 ", 13) == 0 ? 200 : -1;
}

static void binary_ready_watchdog_sigterm(void **state)
{
    REQUIRE_SYSTEMD();
    fx_t *f = *state;
    char config[128], msg[512];
    snprintf(config, sizeof(config), "%s/iogate.toml", f->dir);
    FILE *c = fopen(config, "w");
    assert_non_null(c);
    /* The notifications plugin too: READY=1 must follow the plugins' init. */
    fprintf(c,
            "[server]\nport = 0\nshutdown_grace_ms = 5000\n[log]\nlevel = \"warn\"\n"
            "[plugins]\nload = [\"notifications\"]\n"
            "[plugin.notifications]\ndatabase = \"%s/notifications.db\"\n",
            f->dir);
    fclose(c);
    setenv("WATCHDOG_USEC", "200000", 1); /* pings every 100 ms */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char self[32];
        snprintf(self, sizeof(self), "%d", (int)getpid()); /* exec keeps the pid */
        setenv("WATCHDOG_PID", self, 1);
        execl(IOGATE_BINARY_DIR "/iogate", "iogate", "--config", config, (char *)NULL);
        _exit(127);
    }

    assert_int_equal(recv_msg(f, msg, sizeof(msg), WAIT_MS), 0);
    assert_non_null(has_line(msg, "READY=1"));
    const char *status = has_line(msg, "STATUS=");
    assert_non_null(status);
    int port = 0;
    assert_int_equal(sscanf(status, "serving 127.0.0.1:%d: 0 connections", &port), 1);
    assert_int_equal(get_healthz(port), 200); /* ready means listening */

    int pings = 0;
    while (pings < 2) {
        assert_int_equal(recv_msg(f, msg, sizeof(msg), WAIT_MS), 0);
        if (has_line(msg, "WATCHDOG=1")) pings++;
        assert_null(has_line(msg, "STOPPING=1"));
    }

    assert_int_equal(kill(pid, SIGTERM), 0);
    const char *stopping = NULL;
    while (!stopping) {
        assert_int_equal(recv_msg(f, msg, sizeof(msg), WAIT_MS), 0);
        stopping = has_line(msg, "STOPPING=1");
    }
    status = has_line(msg, "STATUS=");
    assert_non_null(status);
    assert_true(strncmp(status, "draining ", 9) == 0);

    /* Bounded. Reading on, as the service manager does: sd_notify() blocks once the
     * socket's queue is full, and the watchdog pings while the server drains. */
    uint64_t deadline = now_ms() + WAIT_MS;
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("iogate did not exit within %d ms of SIGTERM", WAIT_MS);
        }
        if (recv_msg(f, msg, sizeof(msg), 10) == 0) assert_null(has_line(msg, "READY=1"));
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* [server] workers: the supervisor alone speaks (the workers' NOTIFY_SOCKET is unset): one
 * READY=1 once every worker listens, its pings, STOPPING=1 on SIGTERM, exit 0. Redis need not
 * be reachable for that. */
static void binary_with_workers_speaks_through_the_supervisor(void **state)
{
    REQUIRE_SYSTEMD();
    fx_t *f = *state;
    char config[128], msg[512];
    snprintf(config, sizeof(config), "%s/workers.toml", f->dir);
    FILE *c = fopen(config, "w");
    assert_non_null(c);
    fprintf(c, "[server]\nport = 0\nworkers = 2\nshutdown_grace_ms = 5000\n[log]\nlevel = "
               "\"warn\"\n[plugins]\nload = []\n[cluster]\nadapter = \"redis\"\n"
               "redis_url = \"redis://127.0.0.1:1\"\n");
    fclose(c);
    setenv("WATCHDOG_USEC", "200000", 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char self[32];
        snprintf(self, sizeof(self), "%d", (int)getpid());
        setenv("WATCHDOG_PID", self, 1);
        execl(IOGATE_BINARY_DIR "/iogate", "iogate", "--config", config, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(recv_msg(f, msg, sizeof(msg), WAIT_MS), 0);
    assert_non_null(has_line(msg, "READY=1"));
    const char *status = has_line(msg, "STATUS=");
    assert_non_null(status);
    int port = 0;
    assert_int_equal(sscanf(status, "2 workers serving 127.0.0.1:%d", &port), 1);
    assert_int_equal(get_healthz(port), 200);
    int pings = 0;
    while (pings < 2) {
        assert_int_equal(recv_msg(f, msg, sizeof(msg), WAIT_MS), 0);
        if (has_line(msg, "WATCHDOG=1")) pings++;
        assert_null(has_line(msg, "READY=1")); /* no worker speaks */
    }
    assert_int_equal(kill(pid, SIGTERM), 0);
    const char *stopping = NULL;
    while (!stopping) {
        assert_int_equal(recv_msg(f, msg, sizeof(msg), WAIT_MS), 0);
        assert_null(has_line(msg, "READY=1"));
        stopping = has_line(msg, "STOPPING=1");
    }
    uint64_t deadline = now_ms() + WAIT_MS;
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("iogate did not exit within %d ms of SIGTERM", WAIT_MS);
        }
        recv_msg(f, msg, sizeof(msg), 10);
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ready_watchdog_status_stopping, setup, teardown),
        cmocka_unit_test_setup_teardown(watchdog_for_another_pid, setup, teardown),
        cmocka_unit_test_setup_teardown(nothing_without_notify_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(binary_ready_watchdog_sigterm, setup, teardown),
        cmocka_unit_test_setup_teardown(binary_with_workers_speaks_through_the_supervisor, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
