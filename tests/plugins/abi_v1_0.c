/* abi_v1_0.c - a plugin compiled against the frozen 1.0 header (tests/plugins/abi/1.0),
 * as one built when 1.0 shipped: today's host must load it and give every 1.0 entry the
 * meaning that header states, reading and writing the structs with the 1.0 layout.
 * tests/node/plugins-abi-frozen.test.mjs drives it through routes under /v10 and
 * Socket.IO events in the namespace "/v10".
 *
 * 1.0 has no emit to one socket: a socket is reached through the room named by its id. */
#include <iogate/iogate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if IOG_ABI_MINOR != 0
#error "abi_v1_0.c is built against the frozen 1.0 header (tests/plugins/abi/1.0)"
#endif

static const iog_host_api_t *api;
static iog_plugin_t *self;

static struct {
    const char *word;
    int64_t n;
    double x;
    int flag;
    int type_error;     /* config_int on a string: IOG_ETYPE */
    int second_respond; /* the 1.0 header: "IOG_ESTATE on a second call" */
    iog_timer_t *timer;
} st;

/* The payload of the event "v10:note": JSON text under a kind. */
typedef struct note {
    const char *kind;
    const char *json;
} note_t;

static int serialize_note(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user;
    const note_t *n = payload;
    api->json_object_begin(w);
    api->json_key(w, "kind");
    api->json_string(w, n->kind);
    api->json_key(w, "data");
    api->json_raw(w, n->json, strlen(n->json));
    api->json_object_end(w);
    return 0;
}

/* Emits "v10:note" to one socket, through the room of its id. */
static void note_to_socket(const char *nsp, const char *socket_id, const char *kind,
                           const char *json)
{
    note_t n = {kind, json};
    iog_target_t t = {sizeof(t), IOG_TARGET_ROOM, nsp, socket_id, NULL, 0};
    api->emit(self, &t, "v10:note", &n);
}

static void answer(iog_request_t *req, int status, const char *json)
{
    api->respond(req, status, json, strlen(json));
}

/* GET /v10/report: init-time results, through every writer entry. */
static void route_report(void *user, iog_request_t *req)
{
    (void)user;
    iog_json_writer_t *w = api->json_new();
    api->json_object_begin(w);
    api->json_key(w, "word");
    api->json_string(w, st.word);
    api->json_key(w, "prefix");
    api->json_string_n(w, st.word, 2);
    api->json_key(w, "n");
    api->json_int(w, st.n);
    api->json_key(w, "x");
    api->json_double(w, st.x);
    api->json_key(w, "flag");
    api->json_bool(w, st.flag);
    api->json_key(w, "typeError");
    api->json_int(w, st.type_error);
    api->json_key(w, "secondRespond");
    api->json_int(w, st.second_respond);
    api->json_key(w, "hostAbi");
    api->json_array_begin(w);
    api->json_int(w, api->abi_major);
    api->json_int(w, api->abi_minor);
    api->json_array_end(w);
    api->json_key(w, "tableCoversV10");
    api->json_bool(w, api->struct_size >= sizeof(iog_host_api_t));
    api->json_key(w, "strerror");
    api->json_string(w, api->strerror(IOG_ENOENT));
    api->json_key(w, "nothing");
    api->json_null(w);
    api->json_object_end(w);
    size_t len;
    const char *text = api->json_text(w, &len);
    api->respond(req, 200, text, len);
    api->json_free(w);
}

/* GET /v10/me?q=... (authenticated): the principal and the request accessors. */
static void route_me(void *user, iog_request_t *req)
{
    (void)user;
    const iog_principal_t *pr = api->request_principal(req);
    const char *role = api->principal_claim(self, pr, "role");
    const char *q = api->request_query(req, "q");
    const char *h = api->request_header(req, "x-v10");
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"user\":\"%s\",\"claims\":%s,\"exp\":%s,\"principalSize\":%s,\"role\":\"%s\","
             "\"method\":\"%s\",\"path\":\"%s\",\"q\":\"%s\",\"header\":\"%s\"}",
             pr->user_id, pr->claims_json, pr->expires_at > 0 ? "true" : "false",
             pr->struct_size >= sizeof(iog_principal_t) ? "true" : "false", role ? role : "",
             api->request_method(req), api->request_path(req), q ? q : "", h ? h : "");
    api->response_header(req, "X-V10", "yes");
    answer(req, 200, body);
    st.second_respond = api->respond(req, 200, NULL, 0);
}

/* POST /v10/items/:id: a path parameter and the body; 201. */
static void route_items(void *user, iog_request_t *req)
{
    (void)user;
    size_t len;
    const char *body = api->request_body(req, &len);
    char out[256];
    snprintf(out, sizeof(out), "{\"id\":\"%s\",\"body\":\"%.*s\",\"aborted\":%d}",
             api->request_param(req, "id"), (int)len, body, api->request_aborted(req));
    answer(req, 201, out);
}

static void route_teapot(void *user, iog_request_t *req)
{
    (void)user;
    api->respond_error(req, 418, "teapot", "short and stout");
}

/* POST /v10/emit?to=user|room&id=...: "v10:note" to a user (in "/") or a room of "/v10". */
static void route_emit(void *user, iog_request_t *req)
{
    (void)user;
    const char *to = api->request_query(req, "to");
    const char *id = api->request_query(req, "id");
    note_t n = {"emitted", "[1,2]"};
    int r;
    if (to && strcmp(to, "user") == 0) {
        r = api->emit_to_user(self, id, "v10:note", &n);
    } else {
        iog_target_t t = {sizeof(t), IOG_TARGET_ROOM, "/v10", id, NULL, 0};
        r = api->emit(self, &t, "v10:note", &n);
    }
    char out[64];
    snprintf(out, sizeof(out), "{\"recipients\":%d}", r);
    answer(req, 200, out);
}

/* GET /v10/async: off-loop work, then the answer from the loop. */
typedef struct job {
    iog_request_t *req;
    int result;
} job_t;

static void job_work(void *user)
{
    ((job_t *)user)->result = 7 * 6;
}

static void job_done(void *user, int status)
{
    job_t *j = user;
    char out[64];
    snprintf(out, sizeof(out), "{\"result\":%d,\"status\":%d}", j->result, status);
    answer(j->req, 200, out);
    free(j);
}

static void route_async(void *user, iog_request_t *req)
{
    (void)user;
    job_t *j = calloc(1, sizeof(*j));
    j->req = req;
    if (api->work_queue(self, job_work, job_done, j) != 0) {
        api->respond_error(req, 500, "internal_error", api->plugin_error(self));
        free(j);
    }
}

/* ---- Socket.IO, namespace "/v10" ---- */

static void on_connect(void *user, const iog_connection_t *c)
{
    (void)user;
    api->join(self, c->nsp, c->socket_id, "v10-room");
    char json[512];
    snprintf(json, sizeof(json), "{\"user\":\"%s\",\"auth\":%s,\"roomSize\":%lld,\"sized\":%s}",
             c->principal ? c->principal->user_id : "", c->auth_json,
             (long long)api->room_size(self, c->nsp, "v10-room"),
             c->struct_size >= sizeof(iog_connection_t) ? "true" : "false");
    note_to_socket(c->nsp, c->socket_id, "welcome", json);
}

static void on_disconnect(void *user, const iog_connection_t *c)
{
    (void)user;
    api->log(self, IOG_LOG_INFO, "v10 socket left: %s", c->reason);
}

/* echo: acks [{"event", "args", "user", "sized"}] read through the 1.0 layout. */
static void on_echo(void *user, const iog_client_event_t *ev)
{
    (void)user;
    char out[512];
    int n = snprintf(out, sizeof(out),
                     "[{\"event\":\"%s\",\"args\":%.*s,\"user\":\"%s\",\"sized\":%s}]", ev->event,
                     (int)ev->args_len, ev->args_json, ev->principal ? ev->principal->user_id : "",
                     ev->struct_size >= sizeof(iog_client_event_t) ? "true" : "false");
    api->ack(self, ev->nsp, ev->socket_id, ev->ack_id, out, (size_t)n);
}

static void on_leave(void *user, const iog_client_event_t *ev)
{
    (void)user;
    api->leave(self, ev->nsp, ev->socket_id, "v10-room");
    char out[32];
    int n =
        snprintf(out, sizeof(out), "[%lld]", (long long)api->room_size(self, ev->nsp, "v10-room"));
    api->ack(self, ev->nsp, ev->socket_id, ev->ack_id, out, (size_t)n);
}

static void on_kick(void *user, const iog_client_event_t *ev)
{
    (void)user;
    api->disconnect(self, ev->nsp, ev->socket_id);
}

static void on_timer(void *user)
{
    (void)user;
    api->log(self, IOG_LOG_INFO, "v10 timer fired");
    api->timer_stop(st.timer); /* the 1.0 header: exactly once, also for one-shot timers */
    st.timer = NULL;
}

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;
    static const char *const known[] = {"word", "n", "x", "flag"};
    int64_t ignored;
    int r = api->config_check_keys(p, known, 4);
    if (!r) r = api->config_string(p, "word", "none", &st.word);
    if (!r) r = api->config_int(p, "n", 0, &st.n);
    if (!r) r = api->config_double(p, "x", 0, &st.x);
    if (!r) r = api->config_bool(p, "flag", 0, &st.flag);
    if (!r) st.type_error = api->config_int(p, "word", 0, &ignored);
    if (!r) r = api->register_event(p, "v10:note", serialize_note, NULL);
    if (!r) r = api->register_route(p, "GET", "/v10/report", IOG_ROUTE_PUBLIC, route_report, NULL);
    if (!r) r = api->register_route(p, "GET", "/v10/me", IOG_ROUTE_AUTHENTICATED, route_me, NULL);
    if (!r)
        r = api->register_route(p, "POST", "/v10/items/:id", IOG_ROUTE_PUBLIC, route_items, NULL);
    if (!r) r = api->register_route(p, "GET", "/v10/teapot", IOG_ROUTE_PUBLIC, route_teapot, NULL);
    if (!r) r = api->register_route(p, "POST", "/v10/emit", IOG_ROUTE_PUBLIC, route_emit, NULL);
    if (!r) r = api->register_route(p, "GET", "/v10/async", IOG_ROUTE_PUBLIC, route_async, NULL);
    if (!r) r = api->add_namespace(p, "/v10");
    if (!r) r = api->on_connect(p, "/v10", on_connect, NULL);
    if (!r) r = api->on_disconnect(p, "/v10", on_disconnect, NULL);
    if (!r) r = api->on_event(p, "/v10", "echo", on_echo, NULL);
    if (!r) r = api->on_event(p, "/v10", "leave", on_leave, NULL);
    if (!r) r = api->on_event(p, "/v10", "kick", on_kick, NULL);
    if (r) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return r;
    }
    st.timer = api->timer_start(p, 1, 0, on_timer, NULL);
    api->log(p, IOG_LOG_INFO, "v10 loaded into host ABI %u.%u", api->abi_major, api->abi_minor);
    return 0;
}

IOG_PLUGIN("abi_v1_0", "1.0.0", init, NULL)
