/* chat.h - the event of the chat example plugin: its name and payload.
 * Another plugin may emit "chat:message" by name with a chat_message_t. */
#ifndef CHAT_H
#define CHAT_H

#include <stddef.h>
#include <stdint.h>

/* "chat:message": a message posted to a room, sent to the sockets in it. */
#define CHAT_EVENT_MESSAGE "chat:message"

/* Written as {"room": "...", "text": "...", "from": "42" | null, "id": 7}. */
typedef struct chat_message {
    const char *room;
    const char *text;
    size_t text_len;  /* bytes of text */
    const char *from; /* the sender's user id, NULL when not authenticated */
    int64_t id;       /* unique within the process, from 1 */
} chat_message_t;

/* The host room holding the members of chat room R is CHAT_ROOM_PREFIX R, so that
 * a client can never join a room of the host's own ("user:42", a socket id). */
#define CHAT_ROOM_PREFIX "chat:"

#endif
