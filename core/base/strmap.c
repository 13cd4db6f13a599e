/* strmap.c - string-keyed open-addressing hash map (see strmap.h). */
#include "base/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/random.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

uint64_t strmap_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
    const unsigned char *in = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m;
        memcpy(&m, in + i, 8); /* little-endian hosts; the value only needs to be stable */
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)in[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void strmap_init(strmap_t *m)
{
    memset(m, 0, sizeof(*m));
    uint64_t key[2];
    random_bytes(key, sizeof(key));
    m->k0 = key[0];
    m->k1 = key[1];
}

void strmap_free(strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

_Static_assert(sizeof(strmap_entry_t) == 2 * sizeof(void *) + 8,
               "a slot is two pointers and two 32-bit words");

static size_t find_slot(const strmap_t *m, const char *key, size_t len, uint32_t hash)
{
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const strmap_entry_t *e = &m->slots[i];
        if (!e->key) return i;
        if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0) return i;
    }
}

static void resize(strmap_t *m, size_t cap)
{
    strmap_entry_t *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = cap ? xcalloc(cap, sizeof(*m->slots)) : NULL;
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].key) continue;
        size_t j = find_slot(m, old[i].key, old[i].len, old[i].hash);
        m->slots[j] = old[i];
    }
    free(old);
}

void *strmap_get(const strmap_t *m, const char *key, size_t len)
{
    if (!m->count) return NULL;
    uint32_t hash = (uint32_t)strmap_siphash(m->k0, m->k1, key, len);
    const strmap_entry_t *e = &m->slots[find_slot(m, key, len, hash)];
    return e->key ? e->value : NULL;
}

void *strmap_put(strmap_t *m, const char *key, size_t len, void *value)
{
    if ((uint64_t)len > UINT32_MAX) abort();
    if ((m->count + 1) * 4 > m->cap * 3) resize(m, m->cap ? m->cap * 2 : 8);
    uint32_t hash = (uint32_t)strmap_siphash(m->k0, m->k1, key, len);
    strmap_entry_t *e = &m->slots[find_slot(m, key, len, hash)];
    if (e->key) {
        void *old = e->value;
        e->value = value;
        return old;
    }
    e->key = xmemdup0(key, len);
    e->len = (uint32_t)len;
    e->hash = hash;
    e->value = value;
    m->count++;
    return NULL;
}

void *strmap_remove(strmap_t *m, const char *key, size_t len)
{
    if (!m->count) return NULL;
    uint32_t hash = (uint32_t)strmap_siphash(m->k0, m->k1, key, len);
    size_t mask = m->cap - 1;
    size_t i = find_slot(m, key, len, hash);
    if (!m->slots[i].key) return NULL;
    void *value = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->count--;
    /* Backward shift: pull later members of the probe run into the hole. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        int stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        m->slots[i] = m->slots[j];
        m->slots[j].key = NULL;
        i = j;
    }
    if (m->count == 0) {
        resize(m, 0);
    } else if (m->cap > 8 && m->count * 8 < m->cap) {
        resize(m, m->cap / 2);
    }
    return value;
}

size_t strmap_count(const strmap_t *m)
{
    return m->count;
}

const strmap_entry_t *strmap_next(const strmap_t *m, size_t *pos)
{
    for (; *pos < m->cap; (*pos)++)
        if (m->slots[*pos].key) return &m->slots[(*pos)++];
    return NULL;
}
