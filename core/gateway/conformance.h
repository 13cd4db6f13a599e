/* conformance.h - test-only Socket.IO handlers ([testing] conformance_handlers).
 *
 * What the official Socket.IO v5 suite expects of a server: on "/" and
 * "/custom", emit "auth" with the CONNECT payload; on "/", echo "message" as
 * "message-back" (binary included) and ack "message-with-ack" with its
 * arguments. The interop tests add "request-ack": the server emits
 * "ack-request" with the same arguments and an ack, and reports the client's
 * answer as "ack-response". Never enabled in production configurations. */
#ifndef IOGATE_CONFORMANCE_H
#define IOGATE_CONFORMANCE_H

#include "sio/sio_server.h"

void conformance_install(sio_server_t *srv);

#endif
