/* eio_internal.h - what the Engine.IO server's own files share: the session and
 * transport structures and the calls between the session logic (eio_server.c) and
 * the transports (eio_polling.c, eio_websocket.c), as engine.io splits socket.ts
 * from transports/. Nothing outside core/eio/ includes this. */
#ifndef IOGATE_EIO_INTERNAL_H
#define IOGATE_EIO_INTERNAL_H

#include "base/objmap.h"
#include "base/timerheap.h"
#include "eio/eio_packet.h"
#include "eio/eio_server.h"
#include "ws/ws_frame.h"

enum { TRANSPORT_POLLING = 0, TRANSPORT_WEBSOCKET = 1 };
enum { STATE_OPEN = 0, STATE_CLOSING = 1, STATE_CLOSED = 2 };
/* Who ends a session: the server itself (errors, timeouts), the client, or the
 * application through eio_socket_close(), whose last packets are worth a final poll. */
enum { BY_SERVER = 0, BY_CLIENT = 1, BY_APP = 2 };

typedef struct eio_out {
    rbuf_t *data;
    int binary;
} eio_out_t;

typedef struct eio_ws {
    eio_server_t *srv;
    http_conn_t *conn;
    eio_socket_t *session; /* NULL once detached */
    ws_reader_t reader;
    uint8_t probing; /* an upgrade candidate, not yet the session's transport */
    uint8_t closing;
} eio_ws_t;

/* One per connected client, so laid out tight (136 bytes): deadlines that never run at the
 * same time share a field, and the queue's capacity follows from its length. */
struct eio_socket {
    eio_server_t *srv;
    void *user;
    timerheap_node_t deadline; /* the earliest of the deadlines below, in the server's heap */
    union {
        uint64_t ping_at; /* when to ping, unless awaiting_pong */
        uint64_t pong_by; /* while awaiting_pong */
    };
    union {
        uint64_t upgrade_by; /* while open */
        uint64_t close_by;   /* once closing */
    };
    uint64_t user_at;
    struct eio_socket *next_dead; /* waiting to be freed */
    http_request_t *poll;         /* the pending long-polling GET */
    eio_out_t *queue;             /* polling output (and WebSocket output before it attaches) */
    size_t qbytes;
    eio_ws_t *ws;    /* the WebSocket transport */
    eio_ws_t *probe; /* the WebSocket being probed for an upgrade */
    uint32_t qlen;   /* entries queued; the capacity follows from it (queue_push) */
    char sid[EIO_SID_LEN + 1];
    uint8_t transport;
    uint8_t state;
    uint8_t upgrading;     /* probe answered, waiting for the upgrade packet */
    uint8_t opened;        /* on_open ran, so on_close is owed */
    uint8_t awaiting_pong; /* a ping went out: pong_by runs, not ping_at; 2 once put off */
};

struct eio_server {
    uv_loop_t *loop;
    eio_options_t opts;
    char *path;
    size_t path_len;
    char **cors;
    size_t ncors;
    eio_callbacks_t cb;
    void *user;
    objmap_t sessions; /* by sid */
    eio_stats_t stats;
    membudget_t *budget; /* bytes held for clients: the shared one, or own_budget */
    membudget_t own_budget;
    /* Every session's next deadline in one heap under one libuv timer, and sessions
     * freed from a check handle once no callback can still hold them. Both handles
     * exist from the first session on (handles_open) until eio_server_release(). */
    timerheap_t deadlines;
    uv_timer_t timer;
    uv_check_t reaper;
    eio_socket_t *dead;
    int handles_open;
    int released;
    int shutting_down; /* close_all ran: WebSockets close with 1001 (going away) */
    int reclaim_due;   /* the budget was past: drop the sessions over their share (on_reap) */
    rbuf_t *pkt_ping, *pkt_noop, *pkt_close, *pkt_pong_probe;
};

/* eio_server.c: sessions, their output queue and its limits */
eio_socket_t *eio_session_new(eio_server_t *srv, http_request_t *req, int transport);
void eio_session_on_packet(eio_socket_t *s, const eio_packet_t *p);
/* Closes an open session (by: BY_SERVER, BY_CLIENT or BY_APP). */
void eio_session_close(eio_socket_t *s, const char *reason, int by);
/* Final release: unlinks the transports; the memory goes after this loop turn. */
void eio_session_destroy(eio_socket_t *s);
/* Schedules the session's earliest deadline. */
void eio_session_rearm(eio_socket_t *s);
void eio_queue_clear(eio_socket_t *s);
/* Output the kernel has not taken from conn, plus extra, is over limit. */
int eio_conn_over_limit(http_conn_t *conn, size_t extra, size_t limit);
/* What one session may hold now (max_outbox_bytes, or its share of the budget). */
size_t eio_outbox_limit(eio_server_t *srv);
void eio_drop_slow_consumer(eio_socket_t *s);
void eio_add_cors(eio_server_t *srv, http_request_t *req);
/* Asks the layer above whether a handshake may open a session; answers 503 when not. */
int eio_handshake_refused(eio_server_t *srv, http_request_t *req);

/* eio_polling.c: the long-polling transport */
/* Answers the pending GET with everything queued (and extra, if given). */
void eio_poll_flush(eio_socket_t *s, rbuf_t *extra);
void eio_poll_get(eio_server_t *srv, eio_socket_t *s, http_request_t *req);
void eio_poll_post(eio_server_t *srv, eio_socket_t *s, http_request_t *req);

/* eio_websocket.c: the WebSocket transport and the upgrade to it */
/* Writes one packet as a WebSocket frame (a reference to the shared payload). */
void eio_ws_write(eio_ws_t *ws, rbuf_t *data, int binary);
/* Sends a close frame and closes the connection once it is written. */
void eio_ws_close(eio_ws_t *ws, int code, const char *reason);
/* A WebSocket request: a new session, or a probe to upgrade existing (a polling session). */
void eio_ws_handle(eio_server_t *srv, http_request_t *req, eio_socket_t *existing);

#endif
