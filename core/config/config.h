/* config.h - the server's configuration: embedded defaults overlaid by one
 * TOML file. Every key is declared once in config.c's schema with its type,
 * range and default; an unknown or misspelt key is an error naming
 * file:line:column. Plugin tables ([plugin.NAME]) are kept as parsed TOML and
 * validated by their plugin. */
#ifndef IOGATE_CONFIG_H
#define IOGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "config/toml.h"

/* The defaults of the HTTP server's limits, in this one place: the schema's [http] keys (and
 * [limits] max_client_bytes) and the HTTP layer's own (http_limits_default) both take them.
 * max_connections has none in common: here 0 means what the open-file limit allows. */
#define CONFIG_HTTP_MAX_HEADER_BYTES (16 * 1024)
#define CONFIG_HTTP_MAX_BODY_BYTES (1024 * 1024)
#define CONFIG_HTTP_HEADER_TIMEOUT_MS 10000
#define CONFIG_HTTP_BODY_TIMEOUT_MS 30000
#define CONFIG_HTTP_IDLE_TIMEOUT_MS 60000
#define CONFIG_HTTP_MAX_PIPELINED 16
#define CONFIG_HTTP_MAX_QUEUED_OUTPUT_BYTES (64 * 1024)
#define CONFIG_HTTP_LINGER_MS 2000
#define CONFIG_HTTP_IMMEDIATE_WRITES_PER_TURN 16
#define CONFIG_LIMITS_MAX_CLIENT_BYTES (256 * 1024 * 1024)

/* [server] workers at most: each holds its own descriptors, so a machine's connections
 * are bounded by workers x the open-file limit, not by one process's limit. */
#define CONFIG_MAX_WORKERS 256

typedef struct config_strings {
    char **items;
    size_t len;
} config_strings_t;

typedef struct config {
    char *source; /* the file read, or "(defaults)" */
    struct {
        char *host;
        int64_t port;
        int64_t shutdown_grace_ms;
        int64_t workers; /* processes sharing the port; 0 = "auto" (one per CPU) */
    } server;
    struct {
        int64_t max_header_bytes;
        int64_t max_body_bytes;
        int64_t header_timeout_ms;
        int64_t body_timeout_ms;
        int64_t idle_timeout_ms;
        int64_t max_connections;
        int64_t max_pipelined;
        int64_t max_queued_output_bytes;
        int64_t linger_ms;
        int64_t immediate_writes_per_turn;
    } http;
    struct {
        log_level_t level;
        log_format_t format;
    } log;
    struct {
        char *path;
        int64_t ping_interval_ms;
        int64_t ping_timeout_ms;
        int64_t connect_timeout_ms;
        int64_t upgrade_timeout_ms;
        int64_t max_payload_bytes;
        int64_t max_attachments;
        int64_t max_binary_packet_bytes; /* 0: max_payload_bytes */
        int64_t attachment_timeout_ms;
        int64_t max_unjoined_sessions;
        int64_t max_unjoined_per_address;
        config_strings_t transports;
        config_strings_t cors_origins;
        config_strings_t namespaces;
        /* Connection state recovery (README, "Connection state recovery"). */
        int connection_state_recovery;
        int64_t max_disconnection_ms;
        int64_t max_recovery_bytes;             /* packets and sessions kept, together */
        int64_t max_recovery_bytes_per_session; /* a session's record, and what it is replayed */
    } socketio;
    struct {
        char *cookie_name;
        char *jwt_secret;
        char *jwt_secret_file;
        char *jwt_public_key_file;
        config_strings_t algorithms;
        int64_t clock_skew_s;
        int allow_auth_payload;
        int require_exp;
        char *issuer;   /* NULL: iss is not checked */
        char *audience; /* NULL: aud is not checked */
    } auth;
    struct {
        int64_t max_outbox_bytes;
        int64_t max_client_bytes;
    } limits;
    struct {
        int enabled;
        char *path;              /* GET path of the Prometheus text, default "/metrics" */
        config_strings_t allow;  /* client addresses that may scrape without the token */
        char *token;             /* a Bearer token that may scrape from anywhere; NULL: none */
        /* "ADDRESS:PORT" serving /metrics, /healthz and /readyz; NULL: the public port does */
        char *listen;
    } metrics;
    struct {
        char *adapter;   /* "local" (one node) or "redis" (a fleet on Redis) */
        char *redis_url; /* redis://[user:password@]host:port[/db] or unix:///path */
        char *key_prefix;
        int64_t request_timeout_ms;
        int64_t max_queued_messages; /* publishes held while Redis is unreachable */
        int64_t max_queued_bytes;
    } cluster;
    struct {
        char *dir;
        config_strings_t load;
        int allow_insecure_permissions;
    } plugins;
    struct {
        /* Test-only switches: the Engine.IO echo endpoint and the emit routes. */
        char *engineio_echo_path;
        int emit_routes;
    } testing;
    toml_value_t *doc; /* the parsed file (NULL for defaults), for plugin tables */
} config_t;

/* Fills cfg with the embedded defaults. */
void config_defaults(config_t *cfg);
/* Initialises cfg with the defaults, then applies a file over them (do not call
 * config_defaults first). Returns 0, or -1 with "file:line:column: message" in err;
 * cfg then holds the defaults only and must still be freed. */
int config_load_file(config_t *cfg, const char *path, char *err, size_t err_size);
/* Same from text already in memory (source names it in messages). */
int config_load_text(config_t *cfg, const char *text, size_t len, const char *source, char *err,
                     size_t err_size);
void config_free(config_t *cfg);
/* Where [table] key was set, "file:line:column", written to out; the source alone when the
 * key was not in the file. */
/* Splits "ADDR:PORT" ("127.0.0.1:9464", "[::1]:9464"; ADDR an IPv4 or IPv6 address, PORT 0 to
 * 65535) into host (without brackets) and port. Returns 0, or -1 with why (static text). */
int config_split_host_port(const char *text, char *host, size_t host_size, int *port,
                           const char **why);
void config_key_origin(const config_t *cfg, const char *table, const char *key, char *out,
                       size_t out_size);
/* The table [plugin.NAME], or NULL. */
const toml_value_t *config_plugin_table(const config_t *cfg, const char *name);
/* Prints every key with its current value as TOML (for `iogate --print-config`). */
void config_print(const config_t *cfg, void (*out)(void *user, const char *line), void *user);

#endif
