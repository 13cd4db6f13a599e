/* abi_older_minor.c - a plugin built with today's header that declares ABI 1.0 (an older
 * minor than the host): it loads, uses 1.0 entries, and looks for a 1.1 entry with
 * IOG_API_HAS. Its REST route proves it runs. (tests/plugins/abi_v1_0.c is built
 * against the 1.0 header itself.) */
#include <iogate/iogate.h>
#include <stdio.h>

static const iog_host_api_t *api;

static void route_hello(void *user, iog_request_t *req)
{
    (void)user;
    char body[96];
    int n = snprintf(body, sizeof(body), "{\"abi\":\"1.0\",\"hostMinor\":%u,\"hasEmitJson\":%s}",
                     api->abi_minor, IOG_API_HAS(api, emit_json) ? "true" : "false");
    api->respond(req, 200, body, (size_t)n);
}

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    if (api->register_route(p, "GET", "/old-plugin", IOG_ROUTE_PUBLIC, route_hello, NULL) != 0) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return IOG_EINVAL;
    }
    return 0;
}

/* Declared as a 1.0 plugin: it would use a 1.1 entry only after IOG_API_HAS, so it also
 * loads into 1.0 hosts. */
IOG_PLUGIN_AT(0, "abi_older_minor", "0.9.0", init, NULL)
