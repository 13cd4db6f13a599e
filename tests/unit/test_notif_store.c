/* test_notif_store.c - the notifications plugin's SQLite store through its
 * interface (store.h): visibility, per-user read and deleted state, pagination,
 * what a reconnecting client missed (since), that the list and that query are read
 * along an index (EXPLAIN QUERY PLAN, and a number of VM steps that does not grow with
 * the user's rows), and that a database of a newer schema is refused. The plugin's files
 * are compiled in directly (plugins never link into the core). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Before cmocka.h, whose fail() macro would rename the store's own fail(). */
#include "../../plugins/notifications/notif_util.c"
#include "../../plugins/notifications/store_sqlite.c"

#include <cmocka.h>

typedef struct fixture {
    char dir[64];
    char path[96];
    notif_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/iogate-notif-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/n.db", f->dir);
    char err[256] = "";
    notif_sqlite_options_t opt = {f->path, 1000};
    f->store = notif_store_sqlite_open(&opt, err, sizeof(err));
    if (!f->store) fail_msg("open: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    f->store->ops->close(f->store);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t insert(notif_store_t *s, const char *user, const char *message)
{
    int64_t id = 0;
    assert_int_equal(s->ops->insert(s, user, message, strlen(message), 1, 1000, &id), STORE_OK);
    assert_true(id > 0);
    return id;
}

/* The ids of one page of user's list. */
static int list_ids(notif_store_t *s, const char *user, int64_t before, int max, int64_t *ids)
{
    notif_row_t rows[128];
    int n = -1;
    assert_int_equal(s->ops->list(s, user, before, max, rows, &n), STORE_OK);
    for (int i = 0; i < n; i++) {
        ids[i] = rows[i].id;
        notif_row_clear(&rows[i]);
    }
    return n;
}

static void visibility_and_state(void **state)
{
    fixture_t *f = *state;
    notif_store_t *s = f->store;
    assert_int_equal(s->ops->begin(s), STORE_OK);
    int64_t a1 = insert(s, "ann", "one");
    int64_t b = insert(s, NULL, "everyone");
    int64_t z = insert(s, "zoe", "hers");
    int64_t a2 = insert(s, "ann", "two");
    assert_int_equal(s->ops->commit(s), STORE_OK);

    int64_t ids[8];
    assert_int_equal(list_ids(s, "ann", 0, 8, ids), 3);
    assert_true(ids[0] == a2 && ids[1] == b && ids[2] == a1);
    int64_t unread = -1;
    assert_int_equal(s->ops->unread_count(s, "ann", &unread), STORE_OK);
    assert_int_equal(unread, 3);

    notif_row_t row;
    assert_int_equal(s->ops->mark_read(s, "ann", z, &row), STORE_NOT_FOUND);
    assert_int_equal(s->ops->mark_read(s, "ann", b, &row), STORE_OK);
    assert_true(row.read && row.user_id == NULL && strcmp(row.message, "everyone") == 0);
    notif_row_clear(&row);
    assert_int_equal(s->ops->unread_count(s, "ann", &unread), STORE_OK);
    assert_int_equal(unread, 2);
    assert_int_equal(s->ops->unread_count(s, "zoe", &unread), STORE_OK);
    assert_int_equal(unread, 2); /* her own and the broadcast: read state is per user */

    assert_int_equal(s->ops->remove(s, "ann", b), STORE_OK);
    assert_int_equal(s->ops->remove(s, "ann", b), STORE_NOT_FOUND);
    assert_int_equal(list_ids(s, "ann", 0, 8, ids), 2);
    assert_int_equal(list_ids(s, "zoe", 0, 8, ids), 2);
    int64_t marked = -1;
    assert_int_equal(s->ops->mark_all_read(s, "ann", &marked), STORE_OK);
    assert_int_equal(marked, 2);
    assert_int_equal(s->ops->unread_count(s, "ann", &unread), STORE_OK);
    assert_int_equal(unread, 0);
}

static void pages(void **state)
{
    fixture_t *f = *state;
    notif_store_t *s = f->store;
    int64_t expect[30], got[40];
    int n_expect = 0, n_got = 0, n;
    for (int i = 0; i < 30; i++) {
        int64_t id = insert(s, i % 3 == 0 ? NULL : i % 3 == 1 ? "pat" : "other", "m");
        if (i % 3 != 2) expect[n_expect++] = id;
    }
    int64_t before = 0;
    while ((n = list_ids(s, "pat", before, 7, got + n_got)) > 0) {
        assert_true(n_got + n <= n_expect);
        n_got += n;
        before = got[n_got - 1];
    }
    assert_int_equal(n_got, n_expect);
    for (int i = 0; i < n_got; i++)
        assert_int_equal(got[i], expect[n_expect - 1 - i]); /* newest first, each once */
}

/* The list reads at most a page of each half along the index: a user with 20,000
 * rows costs what a user with 20 costs. */
static void list_follows_the_index(void **state)
{
    fixture_t *f = *state;
    notif_store_t *s = f->store;
    sqlite_store_t *ss = (sqlite_store_t *)s;
    assert_int_equal(s->ops->begin(s), STORE_OK);
    for (int i = 0; i < 20000; i++) {
        insert(s, "big", "m");
        if (i % 1000 == 0) insert(s, "small", "m");
        if (i % 100 == 0) insert(s, NULL, "b");
    }
    assert_int_equal(s->ops->commit(s), STORE_OK);

    sqlite3_stmt *plan;
    char sql[2048];
    snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", statements[ST_LIST]);
    assert_int_equal(sqlite3_prepare_v2(ss->db, sql, -1, &plan, NULL), SQLITE_OK);
    int index_searches = 0;
    while (sqlite3_step(plan) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(plan, 3);
        print_message("plan: %s\n", detail);
        assert_null(strstr(detail, "MULTI-INDEX OR"));
        assert_null(strstr(detail, "SCAN n"));
        if (strstr(detail, "SEARCH n USING INDEX notifications_by_user (user_id=? AND id<?)"))
            index_searches++;
    }
    sqlite3_finalize(plan);
    assert_int_equal(index_searches, 2);

    int64_t ids[32], steps[2];
    const char *users[2] = {"small", "big"};
    for (int u = 0; u < 2; u++) {
        sqlite3_stmt_status(ss->st[ST_LIST], SQLITE_STMTSTATUS_VM_STEP, 1);
        assert_int_equal(list_ids(s, users[u], 0, 21, ids), 21);
        steps[u] = sqlite3_stmt_status(ss->st[ST_LIST], SQLITE_STMTSTATUS_VM_STEP, 1);
        assert_int_equal(sqlite3_stmt_status(ss->st[ST_LIST], SQLITE_STMTSTATUS_FULLSCAN_STEP, 0),
                         0);
    }
    print_message("VM steps for a page of 21: %lld (20 own rows), %lld (20,000 own rows)\n",
                  (long long)steps[0], (long long)steps[1]);
    assert_true(steps[1] < 2 * steps[0] + 1000);
}

/* A database migrated by a newer plugin is refused with a clear message, and left as it
 * was; reopened as the version this plugin knows, it opens again. */
static void newer_schema_is_refused(void **state)
{
    fixture_t *f = *state;
    sqlite_store_t *ss = (sqlite_store_t *)f->store;
    char sql[96];
    snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d", SCHEMA_VERSION + 1);
    assert_int_equal(exec(ss, sql), STORE_OK);
    char err[256] = "";
    notif_sqlite_options_t opt = {f->path, 1000};
    assert_null(notif_store_sqlite_open(&opt, err, sizeof(err)));
    char want[128];
    snprintf(want, sizeof(want), "database schema version %d is newer than this plugin knows (%d)",
             SCHEMA_VERSION + 1, SCHEMA_VERSION);
    if (!strstr(err, want) || !strstr(err, f->path)) fail_msg("message '%s'", err);
    assert_int_equal(query_int(ss, "SELECT version FROM schema_version"), SCHEMA_VERSION + 1);
    snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d", SCHEMA_VERSION);
    assert_int_equal(exec(ss, sql), STORE_OK);
    notif_store_t *again = notif_store_sqlite_open(&opt, err, sizeof(err));
    assert_non_null(again);
    again->ops->close(again);
}

/* The ids a reconnecting client of user missed after `after` (or since since_ms). */
static int since_ids(notif_store_t *s, const char *user, int64_t after, int64_t since_ms, int max,
                     int64_t *ids)
{
    notif_row_t rows[64];
    int n = -1;
    assert_int_equal(s->ops->since(s, user, after, since_ms, max, rows, &n), STORE_OK);
    for (int i = 0; i < n; i++) {
        ids[i] = rows[i].id;
        notif_row_clear(&rows[i]);
    }
    return n;
}

/* What a reconnecting client missed: its own and the broadcasts after its cursor, oldest
 * first, not those it deleted, nobody else's; or, without a cursor, since a time. */
static void since_a_cursor(void **state)
{
    fixture_t *f = *state;
    notif_store_t *s = f->store;
    int64_t newest = -1;
    assert_int_equal(s->ops->newest(s, &newest), STORE_OK);
    assert_int_equal(newest, 0);
    int64_t seen = insert(s, "ann", "seen");
    int64_t mine = insert(s, "ann", "missed");
    insert(s, "zoe", "hers");
    int64_t every = insert(s, NULL, "everyone");
    int64_t deleted = insert(s, "ann", "deleted");
    int64_t deleted_b = insert(s, NULL, "deleted broadcast");
    int64_t last = 0;
    assert_int_equal(s->ops->insert(s, "ann", "later", 5, 1, 5000, &last), STORE_OK);
    assert_int_equal(s->ops->remove(s, "ann", deleted), STORE_OK);
    assert_int_equal(s->ops->remove(s, "ann", deleted_b), STORE_OK);
    assert_int_equal(s->ops->newest(s, &newest), STORE_OK);
    assert_int_equal(newest, last);

    int64_t ids[16];
    assert_int_equal(since_ids(s, "ann", seen, 0, 16, ids), 3);
    assert_true(ids[0] == mine && ids[1] == every && ids[2] == last);
    assert_int_equal(since_ids(s, "ann", seen, 0, 2, ids), 2); /* at most max */
    assert_int_equal(since_ids(s, "ann", last, 0, 16, ids), 0);
    /* No cursor: created since a time (the rows above were made at 1000 ms, the last at 5000). */
    assert_int_equal(since_ids(s, "ann", 0, 2000, 16, ids), 1);
    assert_int_equal(ids[0], last);
    assert_int_equal(since_ids(s, "ann", 0, 0, 16, ids), 4);
}

/* From a cursor, the query reads forwards along the index, not the user's whole history. */
static void since_follows_the_index(void **state)
{
    fixture_t *f = *state;
    sqlite_store_t *ss = (sqlite_store_t *)f->store;
    sqlite3_stmt *plan;
    char sql[2048];
    snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", statements[ST_SINCE]);
    assert_int_equal(sqlite3_prepare_v2(ss->db, sql, -1, &plan, NULL), SQLITE_OK);
    int index_searches = 0;
    while (sqlite3_step(plan) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(plan, 3);
        print_message("plan: %s\n", detail);
        assert_null(strstr(detail, "SCAN n"));
        if (strstr(detail, "SEARCH n USING INDEX notifications_by_user (user_id=? AND id>?)"))
            index_searches++;
    }
    sqlite3_finalize(plan);
    assert_int_equal(index_searches, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(visibility_and_state, setup, teardown),
        cmocka_unit_test_setup_teardown(pages, setup, teardown),
        cmocka_unit_test_setup_teardown(list_follows_the_index, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(since_a_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(since_follows_the_index, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
