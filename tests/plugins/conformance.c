/* conformance.c - the handlers the official Socket.IO v5 suite expects, as a
 * plugin (loaded by tests/conformance/iogate.toml and the interop tests):
 *   on "/" and "/custom": emit "auth" with the CONNECT payload;
 *   on "/": "message" is echoed as "message-back" (binary included), and
 *   "message-with-ack" is acknowledged with its own arguments.
 * For the interop tests of server-to-client acks: "request-ack" makes the server
 * emit "ack-request" with its first argument and an ack; the client's answer comes
 * back as one array argument of "ack-response" (binary included). */
#include <iogate/iogate.h>
#include <stdio.h>
#include <stdlib.h>
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

static void on_client_ack(void *user, const char *nsp, const char *socket_id, const char *args_json,
                          size_t len, const iog_bytes_t *att, size_t n)
{
    (void)user;
    if (!args_json) return; /* the socket left, or no answer in time */
    char *args = malloc(len + 3);
    if (!args) return;
    args[0] = '[';
    memcpy(args + 1, args_json, len);
    args[len + 1] = ']';
    args[len + 2] = '\0';
    api->emit_to_socket(self, nsp, socket_id, "ack-response", args, len + 2, att, n);
    free(args);
}

/* The first argument of the event, as a one-element JSON array: the text between
 * the outer '[' and the first top-level ',' (or the end). */
static size_t first_argument(const char *args, size_t len, char *out, size_t out_size)
{
    size_t depth = 0, i = 1;
    int in_string = 0;
    for (; i + 1 < len; i++) {
        char c = args[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == ',' && depth == 0) {
            break;
        }
    }
    size_t n = i - 1; /* args[1 .. i) */
    if (n + 3 > out_size) return 0;
    out[0] = '[';
    memcpy(out + 1, args + 1, n);
    out[n + 1] = ']';
    out[n + 2] = '\0';
    return n + 2;
}

static void on_request_ack(void *user, const iog_client_event_t *ev)
{
    (void)user;
    char first[8192];
    size_t n = first_argument(ev->args_json, ev->args_len, first, sizeof(first));
    if (!n) return;
    api->emit_with_ack(self, ev->nsp, ev->socket_id, "ack-request", first, n, ev->attachments,
                       ev->attachments_len, 5000, on_client_ack, NULL);
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
    if (!r) r = api->on_event(p, "/", "request-ack", on_request_ack, NULL);
    if (r) snprintf(err, err_size, "%s", api->plugin_error(p));
    return r;
}

IOG_PLUGIN("conformance", "1.0.0", init, NULL)
