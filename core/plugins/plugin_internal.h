/* plugin_internal.h - the host's records of plugins, shared by the loader
 * (plugin_host.c) and the host API (host_api.c). Nothing else includes it. */
#ifndef IOGATE_PLUGIN_INTERNAL_H
#define IOGATE_PLUGIN_INTERNAL_H

#include <iogate/iogate.h>
#include <uv.h>

#include "base/strmap.h"
#include "config/toml.h"
#include "plugins/plugin_host.h"

enum { PLUGIN_LOADING = 0, PLUGIN_INIT, PLUGIN_ACTIVE, PLUGIN_FAILED };

/* A registration made during init that takes effect only if init succeeds. */
typedef struct staged {
    struct staged *next;
    int kind; /* STAGED_* */
    char *nsp;
    char *event;
    void (*fn)(void);
    void *user;
} staged_t;
enum { STAGED_NAMESPACE, STAGED_CONNECT, STAGED_DISCONNECT, STAGED_EVENT };

/* Owned by the plugin that registered it; the adapter's user pointer. */
typedef struct hook {
    struct hook *next;
    struct iog_plugin *plugin;
    void (*fn)(void);
    void *user;
    int flags; /* routes: IOG_ROUTE_* */
} hook_t;

typedef struct event_def {
    struct iog_plugin *owner;
    iog_serialize_fn serialize;
    void *user;
} event_def_t;

/* A plugin's timer. It stays in its plugin's list until freed: by the close callback
 * when the plugin stopped it, by timer_stop() when the host had closed it already
 * (shutdown), or by plugin_host_free() when the plugin never stopped it. */
struct iog_timer {
    uv_timer_t handle;
    struct iog_plugin *plugin;
    struct iog_timer *prev, *next;
    iog_timer_fn fn;
    void *user;
    uint8_t closing;  /* uv_close() called */
    uint8_t closed;   /* its close callback ran */
    uint8_t released; /* the plugin called timer_stop() */
};

struct iog_plugin {
    plugin_host_t *host;
    char *file;
    char *name;
    void *dl;
    const iog_plugin_descriptor_t *desc;
    int state;
    char error[512];
    const toml_value_t *config; /* [plugin.NAME], or NULL */
    staged_t *staged;
    hook_t *hooks; /* routes, connection hooks, event handlers */
    char **events; /* names it registered */
    size_t nevents;
    struct iog_timer *timers;
};

struct plugin_host {
    plugin_host_deps_t deps;
    struct iog_plugin **plugins;
    size_t n;
    strmap_t events; /* event name -> event_def_t */
    int stopping;
};

extern const iog_host_api_t plugin_host_api;

/* Records a message as the plugin's last error and returns code. */
int plugin_fail(struct iog_plugin *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Applies staged registrations once init succeeded. */
void plugin_apply_staged(struct iog_plugin *p);
/* Undoes everything a plugin registered (failed init) and frees its records. */
void plugin_unregister(struct iog_plugin *p);
void plugin_timers_stop_all(struct iog_plugin *p);
/* Closes a failed plugin's timers, which then free themselves. */
void plugin_timers_abandon(struct iog_plugin *p);
/* Frees the timers left (closed by the host); the loop must have stopped. */
void plugin_timers_free(struct iog_plugin *p);

#endif
