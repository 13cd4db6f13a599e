/* rooms.h - the room registry of one namespace: room name -> sockets, socket -> rooms.
 *
 * A room is a named set of members (sockets). Each membership is one heap node linked into
 * two intrusive lists: the room's members and the member's rooms, both in join order. Rooms
 * are found by name through an objmap; a room exists only while it has members and is freed
 * the moment its last member leaves. A member answers "am I in room X" by scanning its own
 * few rooms (pointer compares, no string compares) until it is in more than
 * ROOMS_INDEX_AT rooms; past that it keeps a private open-addressing index keyed by room
 * pointer, dropped again when it shrinks back, so a socket may sit in thousands of rooms at
 * O(1) average join / leave / test while the common socket (own-id room + user room) needs
 * no index at all.
 *
 * Every member is first added to the registry (rooms_add_member) so that a broadcast to
 * "everyone" (rooms_select with no rooms) knows it; rooms_remove_member leaves all its rooms.
 *
 * Personal rooms. Socket.IO puts every socket in a room named by its own id, which would
 * cost each socket a room, a membership node and a map slot. A registry given personal-room
 * hooks (rooms_set_personal) keeps that room virtual: the hooks name a member's personal
 * room and find the member a personal name belongs to, and the member only holds a flag
 * (in_personal). Joining, leaving, testing, sizing, listing and selecting treat it as an
 * ordinary room, and another member may still join a room of the same name for real (the
 * two are then one room of both).
 *
 * Memory on x86-64 glibc: sizeof(rooms_member_t) is 64 bytes, embedded in the socket. A
 * socket in its personal room and a user:{id} room no other socket shares adds about 130
 * heap bytes: one membership node (48, a 64-byte block), the room with its name (a 48-byte
 * block for a 15-byte name) and one 8-byte map slot at 37% to 75% load.
 *
 * Room names are arbitrary bytes (NUL included) of length >= 1; the caller bounds their
 * length and how many rooms a socket may join. Single-threaded: all calls come from the
 * loop thread. Neither a rooms_t nor a rooms_member_t may be moved in memory once
 * initialised (they hold list heads that point at themselves). Pure: no I/O, no logging. */
#ifndef IOGATE_ROOMS_H
#define IOGATE_ROOMS_H

#include <stddef.h>
#include <stdint.h>

#include "base/objmap.h"

/* A member builds its room index past this many rooms and drops it at ROOMS_UNINDEX_AT. */
#define ROOMS_INDEX_AT 8
#define ROOMS_UNINDEX_AT 4

/* The only error: an empty room name (or one of 4 GiB or more). */
#define ROOMS_EINVAL (-1)

/* Intrusive circular list node; a list head is a node that points at itself when empty. */
typedef struct rooms_node {
    struct rooms_node *prev, *next;
} rooms_node_t;

typedef struct rooms_link rooms_link_t; /* one (room, member) membership, private */

typedef struct rooms_member rooms_member_t;

/* Personal-room hooks; both are called with user. */
typedef struct rooms_personal {
    /* The member whose personal room is (name, len), or NULL; it need not be in it. */
    rooms_member_t *(*find)(void *user, const char *name, size_t len);
    /* The personal room name of the member owned by owner (valid while it is added). */
    const char *(*name_of)(void *user, const void *owner, size_t *len);
    void *user;
} rooms_personal_t;

typedef struct rooms {
    objmap_t map;              /* rooms_room (private) by name; only non-empty rooms */
    rooms_personal_t personal; /* find == NULL: no personal rooms */
    size_t npersonal;          /* members in their personal room */
    size_t nshared;            /* of those, personal rooms that also exist as real rooms */
    rooms_node_t members;      /* every added member, in order of addition */
    size_t nmembers;
    uint64_t epoch;   /* bumped by each rooms_select, to dedupe without a set */
    unsigned walking; /* set during rooms_select; mutation then is a bug (asserted) */
} rooms_t;

struct rooms_member {
    void *owner;         /* handed back by rooms_select */
    rooms_node_t all;    /* in rooms_t.members; next == NULL while not added */
    rooms_node_t links;  /* this member's memberships, join order */
    rooms_link_t **idx;  /* room index, NULL unless more than ROOMS_INDEX_AT rooms */
    uint32_t nrooms;     /* real rooms joined (the personal room is not counted here) */
    uint8_t idx_shift;   /* idx has 1 << idx_shift slots */
    uint8_t in_personal; /* in its personal room (see rooms_set_personal) */
    uint64_t epoch;      /* last rooms_select that saw this member */
};

void rooms_init(rooms_t *r);
/* Makes personal rooms virtual (see above); call before any member is added. */
void rooms_set_personal(rooms_t *r, const rooms_personal_t *hooks);
/* Frees the registry. Every member must have been removed first (asserted in debug builds;
 * release builds remove the stragglers so nothing leaks). */
void rooms_free(rooms_t *r);

/* Prepares a member; owner is what rooms_select hands back (the socket). Allocates nothing. */
void rooms_member_init(rooms_member_t *m, void *owner);
/* Adds an initialised member to the registry; a member must be added before it joins rooms. */
void rooms_add_member(rooms_t *r, rooms_member_t *m);
/* Leaves all its rooms and forgets the member; it may then be freed or added again. */
void rooms_remove_member(rooms_t *r, rooms_member_t *m);
/* Members added and not yet removed. */
size_t rooms_member_total(const rooms_t *r);

/* Joins room (room, len); the name is copied. Returns 1 when newly joined, 0 when already a
 * member, ROOMS_EINVAL when len is 0 or above UINT32_MAX. */
int rooms_join(rooms_t *r, rooms_member_t *m, const char *room, size_t len);
/* Returns 1 when it left, 0 when it was not a member. A room is freed when it empties. */
int rooms_leave(rooms_t *r, rooms_member_t *m, const char *room, size_t len);
/* Leaves every room of m, in O(rooms of m). m stays added. */
void rooms_leave_all(rooms_t *r, rooms_member_t *m);
/* 1 when m is in the room, else 0. */
int rooms_is_member(const rooms_t *r, const rooms_member_t *m, const char *room, size_t len);

/* Rooms that exist (every existing room has at least one member). */
size_t rooms_room_count(const rooms_t *r);
/* Members of a room; 0 when it does not exist. */
size_t rooms_room_size(const rooms_t *r, const char *room, size_t len);
/* Calls cb(user, name, len, size) for every room, in no particular order. cb must not join
 * or leave. The name is the registry's, valid during the call. */
void rooms_foreach(const rooms_t *r,
                   void (*cb)(void *user, const char *room, size_t len, size_t size), void *user);

/* Rooms m is in, its personal room included. */
size_t rooms_member_room_count(const rooms_member_t *m);
/* Calls cb(user, name, len) for each room of m (socket.rooms): its personal room first,
 * then the others in join order. cb must not
 * join or leave. The name is the registry's, valid during the call. */
void rooms_member_foreach(const rooms_t *r, const rooms_member_t *m,
                          void (*cb)(void *user, const char *room, size_t len), void *user);

/* Broadcast selection: calls cb(user, owner) exactly once for every distinct member that is
 * in at least one of rooms[0..nrooms) (every added member when nrooms == 0) and in none of
 * except[0..nexcept). Repeated or overlapping rooms still yield one call per member; unknown
 * room names match nobody. Order: listed rooms in turn, each in join order (member addition
 * order when nrooms == 0). Cost O(members of the listed and except rooms), no allocation.
 * cb must not join, leave, add, remove or select on this registry (asserted in debug
 * builds): a caller that needs to, collects the owners first; a socket that must close
 * because of a write does so after the walk. Returns the number of calls. */
size_t rooms_select(rooms_t *r, const char *const *rooms, const size_t *room_lens, size_t nrooms,
                    const char *const *except, const size_t *except_lens, size_t nexcept,
                    void (*cb)(void *user, void *owner), void *user);

#endif
