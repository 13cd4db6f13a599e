/* presence.c - the presence example plugin.
 *
 * Tells a room when a user comes online and goes offline:
 *  - every authenticated socket of the namespace joins the room [plugin.presence]
 *    room (default "presence"), so every signed-in client hears about the others;
 *  - when a user's first socket connects, the room gets
 *    presence {"userId": "...", "online": true};
 *  - when a user's last socket disconnects, the room gets
 *    presence {"userId": "...", "online": false}.
 * A user's sockets are counted with room_size() on "user:{id}" (IOG_USER_ROOM_PREFIX
 * then the id), the room the host joins every authenticated socket to: in the connect
 * hook the new socket is in it already, in the disconnect hook the leaving one still is.
 * So "first" is a count of 1 in either hook. Unauthenticated sockets are ignored.
 *
 * It also serves GET /presence/users/:id (authenticated):
 *   {"userId": "...", "online": true|false, "sockets": N}
 *
 * Config ([plugin.presence]):
 *   room = "presence"    the room told about presence changes
 *   namespace = "/"      the namespace watched */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iogate/iogate.h>

#include "presence.h"

static const iog_host_api_t *api;
static iog_plugin_t *self;
static const char *room; /* host-owned config strings, valid until unload */
static const char *nsp;

static int serialize_presence(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user;
    const presence_payload_t *p = payload;
    api->json_object_begin(w);
    api->json_key(w, "userId");
    api->json_string(w, p->user_id);
    api->json_key(w, "online");
    api->json_bool(w, p->online);
    api->json_object_end(w);
    return IOG_OK;
}

/* The room of every socket of the user, "user:{id}", malloc'd (NULL when out of memory). */
static char *user_room(const char *user_id)
{
    size_t n = strlen(user_id) + sizeof(IOG_USER_ROOM_PREFIX);
    char *s = malloc(n);
    if (s) snprintf(s, n, IOG_USER_ROOM_PREFIX "%s", user_id);
    return s;
}

/* Sockets the user has in the namespace, or -1 when out of memory. */
static int64_t user_sockets(const char *ns, const char *user_id)
{
    char *r = user_room(user_id);
    if (!r) return -1;
    int64_t n = api->room_size(self, ns, r);
    free(r);
    return n;
}

/* Sends presence to the room, skipping the sockets in `except` (a room) if not NULL. */
static void announce(const char *user_id, int online, const char *except)
{
    presence_payload_t payload = {user_id, online};
    const char *const skip[1] = {except};
    iog_target_t target = {.struct_size = sizeof(target),
                           .kind = IOG_TARGET_ROOM,
                           .nsp = nsp,
                           .id = room,
                           .except = except ? skip : NULL,
                           .except_len = except ? 1 : 0};
    int n = api->emit(self, &target, PRESENCE_EVENT, &payload);
    if (n < 0)
        api->log(self, IOG_LOG_WARN, "emit %s for user %s failed: %s",
                 online ? "online" : "offline", user_id, api->strerror(n));
}

static void on_connect(void *user, const iog_connection_t *c)
{
    (void)user;
    if (!c->principal) return;
    const char *id = c->principal->user_id;
    /* Join first: the new socket then also learns its user is online. */
    int rc = api->join(self, c->nsp, c->socket_id, room);
    if (rc < 0) {
        api->log(self, IOG_LOG_WARN, "join %s: %s", room, api->strerror(rc));
        return;
    }
    if (user_sockets(c->nsp, id) == 1) announce(id, 1, NULL);
}

static void on_disconnect(void *user, const iog_connection_t *c)
{
    (void)user;
    if (!c->principal) return;
    const char *id = c->principal->user_id;
    if (user_sockets(c->nsp, id) != 1) return; /* another tab is still open */
    /* The leaving socket is still in the room: skip it (it is the user's last one). */
    char *ur = user_room(id);
    if (!ur) return;
    announce(id, 0, ur);
    free(ur);
}

/* GET /presence/users/:id */
static void route_user(void *user, iog_request_t *req)
{
    (void)user;
    const char *id = api->request_param(req, "id");
    int64_t n = id ? user_sockets(nsp, id) : -1;
    if (n < 0) {
        api->respond_error(req, 500, "internal", "out of memory");
        return;
    }
    iog_json_writer_t *w = api->json_new();
    if (!w) {
        api->respond_error(req, 500, "internal", "out of memory");
        return;
    }
    api->json_object_begin(w);
    api->json_key(w, "userId");
    api->json_string(w, id);
    api->json_key(w, "online");
    api->json_bool(w, n > 0);
    api->json_key(w, "sockets");
    api->json_int(w, n);
    api->json_object_end(w);
    size_t len;
    const char *text = api->json_text(w, &len);
    if (text)
        api->respond(req, 200, text, len);
    else
        api->respond_error(req, 500, "internal", "could not write JSON");
    api->json_free(w);
}

static int fail(iog_plugin_t *p, int rc, char *err, size_t err_size)
{
    snprintf(err, err_size, "%s", api->plugin_error(p));
    return rc;
}

static int presence_init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;

    static const char *const known[] = {"room", "namespace"};
    int rc = api->config_check_keys(p, known, sizeof(known) / sizeof(known[0]));
    if (rc == 0) rc = api->config_string(p, "room", "presence", &room);
    if (rc == 0) rc = api->config_string(p, "namespace", "/", &nsp);
    if (rc != 0) return fail(p, rc, err, err_size);
    if (room[0] == '\0' || strncmp(room, IOG_USER_ROOM_PREFIX, strlen(IOG_USER_ROOM_PREFIX)) == 0) {
        snprintf(err, err_size, "[plugin.presence] room: \"%s\" is empty or a user room", room);
        return IOG_EINVAL;
    }

    if ((rc = api->register_event(p, PRESENCE_EVENT, serialize_presence, NULL)) != 0 ||
        (rc = api->on_connect(p, nsp, on_connect, NULL)) != 0 ||
        (rc = api->on_disconnect(p, nsp, on_disconnect, NULL)) != 0 ||
        (rc = api->register_route(p, "GET", "/presence/users/:id", IOG_ROUTE_AUTHENTICATED,
                                  route_user, NULL)) != 0)
        return fail(p, rc, err, err_size);

    api->log(p, IOG_LOG_INFO, "announcing to room \"%s\" of %s", room, nsp);
    return 0;
}

IOG_PLUGIN("presence", "1.0.0", presence_init, NULL)
