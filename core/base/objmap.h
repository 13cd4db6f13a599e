/* objmap.h - a hash set of objects that carry their own string key.
 *
 * The maps of per-connection objects (Engine.IO sessions by sid, sockets by id, rooms by
 * name) hold one entry per connection, so an entry's size is per-connection memory. Here a
 * slot is one pointer: the key is read from the object through key_of, and the low bits
 * of the pointer (objects are aligned as malloc aligns them, to max_align_t: 4 free bits on
 * 64-bit hosts) carry bits of the key's hash, so most probes of another key are told apart
 * without touching its object.
 *
 * Open addressing, linear probing, backward-shift deletion, keyed SipHash (strmap_siphash)
 * with a per-map random key. Grows at 3/4 load and shrinks when mostly empty. The map never
 * owns objects; an object's key must not change while it is in the map. */
#ifndef IOGATE_OBJMAP_H
#define IOGATE_OBJMAP_H

#include <stddef.h>
#include <stdint.h>

/* The key of obj: *len bytes at the returned address (NULs allowed). */
typedef const char *(*objmap_key_fn)(const void *obj, size_t *len);

typedef struct objmap {
    uintptr_t *slots; /* object pointer | 4-bit hash tag, 0 = empty */
    size_t cap;       /* 0 or a power of two */
    size_t count;
    uint64_t k0, k1;
    objmap_key_fn key_of;
} objmap_t;

void objmap_init(objmap_t *m, objmap_key_fn key_of);
/* Frees the slots; the objects are the caller's. */
void objmap_free(objmap_t *m);
void *objmap_get(const objmap_t *m, const char *key, size_t len);
/* Adds obj (aligned to max_align_t, as from malloc; aborts otherwise) under its key; returns the object already there under that
 * key, which is then left in place (obj is not added), or NULL once added. */
void *objmap_add(objmap_t *m, void *obj);
/* Removes and returns the object under key, or NULL. */
void *objmap_remove(objmap_t *m, const char *key, size_t len);
size_t objmap_count(const objmap_t *m);
/* Iteration: *pos starts at 0; returns the next object or NULL at the end. The map must not
 * change during an iteration. */
void *objmap_next(const objmap_t *m, size_t *pos);

#endif
