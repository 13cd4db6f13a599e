/* abi_check.c - a plugin with a check function (ABI 1.3), for --check-config: check reads
 * [plugin.abi_check] and says what it found, or refuses a bad value; init must never run
 * in that process, and the table check gets holds only the configuration entries.
 *
 * Besides the entry point it exports the number of init calls and what check saw of its
 * table, for a test holding its own dlopen() handle. */
#include <iogate/iogate.h>
#include <stdio.h>

static int init_calls, saw_register_event = -1, saw_work_queue = -1;

IOG_EXPORT int abi_check_init_calls(void);
IOG_EXPORT int abi_check_init_calls(void)
{
    return init_calls;
}

/* 1 when the table given to check had register_event (or work_queue), 0 when not. */
IOG_EXPORT int abi_check_saw(int which);
IOG_EXPORT int abi_check_saw(int which)
{
    return which ? saw_work_queue : saw_register_event;
}

static int init(iog_plugin_t *p, const iog_host_api_t *api, char *err, size_t err_size)
{
    (void)p, (void)api, (void)err, (void)err_size;
    init_calls++;
    return 0;
}

static int check(iog_plugin_t *p, const iog_host_api_t *api, char *msg, size_t msg_size)
{
    static const char *const known[] = {"port"};
    saw_register_event = IOG_API_HAS(api, register_event);
    saw_work_queue = IOG_API_HAS(api, work_queue);
    int64_t port;
    int r = api->config_check_keys(p, known, 1);
    if (!r) r = api->config_int(p, "port", 1, &port);
    if (r) {
        snprintf(msg, msg_size, "%s", api->plugin_error(p));
        return r;
    }
    if (port < 1 || port > 65535) {
        snprintf(msg, msg_size, "[plugin.abi_check] port = %lld is out of range", (long long)port);
        return IOG_ERANGE;
    }
    snprintf(msg, msg_size, "would listen on port %lld", (long long)port);
    return 0;
}

IOG_PLUGIN_CHECKED("abi_check", "1.0.0", init, NULL, check)
