/* abi_failing_init.c - registers an event, a route, Socket.IO handlers and a metric, then
 * fails: startup must stop with its message, nothing may stay registered, and
 * its fini must not run (the header says fini follows only a successful init).
 *
 * Besides the entry point it exports two counters, so that a test holding its own
 * dlopen() handle (the host's dlclose then leaves the code mapped) can see how
 * often init and fini ran. */
#include <iogate/iogate.h>
#include <stdio.h>

static const iog_host_api_t *api;
static int init_calls, fini_calls;

IOG_EXPORT int abi_failing_init_init_calls(void);
IOG_EXPORT int abi_failing_init_init_calls(void)
{
    return init_calls;
}

IOG_EXPORT int abi_failing_init_fini_calls(void);
IOG_EXPORT int abi_failing_init_fini_calls(void)
{
    return fini_calls;
}

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

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    init_calls++;
    api->register_event(p, "failing-event", serialize, NULL);
    api->register_route(p, "GET", "/failing", IOG_ROUTE_PUBLIC, route, NULL);
    api->on_connect(p, "/", on_connect, NULL);
    api->timer_start(p, 60000, 0, (iog_timer_fn)(void (*)(void))route, NULL);
    iog_metric_def_t m = {
        sizeof(m), IOG_METRIC_GAUGE, "left_behind", "Never on the page.", NULL, 0, NULL, 0};
    api->metric_register(p, &m);
    snprintf(err, err_size, "database unreachable (deliberate test failure)");
    return IOG_EIO;
}

static void fini(iog_plugin_t *p)
{
    fini_calls++;
    api->log(p, IOG_LOG_ERROR, "fini called after a failed init");
}

IOG_PLUGIN("abi_failing_init", "1.0.0", init, fini)
