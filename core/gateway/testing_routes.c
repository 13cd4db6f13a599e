/* testing_routes.c - POST /testing/emit, POST /testing/drop and GET /testing/stats (test only).
 *
 * POST /testing/emit {"userId"|"room"|"authenticated": ..., "event": "name",
 *   "payload": <any JSON>, "nsp": "/", "except": ["room", ...], "volatile": true}
 *   -> {"recipients": N}
 * POST /testing/drop {"socketId": ..., "nsp": "/"} -> closes that socket's connection
 *   ("forced close", a server-side drop)
 * GET /testing/stats -> the emitter's and Engine.IO's counters, and the memory bounds'
 *   (sessions waiting to join a namespace, bytes held for clients).
 * POST /testing/stall {"ms": N} -> {"stalled": N}, then the loop stops for N ms (at most
 *   10,000), as on a machine too busy to run it: what clients send meanwhile waits unread. */
#include "gateway/testing_routes.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json_in.h"
#include "base/json_out.h"
#include "cluster/cluster.h"

static void route_emit(void *user, http_request_t *req, const router_match_t *m)
{
    (void)m;
    testing_routes_t *t = user;
    size_t len;
    const char *body = http_request_body(req, &len);
    json_t *doc = json_parse_js(body, len); /* as JSON.parse: NUL in strings included */
    const char *event = doc ? json_string_value(json_object_get(doc, "event")) : NULL;
    if (!json_is_object(doc) || !event) {
        json_decref(doc);
        http_respond_error(req, 400, "bad_request", "expected {\"event\": \"...\", ...}");
        return;
    }
    buf_t payload = BUF_INIT;
    const json_t *p = json_object_get(doc, "payload");
    if (p) json_out_append(&payload, p);
    const char *user_id = json_string_value(json_object_get(doc, "userId"));
    const char *room = json_string_value(json_object_get(doc, "room"));
    const char *nsp_name = json_string_value(json_object_get(doc, "nsp"));
    const json_t *except = json_object_get(doc, "except");
    const char *except_names[16];
    size_t nexcept = 0;
    for (size_t i = 0; i < json_array_size(except) && nexcept < 16; i++)
        if (json_is_string(json_array_get(except, i)))
            except_names[nexcept++] = json_string_value(json_array_get(except, i));
    const char *rooms[1] = {room};
    sio_target_t target = {
        .kind = SIO_TO_ALL, .nsp = nsp_name, .except = except_names, .nexcept = nexcept};
    if (json_is_true(json_object_get(doc, "volatile"))) target.flags |= SIO_EMIT_VOLATILE;
    if (user_id) {
        target.kind = SIO_TO_USER;
        target.id = user_id;
    } else if (json_is_true(json_object_get(doc, "authenticated"))) {
        target.kind = SIO_TO_AUTHENTICATED;
    } else if (room) {
        target.kind = SIO_TO_ROOMS;
        target.rooms = rooms;
        target.nrooms = 1;
    }
    sio_args_t args = {.value = payload.data, .len = payload.len};
    int64_t n = sio_emit(t->sio, &target, event, &args);
    if (n < 0) {
        buf_free(&payload);
        json_decref(doc);
        http_respond_error(req, 404, "not_found", "no such namespace");
        return;
    }
    buf_free(&payload);
    json_decref(doc);
    buf_t out = BUF_INIT;
    buf_printf(&out, "{\"recipients\":%lld}", (long long)n);
    http_respond_json_text(req, 200, out.data, out.len);
    buf_free(&out);
}

/* POST /testing/drop {"socketId": "...", "nsp": "/"}: closes that socket's connection as
 * engine.io's socket.close() does (a server-side drop the client recovers from). */
static void route_drop(void *user, http_request_t *req, const router_match_t *m)
{
    (void)m;
    testing_routes_t *t = user;
    size_t len;
    const char *body = http_request_body(req, &len);
    json_t *doc = json_parse_js(body, len);
    const char *id = json_string_value(json_object_get(doc, "socketId"));
    const char *nsp = json_string_value(json_object_get(doc, "nsp"));
    sio_socket_t *s = id ? sio_server_find_socket(t->sio, nsp ? nsp : "/", id) : NULL;
    json_decref(doc);
    if (!s) {
        http_respond_error(req, 404, "not_found", "no such socket");
        return;
    }
    sio_socket_close_transport(s);
    http_respond_json_text(req, 200, BUF_LIT("{\"dropped\":true}"));
}

static void route_stall(void *user, http_request_t *req, const router_match_t *m)
{
    (void)user;
    (void)m;
    size_t len;
    const char *body = http_request_body(req, &len);
    json_t *doc = json_parse_js(body, len);
    json_t *ms = json_object_get(doc, "ms");
    json_int_t n = json_is_integer(ms) ? json_integer_value(ms) : -1;
    json_decref(doc);
    if (n < 1 || n > 10000) {
        http_respond_error(req, 400, "bad_request", "expected {\"ms\": 1 to 10000}");
        return;
    }
    buf_t out = BUF_INIT;
    buf_printf(&out, "{\"stalled\":%lld}", (long long)n);
    http_respond_json_text(req, 200, out.data, out.len); /* written now: the client knows */
    buf_free(&out);
    uint64_t end = uv_hrtime() + (uint64_t)n * 1000000u;
    for (uint64_t now; (now = uv_hrtime()) < end;) {
        struct timespec ts = {(time_t)((end - now) / 1000000000u),
                              (long)((end - now) % 1000000000u)};
        nanosleep(&ts, NULL);
    }
}

static void route_stats(void *user, http_request_t *req, const router_match_t *m)
{
    (void)m;
    testing_routes_t *t = user;
    const sio_stats_t *s = sio_server_stats(t->sio);
    const eio_stats_t *e = eio_server_stats(sio_server_eio(t->sio));
    const membudget_t *b = http_server_budget(t->http);
    sio_nsp_t *main_nsp = sio_server_nsp(t->sio, "/");
    buf_t out = BUF_INIT;
    buf_printf(&out,
               "{\"serializations\":%llu,\"deliveries\":%llu,\"connects\":%llu,"
               "\"disconnects\":%llu,\"authOk\":%llu,\"authFailed\":%llu,"
               "\"sessions\":%zu,\"sessionsOpened\":%llu,\"sessionsClosed\":%llu,"
               "\"slowConsumersDropped\":%llu,\"upgrades\":%llu,\"sockets\":%zu,\"rooms\":%zu,"
               "\"socketWrites\":%llu,\"writesDeferred\":%llu,",
               (unsigned long long)s->serializations, (unsigned long long)s->deliveries,
               (unsigned long long)s->connects, (unsigned long long)s->disconnects,
               (unsigned long long)s->auth_ok, (unsigned long long)s->auth_failed,
               eio_server_session_count(sio_server_eio(t->sio)),
               (unsigned long long)e->sessions_opened, (unsigned long long)e->sessions_closed,
               (unsigned long long)e->slow_consumers_dropped, (unsigned long long)e->upgrades,
               sio_nsp_socket_count(main_nsp), sio_nsp_room_count(main_nsp),
               (unsigned long long)http_server_stats(t->http)->socket_writes,
               (unsigned long long)http_server_stats(t->http)->writes_deferred);
    /* Memory bounds: sessions waiting to join, and the bytes held for clients. */
    buf_printf(&out,
               "\"unjoined\":%zu,\"handshakesRefused\":%llu,\"binaryPacketsDropped\":%llu,"
               "\"clientBytes\":%zu,\"clientBytesPeak\":%zu,\"clientBytesShed\":%llu,"
               "\"clientBytesEpisodes\":%llu,",
               sio_server_unjoined_count(t->sio), (unsigned long long)e->handshakes_refused,
               (unsigned long long)s->binary_packets_dropped, b->used, b->peak,
               (unsigned long long)b->shed, (unsigned long long)b->episodes);
    /* Which process answered, and the connections it moved between workers. */
    buf_printf(&out, "\"pid\":%d,\"handedOff\":%llu,\"adopted\":%llu}", (int)getpid(),
               (unsigned long long)http_server_stats(t->http)->handed_off,
               (unsigned long long)http_server_stats(t->http)->adopted);
    if (t->cluster) {
        /* The fleet: this node's adapter and its Redis link. */
        const cluster_stats_t *c = cluster_stats(t->cluster);
        const redis_link_stats_t *l = cluster_link_stats(t->cluster);
        out.len--; /* reopen the object */
        buf_printf(&out,
                   ",\"cluster\":{\"ready\":%s,\"published\":%llu,\"received\":%llu,"
                   "\"requestsAnswered\":%llu,\"echoes\":%llu,\"ignored\":%llu,"
                   "\"malformed\":%llu,\"queued\":%zu,\"dropped\":%llu,\"reconnects\":%llu}}",
                   cluster_ready(t->cluster) ? "true" : "false", (unsigned long long)c->published,
                   (unsigned long long)c->received, (unsigned long long)c->requests_answered,
                   (unsigned long long)c->echoes, (unsigned long long)c->ignored,
                   (unsigned long long)c->malformed, l->queued, (unsigned long long)l->dropped,
                   (unsigned long long)l->reconnects);
    }
    http_respond_json_text(req, 200, out.data, out.len);
    buf_free(&out);
}

int testing_routes_install(testing_routes_t *t, rest_t *rest, char *err, size_t err_size)
{
    if (rest_add_route(rest, "POST", "/testing/emit", route_emit, t, err, err_size) != 0 ||
        rest_add_route(rest, "POST", "/testing/drop", route_drop, t, err, err_size) != 0 ||
        rest_add_route(rest, "POST", "/testing/stall", route_stall, t, err, err_size) != 0)
        return -1;
    return rest_add_route(rest, "GET", "/testing/stats", route_stats, t, err, err_size);
}
