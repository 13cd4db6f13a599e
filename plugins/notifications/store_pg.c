/* store_pg.c - the PostgreSQL notification store (see store.h), for several
 * iogate nodes sharing one database.
 *
 * One store is one libpq connection, used with libpq's blocking calls on the
 * worker thread that runs the batch (store.h: one thread at a time); the plugin
 * keeps a pool of them and the event loop never waits for the database.
 * A lost connection is made again at the start of the next transaction, so the
 * pool recovers by itself after a server restart; until then calls answer
 * STORE_UNAVAILABLE, and so do errors that a retry may cure (the server
 * shutting down or starting, too many connections, the statement timeout, a
 * deadlock). A COMMIT counts only when the server answered "COMMIT".
 *
 * The schema carries its version in schema_version (one row per migration
 * applied). Migrations run at open in one transaction holding an advisory
 * lock, so nodes starting together against an empty database migrate it
 * exactly once; a database newer than this plugin is refused.
 *
 * Same data model as store_sqlite.c: a broadcast is one row with user_id NULL;
 * per-user read and deleted flags live in notification_states. */
#include "store.h"
#include "notif_util.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Migrations, in order: schema version i+1 is migrations[i]. Append only. */
static const char *const migrations[] = {
    /* 1: notifications and per-user state */
    "CREATE TABLE notifications ("
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY," /* ids order creations */
    "  user_id text,"                                       /* NULL: for every user */
    "  message text NOT NULL,"
    "  type text NOT NULL CHECK (type IN ('notification','info','warning','error','success')),"
    "  created_at_ms bigint NOT NULL"
    ");"
    "CREATE INDEX notifications_by_user ON notifications (user_id, id);"
    "CREATE INDEX notifications_broadcast ON notifications (id) WHERE user_id IS NULL;"
    "CREATE TABLE notification_states ("
    "  notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,"
    "  user_id text NOT NULL,"
    "  read boolean NOT NULL DEFAULT false,"
    "  deleted boolean NOT NULL DEFAULT false,"
    "  PRIMARY KEY (user_id, notification_id)"
    ");"
    "CREATE INDEX notification_states_by_notification ON notification_states (notification_id);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Taken by every node that migrates: the same number everywhere ("iogate-n" in ASCII). */
#define MIGRATION_LOCK "6917856034178510446"

/* Parameter types: text, bigint, bigint (the built-in OIDs, fixed in PostgreSQL). */
#define OID_TEXT 25
#define OID_INT8 20

/* The columns of a row as user $1 sees it, and the visibility rule. */
#define ROW_COLUMNS                                                                                \
    "n.id, n.user_id, n.message, n.type, n.created_at_ms, COALESCE(s.read, false) AS read"
#define FROM_STATE                                                                                 \
    " FROM notifications n LEFT JOIN notification_states s"                                        \
    " ON s.user_id = $1 AND s.notification_id = n.id"
#define FROM_VISIBLE                                                                               \
    FROM_STATE " WHERE (n.user_id = $1 OR n.user_id IS NULL) AND NOT COALESCE(s.deleted, false)"
/* The user's state of each row looked up row by row (OFFSET 0 keeps the planner from
 * flattening the subquery): a plain join let the generic plan of a prepared statement read
 * all of the user's states for every page, 20,000 rows for a user who read 20,000. */
#define FROM_STATE_PER_ROW                                                                         \
    " FROM notifications n LEFT JOIN LATERAL (SELECT read, deleted FROM notification_states"       \
    " WHERE user_id = $1 AND notification_id = n.id OFFSET 0) s ON true"
/* One page of one half of the list (the user's own rows, or the broadcasts), read
 * backwards along its index and cut at the page size: the list never sorts more
 * than two pages. */
#define LIST_HALF(who)                                                                             \
    "SELECT * FROM (SELECT " ROW_COLUMNS FROM_STATE_PER_ROW " WHERE n.user_id " who                \
    " AND n.id < $2 AND NOT COALESCE(s.deleted, false) ORDER BY n.id DESC LIMIT $3)"

/* One half of what a reconnecting client missed, forwards along its index from its cursor. */
#define SINCE_HALF(who)                                                                            \
    "SELECT * FROM (SELECT " ROW_COLUMNS FROM_STATE " WHERE n.user_id " who                        \
    " AND n.id > $2 AND n.created_at_ms >= $3 AND NOT COALESCE(s.deleted, false)"                  \
    " ORDER BY n.id ASC LIMIT $4)"

enum {
    ST_INSERT,
    ST_LIST,
    ST_UNREAD,
    ST_GET,
    ST_SET_READ,
    ST_READ_ALL,
    ST_DELETE_OWN,
    ST_SET_DELETED,
    ST_SINCE,
    ST_NEWEST,
    ST_COUNT
};

static const struct {
    const char *name, *sql;
    int nparams;
    Oid types[4];
} statements[ST_COUNT] = {
    [ST_INSERT] = {"insert",
                   "INSERT INTO notifications (user_id, message, type, created_at_ms)"
                   " VALUES ($1, $2, $3, $4) RETURNING id",
                   4,
                   {OID_TEXT, OID_TEXT, OID_TEXT, OID_INT8}},
    [ST_LIST] = {"list",
                 LIST_HALF("= $1") " AS own UNION ALL " LIST_HALF(
                     "IS NULL") " AS every"
                                " ORDER BY id DESC LIMIT $3",
                 3,
                 {OID_TEXT, OID_INT8, OID_INT8}},
    [ST_UNREAD] = {"unread",
                   "SELECT count(*)" FROM_VISIBLE " AND NOT COALESCE(s.read, false)",
                   1,
                   {OID_TEXT}},
    [ST_GET] = {"get",
                "SELECT " ROW_COLUMNS FROM_VISIBLE " AND n.id = $2",
                2,
                {OID_TEXT, OID_INT8}},
    [ST_SET_READ] = {"set_read",
                     "INSERT INTO notification_states (notification_id, user_id, read)"
                     " VALUES ($2, $1, true)"
                     " ON CONFLICT (user_id, notification_id) DO UPDATE SET read = true",
                     2,
                     {OID_TEXT, OID_INT8}},
    [ST_READ_ALL] = {"read_all",
                     "INSERT INTO notification_states (notification_id, user_id, read)"
                     " SELECT n.id, $1, true" FROM_VISIBLE " AND NOT COALESCE(s.read, false)"
                     " ON CONFLICT (user_id, notification_id) DO UPDATE SET read = true",
                     1,
                     {OID_TEXT}},
    [ST_DELETE_OWN] = {"delete_own",
                       "DELETE FROM notifications WHERE id = $2 AND user_id = $1",
                       2,
                       {OID_TEXT, OID_INT8}},
    [ST_SET_DELETED] = {"set_deleted",
                        "INSERT INTO notification_states (notification_id, user_id, deleted)"
                        " VALUES ($2, $1, true)"
                        " ON CONFLICT (user_id, notification_id) DO UPDATE SET deleted = true",
                        2,
                        {OID_TEXT, OID_INT8}},
    [ST_SINCE] = {"since",
                  SINCE_HALF("= $1") " AS own UNION ALL " SINCE_HALF(
                      "IS NULL") " AS every ORDER BY id ASC LIMIT $4",
                  4,
                  {OID_TEXT, OID_INT8, OID_INT8, OID_INT8}},
    [ST_NEWEST] = {"newest", "SELECT COALESCE(max(id), 0) FROM notifications", 0, {0}},
};

/* After a failed connection attempt, transactions answer STORE_UNAVAILABLE at once
 * for this long instead of trying again (an unreachable host costs connect_timeout). */
#define RECONNECT_PAUSE_MS 500

typedef struct pg_store {
    notif_store_t base;
    char *conninfo;
    char *where; /* "host H port P database D", for messages (never the password) */
    int64_t statement_timeout_ms;
    PGconn *conn;      /* NULL until connected */
    int64_t failed_ms; /* monotonic time of the last failed connection attempt, 0: none */
} pg_store_t;

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when a retry later may succeed: the connection is gone, the server is shutting
 * down or starting, out of resources, the statement timed out, or a deadlock. */
static int transient(pg_store_t *s, const PGresult *res)
{
    if (!s->conn || PQstatus(s->conn) == CONNECTION_BAD) return 1;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state) return res == NULL; /* no result at all: the connection failed */
    return strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
           strncmp(state, "57P0", 4) == 0 || strcmp(state, "57014") == 0 ||
           strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
/* Records what failed (with the server's message) and returns STORE_UNAVAILABLE or
 * STORE_ERROR. Clears res. */
static int
fail(pg_store_t *s, PGresult *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->base.err, sizeof(s->base.err), fmt, ap);
    va_end(ap);
    const char *why = res ? PQresultErrorMessage(res) : "";
    if (!*why && s->conn) why = PQerrorMessage(s->conn);
    if (!*why) why = res ? PQresStatus(PQresultStatus(res)) : "not connected";
    if (n >= 0 && (size_t)n < sizeof(s->base.err))
        snprintf(s->base.err + n, sizeof(s->base.err) - (size_t)n, ": %.*s",
                 (int)strcspn(why, "\n"), why);
    int rc = transient(s, res) ? STORE_UNAVAILABLE : STORE_ERROR;
    PQclear(res);
    return rc;
}

/* Runs SQL without parameters, ignoring any rows it returns. */
static int exec(pg_store_t *s, const char *sql)
{
    if (!s->conn) return fail(s, NULL, "%s", sql);
    PGresult *res = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return fail(s, res, "%s", sql);
    PQclear(res);
    return STORE_OK;
}

/* Runs a prepared statement; *out (when not NULL) takes the result. */
static int run(pg_store_t *s, int which, const char *const *params, ExecStatusType want,
               PGresult **out)
{
    if (!s->conn) return fail(s, NULL, "%s", statements[which].name);
    PGresult *res = PQexecPrepared(s->conn, statements[which].name, statements[which].nparams,
                                   params, NULL, NULL, 0);
    if (PQresultStatus(res) != want) return fail(s, res, "%s", statements[which].name);
    if (out)
        *out = res;
    else
        PQclear(res);
    return STORE_OK;
}

static char *value_dup(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) return NULL;
    return strdup(PQgetvalue(res, row, col));
}

static int read_row(pg_store_t *s, const PGresult *res, int i, notif_row_t *row)
{
    memset(row, 0, sizeof(*row));
    row->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    row->user_id = value_dup(res, i, 1);
    row->message = value_dup(res, i, 2);
    const char *type = PQgetvalue(res, i, 3);
    row->type = notif_type_parse(type, strlen(type));
    row->created_at_ms = strtoll(PQgetvalue(res, i, 4), NULL, 10);
    row->read = PQgetvalue(res, i, 5)[0] == 't';
    if (!row->message || (!PQgetisnull(res, i, 1) && !row->user_id)) {
        notif_row_clear(row);
        snprintf(s->base.err, sizeof(s->base.err), "out of memory");
        return STORE_ERROR;
    }
    if (row->type < 0) row->type = 0; /* the CHECK constraint makes this unreachable */
    return STORE_OK;
}

/* ---- connecting ---- */

static void disconnect(pg_store_t *s)
{
    PQfinish(s->conn);
    s->conn = NULL;
}

/* Connects, sets the session up and prepares every statement; migrate: first brings
 * the schema up to date (at open only). */
static int connect_db(pg_store_t *s, int migrate);

/* A connection ready for a transaction: the current one, or a new one when it was
 * lost (not more often than every RECONNECT_PAUSE_MS). */
static int ensure_connected(pg_store_t *s)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK) return STORE_OK;
    disconnect(s);
    if (s->failed_ms && monotonic_ms() - s->failed_ms < RECONNECT_PAUSE_MS) {
        snprintf(s->base.err, sizeof(s->base.err), "PostgreSQL at %s is unreachable", s->where);
        return STORE_UNAVAILABLE;
    }
    int rc = connect_db(s, 0);
    s->failed_ms = rc == STORE_OK ? 0 : monotonic_ms();
    return rc == STORE_OK ? STORE_OK : STORE_UNAVAILABLE;
}

/* ---- transactions ---- */

static int s_begin(notif_store_t *b)
{
    pg_store_t *s = (pg_store_t *)b;
    int rc = ensure_connected(s);
    if (rc != STORE_OK) return rc;
    rc = exec(s, "BEGIN");
    if (rc == STORE_UNAVAILABLE && PQstatus(s->conn) == CONNECTION_BAD) {
        /* A connection that died while idle (a server restart) is found out here;
         * nothing has run yet, so a new connection may take over at once. */
        disconnect(s);
        s->failed_ms = 0;
        rc = ensure_connected(s);
        if (rc == STORE_OK) rc = exec(s, "BEGIN");
    }
    return rc;
}

static int s_commit(notif_store_t *b)
{
    pg_store_t *s = (pg_store_t *)b;
    if (!s->conn) return fail(s, NULL, "COMMIT");
    PGresult *res = PQexec(s->conn, "COMMIT");
    /* An aborted transaction answers COMMIT with "ROLLBACK": that is no commit. */
    if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(res), "COMMIT") != 0)
        return fail(s, res, "COMMIT");
    PQclear(res);
    return STORE_OK;
}

static int s_rollback(notif_store_t *b)
{
    pg_store_t *s = (pg_store_t *)b;
    if (!s->conn || PQtransactionStatus(s->conn) == PQTRANS_IDLE) return STORE_OK;
    if (PQstatus(s->conn) == CONNECTION_BAD) return STORE_OK; /* the server rolls back */
    return exec(s, "ROLLBACK");
}

static int s_savepoint(notif_store_t *b)
{
    return exec((pg_store_t *)b, "SAVEPOINT job");
}

static int s_release(notif_store_t *b)
{
    return exec((pg_store_t *)b, "RELEASE job");
}

static int s_rollback_to(notif_store_t *b)
{
    pg_store_t *s = (pg_store_t *)b;
    if (!s->conn || PQstatus(s->conn) == CONNECTION_BAD) return STORE_UNAVAILABLE;
    return exec(s, "ROLLBACK TO job");
}

/* ---- operations ---- */

static int s_insert(notif_store_t *b, const char *user_id, const char *message, size_t message_len,
                    int type, int64_t created_at_ms, int64_t *id_out)
{
    pg_store_t *s = (pg_store_t *)b;
    (void)message_len; /* text parameters end at their NUL (a message holds none) */
    if (type < 0 || type >= NOTIF_TYPE_COUNT) {
        snprintf(s->base.err, sizeof(s->base.err), "invalid type %d", type);
        return STORE_ERROR;
    }
    char created[24];
    snprintf(created, sizeof(created), "%lld", (long long)created_at_ms);
    const char *params[4] = {user_id, message, notif_type_names[type], created};
    PGresult *res = NULL;
    int rc = run(s, ST_INSERT, params, PGRES_TUPLES_OK, &res);
    if (rc != STORE_OK) return rc;
    *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return STORE_OK;
}

/* Runs a query of rows into rows[] (at most max). */
static int read_rows(pg_store_t *s, int which, const char *const *params, int max,
                     notif_row_t *rows, int *n_out)
{
    PGresult *res = NULL;
    *n_out = 0;
    int rc = run(s, which, params, PGRES_TUPLES_OK, &res);
    if (rc != STORE_OK) return rc;
    int n = PQntuples(res);
    if (n > max) n = max;
    for (int i = 0; i < n; i++) {
        if (read_row(s, res, i, &rows[i]) != STORE_OK) {
            while (i-- > 0)
                notif_row_clear(&rows[i]);
            PQclear(res);
            return STORE_ERROR;
        }
    }
    PQclear(res);
    *n_out = n;
    return STORE_OK;
}

static int s_list(notif_store_t *b, const char *user_id, int64_t before, int max, notif_row_t *rows,
                  int *n_out)
{
    char before_s[24], max_s[16];
    snprintf(before_s, sizeof(before_s), "%lld", (long long)(before > 0 ? before : INT64_MAX));
    snprintf(max_s, sizeof(max_s), "%d", max);
    const char *params[3] = {user_id, before_s, max_s};
    return read_rows((pg_store_t *)b, ST_LIST, params, max, rows, n_out);
}

static int s_since(notif_store_t *b, const char *user_id, int64_t after, int64_t since_ms, int max,
                   notif_row_t *rows, int *n_out)
{
    char after_s[24], since_s[24], max_s[16];
    snprintf(after_s, sizeof(after_s), "%lld", (long long)after);
    snprintf(since_s, sizeof(since_s), "%lld", (long long)since_ms);
    snprintf(max_s, sizeof(max_s), "%d", max);
    const char *params[4] = {user_id, after_s, since_s, max_s};
    return read_rows((pg_store_t *)b, ST_SINCE, params, max, rows, n_out);
}

static int s_newest(notif_store_t *b, int64_t *id_out)
{
    pg_store_t *s = (pg_store_t *)b;
    PGresult *res = NULL;
    int rc = run(s, ST_NEWEST, NULL, PGRES_TUPLES_OK, &res);
    if (rc != STORE_OK) return rc;
    *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return STORE_OK;
}

static int s_unread_count(notif_store_t *b, const char *user_id, int64_t *out)
{
    pg_store_t *s = (pg_store_t *)b;
    const char *params[1] = {user_id};
    PGresult *res = NULL;
    int rc = run(s, ST_UNREAD, params, PGRES_TUPLES_OK, &res);
    if (rc != STORE_OK) return rc;
    *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return STORE_OK;
}

/* Runs one of the statements taking (user $1, id $2); *res (when not NULL) takes
 * the result. */
static int run_user_id(pg_store_t *s, int which, const char *user_id, int64_t id,
                       ExecStatusType want, PGresult **res)
{
    char id_s[24];
    snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
    const char *params[2] = {user_id, id_s};
    return run(s, which, params, want, res);
}

/* The notification id as user_id sees it, or STORE_NOT_FOUND. */
static int get_visible(pg_store_t *s, const char *user_id, int64_t id, notif_row_t *row)
{
    PGresult *res = NULL;
    int rc = run_user_id(s, ST_GET, user_id, id, PGRES_TUPLES_OK, &res);
    if (rc != STORE_OK) return rc;
    rc = PQntuples(res) > 0 ? read_row(s, res, 0, row) : STORE_NOT_FOUND;
    PQclear(res);
    return rc;
}

static int s_mark_read(notif_store_t *b, const char *user_id, int64_t id, notif_row_t *row)
{
    pg_store_t *s = (pg_store_t *)b;
    int rc = get_visible(s, user_id, id, row);
    if (rc != STORE_OK) return rc;
    if (!row->read &&
        (rc = run_user_id(s, ST_SET_READ, user_id, id, PGRES_COMMAND_OK, NULL)) != STORE_OK) {
        notif_row_clear(row);
        return rc;
    }
    row->read = 1;
    return STORE_OK;
}

static int s_mark_all_read(notif_store_t *b, const char *user_id, int64_t *marked)
{
    pg_store_t *s = (pg_store_t *)b;
    const char *params[1] = {user_id};
    PGresult *res = NULL;
    int rc = run(s, ST_READ_ALL, params, PGRES_COMMAND_OK, &res);
    if (rc != STORE_OK) return rc;
    *marked = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return STORE_OK;
}

static int s_remove(notif_store_t *b, const char *user_id, int64_t id)
{
    pg_store_t *s = (pg_store_t *)b;
    notif_row_t row;
    int rc = get_visible(s, user_id, id, &row);
    if (rc != STORE_OK) return rc;
    int own = row.user_id != NULL;
    notif_row_clear(&row);
    return run_user_id(s, own ? ST_DELETE_OWN : ST_SET_DELETED, user_id, id, PGRES_COMMAND_OK,
                       NULL);
}

static void s_close(notif_store_t *b)
{
    pg_store_t *s = (pg_store_t *)b;
    if (!s) return;
    disconnect(s);
    free(s->conninfo);
    free(s->where);
    free(s);
}

static const notif_store_ops_t pg_ops = {
    .close = s_close,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .savepoint = s_savepoint,
    .release = s_release,
    .rollback_to = s_rollback_to,
    .insert = s_insert,
    .list = s_list,
    .unread_count = s_unread_count,
    .mark_read = s_mark_read,
    .mark_all_read = s_mark_all_read,
    .remove = s_remove,
    .since = s_since,
    .newest = s_newest,
};

/* ---- opening ---- */

/* Brings the schema to SCHEMA_VERSION in one transaction under the advisory lock:
 * the first node migrates, the others wait for it and then find nothing to do. */
static int migrate(pg_store_t *s, int *from)
{
    PGresult *res = NULL;
    if (exec(s, "BEGIN") != STORE_OK) return STORE_ERROR;
    if (exec(s, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")") != STORE_OK ||
        exec(s, "CREATE TABLE IF NOT EXISTS schema_version ("
                "  version integer PRIMARY KEY,"
                "  applied_at timestamptz NOT NULL DEFAULT now())") != STORE_OK)
        goto rollback;
    res = PQexec(s->conn, "SELECT coalesce(max(version), 0) FROM schema_version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail(s, res, "reading schema_version");
        goto rollback;
    }
    int version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    *from = version;
    if (version > SCHEMA_VERSION) {
        snprintf(s->base.err, sizeof(s->base.err),
                 "database schema version %d is newer than this plugin knows (%d)", version,
                 SCHEMA_VERSION);
        goto rollback;
    }
    for (int v = version; v < SCHEMA_VERSION; v++) {
        char sql[96];
        snprintf(sql, sizeof(sql), "INSERT INTO schema_version (version) VALUES (%d)", v + 1);
        if (exec(s, migrations[v]) != STORE_OK || exec(s, sql) != STORE_OK) {
            char why[sizeof(s->base.err)];
            memcpy(why, s->base.err, sizeof(why));
            snprintf(s->base.err, sizeof(s->base.err), "migration to version %d: %.400s", v + 1,
                     why);
            goto rollback;
        }
    }
    return exec(s, "COMMIT");
rollback:
    PQclear(PQexec(s->conn, "ROLLBACK"));
    return STORE_ERROR;
}

/* libpq prints the server's notices ("relation ... already exists, skipping") to stderr,
 * outside the log's format (a JSON log would get a line of text): they are dropped; the
 * server's own log keeps them. */
static void drop_notice(void *arg, const char *message)
{
    (void)arg, (void)message;
}

static int connect_db(pg_store_t *s, int do_migrate)
{
    /* connect_timeout comes first so that one in the connection string overrides it. */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {"5", "iogate", s->conninfo, NULL};
    s->conn = PQconnectdbParams(keys, values, 1);
    if (!s->conn) {
        snprintf(s->base.err, sizeof(s->base.err), "cannot connect to PostgreSQL at %s: %s",
                 s->where, "out of memory");
        return STORE_ERROR;
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        const char *why = PQerrorMessage(s->conn);
        snprintf(s->base.err, sizeof(s->base.err), "cannot connect to PostgreSQL at %s: %.*s",
                 s->where, (int)strcspn(why, "\n"), why);
        disconnect(s);
        return STORE_UNAVAILABLE;
    }
    PQsetNoticeProcessor(s->conn, drop_notice, NULL);
    char sql[96];
    snprintf(sql, sizeof(sql), "SET statement_timeout = %lld", (long long)s->statement_timeout_ms);
    int rc = exec(s, sql);
    int from = -1;
    if (rc == STORE_OK && do_migrate) {
        rc = migrate(s, &from);
        if (rc == STORE_OK && from < SCHEMA_VERSION)
            snprintf(s->base.err, sizeof(s->base.err), "schema migrated from version %d to %d",
                     from, SCHEMA_VERSION);
        else if (rc == STORE_OK)
            snprintf(s->base.err, sizeof(s->base.err), "schema version %d", from);
    }
    for (int i = 0; rc == STORE_OK && i < ST_COUNT; i++) {
        PGresult *res = PQprepare(s->conn, statements[i].name, statements[i].sql,
                                  statements[i].nparams, statements[i].types);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = fail(s, res, "preparing %s", statements[i].name);
        else
            PQclear(res);
    }
    if (rc != STORE_OK) disconnect(s);
    return rc;
}

/* The problem with a value libpq parses only when it connects, or NULL. */
static const char *bad_option(const char *key, const char *val, char *why, size_t why_size)
{
    static const struct {
        const char *key, *allowed;
    } enums[] = {
        {"sslmode", " disable allow prefer require verify-ca verify-full "},
        {"gssencmode", " disable prefer require "},
        {"channel_binding", " disable prefer require "},
        {"target_session_attrs", " any read-write read-only primary standby prefer-standby "},
        {"load_balance_hosts", " disable random "},
    };
    for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++) {
        if (strcmp(key, enums[i].key) != 0) continue;
        char word[40];
        snprintf(word, sizeof(word), " %s ", val);
        if (strlen(val) < 30 && strstr(enums[i].allowed, word)) return NULL;
        snprintf(why, why_size, "%s \"%.64s\" is not one of%.*s", key, val,
                 (int)strlen(enums[i].allowed) - 1, enums[i].allowed);
        return why;
    }
    if (strcmp(key, "port") == 0) {
        /* One port, or one per host, comma-separated; an empty one is the default. */
        for (const char *p = val;; p++) {
            size_t n = strcspn(p, ",");
            char *end = NULL;
            long port = n ? strtol(p, &end, 10) : 5432;
            if (n && (end != p + n || port < 1 || port > 65535)) {
                snprintf(why, why_size, "port \"%.64s\" is not a port number (1..65535)", val);
                return why;
            }
            p += n;
            if (!*p) break;
        }
        return NULL;
    }
    if (strcmp(key, "connect_timeout") == 0 || strcmp(key, "keepalives_idle") == 0 ||
        strcmp(key, "keepalives_interval") == 0 || strcmp(key, "keepalives_count") == 0) {
        char *end = NULL;
        long v = strtol(val, &end, 10);
        if (!*val || *end || v < 0 || v > 2147483647L) {
            snprintf(why, why_size, "%s \"%.64s\" is not a number of seconds", key, val);
            return why;
        }
    }
    return NULL;
}

/* Counts the comma-separated elements of a list (host, hostaddr, port); 0 for NULL. */
static int list_len(const char *v)
{
    if (!v) return 0;
    int n = 1;
    for (; *v; v++)
        n += *v == ',';
    return n;
}

/* Writes libpq's reason for refusing a URL into out, its password (libpq quotes the whole
 * URL in some messages) replaced by "***". */
static void parse_error(const char *conninfo, const char *why, char *out, size_t out_size)
{
    size_t len = strcspn(why, "\n"), pw = 0, pw_len = 0;
    const char *rest = strstr(conninfo, "://");
    if (rest) { /* scheme://user:password@host..., as libpq splits it */
        rest += 3;
        size_t cred = strcspn(rest, "@/");
        size_t colon = strcspn(rest, ":");
        if (rest[cred] == '@' && colon < cred) {
            pw = (size_t)(rest - conninfo) + colon + 1;
            pw_len = cred - colon - 1;
        }
    }
    int n = snprintf(out, out_size,
                     "[plugin.notifications] database: not a PostgreSQL connection string: ");
    for (size_t i = 0; i < len && n >= 0 && (size_t)n + 4 < out_size;) {
        if (pw_len && i + pw_len <= len && strncmp(why + i, conninfo + pw, pw_len) == 0) {
            n += snprintf(out + n, out_size - (size_t)n, "***");
            i += pw_len;
        } else {
            out[n++] = why[i++];
            out[n] = '\0';
        }
    }
}

int notif_store_pg_describe(const char *conninfo, char *out, size_t out_size)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &why);
    if (!opts) {
        parse_error(conninfo, why ? why : "out of memory", out, out_size);
        PQfreemem(why);
        return -1;
    }
    const char *host = NULL, *hostaddr = NULL, *port = NULL, *db = NULL, *user = NULL;
    const char *sslmode = NULL;
    char problem[256] = "";
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val) continue;
        if (strcmp(o->keyword, "host") == 0) host = o->val;
        if (strcmp(o->keyword, "hostaddr") == 0) hostaddr = o->val;
        if (strcmp(o->keyword, "port") == 0) port = o->val;
        if (strcmp(o->keyword, "dbname") == 0) db = o->val;
        if (strcmp(o->keyword, "user") == 0) user = o->val;
        if (strcmp(o->keyword, "sslmode") == 0) sslmode = o->val;
        char why_buf[200];
        const char *bad = problem[0] ? NULL : bad_option(o->keyword, o->val, why_buf, 200);
        if (bad) snprintf(problem, sizeof(problem), "%s", bad);
    }
    /* libpq pairs hosts and ports: one port for all, or one each. */
    int hosts = list_len(host) > list_len(hostaddr) ? list_len(host) : list_len(hostaddr);
    if (!problem[0] && list_len(port) > 1 && list_len(port) != (hosts ? hosts : 1))
        snprintf(problem, sizeof(problem), "%d ports for %d hosts (give one, or one per host)",
                 list_len(port), hosts ? hosts : 1);
    if (problem[0])
        snprintf(out, out_size, "[plugin.notifications] database: %s", problem);
    else
        snprintf(out, out_size, "host %s port %s database %s%s%s%s%s",
                 host       ? host
                 : hostaddr ? hostaddr
                            : "(default)",
                 port ? port : "5432",
                 db     ? db
                 : user ? user
                        : "(default)",
                 user ? " user " : "", user ? user : "", sslmode ? " sslmode " : "",
                 sslmode ? sslmode : "");
    PQconninfoFree(opts);
    return problem[0] ? -1 : 0;
}

int notif_store_pg_is_conninfo(const char *database)
{
    if (strncmp(database, "postgresql://", 13) == 0 || strncmp(database, "postgres://", 11) == 0)
        return 1;
    /* libpq's key=value form starts with a keyword and "=" (a file name has a '/' or
     * a '.' before any '=', or is refused by the parse in notif_store_pg_describe()). */
    size_t key = strspn(database, "abcdefghijklmnopqrstuvwxyz_");
    size_t eq = key + strspn(database + key, " ");
    return key > 0 && database[eq] == '=';
}

notif_store_t *notif_store_pg_open(const notif_pg_options_t *opt, int connect, char *msg,
                                   size_t msg_size)
{
    pg_store_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(msg, msg_size, "out of memory");
        return NULL;
    }
    s->base.ops = &pg_ops;
    s->statement_timeout_ms = opt->statement_timeout_ms;
    s->conninfo = strdup(opt->conninfo);
    if (!s->conninfo) {
        snprintf(msg, msg_size, "out of memory");
        s_close(&s->base);
        return NULL;
    }
    char where[512];
    if (notif_store_pg_describe(opt->conninfo, where, sizeof(where)) != 0) {
        snprintf(msg, msg_size, "%s", where);
        s_close(&s->base);
        return NULL;
    }
    if (!(s->where = strdup(where))) {
        snprintf(msg, msg_size, "out of memory");
        s_close(&s->base);
        return NULL;
    }
    if (connect) {
        if (connect_db(s, 1) != STORE_OK) {
            if (strstr(s->base.err, s->where))
                snprintf(msg, msg_size, "%s", s->base.err);
            else
                snprintf(msg, msg_size, "PostgreSQL at %s: %s", s->where, s->base.err);
            s_close(&s->base);
            return NULL;
        }
        snprintf(msg, msg_size, "%s%s%s", s->where, s->base.err[0] ? ", " : "", s->base.err);
    }
    s->base.err[0] = '\0';
    return &s->base;
}
