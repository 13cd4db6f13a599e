/* redis_link.h - the connections to one Redis server for pub/sub: a subscriber and a publisher.
 *
 * The transport under the cluster adapter. It owns two hiredis async contexts on the loop,
 * reconnects them with backoff, logs in (AUTH, SELECT) on every connect, remembers the
 * channels and patterns subscribed and subscribes them again after every reconnect (hiredis
 * 0.14 does not), and holds publishes in a bounded queue while Redis cannot take them. It
 * knows nothing of Socket.IO or MessagePack: channels are strings, payloads opaque bytes.
 *
 * Ordering: publishes reach Redis in the order of redis_link_publish() calls, and none leaves
 * while a subscription is unconfirmed (after a reconnect, or after redis_link_subscribe()), so
 * a node never misses the replies to what it publishes.
 *
 * Delivery is at most once: a publish written to Redis whose reply never came (the connection
 * dropped) is counted as unconfirmed, not sent again, as it may have reached the subscribers.
 *
 * Threads: everything, callbacks included, runs on the loop thread. hiredis writes with
 * write(2): the process must ignore SIGPIPE (iogate's main does). Errors are negative libuv
 * codes (uv_strerror names them); a call that returns an error never runs its callback.
 * Callbacks may call any function here, redis_link_close() included. */
#ifndef IOGATE_REDIS_LINK_H
#define IOGATE_REDIS_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/redis_url.h"

typedef struct redis_link redis_link_t;
struct redisReply; /* <hiredis/hiredis.h>, for the replies of redis_link_command() */

typedef enum redis_link_state {
    REDIS_LINK_CONNECTING = 0, /* since the start, and no attempt has failed yet */
    REDIS_LINK_UP = 1,         /* both connections logged in, every subscription confirmed */
    REDIS_LINK_DOWN = 2,       /* a connection failed or was lost: retrying with backoff */
} redis_link_state_t;

/* Read by metrics and the readiness probe (ready iff state == REDIS_LINK_UP). */
typedef struct redis_link_stats {
    redis_link_state_t state;
    uint64_t since_ms;    /* uv_now() when the link entered state */
    uint64_t published;   /* publishes Redis acknowledged */
    uint64_t unconfirmed; /* publishes written whose reply never came, or an error reply */
    uint64_t dropped;     /* publishes refused because the queue was full */
    uint64_t received;    /* messages handed to on_message */
    uint64_t reconnects;  /* times the link came back up after being down */
    uint64_t failures;    /* failed connection attempts and lost connections */
    size_t queued;        /* publishes waiting in the queue */
    size_t queued_bytes;  /* their channel and payload bytes */
    size_t inflight;      /* publishes written to Redis, reply awaited */
    char last_error[192]; /* why the last attempt failed, e.g. "subscriber: Connection refused" */
} redis_link_stats_t;

/* A message on a channel subscribed (pattern NULL) or matching a pattern subscribed. channel
 * and pattern are NUL-terminated; data holds len bytes, any bytes. All valid during the call. */
typedef void (*redis_link_message_cb)(void *user, const char *channel, const char *pattern,
                                      const void *data, size_t len);
/* The state changed (stats->state). */
typedef void (*redis_link_state_cb)(void *user, redis_link_state_t state);
/* The reply to redis_link_command(): status 0 and a reply (possibly of type
 * REDIS_REPLY_ERROR), or status UV_ECONNRESET (connection lost) or UV_ECANCELED (link closed)
 * and reply NULL. The reply is valid during the call. */
typedef void (*redis_link_reply_cb)(void *arg, const struct redisReply *reply, int status);
typedef void (*redis_link_closed_cb)(void *arg);

typedef struct redis_link_opts {
    /* Publishes held while the link is not up (or Redis is behind). Full: the newest publish
     * is refused (UV_ENOBUFS), counted in dropped and logged once per episode. */
    size_t queue_max_msgs;  /* default 10,000; 0: no queue, publish only while up */
    size_t queue_max_bytes; /* channel + payload bytes; default 64 MiB */
    /* What hiredis holds beyond the queue: PUBLISH commands awaiting their reply, and the
     * bytes it has not written yet. Past either, publishes wait in the queue. */
    size_t inflight_max;              /* default 1,000 */
    size_t outbuf_max_bytes;          /* default 1 MiB; one publish always fits */
    unsigned connect_timeout_ms;      /* resolve + connect + AUTH/SELECT; default 2,000 */
    unsigned backoff_min_ms;          /* first retry delay, doubled per failure; default 100 */
    unsigned backoff_max_ms;          /* default 5,000; each delay is jittered to 50-100% */
    redis_link_message_cb on_message; /* required */
    redis_link_state_cb on_state;     /* optional */
    void *user;                       /* for both callbacks */
} redis_link_opts_t;

/* Fills o with the defaults above and no callbacks. */
void redis_link_opts_init(redis_link_opts_t *o);

/* Creates a link and starts connecting on the next loop turn (no callback runs before
 * redis_link_new() returns). url and opts are copied. Returns 0, or UV_EINVAL for options
 * out of range (no on_message; inflight_max, outbuf_max_bytes, connect_timeout_ms or
 * backoff_min_ms of 0; backoff_min_ms > backoff_max_ms). */
int redis_link_new(uv_loop_t *loop, const redis_url_t *url, const redis_link_opts_t *opts,
                   redis_link_t **out);

/* Subscribes to a channel (pattern 0) or a pattern (PSUBSCRIBE, pattern 1), now if connected
 * and after every reconnect. Already subscribed: nothing happens. Returns 0, UV_EINVAL for an
 * empty name, UV_ECANCELED after redis_link_close(). */
int redis_link_subscribe(redis_link_t *link, int pattern, const char *name);
/* Forgets a subscription; no message for it is delivered after this returns. Returns 0,
 * UV_ENOENT when not subscribed, UV_ECANCELED after redis_link_close(). */
int redis_link_unsubscribe(redis_link_t *link, int pattern, const char *name);

/* Publishes len bytes of data on channel (both copied). Returns 0 when written or queued,
 * UV_ENOBUFS when the queue is full (dropped, counted), UV_EINVAL for an empty channel,
 * UV_ECANCELED after redis_link_close(). */
int redis_link_publish(redis_link_t *link, const char *channel, const void *data, size_t len);

/* Sends a command on the publisher connection, e.g. {"PUBSUB", "NUMSUB", channel}; argvlen
 * may be NULL for NUL-terminated arguments. It is not queued: only while the link is up,
 * and it may overtake queued publishes. Returns 0 (cb runs exactly once), UV_ENOTCONN when
 * the link is not up, UV_EINVAL for no arguments or no cb, UV_ECANCELED after close. */
int redis_link_command(redis_link_t *link, int argc, const char **argv, const size_t *argvlen,
                       redis_link_reply_cb cb, void *arg);

/* The state and counters, updated in place (the pointer stays valid until done runs). */
const redis_link_stats_t *redis_link_stats(const redis_link_t *link);

/* Disconnects both connections, discards the queue, answers pending commands with
 * UV_ECANCELED, and runs done(arg) once every libuv handle of the link is closed; the link is
 * freed after done returns. From the call on, no message or state callback runs. Call once. */
void redis_link_close(redis_link_t *link, redis_link_closed_cb done, void *arg);

#endif
