/* store.h - where notifications live: a small interface of the plugin with two
 * implementations, SQLite (store_sqlite.c, one file) and PostgreSQL (store_pg.c,
 * several nodes on one database), so the routes never know which one runs.
 *
 * Threading: a store (one connection) is used by one thread at a time, never
 * concurrently (the plugin runs a batch of jobs on a worker thread per store, see
 * notifications.c); it may move between threads from one batch to the next.
 * Transactions: the plugin brackets each batch of jobs in begin()/commit() and
 * each job in savepoint()/release() (rollback_to() undoes one failed job).
 * Results: STORE_OK, STORE_NOT_FOUND (nothing visible to that user with that id),
 * STORE_UNAVAILABLE (the database cannot answer now, a retry later may succeed: the
 * transaction is gone) or STORE_ERROR, both with a message in store->err. */
#ifndef NOTIF_STORE_H
#define NOTIF_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_OK 0
#define STORE_NOT_FOUND 1
#define STORE_ERROR (-1)
#define STORE_UNAVAILABLE (-2)

/* One notification as one user sees it. Strings are malloc'd, freed by
 * notif_row_clear(). */
typedef struct notif_row {
    int64_t id;
    char *user_id; /* NULL: a notification for every user */
    char *message;
    int type; /* index into notif_type_names */
    int64_t created_at_ms;
    int read; /* for the user who asked */
} notif_row_t;

void notif_row_clear(notif_row_t *row);

typedef struct notif_store notif_store_t;

typedef struct notif_store_ops {
    void (*close)(notif_store_t *s);
    int (*begin)(notif_store_t *s);
    int (*commit)(notif_store_t *s);
    int (*rollback)(notif_store_t *s);
    int (*savepoint)(notif_store_t *s);
    int (*release)(notif_store_t *s);
    int (*rollback_to)(notif_store_t *s);
    /* Stores a notification for user_id (NULL: for every user, stored once); sets
     * *id_out. message is message_len bytes of UTF-8. */
    int (*insert)(notif_store_t *s, const char *user_id, const char *message, size_t message_len,
                  int type, int64_t created_at_ms, int64_t *id_out);
    /* The user's own and broadcast notifications not deleted by them, with id < before
     * (0: no bound), newest first, at most max rows into rows[] (caller's array). */
    int (*list)(notif_store_t *s, const char *user_id, int64_t before, int max, notif_row_t *rows,
                int *n_out);
    /* Visible notifications the user has not read. */
    int (*unread_count)(notif_store_t *s, const char *user_id, int64_t *out);
    /* Marks one visible notification read for the user and fills *row; STORE_NOT_FOUND
     * when it does not exist, belongs to another user or was deleted by this one. */
    int (*mark_read)(notif_store_t *s, const char *user_id, int64_t id, notif_row_t *row);
    /* Marks every visible unread notification read; *marked counts them. */
    int (*mark_all_read)(notif_store_t *s, const char *user_id, int64_t *marked);
    /* Removes a notification from the user's list (STORE_NOT_FOUND as mark_read). */
    int (*remove)(notif_store_t *s, const char *user_id, int64_t id);
    /* What a reconnecting client of user_id missed (connection state recovery): its own and
     * broadcast notifications not deleted by it, with id > after and created_at_ms >= since_ms,
     * oldest first, at most max rows into rows[]. */
    int (*since)(notif_store_t *s, const char *user_id, int64_t after, int64_t since_ms, int max,
                 notif_row_t *rows, int *n_out);
    /* The greatest id stored (0 when none), outside any transaction: at start. */
    int (*newest)(notif_store_t *s, int64_t *id_out);
} notif_store_ops_t;

struct notif_store {
    const notif_store_ops_t *ops;
    char err[512];
};

typedef struct notif_sqlite_options {
    const char *path;
    int64_t busy_timeout_ms;
} notif_sqlite_options_t;

/* Opens (creating it and its directory if needed) the SQLite database, sets WAL,
 * synchronous=FULL and foreign keys, and migrates the schema. NULL on failure with
 * a message in err. Blocking: call it at init or on a worker thread. */
notif_store_t *notif_store_sqlite_open(const notif_sqlite_options_t *opt, char *err,
                                       size_t err_size);

typedef struct notif_pg_options {
    const char *conninfo; /* a postgresql:// or postgres:// URL, or libpq's key=value form */
    int64_t statement_timeout_ms; /* 0: none */
} notif_pg_options_t;

/* 1 when database names a PostgreSQL server rather than a SQLite file. */
int notif_store_pg_is_conninfo(const char *database);

/* Reads a connection string without connecting: libpq's parser, then the values libpq
 * would refuse only when connecting (port, sslmode and the other enumerations, timeouts,
 * ports per host). Returns 0 with where the server is in out ("host H port P database D",
 * then user and sslmode when given; never the password), or -1 with the problem in out,
 * naming the key. */
int notif_store_pg_describe(const char *conninfo, char *out, size_t out_size);

/* One PostgreSQL connection (store_pg.c). connect: connect now and migrate the schema
 * (blocking: at init), else the first begin() connects (on a worker thread). NULL on
 * failure with the reason in msg (naming the server, never the password); on success
 * msg says where it connected and whether it migrated, for the log. A store whose
 * connection is lost connects again at its next begin(). */
notif_store_t *notif_store_pg_open(const notif_pg_options_t *opt, int connect, char *msg,
                                   size_t msg_size);

#endif
