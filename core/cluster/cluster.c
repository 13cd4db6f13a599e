/* cluster.c - the classic Redis adapter's wire format, both ways: broadcasts as notepack
 * MessagePack on the room or base channel, requests and responses as JSON (MessagePack for the
 * broadcast with acks and its acks). */
#include "cluster/cluster.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json_in.h"
#include "base/json_out.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/msgpack.h"
#include "base/random.h"

/* The adapter's request types (RequestType in @socket.io/redis-adapter lib/index.ts). */
enum {
    REQ_SOCKETS = 0,
    REQ_ALL_ROOMS = 1,
    REQ_REMOTE_JOIN = 2,
    REQ_REMOTE_LEAVE = 3,
    REQ_REMOTE_DISCONNECT = 4,
    REQ_REMOTE_FETCH = 5,
    REQ_SERVER_SIDE_EMIT = 6,
    REQ_BROADCAST = 7,
    REQ_BROADCAST_CLIENT_COUNT = 8,
    REQ_BROADCAST_ACK = 9,
};

struct cluster {
    uv_loop_t *loop;
    sio_server_t *sio;
    redis_link_t *link;
    char uid[CLUSTER_UID_LEN + 1];
    char *prefix;
    cluster_stats_t stats;
    size_t queue_max;
    struct ack_wait *waits;   /* broadcasts with acks still collecting, detached at close */
    struct count_req *counts; /* this node's requests awaiting the fleet's answers */
    uint64_t request_timeout_ms;
    void (*done)(void *arg);
    void *done_arg;
};

int cluster_check_config(const config_t *cfg, char *err, size_t err_size)
{
    redis_url_t url;
    char why[256];
    if (redis_url_parse(cfg->cluster.redis_url, &url, why, sizeof(why)) != 0) {
        char origin[512];
        config_key_origin(cfg, "cluster", "redis_url", origin, sizeof(origin));
        snprintf(err, err_size, "%s: [cluster] redis_url: %s", origin, why);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ channels */

/* "{prefix}#{nsp}#", "{prefix}-request#{nsp}#" and the like. */
static void channel_name(buf_t *out, const cluster_t *c, const char *kind, const char *nsp,
                         const char *tail)
{
    buf_printf(out, "%s%s#%s#%s", c->prefix, kind, nsp, tail ? tail : "");
}

/* The namespace inside a name that is "{prefix}{kind}#" + nsp + "#" + suffix, or 0. */
static int nsp_of(const cluster_t *c, const char *name, const char *kind, const char *suffix,
                  buf_t *nsp)
{
    size_t pl = strlen(c->prefix), kl = strlen(kind), sl = strlen(suffix), n = strlen(name);
    if (n < pl + kl + 2 + sl || strncmp(name, c->prefix, pl) != 0 ||
        strncmp(name + pl, kind, kl) != 0 || name[pl + kl] != '#' ||
        strcmp(name + n - sl, suffix) != 0 || name[n - sl - 1] != '#')
        return 0;
    buf_append(nsp, name + pl + kl + 1, n - sl - 1 - (pl + kl + 1));
    return 1;
}

static void publish(cluster_t *c, const char *channel, const void *data, size_t len)
{
    if (redis_link_publish(c->link, channel, data, len) == 0) c->stats.published++;
}

/* Publishes msg (consumed) as JSON text on "{prefix}{kind}#{nsp}#". */
static void publish_json(cluster_t *c, const char *kind, const char *nsp, json_t *msg)
{
    buf_t text = BUF_INIT, channel = BUF_INIT;
    json_out_append(&text, msg);
    channel_name(&channel, c, kind, nsp, NULL);
    publish(c, channel.data, text.data, text.len);
    buf_free(&text);
    buf_free(&channel);
    json_decref(msg);
}

static void publish_response_json(cluster_t *c, const char *nsp, json_t *response)
{
    publish_json(c, "-response", nsp, response);
}

static void on_nsp_added(void *ctx, const char *nsp)
{
    cluster_t *c = ctx;
    buf_t name = BUF_INIT;
    channel_name(&name, c, "", nsp, "*");
    redis_link_subscribe(c->link, 1, name.data);
    const char *kinds[3][2] = {{"-request", NULL}, {"-response", NULL}, {"-response", c->uid}};
    for (size_t i = 0; i < 3; i++) {
        buf_reset(&name);
        channel_name(&name, c, kinds[i][0], nsp, kinds[i][1]);
        if (kinds[i][1]) buf_append_byte(&name, '#');
        redis_link_subscribe(c->link, 0, name.data);
    }
    buf_free(&name);
}

/* ------------------------------------------------------------------ publishing */

static int write_strings(buf_t *out, const char *const *items, size_t n)
{
    if (msgpack_write_array(out, n) != 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (msgpack_write_str(out, items[i], strlen(items[i])) != 0) return -1;
    return 0;
}

/* [event, ...args] as MessagePack: the adapter packet's "data". */
static int write_event_data(buf_t *out, const char *event, const sio_args_t *args, char *err,
                            size_t err_size)
{
    json_t *value = NULL;
    size_t nargs = 0;
    if (args && args->array) {
        nargs = json_array_size(args->array);
    } else if (args && args->value) {
        value = json_parse_js(args->value, args->len);
        if (!value) {
            snprintf(err, err_size, "the argument is not JSON");
            return -1;
        }
        nargs = 1;
    }
    int rc = msgpack_write_array(out, 1 + nargs);
    if (rc == 0) rc = msgpack_write_str(out, event, strlen(event));
    if (value) {
        if (rc == 0) rc = msgpack_write_json(out, value, NULL, 0, err, err_size);
        json_decref(value);
        return rc;
    }
    msgpack_bin_t small[8];
    msgpack_bin_t *bins = NULL;
    size_t nbins = args && args->array ? args->nbin : 0;
    if (nbins) {
        bins = nbins <= 8 ? small : xmalloc(nbins * sizeof(*bins));
        for (size_t i = 0; i < nbins; i++) {
            bins[i].data = (const uint8_t *)args->bin[i].data;
            bins[i].len = args->bin[i].len;
        }
    }
    for (size_t i = 0; i < nargs && rc == 0; i++)
        rc = msgpack_write_json(out, json_array_get(args->array, i), bins, nbins, err, err_size);
    if (bins && bins != small) free(bins);
    return rc;
}

/* A server-side event, [event, ...args] (data, consumed), on the request channel as JSON: what
 * serverSideEmit sends (binary cannot travel in it). */
static void publish_server_event(cluster_t *c, const char *nsp, json_t *data)
{
    json_t *req = json_object();
    json_object_set_new(req, "uid", json_string(c->uid));
    json_object_set_new(req, "type", json_integer(REQ_SERVER_SIDE_EMIT));
    json_object_set_new(req, "data", data);
    publish_json(c, "-request", nsp, req);
}

static void on_server_emit(void *ctx, const char *nsp, const char *event, const json_t *args)
{
    json_t *data = json_array();
    json_array_append_new(data, json_string(event));
    if (json_is_array(args)) json_array_extend(data, (json_t *)args);
    publish_server_event(ctx, nsp, data);
}

/* An emit to every authenticated socket: the server-side event CLUSTER_BROADCAST_EVENT. */
static void publish_authenticated(cluster_t *c, const char *nsp, const char *event,
                                  const sio_args_t *args)
{
    json_t *data = json_array();
    json_array_append_new(data, json_string(CLUSTER_BROADCAST_EVENT));
    json_array_append_new(data, json_string(event));
    if (args && args->array) {
        json_array_extend(data, (json_t *)args->array);
    } else if (args && args->value) {
        json_t *v = json_parse_js(args->value, args->len);
        if (!v) {
            json_decref(data);
            c->stats.unpublishable++;
            return;
        }
        json_array_append_new(data, v);
    }
    publish_server_event(c, nsp, data);
}

static void on_publish(void *ctx, const char *nsp, const sio_target_t *t, const char *event,
                       const sio_args_t *args)
{
    cluster_t *c = ctx;
    if (t->kind == SIO_TO_AUTHENTICATED) {
        publish_authenticated(c, nsp, event, args);
        return;
    }
    buf_t user_room = BUF_INIT;
    const char *one[1];
    const char *const *rooms = NULL;
    size_t nrooms = 0;
    if (t->kind == SIO_TO_USER) {
        sio_user_room(&user_room, t->id);
        one[0] = user_room.data;
        rooms = one;
        nrooms = 1;
    } else if (t->kind == SIO_TO_ROOMS) {
        rooms = t->rooms;
        nrooms = t->nrooms;
    }
    /* [uid, {type, data, nsp}, {rooms, except, flags}], keys in the adapter's order. */
    buf_t m = BUF_INIT;
    char err[160] = "";
    msgpack_write_array(&m, 3);
    msgpack_write_str(&m, c->uid, CLUSTER_UID_LEN);
    msgpack_write_map(&m, 3);
    msgpack_write_str(&m, "type", 4);
    msgpack_write_int64(&m, 2);
    msgpack_write_str(&m, "data", 4);
    int rc = write_event_data(&m, event, args, err, sizeof(err));
    if (rc == 0) {
        msgpack_write_str(&m, "nsp", 3);
        msgpack_write_str(&m, nsp, strlen(nsp));
        msgpack_write_map(&m, 3);
        msgpack_write_str(&m, "rooms", 5);
        rc = write_strings(&m, rooms, nrooms);
    }
    if (rc == 0) {
        msgpack_write_str(&m, "except", 6);
        rc = write_strings(&m, t->except, t->nexcept);
    }
    if (rc == 0) {
        msgpack_write_str(&m, "flags", 5);
        int vol = (t->flags & SIO_EMIT_VOLATILE) != 0;
        msgpack_write_map(&m, vol ? 1 : 0);
        if (vol) {
            msgpack_write_str(&m, "volatile", 8);
            msgpack_write_bool(&m, 1);
        }
    }
    if (rc != 0) {
        c->stats.unpublishable++;
        log_warn("cluster", "emit \"%s\" not sent to the fleet: %s", event,
                 err[0] ? err : "too large");
    } else {
        buf_t channel = BUF_INIT;
        channel_name(&channel, c, "", nsp, NULL);
        if (nrooms == 1) buf_printf(&channel, "%s#", rooms[0]);
        publish(c, channel.data, m.data, m.len);
        buf_free(&channel);
    }
    buf_free(&m);
    buf_free(&user_room);
}

/* ------------------------------------------------------------------ receiving broadcasts */

/* The strings of an array into a NULL-free vector (borrowed from the tree). 0, or -1 when the
 * value is not an array of strings. An absent value is an empty list. */
static int strings_of(const json_t *v, const char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!v) return 0;
    if (!json_is_array(v)) return -1;
    size_t len = json_array_size(v);
    if (!len) return 0;
    const char **items = xmalloc(len * sizeof(*items));
    for (size_t i = 0; i < len; i++) {
        const json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            free(items);
            return -1;
        }
        items[i] = json_string_value(s);
    }
    *out = items;
    *n = len;
    return 0;
}

/* An adapter packet {type: 2, data: [event, ...args], nsp} for namespace nsp: the event and
 * its arguments (a new array). Returns 0, 1 when the packet is for another namespace, -1 when
 * malformed. */
static int packet_event(const json_t *packet, const char *nsp, const char **event, json_t **args)
{
    if (!json_is_object(packet)) return -1;
    const json_t *pn = json_object_get(packet, "nsp");
    if (pn && !json_is_string(pn)) return -1;
    if (strcmp(pn ? json_string_value(pn) : "/", nsp) != 0) return 1;
    const json_t *type = json_object_get(packet, "type");
    const json_t *data = json_object_get(packet, "data");
    if (!json_is_integer(type) || json_integer_value(type) != 2 || !json_is_array(data)) return -1;
    const json_t *name = json_array_get(data, 0);
    if (!json_is_string(name) || !json_string_length(name) ||
        sio_event_name_is_reserved(json_string_value(name), json_string_length(name)))
        return -1;
    *event = json_string_value(name);
    *args = json_array();
    for (size_t i = 1; i < json_array_size(data); i++)
        json_array_append(*args, json_array_get(data, i));
    return 0;
}

static sio_bin_t *bins_as_sio(const msgpack_bins_t *bins)
{
    if (!bins->count) return NULL;
    sio_bin_t *out = xmalloc(bins->count * sizeof(*out));
    for (size_t i = 0; i < bins->count; i++) {
        out[i].data = (char *)bins->items[i].data; /* only read by the encoder */
        out[i].len = bins->items[i].len;
    }
    return out;
}

static void on_broadcast(cluster_t *c, const char *nsp_name, const char *channel, const void *data,
                         size_t len)
{
    sio_nsp_t *nsp = sio_server_find_nsp(c->sio, nsp_name);
    if (!nsp) {
        c->stats.ignored++;
        return;
    }
    /* On a room's channel, a node with nobody in the room (and no session kept for recovery
     * that was) has nothing to do. */
    size_t base = strlen(c->prefix) + 1 + strlen(nsp_name) + 1;
    size_t clen = strlen(channel);
    if (clen > base + 1) {
        buf_t room = BUF_INIT;
        buf_append(&room, channel + base, clen - base - 1);
        int needed = sio_nsp_room_needed(nsp, room.data);
        buf_free(&room);
        if (!needed) {
            c->stats.ignored++;
            return;
        }
    }
    json_t *msg = NULL;
    msgpack_bins_t bins = MSGPACK_BINS_INIT;
    char err[160];
    if (msgpack_decode(data, len, &msg, &bins, err, sizeof(err)) != 0) {
        c->stats.malformed++;
        log_debug("cluster", "undecodable broadcast on %s dropped: %s", channel, err);
        return;
    }
    const json_t *uid = json_array_get(msg, 0);
    const json_t *opts = json_array_get(msg, 2);
    const char *event = NULL;
    json_t *args = NULL;
    const char **rooms = NULL, **except = NULL;
    size_t nrooms = 0, nexcept = 0;
    int r = -1;
    if (json_is_array(msg) && json_array_size(msg) == 3 && json_is_string(uid) &&
        json_is_object(opts)) {
        if (strcmp(json_string_value(uid), c->uid) == 0) {
            c->stats.echoes++;
            r = 1;
        } else {
            r = packet_event(json_array_get(msg, 1), nsp_name, &event, &args);
            if (r == 0 && (strings_of(json_object_get(opts, "rooms"), &rooms, &nrooms) != 0 ||
                           strings_of(json_object_get(opts, "except"), &except, &nexcept) != 0))
                r = -1;
            if (r == 1) c->stats.ignored++;
        }
    }
    if (r < 0) {
        c->stats.malformed++;
        log_debug("cluster", "malformed broadcast on %s dropped", channel);
    } else if (r == 0) {
        const json_t *flags = json_object_get(opts, "flags");
        sio_target_t t = {
            .kind = nrooms ? SIO_TO_ROOMS : SIO_TO_ALL,
            .flags = SIO_EMIT_LOCAL |
                     (json_is_true(json_object_get(flags, "volatile")) ? SIO_EMIT_VOLATILE : 0),
            .nsp = nsp_name,
            .rooms = rooms,
            .nrooms = nrooms,
            .except = except,
            .nexcept = nexcept,
        };
        sio_bin_t *bin = bins_as_sio(&bins);
        sio_args_t a = {.array = args, .bin = bin, .nbin = bins.count};
        sio_emit(c->sio, &t, event, &a);
        c->stats.received++;
        free(bin);
    }
    free(rooms);
    free(except);
    json_decref(args);
    json_decref(msg);
    msgpack_bins_free(&bins);
}

/* ------------------------------------------------------------------ requests */

/* The id of a request to answer with data, or NULL (counted) for this node's own request or
 * one without an id. */
static const char *answerable(cluster_t *c, const json_t *req, int own)
{
    const char *id = json_string_value(json_object_get(req, "requestId"));
    if (own)
        c->stats.echoes++;
    else if (!id)
        c->stats.malformed++;
    return own ? NULL : id;
}

/* Answers {requestId: id, key: list} (list consumed). */
static void reply_with(cluster_t *c, const char *nsp, const char *id, const char *key, json_t *list)
{
    json_t *resp = json_object();
    json_object_set_new(resp, "requestId", json_string(id));
    json_object_set_new(resp, key, list);
    publish_response_json(c, nsp, resp);
    c->stats.requests_answered++;
}

/* The legacy one-socket requests are answered {requestId} once done. */
static void acknowledge(cluster_t *c, const char *nsp, const json_t *req)
{
    const char *id = json_string_value(json_object_get(req, "requestId"));
    if (id) {
        json_t *resp = json_object();
        json_object_set_new(resp, "requestId", json_string(id));
        publish_response_json(c, nsp, resp);
    }
    c->stats.requests_answered++;
}

static void add_room_name(void *user, const char *room, size_t len)
{
    json_array_append_new(user, json_stringn(room, len));
}

typedef struct rooms_change {
    const char **rooms;
    size_t nrooms;
    int join;
} rooms_change_t;

static void change_rooms(void *user, sio_socket_t *s)
{
    rooms_change_t *ch = user;
    for (size_t i = 0; i < ch->nrooms; i++) {
        if (ch->join)
            sio_socket_join(s, ch->rooms[i]);
        else
            sio_socket_leave(s, ch->rooms[i]);
    }
}

static void disconnect_socket(void *user, sio_socket_t *s)
{
    if (*(int *)user)
        sio_socket_disconnect_and_close(s, "server namespace disconnect");
    else
        sio_socket_disconnect(s, "server namespace disconnect");
}

/* A broadcast with acks asked by another node: what each client's ack is sent back as. */
typedef struct ack_wait {
    cluster_t *c; /* NULL once the cluster closed: acks are then dropped */
    struct ack_wait *prev, *next;
    char *nsp;
    char *request_id;
    unsigned refs; /* one per socket still to answer */
} ack_wait_t;

static void ack_wait_unref(ack_wait_t *w)
{
    if (--w->refs) return;
    if (w->c) {
        if (w->prev)
            w->prev->next = w->next;
        else
            w->c->waits = w->next;
        if (w->next) w->next->prev = w->prev;
    }
    free(w->nsp);
    free(w->request_id);
    free(w);
}

static void on_client_ack(void *user, sio_socket_t *s, const json_t *args, const sio_bin_t *bin,
                          size_t nbin)
{
    (void)s;
    ack_wait_t *w = user;
    if (args && w->c) {
        /* {type: 9, requestId, packet: <the ack's first argument>} as MessagePack. */
        msgpack_bin_t small[8];
        msgpack_bin_t *bins = nbin <= 8 ? small : xmalloc(nbin * sizeof(*bins));
        for (size_t i = 0; i < nbin; i++) {
            bins[i].data = (const uint8_t *)bin[i].data;
            bins[i].len = bin[i].len;
        }
        buf_t m = BUF_INIT;
        char err[160];
        msgpack_write_map(&m, 3);
        msgpack_write_str(&m, "type", 4);
        msgpack_write_int64(&m, REQ_BROADCAST_ACK);
        msgpack_write_str(&m, "requestId", 9);
        msgpack_write_str(&m, w->request_id, strlen(w->request_id));
        msgpack_write_str(&m, "packet", 6);
        const json_t *first = json_array_get(args, 0);
        int rc = first ? msgpack_write_json(&m, first, bins, nbin, err, sizeof(err)) : 0;
        if (!first) msgpack_write_nil(&m);
        if (rc == 0) {
            buf_t channel = BUF_INIT;
            channel_name(&channel, w->c, "-response", w->nsp, NULL);
            publish(w->c, channel.data, m.data, m.len);
            buf_free(&channel);
        } else {
            w->c->stats.unpublishable++;
        }
        buf_free(&m);
        if (bins != small) free(bins);
    }
    ack_wait_unref(w);
}

typedef struct ack_broadcast {
    ack_wait_t *wait;
    const char *event;
    const sio_args_t *args;
    uint64_t timeout_ms;
} ack_broadcast_t;

static void emit_with_ack_to(void *user, sio_socket_t *s)
{
    ack_broadcast_t *b = user;
    b->wait->refs++;
    sio_socket_emit_with_ack(s, b->event, b->args, b->timeout_ms, on_client_ack, b->wait);
}

static void answer_broadcast_with_ack(cluster_t *c, const char *nsp_name, sio_nsp_t *nsp,
                                      const json_t *req, const msgpack_bins_t *bins,
                                      const char **rooms, size_t nrooms, const char **except,
                                      size_t nexcept)
{
    const char *request_id = json_string_value(json_object_get(req, "requestId"));
    const char *event = NULL;
    json_t *args = NULL;
    int r = packet_event(json_object_get(req, "packet"), nsp_name, &event, &args);
    if (!request_id || r != 0) {
        if (r == 1)
            c->stats.ignored++;
        else
            c->stats.malformed++;
        json_decref(args);
        return;
    }
    const json_t *timeout =
        json_object_get(json_object_get(json_object_get(req, "opts"), "flags"), "timeout");
    ack_wait_t *w = xcalloc(1, sizeof(*w));
    w->c = c;
    w->nsp = xstrdup(nsp_name);
    w->request_id = xstrdup(request_id);
    w->refs = 1; /* held until the client count is out */
    w->next = c->waits;
    if (c->waits) c->waits->prev = w;
    c->waits = w;
    sio_bin_t *bin = bins_as_sio(bins);
    sio_args_t a = {.array = args, .bin = bin, .nbin = bins->count};
    ack_broadcast_t b = {w, event, &a,
                         json_is_integer(timeout) && json_integer_value(timeout) > 0
                             ? (uint64_t)json_integer_value(timeout)
                             : 0};
    /* Every socket gets its ack request before the count leaves; acks arrive in later turns. */
    size_t n = sio_nsp_each_socket(nsp, rooms, nrooms, except, nexcept, emit_with_ack_to, &b);
    json_t *resp = json_object();
    json_object_set_new(resp, "type", json_integer(REQ_BROADCAST_CLIENT_COUNT));
    json_object_set_new(resp, "requestId", json_string(request_id));
    json_object_set_new(resp, "clientCount", json_integer((json_int_t)n));
    publish_response_json(c, nsp_name, resp);
    ack_wait_unref(w);
    free(bin);
    json_decref(args);
}

/* One socket as fetchSockets() returns it: {id, handshake, rooms, data}. data is what a Node
 * app keeps in socket.data; iogate keeps the user: {"userId": sub} for an authenticated socket. */
static void describe_socket(void *user, sio_socket_t *s)
{
    json_t *list = user;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(sio_socket_id(s)));
    char *hs = sio_socket_handshake_json(s);
    json_t *handshake = hs ? json_parse_js(hs, strlen(hs)) : NULL;
    free(hs);
    json_object_set_new(o, "handshake", handshake ? handshake : json_object());
    json_t *rooms = json_array();
    sio_socket_each_room(s, add_room_name, rooms);
    json_object_set_new(o, "rooms", rooms);
    json_t *data = json_object();
    if (sio_socket_user_id(s))
        json_object_set_new(data, "userId", json_string(sio_socket_user_id(s)));
    json_object_set_new(o, "data", data);
    json_array_append_new(list, o);
}

static void on_server_side_emit(cluster_t *c, const char *nsp_name, const json_t *req)
{
    const json_t *uid = json_object_get(req, "uid");
    if (json_is_string(uid) && strcmp(json_string_value(uid), c->uid) == 0) {
        c->stats.echoes++;
        return;
    }
    const json_t *data = json_object_get(req, "data");
    if (!json_is_array(data) || !json_is_string(json_array_get(data, 0))) {
        c->stats.malformed++;
        return;
    }
    const char *name = json_string_value(json_array_get(data, 0));
    const json_t *event = json_array_get(data, 1);
    if (strcmp(name, CLUSTER_BROADCAST_EVENT) != 0) {
        /* For this node's handlers (plugins' on_server_event), with the arguments after the
         * name. An ack the sender may wait for is not given: it times out, as with a Node
         * server whose handler never calls back. */
        sio_nsp_t *nsp = sio_server_find_nsp(c->sio, nsp_name);
        if (!nsp) {
            c->stats.ignored++;
            return;
        }
        json_t *args = json_array();
        for (size_t i = 1; i < json_array_size(data); i++)
            json_array_append(args, json_array_get(data, i));
        sio_nsp_server_event(nsp, name, args);
        json_decref(args);
        c->stats.requests_answered++;
        return;
    }
    /* The event to send must be a name a client may receive; otherwise ignored, as a Node
     * peer following the convention would. */
    if (!json_is_string(event) || !json_string_length(event) ||
        sio_event_name_is_reserved(json_string_value(event), json_string_length(event))) {
        c->stats.ignored++;
        return;
    }
    json_t *args = json_array();
    for (size_t i = 2; i < json_array_size(data); i++)
        json_array_append(args, json_array_get(data, i));
    sio_target_t t = {.kind = SIO_TO_AUTHENTICATED, .flags = SIO_EMIT_LOCAL, .nsp = nsp_name};
    sio_args_t a = {.array = args};
    sio_emit(c->sio, &t, json_string_value(event), &a);
    c->stats.requests_answered++;
    json_decref(args);
}

static void on_request(cluster_t *c, const char *nsp_name, const void *data, size_t len)
{
    json_t *req = NULL;
    msgpack_bins_t bins = MSGPACK_BINS_INIT;
    char err[160] = "";
    if (len && ((const char *)data)[0] == '{')
        req = json_parse_js(data, len);
    else if (msgpack_decode(data, len, &req, &bins, err, sizeof(err)) != 0)
        req = NULL;
    const json_t *type = json_object_get(req, "type");
    sio_nsp_t *nsp = sio_server_find_nsp(c->sio, nsp_name);
    if (!json_is_object(req) || !json_is_integer(type)) {
        c->stats.malformed++;
        log_debug("cluster", "malformed request on %s dropped %s", nsp_name, err);
        goto done;
    }
    if (!nsp) {
        c->stats.ignored++;
        goto done;
    }
    const json_t *uid = json_object_get(req, "uid");
    int own = json_is_string(uid) && strcmp(json_string_value(uid), c->uid) == 0;
    const json_t *opts = json_object_get(req, "opts");
    const char **rooms = NULL, **except = NULL;
    size_t nrooms = 0, nexcept = 0;
    if (opts && (!json_is_object(opts) ||
                 strings_of(json_object_get(opts, "rooms"), &rooms, &nrooms) != 0 ||
                 strings_of(json_object_get(opts, "except"), &except, &nexcept) != 0)) {
        c->stats.malformed++;
        free(rooms);
        goto done;
    }
    switch (json_integer_value(type)) {
    case REQ_ALL_ROOMS: {
        const char *id = answerable(c, req, own);
        if (id) {
            json_t *list = json_array();
            sio_nsp_each_room(nsp, add_room_name, list);
            reply_with(c, nsp_name, id, "rooms", list);
        }
        break;
    }
    case REQ_REMOTE_JOIN:
    case REQ_REMOTE_LEAVE: {
        int join = json_integer_value(type) == REQ_REMOTE_JOIN;
        if (opts) {
            const char **names = NULL;
            size_t nnames = 0;
            if (strings_of(json_object_get(req, "rooms"), &names, &nnames) != 0) {
                c->stats.malformed++;
                break;
            }
            rooms_change_t ch = {names, nnames, join};
            sio_nsp_each_socket(nsp, rooms, nrooms, except, nexcept, change_rooms, &ch);
            free(names);
            c->stats.requests_answered++;
            break;
        }
        /* The legacy form: one socket by id, answered. */
        const char *sid = json_string_value(json_object_get(req, "sid"));
        const char *room = json_string_value(json_object_get(req, "room"));
        sio_socket_t *s = sid ? sio_server_find_socket(c->sio, nsp_name, sid) : NULL;
        if (!sid || !room) {
            c->stats.malformed++;
        } else if (s) {
            rooms_change_t ch = {&room, 1, join};
            change_rooms(&ch, s);
            acknowledge(c, nsp_name, req);
        }
        break;
    }
    case REQ_REMOTE_DISCONNECT: {
        int close = json_is_true(json_object_get(req, "close"));
        if (opts) {
            sio_nsp_each_socket(nsp, rooms, nrooms, except, nexcept, disconnect_socket, &close);
            c->stats.requests_answered++;
            break;
        }
        const char *sid = json_string_value(json_object_get(req, "sid"));
        sio_socket_t *s = sid ? sio_server_find_socket(c->sio, nsp_name, sid) : NULL;
        if (!sid) {
            c->stats.malformed++;
        } else if (s) {
            disconnect_socket(&close, s);
            acknowledge(c, nsp_name, req);
        }
        break;
    }
    case REQ_REMOTE_FETCH: {
        const char *id = answerable(c, req, own);
        if (id) {
            json_t *list = json_array();
            sio_nsp_each_socket(nsp, rooms, nrooms, except, nexcept, describe_socket, list);
            reply_with(c, nsp_name, id, "sockets", list);
        }
        break;
    }
    case REQ_SERVER_SIDE_EMIT:
        on_server_side_emit(c, nsp_name, req);
        break;
    case REQ_BROADCAST:
        if (own)
            c->stats.echoes++;
        else if (!json_is_object(opts))
            c->stats.malformed++;
        else
            answer_broadcast_with_ack(c, nsp_name, nsp, req, &bins, rooms, nrooms, except, nexcept);
        break;
    default:
        c->stats.ignored++; /* SOCKETS (0) is gone since 8.0 */
        break;
    }
    free(rooms);
    free(except);
done:
    json_decref(req);
    msgpack_bins_free(&bins);
}

/* ------------------------------------------------------------------ this node's requests */

/* A fleet-wide room size: a fetch-sockets request (type 5, what Node peers answer too) whose
 * answers are counted. Freed once its timer is closed and no NUMSUB reply is awaited. */
typedef struct count_req {
    struct count_req *prev, *next;
    cluster_t *c;
    char id[CLUSTER_UID_LEN + 1];
    char *nsp;
    char *room;
    int64_t count;
    long expected; /* answers awaited: the other nodes, once NUMSUB told; -1 before */
    long got;
    uv_timer_t timer;
    unsigned refs; /* the timer, and the NUMSUB command while it is out */
    int done;
    sio_count_fn cb;
    void *user;
} count_req_t;

static void count_unref(count_req_t *r)
{
    if (--r->refs) return;
    free(r->nsp);
    free(r->room);
    free(r);
}

static void on_count_timer_closed(uv_handle_t *h)
{
    count_unref(h->data);
}

/* Answers the plugin once and lets the request go. */
static void count_finish(count_req_t *r, int status)
{
    if (r->done) return;
    r->done = 1;
    cluster_t *c = r->c;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->counts = r->next;
    if (r->next) r->next->prev = r->prev;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_count_timer_closed);
    r->cb(r->user, r->count, status);
}

static void on_count_timeout(uv_timer_t *t)
{
    count_req_t *r = t->data;
    log_debug("cluster", "room size of %s: %ld of %ld nodes answered in time", r->room, r->got,
              r->expected);
    count_finish(r, SIO_COUNT_PARTIAL);
}

static void on_numsub(void *arg, const struct redisReply *reply, int status)
{
    count_req_t *r = arg;
    if (!r->done) {
        if (status != 0 || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[1]->type != REDIS_REPLY_INTEGER) {
            count_finish(r, SIO_COUNT_PARTIAL);
        } else if (reply->element[1]->integer <= 1) {
            count_finish(r, 0); /* this node is the fleet */
        } else {
            r->expected = (long)reply->element[1]->integer - 1;
            json_t *req = json_object();
            json_object_set_new(req, "uid", json_string(r->c->uid));
            json_object_set_new(req, "requestId", json_string(r->id));
            json_object_set_new(req, "type", json_integer(REQ_REMOTE_FETCH));
            json_t *opts = json_object();
            json_t *rooms = json_array();
            json_array_append_new(rooms, json_string(r->room));
            json_object_set_new(opts, "rooms", rooms);
            json_object_set_new(opts, "except", json_array());
            json_object_set_new(req, "opts", opts);
            publish_json(r->c, "-request", r->nsp, req);
        }
    }
    count_unref(r);
}

static void on_room_size(void *ctx, const char *nsp, const char *room, int64_t local,
                         sio_count_fn cb, void *user)
{
    cluster_t *c = ctx;
    count_req_t *r = xcalloc(1, sizeof(*r));
    r->c = c;
    random_id(r->id, CLUSTER_UID_LEN);
    r->nsp = xstrdup(nsp);
    r->room = xstrdup(room);
    r->count = local;
    r->expected = -1;
    r->cb = cb;
    r->user = user;
    r->refs = 1;
    uv_timer_init(c->loop, &r->timer);
    r->timer.data = r;
    r->next = c->counts;
    if (c->counts) c->counts->prev = r;
    c->counts = r;
    uv_timer_start(&r->timer, on_count_timeout, c->request_timeout_ms, 0);
    buf_t channel = BUF_INIT;
    channel_name(&channel, c, "-request", nsp, NULL);
    const char *argv[3] = {"PUBSUB", "NUMSUB", channel.data};
    r->refs++;
    if (redis_link_command(c->link, 3, argv, NULL, on_numsub, r) != 0) {
        r->refs--;
        count_finish(r, SIO_COUNT_PARTIAL); /* the fleet is unreachable: what is known */
    }
    buf_free(&channel);
}

/* An answer on a response channel: counted when it answers one of this node's requests. */
static void on_response(cluster_t *c, const void *data, size_t len)
{
    json_t *resp = NULL;
    char err[160];
    if (len && ((const char *)data)[0] == '{')
        resp = json_parse_js(data, len);
    else if (msgpack_decode(data, len, &resp, NULL, err, sizeof(err)) != 0)
        resp = NULL;
    const char *id = json_string_value(json_object_get(resp, "requestId"));
    count_req_t *r = c->counts;
    while (r && !(id && strcmp(r->id, id) == 0))
        r = r->next;
    const json_t *sockets = json_object_get(resp, "sockets");
    if (!r || r->expected < 0 || !json_is_array(sockets)) {
        c->stats.ignored++; /* another node's, or not an answer this node waits for */
    } else {
        r->count += (int64_t)json_array_size(sockets);
        if (++r->got >= r->expected) count_finish(r, 0);
    }
    json_decref(resp);
}

/* ------------------------------------------------------------------ the link */

static void on_message(void *user, const char *channel, const char *pattern, const void *data,
                       size_t len)
{
    cluster_t *c = user;
    buf_t nsp = BUF_INIT;
    if (pattern) {
        if (nsp_of(c, pattern, "", "*", &nsp))
            on_broadcast(c, nsp.data, channel, data, len);
        else
            c->stats.ignored++;
    } else if (nsp_of(c, channel, "-request", "", &nsp)) {
        on_request(c, nsp.data, data, len);
    } else {
        on_response(c, data, len);
    }
    buf_free(&nsp);
}

static void on_state(void *user, redis_link_state_t state)
{
    cluster_t *c = user;
    const redis_link_stats_t *s = redis_link_stats(c->link);
    if (state == REDIS_LINK_UP)
        log_info("cluster", "joined the fleet on Redis as node %s", c->uid);
    else if (state == REDIS_LINK_DOWN)
        log_warn("cluster", "Redis unreachable (%s): emits for the fleet wait, up to %zu",
                 s->last_error, c->queue_max);
}

cluster_t *cluster_new(uv_loop_t *loop, const config_t *cfg, sio_server_t *sio, char *err,
                       size_t err_size)
{
    if (cluster_check_config(cfg, err, err_size) != 0) return NULL;
    redis_url_t url;
    char why[256];
    redis_url_parse(cfg->cluster.redis_url, &url, why, sizeof(why));
    cluster_t *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->sio = sio;
    c->prefix = xstrdup(cfg->cluster.key_prefix);
    random_id(c->uid, CLUSTER_UID_LEN);
    redis_link_opts_t o;
    redis_link_opts_init(&o);
    o.queue_max_msgs = (size_t)cfg->cluster.max_queued_messages;
    c->queue_max = o.queue_max_msgs;
    o.queue_max_bytes = (size_t)cfg->cluster.max_queued_bytes;
    o.on_message = on_message;
    o.on_state = on_state;
    o.user = c;
    int r = redis_link_new(loop, &url, &o, &c->link);
    if (r != 0) {
        snprintf(err, err_size, "[cluster]: %s", uv_strerror(r));
        free(c->prefix);
        free(c);
        return NULL;
    }
    char where[300];
    redis_url_describe(&url, where, sizeof(where));
    log_info("cluster", "node %s joining the fleet on %s (key prefix \"%s\")", c->uid, where,
             c->prefix);
    c->request_timeout_ms = (uint64_t)cfg->cluster.request_timeout_ms;
    sio_adapter_t a = {.ctx = c,
                       .server_emit = on_server_emit,
                       .room_size = on_room_size,
                       .publish = on_publish,
                       .nsp_added = on_nsp_added};
    sio_server_set_adapter(sio, &a);
    return c;
}

const char *cluster_uid(const cluster_t *c)
{
    return c->uid;
}

int cluster_ready(const cluster_t *c)
{
    return redis_link_stats(c->link)->state == REDIS_LINK_UP;
}

const cluster_stats_t *cluster_stats(const cluster_t *c)
{
    return &c->stats;
}

const redis_link_stats_t *cluster_link_stats(const cluster_t *c)
{
    return redis_link_stats(c->link);
}

static void on_link_closed(void *arg)
{
    cluster_t *c = arg;
    if (c->done) c->done(c->done_arg);
    free(c->prefix);
    free(c);
}

void cluster_close(cluster_t *c, void (*done)(void *arg), void *arg)
{
    sio_server_set_adapter(c->sio, NULL);
    for (ack_wait_t *w = c->waits; w; w = w->next)
        w->c = NULL;
    c->waits = NULL;
    c->done = done;
    c->done_arg = arg;
    redis_link_close(c->link, on_link_closed, c); /* NUMSUB replies are cancelled first */
    while (c->counts)
        count_finish(c->counts, SIO_COUNT_PARTIAL);
}
