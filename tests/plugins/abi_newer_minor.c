/* abi_newer_minor.c - a plugin that needs a newer minor than the host: refused. */
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
        sizeof(d), IOG_ABI_MAJOR, IOG_ABI_MINOR + 1, "abi_newer_minor", "1.0.0", init, NULL, NULL};
    return &d;
}
