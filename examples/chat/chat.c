/* chat.c - the chat example plugin.
 *
 * Client events, on namespace [plugin.chat] namespace (default "/chat"):
 *   chat:join  [room]                  joins the room; ack {"ok": true}
 *   chat:leave [room]                  leaves it;      ack {"ok": true}
 *   chat:send  [{"room", "text"}]      sends chat:message to the room's members;
 *                                      ack {"ok": true, "id": N}
 * A bad argument is answered {"ok": false, "error": "..."} (when an ack was asked).
 *
 * REST: POST /chat/rooms/:room/messages (authenticated), body {"text": "..."}:
 *   201 and the message, which was sent to the room; 400 for a bad body.
 *
 * chat:message is {"room", "text", "from": user id or null, "id"}. Senders need not
 * be members of the room; members who send receive their own message too.
 *
 * Config ([plugin.chat]):
 *   namespace = "/chat"
 *   max_text_chars = 1000    longest text, in characters (Unicode code points)
 *   max_room_chars = 64      longest room name, in characters
 *
 * Arguments are parsed with jansson (linked by this plugin; no jansson type
 * crosses the ABI). Replies are written with the host's JSON writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <iogate/iogate.h>

#include "chat.h"

static const iog_host_api_t *api;
static iog_plugin_t *self;
static const char *nsp; /* host-owned, valid until unload */
static int64_t max_text_chars;
static int64_t max_room_chars;
static int64_t last_id;

/* ---- the event ---- */

static void write_message(const chat_message_t *m, iog_json_writer_t *w)
{
    api->json_object_begin(w);
    api->json_key(w, "room");
    api->json_string(w, m->room);
    api->json_key(w, "text");
    api->json_string_n(w, m->text, m->text_len);
    api->json_key(w, "from");
    if (m->from)
        api->json_string(w, m->from);
    else
        api->json_null(w);
    api->json_key(w, "id");
    api->json_int(w, m->id);
    api->json_object_end(w);
}

static int serialize_message(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user;
    write_message(payload, w);
    return IOG_OK;
}

/* ---- validation (jansson has checked the UTF-8 already) ---- */

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

/* NULL when `v` is a valid room name, else why not. */
static const char *check_room(const json_t *v)
{
    if (!json_is_string(v)) return "room must be a string";
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len == 0) return "room must not be empty";
    if (memchr(s, '\0', len)) return "room must not contain NUL";
    if ((int64_t)utf8_chars(s, len) > max_room_chars) return "room is too long";
    return NULL;
}

/* NULL when `v` is a valid message text, else why not. */
static const char *check_text(const json_t *v)
{
    if (!json_is_string(v)) return "text must be a string";
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len == 0) return "text must not be empty";
    if (memchr(s, '\0', len)) return "text must not contain NUL";
    if ((int64_t)utf8_chars(s, len) > max_text_chars) return "text is too long";
    return NULL;
}

/* "chat:" + room, malloc'd. */
static char *host_room(const char *room)
{
    size_t n = strlen(room) + sizeof(CHAT_ROOM_PREFIX);
    char *s = malloc(n);
    if (s) snprintf(s, n, CHAT_ROOM_PREFIX "%s", room);
    return s;
}

/* Sends m (id assigned here) to the members of its room. 0 or an IOG_E* code. */
static int post(chat_message_t *m)
{
    char *r = host_room(m->room);
    if (!r) return IOG_ENOMEM;
    m->id = ++last_id;
    iog_target_t target = {
        .struct_size = sizeof(target), .kind = IOG_TARGET_ROOM, .nsp = nsp, .id = r};
    int n = api->emit(self, &target, CHAT_EVENT_MESSAGE, m);
    free(r);
    if (n < 0) api->log(self, IOG_LOG_WARN, "emit: %s", api->strerror(n));
    return n < 0 ? n : 0;
}

/* ---- acks ---- */

/* Acks [{"ok": true[, "id": id]}] (id < 0: none) or [{"ok": false, "error": error}]. */
static void reply(const iog_client_event_t *ev, const char *error, int64_t id)
{
    if (ev->ack_id < 0) return; /* the client asked for no ack */
    iog_json_writer_t *w = api->json_new();
    if (!w) return;
    api->json_array_begin(w);
    api->json_object_begin(w);
    api->json_key(w, "ok");
    api->json_bool(w, error == NULL);
    if (error) {
        api->json_key(w, "error");
        api->json_string(w, error);
    } else if (id >= 0) {
        api->json_key(w, "id");
        api->json_int(w, id);
    }
    api->json_object_end(w);
    api->json_array_end(w);
    size_t len;
    const char *text = api->json_text(w, &len);
    if (text) api->ack(self, ev->nsp, ev->socket_id, ev->ack_id, text, len);
    api->json_free(w);
}

/* The first argument of a client event, parsed (NULL if none); *args holds the
 * reference to free with json_decref. */
static json_t *first_arg(const iog_client_event_t *ev, json_t **args)
{
    *args = json_loadb(ev->args_json, ev->args_len, JSON_ALLOW_NUL, NULL);
    return json_is_array(*args) ? json_array_get(*args, 0) : NULL;
}

/* ---- client events ---- */

static void on_send(void *user, const iog_client_event_t *ev)
{
    (void)user;
    json_t *args;
    json_t *o = first_arg(ev, &args);
    const char *error = NULL;
    chat_message_t m = {0};
    if (!json_is_object(o)) {
        error = "expected {\"room\": \"...\", \"text\": \"...\"}";
    } else if (!(error = check_room(json_object_get(o, "room"))) &&
               !(error = check_text(json_object_get(o, "text")))) {
        m.room = json_string_value(json_object_get(o, "room"));
        m.text = json_string_value(json_object_get(o, "text"));
        m.text_len = json_string_length(json_object_get(o, "text"));
        m.from = ev->principal ? ev->principal->user_id : NULL;
        if (post(&m) != 0) error = "could not send the message";
    }
    reply(ev, error, m.id);
    json_decref(args);
}

/* The `user` of the chat:join handler; chat:leave has NULL. */
static int join_marker;

/* chat:join and chat:leave. */
static void on_membership(void *user, const iog_client_event_t *ev)
{
    json_t *args;
    json_t *room = first_arg(ev, &args);
    const char *error = check_room(room);
    if (!error) {
        char *r = host_room(json_string_value(room));
        int rc = !r     ? IOG_ENOMEM
                 : user ? api->join(self, ev->nsp, ev->socket_id, r)
                        : api->leave(self, ev->nsp, ev->socket_id, r);
        free(r);
        if (rc < 0) error = api->strerror(rc);
    }
    reply(ev, error, -1);
    json_decref(args);
}

/* ---- REST ---- */

/* POST /chat/rooms/:room/messages */
static void route_post(void *user, iog_request_t *req)
{
    (void)user;
    size_t len;
    const char *body = api->request_body(req, &len);
    json_t *room = json_string(api->request_param(req, "room")); /* NULL if not UTF-8 */
    json_t *doc = body ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    const char *error;
    if ((error = check_room(room))) {
        api->respond_error(req, 400, "invalid_room", error);
    } else if (!json_is_object(doc)) {
        api->respond_error(req, 400, "invalid_body", "the body must be a JSON object {\"text\"}");
    } else if ((error = check_text(json_object_get(doc, "text")))) {
        api->respond_error(req, 400, "invalid_text", error);
    } else {
        const json_t *text = json_object_get(doc, "text");
        chat_message_t m = {json_string_value(room), json_string_value(text),
                            json_string_length(text), api->request_principal(req)->user_id, 0};
        iog_json_writer_t *w = NULL;
        const char *out = NULL;
        size_t out_len = 0;
        if (post(&m) == 0 && (w = api->json_new())) {
            write_message(&m, w);
            out = api->json_text(w, &out_len);
        }
        if (out)
            api->respond(req, 201, out, out_len);
        else
            api->respond_error(req, 500, "internal", "could not send the message");
        if (w) api->json_free(w);
    }
    json_decref(doc);
    json_decref(room);
}

/* ---- init ---- */

static int fail(iog_plugin_t *p, int rc, char *err, size_t err_size)
{
    snprintf(err, err_size, "%s", api->plugin_error(p));
    return rc;
}

static int chat_init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;

    static const char *const known[] = {"namespace", "max_text_chars", "max_room_chars"};
    int rc = api->config_check_keys(p, known, sizeof(known) / sizeof(known[0]));
    if (rc == 0) rc = api->config_string(p, "namespace", "/chat", &nsp);
    if (rc == 0) rc = api->config_int(p, "max_text_chars", 1000, &max_text_chars);
    if (rc == 0) rc = api->config_int(p, "max_room_chars", 64, &max_room_chars);
    if (rc != 0) return fail(p, rc, err, err_size);
    if (max_text_chars < 1 || max_text_chars > 1000000 || max_room_chars < 1 ||
        max_room_chars > 1000) {
        snprintf(err, err_size,
                 "[plugin.chat] max_text_chars must be 1..1000000 and max_room_chars 1..1000");
        return IOG_ERANGE;
    }

    if ((rc = api->add_namespace(p, nsp)) != 0 ||
        (rc = api->register_event(p, CHAT_EVENT_MESSAGE, serialize_message, NULL)) != 0 ||
        (rc = api->on_event(p, nsp, "chat:send", on_send, NULL)) != 0 ||
        (rc = api->on_event(p, nsp, "chat:join", on_membership, &join_marker)) != 0 ||
        (rc = api->on_event(p, nsp, "chat:leave", on_membership, NULL)) != 0 ||
        (rc = api->register_route(p, "POST", "/chat/rooms/:room/messages", IOG_ROUTE_AUTHENTICATED,
                                  route_post, NULL)) != 0)
        return fail(p, rc, err, err_size);

    api->log(p, IOG_LOG_INFO, "serving %s (texts up to %lld characters)", nsp,
             (long long)max_text_chars);
    return 0;
}

IOG_PLUGIN("chat", "1.0.0", chat_init, NULL)
