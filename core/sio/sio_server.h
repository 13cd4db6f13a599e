/* sio_server.h - Socket.IO v5 on top of Engine.IO: clients, namespaces,
 * sockets, events, acks, rooms, authentication and the emitter.
 *
 * One sio_server_t owns its Engine.IO endpoint. Each Engine.IO session is a
 * client; each namespace a client joins is a socket with its own id, in the
 * room of that id and, when its token is valid, in "user:{sub}".
 *
 * Emits are encoded once and framed once: every recipient is handed the
 * same reference-counted packet (DESIGN.md promise 2). Handlers run on the
 * loop thread; a socket pointer is valid until its disconnect hooks return. */
#ifndef IOGATE_SIO_SERVER_H
#define IOGATE_SIO_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth/authenticator.h"
#include "eio/eio_server.h"
#include "base/buf.h"
#include "sio/sio_packet.h"
#include "sio/sio_recovery.h"

#define SIO_USER_ROOM_PREFIX "user:"
#define SIO_SOCKET_ID_LEN 20

typedef struct sio_server sio_server_t;
typedef struct sio_nsp sio_nsp_t;
typedef struct sio_socket sio_socket_t;
typedef struct sio_identity sio_identity_t;
typedef struct sio_args sio_args_t;

typedef struct sio_options {
    uint64_t connect_timeout_ms; /* no namespace joined within it: the client is closed */
    size_t max_attachments;
    /* A binary packet's text plus attachments (0: no bound), and how long its attachments may
     * take to arrive (0: no deadline). Past either the client is closed ("parse error"). */
    size_t max_binary_bytes;
    uint64_t attachment_timeout_ms;
    /* Sessions that joined no namespace yet, in all and from one client address (0: no
     * bound). A handshake past either is refused with 503. */
    size_t max_unjoined;
    size_t max_unjoined_per_address;
    /* Who the handshake's Bearer header or cookie, or the CONNECT auth payload, names
     * (borrowed). NULL: nobody authenticates (sockets join no user room). */
    const authenticator_t *auth;
    /* Keep each client's handshake (headers, address, time, url, query) and each socket's
     * CONNECT payload, credentials redacted, for sio_socket_handshake_json(): what a fleet's
     * fetchSockets() returns. Off: nothing kept (it costs a few hundred bytes a client). */
    int keep_handshake;
    /* Connection state recovery (Socket.IO 4.6+; sio_recovery.h): off while
     * recovery.max_disconnection_ms is 0. Then nothing changes: no pid, no offsets, nothing
     * kept. */
    sio_recovery_options_t recovery;
} sio_options_t;

/* An event received from a client. args is the array of arguments after the
 * name (placeholders kept; bin holds the attachments they name). ack_id >= 0
 * when the client asked for an acknowledgement (answer with sio_socket_ack). */
typedef struct sio_event {
    const char *name;
    json_t *args;
    const sio_bin_t *bin;
    size_t nbin;
    int64_t ack_id;
    buf_t *text; /* args as text, made once for every handler: see sio_event_args_text() */
} sio_event_t;

/* The event's arguments as compact JSON text (placeholders kept), serialized on the first call
 * and shared by every handler of the event after it; valid while the handlers run. */
const char *sio_event_args_text(const sio_event_t *ev, size_t *len);

typedef void (*sio_connect_fn)(void *user, sio_socket_t *s, const json_t *auth);
typedef void (*sio_disconnect_fn)(void *user, sio_socket_t *s, const char *reason);
typedef void (*sio_event_fn)(void *user, sio_socket_t *s, const sio_event_t *ev);
/* Answer to a server emit with ack: args is the client's array (placeholders naming
 * bin[]), or NULL when the socket disconnected (or the ack timed out) first. */
typedef void (*sio_ack_fn)(void *user, sio_socket_t *s, const json_t *args, const sio_bin_t *bin,
                           size_t nbin);

typedef struct sio_stats {
    uint64_t serializations; /* packets encoded by the emitter: once per emit with a recipient here */
    uint64_t deliveries;     /* recipients written */
    uint64_t connects, disconnects;
    uint64_t auth_ok, auth_failed;
    uint64_t cross_site_cookies;     /* handshake cookies ignored: the page was foreign */
    uint64_t binary_packets_dropped; /* over max_binary_bytes, late or over the budget */
} sio_stats_t;

sio_server_t *sio_server_new(uv_loop_t *loop, const eio_options_t *eio_opts,
                             const sio_options_t *opts);
void sio_server_free(sio_server_t *srv);
eio_server_t *sio_server_eio(sio_server_t *srv);
/* Disconnects everyone (shutdown). */
void sio_server_close_all(sio_server_t *srv);
/* Closes the Engine.IO endpoint's libuv handles once connections have drained. */
void sio_server_release(sio_server_t *srv);
const sio_stats_t *sio_server_stats(const sio_server_t *srv);
/* Sessions that have not joined a namespace yet (see max_unjoined). */
size_t sio_server_unjoined_count(const sio_server_t *srv);
/* Calls fn(user, nsp) for every namespace, "/" first, in creation order. */
void sio_server_each_nsp(sio_server_t *srv, void (*fn)(void *user, sio_nsp_t *nsp), void *user);

/* The namespace called name, created when missing ("/" always exists). */
sio_nsp_t *sio_server_nsp(sio_server_t *srv, const char *name);
sio_nsp_t *sio_server_find_nsp(const sio_server_t *srv, const char *name);
const char *sio_nsp_name(const sio_nsp_t *nsp);
size_t sio_nsp_socket_count(const sio_nsp_t *nsp);
/* Rooms that currently exist in the namespace (own-id rooms included). */
size_t sio_nsp_room_count(const sio_nsp_t *nsp);
/* Sockets in one room of the namespace (0 when it does not exist). */
size_t sio_nsp_room_size(const sio_nsp_t *nsp, const char *room);
/* Calls fn(user, room, len) for every room of the namespace, own-id rooms included. fn must
 * not join or leave. */
void sio_nsp_each_room(const sio_nsp_t *nsp, void (*fn)(void *user, const char *room, size_t len),
                       void *user);
/* Calls fn(user, s) once for every socket of nsp in any of rooms (every socket when nrooms is
 * 0) and in none of except, as a broadcast would select them. They are collected first, so fn
 * may join, leave or disconnect. Returns the number of sockets. */
size_t sio_nsp_each_socket(sio_nsp_t *nsp, const char *const *rooms, size_t nrooms,
                           const char *const *except, size_t nexcept,
                           void (*fn)(void *user, sio_socket_t *s), void *user);
/* Hooks and handlers; several of each may be registered, run in order. */
void sio_nsp_on_connect(sio_nsp_t *nsp, sio_connect_fn fn, void *user);
void sio_nsp_on_disconnect(sio_nsp_t *nsp, sio_disconnect_fn fn, void *user);
void sio_nsp_on_event(sio_nsp_t *nsp, const char *event, sio_event_fn fn, void *user);
/* Counts for GET /metrics. Client events are counted by name only for the names a handler was
 * registered for (sio_nsp_on_event), so the names stay the registered ones; the others are
 * counted together as unhandled. */
void sio_nsp_each_event(const sio_nsp_t *nsp,
                        void (*fn)(void *user, const char *event, uint64_t received), void *user);
uint64_t sio_nsp_unhandled_events(const sio_nsp_t *nsp);
/* Sockets of the namespace with an authenticated user. */
size_t sio_nsp_authenticated_count(const sio_nsp_t *nsp);

/* ---- sockets ---- */
const char *sio_socket_id(const sio_socket_t *s);
sio_nsp_t *sio_socket_nsp(const sio_socket_t *s);
/* The authenticated user id, or NULL. */
const char *sio_socket_user_id(const sio_socket_t *s);
/* The token's exp (seconds since the epoch), 0 when none or not authenticated. */
int64_t sio_socket_expires_at(const sio_socket_t *s);
/* The socket's handshake as Node's socket.handshake, compact JSON: {headers, time, address,
 * xdomain, secure, issued, url, query, auth}, with the cookie and authorization headers and
 * credential-like auth keys (token, password, ...) replaced by "[redacted]". NULL unless
 * keep_handshake; else new text the caller frees. */
char *sio_socket_handshake_json(const sio_socket_t *s);
/* Calls fn(user, room, len) for every room of the socket (socket.rooms), own id first. */
void sio_socket_each_room(const sio_socket_t *s,
                          void (*fn)(void *user, const char *room, size_t len), void *user);
/* The token's claims as compact JSON text, or NULL. */
const char *sio_socket_claims_json(const sio_socket_t *s);
/* 1 when the socket restored a session (socket.recovered): its id, rooms and missed packets. */
int sio_socket_recovered(const sio_socket_t *s);
int sio_socket_join(sio_socket_t *s, const char *room);
int sio_socket_leave(sio_socket_t *s, const char *room);
/* Emits event(args) to this socket asking for an acknowledgement; cb runs once (with NULL if
 * the socket goes first or timeout_ms passes; 0 = no timeout). */
void sio_socket_emit_with_ack(sio_socket_t *s, const char *event, const sio_args_t *args,
                              uint64_t timeout_ms, sio_ack_fn cb, void *user);
/* Answers a client's ack request with an argument array (placeholders name bin[]). */
void sio_socket_ack(sio_socket_t *s, int64_t ack_id, const json_t *args, const sio_bin_t *bin,
                    size_t nbin);
/* Server-side disconnect of one namespace socket (sends DISCONNECT). */
void sio_socket_disconnect(sio_socket_t *s, const char *reason);
/* sio_socket_disconnect(), then the whole connection closes (socket.disconnect(true)): the
 * client's other namespaces go too. */
void sio_socket_disconnect_and_close(sio_socket_t *s, const char *reason);
/* Closes the socket's whole connection without a DISCONNECT packet, as engine.io's
 * socket.close() does ("forced close"): the client reconnects on its own, and with recovery on
 * gets its session back. */
void sio_socket_close_transport(sio_socket_t *s);
/* Another handle on the same socket by id (NULL once gone): for asynchronous work. */
sio_socket_t *sio_server_find_socket(const sio_server_t *srv, const char *nsp, const char *id);

/* ---- the emitter: encode once, write many ---- */

/* The room every socket of user_id joins, appended to out: the one place its name is built
 * (the cluster adapter publishes user emits to it; plugins get the prefix as
 * IOG_USER_ROOM_PREFIX). */
void sio_user_room(buf_t *out, const char *user_id);

/* Errors of sio_emit (negative, so that they never read as a count). */
#define SIO_EMIT_ENOENT (-1) /* no such namespace, or the target socket is gone */
#define SIO_EMIT_EINVAL (-2) /* a target without the id its kind needs, or an unknown kind */

/* Every emit, whoever makes it (plugins, the test routes, the cluster adapter), goes through
 * sio_emit() with one of these targets. */
typedef enum sio_target_kind {
    SIO_TO_SOCKET = 1,    /* the socket `id` of the namespace */
    SIO_TO_USER,          /* every socket of user `id` (room SIO_USER_ROOM_PREFIX id) */
    SIO_TO_ROOMS,         /* every socket in any of rooms[] (none named: nobody) */
    SIO_TO_ALL,           /* every socket of the namespace */
    SIO_TO_AUTHENTICATED, /* every authenticated socket of the namespace */
} sio_target_kind_t;

/* sio_target_t.flags */
#define SIO_EMIT_LOCAL 0x1    /* this node's sockets only: the adapter is not told (fleet input) */
#define SIO_EMIT_VOLATILE 0x2 /* a socket with output still waiting misses it (volatile) */

typedef struct sio_target {
    sio_target_kind_t kind;
    unsigned flags;  /* SIO_EMIT_* */
    const char *nsp; /* NULL means "/" */
    const char *id;  /* SOCKET: its id; USER: the user id */
    const char *const *rooms;
    size_t nrooms;
    const char *const *except; /* sockets in any of these rooms are skipped (not for SOCKET) */
    size_t nexcept;
} sio_target_t;

/* What follows the event name: one argument given as JSON text (value, or nothing when NULL),
 * or, when array is set, its elements as the arguments, placeholders in them naming bin[]
 * (sent as binary attachments). */
struct sio_args {
    const char *value;
    size_t len;
    const json_t *array;
    const sio_bin_t *bin;
    size_t nbin;
};

/* Hands the emit to the adapter for the other nodes first (unless the target is one socket or
 * SIO_EMIT_LOCAL is set), so they start while this node writes; then encodes event(args) once
 * and hands the same packet (and attachments) to every socket of the target on this node,
 * each once. Returns the number of recipients on this node, or SIO_EMIT_ENOENT /
 * SIO_EMIT_EINVAL. */
int64_t sio_emit(sio_server_t *srv, const sio_target_t *target, const char *event,
                 const sio_args_t *args);

/* ---- server-side events and counts: between the nodes of a fleet ---- */

/* A server-side event (socket.io's serverSideEmit): its arguments after the name. */
typedef void (*sio_server_event_fn)(void *user, const char *nsp, const char *event,
                                    const json_t *args);
/* The fleet's answer to a count: status 0 and the total, or status SIO_COUNT_PARTIAL (some
 * node did not answer in time, or the fleet is unreachable) and what was counted. */
typedef void (*sio_count_fn)(void *user, int64_t count, int status);
#define SIO_COUNT_PARTIAL (-1)

/* Handlers of server-side events that other nodes send (several run in order). */
void sio_nsp_on_server_event(sio_nsp_t *nsp, const char *event, sio_server_event_fn fn, void *user);
/* Runs this node's handlers of a server-side event (the adapter calls it). */
void sio_nsp_server_event(sio_nsp_t *nsp, const char *event, const json_t *args);
/* Sends a server-side event to every other node of the fleet; this node's handlers do not
 * run, as in socket.io. Alone, nobody hears it. Returns 0, or SIO_EMIT_ENOENT for no such
 * namespace. */
int sio_server_side_emit(sio_server_t *srv, const char *nsp, const char *event, const json_t *args);
/* Counts the sockets in room across the fleet; cb runs once, possibly before this returns
 * (alone: at once, with this node's count). Returns 0, or SIO_EMIT_ENOENT for no such
 * namespace (cb does not run). */
int sio_fleet_room_size(sio_server_t *srv, const char *nsp, const char *room, sio_count_fn cb,
                        void *user);

/* ---- the adapter: how emits reach the other nodes of a fleet (core/cluster) ---- */

typedef struct sio_adapter {
    void *ctx;
    /* A server-side event for the other nodes. */
    void (*server_emit)(void *ctx, const char *nsp, const char *event, const json_t *args);
    /* The sockets of room on the other nodes: cb(user, local + theirs, status) once. */
    void (*room_size)(void *ctx, const char *nsp, const char *room, int64_t local, sio_count_fn cb,
                      void *user);
    /* An emit made on this node, before its local delivery (see sio_emit). All arguments are
     * valid during the call only. */
    void (*publish)(void *ctx, const char *nsp, const sio_target_t *target, const char *event,
                    const sio_args_t *args);
    /* A namespace came to exist; sio_server_set_adapter() also reports every existing one. */
    void (*nsp_added)(void *ctx, const char *nsp);
} sio_adapter_t;

/* Installs the adapter (copied; NULL removes it). */
void sio_server_set_adapter(sio_server_t *srv, const sio_adapter_t *adapter);
/* Whether the adapter should deliver a broadcast to room here: a socket is in it, or a session
 * kept for recovery was. */
int sio_nsp_room_needed(const sio_nsp_t *nsp, const char *room);

/* ---- connection state recovery (off unless sio_options_t.recovery is set) ---- */

/* What recovery has kept and dropped, or NULL when it is off. */
const sio_recovery_stats_t *sio_server_recovery_stats(const sio_server_t *srv);
/* Marks an event recoverable (the default) or not: its packets then carry no offset and are
 * not kept. 0, or SIO_EMIT_ENOENT when recovery is off (nothing to mark). */
int sio_server_set_recoverable(sio_server_t *srv, const char *event, int recoverable);

/* What a store-backed source is asked when a socket could not be restored but its client
 * names the user's last event of that source (after) or, without one, when its previous
 * session started (since_ms): the events of user_id it missed, oldest first. The answer is
 * sio_replay_emit() for each, then sio_replay_end() once, on the loop thread, at once or
 * later. Until then the socket's other deliveries wait, so the client gets the replayed events
 * first and every event once. */
typedef struct sio_replay_request {
    uint64_t id;
    const char *event;
    const char *after; /* NULL: none */
    int64_t since_ms;
    int64_t not_before_ms; /* an event older than this one means the client left too long ago */
    uint32_t max_events;
} sio_replay_request_t;
typedef void (*sio_replay_fn)(void *user, sio_socket_t *s, const sio_replay_request_t *req);

/* Events replayed for one request at most; a store with more answers with an error. */
#define SIO_REPLAY_MAX_EVENTS 1000
/* How long a store has to answer before the socket's deliveries go on without its events. */
#define SIO_REPLAY_TIMEOUT_MS 10000

/* Registers a store-backed source for event (whose first argument's cursor_key names its
 * cursor; initial, when not NULL, is the store's newest now). 0; SIO_EMIT_ENOENT when recovery
 * is off; SIO_EMIT_EINVAL for a name or key that is not [A-Za-z0-9_.:-]{1,64}, a second source
 * for an event, or too many sources. */
int sio_server_add_recovery_source(sio_server_t *srv, const char *event, const char *cursor_key,
                                   const char *initial, sio_replay_fn fn, void *user);
/* One replayed event for request id, encoded now and sent when the replay ends. 0;
 * SIO_EMIT_ENOENT when the request is over (answered, timed out, its socket gone);
 * SIO_EMIT_EINVAL when the event is not the request's. Past max_session_bytes the replay
 * fails (nothing of it is sent). */
int sio_replay_emit(sio_server_t *srv, uint64_t id, const sio_args_t *args);
/* Ends request id: status 0 sends what was replayed, another drops it. 0, or
 * SIO_EMIT_ENOENT when the request is already over. */
int sio_replay_end(sio_server_t *srv, uint64_t id, int status);
/* The event of request id while it is not over, else NULL. */
const char *sio_replay_event(sio_server_t *srv, uint64_t id);

#endif
