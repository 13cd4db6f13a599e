/* iogate.h - the iogate plugin ABI. This header is the specification.
 *
 * A plugin is a shared object (NAME.so) that exports one function,
 * iogate_plugin_entry(), returning a descriptor. The host checks the ABI
 * version in it, then calls init() with a handle for the plugin and the host
 * API: a table of function pointers. Plugins never link against the iogate
 * binary; everything they can do reaches them through that table.
 *
 * Rules that hold for every function below:
 *  - Thread: everything runs on the host's event-loop thread, except the
 *    `work` callback of work_queue(), which runs on a worker thread and must
 *    not call the host API (since 1.3, but for the metric updates
 *    metric_add(), metric_set() and metric_observe(), which any thread may call).
 *  - Ownership: what the host hands you (strings, structs, requests' data) is
 *    valid for the duration of the call only, unless a function says
 *    otherwise; what you pass to the host is copied before the call returns.
 *    Memory is freed by the side that allocated it.
 *  - Errors: functions returning int (or int64_t) give a negative IOG_E* code
 *    on failure, and on success 0, except the counts: emit(), emit_to_user()
 *    and emit_json() return the sockets reached, room_size() the sockets in a
 *    room, emit_to_socket() 1 (its one socket). Pointer-returning functions
 *    give NULL on failure. iog_host_api_t.strerror() names a code, and
 *    plugin_error() holds the message of the plugin's last failed call.
 *  - When: functions marked "init only" may be called only from init(); later
 *    they fail with IOG_ESTATE. Registrations of a plugin whose init fails are
 *    all removed, and it gets no fini().
 *  - Versions: ABI major changes break compatibility; minors only append:
 *    entries at the end of the host table, members at the end of a struct
 *    (struct_size says how far it goes). Each entry says the version it
 *    arrived in. A shipped entry never changes meaning: what it does, accepts
 *    and returns stays as this header states it. A change is a new entry at
 *    the end of the table, with a new minor; plugins built against the header
 *    of an older minor keep working unchanged.
 *
 * C11 or C++; only standard headers. */
#ifndef IOGATE_IOGATE_H
#define IOGATE_IOGATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOG_ABI_MAJOR 1
#define IOG_ABI_MINOR 3

/* ---- errors (since 1.0) ---- */
#define IOG_OK 0
#define IOG_EINVAL (-1)    /* an argument is invalid (NULL, malformed name, bad pattern) */
#define IOG_ENOMEM (-2)    /* out of memory */
#define IOG_EEXIST (-3)    /* already registered (event name, route, namespace handler) */
#define IOG_ENOENT (-4)    /* no such event, namespace, socket or key */
#define IOG_ESTATE (-5)    /* not allowed now (registration after init, a request answered) */
#define IOG_ETYPE (-6)     /* a config value has another type than asked */
#define IOG_ERANGE (-7)    /* a value is out of range */
#define IOG_EVERSION (-8)  /* incompatible ABI version */
#define IOG_ECANCELED (-9) /* work cancelled at shutdown */
#define IOG_EIO (-10)      /* an I/O or internal failure */
#define IOG_EPARTIAL (-11) /* since 1.2: a fleet-wide answer without every node's part */

/* ---- log levels (since 1.0) ---- */
#define IOG_LOG_DEBUG 0
#define IOG_LOG_INFO 1
#define IOG_LOG_WARN 2
#define IOG_LOG_ERROR 3

/* ---- opaque handles ---- */
typedef struct iog_plugin iog_plugin_t;           /* one per loaded plugin, host-owned */
typedef struct iog_request iog_request_t;         /* a REST request; see respond() */
typedef struct iog_json_writer iog_json_writer_t; /* a JSON text builder */
typedef struct iog_timer iog_timer_t;

/* The authenticated user of a request or socket (since 1.0). It lives as long as what
 * brought it: the callback's call (connections, client events), or the request until it is
 * answered (request_principal()). Copy the fields you keep, strings included; only the
 * host's own principals may be passed back (see principal_claim()). */
typedef struct iog_principal {
    uint32_t struct_size;
    const char *user_id;     /* the token's "sub" */
    const char *claims_json; /* the token's whole payload, compact JSON */
    int64_t expires_at;      /* "exp" in seconds since the epoch, 0 when absent */
} iog_principal_t;

/* A socket joining or leaving a namespace (since 1.0). */
typedef struct iog_connection {
    uint32_t struct_size;
    const char *nsp;
    const char *socket_id;
    const iog_principal_t *principal; /* NULL when the socket is not authenticated */
    const char *auth_json;            /* connect: the CONNECT payload ("{}" if none) */
    const char *reason;               /* disconnect: why ("transport close", ...); else NULL */
    /* 1.3: connect: 1 when the socket restored its session (connection state recovery,
     * socket.recovered): the same socket_id, its rooms, and the events it missed replayed.
     * Check struct_size before reading it. */
    int recovered;
} iog_connection_t;

/* Binary data (since 1.1): Socket.IO attachments. */
typedef struct iog_bytes {
    const void *data;
    size_t len;
} iog_bytes_t;

/* An event a client emitted (since 1.0). */
typedef struct iog_client_event {
    uint32_t struct_size;
    const char *nsp;
    const char *socket_id;
    const iog_principal_t *principal; /* NULL when the socket is not authenticated */
    const char *event;
    const char *args_json; /* the arguments after the name, as a JSON array */
    size_t args_len;
    int64_t ack_id; /* >= 0 when the client waits for an ack (see ack()) */
    /* 1.1: binary attachments; args_json holds {"_placeholder":true,"num":N} objects naming
     * attachments[N]. Check struct_size before reading these. */
    const iog_bytes_t *attachments;
    size_t attachments_len;
} iog_client_event_t;

/* The room every authenticated socket of user X is in, in its namespace: this prefix then
 * X ("user:42"). The host joins it when the socket's token is valid; IOG_TARGET_USER emits
 * to it. (A constant of the header, added after 1.1; every 1.x host uses this name.) */
#define IOG_USER_ROOM_PREFIX "user:"

/* Where an emit goes (since 1.0). */
#define IOG_TARGET_USER 1          /* every socket of user `id` (IOG_USER_ROOM_PREFIX id) */
#define IOG_TARGET_ROOM 2          /* every socket in room `id` */
#define IOG_TARGET_ALL 3           /* every socket of the namespace */
#define IOG_TARGET_AUTHENTICATED 4 /* every authenticated socket of the namespace */
typedef struct iog_target {
    uint32_t struct_size;
    int kind;                  /* IOG_TARGET_*, with IOG_EMIT_* flags since 1.2 */
    const char *nsp;           /* NULL means "/" */
    const char *id;            /* user id or room name (USER, ROOM) */
    const char *const *except; /* rooms whose sockets are skipped, or NULL */
    size_t except_len;
} iog_target_t;
/* Emit flags, or'ed into a target's kind (since 1.2): IOG_TARGET_ALL | IOG_EMIT_LOCAL. */
#define IOG_EMIT_LOCAL 0x100    /* this node's sockets only, not the fleet's (io.local) */
#define IOG_EMIT_VOLATILE 0x200 /* a socket with output still waiting misses it (io.volatile) */

/* Serializes an event payload as one JSON value through the writer. Called once per
 * emit, whatever the number of recipients. Returns 0 or a negative IOG_E* code. */
typedef int (*iog_serialize_fn)(void *user, const void *payload, iog_json_writer_t *w);
/* Handles a REST request; answer with respond() now or later (exactly once). */
typedef void (*iog_route_fn)(void *user, iog_request_t *req);
typedef void (*iog_connection_fn)(void *user, const iog_connection_t *conn);
typedef void (*iog_client_event_fn)(void *user, const iog_client_event_t *ev);
/* A client's answer to emit_with_ack() (since 1.1): args_json is its argument array
 * (placeholders naming attachments[]), or NULL when the socket left or the ack timed
 * out first. Called exactly once. */
typedef void (*iog_ack_fn)(void *user, const char *nsp, const char *socket_id,
                           const char *args_json, size_t len, const iog_bytes_t *attachments,
                           size_t attachments_len);
/* A server-side event (since 1.2): sent by server_emit() of another node of the fleet, a Node
 * socket.io peer's io.serverSideEmit() or @socket.io/redis-emitter's serverSideEmit(). */
typedef struct iog_server_event {
    uint32_t struct_size;
    const char *nsp;
    const char *event;
    const char *args_json; /* the arguments after the name, as a JSON array */
    size_t args_len;
} iog_server_event_t;
typedef void (*iog_server_event_fn)(void *user, const iog_server_event_t *ev);
/* A fleet-wide count (since 1.2): status 0 and the total, or IOG_EPARTIAL and what the nodes
 * that answered in time ([cluster] request_timeout_ms) counted, this node's included. */
typedef void (*iog_count_fn)(void *user, int64_t count, int status);
/* A readiness check (since 1.2): NULL while what it checks can take work, else why not (the
 * text stays valid until the next call). Called on the loop thread for every GET /readyz:
 * it must be quick and must not block. */
typedef const char *(*iog_ready_fn)(void *user);
/* Connection state recovery (since 1.3; [socketio] connection_state_recovery). A socket whose
 * session cannot be restored (another node, a restart, a session gone) but whose client names
 * the last event of yours it has asks your store for what its user missed since: the host
 * calls your recovery_fn on the loop thread; answer, now or later, with recovery_emit() for
 * each missed event, oldest first, then recovery_end() exactly once. Until then the socket's
 * other events wait, and the ones your store gave are not sent twice. */
typedef struct iog_recovery_request {
    uint32_t struct_size;
    uint64_t replay; /* for recovery_emit() and recovery_end() */
    const char *nsp;
    const char *socket_id;            /* the new socket */
    const iog_principal_t *principal; /* its user, from the credentials it has now (never NULL) */
    const char *event;                /* the source's event */
    /* The events of this source after this cursor are missed (it is the newest the client's
     * node had sent anyone when it sent the client its last event), or NULL: then those
     * created since since_ms (ms since the epoch, when its previous session started) are. */
    const char *after;
    int64_t since_ms;
    /* A missed event created before this (ms since the epoch) means the client was away longer
     * than [socketio] max_disconnection_ms: end with an error then (IOG_ERANGE), replay
     * nothing. */
    int64_t not_before_ms;
    uint32_t max_events; /* more missed than this: end with IOG_ERANGE, replay nothing */
} iog_recovery_request_t;
typedef void (*iog_recovery_fn)(void *user, const iog_recovery_request_t *req);
/* A store-backed source: an event this plugin registered, whose payload is a JSON object with
 * the event's cursor under cursor_key (a string of [A-Za-z0-9_.:-], or an integer): the id of
 * the stored row. Cursors of one source must grow with the events: decimal digit strings
 * compare as numbers, others bytewise. */
typedef struct iog_recovery_source {
    uint32_t struct_size;
    const char *event;
    const char *cursor_key;
    iog_recovery_fn replay;
    void *user;
    /* The newest cursor in your store now (its greatest id), or NULL when it is empty: the
     * sockets that connect before this node emits one of your events are then named after it
     * instead of by time. */
    const char *initial_cursor;
} iog_recovery_source_t;
typedef void (*iog_timer_fn)(void *user);
typedef void (*iog_work_fn)(void *user);
typedef void (*iog_work_done_fn)(void *user, int status);

/* A metric of the plugin on GET /metrics (since 1.3; see metric_register()). The handle is the
 * host's, valid until the plugin is unloaded; the plugin never frees it. */
typedef struct iog_metric iog_metric_t;
#define IOG_METRIC_COUNTER 1   /* only goes up (metric_add); its name ends in "_total" */
#define IOG_METRIC_GAUGE 2     /* a value now, up or down (metric_set, metric_add) */
#define IOG_METRIC_HISTOGRAM 3 /* observations counted in buckets (metric_observe) */
#define IOG_METRIC_MAX_LABELS 4
#define IOG_METRIC_MAX_BUCKETS 32
#define IOG_METRIC_MAX_SERIES 256 /* label value combinations of one metric */
/* What metric_register() registers (since 1.3). */
typedef struct iog_metric_def {
    uint32_t struct_size;           /* sizeof(iog_metric_def_t) */
    int type;                       /* IOG_METRIC_* */
    const char *name;               /* "store_commit_duration_seconds" (see metric_register) */
    const char *help;               /* one line saying what it measures */
    const char *const *label_names; /* NULL, or label_names_len names */
    size_t label_names_len;
    const double *buckets; /* a histogram's upper bounds, increasing; NULL: the default */
    size_t buckets_len;
} iog_metric_def_t;

/* Route flags (since 1.0). */
#define IOG_ROUTE_PUBLIC 0
/* The host answers 401 (standard error body) unless the request carries a valid token
 * (the auth cookie or "Authorization: Bearer"); the handler then always has a principal. */
#define IOG_ROUTE_AUTHENTICATED 1

/* The host API. Never build one yourself; never copy it. A host has every entry up to the
 * minor in your descriptor (it refuses you otherwise); check a newer one with
 * IOG_API_HAS() before using it. */
typedef struct iog_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* ---- 1.0: errors and logging ---- */
    const char *(*strerror)(int err);
    /* The message of this plugin's last failed host call ("" if none); valid until the
     * next host call of this plugin. */
    const char *(*plugin_error)(iog_plugin_t *p);
    /* Logs one line under the plugin's name. Any time. */
    void (*log)(iog_plugin_t *p, int level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;

    /* ---- 1.0: configuration, the table [plugin.NAME] (init only; since 1.3 also check) ---- */
    /* Each getter stores the value of key, or def when the key is absent. A value of
     * another type is IOG_ETYPE (plugin_error names file:line). The string stays valid
     * until the plugin is unloaded. */
    int (*config_string)(iog_plugin_t *p, const char *key, const char *def, const char **out);
    int (*config_int)(iog_plugin_t *p, const char *key, int64_t def, int64_t *out);
    int (*config_double)(iog_plugin_t *p, const char *key, double def, double *out);
    int (*config_bool)(iog_plugin_t *p, const char *key, int def, int *out);
    /* IOG_ENOENT when the table has a key not in known[] (plugin_error names it with
     * file:line:column), else 0. */
    int (*config_check_keys)(iog_plugin_t *p, const char *const *known, size_t n);

    /* ---- 1.0: events ---- */
    /* Registers an event name and its serializer (init only). Names are global: another
     * plugin may emit it by name. IOG_EEXIST if taken, IOG_EINVAL if empty or reserved
     * ("connect", "disconnect", ...). */
    int (*register_event)(iog_plugin_t *p, const char *name, iog_serialize_fn serialize,
                          void *user);
    /* Emits a registered event: serializes payload once and delivers it to the target.
     * Returns the number of sockets reached, or IOG_ENOENT (no such event or namespace),
     * or the serializer's error. Any time after init started. */
    int (*emit)(iog_plugin_t *p, const iog_target_t *target, const char *event,
                const void *payload);
    /* emit() to IOG_TARGET_USER in "/": the seed's emitToUser(userId, event, data). */
    int (*emit_to_user)(iog_plugin_t *p, const char *user_id, const char *event,
                        const void *payload);

    /* ---- 1.0: REST routes ---- */
    /* Registers METHOD + pattern ("/notifications/:id") (init only). IOG_EEXIST for a
     * route that matches the same requests as an existing one, IOG_EINVAL for a bad
     * method or pattern. flags: IOG_ROUTE_*. */
    int (*register_route)(iog_plugin_t *p, const char *method, const char *pattern, int flags,
                          iog_route_fn fn, void *user);
    /* Request accessors. Their strings are NUL-terminated and valid until the request is
     * answered. Given a request answered already, they return "" (method, path, body with
     * *len = 0, remote address), NULL (param, query, header, principal) or 1 (aborted). */
    const char *(*request_method)(iog_request_t *req);
    const char *(*request_path)(iog_request_t *req);
    /* A path parameter (":id"), percent-decoded, or NULL. */
    const char *(*request_param)(iog_request_t *req, const char *name);
    /* The first query parameter with that name, percent-decoded, or NULL. */
    const char *(*request_query)(iog_request_t *req, const char *name);
    /* A header (case-insensitive name), or NULL. */
    const char *(*request_header)(iog_request_t *req, const char *name);
    const char *(*request_body)(iog_request_t *req, size_t *len);
    /* The authenticated user, or NULL (never NULL on IOG_ROUTE_AUTHENTICATED routes). */
    const iog_principal_t *(*request_principal)(iog_request_t *req);
    /* 1 when the client went away; respond() is still owed (it then only frees). */
    int (*request_aborted)(iog_request_t *req);
    /* Answers with JSON text (copied); NULL/0 for no body. status is 200 to 599: any
     * other is answered as 500 (returning 0) and logged as a warning under the plugin's
     * name. Exactly once per request: it frees the request. A second answer (respond,
     * respond_error, respond_bytes) or response_header() with the same handle then returns
     * IOG_ESTATE and sends nothing; handles are never reused, so this holds however late
     * the call comes. IOG_EINVAL for a NULL request. */
    int (*respond)(iog_request_t *req, int status, const char *json, size_t len);
    /* Answers with the standard error body {"error":{"code":...,"message":...}} (code
     * NULL: "error", message NULL: ""). status is 400 to 599; any other is answered as
     * 500 (returning 0) and logged as a warning. Otherwise as respond(). */
    int (*respond_error)(iog_request_t *req, int status, const char *code, const char *message);
    /* Adds a response header before respond() (copied). IOG_EINVAL for a NULL name or
     * value, a name holding CR, LF or ':', a value holding CR or LF. */
    int (*response_header)(iog_request_t *req, const char *name, const char *value);

    /* ---- 1.0: Socket.IO namespaces, connections and client events ---- */
    /* Makes a namespace exist ("/chat") (init only). 0 also when it exists already. */
    int (*add_namespace)(iog_plugin_t *p, const char *nsp);
    /* Connection hooks on a namespace (init only; the namespace is created if needed). */
    int (*on_connect)(iog_plugin_t *p, const char *nsp, iog_connection_fn fn, void *user);
    int (*on_disconnect)(iog_plugin_t *p, const char *nsp, iog_connection_fn fn, void *user);
    /* A handler for a client event (init only). Several plugins may handle one event. */
    int (*on_event)(iog_plugin_t *p, const char *nsp, const char *event, iog_client_event_fn fn,
                    void *user);
    /* Answers a client's ack request with a JSON array of arguments (NULL for []).
     * Any time. 0; IOG_ENOENT when no such socket (gone, or socket_id NULL); IOG_EINVAL
     * for a negative ack_id or arguments that are not a JSON array. In every Socket.IO
     * call below as here, nsp NULL means "/". */
    int (*ack)(iog_plugin_t *p, const char *nsp, const char *socket_id, int64_t ack_id,
               const char *args_json, size_t len);
    /* Room membership and disconnect by socket id. 0; IOG_ENOENT when no such socket;
     * IOG_EINVAL for a NULL room (join: also empty or longer than 1024 bytes). */
    int (*join)(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *room);
    int (*leave)(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *room);
    int (*disconnect)(iog_plugin_t *p, const char *nsp, const char *socket_id);
    /* The number of sockets in a room of a namespace: 0 when none, also when the room or
     * the namespace does not exist. IOG_EINVAL (negative) when p or room is NULL. */
    int64_t (*room_size)(iog_plugin_t *p, const char *nsp, const char *room);

    /* ---- 1.0: timers and off-loop work ---- */
    /* Calls fn after delay_ms, then every repeat_ms if not 0. The handle is the host's;
     * timer_stop() stops and frees it (call it at most once, also for one-shot timers;
     * any time, including from hooks and fini()). When shutdown begins the host stops
     * every timer; their handles stay valid for timer_stop() until the plugin is
     * unloaded. NULL when p or fn is NULL, or once shutdown has begun; plugin_error()
     * then says which (when p is not NULL). */
    iog_timer_t *(*timer_start)(iog_plugin_t *p, uint64_t delay_ms, uint64_t repeat_ms,
                                iog_timer_fn fn, void *user);
    void (*timer_stop)(iog_timer_t *t);
    /* Runs work(user) on a worker thread, then done(user, status) on the loop thread
     * (status 0; IOG_ECANCELED is reserved for cancelled work). done always runs;
     * shutdown waits for queued work. Not during init (IOG_ESTATE): a plugin whose init
     * fails is unloaded at once, and before the loop runs init may simply block. */
    int (*work_queue)(iog_plugin_t *p, iog_work_fn work, iog_work_done_fn done, void *user);

    /* ---- 1.0: JSON writer (for serializers and responses) ---- */
    /* Commas and nesting are handled by the writer; a misuse (a key outside an object,
     * unbalanced ends, invalid UTF-8) makes json_text() return NULL. */
    iog_json_writer_t *(*json_new)(void);
    void (*json_free)(iog_json_writer_t *w);
    /* The text so far (NULL after a misuse); valid until the next call on w. */
    const char *(*json_text)(iog_json_writer_t *w, size_t *len);
    void (*json_object_begin)(iog_json_writer_t *w);
    void (*json_object_end)(iog_json_writer_t *w);
    void (*json_array_begin)(iog_json_writer_t *w);
    void (*json_array_end)(iog_json_writer_t *w);
    void (*json_key)(iog_json_writer_t *w, const char *key);
    void (*json_string)(iog_json_writer_t *w, const char *s);
    void (*json_string_n)(iog_json_writer_t *w, const char *s, size_t len);
    void (*json_int)(iog_json_writer_t *w, int64_t v);
    void (*json_double)(iog_json_writer_t *w, double v);
    void (*json_bool)(iog_json_writer_t *w, int v);
    void (*json_null)(iog_json_writer_t *w);
    /* Inserts one complete JSON value given as text (validated). */
    void (*json_raw)(iog_json_writer_t *w, const char *json, size_t len);

    /* ---- 1.0: principals ---- */
    /* A string claim of the principal's token ("role"), or NULL when it is absent or not a
     * string. pr must be a principal the host handed you, within its lifetime (see
     * iog_principal_t). The host looks pr up before reading through it: for anything else,
     * a copy or a principal kept longer, it returns NULL and plugin_error() says why.
     * (Memory may by then hold another live principal, which would be used: keep ids and
     * claims, never the pointer.) The string lives as long as pr. */
    const char *(*principal_claim)(iog_plugin_t *p, const iog_principal_t *pr, const char *name);

    /* ---- 1.1 ---- */
    /* The peer address of a REST request ("127.0.0.1"). */
    const char *(*request_remote_addr)(iog_request_t *req);
    /* Emits an event that has no registered serializer, with its payload given as one
     * JSON value in text (validated, copied). Returns recipients or a negative code. */
    int (*emit_json)(iog_plugin_t *p, const iog_target_t *target, const char *event,
                     const char *json, size_t len);
    /* Emits to one socket with several arguments (args_json is a JSON array, NULL for
     * none) and optional binary attachments named by placeholders in args_json.
     * Returns 1, the socket reached (a count, as emit() returns); IOG_ENOENT when no such
     * socket; IOG_EINVAL for a missing or reserved event name, args_json that is not a
     * JSON array, or attachments NULL with attachments_len > 0. */
    int (*emit_to_socket)(iog_plugin_t *p, const char *nsp, const char *socket_id,
                          const char *event, const char *args_json, size_t len,
                          const iog_bytes_t *attachments, size_t attachments_len);
    /* ack() with binary attachments named by placeholders in args_json. Returns as ack(). */
    int (*ack_binary)(iog_plugin_t *p, const char *nsp, const char *socket_id, int64_t ack_id,
                      const char *args_json, size_t len, const iog_bytes_t *attachments,
                      size_t attachments_len);
    /* Answers with any body (copied) and content type (NULL: application/octet-stream),
     * e.g. an HTML page or a file. Otherwise as respond(), status range included; but
     * IOG_EINVAL for body NULL with len > 0 or a content type holding CR or LF, and then
     * nothing is answered: the request is still owed. */
    int (*respond_bytes)(iog_request_t *req, int status, const char *content_type, const void *body,
                         size_t len);
    /* emit_to_socket() asking the client for an acknowledgement: cb runs once, with the
     * client's arguments, or with NULL if the socket leaves or timeout_ms (0 = none)
     * passes first. Returns 0, not a count: the callback tells what happened. IOG_ENOENT
     * (and no callback) when no such socket; IOG_EINVAL (no callback) as emit_to_socket(),
     * or for cb NULL. */
    int (*emit_with_ack)(iog_plugin_t *p, const char *nsp, const char *socket_id, const char *event,
                         const char *args_json, size_t len, const iog_bytes_t *attachments,
                         size_t attachments_len, uint64_t timeout_ms, iog_ack_fn cb, void *user);

    /* ---- 1.2: a fleet of nodes ([cluster] adapter = "redis"; alone, the fleet is this node) */
    /* A handler for a server-side event of the other nodes (init only). Several plugins may
     * handle one event. "iogate:broadcast" is the host's own (README, "Running a fleet"):
     * IOG_EINVAL. */
    int (*on_server_event)(iog_plugin_t *p, const char *nsp, const char *event,
                           iog_server_event_fn fn, void *user);
    /* Sends a server-side event (args_json a JSON array, NULL for none) to every other node:
     * their on_server_event() handlers run, not this node's (as io.serverSideEmit()). No
     * acknowledgement. Alone, nobody hears it. Returns 0; IOG_ENOENT (no namespace),
     * IOG_EINVAL (a bad name or arguments). Any time after init started. */
    int (*server_emit)(iog_plugin_t *p, const char *nsp, const char *event, const char *args_json,
                       size_t len);
    /* Counts the sockets in a room across the fleet: cb runs once, later or before this
     * returns (alone: at once, with room_size()). Returns 0 (cb will run), IOG_ENOENT (no
     * namespace) or IOG_EINVAL (no callback); then cb does not run. */
    int (*fleet_room_size)(iog_plugin_t *p, const char *nsp, const char *room, iog_count_fn cb,
                           void *user);
    /* Adds a check to GET /readyz under name ([a-z0-9_]+, e.g. "store") (init only): while fn
     * returns a reason, /readyz answers 503 naming it. IOG_EEXIST for a name taken. */
    int (*ready_check)(iog_plugin_t *p, const char *name, iog_ready_fn fn, void *user);

    /* ---- 1.3: metrics of the plugin on GET /metrics ---- */
    /* Registers a metric (init only), on the page as iogate_plugin_PLUGIN_NAME: PLUGIN is the
     * plugin's name with '-' read as '_', NAME is def->name. So "store_commit_duration_seconds"
     * of plugin notifications is iogate_plugin_notifications_store_commit_duration_seconds;
     * the host's own metrics never start with iogate_plugin_. Prometheus conventions: base
     * units in the name (_seconds, _bytes), a counter's name ends in _total.
     * Rules, else IOG_EINVAL: def->struct_size covers buckets_len; type is IOG_METRIC_*; name is
     * [a-z][a-z0-9_]*, at most 64 bytes, ending in "_total" exactly when a counter, never in
     * "_bucket", "_sum" or "_count" (a histogram's series); help is 1 to 256 bytes of UTF-8
     * without control characters. label_names (at most IOG_METRIC_MAX_LABELS, else IOG_ERANGE)
     * are [a-z_][a-z0-9_]*, at most 64 bytes, distinct, not "le", not starting with "__".
     * buckets: a histogram's upper bounds, finite and increasing, at most
     * IOG_METRIC_MAX_BUCKETS (else IOG_ERANGE), +Inf implied; NULL with 0 is the default
     * {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10} (seconds); other types take
     * none. IOG_EEXIST when the name (or the counter NAME_total for the name NAME, and the
     * reverse) is taken, by this plugin or, through the prefix, by another.
     * Without label_names, the handle returned is the metric's one series, on the page from
     * the start (0). With label_names it stands for the metric: give it to metric_series(); an
     * update on it is IOG_EINVAL. NULL on failure, and plugin_error() says why. The metrics of
     * a plugin whose init fails are removed with its other registrations. */
    iog_metric_t *(*metric_register)(iog_plugin_t *p, const iog_metric_def_t *def);
    /* The series of a metric with labels for values[0..n), one per label name in their order
     * (init only): n is the number of label names; values are UTF-8, at most 128 bytes each,
     * copied. The same values give the same handle. At most IOG_METRIC_MAX_SERIES per metric
     * (else IOG_ERANGE): label values are a closed set known at init, never ids or anything a
     * client sends. NULL on failure (IOG_EINVAL: a handle of another plugin, or of a metric
     * without labels; n or a value breaking the rules), and plugin_error() says why. */
    iog_metric_t *(*metric_series)(iog_plugin_t *p, iog_metric_t *metric, const char *const *values,
                                   size_t n);
    /* Updates a series: metric_add() adds v to a counter (v >= 0) or a gauge, metric_set()
     * sets a gauge, metric_observe() counts v in a histogram's buckets and sum. Any thread,
     * the `work` callback of work_queue() included: each update is atomic, lock-free and
     * allocates nothing, and a scrape sees it whole (a histogram's buckets, sum and count may
     * be read between two updates another thread makes). 0; IOG_EINVAL, changing nothing,
     * for a NULL handle, a metric with labels (update its series), another type, or NaN
     * (and for a counter, v < 0). They leave plugin_error() alone: they may run off the loop. */
    int (*metric_add)(iog_metric_t *m, double v);
    int (*metric_set)(iog_metric_t *m, double v);
    int (*metric_observe)(iog_metric_t *m, double v);
    /* 1.3: connection state recovery */
    /* [socketio] connection_state_recovery (README, "Connection state recovery"): with it on,
     * every EVENT without an ack and not volatile carries an offset as its last argument and
     * is kept for sockets that lose their transport; off, these entries succeed and nothing is
     * kept. */
    /* Marks an event this plugin registered as recoverable (the default) or not (init only):
     * an event that is not (a typing indicator, a presence blip) carries no offset and is
     * neither kept nor replayed. 0; IOG_ENOENT when this plugin did not register it. */
    int (*set_recoverable)(iog_plugin_t *p, const char *event, int recoverable);
    /* Makes an event this plugin registered a store-backed source (init only; copied), so a
     * client that comes back to another node, or after a restart, gets the events it missed
     * from your store (iog_recovery_request_t). The offsets of every event then carry the
     * newest cursor of the source. 0; IOG_ENOENT when this plugin did not register the event;
     * IOG_EEXIST when it is a source already; IOG_EINVAL for a missing field, an event name,
     * cursor_key or initial_cursor that is not [A-Za-z0-9_.:-]{1,64}, or more than 4 sources
     * in the host. */
    int (*recovery_source)(iog_plugin_t *p, const iog_recovery_source_t *source);
    /* One missed event of request `replay`, serialized once by the event's serializer and sent
     * when the request ends. 0; IOG_ENOENT when the request is over (ended, its socket gone,
     * 10 s passed, or what it replays passed [socketio] max_recovery_bytes_per_session or its
     * max_events: then nothing of it is sent); the serializer's error. */
    int (*recovery_emit)(iog_plugin_t *p, uint64_t replay, const void *payload);
    /* Ends request `replay`: status 0 sends what recovery_emit() gave, then the socket's events
     * that waited (but those it gave); another status sends none of it. Exactly once per
     * request, also after recovery_emit() said IOG_ENOENT. 0; IOG_ENOENT when the request is
     * over already. */
    int (*recovery_end)(iog_plugin_t *p, uint64_t replay, int status);

    /* New entries are appended here, each group marked with the minor that added it. An
     * entry above never changes meaning, place or signature. */
} iog_host_api_t;

/* Whether the host table api has the entry `member`: its struct_size covers it and it is
 * not NULL. For a plugin that also loads into older hosts (IOG_PLUGIN_AT) and uses a newer
 * entry where there is one:
 *   if (IOG_API_HAS(api, emit_with_ack)) api->emit_with_ack(...); else api->emit_to_socket(...);
 * (A macro of the header, added after 1.1: it works with every host.) */
#define IOG_API_HAS(api, member)                                                                   \
    ((api)->struct_size >= offsetof(iog_host_api_t, member) + sizeof((api)->member) &&             \
     (api)->member != NULL)

/* What a plugin's entry point returns (static storage). */
typedef struct iog_plugin_descriptor {
    uint32_t struct_size; /* sizeof(iog_plugin_descriptor_t) as built */
    uint16_t abi_major;   /* IOG_ABI_MAJOR as built */
    uint16_t abi_minor;   /* IOG_ABI_MINOR as built: the newest host API it may use */
    const char *name;     /* [a-z0-9_-]+; its config table is [plugin.NAME] */
    const char *version;  /* the plugin's own version, free text */
    /* Registers everything; returns 0, or a negative IOG_E* code with a message in err
     * (err_size is 512: write one NUL-terminated line, e.g. with snprintf).
     * On failure the host removes what the plugin registered, stops its timers, unloads it
     * without calling fini (init releases what it acquired before returning the error)
     * and stops startup, logging one line at level error under the component "gateway":
     *   plugin FILE (NAME VERSION): init failed (STRERROR): MESSAGE
     * STRERROR is strerror() of the code; MESSAGE is err, or plugin_error() if err is
     * empty, or "no message". The line goes to stderr in the [log] format (text or JSON,
     * control characters escaped); its text after the component is cut at 511 bytes. */
    int (*init)(iog_plugin_t *p, const iog_host_api_t *api, char *err, size_t err_size);
    /* Called once at shutdown after the loop stopped, in the reverse order of loading,
     * for each plugin whose init returned 0; never after a failed init (may be NULL).
     * Hosts built before this rule was enforced also called it after a failed init: a
     * fini that releases only what is still held (pointers set to NULL once freed) is
     * right on every host. */
    void (*fini)(iog_plugin_t *p);
    /* 1.3: checks the plugin's configuration for `iogate --check-config`, which calls it
     * instead of init() (never both in one process). It reads [plugin.NAME] and acquires
     * nothing: no file, connection or database is opened, nothing is registered, and no fini
     * follows. The table it gets holds only strerror, plugin_error, log and the configuration
     * entries (config_string ... config_check_keys); every other entry is NULL. Returns 0,
     * with optionally one line in msg saying what the plugin would use ("store: PostgreSQL
     * host db1 port 5432 database app"), which --check-config prints; or a negative IOG_E*
     * code with the problem in msg, which makes the configuration invalid. msg_size is 512.
     * NULL (and in descriptors of older minors, whose struct_size ends before it):
     * --check-config checks the plugin's file and version only. Set it with
     * IOG_PLUGIN_CHECKED(). A host older than 1.3 never calls it. */
    int (*check)(iog_plugin_t *p, const iog_host_api_t *api, char *msg, size_t msg_size);
} iog_plugin_descriptor_t;

#define IOG_PLUGIN_ENTRY_SYMBOL "iogate_plugin_entry"

#if defined(__GNUC__)
#define IOG_EXPORT __attribute__((visibility("default")))
#else
#define IOG_EXPORT
#endif

/* Defines the entry point with the version fields filled in:
 *   IOG_PLUGIN("presence", "1.0.0", presence_init, presence_fini)  */
#define IOG_PLUGIN(NAME, VERSION, INIT, FINI) IOG_PLUGIN_CHECKED(NAME, VERSION, INIT, FINI, NULL)

/* The same, with a check function for `iogate --check-config` (see the descriptor's check,
 * since 1.3):
 *   IOG_PLUGIN_CHECKED("store", "1.0.0", store_init, store_fini, store_check)  */
#define IOG_PLUGIN_CHECKED(NAME, VERSION, INIT, FINI, CHECK)                                       \
    IOG_EXPORT const iog_plugin_descriptor_t *iogate_plugin_entry(void);                           \
    IOG_EXPORT const iog_plugin_descriptor_t *iogate_plugin_entry(void)                            \
    {                                                                                              \
        static const iog_plugin_descriptor_t descriptor = {sizeof(iog_plugin_descriptor_t),        \
                                                           IOG_ABI_MAJOR,                          \
                                                           IOG_ABI_MINOR,                          \
                                                           NAME,                                   \
                                                           VERSION,                                \
                                                           INIT,                                   \
                                                           FINI,                                   \
                                                           CHECK};                                 \
        return &descriptor;                                                                        \
    }

/* The same, for a plugin that uses only the host API of an older minor and so also
 * loads into hosts of that minor (since 1.1):
 *   IOG_PLUGIN_AT(0, "presence", "1.0.0", presence_init, presence_fini)  */
#define IOG_PLUGIN_AT(MINOR, NAME, VERSION, INIT, FINI)                                            \
    IOG_EXPORT const iog_plugin_descriptor_t *iogate_plugin_entry(void);                           \
    IOG_EXPORT const iog_plugin_descriptor_t *iogate_plugin_entry(void)                            \
    {                                                                                              \
        static const iog_plugin_descriptor_t descriptor = {                                        \
            sizeof(iog_plugin_descriptor_t), IOG_ABI_MAJOR, MINOR, NAME, VERSION, INIT, FINI,      \
            NULL};                                                                                 \
        return &descriptor;                                                                        \
    }

typedef const iog_plugin_descriptor_t *(*iog_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
