/* timerheap.c - binary min-heap of embedded deadline nodes (see timerheap.h). */
#include "base/timerheap.h"

#include <stdlib.h>

#include "base/mem.h"

void timerheap_init(timerheap_t *h)
{
    h->items = NULL;
    h->len = h->cap = 0;
}

void timerheap_free(timerheap_t *h)
{
    free(h->items);
    timerheap_init(h);
}

void timerheap_node_init(timerheap_node_t *n)
{
    n->deadline = 0;
    n->index = TIMERHEAP_NONE;
}

static void place(timerheap_t *h, size_t i, timerheap_node_t *n)
{
    h->items[i] = n;
    n->index = i;
}

static void sift_up(timerheap_t *h, size_t i)
{
    timerheap_node_t *n = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->deadline <= n->deadline) break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, n);
}

static void sift_down(timerheap_t *h, size_t i)
{
    timerheap_node_t *n = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len) break;
        if (child + 1 < h->len && h->items[child + 1]->deadline < h->items[child]->deadline)
            child++;
        if (n->deadline <= h->items[child]->deadline) break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, n);
}

void timerheap_set(timerheap_t *h, timerheap_node_t *n, uint64_t deadline)
{
    if (n->index != TIMERHEAP_NONE) {
        uint64_t old = n->deadline;
        n->deadline = deadline;
        if (deadline < old)
            sift_up(h, n->index);
        else
            sift_down(h, n->index);
        return;
    }
    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->items = xrealloc(h->items, h->cap * sizeof(*h->items));
    }
    n->deadline = deadline;
    place(h, h->len++, n);
    sift_up(h, h->len - 1);
}

void timerheap_remove(timerheap_t *h, timerheap_node_t *n)
{
    size_t i = n->index;
    if (i == TIMERHEAP_NONE) return;
    n->index = TIMERHEAP_NONE;
    timerheap_node_t *last = h->items[--h->len];
    if (i < h->len) {
        place(h, i, last);
        if (i > 0 && h->items[(i - 1) / 2]->deadline > last->deadline)
            sift_up(h, i);
        else
            sift_down(h, i);
    }
    /* A heap that emptied gives its memory back. */
    if (h->len == 0) timerheap_free(h);
}

timerheap_node_t *timerheap_top(const timerheap_t *h)
{
    return h->len ? h->items[0] : NULL;
}

size_t timerheap_size(const timerheap_t *h)
{
    return h->len;
}
