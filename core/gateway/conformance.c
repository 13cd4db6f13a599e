/* conformance.c - the handlers the protocol conformance suites expect (test only). */
#include "gateway/conformance.h"

#include "base/buf.h"
#include "base/json_out.h"
#include <jansson.h>

static void on_connect(void *user, sio_socket_t *s, const json_t *auth)
{
    (void)user;
    buf_t json = BUF_INIT;
    json_out_append(&json, auth);
    sio_socket_emit(s, "auth", json.data, json.len);
    buf_free(&json);
}

static void on_message(void *user, sio_socket_t *s, const sio_event_t *ev)
{
    (void)user;
    sio_socket_emit_args(s, "message-back", ev->args, ev->bin, ev->nbin);
}

static void on_message_with_ack(void *user, sio_socket_t *s, const sio_event_t *ev)
{
    (void)user;
    sio_socket_ack(s, ev->ack_id, ev->args, ev->bin, ev->nbin);
}

static void on_client_ack(void *user, sio_socket_t *s, const json_t *args, const sio_bin_t *bin,
                          size_t nbin)
{
    (void)user;
    if (!args) return; /* the socket left first */
    /* The client's ack arguments come back as one array argument. */
    json_t *wrapped = json_pack("[O]", args);
    sio_socket_emit_args(s, "ack-response", wrapped, bin, nbin);
    json_decref(wrapped);
}

static void on_request_ack(void *user, sio_socket_t *s, const sio_event_t *ev)
{
    (void)user;
    json_t *first = json_array();
    if (json_array_size(ev->args)) json_array_append(first, json_array_get(ev->args, 0));
    sio_socket_emit_with_ack(s, "ack-request", first, ev->bin, ev->nbin, 5000, on_client_ack, NULL);
    json_decref(first);
}

void conformance_install(sio_server_t *srv)
{
    sio_nsp_t *main_nsp = sio_server_nsp(srv, "/");
    sio_nsp_t *custom = sio_server_nsp(srv, "/custom");
    sio_nsp_on_connect(main_nsp, on_connect, NULL);
    sio_nsp_on_connect(custom, on_connect, NULL);
    sio_nsp_on_event(main_nsp, "message", on_message, NULL);
    sio_nsp_on_event(main_nsp, "message-with-ack", on_message_with_ack, NULL);
    sio_nsp_on_event(main_nsp, "request-ack", on_request_ack, NULL);
}
