/* plugin_timers.c - the life of a plugin's timers: started and stopped by the plugin through
 * the host API, stopped by the host when shutdown begins, abandoned when the plugin's init
 * fails, and freed at the latest when the plugin is unloaded.
 *
 * A timer stays in its plugin's list until freed: by its close callback when the plugin
 * stopped it, by plugin_timer_stop() when the host had closed it already, or by
 * plugin_timers_free() when the plugin never stopped it. */
#include <stdlib.h>

#include "base/mem.h"
#include "plugins/plugin_internal.h"

static void timer_unlink(iog_timer_t *t)
{
    if (!t->plugin) return; /* abandoned by a plugin that failed to load */
    if (t->prev)
        t->prev->next = t->next;
    else if (t->plugin->timers == t)
        t->plugin->timers = t->next;
    if (t->next) t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void on_timer_closed(uv_handle_t *h)
{
    iog_timer_t *t = h->data;
    t->closed = 1;
    if (t->released) {
        timer_unlink(t);
        free(t);
    }
}

static void on_timer(uv_timer_t *h)
{
    iog_timer_t *t = h->data;
    t->fn(t->user);
}

iog_timer_t *plugin_timer_start(struct iog_plugin *p, uint64_t delay_ms, uint64_t repeat_ms,
                                iog_timer_fn fn, void *user)
{
    if (!p) return NULL;
    if (!fn || p->host->stopping) {
        plugin_fail(p, fn ? IOG_ESTATE : IOG_EINVAL, "timer_start: %s",
                    fn ? "shutdown has begun" : "NULL callback");
        return NULL;
    }
    iog_timer_t *t = xcalloc(1, sizeof(*t));
    t->plugin = p;
    t->fn = fn;
    t->user = user;
    uv_timer_init(p->host->deps.loop, &t->handle);
    t->handle.data = t;
    t->next = p->timers;
    if (p->timers) p->timers->prev = t;
    p->timers = t;
    uv_timer_start(&t->handle, on_timer, delay_ms, repeat_ms);
    return t;
}

static void timer_close(iog_timer_t *t)
{
    if (t->closing) return;
    t->closing = 1;
    uv_timer_stop(&t->handle);
    uv_close((uv_handle_t *)&t->handle, on_timer_closed);
}

void plugin_timer_stop(iog_timer_t *t)
{
    if (!t || t->released) return;
    t->released = 1;
    if (!t->closing) {
        timer_close(t); /* the close callback frees it */
    } else if (t->closed) {
        /* The host closed it at shutdown; the plugin lets go of it now. */
        timer_unlink(t);
        free(t);
    }
}

void plugin_timers_stop_all(struct iog_plugin *p)
{
    for (iog_timer_t *t = p->timers; t; t = t->next)
        timer_close(t);
}

void plugin_timers_abandon(struct iog_plugin *p)
{
    while (p->timers) {
        iog_timer_t *t = p->timers;
        p->timers = t->next;
        t->prev = t->next = NULL;
        t->plugin = NULL;
        t->released = 1; /* nobody can stop it now: its close callback frees it */
        if (t->closing && t->closed)
            free(t);
        else
            timer_close(t);
    }
}

void plugin_timers_free(struct iog_plugin *p)
{
    while (p->timers) {
        iog_timer_t *t = p->timers;
        timer_unlink(t);
        free(t);
    }
}
