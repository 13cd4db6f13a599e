/* membudget.h - one budget for the bytes the server holds on behalf of its clients:
 * request bodies being received, pending Socket.IO attachments, Engine.IO outboxes and the
 * queued output of connections ([limits] max_client_bytes).
 *
 * Each limit per connection bounds one client; this bounds them all together, so that
 * max_connections clients each near their own limits cannot exhaust memory. The holders
 * charge and release; when a charge would pass the limit, the holder sheds (a 503, a closed
 * client, a dropped slow consumer) and reports it with membudget_shed(), which counts it and
 * logs one warning per episode. An episode ends when the total falls back under half the
 * limit (shedding one large offender takes it under 90 % at once: a line per shed would
 * flood the log under a sustained attack); the next shed logs again. A shed also asks the
 * reclaimers, holders that can give memory back on their own (an Engine.IO server dropping
 * its slowest consumers), to do so: what is refused is not refused for long because of what
 * sits still.
 *
 * Everything runs on the loop thread: charging is a counter add, with no lock and no
 * allocation. */
#ifndef IOGATE_MEMBUDGET_H
#define IOGATE_MEMBUDGET_H

#include <stddef.h>
#include <stdint.h>

/* Asked to give memory back; called from inside parsers and pushes, so it should only
 * schedule the work (for a later loop turn). */
typedef void (*membudget_reclaim_fn)(void *user);

#define MEMBUDGET_RECLAIMERS 4

typedef struct membudget {
    size_t limit; /* 0: no limit */
    size_t used;
    size_t peak;
    uint64_t shed;     /* offenders shed */
    uint64_t episodes; /* shedding episodes (one warning each) */
    int in_episode;
    struct {
        membudget_reclaim_fn fn;
        void *user;
    } reclaimers[MEMBUDGET_RECLAIMERS];
    unsigned nreclaimers;
} membudget_t;

void membudget_init(membudget_t *b, size_t limit);

/* Charges n bytes unless that takes the total past the limit. Returns 0 (charged) or -1
 * (nothing charged: the caller refuses what it was about to hold, and sheds). */
static inline int membudget_try_charge(membudget_t *b, size_t n)
{
    if (b->limit && (b->used > b->limit || n > b->limit - b->used)) return -1;
    b->used += n;
    if (b->used > b->peak) b->peak = b->used;
    return 0;
}

/* Charges n bytes already held, whatever the limit. Returns 1 when the total is now past
 * the limit (the caller decides whether it is the one to shed), else 0. */
static inline int membudget_charge(membudget_t *b, size_t n)
{
    b->used += n;
    if (b->used > b->peak) b->peak = b->used;
    return b->limit && b->used > b->limit;
}

void membudget_release_slow(membudget_t *b);

/* Releases n bytes charged earlier. */
static inline void membudget_release(membudget_t *b, size_t n)
{
    b->used = n < b->used ? b->used - n : 0;
    if (b->in_episode) membudget_release_slow(b);
}

static inline int membudget_over(const membudget_t *b)
{
    return b->limit && b->used > b->limit;
}

/* At or above 90 % of the limit: the zone where reclaiming is worth it (and an episode has
 * not ended yet). */
static inline int membudget_pressed(const membudget_t *b)
{
    return b->limit && b->used >= b->limit - b->limit / 10;
}

/* What one of `holders` clients may keep once the budget is past: the limit shared evenly.
 * A client holding more is an offender; one holding less is not dropped for the others. */
size_t membudget_fair_share(const membudget_t *b, size_t holders);

/* Counts one offender shed, and asks the reclaimers to give memory back. `what` says what
 * was shed, for the episode's one log line. */
void membudget_shed(membudget_t *b, const char *what);

/* Registers (returns 0) or unregisters a reclaimer; -1 when MEMBUDGET_RECLAIMERS are already
 * registered. */
int membudget_add_reclaimer(membudget_t *b, membudget_reclaim_fn fn, void *user);
void membudget_remove_reclaimer(membudget_t *b, void *user);

#endif
