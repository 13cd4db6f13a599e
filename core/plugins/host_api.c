/* host_api.c - the host API table, and its entries for errors, logging, configuration,
 * timers and off-loop work. The REST, Socket.IO, principal and JSON entries live in
 * host_rest.c, host_sio.c, host_principal.c and host_json.c (host_api_internal.h).
 *
 * Every entry validates its arguments and returns an IOG_E* code instead of
 * trusting the plugin. Adapters translate the core's types (http requests,
 * Socket.IO sockets, jansson values) into the ABI's plain C structs; nothing
 * of the core's types ever reaches a plugin. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json_in.h"
#include "base/json_out.h"
#include "base/json_writer.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/objmap.h"
#include "http/url.h"
#include "plugins/host_api_internal.h"
#include "plugins/plugin_internal.h"
#include "sio/sio_server.h"

/* ------------------------------------------------------------------ errors, log */

static const char *api_strerror(int err)
{
    switch (err) {
    case IOG_OK:
        return "success";
    case IOG_EINVAL:
        return "invalid argument";
    case IOG_ENOMEM:
        return "out of memory";
    case IOG_EEXIST:
        return "already registered";
    case IOG_ENOENT:
        return "not found";
    case IOG_ESTATE:
        return "not allowed in this state";
    case IOG_ETYPE:
        return "wrong type";
    case IOG_ERANGE:
        return "out of range";
    case IOG_EVERSION:
        return "incompatible ABI version";
    case IOG_ECANCELED:
        return "cancelled";
    case IOG_EIO:
        return "I/O or internal error";
    case IOG_EPARTIAL:
        return "not every node answered";
    default:
        return err > 0 ? "success" : "unknown error";
    }
}

static const char *api_plugin_error(iog_plugin_t *p)
{
    return p ? p->error : "";
}

static void api_log(iog_plugin_t *p, int level, const char *fmt, ...)
{
    if (!p || !fmt) return;
    log_level_t l = level <= IOG_LOG_DEBUG  ? LOG_DEBUG
                    : level == IOG_LOG_INFO ? LOG_INFO
                    : level == IOG_LOG_WARN ? LOG_WARN
                                            : LOG_ERROR;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(l, p->name, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ configuration */

/* The configuration is read during init, and during check() (--check-config, since 1.3). */
#define REQUIRE_CONFIG(p, what)                                                                    \
    do {                                                                                           \
        if ((p)->state != PLUGIN_INIT && (p)->state != PLUGIN_CHECK)                               \
            return plugin_fail(p, IOG_ESTATE, "%s is allowed only during init", what);             \
    } while (0)

/* The lookup behind every config getter: *v is key's value when it has the type asked for
 * (TOML_FLOAT also takes an integer), NULL when the key is absent so the default applies.
 * Returns 0, IOG_EINVAL, IOG_ESTATE after init, or IOG_ETYPE naming file:line:column. */
static int config_lookup(iog_plugin_t *p, const char *getter, const char *key, const void *out,
                         toml_type_t type, const char *want, const toml_value_t **v)
{
    *v = NULL;
    if (!p || !key || !out) return IOG_EINVAL;
    REQUIRE_CONFIG(p, getter);
    const toml_keyval_t *kv = p->config ? toml_table_entry(p->config, key) : NULL;
    if (!kv) return 0;
    toml_type_t got = kv->value->type;
    if (got != type && !(type == TOML_FLOAT && got == TOML_INTEGER))
        return plugin_fail(p, IOG_ETYPE, "%s:%d:%d: [plugin.%s] %s must be %s (got %s)",
                           p->host->deps.cfg->source, kv->line, kv->column, p->name, kv->key, want,
                           toml_type_name(got));
    *v = kv->value;
    return 0;
}

static int api_config_string(iog_plugin_t *p, const char *key, const char *def, const char **out)
{
    const toml_value_t *v;
    int r = config_lookup(p, "config_string", key, out, TOML_STRING, "a string", &v);
    if (r == 0) *out = v ? v->u.string.ptr : def;
    return r;
}

static int api_config_int(iog_plugin_t *p, const char *key, int64_t def, int64_t *out)
{
    const toml_value_t *v;
    int r = config_lookup(p, "config_int", key, out, TOML_INTEGER, "an integer", &v);
    if (r == 0) *out = v ? v->u.integer : def;
    return r;
}

static int api_config_double(iog_plugin_t *p, const char *key, double def, double *out)
{
    const toml_value_t *v;
    int r = config_lookup(p, "config_double", key, out, TOML_FLOAT, "a number", &v);
    if (r == 0) *out = !v ? def : v->type == TOML_INTEGER ? (double)v->u.integer : v->u.floating;
    return r;
}

static int api_config_bool(iog_plugin_t *p, const char *key, int def, int *out)
{
    const toml_value_t *v;
    int r = config_lookup(p, "config_bool", key, out, TOML_BOOL, "a boolean", &v);
    if (r == 0) *out = v ? v->u.boolean : def;
    return r;
}

static int api_config_check_keys(iog_plugin_t *p, const char *const *known, size_t n)
{
    if (!p || (n && !known)) return IOG_EINVAL;
    REQUIRE_CONFIG(p, "config_check_keys");
    if (!p->config) return 0;
    for (size_t i = 0; i < p->config->u.table.len; i++) {
        const toml_keyval_t *kv = &p->config->u.table.items[i];
        size_t j = 0;
        while (j < n && strcmp(known[j], kv->key) != 0)
            j++;
        if (j == n)
            return plugin_fail(p, IOG_ENOENT, "%s:%d:%d: unknown key '%s' in [plugin.%s]",
                               p->host->deps.cfg->source, kv->line, kv->column, kv->key, p->name);
    }
    return 0;
}

/* ------------------------------------------------------------------ readiness */

static int api_ready_check(iog_plugin_t *p, const char *name, iog_ready_fn fn, void *user)
{
    if (!p || !name || !fn)
        return p ? plugin_fail(p, IOG_EINVAL, "ready_check: NULL argument") : IOG_EINVAL;
    REQUIRE_INIT(p, "ready_check");
    size_t n = strlen(name);
    if (!n || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
        return plugin_fail(p, IOG_EINVAL, "ready_check: \"%s\" is not a name ([a-z0-9_]+)", name);
    if (strcmp(name, "cluster") == 0 || strcmp(name, "shutdown") == 0)
        return plugin_fail(p, IOG_EEXIST, "ready_check: \"%s\" is the host's own check", name);
    ready_check_t **tail = &p->host->checks;
    for (; *tail; tail = &(*tail)->next)
        if (strcmp((*tail)->name, name) == 0)
            return plugin_fail(p, IOG_EEXIST, "ready_check: \"%s\" is taken by plugin %s", name,
                               (*tail)->plugin->name);
    ready_check_t *c = xcalloc(1, sizeof(*c));
    c->plugin = p;
    c->name = xstrdup(name);
    c->fn = fn;
    c->user = user;
    *tail = c;
    return 0;
}

/* ------------------------------------------------------------------ timers and work */

static iog_timer_t *api_timer_start(iog_plugin_t *p, uint64_t delay_ms, uint64_t repeat_ms,
                                    iog_timer_fn fn, void *user)
{
    return plugin_timer_start(p, delay_ms, repeat_ms, fn, user);
}

static void api_timer_stop(iog_timer_t *t)
{
    plugin_timer_stop(t);
}

typedef struct work_req {
    uv_work_t req;
    iog_work_fn work;
    iog_work_done_fn done;
    void *user;
} work_req_t;

static void on_work(uv_work_t *req)
{
    work_req_t *w = req->data;
    w->work(w->user);
}

static void on_work_done(uv_work_t *req, int status)
{
    work_req_t *w = req->data;
    if (w->done) w->done(w->user, status == UV_ECANCELED ? IOG_ECANCELED : 0);
    free(w);
}

static int api_work_queue(iog_plugin_t *p, iog_work_fn work, iog_work_done_fn done, void *user)
{
    if (!p || !work) return IOG_EINVAL;
    /* A failing init unloads the plugin at once: no work of it may be left running. */
    if (p->state == PLUGIN_INIT)
        return plugin_fail(p, IOG_ESTATE,
                           "work_queue is not allowed during init (block there "
                           "instead: the loop is not running yet)");
    work_req_t *w = xcalloc(1, sizeof(*w));
    w->work = work;
    w->done = done;
    w->user = user;
    w->req.data = w;
    int r = uv_queue_work(p->host->deps.loop, &w->req, on_work, on_work_done);
    if (r != 0) {
        free(w);
        return plugin_fail(p, IOG_EIO, "work_queue: %s", uv_strerror(r));
    }
    return 0;
}

/* ------------------------------------------------------------------ the table */

const iog_host_api_t plugin_host_api = {
    .struct_size = sizeof(iog_host_api_t),
    .abi_major = IOG_ABI_MAJOR,
    .abi_minor = IOG_ABI_MINOR,
    .strerror = api_strerror,
    .plugin_error = api_plugin_error,
    .log = api_log,
    .config_string = api_config_string,
    .config_int = api_config_int,
    .config_double = api_config_double,
    .config_bool = api_config_bool,
    .config_check_keys = api_config_check_keys,
    .register_event = api_register_event,
    .emit = api_emit,
    .emit_to_user = api_emit_to_user,
    .register_route = api_register_route,
    .request_method = api_request_method,
    .request_path = api_request_path,
    .request_param = api_request_param,
    .request_query = api_request_query,
    .request_header = api_request_header,
    .request_body = api_request_body,
    .request_principal = api_request_principal,
    .request_aborted = api_request_aborted,
    .respond = api_respond,
    .respond_error = api_respond_error,
    .response_header = api_response_header,
    .add_namespace = api_add_namespace,
    .on_connect = api_on_connect,
    .on_disconnect = api_on_disconnect,
    .on_event = api_on_event,
    .ack = api_ack,
    .join = api_join,
    .leave = api_leave,
    .disconnect = api_disconnect,
    .room_size = api_room_size,
    .timer_start = api_timer_start,
    .timer_stop = api_timer_stop,
    .work_queue = api_work_queue,
    .json_new = api_json_new,
    .json_free = api_json_free,
    .json_text = api_json_text,
    .json_object_begin = api_json_object_begin,
    .json_object_end = api_json_object_end,
    .json_array_begin = api_json_array_begin,
    .json_array_end = api_json_array_end,
    .json_key = api_json_key,
    .json_string = api_json_string,
    .json_string_n = api_json_string_n,
    .json_int = api_json_int,
    .json_double = api_json_double,
    .json_bool = api_json_bool,
    .json_null = api_json_null,
    .json_raw = api_json_raw,
    .principal_claim = api_principal_claim,
    .request_remote_addr = api_request_remote_addr,
    .emit_json = api_emit_json,
    .emit_to_socket = api_emit_to_socket,
    .ack_binary = api_ack_binary,
    .respond_bytes = api_respond_bytes,
    .emit_with_ack = api_emit_with_ack,
    .on_server_event = api_on_server_event,
    .server_emit = api_server_emit,
    .fleet_room_size = api_fleet_room_size,
    .ready_check = api_ready_check,
    .metric_register = api_metric_register,
    .metric_series = api_metric_series,
    .metric_add = api_metric_add,
    .metric_set = api_metric_set,
    .metric_observe = api_metric_observe,
    .set_recoverable = api_set_recoverable,
    .recovery_source = api_recovery_source,
    .recovery_emit = api_recovery_emit,
    .recovery_end = api_recovery_end,
};

/* The table a check() gets: it may read its configuration and log, nothing else (the host
 * runs no loop and has no server while --check-config runs). */
const iog_host_api_t plugin_check_api = {
    .struct_size = sizeof(iog_host_api_t),
    .abi_major = IOG_ABI_MAJOR,
    .abi_minor = IOG_ABI_MINOR,
    .strerror = api_strerror,
    .plugin_error = api_plugin_error,
    .log = api_log,
    .config_string = api_config_string,
    .config_int = api_config_int,
    .config_double = api_config_double,
    .config_bool = api_config_bool,
    .config_check_keys = api_config_check_keys,
};

/* The table's layout is the contract: entries only ever append. These pin the 1.0, 1.1,
 * 1.2 and 1.3 layout (a header of 8 bytes, then one pointer per entry). */
#define API_SLOT(i) (8 + (i) * sizeof(void (*)(void)))
_Static_assert(offsetof(iog_host_api_t, strerror) == API_SLOT(0), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, register_event) == API_SLOT(8), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, register_route) == API_SLOT(11), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, add_namespace) == API_SLOT(23), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, timer_start) == API_SLOT(32), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, json_new) == API_SLOT(35), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, principal_claim) == API_SLOT(50),
               "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, request_remote_addr) == API_SLOT(51),
               "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, emit_json) == API_SLOT(52), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, ack_binary) == API_SLOT(54), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, respond_bytes) == API_SLOT(55), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, emit_with_ack) == API_SLOT(56), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, on_server_event) == API_SLOT(57),
               "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, fleet_room_size) == API_SLOT(59),
               "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, ready_check) == API_SLOT(60), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, metric_register) == API_SLOT(61),
               "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, metric_series) == API_SLOT(62), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, metric_observe) == API_SLOT(65), "host API layout changed");
/* 1.3: connection state recovery */
_Static_assert(offsetof(iog_host_api_t, set_recoverable) == API_SLOT(66),
               "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, recovery_source) == API_SLOT(67),
               "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, recovery_emit) == API_SLOT(68), "host API layout changed");
_Static_assert(offsetof(iog_host_api_t, recovery_end) == API_SLOT(69), "host API layout changed");
_Static_assert(sizeof(iog_host_api_t) == API_SLOT(70), "host API layout changed");
