/* rest.c - route records over the router, dispatch, and the REST view of authentication. */
#include "rest/rest.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

typedef struct rest_route {
    rest_route_fn fn;
    void *user;
    struct rest_route *next;
    char *method, *pattern;   /* as registered: the labels of its answers on /metrics */
    http_route_stats_t stats; /* its answers (http.h) */
} rest_route_t;

static void route_free(rest_route_t *r)
{
    free(r->method);
    free(r->pattern);
    free(r);
}

struct rest {
    router_t *router;
    rest_route_t *routes; /* every registered record, for removing and freeing */
    const authenticator_t *auth;
};

rest_t *rest_new(const authenticator_t *auth)
{
    rest_t *rest = xcalloc(1, sizeof(*rest));
    rest->router = router_new();
    rest->auth = auth;
    return rest;
}

void rest_free(rest_t *rest)
{
    if (!rest) return;
    router_free(rest->router);
    while (rest->routes) {
        rest_route_t *next = rest->routes->next;
        route_free(rest->routes);
        rest->routes = next;
    }
    free(rest);
}

int rest_add_route(rest_t *rest, const char *method, const char *pattern, rest_route_fn fn,
                   void *user, char *err, size_t err_size)
{
    rest_route_t *route = xcalloc(1, sizeof(*route));
    route->fn = fn;
    route->user = user;
    int r = router_add(rest->router, method, pattern, route, err, err_size);
    if (r != 0) {
        free(route);
        return r;
    }
    route->method = xstrdup(method);
    route->pattern = xstrdup(pattern);
    /* Appended: the page lists routes in registration order. */
    rest_route_t **tail = &rest->routes;
    while (*tail)
        tail = &(*tail)->next;
    *tail = route;
    return 0;
}

size_t rest_remove_routes(rest_t *rest, void *user)
{
    size_t n = 0;
    for (rest_route_t **p = &rest->routes; *p;) {
        rest_route_t *r = *p;
        if (r->user == user) {
            router_remove_handler(rest->router, r);
            *p = r->next;
            route_free(r);
            n++;
        } else {
            p = &r->next;
        }
    }
    return n;
}

int rest_has_route(const rest_t *rest, const char *method, const char *path)
{
    router_match_t m;
    router_result_t r = router_match(rest->router, method, path, strlen(path), &m, NULL);
    router_match_free(&m);
    return r == ROUTER_FOUND;
}

void rest_handle(rest_t *rest, http_request_t *req)
{
    size_t path_len;
    const char *path = http_request_path(req, &path_len);
    router_match_t m;
    buf_t allow = BUF_INIT;
    router_result_t r =
        router_match(rest->router, http_request_method(req), path, path_len, &m, &allow);
    switch (r) {
    case ROUTER_FOUND: {
        rest_route_t *route = m.handler;
        http_request_count_as(req, &route->stats);
        route->fn(route->user, req, &m);
        break;
    }
    case ROUTER_METHOD_NOT_ALLOWED:
        http_response_header(req, "Allow", allow.data ? allow.data : "");
        http_respond_error(req, 405, "method_not_allowed", "method not allowed for this path");
        break;
    case ROUTER_BAD_PATH:
        http_respond_error(req, 400, "bad_request", "malformed path");
        break;
    case ROUTER_NOT_FOUND:
    default:
        http_respond_error(req, 404, "not_found", "no route for this path");
        break;
    }
    router_match_free(&m);
    buf_free(&allow);
}

void rest_each_route(const rest_t *rest,
                     void (*fn)(void *user, const char *method, const char *pattern,
                                const http_route_stats_t *stats),
                     void *user)
{
    for (const rest_route_t *r = rest->routes; r; r = r->next)
        fn(user, r->method, r->pattern, &r->stats);
}

int rest_authenticate(const rest_t *rest, const http_request_t *req, jwt_principal_t *out,
                      const char **reason)
{
    if (!rest->auth) {
        memset(out, 0, sizeof(*out));
        *reason = "authentication required";
        return 401;
    }
    auth_result_t r = authenticator_check_request(rest->auth, req, AUTH_USE_REST, out, reason);
    return auth_result_http_status(r);
}
