/* sio_resume.c - connection state recovery in the Socket.IO layer (README, "Connection state
 * recovery"; sio_recovery.c keeps the books): sessions kept as their transport goes, restored on
 * a CONNECT with their pid after the new credentials are verified, a live socket taken over by
 * its client's new connection, replays from plugins' stores for fresh sessions with the
 * socket's deliveries held meanwhile, and the sweep that ages everything out. Nothing here runs
 * while the server keeps no books (srv->recovery NULL) but freeing and releasing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "sio/sio_internal.h"

/* ---- the Socket.IO layer's recovery API (sio_server.h) ---- */

int sio_nsp_room_needed(const sio_nsp_t *nsp, const char *room)
{
    size_t len = strlen(room);
    return rooms_room_size(&nsp->rooms, room, len) > 0 ||
           (nsp->srv->recovery && sio_recovery_wants_room(nsp->srv->recovery, room, len));
}

const sio_recovery_stats_t *sio_server_recovery_stats(const sio_server_t *srv)
{
    return srv->recovery ? sio_recovery_stats(srv->recovery) : NULL;
}

int sio_server_set_recoverable(sio_server_t *srv, const char *event, int recoverable)
{
    if (!srv->recovery) return SIO_EMIT_ENOENT;
    sio_recovery_set_recoverable(srv->recovery, event, recoverable);
    return 0;
}

int sio_server_add_recovery_source(sio_server_t *srv, const char *event, const char *cursor_key,
                                   const char *initial, sio_replay_fn fn, void *user)
{
    if (!srv->recovery) return SIO_EMIT_ENOENT;
    if (!fn || !cursor_key || !sio_recovery_name_valid(cursor_key, strlen(cursor_key)) ||
        (initial && !sio_recovery_name_valid(initial, strlen(initial))))
        return SIO_EMIT_EINVAL;
    int i = sio_recovery_add_source(srv->recovery, event, cursor_key);
    if (i < 0) return SIO_EMIT_EINVAL;
    if (initial) sio_recovery_note_cursor(srv->recovery, i, initial);
    srv->sources[i].fn = fn;
    srv->sources[i].user = user;
    return 0;
}

/* ---- keeping: a socket whose transport went ---- */

/* The reasons socket.io keeps a session for (RECOVERABLE_DISCONNECT_REASONS): the transport
 * went, not the client or the server's code. */
static int recoverable_reason(const char *reason)
{
    static const char *const kept[] = {"transport error",      "transport close",
                                       "forced close",         "ping timeout",
                                       "server shutting down", "forced server close"};
    for (size_t i = 0; reason && i < sizeof(kept) / sizeof(kept[0]); i++)
        if (strcmp(reason, kept[i]) == 0) return 1;
    return 0;
}

typedef struct room_list {
    sio_room_name_t *items;
    size_t len, cap;
} room_list_t;

static void room_list_add(void *user, const char *room, size_t len)
{
    room_list_t *l = user;
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->len++] = (sio_room_name_t){room, len};
}

void sio_resume_persist(sio_socket_t *s, const char *reason)
{
    sio_server_t *srv = s->client->srv;
    if (!srv->recovery || !recoverable_reason(reason)) return;
    room_list_t rooms = {0};
    rooms_member_foreach(&s->nsp->rooms, &s->member, room_list_add, &rooms);
    sio_session_in_t in = {.nsp = s->nsp,
                           .sid = s->id,
                           .user_id = s->identity ? s->identity->user_id : NULL,
                           .start = s->start,
                           .last_sent = s->last_sent,
                           .rooms = rooms.items,
                           .nrooms = rooms.len};
    if (sio_recovery_persist(srv->recovery, &in, sio_wall_ms()) == 0)
        log_debug("sio", "socket %s kept for recovery (%s)", s->id, reason);
    free(rooms.items);
    sio_resume_sweep_arm(srv);
}

/* ---- restoring: a CONNECT with a pid ---- */

/* The session a CONNECT's pid names, restored for the identity the request has now (a
 * different user, or none where there was one, restores nothing). 1 when restored. */
int sio_resume_restore(sio_server_t *srv, sio_nsp_t *nsp, const json_t *pid, const json_t *offset,
                       const sio_identity_t *identity, sio_restored_t *out)
{
    sio_pid_t parsed;
    if (sio_pid_parse(json_string_value(pid), json_string_length(pid), &parsed) == 0 &&
        objmap_get(&srv->sockets, parsed.sid, SIO_SOCKET_ID_LEN)) {
        /* Its id is still held by a socket not finalized yet: not restored. */
        sio_recovery_stats_mut(srv->recovery)->unknown++;
        return 0;
    }
    return sio_recovery_restore(
               srv->recovery, nsp, json_string_value(pid), json_string_length(pid),
               offset ? json_string_value(offset) : NULL, offset ? json_string_length(offset) : 0,
               identity ? identity->user_id : NULL, sio_wall_ms(), out) == SIO_RESTORE_OK;
}

/* A client comes back while the server still holds its old socket: its network changed, say,
 * and the old connection is silent, not closed, until the ping timeout. If the pid is this
 * node's for that socket (a live one of another client, in this namespace) and the new
 * credentials name its user, the old connection is closed as a transport that went (its
 * session kept) and the CONNECT waits until the old socket is finalized (at the end of this
 * dispatch: on_eio_message). 1 when it waits. */
int sio_resume_takeover(sio_server_t *srv, sio_client_t *c, sio_nsp_t *nsp, const json_t *pid,
                        const json_t *auth, sio_identity_t *identity)
{
    sio_pid_t parsed;
    if (sio_pid_parse(json_string_value(pid), json_string_length(pid), &parsed) != 0) return 0;
    sio_socket_t *old = objmap_get(&srv->sockets, parsed.sid, SIO_SOCKET_ID_LEN);
    if (!old || !old->connected || old->client == c || old->nsp != nsp || srv->deferred.client ||
        !sio_recovery_pid_ours(srv->recovery, &parsed))
        return 0;
    const char *was = old->identity ? old->identity->user_id : NULL;
    const char *is = identity ? identity->user_id : NULL;
    if (was != is && (!was || !is || strcmp(was, is) != 0)) return 0;
    log_debug("sio", "socket %s is back on another connection: the old one is closed", old->id);
    sio_client_close(old->client, "transport close");
    srv->deferred.client = c;
    srv->deferred.nsp = nsp;
    srv->deferred.auth = json_incref((json_t *)auth);
    return 1;
}

/* Runs the CONNECT sio_resume_takeover() put off, once the old socket is gone, if its client
 * is still the session's (e's) and alive. */
void sio_resume_deferred(sio_server_t *srv, eio_socket_t *e)
{
    sio_client_t *c = srv->deferred.client;
    json_t *auth = srv->deferred.auth;
    sio_nsp_t *nsp = srv->deferred.nsp;
    memset(&srv->deferred, 0, sizeof(srv->deferred));
    if (eio_socket_user(e) == c && !c->dead) {
        srv->depth++;
        sio_socket_connect(c, nsp, auth);
        srv->depth--;
        sio_reap(srv);
    }
    json_decref(auth);
}

/* The restored session's rooms but its own (virtual) and the user rooms, which the new
 * credentials decide. */
void sio_resume_rejoin(sio_socket_t *s, const sio_restored_t *r)
{
    size_t prefix = strlen(SIO_USER_ROOM_PREFIX);
    for (size_t i = 0; i < r->nrooms; i++) {
        const sio_room_name_t *room = &r->rooms[i];
        if (room->len == SIO_SOCKET_ID_LEN && memcmp(room->name, s->id, SIO_SOCKET_ID_LEN) == 0)
            continue;
        if (room->len >= prefix && memcmp(room->name, SIO_USER_ROOM_PREFIX, prefix) == 0) continue;
        rooms_join(&s->nsp->rooms, &s->member, room->name, room->len);
    }
}

/* The packets a restored socket missed, in order, each the same shared buffers every
 * recipient got. */
void sio_resume_replay_missed(sio_socket_t *s, const sio_restored_t *r)
{
    eio_socket_t *e = s->client->eio;
    for (size_t i = 0; i < r->npackets && s->connected && e; i++) {
        eio_socket_send_shared(e, r->packets[i].packet);
        for (size_t j = 0; j < r->packets[i].nattachments; j++)
            eio_socket_send_shared_binary(e, r->packets[i].attachments[j]);
        s->client->srv->stats.deliveries++;
    }
}

/* ---- replays from stores: a fresh socket's missed events of a store-backed source ---- */

/* A packet waiting with its references: a replayed event, or a live one held back. */
typedef struct waiting {
    outgoing_t out;
    uint64_t seq;
    int source;
    char cursor[SIO_RECOVERY_NAME_MAX + 1];
} waiting_t;

typedef struct waiting_list {
    waiting_t *items;
    size_t len, cap;
} waiting_list_t;

/* One socket's replays (one request per source), and what waits until they end. */
struct replay {
    replay_t *next;
    uint64_t id;
    sio_socket_t *s;
    unsigned pending; /* sources not answered yet (a bit each), and the start's own hold */
    int failed;
    uint64_t deadline; /* loop time */
    size_t bytes;
    waiting_list_t events; /* replayed, in order */
    waiting_list_t held;   /* live, in order */
};

#define REPLAY_SOURCE_BITS 3 /* a request id is the replay's id and the source's index */
_Static_assert(SIO_RECOVERY_MAX_SOURCES <= (1 << REPLAY_SOURCE_BITS), "request ids");

static waiting_t *waiting_add(waiting_list_t *l, const outgoing_t *o, uint64_t seq, int source,
                              const char *cursor)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
    }
    waiting_t *w = &l->items[l->len++];
    w->out.packet = rbuf_ref(o->packet);
    w->out.nattachments = o->nattachments;
    w->out.attachments = NULL;
    if (o->nattachments) {
        w->out.attachments = xmalloc(o->nattachments * sizeof(rbuf_t *));
        for (size_t i = 0; i < o->nattachments; i++)
            w->out.attachments[i] = rbuf_ref(o->attachments[i]);
    }
    w->seq = seq;
    w->source = source;
    snprintf(w->cursor, sizeof(w->cursor), "%s", cursor ? cursor : "");
    return w;
}

static void waiting_free(waiting_list_t *l)
{
    for (size_t i = 0; i < l->len; i++)
        sio_outgoing_free(&l->items[i].out);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

static size_t outgoing_bytes(const outgoing_t *o)
{
    size_t n = o->packet->len;
    for (size_t i = 0; i < o->nattachments; i++)
        n += o->attachments[i]->len;
    return n;
}

static replay_t *replay_of_socket(sio_server_t *srv, const sio_socket_t *s)
{
    for (replay_t *r = srv->replays; r; r = r->next)
        if (r->s == s) return r;
    return NULL;
}

static replay_t *replay_of_id(sio_server_t *srv, uint64_t id)
{
    for (replay_t *r = srv->replays; r; r = r->next)
        if (r->id == id >> REPLAY_SOURCE_BITS) return r;
    return NULL;
}

static int replayed_cursor(const replay_t *r, int source, const char *cursor)
{
    for (size_t i = 0; i < r->events.len; i++)
        if (r->events.items[i].source == source && strcmp(r->events.items[i].cursor, cursor) == 0)
            return 1;
    return 0;
}

/* Ends a replay: its events (unless it failed), then what was held, but a held event the
 * replay already gave, are sent in order; the socket's deliveries go on. */
static void replay_finish(sio_server_t *srv, replay_t *r)
{
    for (replay_t **p = &srv->replays; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    /* Sends may drop a slow consumer: callers at depth 0 hold teardown off around this. */
    sio_socket_t *s = r->s;
    s->replaying = 0;
    sio_recovery_stats_t *st = sio_recovery_stats_mut(srv->recovery);
    if (r->failed)
        st->store_replays_failed++;
    else
        st->store_replays_ok++;
    for (size_t i = 0; !r->failed && i < r->events.len && s->connected; i++) {
        waiting_t *w = &r->events.items[i];
        sio_outgoing_send(&w->out, s->client->eio);
        if (w->cursor[0]) sio_recovery_note_cursor(srv->recovery, w->source, w->cursor);
        st->store_events++;
        srv->stats.deliveries++;
    }
    for (size_t i = 0; i < r->held.len && s->connected; i++) {
        waiting_t *w = &r->held.items[i];
        if (!r->failed && w->cursor[0] && replayed_cursor(r, w->source, w->cursor)) continue;
        sio_outgoing_send(&w->out, s->client->eio);
        if (w->seq && s->connected) s->last_sent = w->seq;
    }
    waiting_free(&r->events);
    waiting_free(&r->held);
    free(r);
}

/* At free: stores that never answered; nothing more is sent. */
void sio_resume_drop_all(sio_server_t *srv)
{
    while (srv->replays) {
        replay_t *r = srv->replays;
        srv->replays = r->next;
        r->s->replaying = 0;
        waiting_free(&r->events);
        waiting_free(&r->held);
        free(r);
    }
}

void sio_resume_cancel(sio_server_t *srv, sio_socket_t *s)
{
    replay_t *r = replay_of_socket(srv, s);
    if (!r) return;
    r->failed = 1;
    replay_finish(srv, r);
}

/* A live packet for a socket whose replay runs: held (1), or, past max_session_bytes, the
 * replay is given up and the caller sends it (0). */
int sio_resume_hold(sio_server_t *srv, sio_socket_t *s, const outgoing_t *o, uint64_t seq,
                    int source, const char *cursor)
{
    replay_t *r = replay_of_socket(srv, s);
    if (!r) {
        s->replaying = 0;
        return 0;
    }
    r->bytes += outgoing_bytes(o);
    if (r->bytes > sio_recovery_options(srv->recovery)->max_session_bytes) {
        r->failed = 1;
        replay_finish(srv, r);
        return 0;
    }
    waiting_add(&r->held, o, seq, source, cursor);
    return 1;
}

static void replay_end_source(sio_server_t *srv, replay_t *r, unsigned bit)
{
    r->pending &= ~bit;
    if (!r->pending) replay_finish(srv, r);
}

void sio_resume_start_store(sio_server_t *srv, sio_socket_t *s, const json_t *pid,
                            const json_t *offset)
{
    sio_store_hint_t hints[SIO_RECOVERY_MAX_SOURCES];
    if (!sio_recovery_store_hints(srv->recovery, json_string_value(pid), json_string_length(pid),
                                  offset ? json_string_value(offset) : NULL,
                                  offset ? json_string_length(offset) : 0, s->identity->user_id,
                                  hints))
        return;
    replay_t *r = xcalloc(1, sizeof(*r));
    r->id = ++srv->next_replay;
    r->s = s;
    r->deadline = uv_now(srv->loop) + SIO_REPLAY_TIMEOUT_MS;
    size_t n = sio_recovery_source_count(srv->recovery);
    /* The top bit holds the replay while the sources are asked: one may answer at once. */
    unsigned self = 1u << (1 << REPLAY_SOURCE_BITS);
    r->pending = self;
    for (size_t i = 0; i < n; i++)
        if (srv->sources[i].fn) r->pending |= 1u << i;
    r->next = srv->replays;
    srv->replays = r;
    s->replaying = 1;
    sio_recovery_stats_mut(srv->recovery)->store_replays++;
    sio_resume_sweep_arm(srv);
    int64_t now = (int64_t)sio_wall_ms();
    int64_t window = (int64_t)sio_recovery_options(srv->recovery)->max_disconnection_ms;
    uint64_t id = r->id;
    for (size_t i = 0; i < n; i++) {
        if (!srv->sources[i].fn) continue;
        sio_replay_request_t req = {.id = id << REPLAY_SOURCE_BITS | i,
                                    .event = sio_recovery_source_name(srv->recovery, (int)i),
                                    .after = hints[i].after[0] ? hints[i].after : NULL,
                                    .since_ms = hints[i].since_ms,
                                    .not_before_ms = now - window,
                                    .max_events = SIO_REPLAY_MAX_EVENTS};
        srv->sources[i].fn(srv->sources[i].user, s, &req);
        if (!replay_of_id(srv, req.id)) return; /* the socket went meanwhile */
    }
    replay_end_source(srv, r, self);
}

int sio_replay_emit(sio_server_t *srv, uint64_t id, const sio_args_t *args)
{
    replay_t *r = srv->recovery ? replay_of_id(srv, id) : NULL;
    unsigned source = (unsigned)(id & ((1u << REPLAY_SOURCE_BITS) - 1));
    if (!r || !(r->pending & (1u << source))) return SIO_EMIT_ENOENT;
    if (source >= sio_recovery_source_count(srv->recovery)) return SIO_EMIT_EINVAL;
    if (r->failed) return SIO_EMIT_ENOENT;
    const char *key = NULL;
    const char *event = sio_recovery_source_name(srv->recovery, (int)source);
    sio_recovery_source_of(srv->recovery, event, &key);
    char cursor[SIO_RECOVERY_NAME_MAX + 1];
    int has_cursor = sio_args_cursor(args, key, cursor);
    /* Numbered as of the socket's start: a later recovery here looks at what came after. */
    buf_t offset = BUF_INIT;
    sio_recovery_offset(srv->recovery, &offset, r->s->start, (int)source,
                        has_cursor ? cursor : NULL);
    outgoing_t o;
    sio_outgoing_encode(&o, SIO_EVENT, SIO_BINARY_EVENT, r->s->nsp->name, -1, event, args,
                        offset.data);
    buf_free(&offset);
    srv->stats.serializations++;
    r->bytes += outgoing_bytes(&o);
    if (r->bytes > sio_recovery_options(srv->recovery)->max_session_bytes ||
        r->events.len >= SIO_REPLAY_MAX_EVENTS) {
        r->failed = 1; /* all or nothing: the client is told nothing was recovered */
        sio_outgoing_free(&o);
        return SIO_EMIT_ENOENT;
    }
    waiting_add(&r->events, &o, 0, (int)source, has_cursor ? cursor : NULL);
    sio_outgoing_free(&o);
    return 0;
}

const char *sio_replay_event(sio_server_t *srv, uint64_t id)
{
    replay_t *r = srv->recovery ? replay_of_id(srv, id) : NULL;
    unsigned source = (unsigned)(id & ((1u << REPLAY_SOURCE_BITS) - 1));
    if (!r || !(r->pending & (1u << source)) || source >= sio_recovery_source_count(srv->recovery))
        return NULL;
    return sio_recovery_source_name(srv->recovery, (int)source);
}

int sio_replay_end(sio_server_t *srv, uint64_t id, int status)
{
    replay_t *r = srv->recovery ? replay_of_id(srv, id) : NULL;
    unsigned bit = 1u << (id & ((1u << REPLAY_SOURCE_BITS) - 1));
    if (!r || !(r->pending & bit)) return SIO_EMIT_ENOENT;
    if (status) r->failed = 1;
    GUARD_BEGIN(srv);
    replay_end_source(srv, r, bit);
    GUARD_END(srv);
    return 0;
}

/* ---- the sweep: what expired goes, replays past their time end ---- */

static void on_sweep(uv_timer_t *t)
{
    sio_server_t *srv = t->data;
    int kept = sio_recovery_sweep(srv->recovery, sio_wall_ms());
    uint64_t now = uv_now(srv->loop);
    GUARD_BEGIN(srv);
    for (replay_t *r = srv->replays, *next; r; r = next) {
        next = r->next;
        if (r->deadline > now) continue;
        log_debug("sio", "socket %s: a store's replay did not end in time", r->s->id);
        r->failed = 1;
        replay_finish(srv, r);
        next = srv->replays; /* finishing may have changed the list */
    }
    GUARD_END(srv);
    if (!kept && !srv->replays) uv_timer_stop(t);
}

void sio_resume_sweep_arm(sio_server_t *srv)
{
    if (srv->released) return;
    if (!srv->sweep) {
        srv->sweep = xcalloc(1, sizeof(*srv->sweep));
        uv_timer_init(srv->loop, srv->sweep);
        srv->sweep->data = srv;
    }
    if (!uv_is_active((uv_handle_t *)srv->sweep)) uv_timer_start(srv->sweep, on_sweep, 1000, 1000);
}

static void on_sweep_closed(uv_handle_t *h)
{
    free(h);
}

void sio_resume_release(sio_server_t *srv)
{
    srv->released = 1;
    if (srv->sweep) uv_close((uv_handle_t *)srv->sweep, on_sweep_closed);
    srv->sweep = NULL;
}
