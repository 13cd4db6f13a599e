/* abi_v1_3.c - a plugin compiled against the frozen 1.3 header (tests/plugins/abi/1.3):
 * today's host must load it and give the entries 1.3 added the meaning that header states:
 * the descriptor's check() for --check-config (IOG_PLUGIN_CHECKED), the plugin's metrics
 * (metric_register, metric_series, metric_add, metric_set, metric_observe) and
 * set_recoverable. The recovery source entries are driven by recovery.c, whose replies a
 * client can only see through a lost and recovered transport (recovery-abi.test.mjs).
 * tests/node/plugins-abi-frozen.test.mjs drives this one through routes under /v13. */
#include <iogate/iogate.h>
#include <stdio.h>
#include <string.h>

#if IOG_ABI_MINOR != 3
#error "abi_v1_3.c is built against the frozen 1.3 header (tests/plugins/abi/1.3)"
#endif

static const iog_host_api_t *api;
static iog_metric_t *hits_a, *hits_b, *level, *took;

static struct {
    double hits;
    /* what init's refused calls returned: 1 when metric_register() gave NULL */
    int counter_without_total, name_taken;
    int update_family, negative_add, set_on_counter, recoverable_not_ours;
} st;

static int serialize_blip(void *user, const void *payload, iog_json_writer_t *w)
{
    (void)user;
    api->json_string(w, payload);
    return 0;
}

/* POST /v13/hit?kind=a|b: counts a hit of that kind, sets the gauge to the hits so far and
 * observes 0.2 s in the histogram. */
static void route_hit(void *user, iog_request_t *req)
{
    (void)user;
    const char *kind = api->request_query(req, "kind");
    int r = api->metric_add(kind && strcmp(kind, "b") == 0 ? hits_b : hits_a, 1);
    if (!r) r = api->metric_set(level, ++st.hits);
    if (!r) r = api->metric_observe(took, 0.2);
    api->respond(req, r ? 500 : 204, NULL, 0);
}

/* GET /v13/report: what the refused calls returned, and the codes to compare them with. */
static void route_report(void *user, iog_request_t *req)
{
    (void)user;
    char out[256];
    int n = snprintf(out, sizeof(out),
                     "{\"counterWithoutTotal\":%d,\"nameTaken\":%d,\"updateFamily\":%d,"
                     "\"negativeAdd\":%d,\"setOnCounter\":%d,\"recoverableNotOurs\":%d,"
                     "\"einval\":%d,\"enoent\":%d}",
                     st.counter_without_total, st.name_taken, st.update_family, st.negative_add,
                     st.set_on_counter, st.recoverable_not_ours, IOG_EINVAL, IOG_ENOENT);
    api->respond(req, 200, out, (size_t)n);
}

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    static const char *const kind[] = {"kind"};
    static const char *const a[] = {"a"}, *const b[] = {"b"};
    static const double buckets[] = {0.1, 0.5};
    const iog_metric_def_t hits_def = {
        sizeof(hits_def), IOG_METRIC_COUNTER, "v13_hits_total", "Hits, by kind.", kind, 1, NULL, 0};
    const iog_metric_def_t level_def = {
        sizeof(level_def), IOG_METRIC_GAUGE, "v13_level", "Hits so far.", NULL, 0, NULL, 0};
    const iog_metric_def_t took_def = {sizeof(took_def),
                                       IOG_METRIC_HISTOGRAM,
                                       "v13_took_seconds",
                                       "Time per hit.",
                                       NULL,
                                       0,
                                       buckets,
                                       2};
    iog_metric_t *hits = api->metric_register(p, &hits_def);
    hits_a = hits ? api->metric_series(p, hits, a, 1) : NULL;
    hits_b = hits ? api->metric_series(p, hits, b, 1) : NULL;
    level = api->metric_register(p, &level_def);
    took = api->metric_register(p, &took_def);
    int r = hits_a && hits_b && level && took ? 0 : IOG_EINVAL;
    if (!r) r = api->register_event(p, "v13:blip", serialize_blip, NULL);
    if (!r) r = api->set_recoverable(p, "v13:blip", 0);
    if (!r) r = api->register_route(p, "POST", "/v13/hit", IOG_ROUTE_PUBLIC, route_hit, NULL);
    if (!r) r = api->register_route(p, "GET", "/v13/report", IOG_ROUTE_PUBLIC, route_report, NULL);
    if (r) {
        snprintf(err, err_size, "%s", api->plugin_error(p));
        return r;
    }
    const iog_metric_def_t no_total = {
        sizeof(no_total), IOG_METRIC_COUNTER, "v13_misses", "No _total.", NULL, 0, NULL, 0};
    st.counter_without_total = api->metric_register(p, &no_total) == NULL;
    st.name_taken = api->metric_register(p, &level_def) == NULL;
    st.update_family = api->metric_add(hits, 1);
    st.negative_add = api->metric_add(hits_a, -1);
    st.set_on_counter = api->metric_set(hits_a, 5);
    st.recoverable_not_ours = api->set_recoverable(p, "v13:nobody", 0);
    return 0;
}

/* --check-config: [plugin.abi_v1_3] level, 0 to 9 (3 when absent). */
static int check(iog_plugin_t *p, const iog_host_api_t *host, char *msg, size_t msg_size)
{
    static const char *const known[] = {"level"};
    int64_t v;
    int r = host->config_check_keys(p, known, 1);
    if (!r) r = host->config_int(p, "level", 3, &v);
    if (r) {
        snprintf(msg, msg_size, "%s", host->plugin_error(p));
        return r;
    }
    if (v < 0 || v > 9) {
        snprintf(msg, msg_size, "[plugin.abi_v1_3] level = %lld is out of range", (long long)v);
        return IOG_ERANGE;
    }
    snprintf(msg, msg_size, "would run at level %lld", (long long)v);
    return 0;
}

IOG_PLUGIN_CHECKED("abi_v1_3", "1.3.0", init, NULL, check)
