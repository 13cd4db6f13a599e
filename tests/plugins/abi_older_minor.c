/* abi_older_minor.c - a plugin built against ABI 1.0 (an older minor than the
 * host): it loads, and uses only 1.0 entries. Its REST route proves it runs. */
#include <iogate/iogate.h>
#include <stdio.h>

static const iog_host_api_t *api;

static void route_hello(void *user, iog_request_t *req)
{
    (void)user;
    char body[96];
    int n = snprintf(body, sizeof(body), "{\"abi\":\"1.0\",\"hostMinor\":%u}", api->abi_minor);
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

/* Built as a 1.0 plugin: it uses only 1.0 entries, so it also loads into 1.0 hosts. */
IOG_PLUGIN_AT(0, "abi_older_minor", "0.9.0", init, NULL)
