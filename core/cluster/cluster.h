/* cluster.h - the Redis adapter: this node as a peer of a Socket.IO fleet joined through Redis.
 *
 * It speaks the wire format of @socket.io/redis-adapter 8.3 in its classic mode
 * (createAdapter(pub, sub)) and reads what @socket.io/redis-emitter 5.1 publishes, so iogate
 * nodes, Node socket.io servers and Node backends form one fleet. Per namespace it makes the
 * adapter's subscriptions (a PSUBSCRIBE on "{prefix}#{nsp}#*" and SUBSCRIBEs on the request,
 * response and own-response channels, so PUBSUB NUMSUB counts it once), publishes every emit of
 * this node that is not for one socket, delivers what other nodes publish to its own sockets,
 * and answers their requests. It installs itself as the Socket.IO layer's adapter
 * (sio_server_set_adapter), so every emitter of the core goes through it.
 *
 * An emit to every authenticated socket has no adapter equivalent; it travels as the
 * server-side event "iogate:broadcast" (README, "Running a fleet").
 *
 * What it owns: the Redis link (redis_link.c), its node uid and counters. Everything runs on
 * the loop thread. Malformed input on any channel is dropped and counted, never fatal. */
#ifndef IOGATE_CLUSTER_H
#define IOGATE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/redis_link.h"
#include "config/config.h"
#include "sio/sio_server.h"

#define CLUSTER_UID_LEN 6
/* The server-side event that carries an emit to every authenticated socket of the fleet. */
#define CLUSTER_BROADCAST_EVENT "iogate:broadcast"

typedef struct cluster cluster_t;

typedef struct cluster_stats {
    uint64_t published;         /* broadcasts and requests this node published */
    uint64_t received;          /* broadcasts from other nodes delivered here */
    uint64_t requests_answered; /* requests of other nodes acted upon or answered */
    uint64_t echoes;            /* own messages Redis sent back, ignored */
    uint64_t ignored;           /* well-formed but not for this node (other namespace, unknown
                                   request type, a room with no socket here) */
    uint64_t malformed;         /* undecodable or wrongly shaped messages, dropped */
    uint64_t unpublishable;     /* emits that could not be encoded for the fleet */
} cluster_stats_t;

/* What cluster_new would refuse in cfg (a redis_url that does not parse), with its
 * file:line:column. Returns 0, or -1 with err. */
int cluster_check_config(const config_t *cfg, char *err, size_t err_size);

/* Joins the fleet described by cfg's [cluster] (adapter "redis"): connects in the background
 * and installs itself as sio's adapter. cfg and sio must outlive it. Returns NULL with err for a
 * bad configuration. */
cluster_t *cluster_new(uv_loop_t *loop, const config_t *cfg, sio_server_t *sio, char *err,
                       size_t err_size);
/* This node's uid on the wire (CLUSTER_UID_LEN characters). */
const char *cluster_uid(const cluster_t *c);
/* 1 when Redis is reachable and every subscription is confirmed. */
int cluster_ready(const cluster_t *c);
const cluster_stats_t *cluster_stats(const cluster_t *c);
const redis_link_stats_t *cluster_link_stats(const cluster_t *c);
/* Leaves the fleet: removes itself from sio, closes the link (queued publishes are lost) and
 * frees itself once its handles are closed, then calls done(arg) if not NULL. */
void cluster_close(cluster_t *c, void (*done)(void *arg), void *arg);

#endif
