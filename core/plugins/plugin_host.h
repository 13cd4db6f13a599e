/* plugin_host.h - loads plugins (dlopen) and serves them the host API.
 *
 * The host owns every plugin record for the life of the process: plugins are
 * initialised before the loop runs, never unloaded while it runs, and
 * finalised (fini, dlclose) after it has stopped. */
#ifndef IOGATE_PLUGIN_HOST_H
#define IOGATE_PLUGIN_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "config/config.h"
#include "rest/rest.h"
#include "sio/sio_server.h"

typedef struct plugin_host plugin_host_t;

/* What the plugins reach through the host API; all borrowed, and all must outlive the host. */
typedef struct plugin_host_deps {
    uv_loop_t *loop;     /* timers and work */
    const config_t *cfg; /* [plugins] and the [plugin.NAME] tables */
    rest_t *rest;        /* routes */
    sio_server_t *sio;   /* namespaces, events, emits */
} plugin_host_deps_t;

/* Receives one line of what --check-config found (no newline). */
typedef void (*plugin_note_fn)(void *user, const char *line);

plugin_host_t *plugin_host_new(const plugin_host_deps_t *deps);
/* What loading [plugins] load would refuse, without starting anything (--check-config): a
 * missing file, a file or directory another user could write, a plugin the loader refuses
 * (entry symbol, ABI version, name), and a [plugin.NAME] table its check() refuses (the
 * descriptor's check, ABI 1.3: it connects to nothing). Each plugin is opened, checked and
 * closed again; init never runs. What the checks say goes to note. Returns 0, or -1 with
 * err. */
int plugin_host_check_config(const config_t *cfg, plugin_note_fn note, void *user, char *err,
                             size_t err_size);
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
/* Calls fn(user, name, reason) for every readiness check plugins added whose function gives a
 * reason now (GET /readyz). */
void plugin_host_each_unready(plugin_host_t *h,
                              void (*fn)(void *user, const char *name, const char *reason),
                              void *user);
/* Events registered by all plugins. */
size_t plugin_host_event_count(const plugin_host_t *h);
/* Calls fn for every registered event with how many emit() calls of it succeeded and the
 * sockets they reached (GET /metrics). */
void plugin_host_each_event(const plugin_host_t *h,
                            void (*fn)(void *user, const char *event, uint64_t emitted,
                                       uint64_t recipients),
                            void *user);
/* Appends the metrics plugins registered (ABI 1.3) in the Prometheus text format. */
void plugin_host_write_metrics(const plugin_host_t *h, buf_t *out);

#endif
