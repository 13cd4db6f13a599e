/* abi_wrong_major.c - a plugin built for another ABI major: must be refused. */
#include <iogate/iogate.h>

static int init(iog_plugin_t *p, const iog_host_api_t *api, char *err, size_t err_size)
{
    (void)p, (void)api, (void)err, (void)err_size;
    return 0;
}

IOG_EXPORT const iog_plugin_descriptor_t *iogate_plugin_entry(void);
IOG_EXPORT const iog_plugin_descriptor_t *iogate_plugin_entry(void)
{
    static const iog_plugin_descriptor_t d = {
        sizeof(d), IOG_ABI_MAJOR + 1, 0, "abi_wrong_major", "1.0.0", init, NULL, NULL};
    return &d;
}
