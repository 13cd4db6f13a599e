/* test_plugins.c - the loader and its version rules, with real .so files built
 * by tests/plugins through iogate_add_plugin(): wrong major, newer minor, no
 * entry symbol and missing files are refused with messages naming the file;
 * an older minor loads, also when built against the frozen 1.0, 1.1 and 1.2 headers;
 * a failing init leaves no route, event, metric or timer and gets no fini; a plugin or
 * directory another user could write is refused unless the config allows it;
 * --check-config runs a plugin's check, never its init. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <iogate/iogate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "plugins/plugin_host.h"
#include "sio/sio_server.h"

#define PLUGIN(name) IOGATE_BINARY_DIR "/test-plugins/" name ".so"

typedef struct fixture {
    uv_loop_t loop;
    config_t cfg;
    gateway_t gw;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char err[512];
    const char *text = "[server]\nport = 0\n[auth]\njwt_secret = "
                       "\"test-plugins-secret-0123456789abcdef\"\n[plugins]\nload = []\n"
                       "[plugin.abi_full]\ngreeting = \"bonjour\"\ncount = 3\n";
    assert_int_equal(config_load_text(&f->cfg, text, strlen(text), "test.toml", err, sizeof(err)),
                     0);
    uv_loop_init(&f->loop);
    assert_int_equal(gateway_init(&f->gw, &f->loop, &f->cfg, NULL, err, sizeof(err)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    plugin_host_stop(f->gw.plugins); /* closes the plugins' timers */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    gateway_free(&f->gw);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    config_free(&f->cfg);
    free(f);
    return 0;
}

static void expect_refused(fixture_t *f, const char *path, const char *needle)
{
    char err[1024] = "";
    assert_int_equal(plugin_host_load_file(f->gw.plugins, path, err, sizeof(err)), -1);
    if (!strstr(err, needle)) fail_msg("message '%s' lacks '%s'", err, needle);
    if (!strstr(err, path)) fail_msg("message '%s' does not name the file", err);
}

static int route_exists(fixture_t *f, const char *method, const char *path)
{
    return rest_has_route(f->gw.rest, method, path);
}

static void version_rules(void **state)
{
    fixture_t *f = *state;
    char other[64];
    snprintf(other, sizeof(other), "built for plugin ABI %d.0, this iogate provides %d.%d",
             IOG_ABI_MAJOR + 1, IOG_ABI_MAJOR, IOG_ABI_MINOR);
    expect_refused(f, PLUGIN("abi_wrong_major"), other);
    snprintf(other, sizeof(other), "needs plugin ABI %d.%d, this iogate provides only %d.%d",
             IOG_ABI_MAJOR, IOG_ABI_MINOR + 1, IOG_ABI_MAJOR, IOG_ABI_MINOR);
    expect_refused(f, PLUGIN("abi_newer_minor"), other);
    expect_refused(f, PLUGIN("abi_no_entry"), "no entry symbol iogate_plugin_entry");
    expect_refused(f, PLUGIN("does_not_exist"), "cannot load");
    assert_int_equal(plugin_host_count(f->gw.plugins), 0);

    char err[512];
    assert_int_equal(
        plugin_host_load_file(f->gw.plugins, PLUGIN("abi_older_minor"), err, sizeof(err)), 0);
    assert_true(route_exists(f, "GET", "/old-plugin"));
    assert_int_equal(plugin_host_count(f->gw.plugins), 1);
    /* Built against the frozen 1.0, 1.1, 1.2 and 1.3 headers themselves (tests/plugins/abi/). */
    assert_int_equal(plugin_host_load_file(f->gw.plugins, PLUGIN("abi_v1_0"), err, sizeof(err)), 0);
    assert_int_equal(plugin_host_load_file(f->gw.plugins, PLUGIN("abi_v1_1"), err, sizeof(err)), 0);
    assert_int_equal(plugin_host_load_file(f->gw.plugins, PLUGIN("abi_v1_2"), err, sizeof(err)), 0);
    assert_int_equal(plugin_host_load_file(f->gw.plugins, PLUGIN("abi_v1_3"), err, sizeof(err)), 0);
    assert_true(route_exists(f, "GET", "/v10/report"));
    assert_true(route_exists(f, "GET", "/v11/page"));
    assert_true(route_exists(f, "GET", "/v12/report"));
    assert_true(route_exists(f, "GET", "/v13/report"));
    assert_int_equal(plugin_host_count(f->gw.plugins), 5);
}

static void failing_init_leaves_nothing(void **state)
{
    fixture_t *f = *state;
    /* Our own handle keeps the code mapped after the host's dlclose, counters included. */
    void *dl = dlopen(PLUGIN("abi_failing_init"), RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl);
    int (*init_calls)(void) = (int (*)(void))dlsym(dl, "abi_failing_init_init_calls");
    int (*fini_calls)(void) = (int (*)(void))dlsym(dl, "abi_failing_init_fini_calls");
    assert_non_null(init_calls);
    assert_non_null(fini_calls);
    expect_refused(f, PLUGIN("abi_failing_init"), "database unreachable (deliberate test failure)");
    assert_int_equal(init_calls(), 1);
    assert_int_equal(fini_calls(), 0); /* fini follows only a successful init */
    dlclose(dl);
    assert_false(route_exists(f, "GET", "/failing"));
    assert_int_equal(plugin_host_event_count(f->gw.plugins), 0);
    buf_t page = BUF_INIT;
    plugin_host_write_metrics(f->gw.plugins, &page);
    assert_int_equal(page.len, 0);
    buf_free(&page);
    assert_int_equal(plugin_host_count(f->gw.plugins), 0);
    /* Its timer was closed: once the loop has run, nothing of it is alive. */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_false(uv_loop_alive(&f->loop));
}

static void duplicates_are_refused(void **state)
{
    fixture_t *f = *state;
    char err[512];
    assert_int_equal(plugin_host_load_file(f->gw.plugins, PLUGIN("abi_full"), err, sizeof(err)), 0);
    assert_true(route_exists(f, "GET", "/abi/report"));
    assert_int_equal(plugin_host_event_count(f->gw.plugins), 1);
    /* Its metrics (ABI 1.3) under its prefix, a series without labels from the start. */
    buf_t page = BUF_INIT;
    plugin_host_write_metrics(f->gw.plugins, &page);
    assert_non_null(strstr(page.data, "\n# TYPE iogate_plugin_abi_full_pings_total counter\n"
                                      "iogate_plugin_abi_full_pings_total 0\n"));
    assert_non_null(
        strstr(page.data, "iogate_plugin_abi_full_work_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
    buf_free(&page);
    expect_refused(f, PLUGIN("abi_duplicate_event"),
                   "event \"abi:ping\" is already registered by plugin abi_full");
    expect_refused(f, PLUGIN("abi_full"), "a plugin named \"abi_full\" is already loaded");
    assert_int_equal(plugin_host_event_count(f->gw.plugins), 1);
    assert_int_equal(plugin_host_count(f->gw.plugins), 1);
}

static void config_table_reaches_the_plugin(void **state)
{
    fixture_t *f = *state;
    char err[512];
    /* Unknown keys in [plugin.abi_full] make its init fail with file:line. */
    config_t bad;
    const char *text = "[plugin.abi_full]\ngreeting = \"x\"\ncolour = \"blue\"\n";
    assert_int_equal(config_load_text(&bad, text, strlen(text), "bad.toml", err, sizeof(err)), 0);
    plugin_host_deps_t deps = {&f->loop, &bad, f->gw.rest, f->gw.sio};
    plugin_host_t *other = plugin_host_new(&deps);
    char msg[1024] = "";
    assert_int_equal(plugin_host_load_file(other, PLUGIN("abi_full"), msg, sizeof(msg)), -1);
    if (!strstr(msg, "bad.toml:3:1: unknown key 'colour' in [plugin.abi_full]"))
        fail_msg("message '%s' lacks the key's place", msg);
    plugin_host_free(other);
    config_free(&bad);
    assert_int_equal(plugin_host_load_file(f->gw.plugins, PLUGIN("abi_full"), err, sizeof(err)), 0);
}

/* A private copy of abi_full.so: DIR/abi_full.so in a fresh directory, both 0755. */
typedef struct plugin_copy {
    char dir[64];
    char file[96];
} plugin_copy_t;

static void copy_plugin(plugin_copy_t *c)
{
    snprintf(c->dir, sizeof(c->dir), "/tmp/iogate-perm-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    assert_int_equal(chmod(c->dir, 0755), 0);
    snprintf(c->file, sizeof(c->file), "%s/abi_full.so", c->dir);
    FILE *in = fopen(PLUGIN("abi_full"), "rb");
    FILE *out = fopen(c->file, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        assert_int_equal(fwrite(chunk, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(chmod(c->file, 0755), 0);
}

static void remove_copy(plugin_copy_t *c)
{
    unlink(c->file);
    rmdir(c->dir);
}

static void writable_plugins_are_refused(void **state)
{
    fixture_t *f = *state;
    plugin_copy_t c;
    copy_plugin(&c);
    char want[256];

    assert_int_equal(chmod(c.dir, 0777), 0);
    snprintf(want, sizeof(want), "the directory %s is writable by group and others (mode 0777)",
             c.dir);
    expect_refused(f, c.file, want);
    expect_refused(f, c.file, "set [plugins] allow_insecure_permissions = true");
    assert_int_equal(chmod(c.dir, 0775), 0);
    expect_refused(f, c.file, "is writable by group (mode 0775)");
    assert_int_equal(chmod(c.dir, 01757), 0); /* sticky, as /tmp: still not for plugins */
    expect_refused(f, c.file, "is writable by others (mode 1757)");

    assert_int_equal(chmod(c.dir, 0755), 0);
    assert_int_equal(chmod(c.file, 0666), 0);
    snprintf(want, sizeof(want), "the file %s is writable by group and others (mode 0666)", c.file);
    expect_refused(f, c.file, want);
    assert_int_equal(chmod(c.file, 0755), 0);

    /* Owned by someone else (only root can hand a file over). */
    if (geteuid() == 0) {
        assert_int_equal(chown(c.file, 4242, 4242), 0);
        expect_refused(f, c.file, "is owned by uid 4242, neither root nor the server's user");
        assert_int_equal(chown(c.file, 0, 0), 0);
        assert_int_equal(chown(c.dir, 4242, 4242), 0);
        expect_refused(f, c.file, "the directory");
        assert_int_equal(chown(c.dir, 0, 0), 0);
    }
    assert_int_equal(plugin_host_count(f->gw.plugins), 0);

    /* Mode 0755 throughout: it loads. */
    char err[512];
    assert_int_equal(plugin_host_load_file(f->gw.plugins, c.file, err, sizeof(err)), 0);
    assert_int_equal(plugin_host_count(f->gw.plugins), 1);
    remove_copy(&c);
}

static void a_symlink_is_checked_where_it_leads(void **state)
{
    fixture_t *f = *state;
    plugin_copy_t real, link;
    copy_plugin(&real);
    /* link.dir is safe and holds only a symlink to the real file, whose directory is not. */
    snprintf(link.dir, sizeof(link.dir), "/tmp/iogate-perm-XXXXXX");
    assert_non_null(mkdtemp(link.dir));
    assert_int_equal(chmod(link.dir, 0755), 0);
    snprintf(link.file, sizeof(link.file), "%s/abi_full.so", link.dir);
    assert_int_equal(symlink(real.file, link.file), 0);
    assert_int_equal(chmod(real.dir, 0777), 0);
    char want[256];
    snprintf(want, sizeof(want), "the directory %s is writable by group and others", real.dir);
    expect_refused(f, link.file, want);
    assert_int_equal(chmod(real.dir, 0755), 0);
    char err[512];
    assert_int_equal(plugin_host_load_file(f->gw.plugins, link.file, err, sizeof(err)), 0);
    remove_copy(&link);
    remove_copy(&real);
}

static void allow_insecure_permissions_loads_them(void **state)
{
    fixture_t *f = *state;
    plugin_copy_t c;
    copy_plugin(&c);
    assert_int_equal(chmod(c.dir, 0777), 0);
    assert_int_equal(chmod(c.file, 0666), 0);
    f->cfg.plugins.allow_insecure_permissions = 1;
    char err[512];
    assert_int_equal(plugin_host_load_file(f->gw.plugins, c.file, err, sizeof(err)), 0);
    assert_int_equal(plugin_host_count(f->gw.plugins), 1);
    remove_copy(&c);
}

/* Collects the lines --check-config would print. */
static void collect_note(void *user, const char *line)
{
    char *notes = user;
    strncat(notes, line, 1023 - strlen(notes));
    strncat(notes, "\n", 1023 - strlen(notes));
}

/* plugin_host_check_config() with [plugins] load = LOAD and the extra TOML: its result,
 * what it printed in notes and its error in err (both 1024 bytes). */
static int check_config(const char *load, const char *extra, char *notes, char *err)
{
    char text[1024], cerr[512];
    snprintf(text, sizeof(text), "[plugins]\ndir = \"%s/test-plugins\"\nload = [%s]\n%s",
             IOGATE_BINARY_DIR, load, extra);
    config_t cfg;
    assert_int_equal(config_load_text(&cfg, text, strlen(text), "check.toml", cerr, sizeof(cerr)),
                     0);
    notes[0] = err[0] = '\0';
    int rc = plugin_host_check_config(&cfg, collect_note, notes, err, 1024);
    config_free(&cfg);
    return rc;
}

/* --check-config opens each plugin and runs its check (ABI 1.3), never init: check gets
 * only the configuration entries, and its refusal names the plugin and the key. A plugin
 * without a check is opened and its version checked; its table is said to be unchecked. */
static void check_config_runs_check_not_init(void **state)
{
    (void)state;
    void *dl = dlopen(PLUGIN("abi_check"), RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl);
    int (*init_calls)(void) = (int (*)(void))dlsym(dl, "abi_check_init_calls");
    int (*saw)(int) = (int (*)(int))dlsym(dl, "abi_check_saw");
    assert_non_null(init_calls);
    assert_non_null(saw);
    char notes[1024], err[1024];

    assert_int_equal(check_config("\"abi_check\"", "[plugin.abi_check]\nport = 8080\n", notes, err),
                     0);
    assert_string_equal(notes, "plugin abi_check 1.0.0: would listen on port 8080\n");
    assert_int_equal(saw(0), 0); /* no register_event, no work_queue */
    assert_int_equal(saw(1), 0);

    assert_int_equal(check_config("\"abi_check\"", "[plugin.abi_check]\nport = 0\n", notes, err),
                     -1);
    if (!strstr(err, "abi_check.so (abi_check 1.0.0): invalid configuration (out of range): "
                     "[plugin.abi_check] port = 0 is out of range"))
        fail_msg("message '%s'", err);
    assert_int_equal(check_config("\"abi_check\"", "[plugin.abi_check]\nprot = 1\n", notes, err),
                     -1);
    if (!strstr(err, "check.toml:5:1: unknown key 'prot' in [plugin.abi_check]"))
        fail_msg("message '%s'", err);
    assert_int_equal(init_calls(), 0);

    /* No check: the file and its version are what can be checked. */
    assert_int_equal(
        check_config("\"abi_older_minor\"", "[plugin.abi_older_minor]\nx = 1\n", notes, err), 0);
    if (!strstr(notes, "[plugin.abi_older_minor] is checked when the server starts"))
        fail_msg("notes '%s'", notes);
    assert_int_equal(check_config("\"abi_older_minor\"", "", notes, err), 0);
    assert_string_equal(notes, "");
    assert_int_equal(check_config("\"abi_check\", \"abi_wrong_major\"", "", notes, err), -1);
    if (!strstr(err, "abi_wrong_major.so: refused: it was built for plugin ABI"))
        fail_msg("message '%s'", err);
    dlclose(dl);
}

static void fake_entry(void) {}

/* The header's helpers agree with the host: the user room it names is the one the core
 * joins, and IOG_API_HAS sees only what a table of a given size holds. */
static void header_helpers(void **state)
{
    (void)state;
    assert_string_equal(IOG_USER_ROOM_PREFIX, SIO_USER_ROOM_PREFIX);
    iog_host_api_t api;
    memset(&api, 0, sizeof(api));
    api.principal_claim = (const char *(*)(iog_plugin_t *, const iog_principal_t *, const char *))(
        void (*)(void))fake_entry;
    api.emit_json = (int (*)(iog_plugin_t *, const iog_target_t *, const char *, const char *,
                             size_t))(void (*)(void))fake_entry;
    api.struct_size = offsetof(iog_host_api_t, request_remote_addr); /* a 1.0 host's table */
    assert_true(IOG_API_HAS(&api, principal_claim));
    assert_false(IOG_API_HAS(&api, emit_json));
    api.struct_size = sizeof(api);
    assert_true(IOG_API_HAS(&api, emit_json));
    assert_false(IOG_API_HAS(&api, emit_with_ack)); /* covered, but NULL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_helpers),
        cmocka_unit_test(check_config_runs_check_not_init),
        cmocka_unit_test_setup_teardown(version_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(failing_init_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicates_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(config_table_reaches_the_plugin, setup, teardown),
        cmocka_unit_test_setup_teardown(writable_plugins_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_symlink_is_checked_where_it_leads, setup, teardown),
        cmocka_unit_test_setup_teardown(allow_insecure_permissions_loads_them, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
