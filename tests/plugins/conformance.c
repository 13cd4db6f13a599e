/* conformance.c - the handlers the official Socket.IO v5 suite expects, as a
 * plugin (loaded by tests/conformance/iogate.toml):
 *   on "/" and "/custom": emit "auth" with the CONNECT payload;
 *   on "/": "message" is echoed as "message-back" (binary included), and
 *   "message-with-ack" is acknowledged with its own arguments. */
#include <iogate/iogate.h>
#include <stdio.h>
#include <string.h>

static const iog_host_api_t *api;
static iog_plugin_t *self;

static void on_connect(void *user, const iog_connection_t *c)
{
    (void)user;
    char args[4096];
    int n = snprintf(args, sizeof(args), "[%s]", c->auth_json);
    if (n > 0 && (size_t)n < sizeof(args))
        api->emit_to_socket(self, c->nsp, c->socket_id, "auth", args, (size_t)n, NULL, 0);
}

static void on_message(void *user, const iog_client_event_t *ev)
{
    (void)user;
    api->emit_to_socket(self, ev->nsp, ev->socket_id, "message-back", ev->args_json, ev->args_len,
                        ev->attachments, ev->attachments_len);
}

static void on_message_with_ack(void *user, const iog_client_event_t *ev)
{
    (void)user;
    if (ev->ack_id >= 0)
        api->ack_binary(self, ev->nsp, ev->socket_id, ev->ack_id, ev->args_json, ev->args_len,
                        ev->attachments, ev->attachments_len);
}

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;
    int r = 0;
    if (!r) r = api->on_connect(p, "/", on_connect, NULL);
    if (!r) r = api->on_connect(p, "/custom", on_connect, NULL);
    if (!r) r = api->on_event(p, "/", "message", on_message, NULL);
    if (!r) r = api->on_event(p, "/", "message-with-ack", on_message_with_ack, NULL);
    if (r) snprintf(err, err_size, "%s", api->plugin_error(p));
    return r;
}

IOG_PLUGIN("conformance", "1.0.0", init, NULL)
