/* host_recovery.c - the host API's connection state recovery part (ABI 1.3): events marked
 * recoverable or not, store-backed sources, and their replays, through the Socket.IO layer's
 * sio_server_set_recoverable(), sio_server_add_recovery_source() and sio_replay_*(). What a
 * plugin's init asks is recorded on its events' definitions and handed over only once init
 * succeeded, so a failed init leaves nothing behind. */
#include <string.h>

#include "base/json_writer.h"
#include "base/mem.h"
#include "plugins/host_api_internal.h"
#include "plugins/plugin_internal.h"
#include "sio/sio_server.h"

void event_def_free(event_def_t *d)
{
    if (!d) return;
    free(d->cursor_key);
    free(d->initial_cursor);
    free(d);
}

/* The definition of an event p registered, or NULL with p's message set. */
static event_def_t *own_event(iog_plugin_t *p, const char *what, const char *event)
{
    event_def_t *d = event ? strmap_get(&p->host->events, event, strlen(event)) : NULL;
    if (!d || d->owner != p) {
        plugin_fail(p, IOG_ENOENT, "%s: \"%s\" is not an event this plugin registered", what,
                    event ? event : "(null)");
        return NULL;
    }
    return d;
}

int api_set_recoverable(iog_plugin_t *p, const char *event, int recoverable)
{
    if (!p) return IOG_EINVAL;
    REQUIRE_INIT(p, "set_recoverable");
    event_def_t *d = own_event(p, "set_recoverable", event);
    if (!d) return IOG_ENOENT;
    d->not_recoverable = !recoverable;
    return 0;
}

static int name_ok(const char *s)
{
    return s && sio_recovery_name_valid(s, strlen(s));
}

int api_recovery_source(iog_plugin_t *p, const iog_recovery_source_t *src)
{
    if (!p) return IOG_EINVAL;
    REQUIRE_INIT(p, "recovery_source");
    if (!src || src->struct_size < sizeof(*src) || !src->replay)
        return plugin_fail(p, IOG_EINVAL, "recovery_source: missing source or replay function");
    if (!name_ok(src->event) || !name_ok(src->cursor_key) ||
        (src->initial_cursor && !name_ok(src->initial_cursor)))
        return plugin_fail(p, IOG_EINVAL,
                           "recovery_source: the event name, cursor_key and initial_cursor must "
                           "be [A-Za-z0-9_.:-]{1,64}");
    event_def_t *d = own_event(p, "recovery_source", src->event);
    if (!d) return IOG_ENOENT;
    if (d->cursor_key)
        return plugin_fail(p, IOG_EEXIST, "recovery_source: \"%s\" is a source already",
                           src->event);
    size_t pos = 0, sources = 0;
    const strmap_entry_t *e;
    while ((e = strmap_next(&p->host->events, &pos)))
        sources += ((const event_def_t *)e->value)->cursor_key != NULL;
    if (sources >= SIO_RECOVERY_MAX_SOURCES)
        return plugin_fail(p, IOG_EINVAL, "recovery_source: the host takes %d sources at most",
                           SIO_RECOVERY_MAX_SOURCES);
    d->cursor_key = xstrdup(src->cursor_key);
    d->initial_cursor = src->initial_cursor ? xstrdup(src->initial_cursor) : NULL;
    d->replay = src->replay;
    d->replay_user = src->user;
    return 0;
}

/* The Socket.IO layer asks a source: the plugin gets the request as the ABI states it. */
static void replay_adapter(void *user, sio_socket_t *s, const sio_replay_request_t *req)
{
    event_def_t *d = user;
    host_principal_t hp = {0};
    principal_fill_socket(&hp, s);
    iog_recovery_request_t r = {
        .struct_size = sizeof(r),
        .replay = req->id,
        .nsp = sio_nsp_name(sio_socket_nsp(s)),
        .socket_id = sio_socket_id(s),
        .principal = &hp.pub,
        .event = req->event,
        .after = req->after,
        .since_ms = req->since_ms,
        .not_before_ms = req->not_before_ms,
        .max_events = req->max_events,
    };
    d->replay(d->replay_user, &r);
    principal_release(&hp);
}

void plugin_apply_recovery(struct iog_plugin *p)
{
    sio_server_t *sio = p->host->deps.sio;
    for (size_t i = 0; i < p->nevents; i++) {
        const char *name = p->events[i];
        event_def_t *d = strmap_get(&p->host->events, name, strlen(name));
        if (!d) continue;
        /* Recovery off: both answer "no such thing" and nothing is kept; that is fine. */
        if (d->not_recoverable) sio_server_set_recoverable(sio, name, 0);
        if (d->cursor_key)
            sio_server_add_recovery_source(sio, name, d->cursor_key, d->initial_cursor,
                                           replay_adapter, d);
    }
}

/* The event of a replay this plugin may answer, or NULL with p's message set. */
static event_def_t *replay_def(iog_plugin_t *p, const char *what, uint64_t replay)
{
    const char *event = sio_replay_event(p->host->deps.sio, replay);
    event_def_t *d = event ? strmap_get(&p->host->events, event, strlen(event)) : NULL;
    if (!d || d->owner != p) {
        plugin_fail(p, IOG_ENOENT, "%s: replay %llu is over, or not this plugin's", what,
                    (unsigned long long)replay);
        return NULL;
    }
    return d;
}

int api_recovery_emit(iog_plugin_t *p, uint64_t replay, const void *payload)
{
    if (!p) return IOG_EINVAL;
    event_def_t *d = replay_def(p, "recovery_emit", replay);
    if (!d) return IOG_ENOENT;
    iog_json_writer_t w;
    json_writer_init(&w.w);
    int r = d->serialize(d->user, payload, &w);
    size_t len;
    const char *json = json_writer_text(&w.w, &len);
    if (r == 0 && !json)
        r = plugin_fail(p, IOG_EINVAL, "recovery_emit: the serializer wrote invalid JSON");
    if (r == 0) {
        sio_args_t args = {.value = json, .len = len};
        if (sio_replay_emit(p->host->deps.sio, replay, &args) != 0)
            r = plugin_fail(p, IOG_ENOENT,
                            "recovery_emit: replay %llu is over (what it replays passed its "
                            "bounds, or it timed out)",
                            (unsigned long long)replay);
    }
    json_writer_free(&w.w);
    return r;
}

int api_recovery_end(iog_plugin_t *p, uint64_t replay, int status)
{
    if (!p) return IOG_EINVAL;
    if (!replay_def(p, "recovery_end", replay)) return IOG_ENOENT;
    sio_replay_end(p->host->deps.sio, replay, status);
    return 0;
}
