/* plugin_metrics.c - the metrics plugins register (ABI 1.3): their names and rules, their
 * series, the updates any thread may make, and their part of the /metrics page.
 *
 * Registration happens on the loop thread during init; so does every scrape. Updates come
 * from any thread, so a series' values are atomics: a counter's or gauge's value and a
 * histogram's sum are doubles kept as their bits and changed by compare-and-swap, a
 * histogram's buckets are counters of their own bucket only (cumulated when written), so an
 * observation is one add and one swap and a scrape never sees a bucket behind _count. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/prom.h"
#include "base/utf8.h"
#include "plugins/host_api_internal.h"
#include "plugins/plugin_internal.h"

#define MAX_NAME 64
#define MAX_HELP 256
#define MAX_LABEL_VALUE 128

static const double default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct iog_metric {
    struct metric_family *family;
    struct iog_metric *next; /* the family's series, in creation order */
    char *labels;            /* as written on the page ('a="x",b="y"'); NULL: the family's handle */
    _Atomic uint64_t value;  /* counter, gauge: the double's bits */
    _Atomic uint64_t sum;    /* histogram: the double's bits */
    _Atomic uint64_t counts[]; /* histogram: one per bucket, then above every bound */
};

struct metric_family {
    struct metric_family *next; /* the host's, in registration order */
    struct iog_plugin *plugin;
    int type;
    char *name; /* the full name */
    char *help;
    char **label_names;
    size_t nlabels;
    double *buckets;
    size_t nbuckets;
    iog_metric_t *handle; /* what metric_register returned */
    iog_metric_t *series; /* without labels, the handle itself */
    size_t nseries;
};

/* ------------------------------------------------------------------ rules */

static int is_name(const char *s, size_t max, int first_digit_ok)
{
    size_t n = strlen(s);
    if (!n || n > max || (!first_digit_ok && s[0] >= '0' && s[0] <= '9')) return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The name without a counter's "_total": two metrics with the same one would clash. */
static size_t base_len(const char *name, int type)
{
    size_t n = strlen(name);
    return type == IOG_METRIC_COUNTER ? n - 6 : n;
}

static int check_name(iog_plugin_t *p, const iog_metric_def_t *d)
{
    const char *n = d->name;
    if (!n || !is_name(n, MAX_NAME, 0) || n[0] == '_')
        return plugin_fail(p, IOG_EINVAL,
                           "metric_register: name \"%s\" is not [a-z][a-z0-9_]* of at most %d "
                           "bytes",
                           n ? n : "(null)", MAX_NAME);
    if ((d->type == IOG_METRIC_COUNTER) != ends_with(n, "_total"))
        return plugin_fail(p, IOG_EINVAL,
                           "metric_register: \"%s\": a counter's name ends in _total, and only "
                           "a counter's",
                           n);
    if (ends_with(n, "_bucket") || ends_with(n, "_sum") || ends_with(n, "_count"))
        return plugin_fail(p, IOG_EINVAL,
                           "metric_register: \"%s\" ends like a histogram's series (_bucket, "
                           "_sum, _count)",
                           n);
    return 0;
}

static int check_help(iog_plugin_t *p, const char *help)
{
    size_t n = help ? strlen(help) : 0;
    int ok = n > 0 && n <= MAX_HELP && utf8_valid(help, n);
    for (size_t i = 0; ok && i < n; i++)
        if ((unsigned char)help[i] < 0x20 || help[i] == 0x7f) ok = 0;
    return ok ? 0
              : plugin_fail(p, IOG_EINVAL,
                            "metric_register: help must be 1 to %d bytes of UTF-8 without "
                            "control characters",
                            MAX_HELP);
}

static int check_labels(iog_plugin_t *p, const iog_metric_def_t *d)
{
    if (d->label_names_len > IOG_METRIC_MAX_LABELS)
        return plugin_fail(p, IOG_ERANGE, "metric_register: more than %d labels",
                           IOG_METRIC_MAX_LABELS);
    if (d->label_names_len && !d->label_names)
        return plugin_fail(p, IOG_EINVAL, "metric_register: label_names is NULL");
    for (size_t i = 0; i < d->label_names_len; i++) {
        const char *l = d->label_names[i];
        if (!l || !is_name(l, MAX_NAME, 0) || strcmp(l, "le") == 0 || strncmp(l, "__", 2) == 0)
            return plugin_fail(p, IOG_EINVAL,
                               "metric_register: label \"%s\" is not [a-z_][a-z0-9_]*, or is "
                               "reserved (le, __*)",
                               l ? l : "(null)");
        for (size_t j = 0; j < i; j++)
            if (strcmp(l, d->label_names[j]) == 0)
                return plugin_fail(p, IOG_EINVAL, "metric_register: label \"%s\" twice", l);
    }
    return 0;
}

static int check_buckets(iog_plugin_t *p, const iog_metric_def_t *d)
{
    if (d->type != IOG_METRIC_HISTOGRAM) {
        if (d->buckets || d->buckets_len)
            return plugin_fail(p, IOG_EINVAL, "metric_register: only a histogram has buckets");
        return 0;
    }
    if (!d->buckets != !d->buckets_len)
        return plugin_fail(p, IOG_EINVAL,
                           "metric_register: buckets NULL with a length, or a length of 0");
    if (d->buckets_len > IOG_METRIC_MAX_BUCKETS)
        return plugin_fail(p, IOG_ERANGE, "metric_register: more than %d buckets",
                           IOG_METRIC_MAX_BUCKETS);
    for (size_t i = 0; i < d->buckets_len; i++)
        if (!isfinite(d->buckets[i]) || (i && d->buckets[i] <= d->buckets[i - 1]))
            return plugin_fail(p, IOG_EINVAL,
                               "metric_register: buckets must be finite and increasing");
    return 0;
}

/* ------------------------------------------------------------------ registration */

static void series_free(iog_metric_t *m)
{
    free(m->labels);
    free(m);
}

static iog_metric_t *series_new(struct metric_family *f, char *labels)
{
    size_t ncounts = f->type == IOG_METRIC_HISTOGRAM ? f->nbuckets + 1 : 0;
    iog_metric_t *m = xcalloc(1, sizeof(*m) + ncounts * sizeof(m->counts[0]));
    m->family = f;
    m->labels = labels;
    return m;
}

static void family_free(struct metric_family *f)
{
    for (iog_metric_t *m = f->series, *next; m; m = next) {
        next = m->next;
        series_free(m);
    }
    if (f->nlabels) series_free(f->handle); /* else it is the one series */
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->label_names[i]);
    free(f->label_names);
    free(f->buckets);
    free(f->name);
    free(f->help);
    free(f);
}

static int name_taken(const plugin_host_t *h, const char *name, int type)
{
    size_t len = base_len(name, type);
    for (const struct metric_family *f = h->metrics; f; f = f->next)
        if (base_len(f->name, f->type) == len && strncmp(f->name, name, len) == 0) return 1;
    return 0;
}

iog_metric_t *api_metric_register(iog_plugin_t *p, const iog_metric_def_t *d)
{
    if (!p) return NULL;
    if (!d) return plugin_fail(p, IOG_EINVAL, "metric_register: NULL definition"), NULL;
    if (!state_init(p))
        return plugin_fail(p, IOG_ESTATE, "metric_register is allowed only during init"), NULL;
    if (d->struct_size < offsetof(iog_metric_def_t, buckets_len) + sizeof(d->buckets_len))
        return plugin_fail(p, IOG_EINVAL, "metric_register: struct_size too small"), NULL;
    if (d->type != IOG_METRIC_COUNTER && d->type != IOG_METRIC_GAUGE &&
        d->type != IOG_METRIC_HISTOGRAM)
        return plugin_fail(p, IOG_EINVAL, "metric_register: unknown type %d", d->type), NULL;
    if (check_name(p, d) || check_help(p, d->help) || check_labels(p, d) || check_buckets(p, d))
        return NULL;
    buf_t full = BUF_INIT;
    buf_append_str(&full, "iogate_plugin_");
    for (const char *c = p->name; *c; c++)
        buf_append_byte(&full, (uint8_t)(*c == '-' ? '_' : *c));
    buf_printf(&full, "_%s", d->name);
    if (name_taken(p->host, full.data, d->type)) {
        plugin_fail(p, IOG_EEXIST, "metric_register: %s is taken", full.data);
        buf_free(&full);
        return NULL;
    }
    struct metric_family *f = xcalloc(1, sizeof(*f));
    f->plugin = p;
    f->type = d->type;
    f->name = buf_steal(&full, NULL);
    f->help = xstrdup(d->help);
    f->nlabels = d->label_names_len;
    if (f->nlabels) f->label_names = xcalloc(f->nlabels, sizeof(char *));
    for (size_t i = 0; i < f->nlabels; i++)
        f->label_names[i] = xstrdup(d->label_names[i]);
    if (d->type == IOG_METRIC_HISTOGRAM) {
        const double *b = d->buckets ? d->buckets : default_buckets;
        f->nbuckets = d->buckets ? d->buckets_len : sizeof(default_buckets) / sizeof(double);
        f->buckets = xmalloc(f->nbuckets * sizeof(double));
        memcpy(f->buckets, b, f->nbuckets * sizeof(double));
    }
    if (f->nlabels) {
        f->handle = series_new(f, NULL);
    } else {
        f->handle = f->series = series_new(f, xstrdup(""));
        f->nseries = 1;
    }
    struct metric_family **tail = &p->host->metrics;
    while (*tail)
        tail = &(*tail)->next;
    *tail = f;
    return f->handle;
}

iog_metric_t *api_metric_series(iog_plugin_t *p, iog_metric_t *m, const char *const *values,
                                size_t n)
{
    if (!p) return NULL;
    if (!state_init(p))
        return plugin_fail(p, IOG_ESTATE, "metric_series is allowed only during init"), NULL;
    struct metric_family *f = m ? m->family : NULL;
    if (!f || f->plugin != p || !f->nlabels || m != f->handle)
        return plugin_fail(p, IOG_EINVAL, "metric_series: not a metric with labels of this plugin"),
               NULL;
    if (n != f->nlabels || !values)
        return plugin_fail(p, IOG_EINVAL, "metric_series: %s has %zu labels, %zu values given",
                           f->name, f->nlabels, n),
               NULL;
    buf_t labels = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        size_t len = values[i] ? strlen(values[i]) : 0;
        if (!values[i] || len > MAX_LABEL_VALUE || !utf8_valid(values[i], len)) {
            buf_free(&labels);
            return plugin_fail(p, IOG_EINVAL,
                               "metric_series: the value of %s is NULL, not UTF-8 or over %d "
                               "bytes",
                               f->label_names[i], MAX_LABEL_VALUE),
                   NULL;
        }
        prom_label(&labels, f->label_names[i], values[i]);
    }
    for (iog_metric_t *s = f->series; s; s = s->next) {
        if (strcmp(s->labels, labels.data) == 0) {
            buf_free(&labels);
            return s;
        }
    }
    if (f->nseries >= IOG_METRIC_MAX_SERIES) {
        buf_free(&labels);
        return plugin_fail(p, IOG_ERANGE, "metric_series: %s has %d series already", f->name,
                           IOG_METRIC_MAX_SERIES),
               NULL;
    }
    iog_metric_t *s = series_new(f, buf_steal(&labels, NULL));
    iog_metric_t **tail = &f->series;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s;
    f->nseries++;
    return s;
}

void plugin_metrics_remove(plugin_host_t *h, struct iog_plugin *p)
{
    for (struct metric_family **f = &h->metrics; *f;) {
        struct metric_family *mine = *f;
        if (mine->plugin != p) {
            f = &mine->next;
            continue;
        }
        *f = mine->next;
        family_free(mine);
    }
}

void plugin_metrics_free(plugin_host_t *h)
{
    while (h->metrics) {
        struct metric_family *f = h->metrics;
        h->metrics = f->next;
        family_free(f);
    }
}

/* ------------------------------------------------------------------ updates (any thread) */

static double bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, double_to_bits(bits_to_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* A series of that type that may be updated (not the handle of a metric with labels). */
static int updatable(const iog_metric_t *m, int type, double v)
{
    return m && m->labels && m->family->type == type && !isnan(v);
}

int api_metric_add(iog_metric_t *m, double v)
{
    if (!(updatable(m, IOG_METRIC_COUNTER, v) && v >= 0) && !updatable(m, IOG_METRIC_GAUGE, v))
        return IOG_EINVAL;
    atomic_add_double(&m->value, v);
    return 0;
}

int api_metric_set(iog_metric_t *m, double v)
{
    if (!updatable(m, IOG_METRIC_GAUGE, v)) return IOG_EINVAL;
    atomic_store_explicit(&m->value, double_to_bits(v), memory_order_relaxed);
    return 0;
}

int api_metric_observe(iog_metric_t *m, double v)
{
    if (!updatable(m, IOG_METRIC_HISTOGRAM, v)) return IOG_EINVAL;
    const struct metric_family *f = m->family;
    size_t i = 0;
    while (i < f->nbuckets && v > f->buckets[i])
        i++;
    atomic_fetch_add_explicit(&m->counts[i], 1, memory_order_relaxed);
    atomic_add_double(&m->sum, v);
    return 0;
}

/* ------------------------------------------------------------------ the page */

static const char *type_name(int type)
{
    return type == IOG_METRIC_COUNTER ? "counter"
           : type == IOG_METRIC_GAUGE ? "gauge"
                                      : "histogram";
}

void plugin_host_write_metrics(const plugin_host_t *h, buf_t *out)
{
    uint64_t counts[IOG_METRIC_MAX_BUCKETS + 1];
    for (const struct metric_family *f = h->metrics; f; f = f->next) {
        if (f->plugin->state != PLUGIN_ACTIVE || !f->series) continue;
        prom_family(out, f->name, type_name(f->type), f->help);
        for (const iog_metric_t *m = f->series; m; m = m->next) {
            if (f->type != IOG_METRIC_HISTOGRAM) {
                prom_sample(out, f->name, m->labels,
                            bits_to_double(atomic_load_explicit(&m->value, memory_order_relaxed)));
                continue;
            }
            for (size_t i = 0; i <= f->nbuckets; i++)
                counts[i] = atomic_load_explicit(&m->counts[i], memory_order_relaxed);
            prom_histogram(out, f->name, m->labels, f->buckets, f->nbuckets, counts,
                           bits_to_double(atomic_load_explicit(&m->sum, memory_order_relaxed)));
        }
    }
}
