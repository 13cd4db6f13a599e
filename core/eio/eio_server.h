/* eio_server.h - Engine.IO v4 sessions over HTTP long-polling and WebSocket.
 *
 * One eio_server_t serves one path ("/socket.io/"). It owns the sessions:
 * handshakes, the polling and WebSocket transports, the polling -> WebSocket
 * upgrade, heartbeats and per-session output limits. The layer above
 * (Socket.IO, or the plain echo endpoint used by the conformance suite) sees
 * sessions open, receive messages and close through eio_callbacks_t.
 *
 * Lifetimes: an eio_socket_t is valid from on_open until on_close returns;
 * its memory is released later on the loop, so closing a session from inside
 * any callback is safe. Everything runs on the loop thread. */
#ifndef IOGATE_EIO_SERVER_H
#define IOGATE_EIO_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "base/membudget.h"
#include "http/http.h"

#define EIO_SID_LEN 20

typedef struct eio_server eio_server_t;
typedef struct eio_socket eio_socket_t;

typedef struct eio_callbacks {
    /* A session opened. handshake is the request that opened it, valid during the
     * call only (read its cookies and query here). */
    void (*on_open)(void *user, eio_socket_t *s, http_request_t *handshake);
    /* A message from the client; data valid during the call. */
    void (*on_message)(void *user, eio_socket_t *s, int binary, const char *data, size_t len);
    /* The session closed (reason: "transport close", "ping timeout", ...). The last call. */
    void (*on_close)(void *user, eio_socket_t *s, const char *reason);
    /* The deadline set with eio_socket_set_timeout() passed (may be NULL). */
    void (*on_timeout)(void *user, eio_socket_t *s);
    /* A handshake is about to open a session (may be NULL): return NULL to let it, or why
     * not; it is then answered 503 (the project's error shape) and no session opens. */
    const char *(*on_handshake)(void *user, http_request_t *handshake);
} eio_callbacks_t;

typedef struct eio_options {
    const char *path; /* path prefix, e.g. "/socket.io/" (copied) */
    uint64_t ping_interval_ms;
    uint64_t ping_timeout_ms;
    uint64_t upgrade_timeout_ms;
    size_t max_payload;      /* largest message or polling payload accepted */
    size_t max_outbox_bytes; /* queued output per session before it is dropped */
    /* Bytes held for clients, shared with the HTTP server (NULL: none); it must live until
     * eio_server_release(). Outboxes and WebSocket messages being received are charged to
     * it; near it, a session holding more than its fair share is dropped. */
    membudget_t *budget;
    int allow_polling;
    int allow_websocket;
    const char *const *cors_origins; /* exact origins, or "*" */
    size_t cors_origins_len;
    /* With several worker processes (worker_count > 1), a session id starts with the index
     * of the worker that owns it (eio_server_owner()), so any worker can tell where a
     * request for it belongs. 0 or 1: ids are random throughout. */
    unsigned worker_count, worker_index;
} eio_options_t;

/* Transports, as the stats index them. */
#define EIO_TRANSPORTS 2 /* 0 polling, 1 websocket */
const char *eio_transport_name(int transport);
/* Requests refused with an Engine.IO error code (0 to 5, as the reference numbers them). */
#define EIO_ERRORS 6
/* A stable lowercase name for an error code ("unknown_transport", "unknown_sid", ...). */
const char *eio_error_name(int code);

/* Why sessions closed, as the stats index them: the reasons Engine.IO reports ("transport
 * close", "ping timeout", ...), with "server close" for a close the application asked for. */
#define EIO_CLOSE_REASONS 7
/* A stable lowercase name for a close reason index ("transport_close", "ping_timeout", ...). */
const char *eio_close_reason_name(int reason);

/* Counters, bumped on the loop thread (plain adds). Packets and their bytes are counted per
 * session at the Engine.IO level: a packet's type and data (binary data as bytes), without the
 * HTTP or WebSocket framing; a broadcast counts once per recipient. */
typedef struct eio_stats {
    uint64_t sessions_opened;
    uint64_t sessions_closed;
    uint64_t slow_consumers_dropped; /* sessions closed because their outbox overflowed */
    uint64_t upgrades;
    uint64_t handshakes_refused;            /* by on_handshake */
    uint64_t opened[EIO_TRANSPORTS];        /* sessions opened, by the handshake's transport */
    uint64_t sessions_open[EIO_TRANSPORTS]; /* open now (a gauge), by current transport */
    uint64_t packets_received[EIO_TRANSPORTS], bytes_received[EIO_TRANSPORTS];
    uint64_t packets_sent[EIO_TRANSPORTS], bytes_sent[EIO_TRANSPORTS];
    uint64_t errors[EIO_ERRORS]; /* requests refused, by Engine.IO error code */
    uint64_t closed[EIO_CLOSE_REASONS]; /* opened sessions closed, by reason */
    uint64_t pong_verdicts_deferred;    /* ping timeouts put off: the client's bytes were waiting */
} eio_stats_t;

eio_server_t *eio_server_new(uv_loop_t *loop, const eio_options_t *opts, const eio_callbacks_t *cb,
                             void *user);
/* Closes every session (server-initiated close), for shutdown. */
void eio_server_close_all(eio_server_t *srv);
/* Closes the server's libuv handles (its timer and reaper), at shutdown, so the loop
 * can end: call it once connections have drained. */
void eio_server_release(eio_server_t *srv);
/* Frees the server and any session left; after eio_server_release() and the loop's end. */
void eio_server_free(eio_server_t *srv);
/* Returns 1 if the request's path belongs to this server. */
int eio_server_matches(const eio_server_t *srv, http_request_t *req);
/* Handles a request whose path matches (polling GET/POST, CORS preflight, WebSocket). */
void eio_server_handle(eio_server_t *srv, http_request_t *req);
/* The worker owning the session a request target (path and query, as on the request line)
 * names: its index, or -1 if the target is not this server's, names no session, or the id
 * carries no valid worker index. Cheap: meant for every request before it is parsed. */
int eio_server_owner(const eio_server_t *srv, const char *target, size_t len);
size_t eio_server_session_count(const eio_server_t *srv);
/* The budget of bytes held for clients that this server charges (never NULL). */
membudget_t *eio_server_budget(eio_server_t *srv);
const eio_stats_t *eio_server_stats(const eio_server_t *srv);

/* ---- sessions ---- */

const char *eio_socket_id(const eio_socket_t *s);
void eio_socket_set_user(eio_socket_t *s, void *user);
void *eio_socket_user(const eio_socket_t *s);
/* Sends a message (data copied). Binary goes as a binary frame, or "b" + base64. */
void eio_socket_send(eio_socket_t *s, int binary, const void *data, size_t len);
/* Sends a complete text Engine.IO packet ("4..." for a message) held in a shared
 * buffer: WebSocket recipients write the buffer itself, polling ones queue a
 * reference. The emitter encodes once and calls this per recipient. */
void eio_socket_send_shared(eio_socket_t *s, rbuf_t *packet);
/* Sends a binary message held in a shared buffer (an attachment every recipient shares). */
void eio_socket_send_shared_binary(eio_socket_t *s, rbuf_t *data);
/* Bytes queued for this session that the client has not taken yet. */
size_t eio_socket_outbox_bytes(const eio_socket_t *s);
/* Closes the session: queued output is sent first where the transport allows (a polling
 * session keeps it for the client's next GET, for up to a heartbeat). */
void eio_socket_close(eio_socket_t *s, const char *reason);
/* Closes the session at once: queued output is dropped, nothing waits for a last GET. */
void eio_socket_abort(eio_socket_t *s, const char *reason);
/* Arms (ms > 0) or cancels (ms == 0) the session's user deadline (see on_timeout). */
void eio_socket_set_timeout(eio_socket_t *s, uint64_t ms);

#endif
