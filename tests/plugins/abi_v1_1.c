/* abi_v1_1.c - a plugin compiled against the frozen 1.1 header (tests/plugins/abi/1.1):
 * today's host must load it and give every entry 1.1 added the meaning that header
 * states, with the 1.1 layout of iog_client_event_t (binary attachments). The 1.0
 * entries are abi_v1_0.c's to prove. tests/node/plugins-abi-frozen.test.mjs drives it
 * through routes under /v11 and Socket.IO events in the namespace "/v11". */
#include <iogate/iogate.h>
#include <stdio.h>
#include <string.h>

#if IOG_ABI_MINOR != 1
#error "abi_v1_1.c is built against the frozen 1.1 header (tests/plugins/abi/1.1)"
#endif

static const iog_host_api_t *api;
static iog_plugin_t *self;
static const unsigned char three[3] = {1, 2, 3};

/* GET /v11/page: respond_bytes with the peer's address in an HTML page. */
static void route_page(void *user, iog_request_t *req)
{
    (void)user;
    char page[128];
    int n = snprintf(page, sizeof(page), "<p>%s</p>", api->request_remote_addr(req));
    api->respond_bytes(req, 200, "text/html; charset=utf-8", page, (size_t)n);
}

/* POST /v11/emit-json?room=...: an event without a serializer, to a room of "/v11". */
static void route_emit_json(void *user, iog_request_t *req)
{
    (void)user;
    iog_target_t t = {sizeof(t), IOG_TARGET_ROOM, "/v11", api->request_query(req, "room"), NULL, 0};
    int r = api->emit_json(self, &t, "v11:json", "{\"free\":\"form\"}", 15);
    char out[64];
    int n = snprintf(out, sizeof(out), "{\"recipients\":%d}", r);
    api->respond(req, 200, out, (size_t)n);
}

/* welcome: two arguments, the second a binary attachment. */
static void on_connect(void *user, const iog_connection_t *c)
{
    (void)user;
    char args[256];
    int n = snprintf(args, sizeof(args), "[{\"user\":\"%s\"},{\"_placeholder\":true,\"num\":0}]",
                     c->principal ? c->principal->user_id : "");
    iog_bytes_t att = {three, sizeof(three)};
    api->emit_to_socket(self, c->nsp, c->socket_id, "v11:welcome", args, (size_t)n, &att, 1);
}

/* echo: acks the arguments back, attachments included (read through the 1.1 layout). */
static void on_echo(void *user, const iog_client_event_t *ev)
{
    (void)user;
    if (ev->struct_size < sizeof(iog_client_event_t)) return; /* not a 1.1 event: no ack */
    api->ack_binary(self, ev->nsp, ev->socket_id, ev->ack_id, ev->args_json, ev->args_len,
                    ev->attachments, ev->attachments_len);
}

/* The client's answer to "v11:question", sent back as "v11:answered" with its attachments. */
static void on_answer(void *user, const char *nsp, const char *socket_id, const char *args_json,
                      size_t len, const iog_bytes_t *att, size_t natt)
{
    (void)user;
    char out[512];
    int n = args_json ? snprintf(out, sizeof(out), "[%.*s]", (int)len, args_json)
                      : snprintf(out, sizeof(out), "[null]");
    api->emit_to_socket(self, nsp, socket_id, "v11:answered", out, (size_t)n, att, natt);
}

static void on_ask(void *user, const iog_client_event_t *ev)
{
    (void)user;
    api->emit_with_ack(self, ev->nsp, ev->socket_id, "v11:question", ev->args_json, ev->args_len,
                       ev->attachments, ev->attachments_len, 5000, on_answer, NULL);
}

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;
    int r = api->register_route(p, "GET", "/v11/page", IOG_ROUTE_PUBLIC, route_page, NULL);
    if (!r)
        r = api->register_route(p, "POST", "/v11/emit-json", IOG_ROUTE_PUBLIC, route_emit_json,
                                NULL);
    if (!r) r = api->on_connect(p, "/v11", on_connect, NULL);
    if (!r) r = api->on_event(p, "/v11", "echo", on_echo, NULL);
    if (!r) r = api->on_event(p, "/v11", "ask", on_ask, NULL);
    if (r) snprintf(err, err_size, "%s", api->plugin_error(p));
    return r;
}

IOG_PLUGIN("abi_v1_1", "1.1.0", init, NULL)
