/* eio_websocket.c - Engine.IO's WebSocket transport (engine.io's
 * transports/websocket.ts): the handshake, frames in and out, the probe and
 * upgrade of a polling session, and the close.
 *
 * Ownership: an eio_ws_t is owned by its HTTP connection and freed when the
 * connection closes (ws_raw_close); it points at its session until either side
 * lets go. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "eio/eio_internal.h"
#include "ws/ws_handshake.h"

void eio_ws_write(eio_ws_t *ws, rbuf_t *data, int binary)
{
    uint8_t hdr[10];
    size_t n = ws_frame_header(hdr, binary ? WS_OP_BINARY : WS_OP_TEXT, data->len);
    http_conn_write_shared(ws->conn, hdr, n, data);
}

/* Writes what was queued before the WebSocket attached (handshake, upgrade). */
static void ws_flush_queue(eio_socket_t *s)
{
    for (size_t i = 0; i < s->qlen; i++)
        eio_ws_write(s->ws, s->queue[i].data, s->queue[i].binary);
    eio_queue_clear(s);
}

void eio_ws_close(eio_ws_t *ws, int code, const char *reason)
{
    if (ws->closing || !ws->conn) return;
    ws->closing = 1;
    buf_t frame = BUF_INIT;
    ws_write_close(&frame, code, reason);
    http_conn_write(ws->conn, frame.data, frame.len);
    buf_free(&frame);
    http_conn_close(ws->conn, 0);
}

static void ws_probe_drop(eio_ws_t *ws)
{
    eio_socket_t *s = ws->session;
    if (s && s->probe == ws) {
        s->probe = NULL;
        s->upgrading = 0;
        s->upgrade_by = 0;
        eio_session_rearm(s);
    }
    ws->session = NULL;
    eio_ws_close(ws, WS_CLOSE_NORMAL, NULL);
}

static void ws_complete_upgrade(eio_ws_t *ws)
{
    eio_socket_t *s = ws->session;
    ws->probing = 0;
    s->probe = NULL;
    s->upgrading = 0;
    s->upgrade_by = 0;
    /* The paused poll, if any, ends with a noop; queued output moves to the WebSocket. */
    if (s->poll) {
        http_request_t *req = s->poll;
        s->poll = NULL;
        http_request_on_abort(req, NULL, NULL);
        http_response_header(req, "Cache-Control", "no-store");
        http_respond(req, 200, "text/plain; charset=UTF-8", BUF_LIT("6"));
    }
    s->transport = TRANSPORT_WEBSOCKET;
    s->ws = ws;
    s->srv->stats.upgrades++;
    s->srv->stats.sessions_open[TRANSPORT_POLLING]--;
    s->srv->stats.sessions_open[TRANSPORT_WEBSOCKET]++;
    ws_flush_queue(s);
    eio_session_rearm(s);
    log_debug("eio", "session %s upgraded to websocket", s->sid);
}

static void ws_probe_packet(eio_ws_t *ws, const eio_packet_t *p)
{
    eio_socket_t *s = ws->session;
    if (p->type == EIO_PING && p->len == 5 && memcmp(p->data, "probe", 5) == 0) {
        eio_ws_write(ws, s->srv->pkt_pong_probe, 0);
        s->upgrading = 1;
        /* End the pending poll now so the client can pause polling and finish. */
        if (s->poll) eio_poll_flush(s, s->srv->pkt_noop);
    } else if (p->type == EIO_UPGRADE && s->upgrading) {
        ws_complete_upgrade(ws);
    } else {
        ws_probe_drop(ws);
    }
}

static int ws_on_message(void *user, int is_binary, const char *data, size_t len)
{
    eio_ws_t *ws = user;
    eio_socket_t *s = ws->session;
    if (!s || s->state != STATE_OPEN) return 0;
    eio_packet_t p;
    buf_t scratch = BUF_INIT; /* base64 frames of forceBase64 clients only; not kept */
    if (is_binary) {
        eio_packet_decode_binary(data, len, &p);
    } else if (eio_packet_decode_ws_text(data, len, &scratch, &p) != 0) {
        buf_free(&scratch);
        log_debug("eio", "session %s: invalid packet over websocket", s->sid);
        if (ws->probing)
            ws_probe_drop(ws);
        else
            eio_session_close(s, "parse error", BY_SERVER);
        return 0;
    }
    if (ws->probing)
        ws_probe_packet(ws, &p);
    else
        eio_session_on_packet(s, &p);
    buf_free(&scratch);
    return 0;
}

static int ws_on_ping(void *user, const char *data, size_t len)
{
    eio_ws_t *ws = user;
    if (ws->closing || !ws->conn) return 0;
    buf_t frame = BUF_INIT;
    ws_write_frame(&frame, WS_OP_PONG, data, len);
    http_conn_write(ws->conn, frame.data, frame.len);
    buf_free(&frame);
    /* Pongs count against the outbox like everything else: a ping flood from a
     * client that never reads must not grow our memory. */
    if (ws->conn && eio_conn_over_limit(ws->conn, 0, eio_outbox_limit(ws->srv))) {
        eio_socket_t *s = ws->session;
        if (s && s->ws == ws) {
            eio_drop_slow_consumer(s);
        } else {
            ws->closing = 1;
            http_conn_close(ws->conn, 1);
        }
        return 1; /* stop reading this connection's frames */
    }
    return 0;
}

static int ws_on_pong(void *user, const char *data, size_t len)
{
    (void)user, (void)data, (void)len;
    return 0;
}

/* The WebSocket is ending: its session ends with it, or, when it was only probed for an
 * upgrade, the probe is dropped (the session lives on over polling). */
static void ws_end_session(eio_ws_t *ws, const char *reason, int by)
{
    eio_socket_t *s = ws->session;
    if (s && s->ws == ws) {
        ws->session = NULL;
        s->ws = NULL;
        eio_session_close(s, reason, by);
    } else if (s) {
        ws_probe_drop(ws);
    }
}

static int ws_on_close_frame(void *user, int code, const char *reason, size_t len)
{
    eio_ws_t *ws = user;
    (void)reason, (void)len;
    ws_end_session(ws, "transport close", BY_CLIENT);
    eio_ws_close(ws, code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : code, NULL);
    return 1;
}

static const ws_reader_callbacks_t ws_reader_cb = {ws_on_message, ws_on_ping, ws_on_pong,
                                                   ws_on_close_frame};

/* The part of a message still arriving that the WebSocket reader keeps is held for the client
 * as a request body is: its length is what is charged to the budget between reads (so the
 * transport needs no field of its own). A message that takes the total past the budget
 * closes its connection (1013, try again later) as a body gets 503. Returns 1 if it did. */
static int ws_input_over_budget(eio_ws_t *ws, size_t charged)
{
    membudget_t *b = ws->srv->budget;
    size_t held = ws->reader.msg.len;
    if (held <= charged) {
        membudget_release(b, charged - held);
        return 0;
    }
    if (!membudget_charge(b, held - charged) || ws->closing) return 0;
    membudget_shed(b, "WebSocket messages refused with 1013");
    ws_end_session(ws, "transport error", BY_SERVER);
    eio_ws_close(ws, WS_CLOSE_TRY_AGAIN_LATER, "server busy");
    return 1;
}

static void ws_raw_data(void *user, const char *data, size_t len)
{
    eio_ws_t *ws = user;
    int close_code = 0;
    size_t charged = ws->reader.msg.len;
    int r = ws_reader_feed(&ws->reader, data, len, &close_code);
    if (ws_input_over_budget(ws, charged)) return;
    if (r < 0 && !ws->closing) {
        log_debug("eio", "websocket from %s: %s (close %d)",
                  http_conn_remote_addr(ws->conn, (char[HTTP_ADDR_MAX]){0}),
                  ws_reader_error(&ws->reader), close_code);
        ws_end_session(ws, "parse error", BY_SERVER);
        eio_ws_close(ws, close_code ? close_code : WS_CLOSE_PROTOCOL_ERROR,
                     ws_reader_error(&ws->reader));
    }
}

static void ws_raw_close(void *user)
{
    eio_ws_t *ws = user;
    eio_socket_t *s = ws->session;
    ws->conn = NULL;
    if (s && s->ws == ws) {
        s->ws = NULL;
        eio_session_close(s, "transport close", BY_CLIENT);
    } else if (s && s->probe == ws) {
        ws_probe_drop(ws);
    }
    membudget_release(ws->srv->budget, ws->reader.msg.len);
    ws_reader_free(&ws->reader);
    free(ws);
}

static void ws_raw_shutdown(void *user)
{
    eio_ws_t *ws = user;
    eio_socket_t *s = ws->session;
    /* 1001 first: closing the session would otherwise close the socket with 1000. */
    eio_ws_close(ws, WS_CLOSE_GOING_AWAY, "server shutting down");
    if (s) eio_session_close(s, "server shutting down", BY_SERVER);
}

static const http_raw_callbacks_t ws_raw_cb = {ws_raw_data, ws_raw_close, ws_raw_shutdown};

/* Validates the WebSocket handshake headers and builds the 101 response. */
static int ws_handshake_head(http_request_t *req, buf_t *head)
{
    const char *upgrade = http_request_header(req, "upgrade");
    const char *connection = http_request_header(req, "connection");
    const char *version = http_request_header(req, "sec-websocket-version");
    const char *key = http_request_header(req, "sec-websocket-key");
    char accept[29];
    if (strcmp(http_request_method(req), "GET") != 0 || !upgrade || !connection || !key ||
        !ws_header_has_token(upgrade, strlen(upgrade), "websocket") ||
        !ws_header_has_token(connection, strlen(connection), "upgrade"))
        return -1;
    if (!version || strcmp(version, "13") != 0) return -2;
    if (ws_accept_key(key, strlen(key), accept) != 0) return -1;
    buf_printf(head,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n\r\n",
               accept);
    return 0;
}

static eio_ws_t *ws_new(eio_server_t *srv)
{
    eio_ws_t *ws = xcalloc(1, sizeof(*ws));
    ws->srv = srv;
    ws_reader_init(&ws->reader, srv->opts.max_payload, &ws_reader_cb, ws);
    return ws;
}

void eio_ws_handle(eio_server_t *srv, http_request_t *req, eio_socket_t *existing)
{
    buf_t head = BUF_INIT;
    int r = ws_handshake_head(req, &head);
    if (r != 0) {
        buf_free(&head);
        http_response_close(req);
        if (r == -2) http_response_header(req, "Sec-WebSocket-Version", "13");
        http_respond(req, 400, "text/html", BUF_LIT("Bad request"));
        return;
    }
    if (!existing && eio_handshake_refused(srv, req)) {
        buf_free(&head);
        return;
    }
    eio_ws_t *ws = ws_new(srv);
    eio_socket_t *s = existing;
    if (existing) {
        if (existing->state != STATE_OPEN || existing->transport != TRANSPORT_POLLING ||
            existing->probe) {
            /* Already upgraded or upgrading: as the reference does, this WebSocket is
             * accepted and closed at once; the session lives on. */
            http_conn_t *conn = http_upgrade(req, head.data, head.len, &ws_raw_cb, ws);
            buf_free(&head);
            if (!conn) {
                ws_reader_free(&ws->reader);
                free(ws);
                return;
            }
            ws->conn = conn;
            eio_ws_close(ws, WS_CLOSE_NORMAL, NULL);
            return;
        }
        ws->probing = 1;
        ws->session = existing;
        existing->probe = ws;
        existing->upgrade_by = uv_now(srv->loop) + srv->opts.upgrade_timeout_ms;
        eio_session_rearm(existing);
    } else {
        s = eio_session_new(srv, req, TRANSPORT_WEBSOCKET);
        s->ws = ws;
        ws->session = s;
        s->opened = 1;
        if (srv->cb.on_open) srv->cb.on_open(srv->user, s, req);
    }
    http_conn_t *conn = http_upgrade(req, head.data, head.len, &ws_raw_cb, ws);
    buf_free(&head);
    if (!conn) {
        if (ws->session && ws->session->probe == ws) ws->session->probe = NULL;
        if (ws->session && ws->session->ws == ws) {
            ws->session->ws = NULL;
            eio_session_close(ws->session, "transport error", BY_SERVER);
        }
        ws_reader_free(&ws->reader);
        free(ws);
        return;
    }
    ws->conn = conn;
    if (!ws->session)
        eio_ws_close(ws, WS_CLOSE_NORMAL, NULL); /* the session ended during on_open */
    else if (!existing && s->ws == ws)
        ws_flush_queue(s);
}
