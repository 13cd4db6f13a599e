/* sio_internal.h - what the Socket.IO layer's own files share: the server, namespace, client
 * and socket structures, the identity, the packets as they leave, teardown's guard, and the
 * calls between the protocol (sio_server.c) and connection state recovery (sio_resume.c).
 * Nothing outside core/sio/ includes this. */
#ifndef IOGATE_SIO_INTERNAL_H
#define IOGATE_SIO_INTERNAL_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "base/keycount.h"
#include "base/objmap.h"
#include "base/strmap.h"
#include "sio/rooms.h"
#include "sio/sio_recovery.h"
#include "sio/sio_server.h"

/* Who a token says a socket is, kept compact and shared by a client and its sockets: one
 * block holding the user id and the claims as JSON text (not a tree), since it is a large
 * part of an idle socket's memory. */
struct sio_identity {
    unsigned refs;
    int64_t exp;
    uint64_t expires_at;     /* loop time of exp, 0 = none */
    const char *claims_json; /* into user_id's block, after it; NULL when there are none */
    char user_id[];          /* the user id, NUL, then the claims JSON text, NUL */
};

typedef struct handler {
    struct handler *next;
    void (*fn)(void);
    void *user;
} handler_t;

/* The handlers of one client event in a namespace, and the events received for them. */
typedef struct event_entry {
    handler_t *handlers;
    uint64_t received;
} event_entry_t;

typedef struct pending_ack {
    struct pending_ack *next;
    int64_t id;
    uint64_t deadline; /* loop time, 0 = none */
    sio_ack_fn cb;
    void *user;
} pending_ack_t;

typedef struct sio_client sio_client_t;

struct sio_nsp {
    sio_server_t *srv;
    sio_nsp_t *next;
    char *name;
    rooms_t rooms;
    size_t nsockets;
    size_t nauthenticated;     /* sockets with an identity */
    uint64_t unhandled_events; /* client events no handler took */
    handler_t *on_connect, *on_disconnect;
    strmap_t events;        /* event name -> event_entry_t */
    strmap_t server_events; /* server-side event name -> handler_t list */
};

/* Fields that serve only while connected share their place with those that serve only once
 * dead: recovery's two clocks cost an idle socket nothing (160 bytes, as before them). */
struct sio_socket {
    sio_client_t *client;
    sio_nsp_t *nsp;
    sio_socket_t *next_in_client;
    union {
        int64_t next_ack_id;     /* while connected */
        sio_socket_t *next_dead; /* once dead */
    };
    char id[SIO_SOCKET_ID_LEN + 1];
    uint8_t connected;
    uint8_t recovered; /* it restored a session */
    uint8_t replaying; /* a store's replay holds its deliveries (sio_resume.c) */
    rooms_member_t member;
    sio_identity_t *identity; /* NULL when not authenticated; it holds the exp deadline */
    uint64_t start;           /* recovery: the clock when it started */
    union {
        uint64_t last_sent;      /* recovery: the last kept packet sent to it, while connected */
        const char *dead_reason; /* once dead */
    };
    pending_ack_t *acks;
    char *auth; /* keep_handshake: the CONNECT payload, redacted, when not empty; else NULL */
};

struct sio_client {
    sio_server_t *srv;
    eio_socket_t *eio; /* NULL once the session closed */
    union {
        sio_client_t *next_dead;         /* once dead */
        keycount_entry_t *unjoined_addr; /* while unjoined: its address's count, or NULL */
    };
    sio_decoder_t decoder;
    sio_socket_t *sockets;
    sio_identity_t *identity;  /* from the handshake cookie, shared with its sockets */
    char *handshake;           /* keep_handshake: socket.handshake without auth, JSON text */
    uint64_t connect_deadline; /* loop time; 0 once a namespace was joined */
    uint8_t dead;
    uint8_t unjoined; /* counted among the sessions that joined no namespace yet */
};

typedef struct replay replay_t;

/* A store-backed source's replay function (sio_server_add_recovery_source). */
typedef struct replay_source {
    sio_replay_fn fn;
    void *user;
} replay_source_t;

struct sio_server {
    uv_loop_t *loop;
    sio_options_t opts;
    sio_decoder_limits_t decoder_limits;
    size_t unjoined; /* clients that joined no namespace yet */
    keycount_t unjoined_by_addr;
    eio_server_t *eio;
    sio_nsp_t *nsps;
    objmap_t sockets; /* by socket id */
    sio_stats_t stats;
    unsigned depth; /* dispatches and walks on the stack */
    int reaping;
    sio_socket_t *dead_sockets;
    sio_client_t *dead_clients;
    sio_adapter_t adapter;    /* zeroed when the node is alone */
    sio_recovery_t *recovery; /* NULL when connection state recovery is off */
    replay_source_t sources[SIO_RECOVERY_MAX_SOURCES];
    uv_timer_t *sweep; /* drops what expired; runs while anything is kept or replayed */
    replay_t *replays;
    uint64_t next_replay;
    int released; /* sio_server_release() ran: no handle may start */
    /* A CONNECT waiting for the socket it takes over to be finalized (sio_resume_takeover). */
    struct {
        sio_client_t *client;
        sio_nsp_t *nsp;
        json_t *auth;
    } deferred;
};

/* A write may drop a slow consumer, which tears its sockets down: the public calls hold
 * teardown off (depth) until they no longer touch the socket. */
#define GUARD_BEGIN(srv) ((srv)->depth++)
#define GUARD_END(srv)                                                                             \
    do {                                                                                           \
        (srv)->depth--;                                                                            \
        sio_reap(srv);                                                                             \
    } while (0)

/* An event or ack as it leaves: the Engine.IO packet and, when binary, its attachments in
 * order, all shared by every recipient (encoded once, however many receive it). */
typedef struct outgoing {
    rbuf_t *packet;
    rbuf_t **attachments;
    size_t nattachments;
} outgoing_t;

/* ---- sio_server.c ---- */

/* The wall clock, in ms since the epoch. */
uint64_t sio_wall_ms(void);
/* Finalizes what died, unless a dispatch or walk is on the stack (see GUARD_BEGIN). */
void sio_reap(sio_server_t *srv);
/* Closes the client's Engine.IO session; its sockets die with reason. */
void sio_client_close(sio_client_t *c, const char *reason);
/* A namespace CONNECT of client c, with its payload. */
void sio_socket_connect(sio_client_t *c, sio_nsp_t *nsp, const json_t *auth);
/* Encodes [event, ...args, offset] (offset NULL: none; event NULL: an ack's args) once, for
 * every recipient; send to one session; free. */
void sio_outgoing_encode(outgoing_t *o, sio_type_t text_type, sio_type_t bin_type, const char *nsp,
                         int64_t id, const char *event, const sio_args_t *args, const char *offset);
void sio_outgoing_send(const outgoing_t *o, eio_socket_t *e);
void sio_outgoing_free(outgoing_t *o);
/* The value of key in the first argument (a string of cursor characters, or a non-negative
 * integer) into out: 1, or 0 when there is none. */
int sio_args_cursor(const sio_args_t *args, const char *key, char out[SIO_RECOVERY_NAME_MAX + 1]);

/* ---- sio_resume.c: connection state recovery (called while srv->recovery is set, but
 * sio_resume_drop_all and sio_resume_release) ---- */

/* A socket marked dead for reason: its session is kept when socket.io would keep it. */
void sio_resume_persist(sio_socket_t *s, const char *reason);
/* A socket marked dead while a store's replay ran for it: the replay is dropped. */
void sio_resume_cancel(sio_server_t *srv, sio_socket_t *s);
/* At free: replays still running are dropped without sending. */
void sio_resume_drop_all(sio_server_t *srv);
/* A live packet for a socket whose store replay runs: held (1), or, past the per-session
 * bound, the replay is given up and the caller sends it (0). */
int sio_resume_hold(sio_server_t *srv, sio_socket_t *s, const outgoing_t *o, uint64_t seq,
                    int source, const char *cursor);
/* Starts the sweep (what expires, replays past their time) unless released. */
void sio_resume_sweep_arm(sio_server_t *srv);
/* Closes the sweep's timer; nothing starts it again. */
void sio_resume_release(sio_server_t *srv);
/* A CONNECT whose pid names a live socket of another client of the same user: that client is
 * closed and the CONNECT deferred until it is finalized. 1 when deferred. */
int sio_resume_takeover(sio_server_t *srv, sio_client_t *c, sio_nsp_t *nsp, const json_t *pid,
                        const json_t *auth, sio_identity_t *identity);
/* Runs the deferred CONNECT once its old socket is finalized (e: the session it came on). */
void sio_resume_deferred(sio_server_t *srv, eio_socket_t *e);
/* The session the pid names, restored for identity: 1 with out filled. */
int sio_resume_restore(sio_server_t *srv, sio_nsp_t *nsp, const json_t *pid, const json_t *offset,
                       const sio_identity_t *identity, sio_restored_t *out);
/* Joins a restored socket to the session's rooms (not its own, not user rooms). */
void sio_resume_rejoin(sio_socket_t *s, const sio_restored_t *r);
/* Sends a restored socket what it missed. */
void sio_resume_replay_missed(sio_socket_t *s, const sio_restored_t *r);
/* Asks the store-backed sources what a fresh socket's user missed (pid, offset: its CONNECT's). */
void sio_resume_start_store(sio_server_t *srv, sio_socket_t *s, const json_t *pid,
                            const json_t *offset);

#endif
