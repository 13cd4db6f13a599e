/* test_http.c - the HTTP server driven in-process: responses leave in request
 * order even when answered out of order, aborts reach the handler, upgrades
 * hand over the bytes that followed the request, shutdown drains in-flight
 * requests. A client thread speaks over a real loopback socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "http/http.h"

typedef struct fixture {
    uv_loop_t loop;
    http_server_t *server;
    uv_timer_t slow_timer;
    uv_timer_t tick; /* wakes the loop so it notices the client thread finishing */
    http_request_t *slow_req;
    int aborted;
    int raw_closed;
    buf_t raw_in;
    http_conn_t *raw_conn;
    int shutdown_done;
    /* client side */
    const char *send;
    buf_t received;
    int client_done;
    pthread_t client;
    int half_close;         /* close the client socket right after sending */
    const char *send_later; /* written after a pause, as a second segment */
    /* steering: a second server, "worker 1", takes what the first hands it */
    http_server_t *other;
    int handed, refused;
} fixture_t;

static void on_slow_timer(uv_timer_t *t)
{
    fixture_t *f = t->data;
    if (f->slow_req) http_respond(f->slow_req, 200, "text/plain", "slow", 4);
    f->slow_req = NULL;
}

static void on_abort(void *user, http_request_t *req)
{
    fixture_t *f = user;
    assert_ptr_equal(req, f->slow_req);
    f->slow_req = NULL;
    f->aborted++;
    uv_timer_stop(&f->slow_timer);
}

static void raw_data(void *user, const char *data, size_t len)
{
    fixture_t *f = user;
    buf_append(&f->raw_in, data, len);
    /* Echo back in upper case so the client can tell it went through us. */
    char out[256];
    size_t n = len < sizeof(out) ? len : sizeof(out);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(data[i] >= 'a' && data[i] <= 'z' ? data[i] - 32 : data[i]);
    http_conn_write(f->raw_conn, out, n);
    if (memchr(data, '!', len)) http_conn_close(f->raw_conn, 0);
}

static void raw_close(void *user)
{
    ((fixture_t *)user)->raw_closed++;
}

static const http_raw_callbacks_t raw_cb = {raw_data, raw_close, NULL};

static void handler(void *user, http_request_t *req)
{
    fixture_t *f = user;
    size_t len;
    const char *path = http_request_path(req, &len);
    if (strncmp(path, "/slow", len) == 0) {
        f->slow_req = req;
        http_request_on_abort(req, on_abort, f);
        uv_timer_start(&f->slow_timer, on_slow_timer, 100, 0);
    } else if (strncmp(path, "/up", len) == 0 && http_request_is_upgrade(req)) {
        const char head[] =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n";
        f->raw_conn = http_upgrade(req, head, sizeof(head) - 1, &raw_cb, f);
    } else if (strncmp(path, "/body", len) == 0) {
        size_t n;
        const char *b = http_request_body(req, &n);
        http_respond(req, 200, "text/plain", b, n);
    } else {
        http_respond(req, 200, "text/plain", "fast", 4);
    }
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void *client_main(void *arg)
{
    fixture_t *f = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)http_server_port(f->server))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        ssize_t w = write(fd, f->send, strlen(f->send));
        if (f->send_later) {
            usleep(20000);
            w = write(fd, f->send_later, strlen(f->send_later));
        }
        (void)w;
        if (f->half_close) {
            usleep(30000);
            close(fd);
            f->client_done = 1;
            return NULL;
        }
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char chunk[4096];
        ssize_t n;
        while ((n = read(fd, chunk, sizeof(chunk))) > 0)
            buf_append(&f->received, chunk, (size_t)n);
    }
    close(fd);
    f->client_done = 1;
    return NULL;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    http_limits_t lim;
    http_limits_default(&lim);
    lim.idle_timeout_ms = 300;
    f->server = http_server_new(&f->loop, &lim, handler, f);
    char err[128];
    assert_int_equal(http_server_listen(f->server, "127.0.0.1", 0, err, sizeof(err)), 0);
    uv_timer_init(&f->loop, &f->slow_timer);
    f->slow_timer.data = f;
    uv_timer_init(&f->loop, &f->tick);
    uv_timer_start(&f->tick, on_tick, 10, 10);
    *state = f;
    return 0;
}

static void on_shutdown_done(void *user)
{
    ((fixture_t *)user)->shutdown_done = 1;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    http_server_shutdown(f->server, 100, on_shutdown_done, f);
    uv_close((uv_handle_t *)&f->slow_timer, NULL);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->shutdown_done);
    assert_int_equal(uv_loop_close(&f->loop), 0); /* no handle left behind */
    http_server_free(f->server);
    buf_free(&f->raw_in);
    buf_free(&f->received);
    free(f);
    return 0;
}

/* Runs the loop until the client thread has finished. */
static void run_client(fixture_t *f, const char *send)
{
    f->send = send;
    pthread_create(&f->client, NULL, client_main, f);
    while (!f->client_done)
        uv_run(&f->loop, UV_RUN_ONCE);
    pthread_join(f->client, NULL);
}

static void late_answer_still_goes_out_first(void **state)
{
    fixture_t *f = *state;
    run_client(f, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const char *slow = strstr(f->received.data, "slow");
    const char *fast = strstr(f->received.data, "fast");
    assert_non_null(slow);
    assert_non_null(fast);
    assert_true(slow < fast);
}

static void client_leaving_aborts_the_pending_request(void **state)
{
    fixture_t *f = *state;
    f->half_close = 1;
    run_client(f, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 0; i < 50 && !f->aborted; i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->aborted, 1);
    assert_null(f->slow_req);
}

static void upgrade_hands_over_following_bytes(void **state)
{
    fixture_t *f = *state;
    run_client(f,
               "GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\nhello!");
    assert_non_null(strstr(f->received.data, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(strstr(f->received.data, "\r\n\r\nHELLO!"));
    assert_string_equal(f->raw_in.data, "hello!");
    for (int i = 0; i < 50 && !f->raw_closed; i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->raw_closed, 1);
}

static void chunked_body_is_reassembled(void **state)
{
    fixture_t *f = *state;
    run_client(
        f,
        "POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: t\r\n\r\n");
    assert_non_null(strstr(f->received.data, "Content-Length: 7\r\n"));
    assert_non_null(strstr(f->received.data, "\r\n\r\nabcdefg"));
}

static void idle_connection_is_closed(void **state)
{
    fixture_t *f = *state;
    /* The client sends nothing more after its request; the server closes it after the
     * idle timeout (300 ms), before the client's 2 s read timeout. */
    run_client(f, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_non_null(strstr(f->received.data, "Connection: keep-alive"));
    /* The client saw the close; the server frees the connection on the next turns. */
    for (int i = 0; i < 20 && http_server_connection_count(f->server); i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(http_server_connection_count(f->server), 0);
}

/* ---- steering between workers: requests for "/to-other..." belong to worker 1 (the
 * fixture's second server), "/to-nobody..." to worker 2, whose inbox is full. */

static void other_handler(void *user, http_request_t *req)
{
    (void)user;
    http_respond(req, 200, "text/plain", "other", 5);
}

static int steer(void *user, const char *target, size_t len)
{
    (void)user;
    if (len >= 9 && memcmp(target, "/to-other", 9) == 0) return 1;
    if (len >= 10 && memcmp(target, "/to-nobody", 10) == 0) return 2;
    return -1;
}

static int hand_off(void *user, int worker, int fd, const char *bytes, size_t len)
{
    fixture_t *f = user;
    if (worker != 1) {
        f->refused++;
        return -1;
    }
    f->handed++;
    /* In one process the descriptor is duplicated, as SCM_RIGHTS does across two. */
    http_server_adopt(f->other, dup(fd), bytes, len);
    return 0;
}

static int setup_steering(void **state)
{
    setup(state);
    fixture_t *f = *state;
    http_limits_t lim;
    http_limits_default(&lim);
    f->other = http_server_new(&f->loop, &lim, other_handler, f);
    char err[128];
    assert_int_equal(http_server_listen(f->other, "127.0.0.1", 0, err, sizeof(err)), 0);
    http_steering_t steering = {steer, hand_off, f};
    http_server_set_steering(f->server, &steering);
    return 0;
}

static void on_other_done(void *user)
{
    *(int *)user = 1;
}

static int teardown_steering(void **state)
{
    fixture_t *f = *state;
    int done = 0;
    http_server_shutdown(f->other, 100, on_other_done, &done);
    http_server_t *other = f->other;
    teardown(state); /* runs the loop to its end */
    assert_true(done);
    http_server_free(other);
    return 0;
}

static void a_request_for_another_worker_is_answered_there(void **state)
{
    fixture_t *f = *state;
    run_client(f, "GET /to-other?sid=x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(f->handed, 1);
    assert_non_null(strstr(f->received.data, "\r\n\r\nother"));
    assert_int_equal(http_server_stats(f->server)->handed_off, 1);
    assert_int_equal(http_server_stats(f->other)->adopted, 1);
}

static void a_request_line_in_two_segments_is_steered_whole(void **state)
{
    fixture_t *f = *state;
    f->send_later = "her HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    run_client(f, "GET /to-ot");
    assert_int_equal(f->handed, 1);
    assert_non_null(strstr(f->received.data, "\r\n\r\nother"));
}

static void a_full_inbox_gets_503(void **state)
{
    fixture_t *f = *state;
    run_client(f, "GET /to-nobody HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(f->refused, 1);
    assert_non_null(strstr(f->received.data, "HTTP/1.1 503 "));
}

static void a_pipelined_request_stays(void **state)
{
    fixture_t *f = *state;
    /* Behind an unanswered request the connection is not idle: the second is parsed here. */
    run_client(f, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /to-other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(f->handed, 0);
    const char *slow = strstr(f->received.data, "slow");
    assert_non_null(slow);
    assert_non_null(strstr(slow, "fast"));
}

static void requests_here_are_not_moved(void **state)
{
    fixture_t *f = *state;
    run_client(f, "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(f->handed, 0);
    assert_non_null(strstr(f->received.data, "\r\n\r\nfast"));
}

/* A server built without a configuration behaves as one with the default configuration. */
static void limits_default_are_the_configuration_defaults(void **state)
{
    (void)state;
    config_t cfg;
    config_defaults(&cfg);
    http_limits_t lim;
    http_limits_default(&lim);
    assert_int_equal(lim.max_header_bytes, cfg.http.max_header_bytes);
    assert_int_equal(lim.max_body_bytes, cfg.http.max_body_bytes);
    assert_int_equal(lim.header_timeout_ms, cfg.http.header_timeout_ms);
    assert_int_equal(lim.body_timeout_ms, cfg.http.body_timeout_ms);
    assert_int_equal(lim.idle_timeout_ms, cfg.http.idle_timeout_ms);
    assert_int_equal(lim.max_pipelined, cfg.http.max_pipelined);
    assert_int_equal(lim.max_queued_output, cfg.http.max_queued_output_bytes);
    assert_int_equal(lim.linger_ms, cfg.http.linger_ms);
    assert_int_equal(lim.immediate_writes_per_turn, cfg.http.immediate_writes_per_turn);
    assert_int_equal(lim.max_client_bytes, cfg.limits.max_client_bytes);
    /* The configuration's 0 is "what the open-file limit allows"; a bare server has a number. */
    assert_int_equal(cfg.http.max_connections, 0);
    assert_int_equal(lim.max_connections, 10000);
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limits_default_are_the_configuration_defaults),
        cmocka_unit_test_setup_teardown(late_answer_still_goes_out_first, setup, teardown),
        cmocka_unit_test_setup_teardown(client_leaving_aborts_the_pending_request, setup, teardown),
        cmocka_unit_test_setup_teardown(upgrade_hands_over_following_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(chunked_body_is_reassembled, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_connection_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(a_request_for_another_worker_is_answered_there,
                                        setup_steering, teardown_steering),
        cmocka_unit_test_setup_teardown(a_request_line_in_two_segments_is_steered_whole,
                                        setup_steering, teardown_steering),
        cmocka_unit_test_setup_teardown(a_full_inbox_gets_503, setup_steering, teardown_steering),
        cmocka_unit_test_setup_teardown(a_pipelined_request_stays, setup_steering,
                                        teardown_steering),
        cmocka_unit_test_setup_teardown(requests_here_are_not_moved, setup_steering,
                                        teardown_steering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
