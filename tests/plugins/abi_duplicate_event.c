/* abi_duplicate_event.c - registers the event "abi:ping" that abi_full already
 * owns: its init fails with IOG_EEXIST naming the owner. */
#include <iogate/iogate.h>
#include <stdio.h>

static int serialize(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user, (void)payload, (void)w;
    return 0;
}

static int init(iog_plugin_t *p, const iog_host_api_t *api, char *err, size_t err_size)
{
    int r = api->register_event(p, "abi:ping", serialize, NULL);
    if (r) snprintf(err, err_size, "%s", api->plugin_error(p));
    return r;
}

IOG_PLUGIN("abi_duplicate_event", "1.0.0", init, NULL)
