/* sio_recovery.h - what connection state recovery keeps (Socket.IO 4.6+): the packets
 * recently emitted, the sessions of sockets whose transport closed, and the private session
 * ids (pid) and offsets the clients hold to name them. Bounded in time (max_disconnection_ms)
 * and in bytes, all together and per session; what falls out is counted.
 *
 * Bookkeeping only: no sockets, no I/O, no clock of its own (callers pass the wall time in
 * ms). sio_server.c asks it what offset an emit carries, keeps the packets, persists a socket
 * as it closes and restores it from a CONNECT's pid and offset.
 *
 * Positions. Every kept packet has a sequence number from a clock that is the wall time in
 * ms shifted left by 12, plus one for each packet within a millisecond: strictly increasing
 * on a node, and its time readable (seq >> 12). A position names a node incarnation (8
 * random characters chosen at start) and a sequence number, followed by the newest cursor
 * of each store-backed source ("~notification=42"):
 *
 *   offset = node "." hex(seq) *("~" name "=" cursor)
 *   pid    = sid "." mac "." uhash "." offset-at-connect
 *
 * mac is 16 base64url characters of HMAC-SHA256(node secret, sid): only this node
 * incarnation can make it, so a pid cannot be derived from a public socket id. uhash is 11
 * base64url characters of SHA-256(user id), empty for an unauthenticated socket: another
 * node (or this node after a restart) cannot restore the session, but may ask the stores
 * for what that user missed after the cursors (or, without one, the time) the pid or the
 * offset names. Names and cursors are 1 to 64 characters of [A-Za-z0-9_.:-].
 *
 * What is replayed to a restored socket. Each socket records the sequence number at its
 * start and of the last packet sent to it. If the client's offset is at or past the last one
 * sent (or nothing was sent), it has everything sent before it went away: the packets kept
 * since the session was persisted that match its rooms are replayed. Otherwise (packets were
 * lost in transit) the packets after its offset (and after the socket's start) that match
 * its rooms are replayed, provided none after the offset was dropped. Eviction takes the
 * oldest of packets and sessions first, so a session never outlives a packet emitted after
 * it was persisted. */
#ifndef IOGATE_SIO_RECOVERY_H
#define IOGATE_SIO_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define SIO_RECOVERY_SID_LEN 20
#define SIO_RECOVERY_NODE_LEN 8
#define SIO_RECOVERY_MAC_LEN 16
#define SIO_RECOVERY_UHASH_LEN 11
#define SIO_RECOVERY_NAME_MAX 64 /* a source's event name, and a cursor */
#define SIO_RECOVERY_MAX_SOURCES 4
/* The clock's low bits: packets within one millisecond. */
#define SIO_RECOVERY_SEQ_SHIFT 12

typedef struct sio_recovery sio_recovery_t;

typedef struct sio_recovery_options {
    uint64_t max_disconnection_ms; /* a session and a packet are kept this long */
    size_t max_bytes;              /* packets and sessions together */
    size_t max_session_bytes;      /* one session's record, and what is replayed to it */
} sio_recovery_options_t;

typedef struct sio_recovery_stats {
    size_t bytes, packets, sessions; /* kept now */
    uint64_t persisted;              /* sessions kept as their socket closed */
    /* What fell out: by age, to make room (max_bytes), or a session's record over
     * max_session_bytes (never kept). */
    uint64_t packets_expired, packets_evicted;
    uint64_t sessions_expired, sessions_evicted, sessions_too_large;
    /* CONNECTs with a pid, by outcome (SIO_RESTORE_*). */
    uint64_t restored, invalid, unknown, expired, user_changed, too_old, too_large;
    /* Store-backed replays of fresh sessions: asked, delivered in full, failed (the store's
     * error, too many events, over max_session_bytes, timed out, socket gone), and the events
     * they delivered. */
    uint64_t store_replays, store_replays_ok, store_replays_failed, store_events;
} sio_recovery_stats_t;

/* What a restore came to. */
enum {
    SIO_RESTORE_OK = 0,
    SIO_RESTORE_INVALID,   /* a pid or offset that does not parse, or a mac that is not ours */
    SIO_RESTORE_UNKNOWN,   /* no session by that id in that namespace (another node, a restart) */
    SIO_RESTORE_EXPIRED,   /* disconnected longer than max_disconnection_ms */
    SIO_RESTORE_USER,      /* the new credentials name another user, or none */
    SIO_RESTORE_TOO_OLD,   /* packets it missed were dropped */
    SIO_RESTORE_TOO_LARGE, /* what it missed is over max_session_bytes */
};

/* A parsed position (offset, or the tail of a pid). */
typedef struct sio_position {
    char node[SIO_RECOVERY_NODE_LEN + 1];
    uint64_t seq;
    size_t ncursors;
    struct {
        char name[SIO_RECOVERY_NAME_MAX + 1];
        char value[SIO_RECOVERY_NAME_MAX + 1];
    } cursors[SIO_RECOVERY_MAX_SOURCES];
} sio_position_t;

typedef struct sio_pid {
    char sid[SIO_RECOVERY_SID_LEN + 1];
    char mac[SIO_RECOVERY_MAC_LEN + 1];
    char uhash[SIO_RECOVERY_UHASH_LEN + 1]; /* "" when the socket was not authenticated */
    sio_position_t at;                      /* the node and its clock when the socket started */
} sio_pid_t;

/* Parsers of what clients send back: 0, or -1 for anything malformed (out is then
 * unspecified). */
int sio_position_parse(const char *s, size_t len, sio_position_t *out);
int sio_pid_parse(const char *s, size_t len, sio_pid_t *out);
/* 1 when s[0..len) is a valid source name or cursor. */
int sio_recovery_name_valid(const char *s, size_t len);
/* Orders two cursors of one source: decimal digit strings as numbers, else bytewise.
 * Negative, 0 or positive. */
int sio_cursor_cmp(const char *a, const char *b);

sio_recovery_t *sio_recovery_new(const sio_recovery_options_t *o);
void sio_recovery_free(sio_recovery_t *r);
const sio_recovery_stats_t *sio_recovery_stats(const sio_recovery_t *r);
sio_recovery_stats_t *sio_recovery_stats_mut(sio_recovery_t *r);
const sio_recovery_options_t *sio_recovery_options(const sio_recovery_t *r);

/* ---- events and sources ---- */

/* Marks an event recoverable (the default) or not: a packet of an event that is not carries
 * no offset and is not kept (typing indicators and the like). */
void sio_recovery_set_recoverable(sio_recovery_t *r, const char *event, int recoverable);
int sio_recovery_is_recoverable(const sio_recovery_t *r, const char *event);
/* Adds a store-backed source: the packets of event carry the value of cursor_key in their
 * first argument as the source's cursor. Returns its index, or -1 when the name is invalid,
 * taken, or SIO_RECOVERY_MAX_SOURCES exist. */
int sio_recovery_add_source(sio_recovery_t *r, const char *event, const char *cursor_key);
/* The source of event (its index, *cursor_key set), or -1. */
int sio_recovery_source_of(const sio_recovery_t *r, const char *event, const char **cursor_key);
size_t sio_recovery_source_count(const sio_recovery_t *r);
const char *sio_recovery_source_name(const sio_recovery_t *r, int source);
/* Records a cursor of the source seen on this node: offsets carry the greatest. */
void sio_recovery_note_cursor(sio_recovery_t *r, int source, const char *cursor);

/* ---- the clock, offsets and pids ---- */

/* The next packet's sequence number. */
uint64_t sio_recovery_next_seq(sio_recovery_t *r, uint64_t now_ms);
/* The clock now, without using a number: packets numbered later are greater. */
uint64_t sio_recovery_now_seq(sio_recovery_t *r, uint64_t now_ms);
/* Appends the offset of seq: this node, seq, and the greatest cursor of each source (for
 * source, the greater of that and cursor, which may be NULL). */
void sio_recovery_offset(const sio_recovery_t *r, buf_t *out, uint64_t seq, int source,
                         const char *cursor);
/* Appends the pid of a socket: sid, mac, the hash of user_id (NULL: none), the offset of
 * start. */
void sio_recovery_pid(const sio_recovery_t *r, buf_t *out, const char *sid, const char *user_id,
                      uint64_t start);
/* 1 when the pid was made by this node incarnation for its sid. */
int sio_recovery_pid_ours(const sio_recovery_t *r, const sio_pid_t *pid);
/* Writes the uhash of user_id (SIO_RECOVERY_UHASH_LEN + 1 bytes). */
void sio_recovery_user_hash(const char *user_id, char *out);

/* ---- packets ---- */

enum { SIO_KEEP_ALL = 1, SIO_KEEP_AUTHENTICATED, SIO_KEEP_ROOMS };

/* Who a packet went to: every socket of nsp (authenticated ones only), or those in any of
 * rooms, none of them in except. Room names are byte strings. */
typedef struct sio_keep_target {
    const void *nsp;
    int kind; /* SIO_KEEP_* */
    const char *const *rooms;
    const size_t *room_lens;
    size_t nrooms;
    const char *const *except;
    const size_t *except_lens;
    size_t nexcept;
} sio_keep_target_t;

/* Whether a packet to t with no recipient on this node must be kept all the same: a session
 * kept here may want it. */
int sio_recovery_wants(const sio_recovery_t *r, const sio_keep_target_t *t);
/* Whether a session kept here is in room (any namespace). */
int sio_recovery_wants_room(const sio_recovery_t *r, const char *room, size_t len);
/* Keeps the packet numbered seq (its references taken) for max_disconnection_ms, dropping the
 * oldest packets and sessions past max_bytes. A packet alone over max_session_bytes is not
 * kept (counted as evicted). */
void sio_recovery_keep(sio_recovery_t *r, uint64_t seq, uint64_t now_ms, const sio_keep_target_t *t,
                       rbuf_t *packet, rbuf_t *const *attachments, size_t nattachments);

/* ---- sessions ---- */

typedef struct sio_room_name {
    const char *name;
    size_t len;
} sio_room_name_t;

typedef struct sio_session_in {
    const void *nsp;
    const char *sid;
    const char *user_id; /* NULL: not authenticated */
    uint64_t start;      /* the clock when the socket started */
    uint64_t last_sent;  /* the last packet sent to it, 0 for none */
    const sio_room_name_t *rooms;
    size_t nrooms;
} sio_session_in_t;

/* Keeps a closed socket's session: 0, or -1 when its record is over max_session_bytes
 * (counted). A session kept under the same sid before is replaced. */
int sio_recovery_persist(sio_recovery_t *r, const sio_session_in_t *in, uint64_t now_ms);

/* One packet to replay, with its references. */
typedef struct sio_replay_packet {
    rbuf_t *packet;
    rbuf_t **attachments;
    size_t nattachments;
} sio_replay_packet_t;

typedef struct sio_restored {
    char sid[SIO_RECOVERY_SID_LEN + 1];
    uint64_t start, last_sent;
    sio_room_name_t *rooms; /* one block with the names */
    size_t nrooms;
    sio_replay_packet_t *packets; /* in order */
    size_t npackets;
} sio_restored_t;

/* Restores the session a CONNECT's pid names in nsp, for a socket whose credentials now name
 * user_id (NULL: none); offset may be NULL. On SIO_RESTORE_OK the session is removed and out
 * holds its id, rooms and the packets to replay (free it with sio_restored_free); otherwise
 * out is empty and the session, if any, stays until it expires. Counted by outcome. */
int sio_recovery_restore(sio_recovery_t *r, const void *nsp, const char *pid, size_t pid_len,
                         const char *offset, size_t offset_len, const char *user_id,
                         uint64_t now_ms, sio_restored_t *out);
void sio_restored_free(sio_restored_t *out);

/* What a fresh session may ask a source's store for: the events of its user after `after`
 * (a cursor; "" for none), or, without one, created since since_ms. */
typedef struct sio_store_hint {
    char after[SIO_RECOVERY_NAME_MAX + 1];
    int64_t since_ms;
} sio_store_hint_t;

/* Fills hints[source] for every source from a CONNECT's pid and offset (NULL allowed), when
 * the pid names user_id (not NULL). Returns 1 when hints were filled, else 0. */
int sio_recovery_store_hints(const sio_recovery_t *r, const char *pid, size_t pid_len,
                             const char *offset, size_t offset_len, const char *user_id,
                             sio_store_hint_t hints[SIO_RECOVERY_MAX_SOURCES]);

/* Drops what is older than max_disconnection_ms. Returns 1 while anything is kept. */
int sio_recovery_sweep(sio_recovery_t *r, uint64_t now_ms);

#endif
