/* http_internal.h - structures shared by the HTTP server's own files only.
 * Nothing outside core/http/ includes this. */
#ifndef IOGATE_HTTP_INTERNAL_H
#define IOGATE_HTTP_INTERNAL_H

#include <llhttp.h>
#include <time.h>

#include "http/http.h"
#include "http/iopoll.h"

#define HTTP_READ_BUFFER_SIZE 65536

/* The peer's address as text for a log line (a buffer that lives to the end of the block). */
#define REMOTE(c) http_conn_remote_addr((c), (char[HTTP_ADDR_MAX]){0})

typedef struct http_header_ref {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
} http_header_ref_t;

struct http_request {
    http_conn_t *conn;
    http_request_t *next; /* queue order on the connection */
    char method[16];
    buf_t head;       /* url, then header names and values, NUL-separated */
    uint32_t url_len; /* the target is head.data[0 .. url_len) */
    const char *path; /* path part of the target (into head, or a static "/") */
    size_t path_len;
    const char *query; /* query part, NULL if none */
    size_t query_len;
    http_header_ref_t *headers;
    size_t nheaders, headers_cap;
    buf_t body;
    uint32_t head_charged;      /* bytes of head charged to the server's budget */
    buf_t extra_headers;        /* response headers added by the handler */
    char remote[HTTP_ADDR_MAX]; /* the peer's address as text, formatted on first use */
    buf_t response;             /* serialized response once answered */
    void (*abort_cb)(void *user, http_request_t *req);
    void *abort_user;
    uint64_t started_ns;       /* uv_hrtime() at its first byte, for its duration */
    http_route_stats_t *stats; /* where its answer is counted; NULL: with no route */
    unsigned complete : 1;     /* fully received and handed to the handler */
    unsigned responded : 1;
    unsigned keep_alive : 1;
    unsigned upgrade : 1;
    unsigned is_head : 1;
    unsigned close_after : 1; /* close the connection once this response is written */
    unsigned expect_continue : 1;
    unsigned continue_sent : 1;
};

/* Parsing state; freed when the connection is upgraded. */
typedef struct http_parse_state {
    llhttp_t parser;
    http_request_t *head, *tail; /* requests in arrival order */
    size_t queued;
    http_request_t *current; /* the request being received */
    buf_t pending_in;        /* bytes received while parsing was paused */
    size_t head_bytes;       /* bytes of request line + headers so far */
    int header_state;        /* 0 none, 1 in a field, 2 in a value */
    uint64_t deadline_ms;    /* header/body deadline of the current request */
    int headers_done;
    int paused;             /* parser paused: queue full or upgrade pending */
    int input_closed;       /* nothing more is parsed: the connection is closing (or the peer
                             * finished, or an upgrade was refused); what arrives is dropped */
    const char *exec_start; /* the chunk llhttp_execute() is parsing (obs-fold detection) */
    char prev_tail;         /* last non-blank byte of the chunks before it */
    buf_t line_in;          /* a request line being completed before it is steered */
    int steered;            /* the current request was steered already (or adopted) */
    int error_status;       /* status to answer when the callbacks refused input */
    const char *error_message;
} http_parse_state_t;

typedef struct conn_write conn_write_t; /* queued output, private to http_output.c */

/* An upgraded connection lives as long as its user, so every byte here is per-connection
 * memory: the socket is a bare descriptor in the server's epoll set (iopoll.h) instead of a
 * 248-byte libuv handle, and the peer's address is kept binary. */
struct http_conn {
    int fd;                    /* -1 once closed */
    uint32_t writes_in_flight; /* entries in the output queue */
    uv_timer_t *timer;         /* HTTP timeouts; released once upgraded (memory) */
    http_server_t *server;
    http_conn_t *prev, *next; /* the server's connections */
    http_conn_t *next_queued; /* the server's flush queue while open, its closed list once closed */
    http_parse_state_t *http; /* NULL once upgraded */
    const http_raw_callbacks_t *raw; /* set once upgraded */
    void *raw_user;
    buf_t *upgrade_leftover; /* bytes that followed the upgrade request, until delivered */
    conn_write_t *out_last;  /* what the kernel has not taken yet: a ring, entered at its end */
    size_t out_bytes;
    uint8_t events;        /* EPOLLIN/EPOLLOUT registered in the server's set, 0 = none */
    uint8_t handles;       /* still open: the socket, the timer */
    uint8_t remote_family; /* 0 unknown, AF_INET or AF_INET6 */
    uint8_t remote_addr[16];
    unsigned closing : 1; /* the socket is closed; freed once the timer is too */
    unsigned close_when_flushed : 1;
    unsigned reading : 1;
    unsigned lingering : 1;    /* half-closed by us: input is read and dropped */
    unsigned flush_queued : 1; /* output deferred to the server's flush queue (see http_output.c) */
    unsigned shutdown_notified : 1;
};

struct http_server {
    uv_loop_t *loop;
    int listen_fd;           /* -1 when not listening */
    iopoll_t io;             /* the listener and every connection */
    uv_idle_t reaper;        /* frees closed connections outside any callback of theirs */
    uv_timer_t accept_pause; /* out of descriptors: the listener rests a moment */
    http_conn_t *closed;     /* closed connections to free */
    uv_idle_t flusher;       /* writes deferred output, a slice of the connections per turn */
    http_conn_t *flush_head, *flush_tail;
    http_stats_t stats;
    http_route_stats_t unrouted[HTTP_METHOD_CLASSES]; /* answers no route took */
    membudget_t budget;        /* bytes held for clients, shared with the layers above */
    uint64_t deferred_at_trim; /* stats.writes_deferred when the heap was last trimmed */
    uv_timer_t trim_timer;     /* gives the heap back once a broadcast storm is over */
    uint64_t turn_ms;          /* loop time of the turn turn_writes counts */
    unsigned turn_writes;      /* upgraded connections' writes this turn (deferring past a few) */
    uv_timer_t grace_timer;
    http_limits_t limits;
    http_handler_fn handler;
    void *handler_user;
    http_conn_t *conns;
    size_t nconns;
    int port;
    http_steering_t steering; /* steer NULL: every request is parsed here */
    unsigned reuse_port : 1;
    unsigned listening : 1;
    unsigned shutting_down : 1;
    unsigned handles_open; /* io, reaper, flusher, trim, accept pause, grace: for shutdown */
    void (*shutdown_done)(void *user);
    void *shutdown_user;
    time_t date_second;
    char date[40]; /* cached Date header value */
    /* Reads happen one at a time on the loop thread, and each read is parsed
     * before the next one starts, so one buffer serves every connection. */
    char read_buffer[HTTP_READ_BUFFER_SIZE];
};

/* http_conn.c */
/* A new connection, read from at once; returns it, or NULL when it was refused (answered
 * 503 and closing: too many connections, or shutting down). */
http_conn_t *http_conn_accept(http_server_t *s, int fd, const struct sockaddr *peer);
/* Feeds bytes to the connection's parser as if just read (an adopted connection). */
void http_conn_feed(http_conn_t *c, const char *data, size_t len);
/* The events of one registered socket (iopoll callback): the listener or a connection. */
void http_conn_io(http_server_t *s, http_conn_t *c, uint32_t events);
/* Finishes a closed connection (from the reaper). */
void http_conn_reap(http_conn_t *c);
void http_conn_shutdown(http_conn_t *c);
/* Closes the socket now, dropping what is queued. */
void http_conn_force_close(http_conn_t *c);
/* Closes after the last write, with a half-close and a short linger. */
void http_conn_graceful_close(http_conn_t *c);
/* Registers in the epoll set what the connection waits for now (input, writability). */
void http_conn_update_events(http_conn_t *c);
/* (Re)starts the deadline of what the connection waits for (request, idle, writes). */
void http_conn_arm_timer(http_conn_t *c);
/* Resumes a parser paused for a full queue once responses have drained it. */
void http_conn_maybe_resume(http_conn_t *c);
/* http_parse.c */
http_parse_state_t *http_parse_state_new(http_conn_t *c);
/* Aborts the requests still queued and frees the state (NULL is fine). */
void http_parse_state_free(http_parse_state_t *st);
/* Keeps the last non-blank byte of a parsed chunk (obsolete line folding across chunks). */
void http_parse_remember_tail(http_parse_state_t *st, const char *data, size_t len);
/* A new request at the tail of the connection's queue. */
http_request_t *http_request_new(http_conn_t *c);
void http_request_free(http_request_t *req);
/* Releases the body once the handler no longer reads it (answered). */
void http_request_drop_body(http_request_t *req);
/* Unlinks the head request of the queue. */
void http_request_pop_head(http_parse_state_t *st);
/* Aborts and frees every queued request (the connection is going away). */
void http_requests_abort_all(http_parse_state_t *st);
/* http_steer.c */
typedef enum http_steer_result {
    HTTP_STEER_PARSE, /* parse *data here (it may point into st->line_in: free it after) */
    HTTP_STEER_WAIT,  /* the request line is not complete: the bytes were kept */
    HTTP_STEER_GONE,  /* handed to another worker: the connection is closed here */
    HTTP_STEER_REFUSE /* the owner could not take it: answer 503 */
} http_steer_result_t;
/* Decides, at the start of a request on an idle connection, where it belongs. */
http_steer_result_t http_conn_steer(http_conn_t *c, const char **data, size_t *len);
/* http_output.c */
/* Answers waiting past max_queued_output: reading pauses. */
int http_conn_output_full(const http_conn_t *c);
/* The socket is writable: as much of the queue as the kernel takes, in one system call. */
void http_conn_send_queue(http_conn_t *c);
/* Drops the output queue (the connection is closing). */
void http_conn_output_clear(http_conn_t *c);
/* Writes the answered requests at the head of the queue, in order. */
void http_conn_flush_responses(http_conn_t *c);
/* http_server.c */
void http_server_conn_closed(http_server_t *s, http_conn_t *c);
/* Queues a connection whose socket was closed, to be freed from the reaper. */
void http_server_conn_reap_later(http_server_t *s, http_conn_t *c);
/* Queues a connection with deferred output for the flusher. */
void http_server_flush_later(http_server_t *s, http_conn_t *c);
const char *http_server_date(http_server_t *s);
/* http_response.c */
void http_response_serialize(http_request_t *req, int status, const char *content_type,
                             const void *body, size_t len, int keep_alive, const char *date);
void http_error_body(buf_t *out, const char *code, const char *message);
/* Counts req's answer with status (in its route's stats, or with no route). */
void http_request_count(http_request_t *req, int status);

#endif
