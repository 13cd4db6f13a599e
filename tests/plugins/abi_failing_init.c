/* abi_failing_init.c - registers an event, a route and Socket.IO handlers, then
 * fails: startup must stop with its message and nothing may stay registered. */
#include <iogate/iogate.h>
#include <stdio.h>

static int serialize(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user, (void)payload, (void)w;
    return 0;
}

static void route(void *user, iog_request_t *req)
{
    (void)user, (void)req;
}

static void on_connect(void *user, const iog_connection_t *c)
{
    (void)user, (void)c;
}

static int init(iog_plugin_t *p, const iog_host_api_t *api, char *err, size_t err_size)
{
    api->register_event(p, "failing-event", serialize, NULL);
    api->register_route(p, "GET", "/failing", IOG_ROUTE_PUBLIC, route, NULL);
    api->on_connect(p, "/", on_connect, NULL);
    api->timer_start(p, 60000, 0, (iog_timer_fn)(void (*)(void))route, NULL);
    snprintf(err, err_size, "database unreachable (deliberate test failure)");
    return IOG_EIO;
}

IOG_PLUGIN("abi_failing_init", "1.0.0", init, NULL)
