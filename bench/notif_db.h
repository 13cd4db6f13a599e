/* notif_db.h - what iogate-notif-db (bench/notif_db.c) asks of each notification store:
 * seed a database with many notifications through the plugin's own schema, and show how
 * the store runs the list query. Each store's part compiles that store's source in
 * (notif_db_sqlite.c, notif_db_pg.c), so the statements shown are the plugin's own. */
#ifndef IOGATE_NOTIF_DB_H
#define IOGATE_NOTIF_DB_H

#include <stdint.h>

/* What to store: rows notifications; row g (1..rows) is a broadcast when g is a multiple
 * of broadcast_every, else user "u" (g mod users)'s; every third of the users' rows is
 * read. */
typedef struct notif_seed {
    int64_t rows;
    int64_t users;
    int64_t broadcast_every;
} notif_seed_t;

/* Opens the database through the store (which creates or migrates the schema), refuses
 * one that holds notifications already, and stores seed in one transaction, then lets the
 * database gather statistics as it would in service (PostgreSQL's ANALYZE). Returns 0, or
 * -1 with a message on stderr. Prints what it did and how long it took. */
int notif_db_sqlite_seed(const char *path, const notif_seed_t *seed);
int notif_db_pg_seed(const char *conninfo, const notif_seed_t *seed);

/* Prints the plan of the list query for user's first page of limit rows and for the page
 * after it (the cursor), run as the store runs it, and the plan of the unread count that
 * the same GET runs. Returns 0, or -1 with a message on stderr. */
int notif_db_sqlite_explain(const char *path, const char *user, int limit);
int notif_db_pg_explain(const char *conninfo, const char *user, int limit);

/* Monotonic milliseconds. */
double notif_db_now_ms(void);

#endif
