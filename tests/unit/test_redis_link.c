/* test_redis_link.c - the Redis pub/sub link against a real redis-server, started by each test
 * on a free port in a temporary directory and killed by PID: round trips (binary payloads,
 * patterns, PUBSUB NUMSUB), kill -9 and restart on the same port (reconnect, resubscribe,
 * publishes made while down delivered in order), the queue and in-flight bounds, AUTH (good,
 * wrong, missing), a unix socket with SELECT, a server that never answers, and a clean close
 * (uv_loop_close() == 0) from anywhere, including a callback. Every wait is bounded and ends
 * as soon as its condition holds. The tests that need a server are skipped only when
 * redis-server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "cluster/redis_link.h"

#define MAX_MSGS 128
#define WAIT_MS 15000 /* generous: a busy CI machine; conditions end every wait early */

typedef struct msg {
    char channel[64];
    char pattern[64]; /* "" for a plain subscription */
    unsigned char data[64];
    size_t len;
} msg_t;

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t tick; /* wakes uv_run(UV_RUN_ONCE) so deadlines are checked */
    redis_link_t *link;
    int closed;
    int close_in_message;
    pid_t redis;
    int port;
    char dir[64];
    char sock[128];
    const char *requirepass;
    int unixsocket;
    msg_t msgs[MAX_MSGS];
    size_t nmsgs;
    int replied, reply_status;
    long long reply_int;
    char reply_str[512];
} fx_t;

static int have_redis = -1;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define WAIT_UNTIL(f, cond, ms)                                                                    \
    do {                                                                                           \
        uint64_t deadline_ = now_ms() + (ms);                                                      \
        while (!(cond) && now_ms() < deadline_)                                                    \
            uv_run(&(f)->loop, UV_RUN_ONCE);                                                       \
        if (!(cond)) fail_msg("timed out after %d ms waiting for %s", (int)(ms), #cond);           \
    } while (0)

static const redis_link_stats_t *st(fx_t *f)
{
    return redis_link_stats(f->link);
}

/* ---- redis-server ---- */

static int redis_installed(void)
{
    const char *path = getenv("PATH");
    char dir[4096];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(dir, sizeof(dir), "%.*s/redis-server", (int)n, path);
        if (access(dir, X_OK) == 0) return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A plain synchronous connection, as another process would have; NULL when refused. */
static redisContext *sync_connect(fx_t *f)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", f->port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    if (f->requirepass) {
        redisReply *r = redisCommand(c, "AUTH %s", f->requirepass);
        if (r) freeReplyObject(r);
    }
    return c;
}

/* Answers PING as our own process (not another test's server on a reused port)? */
static int redis_answers(fx_t *f, pid_t pid)
{
    redisContext *c = sync_connect(f);
    if (!c) return 0;
    redisReply *r = redisCommand(c, "INFO server");
    char want[32];
    snprintf(want, sizeof(want), "process_id:%d\r", (int)pid);
    int ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, want);
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok && (!f->unixsocket || access(f->sock, F_OK) == 0);
}

/* Starts redis-server on f->port; 0 once it answers, -1 if it exited (the port was taken). */
static int redis_try_start(fx_t *f)
{
    char port[16], log[128];
    snprintf(port, sizeof(port), "%d", f->port);
    snprintf(log, sizeof(log), "%s/redis.log", f->dir);
    const char *argv[32] = {"redis-server", "--port", port,           "--bind",    "127.0.0.1",
                            "--save",       "",       "--appendonly", "no",        "--daemonize",
                            "no",           "--dir",  f->dir,         "--logfile", log};
    int argc = 15;
    if (f->requirepass) {
        argv[argc++] = "--requirepass";
        argv[argc++] = f->requirepass;
    }
    if (f->unixsocket) {
        argv[argc++] = "--unixsocket";
        argv[argc++] = f->sock;
        argv[argc++] = "--unixsocketperm";
        argv[argc++] = "700";
    }
    argv[argc] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    f->redis = pid;
    /* Bounded; polls a separate process, which has no event to wait for. */
    uint64_t deadline = now_ms() + WAIT_MS;
    while (!redis_answers(f, pid)) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            f->redis = 0;
            return -1;
        }
        if (now_ms() > deadline) fail_msg("redis-server did not start on port %d", f->port);
        usleep(20 * 1000);
    }
    return 0;
}

static void redis_start(fx_t *f)
{
    /* Another program may take the free port in between: choose again, unless a link
     * already points at it. */
    for (int tries = 0; redis_try_start(f) != 0; tries++) {
        if (f->link || tries == 5)
            fail_msg("redis-server exited at start on port %d (see %s/redis.log)", f->port, f->dir);
        f->port = free_port();
    }
}

static void redis_kill(fx_t *f)
{
    if (f->redis <= 0) return;
    kill(f->redis, SIGKILL);
    waitpid(f->redis, NULL, 0);
    f->redis = 0;
}

static void redis_publish(fx_t *f, const char *channel, const void *data, size_t len)
{
    redisContext *c = sync_connect(f);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "PUBLISH %s %b", channel, data, len);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
}

/* ---- the link ---- */

static void on_closed(void *arg)
{
    ((fx_t *)arg)->closed = 1;
}

static void on_message(void *user, const char *channel, const char *pattern, const void *data,
                       size_t len)
{
    fx_t *f = user;
    if (f->nmsgs < MAX_MSGS) {
        msg_t *m = &f->msgs[f->nmsgs];
        snprintf(m->channel, sizeof(m->channel), "%s", channel);
        snprintf(m->pattern, sizeof(m->pattern), "%s", pattern ? pattern : "");
        m->len = len;
        memcpy(m->data, data, len < sizeof(m->data) ? len : sizeof(m->data));
    }
    f->nmsgs++;
    if (f->close_in_message) {
        f->close_in_message = 0;
        redis_link_close(f->link, on_closed, f);
    }
}

static void on_reply(void *arg, const struct redisReply *reply, int status)
{
    fx_t *f = arg;
    f->replied++;
    f->reply_status = status;
    f->reply_int = -1;
    f->reply_str[0] = '\0';
    if (!reply) return;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_INTEGER)
        f->reply_int = reply->element[1]->integer; /* PUBSUB NUMSUB channel -> [channel, n] */
    if (reply->str) snprintf(f->reply_str, sizeof(f->reply_str), "%s", reply->str);
}

/* Opens the link to url with o (NULL: the defaults), callbacks into f. */
static void link_open(fx_t *f, const char *url, redis_link_opts_t *o)
{
    redis_link_opts_t defaults;
    if (!o) {
        redis_link_opts_init(&defaults);
        o = &defaults;
    }
    redis_url_t u;
    char err[256];
    if (redis_url_parse(url, &u, err, sizeof(err)) != 0) fail_msg("%s: %s", url, err);
    o->on_message = on_message;
    o->user = f;
    assert_int_equal(redis_link_new(&f->loop, &u, o, &f->link), 0);
}

/* The same to 127.0.0.1:f->port, with userinfo "" or "[user]:password@". */
static void link_tcp(fx_t *f, const char *userinfo, redis_link_opts_t *o)
{
    char url[128];
    snprintf(url, sizeof(url), "redis://%s127.0.0.1:%d", userinfo, f->port);
    link_open(f, url, o);
}

/* Closes the link (if the test did not) and checks that nothing is left on the loop. */
static void close_all(fx_t *f)
{
    if (f->link && !f->closed) {
        redis_link_close(f->link, on_closed, f);
        WAIT_UNTIL(f, f->closed, WAIT_MS);
    }
    f->link = NULL;
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void tick(uv_timer_t *t)
{
    (void)t;
}

static int setup(void **state)
{
    if (have_redis < 0) have_redis = redis_installed();
    fx_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->tick);
    uv_timer_start(&f->tick, tick, 10, 10);
    snprintf(f->dir, sizeof(f->dir), "/tmp/iogate-redis-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->sock, sizeof(f->sock), "%s/redis.sock", f->dir);
    f->port = free_port();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    redis_kill(f);
    if (f->link && !f->closed) { /* a failed test: still free what it holds */
        redis_link_close(f->link, on_closed, f);
        uint64_t deadline = now_ms() + WAIT_MS;
        while (!f->closed && now_ms() < deadline)
            uv_run(&f->loop, UV_RUN_ONCE);
    }
    if (!uv_is_closing((uv_handle_t *)&f->tick)) {
        uv_close((uv_handle_t *)&f->tick, NULL);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        uv_loop_close(&f->loop);
    }
    char path[160];
    const char *files[] = {"redis.log", "redis.sock", "dump.rdb"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

#define NEED_REDIS()                                                                               \
    do {                                                                                           \
        if (!have_redis) {                                                                         \
            print_message("redis-server is not installed (scripts/install-deps.sh --test): "       \
                          "skipped\n");                                                            \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void expect_msg(fx_t *f, size_t i, const char *channel, const char *pattern,
                       const void *data, size_t len)
{
    assert_true(i < f->nmsgs);
    assert_string_equal(f->msgs[i].channel, channel);
    assert_string_equal(f->msgs[i].pattern, pattern);
    assert_int_equal(f->msgs[i].len, len);
    assert_memory_equal(f->msgs[i].data, data, len);
}

/* ---- tests ---- */

static void round_trip_binary(void **state)
{
    fx_t *f = *state;
    NEED_REDIS();
    redis_start(f);
    link_tcp(f, "", NULL);
    assert_int_equal(st(f)->state, REDIS_LINK_CONNECTING);
    assert_int_equal(redis_link_subscribe(f->link, 0, "socket.io#/#"), 0);
    assert_int_equal(redis_link_subscribe(f->link, 0, "socket.io#/#"), 0); /* idempotent */
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_UP, WAIT_MS);

    static const unsigned char bin[] = {0x93, 0x00, 0xff, 'a', 0x00, 0xc4, 0x01, 0xff};
    assert_int_equal(redis_link_publish(f->link, "socket.io#/#", bin, sizeof(bin)), 0);
    WAIT_UNTIL(f, f->nmsgs == 1, WAIT_MS);
    expect_msg(f, 0, "socket.io#/#", "", bin, sizeof(bin));
    WAIT_UNTIL(f, st(f)->published == 1, WAIT_MS);
    assert_int_equal(st(f)->inflight, 0);

    /* From another client, and an empty payload. */
    redis_publish(f, "socket.io#/#", bin + 1, 3);
    assert_int_equal(redis_link_publish(f->link, "socket.io#/#", NULL, 0), 0);
    WAIT_UNTIL(f, f->nmsgs == 3, WAIT_MS);
    expect_msg(f, 1, "socket.io#/#", "", bin + 1, 3);
    expect_msg(f, 2, "socket.io#/#", "", "", 0);
    assert_int_equal(st(f)->received, 3);
    assert_int_equal(st(f)->failures, 0);

    assert_int_equal(redis_link_publish(f->link, "", "x", 1), UV_EINVAL);
    assert_int_equal(redis_link_subscribe(f->link, 0, ""), UV_EINVAL);
    close_all(f);
}

static void pattern_and_unsubscribe(void **state)
{
    fx_t *f = *state;
    NEED_REDIS();
    redis_start(f);
    link_tcp(f, "", NULL);
    assert_int_equal(redis_link_subscribe(f->link, 1, "socket.io#/#*"), 0);
    assert_int_equal(redis_link_subscribe(f->link, 0, "sentinel"), 0);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_UP, WAIT_MS);

    redis_publish(f, "socket.io#/#user:42#", "hi", 2);
    WAIT_UNTIL(f, f->nmsgs == 1, WAIT_MS);
    expect_msg(f, 0, "socket.io#/#user:42#", "socket.io#/#*", "hi", 2);

    /* Gone at once, even if Redis has not confirmed yet: a later sentinel proves it. */
    assert_int_equal(redis_link_unsubscribe(f->link, 1, "socket.io#/#*"), 0);
    assert_int_equal(redis_link_unsubscribe(f->link, 1, "socket.io#/#*"), UV_ENOENT);
    assert_int_equal(redis_link_unsubscribe(f->link, 0, "never"), UV_ENOENT);
    redis_publish(f, "socket.io#/#user:42#", "no", 2);
    redis_publish(f, "sentinel", "s", 1);
    WAIT_UNTIL(f, f->nmsgs == 2, WAIT_MS);
    expect_msg(f, 1, "sentinel", "", "s", 1);

    /* And subscribed again while up: the publish after it is held until Redis confirms. */
    assert_int_equal(redis_link_subscribe(f->link, 1, "socket.io#/#*"), 0);
    assert_int_equal(redis_link_publish(f->link, "socket.io#/#r#", "again", 5), 0);
    WAIT_UNTIL(f, f->nmsgs == 3, WAIT_MS);
    expect_msg(f, 2, "socket.io#/#r#", "socket.io#/#*", "again", 5);
    close_all(f);
}

/* Many subscriptions at once make Redis read the subscriber's commands over several turns,
 * while it reads the publisher's: only holding the publish back keeps it from overtaking. */
static void publish_waits_for_subscriptions(void **state)
{
    fx_t *f = *state;
    NEED_REDIS();
    redis_start(f);
    char name[32];
    link_tcp(f, "", NULL);
    assert_int_equal(redis_link_subscribe(f->link, 0, "old"), 0);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_UP, WAIT_MS);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "socket.io-response#/ns%d#", i);
        assert_int_equal(redis_link_subscribe(f->link, 0, name), 0);
    }
    assert_int_equal(redis_link_subscribe(f->link, 0, "new"), 0);
    assert_int_equal(redis_link_publish(f->link, "new", "1", 1), 0);
    assert_int_equal(redis_link_publish(f->link, "old", "2", 1), 0);
    assert_int_equal(st(f)->state, REDIS_LINK_UP); /* held, yet up */
    WAIT_UNTIL(f, f->nmsgs == 2, WAIT_MS);
    expect_msg(f, 0, "new", "", "1", 1);
    expect_msg(f, 1, "old", "", "2", 1);
    close_all(f);
}

static void numsub_counts_the_subscriber(void **state)
{
    fx_t *f = *state;
    NEED_REDIS();
    redis_start(f);
    link_tcp(f, "", NULL);
    const char *argv[] = {"PUBSUB", "NUMSUB", "socket.io-request#/#"};
    assert_int_equal(redis_link_command(f->link, 3, argv, NULL, on_reply, f), UV_ENOTCONN);
    assert_int_equal(redis_link_subscribe(f->link, 0, "socket.io-request#/#"), 0);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_UP, WAIT_MS);

    assert_int_equal(redis_link_command(f->link, 3, argv, NULL, on_reply, f), 0);
    WAIT_UNTIL(f, f->replied == 1, WAIT_MS);
    assert_int_equal(f->reply_status, 0);
    assert_int_equal(f->reply_int, 1);

    /* A second node subscribing is counted too. */
    redisContext *other = sync_connect(f);
    assert_non_null(other);
    redisReply *r = redisCommand(other, "SUBSCRIBE socket.io-request#/#");
    freeReplyObject(r);
    assert_int_equal(redis_link_command(f->link, 3, argv, NULL, on_reply, f), 0);
    WAIT_UNTIL(f, f->replied == 2, WAIT_MS);
    assert_int_equal(f->reply_int, 2);
    redisFree(other);

    /* Error replies reach the callback as replies. */
    const char *bad[] = {"NOSUCHCOMMAND"};
    assert_int_equal(redis_link_command(f->link, 1, bad, NULL, on_reply, f), 0);
    WAIT_UNTIL(f, f->replied == 3, WAIT_MS);
    assert_int_equal(f->reply_status, 0);
    assert_non_null(strstr(f->reply_str, "unknown command"));

    /* Pending at close: answered with UV_ECANCELED, before done. */
    assert_int_equal(redis_link_command(f->link, 3, argv, NULL, on_reply, f), 0);
    redis_link_close(f->link, on_closed, f);
    assert_int_equal(redis_link_publish(f->link, "x", "y", 1), UV_ECANCELED);
    WAIT_UNTIL(f, f->closed, WAIT_MS);
    assert_int_equal(f->replied, 4);
    assert_int_equal(f->reply_status, UV_ECANCELED);
    close_all(f);
}

static void restart_resubscribes_and_flushes_in_order(void **state)
{
    fx_t *f = *state;
    NEED_REDIS();
    redis_start(f);
    link_tcp(f, "", NULL);
    assert_int_equal(redis_link_subscribe(f->link, 0, "socket.io-response#/#"), 0);
    assert_int_equal(redis_link_subscribe(f->link, 1, "socket.io#/#*"), 0);
    char name[32];
    for (int i = 0; i < 5000; i++) { /* a resubscription Redis reads over several turns */
        snprintf(name, sizeof(name), "socket.io-request#/ns%d#", i);
        assert_int_equal(redis_link_subscribe(f->link, 0, name), 0);
    }
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_UP, WAIT_MS);

    redis_kill(f);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_DOWN, WAIT_MS);
    assert_true(st(f)->failures >= 1);
    char payload[8];
    for (int i = 0; i < 5; i++) {
        snprintf(payload, sizeof(payload), "m%d", i);
        assert_int_equal(redis_link_publish(f->link, "socket.io-response#/#", payload, 2), 0);
    }
    assert_int_equal(st(f)->queued, 5);
    assert_int_equal(st(f)->queued_bytes, 5 * (strlen("socket.io-response#/#") + 2));
    const char *argv[] = {"PING"};
    assert_int_equal(redis_link_command(f->link, 1, argv, NULL, on_reply, f), UV_ENOTCONN);

    uint64_t restarted = now_ms();
    redis_start(f);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_UP, WAIT_MS);
    /* The backoff stays under 5 s, so one more attempt at most follows the restart. */
    assert_true(now_ms() - restarted < 8000);
    assert_int_equal(st(f)->reconnects, 1);

    /* Our own subscriber gets them, so it was subscribed before the queue was flushed. */
    WAIT_UNTIL(f, f->nmsgs == 5, WAIT_MS);
    for (int i = 0; i < 5; i++) {
        snprintf(payload, sizeof(payload), "m%d", i);
        expect_msg(f, (size_t)i, "socket.io-response#/#", "", payload, 2);
    }
    WAIT_UNTIL(f, st(f)->published == 5, WAIT_MS);
    assert_int_equal(st(f)->queued, 0);
    assert_int_equal(st(f)->dropped, 0);

    /* Another node's publishes reach both the channel and the pattern again. */
    redis_publish(f, "socket.io#/#room#", "p", 1);
    redis_publish(f, "socket.io-response#/#", "c", 1);
    WAIT_UNTIL(f, f->nmsgs == 7, WAIT_MS);
    expect_msg(f, 5, "socket.io#/#room#", "socket.io#/#*", "p", 1);
    expect_msg(f, 6, "socket.io-response#/#", "", "c", 1);
    close_all(f);
}

static void overflow_drops_the_newest(void **state)
{
    fx_t *f = *state;
    NEED_REDIS();
    redis_link_opts_t o;
    redis_link_opts_init(&o);
    o.queue_max_msgs = 3;
    link_tcp(f, "", &o);
    assert_int_equal(redis_link_subscribe(f->link, 0, "ch"), 0);
    /* Nothing listens on the port yet. */
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_DOWN, WAIT_MS);
    assert_non_null(strstr(st(f)->last_error, "refused"));
    char payload[8];
    for (int i = 0; i < 6; i++) {
        snprintf(payload, sizeof(payload), "m%d", i);
        assert_int_equal(redis_link_publish(f->link, "ch", payload, 2), i < 3 ? 0 : UV_ENOBUFS);
    }
    assert_int_equal(st(f)->queued, 3);
    assert_int_equal(st(f)->dropped, 3);

    redis_start(f);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_UP, WAIT_MS);
    assert_int_equal(redis_link_publish(f->link, "ch", "after", 5), 0);
    WAIT_UNTIL(f, f->nmsgs == 4, WAIT_MS);
    for (int i = 0; i < 3; i++) {
        snprintf(payload, sizeof(payload), "m%d", i);
        expect_msg(f, (size_t)i, "ch", "", payload, 2);
    }
    expect_msg(f, 3, "ch", "", "after", 5);
    assert_int_equal(st(f)->dropped, 3);
    close_all(f);
}

static void queue_bytes_bound(void **state)
{
    fx_t *f = *state;
    redis_link_opts_t o;
    redis_link_opts_init(&o);
    o.queue_max_bytes = 25;
    link_tcp(f, "", &o);
    /* Queued before the first connect attempt even ran. */
    assert_int_equal(redis_link_publish(f->link, "ch", "12345678", 8), 0);
    assert_int_equal(redis_link_publish(f->link, "ch", "12345678", 8), 0);
    assert_int_equal(redis_link_publish(f->link, "ch", "12345678", 8), UV_ENOBUFS);
    assert_int_equal(redis_link_publish(f->link, "ch", "123", 3), 0); /* exactly 25 */
    assert_int_equal(st(f)->queued_bytes, 25);
    assert_int_equal(redis_link_publish(f->link, "c", NULL, 0), UV_ENOBUFS); /* 1 byte too many */
    assert_int_equal(st(f)->dropped, 2);
    close_all(f);
}

static void inflight_bound_keeps_the_rest_queued(void **state)
{
    fx_t *f = *state;
    NEED_REDIS();
    redis_start(f);
    redis_link_opts_t o;
    redis_link_opts_init(&o);
    o.inflight_max = 2;
    link_tcp(f, "", &o);
    assert_int_equal(redis_link_subscribe(f->link, 0, "ch"), 0);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_UP, WAIT_MS);
    char payload[8];
    for (int i = 0; i < 50; i++) {
        snprintf(payload, sizeof(payload), "%02d", i);
        assert_int_equal(redis_link_publish(f->link, "ch", payload, 2), 0);
    }
    assert_int_equal(st(f)->inflight, 2);
    assert_int_equal(st(f)->queued, 48);
    WAIT_UNTIL(f, f->nmsgs == 50, WAIT_MS);
    for (int i = 0; i < 50; i++) {
        snprintf(payload, sizeof(payload), "%02d", i);
        expect_msg(f, (size_t)i, "ch", "", payload, 2);
    }
    WAIT_UNTIL(f, st(f)->published == 50, WAIT_MS);
    assert_int_equal(st(f)->inflight, 0);
    close_all(f);
}

static void auth_with_password(void **state)
{
    fx_t *f = *state;
    NEED_REDIS();
    f->requirepass = "s3cret pass";
    redis_start(f);
    /* "default" is the user of requirepass in the Redis 6 ACL: AUTH user pass. */
    link_tcp(f, "default:s3cret%20pass@", NULL);
    assert_int_equal(redis_link_subscribe(f->link, 0, "ch"), 0);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_UP, WAIT_MS);
    assert_int_equal(redis_link_publish(f->link, "ch", "ok", 2), 0);
    WAIT_UNTIL(f, f->nmsgs == 1, WAIT_MS);
    expect_msg(f, 0, "ch", "", "ok", 2);
    close_all(f);
}

static void wrong_or_missing_password_is_an_error_state(void **state)
{
    fx_t *f = *state;
    NEED_REDIS();
    f->requirepass = "s3cret";
    redis_start(f);
    redis_link_opts_t o;
    redis_link_opts_init(&o);
    o.backoff_max_ms = 200; /* quick retries to watch */
    link_tcp(f, ":wrong@", &o);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_DOWN && st(f)->failures >= 4, WAIT_MS);
    assert_non_null(strstr(st(f)->last_error, "AUTH refused: WRONGPASS"));
    close_all(f);

    /* A fresh loop for the second link. */
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->tick);
    uv_timer_start(&f->tick, tick, 10, 10);
    f->closed = 0;
    link_tcp(f, "", &o);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_DOWN && st(f)->failures >= 2, WAIT_MS);
    assert_non_null(strstr(st(f)->last_error, "PING refused: NOAUTH"));
    close_all(f);
}

static void unix_socket_and_select(void **state)
{
    fx_t *f = *state;
    NEED_REDIS();
    f->unixsocket = 1;
    redis_start(f);
    char url[256];
    snprintf(url, sizeof(url), "unix://%s?db=3", f->sock);
    link_open(f, url, NULL);
    assert_int_equal(redis_link_subscribe(f->link, 0, "ch"), 0);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_UP, WAIT_MS);
    const char *argv[] = {"CLIENT", "INFO"};
    assert_int_equal(redis_link_command(f->link, 2, argv, NULL, on_reply, f), 0);
    WAIT_UNTIL(f, f->replied == 1, WAIT_MS);
    assert_non_null(strstr(f->reply_str, " db=3 "));

    /* Closing from inside a message callback. */
    f->close_in_message = 1;
    redis_publish(f, "ch", "bye", 3);
    WAIT_UNTIL(f, f->closed, WAIT_MS);
    assert_int_equal(f->nmsgs, 1);
    close_all(f);
}

static void silent_server_times_out(void **state)
{
    fx_t *f = *state;
    /* Accepts connections (the kernel does) but never answers. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)f->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    redis_link_opts_t o;
    redis_link_opts_init(&o);
    o.connect_timeout_ms = 200;
    link_tcp(f, "", &o);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_DOWN, WAIT_MS);
    assert_non_null(strstr(st(f)->last_error, "no answer within 200 ms"));
    close_all(f);
    close(fd);
}

static void close_at_once_and_while_down(void **state)
{
    fx_t *f = *state;
    char url[128];
    /* Before the loop ever ran. */
    link_tcp(f, "", NULL);
    redis_link_close(f->link, on_closed, f);
    WAIT_UNTIL(f, f->closed, WAIT_MS);

    /* Down, retrying, with a queue and subscriptions, and a host name to resolve. */
    f->closed = 0;
    snprintf(url, sizeof(url), "redis://localhost:%d", f->port);
    link_open(f, url, NULL);
    assert_int_equal(redis_link_subscribe(f->link, 1, "p*"), 0);
    WAIT_UNTIL(f, st(f)->state == REDIS_LINK_DOWN, WAIT_MS);
    assert_int_equal(redis_link_publish(f->link, "ch", "x", 1), 0);
    close_all(f);
}

static void bad_options(void **state)
{
    fx_t *f = *state;
    redis_url_t u;
    assert_int_equal(redis_url_parse("redis://127.0.0.1", &u, NULL, 0), 0);
    redis_link_opts_t o;
    redis_link_opts_init(&o);
    redis_link_t *l = NULL;
    assert_int_equal(redis_link_new(&f->loop, &u, &o, &l), UV_EINVAL); /* no on_message */
    o.on_message = on_message;
    o.backoff_min_ms = 6000;
    assert_int_equal(redis_link_new(&f->loop, &u, &o, &l), UV_EINVAL);
    assert_null(l);
    close_all(f);
}

int main(void)
{
    /* hiredis writes with write(2): a write to a killed server must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(pattern_and_unsubscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(publish_waits_for_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(numsub_counts_the_subscriber, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_resubscribes_and_flushes_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(overflow_drops_the_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(queue_bytes_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(inflight_bound_keeps_the_rest_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(auth_with_password, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_or_missing_password_is_an_error_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unix_socket_and_select, setup, teardown),
        cmocka_unit_test_setup_teardown(silent_server_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(close_at_once_and_while_down, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
