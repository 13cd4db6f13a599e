/* http_response.c - response serialization, status reasons and the error shape; answers counted
 * by route, status and duration. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http/http_internal.h"

static const char *status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

/* Machine-readable codes for the errors the server itself produces. */
const char *http_error_code_for_status(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 408:
        return "request_timeout";
    case 413:
        return "payload_too_large";
    case 414:
        return "uri_too_long";
    case 415:
        return "unsupported_media_type";
    case 417:
        return "expectation_failed";
    case 431:
        return "headers_too_large";
    case 501:
        return "not_implemented";
    case 503:
        return "service_unavailable";
    case 505:
        return "http_version_not_supported";
    default:
        return status >= 500 ? "internal_error" : "error";
    }
}

void http_error_body(buf_t *out, const char *code, const char *message)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text) {
        buf_append_str(out, text);
        free(text);
    } else {
        /* Only reachable with invalid UTF-8 in message: keep the shape anyway. */
        buf_printf(out, "{\"error\":{\"code\":\"%s\",\"message\":\"invalid message\"}}", code);
    }
    json_decref(body);
}

void http_response_serialize(http_request_t *req, int status, const char *content_type,
                             const void *body, size_t len, int keep_alive, const char *date)
{
    buf_t *out = &req->response;
    buf_reset(out);
    buf_printf(out, "HTTP/1.1 %d %s\r\n", status, status_reason(status));
    buf_printf(out, "Date: %s\r\n", date);
    if (content_type && (len || status != 204))
        buf_printf(out, "Content-Type: %s\r\n", content_type);
    /* 1xx and 204 carry no body and no length. */
    if (status >= 200 && status != 204) buf_printf(out, "Content-Length: %zu\r\n", len);
    if (req->extra_headers.len) buf_append(out, req->extra_headers.data, req->extra_headers.len);
    buf_append_str(out, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    buf_append(out, "\r\n", 2);
    if (len && !req->is_head && status >= 200 && status != 204 && status != 304)
        buf_append(out, body, len);
}

/* ---------------------------------------------------------------- answers counted */

static const char *const method_classes[HTTP_METHOD_CLASSES] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"};

int http_method_class(const char *method)
{
    for (int i = 0; i < HTTP_METHOD_CLASSES - 1; i++)
        if (strcmp(method, method_classes[i]) == 0) return i;
    return HTTP_METHOD_CLASSES - 1;
}

const char *http_method_class_name(int method_class)
{
    return method_classes[method_class >= 0 && method_class < HTTP_METHOD_CLASSES
                              ? method_class
                              : HTTP_METHOD_CLASSES - 1];
}

const http_route_stats_t *http_server_unrouted_stats(const http_server_t *s, int method_class)
{
    return &s->unrouted[method_class >= 0 && method_class < HTTP_METHOD_CLASSES
                            ? method_class
                            : HTTP_METHOD_CLASSES - 1];
}

void http_request_count_as(http_request_t *req, http_route_stats_t *stats)
{
    req->stats = stats;
}

void http_request_count(http_request_t *req, int status)
{
    http_route_stats_t *st = req->stats;
    if (!st) st = &req->conn->server->unrouted[http_method_class(req->method)];
    size_t i = 0;
    while (i < HTTP_STATUS_SLOTS - 1 && st->by_status[i].status &&
           st->by_status[i].status != status)
        i++;
    st->by_status[i].status = i < HTTP_STATUS_SLOTS - 1 ? (uint16_t)status : HTTP_STATUS_OTHER;
    st->by_status[i].count++;
    uint64_t now = uv_hrtime();
    prom_duration_observe(&st->duration, now > req->started_ns ? now - req->started_ns : 0);
}
