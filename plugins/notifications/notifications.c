/* notifications.c - the notifications plugin: persisted in-app notifications,
 * their REST routes and the real-time "notification" event.
 *
 * Flow of a request: the route handler (loop thread) authorises and validates,
 * then queues a job. Jobs run against a store (store.h, one database connection)
 * on worker threads through work_queue(), one batch per store at a time: when a
 * store is idle, every queued job (up to max_batch) becomes its next batch, run
 * in one transaction (one fsync for many creates). SQLite has one store;
 * PostgreSQL a pool of pool_size, so that many batches run at once. When the
 * batch's COMMIT has returned, its completion (loop thread) answers each request
 * and, for creates, emits the event; so nothing is announced or answered 201
 * before it is durable. A database that cannot answer now (STORE_UNAVAILABLE)
 * gets its requests answered 503 with Retry-After. Its metrics (ABI 1.3, on /metrics as
 * iogate_plugin_notifications_*): the COMMIT's duration and the jobs per transaction, timed on
 * the worker thread; the jobs the store failed, by kind; the jobs waiting.
 *
 * This file owns the queue, the pool, the routes and the event; it never touches
 * a database (store_sqlite.c and store_pg.c do) nor the host's internals (only
 * iogate.h). */
#include <iogate/iogate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "notif_util.h"
#include "notifications.h"
#include "store.h"

#define DEFAULT_LIMIT 20
#define MAX_LIMIT 100
#define MAX_POOL 64
/* Seconds a client is told to wait after a 503 (the stores retry their connection
 * more often than that). */
#define RETRY_AFTER "1"

static const iog_host_api_t *api;
static iog_plugin_t *self;

static struct {
    const char *database; /* host-owned config strings, valid until unload */
    const char *admin_claim;
    const char *admin_value;
    int64_t max_message_chars;
    int64_t busy_timeout_ms;
    int64_t max_batch;
    int64_t max_queue;
    int64_t pool_size;
    int64_t statement_timeout_ms;
} cfg;

/* Metrics (README, "Metrics"). */
static struct {
    iog_metric_t *commit_seconds;      /* histogram, observed on the worker threads */
    iog_metric_t *batch_jobs;          /* histogram, likewise */
    iog_metric_t *unavailable, *error; /* store_errors_total{kind} */
    iog_metric_t *queued;              /* gauge */
} metrics;

/* The stores; a busy one has a batch on a worker thread. */
static struct {
    notif_store_t *store;
    int busy;
} pool[MAX_POOL];
static int pool_n;

/* ------------------------------------------------------------------ jobs */

typedef enum job_kind {
    JOB_CREATE,
    JOB_LIST,
    JOB_UNREAD,
    JOB_MARK_READ,
    JOB_READ_ALL,
    JOB_DELETE,
    JOB_REPLAY, /* what a reconnecting client missed (connection state recovery); no request */
} job_kind_t;

typedef struct job {
    struct job *next;
    job_kind_t kind;
    iog_request_t *req;
    char *user_id; /* the caller; for a create the receiver (NULL: every user) */
    /* create */
    char *message;
    size_t message_len;
    int type;
    int64_t created_at_ms;
    /* create (out), mark read and delete (in) */
    int64_t id;
    /* list (before), replay (after: the client's cursor, 0 for none) */
    int64_t before;
    int limit;
    /* replay */
    uint64_t replay;
    int64_t since_ms, not_before_ms;
    notif_row_t *rows; /* limit + 1 slots: one more tells whether a next page exists */
    int nrows;
    /* results */
    int rc;          /* STORE_* */
    int64_t count;   /* unread count (list, unread), marked (read-all) */
    notif_row_t row; /* mark read */
    char err[256];
} job_t;

static struct {
    job_t *head, *tail;
    int64_t queued;
} queue;

/* A batch of jobs and the store (pool slot) that runs it. */
typedef struct batch {
    int slot;
    job_t *jobs;
} batch_t;

static void job_free(job_t *j)
{
    if (!j) return;
    for (int i = 0; i < j->nrows; i++)
        notif_row_clear(&j->rows[i]);
    free(j->rows);
    notif_row_clear(&j->row);
    free(j->user_id);
    free(j->message);
    free(j);
}

/* Copies an error message, cut to fit. */
static void copy_err(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Drops what a successful job produced when its batch fails as a whole; rc is
 * STORE_ERROR or STORE_UNAVAILABLE. */
static void job_fail(job_t *j, int rc, const char *why)
{
    for (int i = 0; i < j->nrows; i++)
        notif_row_clear(&j->rows[i]);
    j->nrows = 0;
    notif_row_clear(&j->row);
    j->rc = rc;
    if (why != j->err) copy_err(j->err, sizeof(j->err), why);
}

/* Worker thread: one job, inside the batch's transaction. */
static int run_job(notif_store_t *store, job_t *j)
{
    switch (j->kind) {
    case JOB_CREATE:
        return store->ops->insert(store, j->user_id, j->message, j->message_len, j->type,
                                  j->created_at_ms, &j->id);
    case JOB_LIST: {
        int rc = store->ops->list(store, j->user_id, j->before, j->limit + 1, j->rows, &j->nrows);
        if (rc == STORE_OK) rc = store->ops->unread_count(store, j->user_id, &j->count);
        return rc;
    }
    case JOB_UNREAD:
        return store->ops->unread_count(store, j->user_id, &j->count);
    case JOB_MARK_READ:
        return store->ops->mark_read(store, j->user_id, j->id, &j->row);
    case JOB_READ_ALL:
        return store->ops->mark_all_read(store, j->user_id, &j->count);
    case JOB_DELETE:
        return store->ops->remove(store, j->user_id, j->id);
    case JOB_REPLAY:
        return store->ops->since(store, j->user_id, j->before, j->since_ms, j->limit + 1, j->rows,
                                 &j->nrows);
    }
    return STORE_ERROR;
}

/* Worker thread: the whole batch in one transaction, each job in a savepoint so
 * that one failing job does not undo the others. */
static void run_batch(void *user)
{
    batch_t *b = user;
    notif_store_t *store = pool[b->slot].store;
    char why[sizeof(store->err)] = "";
    int rc = store->ops->begin(store);
    for (job_t *j = b->jobs; rc == STORE_OK && j; j = j->next) {
        int sp = store->ops->savepoint(store);
        if (sp == STORE_UNAVAILABLE) {
            rc = sp; /* the transaction is gone with its connection */
            break;
        }
        if (sp != STORE_OK) {
            job_fail(j, sp, store->err);
            continue;
        }
        j->rc = run_job(store, j);
        if (j->rc == STORE_ERROR || j->rc == STORE_UNAVAILABLE) {
            copy_err(j->err, sizeof(j->err), store->err);
            if (store->ops->rollback_to(store) != STORE_OK) {
                /* The transaction itself is gone (I/O error, disk full, connection
                 * lost): nothing of this batch is stored. */
                rc = j->rc;
                copy_err(why, sizeof(why), j->err);
                break;
            }
        }
        store->ops->release(store);
    }
    if (rc == STORE_OK) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = store->ops->commit(store);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        api->metric_observe(metrics.commit_seconds, (double)(t1.tv_sec - t0.tv_sec) +
                                                        (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
    int jobs = 0;
    for (job_t *j = b->jobs; j; j = j->next)
        jobs++;
    api->metric_observe(metrics.batch_jobs, jobs);
    if (rc != STORE_OK) {
        /* Not committed, or not known to be (the connection broke during COMMIT):
         * nothing of the batch is answered as stored. */
        if (!why[0]) copy_err(why, sizeof(why), store->err);
        store->ops->rollback(store);
        for (job_t *j = b->jobs; j; j = j->next)
            job_fail(j, rc, why);
    }
}

static void finish_job(job_t *j);
static void probe_done(job_t *j, int status);
static void replay_done(job_t *j, int status);
static int64_t now_ms(void);
static void pump(void);

/* Loop thread: the batch has committed (or failed, or was cancelled at shutdown). */
static void batch_done(void *user, int status)
{
    batch_t *b = user;
    job_t *j = b->jobs;
    pool[b->slot].busy = 0;
    free(b);
    while (j) {
        job_t *next = j->next;
        if (j->kind == JOB_REPLAY)
            replay_done(j, status);
        else if (!j->req) /* a readiness probe: no client waits for it */
            probe_done(j, status);
        else if (status != 0) /* cancelled at shutdown before it ran: nothing was stored */
            api->respond_error(j->req, 503, "service_unavailable", "shutting down");
        else
            finish_job(j);
        job_free(j);
        j = next;
    }
    pump();
}

/* Answers 503 with Retry-After: the database or the queue cannot take it now. */
static void respond_unavailable(iog_request_t *req, const char *message)
{
    api->response_header(req, "Retry-After", RETRY_AFTER);
    api->respond_error(req, 503, "service_unavailable", message);
}

/* Loop thread: gives queued jobs to idle stores, a batch each. */
static void pump(void)
{
    for (int slot = 0; slot < pool_n && queue.head; slot++) {
        if (pool[slot].busy) continue;
        batch_t *b = malloc(sizeof(*b));
        if (!b) return; /* the next completion pumps again */
        job_t *first = queue.head, *last = first;
        int64_t n = 1;
        while (last->next && n < cfg.max_batch) {
            last = last->next;
            n++;
        }
        queue.head = last->next;
        if (!queue.head) queue.tail = NULL;
        last->next = NULL;
        queue.queued -= n;
        api->metric_set(metrics.queued, (double)queue.queued);
        b->slot = slot;
        b->jobs = first;
        pool[slot].busy = 1;
        int r = api->work_queue(self, run_batch, batch_done, b);
        if (r != 0) {
            pool[slot].busy = 0;
            free(b);
            api->log(self, IOG_LOG_ERROR, "work_queue: %s", api->plugin_error(self));
            for (job_t *j = first, *next; j; j = next) {
                next = j->next;
                if (j->kind == JOB_REPLAY)
                    replay_done(j, IOG_EIO);
                else if (j->req)
                    respond_unavailable(j->req, "storage is unavailable");
                else
                    probe_done(j, IOG_EIO);
                job_free(j);
            }
        }
    }
}

static job_t *job_new(iog_request_t *req, job_kind_t kind, const char *user_id)
{
    job_t *j = calloc(1, sizeof(*j));
    if (!j) return NULL;
    j->req = req;
    j->kind = kind;
    if (user_id && !(j->user_id = strdup(user_id))) {
        free(j);
        return NULL;
    }
    return j;
}

/* Queues j (taking it) or answers its request with an error and frees it. */
static void submit(job_t *j)
{
    if (queue.queued >= cfg.max_queue) {
        if (j->kind == JOB_REPLAY)
            api->recovery_end(self, j->replay, IOG_EIO);
        else
            respond_unavailable(j->req, "too many requests queued");
        job_free(j);
        return;
    }
    if (queue.tail)
        queue.tail->next = j;
    else
        queue.head = j;
    queue.tail = j;
    queue.queued++;
    api->metric_set(metrics.queued, (double)queue.queued);
    pump();
}

/* ------------------------------------------------------------------ output */

static int serialize_notification(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user;
    const iog_notification_payload_t *p = payload;
    char iso[NOTIF_ISO_LEN + 1];
    if (!p || !p->id || !p->message || !p->type || notif_type_parse(p->type, strlen(p->type)) < 0)
        return IOG_EINVAL;
    if (notif_iso8601(p->created_at_ms, iso, sizeof(iso)) != 0) return IOG_ERANGE;
    api->json_object_begin(w);
    api->json_key(w, "id");
    api->json_string(w, p->id);
    api->json_key(w, "message");
    api->json_string(w, p->message);
    api->json_key(w, "type");
    api->json_string(w, p->type);
    api->json_key(w, "createdAt");
    api->json_string(w, iso);
    api->json_object_end(w);
    return IOG_OK;
}

/* The REST shape of a notification: the event's fields plus userId and read. */
static void write_notification(iog_json_writer_t *w, int64_t id, const char *user_id,
                               const char *message, size_t message_len, int type,
                               int64_t created_at_ms, int read)
{
    char buf[32], iso[NOTIF_ISO_LEN + 1];
    notif_cursor_format(id, buf, sizeof(buf));
    if (notif_iso8601(created_at_ms, iso, sizeof(iso)) != 0) snprintf(iso, sizeof(iso), "invalid");
    api->json_object_begin(w);
    api->json_key(w, "id");
    api->json_string(w, buf);
    api->json_key(w, "userId");
    if (user_id)
        api->json_string(w, user_id);
    else
        api->json_null(w);
    api->json_key(w, "message");
    api->json_string_n(w, message, message_len);
    api->json_key(w, "type");
    api->json_string(w, notif_type_names[type]);
    api->json_key(w, "createdAt");
    api->json_string(w, iso);
    api->json_key(w, "read");
    api->json_bool(w, read);
    api->json_object_end(w);
}

static void write_row(iog_json_writer_t *w, const notif_row_t *r)
{
    write_notification(w, r->id, r->user_id, r->message, strlen(r->message), r->type,
                       r->created_at_ms, r->read);
}

/* Answers with the writer's text and frees the writer. */
static void respond_writer(iog_request_t *req, int status, iog_json_writer_t *w)
{
    size_t len;
    const char *text = w ? api->json_text(w, &len) : NULL;
    if (text)
        api->respond(req, status, text, len);
    else
        api->respond_error(req, 500, "internal_error", "cannot write the response");
    api->json_free(w);
}

static void respond_count(iog_request_t *req, const char *key, int64_t n)
{
    char body[64];
    int len = snprintf(body, sizeof(body), "{\"%s\":%lld}", key, (long long)n);
    api->respond(req, 200, body, (size_t)len);
}

static void finish_create(job_t *j)
{
    char id[32];
    notif_cursor_format(j->id, id, sizeof(id));
    iog_notification_payload_t payload = {id, j->message, notif_type_names[j->type],
                                          j->created_at_ms};
    int n;
    if (j->user_id) {
        n = api->emit_to_user(self, j->user_id, IOG_NOTIFICATION_EVENT, &payload);
    } else {
        iog_target_t all = {sizeof(all), IOG_TARGET_AUTHENTICATED, NULL, NULL, NULL, 0};
        n = api->emit(self, &all, IOG_NOTIFICATION_EVENT, &payload);
    }
    if (n < 0) {
        /* Stored all the same: the receivers find it in their list. */
        api->log(self, IOG_LOG_WARN, "notification %s stored but not emitted: %s", id,
                 api->plugin_error(self));
        n = 0;
    }
    char recipients[24];
    snprintf(recipients, sizeof(recipients), "%d", n);
    api->response_header(j->req, "X-Notification-Recipients", recipients);
    iog_json_writer_t *w = api->json_new();
    write_notification(w, j->id, j->user_id, j->message, j->message_len, j->type, j->created_at_ms,
                       0);
    respond_writer(j->req, 201, w);
}

static void finish_list(job_t *j)
{
    iog_json_writer_t *w = api->json_new();
    int shown = j->nrows > j->limit ? j->limit : j->nrows;
    api->json_object_begin(w);
    api->json_key(w, "items");
    api->json_array_begin(w);
    for (int i = 0; i < shown; i++)
        write_row(w, &j->rows[i]);
    api->json_array_end(w);
    api->json_key(w, "unreadCount");
    api->json_int(w, j->count);
    api->json_key(w, "nextCursor");
    if (j->nrows > j->limit) {
        char cursor[32];
        notif_cursor_format(j->rows[shown - 1].id, cursor, sizeof(cursor));
        api->json_string(w, cursor);
    } else {
        api->json_null(w);
    }
    api->json_object_end(w);
    respond_writer(j->req, 200, w);
}

/* Loop thread: answers one job of a finished batch. */
/* ------------------------------------------------------------------ readiness */

/* What the last database call said: /readyz reports the store down from an unavailable answer
 * until one succeeds. While it is down, each /readyz sends one cheap probe at most every
 * second, so the store comes back as ready even when no traffic arrives (a load balancer
 * that trusts /readyz sends none). */
static struct {
    int down;
    int probing;
    int64_t last_probe_ms;
    char reason[320]; /* "the database is unavailable: " and a job's error */
} health;

static void note_health(const job_t *j)
{
    if (j->rc == STORE_UNAVAILABLE) {
        health.down = 1;
        snprintf(health.reason, sizeof(health.reason), "the database is unavailable: %s", j->err);
    } else if (j->rc != STORE_ERROR) {
        health.down = 0;
    }
}

static void probe_done(job_t *j, int status)
{
    health.probing = 0;
    if (status == 0) note_health(j);
}

/* ------------------------------------------------------------------ recovery */

/* A reconnecting client of another node, or of this one before a restart, asks what its user
 * missed: the store's rows after its cursor (or since its session began), oldest first. */
static void on_replay(void *user, const iog_recovery_request_t *req)
{
    (void)user;
    int64_t after = req->after ? notif_cursor_parse(req->after) : 0;
    job_t *j = job_new(NULL, JOB_REPLAY, req->principal->user_id);
    if (!j || after < 0 || !(j->rows = calloc((size_t)req->max_events + 1, sizeof(*j->rows)))) {
        job_free(j);
        api->recovery_end(self, req->replay, after < 0 ? IOG_EINVAL : IOG_ENOMEM);
        return;
    }
    j->replay = req->replay;
    j->before = after;
    j->since_ms = req->after ? 0 : req->since_ms;
    j->not_before_ms = req->not_before_ms;
    j->limit = (int)req->max_events;
    submit(j);
}

/* Loop thread: the store answered (status 0) or could not run the job. All or nothing: more
 * rows than asked, or one older than the window (the client was away too long), replay none. */
static void replay_done(job_t *j, int status)
{
    if (status == 0) note_health(j);
    int rc = status != 0 || j->rc != STORE_OK ? IOG_EIO : j->nrows > j->limit ? IOG_ERANGE : IOG_OK;
    for (int i = 0; rc == IOG_OK && i < j->nrows; i++)
        if (j->rows[i].created_at_ms < j->not_before_ms) rc = IOG_ERANGE;
    for (int i = 0; rc == IOG_OK && i < j->nrows; i++) {
        char id[32];
        notif_cursor_format(j->rows[i].id, id, sizeof(id));
        iog_notification_payload_t payload = {
            id, j->rows[i].message, notif_type_names[j->rows[i].type], j->rows[i].created_at_ms};
        rc = api->recovery_emit(self, j->replay, &payload);
    }
    api->recovery_end(self, j->replay, rc);
}

static const char *store_ready(void *user)
{
    (void)user;
    if (!health.down) return NULL;
    int64_t now = now_ms();
    if (!health.probing && now - health.last_probe_ms >= 1000 && queue.queued < cfg.max_queue) {
        job_t *probe = job_new(NULL, JOB_UNREAD, "");
        if (probe) {
            health.probing = 1;
            health.last_probe_ms = now;
            submit(probe);
        }
    }
    return health.reason;
}

static void finish_job(job_t *j)
{
    note_health(j);
    if (j->rc == STORE_ERROR || j->rc == STORE_UNAVAILABLE)
        api->metric_add(j->rc == STORE_ERROR ? metrics.error : metrics.unavailable, 1);
    if (j->rc == STORE_ERROR) {
        api->log(self, IOG_LOG_ERROR, "storage: %s", j->err);
        api->respond_error(j->req, 500, "internal_error", "storage failure");
        return;
    }
    if (j->rc == STORE_UNAVAILABLE) {
        api->log(self, IOG_LOG_WARN, "storage unavailable: %s", j->err);
        respond_unavailable(j->req, "the database is unavailable, retry later");
        return;
    }
    if (j->rc == STORE_NOT_FOUND) {
        api->respond_error(j->req, 404, "not_found", "no such notification");
        return;
    }
    switch (j->kind) {
    case JOB_CREATE:
        finish_create(j);
        return;
    case JOB_LIST:
        finish_list(j);
        return;
    case JOB_UNREAD:
        respond_count(j->req, "unreadCount", j->count);
        return;
    case JOB_MARK_READ: {
        iog_json_writer_t *w = api->json_new();
        write_row(w, &j->row);
        respond_writer(j->req, 200, w);
        return;
    }
    case JOB_READ_ALL:
        respond_count(j->req, "marked", j->count);
        return;
    case JOB_DELETE:
        api->respond(j->req, 204, NULL, 0);
        return;
    case JOB_REPLAY: /* replay_done() answers these */
        return;
    }
}

/* ------------------------------------------------------------------ routes */

static int is_admin(iog_request_t *req)
{
    const char *v = api->principal_claim(self, api->request_principal(req), cfg.admin_claim);
    return v && strcmp(v, cfg.admin_value) == 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses and checks a create body; answers the error itself and returns NULL, or
 * returns a job ready to queue. for_user: "userId" is required. */
static job_t *parse_create(iog_request_t *req, int for_user)
{
    char msg[160];
    if (!notif_is_json_content_type(api->request_header(req, "Content-Type"))) {
        api->respond_error(req, 415, "unsupported_media_type", "the body must be application/json");
        return NULL;
    }
    size_t len;
    const char *body = api->request_body(req, &len);
    notif_create_t c;
    const char *problem =
        notif_create_parse(body, len, for_user, cfg.max_message_chars, &c, msg, sizeof(msg));
    if (problem) {
        api->respond_error(req, 400, "bad_request", problem);
        return NULL;
    }
    job_t *j = job_new(req, JOB_CREATE, c.user_id);
    if (j) {
        j->type = c.type;
        j->message_len = c.message_len;
        j->message = malloc(j->message_len + 1);
        if (j->message) memcpy(j->message, c.message, j->message_len + 1);
    }
    notif_create_clear(&c);
    if (!j || !j->message) {
        job_free(j);
        api->respond_error(req, 500, "internal_error", "out of memory");
        return NULL;
    }
    j->created_at_ms = now_ms();
    return j;
}

static void create_route(iog_request_t *req, int for_user)
{
    if (!is_admin(req)) {
        api->respond_error(req, 403, "forbidden", "creating notifications needs an admin token");
        return;
    }
    job_t *j = parse_create(req, for_user);
    if (j) submit(j);
}

/* POST /notifications */
static void route_create(void *user, iog_request_t *req)
{
    (void)user;
    create_route(req, 1);
}

/* POST /notifications/broadcast */
static void route_broadcast(void *user, iog_request_t *req)
{
    (void)user;
    create_route(req, 0);
}

/* A job for the calling user, or NULL after answering 500. */
static job_t *user_job(iog_request_t *req, job_kind_t kind)
{
    job_t *j = job_new(req, kind, api->request_principal(req)->user_id);
    if (!j) api->respond_error(req, 500, "internal_error", "out of memory");
    return j;
}

/* GET /notifications?limit=N&before=CURSOR */
static void route_list(void *user, iog_request_t *req)
{
    (void)user;
    const char *limit_s = api->request_query(req, "limit");
    const char *before_s = api->request_query(req, "before");
    int limit = limit_s ? notif_parse_limit(limit_s, MAX_LIMIT) : DEFAULT_LIMIT;
    int64_t before = before_s ? notif_cursor_parse(before_s) : 0;
    if (limit < 0) {
        api->respond_error(req, 400, "bad_request", "limit must be an integer from 1 to 100");
        return;
    }
    if (before < 0) {
        api->respond_error(req, 400, "bad_request", "before is not a valid cursor");
        return;
    }
    job_t *j = user_job(req, JOB_LIST);
    if (!j) return;
    j->limit = limit;
    j->before = before;
    j->rows = calloc((size_t)limit + 1, sizeof(*j->rows));
    if (!j->rows) {
        job_free(j);
        api->respond_error(req, 500, "internal_error", "out of memory");
        return;
    }
    submit(j);
}

/* GET /notifications/unread-count */
static void route_unread(void *user, iog_request_t *req)
{
    (void)user;
    job_t *j = user_job(req, JOB_UNREAD);
    if (j) submit(j);
}

/* PATCH /notifications/:id/read and DELETE /notifications/:id. An id that cannot
 * exist is a 404 like one that does not. */
static void id_route(iog_request_t *req, job_kind_t kind)
{
    int64_t id = notif_id_parse(api->request_param(req, "id"));
    if (id < 0) {
        api->respond_error(req, 404, "not_found", "no such notification");
        return;
    }
    job_t *j = user_job(req, kind);
    if (!j) return;
    j->id = id;
    submit(j);
}

static void route_mark_read(void *user, iog_request_t *req)
{
    (void)user;
    id_route(req, JOB_MARK_READ);
}

static void route_delete(void *user, iog_request_t *req)
{
    (void)user;
    id_route(req, JOB_DELETE);
}

/* POST /notifications/read-all (any body is ignored) */
static void route_read_all(void *user, iog_request_t *req)
{
    (void)user;
    job_t *j = user_job(req, JOB_READ_ALL);
    if (j) submit(j);
}

/* ------------------------------------------------------------------ init / fini */

static int config_range(const char *key, int64_t v, int64_t lo, int64_t hi, char *err,
                        size_t err_size)
{
    if (v >= lo && v <= hi) return 0;
    snprintf(err, err_size, "[plugin.notifications] %s = %lld is out of range (%lld..%lld)", key,
             (long long)v, (long long)lo, (long long)hi);
    return IOG_ERANGE;
}

static int read_config(iog_plugin_t *p, char *err, size_t err_size)
{
    static const char *const known[] = {
        "database",  "admin_claim", "admin_value", "max_message_chars",   "busy_timeout_ms",
        "max_batch", "max_queue",   "pool_size",   "statement_timeout_ms"};
    int r = api->config_check_keys(p, known, sizeof(known) / sizeof(known[0]));
    if (!r) r = api->config_string(p, "database", "var/iogate.db", &cfg.database);
    if (!r) r = api->config_string(p, "admin_claim", "role", &cfg.admin_claim);
    if (!r) r = api->config_string(p, "admin_value", "admin", &cfg.admin_value);
    if (!r) r = api->config_int(p, "max_message_chars", 2000, &cfg.max_message_chars);
    if (!r) r = api->config_int(p, "busy_timeout_ms", 5000, &cfg.busy_timeout_ms);
    if (!r) r = api->config_int(p, "max_batch", 256, &cfg.max_batch);
    if (!r) r = api->config_int(p, "max_queue", 10000, &cfg.max_queue);
    if (!r) r = api->config_int(p, "pool_size", 4, &cfg.pool_size);
    if (!r) r = api->config_int(p, "statement_timeout_ms", 10000, &cfg.statement_timeout_ms);
    if (r) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return r;
    }
    if (!*cfg.database || !*cfg.admin_claim) {
        snprintf(err, err_size, "[plugin.notifications] %s must not be empty",
                 *cfg.database ? "admin_claim" : "database");
        return IOG_EINVAL;
    }
    /* "mysql://..." or "postgresq://..." would otherwise name a SQLite file. */
    size_t scheme = strspn(cfg.database, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
    if (scheme > 0 && strncmp(cfg.database + scheme, "://", 3) == 0 &&
        !notif_store_pg_is_conninfo(cfg.database)) {
        snprintf(err, err_size,
                 "[plugin.notifications] database: unknown scheme \"%.*s://\" (a PostgreSQL "
                 "server is postgresql://, postgres:// or libpq's key=value form; anything "
                 "else is a SQLite file path)",
                 (int)(scheme < 32 ? scheme : 32), cfg.database);
        return IOG_EINVAL;
    }
    if ((r = config_range("max_message_chars", cfg.max_message_chars, 1, 1000000, err, err_size)) ||
        (r = config_range("busy_timeout_ms", cfg.busy_timeout_ms, 0, 3600000, err, err_size)) ||
        (r = config_range("max_batch", cfg.max_batch, 1, 100000, err, err_size)) ||
        (r = config_range("max_queue", cfg.max_queue, 1, 10000000, err, err_size)) ||
        (r = config_range("pool_size", cfg.pool_size, 1, MAX_POOL, err, err_size)) ||
        (r = config_range("statement_timeout_ms", cfg.statement_timeout_ms, 0, 3600000, err,
                          err_size)))
        return r;
    return 0;
}

static void close_stores(void)
{
    for (int i = 0; i < pool_n; i++) {
        /* A batch may still be on a worker thread when the loop was stopped at once
         * (a second signal): leave its store to the process exit rather than close
         * it under the batch. */
        if (!pool[i].busy) pool[i].store->ops->close(pool[i].store);
        pool[i].store = NULL;
    }
    pool_n = 0;
}

/* Opens the store(s) named by database. Blocking, which is fine before the loop
 * runs: the first PostgreSQL connection is made (and the schema migrated) now, so
 * that an unreachable server stops startup; the others connect on first use. */
static int open_stores(char *err, size_t err_size)
{
    char msg[512];
    if (!notif_store_pg_is_conninfo(cfg.database)) {
        notif_sqlite_options_t opt = {cfg.database, cfg.busy_timeout_ms};
        if (!(pool[0].store = notif_store_sqlite_open(&opt, err, err_size))) return IOG_EIO;
        pool_n = 1;
        api->log(self, IOG_LOG_INFO, "store: SQLite %s", cfg.database);
        return 0;
    }
    notif_pg_options_t opt = {cfg.database, cfg.statement_timeout_ms};
    for (int i = 0; i < cfg.pool_size; i++) {
        pool[i].store = notif_store_pg_open(&opt, i == 0, msg, sizeof(msg));
        if (!pool[i].store) {
            snprintf(err, err_size, "%s", msg);
            close_stores();
            return IOG_EIO;
        }
        pool_n++;
        if (i == 0)
            api->log(self, IOG_LOG_INFO, "store: PostgreSQL %s, pool of %lld", msg,
                     (long long)cfg.pool_size);
    }
    return 0;
}

/* The plugin's metrics; returns 0, or an IOG_E* code with plugin_error() set. */
static int register_metrics(iog_plugin_t *p)
{
    /* A COMMIT is an fsync (SQLite) or a round trip (PostgreSQL): from 0.1 ms to seconds. */
    static const double seconds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
    static const double jobs[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
    static const char *const kind[] = {"kind"};
    iog_metric_def_t defs[] = {
        {sizeof(iog_metric_def_t), IOG_METRIC_HISTOGRAM, "store_commit_duration_seconds",
         "Time the store's COMMIT took (SQLite's fsync, or PostgreSQL's round trip).", NULL, 0,
         seconds, sizeof(seconds) / sizeof(seconds[0])},
        {sizeof(iog_metric_def_t), IOG_METRIC_HISTOGRAM, "store_batch_jobs",
         "Requests run in one store transaction.", NULL, 0, jobs, sizeof(jobs) / sizeof(jobs[0])},
        {sizeof(iog_metric_def_t), IOG_METRIC_COUNTER, "store_errors_total",
         "Requests the store failed: unavailable (answered 503) or error (500).", kind, 1, NULL, 0},
        {sizeof(iog_metric_def_t), IOG_METRIC_GAUGE, "queued_jobs",
         "Requests waiting for a store ([plugin.notifications] max_queue bounds them).", NULL, 0,
         NULL, 0},
    };
    metrics.commit_seconds = api->metric_register(p, &defs[0]);
    metrics.batch_jobs = api->metric_register(p, &defs[1]);
    iog_metric_t *errors = api->metric_register(p, &defs[2]);
    metrics.queued = api->metric_register(p, &defs[3]);
    const char *unavailable[] = {"unavailable"}, *error[] = {"error"};
    if (errors) {
        metrics.unavailable = api->metric_series(p, errors, unavailable, 1);
        metrics.error = api->metric_series(p, errors, error, 1);
    }
    return metrics.commit_seconds && metrics.batch_jobs && metrics.unavailable && metrics.error &&
                   metrics.queued
               ? 0
               : IOG_EINVAL;
}

/* The notification event as a store-backed source of connection state recovery: a client
 * that comes back to another node or after a restart gets what it missed from the store. Its
 * cursor is the notification's id. */
static int recovery_source(iog_plugin_t *p, char *err, size_t err_size)
{
    int64_t newest = 0;
    if (pool[0].store->ops->newest(pool[0].store, &newest) != STORE_OK) {
        snprintf(err, err_size, "store: %s", pool[0].store->err);
        close_stores();
        return IOG_EIO;
    }
    char initial[32];
    notif_cursor_format(newest, initial, sizeof(initial));
    iog_recovery_source_t src = {sizeof(src), IOG_NOTIFICATION_EVENT,     "id", on_replay,
                                 NULL,        newest > 0 ? initial : NULL};
    int r = api->recovery_source(p, &src);
    if (r) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        close_stores();
    }
    return r;
}

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;
    int r = read_config(p, err, err_size);
    if (r) return r;

    static const struct {
        const char *method, *pattern;
        iog_route_fn fn;
    } routes[] = {
        {"POST", "/notifications", route_create},
        {"POST", "/notifications/broadcast", route_broadcast},
        {"GET", "/notifications", route_list},
        {"GET", "/notifications/unread-count", route_unread},
        {"PATCH", "/notifications/:id/read", route_mark_read},
        {"POST", "/notifications/read-all", route_read_all},
        {"DELETE", "/notifications/:id", route_delete},
    };
    r = api->register_event(p, IOG_NOTIFICATION_EVENT, serialize_notification, NULL);
    if (!r) r = api->ready_check(p, "store", store_ready, NULL);
    if (!r) r = register_metrics(p);
    for (size_t i = 0; !r && i < sizeof(routes) / sizeof(routes[0]); i++)
        r = api->register_route(p, routes[i].method, routes[i].pattern, IOG_ROUTE_AUTHENTICATED,
                                routes[i].fn, NULL);
    if (r) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return r;
    }

    if ((r = open_stores(err, err_size)) != 0) return r;
    return recovery_source(p, err, err_size);
}

/* --check-config: the configuration as init reads it, and where the store would be,
 * without opening it (no connection, no file created). */
static int check(iog_plugin_t *p, const iog_host_api_t *host, char *msg, size_t msg_size)
{
    api = host;
    self = p;
    int r = read_config(p, msg, msg_size);
    if (r) return r;
    if (!notif_store_pg_is_conninfo(cfg.database)) {
        struct stat st;
        int found = stat(cfg.database, &st) == 0;
        if (found && S_ISDIR(st.st_mode)) {
            snprintf(msg, msg_size, "[plugin.notifications] database: %s is a directory",
                     cfg.database);
            return IOG_EINVAL;
        }
        snprintf(msg, msg_size, "store: SQLite %s (%s)", cfg.database,
                 found ? "exists" : "created at start, with its directory");
        return 0;
    }
    char where[512];
    if (notif_store_pg_describe(cfg.database, where, sizeof(where)) != 0) {
        snprintf(msg, msg_size, "%s", where);
        return IOG_EINVAL;
    }
    snprintf(msg, msg_size,
             "store: PostgreSQL %.300s, pool of %lld, statement timeout %lld ms (not connected: "
             "--check-config never connects)",
             where, (long long)cfg.pool_size, (long long)cfg.statement_timeout_ms);
    return 0;
}

static void fini(iog_plugin_t *p)
{
    (void)p;
    /* Jobs still queued were never started (the loop was stopped at once by a
     * second signal): answering frees their requests. */
    while (queue.head) {
        job_t *j = queue.head;
        queue.head = j->next;
        api->respond_error(j->req, 503, "service_unavailable", "shutting down");
        job_free(j);
    }
    queue.tail = NULL;
    queue.queued = 0;
    close_stores();
}

IOG_PLUGIN_CHECKED("notifications", "1.0.0", init, fini, check)
