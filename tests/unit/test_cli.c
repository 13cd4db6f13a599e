/* test_cli.c - the pieces of `iogate genconfig` and `iogate token`: the secret put into the
 * shipped configuration, the private file written without clobbering, --ttl and --claim.
 * The commands themselves, and their tokens against a running server, are covered by
 * tests/node/cli.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/authenticator.h"
#include "cli/cli_internal.h"
#include "config/config.h"

static void the_shipped_config_gets_a_secret_and_keeps_the_defaults(void **state)
{
    (void)state;
    const char *secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";
    buf_t text = BUF_INIT;
    assert_int_equal(cli_config_with_secret(&text, (const char *)cli_default_config,
                                            cli_default_config_len, secret),
                     0);
    /* The embedded file is config/iogate.toml, whole. */
    assert_int_equal(cli_default_config[cli_default_config_len], '\0');
    assert_non_null(strstr((const char *)cli_default_config, "[plugin.notifications]"));

    config_t cfg;
    char err[512] = "";
    assert_int_equal(config_load_text(&cfg, text.data, text.len, "gen.toml", err, sizeof(err)), 0);
    assert_string_equal(cfg.auth.jwt_secret, secret);
    assert_int_equal(authenticator_check_config(&cfg, err, sizeof(err)), 0);
    config_free(&cfg);
    /* Only the example line changed: what precedes it and what follows are the file's. */
    const char *line = strstr(text.data, "\njwt_secret = ");
    const char *example = strstr((const char *)cli_default_config, "\n# jwt_secret = ");
    assert_non_null(line);
    assert_non_null(example);
    const char *before = strstr(text.data, "\n# Written by `iogate genconfig`");
    assert_non_null(before);
    size_t head = (size_t)(example - (const char *)cli_default_config);
    assert_int_equal((size_t)(before - text.data), head);
    assert_memory_equal(text.data, cli_default_config, head);
    const char *rest = strchr(example + 1, '\n'), *out_rest = strchr(line + 1, '\n');
    assert_string_equal(out_rest, rest);
    buf_free(&text);

    /* A text without the commented example has no place for the secret. */
    const char *bare = "[auth]\njwt_secret_file = \"/x\"\n";
    assert_int_equal(cli_config_with_secret(&text, bare, strlen(bare), secret), -1);
    buf_free(&text);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char data[256];
    size_t n = fread(data, 1, sizeof(data) - 1, f);
    fclose(f);
    data[n] = '\0';
    return data;
}

static size_t entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void private_files_are_new_0600_and_never_followed(void **state)
{
    (void)state;
    char dir[] = "/tmp/iogate-test-cli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], victim[256], link_path[256], err[512];
    snprintf(path, sizeof(path), "%s/new.toml", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    snprintf(link_path, sizeof(link_path), "%s/link.toml", dir);

    mode_t old_umask = umask(0); /* the mode is 0600 whatever the umask lets through */
    assert_int_equal(cli_write_private_file(path, "one\n", 4, 0, err, sizeof(err)), 0);
    umask(old_umask);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_string_equal(read_file(path), "one\n");

    /* An existing file is kept unless replace is set. */
    assert_int_equal(cli_write_private_file(path, "two\n", 4, 0, err, sizeof(err)), -1);
    assert_int_equal(errno, EEXIST);
    if (!strstr(err, "already exists")) fail_msg("message: %s", err);
    assert_string_equal(read_file(path), "one\n");
    assert_int_equal(cli_write_private_file(path, "two\n", 4, 1, err, sizeof(err)), 0);
    assert_string_equal(read_file(path), "two\n");

    /* A symlink at the path, dangling or not, is never written through. */
    FILE *f = fopen(victim, "w");
    fputs("victim\n", f);
    fclose(f);
    chmod(victim, 0644);
    assert_int_equal(symlink(victim, link_path), 0);
    assert_int_equal(cli_write_private_file(link_path, "x\n", 2, 0, err, sizeof(err)), -1);
    assert_int_equal(errno, EEXIST);
    assert_string_equal(read_file(victim), "victim\n");
    assert_int_equal(cli_write_private_file(link_path, "x\n", 2, 1, err, sizeof(err)), 0);
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISREG(st.st_mode)); /* the link itself was replaced */
    assert_string_equal(read_file(victim), "victim\n");
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    /* No temporary file is left behind, after success or failure. */
    assert_int_equal(entries(dir), 3);
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/no-such-dir/x.toml", dir);
    assert_int_equal(cli_write_private_file(missing, "x", 1, 0, err, sizeof(err)), -1);
    if (!strstr(err, missing) || !strstr(err, "No such file")) fail_msg("message: %s", err);

    unlink(path);
    unlink(victim);
    unlink(link_path);
    assert_int_equal(rmdir(dir), 0);
}

static void ttls_take_a_unit_and_stay_in_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t seconds;
    } good[] = {{"1", 1},       {"90", 90},     {"90s", 90},           {"15m", 900},
                {"1h", 3600},   {"7d", 604800}, {"366d", 366 * 86400}, {"8784h", 8784 * 3600},
                {"0001h", 3600}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t s = -1;
        if (cli_parse_ttl(good[i].text, &s) != 0) fail_msg("refused '%s'", good[i].text);
        assert_int_equal(s, good[i].seconds);
    }
    static const char *const bad[] = {
        "",        "0",   "0h", "h",    "-1h",  "+1h",   "1y",
        "1hh",     "1 h", " 1", "1.5h", "367d", "8785h", "99999999999999999999",
        "31622401"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t s = -1;
        if (cli_parse_ttl(bad[i], &s) != -1) fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(s, -1);
    }
}

static void expect_claim_error(json_t *claims, const char *spec, const char *message)
{
    char err[512] = "";
    assert_int_equal(cli_add_claim(claims, spec, err, sizeof(err)), -1);
    if (!strstr(err, message)) fail_msg("'%s': message '%s' lacks '%s'", spec, err, message);
}

static void claims_are_strings_or_json(void **state)
{
    (void)state;
    json_t *claims = json_object();
    char err[512];
    assert_int_equal(cli_add_claim(claims, "role=admin", err, sizeof(err)), 0);
    assert_int_equal(cli_add_claim(claims, "empty=", err, sizeof(err)), 0);
    assert_int_equal(cli_add_claim(claims, "eq=a=b", err, sizeof(err)), 0);
    assert_int_equal(cli_add_claim(claims, "n:=42", err, sizeof(err)), 0);
    assert_int_equal(cli_add_claim(claims, "groups:=[\"a\", \"b\"]", err, sizeof(err)), 0);
    assert_int_equal(cli_add_claim(claims, "num=42", err, sizeof(err)), 0);
    assert_int_equal(cli_add_claim(claims, "https://x.example/c=v", err, sizeof(err)), 0);
    char *dump = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(dump, "{\"empty\":\"\",\"eq\":\"a=b\",\"groups\":[\"a\",\"b\"],"
                              "\"https://x.example/c\":\"v\",\"n\":42,\"num\":\"42\","
                              "\"role\":\"admin\"}");
    free(dump);

    expect_claim_error(claims, "role=other", "given twice");
    expect_claim_error(claims, "noequals", "expected NAME=VALUE or NAME:=JSON");
    expect_claim_error(claims, "=v", "name is empty");
    expect_claim_error(claims, ":=1", "name is empty");
    expect_claim_error(claims, "x:=nope", "not JSON");
    expect_claim_error(claims, "x:={\"a\":1,\"a\":2}", "not JSON");
    expect_claim_error(claims, "sub=bob", "set by --sub");
    expect_claim_error(claims, "exp:=1", "set by --ttl");
    expect_claim_error(claims, "iat:=1", "set by the signing time");
    expect_claim_error(claims, "bad=\xff", "not UTF-8");
    json_decref(claims);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_shipped_config_gets_a_secret_and_keeps_the_defaults),
        cmocka_unit_test(private_files_are_new_0600_and_never_followed),
        cmocka_unit_test(ttls_take_a_unit_and_stay_in_bounds),
        cmocka_unit_test(claims_are_strings_or_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
