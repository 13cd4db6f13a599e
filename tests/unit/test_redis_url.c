/* test_redis_url.c - the redis_url setting: every accepted form, and malformed values refused
 * with a message that says what is wrong (and never echoes the password). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cluster/redis_url.h"

static redis_url_t parse_ok(const char *s)
{
    redis_url_t u;
    char err[256] = "";
    int rc = redis_url_parse(s, &u, err, sizeof(err));
    if (rc != 0) fail_msg("'%s' refused: %s", s, err);
    return u;
}

/* Asserts s is refused with a message containing want. */
static void refused(const char *s, const char *want)
{
    redis_url_t u;
    char err[256] = "";
    assert_int_equal(redis_url_parse(s, &u, err, sizeof(err)), -1);
    if (!strstr(err, want)) fail_msg("'%s': message '%s' lacks '%s'", s ? s : "(null)", err, want);
    assert_null(strstr(err, "s3cret")); /* the test passwords are never echoed */
}

static void tcp_forms(void **state)
{
    (void)state;
    redis_url_t u = parse_ok("redis://127.0.0.1");
    assert_false(u.is_unix);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "");

    u = parse_ok("redis://redis.internal:6380/");
    assert_string_equal(u.host, "redis.internal");
    assert_int_equal(u.port, 6380);

    u = parse_ok("REDIS://cache-1.example_net:1/15");
    assert_string_equal(u.host, "cache-1.example_net");
    assert_int_equal(u.port, 1);
    assert_int_equal(u.db, 15);

    u = parse_ok("redis://[::1]:65535/2");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 65535);
    assert_int_equal(u.db, 2);

    u = parse_ok("redis://[2001:db8::7]");
    assert_string_equal(u.host, "2001:db8::7");
    assert_int_equal(u.port, 6379);
}

static void credentials(void **state)
{
    (void)state;
    redis_url_t u = parse_ok("redis://:s3cret@localhost:6379/1");
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "s3cret");
    assert_int_equal(u.db, 1);

    u = parse_ok("redis://gateway:p%40ss%3Aw%2Fo%25rd%23@10.0.0.2");
    assert_string_equal(u.user, "gateway");
    assert_string_equal(u.password, "p@ss:w/o%rd#");
    assert_string_equal(u.host, "10.0.0.2");

    /* The last '@' ends the user info, so an unencoded '@' in a password still works. */
    u = parse_ok("redis://:a@b@h");
    assert_string_equal(u.password, "a@b");
    assert_string_equal(u.host, "h");

    /* '+' is a plus in a password, not a space (that is only for query strings). */
    u = parse_ok("redis://:a+b@h");
    assert_string_equal(u.password, "a+b");
}

static void unix_forms(void **state)
{
    (void)state;
    redis_url_t u = parse_ok("unix:///run/redis/redis.sock");
    assert_true(u.is_unix);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_int_equal(u.db, 0);

    u = parse_ok("unix:///tmp/r%20x.sock?db=3");
    assert_string_equal(u.path, "/tmp/r x.sock");
    assert_int_equal(u.db, 3);

    u = parse_ok("unix://app:s3cret@/tmp/r.sock");
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "s3cret");
    assert_string_equal(u.path, "/tmp/r.sock");
}

static void scheme_errors(void **state)
{
    (void)state;
    refused(NULL, "is empty");
    refused("", "is empty");
    refused("127.0.0.1:6379", "has no scheme");
    refused("rediss://host:6380", "TLS) is not supported");
    refused("http://host", "unsupported scheme 'http'");
    refused("://host", "unsupported scheme ''");
    refused("redis://:s3cret@host#frag", "unexpected '#'");
}

static void host_errors(void **state)
{
    (void)state;
    refused("redis://", "missing host");
    refused("redis://:6379", "missing host");
    refused("redis://:s3cret@", "missing host");
    refused("redis://:s3cret@/2", "missing host");
    refused("redis://ho st", "bad character ' ' in host");
    refused("redis://::1", "IPv6 addresses need brackets");
    refused("redis://[::1", "unclosed '['");
    refused("redis://[]:6379", "bad IPv6 address");
    refused("redis://[not:an:addr:xyz]", "bad IPv6 address");
    refused("redis://[::1]6379", "unexpected text after ']'");
}

static void port_errors(void **state)
{
    (void)state;
    refused("redis://host:", "missing port");
    refused("redis://host:0", "port must be a number from 1 to 65535: '0'");
    refused("redis://host:65536", "port must be a number from 1 to 65535");
    refused("redis://host:http", "port must be a number");
    refused("redis://host:-1", "port must be a number");
    refused("redis://host:+80", "port must be a number");
    refused("redis://host:99999999999999", "port must be a number");
    refused("redis://[::1]:", "missing port");
}

static void db_and_trailing_errors(void **state)
{
    (void)state;
    refused("redis://host/abc", "db must be a number");
    refused("redis://host/-1", "db must be a number");
    refused("redis://host/1x", "db must be a number");
    refused("redis://host/99999999999", "db must be a number");
    refused("redis://host/1/", "unexpected text after the db number");
    refused("redis://host/1/extra", "unexpected text after the db number");
    refused("redis://host?db=1", "query parameters are not supported");
    refused("redis://host:6379/0?timeout=1", "query parameters are not supported");
}

static void credential_errors(void **state)
{
    (void)state;
    refused("redis://user@host", "a user needs a password");
    refused("redis://user:@host", "empty password");
    refused("redis://:@host", "empty password");
    refused("redis://:s3cret%zz@host", "bad percent-escape in the password");
    refused("redis://:s3cret%4@host", "bad percent-escape in the password");
    refused("redis://:s3cret%00@host", "bad percent-escape in the password");
    refused("redis://u%g1:s3cret@host", "bad percent-escape in the user name");
    char big[700] = "redis://:";
    memset(big + strlen(big), 'x', 600);
    strcpy(big + 609, "@host");
    refused(big, "password longer than 511 bytes");
}

static void unix_errors(void **state)
{
    (void)state;
    refused("unix://", "missing socket path");
    refused("unix:///", "missing socket path");
    refused("unix://tmp/redis.sock", "needs an absolute path");
    refused("unix://:s3cret@", "needs an absolute path");
    refused("unix:///tmp/r.sock?db=x", "db must be a number");
    refused("unix:///tmp/r.sock?db=", "unknown parameter 'db='");
    refused("unix:///tmp/r.sock?timeout=3", "unknown parameter 'timeout=3'");
    refused("unix:///tmp/r%zz.sock", "bad percent-escape in the socket path");
    char big[200] = "unix:///";
    memset(big + strlen(big), 'p', 120);
    refused(big, "socket path longer than 107 bytes");
}

static void describe_has_no_secret(void **state)
{
    (void)state;
    char out[300];
    redis_url_t u = parse_ok("redis://app:s3cret@[::1]:7000/4");
    redis_url_describe(&u, out, sizeof(out));
    assert_string_equal(out, "[::1]:7000/4");
    u = parse_ok("redis://:s3cret@localhost");
    redis_url_describe(&u, out, sizeof(out));
    assert_string_equal(out, "localhost:6379");
    u = parse_ok("unix://:s3cret@/tmp/r.sock?db=2");
    redis_url_describe(&u, out, sizeof(out));
    assert_string_equal(out, "unix:/tmp/r.sock?db=2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp_forms),
        cmocka_unit_test(credentials),
        cmocka_unit_test(unix_forms),
        cmocka_unit_test(scheme_errors),
        cmocka_unit_test(host_errors),
        cmocka_unit_test(port_errors),
        cmocka_unit_test(db_and_trailing_errors),
        cmocka_unit_test(credential_errors),
        cmocka_unit_test(unix_errors),
        cmocka_unit_test(describe_has_no_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
