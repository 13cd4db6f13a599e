/* plugin_host.c - finding, checking, initialising and finalising plugins.
 *
 * The version check lives here and only here: another ABI major is refused,
 * a plugin that needs a newer minor than this host is refused, an older
 * minor is accepted (the host table only ever grew). A plugin whose init
 * fails leaves nothing behind: routes and events it registered are removed,
 * Socket.IO handlers were only staged and are dropped, its timers stop. It does
 * not get fini(): it released what it held before returning its error.
 * --check-config opens each plugin the same way and runs its check() (ABI 1.3), never init.
 *
 * Before dlopen, the file and its directory must not be writable by group or others and
 * must belong to root or to the user iogate runs as, as sshd's StrictModes demands of its
 * key files: anyone who can replace a plugin runs code as the server. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "config/config.h"
#include "plugins/plugin_internal.h"

int plugin_fail(struct iog_plugin *p, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof(p->error), fmt, ap);
    va_end(ap);
    return code;
}

plugin_host_t *plugin_host_new(const plugin_host_deps_t *deps)
{
    plugin_host_t *h = xcalloc(1, sizeof(*h));
    h->deps = *deps;
    strmap_init(&h->events);
    return h;
}

void plugin_host_each_unready(plugin_host_t *h,
                              void (*fn)(void *user, const char *name, const char *reason),
                              void *user)
{
    for (ready_check_t *c = h->checks; c; c = c->next) {
        if (c->plugin->state != PLUGIN_ACTIVE) continue;
        const char *why = c->fn(c->user);
        if (why) fn(user, c->name, why[0] ? why : "not ready");
    }
}

size_t plugin_host_count(const plugin_host_t *h)
{
    return h->n;
}

size_t plugin_host_event_count(const plugin_host_t *h)
{
    return strmap_count(&h->events);
}

void plugin_host_each_event(const plugin_host_t *h,
                            void (*fn)(void *user, const char *event, uint64_t emitted,
                                       uint64_t recipients),
                            void *user)
{
    size_t pos = 0;
    const strmap_entry_t *e;
    while ((e = strmap_next(&h->events, &pos))) {
        const event_def_t *d = e->value;
        fn(user, e->key, d->emitted, d->recipients);
    }
}

static int valid_plugin_name(const char *name)
{
    if (!name || !name[0] || strlen(name) > 64) return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
            return 0;
    return 1;
}

static struct iog_plugin *find_plugin(plugin_host_t *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->plugins[i]->name, name) == 0) return h->plugins[i];
    return NULL;
}

int plugin_stage(struct iog_plugin *p, int kind, const char *nsp, const char *event,
                 void (*fn)(void), void *user)
{
    if (!nsp || nsp[0] != '/')
        return plugin_fail(p, IOG_EINVAL, "namespace \"%s\" must start with '/'", nsp ? nsp : "");
    staged_t *s = xcalloc(1, sizeof(*s));
    s->kind = kind;
    s->nsp = xstrdup(nsp);
    s->event = event ? xstrdup(event) : NULL;
    s->fn = fn;
    s->user = user;
    staged_t **tail = &p->staged;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s;
    return 0;
}

/* Applies staged registrations once init succeeded. */
static void plugin_apply_staged(struct iog_plugin *p)
{
    sio_server_t *sio = p->host->deps.sio;
    for (staged_t *s = p->staged; s; s = s->next) {
        sio_nsp_t *nsp = sio_server_nsp(sio, s->nsp);
        if (s->kind == STAGED_NAMESPACE) continue;
        hook_t *h = xcalloc(1, sizeof(*h));
        h->plugin = p;
        h->fn = s->fn;
        h->user = s->user;
        h->next = p->hooks;
        p->hooks = h;
        plugin_hook_sio(h, s->kind, nsp, s->event);
    }
}

/* Undoes everything a plugin registered (failed init): its routes and events; its timers
 * are abandoned (they free themselves once closed). Staged hooks were never applied. */
static void plugin_unregister(struct iog_plugin *p)
{
    plugin_host_t *host = p->host;
    for (hook_t *h = p->hooks; h; h = h->next)
        rest_remove_routes(host->deps.rest, h);
    for (size_t i = 0; i < p->nevents; i++)
        event_def_free(strmap_remove(&host->events, p->events[i], strlen(p->events[i])));
    for (ready_check_t **c = &host->checks; *c;) {
        ready_check_t *mine = *c;
        if (mine->plugin != p) {
            c = &mine->next;
            continue;
        }
        *c = mine->next;
        free(mine->name);
        free(mine);
    }
    plugin_metrics_remove(host, p);
    plugin_timers_abandon(p);
}

static void plugin_record_free(struct iog_plugin *p)
{
    for (size_t i = 0; i < p->nevents; i++)
        free(p->events[i]);
    free(p->events);
    while (p->staged) {
        staged_t *s = p->staged;
        p->staged = s->next;
        free(s->nsp);
        free(s->event);
        free(s);
    }
    while (p->hooks) {
        hook_t *hk = p->hooks;
        p->hooks = hk->next;
        free(hk);
    }
    free(p->file);
    free(p->name);
    free(p);
}

/* Who may change what stat(path) reaches: NULL when only root or we may, else why not. */
static const char *unsafe_reason(const char *path, char *why, size_t why_size)
{
    struct stat st;
    if (stat(path, &st) != 0) return NULL; /* missing or unreadable: dlopen will say so */
    uid_t me = geteuid();
    if (st.st_uid != 0 && st.st_uid != me) {
        snprintf(why, why_size, "is owned by uid %u, neither root nor the server's user (uid %u)",
                 (unsigned)st.st_uid, (unsigned)me);
        return why;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        const char *who = !(st.st_mode & S_IWOTH)   ? "group"
                          : !(st.st_mode & S_IWGRP) ? "others"
                                                    : "group and others";
        snprintf(why, why_size, "is writable by %s (mode %04o)", who,
                 (unsigned)(st.st_mode & 07777));
        return why;
    }
    return NULL;
}

/* Checks the directory named in path, the file dlopen will open (symlinks followed), and
 * the directory that really holds it. The parents above are not checked: a directory put in
 * their place by another user would belong to that user and be refused here anyway. */
static int check_permissions(const config_t *cfg, const char *path, char *err, size_t err_size)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xmemdup0(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
    char *real_dir = realpath(path, NULL);
    if (real_dir) {
        char *cut = strrchr(real_dir, '/');
        cut[cut == real_dir ? 1 : 0] = '\0';
        char *named = realpath(dir, NULL);
        if (named && strcmp(named, real_dir) == 0) { /* the usual case: no symlinked file */
            free(real_dir);
            real_dir = NULL;
        }
        free(named);
    }
    const char *checks[][2] = {{"directory", dir}, {"file", path}, {"directory", real_dir}};
    int rc = 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]) && rc == 0; i++) {
        char why[128];
        const char *problem = checks[i][1] ? unsafe_reason(checks[i][1], why, sizeof(why)) : NULL;
        if (!problem) continue;
        if (cfg->plugins.allow_insecure_permissions) {
            log_warn("plugins",
                     "the %s %s %s; loading %s anyway ([plugins] "
                     "allow_insecure_permissions = true)",
                     checks[i][0], checks[i][1], problem, path);
            continue;
        }
        snprintf(err, err_size,
                 "plugin %s: refused: the %s %s %s: another user could replace the code iogate "
                 "runs (chmod go-w, chown to root or this user, or set [plugins] "
                 "allow_insecure_permissions = true)",
                 path, checks[i][0], checks[i][1], problem);
        rc = -1;
    }
    free(real_dir);
    free(dir);
    return rc;
}

/* Opens the plugin at path once its permissions are safe, and checks its descriptor: the
 * entry symbol, the ABI version, the name. Returns the dlopen handle with *out set, or NULL
 * with err (and nothing left open). */
static void *open_plugin(plugin_host_t *h, const char *path, const iog_plugin_descriptor_t **out,
                         char *err, size_t err_size)
{
    if (check_permissions(h->deps.cfg, path, err, err_size) != 0) return NULL;
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf(err, err_size, "plugin %s: cannot load: %s", path, dlerror());
        return NULL;
    }
    dlerror();
    iog_plugin_entry_fn entry = (iog_plugin_entry_fn)dlsym(dl, IOG_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(err, err_size,
                 "plugin %s: no entry symbol %s (is it an iogate plugin built with "
                 "IOG_PLUGIN()?)",
                 path, IOG_PLUGIN_ENTRY_SYMBOL);
        dlclose(dl);
        return NULL;
    }
    const iog_plugin_descriptor_t *d = entry();
    const char *problem = NULL;
    char why[256];
    if (!d) {
        problem = "its entry point returned no descriptor";
    } else if (d->struct_size < offsetof(iog_plugin_descriptor_t, fini) + sizeof(d->fini)) {
        problem = "its descriptor is too small to be an iogate plugin descriptor";
    } else if (d->abi_major != IOG_ABI_MAJOR) {
        snprintf(why, sizeof(why),
                 "it was built for plugin ABI %u.%u, this iogate provides %d.%d "
                 "(a different major version is incompatible: rebuild it against this SDK)",
                 d->abi_major, d->abi_minor, IOG_ABI_MAJOR, IOG_ABI_MINOR);
        problem = why;
    } else if (d->abi_minor > IOG_ABI_MINOR) {
        snprintf(why, sizeof(why),
                 "it needs plugin ABI %u.%u, this iogate provides only %d.%d "
                 "(upgrade iogate)",
                 d->abi_major, d->abi_minor, IOG_ABI_MAJOR, IOG_ABI_MINOR);
        problem = why;
    } else if (!valid_plugin_name(d->name)) {
        problem = "its name is not [a-z0-9_-]+ (1 to 64 characters)";
    } else if (!d->init) {
        problem = "it has no init function";
    } else if (find_plugin(h, d->name)) {
        snprintf(why, sizeof(why), "a plugin named \"%s\" is already loaded", d->name);
        problem = why;
    }
    if (problem) {
        snprintf(err, err_size, "plugin %s: refused: %s", path, problem);
        dlclose(dl);
        return NULL;
    }
    *out = d;
    return dl;
}

static struct iog_plugin *plugin_record_new(plugin_host_t *h, const char *path, void *dl,
                                            const iog_plugin_descriptor_t *d)
{
    struct iog_plugin *p = xcalloc(1, sizeof(*p));
    p->host = h;
    p->file = xstrdup(path);
    p->name = xstrdup(d->name);
    p->dl = dl;
    p->desc = d;
    p->config = config_plugin_table(h->deps.cfg, d->name);
    return p;
}

/* The message of a failed init or check: "plugin FILE (NAME VERSION): WHAT (STRERROR): MSG",
 * MSG being the plugin's own message, else its last host call's error (iogate.h, init()). */
static void call_failed(const struct iog_plugin *p, const char *what, int code, const char *msg,
                        char *err, size_t err_size)
{
    snprintf(err, err_size, "plugin %s (%s %s): %s (%s): %s", p->file, p->name,
             p->desc->version ? p->desc->version : "?", what, plugin_host_api.strerror(code),
             msg[0]        ? msg
             : p->error[0] ? p->error
                           : "no message");
}

int plugin_host_load_file(plugin_host_t *h, const char *path, char *err, size_t err_size)
{
    const iog_plugin_descriptor_t *d = NULL;
    void *dl = open_plugin(h, path, &d, err, err_size);
    if (!dl) return -1;
    struct iog_plugin *p = plugin_record_new(h, path, dl, d);
    p->state = PLUGIN_INIT;
    char init_err[512] = "";
    int r = d->init(p, &plugin_host_api, init_err, sizeof(init_err));
    if (r != 0) {
        call_failed(p, "init failed", r, init_err, err, err_size);
        p->state = PLUGIN_FAILED;
        plugin_unregister(p);
        dlclose(dl); /* no fini: see the descriptor's init() in iogate.h */
        plugin_record_free(p);
        return -1;
    }
    plugin_apply_staged(p);
    plugin_apply_recovery(p);
    p->state = PLUGIN_ACTIVE;
    h->plugins = xrealloc(h->plugins, (h->n + 1) * sizeof(*h->plugins));
    h->plugins[h->n++] = p;
    log_info("plugins", "loaded %s %s (ABI %u.%u) from %s", d->name, d->version ? d->version : "",
             d->abi_major, d->abi_minor, path);
    return 0;
}

/* [plugins] dir = "" means the plugins that came with this binary: build/plugins
 * next to build/iogate in a build tree, PREFIX/lib/iogate/plugins once installed. */
static void default_plugin_dir(buf_t *dir)
{
    char exe[4096];
    size_t len = sizeof(exe);
    if (uv_exepath(exe, &len) != 0) {
        buf_append_str(dir, "plugins");
        return;
    }
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    buf_printf(dir, "%s/plugins", exe);
    uv_fs_t req;
    int found = uv_fs_stat(NULL, &req, dir->data, NULL) == 0;
    uv_fs_req_cleanup(&req);
    if (found) return;
    buf_reset(dir);
    buf_printf(dir, "%s/../lib/iogate/plugins", exe);
}

/* The directory plugins are loaded from: [plugins] dir, or the one shipped with the binary. */
static void plugin_dir(const config_t *cfg, buf_t *dir)
{
    if (cfg->plugins.dir[0])
        buf_append_str(dir, cfg->plugins.dir);
    else
        default_plugin_dir(dir);
}

/* Runs the check() of the plugin d at path (--check-config), if it has one. */
static int check_plugin(plugin_host_t *h, const char *path, void *dl,
                        const iog_plugin_descriptor_t *d, plugin_note_fn note, void *user,
                        char *err, size_t err_size)
{
    const char *version = d->version ? d->version : "?";
    char line[640];
    int has_check =
        d->struct_size >= offsetof(iog_plugin_descriptor_t, check) + sizeof(d->check) && d->check;
    if (!has_check) {
        if (config_plugin_table(h->deps.cfg, d->name)) {
            snprintf(line, sizeof(line),
                     "plugin %s %s: [plugin.%s] is checked when the server starts (the plugin "
                     "has no check for --check-config)",
                     d->name, version, d->name);
            note(user, line);
        }
        return 0;
    }
    struct iog_plugin *p = plugin_record_new(h, path, dl, d);
    p->state = PLUGIN_CHECK;
    char msg[512] = "";
    int r = d->check(p, &plugin_check_api, msg, sizeof(msg));
    if (r != 0) {
        call_failed(p, "invalid configuration", r, msg, err, err_size);
    } else if (msg[0]) {
        snprintf(line, sizeof(line), "plugin %s %s: %s", d->name, version, msg);
        note(user, line);
    }
    plugin_record_free(p);
    return r != 0 ? -1 : 0;
}

int plugin_host_check_config(const config_t *cfg, plugin_note_fn note, void *user, char *err,
                             size_t err_size)
{
    plugin_host_deps_t deps = {.cfg = cfg};
    plugin_host_t *h = plugin_host_new(&deps);
    buf_t dir = BUF_INIT, path = BUF_INIT;
    plugin_dir(cfg, &dir);
    int rc = 0;
    for (size_t i = 0; i < cfg->plugins.load.len && rc == 0; i++) {
        buf_reset(&path);
        buf_printf(&path, "%s/%s.so", dir.data, cfg->plugins.load.items[i]);
        struct stat st;
        const iog_plugin_descriptor_t *d = NULL;
        void *dl = NULL;
        if (stat(path.data, &st) != 0) {
            snprintf(err, err_size, "plugin %s: cannot load: %s", path.data, strerror(errno));
            rc = -1;
        } else if (!(dl = open_plugin(h, path.data, &d, err, err_size))) {
            rc = -1;
        } else {
            rc = check_plugin(h, path.data, dl, d, note, user, err, err_size);
            dlclose(dl);
        }
    }
    buf_free(&path);
    buf_free(&dir);
    plugin_host_free(h);
    return rc;
}

int plugin_host_load_config(plugin_host_t *h, char *err, size_t err_size)
{
    const config_t *cfg = h->deps.cfg;
    buf_t dir = BUF_INIT;
    plugin_dir(cfg, &dir);
    int rc = 0;
    for (size_t i = 0; i < cfg->plugins.load.len && rc == 0; i++) {
        const char *name = cfg->plugins.load.items[i];
        if (!name[0] || strchr(name, '/') || strstr(name, "..")) {
            snprintf(err, err_size, "[plugins] load: invalid plugin name \"%s\"", name);
            rc = -1;
            break;
        }
        buf_t path = BUF_INIT;
        buf_printf(&path, "%s/%s.so", dir.data, name);
        rc = plugin_host_load_file(h, path.data, err, err_size);
        buf_free(&path);
        if (rc != 0) break;
        /* Its config table is [plugin.<descriptor name>]: a file named otherwise would
         * silently read another table. */
        const char *real = h->plugins[h->n - 1]->name;
        if (strcmp(real, name) != 0)
            log_warn("plugins", "%s/%s.so calls itself \"%s\": its configuration is [plugin.%s]",
                     dir.data, name, real, real);
    }
    buf_free(&dir);
    return rc;
}

void plugin_host_stop(plugin_host_t *h)
{
    h->stopping = 1;
    for (size_t i = 0; i < h->n; i++)
        plugin_timers_stop_all(h->plugins[i]);
}

void plugin_host_free(plugin_host_t *h)
{
    if (!h) return;
    /* Reverse order: a plugin may depend on events of one loaded before it. */
    for (size_t i = h->n; i-- > 0;) {
        struct iog_plugin *p = h->plugins[i];
        if (p->desc->fini) p->desc->fini(p);
    }
    for (size_t i = h->n; i-- > 0;) {
        struct iog_plugin *p = h->plugins[i];
        plugin_timers_free(p);
        dlclose(p->dl);
        plugin_record_free(p);
    }
    plugin_metrics_free(h);
    while (h->checks) {
        ready_check_t *c = h->checks;
        h->checks = c->next;
        free(c->name);
        free(c);
    }
    size_t pos = 0;
    const strmap_entry_t *e;
    while ((e = strmap_next(&h->events, &pos)))
        event_def_free(e->value);
    strmap_free(&h->events);
    free(h->plugins);
    free(h);
}
