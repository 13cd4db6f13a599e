/* abi_v1_2.c - a plugin compiled against the frozen 1.2 header (tests/plugins/abi/1.2):
 * today's host must load it and give every entry 1.2 added the meaning that header states
 * (on_server_event, server_emit, fleet_room_size, ready_check, and the emit flags
 * IOG_EMIT_LOCAL and IOG_EMIT_VOLATILE), here on a node alone, where the fleet is the node.
 * The entries of 1.0 and 1.1 are abi_v1_0.c's and abi_v1_1.c's to prove.
 * tests/node/plugins-abi-frozen.test.mjs drives it through routes under /v12 and the
 * namespace "/v12". */
#include <iogate/iogate.h>
#include <stdio.h>
#include <string.h>

#if IOG_ABI_MINOR != 2
#error "abi_v1_2.c is built against the frozen 1.2 header (tests/plugins/abi/1.2)"
#endif

static const iog_host_api_t *api;
static iog_plugin_t *self;

static struct {
    char down[64]; /* the ready check's reason, "" while ready */
    int heard;     /* server-side events this node's handler heard */
    /* what init's refused calls returned */
    int bad_check, host_check, taken_check, host_event;
    /* what calls on a namespace that does not exist returned */
    int emit_no_nsp, count_no_nsp, count_no_cb;
} st;

static const char *ready(void *user)
{
    (void)user;
    return st.down[0] ? st.down : NULL;
}

static void on_ping(void *user, const iog_server_event_t *ev)
{
    (void)user, (void)ev;
    st.heard++;
}

/* POST /v12/ready?down=REASON: the check fails with REASON; without it, it passes. */
static void route_ready(void *user, iog_request_t *req)
{
    (void)user;
    const char *down = api->request_query(req, "down");
    snprintf(st.down, sizeof(st.down), "%s", down ? down : "");
    api->respond(req, 204, NULL, 0);
}

static void on_count(void *user, int64_t count, int status)
{
    char out[64];
    int n = snprintf(out, sizeof(out), "{\"count\":%lld,\"status\":%d}", (long long)count, status);
    api->respond(user, 200, out, (size_t)n);
}

/* GET /v12/room-size?room=R: fleet_room_size() in "/v12". */
static void route_room_size(void *user, iog_request_t *req)
{
    (void)user;
    if (api->fleet_room_size(self, "/v12", api->request_query(req, "room"), on_count, req) != 0)
        api->respond_error(req, 400, "bad_request", api->plugin_error(self));
}

/* POST /v12/server-emit: server_emit() of "v12:ping" to the other nodes (alone: nobody). */
static void route_server_emit(void *user, iog_request_t *req)
{
    (void)user;
    int r = api->server_emit(self, "/v12", "v12:ping", "[1,\"two\"]", 9);
    char out[64];
    int n = snprintf(out, sizeof(out), "{\"result\":%d,\"heard\":%d}", r, st.heard);
    api->respond(req, 200, out, (size_t)n);
}

/* POST /v12/emit?room=R: an event to a room of "/v12", this node's sockets only, volatile. */
static void route_emit(void *user, iog_request_t *req)
{
    (void)user;
    iog_target_t t = {sizeof(t), IOG_TARGET_ROOM | IOG_EMIT_LOCAL | IOG_EMIT_VOLATILE,
                      "/v12",    api->request_query(req, "room"),
                      NULL,      0};
    int r = api->emit_json(self, &t, "v12:local", "{\"local\":true}", 14);
    char out[64];
    int n = snprintf(out, sizeof(out), "{\"recipients\":%d}", r);
    api->respond(req, 200, out, (size_t)n);
}

/* GET /v12/report: what the refused calls returned. */
static void route_report(void *user, iog_request_t *req)
{
    (void)user;
    st.emit_no_nsp = api->server_emit(self, "/nowhere", "v12:ping", NULL, 0);
    st.count_no_nsp = api->fleet_room_size(self, "/nowhere", "r", on_count, NULL);
    st.count_no_cb = api->fleet_room_size(self, "/v12", "r", NULL, NULL);
    char out[256];
    int n = snprintf(out, sizeof(out),
                     "{\"badCheck\":%d,\"hostCheck\":%d,\"takenCheck\":%d,\"hostEvent\":%d,"
                     "\"emitNoNamespace\":%d,\"countNoNamespace\":%d,\"countNoCallback\":%d,"
                     "\"partial\":%d}",
                     st.bad_check, st.host_check, st.taken_check, st.host_event, st.emit_no_nsp,
                     st.count_no_nsp, st.count_no_cb, IOG_EPARTIAL);
    api->respond(req, 200, out, (size_t)n);
}

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;
    int r = api->add_namespace(p, "/v12");
    if (!r) r = api->ready_check(p, "v12", ready, NULL);
    if (!r) r = api->on_server_event(p, "/v12", "v12:ping", on_ping, NULL);
    if (!r) r = api->register_route(p, "POST", "/v12/ready", IOG_ROUTE_PUBLIC, route_ready, NULL);
    if (!r)
        r = api->register_route(p, "GET", "/v12/room-size", IOG_ROUTE_PUBLIC, route_room_size,
                                NULL);
    if (!r)
        r = api->register_route(p, "POST", "/v12/server-emit", IOG_ROUTE_PUBLIC, route_server_emit,
                                NULL);
    if (!r) r = api->register_route(p, "POST", "/v12/emit", IOG_ROUTE_PUBLIC, route_emit, NULL);
    if (!r) r = api->register_route(p, "GET", "/v12/report", IOG_ROUTE_PUBLIC, route_report, NULL);
    if (r) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return r;
    }
    st.bad_check = api->ready_check(p, "Not A Name", ready, NULL);
    st.host_check = api->ready_check(p, "shutdown", ready, NULL);
    st.taken_check = api->ready_check(p, "v12", ready, NULL);
    st.host_event = api->on_server_event(p, "/v12", "iogate:broadcast", on_ping, NULL);
    return 0;
}

IOG_PLUGIN("abi_v1_2", "1.2.0", init, NULL)
