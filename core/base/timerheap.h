/* timerheap.h - a binary min-heap of deadlines, for owners that need many timers
 * but can share one libuv timer (an Engine.IO server has one deadline per
 * session: a uv_timer_t each would be 152 bytes of every idle connection).
 *
 * Nodes are embedded in their owners (container_of to get back); the heap only
 * holds pointers. Insert, update and remove are O(log n). */
#ifndef IOGATE_TIMERHEAP_H
#define IOGATE_TIMERHEAP_H

#include <stddef.h>
#include <stdint.h>

#define TIMERHEAP_NONE ((size_t)-1)

typedef struct timerheap_node {
    uint64_t deadline;
    size_t index; /* position in the heap, TIMERHEAP_NONE when not in it */
} timerheap_node_t;

typedef struct timerheap {
    timerheap_node_t **items;
    size_t len, cap;
} timerheap_t;

void timerheap_init(timerheap_t *h);
void timerheap_free(timerheap_t *h);
void timerheap_node_init(timerheap_node_t *n);
/* Inserts n, or moves it if already in: its deadline becomes `deadline`. */
void timerheap_set(timerheap_t *h, timerheap_node_t *n, uint64_t deadline);
/* Removes n if it is in the heap. */
void timerheap_remove(timerheap_t *h, timerheap_node_t *n);
/* The earliest node, or NULL. */
timerheap_node_t *timerheap_top(const timerheap_t *h);
size_t timerheap_size(const timerheap_t *h);

#endif
