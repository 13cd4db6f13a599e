/* host_sio.c - the host API's Socket.IO part: registered events and emits (through
 * sio_emit), namespaces, connection and event hooks, acks, rooms and disconnects. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json_in.h"
#include "base/json_out.h"
#include "base/json_writer.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/objmap.h"
#include "cluster/cluster.h"
#include "http/url.h"
#include "plugins/host_api_internal.h"
#include "plugins/plugin_internal.h"
#include "sio/sio_server.h"

int api_register_event(iog_plugin_t *p, const char *name, iog_serialize_fn serialize, void *user)
{
    if (!p || !name || !serialize)
        return p ? plugin_fail(p, IOG_EINVAL, "register_event: NULL argument") : IOG_EINVAL;
    REQUIRE_INIT(p, "register_event");
    if (!name[0] || strlen(name) > 255 || sio_event_name_is_reserved(name, strlen(name)))
        return plugin_fail(p, IOG_EINVAL, "event name \"%s\" is empty, too long or reserved", name);
    event_def_t *existing = strmap_get(&p->host->events, name, strlen(name));
    if (existing)
        return plugin_fail(p, IOG_EEXIST, "event \"%s\" is already registered by plugin %s", name,
                           existing->owner->name);
    event_def_t *d = xcalloc(1, sizeof(*d));
    d->owner = p;
    d->serialize = serialize;
    d->user = user;
    strmap_put(&p->host->events, name, strlen(name), d);
    p->events = xrealloc(p->events, (p->nevents + 1) * sizeof(*p->events));
    p->events[p->nevents++] = xstrdup(name);
    return 0;
}

/* Whether a plugin's target holds member m: older headers made shorter targets. */
#define TARGET_HAS(t, m) ((t)->struct_size >= offsetof(iog_target_t, m) + sizeof((t)->m))

/* An ABI target as the Socket.IO layer's. Returns 0, or an IOG_E* code with the message set. */
static int target_from_abi(iog_plugin_t *p, const iog_target_t *t, sio_target_t *out)
{
    memset(out, 0, sizeof(*out));
    out->nsp = t->nsp;
    out->id = t->id;
    if (TARGET_HAS(t, except_len) && t->except) {
        out->except = t->except;
        out->nexcept = t->except_len;
    }
    int flags = t->kind & ~0xff;
    if (flags & ~(IOG_EMIT_LOCAL | IOG_EMIT_VOLATILE))
        return plugin_fail(p, IOG_EINVAL, "emit: unknown target kind %d", t->kind);
    out->flags = ((flags & IOG_EMIT_LOCAL) ? SIO_EMIT_LOCAL : 0) |
                 ((flags & IOG_EMIT_VOLATILE) ? SIO_EMIT_VOLATILE : 0);
    switch (t->kind & 0xff) {
    case IOG_TARGET_USER:
        if (!t->id) return plugin_fail(p, IOG_EINVAL, "emit: a user target needs an id");
        out->kind = SIO_TO_USER;
        return 0;
    case IOG_TARGET_ROOM:
        if (!t->id) return plugin_fail(p, IOG_EINVAL, "emit: a room target needs an id");
        out->kind = SIO_TO_ROOMS;
        out->rooms = &t->id;
        out->nrooms = 1;
        return 0;
    case IOG_TARGET_ALL:
        out->kind = SIO_TO_ALL;
        return 0;
    case IOG_TARGET_AUTHENTICATED:
        out->kind = SIO_TO_AUTHENTICATED;
        return 0;
    default:
        return plugin_fail(p, IOG_EINVAL, "emit: unknown target kind %d", t->kind);
    }
}

/* sio_emit() for a plugin: the count clamped to int, or an IOG_E* code with its message. */
static int emit_through(iog_plugin_t *p, const char *what, const sio_target_t *t, const char *event,
                        const sio_args_t *args)
{
    int64_t n = sio_emit(p->host->deps.sio, t, event, args);
    if (n == SIO_EMIT_ENOENT)
        return t->kind == SIO_TO_SOCKET
                   ? plugin_fail(p, IOG_ENOENT, "%s: socket is gone", what)
                   : plugin_fail(p, IOG_ENOENT, "%s: no namespace %s", what, t->nsp ? t->nsp : "/");
    if (n < 0) return plugin_fail(p, IOG_EINVAL, "%s: invalid target", what);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

static int emit_text(iog_plugin_t *p, const iog_target_t *t, const char *event, const char *json,
                     size_t len)
{
    sio_target_t target;
    int r = target_from_abi(p, t, &target);
    if (r) return r;
    sio_args_t args = {.value = json, .len = len};
    return emit_through(p, "emit", &target, event, &args);
}

static int check_target(iog_plugin_t *p, const iog_target_t *t, const char *event)
{
    if (!p || !t || !event)
        return p ? plugin_fail(p, IOG_EINVAL, "emit: NULL argument") : IOG_EINVAL;
    if (t->struct_size < offsetof(iog_target_t, except_len))
        return plugin_fail(p, IOG_EINVAL, "emit: target struct_size too small");
    if (sio_event_name_is_reserved(event, strlen(event)))
        return plugin_fail(p, IOG_EINVAL, "emit: \"%s\" is a reserved event name", event);
    return 0;
}

int api_emit(iog_plugin_t *p, const iog_target_t *t, const char *event, const void *payload)
{
    int r = check_target(p, t, event);
    if (r) return r;
    event_def_t *d = strmap_get(&p->host->events, event, strlen(event));
    if (!d) return plugin_fail(p, IOG_ENOENT, "emit: no event \"%s\" is registered", event);
    iog_json_writer_t w;
    json_writer_init(&w.w);
    r = d->serialize(d->user, payload, &w);
    size_t len;
    const char *json = json_writer_text(&w.w, &len);
    if (r == 0 && !json)
        r = plugin_fail(p, IOG_EINVAL, "emit: the serializer of \"%s\" wrote invalid JSON", event);
    if (r == 0) r = emit_text(p, t, event, json, len);
    json_writer_free(&w.w);
    if (r >= 0) {
        d->emitted++;
        d->recipients += (uint64_t)r;
    }
    return r;
}

int api_emit_to_user(iog_plugin_t *p, const char *user_id, const char *event, const void *payload)
{
    iog_target_t t = {sizeof(t), IOG_TARGET_USER, "/", user_id, NULL, 0};
    return api_emit(p, &t, event, payload);
}

int api_emit_json(iog_plugin_t *p, const iog_target_t *t, const char *event, const char *json,
                  size_t len)
{
    int r = check_target(p, t, event);
    if (r) return r;
    json_t *v = json ? json_parse_js(json, len) : NULL;
    if (json && !v)
        return plugin_fail(p, IOG_EINVAL, "emit_json: the payload is not one JSON value");
    buf_t compact = BUF_INIT;
    if (v) json_out_append(&compact, v);
    json_decref(v);
    r = emit_text(p, t, event, compact.data, compact.len);
    buf_free(&compact);
    return r;
}

/* ------------------------------------------------------------------ Socket.IO */

int api_add_namespace(iog_plugin_t *p, const char *nsp)
{
    if (!p) return IOG_EINVAL;
    REQUIRE_INIT(p, "add_namespace");
    return plugin_stage(p, STAGED_NAMESPACE, nsp, NULL, NULL, NULL);
}

int api_on_connect(iog_plugin_t *p, const char *nsp, iog_connection_fn fn, void *user)
{
    if (!p || !fn) return IOG_EINVAL;
    REQUIRE_INIT(p, "on_connect");
    return plugin_stage(p, STAGED_CONNECT, nsp, NULL, (void (*)(void))fn, user);
}

int api_on_disconnect(iog_plugin_t *p, const char *nsp, iog_connection_fn fn, void *user)
{
    if (!p || !fn) return IOG_EINVAL;
    REQUIRE_INIT(p, "on_disconnect");
    return plugin_stage(p, STAGED_DISCONNECT, nsp, NULL, (void (*)(void))fn, user);
}

int api_on_event(iog_plugin_t *p, const char *nsp, const char *event, iog_client_event_fn fn,
                 void *user)
{
    if (!p || !fn || !event || !event[0])
        return p ? plugin_fail(p, IOG_EINVAL, "on_event: missing event or handler") : IOG_EINVAL;
    REQUIRE_INIT(p, "on_event");
    return plugin_stage(p, STAGED_EVENT, nsp, event, (void (*)(void))fn, user);
}

static void connection_fill(iog_connection_t *c, host_principal_t *hp, sio_socket_t *s)
{
    memset(c, 0, sizeof(*c));
    c->struct_size = sizeof(*c);
    c->nsp = sio_nsp_name(sio_socket_nsp(s));
    c->socket_id = sio_socket_id(s);
    if (sio_socket_user_id(s)) {
        principal_fill_socket(hp, s);
        c->principal = &hp->pub;
    }
}

static void connect_adapter(void *user, sio_socket_t *s, const json_t *auth)
{
    hook_t *h = user;
    iog_connection_t c;
    host_principal_t hp = {0};
    connection_fill(&c, &hp, s);
    char *auth_json = json_dumps(auth, JSON_COMPACT | JSON_ENCODE_ANY);
    c.auth_json = auth_json ? auth_json : "{}";
    c.recovered = sio_socket_recovered(s);
    ((iog_connection_fn)h->fn)(h->user, &c);
    free(auth_json);
    principal_release(&hp);
}

static void disconnect_adapter(void *user, sio_socket_t *s, const char *reason)
{
    hook_t *h = user;
    iog_connection_t c;
    host_principal_t hp = {0};
    connection_fill(&c, &hp, s);
    c.reason = reason;
    ((iog_connection_fn)h->fn)(h->user, &c);
    principal_release(&hp);
}

static void event_adapter(void *user, sio_socket_t *s, const sio_event_t *ev)
{
    hook_t *h = user;
    iog_client_event_t e;
    memset(&e, 0, sizeof(e));
    host_principal_t hp = {0};
    e.struct_size = sizeof(e);
    e.nsp = sio_nsp_name(sio_socket_nsp(s));
    e.socket_id = sio_socket_id(s);
    if (sio_socket_user_id(s)) {
        principal_fill_socket(&hp, s);
        e.principal = &hp.pub;
    }
    e.event = ev->name;
    e.args_json = sio_event_args_text(ev, &e.args_len);
    e.ack_id = ev->ack_id;
    iog_bytes_t small[8];
    iog_bytes_t *att = ev->nbin <= 8 ? small : xcalloc(ev->nbin, sizeof(*att));
    for (size_t i = 0; i < ev->nbin; i++) {
        att[i].data = ev->bin[i].data;
        att[i].len = ev->bin[i].len;
    }
    e.attachments = ev->nbin ? att : NULL;
    e.attachments_len = ev->nbin;
    ((iog_client_event_fn)h->fn)(h->user, &e);
    if (att != small) free(att);
    principal_release(&hp);
}

static void server_event_adapter(void *user, const char *nsp, const char *event, const json_t *args)
{
    hook_t *h = user;
    buf_t text = BUF_INIT;
    json_out_append(&text, args);
    iog_server_event_t ev = {sizeof(ev), nsp, event, text.data, text.len};
    ((iog_server_event_fn)h->fn)(h->user, &ev);
    buf_free(&text);
}

void plugin_hook_sio(hook_t *h, int kind, sio_nsp_t *nsp, const char *event)
{
    if (kind == STAGED_SERVER_EVENT)
        sio_nsp_on_server_event(nsp, event, server_event_adapter, h);
    else if (kind == STAGED_CONNECT)
        sio_nsp_on_connect(nsp, connect_adapter, h);
    else if (kind == STAGED_DISCONNECT)
        sio_nsp_on_disconnect(nsp, disconnect_adapter, h);
    else
        sio_nsp_on_event(nsp, event, event_adapter, h);
}

static sio_socket_t *find_socket(iog_plugin_t *p, const char *nsp, const char *socket_id)
{
    if (!p || !socket_id) return NULL;
    return sio_server_find_socket(p->host->deps.sio, nsp ? nsp : "/", socket_id);
}

/* Parses an argument array and wraps attachments as the core's sio_bin_t. */
static int args_with_binary(iog_plugin_t *p, const char *what, const char *args_json, size_t len,
                            const iog_bytes_t *att, size_t n, json_t **args, sio_bin_t **bin)
{
    *args = NULL;
    *bin = NULL;
    if (n && !att) return plugin_fail(p, IOG_EINVAL, "%s: attachments missing", what);
    if (args_json) {
        *args = json_parse_js(args_json, len);
        if (!json_is_array(*args)) {
            json_decref(*args);
            *args = NULL;
            return plugin_fail(p, IOG_EINVAL, "%s: arguments must be a JSON array", what);
        }
    }
    if (n) {
        *bin = xcalloc(n, sizeof(**bin));
        for (size_t i = 0; i < n; i++) {
            (*bin)[i].data = (char *)att[i].data; /* only read by the encoder */
            (*bin)[i].len = att[i].len;
        }
    }
    return 0;
}

int api_emit_to_socket(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *event,
                       const char *args_json, size_t len, const iog_bytes_t *att, size_t n)
{
    if (!p || !socket_id)
        return p ? plugin_fail(p, IOG_EINVAL, "emit_to_socket: NULL socket id") : IOG_EINVAL;
    if (!event || sio_event_name_is_reserved(event, strlen(event)))
        return plugin_fail(p, IOG_EINVAL, "emit_to_socket: missing or reserved event name");
    json_t *array;
    sio_bin_t *bin;
    int r = args_with_binary(p, "emit_to_socket", args_json, len, att, n, &array, &bin);
    if (r) return r;
    sio_target_t target = {.kind = SIO_TO_SOCKET, .nsp = nsp, .id = socket_id};
    json_t *empty = array ? NULL : json_array();
    sio_args_t args = {.array = array ? array : empty, .bin = bin, .nbin = n};
    r = emit_through(p, "emit_to_socket", &target, event, &args);
    json_decref(empty);
    json_decref(array);
    free(bin);
    return r;
}

int api_ack_binary(iog_plugin_t *p, const char *nsp, const char *socket_id, int64_t ack_id,
                   const char *args_json, size_t len, const iog_bytes_t *att, size_t n)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s) return p ? plugin_fail(p, IOG_ENOENT, "ack: socket is gone") : IOG_EINVAL;
    if (ack_id < 0) return plugin_fail(p, IOG_EINVAL, "ack: invalid ack id");
    json_t *args;
    sio_bin_t *bin;
    int r = args_with_binary(p, "ack", args_json, len, att, n, &args, &bin);
    if (r) return r;
    sio_socket_ack(s, ack_id, args, bin, n);
    json_decref(args);
    free(bin);
    return 0;
}

typedef struct plugin_ack {
    iog_ack_fn cb;
    void *user;
} plugin_ack_t;

static void plugin_ack_adapter(void *user, sio_socket_t *s, const json_t *args,
                               const sio_bin_t *bin, size_t nbin)
{
    plugin_ack_t *a = user;
    buf_t json = BUF_INIT;
    iog_bytes_t small[8];
    iog_bytes_t *att = nbin <= 8 ? small : xcalloc(nbin, sizeof(*att));
    for (size_t i = 0; i < nbin; i++) {
        att[i].data = bin[i].data;
        att[i].len = bin[i].len;
    }
    if (args) json_out_append(&json, args);
    a->cb(a->user, sio_nsp_name(sio_socket_nsp(s)), sio_socket_id(s), args ? json.data : NULL,
          args ? json.len : 0, nbin ? att : NULL, args ? nbin : 0);
    if (att != small) free(att);
    buf_free(&json);
    free(a);
}

int api_emit_with_ack(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *event,
                      const char *args_json, size_t len, const iog_bytes_t *att, size_t n,
                      uint64_t timeout_ms, iog_ack_fn cb, void *user)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s) return p ? plugin_fail(p, IOG_ENOENT, "emit_with_ack: socket is gone") : IOG_EINVAL;
    if (!cb || !event || sio_event_name_is_reserved(event, strlen(event)))
        return plugin_fail(p, IOG_EINVAL, "emit_with_ack: missing callback or bad event name");
    json_t *args;
    sio_bin_t *bin;
    int r = args_with_binary(p, "emit_with_ack", args_json, len, att, n, &args, &bin);
    if (r) return r;
    plugin_ack_t *a = xcalloc(1, sizeof(*a));
    a->cb = cb;
    a->user = user;
    sio_args_t sa = {.array = args, .bin = bin, .nbin = n};
    sio_socket_emit_with_ack(s, event, &sa, timeout_ms, plugin_ack_adapter, a);
    json_decref(args);
    free(bin);
    return 0;
}

int api_ack(iog_plugin_t *p, const char *nsp, const char *socket_id, int64_t ack_id,
            const char *args_json, size_t len)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s)
        return p ? plugin_fail(p, IOG_ENOENT, "ack: socket %s is gone", socket_id ? socket_id : "")
                 : IOG_EINVAL;
    if (ack_id < 0) return plugin_fail(p, IOG_EINVAL, "ack: invalid ack id");
    json_t *args = NULL;
    if (args_json) {
        args = json_parse_js(args_json, len);
        if (!json_is_array(args)) {
            json_decref(args);
            return plugin_fail(p, IOG_EINVAL, "ack: arguments must be a JSON array");
        }
    }
    sio_socket_ack(s, ack_id, args, NULL, 0);
    json_decref(args);
    return 0;
}

int api_join(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *room)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s) return p ? plugin_fail(p, IOG_ENOENT, "join: socket is gone") : IOG_EINVAL;
    if (!room || !room[0] || strlen(room) > 1024)
        return plugin_fail(p, IOG_EINVAL, "join: invalid room name");
    sio_socket_join(s, room);
    return 0;
}

int api_leave(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *room)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s) return p ? plugin_fail(p, IOG_ENOENT, "leave: socket is gone") : IOG_EINVAL;
    if (!room) return IOG_EINVAL;
    sio_socket_leave(s, room);
    return 0;
}

int api_disconnect(iog_plugin_t *p, const char *nsp, const char *socket_id)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s) return p ? plugin_fail(p, IOG_ENOENT, "disconnect: socket is gone") : IOG_EINVAL;
    sio_socket_disconnect(s, "server namespace disconnect");
    return 0;
}

int64_t api_room_size(iog_plugin_t *p, const char *nsp, const char *room)
{
    if (!p || !room) return IOG_EINVAL;
    sio_nsp_t *n = sio_server_find_nsp(p->host->deps.sio, nsp ? nsp : "/");
    return n ? (int64_t)sio_nsp_room_size(n, room) : 0;
}

/* ------------------------------------------------------------------ the fleet (1.2) */

int api_on_server_event(iog_plugin_t *p, const char *nsp, const char *event, iog_server_event_fn fn,
                        void *user)
{
    if (!p || !fn || !event || !event[0])
        return p ? plugin_fail(p, IOG_EINVAL, "on_server_event: missing event or handler")
                 : IOG_EINVAL;
    REQUIRE_INIT(p, "on_server_event");
    if (strcmp(event, CLUSTER_BROADCAST_EVENT) == 0)
        return plugin_fail(p, IOG_EINVAL, "on_server_event: \"%s\" is the host's own", event);
    return plugin_stage(p, STAGED_SERVER_EVENT, nsp, event, (void (*)(void))fn, user);
}

int api_server_emit(iog_plugin_t *p, const char *nsp, const char *event, const char *args_json,
                    size_t len)
{
    if (!p || !event || !event[0])
        return p ? plugin_fail(p, IOG_EINVAL, "server_emit: missing event") : IOG_EINVAL;
    json_t *args = args_json ? json_parse_js(args_json, len) : json_array();
    if (!json_is_array(args)) {
        json_decref(args);
        return plugin_fail(p, IOG_EINVAL, "server_emit: arguments must be a JSON array");
    }
    int r = sio_server_side_emit(p->host->deps.sio, nsp, event, args);
    json_decref(args);
    return r == 0 ? 0 : plugin_fail(p, IOG_ENOENT, "server_emit: no namespace %s", nsp ? nsp : "/");
}

/* Carries a plugin's count callback through the fleet's answer. */
typedef struct plugin_count {
    iog_count_fn cb;
    void *user;
} plugin_count_t;

static void on_fleet_count(void *user, int64_t count, int status)
{
    plugin_count_t *pc = user;
    pc->cb(pc->user, count, status == 0 ? 0 : IOG_EPARTIAL);
    free(pc);
}

int api_fleet_room_size(iog_plugin_t *p, const char *nsp, const char *room, iog_count_fn cb,
                        void *user)
{
    if (!p || !room || !cb)
        return p ? plugin_fail(p, IOG_EINVAL, "fleet_room_size: missing room or callback")
                 : IOG_EINVAL;
    plugin_count_t *pc = xcalloc(1, sizeof(*pc));
    pc->cb = cb;
    pc->user = user;
    if (sio_fleet_room_size(p->host->deps.sio, nsp, room, on_fleet_count, pc) != 0) {
        free(pc);
        return plugin_fail(p, IOG_ENOENT, "fleet_room_size: no namespace %s", nsp ? nsp : "/");
    }
    return 0;
}
