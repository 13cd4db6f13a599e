/* membudget.c - the budget of bytes held for clients: the slow paths (episodes, logging). */
#include "base/membudget.h"

#include <string.h>

#include "base/log.h"

void membudget_init(membudget_t *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit;
}

void membudget_release_slow(membudget_t *b)
{
    /* Under half: the episode is over, and the next shed is news worth a line again. */
    if (b->used >= b->limit / 2) return;
    b->in_episode = 0;
    log_info("limits", "bytes held for clients back under max_client_bytes: %zu of %zu", b->used,
             b->limit);
}

size_t membudget_fair_share(const membudget_t *b, size_t holders)
{
    if (!b->limit) return SIZE_MAX;
    return b->limit / (holders ? holders : 1);
}

int membudget_add_reclaimer(membudget_t *b, membudget_reclaim_fn fn, void *user)
{
    if (b->nreclaimers == MEMBUDGET_RECLAIMERS) return -1;
    b->reclaimers[b->nreclaimers].fn = fn;
    b->reclaimers[b->nreclaimers].user = user;
    b->nreclaimers++;
    return 0;
}

void membudget_remove_reclaimer(membudget_t *b, void *user)
{
    for (unsigned i = 0; i < b->nreclaimers; i++) {
        if (b->reclaimers[i].user != user) continue;
        b->reclaimers[i] = b->reclaimers[--b->nreclaimers];
        return;
    }
}

void membudget_shed(membudget_t *b, const char *what)
{
    b->shed++;
    for (unsigned i = 0; i < b->nreclaimers; i++)
        b->reclaimers[i].fn(b->reclaimers[i].user);
    if (b->in_episode) return;
    b->in_episode = 1;
    b->episodes++;
    log_warn("limits",
             "bytes held for clients at %zu of max_client_bytes %zu: shedding (%s); logged once "
             "until under half",
             b->used, b->limit, what);
}
