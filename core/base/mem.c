/* mem.c - allocation wrappers that abort on exhaustion (see mem.h). */
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t size)
{
    fprintf(stderr, "iogate: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) out_of_memory(size);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) out_of_memory(count * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p) out_of_memory(size);
    return p;
}

char *xmemdup0(const void *data, size_t len)
{
    char *p = xmalloc(len + 1);
    if (len) memcpy(p, data, len);
    p[len] = '\0';
    return p;
}

char *xstrdup(const char *s)
{
    return xmemdup0(s, strlen(s));
}

char *xstrndup(const char *s, size_t len)
{
    size_t n = strnlen(s, len);
    return xmemdup0(s, n);
}
