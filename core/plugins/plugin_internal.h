/* plugin_internal.h - the host's records of plugins, shared by the loader and lifecycle
 * (plugin_host.c, plugin_timers.c) and the host API (host_api.c). Nothing else includes it. */
#ifndef IOGATE_PLUGIN_INTERNAL_H
#define IOGATE_PLUGIN_INTERNAL_H

#include <iogate/iogate.h>
#include <uv.h>

#include "base/strmap.h"
#include "config/toml.h"
#include "plugins/plugin_host.h"
#include "sio/sio_server.h"

/* PLUGIN_CHECK: loaded by --check-config for its check() only (it never runs init). */
enum { PLUGIN_LOADING = 0, PLUGIN_INIT, PLUGIN_ACTIVE, PLUGIN_FAILED, PLUGIN_CHECK };

/* A registration made during init that takes effect only if init succeeds. */
typedef struct staged {
    struct staged *next;
    int kind; /* STAGED_* */
    char *nsp;
    char *event;
    void (*fn)(void);
    void *user;
} staged_t;
enum { STAGED_NAMESPACE, STAGED_CONNECT, STAGED_DISCONNECT, STAGED_EVENT, STAGED_SERVER_EVENT };

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
    uint64_t emitted, recipients; /* emit() calls that succeeded, and the sockets they reached */
    /* Connection state recovery (1.3), applied once init succeeded: */
    int not_recoverable;  /* set_recoverable(0) */
    char *cursor_key;     /* recovery_source(): NULL when the event is not a source */
    char *initial_cursor; /* its initial_cursor, or NULL */
    iog_recovery_fn replay;
    void *replay_user;
} event_def_t;

/* A plugin's timer (plugin_timers.c says when it is freed). */
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

/* A readiness check a plugin added (ready_check); owned by the host. */
typedef struct ready_check {
    struct ready_check *next;
    struct iog_plugin *plugin;
    char *name;
    iog_ready_fn fn;
    void *user;
} ready_check_t;

struct plugin_host {
    ready_check_t *checks;         /* in registration order */
    struct metric_family *metrics; /* plugin_metrics.c; in registration order */
    plugin_host_deps_t deps;
    struct iog_plugin **plugins;
    size_t n;
    strmap_t events; /* event name -> event_def_t */
    int stopping;
};

extern const iog_host_api_t plugin_host_api;
/* What a plugin's check() gets (--check-config): errors, log and configuration; the other
 * entries are NULL. */
extern const iog_host_api_t plugin_check_api;

/* Records a message as the plugin's last error and returns code. */
int plugin_fail(struct iog_plugin *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a registration made during init (kind STAGED_*); it takes effect only if init
 * succeeds. IOG_EINVAL unless nsp starts with '/'. */
int plugin_stage(struct iog_plugin *p, int kind, const char *nsp, const char *event,
                 void (*fn)(void), void *user);
/* Installs the host API's adapter for a staged Socket.IO hook (host_api.c). */
void plugin_hook_sio(hook_t *h, int kind, sio_nsp_t *nsp, const char *event);
/* Hands the Socket.IO layer what the plugin's init said about recovering its events
 * (host_recovery.c); init checked everything, so this cannot fail. */
void plugin_apply_recovery(struct iog_plugin *p);
/* Frees what an event's definition owns (and it). */
void event_def_free(event_def_t *d);

/* Timers (plugin_timers.c): the host API's timer_start() and timer_stop(), and what the
 * host does to a plugin's timers at shutdown, after a failed init and at unload. */
iog_timer_t *plugin_timer_start(struct iog_plugin *p, uint64_t delay_ms, uint64_t repeat_ms,
                                iog_timer_fn fn, void *user);
void plugin_timer_stop(iog_timer_t *t);
void plugin_timers_stop_all(struct iog_plugin *p);
/* Closes a failed plugin's timers, which then free themselves. */
void plugin_timers_abandon(struct iog_plugin *p);
/* Frees the timers left (closed by the host); the loop must have stopped. */
void plugin_timers_free(struct iog_plugin *p);

/* Metrics (plugin_metrics.c): those of a plugin whose init failed, and all at the end. */
void plugin_metrics_remove(plugin_host_t *h, struct iog_plugin *p);
void plugin_metrics_free(plugin_host_t *h);

#endif
