/* strmap.h - a hash map from byte-string keys to pointers.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), keyed SipHash with a per-map random key so clients cannot
 * choose colliding keys. The map copies keys and never owns values. It
 * grows at 3/4 load and shrinks when mostly empty, so a map that empties gives its
 * memory back. Maps of per-connection objects that hold their own key use objmap.h,
 * whose slots are a third of these. */
#ifndef IOGATE_STRMAP_H
#define IOGATE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap_entry {
    char *key; /* owned copy, NUL-terminated; NULL for an empty slot */
    void *value;
    uint32_t len;  /* keys are shorter than 4 GiB (callers bound them far lower) */
    uint32_t hash; /* low 32 bits of the key's SipHash: the home slot and a quick compare */
} strmap_entry_t;

typedef struct strmap {
    strmap_entry_t *slots;
    size_t cap; /* 0 or a power of two */
    size_t count;
    uint64_t k0, k1; /* hash key */
} strmap_t;

void strmap_init(strmap_t *m);
/* Frees the keys and slots; values are the caller's. */
void strmap_free(strmap_t *m);
void *strmap_get(const strmap_t *m, const char *key, size_t len);
/* Inserts or replaces; returns the previous value or NULL. len must be below 4 GiB
 * (aborts otherwise, like an allocation failure: callers bound their keys). */
void *strmap_put(strmap_t *m, const char *key, size_t len, void *value);
/* Removes key; returns its value or NULL. */
void *strmap_remove(strmap_t *m, const char *key, size_t len);
size_t strmap_count(const strmap_t *m);
/* Iteration: *pos starts at 0; returns the next entry or NULL at the end. The map
 * must not change during an iteration. */
const strmap_entry_t *strmap_next(const strmap_t *m, size_t *pos);
/* SipHash-1-3 of data under (k0, k1). */
uint64_t strmap_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len);

#endif
