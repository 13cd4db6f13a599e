/* sio_server.c - Socket.IO v5 clients, namespaces, sockets, acks, auth and
 * the emitter, mirroring the reference server's client.ts / socket.ts. What connection
 * state recovery adds to a socket's life is in sio_resume.c (sio_internal.h).
 *
 * Teardown is deferred: a socket that disconnects is marked dead at once
 * (no more deliveries, no lookups) and finalized -- hooks run, rooms left,
 * memory freed -- only when no dispatch or broadcast walk is on the stack.
 * So handlers may disconnect anyone, and a slow consumer dropped in the
 * middle of a broadcast never changes the room being walked. */
#include "sio/sio_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/json_out.h"
#include "base/keycount.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/random.h"
#include "base/objmap.h"
#include "base/strmap.h"
#include "base/json_in.h"
#include "http/url.h"
#include "sio/rooms.h"
#include "sio/sio_internal.h"

static void client_rearm(sio_client_t *c);
static void record_drop(sio_server_t *srv, char *record);

/* ------------------------------------------------------------------ helpers */

uint64_t sio_wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void handler_append(handler_t **list, void (*fn)(void), void *user)
{
    handler_t *h = xcalloc(1, sizeof(*h));
    h->fn = fn;
    h->user = user;
    while (*list)
        list = &(*list)->next;
    *list = h;
}

static void handlers_free(handler_t *h)
{
    while (h) {
        handler_t *next = h->next;
        free(h);
        h = next;
    }
}

static sio_identity_t *identity_from_principal(jwt_principal_t *p, uv_loop_t *loop)
{
    size_t n = strlen(p->user_id);
    char *claims = p->claims ? json_dumps(p->claims, JSON_COMPACT) : NULL;
    size_t c = claims ? strlen(claims) + 1 : 0;
    sio_identity_t *id = xmalloc(sizeof(*id) + n + 1 + c);
    id->refs = 1;
    id->exp = p->exp;
    id->expires_at = 0;
    if (p->exp > 0) {
        /* Clamped so a far-future exp cannot overflow into the past. */
        uint64_t exp_s = (uint64_t)p->exp;
        uint64_t exp_ms = exp_s > UINT64_MAX / 2000 ? UINT64_MAX / 2 : exp_s * 1000;
        uint64_t now_wall = sio_wall_ms();
        /* The loop's time is cached when its turn began, which a busy turn leaves far
         * behind the wall clock just read: the deadline would come that much before exp. */
        uv_update_time(loop);
        uint64_t now = uv_now(loop);
        id->expires_at = exp_ms > now_wall ? now + (exp_ms - now_wall) : now;
    }
    memcpy(id->user_id, p->user_id, n + 1);
    id->claims_json = NULL;
    if (claims) {
        memcpy(id->user_id + n + 1, claims, c);
        id->claims_json = id->user_id + n + 1;
    }
    free(claims);
    jwt_principal_free(p);
    return id;
}

static sio_identity_t *identity_ref(sio_identity_t *id)
{
    if (id) id->refs++;
    return id;
}

static void identity_unref(sio_identity_t *id)
{
    if (!id || --id->refs) return;
    free(id);
}

/* "4" (Engine.IO message) + the Socket.IO packet, as one shared buffer. */
static rbuf_t *packet_new(sio_type_t type, const char *nsp, int64_t id, size_t attachments,
                          const char *json, size_t len)
{
    buf_t b = BUF_INIT;
    buf_reserve(&b, len + 32);
    buf_append_byte(&b, '4');
    sio_encode(&b, type, nsp, id, attachments, json, len);
    return rbuf_from_buf(&b);
}

/* ["event",payload] (and the recovery offset last, when there is one) */
static void event_json(buf_t *out, const char *event, const char *payload, size_t len,
                       const char *offset)
{
    buf_append_byte(out, '[');
    json_out_append_string(out, event, strlen(event));
    if (payload && len) {
        buf_append_byte(out, ',');
        buf_append(out, payload, len);
    }
    if (offset) {
        buf_append_byte(out, ',');
        json_out_append_string(out, offset, strlen(offset));
    }
    buf_append_byte(out, ']');
}

static void client_send(sio_client_t *c, rbuf_t *packet)
{
    if (c->eio && !c->dead) eio_socket_send_shared(c->eio, packet);
}

static void socket_send_text(sio_socket_t *s, sio_type_t type, int64_t id, const char *json,
                             size_t len)
{
    rbuf_t *p = packet_new(type, s->nsp->name, id, 0, json, len);
    client_send(s->client, p);
    rbuf_unref(p);
}

/* Encodes [event, ...args] (or, with event NULL, the ack's args array) for nsp, with the
 * recovery offset as the last argument when it is not NULL (as socket.io appends it to the
 * packet's data). Placeholders that name no attachment are sent as plain data. */
void sio_outgoing_encode(outgoing_t *o, sio_type_t text_type, sio_type_t bin_type, const char *nsp,
                         int64_t id, const char *event, const sio_args_t *args, const char *offset)
{
    memset(o, 0, sizeof(*o));
    buf_t json = BUF_INIT;
    size_t *order = NULL, norder = 0;
    if (!args || !args->array) {
        event_json(&json, event, args ? args->value : NULL, args ? args->len : 0, offset);
    } else {
        json_t *array = (json_t *)args->array;
        if (event) {
            array = json_array();
            json_array_append_new(array, json_string(event));
            json_array_extend(array, (json_t *)args->array);
            if (offset) json_array_append_new(array, json_string(offset));
        } else {
            json_incref(array);
        }
        if (sio_binary_serialize(&json, array, args->nbin, &order, &norder) != 0) {
            buf_reset(&json);
            json_out_append(&json, array);
            norder = 0;
        }
        json_decref(array);
    }
    o->packet = packet_new(norder ? bin_type : text_type, nsp, id, norder, json.data, json.len);
    buf_free(&json);
    if (norder) {
        o->attachments = xmalloc(norder * sizeof(*o->attachments));
        for (size_t i = 0; i < norder; i++)
            o->attachments[i] = rbuf_new(args->bin[order[i]].data, args->bin[order[i]].len);
        o->nattachments = norder;
    }
    free(order);
}

void sio_outgoing_send(const outgoing_t *o, eio_socket_t *e)
{
    eio_socket_send_shared(e, o->packet);
    for (size_t i = 0; i < o->nattachments; i++)
        eio_socket_send_shared_binary(e, o->attachments[i]);
}

void sio_outgoing_free(outgoing_t *o)
{
    rbuf_unref(o->packet);
    for (size_t i = 0; i < o->nattachments; i++)
        rbuf_unref(o->attachments[i]);
    free(o->attachments);
}

/* One packet to one socket (acks, emits with an ack). */
static void socket_send(sio_socket_t *s, sio_type_t text_type, sio_type_t bin_type, int64_t id,
                        const char *event, const sio_args_t *args)
{
    if (!s->client->eio || s->client->dead) return;
    outgoing_t o;
    sio_outgoing_encode(&o, text_type, bin_type, s->nsp->name, id, event, args, NULL);
    sio_outgoing_send(&o, s->client->eio);
    sio_outgoing_free(&o);
}

void sio_user_room(buf_t *out, const char *user_id)
{
    buf_append_str(out, SIO_USER_ROOM_PREFIX);
    buf_append_str(out, user_id);
}

/* ------------------------------------------------------------------ server */

sio_nsp_t *sio_server_find_nsp(const sio_server_t *srv, const char *name)
{
    for (sio_nsp_t *n = srv->nsps; n; n = n->next)
        if (strcmp(n->name, name) == 0) return n;
    return NULL;
}

static const char *socket_key(const void *obj, size_t *len)
{
    *len = SIO_SOCKET_ID_LEN;
    return ((const sio_socket_t *)obj)->id;
}

/* Personal rooms: a socket's own-id room is virtual (rooms.h), found through the server's
 * socket map, so an idle socket pays for no room of its own. */
static rooms_member_t *personal_find(void *user, const char *name, size_t len)
{
    sio_nsp_t *nsp = user;
    if (len != SIO_SOCKET_ID_LEN) return NULL;
    sio_socket_t *s = objmap_get(&nsp->srv->sockets, name, len);
    return s && s->nsp == nsp && s->member.all.next ? &s->member : NULL;
}

static const char *personal_name_of(void *user, const void *owner, size_t *len)
{
    (void)user;
    *len = SIO_SOCKET_ID_LEN;
    return ((const sio_socket_t *)owner)->id;
}

sio_nsp_t *sio_server_nsp(sio_server_t *srv, const char *name)
{
    sio_nsp_t *n = sio_server_find_nsp(srv, name);
    if (n) return n;
    n = xcalloc(1, sizeof(*n));
    n->srv = srv;
    n->name = xstrdup(name);
    rooms_init(&n->rooms);
    rooms_set_personal(
        &n->rooms,
        &(rooms_personal_t){.find = personal_find, .name_of = personal_name_of, .user = n});
    strmap_init(&n->events);
    strmap_init(&n->server_events);
    sio_nsp_t **tail = &srv->nsps;
    while (*tail)
        tail = &(*tail)->next;
    *tail = n;
    if (srv->adapter.nsp_added) srv->adapter.nsp_added(srv->adapter.ctx, n->name);
    return n;
}

const char *sio_nsp_name(const sio_nsp_t *nsp)
{
    return nsp->name;
}

size_t sio_nsp_socket_count(const sio_nsp_t *nsp)
{
    return nsp->nsockets;
}

size_t sio_nsp_room_count(const sio_nsp_t *nsp)
{
    return rooms_room_count(&nsp->rooms);
}

size_t sio_nsp_room_size(const sio_nsp_t *nsp, const char *room)
{
    return rooms_room_size(&nsp->rooms, room, strlen(room));
}

typedef struct room_walk {
    void (*fn)(void *user, const char *room, size_t len);
    void *user;
} room_walk_t;

static void room_walk_one(void *user, const char *room, size_t len, size_t size)
{
    (void)size;
    room_walk_t *w = user;
    w->fn(w->user, room, len);
}

void sio_nsp_each_room(const sio_nsp_t *nsp, void (*fn)(void *user, const char *room, size_t len),
                       void *user)
{
    room_walk_t w = {fn, user};
    rooms_foreach(&nsp->rooms, room_walk_one, &w);
}

typedef struct socket_list {
    sio_socket_t **items;
    size_t len, cap;
} socket_list_t;

static void socket_list_add(void *user, void *owner)
{
    socket_list_t *l = user;
    sio_socket_t *s = owner;
    if (!s->connected) return;
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->len++] = s;
}

size_t sio_nsp_each_socket(sio_nsp_t *nsp, const char *const *rooms, size_t nrooms,
                           const char *const *except, size_t nexcept,
                           void (*fn)(void *user, sio_socket_t *s), void *user)
{
    sio_server_t *srv = nsp->srv;
    size_t small_lens[8];
    size_t n = nrooms + nexcept;
    size_t *lens = n <= 8 ? small_lens : xmalloc(n * sizeof(size_t));
    for (size_t i = 0; i < nrooms; i++)
        lens[i] = strlen(rooms[i]);
    for (size_t i = 0; i < nexcept; i++)
        lens[nrooms + i] = strlen(except[i]);
    socket_list_t list = {0};
    rooms_select(&nsp->rooms, rooms, lens, nrooms, except, lens + nrooms, nexcept, socket_list_add,
                 &list);
    if (lens != small_lens) free(lens);
    /* Held off teardown: a socket fn disconnects stays readable until the walk ends. */
    GUARD_BEGIN(srv);
    for (size_t i = 0; i < list.len; i++)
        if (list.items[i]->connected) fn(user, list.items[i]);
    GUARD_END(srv);
    free(list.items);
    return list.len;
}

void sio_nsp_on_connect(sio_nsp_t *nsp, sio_connect_fn fn, void *user)
{
    handler_append(&nsp->on_connect, (void (*)(void))fn, user);
}

void sio_nsp_on_disconnect(sio_nsp_t *nsp, sio_disconnect_fn fn, void *user)
{
    handler_append(&nsp->on_disconnect, (void (*)(void))fn, user);
}

void sio_nsp_on_event(sio_nsp_t *nsp, const char *event, sio_event_fn fn, void *user)
{
    event_entry_t *e = strmap_get(&nsp->events, event, strlen(event));
    if (!e) {
        e = xcalloc(1, sizeof(*e));
        strmap_put(&nsp->events, event, strlen(event), e);
    }
    handler_append(&e->handlers, (void (*)(void))fn, user);
}

void sio_nsp_each_event(const sio_nsp_t *nsp,
                        void (*fn)(void *user, const char *event, uint64_t received), void *user)
{
    size_t pos = 0;
    const strmap_entry_t *e;
    while ((e = strmap_next(&nsp->events, &pos)))
        fn(user, e->key, ((const event_entry_t *)e->value)->received);
}

uint64_t sio_nsp_unhandled_events(const sio_nsp_t *nsp)
{
    return nsp->unhandled_events;
}

size_t sio_nsp_authenticated_count(const sio_nsp_t *nsp)
{
    return nsp->nauthenticated;
}

const sio_stats_t *sio_server_stats(const sio_server_t *srv)
{
    return &srv->stats;
}

void sio_server_each_nsp(sio_server_t *srv, void (*fn)(void *user, sio_nsp_t *nsp), void *user)
{
    for (sio_nsp_t *n = srv->nsps; n; n = n->next)
        fn(user, n);
}

size_t sio_server_unjoined_count(const sio_server_t *srv)
{
    return srv->unjoined;
}

eio_server_t *sio_server_eio(sio_server_t *srv)
{
    return srv->eio;
}

sio_socket_t *sio_server_find_socket(const sio_server_t *srv, const char *nsp, const char *id)
{
    sio_socket_t *s = objmap_get(&srv->sockets, id, strlen(id));
    if (!s || !s->connected || (nsp && strcmp(s->nsp->name, nsp) != 0)) return NULL;
    return s;
}

/* ------------------------------------------------------------------ sockets */

const char *sio_socket_id(const sio_socket_t *s)
{
    return s->id;
}

sio_nsp_t *sio_socket_nsp(const sio_socket_t *s)
{
    return s->nsp;
}

const char *sio_socket_user_id(const sio_socket_t *s)
{
    return s->identity ? s->identity->user_id : NULL;
}

int64_t sio_socket_expires_at(const sio_socket_t *s)
{
    return s->identity ? s->identity->exp : 0;
}

const char *sio_socket_claims_json(const sio_socket_t *s)
{
    return s->identity && s->identity->claims_json ? s->identity->claims_json : NULL;
}

int sio_socket_recovered(const sio_socket_t *s)
{
    return s->recovered;
}

int sio_socket_join(sio_socket_t *s, const char *room)
{
    if (!s->connected) return 0;
    return rooms_join(&s->nsp->rooms, &s->member, room, strlen(room));
}

int sio_socket_leave(sio_socket_t *s, const char *room)
{
    if (!s->connected) return 0;
    return rooms_leave(&s->nsp->rooms, &s->member, room, strlen(room));
}

void sio_socket_emit_with_ack(sio_socket_t *s, const char *event, const sio_args_t *args,
                              uint64_t timeout_ms, sio_ack_fn cb, void *user)
{
    if (!s->connected) {
        cb(user, s, NULL, NULL, 0);
        return;
    }
    sio_server_t *srv = s->client->srv;
    GUARD_BEGIN(srv);
    pending_ack_t *a = xcalloc(1, sizeof(*a));
    a->id = s->next_ack_id++;
    a->cb = cb;
    a->user = user;
    a->deadline = timeout_ms ? uv_now(s->client->srv->loop) + timeout_ms : 0;
    a->next = s->acks;
    s->acks = a;
    int64_t deadline = (int64_t)a->deadline;
    socket_send(s, SIO_EVENT, SIO_BINARY_EVENT, a->id, event, args);
    if (deadline && s->connected) client_rearm(s->client);
    GUARD_END(srv);
}

void sio_socket_ack(sio_socket_t *s, int64_t ack_id, const json_t *args, const sio_bin_t *bin,
                    size_t nbin)
{
    if (!s->connected || ack_id < 0) return;
    sio_server_t *srv = s->client->srv;
    GUARD_BEGIN(srv);
    json_t *empty = args ? NULL : json_array();
    sio_args_t a = {.array = args ? args : empty, .bin = bin, .nbin = nbin};
    socket_send(s, SIO_ACK, SIO_BINARY_ACK, ack_id, NULL, &a);
    json_decref(empty);
    GUARD_END(srv);
}

/* Marks the socket gone; finalize() does the rest when nothing is on the stack. Its session
 * is kept for recovery now, while its rooms are intact and before dead_reason takes the place
 * of last_sent. */
static void socket_mark_dead(sio_socket_t *s, const char *reason)
{
    if (!s->connected) return;
    sio_server_t *srv = s->client->srv;
    s->connected = 0;
    if (s->replaying)
        sio_resume_cancel(srv, s); /* what it was owed never reached it: nothing to restore */
    else
        sio_resume_persist(s, reason);
    s->dead_reason = reason;
    s->next_dead = srv->dead_sockets;
    srv->dead_sockets = s;
}

static void socket_finalize(sio_socket_t *s)
{
    sio_client_t *c = s->client;
    sio_nsp_t *nsp = s->nsp;
    sio_server_t *srv = c->srv;
    log_debug("sio", "socket %s left %s: %s", s->id, nsp->name, s->dead_reason);
    for (handler_t *h = nsp->on_disconnect; h; h = h->next)
        ((sio_disconnect_fn)h->fn)(h->user, s, s->dead_reason);
    while (s->acks) {
        pending_ack_t *a = s->acks;
        s->acks = a->next;
        a->cb(a->user, s, NULL, NULL, 0);
        free(a);
    }
    rooms_remove_member(&nsp->rooms, &s->member);
    /* Only now: while it is in rooms, its own-id room is found through this map. */
    objmap_remove(&srv->sockets, s->id, SIO_SOCKET_ID_LEN);
    for (sio_socket_t **p = &c->sockets; *p; p = &(*p)->next_in_client) {
        if (*p == s) {
            *p = s->next_in_client;
            break;
        }
    }
    nsp->nsockets--;
    if (s->identity) nsp->nauthenticated--;
    srv->stats.disconnects++;
    identity_unref(s->identity);
    record_drop(srv, s->auth);
    free(s);
}

void sio_socket_disconnect(sio_socket_t *s, const char *reason)
{
    if (!s->connected) return;
    sio_server_t *srv = s->client->srv;
    GUARD_BEGIN(srv);
    socket_send_text(s, SIO_DISCONNECT, -1, NULL, 0);
    socket_mark_dead(s, reason ? reason : "server namespace disconnect");
    GUARD_END(srv);
}

/* ------------------------------------------------------------------ reaping */

static void client_free(sio_client_t *c)
{
    membudget_release(eio_server_budget(c->srv->eio), sio_decoder_pending_bytes(&c->decoder));
    sio_decoder_free(&c->decoder);
    identity_unref(c->identity);
    record_drop(c->srv, c->handshake);
    free(c);
}

void sio_reap(sio_server_t *srv)
{
    if (srv->depth || srv->reaping) return;
    srv->reaping = 1;
    /* Disconnect hooks may disconnect more sockets: drain until nothing is left. */
    while (srv->dead_sockets) {
        sio_socket_t *s = srv->dead_sockets;
        srv->dead_sockets = s->next_dead;
        srv->depth++;
        socket_finalize(s);
        srv->depth--;
    }
    /* A dead client's sockets were all marked dead with it, so they are gone now. */
    while (srv->dead_clients) {
        sio_client_t *c = srv->dead_clients;
        srv->dead_clients = c->next_dead;
        client_free(c);
    }
    srv->reaping = 0;
}

/* ------------------------------------------------------------------ client deadlines */

static void client_rearm(sio_client_t *c)
{
    if (!c->eio || c->dead) return;
    uint64_t next = UINT64_MAX;
    if (c->connect_deadline) next = c->connect_deadline;
    uint64_t attachments_by = sio_decoder_deadline(&c->decoder);
    if (attachments_by && attachments_by < next) next = attachments_by;
    for (sio_socket_t *s = c->sockets; s; s = s->next_in_client) {
        if (!s->connected) continue;
        uint64_t exp_at = s->identity ? s->identity->expires_at : 0;
        if (exp_at && exp_at < next) next = exp_at;
        for (pending_ack_t *a = s->acks; a; a = a->next)
            if (a->deadline && a->deadline < next) next = a->deadline;
    }
    uint64_t now = uv_now(c->srv->loop);
    eio_socket_set_timeout(c->eio, next == UINT64_MAX ? 0 : next > now ? next - now : 1);
}

void sio_socket_disconnect_and_close(sio_socket_t *s, const char *reason)
{
    if (!s->connected) return;
    sio_server_t *srv = s->client->srv;
    GUARD_BEGIN(srv);
    sio_client_t *c = s->client;
    sio_socket_disconnect(s, reason);
    sio_client_close(c, reason ? reason : "server namespace disconnect");
    GUARD_END(srv);
}

void sio_socket_close_transport(sio_socket_t *s)
{
    if (!s->connected) return;
    sio_server_t *srv = s->client->srv;
    GUARD_BEGIN(srv);
    sio_client_close(s->client, "forced close");
    GUARD_END(srv);
}

static void client_on_deadline(sio_client_t *c)
{
    uint64_t now = uv_now(c->srv->loop);
    if (c->connect_deadline && now >= c->connect_deadline && !c->sockets) {
        log_debug("sio", "client %s joined no namespace in time", eio_socket_id(c->eio));
        sio_client_close(c, "connect timeout");
        return;
    }
    uint64_t attachments_by = sio_decoder_deadline(&c->decoder);
    if (attachments_by && now >= attachments_by) {
        log_debug("sio", "client %s: the attachments of a binary packet did not come in time",
                  eio_socket_id(c->eio));
        c->srv->stats.binary_packets_dropped++;
        sio_client_close(c, "parse error");
        return;
    }
    for (sio_socket_t *s = c->sockets; s; s = s->next_in_client) {
        if (!s->connected) continue;
        if (s->identity && s->identity->expires_at && now >= s->identity->expires_at) {
            log_info("sio", "socket %s of user %s disconnected: token expired", s->id,
                     s->identity->user_id);
            sio_socket_disconnect(s, "token expired");
            continue;
        }
        for (pending_ack_t **p = &s->acks; *p;) {
            pending_ack_t *a = *p;
            if (a->deadline && now >= a->deadline) {
                *p = a->next;
                a->cb(a->user, s, NULL, NULL, 0);
                free(a);
            } else {
                p = &a->next;
            }
        }
    }
    client_rearm(c);
}

/* ------------------------------------------------------------------ authentication */

/* The identity behind an auth result; NULL (counted as a failure) unless it is AUTH_OK. */
static sio_identity_t *identity_from_result(sio_server_t *srv, auth_result_t r, jwt_principal_t *p,
                                            const char *source)
{
    if (r == AUTH_OK) {
        srv->stats.auth_ok++;
        return identity_from_principal(p, srv->loop);
    }
    if (r == AUTH_CROSS_SITE) {
        srv->stats.cross_site_cookies++;
    } else if (r == AUTH_INVALID) {
        srv->stats.auth_failed++;
        log_debug("sio", "%s token refused", source);
    }
    return NULL;
}

/* ------------------------------------------------------------------ handshake records */

/* What a client's or a socket's record may hold: headers past the first SIO_RECORD_HEADERS
 * bytes and a CONNECT payload over SIO_RECORD_AUTH bytes are left out, and both are charged
 * to the budget of bytes held for clients, so a flood of handshakes with large heads cannot
 * make a fleet node hold more than that budget. */
#define SIO_RECORD_HEADERS 3072
#define SIO_RECORD_AUTH 1024

typedef struct header_walk {
    json_t *headers;
    size_t bytes;
} header_walk_t;

static void add_header(void *user, const char *name, const char *value)
{
    header_walk_t *w = user;
    json_t *headers = w->headers;
    size_t cost = strlen(name) + strlen(value) + 8;
    if (w->bytes + cost > SIO_RECORD_HEADERS) return;
    w->bytes += cost;
    buf_t lower = BUF_INIT;
    for (const char *p = name; *p; p++)
        buf_append_byte(&lower, (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
    if (strcmp(lower.data, "cookie") == 0 || strcmp(lower.data, "authorization") == 0)
        value = "[redacted]";
    /* A repeated header is joined with ", ", as Node's IncomingMessage does. */
    const json_t *prev = json_object_get(headers, lower.data);
    if (prev && strcmp(value, "[redacted]") != 0) {
        buf_t joined = BUF_INIT;
        buf_printf(&joined, "%s, %s", json_string_value(prev), value);
        json_object_set_new(headers, lower.data, json_stringn(joined.data, joined.len));
        buf_free(&joined);
    } else {
        json_object_set_new(headers, lower.data, json_string(value));
    }
    buf_free(&lower);
}

/* socket.handshake of Node's socket.io, minus auth (per socket): the client's record. */
static char *handshake_record(http_request_t *req)
{
    json_t *h = json_object();
    json_t *headers = json_object();
    header_walk_t walk = {headers, 0};
    http_request_each_header(req, add_header, &walk);
    int xdomain = json_object_get(headers, "origin") != NULL;
    json_object_set_new(h, "headers", headers);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char when[96];
    struct tm tm;
    time_t secs = tv.tv_sec;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof(when), "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
    json_object_set_new(h, "time", json_string(when));
    json_object_set_new(h, "address", json_string(http_request_remote_addr(req)));
    json_object_set_new(h, "xdomain", json_boolean(xdomain));
    json_object_set_new(h, "secure", json_false()); /* iogate serves plain HTTP; TLS is a proxy's */
    json_object_set_new(h, "issued",
                        json_integer((json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000));
    json_object_set_new(h, "url", json_string(http_request_target(req)));
    json_t *query = json_object();
    size_t qlen;
    const char *qs = http_request_query(req, &qlen);
    url_query_t q = URL_QUERY_INIT;
    if (qs && url_query_parse(&q, qs, qlen, 64) == 0)
        for (size_t i = 0; i < q.len; i++)
            if (!json_object_get(query, q.items[i].name))
                json_object_set_new(query, q.items[i].name, json_string(q.items[i].value));
    url_query_free(&q);
    json_object_set_new(h, "query", query);
    buf_t text = BUF_INIT;
    json_out_append(&text, h);
    json_decref(h);
    return buf_steal(&text, NULL);
}

/* Charges a record (taken) to the budget of bytes held for clients: kept, or freed and NULL
 * when the budget is spent (fetchSockets then answers without it). */
static char *record_keep(sio_server_t *srv, char *record)
{
    if (record && membudget_try_charge(eio_server_budget(srv->eio), strlen(record) + 1) != 0) {
        free(record);
        return NULL;
    }
    return record;
}

static void record_drop(sio_server_t *srv, char *record)
{
    if (!record) return;
    membudget_release(eio_server_budget(srv->eio), strlen(record) + 1);
    free(record);
}

/* Keys of a CONNECT payload that carry credentials: their values are never repeated. The
 * recovery "pid" is one too: with the user's token, it names a session. */
static int is_credential_key(const char *key)
{
    if (strcmp(key, "pid") == 0) return 1;
    static const char *const words[] = {"token",  "jwt",           "password",
                                        "secret", "authorization", "cookie"};
    char lower[128];
    size_t n = 0;
    for (; key[n] && n < sizeof(lower) - 1; n++)
        lower[n] = (char)(key[n] >= 'A' && key[n] <= 'Z' ? key[n] + 32 : key[n]);
    lower[n] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(lower, words[i])) return 1;
    return 0;
}

/* A socket's CONNECT payload as kept: redacted JSON text, or NULL for none or {} (most
 * clients), which costs nothing. */
static char *socket_auth_record(const json_t *auth)
{
    if (!json_is_object(auth) || !json_object_size(auth)) return NULL;
    json_t *a = json_deep_copy(auth);
    const char *key;
    json_t *value;
    json_object_foreach(a, key, value)
    {
        if (is_credential_key(key)) json_object_set_new(a, key, json_string("[redacted]"));
    }
    buf_t text = BUF_INIT;
    json_out_append(&text, a);
    json_decref(a);
    if (text.len > SIO_RECORD_AUTH) {
        buf_reset(&text);
        buf_append_str(&text, "{\"[too large to keep]\":true}");
    }
    return buf_steal(&text, NULL);
}

char *sio_socket_handshake_json(const sio_socket_t *s)
{
    const char *record = s->client->handshake;
    if (!record) return NULL;
    /* The client's record ends with '}': the socket's auth goes in before it. */
    buf_t text = BUF_INIT;
    buf_append(&text, record, strlen(record) - 1);
    buf_printf(&text, ",\"auth\":%s}", s->auth ? s->auth : "{}");
    return buf_steal(&text, NULL);
}

void sio_socket_each_room(const sio_socket_t *s,
                          void (*fn)(void *user, const char *room, size_t len), void *user)
{
    rooms_member_foreach(&s->nsp->rooms, &s->member, fn, user);
}

/* ------------------------------------------------------------------ connect / packets */

/* The client joined its first namespace, or is gone: it no longer counts as unjoined. */
static void client_uncount_unjoined(sio_client_t *c)
{
    if (!c->unjoined) return;
    sio_server_t *srv = c->srv;
    c->unjoined = 0;
    srv->unjoined--;
    if (c->unjoined_addr) keycount_release(&srv->unjoined_by_addr, c->unjoined_addr);
    c->unjoined_addr = NULL;
}

/* Who a new socket is: the handshake cookie wins; the CONNECT payload's token serves clients
 * without cookies. Checked on every CONNECT, a recovering one included. */
static sio_identity_t *connect_identity(sio_client_t *c, const json_t *auth)
{
    sio_server_t *srv = c->srv;
    sio_identity_t *identity = NULL;
    if (c->identity) {
        identity = identity_ref(c->identity);
    } else if (srv->opts.auth && authenticator_allows_auth_payload(srv->opts.auth) &&
               json_is_object(auth)) {
        const json_t *token = json_object_get(auth, "token");
        if (json_is_string(token)) {
            jwt_principal_t p;
            const char *reason;
            auth_result_t r = authenticator_verify_token(srv->opts.auth, AUTH_USE_HANDSHAKE,
                                                         json_string_value(token),
                                                         json_string_length(token), &p, &reason);
            identity = identity_from_result(srv, r, &p, "auth payload");
        }
    }
    /* Sockets are cut off at exp; a token already past it (accepted only thanks to the
     * clock-skew leeway, which serves REST requests) authenticates no socket. */
    if (identity && identity->exp && (uint64_t)identity->exp <= sio_wall_ms() / 1000) {
        log_debug("sio", "token of user %s is past exp; connecting unauthenticated",
                  identity->user_id);
        identity_unref(identity);
        identity = NULL;
    }
    return identity;
}

/* A string member of the CONNECT payload, or NULL. */
static const json_t *auth_string(const json_t *auth, const char *key)
{
    const json_t *v = json_is_object(auth) ? json_object_get(auth, key) : NULL;
    return json_is_string(v) ? v : NULL;
}

/* CONNECT's answer, {"sid"} and with recovery {"sid","pid"}: the pid the client sent when it
 * recovered (its `recovered` compares the two), else a new one. Written on the stack when it
 * fits: every connect makes one, and what it allocates only to free at once fragments the heap
 * the connection's lasting structures come from. */
static void socket_send_connect(sio_socket_t *s, const json_t *recovered_pid)
{
    sio_server_t *srv = s->client->srv;
    char small[256];
    buf_t pid = BUF_INIT;
    const char *p = "";
    size_t plen = 0;
    if (recovered_pid) {
        p = json_string_value(recovered_pid);
        plen = json_string_length(recovered_pid);
    } else if (srv->recovery) {
        sio_recovery_pid(srv->recovery, &pid, s->id, s->identity ? s->identity->user_id : NULL,
                         s->start);
        p = pid.data;
        plen = pid.len;
    }
    int n = srv->recovery ? snprintf(small, sizeof(small), "{\"sid\":\"%s\",\"pid\":\"%.*s\"}",
                                     s->id, (int)plen, p)
                          : snprintf(small, sizeof(small), "{\"sid\":\"%s\"}", s->id);
    if (n > 0 && (size_t)n < sizeof(small)) {
        socket_send_text(s, SIO_CONNECT, -1, small, (size_t)n);
    } else {
        buf_t json = BUF_INIT;
        buf_printf(&json, "{\"sid\":\"%s\",\"pid\":\"%.*s\"}", s->id, (int)plen, p);
        socket_send_text(s, SIO_CONNECT, -1, json.data, json.len);
        buf_free(&json);
    }
    buf_free(&pid);
}

void sio_socket_connect(sio_client_t *c, sio_nsp_t *nsp, const json_t *auth)
{
    sio_server_t *srv = c->srv;
    sio_identity_t *identity = connect_identity(c, auth);
    const json_t *pid = srv->recovery ? auth_string(auth, "pid") : NULL;
    const json_t *offset = pid ? auth_string(auth, "offset") : NULL;
    if (pid && sio_resume_takeover(srv, c, nsp, pid, auth, identity)) {
        identity_unref(identity);
        return;
    }
    sio_restored_t restored;
    int recovered = pid && sio_resume_restore(srv, nsp, pid, offset, identity, &restored);

    sio_socket_t *s = xcalloc(1, sizeof(*s));
    s->client = c;
    s->nsp = nsp;
    s->connected = 1;
    if (recovered) {
        memcpy(s->id, restored.sid, SIO_SOCKET_ID_LEN + 1);
    } else {
        do {
            random_id(s->id, SIO_SOCKET_ID_LEN);
        } while (objmap_get(&srv->sockets, s->id, SIO_SOCKET_ID_LEN));
    }
    objmap_add(&srv->sockets, s);
    rooms_member_init(&s->member, s);
    rooms_add_member(&nsp->rooms, &s->member);
    rooms_join(&nsp->rooms, &s->member, s->id, SIO_SOCKET_ID_LEN);
    s->next_in_client = c->sockets;
    c->sockets = s;
    nsp->nsockets++;
    srv->stats.connects++;
    c->connect_deadline = 0;
    client_uncount_unjoined(c);
    s->identity = identity;
    if (recovered) {
        s->recovered = 1;
        s->start = restored.start;
        s->last_sent = restored.last_sent;
        sio_resume_rejoin(s, &restored);
    } else if (srv->recovery) {
        s->start = sio_recovery_now_seq(srv->recovery, sio_wall_ms());
    }
    if (c->handshake) s->auth = record_keep(srv, socket_auth_record(auth));
    if (s->identity) {
        nsp->nauthenticated++;
        buf_t room = BUF_INIT;
        sio_user_room(&room, s->identity->user_id);
        rooms_join(&nsp->rooms, &s->member, room.data, room.len);
        buf_free(&room);
    }
    log_debug("sio", "socket %s %s %s (user %s)", s->id, recovered ? "recovered in" : "joined",
              nsp->name, s->identity ? s->identity->user_id : "-");

    socket_send_connect(s, recovered ? pid : NULL);
    if (recovered) {
        sio_resume_replay_missed(s, &restored);
        sio_restored_free(&restored);
    } else if (pid && s->identity) {
        sio_resume_start_store(srv, s, pid, offset);
    }

    json_t *empty = auth ? NULL : json_object();
    for (handler_t *h = nsp->on_connect; h && s->connected; h = h->next)
        ((sio_connect_fn)h->fn)(h->user, s, auth ? auth : empty);
    json_decref(empty);
    client_rearm(c);
}

static void socket_on_event(sio_socket_t *s, sio_packet_t *p)
{
    const json_t *first = json_array_get(p->data, 0);
    buf_t number = BUF_INIT;
    const char *name;
    size_t name_len;
    if (json_is_string(first)) {
        name = json_string_value(first);
        name_len = json_string_length(first); /* a NUL inside makes another name */
    } else {
        /* The reference accepts numeric event names and compares them as String(n). */
        if (json_is_integer(first))
            buf_printf(&number, "%lld", (long long)json_integer_value(first));
        else
            json_out_append_real(&number, json_real_value(first));
        name = number.data;
        name_len = number.len;
    }
    event_entry_t *entry = strmap_get(&s->nsp->events, name, name_len);
    handler_t *list = entry ? entry->handlers : NULL;
    if (entry)
        entry->received++;
    else
        s->nsp->unhandled_events++;
    if (list) {
        json_t *args = json_array();
        for (size_t i = 1; i < json_array_size(p->data); i++)
            json_array_append(args, json_array_get(p->data, i));
        buf_t text = BUF_INIT;
        sio_event_t ev = {name, args, p->bin, p->bin_len, p->id, &text};
        for (handler_t *h = list; h && s->connected; h = h->next)
            ((sio_event_fn)h->fn)(h->user, s, &ev);
        buf_free(&text);
        json_decref(args);
    }
    buf_free(&number);
}

static void socket_on_ack(sio_socket_t *s, sio_packet_t *p)
{
    for (pending_ack_t **a = &s->acks; *a; a = &(*a)->next) {
        if ((*a)->id == p->id) {
            pending_ack_t *found = *a;
            *a = found->next;
            found->cb(found->user, s, p->data, p->bin, p->bin_len);
            free(found);
            return;
        }
    }
}

void sio_client_close(sio_client_t *c, const char *reason)
{
    if (c->dead || !c->eio) return;
    /* Its on_close marks the client dead. A client that never joined a namespace has nothing
     * worth keeping for a last poll, and its session must not outlive its place in the
     * unjoined count: it goes at once. */
    if (c->unjoined)
        eio_socket_abort(c->eio, reason);
    else
        eio_socket_close(c->eio, reason);
}

static void client_on_packet(sio_client_t *c, sio_packet_t *p)
{
    sio_server_t *srv = c->srv;
    sio_socket_t *s = c->sockets;
    while (s && (!s->connected || strcmp(s->nsp->name, p->nsp) != 0))
        s = s->next_in_client;
    if (p->type == SIO_CONNECT) {
        if (s) {
            sio_client_close(c, "invalid state");
            return;
        }
        sio_nsp_t *nsp = sio_server_find_nsp(srv, p->nsp);
        if (!nsp) {
            rbuf_t *err = packet_new(SIO_CONNECT_ERROR, p->nsp, -1, 0,
                                     BUF_LIT("{\"message\":\"Invalid namespace\"}"));
            client_send(c, err);
            rbuf_unref(err);
            return;
        }
        sio_socket_connect(c, nsp, p->data);
        return;
    }
    if (!s) {
        log_debug("sio", "packet type %d for namespace %s not joined", p->type, p->nsp);
        sio_client_close(c, "invalid state");
        return;
    }
    switch (p->type) {
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        socket_on_event(s, p);
        break;
    case SIO_ACK:
    case SIO_BINARY_ACK:
        socket_on_ack(s, p);
        break;
    case SIO_DISCONNECT:
        socket_mark_dead(s, "client namespace disconnect");
        break;
    default:
        sio_client_close(c, "invalid state");
        break;
    }
}

/* ------------------------------------------------------------------ Engine.IO callbacks */

/* Admission: the sessions that joined no namespace yet are bounded, in all and by address
 * (the check and the count happen in the same loop turn: on_open follows at once). */
static const char *on_eio_handshake(void *user, http_request_t *handshake)
{
    sio_server_t *srv = user;
    if (srv->opts.max_unjoined && srv->unjoined >= srv->opts.max_unjoined)
        return "too many sessions waiting to join a namespace";
    if (srv->opts.max_unjoined_per_address) {
        const char *addr = http_request_remote_addr(handshake);
        if (keycount_get(&srv->unjoined_by_addr, addr, strlen(addr)) >=
            srv->opts.max_unjoined_per_address)
            return "too many sessions from this address waiting to join a namespace";
    }
    return NULL;
}

static void on_eio_open(void *user, eio_socket_t *e, http_request_t *handshake)
{
    sio_server_t *srv = user;
    sio_client_t *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->eio = e;
    sio_decoder_init(&c->decoder, &srv->decoder_limits);
    c->connect_deadline = uv_now(srv->loop) + srv->opts.connect_timeout_ms;
    c->unjoined = 1;
    srv->unjoined++;
    if (srv->opts.max_unjoined_per_address) {
        const char *addr = http_request_remote_addr(handshake);
        c->unjoined_addr = keycount_add(&srv->unjoined_by_addr, addr, strlen(addr));
    }
    eio_socket_set_user(e, c);
    if (srv->opts.keep_handshake) c->handshake = record_keep(srv, handshake_record(handshake));
    if (srv->opts.auth) {
        /* A cookie from a foreign page is ignored (counted): the socket connects
         * unauthenticated, and an auth payload may still authenticate it. */
        jwt_principal_t p;
        const char *reason;
        auth_result_t r =
            authenticator_check_request(srv->opts.auth, handshake, AUTH_USE_HANDSHAKE, &p, &reason);
        c->identity = identity_from_result(srv, r, &p, "handshake");
    }
    client_rearm(c);
}

/* A binary packet awaits attachments and holds more than the `held` bytes charged for it
 * so far: the rest is charged, and a new one gets its deadline. Past the budget the client
 * is closed, as for a packet over max_binary_bytes. */
static void client_hold_attachments(sio_client_t *c, size_t held)
{
    sio_server_t *srv = c->srv;
    membudget_t *budget = eio_server_budget(srv->eio); /* pending attachments are charged */
    size_t now_held = sio_decoder_pending_bytes(&c->decoder);
    if (membudget_try_charge(budget, now_held - held) != 0) {
        membudget_shed(budget, "clients with pending attachments closed");
        log_debug("sio", "client %s closed: pending attachments over max_client_bytes",
                  eio_socket_id(c->eio));
        membudget_release(budget, held);
        sio_decoder_free(&c->decoder);
        srv->stats.binary_packets_dropped++;
        sio_client_close(c, "parse error");
        return;
    }
    if (held || !srv->opts.attachment_timeout_ms) return;
    sio_decoder_set_deadline(&c->decoder, uv_now(srv->loop) + srv->opts.attachment_timeout_ms);
    client_rearm(c);
}

static void on_eio_message(void *user, eio_socket_t *e, int binary, const char *data, size_t len)
{
    sio_server_t *srv = user;
    sio_client_t *c = eio_socket_user(e);
    if (!c || c->dead) return;
    sio_packet_t p;
    size_t held = sio_decoder_pending_bytes(&c->decoder);
    int r = sio_decoder_feed(&c->decoder, binary, data, len, &p);
    if (r == SIO_DECODE_MORE) {
        client_hold_attachments(c, held);
        return;
    }
    /* The partial packet is complete or dropped. */
    membudget_release(eio_server_budget(srv->eio), held);
    if (r < 0) {
        log_debug("sio", "client %s sent a malformed packet: %s", eio_socket_id(e),
                  sio_strerror(r));
        if (r == SIO_ETOOLARGE) srv->stats.binary_packets_dropped++;
        sio_client_close(c, "parse error");
        return;
    }
    srv->depth++;
    client_on_packet(c, &p);
    srv->depth--;
    sio_packet_free(&p);
    sio_reap(srv);
    if (srv->deferred.client) sio_resume_deferred(srv, e);
}

static void on_eio_close(void *user, eio_socket_t *e, const char *reason)
{
    sio_server_t *srv = user;
    sio_client_t *c = eio_socket_user(e);
    if (!c || c->dead) return;
    client_uncount_unjoined(c); /* before next_dead takes the place of its address entry */
    c->dead = 1;
    c->eio = NULL;
    eio_socket_set_user(e, NULL);
    for (sio_socket_t *s = c->sockets; s; s = s->next_in_client)
        socket_mark_dead(s, reason);
    c->next_dead = srv->dead_clients;
    srv->dead_clients = c;
    sio_reap(srv);
}

static void on_eio_timeout(void *user, eio_socket_t *e)
{
    sio_server_t *srv = user;
    sio_client_t *c = eio_socket_user(e);
    if (!c || c->dead) return;
    srv->depth++;
    client_on_deadline(c);
    srv->depth--;
    sio_reap(srv);
}

static const eio_callbacks_t eio_callbacks = {on_eio_open, on_eio_message, on_eio_close,
                                              on_eio_timeout, on_eio_handshake};

sio_server_t *sio_server_new(uv_loop_t *loop, const eio_options_t *eio_opts,
                             const sio_options_t *opts)
{
    sio_server_t *srv = xcalloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->opts = *opts;
    if (!srv->opts.max_attachments) srv->opts.max_attachments = SIO_DEFAULT_MAX_ATTACHMENTS;
    srv->decoder_limits.max_attachments = srv->opts.max_attachments;
    srv->decoder_limits.max_binary_bytes = srv->opts.max_binary_bytes;
    keycount_init(&srv->unjoined_by_addr);
    objmap_init(&srv->sockets, socket_key);
    if (opts->recovery.max_disconnection_ms) srv->recovery = sio_recovery_new(&opts->recovery);
    srv->eio = eio_server_new(loop, eio_opts, &eio_callbacks, srv);
    sio_server_nsp(srv, "/");
    return srv;
}

void sio_server_close_all(sio_server_t *srv)
{
    eio_server_close_all(srv->eio);
}

void sio_server_release(sio_server_t *srv)
{
    sio_resume_release(srv);
    eio_server_release(srv->eio);
}

void sio_server_free(sio_server_t *srv)
{
    if (!srv) return;
    sio_reap(srv);
    sio_resume_drop_all(srv);
    eio_server_free(srv->eio);
    while (srv->nsps) {
        sio_nsp_t *n = srv->nsps;
        srv->nsps = n->next;
        size_t pos = 0;
        const strmap_entry_t *e;
        while ((e = strmap_next(&n->events, &pos))) {
            handlers_free(((event_entry_t *)e->value)->handlers);
            free(e->value);
        }
        strmap_free(&n->events);
        pos = 0;
        while ((e = strmap_next(&n->server_events, &pos)))
            handlers_free(e->value);
        strmap_free(&n->server_events);
        handlers_free(n->on_connect);
        handlers_free(n->on_disconnect);
        rooms_free(&n->rooms);
        free(n->name);
        free(n);
    }
    objmap_free(&srv->sockets);
    keycount_free(&srv->unjoined_by_addr);
    sio_recovery_free(srv->recovery);
    free(srv);
}

/* ------------------------------------------------------------------ emitter */

const char *sio_event_args_text(const sio_event_t *ev, size_t *len)
{
    if (!ev->text->len) json_out_append(ev->text, ev->args);
    *len = ev->text->len;
    return ev->text->data;
}

/* One emit's walk. The packet is encoded for the first recipient, so an emit that finds
 * nobody on this node (a user on another node of the fleet) costs no encoding. */
typedef struct deliver_ctx {
    sio_server_t *srv;
    outgoing_t out;
    int encoded;
    const char *nsp, *event;
    const sio_args_t *args;
    int authenticated_only;
    int is_volatile;
    size_t count;
    /* Recovery: the packet's number (0: it is not kept and carries no offset), its offset,
     * and its source's cursor (source -1: none). */
    uint64_t seq;
    const char *offset;
    int source;
    const char *cursor;
} deliver_ctx_t;

static void deliver_encode(deliver_ctx_t *ctx)
{
    if (ctx->encoded) return;
    sio_outgoing_encode(&ctx->out, SIO_EVENT, SIO_BINARY_EVENT, ctx->nsp, -1, ctx->event, ctx->args,
                        ctx->offset);
    ctx->encoded = 1;
    ctx->srv->stats.serializations++;
}

static void deliver(void *user, void *owner)
{
    deliver_ctx_t *ctx = user;
    sio_socket_t *s = owner;
    if (!s->connected || !s->client->eio || s->client->dead) return;
    if (ctx->authenticated_only && !s->identity) return;
    /* A socket waiting for a store's replay is not ready: it misses a volatile emit. */
    if (ctx->is_volatile && (s->replaying || eio_socket_outbox_bytes(s->client->eio))) return;
    deliver_encode(ctx);
    ctx->count++;
    if (s->replaying && sio_resume_hold(ctx->srv, s, &ctx->out, ctx->seq, ctx->source, ctx->cursor))
        return;
    sio_outgoing_send(&ctx->out, s->client->eio);
    /* Sending may have dropped it (slow consumer): last_sent then holds its dead_reason. */
    if (ctx->seq && s->connected) s->last_sent = ctx->seq;
}

/* The value of key in the first argument (a string of cursor characters, or a non-negative
 * integer) into out: 1, or 0 when there is none. */
int sio_args_cursor(const sio_args_t *args, const char *key, char out[SIO_RECOVERY_NAME_MAX + 1])
{
    json_t *parsed = NULL;
    const json_t *first = NULL;
    if (args && args->array)
        first = json_array_get(args->array, 0);
    else if (args && args->value && args->len)
        first = parsed = json_parse_js(args->value, args->len);
    const json_t *v = json_object_get(first, key);
    int ok = 0;
    if (json_is_string(v) && sio_recovery_name_valid(json_string_value(v), json_string_length(v))) {
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        ok = 1;
    } else if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(out, SIO_RECOVERY_NAME_MAX + 1, "%lld", (long long)json_integer_value(v));
        ok = 1;
    }
    json_decref(parsed);
    return ok;
}

/* Keeps an emitted packet for the sessions that may miss it: what it went to, as socket.io's
 * adapter records a broadcast's rooms and except (one socket: the room of its id). A packet
 * that reached nobody here is kept only when a session kept here may want it. */
static void keep_packet(sio_server_t *srv, sio_nsp_t *nsp, const sio_target_t *t,
                        const sio_socket_t *one, const char *const *rooms, const size_t *lens,
                        size_t nrooms, deliver_ctx_t *ctx)
{
    const char *own[1];
    size_t own_len[1] = {SIO_SOCKET_ID_LEN};
    sio_keep_target_t k = {.nsp = nsp,
                           .kind = SIO_KEEP_ROOMS,
                           .rooms = rooms,
                           .room_lens = lens,
                           .nrooms = nrooms,
                           .except = t->except,
                           .except_lens = lens + nrooms,
                           .nexcept = t->nexcept};
    if (one) {
        own[0] = one->id;
        k.rooms = own;
        k.room_lens = own_len;
        k.nrooms = 1;
        k.nexcept = 0;
    } else if (t->kind == SIO_TO_ALL) {
        k.kind = SIO_KEEP_ALL;
    } else if (t->kind == SIO_TO_AUTHENTICATED) {
        k.kind = SIO_KEEP_AUTHENTICATED;
    }
    if (!ctx->count && !sio_recovery_wants(srv->recovery, &k)) return;
    deliver_encode(ctx);
    sio_recovery_keep(srv->recovery, ctx->seq, sio_wall_ms(), &k, ctx->out.packet,
                      ctx->out.attachments, ctx->out.nattachments);
    sio_resume_sweep_arm(srv);
}

int64_t sio_emit(sio_server_t *srv, const sio_target_t *t, const char *event,
                 const sio_args_t *args)
{
    sio_nsp_t *nsp = sio_server_find_nsp(srv, t->nsp ? t->nsp : "/");
    if (!nsp) return SIO_EMIT_ENOENT;
    sio_socket_t *one = NULL;
    const char *const *rooms = NULL;
    size_t nrooms = 0;
    buf_t user_room = BUF_INIT;
    const char *user_rooms[1];
    switch (t->kind) {
    case SIO_TO_SOCKET:
        one = t->id ? sio_server_find_socket(srv, nsp->name, t->id) : NULL;
        if (!one || !one->connected) return SIO_EMIT_ENOENT;
        break;
    case SIO_TO_USER:
        if (!t->id) return SIO_EMIT_EINVAL;
        sio_user_room(&user_room, t->id);
        user_rooms[0] = user_room.data;
        rooms = user_rooms;
        nrooms = 1;
        break;
    case SIO_TO_ROOMS:
        if (!t->nrooms) {
            buf_free(&user_room);
            return 0; /* no room named: nobody, as io.to([]) would be everybody only in JS */
        }
        rooms = t->rooms;
        nrooms = t->nrooms;
        break;
    case SIO_TO_ALL:
    case SIO_TO_AUTHENTICATED:
        break;
    default:
        return SIO_EMIT_EINVAL;
    }
    /* The fleet first: the other nodes start while this one writes to its own sockets. Each
     * node numbers the packet in its own recovery clock, so it travels without an offset. */
    if (!one && !(t->flags & SIO_EMIT_LOCAL) && srv->adapter.publish)
        srv->adapter.publish(srv->adapter.ctx, nsp->name, t, event, args);
    deliver_ctx_t ctx = {.srv = srv,
                         .nsp = nsp->name,
                         .event = event,
                         .args = args,
                         .authenticated_only = t->kind == SIO_TO_AUTHENTICATED,
                         .is_volatile = (t->flags & SIO_EMIT_VOLATILE) != 0,
                         .source = -1};
    /* Recovery: an EVENT without ack, not volatile, of a recoverable event carries its offset
     * as the last argument (socket.io's SessionAwareAdapter.broadcast). */
    buf_t offset = BUF_INIT;
    char cursor[SIO_RECOVERY_NAME_MAX + 1];
    if (srv->recovery && !ctx.is_volatile && sio_recovery_is_recoverable(srv->recovery, event)) {
        const char *key = NULL;
        ctx.seq = sio_recovery_next_seq(srv->recovery, sio_wall_ms());
        ctx.source = sio_recovery_source_of(srv->recovery, event, &key);
        if (ctx.source >= 0 && sio_args_cursor(args, key, cursor)) {
            ctx.cursor = cursor;
            sio_recovery_note_cursor(srv->recovery, ctx.source, cursor);
        }
        sio_recovery_offset(srv->recovery, &offset, ctx.seq, ctx.source, ctx.cursor);
        ctx.offset = offset.data;
    }
    size_t small_lens[8];
    size_t n = nrooms + t->nexcept;
    size_t *lens = n <= 8 ? small_lens : xmalloc(n * sizeof(size_t));
    for (size_t i = 0; i < nrooms; i++)
        lens[i] = strlen(rooms[i]);
    for (size_t i = 0; i < t->nexcept; i++)
        lens[nrooms + i] = strlen(t->except[i]);
    srv->depth++;
    if (one)
        deliver(&ctx, one);
    else
        rooms_select(&nsp->rooms, rooms, lens, nrooms, t->except, lens + nrooms, t->nexcept,
                     deliver, &ctx);
    if (ctx.seq) keep_packet(srv, nsp, t, one, rooms, lens, nrooms, &ctx);
    srv->depth--;
    if (lens != small_lens) free(lens);
    if (ctx.encoded) sio_outgoing_free(&ctx.out);
    buf_free(&offset);
    buf_free(&user_room);
    srv->stats.deliveries += ctx.count;
    sio_reap(srv);
    return (int64_t)ctx.count;
}

void sio_nsp_on_server_event(sio_nsp_t *nsp, const char *event, sio_server_event_fn fn, void *user)
{
    handler_t *list = strmap_get(&nsp->server_events, event, strlen(event));
    handler_append(&list, (void (*)(void))fn, user);
    strmap_put(&nsp->server_events, event, strlen(event), list);
}

void sio_nsp_server_event(sio_nsp_t *nsp, const char *event, const json_t *args)
{
    sio_server_t *srv = nsp->srv;
    GUARD_BEGIN(srv);
    for (handler_t *h = strmap_get(&nsp->server_events, event, strlen(event)); h; h = h->next)
        ((sio_server_event_fn)h->fn)(h->user, nsp->name, event, args);
    GUARD_END(srv);
}

int sio_server_side_emit(sio_server_t *srv, const char *nsp, const char *event, const json_t *args)
{
    if (!sio_server_find_nsp(srv, nsp ? nsp : "/")) return SIO_EMIT_ENOENT;
    if (srv->adapter.server_emit)
        srv->adapter.server_emit(srv->adapter.ctx, nsp ? nsp : "/", event, args);
    return 0;
}

int sio_fleet_room_size(sio_server_t *srv, const char *nsp, const char *room, sio_count_fn cb,
                        void *user)
{
    sio_nsp_t *n = sio_server_find_nsp(srv, nsp ? nsp : "/");
    if (!n) return SIO_EMIT_ENOENT;
    int64_t local = (int64_t)sio_nsp_room_size(n, room);
    if (srv->adapter.room_size)
        srv->adapter.room_size(srv->adapter.ctx, n->name, room, local, cb, user);
    else
        cb(user, local, 0);
    return 0;
}

void sio_server_set_adapter(sio_server_t *srv, const sio_adapter_t *adapter)
{
    memset(&srv->adapter, 0, sizeof(srv->adapter));
    if (!adapter) return;
    srv->adapter = *adapter;
    if (srv->adapter.nsp_added)
        for (sio_nsp_t *n = srv->nsps; n; n = n->next)
            srv->adapter.nsp_added(srv->adapter.ctx, n->name);
}
