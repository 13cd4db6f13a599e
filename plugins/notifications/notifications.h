/* notifications.h - the public face of the notifications plugin: the event it
 * registers and that event's payload. Another plugin may emit the event by
 * name with this payload (emit_to_user(p, "42", IOG_NOTIFICATION_EVENT, &payload)),
 * as long as notifications.so is loaded (it registers the serializer).
 * Only C types; nothing here depends on the plugin's storage. */
#ifndef IOGATE_NOTIFICATIONS_H
#define IOGATE_NOTIFICATIONS_H

#include <stdint.h>

/* Server -> client: a notification was created for the receiving user (or for all). */
#define IOG_NOTIFICATION_EVENT "notification"

/* The five notification types; anything else is refused (the serializer answers
 * IOG_EINVAL, the REST routes 400). */
#define IOG_NOTIFICATION_TYPES "notification", "info", "warning", "error", "success"

/* Written as {"id": "...", "message": "...", "type": "...", "createdAt": "..."} where
 * createdAt is ISO 8601 UTC with milliseconds, as JavaScript's Date.toISOString()
 * writes it ("2026-11-26T14:03:07.123Z"). Strings are UTF-8 and NUL-terminated;
 * they are read during the emit call only. */
typedef struct iog_notification_payload {
    const char *id;
    const char *message;
    const char *type;      /* one of IOG_NOTIFICATION_TYPES */
    int64_t created_at_ms; /* milliseconds since the Unix epoch */
} iog_notification_payload_t;

#endif
