/* notif_db_pg.c - iogate-notif-db on PostgreSQL: the plugin's store compiled in, so the
 * schema is made by its migrations (under their advisory lock) and the statements
 * explained are the ones it prepared on its connection. The plan shown is EXPLAIN
 * (ANALYZE, BUFFERS) of EXECUTE after five runs of the statement, when the server has
 * settled between a custom and a generic plan, as it has for a connection in service. */
#include "../plugins/notifications/store_pg.c"

#include "notif_db.h"

static pg_store_t *open_store(const char *conninfo)
{
    char msg[1100] = ""; /* where and the server's message, each up to 511 bytes */
    notif_pg_options_t opt = {conninfo, 0};
    notif_store_t *s = notif_store_pg_open(&opt, 1, msg, sizeof(msg));
    if (!s) fprintf(stderr, "iogate-notif-db: %s\n", msg);
    return (pg_store_t *)s;
}

/* The first value of the first row of sql, or -1 (with a message on stderr). */
static int64_t query_int(pg_store_t *s, const char *sql)
{
    PGresult *res = PQexec(s->conn, sql);
    int64_t v = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        fprintf(stderr, "iogate-notif-db: %s: %s", sql, PQerrorMessage(s->conn));
    PQclear(res);
    return v;
}

int notif_db_pg_seed(const char *conninfo, const notif_seed_t *seed)
{
    pg_store_t *s = open_store(conninfo);
    if (!s) return -1;
    int64_t have = query_int(s, "SELECT count(*) FROM notifications");
    if (have != 0) {
        fprintf(stderr, "iogate-notif-db: %s holds %lld notifications already\n", s->where,
                (long long)have);
        s_close(&s->base);
        return -1;
    }
    char sql[1024];
    snprintf(
        sql, sizeof(sql),
        "BEGIN;"
        "INSERT INTO notifications (user_id, message, type, created_at_ms)"
        " SELECT CASE WHEN g %% %lld = 0 THEN NULL ELSE 'u' || (g %% %lld) END,"
        " 'seeded notification ' || g,"
        " (ARRAY['notification','info','warning','error','success'])[1 + g %% 5],"
        " 1767225600000 + g * 1000 FROM generate_series(1, %lld) g ORDER BY g;"
        "INSERT INTO notification_states (notification_id, user_id, read)"
        " SELECT id, user_id, true FROM notifications WHERE user_id IS NOT NULL AND id %% 3 = 0;"
        "COMMIT",
        (long long)seed->broadcast_every, (long long)seed->users, (long long)seed->rows);
    double t0 = notif_db_now_ms();
    if (exec(s, sql) != STORE_OK) {
        fprintf(stderr, "iogate-notif-db: seeding %s: %s\n", s->where, s->base.err);
        s_close(&s->base);
        return -1;
    }
    double stored = notif_db_now_ms();
    /* What autovacuum would do soon after such a load: statistics and the visibility map. */
    if (exec(s, "VACUUM ANALYZE notifications") != STORE_OK ||
        exec(s, "VACUUM ANALYZE notification_states") != STORE_OK) {
        fprintf(stderr, "iogate-notif-db: %s\n", s->base.err);
        s_close(&s->base);
        return -1;
    }
    printf("PostgreSQL %s: %lld notifications (%lld read states) stored in one transaction in "
           "%.1f s, VACUUM ANALYZE %.1f s\n",
           s->where, (long long)query_int(s, "SELECT count(*) FROM notifications"),
           (long long)query_int(s, "SELECT count(*) FROM notification_states"),
           (stored - t0) / 1000, (notif_db_now_ms() - stored) / 1000);
    s_close(&s->base);
    return 0;
}

/* Runs statement `which` five times, then prints EXPLAIN (ANALYZE, BUFFERS) of the sixth.
 * Returns the id of row limit - 1 of the result (the next page's cursor), 0 if none. */
static int64_t explain(pg_store_t *s, int which, const char *user, int64_t before, int limit)
{
    char before_s[24], limit_s[16];
    snprintf(before_s, sizeof(before_s), "%lld", (long long)before);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    const char *params[3] = {user, before_s, limit_s};
    int64_t cursor = 0;
    for (int i = 0; i < 5; i++) {
        PGresult *res = PQexecPrepared(s->conn, statements[which].name, statements[which].nparams,
                                       params, NULL, NULL, 0);
        if (which == ST_LIST && PQresultStatus(res) == PGRES_TUPLES_OK &&
            PQntuples(res) >= limit - 1)
            cursor = strtoll(PQgetvalue(res, limit - 2, 0), NULL, 10);
        PQclear(res);
    }
    char *lit = PQescapeLiteral(s->conn, user, strlen(user));
    char sql[256];
    if (which == ST_LIST)
        snprintf(sql, sizeof(sql), "EXPLAIN (ANALYZE, BUFFERS) EXECUTE %s(%s, %s, %s)",
                 statements[which].name, lit ? lit : "NULL", before_s, limit_s);
    else
        snprintf(sql, sizeof(sql), "EXPLAIN (ANALYZE, BUFFERS) EXECUTE %s(%s)",
                 statements[which].name, lit ? lit : "NULL");
    PQfreemem(lit);
    PGresult *res = PQexec(s->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        printf("    (no plan: %s)\n", PQerrorMessage(s->conn));
    for (int i = 0; i < PQntuples(res); i++)
        printf("    %s\n", PQgetvalue(res, i, 0));
    PQclear(res);
    char cache[160];
    snprintf(cache, sizeof(cache),
             "SELECT generic_plans || ' generic, ' || custom_plans || ' custom' FROM "
             "pg_prepared_statements WHERE name = '%s'",
             statements[which].name);
    res = PQexec(s->conn, cache);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        printf("  plans this connection used for it so far: %s\n", PQgetvalue(res, 0, 0));
    PQclear(res);
    return cursor;
}

int notif_db_pg_explain(const char *conninfo, const char *user, int limit)
{
    pg_store_t *s = open_store(conninfo);
    if (!s) return -1;
    printf("PostgreSQL %s: %lld notifications\n", s->where,
           (long long)query_int(s, "SELECT count(*) FROM notifications"));
    printf("list, user %s, first page (GET /notifications?limit=%d asks for %d rows):\n", user,
           limit, limit + 1);
    int64_t cursor = explain(s, ST_LIST, user, INT64_MAX, limit + 1);
    printf("list, user %s, the next page (before id %lld):\n", user, (long long)cursor);
    explain(s, ST_LIST, user, cursor, limit + 1);
    printf("unread count, user %s (the same GET also runs it):\n", user);
    explain(s, ST_UNREAD, user, 0, 0);
    s_close(&s->base);
    return 0;
}
