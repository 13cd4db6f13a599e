/* plugin_host.h - loads plugins (dlopen) and serves them the host API.
 *
 * The host owns every plugin record for the life of the process: plugins are
 * initialised before the loop runs, never unloaded while it runs, and
 * finalised (fini, dlclose) after it has stopped. */
#ifndef IOGATE_PLUGIN_HOST_H
#define IOGATE_PLUGIN_HOST_H

#include <stddef.h>

struct gateway;
typedef struct plugin_host plugin_host_t;

plugin_host_t *plugin_host_new(struct gateway *gw);
/* Loads [plugins] load from [plugins] dir in order. The first failure stops startup:
 * returns -1 with a message naming the file and the reason. */
int plugin_host_load_config(plugin_host_t *h, char *err, size_t err_size);
/* Loads one plugin file. Returns 0, or -1 with err (nothing of it stays registered). */
int plugin_host_load_file(plugin_host_t *h, const char *path, char *err, size_t err_size);
/* Cancels what plugins left running (timers); call when shutdown begins. */
void plugin_host_stop(plugin_host_t *h);
/* Calls fini and unloads every plugin; the loop must have stopped. */
void plugin_host_free(plugin_host_t *h);
size_t plugin_host_count(const plugin_host_t *h);
/* Events registered by all plugins. */
size_t plugin_host_event_count(const plugin_host_t *h);

#endif
