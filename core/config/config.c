/* config.c - the configuration schema, its embedded defaults and validation. */
#include "config/config.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

typedef enum key_kind {
    KEY_STRING,
    KEY_INT,
    KEY_BOOL,
    KEY_STRINGS,
    KEY_LOG_LEVEL,
    KEY_LOG_FORMAT,
    KEY_WORKERS, /* an integer in range, or "auto" (stored as 0) */
} key_kind_t;

typedef struct key_spec {
    const char *table;
    const char *key;
    key_kind_t kind;
    size_t offset;
    int64_t min, max;         /* KEY_INT range */
    const char *default_text; /* KEY_STRING default (NULL = unset), KEY_STRINGS comma list */
    int64_t default_int;      /* KEY_INT, KEY_BOOL, KEY_LOG_* default */
} key_spec_t;

#define CFG(field) offsetof(config_t, field)
#define KIB 1024LL
#define MIB (1024LL * 1024LL)
#define DAY_MS (86400LL * 1000LL)

/* The one list of keys: adding a key here documents its type, range and default.
 * Kept one key per line, as a table. */
// clang-format off
static const key_spec_t schema[] = {
    {"server", "host", KEY_STRING, CFG(server.host), 0, 0, "127.0.0.1", 0},
    {"server", "port", KEY_INT, CFG(server.port), 0, 65535, NULL, 3000},
    {"server", "shutdown_grace_ms", KEY_INT, CFG(server.shutdown_grace_ms), 0, DAY_MS, NULL, 10000},
    {"server", "workers", KEY_WORKERS, CFG(server.workers), 1, CONFIG_MAX_WORKERS, NULL, 1},

    /* The HTTP server's defaults too (config.h): one place for both. */
    {"http", "max_header_bytes", KEY_INT, CFG(http.max_header_bytes), 1 * KIB, 1 * MIB, NULL, CONFIG_HTTP_MAX_HEADER_BYTES},
    {"http", "max_body_bytes", KEY_INT, CFG(http.max_body_bytes), 0, 1024 * MIB, NULL, CONFIG_HTTP_MAX_BODY_BYTES},
    {"http", "header_timeout_ms", KEY_INT, CFG(http.header_timeout_ms), 100, DAY_MS, NULL, CONFIG_HTTP_HEADER_TIMEOUT_MS},
    {"http", "body_timeout_ms", KEY_INT, CFG(http.body_timeout_ms), 100, DAY_MS, NULL, CONFIG_HTTP_BODY_TIMEOUT_MS},
    {"http", "idle_timeout_ms", KEY_INT, CFG(http.idle_timeout_ms), 100, DAY_MS, NULL, CONFIG_HTTP_IDLE_TIMEOUT_MS},
    {"http", "max_connections", KEY_INT, CFG(http.max_connections), 0, 10000000, NULL, 0},
    {"http", "max_pipelined", KEY_INT, CFG(http.max_pipelined), 1, 1024, NULL, CONFIG_HTTP_MAX_PIPELINED},
    {"http", "max_queued_output_bytes", KEY_INT, CFG(http.max_queued_output_bytes), 1 * KIB, 1024 * MIB, NULL, CONFIG_HTTP_MAX_QUEUED_OUTPUT_BYTES},
    {"http", "linger_ms", KEY_INT, CFG(http.linger_ms), 0, 60000, NULL, CONFIG_HTTP_LINGER_MS},
    {"http", "immediate_writes_per_turn", KEY_INT, CFG(http.immediate_writes_per_turn), 0, 1000000000, NULL, CONFIG_HTTP_IMMEDIATE_WRITES_PER_TURN},

    {"log", "level", KEY_LOG_LEVEL, CFG(log.level), 0, 0, NULL, LOG_INFO},
    {"log", "format", KEY_LOG_FORMAT, CFG(log.format), 0, 0, NULL, LOG_FORMAT_TEXT},

    {"socketio", "path", KEY_STRING, CFG(socketio.path), 0, 0, "/socket.io/", 0},
    {"socketio", "ping_interval_ms", KEY_INT, CFG(socketio.ping_interval_ms), 10, DAY_MS, NULL, 25000},
    {"socketio", "ping_timeout_ms", KEY_INT, CFG(socketio.ping_timeout_ms), 10, DAY_MS, NULL, 20000},
    {"socketio", "connect_timeout_ms", KEY_INT, CFG(socketio.connect_timeout_ms), 10, DAY_MS, NULL, 45000},
    {"socketio", "upgrade_timeout_ms", KEY_INT, CFG(socketio.upgrade_timeout_ms), 10, DAY_MS, NULL, 10000},
    {"socketio", "max_payload_bytes", KEY_INT, CFG(socketio.max_payload_bytes), 1 * KIB, 1024 * MIB, NULL, 1000000},
    {"socketio", "max_attachments", KEY_INT, CFG(socketio.max_attachments), 1, 1000, NULL, 10},
    {"socketio", "max_binary_packet_bytes", KEY_INT, CFG(socketio.max_binary_packet_bytes), 0, 1024 * MIB, NULL, 0},
    {"socketio", "attachment_timeout_ms", KEY_INT, CFG(socketio.attachment_timeout_ms), 10, DAY_MS, NULL, 30000},
    {"socketio", "max_unjoined_sessions", KEY_INT, CFG(socketio.max_unjoined_sessions), 1, 10000000, NULL, 10000},
    {"socketio", "max_unjoined_per_address", KEY_INT, CFG(socketio.max_unjoined_per_address), 1, 10000000, NULL, 2000},
    {"socketio", "transports", KEY_STRINGS, CFG(socketio.transports), 0, 0, "polling,websocket", 0},
    {"socketio", "cors_origins", KEY_STRINGS, CFG(socketio.cors_origins), 0, 0, "", 0},
    {"socketio", "namespaces", KEY_STRINGS, CFG(socketio.namespaces), 0, 0, "", 0},
    {"socketio", "connection_state_recovery", KEY_BOOL, CFG(socketio.connection_state_recovery), 0, 0, NULL, 0},
    {"socketio", "max_disconnection_ms", KEY_INT, CFG(socketio.max_disconnection_ms), 1000, DAY_MS, NULL, 120000},
    {"socketio", "max_recovery_bytes", KEY_INT, CFG(socketio.max_recovery_bytes), 64 * KIB, 64 * 1024 * MIB, NULL, 64 * MIB},
    {"socketio", "max_recovery_bytes_per_session", KEY_INT, CFG(socketio.max_recovery_bytes_per_session), 1 * KIB, 1024 * MIB, NULL, 1 * MIB},

    {"auth", "cookie_name", KEY_STRING, CFG(auth.cookie_name), 0, 0, "token", 0},
    {"auth", "jwt_secret", KEY_STRING, CFG(auth.jwt_secret), 0, 0, NULL, 0},
    {"auth", "jwt_secret_file", KEY_STRING, CFG(auth.jwt_secret_file), 0, 0, NULL, 0},
    {"auth", "jwt_public_key_file", KEY_STRING, CFG(auth.jwt_public_key_file), 0, 0, NULL, 0},
    {"auth", "algorithms", KEY_STRINGS, CFG(auth.algorithms), 0, 0, "HS256", 0},
    {"auth", "clock_skew_s", KEY_INT, CFG(auth.clock_skew_s), 0, 3600, NULL, 30},
    {"auth", "allow_auth_payload", KEY_BOOL, CFG(auth.allow_auth_payload), 0, 0, NULL, 1},
    {"auth", "require_exp", KEY_BOOL, CFG(auth.require_exp), 0, 0, NULL, 1},
    {"auth", "issuer", KEY_STRING, CFG(auth.issuer), 0, 0, NULL, 0},
    {"auth", "audience", KEY_STRING, CFG(auth.audience), 0, 0, NULL, 0},

    {"limits", "max_outbox_bytes", KEY_INT, CFG(limits.max_outbox_bytes), 4 * KIB, 1024 * MIB, NULL, 4 * MIB},
    {"limits", "max_client_bytes", KEY_INT, CFG(limits.max_client_bytes), 64 * KIB, 1024 * 1024 * MIB, NULL, CONFIG_LIMITS_MAX_CLIENT_BYTES},

    {"metrics", "enabled", KEY_BOOL, CFG(metrics.enabled), 0, 0, NULL, 1},
    {"metrics", "path", KEY_STRING, CFG(metrics.path), 0, 0, "/metrics", 0},
    {"metrics", "allow", KEY_STRINGS, CFG(metrics.allow), 0, 0, "127.0.0.1,::1", 0},
    {"metrics", "token", KEY_STRING, CFG(metrics.token), 0, 0, NULL, 0},
    {"metrics", "listen", KEY_STRING, CFG(metrics.listen), 0, 0, NULL, 0},

    {"cluster", "adapter", KEY_STRING, CFG(cluster.adapter), 0, 0, "local", 0},
    {"cluster", "redis_url", KEY_STRING, CFG(cluster.redis_url), 0, 0, "redis://127.0.0.1:6379", 0},
    {"cluster", "key_prefix", KEY_STRING, CFG(cluster.key_prefix), 0, 0, "socket.io", 0},
    {"cluster", "request_timeout_ms", KEY_INT, CFG(cluster.request_timeout_ms), 1, DAY_MS, NULL, 5000},
    {"cluster", "max_queued_messages", KEY_INT, CFG(cluster.max_queued_messages), 0, 10000000, NULL, 10000},
    {"cluster", "max_queued_bytes", KEY_INT, CFG(cluster.max_queued_bytes), 0, 1024 * MIB, NULL, 64 * MIB},

    /* "" = next to the binary: DIR_OF_IOGATE/plugins, else DIR_OF_IOGATE/../lib/iogate/plugins */
    {"plugins", "dir", KEY_STRING, CFG(plugins.dir), 0, 0, "", 0},
    {"plugins", "load", KEY_STRINGS, CFG(plugins.load), 0, 0, "notifications", 0},
    {"plugins", "allow_insecure_permissions", KEY_BOOL, CFG(plugins.allow_insecure_permissions), 0, 0, NULL, 0},

    {"testing", "engineio_echo_path", KEY_STRING, CFG(testing.engineio_echo_path), 0, 0, NULL, 0},
    {"testing", "emit_routes", KEY_BOOL, CFG(testing.emit_routes), 0, 0, NULL, 0},
};
// clang-format on

#define SCHEMA_LEN (sizeof(schema) / sizeof(schema[0]))

static void *field_at(config_t *cfg, const key_spec_t *k)
{
    return (char *)cfg + k->offset;
}

static void strings_free(config_strings_t *s)
{
    for (size_t i = 0; i < s->len; i++)
        free(s->items[i]);
    free(s->items);
    s->items = NULL;
    s->len = 0;
}

static void strings_push(config_strings_t *s, const char *text, size_t len)
{
    s->items = xrealloc(s->items, (s->len + 1) * sizeof(*s->items));
    s->items[s->len++] = xmemdup0(text, len);
}

static void strings_from_list(config_strings_t *s, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n) strings_push(s, p, n);
        p += n + (comma ? 1 : 0);
    }
}

static void field_free(config_t *cfg, const key_spec_t *k)
{
    void *f = field_at(cfg, k);
    if (k->kind == KEY_STRING) {
        free(*(char **)f);
        *(char **)f = NULL;
    } else if (k->kind == KEY_STRINGS) {
        strings_free(f);
    }
}

static void field_default(config_t *cfg, const key_spec_t *k)
{
    void *f = field_at(cfg, k);
    switch (k->kind) {
    case KEY_STRING:
        *(char **)f = k->default_text ? xstrdup(k->default_text) : NULL;
        break;
    case KEY_INT:
    case KEY_WORKERS:
        *(int64_t *)f = k->default_int;
        break;
    case KEY_BOOL:
        *(int *)f = (int)k->default_int;
        break;
    case KEY_STRINGS:
        strings_from_list(f, k->default_text);
        break;
    case KEY_LOG_LEVEL:
        *(log_level_t *)f = (log_level_t)k->default_int;
        break;
    case KEY_LOG_FORMAT:
        *(log_format_t *)f = (log_format_t)k->default_int;
        break;
    }
}

void config_defaults(config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->source = xstrdup("(defaults)");
    for (size_t i = 0; i < SCHEMA_LEN; i++)
        field_default(cfg, &schema[i]);
}

void config_free(config_t *cfg)
{
    for (size_t i = 0; i < SCHEMA_LEN; i++)
        field_free(cfg, &schema[i]);
    free(cfg->source);
    if (cfg->doc) toml_free(cfg->doc);
    memset(cfg, 0, sizeof(*cfg));
}

/* Levenshtein distance, small strings only: used to suggest a misspelt key. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *suggest(const char *table, const char *key)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < SCHEMA_LEN; i++) {
        if (table && strcmp(schema[i].table, table) != 0) continue;
        const char *candidate = table ? schema[i].key : schema[i].table;
        size_t d = edit_distance(key, candidate);
        if (d < best_d) {
            best_d = d;
            best = candidate;
        }
    }
    return best;
}

static int fail(char *err, size_t err_size, const char *source, int line, int column,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail(char *err, size_t err_size, const char *source, int line, int column,
                const char *fmt, ...)
{
    buf_t msg = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    snprintf(err, err_size, "%s:%d:%d: %s", source, line, column, msg.data ? msg.data : "");
    buf_free(&msg);
    return -1;
}

static int apply_value(config_t *cfg, const key_spec_t *k, const toml_keyval_t *kv,
                       const char *source, char *err, size_t err_size)
{
    const toml_value_t *v = kv->value;
    void *f = field_at(cfg, k);
    const char *want = NULL;
    switch (k->kind) {
    case KEY_STRING:
        if (v->type != TOML_STRING) {
            want = "a string";
            break;
        }
        if (strlen(v->u.string.ptr) != v->u.string.len)
            return fail(err, err_size, source, kv->line, kv->column,
                        "[%s] %s must not contain NUL characters", k->table, k->key);
        free(*(char **)f);
        *(char **)f = xstrdup(v->u.string.ptr);
        return 0;
    case KEY_WORKERS:
        if (v->type == TOML_STRING && strcmp(v->u.string.ptr, "auto") == 0) {
            *(int64_t *)f = 0;
            return 0;
        }
        if (v->type != TOML_INTEGER) {
            want = "an integer or \"auto\"";
            break;
        }
        /* fall through */
    case KEY_INT:
        if (v->type != TOML_INTEGER) {
            want = "an integer";
            break;
        }
        if (v->u.integer < k->min || v->u.integer > k->max)
            return fail(err, err_size, source, kv->line, kv->column,
                        "[%s] %s must be between %lld and %lld (got %lld)", k->table, k->key,
                        (long long)k->min, (long long)k->max, (long long)v->u.integer);
        *(int64_t *)f = v->u.integer;
        return 0;
    case KEY_BOOL:
        if (v->type != TOML_BOOL) {
            want = "a boolean";
            break;
        }
        *(int *)f = v->u.boolean ? 1 : 0;
        return 0;
    case KEY_STRINGS:
        if (v->type != TOML_ARRAY) {
            want = "an array of strings";
            break;
        }
        for (size_t i = 0; i < v->u.array.len; i++) {
            const toml_value_t *item = v->u.array.items[i];
            if (item->type != TOML_STRING || strlen(item->u.string.ptr) != item->u.string.len)
                return fail(err, err_size, source, item->line, item->column,
                            "[%s] %s must be an array of strings", k->table, k->key);
        }
        strings_free(f);
        for (size_t i = 0; i < v->u.array.len; i++)
            strings_push(f, v->u.array.items[i]->u.string.ptr, v->u.array.items[i]->u.string.len);
        return 0;
    case KEY_LOG_LEVEL:
        if (v->type != TOML_STRING || log_level_parse(v->u.string.ptr, f) != 0) {
            want = "one of \"debug\", \"info\", \"warn\", \"error\"";
            break;
        }
        return 0;
    case KEY_LOG_FORMAT:
        if (v->type == TOML_STRING && strcmp(v->u.string.ptr, "text") == 0) {
            *(log_format_t *)f = LOG_FORMAT_TEXT;
            return 0;
        }
        if (v->type == TOML_STRING && strcmp(v->u.string.ptr, "json") == 0) {
            *(log_format_t *)f = LOG_FORMAT_JSON;
            return 0;
        }
        want = "\"text\" or \"json\"";
        break;
    }
    return fail(err, err_size, source, kv->line, kv->column, "[%s] %s must be %s (got %s)",
                k->table, k->key, want, toml_type_name(v->type));
}

static const key_spec_t *find_key(const char *table, const char *key)
{
    for (size_t i = 0; i < SCHEMA_LEN; i++)
        if (strcmp(schema[i].table, table) == 0 && strcmp(schema[i].key, key) == 0)
            return &schema[i];
    return NULL;
}

static int table_known(const char *table)
{
    for (size_t i = 0; i < SCHEMA_LEN; i++)
        if (strcmp(schema[i].table, table) == 0) return 1;
    return 0;
}

/* The entry of [table] key in doc, or NULL (doc may be NULL). */
static const toml_keyval_t *entry_of(const toml_value_t *doc, const char *table, const char *key)
{
    const toml_value_t *t = doc ? toml_table_get(doc, table) : NULL;
    return t && t->type == TOML_TABLE ? toml_table_entry(t, key) : NULL;
}

#define LINE_OF(kv) ((kv) ? (kv)->line : 1)
#define COLUMN_OF(kv) ((kv) ? (kv)->column : 1)

int config_split_host_port(const char *text, char *host, size_t host_size, int *port,
                           const char **why)
{
    *why = "must be \"ADDRESS:PORT\" (\"127.0.0.1:9464\", \"[::1]:9464\")";
    const char *colon = strrchr(text, ':');
    if (!colon) return -1;
    const char *h = text;
    size_t hlen = (size_t)(colon - text);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    } else if (memchr(h, ':', hlen)) {
        return -1; /* an IPv6 address needs its brackets */
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (!plen || plen > 5 || strspn(p, "0123456789") != plen) return -1;
    long n = strtol(p, NULL, 10);
    unsigned char scratch[16];
    char addr[64];
    if (hlen == 0 || hlen >= sizeof(addr) || hlen >= host_size) {
        *why = "needs an IP address before the port";
        return -1;
    }
    memcpy(addr, h, hlen);
    addr[hlen] = '\0';
    if (inet_pton(AF_INET, addr, scratch) != 1 && inet_pton(AF_INET6, addr, scratch) != 1) {
        *why = "must name an IP address (no host names: the address is bound as written)";
        return -1;
    }
    if (n > 65535) {
        *why = "has a port over 65535";
        return -1;
    }
    memcpy(host, addr, hlen + 1);
    *port = (int)n;
    return 0;
}

/* Cross-key rules that no single key can check. */
static int validate(const config_t *cfg, const toml_value_t *doc, const char *source, char *err,
                    size_t err_size)
{
    const toml_keyval_t *kv;
    const char *path = cfg->socketio.path;
    if (!path[0] || path[0] != '/') {
        kv = entry_of(doc, "socketio", "path");
        return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                    "[socketio] path must start with '/'");
    }
    for (size_t i = 0; i < cfg->socketio.transports.len; i++) {
        const char *t = cfg->socketio.transports.items[i];
        if (strcmp(t, "polling") != 0 && strcmp(t, "websocket") != 0) {
            kv = entry_of(doc, "socketio", "transports");
            return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                        "[socketio] transports: unknown transport \"%s\" (use \"polling\" and/or "
                        "\"websocket\")",
                        t);
        }
    }
    for (size_t i = 0; i < cfg->socketio.namespaces.len; i++) {
        const char *n = cfg->socketio.namespaces.items[i];
        if (n[0] != '/') {
            kv = entry_of(doc, "socketio", "namespaces");
            return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                        "[socketio] namespaces: \"%s\" must start with '/'", n);
        }
    }
    if (cfg->socketio.transports.len == 0)
        return fail(err, err_size, source, 1, 1, "[socketio] transports must not be empty");
    /* Left out, the per-session bound follows a smaller max_recovery_bytes (gateway.c). */
    kv = entry_of(doc, "socketio", "max_recovery_bytes_per_session");
    if (kv && cfg->socketio.max_recovery_bytes_per_session > cfg->socketio.max_recovery_bytes) {
        return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                    "[socketio] max_recovery_bytes_per_session (%lld) must not exceed "
                    "max_recovery_bytes (%lld)",
                    (long long)cfg->socketio.max_recovery_bytes_per_session,
                    (long long)cfg->socketio.max_recovery_bytes);
    }
    for (size_t i = 0; i < cfg->plugins.load.len; i++) {
        const char *name = cfg->plugins.load.items[i];
        if (!name[0] || strchr(name, '/') || strstr(name, "..")) {
            kv = entry_of(doc, "plugins", "load");
            return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                        "[plugins] load: invalid plugin name \"%s\" (a bare name, no '/' or '..')",
                        name);
        }
    }
    if (strcmp(cfg->cluster.adapter, "local") != 0 && strcmp(cfg->cluster.adapter, "redis") != 0) {
        kv = entry_of(doc, "cluster", "adapter");
        return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                    "[cluster] adapter must be \"local\" or \"redis\" (got \"%s\")",
                    cfg->cluster.adapter);
    }
    if (cfg->server.workers != 1 && strcmp(cfg->cluster.adapter, "redis") != 0) {
        kv = entry_of(doc, "server", "workers");
        return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                    "[server] workers other than 1 makes each worker a node of a fleet: set "
                    "[cluster] adapter = \"redis\" (and redis_url)");
    }
    if (cfg->metrics.path[0] != '/') {
        kv = entry_of(doc, "metrics", "path");
        return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                    "[metrics] path must start with '/'");
    }
    if (cfg->metrics.token && strlen(cfg->metrics.token) < 16) {
        kv = entry_of(doc, "metrics", "token");
        return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                    "[metrics] token must be at least 16 characters (leave it out for none)");
    }
    if (cfg->metrics.listen) {
        char host[64];
        int port;
        const char *why;
        kv = entry_of(doc, "metrics", "listen");
        if (config_split_host_port(cfg->metrics.listen, host, sizeof(host), &port, &why) != 0)
            return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                        "[metrics] listen \"%s\" %s", cfg->metrics.listen, why);
        if (port != 0 && port == cfg->server.port)
            return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                        "[metrics] listen: port %d is [server] port; the metrics listener needs "
                        "its own",
                        port);
    }
    if (!cfg->cluster.key_prefix[0]) {
        kv = entry_of(doc, "cluster", "key_prefix");
        return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                    "[cluster] key_prefix must not be empty");
    }
    /* An empty issuer or audience would check nothing useful: leaving the key out says so. */
    const char *const claims[2][2] = {{"issuer", cfg->auth.issuer},
                                      {"audience", cfg->auth.audience}};
    for (size_t i = 0; i < 2; i++) {
        if (claims[i][1] && !claims[i][1][0]) {
            kv = entry_of(doc, "auth", claims[i][0]);
            return fail(err, err_size, source, LINE_OF(kv), COLUMN_OF(kv),
                        "[auth] %s must not be empty (leave it out not to check the claim)",
                        claims[i][0]);
        }
    }
    return 0;
}

void config_key_origin(const config_t *cfg, const char *table, const char *key, char *out,
                       size_t out_size)
{
    const toml_keyval_t *kv = entry_of(cfg->doc, table, key);
    if (kv)
        snprintf(out, out_size, "%s:%d:%d", cfg->source, kv->line, kv->column);
    else
        snprintf(out, out_size, "%s", cfg->source);
}

static int apply_document(config_t *cfg, const toml_value_t *doc, const char *source, char *err,
                          size_t err_size)
{
    for (size_t i = 0; i < doc->u.table.len; i++) {
        const toml_keyval_t *section = &doc->u.table.items[i];
        if (strcmp(section->key, "plugin") == 0) {
            if (section->value->type != TOML_TABLE)
                return fail(err, err_size, source, section->line, section->column,
                            "plugin must be a table of [plugin.NAME] tables");
            continue; /* validated by each plugin */
        }
        if (!table_known(section->key)) {
            const char *hint = suggest(NULL, section->key);
            return fail(err, err_size, source, section->line, section->column,
                        "unknown table [%s]%s%s%s", section->key, hint ? " (did you mean [" : "",
                        hint ? hint : "", hint ? "]?)" : "");
        }
        if (section->value->type != TOML_TABLE)
            return fail(err, err_size, source, section->line, section->column,
                        "%s must be a table ([%s])", section->key, section->key);
        const toml_value_t *table = section->value;
        for (size_t j = 0; j < table->u.table.len; j++) {
            const toml_keyval_t *kv = &table->u.table.items[j];
            const key_spec_t *k = find_key(section->key, kv->key);
            if (!k) {
                const char *hint = suggest(section->key, kv->key);
                return fail(err, err_size, source, kv->line, kv->column,
                            "unknown key '%s' in [%s]%s%s%s", kv->key, section->key,
                            hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
            }
            if (apply_value(cfg, k, kv, source, err, err_size) != 0) return -1;
        }
    }
    return validate(cfg, doc, source, err, err_size);
}

static int load_parsed(config_t *cfg, toml_value_t *doc, const char *source, char *err,
                       size_t err_size)
{
    if (!doc) {
        config_defaults(cfg);
        return -1;
    }
    config_defaults(cfg);
    if (apply_document(cfg, doc, source, err, err_size) != 0) {
        toml_free(doc);
        config_free(cfg);
        config_defaults(cfg);
        return -1;
    }
    free(cfg->source);
    cfg->source = xstrdup(source);
    cfg->doc = doc;
    return 0;
}

int config_load_file(config_t *cfg, const char *path, char *err, size_t err_size)
{
    return load_parsed(cfg, toml_parse_file(path, err, err_size), path, err, err_size);
}

int config_load_text(config_t *cfg, const char *text, size_t len, const char *source, char *err,
                     size_t err_size)
{
    return load_parsed(cfg, toml_parse(text, len, source, err, err_size), source, err, err_size);
}

const toml_value_t *config_plugin_table(const config_t *cfg, const char *name)
{
    if (!cfg->doc) return NULL;
    const toml_value_t *plugins = toml_table_get(cfg->doc, "plugin");
    if (!plugins || plugins->type != TOML_TABLE) return NULL;
    const toml_value_t *t = toml_table_get(plugins, name);
    return t && t->type == TOML_TABLE ? t : NULL;
}

static void print_quoted(buf_t *line, const char *s)
{
    buf_append_byte(line, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') buf_append_byte(line, '\\');
        buf_append_byte(line, (uint8_t)*s);
    }
    buf_append_byte(line, '"');
}

void config_print(const config_t *cfg, void (*out)(void *user, const char *line), void *user)
{
    const char *table = NULL;
    buf_t line = BUF_INIT;
    for (size_t i = 0; i < SCHEMA_LEN; i++) {
        const key_spec_t *k = &schema[i];
        const void *f = (const char *)cfg + k->offset;
        if (!table || strcmp(table, k->table) != 0) {
            buf_reset(&line);
            buf_printf(&line, "%s[%s]", table ? "\n" : "", k->table);
            out(user, line.data);
            table = k->table;
        }
        buf_reset(&line);
        buf_printf(&line, "%s = ", k->key);
        switch (k->kind) {
        case KEY_STRING:
            if (!*(char *const *)f) {
                buf_reset(&line);
                buf_printf(&line, "# %s is not set", k->key);
            } else if (strstr(k->key, "secret")) {
                buf_append_str(&line, "\"(hidden)\"");
            } else {
                print_quoted(&line, *(char *const *)f);
            }
            break;
        case KEY_INT:
            buf_printf(&line, "%lld", (long long)*(const int64_t *)f);
            break;
        case KEY_WORKERS:
            if (*(const int64_t *)f == 0)
                buf_append_str(&line, "\"auto\"");
            else
                buf_printf(&line, "%lld", (long long)*(const int64_t *)f);
            break;
        case KEY_BOOL:
            buf_append_str(&line, *(const int *)f ? "true" : "false");
            break;
        case KEY_STRINGS: {
            const config_strings_t *s = f;
            buf_append_byte(&line, '[');
            for (size_t j = 0; j < s->len; j++) {
                if (j) buf_append_str(&line, ", ");
                print_quoted(&line, s->items[j]);
            }
            buf_append_byte(&line, ']');
            break;
        }
        case KEY_LOG_LEVEL:
            buf_printf(&line, "\"%s\"", log_level_name(*(const log_level_t *)f));
            break;
        case KEY_LOG_FORMAT:
            buf_append_str(&line,
                           *(const log_format_t *)f == LOG_FORMAT_JSON ? "\"json\"" : "\"text\"");
            break;
        }
        out(user, line.data);
    }
    buf_free(&line);
}
