/* rooms.c - the room registry of one namespace (see rooms.h). Owns the rooms and the
 * membership nodes; never touches the sockets that embed the members. */
#include "sio/rooms.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

typedef struct rooms_room {
    rooms_node_t links; /* members, join order */
    uint32_t size;      /* 32 bits keep the own-id room of a socket in a 48-byte block */
    uint32_t len;
    char name[]; /* NUL-terminated copy; the name may itself hold NULs */
} rooms_room_t;

struct rooms_link {
    rooms_node_t in_room;   /* in room->links */
    rooms_node_t in_member; /* in member->links */
    rooms_room_t *room;
    rooms_member_t *member;
};

#define LINK_OF(node, field) ((rooms_link_t *)((char *)(node)-offsetof(rooms_link_t, field)))
#define MEMBER_OF_ALL(node) ((rooms_member_t *)((char *)(node)-offsetof(rooms_member_t, all)))

/* Smallest member index; 9 links fill it to 56%. */
#define INDEX_MIN_CAP 16
/* Slots in a member's index (meaningful while it has one). */
#define INDEX_CAP(m) ((size_t)1 << (m)->idx_shift)

static void list_init(rooms_node_t *head)
{
    head->prev = head->next = head;
}

static void list_append(rooms_node_t *head, rooms_node_t *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static void list_unlink(rooms_node_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

/* ---- the member's room index: open addressing on the room pointer, no tombstones ---- */

/* Room addresses are not chosen by clients, so a fixed mixer is enough here. */
static size_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

/* The slot holding room's link, or the empty slot where it would go. */
static size_t index_slot(const rooms_member_t *m, const rooms_room_t *room)
{
    size_t mask = INDEX_CAP(m) - 1;
    for (size_t i = ptr_hash(room) & mask;; i = (i + 1) & mask) {
        const rooms_link_t *l = m->idx[i];
        if (!l || l->room == room) return i;
    }
}

/* Rebuilds the index at cap slots from the member's list. */
static void index_rebuild(rooms_member_t *m, size_t cap)
{
    free(m->idx);
    m->idx = xcalloc(cap, sizeof(*m->idx));
    m->idx_shift = 0;
    while (INDEX_CAP(m) < cap)
        m->idx_shift++;
    for (rooms_node_t *n = m->links.next; n != &m->links; n = n->next) {
        rooms_link_t *l = LINK_OF(n, in_member);
        m->idx[index_slot(m, l->room)] = l;
    }
}

static void index_drop(rooms_member_t *m)
{
    free(m->idx);
    m->idx = NULL;
    m->idx_shift = 0;
}

static void index_remove(rooms_member_t *m, const rooms_link_t *link)
{
    size_t mask = INDEX_CAP(m) - 1;
    size_t i = index_slot(m, link->room);
    assert(m->idx[i] == link);
    m->idx[i] = NULL;
    /* Backward shift: pull later entries of the probe run into the hole. */
    for (size_t j = (i + 1) & mask; m->idx[j]; j = (j + 1) & mask) {
        size_t home = ptr_hash(m->idx[j]->room) & mask;
        int stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        m->idx[i] = m->idx[j];
        m->idx[j] = NULL;
        i = j;
    }
}

/* m's link to room, or NULL. */
static rooms_link_t *member_find(const rooms_member_t *m, const rooms_room_t *room)
{
    if (m->idx) return m->idx[index_slot(m, room)];
    for (rooms_node_t *n = m->links.next; n != &m->links; n = n->next) {
        rooms_link_t *l = LINK_OF(n, in_member);
        if (l->room == room) return l;
    }
    return NULL;
}

/* ---- personal rooms (virtual: a flag on the member, see rooms.h) ---- */

/* The member in the personal room (name, len), or NULL. */
static rooms_member_t *personal_holder(const rooms_t *r, const char *name, size_t len)
{
    if (!r->personal.find) return NULL;
    rooms_member_t *m = r->personal.find(r->personal.user, name, len);
    return m && m->in_personal ? m : NULL;
}

static const char *personal_name(const rooms_t *r, const rooms_member_t *m, size_t *len)
{
    return r->personal.name_of(r->personal.user, m->owner, len);
}

static int is_personal_name(const rooms_t *r, const rooms_member_t *m, const char *name, size_t len)
{
    if (!r->personal.find) return 0;
    size_t plen;
    const char *p = personal_name(r, m, &plen);
    return plen == len && memcmp(p, name, len) == 0;
}

/* Enters or leaves m's personal room, keeping the counts rooms_room_count uses. */
static void personal_set(rooms_t *r, rooms_member_t *m, int in)
{
    size_t len;
    const char *name = personal_name(r, m, &len);
    int shared = objmap_get(&r->map, name, len) != NULL;
    m->in_personal = (uint8_t)in;
    if (in) {
        r->npersonal++;
        r->nshared += (size_t)shared;
    } else {
        r->npersonal--;
        r->nshared -= (size_t)shared;
    }
}

/* ---- registry ---- */

static const char *room_key(const void *obj, size_t *len)
{
    const rooms_room_t *room = obj;
    *len = room->len;
    return room->name;
}

void rooms_init(rooms_t *r)
{
    objmap_init(&r->map, room_key);
    list_init(&r->members);
    r->nmembers = 0;
    r->epoch = 0;
    r->walking = 0;
    memset(&r->personal, 0, sizeof(r->personal));
    r->npersonal = r->nshared = 0;
}

void rooms_set_personal(rooms_t *r, const rooms_personal_t *hooks)
{
    assert(r->nmembers == 0 && "rooms_set_personal: members already added");
    r->personal = *hooks;
}

void rooms_free(rooms_t *r)
{
    assert(r->nmembers == 0 && "rooms_free: members remain");
    assert(!r->walking);
    while (r->members.next != &r->members)
        rooms_remove_member(r, MEMBER_OF_ALL(r->members.next));
    assert(objmap_count(&r->map) == 0);
    objmap_free(&r->map);
}

void rooms_member_init(rooms_member_t *m, void *owner)
{
    memset(m, 0, sizeof(*m));
    m->owner = owner;
    list_init(&m->links);
}

void rooms_add_member(rooms_t *r, rooms_member_t *m)
{
    assert(!r->walking);
    assert(m->all.next == NULL && "member already added");
    /* Walks of this registry only use epochs above its current one; a member coming from
     * another registry must not carry a future epoch in. */
    m->epoch = r->epoch;
    list_append(&r->members, &m->all);
    r->nmembers++;
}

void rooms_remove_member(rooms_t *r, rooms_member_t *m)
{
    assert(!r->walking);
    if (!m->all.next) return;
    rooms_leave_all(r, m);
    list_unlink(&m->all);
    r->nmembers--;
}

size_t rooms_member_total(const rooms_t *r)
{
    return r->nmembers;
}

/* Unlinks link from its room (freeing an emptied room) and frees it. The member side is the
 * caller's. */
static void drop_from_room(rooms_t *r, rooms_link_t *link)
{
    rooms_room_t *room = link->room;
    list_unlink(&link->in_room);
    if (--room->size == 0) {
        if (personal_holder(r, room->name, room->len)) r->nshared--;
        void *gone = objmap_remove(&r->map, room->name, room->len);
        assert(gone == room);
        (void)gone;
        free(room);
    }
    free(link);
}

int rooms_join(rooms_t *r, rooms_member_t *m, const char *name, size_t len)
{
    assert(!r->walking);
    assert(m->all.next != NULL && "rooms_join: member not added");
    if (len == 0 || (uint64_t)len > UINT32_MAX) return ROOMS_EINVAL;
    if (is_personal_name(r, m, name, len)) {
        if (m->in_personal) return 0;
        personal_set(r, m, 1);
        return 1;
    }
    rooms_room_t *room = objmap_get(&r->map, name, len);
    if (room) {
        if (member_find(m, room)) return 0;
    } else {
        room = xmalloc(sizeof(*room) + len + 1);
        list_init(&room->links);
        room->size = 0;
        room->len = (uint32_t)len;
        memcpy(room->name, name, len);
        room->name[len] = '\0';
        objmap_add(&r->map, room);
        if (personal_holder(r, name, len)) r->nshared++;
    }
    rooms_link_t *link = xmalloc(sizeof(*link));
    link->room = room;
    link->member = m;
    list_append(&room->links, &link->in_room);
    room->size++;
    list_append(&m->links, &link->in_member);
    m->nrooms++;
    if (m->idx) {
        if ((size_t)m->nrooms * 4 > INDEX_CAP(m) * 3)
            index_rebuild(m, INDEX_CAP(m) * 2);
        else
            m->idx[index_slot(m, room)] = link;
    } else if (m->nrooms > ROOMS_INDEX_AT) {
        index_rebuild(m, INDEX_MIN_CAP);
    }
    return 1;
}

int rooms_leave(rooms_t *r, rooms_member_t *m, const char *name, size_t len)
{
    assert(!r->walking);
    if (len == 0) return 0;
    if (is_personal_name(r, m, name, len)) {
        if (!m->in_personal) return 0;
        personal_set(r, m, 0);
        return 1;
    }
    rooms_room_t *room = objmap_get(&r->map, name, len);
    if (!room) return 0;
    rooms_link_t *link = member_find(m, room);
    if (!link) return 0;
    if (m->idx) index_remove(m, link);
    list_unlink(&link->in_member);
    m->nrooms--;
    if (m->idx) {
        if (m->nrooms <= ROOMS_UNINDEX_AT)
            index_drop(m);
        else if (INDEX_CAP(m) > INDEX_MIN_CAP && (size_t)m->nrooms * 8 < INDEX_CAP(m))
            index_rebuild(m, INDEX_CAP(m) / 2);
    }
    drop_from_room(r, link);
    return 1;
}

void rooms_leave_all(rooms_t *r, rooms_member_t *m)
{
    assert(!r->walking);
    if (m->in_personal) personal_set(r, m, 0);
    index_drop(m);
    while (m->links.next != &m->links) {
        rooms_link_t *link = LINK_OF(m->links.next, in_member);
        list_unlink(&link->in_member);
        drop_from_room(r, link);
    }
    m->nrooms = 0;
}

int rooms_is_member(const rooms_t *r, const rooms_member_t *m, const char *name, size_t len)
{
    if (len == 0) return 0;
    if (is_personal_name(r, m, name, len)) return m->in_personal;
    if (m->nrooms == 0) return 0;
    const rooms_room_t *room = objmap_get(&r->map, name, len);
    return room && member_find(m, room) ? 1 : 0;
}

size_t rooms_room_count(const rooms_t *r)
{
    return objmap_count(&r->map) + r->npersonal - r->nshared;
}

size_t rooms_room_size(const rooms_t *r, const char *name, size_t len)
{
    if (len == 0) return 0;
    const rooms_room_t *room = objmap_get(&r->map, name, len);
    return (room ? room->size : 0) + (personal_holder(r, name, len) ? 1 : 0);
}

void rooms_foreach(const rooms_t *r,
                   void (*cb)(void *user, const char *room, size_t len, size_t size), void *user)
{
    size_t pos = 0;
    const rooms_room_t *room;
    while ((room = objmap_next(&r->map, &pos))) {
        size_t size = room->size + (personal_holder(r, room->name, room->len) ? 1 : 0);
        cb(user, room->name, room->len, size);
    }
    if (!r->npersonal) return;
    for (const rooms_node_t *n = r->members.next; n != &r->members; n = n->next) {
        const rooms_member_t *m = MEMBER_OF_ALL(n);
        if (!m->in_personal) continue;
        size_t len;
        const char *name = personal_name(r, m, &len);
        if (!objmap_get(&r->map, name, len)) cb(user, name, len, 1); /* else listed above */
    }
}

size_t rooms_member_room_count(const rooms_member_t *m)
{
    return m->nrooms + m->in_personal;
}

void rooms_member_foreach(const rooms_t *r, const rooms_member_t *m,
                          void (*cb)(void *user, const char *room, size_t len), void *user)
{
    if (m->in_personal) {
        size_t len;
        const char *name = personal_name(r, m, &len);
        cb(user, name, len);
    }
    for (const rooms_node_t *n = m->links.next; n != &m->links; n = n->next) {
        const rooms_link_t *l = LINK_OF(n, in_member);
        cb(user, l->room->name, l->room->len);
    }
}

/* ---- broadcast selection ---- */

size_t rooms_select(rooms_t *r, const char *const *rooms, const size_t *room_lens, size_t nrooms,
                    const char *const *except, const size_t *except_lens, size_t nexcept,
                    void (*cb)(void *user, void *owner), void *user)
{
    assert(!r->walking && "rooms_select: nested walk");
    /* A member whose epoch equals this walk's was already called or is excluded. */
    uint64_t epoch = ++r->epoch;
    size_t calls = 0;
    r->walking = 1;
    for (size_t i = 0; i < nexcept; i++) {
        if (except_lens[i] == 0) continue;
        rooms_member_t *holder = personal_holder(r, except[i], except_lens[i]);
        if (holder) holder->epoch = epoch;
        rooms_room_t *room = objmap_get(&r->map, except[i], except_lens[i]);
        if (!room) continue;
        for (rooms_node_t *n = room->links.next; n != &room->links; n = n->next)
            LINK_OF(n, in_room)->member->epoch = epoch;
    }
    if (nrooms == 0) {
        for (rooms_node_t *n = r->members.next; n != &r->members; n = n->next) {
            rooms_member_t *m = MEMBER_OF_ALL(n);
            if (m->epoch == epoch) continue;
            m->epoch = epoch;
            cb(user, m->owner);
            calls++;
        }
    }
    for (size_t i = 0; i < nrooms; i++) {
        if (room_lens[i] == 0) continue;
        rooms_member_t *holder = personal_holder(r, rooms[i], room_lens[i]);
        if (holder && holder->epoch != epoch) {
            holder->epoch = epoch;
            cb(user, holder->owner);
            calls++;
        }
        rooms_room_t *room = objmap_get(&r->map, rooms[i], room_lens[i]);
        if (!room) continue;
        for (rooms_node_t *n = room->links.next; n != &room->links; n = n->next) {
            rooms_member_t *m = LINK_OF(n, in_room)->member;
            if (m->epoch == epoch) continue;
            m->epoch = epoch;
            cb(user, m->owner);
            calls++;
        }
    }
    r->walking = 0;
    return calls;
}
