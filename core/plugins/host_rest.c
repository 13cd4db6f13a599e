/* host_rest.c - the host API's REST part: routes registered by plugins, the requests they
 * are handed (by a handle never reused), and their answers. */
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

/* A plugin holds a request by a handle, a number never reused, not by its address:
 * respond() frees the request, and a later call with the handle must find nothing rather
 * than freed memory or, once the address is reused, another client's request.
 * Process-wide, with live_principals (host_principal.c), because a request call is given nothing
 * else to find its host by; like every host call it is used on the loop thread only. */
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

int api_register_route(iog_plugin_t *p, const char *method, const char *pattern, int flags,
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

const char *api_request_method(iog_request_t *req)
{
    iog_request_t *r = request_live(req);
    return r && r->http ? http_request_method(r->http) : "";
}

const char *api_request_path(iog_request_t *req)
{
    iog_request_t *r = request_live(req);
    return r ? r->path : "";
}

const char *api_request_param(iog_request_t *req, const char *name)
{
    iog_request_t *r = request_live(req);
    if (!r || !name) return NULL;
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->param_names[i], name) == 0) return r->param_values[i];
    return NULL;
}

const char *api_request_query(iog_request_t *req, const char *name)
{
    iog_request_t *r = request_live(req);
    return r && name ? url_query_get(&r->query, name) : NULL;
}

const char *api_request_header(iog_request_t *req, const char *name)
{
    iog_request_t *r = request_live(req);
    return r && r->http && name ? http_request_header(r->http, name) : NULL;
}

const char *api_request_body(iog_request_t *req, size_t *len)
{
    iog_request_t *r = request_live(req);
    if (!r || !r->http) {
        if (len) *len = 0;
        return "";
    }
    return http_request_body(r->http, len);
}

const iog_principal_t *api_request_principal(iog_request_t *req)
{
    iog_request_t *r = request_live(req);
    return r && r->has_principal ? &r->principal.pub : NULL;
}

int api_request_aborted(iog_request_t *req)
{
    iog_request_t *r = request_live(req);
    return !r || !r->http;
}

const char *api_request_remote_addr(iog_request_t *req)
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

int api_respond(iog_request_t *req, int status, const char *json, size_t len)
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

int api_respond_bytes(iog_request_t *req, int status, const char *content_type, const void *body,
                      size_t len)
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

int api_respond_error(iog_request_t *req, int status, const char *code, const char *message)
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

int api_response_header(iog_request_t *req, const char *name, const char *value)
{
    iog_request_t *r = request_live(req);
    if (!r) return req ? IOG_ESTATE : IOG_EINVAL;
    if (!name || !value || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return IOG_EINVAL;
    if (r->http) http_response_header(r->http, name, value);
    return 0;
}
