/* eio_polling.c - Engine.IO's HTTP long-polling transport (engine.io's
 * transports/polling.ts): the pending GET that output waits for, and the POSTed
 * payloads of packets. A session holds at most one GET; it is answered with
 * everything queued once there is something to send.
 *
 * Ownership: the pending GET belongs to the HTTP connection; the session only
 * points at it, and an abort callback lets go of it when the client leaves. */
#include <string.h>

#include "base/base64.h"
#include "base/log.h"
#include "eio/eio_internal.h"

/* The body of Engine.IO's error 3 ("Bad request"), answered as is where no other code
 * can apply. */
#define BAD_REQUEST_BODY "{\"code\":3,\"message\":\"Bad request\"}"

static size_t out_len(const eio_out_t *o)
{
    return o->data->len;
}

/* Answers the pending GET with everything queued (and extra, if given). */
void eio_poll_flush(eio_socket_t *s, rbuf_t *extra)
{
    http_request_t *req = s->poll;
    if (!req) return;
    s->poll = NULL;
    http_request_on_abort(req, NULL, NULL);
    buf_t payload = BUF_INIT;
    for (size_t i = 0; i < s->qlen; i++) {
        if (payload.len) buf_append_byte(&payload, 0x1e);
        if (s->queue[i].binary) {
            buf_append_byte(&payload, 'b');
            base64_encode_append(&payload, s->queue[i].data->data, out_len(&s->queue[i]));
        } else {
            buf_append(&payload, s->queue[i].data->data, out_len(&s->queue[i]));
        }
    }
    eio_queue_clear(s);
    if (extra) {
        if (payload.len) buf_append_byte(&payload, 0x1e);
        buf_append(&payload, extra->data, extra->len);
    }
    http_response_header(req, "Cache-Control", "no-store");
    http_respond(req, 200, "text/plain; charset=UTF-8", payload.data, payload.len);
    buf_free(&payload);
}

static void on_poll_abort(void *user, http_request_t *req)
{
    eio_socket_t *s = user;
    (void)req;
    if (s->poll != req) return;
    s->poll = NULL;
    eio_session_close(s, "transport close", BY_CLIENT);
}

void eio_poll_get(eio_server_t *srv, eio_socket_t *s, http_request_t *req)
{
    eio_add_cors(srv, req);
    size_t body_len;
    http_request_body(req, &body_len);
    if (body_len) {
        /* A poll has no use for a body; kept with the pending poll, it would be memory the
         * client holds for as long as it likes. Refused like an overlapping poll. */
        log_debug("eio", "session %s: GET with a %zu-byte body refused", s->sid, body_len);
        http_respond(req, 400, "application/json", BUF_LIT(BAD_REQUEST_BODY));
        eio_session_close(s, "transport error", BY_SERVER);
        return;
    }
    if (s->state == STATE_CLOSING) {
        /* The last delivery of a session the server closed. */
        s->poll = req;
        eio_poll_flush(s, NULL);
        eio_session_destroy(s);
        return;
    }
    if (s->poll) {
        http_respond(req, 400, "application/json", BUF_LIT(BAD_REQUEST_BODY));
        eio_session_close(s, "transport error", BY_SERVER);
        return;
    }
    s->poll = req;
    http_request_on_abort(req, on_poll_abort, s);
    if (s->qlen)
        eio_poll_flush(s, NULL);
    else if (s->upgrading)
        eio_poll_flush(s, srv->pkt_noop);
}

typedef struct post_ctx {
    eio_socket_t *s;
} post_ctx_t;

static int on_post_packet(void *user, const eio_packet_t *p)
{
    post_ctx_t *ctx = user;
    eio_session_on_packet(ctx->s, p);
    return ctx->s->state == STATE_OPEN ? 0 : 1;
}

void eio_poll_post(eio_server_t *srv, eio_socket_t *s, http_request_t *req)
{
    eio_add_cors(srv, req);
    const char *type = http_request_header(req, "content-type");
    if (type && strncmp(type, "application/octet-stream", 24) == 0) {
        http_respond(req, 400, "application/json", BUF_LIT(BAD_REQUEST_BODY));
        eio_session_close(s, "transport error", BY_SERVER);
        return;
    }
    size_t len;
    const char *body = http_request_body(req, &len);
    if (len > srv->opts.max_payload) {
        http_respond_error(req, 413, "payload_too_large", "payload exceeds maxPayload");
        return;
    }
    if (s->state != STATE_OPEN) {
        http_respond(req, 200, "text/html", BUF_LIT("ok"));
        return;
    }
    post_ctx_t ctx = {s};
    int r = eio_payload_decode(body, len, on_post_packet, &ctx);
    if (r < 0) {
        log_debug("eio", "session %s: invalid payload: %s", s->sid, eio_strerror(r));
        http_respond(req, 400, "application/json", BUF_LIT(BAD_REQUEST_BODY));
        eio_session_close(s, "parse error", BY_SERVER);
        return;
    }
    http_respond(req, 200, "text/html", BUF_LIT("ok"));
}
