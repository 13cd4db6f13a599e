/* mem.h - allocation helpers for the core.
 *
 * Like Redis, the core treats running out of memory as fatal: every
 * allocation goes through these wrappers, which abort with a message instead
 * of returning NULL, so callers never carry an untested error path for it.
 * Limits on what clients can make us allocate are enforced before allocating
 * (see the [limits] and [server] config keys), not by hoping malloc fails. */
#ifndef IOGATE_MEM_H
#define IOGATE_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);
/* Copies len bytes and adds a terminating NUL; data may hold NULs. */
char *xmemdup0(const void *data, size_t len);

#endif
