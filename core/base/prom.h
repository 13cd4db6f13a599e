/* prom.h - writing the Prometheus text exposition format (version 0.0.4): family headers,
 * samples with their label sets, histograms from per-bucket counts; and the duration histogram
 * the loop thread keeps (fixed bounds, plain counters: an observation is a few compares and two
 * adds, no allocation, no lock).
 *
 * Label sets are given as text, already written and escaped ('method="GET",route="/x"', or NULL
 * for none): callers that write the same set on every scrape build it once. Pure: no I/O, no
 * global state beyond the constant bounds. */
#ifndef IOGATE_PROM_H
#define IOGATE_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* "# HELP name help\n# TYPE name type\n" (help escaped as the format wants). */
void prom_family(buf_t *out, const char *name, const char *type, const char *help);
/* Appends v escaped for a label value (backslash, double quote, newline). */
void prom_label_value(buf_t *out, const char *v);
/* Appends name="v" with v escaped, preceded by a comma unless out is empty. */
void prom_label(buf_t *out, const char *name, const char *v);
/* A number as the format reads it: the shortest text that reads back the same, or +Inf, -Inf,
 * NaN. */
void prom_number(buf_t *out, double v);
/* One sample line: name{labels} value. */
void prom_sample(buf_t *out, const char *name, const char *labels, double v);
void prom_sample_u64(buf_t *out, const char *name, const char *labels, uint64_t v);
/* A histogram's lines: name_bucket for each of the n bounds (ascending) and +Inf, cumulative,
 * then name_sum and name_count. counts[i] holds the observations that fell in bucket i alone
 * (counts[n]: above every bound), so the total is their sum and the buckets never disagree
 * with _count. */
void prom_histogram(buf_t *out, const char *name, const char *labels, const double *bounds,
                    size_t n, const uint64_t *counts, double sum);

/* A histogram of durations in seconds, kept on one thread. Bounds from 0.5 ms to 30 s: a REST
 * answer takes well under a millisecond, a long poll up to [socketio] ping_interval_ms. */
#define PROM_DURATION_BOUNDS 15
extern const double prom_duration_bounds[PROM_DURATION_BOUNDS];
typedef struct prom_duration {
    uint64_t counts[PROM_DURATION_BOUNDS + 1];
    uint64_t sum_ns;
} prom_duration_t;
void prom_duration_observe(prom_duration_t *h, uint64_t ns);
void prom_duration_write(buf_t *out, const char *name, const char *labels,
                         const prom_duration_t *h);

#endif
