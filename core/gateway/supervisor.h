/* supervisor.h - [server] workers > 1: one supervising process starts that many workers,
 * each a whole node of the fleet with its own loop, all listening on one port
 * (SO_REUSEPORT); it restarts a worker that dies and stops them all on SIGTERM/SIGINT. */
#ifndef IOGATE_SUPERVISOR_H
#define IOGATE_SUPERVISOR_H

#include "config/config.h"

/* What a worker is told about its place among the others. */
typedef struct worker_slot {
    unsigned index, count; /* this worker's index, of count (> 1) */
    int port;              /* the port every worker listens on, resolved once */
    int inbox_fd;          /* receive end of the channel other workers hand connections on */
    const int *outbox_fds; /* send ends of every worker's channel, by index */
    int ready_fd;          /* written once this worker listens, then closed */
} worker_slot_t;

/* Runs a worker: a server with its loop, returning its exit code. */
typedef int (*worker_main_fn)(const config_t *cfg, const worker_slot_t *slot);

/* How many workers cfg asks for: [server] workers, or one per CPU for "auto". */
unsigned supervisor_worker_count(const config_t *cfg);
/* Starts the workers and supervises them until they have stopped; returns the process's
 * exit code: 0 after a clean stop, 1 when a worker could not start or had to be killed. */
int supervisor_run(const config_t *cfg, worker_main_fn run_worker);

#endif
