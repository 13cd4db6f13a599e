/* fleet.c - a test plugin for the fleet entries of ABI 1.2 (tests/node/cluster-plugins):
 *   on the server-side event "ping" from other nodes: emits "server-event" to every socket of
 *   "/" with {"event", "args"};
 *   POST /fleet/server-emit {"event", "args": [...]}: server_emit() to the other nodes;
 *   GET /fleet/room-size?room=R: fleet_room_size(), answered {"count", "status"}. */
#include <iogate/iogate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const iog_host_api_t *api;
static iog_plugin_t *self;

static void on_ping(void *user, const iog_server_event_t *ev)
{
    (void)user;
    iog_json_writer_t *w = api->json_new();
    api->json_object_begin(w);
    api->json_key(w, "event");
    api->json_string(w, ev->event);
    api->json_key(w, "args");
    api->json_raw(w, ev->args_json, ev->args_len);
    api->json_object_end(w);
    size_t len;
    const char *text = api->json_text(w, &len);
    /* This node's sockets: every node runs this handler for the same event. */
    iog_target_t all = {sizeof(all), IOG_TARGET_ALL | IOG_EMIT_LOCAL, "/", NULL, NULL, 0};
    if (text) api->emit_json(self, &all, "server-event", text, len);
    api->json_free(w);
}

/* The value of "key" in a flat JSON object body, copied (a test plugin: the test sends
 * exactly {"event":"...","args":[...]}). */
static char *member(const char *body, size_t len, const char *key, int array)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "\"%s\":", key);
    const char *at = strstr(body, pattern);
    if (!at) return NULL;
    at += strlen(pattern);
    const char *end = array ? strrchr(at, ']') : strchr(at + 1, '"');
    if (!end || end >= body + len) return NULL;
    size_t n = (size_t)(end - at) + 1;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    memcpy(out, at, n);
    out[n] = '\0';
    return out;
}

static void route_server_emit(void *user, iog_request_t *req)
{
    (void)user;
    size_t len;
    const char *body = api->request_body(req, &len);
    char *event = member(body, len, "event", 0);
    char *args = member(body, len, "args", 1);
    int r = IOG_EINVAL;
    if (event && args) {
        event[strlen(event) - 1] = '\0'; /* the closing quote */
        r = api->server_emit(self, "/", event + 1, args, strlen(args));
    }
    char out[96];
    int n = snprintf(out, sizeof(out), "{\"result\":%d}", r);
    api->respond(req, r == 0 ? 200 : 400, out, (size_t)n);
    free(event);
    free(args);
}

static void on_count(void *user, int64_t count, int status)
{
    iog_request_t *req = user;
    char out[96];
    int n = snprintf(out, sizeof(out), "{\"count\":%lld,\"status\":%d}", (long long)count, status);
    api->respond(req, 200, out, (size_t)n);
}

static void route_room_size(void *user, iog_request_t *req)
{
    (void)user;
    const char *room = api->request_query(req, "room");
    if (!room || api->fleet_room_size(self, "/", room, on_count, req) != 0)
        api->respond_error(req, 400, "bad_request", api->plugin_error(self));
}

static int fleet_init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;
    if (!IOG_API_HAS(api, fleet_room_size)) {
        snprintf(err, err_size, "this host has no fleet entries");
        return IOG_EVERSION;
    }
    int r = api->on_server_event(p, "/", "ping", on_ping, NULL);
    if (r == 0)
        r = api->register_route(p, "POST", "/fleet/server-emit", IOG_ROUTE_PUBLIC,
                                route_server_emit, NULL);
    if (r == 0)
        r = api->register_route(p, "GET", "/fleet/room-size", IOG_ROUTE_PUBLIC, route_room_size,
                                NULL);
    /* The host's own server-side event is refused. */
    if (r == 0 && api->on_server_event(p, "/", "iogate:broadcast", on_ping, NULL) != IOG_EINVAL)
        r = IOG_EIO;
    if (r != 0) snprintf(err, err_size, "%s", api->plugin_error(p));
    return r;
}

IOG_PLUGIN("fleet", "1.0.0", fleet_init, NULL)
