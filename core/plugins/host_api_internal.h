/* host_api_internal.h - what the parts of the host API share: the host's side of a principal,
 * the JSON writer's handle, the init-only check, and the entries each part defines for the
 * table in host_api.c. Included by core/plugins/host_*.c and host_api.c only. */
#ifndef IOGATE_HOST_API_INTERNAL_H
#define IOGATE_HOST_API_INTERNAL_H

#include <iogate/iogate.h>
#include <jansson.h>
#include <stddef.h>

#include "auth/jwt_verify.h"
#include "base/json_writer.h"
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

struct iog_json_writer {
    json_writer_t w;
};

static inline int state_init(struct iog_plugin *p)
{
    return p->state == PLUGIN_INIT;
}

#define REQUIRE_INIT(p, what)                                                                      \
    do {                                                                                           \
        if (!(p) || !state_init(p))                                                                \
            return (p) ? plugin_fail(p, IOG_ESTATE, "%s is allowed only during init", what)        \
                       : IOG_EINVAL;                                                               \
    } while (0)

/* Principals (host_principal.c). */
void principal_fill(host_principal_t *hp, const jwt_principal_t *jp);
void principal_fill_socket(host_principal_t *hp, sio_socket_t *s);
void principal_release(host_principal_t *hp);

/* host_principal.c */
const char *api_principal_claim(iog_plugin_t *p, const iog_principal_t *pr, const char *name);

/* host_rest.c */
int api_register_route(iog_plugin_t *p, const char *method, const char *pattern, int flags,
                       iog_route_fn fn, void *user);
const char *api_request_method(iog_request_t *req);
const char *api_request_path(iog_request_t *req);
const char *api_request_param(iog_request_t *req, const char *name);
const char *api_request_query(iog_request_t *req, const char *name);
const char *api_request_header(iog_request_t *req, const char *name);
const char *api_request_body(iog_request_t *req, size_t *len);
const iog_principal_t *api_request_principal(iog_request_t *req);
int api_request_aborted(iog_request_t *req);
const char *api_request_remote_addr(iog_request_t *req);
int api_respond(iog_request_t *req, int status, const char *json, size_t len);
int api_respond_bytes(iog_request_t *req, int status, const char *content_type, const void *body,
                      size_t len);
int api_respond_error(iog_request_t *req, int status, const char *code, const char *message);
int api_response_header(iog_request_t *req, const char *name, const char *value);

/* host_sio.c */
int api_register_event(iog_plugin_t *p, const char *name, iog_serialize_fn serialize, void *user);
int api_emit(iog_plugin_t *p, const iog_target_t *t, const char *event, const void *payload);
int api_emit_to_user(iog_plugin_t *p, const char *user_id, const char *event, const void *payload);
int api_emit_json(iog_plugin_t *p, const iog_target_t *t, const char *event, const char *json,
                  size_t len);
int api_add_namespace(iog_plugin_t *p, const char *nsp);
int api_on_connect(iog_plugin_t *p, const char *nsp, iog_connection_fn fn, void *user);
int api_on_disconnect(iog_plugin_t *p, const char *nsp, iog_connection_fn fn, void *user);
int api_on_event(iog_plugin_t *p, const char *nsp, const char *event, iog_client_event_fn fn,
                 void *user);
int api_emit_to_socket(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *event,
                       const char *args_json, size_t len, const iog_bytes_t *att, size_t n);
int api_ack_binary(iog_plugin_t *p, const char *nsp, const char *socket_id, int64_t ack_id,
                   const char *args_json, size_t len, const iog_bytes_t *att, size_t n);
int api_emit_with_ack(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *event,
                      const char *args_json, size_t len, const iog_bytes_t *att, size_t n,
                      uint64_t timeout_ms, iog_ack_fn cb, void *user);
int api_ack(iog_plugin_t *p, const char *nsp, const char *socket_id, int64_t ack_id,
            const char *args_json, size_t len);
int api_join(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *room);
int api_leave(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *room);
int api_disconnect(iog_plugin_t *p, const char *nsp, const char *socket_id);
int64_t api_room_size(iog_plugin_t *p, const char *nsp, const char *room);
int api_on_server_event(iog_plugin_t *p, const char *nsp, const char *event, iog_server_event_fn fn,
                        void *user);
int api_server_emit(iog_plugin_t *p, const char *nsp, const char *event, const char *args_json,
                    size_t len);
int api_fleet_room_size(iog_plugin_t *p, const char *nsp, const char *room, iog_count_fn cb,
                        void *user);

/* host_recovery.c */
int api_set_recoverable(iog_plugin_t *p, const char *event, int recoverable);
int api_recovery_source(iog_plugin_t *p, const iog_recovery_source_t *src);
int api_recovery_emit(iog_plugin_t *p, uint64_t replay, const void *payload);
int api_recovery_end(iog_plugin_t *p, uint64_t replay, int status);

/* host_json.c */
iog_json_writer_t *api_json_new(void);
void api_json_free(iog_json_writer_t *w);
const char *api_json_text(iog_json_writer_t *w, size_t *len);
void api_json_key(iog_json_writer_t *w, const char *key);
void api_json_string(iog_json_writer_t *w, const char *s);
void api_json_string_n(iog_json_writer_t *w, const char *s, size_t len);
void api_json_int(iog_json_writer_t *w, int64_t v);
void api_json_double(iog_json_writer_t *w, double v);
void api_json_bool(iog_json_writer_t *w, int v);
void api_json_raw(iog_json_writer_t *w, const char *json, size_t len);
void api_json_object_begin(iog_json_writer_t *w);
void api_json_object_end(iog_json_writer_t *w);
void api_json_array_begin(iog_json_writer_t *w);
void api_json_array_end(iog_json_writer_t *w);
void api_json_null(iog_json_writer_t *w);

/* plugin_metrics.c */
iog_metric_t *api_metric_register(iog_plugin_t *p, const iog_metric_def_t *def);
iog_metric_t *api_metric_series(iog_plugin_t *p, iog_metric_t *metric, const char *const *values,
                                size_t n);
int api_metric_add(iog_metric_t *m, double v);
int api_metric_set(iog_metric_t *m, double v);
int api_metric_observe(iog_metric_t *m, double v);

#endif
