/* keycount.c - counters by key, an entry per key in use (see keycount.h). */
#include "base/keycount.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

struct keycount_entry {
    size_t count;
    uint32_t len;
    char key[];
};

static const char *entry_key(const void *obj, size_t *len)
{
    const keycount_entry_t *e = obj;
    *len = e->len;
    return e->key;
}

void keycount_init(keycount_t *t)
{
    objmap_init(&t->map, entry_key);
}

void keycount_free(keycount_t *t)
{
    size_t pos = 0;
    keycount_entry_t *e;
    while ((e = objmap_next(&t->map, &pos)))
        free(e);
    objmap_free(&t->map);
}

size_t keycount_get(const keycount_t *t, const char *key, size_t len)
{
    if (len > KEYCOUNT_KEY_MAX) len = KEYCOUNT_KEY_MAX;
    const keycount_entry_t *e = objmap_get(&t->map, key, len);
    return e ? e->count : 0;
}

keycount_entry_t *keycount_add(keycount_t *t, const char *key, size_t len)
{
    if (len > KEYCOUNT_KEY_MAX) len = KEYCOUNT_KEY_MAX;
    keycount_entry_t *e = objmap_get(&t->map, key, len);
    if (!e) {
        e = xmalloc(sizeof(*e) + len);
        e->count = 0;
        e->len = (uint32_t)len;
        memcpy(e->key, key, len);
        objmap_add(&t->map, e);
    }
    e->count++;
    return e;
}

void keycount_release(keycount_t *t, keycount_entry_t *e)
{
    if (--e->count) return;
    objmap_remove(&t->map, e->key, e->len);
    free(e);
}

size_t keycount_keys(const keycount_t *t)
{
    return objmap_count(&t->map);
}
