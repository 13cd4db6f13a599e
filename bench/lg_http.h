/* lg_http.h - a minimal HTTP/1.1 keep-alive client for the parent of
 * iogate-loadgen: pipelined requests on one connection, answered in order.
 * It understands exactly what the server sends back (status line, headers,
 * a Content-Length body) and treats anything else as an error. */
#ifndef IOGATE_LG_HTTP_H
#define IOGATE_LG_HTTP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct lg_http lg_http_t;

/* status: the HTTP status, or -1 when the connection failed before an
 * answer (then body is NULL). Called once per request. */
typedef void (*lg_http_cb)(void *user, uint64_t tag, int status, const char *body, size_t len);

#define LG_HTTP_MAX_PIPELINE 16

lg_http_t *lg_http_new(uv_loop_t *loop, const struct sockaddr_in *dst, const char *host_header,
                       lg_http_cb cb, void *user);
int lg_http_connected(const lg_http_t *h);
int lg_http_failed(const lg_http_t *h);
size_t lg_http_in_flight(const lg_http_t *h);
/* Writes a request now. 0, or -1 when not connected or the pipeline is full. */
int lg_http_request(lg_http_t *h, const char *method, const char *path, const char *body,
                    size_t len, uint64_t tag);
/* Closes the connection; frees h once libuv is done with it. */
void lg_http_close(lg_http_t *h);

#endif
