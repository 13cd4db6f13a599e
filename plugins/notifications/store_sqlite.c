/* store_sqlite.c - the SQLite notification store (the default; see store.h).
 *
 * One connection, WAL, synchronous=FULL: a transaction that COMMIT returned is
 * on disk, so a notification answered 201 survives kill -9 and power loss.
 * Every statement is prepared once with parameters; nothing is ever spliced into
 * SQL text. The schema carries its version in schema_version and is migrated at
 * open, in one transaction.
 *
 * Data model: a notification for every user is one row with user_id NULL. What a
 * user did to a notification (read, deleted) lives in notification_states, one
 * row per (user, notification), created on first use; no row means unread and
 * visible. A user deleting their own notification deletes the row itself. */
#include "store.h"
#include "notif_util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Migrations, in order: schema version i+1 is migrations[i]. Append only. */
static const char *const migrations[] = {
    /* 1: notifications and per-user state */
    "CREATE TABLE notifications ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT," /* never reused, so ids order creations */
    "  user_id TEXT,"                         /* NULL: for every user */
    "  message TEXT NOT NULL,"
    "  type TEXT NOT NULL CHECK (type IN ('notification','info','warning','error','success')),"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX notifications_by_user ON notifications (user_id, id);"
    "CREATE TABLE notification_states ("
    "  notification_id INTEGER NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,"
    "  user_id TEXT NOT NULL,"
    "  read INTEGER NOT NULL DEFAULT 0 CHECK (read IN (0, 1)),"
    "  deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),"
    "  PRIMARY KEY (user_id, notification_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX notification_states_by_notification ON notification_states (notification_id);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The columns of a row as user ?1 sees it, and the visibility rule. */
#define ROW_COLUMNS                                                                                \
    "n.id, n.user_id, n.message, n.type, n.created_at_ms, COALESCE(s.read, 0) AS read"
#define FROM_STATE                                                                                 \
    " FROM notifications n LEFT JOIN notification_states s"                                        \
    " ON s.user_id = ?1 AND s.notification_id = n.id"
#define FROM_VISIBLE                                                                               \
    FROM_STATE " WHERE (n.user_id = ?1 OR n.user_id IS NULL) AND COALESCE(s.deleted, 0) = 0"
/* One page of one half of the list (the user's own rows, or the broadcasts), read
 * backwards along notifications_by_user and cut at the page size: the list never
 * sorts more than two pages (with an OR, SQLite sorted all of the user's rows). */
#define LIST_HALF(who)                                                                             \
    "SELECT * FROM (SELECT " ROW_COLUMNS FROM_STATE " WHERE n.user_id " who                        \
    " AND n.id < ?2 AND COALESCE(s.deleted, 0) = 0 ORDER BY n.id DESC LIMIT ?3)"

/* One half of what a reconnecting client missed, forwards along the same index from its
 * cursor. */
#define SINCE_HALF(who)                                                                            \
    "SELECT * FROM (SELECT " ROW_COLUMNS FROM_STATE " WHERE n.user_id " who                        \
    " AND n.id > ?2 AND n.created_at_ms >= ?3 AND COALESCE(s.deleted, 0) = 0"                      \
    " ORDER BY n.id ASC LIMIT ?4)"

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
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

static const char *const statements[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT job",
    [ST_RELEASE] = "RELEASE job",
    [ST_ROLLBACK_TO] = "ROLLBACK TO job",
    [ST_INSERT] = "INSERT INTO notifications (user_id, message, type, created_at_ms)"
                  " VALUES (?1, ?2, ?3, ?4)",
    [ST_LIST] =
        LIST_HALF("= ?1") " AS own UNION ALL " LIST_HALF("IS NULL") " AS every"
                                                                    " ORDER BY id DESC LIMIT ?3",
    [ST_UNREAD] = "SELECT count(*)" FROM_VISIBLE " AND COALESCE(s.read, 0) = 0",
    [ST_GET] = "SELECT " ROW_COLUMNS FROM_VISIBLE " AND n.id = ?2",
    [ST_SET_READ] = "INSERT INTO notification_states (notification_id, user_id, read)"
                    " VALUES (?2, ?1, 1)"
                    " ON CONFLICT (user_id, notification_id) DO UPDATE SET read = 1",
    [ST_READ_ALL] = "INSERT INTO notification_states (notification_id, user_id, read)"
                    " SELECT n.id, ?1, 1" FROM_VISIBLE " AND COALESCE(s.read, 0) = 0"
                    " ON CONFLICT (user_id, notification_id) DO UPDATE SET read = 1",
    [ST_DELETE_OWN] = "DELETE FROM notifications WHERE id = ?2 AND user_id = ?1",
    [ST_SET_DELETED] = "INSERT INTO notification_states (notification_id, user_id, deleted)"
                       " VALUES (?2, ?1, 1)"
                       " ON CONFLICT (user_id, notification_id) DO UPDATE SET deleted = 1",
    [ST_SINCE] = SINCE_HALF("= ?1") " AS own UNION ALL " SINCE_HALF(
        "IS NULL") " AS every ORDER BY id ASC LIMIT ?4",
    [ST_NEWEST] = "SELECT COALESCE(max(id), 0) FROM notifications",
};

typedef struct sqlite_store {
    notif_store_t base;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
} sqlite_store_t;

void notif_row_clear(notif_row_t *row)
{
    free(row->user_id);
    free(row->message);
    memset(row, 0, sizeof(*row));
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(sqlite_store_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->base.err, sizeof(s->base.err), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(s->base.err))
        snprintf(s->base.err + n, sizeof(s->base.err) - (size_t)n, ": %s", sqlite3_errmsg(s->db));
    return STORE_ERROR;
}

/* Runs a statement that returns no rows, leaving it reset. */
static int step_done(sqlite_store_t *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        fail(s, "%s", statements[which]);
        sqlite3_reset(st);
        return STORE_ERROR;
    }
    sqlite3_reset(st);
    return STORE_OK;
}

static int bind_user(sqlite_store_t *s, sqlite3_stmt *st, const char *user_id)
{
    sqlite3_clear_bindings(st);
    int rc = user_id ? sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT)
                     : sqlite3_bind_null(st, 1);
    return rc == SQLITE_OK ? STORE_OK : fail(s, "bind");
}

static char *column_dup(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return NULL;
    const unsigned char *t = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    char *out = malloc((size_t)n + 1);
    if (!out) return NULL;
    memcpy(out, t, (size_t)n);
    out[n] = '\0';
    return out;
}

static int read_row(sqlite_store_t *s, sqlite3_stmt *st, notif_row_t *row)
{
    memset(row, 0, sizeof(*row));
    row->id = sqlite3_column_int64(st, 0);
    row->user_id = column_dup(st, 1);
    row->message = column_dup(st, 2);
    const char *type = (const char *)sqlite3_column_text(st, 3);
    row->type = notif_type_parse(type, type ? strlen(type) : 0);
    row->created_at_ms = sqlite3_column_int64(st, 4);
    row->read = sqlite3_column_int(st, 5) != 0;
    if (!row->message || (sqlite3_column_type(st, 1) != SQLITE_NULL && !row->user_id)) {
        notif_row_clear(row);
        snprintf(s->base.err, sizeof(s->base.err), "out of memory");
        return STORE_ERROR;
    }
    if (row->type < 0) row->type = 0; /* the CHECK constraint makes this unreachable */
    return STORE_OK;
}

/* ---- transactions ---- */

static int s_begin(notif_store_t *b)
{
    return step_done((sqlite_store_t *)b, ST_BEGIN);
}

static int s_commit(notif_store_t *b)
{
    return step_done((sqlite_store_t *)b, ST_COMMIT);
}

static int s_rollback(notif_store_t *b)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    if (sqlite3_get_autocommit(s->db)) return STORE_OK; /* already rolled back by SQLite */
    return step_done(s, ST_ROLLBACK);
}

static int s_savepoint(notif_store_t *b)
{
    return step_done((sqlite_store_t *)b, ST_SAVEPOINT);
}

static int s_release(notif_store_t *b)
{
    return step_done((sqlite_store_t *)b, ST_RELEASE);
}

static int s_rollback_to(notif_store_t *b)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    if (sqlite3_get_autocommit(s->db)) return STORE_ERROR; /* the whole transaction is gone */
    return step_done(s, ST_ROLLBACK_TO);
}

/* ---- operations ---- */

static int s_insert(notif_store_t *b, const char *user_id, const char *message, size_t message_len,
                    int type, int64_t created_at_ms, int64_t *id_out)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    sqlite3_stmt *st = s->st[ST_INSERT];
    if (type < 0 || type >= NOTIF_TYPE_COUNT) {
        snprintf(s->base.err, sizeof(s->base.err), "invalid type %d", type);
        return STORE_ERROR;
    }
    if (bind_user(s, st, user_id) != STORE_OK ||
        sqlite3_bind_text(st, 2, message, (int)message_len, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, notif_type_names[type], -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, created_at_ms) != SQLITE_OK)
        return fail(s, "insert: bind");
    int rc = step_done(s, ST_INSERT);
    sqlite3_clear_bindings(st);
    if (rc == STORE_OK) *id_out = sqlite3_last_insert_rowid(s->db);
    return rc;
}

/* Steps a bound query of rows into rows[] (at most max), resetting it. */
static int read_rows(sqlite_store_t *s, sqlite3_stmt *st, const char *what, int max,
                     notif_row_t *rows, int *n_out)
{
    int rc, n = 0, result = STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
        if (read_row(s, st, &rows[n]) != STORE_OK) {
            result = STORE_ERROR;
            break;
        }
        n++;
    }
    if (result == STORE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) result = fail(s, "%s", what);
    sqlite3_reset(st);
    if (result != STORE_OK) {
        for (int i = 0; i < n; i++)
            notif_row_clear(&rows[i]);
        return result;
    }
    *n_out = n;
    return STORE_OK;
}

static int s_list(notif_store_t *b, const char *user_id, int64_t before, int max, notif_row_t *rows,
                  int *n_out)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    sqlite3_stmt *st = s->st[ST_LIST];
    *n_out = 0;
    if (bind_user(s, st, user_id) != STORE_OK ||
        sqlite3_bind_int64(st, 2, before > 0 ? before : INT64_MAX) != SQLITE_OK ||
        sqlite3_bind_int(st, 3, max) != SQLITE_OK)
        return fail(s, "list: bind");
    return read_rows(s, st, "list", max, rows, n_out);
}

static int s_since(notif_store_t *b, const char *user_id, int64_t after, int64_t since_ms, int max,
                   notif_row_t *rows, int *n_out)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    sqlite3_stmt *st = s->st[ST_SINCE];
    *n_out = 0;
    if (bind_user(s, st, user_id) != STORE_OK || sqlite3_bind_int64(st, 2, after) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, since_ms) != SQLITE_OK ||
        sqlite3_bind_int(st, 4, max) != SQLITE_OK)
        return fail(s, "since: bind");
    return read_rows(s, st, "since", max, rows, n_out);
}

static int s_newest(notif_store_t *b, int64_t *id_out)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    sqlite3_stmt *st = s->st[ST_NEWEST];
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        fail(s, "newest");
        sqlite3_reset(st);
        return STORE_ERROR;
    }
    *id_out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return STORE_OK;
}

static int s_unread_count(notif_store_t *b, const char *user_id, int64_t *out)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    sqlite3_stmt *st = s->st[ST_UNREAD];
    if (bind_user(s, st, user_id) != STORE_OK) return STORE_ERROR;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        fail(s, "unread count");
        sqlite3_reset(st);
        return STORE_ERROR;
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return STORE_OK;
}

/* The notification id as user_id sees it, or STORE_NOT_FOUND. */
static int get_visible(sqlite_store_t *s, const char *user_id, int64_t id, notif_row_t *row)
{
    sqlite3_stmt *st = s->st[ST_GET];
    if (bind_user(s, st, user_id) != STORE_OK || sqlite3_bind_int64(st, 2, id) != SQLITE_OK)
        return fail(s, "get: bind");
    int rc = sqlite3_step(st), result;
    if (rc == SQLITE_ROW)
        result = read_row(s, st, row);
    else if (rc == SQLITE_DONE)
        result = STORE_NOT_FOUND;
    else
        result = fail(s, "get");
    sqlite3_reset(st);
    return result;
}

/* Binds (user ?1, id ?2) and runs one of the state upserts or the delete. */
static int run_user_id(sqlite_store_t *s, int which, const char *user_id, int64_t id)
{
    sqlite3_stmt *st = s->st[which];
    if (bind_user(s, st, user_id) != STORE_OK || sqlite3_bind_int64(st, 2, id) != SQLITE_OK)
        return fail(s, "bind");
    return step_done(s, which);
}

static int s_mark_read(notif_store_t *b, const char *user_id, int64_t id, notif_row_t *row)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    int rc = get_visible(s, user_id, id, row);
    if (rc != STORE_OK) return rc;
    if (!row->read && (rc = run_user_id(s, ST_SET_READ, user_id, id)) != STORE_OK) {
        notif_row_clear(row);
        return rc;
    }
    row->read = 1;
    return STORE_OK;
}

static int s_mark_all_read(notif_store_t *b, const char *user_id, int64_t *marked)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    if (bind_user(s, s->st[ST_READ_ALL], user_id) != STORE_OK) return STORE_ERROR;
    int rc = step_done(s, ST_READ_ALL);
    if (rc == STORE_OK) *marked = sqlite3_changes(s->db);
    return rc;
}

static int s_remove(notif_store_t *b, const char *user_id, int64_t id)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    notif_row_t row;
    int rc = get_visible(s, user_id, id, &row);
    if (rc != STORE_OK) return rc;
    int own = row.user_id != NULL;
    notif_row_clear(&row);
    return run_user_id(s, own ? ST_DELETE_OWN : ST_SET_DELETED, user_id, id);
}

static void s_close(notif_store_t *b)
{
    sqlite_store_t *s = (sqlite_store_t *)b;
    if (!s) return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
}

static const notif_store_ops_t sqlite_ops = {
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

/* mkdir -p of the directory part of path (nothing for a bare file name). */
static int make_parent_dirs(const char *path, char *err, size_t err_size)
{
    size_t len = strlen(path);
    char *dir = malloc(len + 1);
    if (!dir) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        free(dir);
        return 0;
    }
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            snprintf(err, err_size, "cannot create directory %s: %s", dir, strerror(errno));
            free(dir);
            return -1;
        }
        *p = saved;
        if (saved == '\0') break;
    }
    free(dir);
    return 0;
}

static int exec(sqlite_store_t *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(s->base.err, sizeof(s->base.err), "%s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* One integer out of a one-row query, or -1. */
static int64_t query_int(sqlite_store_t *s, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int migrate(sqlite_store_t *s)
{
    if (exec(s, "BEGIN IMMEDIATE") != STORE_OK) return STORE_ERROR;
    if (exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)") != STORE_OK)
        goto rollback;
    int64_t version = query_int(s, "SELECT coalesce(max(version), 0) FROM schema_version");
    if (version < 0) {
        fail(s, "reading schema_version");
        goto rollback;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(s->base.err, sizeof(s->base.err),
                 "database schema version %lld is newer than this plugin knows (%d)",
                 (long long)version, SCHEMA_VERSION);
        goto rollback;
    }
    for (int64_t v = version; v < SCHEMA_VERSION; v++) {
        if (exec(s, migrations[v]) != STORE_OK) {
            char why[sizeof(s->base.err)];
            memcpy(why, s->base.err, sizeof(why));
            snprintf(s->base.err, sizeof(s->base.err), "migration to version %lld: %.400s",
                     (long long)v + 1, why);
            goto rollback;
        }
    }
    if (version < SCHEMA_VERSION) {
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)",
                 SCHEMA_VERSION);
        if (exec(s, sql) != STORE_OK) goto rollback;
    }
    return exec(s, "COMMIT");
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return STORE_ERROR;
}

notif_store_t *notif_store_sqlite_open(const notif_sqlite_options_t *opt, char *err,
                                       size_t err_size)
{
    if (make_parent_dirs(opt->path, err, err_size) != 0) return NULL;
    sqlite_store_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    s->base.ops = &sqlite_ops;
    /* One job at a time uses the connection (see store.h), so SQLite's own mutexes
     * are not needed. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(opt->path, &s->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, err_size, "cannot open %s: %s", opt->path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        s_close(&s->base);
        return NULL;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(
        s->db, (int)(opt->busy_timeout_ms > INT32_MAX ? INT32_MAX : opt->busy_timeout_ms));
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(st, 0);
    int wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        snprintf(err, err_size, "%s: cannot switch to WAL journal mode: %s", opt->path,
                 sqlite3_errmsg(s->db));
        s_close(&s->base);
        return NULL;
    }
    if (exec(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON") != STORE_OK ||
        query_int(s, "PRAGMA foreign_keys") != 1 || migrate(s) != STORE_OK) {
        snprintf(err, err_size, "%s: %s", opt->path,
                 s->base.err[0] ? s->base.err : "cannot enable foreign keys");
        s_close(&s->base);
        return NULL;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, err_size, "%s: preparing \"%s\": %s", opt->path, statements[i],
                     sqlite3_errmsg(s->db));
            s_close(&s->base);
            return NULL;
        }
    }
    return &s->base;
}
