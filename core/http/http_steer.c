/* http_steer.c - which worker process a request belongs to, decided from its request
 * line before it is parsed, and the hand-off of its connection to that worker.
 *
 * Only a request at the start of an idle connection moves: nothing is owed to the client
 * on it any more, so from then on it reads the other worker's answers only. */
#include <string.h>

#include "http/http_internal.h"

/* The target of a request line "METHOD SP target SP version", or NULL if the line does not
 * have that shape (the parser will say what is wrong with it). */
static const char *line_target(const char *line, size_t len, size_t *target_len)
{
    const char *sp = memchr(line, ' ', len);
    if (!sp) return NULL;
    const char *target = sp + 1;
    const char *end = memchr(target, ' ', (size_t)(line + len - target));
    if (!end || end == target) return NULL;
    *target_len = (size_t)(end - target);
    return target;
}

http_steer_result_t http_conn_steer(http_conn_t *c, const char **data, size_t *len)
{
    http_server_t *s = c->server;
    http_parse_state_t *st = c->http;
    if (st->steered) {
        st->steered = 0; /* an adopted connection's first request stays */
        return HTTP_STEER_PARSE;
    }
    if (!s->steering.steer || st->current || st->head || c->out_last) return HTTP_STEER_PARSE;
    const char *bytes = *data;
    size_t n = *len;
    if (st->line_in.len) {
        buf_append(&st->line_in, bytes, n);
        bytes = (const char *)st->line_in.data;
        n = st->line_in.len;
    }
    *data = bytes;
    *len = n;
    const char *nl = memchr(bytes, '\n', n);
    if (!nl) {
        /* No session's request line is this long: the parser decides about it. */
        if (n >= HTTP_STEER_LINE_MAX) return HTTP_STEER_PARSE;
        if (!st->line_in.len) buf_append(&st->line_in, bytes, n);
        return HTTP_STEER_WAIT;
    }
    size_t target_len = 0;
    const char *target = line_target(bytes, (size_t)(nl - bytes), &target_len);
    int worker = target ? s->steering.steer(s->steering.user, target, target_len) : -1;
    if (worker < 0 || n > HTTP_HANDOFF_MAX_BYTES) return HTTP_STEER_PARSE;
    if (s->steering.hand_off(s->steering.user, worker, c->fd, bytes, n) != 0)
        return HTTP_STEER_REFUSE;
    s->stats.handed_off++;
    buf_free(&st->line_in);
    /* The descriptor travels on: closing this process's copy leaves the peer connected. */
    http_conn_force_close(c);
    return HTTP_STEER_GONE;
}
