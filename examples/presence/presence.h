/* presence.h - the event of the presence example plugin: its name and payload.
 * Another plugin may emit "presence" by name with a presence_payload_t. */
#ifndef PRESENCE_H
#define PRESENCE_H

/* "presence": a user came online (first socket connected) or went offline
 * (last socket disconnected). Sent to the configured room. */
#define PRESENCE_EVENT "presence"

/* Written as {"userId": "...", "online": true|false}. */
typedef struct presence_payload {
    const char *user_id;
    int online;
} presence_payload_t;

#endif
