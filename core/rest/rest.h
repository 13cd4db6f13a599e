/* rest.h - the REST API's routes: registering and removing them, dispatching a request to its
 * handler (404, 405 with Allow, 400 for a malformed path), and authenticating a request.
 *
 * It sits below the plugin host and the gateway, which both add routes here; it owns the
 * router and one record per route, and borrows the authenticator. */
#ifndef IOGATE_REST_H
#define IOGATE_REST_H

#include <stddef.h>

#include "auth/authenticator.h"
#include "http/http.h"
#include "http/router.h"

typedef struct rest rest_t;

/* A route's handler: params holds the matched path parameters (valid during the call). The
 * handler owes req an answer, now or later (http.h). */
typedef void (*rest_route_fn)(void *user, http_request_t *req, const router_match_t *params);

/* auth (borrowed, may be NULL: nobody authenticates) must outlive the REST API. */
rest_t *rest_new(const authenticator_t *auth);
void rest_free(rest_t *rest);

/* Registers METHOD + pattern (router.h). Returns 0, or ROUTER_EINVAL / ROUTER_ECONFLICT
 * with err. */
int rest_add_route(rest_t *rest, const char *method, const char *pattern, rest_route_fn fn,
                   void *user, char *err, size_t err_size);
/* Removes every route registered with this user pointer; returns how many. */
size_t rest_remove_routes(rest_t *rest, void *user);

/* 1 when a route takes METHOD path (for checks and tests; rest_handle answers). */
int rest_has_route(const rest_t *rest, const char *method, const char *path);

/* Answers req through its route, or with 404 / 405 / 400 when none takes it. The answer is
 * counted in the route's stats (a HEAD answered by a GET route, in the GET route's), or with
 * the requests no route took (http.h). */
void rest_handle(rest_t *rest, http_request_t *req);
/* Calls fn for every route in registration order, with the stats of its answers (valid as long
 * as the route: a route is removed only with a plugin whose init failed, before any request). */
void rest_each_route(const rest_t *rest,
                     void (*fn)(void *user, const char *method, const char *pattern,
                                const http_route_stats_t *stats),
                     void *user);

/* The identity behind req (authenticator.h, AUTH_USE_REST). Returns 0 with *out filled (free
 * it with jwt_principal_free), or the status to refuse with and its reason: 401 (no token,
 * or not valid), 403 (the cookie on a state-changing request from a foreign page) or 415 (the
 * cookie on a state-changing request whose body is not JSON). */
int rest_authenticate(const rest_t *rest, const http_request_t *req, jwt_principal_t *out,
                      const char **reason);

#endif
