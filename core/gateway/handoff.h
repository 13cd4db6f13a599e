/* handoff.h - the channel on which a worker gives a connection to the worker that holds the
 * session it is for: the descriptor (SCM_RIGHTS) and the bytes already read, on a Unix
 * datagram socket per worker that the supervisor made before starting them. */
#ifndef IOGATE_HANDOFF_H
#define IOGATE_HANDOFF_H

#include <uv.h>

#include "gateway/supervisor.h"
#include "http/http.h"

typedef struct handoff handoff_t;

/* Starts taking the connections other workers send to this one into http. NULL with err
 * when the inbox cannot be polled. */
handoff_t *handoff_new(uv_loop_t *loop, const worker_slot_t *slot, http_server_t *http, char *err,
                       size_t err_size);
/* Sends a connection to worker `worker`: 0 once it is queued there (the caller may close its
 * copy of fd), -1 if it could not be (that worker's queue is full). */
int handoff_send(handoff_t *h, unsigned worker, int fd, const char *bytes, size_t len);
/* Stops taking connections (shutdown); the handle closes on the loop. */
void handoff_close(handoff_t *h);
/* Frees it, after handoff_close() and the loop's end. */
void handoff_free(handoff_t *h);

#endif
