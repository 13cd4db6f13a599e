/* objmap.c - hash set of self-keyed objects in one-pointer slots (see objmap.h). */
#include "base/objmap.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/random.h"
#include "base/strmap.h"

/* Low pointer bits that malloc's alignment leaves free: 4 on 64-bit hosts. */
#define TAG_MASK ((uintptr_t)(_Alignof(max_align_t) - 1))
#define OBJ(slot) ((void *)((slot) & ~TAG_MASK))
/* The tag takes the hash's top bits: the home slot takes its low ones. */
#define TAG(hash) ((uintptr_t)((hash) >> 60) & TAG_MASK)

static uint64_t hash_key(const objmap_t *m, const char *key, size_t len)
{
    return strmap_siphash(m->k0, m->k1, key, len);
}

static uint64_t hash_obj(const objmap_t *m, const void *obj)
{
    size_t len;
    const char *key = m->key_of(obj, &len);
    return hash_key(m, key, len);
}

void objmap_init(objmap_t *m, objmap_key_fn key_of)
{
    memset(m, 0, sizeof(*m));
    m->key_of = key_of;
    uint64_t key[2];
    random_bytes(key, sizeof(key));
    m->k0 = key[0];
    m->k1 = key[1];
}

void objmap_free(objmap_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const objmap_t *m, const char *key, size_t len, uint64_t hash)
{
    size_t mask = m->cap - 1;
    uintptr_t tag = TAG(hash);
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        uintptr_t s = m->slots[i];
        if (!s) return i;
        if ((s & TAG_MASK) != tag) continue;
        size_t olen;
        const char *okey = m->key_of(OBJ(s), &olen);
        if (olen == len && memcmp(okey, key, len) == 0) return i;
    }
}

/* The empty slot where an object of this hash goes (its key is known to be absent). */
static size_t free_slot(const objmap_t *m, uint64_t hash)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash & mask;
    while (m->slots[i])
        i = (i + 1) & mask;
    return i;
}

static void resize(objmap_t *m, size_t cap)
{
    uintptr_t *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = cap ? xcalloc(cap, sizeof(*m->slots)) : NULL;
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i]) continue;
        m->slots[free_slot(m, hash_obj(m, OBJ(old[i])))] = old[i];
    }
    free(old);
}

void *objmap_get(const objmap_t *m, const char *key, size_t len)
{
    if (!m->count) return NULL;
    uintptr_t s = m->slots[find_slot(m, key, len, hash_key(m, key, len))];
    return s ? OBJ(s) : NULL;
}

void *objmap_add(objmap_t *m, void *obj)
{
    if ((uintptr_t)obj & TAG_MASK) abort(); /* not aligned as malloc aligns: a caller bug */
    if ((m->count + 1) * 4 > m->cap * 3) resize(m, m->cap ? m->cap * 2 : 8);
    size_t len;
    const char *key = m->key_of(obj, &len);
    uint64_t hash = hash_key(m, key, len);
    size_t i = find_slot(m, key, len, hash);
    if (m->slots[i]) return OBJ(m->slots[i]);
    m->slots[i] = (uintptr_t)obj | TAG(hash);
    m->count++;
    return NULL;
}

void *objmap_remove(objmap_t *m, const char *key, size_t len)
{
    if (!m->count) return NULL;
    size_t mask = m->cap - 1;
    size_t i = find_slot(m, key, len, hash_key(m, key, len));
    if (!m->slots[i]) return NULL;
    void *obj = OBJ(m->slots[i]);
    m->slots[i] = 0;
    m->count--;
    /* Backward shift: pull later members of the probe run into the hole. */
    for (size_t j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
        size_t home = (size_t)hash_obj(m, OBJ(m->slots[j])) & mask;
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        int stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        m->slots[i] = m->slots[j];
        m->slots[j] = 0;
        i = j;
    }
    if (m->count == 0)
        resize(m, 0);
    else if (m->cap > 8 && m->count * 8 < m->cap)
        resize(m, m->cap / 2);
    return obj;
}

size_t objmap_count(const objmap_t *m)
{
    return m->count;
}

void *objmap_next(const objmap_t *m, size_t *pos)
{
    for (; *pos < m->cap; (*pos)++)
        if (m->slots[*pos]) return OBJ(m->slots[(*pos)++]);
    return NULL;
}
