/* host_api.c - the functions behind iog_host_api_t, and the table itself.
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
#include "plugins/plugin_internal.h"
#include "sio/sio_server.h"

/* The host's side of a principal: the ABI struct plus what backs it. Aligned as malloc
 * aligns, because the live ones are kept in an objmap, also when they are on the stack. */
typedef struct host_principal {
    _Alignas(max_align_t) iog_principal_t pub;
    const iog_principal_t *addr; /* &pub while live (its key in live_principals), else NULL */
    json_t *claims;              /* REST: the verifier's tree (not owned) */
    char *claims_json;           /* owned text when made here */
    json_t *parsed;              /* sockets: claims parsed on the first principal_claim(), owned */
} host_principal_t;

struct iog_request {
    uintptr_t handle;     /* what the plugin holds: see request_live() */
    http_request_t *http; /* NULL once the client went away */
    hook_t *route;
    char *path;
    url_query_t query;
    size_t nparams;
    char *param_names[ROUTER_MAX_PARAMS];
    char *param_values[ROUTER_MAX_PARAMS];
    jwt_principal_t jwt;
    host_principal_t principal;
    int has_principal;
};

struct iog_json_writer {
    json_writer_t w;
};

static int state_init(struct iog_plugin *p)
{
    return p->state == PLUGIN_INIT;
}

#define REQUIRE_INIT(p, what)                                                                      \
    do {                                                                                           \
        if (!(p) || !state_init(p))                                                                \
            return (p) ? plugin_fail(p, IOG_ESTATE, "%s is allowed only during init", what)        \
                       : IOG_EINVAL;                                                               \
    } while (0)

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

/* The lookup behind every config getter: *v is key's value when it has the type asked for
 * (TOML_FLOAT also takes an integer), NULL when the key is absent so the default applies.
 * Returns 0, IOG_EINVAL, IOG_ESTATE after init, or IOG_ETYPE naming file:line:column. */
static int config_lookup(iog_plugin_t *p, const char *getter, const char *key, const void *out,
                         toml_type_t type, const char *want, const toml_value_t **v)
{
    *v = NULL;
    if (!p || !key || !out) return IOG_EINVAL;
    REQUIRE_INIT(p, getter);
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
    REQUIRE_INIT(p, "config_check_keys");
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

/* ------------------------------------------------------------------ events and emit */

static int api_register_event(iog_plugin_t *p, const char *name, iog_serialize_fn serialize,
                              void *user)
{
    if (!p || !name || !serialize)
        return p ? plugin_fail(p, IOG_EINVAL, "register_event: NULL argument") : IOG_EINVAL;
    REQUIRE_INIT(p, "register_event");
    if (!name[0] || strlen(name) > 255 || sio_event_name_is_reserved(name, strlen(name)))
        return plugin_fail(p, IOG_EINVAL, "event name \"%s\" is empty, too long or reserved", name);
    event_def_t *existing = strmap_get(&p->host->events, name, strlen(name));
    if (existing)
        return plugin_fail(p, IOG_EEXIST, "event \"%s\" is already registered by plugin %s", name,
                           existing->owner->name);
    event_def_t *d = xcalloc(1, sizeof(*d));
    d->owner = p;
    d->serialize = serialize;
    d->user = user;
    strmap_put(&p->host->events, name, strlen(name), d);
    p->events = xrealloc(p->events, (p->nevents + 1) * sizeof(*p->events));
    p->events[p->nevents++] = xstrdup(name);
    return 0;
}

/* An ABI target as the Socket.IO layer's. Returns 0, or an IOG_E* code with the message set. */
static int target_from_abi(iog_plugin_t *p, const iog_target_t *t, sio_target_t *out)
{
    memset(out, 0, sizeof(*out));
    out->nsp = t->nsp;
    out->id = t->id;
    out->except = t->except;
    out->nexcept = t->except ? t->except_len : 0;
    switch (t->kind) {
    case IOG_TARGET_USER:
        if (!t->id) return plugin_fail(p, IOG_EINVAL, "emit: a user target needs an id");
        out->kind = SIO_TO_USER;
        return 0;
    case IOG_TARGET_ROOM:
        if (!t->id) return plugin_fail(p, IOG_EINVAL, "emit: a room target needs an id");
        out->kind = SIO_TO_ROOMS;
        out->rooms = &t->id;
        out->nrooms = 1;
        return 0;
    case IOG_TARGET_ALL:
        out->kind = SIO_TO_ALL;
        return 0;
    case IOG_TARGET_AUTHENTICATED:
        out->kind = SIO_TO_AUTHENTICATED;
        return 0;
    default:
        return plugin_fail(p, IOG_EINVAL, "emit: unknown target kind %d", t->kind);
    }
}

/* sio_emit() for a plugin: the count clamped to int, or an IOG_E* code with its message. */
static int emit_through(iog_plugin_t *p, const char *what, const sio_target_t *t, const char *event,
                        const sio_args_t *args)
{
    int64_t n = sio_emit(p->host->deps.sio, t, event, args);
    if (n == SIO_EMIT_ENOENT)
        return t->kind == SIO_TO_SOCKET
                   ? plugin_fail(p, IOG_ENOENT, "%s: socket is gone", what)
                   : plugin_fail(p, IOG_ENOENT, "%s: no namespace %s", what, t->nsp ? t->nsp : "/");
    if (n < 0) return plugin_fail(p, IOG_EINVAL, "%s: invalid target", what);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

static int emit_text(iog_plugin_t *p, const iog_target_t *t, const char *event, const char *json,
                     size_t len)
{
    sio_target_t target;
    int r = target_from_abi(p, t, &target);
    if (r) return r;
    sio_args_t args = {.value = json, .len = len};
    return emit_through(p, "emit", &target, event, &args);
}

static int check_target(iog_plugin_t *p, const iog_target_t *t, const char *event)
{
    if (!p || !t || !event)
        return p ? plugin_fail(p, IOG_EINVAL, "emit: NULL argument") : IOG_EINVAL;
    if (t->struct_size < sizeof(iog_target_t) - sizeof(size_t))
        return plugin_fail(p, IOG_EINVAL, "emit: target struct_size too small");
    if (sio_event_name_is_reserved(event, strlen(event)))
        return plugin_fail(p, IOG_EINVAL, "emit: \"%s\" is a reserved event name", event);
    return 0;
}

static int api_emit(iog_plugin_t *p, const iog_target_t *t, const char *event, const void *payload)
{
    int r = check_target(p, t, event);
    if (r) return r;
    event_def_t *d = strmap_get(&p->host->events, event, strlen(event));
    if (!d) return plugin_fail(p, IOG_ENOENT, "emit: no event \"%s\" is registered", event);
    iog_json_writer_t w;
    json_writer_init(&w.w);
    r = d->serialize(d->user, payload, &w);
    size_t len;
    const char *json = json_writer_text(&w.w, &len);
    if (r == 0 && !json)
        r = plugin_fail(p, IOG_EINVAL, "emit: the serializer of \"%s\" wrote invalid JSON", event);
    if (r == 0) r = emit_text(p, t, event, json, len);
    json_writer_free(&w.w);
    return r;
}

static int api_emit_to_user(iog_plugin_t *p, const char *user_id, const char *event,
                            const void *payload)
{
    iog_target_t t = {sizeof(t), IOG_TARGET_USER, "/", user_id, NULL, 0};
    return api_emit(p, &t, event, payload);
}

static int api_emit_json(iog_plugin_t *p, const iog_target_t *t, const char *event,
                         const char *json, size_t len)
{
    int r = check_target(p, t, event);
    if (r) return r;
    json_t *v = json ? json_parse_js(json, len) : NULL;
    if (json && !v)
        return plugin_fail(p, IOG_EINVAL, "emit_json: the payload is not one JSON value");
    buf_t compact = BUF_INIT;
    if (v) json_out_append(&compact, v);
    json_decref(v);
    r = emit_text(p, t, event, compact.data, compact.len);
    buf_free(&compact);
    return r;
}

/* ------------------------------------------------------------------ principals */

/* The principals plugins may pass back to principal_claim(), by address: those handed to
 * a callback running now and those of requests not answered yet. A pointer the plugin
 * passes in is looked up here before anything is read through it, so a copy, or a
 * principal kept past its lifetime, is refused instead of being read as the host's struct
 * and written into. Process-wide like live_requests below (loop thread only): the
 * adapters that make principals would otherwise need the host passed down for this alone. */
static objmap_t live_principals;

static const char *principal_key(const void *obj, size_t *len)
{
    *len = sizeof(const iog_principal_t *);
    return (const char *)&((const host_principal_t *)obj)->addr;
}

static void principal_register(host_principal_t *hp)
{
    if (!live_principals.key_of) objmap_init(&live_principals, principal_key);
    hp->addr = &hp->pub;
    objmap_add(&live_principals, hp);
}

static void principal_fill(host_principal_t *hp, const jwt_principal_t *jp)
{
    memset(hp, 0, sizeof(*hp));
    hp->pub.struct_size = sizeof(hp->pub);
    hp->pub.user_id = jp->user_id;
    hp->claims = jp->claims;
    hp->claims_json = jp->claims ? json_dumps(jp->claims, JSON_COMPACT) : NULL;
    hp->pub.claims_json = hp->claims_json ? hp->claims_json : "{}";
    hp->pub.expires_at = jp->exp;
    principal_register(hp);
}

static const char *api_principal_claim(iog_plugin_t *p, const iog_principal_t *pr, const char *name)
{
    if (!pr || !name) return NULL;
    host_principal_t *hp = objmap_get(&live_principals, (const char *)&pr, sizeof(pr));
    if (!hp) {
        if (p)
            plugin_fail(p, IOG_EINVAL,
                        "principal_claim: not a principal the host handed out, or one past its "
                        "lifetime (a copy is never one: keep the claims you need instead)");
        return NULL;
    }
    if (!hp->claims && !hp->parsed && hp->pub.claims_json)
        hp->parsed = json_loads(hp->pub.claims_json, 0, NULL);
    return json_string_value(json_object_get(hp->claims ? hp->claims : hp->parsed, name));
}

/* A socket's principal: its identity's text as is, parsed only if a claim is asked for. */
static void principal_fill_socket(host_principal_t *hp, sio_socket_t *s)
{
    memset(hp, 0, sizeof(*hp));
    hp->pub.struct_size = sizeof(hp->pub);
    hp->pub.user_id = sio_socket_user_id(s);
    const char *claims = sio_socket_claims_json(s);
    hp->pub.claims_json = claims ? claims : "{}";
    hp->pub.expires_at = sio_socket_expires_at(s);
    principal_register(hp);
}

static void principal_release(host_principal_t *hp)
{
    if (hp->addr) objmap_remove(&live_principals, (const char *)&hp->addr, sizeof(hp->addr));
    free(hp->claims_json);
    json_decref(hp->parsed);
}

/* ------------------------------------------------------------------ REST routes */

/* A plugin holds a request by a handle, a number never reused, not by its address:
 * respond() frees the request, and a later call with the handle must find nothing rather
 * than freed memory or, once the address is reused, another client's request.
 * Process-wide, with live_principals above, because a request call is given nothing else
 * to find its host by; like every host call it is used on the loop thread only. */
static objmap_t live_requests;
static uintptr_t last_request_handle;

static const char *request_key(const void *obj, size_t *len)
{
    *len = sizeof(uintptr_t);
    return (const char *)&((const iog_request_t *)obj)->handle;
}

/* The request behind a plugin's handle, or NULL once it is answered. */
static iog_request_t *request_live(iog_request_t *handle)
{
    uintptr_t h = (uintptr_t)handle;
    return h ? objmap_get(&live_requests, (const char *)&h, sizeof(h)) : NULL;
}

static void request_free(iog_request_t *r)
{
    objmap_remove(&live_requests, (const char *)&r->handle, sizeof(r->handle));
    for (size_t i = 0; i < r->nparams; i++) {
        free(r->param_names[i]);
        free(r->param_values[i]);
    }
    url_query_free(&r->query);
    principal_release(&r->principal);
    if (r->has_principal) jwt_principal_free(&r->jwt);
    free(r->path);
    free(r);
}

static void on_request_abort(void *user, http_request_t *req)
{
    (void)req;
    ((iog_request_t *)user)->http = NULL;
}

static void route_adapter(void *user, http_request_t *http, const router_match_t *m)
{
    hook_t *route = user;
    iog_request_t *r = xcalloc(1, sizeof(*r));
    r->http = http;
    r->route = route;
    size_t path_len;
    const char *path = http_request_path(http, &path_len);
    r->path = xmemdup0(path, path_len);
    for (size_t i = 0; i < m->nparams && i < ROUTER_MAX_PARAMS; i++) {
        r->param_names[i] = xstrdup(m->params[i].name);
        r->param_values[i] = xstrdup(m->params[i].value);
        r->nparams++;
    }
    size_t qlen;
    const char *qs = http_request_query(http, &qlen);
    if (qs && url_query_parse(&r->query, qs, qlen, 64) != 0) {
        request_free(r);
        http_respond_error(http, 400, "bad_request", "malformed query string");
        return;
    }
    const char *reason = NULL;
    int refused = rest_authenticate(route->plugin->host->deps.rest, http, &r->jwt, &reason);
    if (!refused) {
        r->has_principal = 1;
        principal_fill(&r->principal, &r->jwt);
    } else if (refused != 401 || (route->flags & IOG_ROUTE_AUTHENTICATED)) {
        /* A cross-site cookie request is refused on every route, public ones included. */
        request_free(r);
        http_respond_error(http, refused, http_error_code_for_status(refused), reason);
        return;
    }
    http_request_on_abort(http, on_request_abort, r);
    if (!live_requests.key_of) objmap_init(&live_requests, request_key);
    r->handle = ++last_request_handle;
    objmap_add(&live_requests, r);
    ((iog_route_fn)route->fn)(route->user, (iog_request_t *)r->handle);
}

static int api_register_route(iog_plugin_t *p, const char *method, const char *pattern, int flags,
                              iog_route_fn fn, void *user)
{
    if (!p || !method || !pattern || !fn)
        return p ? plugin_fail(p, IOG_EINVAL, "register_route: NULL argument") : IOG_EINVAL;
    REQUIRE_INIT(p, "register_route");
    hook_t *h = xcalloc(1, sizeof(*h));
    h->plugin = p;
    h->fn = (void (*)(void))fn;
    h->user = user;
    h->flags = flags;
    char err[256];
    int r = rest_add_route(p->host->deps.rest, method, pattern, route_adapter, h, err, sizeof(err));
    if (r != 0) {
        free(h);
        return plugin_fail(p, r == ROUTER_ECONFLICT ? IOG_EEXIST : IOG_EINVAL, "route %s %s: %s",
                           method, pattern, err);
    }
    h->next = p->hooks;
    p->hooks = h;
    return 0;
}

static const char *api_request_method(iog_request_t *req)
{
    iog_request_t *r = request_live(req);
    return r && r->http ? http_request_method(r->http) : "";
}

static const char *api_request_path(iog_request_t *req)
{
    iog_request_t *r = request_live(req);
    return r ? r->path : "";
}

static const char *api_request_param(iog_request_t *req, const char *name)
{
    iog_request_t *r = request_live(req);
    if (!r || !name) return NULL;
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->param_names[i], name) == 0) return r->param_values[i];
    return NULL;
}

static const char *api_request_query(iog_request_t *req, const char *name)
{
    iog_request_t *r = request_live(req);
    return r && name ? url_query_get(&r->query, name) : NULL;
}

static const char *api_request_header(iog_request_t *req, const char *name)
{
    iog_request_t *r = request_live(req);
    return r && r->http && name ? http_request_header(r->http, name) : NULL;
}

static const char *api_request_body(iog_request_t *req, size_t *len)
{
    iog_request_t *r = request_live(req);
    if (!r || !r->http) {
        if (len) *len = 0;
        return "";
    }
    return http_request_body(r->http, len);
}

static const iog_principal_t *api_request_principal(iog_request_t *req)
{
    iog_request_t *r = request_live(req);
    return r && r->has_principal ? &r->principal.pub : NULL;
}

static int api_request_aborted(iog_request_t *req)
{
    iog_request_t *r = request_live(req);
    return !r || !r->http;
}

static const char *api_request_remote_addr(iog_request_t *req)
{
    iog_request_t *r = request_live(req);
    return r && r->http ? http_request_remote_addr(r->http) : "";
}

/* A status out of the entry's range is answered as 500, as 1.0 shipped, but not silently. */
static int status_or_500(const iog_request_t *r, const char *what, int status, int lowest)
{
    if (status >= lowest && status <= 599) return status;
    log_warn(r->route->plugin->name, "%s: status %d is not %d to 599; answered 500 instead", what,
             status, lowest);
    return 500;
}

static int api_respond(iog_request_t *req, int status, const char *json, size_t len)
{
    iog_request_t *r = request_live(req);
    if (!r) return req ? IOG_ESTATE : IOG_EINVAL;
    status = status_or_500(r, "respond", status, 200);
    if (r->http) {
        http_request_on_abort(r->http, NULL, NULL);
        if (json && len)
            http_respond_json_text(r->http, status, json, len);
        else
            http_respond(r->http, status, NULL, NULL, 0);
    }
    request_free(r);
    return 0;
}

static int api_respond_bytes(iog_request_t *req, int status, const char *content_type,
                             const void *body, size_t len)
{
    iog_request_t *r = request_live(req);
    if (!r) return req ? IOG_ESTATE : IOG_EINVAL;
    if ((len && !body) || (content_type && strpbrk(content_type, "\r\n"))) return IOG_EINVAL;
    status = status_or_500(r, "respond_bytes", status, 200);
    if (r->http) {
        http_request_on_abort(r->http, NULL, NULL);
        http_respond(r->http, status, content_type ? content_type : "application/octet-stream",
                     body, len);
    }
    request_free(r);
    return 0;
}

static int api_respond_error(iog_request_t *req, int status, const char *code, const char *message)
{
    iog_request_t *r = request_live(req);
    if (!r) return req ? IOG_ESTATE : IOG_EINVAL;
    status = status_or_500(r, "respond_error", status, 400);
    if (r->http) {
        http_request_on_abort(r->http, NULL, NULL);
        http_respond_error(r->http, status, code ? code : "error", message ? message : "");
    }
    request_free(r);
    return 0;
}

static int api_response_header(iog_request_t *req, const char *name, const char *value)
{
    iog_request_t *r = request_live(req);
    if (!r) return req ? IOG_ESTATE : IOG_EINVAL;
    if (!name || !value || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return IOG_EINVAL;
    if (r->http) http_response_header(r->http, name, value);
    return 0;
}

/* ------------------------------------------------------------------ Socket.IO */

static int api_add_namespace(iog_plugin_t *p, const char *nsp)
{
    if (!p) return IOG_EINVAL;
    REQUIRE_INIT(p, "add_namespace");
    return plugin_stage(p, STAGED_NAMESPACE, nsp, NULL, NULL, NULL);
}

static int api_on_connect(iog_plugin_t *p, const char *nsp, iog_connection_fn fn, void *user)
{
    if (!p || !fn) return IOG_EINVAL;
    REQUIRE_INIT(p, "on_connect");
    return plugin_stage(p, STAGED_CONNECT, nsp, NULL, (void (*)(void))fn, user);
}

static int api_on_disconnect(iog_plugin_t *p, const char *nsp, iog_connection_fn fn, void *user)
{
    if (!p || !fn) return IOG_EINVAL;
    REQUIRE_INIT(p, "on_disconnect");
    return plugin_stage(p, STAGED_DISCONNECT, nsp, NULL, (void (*)(void))fn, user);
}

static int api_on_event(iog_plugin_t *p, const char *nsp, const char *event, iog_client_event_fn fn,
                        void *user)
{
    if (!p || !fn || !event || !event[0])
        return p ? plugin_fail(p, IOG_EINVAL, "on_event: missing event or handler") : IOG_EINVAL;
    REQUIRE_INIT(p, "on_event");
    return plugin_stage(p, STAGED_EVENT, nsp, event, (void (*)(void))fn, user);
}

static void connection_fill(iog_connection_t *c, host_principal_t *hp, sio_socket_t *s)
{
    memset(c, 0, sizeof(*c));
    c->struct_size = sizeof(*c);
    c->nsp = sio_nsp_name(sio_socket_nsp(s));
    c->socket_id = sio_socket_id(s);
    if (sio_socket_user_id(s)) {
        principal_fill_socket(hp, s);
        c->principal = &hp->pub;
    }
}

static void connect_adapter(void *user, sio_socket_t *s, const json_t *auth)
{
    hook_t *h = user;
    iog_connection_t c;
    host_principal_t hp = {0};
    connection_fill(&c, &hp, s);
    char *auth_json = json_dumps(auth, JSON_COMPACT | JSON_ENCODE_ANY);
    c.auth_json = auth_json ? auth_json : "{}";
    ((iog_connection_fn)h->fn)(h->user, &c);
    free(auth_json);
    principal_release(&hp);
}

static void disconnect_adapter(void *user, sio_socket_t *s, const char *reason)
{
    hook_t *h = user;
    iog_connection_t c;
    host_principal_t hp = {0};
    connection_fill(&c, &hp, s);
    c.reason = reason;
    ((iog_connection_fn)h->fn)(h->user, &c);
    principal_release(&hp);
}

static void event_adapter(void *user, sio_socket_t *s, const sio_event_t *ev)
{
    hook_t *h = user;
    iog_client_event_t e;
    memset(&e, 0, sizeof(e));
    host_principal_t hp = {0};
    e.struct_size = sizeof(e);
    e.nsp = sio_nsp_name(sio_socket_nsp(s));
    e.socket_id = sio_socket_id(s);
    if (sio_socket_user_id(s)) {
        principal_fill_socket(&hp, s);
        e.principal = &hp.pub;
    }
    e.event = ev->name;
    e.args_json = sio_event_args_text(ev, &e.args_len);
    e.ack_id = ev->ack_id;
    iog_bytes_t small[8];
    iog_bytes_t *att = ev->nbin <= 8 ? small : xcalloc(ev->nbin, sizeof(*att));
    for (size_t i = 0; i < ev->nbin; i++) {
        att[i].data = ev->bin[i].data;
        att[i].len = ev->bin[i].len;
    }
    e.attachments = ev->nbin ? att : NULL;
    e.attachments_len = ev->nbin;
    ((iog_client_event_fn)h->fn)(h->user, &e);
    if (att != small) free(att);
    principal_release(&hp);
}

void plugin_hook_sio(hook_t *h, int kind, sio_nsp_t *nsp, const char *event)
{
    if (kind == STAGED_CONNECT)
        sio_nsp_on_connect(nsp, connect_adapter, h);
    else if (kind == STAGED_DISCONNECT)
        sio_nsp_on_disconnect(nsp, disconnect_adapter, h);
    else
        sio_nsp_on_event(nsp, event, event_adapter, h);
}

static sio_socket_t *find_socket(iog_plugin_t *p, const char *nsp, const char *socket_id)
{
    if (!p || !socket_id) return NULL;
    return sio_server_find_socket(p->host->deps.sio, nsp ? nsp : "/", socket_id);
}

/* Parses an argument array and wraps attachments as the core's sio_bin_t. */
static int args_with_binary(iog_plugin_t *p, const char *what, const char *args_json, size_t len,
                            const iog_bytes_t *att, size_t n, json_t **args, sio_bin_t **bin)
{
    *args = NULL;
    *bin = NULL;
    if (n && !att) return plugin_fail(p, IOG_EINVAL, "%s: attachments missing", what);
    if (args_json) {
        *args = json_parse_js(args_json, len);
        if (!json_is_array(*args)) {
            json_decref(*args);
            *args = NULL;
            return plugin_fail(p, IOG_EINVAL, "%s: arguments must be a JSON array", what);
        }
    }
    if (n) {
        *bin = xcalloc(n, sizeof(**bin));
        for (size_t i = 0; i < n; i++) {
            (*bin)[i].data = (char *)att[i].data; /* only read by the encoder */
            (*bin)[i].len = att[i].len;
        }
    }
    return 0;
}

static int api_emit_to_socket(iog_plugin_t *p, const char *nsp, const char *socket_id,
                              const char *event, const char *args_json, size_t len,
                              const iog_bytes_t *att, size_t n)
{
    if (!p || !socket_id)
        return p ? plugin_fail(p, IOG_EINVAL, "emit_to_socket: NULL socket id") : IOG_EINVAL;
    if (!event || sio_event_name_is_reserved(event, strlen(event)))
        return plugin_fail(p, IOG_EINVAL, "emit_to_socket: missing or reserved event name");
    json_t *array;
    sio_bin_t *bin;
    int r = args_with_binary(p, "emit_to_socket", args_json, len, att, n, &array, &bin);
    if (r) return r;
    sio_target_t target = {.kind = SIO_TO_SOCKET, .nsp = nsp, .id = socket_id};
    json_t *empty = array ? NULL : json_array();
    sio_args_t args = {.array = array ? array : empty, .bin = bin, .nbin = n};
    r = emit_through(p, "emit_to_socket", &target, event, &args);
    json_decref(empty);
    json_decref(array);
    free(bin);
    return r;
}

static int api_ack_binary(iog_plugin_t *p, const char *nsp, const char *socket_id, int64_t ack_id,
                          const char *args_json, size_t len, const iog_bytes_t *att, size_t n)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s) return p ? plugin_fail(p, IOG_ENOENT, "ack: socket is gone") : IOG_EINVAL;
    if (ack_id < 0) return plugin_fail(p, IOG_EINVAL, "ack: invalid ack id");
    json_t *args;
    sio_bin_t *bin;
    int r = args_with_binary(p, "ack", args_json, len, att, n, &args, &bin);
    if (r) return r;
    sio_socket_ack(s, ack_id, args, bin, n);
    json_decref(args);
    free(bin);
    return 0;
}

typedef struct plugin_ack {
    iog_ack_fn cb;
    void *user;
} plugin_ack_t;

static void plugin_ack_adapter(void *user, sio_socket_t *s, const json_t *args,
                               const sio_bin_t *bin, size_t nbin)
{
    plugin_ack_t *a = user;
    buf_t json = BUF_INIT;
    iog_bytes_t small[8];
    iog_bytes_t *att = nbin <= 8 ? small : xcalloc(nbin, sizeof(*att));
    for (size_t i = 0; i < nbin; i++) {
        att[i].data = bin[i].data;
        att[i].len = bin[i].len;
    }
    if (args) json_out_append(&json, args);
    a->cb(a->user, sio_nsp_name(sio_socket_nsp(s)), sio_socket_id(s), args ? json.data : NULL,
          args ? json.len : 0, nbin ? att : NULL, args ? nbin : 0);
    if (att != small) free(att);
    buf_free(&json);
    free(a);
}

static int api_emit_with_ack(iog_plugin_t *p, const char *nsp, const char *socket_id,
                             const char *event, const char *args_json, size_t len,
                             const iog_bytes_t *att, size_t n, uint64_t timeout_ms, iog_ack_fn cb,
                             void *user)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s) return p ? plugin_fail(p, IOG_ENOENT, "emit_with_ack: socket is gone") : IOG_EINVAL;
    if (!cb || !event || sio_event_name_is_reserved(event, strlen(event)))
        return plugin_fail(p, IOG_EINVAL, "emit_with_ack: missing callback or bad event name");
    json_t *args;
    sio_bin_t *bin;
    int r = args_with_binary(p, "emit_with_ack", args_json, len, att, n, &args, &bin);
    if (r) return r;
    plugin_ack_t *a = xcalloc(1, sizeof(*a));
    a->cb = cb;
    a->user = user;
    sio_args_t sa = {.array = args, .bin = bin, .nbin = n};
    sio_socket_emit_with_ack(s, event, &sa, timeout_ms, plugin_ack_adapter, a);
    json_decref(args);
    free(bin);
    return 0;
}

static int api_ack(iog_plugin_t *p, const char *nsp, const char *socket_id, int64_t ack_id,
                   const char *args_json, size_t len)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s)
        return p ? plugin_fail(p, IOG_ENOENT, "ack: socket %s is gone", socket_id ? socket_id : "")
                 : IOG_EINVAL;
    if (ack_id < 0) return plugin_fail(p, IOG_EINVAL, "ack: invalid ack id");
    json_t *args = NULL;
    if (args_json) {
        args = json_parse_js(args_json, len);
        if (!json_is_array(args)) {
            json_decref(args);
            return plugin_fail(p, IOG_EINVAL, "ack: arguments must be a JSON array");
        }
    }
    sio_socket_ack(s, ack_id, args, NULL, 0);
    json_decref(args);
    return 0;
}

static int api_join(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *room)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s) return p ? plugin_fail(p, IOG_ENOENT, "join: socket is gone") : IOG_EINVAL;
    if (!room || !room[0] || strlen(room) > 1024)
        return plugin_fail(p, IOG_EINVAL, "join: invalid room name");
    sio_socket_join(s, room);
    return 0;
}

static int api_leave(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *room)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s) return p ? plugin_fail(p, IOG_ENOENT, "leave: socket is gone") : IOG_EINVAL;
    if (!room) return IOG_EINVAL;
    sio_socket_leave(s, room);
    return 0;
}

static int api_disconnect(iog_plugin_t *p, const char *nsp, const char *socket_id)
{
    sio_socket_t *s = find_socket(p, nsp, socket_id);
    if (!s) return p ? plugin_fail(p, IOG_ENOENT, "disconnect: socket is gone") : IOG_EINVAL;
    sio_socket_disconnect(s, "server namespace disconnect");
    return 0;
}

static int64_t api_room_size(iog_plugin_t *p, const char *nsp, const char *room)
{
    if (!p || !room) return IOG_EINVAL;
    sio_nsp_t *n = sio_server_find_nsp(p->host->deps.sio, nsp ? nsp : "/");
    return n ? (int64_t)sio_nsp_room_size(n, room) : 0;
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

/* ------------------------------------------------------------------ JSON writer */

static iog_json_writer_t *api_json_new(void)
{
    iog_json_writer_t *w = xcalloc(1, sizeof(*w));
    json_writer_init(&w->w);
    return w;
}

static void api_json_free(iog_json_writer_t *w)
{
    if (!w) return;
    json_writer_free(&w->w);
    free(w);
}

static const char *api_json_text(iog_json_writer_t *w, size_t *len)
{
    return w ? json_writer_text(&w->w, len) : NULL;
}

#define WRITER_FN(name, call)                                                                      \
    static void api_json_##name(iog_json_writer_t *w)                                              \
    {                                                                                              \
        if (w) call(&w->w);                                                                        \
    }
WRITER_FN(object_begin, json_writer_object_begin)
WRITER_FN(object_end, json_writer_object_end)
WRITER_FN(array_begin, json_writer_array_begin)
WRITER_FN(array_end, json_writer_array_end)
WRITER_FN(null, json_writer_null)

static void api_json_key(iog_json_writer_t *w, const char *key)
{
    if (w) json_writer_key(&w->w, key, key ? strlen(key) : 0);
}

static void api_json_string(iog_json_writer_t *w, const char *s)
{
    if (w) json_writer_string(&w->w, s, s ? strlen(s) : 0);
}

static void api_json_string_n(iog_json_writer_t *w, const char *s, size_t len)
{
    if (w) json_writer_string(&w->w, s, len);
}

static void api_json_int(iog_json_writer_t *w, int64_t v)
{
    if (w) json_writer_int(&w->w, v);
}

static void api_json_double(iog_json_writer_t *w, double v)
{
    if (w) json_writer_double(&w->w, v);
}

static void api_json_bool(iog_json_writer_t *w, int v)
{
    if (w) json_writer_bool(&w->w, v);
}

static void api_json_raw(iog_json_writer_t *w, const char *json, size_t len)
{
    if (w) json_writer_raw(&w->w, json, len);
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
};

/* The table's layout is the contract: entries only ever append. These pin the 1.0 and
 * 1.1 layout (a header of 8 bytes, then one pointer per entry). */
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
_Static_assert(sizeof(iog_host_api_t) == API_SLOT(57), "host API layout changed");
