/* @NAME@.h - the events of the @NAME@ plugin: their names and payload types.
 * Another plugin may emit these events by name; this header tells it what
 * the payload pointer must point to. */
#ifndef @NAME_UPPER@_H
#define @NAME_UPPER@_H

#include <stdint.h>

/* "@NAME@:hello": sent to a user's sockets by POST /@NAME@/hello. */
#define @NAME_UPPER@_EVENT_HELLO "@NAME@:hello"

/* Payload of @NAME_UPPER@_EVENT_HELLO, written as
 * {"userId": "...", "message": "...", "sentAt": 1700000000}. */
typedef struct @NAME@_hello_payload {
    const char *user_id;
    const char *message;
    int64_t sent_at; /* seconds since the epoch */
} @NAME@_hello_payload_t;

#endif
