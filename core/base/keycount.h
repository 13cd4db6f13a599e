/* keycount.h - counters by key, for limits per client address ("at most N sessions from one
 * address").
 *
 * A key has an entry only while its count is above zero, so the table stays as small as the
 * set of keys in use. An entry is a stable handle: the holder keeps it (one pointer) and
 * releases through it, without the key. Keys are byte strings of at most KEYCOUNT_KEY_MAX
 * bytes (longer ones are cut there; an address as text always fits). */
#ifndef IOGATE_KEYCOUNT_H
#define IOGATE_KEYCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "base/objmap.h"

#define KEYCOUNT_KEY_MAX 64

typedef struct keycount_entry keycount_entry_t;

typedef struct keycount {
    objmap_t map;
} keycount_t;

void keycount_init(keycount_t *t);
/* Frees every entry (handles still held become invalid). */
void keycount_free(keycount_t *t);
/* The count of key (0 when it has none). */
size_t keycount_get(const keycount_t *t, const char *key, size_t len);
/* Counts one more for key and returns its entry, to hand back to keycount_release. */
keycount_entry_t *keycount_add(keycount_t *t, const char *key, size_t len);
/* Counts one less for the entry's key; the entry is freed when that reaches zero. */
void keycount_release(keycount_t *t, keycount_entry_t *e);
/* Keys with a count above zero. */
size_t keycount_keys(const keycount_t *t);

#endif
