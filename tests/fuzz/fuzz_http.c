/* fuzz_http.c - libFuzzer target: any bytes as a client of the whole server.
 *
 * One gateway (HTTP server, routes, Engine.IO / Socket.IO, the Engine.IO echo endpoint and
 * the testing routes; no plugin) is built once with small limits and a JWT secret (the seeds
 * auth-* carry a token signed with it, for the authenticated paths). Each input opens fresh
 * connections: one end of a socketpair is handed to the server as if accepted, and the input
 * is written to the other end, so llhttp, pipelining, 100-continue, upgrades to WebSocket and
 * whatever the gateway does with the requests all run as for a real client.
 *
 * Input: a flags byte, then the bytes to send. "\xfe\xfe" starts another connection (up to
 * four: a WebSocket client, then a request that emits to it); "\xff\xff" splits a
 * connection's bytes into writes, with the loop run between two, so partial reads and
 * pipelining are exercised. (Two bytes, so that a masked frame with a 16- or 64-bit length,
 * 0xFE or 0xFF after the opcode, can still be written.)
 *   flags & 1  half-close (shutdown SHUT_WR) once everything is written
 *   flags & 2  close at once after the last write, without waiting for answers
 * What the server writes back is read and dropped (printed with FUZZ_HTTP_TRACE=1). When the
 * input leaves a session or a connection open, the gateway is stopped and built again, so no
 * state crosses inputs. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "config/config.h"
#include "gateway/gateway.h"
#include "http/http_internal.h" /* http_conn_accept: a connection without a listener */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] = "[server]\n"
                                  "host = \"127.0.0.1\"\n"
                                  "port = 0\n"
                                  "shutdown_grace_ms = 0\n"
                                  "[http]\n"
                                  "max_header_bytes = 2048\n"
                                  "max_body_bytes = 4096\n"
                                  "max_pipelined = 4\n"
                                  "max_queued_output_bytes = 2048\n"
                                  "linger_ms = 100\n"
                                  "immediate_writes_per_turn = 2\n"
                                  "[log]\n"
                                  "level = \"error\"\n"
                                  "[socketio]\n"
                                  "namespaces = [\"/\", \"/chat\"]\n"
                                  "max_payload_bytes = 2048\n"
                                  "max_attachments = 2\n"
                                  "[auth]\n"
                                  "jwt_secret = \"fuzz_http: a secret of at least 32 bytes\"\n"
                                  "[limits]\n"
                                  "max_outbox_bytes = 8192\n"
                                  "[plugins]\n"
                                  "load = []\n"
                                  "[testing]\n"
                                  "engineio_echo_path = \"/echo/\"\n"
                                  "emit_routes = true\n";

static uv_loop_t loop;
static config_t cfg;
static gateway_t gw;
#define MAX_CLIENTS 4
static int clients[MAX_CLIENTS];
static int nclients;
static int trace; /* FUZZ_HTTP_TRACE=1: the answers go to stderr, to check a seed */

static void gateway_start(void)
{
    char err[256];
    if (gateway_init(&gw, &loop, &cfg, NULL, err, sizeof(err)) != 0 ||
        http_server_listen(gw.http, "127.0.0.1", 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
}

/* Stops the gateway (closing every session and connection) and builds it again. */
static void gateway_restart(void)
{
    gateway_stop(&gw);
    uv_run(&loop, UV_RUN_DEFAULT);
    gateway_free(&gw);
    gateway_start();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char err[256];
    if (config_load_text(&cfg, config_text, sizeof(config_text) - 1, "fuzz_http", err,
                         sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
    trace = getenv("FUZZ_HTTP_TRACE") != NULL;
    log_setup(trace ? LOG_DEBUG : cfg.log.level, cfg.log.format);
    uv_loop_init(&loop);
    gateway_start();
    return 0;
}

/* Reads and drops what the server wrote to every client. */
static void drain(void)
{
    char sink[16384];
    for (int i = 0; i < nclients; i++) {
        ssize_t n;
        while ((n = read(clients[i], sink, sizeof(sink))) > 0)
            if (trace) fprintf(stderr, "[%d] %.*s\n", i, (int)n, sink);
    }
}

/* Runs the loop without blocking, rounds times, reading the answers. */
static void pump(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        drain();
    }
}

/* Writes all of data, letting the server read when the socket buffer is full. 0, or -1 if
 * the server stopped reading or closed. */
static int send_all(int fd, const uint8_t *data, size_t len)
{
    int stalled = 0;
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n, len -= (size_t)n;
            stalled = 0;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) return -1;
        if (++stalled > 64) return -1;
        pump(1);
    }
    return 0;
}

/* A new connection to the server; returns the client's end. */
static int connect_client(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) abort();
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    http_conn_accept(gw.http, sv[0], (const struct sockaddr *)&peer);
    clients[nclients++] = sv[1];
    return sv[1];
}

#define PIECE_SEP "\xff\xff"
#define CONN_SEP "\xfe\xfe"

/* The length of the part before sep (all of data when there is none). */
static size_t part_len(const uint8_t *data, size_t size, const char *sep)
{
    const uint8_t *cut = memmem(data, size, sep, 2);
    return cut ? (size_t)(cut - data) : size;
}

/* Sends one connection's bytes, a write per piece. */
static void send_pieces(int fd, const uint8_t *data, size_t size)
{
    for (;;) {
        size_t n = part_len(data, size, PIECE_SEP);
        if (send_all(fd, data, n) != 0) return;
        pump(2);
        if (n == size) return;
        data += n + 2, size -= n + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t flags = data[0];
    data++, size--;

    /* Earlier connections stay open while the next one sends. */
    nclients = 0;
    for (;;) {
        size_t n = part_len(data, size, CONN_SEP);
        send_pieces(connect_client(), data, n);
        if (n == size || nclients == MAX_CLIENTS) break;
        data += n + 2, size -= n + 2;
    }
    for (int i = 0; i < nclients; i++)
        if (flags & 1) shutdown(clients[i], SHUT_WR);
    if (!(flags & 2)) {
        for (int i = 0; i < 32 && http_server_connection_count(gw.http); i++)
            pump(1);
    }
    for (int i = 0; i < nclients; i++)
        close(clients[i]);
    nclients = 0;
    for (int i = 0; i < 64 && http_server_connection_count(gw.http); i++)
        pump(1);

    if (http_server_connection_count(gw.http) || eio_server_session_count(sio_server_eio(gw.sio)) ||
        (gw.echo && eio_server_session_count(gw.echo)))
        gateway_restart();
    return 0;
}
