/* http.h - the HTTP/1.1 server: connections, requests, responses, upgrades.
 *
 * Built on libuv and llhttp. One server owns the listening socket and every
 * connection accepted from it; everything runs on the loop thread.
 *
 * Requests: the server calls the handler once per complete request. The
 * handler answers now or later with http_respond*(); responses leave in
 * request order even when answered out of order (pipelining). If the client
 * goes away first, the request's abort callback runs and the request is freed:
 * after that the handler must not touch it.
 *
 * Upgrades: a handler may turn the connection into a raw byte stream
 * (WebSocket) with http_upgrade(); the HTTP state is freed then, so an
 * upgraded connection costs only its socket and a few fields. */
#ifndef IOGATE_HTTP_H
#define IOGATE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "base/membudget.h"
#include "base/prom.h"

typedef struct http_server http_server_t;
typedef struct http_conn http_conn_t;
typedef struct http_request http_request_t;

typedef struct http_limits {
    size_t max_header_bytes;    /* request line + headers; over it: 431 (414 for the URL) */
    size_t max_body_bytes;      /* over it: 413 */
    uint64_t header_timeout_ms; /* first byte to end of headers; then 408 and close */
    uint64_t body_timeout_ms;   /* end of headers to end of body; then 408 and close */
    uint64_t idle_timeout_ms;   /* keep-alive connection with nothing in flight */
    size_t max_connections;     /* past it new connections get 503 and are closed */
    size_t max_pipelined;       /* requests queued on one connection before reading pauses */
    size_t max_queued_output;   /* answers waiting to be written before reading pauses */
    uint64_t linger_ms;         /* after the last answer, how long unread input is drained */
    unsigned immediate_writes_per_turn; /* WebSocket writes per loop turn before batching */
    /* Bytes held for all clients together (request bodies, queued output, and what the layers
     * above charge to http_server_budget): a body that would pass it gets 503. 0: no bound. */
    size_t max_client_bytes;
} http_limits_t;

/* Safe defaults for every limit: the configuration's defaults (CONFIG_HTTP_* and
 * CONFIG_LIMITS_MAX_CLIENT_BYTES in config/config.h), and 10000 connections where the
 * configuration's default derives the number from the open-file limit. */
void http_limits_default(http_limits_t *limits);
/* Descriptors the process keeps for itself beyond its connections: the loop's own, the
 * listener, stores, plugins' files, logs, connections to other servers. */
#define HTTP_RESERVED_DESCRIPTORS 128
/* How many connections the open-file limit allows once `reserved` descriptors are kept:
 * raises the soft limit to the hard one first (as Redis and nginx do). *nofile receives the
 * limit in force. 0 when there is no room or the limit cannot be read. */
size_t http_connection_capacity(size_t reserved, size_t *nofile);

typedef void (*http_handler_fn)(void *user, http_request_t *req);

/* Several worker processes share a port (the kernel spreads connections over them), while a
 * request may belong to a session another worker holds. Before a request at the start of an
 * idle connection is parsed, steer() reads its target (path and query from the request line)
 * and says which worker it belongs to: -1 here, else the index passed to hand_off(), which
 * gets the connection's descriptor and the bytes read from it so far and returns 0 once the
 * other worker has them (this server then forgets the connection without closing it for the
 * peer), or -1 (the request is answered 503). Requests behind an unanswered one on the same
 * connection (pipelining) are not steered: they are parsed here. */
typedef struct http_steering {
    int (*steer)(void *user, const char *target, size_t len);
    int (*hand_off)(void *user, int worker, int fd, const char *bytes, size_t len);
    void *user;
} http_steering_t;
/* The most bytes hand_off() is given: a request line's worth, plus one read. */
#define HTTP_STEER_LINE_MAX 2048
#define HTTP_HANDOFF_MAX_BYTES (HTTP_STEER_LINE_MAX + 65536)

http_server_t *http_server_new(uv_loop_t *loop, const http_limits_t *limits,
                               http_handler_fn handler, void *user);
/* Binds and listens. port 0 picks a free port (see http_server_port). Returns 0 or a
 * negative libuv error with a message in err. */
int http_server_listen(http_server_t *s, const char *host, int port, char *err, size_t err_size);
int http_server_port(const http_server_t *s);
/* Before listening: the socket is opened with SO_REUSEPORT, so that other processes of the
 * same user listening on the same address share its connections (workers). */
void http_server_share_port(http_server_t *s);
/* Steers requests between workers (see http_steering_t); before listening. */
void http_server_set_steering(http_server_t *s, const http_steering_t *steering);
/* Takes over a connection another worker handed off: its descriptor, and the bytes it had
 * read, parsed as if they had just arrived. The request they start is not steered again. */
void http_server_adopt(http_server_t *s, int fd, const char *bytes, size_t len);
/* Stops accepting, closes idle connections, lets requests in flight finish and
 * calls on_shutdown of every upgraded connection; after grace_ms closes what is
 * left. done runs once every connection is closed. */
void http_server_shutdown(http_server_t *s, uint64_t grace_ms, void (*done)(void *user),
                          void *user);
/* Frees the server; call only after done has run (or before listening). */
void http_server_free(http_server_t *s);
size_t http_server_connection_count(const http_server_t *s);

/* Counters of the server's output, for tests and benchmarks. */
typedef struct http_stats {
    uint64_t socket_writes;   /* sendmsg calls on connections */
    uint64_t writes_deferred; /* WebSocket writes that waited in the flush queue */
    uint64_t handed_off;      /* connections given to another worker (steering) */
    uint64_t adopted;         /* connections taken from another worker */
} http_stats_t;
const http_stats_t *http_server_stats(const http_server_t *s);
/* The budget of bytes held for clients (limits.max_client_bytes), which the server charges
 * request bodies and queued output to and the layers above share. */
membudget_t *http_server_budget(http_server_t *s);

/* ---- requests answered, by route and status (GET /metrics) ---- */

/* Requests answered for one route, or one group of requests (the Engine.IO endpoint, those no
 * route took), by status, with how long each took from its first byte to its answer (or its
 * 101). Counted on the loop thread as the answer is given: a few adds, no allocation, no lock.
 * A request whose client left before the answer is not counted. Statuses get a slot each in
 * the order they first come; once all are taken, the rest share the last (HTTP_STATUS_OTHER):
 * a route answers with a handful of statuses, so the series stay few and the struct small. */
#define HTTP_STATUS_SLOTS 16
#define HTTP_STATUS_OTHER 1
typedef struct http_route_stats {
    struct {
        uint16_t status; /* 0: unused */
        uint64_t count;
    } by_status[HTTP_STATUS_SLOTS];
    prom_duration_t duration;
} http_route_stats_t;

/* Where a group of requests is counted by method, these are told apart; any other method is
 * counted as "other", so that a client cannot make up series. */
#define HTTP_METHOD_CLASSES 8
int http_method_class(const char *method);
/* "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" or "other". */
const char *http_method_class_name(int method_class);
/* The requests this server answered that were counted with no route (see
 * http_request_count_as): 404, 405, 400 for a malformed path, and what the server refused
 * before any handler saw it (408, 413, 431, 503 ...). */
const http_route_stats_t *http_server_unrouted_stats(const http_server_t *s, int method_class);

/* ---- requests (valid from the handler call until responded or aborted) ---- */

const char *http_request_method(const http_request_t *req); /* "GET", "POST", ... */
/* The raw request target ("/a/b?x=1") and its path and query parts (still encoded). */
const char *http_request_target(const http_request_t *req);
const char *http_request_path(const http_request_t *req, size_t *len);
const char *http_request_query(const http_request_t *req, size_t *len); /* NULL if none */
/* The first header with that name (case-insensitive), NUL-terminated, or NULL. */
const char *http_request_header(const http_request_t *req, const char *name);
const char *http_request_body(const http_request_t *req, size_t *len);
/* Calls fn(user, name, value) for every header in arrival order (names as sent). */
void http_request_each_header(const http_request_t *req,
                              void (*fn)(void *user, const char *name, const char *value),
                              void *user);
int http_request_is_upgrade(const http_request_t *req);
/* The peer's address as text ("127.0.0.1"), stable for the request's life. */
const char *http_request_remote_addr(http_request_t *req);
http_conn_t *http_request_conn(const http_request_t *req);

/* Counts the request's answer in stats (it must outlive the request), not with the requests
 * that found no route: the dispatcher says which route took it. */
void http_request_count_as(http_request_t *req, http_route_stats_t *stats);

/* Called if the connection closes before the request was answered. */
void http_request_on_abort(http_request_t *req, void (*cb)(void *user, http_request_t *req),
                           void *user);

/* ---- responses ---- */

/* Adds a response header (copied). Call before http_respond*. */
void http_response_header(http_request_t *req, const char *name, const char *value);
/* Answers with a body (copied); content_type may be NULL when len is 0. After this call
 * the request belongs to the server again. */
void http_respond(http_request_t *req, int status, const char *content_type, const void *body,
                  size_t len);
/* Answers with JSON text (copied), Content-Type application/json. */
void http_respond_json_text(http_request_t *req, int status, const char *json, size_t len);
/* Answers with the project's one error shape: {"error":{"code":"...","message":"..."}}. */
void http_respond_error(http_request_t *req, int status, const char *code, const char *message);
/* The error body's machine-readable code for a status the server produces ("forbidden"). */
const char *http_error_code_for_status(int status);
/* Asks for the connection to close once this response is written. */
void http_response_close(http_request_t *req);

/* ---- upgraded (raw) connections ---- */

typedef struct http_raw_callbacks {
    /* Bytes from the peer; valid during the call. */
    void (*on_data)(void *user, const char *data, size_t len);
    /* The peer closed, or the connection failed, or http_conn_close() was called:
     * the last call for this connection. */
    void (*on_close)(void *user);
    /* The server is shutting down: say goodbye and close (may be NULL). */
    void (*on_shutdown)(void *user);
} http_raw_callbacks_t;

/* Writes head (the 101 response, copied) and turns the request's connection into a
 * raw stream: bytes already received after the request go to on_data right away.
 * The request is consumed. Returns the connection, or NULL if it could not be
 * upgraded (the connection is then closed; on_close is not called). */
http_conn_t *http_upgrade(http_request_t *req, const char *head, size_t head_len,
                          const http_raw_callbacks_t *cb, void *user);
/* Writes bytes (copied). */
void http_conn_write(http_conn_t *c, const void *data, size_t len);
/* Writes head (copied, at most HTTP_SHARED_HEAD_MAX bytes: a WebSocket frame header) then
 * a shared payload, which is held until written: the emitter's "encode once, write many". */
#define HTTP_SHARED_HEAD_MAX 10
void http_conn_write_shared(http_conn_t *c, const void *head, size_t head_len, rbuf_t *payload);
/* Writes now what an upgraded connection deferred (see http_output.c), as far as the kernel
 * takes it: its turn in the flush queue came, or a consumer is about to be judged slow by
 * http_conn_pending_bytes. */
void http_conn_flush(http_conn_t *c);
/* Bytes accepted for writing that the kernel has not taken yet. */
size_t http_conn_pending_bytes(const http_conn_t *c);
/* Closes once pending writes are flushed (graceful) or at once (abort != 0). */
void http_conn_close(http_conn_t *c, int abort);
/* 1 if the peer's bytes wait in the kernel, not yet read: the loop has not come to them. */
int http_conn_input_waiting(const http_conn_t *c);
/* Room for a peer address as text (an IPv6 address with its NUL fits). */
#define HTTP_ADDR_MAX 48
/* Writes the peer's address as text into out and returns out ("?" when unknown). */
const char *http_conn_remote_addr(const http_conn_t *c, char out[HTTP_ADDR_MAX]);

#endif
