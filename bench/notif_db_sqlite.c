/* notif_db_sqlite.c - iogate-notif-db on SQLite: the plugin's store compiled in (as
 * tests/unit/test_notif_store.c does), so the schema is made by its migrations and the
 * list statement shown is its own. SQLite has no EXPLAIN ANALYZE: the plan is EXPLAIN
 * QUERY PLAN, and the run is measured with the statement's counters (virtual machine
 * steps, full-scan steps, sorts). */
#include "../plugins/notifications/store_sqlite.c"

#include "notif_db.h"

static sqlite_store_t *open_store(const char *path)
{
    char err[512] = "";
    notif_sqlite_options_t opt = {path, 5000};
    notif_store_t *s = notif_store_sqlite_open(&opt, err, sizeof(err));
    if (!s) fprintf(stderr, "iogate-notif-db: %s\n", err);
    return (sqlite_store_t *)s;
}

static int64_t count_rows(sqlite_store_t *s)
{
    return query_int(s, "SELECT count(*) FROM notifications");
}

int notif_db_sqlite_seed(const char *path, const notif_seed_t *seed)
{
    sqlite_store_t *s = open_store(path);
    if (!s) return -1;
    int64_t have = count_rows(s);
    if (have != 0) {
        fprintf(stderr, "iogate-notif-db: %s holds %lld notifications already\n", path,
                (long long)have);
        s_close(&s->base);
        return -1;
    }
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "BEGIN;"
             "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < %lld)"
             " INSERT INTO notifications (user_id, message, type, created_at_ms)"
             " SELECT CASE WHEN x %% %lld = 0 THEN NULL ELSE 'u' || (x %% %lld) END,"
             " 'seeded notification ' || x,"
             " CASE x %% 5 WHEN 0 THEN 'notification' WHEN 1 THEN 'info' WHEN 2 THEN 'warning'"
             " WHEN 3 THEN 'error' ELSE 'success' END,"
             " 1767225600000 + x * 1000 FROM g;"
             "INSERT INTO notification_states (notification_id, user_id, read)"
             " SELECT id, user_id, 1 FROM notifications WHERE user_id IS NOT NULL AND id %% 3 = 0;"
             "COMMIT",
             (long long)seed->rows, (long long)seed->broadcast_every, (long long)seed->users);
    double t0 = notif_db_now_ms();
    int rc = exec(s, sql);
    if (rc != STORE_OK) {
        fprintf(stderr, "iogate-notif-db: seeding %s: %s\n", path, s->base.err);
        s_close(&s->base);
        return -1;
    }
    printf("SQLite %s: %lld notifications (%lld read states) stored in one transaction in "
           "%.1f s\n",
           path, (long long)count_rows(s),
           (long long)query_int(s, "SELECT count(*) FROM notification_states"),
           (notif_db_now_ms() - t0) / 1000);
    s_close(&s->base);
    return 0;
}

/* Prints EXPLAIN QUERY PLAN of sql as a tree. */
static void print_plan(sqlite_store_t *s, const char *sql)
{
    char *text = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *plan = NULL;
    if (!text || sqlite3_prepare_v2(s->db, text, -1, &plan, NULL) != SQLITE_OK) {
        printf("    (no plan: %s)\n", sqlite3_errmsg(s->db));
        sqlite3_free(text);
        return;
    }
    int ids[64], depth[64], n = 0;
    while (sqlite3_step(plan) == SQLITE_ROW) {
        int id = sqlite3_column_int(plan, 0), parent = sqlite3_column_int(plan, 1), d = 0;
        for (int i = 0; i < n; i++)
            if (ids[i] == parent) d = depth[i] + 1;
        if (n < 64) {
            ids[n] = id;
            depth[n++] = d;
        }
        printf("    %*s%s\n", 2 * d, "", (const char *)sqlite3_column_text(plan, 3));
    }
    sqlite3_finalize(plan);
    sqlite3_free(text);
}

/* Runs statement `which` (bound: user, before, limit) as the store would and prints its
 * counters. Returns the id of the last row of the page shown, limit - 1 rows (the plugin
 * asks for one more to know whether a next page exists): the next page's cursor. */
static int64_t run_measured(sqlite_store_t *s, int which, const char *user, int64_t before,
                            int limit)
{
    sqlite3_stmt *st = s->st[which];
    sqlite3_reset(st);
    bind_user(s, st, user);
    if (which == ST_LIST) {
        sqlite3_bind_int64(st, 2, before);
        sqlite3_bind_int(st, 3, limit);
    }
    /* Reset the counters. */
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_SORT, 1);
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
    double t0 = notif_db_now_ms();
    int rows = 0;
    int64_t cursor = 0, value = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        value = sqlite3_column_int64(st, 0);
        if (++rows == limit - 1) cursor = value;
    }
    double ms = notif_db_now_ms() - t0;
    sqlite3_reset(st);
    if (which == ST_LIST)
        printf("  ran: %d rows in %.3f ms; %d virtual machine steps, %d full-scan steps, %d "
               "sorts (to merge the two halves: each of one page, at most %d rows)\n",
               rows, ms, sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0),
               sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0),
               sqlite3_stmt_status(st, SQLITE_STMTSTATUS_SORT, 0), limit);
    else
        printf("  ran: count %lld in %.3f ms; %d virtual machine steps, %d full-scan steps\n",
               (long long)value, ms, sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0),
               sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0));
    return cursor;
}

int notif_db_sqlite_explain(const char *path, const char *user, int limit)
{
    sqlite_store_t *s = open_store(path);
    if (!s) return -1;
    printf("SQLite %s: %lld notifications\n", path, (long long)count_rows(s));
    printf("list, user %s, first page (GET /notifications?limit=%d asks for %d rows):\n", user,
           limit, limit + 1);
    print_plan(s, statements[ST_LIST]);
    int64_t cursor = run_measured(s, ST_LIST, user, INT64_MAX, limit + 1);
    /* The plugin's cursor is the last row of the page, the extra one not shown. */
    printf("list, user %s, the next page (before id %lld):\n", user, (long long)cursor);
    run_measured(s, ST_LIST, user, cursor, limit + 1);
    printf("unread count, user %s (the same GET also runs it):\n", user);
    print_plan(s, statements[ST_UNREAD]);
    run_measured(s, ST_UNREAD, user, 0, 0);
    s_close(&s->base);
    return 0;
}
