/* notif_db.c - iogate-notif-db: the notification stores' side of bench/notifications.sh.
 *
 *   iogate-notif-db seed DATABASE [--rows N] [--users N] [--broadcast-every N]
 *   iogate-notif-db explain DATABASE [--user ID] [--limit N]
 *
 * DATABASE is what [plugin.notifications] database takes: a SQLite path, or a
 * postgresql:// URL or libpq key=value string. seed fills an empty database fast, with
 * SQL straight into the plugin's schema (generate_series on PostgreSQL, a recursive query
 * on SQLite, one transaction each) rather than through the REST API; explain prints how
 * each store runs the list query. Exit status 0, 1 on failure, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lg_args.h"
#include "notif_db.h"
#include "../plugins/notifications/store.h"

double notif_db_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int usage(void)
{
    fprintf(stderr, "usage: iogate-notif-db seed DATABASE [--rows N] [--users N] "
                    "[--broadcast-every N]\n"
                    "       iogate-notif-db explain DATABASE [--user ID] [--limit N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3) return usage();
    const char *cmd = argv[1], *db = argv[2], *user = "u42";
    uint32_t rows = 1000000, users = 10000, every = 1009, limit = 20;
    for (int i = 3; i < argc; i += 2) {
        const char *key = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = !val;
        if (bad)
            ;
        else if (strcmp(key, "--rows") == 0)
            bad = lg_parse_u32(val, &rows, 1, 100000000);
        else if (strcmp(key, "--users") == 0)
            bad = lg_parse_u32(val, &users, 1, 100000000);
        else if (strcmp(key, "--broadcast-every") == 0)
            bad = lg_parse_u32(val, &every, 1, 100000000);
        else if (strcmp(key, "--limit") == 0)
            bad = lg_parse_u32(val, &limit, 1, 100);
        else if (strcmp(key, "--user") == 0)
            user = val;
        else
            bad = 1;
        if (bad) return usage();
    }
    int pg = notif_store_pg_is_conninfo(db);
    if (strcmp(cmd, "seed") == 0) {
        notif_seed_t seed = {rows, users, every};
        return (pg ? notif_db_pg_seed(db, &seed) : notif_db_sqlite_seed(db, &seed)) ? 1 : 0;
    }
    if (strcmp(cmd, "explain") == 0)
        return (pg ? notif_db_pg_explain(db, user, (int)limit)
                   : notif_db_sqlite_explain(db, user, (int)limit))
                   ? 1
                   : 0;
    return usage();
}
