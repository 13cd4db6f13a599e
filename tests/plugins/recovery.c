/* recovery.c - a test plugin for the connection state recovery entries of ABI 1.3
 * (tests/node/recovery-abi.test.mjs):
 *   "story": a store-backed source (cursor "id"), its store a file ([plugin.recovery] file)
 *     that outlives a restart; POST /recovery/story?user=U&text=T stores one and emits it to U;
 *   "typing": not recoverable; POST /recovery/typing?user=U emits it;
 *   POST /recovery/mode?mode=normal|hold|fail: how the next replays answer (hold: when
 *     POST /recovery/release comes; fail: recovery_end with IOG_EIO after emitting);
 *   GET /recovery/report: what init's calls returned, the last replay request, what the calls
 *     after its end returned, and whether the last connect was a recovery;
 *   client events "join" (["room"]) and "ask" (emit_with_ack "question", whose answer comes back
 *     as "answered"). */
#include <iogate/iogate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const iog_host_api_t *api;
static iog_plugin_t *self;

#define MAX_STORIES 256
#define MAX_HELD 8

typedef struct story {
    int64_t id;
    char user[64];
    char text[128];
    int64_t created_ms;
} story_t;

static struct {
    const char *file;
    story_t stories[MAX_STORIES];
    int nstories;
    char mode[16];
    /* replays waiting for /recovery/release (hold mode) */
    struct {
        uint64_t replay;
        char user[64];
        int64_t after;
        int64_t since_ms;
    } held[MAX_HELD];
    int nheld;
    /* init's calls */
    int unknown_event_rc, bad_name_rc, bad_source_rc, duplicate_rc, late_rc;
    /* the last request */
    int requests;
    char req_event[32], req_after[72], req_user[64];
    int64_t req_since_ms, req_not_before_ms;
    uint32_t req_max_events;
    /* calls after a request ended */
    int emit_after_end, end_after_end;
    int connects, last_recovered;
} st;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int serialize_story(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user;
    const story_t *s = payload;
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)s->id);
    api->json_object_begin(w);
    api->json_key(w, "id");
    api->json_string(w, id);
    api->json_key(w, "text");
    api->json_string(w, s->text);
    api->json_object_end(w);
    return 0;
}

static int serialize_typing(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user;
    api->json_string(w, payload);
    return 0;
}

/* ---- the store: one line per story, "id user created text" ---- */

static void load_stories(void)
{
    FILE *f = st.file ? fopen(st.file, "r") : NULL;
    if (!f) return;
    story_t s;
    long long id, created;
    while (st.nstories < MAX_STORIES &&
           fscanf(f, "%lld %63s %lld %127[^\n]\n", &id, s.user, &created, s.text) == 4) {
        s.id = id;
        s.created_ms = created;
        st.stories[st.nstories++] = s;
    }
    fclose(f);
}

static void save_story(const story_t *s)
{
    FILE *f = st.file ? fopen(st.file, "a") : NULL;
    if (!f) return;
    fprintf(f, "%lld %s %lld %s\n", (long long)s->id, s->user, (long long)s->created_ms, s->text);
    fclose(f);
}

/* ---- replays ---- */

static void answer(uint64_t replay, const char *user, int64_t after, int64_t since_ms)
{
    int rc = 0;
    for (int i = 0; i < st.nstories && rc == 0; i++) {
        const story_t *s = &st.stories[i];
        if (strcmp(s->user, user) != 0) continue;
        if (after ? s->id <= after : s->created_ms < since_ms) continue;
        rc = api->recovery_emit(self, replay, s);
    }
    int fail = strcmp(st.mode, "fail") == 0;
    api->recovery_end(self, replay, fail ? IOG_EIO : rc);
    st.emit_after_end = api->recovery_emit(self, replay, &st.stories[0]);
    st.end_after_end = api->recovery_end(self, replay, 0);
}

static void on_replay(void *user, const iog_recovery_request_t *req)
{
    (void)user;
    st.requests++;
    snprintf(st.req_event, sizeof(st.req_event), "%s", req->event);
    snprintf(st.req_after, sizeof(st.req_after), "%s", req->after ? req->after : "");
    snprintf(st.req_user, sizeof(st.req_user), "%s", req->principal->user_id);
    st.req_since_ms = req->since_ms;
    st.req_not_before_ms = req->not_before_ms;
    st.req_max_events = req->max_events;
    int64_t after = req->after ? strtoll(req->after, NULL, 10) : 0;
    if (strcmp(st.mode, "hold") == 0 && st.nheld < MAX_HELD) {
        st.held[st.nheld].replay = req->replay;
        snprintf(st.held[st.nheld].user, sizeof(st.held[0].user), "%s", req->principal->user_id);
        st.held[st.nheld].after = after;
        st.held[st.nheld].since_ms = req->since_ms;
        st.nheld++;
        return;
    }
    answer(req->replay, req->principal->user_id, after, req->since_ms);
}

/* ---- routes ---- */

static void respond_rc(iog_request_t *req, int rc)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"result\":%d}", rc);
    api->respond(req, 200, body, (size_t)n);
}

static void route_story(void *user, iog_request_t *req)
{
    (void)user;
    const char *who = api->request_query(req, "user");
    const char *text = api->request_query(req, "text");
    if (!who || !text || strlen(who) >= 64 || strlen(text) >= 128 || strchr(who, ' ') ||
        st.nstories == MAX_STORIES) {
        api->respond_error(req, 400, "bad_request", "user and text");
        return;
    }
    story_t *s = &st.stories[st.nstories++];
    s->id = st.nstories > 1 ? st.stories[st.nstories - 2].id + 1 : 1;
    snprintf(s->user, sizeof(s->user), "%s", who);
    snprintf(s->text, sizeof(s->text), "%s", text);
    s->created_ms = now_ms();
    save_story(s);
    respond_rc(req, api->emit_to_user(self, who, "story", s));
}

static void route_typing(void *user, iog_request_t *req)
{
    (void)user;
    const char *who = api->request_query(req, "user");
    respond_rc(req, who ? api->emit_to_user(self, who, "typing", who) : IOG_EINVAL);
}

static void route_mode(void *user, iog_request_t *req)
{
    (void)user;
    const char *mode = api->request_query(req, "mode");
    snprintf(st.mode, sizeof(st.mode), "%s", mode ? mode : "normal");
    /* Registration after init is refused. */
    respond_rc(req, api->set_recoverable(self, "story", 0));
}

static void route_release(void *user, iog_request_t *req)
{
    (void)user;
    int n = st.nheld;
    st.nheld = 0;
    snprintf(st.mode, sizeof(st.mode), "normal");
    for (int i = 0; i < n; i++)
        answer(st.held[i].replay, st.held[i].user, st.held[i].after, st.held[i].since_ms);
    respond_rc(req, n);
}

static void route_report(void *user, iog_request_t *req)
{
    (void)user;
    char body[1024];
    int n =
        snprintf(body, sizeof(body),
                 "{\"unknownEvent\":%d,\"badName\":%d,\"badSource\":%d,\"duplicate\":%d,"
                 "\"requests\":%d,\"held\":%d,\"event\":\"%s\",\"after\":\"%s\",\"user\":\"%s\","
                 "\"sinceMs\":%lld,\"notBeforeMs\":%lld,\"maxEvents\":%u,\"emitAfterEnd\":%d,"
                 "\"endAfterEnd\":%d,\"connects\":%d,\"lastRecovered\":%d}",
                 st.unknown_event_rc, st.bad_name_rc, st.bad_source_rc, st.duplicate_rc,
                 st.requests, st.nheld, st.req_event, st.req_after, st.req_user,
                 (long long)st.req_since_ms, (long long)st.req_not_before_ms, st.req_max_events,
                 st.emit_after_end, st.end_after_end, st.connects, st.last_recovered);
    api->respond(req, 200, body, (size_t)n);
}

/* ---- Socket.IO ---- */

static void on_connect(void *user, const iog_connection_t *c)
{
    (void)user;
    st.connects++;
    st.last_recovered = c->struct_size >= sizeof(*c) ? c->recovered : -1;
}

static void on_join(void *user, const iog_client_event_t *ev)
{
    (void)user;
    char room[128];
    /* ["room"] */
    if (ev->args_len < 4 || ev->args_len - 4 >= sizeof(room)) return;
    memcpy(room, ev->args_json + 2, ev->args_len - 4);
    room[ev->args_len - 4] = '\0';
    api->join(self, ev->nsp, ev->socket_id, room);
    if (ev->ack_id >= 0) api->ack(self, ev->nsp, ev->socket_id, ev->ack_id, "[]", 2);
}

static void on_answer(void *user, const char *nsp, const char *socket_id, const char *args_json,
                      size_t len, const iog_bytes_t *att, size_t n)
{
    (void)user, (void)att, (void)n;
    if (args_json) api->emit_to_socket(self, nsp, socket_id, "answered", args_json, len, NULL, 0);
}

static void on_ask(void *user, const iog_client_event_t *ev)
{
    (void)user;
    api->emit_with_ack(self, ev->nsp, ev->socket_id, "question", "[1]", 3, NULL, 0, 5000, on_answer,
                       NULL);
}

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;
    snprintf(st.mode, sizeof(st.mode), "normal");
    if (!IOG_API_HAS(api, recovery_end)) {
        snprintf(err, err_size, "this host has no recovery entries");
        return IOG_EVERSION;
    }
    static const char *const known[] = {"file"};
    int r = api->config_check_keys(p, known, 1);
    if (!r) r = api->config_string(p, "file", NULL, &st.file);
    if (!r) r = api->register_event(p, "story", serialize_story, NULL);
    if (!r) r = api->register_event(p, "typing", serialize_typing, NULL);
    if (!r) r = api->register_event(p, "bad name", serialize_typing, NULL);
    if (r) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return r;
    }
    load_stories();
    /* What must be refused, recorded for the report. */
    st.unknown_event_rc = api->set_recoverable(p, "notification", 0);
    iog_recovery_source_t src = {sizeof(src), "bad name", "id", on_replay, NULL, NULL};
    st.bad_name_rc = api->recovery_source(p, &src);
    src.event = "story";
    src.cursor_key = "no~tilde";
    st.bad_source_rc = api->recovery_source(p, &src);
    src.cursor_key = "id";
    char initial[24];
    snprintf(initial, sizeof(initial), "%lld",
             (long long)(st.nstories ? st.stories[st.nstories - 1].id : 0));
    src.initial_cursor = st.nstories ? initial : NULL;
    r = api->recovery_source(p, &src);
    st.duplicate_rc = r ? r : api->recovery_source(p, &src);
    if (!r) r = api->set_recoverable(p, "typing", 0);
    static const struct {
        const char *method, *path;
        iog_route_fn fn;
    } routes[] = {{"POST", "/recovery/story", route_story},
                  {"POST", "/recovery/typing", route_typing},
                  {"POST", "/recovery/mode", route_mode},
                  {"POST", "/recovery/release", route_release},
                  {"GET", "/recovery/report", route_report}};
    for (size_t i = 0; !r && i < sizeof(routes) / sizeof(routes[0]); i++)
        r = api->register_route(p, routes[i].method, routes[i].path, IOG_ROUTE_PUBLIC, routes[i].fn,
                                NULL);
    if (!r) r = api->on_connect(p, "/", on_connect, NULL);
    if (!r) r = api->on_event(p, "/", "join", on_join, NULL);
    if (!r) r = api->on_event(p, "/", "ask", on_ask, NULL);
    if (r) snprintf(err, err_size, "%s", api->plugin_error(p));
    return r;
}

IOG_PLUGIN("recovery", "1.0.0", init, NULL)
