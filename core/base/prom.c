/* prom.c - the Prometheus text format's writing rules and the loop's duration histogram. */
#include "base/prom.h"

#include <inttypes.h>
#include <math.h>

#include "base/json_out.h"

const double prom_duration_bounds[PROM_DURATION_BOUNDS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

/* The same bounds in nanoseconds: an observation compares integers. */
static const uint64_t bounds_ns[PROM_DURATION_BOUNDS] = {
    500000ULL,     1000000ULL,    2500000ULL,    5000000ULL,     10000000ULL,
    25000000ULL,   50000000ULL,   100000000ULL,  250000000ULL,   500000000ULL,
    1000000000ULL, 2500000000ULL, 5000000000ULL, 10000000000ULL, 30000000000ULL};

void prom_family(buf_t *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            buf_append_str(out, "\\\\");
        else if (*p == '\n')
            buf_append_str(out, "\\n");
        else
            buf_append_byte(out, (uint8_t)*p);
    }
    buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

void prom_label_value(buf_t *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') {
            buf_append_byte(out, '\\');
            buf_append_byte(out, (uint8_t)*v);
        } else if (*v == '\n') {
            buf_append_str(out, "\\n");
        } else {
            buf_append_byte(out, (uint8_t)*v);
        }
    }
}

void prom_label(buf_t *out, const char *name, const char *v)
{
    if (out->len) buf_append_byte(out, ',');
    buf_printf(out, "%s=\"", name);
    prom_label_value(out, v);
    buf_append_byte(out, '"');
}

void prom_number(buf_t *out, double v)
{
    if (isnan(v))
        buf_append_str(out, "NaN");
    else if (isinf(v))
        buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
    else
        json_out_append_real(out, v);
}

static void sample_head(buf_t *out, const char *name, const char *labels)
{
    buf_append_str(out, name);
    if (labels && *labels) buf_printf(out, "{%s}", labels);
    buf_append_byte(out, ' ');
}

void prom_sample(buf_t *out, const char *name, const char *labels, double v)
{
    sample_head(out, name, labels);
    prom_number(out, v);
    buf_append_byte(out, '\n');
}

void prom_sample_u64(buf_t *out, const char *name, const char *labels, uint64_t v)
{
    sample_head(out, name, labels);
    buf_printf(out, "%" PRIu64 "\n", v);
}

void prom_histogram(buf_t *out, const char *name, const char *labels, const double *bounds,
                    size_t n, const uint64_t *counts, double sum)
{
    const char *sep = labels && *labels ? "," : "";
    uint64_t total = 0;
    for (size_t i = 0; i <= n; i++) {
        total += counts[i];
        buf_printf(out, "%s_bucket{%s%sle=\"", name, labels ? labels : "", sep);
        prom_number(out, i < n ? bounds[i] : INFINITY);
        buf_printf(out, "\"} %" PRIu64 "\n", total);
    }
    buf_printf(out, "%s_sum", name);
    if (labels && *labels) buf_printf(out, "{%s}", labels);
    buf_append_byte(out, ' ');
    prom_number(out, sum);
    buf_printf(out, "\n%s_count", name);
    if (labels && *labels) buf_printf(out, "{%s}", labels);
    buf_printf(out, " %" PRIu64 "\n", total);
}

void prom_duration_observe(prom_duration_t *h, uint64_t ns)
{
    size_t i = 0;
    while (i < PROM_DURATION_BOUNDS && ns > bounds_ns[i])
        i++;
    h->counts[i]++;
    h->sum_ns += ns;
}

void prom_duration_write(buf_t *out, const char *name, const char *labels, const prom_duration_t *h)
{
    prom_histogram(out, name, labels, prom_duration_bounds, PROM_DURATION_BOUNDS, h->counts,
                   (double)h->sum_ns / 1e9);
}
