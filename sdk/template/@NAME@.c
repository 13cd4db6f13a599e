/* @NAME@.c - the @NAME@ iogate plugin.
 *
 * Registers the event "@NAME@:hello" with its serializer and the REST route
 * POST /@NAME@/hello (authenticated), which emits the event to every socket
 * of the calling user and answers {"recipients": N}.
 *
 * Config ([plugin.@NAME@]):
 *   greeting = "hello"    the message the event carries
 *
 * Every callback runs on the host's event-loop thread; what the host hands a
 * callback is valid during that call only. See <iogate/iogate.h>. */
#include <stdio.h>
#include <time.h>

#include <iogate/iogate.h>

#include "@NAME@.h"

/* The host API and this plugin's handle, kept from init() for the callbacks. */
static const iog_host_api_t *api;
static iog_plugin_t *self;
static const char *greeting; /* host-owned, valid until unload */

/* Called once per emit, whatever the number of recipients. */
static int serialize_hello(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user;
    const @NAME@_hello_payload_t *p = payload;
    api->json_object_begin(w);
    api->json_key(w, "userId");
    api->json_string(w, p->user_id);
    api->json_key(w, "message");
    api->json_string(w, p->message);
    api->json_key(w, "sentAt");
    api->json_int(w, p->sent_at);
    api->json_object_end(w);
    return IOG_OK;
}

/* POST /@NAME@/hello: the route is IOG_ROUTE_AUTHENTICATED, so the host has
 * already answered 401 to a request without a valid token. */
static void route_hello(void *user, iog_request_t *req)
{
    (void)user;
    const iog_principal_t *who = api->request_principal(req);
    @NAME@_hello_payload_t payload = {who->user_id, greeting, (int64_t)time(NULL)};

    int n = api->emit_to_user(self, who->user_id, @NAME_UPPER@_EVENT_HELLO, &payload);
    if (n < 0) {
        api->log(self, IOG_LOG_ERROR, "emit failed: %s", api->strerror(n));
        api->respond_error(req, 500, "emit_failed", api->strerror(n));
        return;
    }
    char body[64];
    int len = snprintf(body, sizeof(body), "{\"recipients\":%d}", n);
    api->respond(req, 200, body, (size_t)len);
}

static int @NAME@_init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;

    static const char *const known[] = {"greeting"};
    int rc = api->config_check_keys(p, known, sizeof(known) / sizeof(known[0]));
    if (rc == 0) rc = api->config_string(p, "greeting", "hello", &greeting);
    if (rc != 0) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return rc;
    }

    rc = api->register_event(p, @NAME_UPPER@_EVENT_HELLO, serialize_hello, NULL);
    if (rc == 0)
        rc = api->register_route(p, "POST", "/@NAME@/hello", IOG_ROUTE_AUTHENTICATED,
                                 route_hello, NULL);
    if (rc != 0) {
        /* Whatever was registered before the failure is removed by the host. */
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return rc;
    }
    api->log(p, IOG_LOG_INFO, "ready (greeting \"%s\")", greeting);
    return 0;
}

IOG_PLUGIN("@NAME@", "0.1.0", @NAME@_init, NULL)
