/* abi_full.c - a test plugin that calls every entry of the host API, so that a
 * test can prove each one works through the real loader and ABI.
 *
 * Init-time checks (config getters, type errors, strerror, registrations)
 * are recorded and served by GET /abi/report, the metric rules (1.3) by GET
 * /abi/metric-rules. Everything else is driven by REST routes and Socket.IO
 * events on the "/abi" namespace. */
#include <iogate/iogate.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const iog_host_api_t *api;
static iog_plugin_t *self;

static struct {
    const char *greeting;
    int64_t count;
    double ratio;
    int enabled;
    int type_error_ok;  /* config_int on a string gave IOG_ETYPE naming the key */
    int unknown_key_ok; /* config_check_keys accepted the known keys */
    int strerror_ok;
    int timer_fired;
    int repeat_ticks;
    iog_timer_t *repeat;
    int64_t seq;
    /* GET /abi/double: what the calls after its respond() returned */
    int again_respond, again_error, again_bytes, again_header, null_respond;
    const char *after_path, *after_param;
    int after_aborted;
    /* What entries with their own return conventions returned (GET /abi/returns) */
    int welcome_rc, ask_rc, status_rc, timer_null_ok;
    int64_t room_size_no_nsp, room_size_null_room;
} state;

/* ---- event serializer: exercises every writer entry ---- */

typedef struct ping {
    int64_t seq;
    const char *greeting;
} ping_t;

static int serialize_ping(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user;
    const ping_t *p = payload;
    api->json_object_begin(w);
    api->json_key(w, "seq");
    api->json_int(w, p->seq);
    api->json_key(w, "greeting");
    api->json_string(w, p->greeting);
    api->json_key(w, "prefix");
    api->json_string_n(w, p->greeting, 2);
    api->json_key(w, "ratio");
    api->json_double(w, state.ratio);
    api->json_key(w, "enabled");
    api->json_bool(w, state.enabled);
    api->json_key(w, "nothing");
    api->json_null(w);
    api->json_key(w, "list");
    api->json_array_begin(w);
    api->json_int(w, 1);
    api->json_raw(w, "{\"raw\":[true]}", 14);
    api->json_array_end(w);
    api->json_object_end(w);
    return 0;
}

/* ---- REST routes ---- */

static void respond_writer(iog_request_t *req, int status, iog_json_writer_t *w)
{
    size_t len;
    const char *text = api->json_text(w, &len);
    if (text)
        api->respond(req, status, text, len);
    else
        api->respond_error(req, 500, "internal_error", "writer misuse");
    api->json_free(w);
}

static void route_report(void *user, iog_request_t *req)
{
    (void)user;
    iog_json_writer_t *w = api->json_new();
    api->json_object_begin(w);
    api->json_key(w, "greeting");
    api->json_string(w, state.greeting);
    api->json_key(w, "count");
    api->json_int(w, state.count);
    api->json_key(w, "ratio");
    api->json_double(w, state.ratio);
    api->json_key(w, "enabled");
    api->json_bool(w, state.enabled);
    api->json_key(w, "typeErrorOk");
    api->json_bool(w, state.type_error_ok);
    api->json_key(w, "unknownKeyOk");
    api->json_bool(w, state.unknown_key_ok);
    api->json_key(w, "strerrorOk");
    api->json_bool(w, state.strerror_ok);
    api->json_key(w, "timerFired");
    api->json_bool(w, state.timer_fired);
    api->json_key(w, "repeatTicks");
    api->json_int(w, state.repeat_ticks);
    api->json_key(w, "hostAbi");
    api->json_int(w, api->abi_major * 100 + api->abi_minor);
    api->json_object_end(w);
    respond_writer(req, 200, w);
}

/* The principal of the last /abi/whoami, kept past its request (a plugin bug, on purpose). */
static const iog_principal_t *kept_principal;

static void route_whoami(void *user, iog_request_t *req)
{
    (void)user;
    const iog_principal_t *pr = api->request_principal(req);
    const char *role = api->principal_claim(self, pr, "role");
    /* A copy is not the host's principal: refused, never read as the host's struct. */
    iog_principal_t copy = *pr;
    int copy_refused = api->principal_claim(self, &copy, "role") == NULL &&
                       strstr(api->plugin_error(self), "not a principal") != NULL;
    kept_principal = pr;
    api->response_header(req, "X-Abi-Test", "yes");
    iog_json_writer_t *w = api->json_new();
    api->json_object_begin(w);
    api->json_key(w, "user");
    api->json_string(w, pr->user_id);
    api->json_key(w, "role");
    if (role)
        api->json_string(w, role);
    else
        api->json_null(w);
    api->json_key(w, "claims");
    api->json_raw(w, pr->claims_json, strlen(pr->claims_json));
    api->json_key(w, "method");
    api->json_string(w, api->request_method(req));
    api->json_key(w, "path");
    api->json_string(w, api->request_path(req));
    api->json_key(w, "x");
    const char *x = api->request_query(req, "x");
    if (x)
        api->json_string(w, x);
    else
        api->json_null(w);
    api->json_key(w, "header");
    const char *h = api->request_header(req, "x-test");
    if (h)
        api->json_string(w, h);
    else
        api->json_null(w);
    api->json_key(w, "remote");
    api->json_string(w, api->request_remote_addr(req));
    api->json_key(w, "aborted");
    api->json_bool(w, api->request_aborted(req));
    api->json_key(w, "copyRefused");
    api->json_bool(w, copy_refused);
    api->json_object_end(w);
    respond_writer(req, 200, w);
}

/* GET /abi/kept-claim: the principal kept from /abi/whoami, after its request was answered. */
static void route_kept_claim(void *user, iog_request_t *req)
{
    (void)user;
    const char *role = kept_principal ? api->principal_claim(self, kept_principal, "role") : "";
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"kept\":%s,\"refused\":%s}",
                     kept_principal ? "true" : "false", role ? "false" : "true");
    api->respond(req, 200, body, (size_t)n);
}

static void route_params(void *user, iog_request_t *req)
{
    (void)user;
    size_t len;
    const char *body = api->request_body(req, &len);
    iog_json_writer_t *w = api->json_new();
    api->json_object_begin(w);
    api->json_key(w, "a");
    api->json_string(w, api->request_param(req, "a"));
    api->json_key(w, "b");
    api->json_string(w, api->request_param(req, "b"));
    api->json_key(w, "missing");
    api->json_bool(w, api->request_param(req, "zzz") == NULL);
    api->json_key(w, "bodyLength");
    api->json_int(w, (int64_t)len);
    api->json_key(w, "body");
    api->json_string_n(w, body, len);
    api->json_object_end(w);
    respond_writer(req, 201, w);
}

static void route_page(void *user, iog_request_t *req)
{
    (void)user;
    static const char page[] = "<!doctype html><title>abi</title><p>hello</p>";
    api->respond_bytes(req, 200, "text/html; charset=utf-8", page, sizeof(page) - 1);
}

/* POST /abi/emit?kind=user|userroom|room|all|authenticated|json&id=... (userroom: a room
 * target naming the user's room through IOG_USER_ROOM_PREFIX, in /abi) */
static void route_emit(void *user, iog_request_t *req)
{
    (void)user;
    const char *kind = api->request_query(req, "kind");
    const char *id = api->request_query(req, "id");
    ping_t ping = {++state.seq, state.greeting};
    int r;
    if (!kind) {
        api->respond_error(req, 400, "bad_request", "kind is required");
        return;
    }
    if (strcmp(kind, "user") == 0) {
        r = api->emit_to_user(self, id, "abi:ping", &ping);
    } else if (strcmp(kind, "userroom") == 0) {
        char room[128];
        snprintf(room, sizeof(room), IOG_USER_ROOM_PREFIX "%s", id ? id : "");
        iog_target_t t = {sizeof(t), IOG_TARGET_ROOM, "/abi", room, NULL, 0};
        r = api->emit(self, &t, "abi:ping", &ping);
    } else if (strcmp(kind, "json") == 0) {
        iog_target_t t = {sizeof(t), IOG_TARGET_ROOM, "/abi", id, NULL, 0};
        r = api->emit_json(self, &t, "abi:json", "{\"free\":\"form\"}", 15);
    } else if (strcmp(kind, "missing") == 0) {
        r = api->emit_to_user(self, id, "no-such-event", &ping);
    } else {
        const char *except[1] = {api->request_query(req, "except")};
        iog_target_t t = {sizeof(t), 0, "/abi", id, except[0] ? except : NULL, except[0] ? 1 : 0};
        t.kind = strcmp(kind, "room") == 0  ? IOG_TARGET_ROOM
                 : strcmp(kind, "all") == 0 ? IOG_TARGET_ALL
                                            : IOG_TARGET_AUTHENTICATED;
        r = api->emit(self, &t, "abi:ping", &ping);
    }
    char body[256];
    int n = r >= 0 ? snprintf(body, sizeof(body), "{\"recipients\":%d}", r)
                   : snprintf(body, sizeof(body), "{\"error\":\"%s\"}", api->strerror(r));
    api->respond(req, r >= 0 ? 200 : 404, body, (size_t)n);
}

/* ---- metrics (1.3) ---- */

static struct {
    iog_metric_t *pings, *depth, *high, *low, *durations, *adds, *worker_durations;
    char rules[1024]; /* what the rules refused at init, as JSON members */
    size_t rules_len;
} metrics;

/* Records one refused registration: its name, and whether it gave NULL with the message
 * expected. */
static void rule(const char *what, const iog_metric_t *m, const char *needle)
{
    int ok = m == NULL && strstr(api->plugin_error(self), needle) != NULL;
    if (!ok) api->log(self, IOG_LOG_WARN, "rule %s: %s", what, api->plugin_error(self));
    int n = snprintf(metrics.rules + metrics.rules_len, sizeof(metrics.rules) - metrics.rules_len,
                     "%s\"%s\":%s", metrics.rules_len ? "," : "", what, ok ? "true" : "false");
    if (n > 0) metrics.rules_len += (size_t)n;
}

static iog_metric_t *reg(int type, const char *name, const char *const *labels, size_t nlabels,
                         const double *buckets, size_t nbuckets)
{
    iog_metric_def_t d = {sizeof(d), type,    name,    "What the abi test counts.",
                          labels,    nlabels, buckets, nbuckets};
    return api->metric_register(self, &d);
}

static int metrics_init(void)
{
    static const char *const queue[] = {"queue"};
    static const double buckets[] = {0.001, 0.01, 0.1, 1};
    metrics.pings = reg(IOG_METRIC_COUNTER, "pings_total", NULL, 0, NULL, 0);
    metrics.depth = reg(IOG_METRIC_GAUGE, "queue_depth", queue, 1, NULL, 0);
    const char *high[] = {"high"}, *low[] = {"low \"quoted\""};
    metrics.high = api->metric_series(self, metrics.depth, high, 1);
    metrics.low = api->metric_series(self, metrics.depth, low, 1);
    metrics.durations = reg(IOG_METRIC_HISTOGRAM, "work_duration_seconds", NULL, 0, buckets, 4);
    metrics.adds = reg(IOG_METRIC_COUNTER, "worker_adds_total", NULL, 0, NULL, 0);
    /* The default buckets, observed from worker threads. */
    metrics.worker_durations = reg(IOG_METRIC_HISTOGRAM, "worker_seconds", NULL, 0, NULL, 0);
    if (!metrics.pings || !metrics.depth || !metrics.high || !metrics.low || !metrics.durations ||
        !metrics.adds || !metrics.worker_durations)
        return IOG_EINVAL;
    int same = api->metric_series(self, metrics.depth, high, 1) == metrics.high;

    static const char *const bad_label[] = {"Bad"}, *const le[] = {"le"},
                             *const twice[] = {"a", "a"}, *const five[] = {"a", "b", "c", "d", "e"};
    static const double unsorted[] = {1, 0.5}, infinite[] = {1, INFINITY};
    rule("badName", reg(IOG_METRIC_GAUGE, "Bad-Name", NULL, 0, NULL, 0), "is not [a-z]");
    rule("counterWithoutTotal", reg(IOG_METRIC_COUNTER, "pings", NULL, 0, NULL, 0), "_total");
    rule("gaugeWithTotal", reg(IOG_METRIC_GAUGE, "depth_total", NULL, 0, NULL, 0), "_total");
    rule("histogramSuffix", reg(IOG_METRIC_GAUGE, "x_count", NULL, 0, NULL, 0), "_bucket");
    rule("badLabel", reg(IOG_METRIC_GAUGE, "g1", bad_label, 1, NULL, 0), "label \"Bad\"");
    rule("leLabel", reg(IOG_METRIC_HISTOGRAM, "h1", le, 1, NULL, 0), "reserved");
    rule("labelTwice", reg(IOG_METRIC_GAUGE, "g2", twice, 2, NULL, 0), "twice");
    rule("tooManyLabels", reg(IOG_METRIC_GAUGE, "g3", five, 5, NULL, 0), "more than 4 labels");
    rule("unsortedBuckets", reg(IOG_METRIC_HISTOGRAM, "h2", NULL, 0, unsorted, 2), "increasing");
    rule("infiniteBucket", reg(IOG_METRIC_HISTOGRAM, "h3", NULL, 0, infinite, 2), "finite");
    rule("bucketsOnGauge", reg(IOG_METRIC_GAUGE, "g4", NULL, 0, buckets, 4), "only a histogram");
    rule("taken", reg(IOG_METRIC_COUNTER, "pings_total", NULL, 0, NULL, 0), "is taken");
    rule("clash", reg(IOG_METRIC_GAUGE, "pings", NULL, 0, NULL, 0), "is taken");
    rule("unknownType", reg(7, "g5", NULL, 0, NULL, 0), "unknown type");
    iog_metric_def_t d = {sizeof(d), IOG_METRIC_GAUGE, "g6", "two\nlines", NULL, 0, NULL, 0};
    rule("badHelp", api->metric_register(self, &d), "help");
    d.help = "fine";
    d.struct_size = 8;
    rule("smallStruct", api->metric_register(self, &d), "struct_size");
    rule("seriesCount", api->metric_series(self, metrics.depth, NULL, 0), "1 labels, 0 values");
    rule("seriesOfUnlabelled", api->metric_series(self, metrics.pings, high, 1),
         "not a metric with labels");
    /* Updates refused: wrong type, the family's own handle, NaN, a counter going down. */
    int refused = api->metric_add(metrics.depth, 1) == IOG_EINVAL &&
                  api->metric_observe(metrics.pings, 1) == IOG_EINVAL &&
                  api->metric_set(metrics.pings, 1) == IOG_EINVAL &&
                  api->metric_add(metrics.pings, -1) == IOG_EINVAL &&
                  api->metric_add(metrics.high, NAN) == IOG_EINVAL &&
                  api->metric_observe(metrics.durations, NAN) == IOG_EINVAL &&
                  api->metric_add(NULL, 1) == IOG_EINVAL;
    int n = snprintf(metrics.rules + metrics.rules_len, sizeof(metrics.rules) - metrics.rules_len,
                     ",\"sameSeries\":%s,\"updatesRefused\":%s", same ? "true" : "false",
                     refused ? "true" : "false");
    if (n > 0) metrics.rules_len += (size_t)n;
    return 0;
}

/* GET /abi/metric-rules: what init recorded, and a registration now (IOG_ESTATE). */
static void route_metric_rules(void *user, iog_request_t *req)
{
    (void)user;
    iog_metric_t *late = reg(IOG_METRIC_GAUGE, "late", NULL, 0, NULL, 0);
    int late_refused = !late && strstr(api->plugin_error(self), "only during init") != NULL;
    char body[1200];
    int n = snprintf(body, sizeof(body), "{%s,\"lateRefused\":%s}", metrics.rules,
                     late_refused ? "true" : "false");
    api->respond(req, 200, body, (size_t)n);
}

/* POST /abi/metrics?n=N: the counter +N, the gauges N and -N, five observations. */
static void route_metrics(void *user, iog_request_t *req)
{
    (void)user;
    const char *q = api->request_query(req, "n");
    double n = q ? atof(q) : 1;
    int r = api->metric_add(metrics.pings, n);
    if (!r) r = api->metric_set(metrics.high, n);
    if (!r) r = api->metric_set(metrics.low, -n);
    static const double seen[] = {0.0005, 0.005, 0.05, 0.5, 5};
    for (size_t i = 0; !r && i < 5; i++)
        r = api->metric_observe(metrics.durations, seen[i]);
    char body[64];
    int len = snprintf(body, sizeof(body), "{\"result\":%d}", r);
    api->respond(req, 200, body, (size_t)len);
}

/* POST /abi/metrics-threads: four works at once, each adding 25,000 to a counter and
 * observing 1,000 times, from the worker threads. */
#define WORKS 4
static int works_left;

static void adds_work(void *user)
{
    (void)user;
    for (int i = 0; i < 25000; i++)
        api->metric_add(metrics.adds, 1);
    for (int i = 0; i < 1000; i++)
        api->metric_observe(metrics.worker_durations, 0.002);
}

static void adds_done(void *user, int status)
{
    (void)status;
    if (--works_left == 0) api->respond(user, 200, "{\"done\":true}", 13);
}

static void route_metrics_threads(void *user, iog_request_t *req)
{
    (void)user;
    works_left = WORKS;
    for (int i = 0; i < WORKS; i++)
        api->work_queue(self, adds_work, adds_done, req);
}

/* Answers, then uses the handle again: every later call must be refused harmlessly. */
static void route_double(void *user, iog_request_t *req)
{
    (void)user;
    api->respond(req, 200, "{\"first\":true}", 14);
    state.again_respond = api->respond(req, 200, "{\"second\":true}", 15);
    state.again_error = api->respond_error(req, 500, "twice", "answered twice");
    state.again_bytes = api->respond_bytes(req, 200, "text/plain", "x", 1);
    state.again_header = api->response_header(req, "X-Late", "yes");
    state.after_path = api->request_path(req);
    state.after_param = api->request_param(req, "x");
    state.after_aborted = api->request_aborted(req);
    state.null_respond = api->respond(NULL, 200, NULL, 0);
}

/* GET /abi/status?kind=respond|error|bytes&code=N: answers with that status. */
static void route_status(void *user, iog_request_t *req)
{
    (void)user;
    const char *kind = api->request_query(req, "kind");
    const char *code = api->request_query(req, "code");
    int status = code ? atoi(code) : 0;
    if (kind && strcmp(kind, "error") == 0)
        state.status_rc = api->respond_error(req, status, "status_test", "as asked");
    else if (kind && strcmp(kind, "bytes") == 0)
        state.status_rc = api->respond_bytes(req, status, "text/plain", "bytes", 5);
    else
        state.status_rc = api->respond(req, status, "{\"json\":true}", 13);
}

/* GET /abi/returns: what the calls above and the Socket.IO handlers below returned. */
static void route_returns(void *user, iog_request_t *req)
{
    (void)user;
    char body[512];
    int n = snprintf(
        body, sizeof(body),
        "{\"emitToSocket\":%d,\"emitWithAck\":%d,\"status\":%d,\"timerNull\":%s,"
        "\"roomSizeNoNamespace\":%lld,\"roomSizeNullRoom\":%lld,\"double\":{\"respond\":%d,"
        "\"respondError\":%d,\"respondBytes\":%d,\"header\":%d,\"nullRespond\":%d,"
        "\"path\":\"%s\",\"paramNull\":%s,\"aborted\":%d}}",
        state.welcome_rc, state.ask_rc, state.status_rc, state.timer_null_ok ? "true" : "false",
        (long long)state.room_size_no_nsp, (long long)state.room_size_null_room,
        state.again_respond, state.again_error, state.again_bytes, state.again_header,
        state.null_respond, state.after_path ? state.after_path : "?",
        state.after_param ? "false" : "true", state.after_aborted);
    api->respond(req, 200, body, (size_t)n);
}

typedef struct async_job {
    iog_request_t *req;
    int result;
} async_job_t;

static void async_work(void *user)
{
    async_job_t *job = user;
    usleep(20000); /* blocking work belongs off the loop */
    job->result = 42;
}

static void async_done(void *user, int status)
{
    async_job_t *job = user;
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"result\":%d,\"status\":%d}", job->result, status);
    api->respond(job->req, 200, body, (size_t)n);
    free(job);
}

static void route_async(void *user, iog_request_t *req)
{
    (void)user;
    async_job_t *job = calloc(1, sizeof(*job));
    job->req = req;
    if (api->work_queue(self, async_work, async_done, job) != 0) {
        free(job);
        api->respond_error(req, 500, "internal_error", api->plugin_error(self));
    }
}

/* ---- Socket.IO ---- */

static void on_connect(void *user, const iog_connection_t *c)
{
    (void)user;
    api->join(self, c->nsp, c->socket_id, "abi-room");
    const char *role = c->principal ? api->principal_claim(self, c->principal, "role") : NULL;
    char args[512];
    int n = snprintf(args, sizeof(args),
                     "[{\"roomSize\":%lld,\"user\":%s%s%s,\"role\":%s%s%s,\"auth\":%s}]",
                     (long long)api->room_size(self, c->nsp, "abi-room"), c->principal ? "\"" : "",
                     c->principal ? c->principal->user_id : "null", c->principal ? "\"" : "",
                     role ? "\"" : "", role ? role : "null", role ? "\"" : "", c->auth_json);
    state.welcome_rc =
        api->emit_to_socket(self, c->nsp, c->socket_id, "welcome", args, (size_t)n, NULL, 0);
}

static void on_disconnect(void *user, const iog_connection_t *c)
{
    (void)user;
    api->log(self, IOG_LOG_INFO, "socket %s left %s: %s", c->socket_id, c->nsp, c->reason);
}

static void on_echo(void *user, const iog_client_event_t *ev)
{
    (void)user;
    if (ev->attachments_len)
        api->ack_binary(self, ev->nsp, ev->socket_id, ev->ack_id, ev->args_json, ev->args_len,
                        ev->attachments, ev->attachments_len);
    else
        api->ack(self, ev->nsp, ev->socket_id, ev->ack_id, ev->args_json, ev->args_len);
}

static void on_leave(void *user, const iog_client_event_t *ev)
{
    (void)user;
    api->leave(self, ev->nsp, ev->socket_id, "abi-room");
    char args[64];
    int n = snprintf(args, sizeof(args), "[%lld]",
                     (long long)api->room_size(self, ev->nsp, "abi-room"));
    api->ack(self, ev->nsp, ev->socket_id, ev->ack_id, args, (size_t)n);
}

/* emit_with_ack: ask the client, then report its answer (or its absence). */
static void on_answer(void *user, const char *nsp, const char *socket_id, const char *args_json,
                      size_t len, const iog_bytes_t *att, size_t n)
{
    (void)user, (void)att, (void)n;
    char out[512];
    int k = args_json ? snprintf(out, sizeof(out), "[%.*s]", (int)len, args_json)
                      : snprintf(out, sizeof(out), "[null]");
    if (k > 0 && (size_t)k < sizeof(out))
        api->emit_to_socket(self, nsp, socket_id, "answered", out, (size_t)k, NULL, 0);
}

static void on_ask(void *user, const iog_client_event_t *ev)
{
    (void)user;
    state.ask_rc = api->emit_with_ack(self, ev->nsp, ev->socket_id, "question", ev->args_json,
                                      ev->args_len, NULL, 0, 2000, on_answer, NULL);
}

static void on_kick(void *user, const iog_client_event_t *ev)
{
    (void)user;
    api->disconnect(self, ev->nsp, ev->socket_id);
}

/* ---- timers ---- */

static iog_timer_t *once_timer;

static void on_once(void *user)
{
    (void)user;
    state.timer_fired = 1;
    api->timer_stop(once_timer); /* a one-shot timer is still stopped once, to free it */
    once_timer = NULL;
}

static void on_repeat(void *user)
{
    (void)user;
    if (++state.repeat_ticks == 3) {
        api->timer_stop(state.repeat);
        state.repeat = NULL;
    }
}

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;
    static const char *const known[] = {"greeting", "count", "ratio", "enabled"};
    int r = api->config_check_keys(p, known, 4);
    state.unknown_key_ok = r == 0;
    if (r) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return r;
    }
    r = api->config_string(p, "greeting", "hello", &state.greeting);
    if (!r) r = api->config_int(p, "count", 7, &state.count);
    if (!r) r = api->config_double(p, "ratio", 0.5, &state.ratio);
    if (!r) r = api->config_bool(p, "enabled", 0, &state.enabled);
    if (r) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return r;
    }
    int64_t ignored;
    const char *configured = NULL;
    if (api->config_string(p, "greeting", NULL, &configured) == 0 && configured)
        state.type_error_ok = api->config_int(p, "greeting", 0, &ignored) == IOG_ETYPE &&
                              strstr(api->plugin_error(p), "greeting") != NULL;
    else
        state.type_error_ok = 1; /* nothing configured to mistype */
    state.strerror_ok = strcmp(api->strerror(IOG_ENOENT), "not found") == 0;
    api->log(p, IOG_LOG_INFO, "abi_full initialising with greeting %s", state.greeting);

    if (!r) r = api->register_event(p, "abi:ping", serialize_ping, NULL);
    if (!r) r = api->register_route(p, "GET", "/abi/report", IOG_ROUTE_PUBLIC, route_report, NULL);
    if (!r)
        r = api->register_route(p, "GET", "/abi/whoami", IOG_ROUTE_AUTHENTICATED, route_whoami,
                                NULL);
    if (!r)
        r = api->register_route(p, "POST", "/abi/params/:a/:b", IOG_ROUTE_PUBLIC, route_params,
                                NULL);
    if (!r) r = api->register_route(p, "POST", "/abi/emit", IOG_ROUTE_PUBLIC, route_emit, NULL);
    if (!r) r = api->register_route(p, "GET", "/abi/async", IOG_ROUTE_PUBLIC, route_async, NULL);
    if (!r) r = api->register_route(p, "GET", "/abi/page", IOG_ROUTE_PUBLIC, route_page, NULL);
    if (!r) r = api->register_route(p, "GET", "/abi/double", IOG_ROUTE_PUBLIC, route_double, NULL);
    if (!r)
        r = api->register_route(p, "GET", "/abi/kept-claim", IOG_ROUTE_PUBLIC, route_kept_claim,
                                NULL);
    if (!r) r = api->register_route(p, "GET", "/abi/status", IOG_ROUTE_PUBLIC, route_status, NULL);
    if (!r)
        r = api->register_route(p, "GET", "/abi/returns", IOG_ROUTE_PUBLIC, route_returns, NULL);
    if (!r) r = api->add_namespace(p, "/abi");
    if (!r) r = api->on_connect(p, "/abi", on_connect, NULL);
    if (!r) r = api->on_disconnect(p, "/abi", on_disconnect, NULL);
    if (!r) r = api->on_event(p, "/abi", "echo", on_echo, NULL);
    if (!r) r = api->on_event(p, "/abi", "leave", on_leave, NULL);
    if (!r) r = api->on_event(p, "/abi", "kick", on_kick, NULL);
    if (!r) r = api->on_event(p, "/abi", "ask", on_ask, NULL);
    if (!r)
        r = api->register_route(p, "GET", "/abi/metric-rules", IOG_ROUTE_PUBLIC, route_metric_rules,
                                NULL);
    if (!r)
        r = api->register_route(p, "POST", "/abi/metrics", IOG_ROUTE_PUBLIC, route_metrics, NULL);
    if (!r)
        r = api->register_route(p, "POST", "/abi/metrics-threads", IOG_ROUTE_PUBLIC,
                                route_metrics_threads, NULL);
    if (!r) r = metrics_init();
    if (r) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return r;
    }
    state.timer_null_ok = api->timer_start(p, 10, 0, NULL, NULL) == NULL &&
                          strcmp(api->plugin_error(p), "timer_start: NULL callback") == 0;
    state.room_size_no_nsp = api->room_size(p, "/no-such-namespace", "abi-room");
    state.room_size_null_room = api->room_size(p, "/", NULL);
    once_timer = api->timer_start(p, 10, 0, on_once, NULL);
    state.repeat = api->timer_start(p, 5, 5, on_repeat, NULL);
    return 0;
}

/* Shutdown: fini runs once, after a successful init (the test looks for this line). */
static void fini(iog_plugin_t *p)
{
    api->log(p, IOG_LOG_INFO, "fini after a successful init");
}

IOG_PLUGIN("abi_full", "1.0.0", init, fini)
