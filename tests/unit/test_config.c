/* test_config.c - defaults, overrides, and every kind of configuration error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config.h"

static int load(config_t *cfg, const char *text, char *err, size_t err_size)
{
    return config_load_text(cfg, text, strlen(text), "test.toml", err, err_size);
}

static void defaults_match_the_documented_values(void **state)
{
    (void)state;
    config_t cfg;
    config_defaults(&cfg);
    assert_string_equal(cfg.server.host, "127.0.0.1");
    assert_int_equal(cfg.server.port, 3000);
    assert_int_equal(cfg.http.max_header_bytes, 16384);
    assert_int_equal(cfg.http.max_body_bytes, 1048576);
    assert_int_equal(cfg.http.header_timeout_ms, 10000);
    assert_int_equal(cfg.log.level, LOG_INFO);
    assert_string_equal(cfg.socketio.path, "/socket.io/");
    assert_int_equal(cfg.socketio.ping_interval_ms, 25000);
    assert_int_equal(cfg.socketio.ping_timeout_ms, 20000);
    assert_int_equal(cfg.socketio.connect_timeout_ms, 45000);
    assert_int_equal(cfg.socketio.upgrade_timeout_ms, 10000);
    assert_int_equal(cfg.socketio.max_payload_bytes, 1000000);
    assert_int_equal(cfg.socketio.transports.len, 2);
    assert_string_equal(cfg.socketio.transports.items[0], "polling");
    assert_string_equal(cfg.socketio.transports.items[1], "websocket");
    assert_string_equal(cfg.auth.cookie_name, "token");
    assert_int_equal(cfg.auth.allow_auth_payload, 1);
    assert_null(cfg.auth.jwt_secret);
    assert_int_equal(cfg.auth.require_exp, 1); /* a token without exp is refused */
    assert_null(cfg.auth.issuer);
    assert_null(cfg.auth.audience);
    assert_int_equal(cfg.plugins.allow_insecure_permissions, 0);
    assert_int_equal(cfg.plugins.load.len, 1);
    assert_string_equal(cfg.plugins.load.items[0], "notifications");
    assert_string_equal(cfg.plugins.dir, ""); /* next to the binary */
    config_free(&cfg);
}

static void append_line(void *user, const char *line)
{
    buf_append_str(user, line);
    buf_append_byte(user, '\n');
}

static void the_shipped_file_is_valid_and_equals_the_defaults(void **state)
{
    (void)state;
    config_t cfg, def;
    char err[256];
    assert_int_equal(
        config_load_file(&cfg, IOGATE_SOURCE_DIR "/config/iogate.toml", err, sizeof(err)), 0);
    config_defaults(&def);
    buf_t a = BUF_INIT, b = BUF_INIT;
    config_print(&cfg, append_line, &a);
    config_print(&def, append_line, &b);
    assert_string_equal(a.data, b.data);
    buf_free(&a);
    buf_free(&b);
    config_free(&cfg);
    config_free(&def);
}

static void values_override_defaults(void **state)
{
    (void)state;
    config_t cfg;
    char err[256];
    const char *text =
        "[server]\nport = 8080\nhost = \"0.0.0.0\"\n"
        "[log]\nlevel = \"debug\"\nformat = \"json\"\n"
        "[socketio]\ntransports = [\"websocket\"]\ncors_origins = [\"https://a.example\"]\n"
        "[plugin.notifications]\ndatabase = \"x.db\"\n";
    assert_int_equal(load(&cfg, text, err, sizeof(err)), 0);
    assert_int_equal(cfg.server.port, 8080);
    assert_string_equal(cfg.server.host, "0.0.0.0");
    assert_int_equal(cfg.log.level, LOG_DEBUG);
    assert_int_equal(cfg.log.format, LOG_FORMAT_JSON);
    assert_int_equal(cfg.socketio.transports.len, 1);
    assert_string_equal(cfg.socketio.cors_origins.items[0], "https://a.example");
    const toml_value_t *plugin = config_plugin_table(&cfg, "notifications");
    assert_non_null(plugin);
    assert_string_equal(toml_table_get(plugin, "database")->u.string.ptr, "x.db");
    assert_null(config_plugin_table(&cfg, "other"));
    assert_int_equal(cfg.http.max_body_bytes, 1048576); /* untouched keys keep defaults */
    assert_int_equal(cfg.server.workers, 1);
    config_free(&cfg);
    const char *fleet = "[server]\nworkers = \"auto\"\n[cluster]\nadapter = \"redis\"\n";
    assert_int_equal(load(&cfg, fleet, err, sizeof(err)), 0);
    assert_int_equal(cfg.server.workers, 0); /* one per CPU */
    buf_t printed = BUF_INIT;
    config_print(&cfg, append_line, &printed);
    assert_non_null(strstr(printed.data, "workers = \"auto\"\n"));
    buf_free(&printed);
    config_free(&cfg);
}

static void expect_error(const char *text, const char *message)
{
    config_t cfg;
    char err[512];
    assert_int_equal(load(&cfg, text, err, sizeof(err)), -1);
    if (!strstr(err, message)) fail_msg("error '%s' lacks '%s'", err, message);
    /* After a failure the defaults are in place and must still be freed. */
    assert_int_equal(cfg.server.port, 3000);
    config_free(&cfg);
}

static void errors_name_file_line_and_column(void **state)
{
    (void)state;
    expect_error("[server]\nhost = \"x\"\nprot = 1\n",
                 "test.toml:3:1: unknown key 'prot' in [server] (did you mean 'port'?)");
    expect_error("[servr]\n", "test.toml:1:2: unknown table [servr] (did you mean [server]?)");
    expect_error("[zzzzzzzz]\n", "unknown table [zzzzzzzz]");
    expect_error("[server]\nport = 65536\n",
                 "test.toml:2:1: [server] port must be between 0 and 65535 (got 65536)");
    expect_error("[server]\nport = -1\n", "port must be between");
    expect_error("[server]\nport = 1.5\n", "[server] port must be an integer (got float)");
    expect_error("[server]\nhost = 1\n", "[server] host must be a string (got integer)");
    expect_error("[auth]\nallow_auth_payload = \"yes\"\n", "must be a boolean");
    expect_error("[log]\nformat = \"xml\"\n", "[log] format must be \"text\" or \"json\"");
    expect_error("[log]\nlevel = \"verbose\"\n", "[log] level must be one of");
    expect_error("[socketio]\ntransports = [\"carrier-pigeon\"]\n",
                 "unknown transport \"carrier-pigeon\"");
    expect_error("[socketio]\ntransports = []\n", "transports must not be empty");
    expect_error("[socketio]\ntransports = [1]\n", "must be an array of strings");
    expect_error("[socketio]\npath = \"socket\"\n", "path must start with '/'");
    expect_error("[plugins]\nload = [\"a/b\"]\n", "invalid plugin name \"a/b\"");
    expect_error("[plugins]\nload = [\"..\"]\n", "invalid plugin name");
    expect_error("server = 1\n", "server must be a table");
    expect_error("plugin = 1\n", "plugin must be a table");
    expect_error("[server]\nhost = \"a\\u0000b\"\n", "must not contain NUL");
    expect_error("[auth]\nrequire_exp = 0\n", "[auth] require_exp must be a boolean");
    expect_error("[auth]\nissuer = \"\"\n",
                 "test.toml:2:1: [auth] issuer must not be empty (leave it out not to check the "
                 "claim)");
    expect_error("[auth]\nissuer = \"x\"\naudience = \"\"\n",
                 "test.toml:3:1: [auth] audience must not be empty");
    expect_error("[plugins]\nallow_insecure_permissions = \"yes\"\n",
                 "[plugins] allow_insecure_permissions must be a boolean");
    /* TOML syntax errors come from the parser with the same prefix. */
    expect_error("[server]\nport = = 1\n", "test.toml:2:");
    expect_error("[server]\nworkers = 4\n",
                 "test.toml:2:1: [server] workers other than 1 makes each worker a node of a "
                 "fleet: set [cluster] adapter = \"redis\"");
    expect_error("[server]\nworkers = \"auto\"\n", "set [cluster] adapter = \"redis\"");
    expect_error("[server]\nworkers = \"many\"\n",
                 "[server] workers must be an integer or \"auto\" (got string)");
    expect_error("[server]\nworkers = 0\n", "[server] workers must be between 1 and 256");
    expect_error("[server]\nworkers = 257\n", "[server] workers must be between 1 and 256");
    expect_error("[server]\nport = 1\nport = 2\n", "test.toml:3:");
}

static void auth_claims_and_plugin_permissions(void **state)
{
    (void)state;
    config_t cfg;
    char err[256], where[256];
    const char *text = "[auth]\njwt_secret = \"0123456789abcdef0123456789abcdef\"\n"
                       "require_exp = false\nissuer = \"https://auth.example.com\"\n"
                       "audience = \"iogate\"\n[plugins]\nallow_insecure_permissions = true\n";
    assert_int_equal(load(&cfg, text, err, sizeof(err)), 0);
    assert_int_equal(cfg.auth.require_exp, 0);
    assert_string_equal(cfg.auth.issuer, "https://auth.example.com");
    assert_string_equal(cfg.auth.audience, "iogate");
    assert_int_equal(cfg.plugins.allow_insecure_permissions, 1);
    /* Where a key was set, for messages about its value found later. */
    config_key_origin(&cfg, "auth", "jwt_secret", where, sizeof(where));
    assert_string_equal(where, "test.toml:2:1");
    config_key_origin(&cfg, "auth", "jwt_secret_file", where, sizeof(where));
    assert_string_equal(where, "test.toml");
    config_key_origin(&cfg, "nowhere", "jwt_secret", where, sizeof(where));
    assert_string_equal(where, "test.toml");
    config_free(&cfg);
    config_defaults(&cfg);
    config_key_origin(&cfg, "auth", "jwt_secret", where, sizeof(where));
    assert_string_equal(where, "(defaults)");
    config_free(&cfg);
}

static void metrics_listen_is_an_address_and_a_port(void **state)
{
    (void)state;
    char host[64];
    int port = -1;
    const char *why;
    assert_int_equal(config_split_host_port("127.0.0.1:9464", host, sizeof(host), &port, &why), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9464);
    assert_int_equal(config_split_host_port("[::1]:0", host, sizeof(host), &port, &why), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    static const char *const bad[] = {"127.0.0.1",      "127.0.0.1:",    ":9464",
                                      "[::1]9464",      "::1:9464",      "localhost:9464",
                                      "[]:1",           "1.2.3.4:65536", "1.2.3.4:-1",
                                      "1.2.3.4:123456", "[1.2.3.4]:1x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (config_split_host_port(bad[i], host, sizeof(host), &port, &why) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
    expect_error("[metrics]\nlisten = \"localhost:9464\"\n",
                 "test.toml:2:1: [metrics] listen \"localhost:9464\" must name an IP address");
    expect_error("[server]\nport = 9464\n[metrics]\nlisten = \"0.0.0.0:9464\"\n",
                 "[metrics] listen: port 9464 is [server] port");
    config_t cfg;
    char err[256];
    assert_int_equal(load(&cfg, "[metrics]\nlisten = \"[::]:9464\"\n", err, sizeof(err)), 0);
    assert_string_equal(cfg.metrics.listen, "[::]:9464");
    config_free(&cfg);
}

/* Connection state recovery: off by default; its bounds are checked, and a per-session bound
 * left out follows a smaller total (gateway.c), while one written larger is an error. */
static void connection_state_recovery_keys(void **state)
{
    (void)state;
    config_t cfg;
    char err[512];
    config_defaults(&cfg);
    assert_false(cfg.socketio.connection_state_recovery);
    assert_int_equal(cfg.socketio.max_disconnection_ms, 120000);
    assert_int_equal(cfg.socketio.max_recovery_bytes, 64 * 1024 * 1024);
    assert_int_equal(cfg.socketio.max_recovery_bytes_per_session, 1024 * 1024);
    config_free(&cfg);
    assert_int_equal(load(&cfg,
                          "[socketio]\nconnection_state_recovery = true\n"
                          "max_recovery_bytes = 65536\n",
                          err, sizeof(err)),
                     0);
    assert_true(cfg.socketio.connection_state_recovery);
    config_free(&cfg);
    expect_error("[socketio]\nmax_recovery_bytes = 65536\nmax_recovery_bytes_per_session = 65537\n",
                 "test.toml:3:1: [socketio] max_recovery_bytes_per_session (65537) must not exceed "
                 "max_recovery_bytes (65536)");
    expect_error("[socketio]\nmax_disconnection_ms = 999\n",
                 "[socketio] max_disconnection_ms must be between 1000 and 86400000");
    expect_error("[socketio]\nmax_recovery_bytes = 1024\n", "max_recovery_bytes must be between");
    expect_error("[socketio]\nmax_recovery_bytes_per_session = 1023\n",
                 "max_recovery_bytes_per_session must be between");
    expect_error("[socketio]\nconnection_state_recovery = 1\n", "must be a boolean");
}

static void missing_file_is_an_error(void **state)
{
    (void)state;
    config_t cfg;
    char err[256];
    assert_int_equal(config_load_file(&cfg, "/nonexistent/iogate.toml", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/iogate.toml"));
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_match_the_documented_values),
        cmocka_unit_test(the_shipped_file_is_valid_and_equals_the_defaults),
        cmocka_unit_test(values_override_defaults),
        cmocka_unit_test(errors_name_file_line_and_column),
        cmocka_unit_test(auth_claims_and_plugin_permissions),
        cmocka_unit_test(metrics_listen_is_an_address_and_a_port),
        cmocka_unit_test(connection_state_recovery_keys),
        cmocka_unit_test(missing_file_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
