/* test_router.c - REST route matching: precedence, parameters, 404/405, conflicts, removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/router.h"

/* Distinct handler identities. */
static int h_list, h_create, h_get, h_patch, h_delete, h_read, h_unread, h_head, h_root, h_other;

static void add_ok(router_t *r, const char *method, const char *pattern, void *h)
{
    char err[256] = "";
    int rc = router_add(r, method, pattern, h, err, sizeof(err));
    if (rc != 0) fail_msg("router_add %s %s: %s", method, pattern, err);
}

static router_result_t match(const router_t *r, const char *method, const char *path,
                             router_match_t *m)
{
    return router_match(r, method, path, strlen(path), m, NULL);
}

/* Expects a 405 and returns nothing; checks the exact Allow value. */
static void expect_405(const router_t *r, const char *method, const char *path, const char *want)
{
    router_match_t m;
    buf_t allow = BUF_INIT;
    buf_append_str(&allow, "stale");
    assert_int_equal(router_match(r, method, path, strlen(path), &m, &allow),
                     ROUTER_METHOD_NOT_ALLOWED);
    assert_null(m.handler);
    assert_int_equal(m.nparams, 0);
    assert_string_equal(allow.data, want);
    router_match_free(&m);
    /* allow may be NULL */
    assert_int_equal(router_match(r, method, path, strlen(path), &m, NULL),
                     ROUTER_METHOD_NOT_ALLOWED);
    router_match_free(&m);
    buf_free(&allow);
}

static void expect_status(const router_t *r, const char *method, const char *path,
                          router_result_t want)
{
    router_match_t m;
    buf_t allow = BUF_INIT;
    assert_int_equal(router_match(r, method, path, strlen(path), &m, &allow), want);
    assert_null(m.handler);
    assert_int_equal(m.nparams, 0);
    router_match_free(&m);
    buf_free(&allow);
}

static router_t *notifications_router(void)
{
    router_t *r = router_new();
    add_ok(r, "GET", "/notifications", &h_list);
    add_ok(r, "POST", "/notifications", &h_create);
    add_ok(r, "GET", "/notifications/:id", &h_get);
    add_ok(r, "PATCH", "/notifications/:id", &h_patch);
    add_ok(r, "DELETE", "/notifications/:id", &h_delete);
    add_ok(r, "POST", "/notifications/:id/read", &h_read);
    add_ok(r, "GET", "/notifications/unread-count", &h_unread);
    add_ok(r, "GET", "/healthz", &h_other);
    return r;
}

static void matches_literals_and_params(void **state)
{
    (void)state;
    router_t *r = notifications_router();
    router_match_t m;
    assert_int_equal(match(r, "GET", "/notifications", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_list);
    assert_string_equal(m.pattern, "/notifications");
    assert_int_equal(m.nparams, 0);
    router_match_free(&m);

    assert_int_equal(match(r, "PATCH", "/notifications/42", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_patch);
    assert_string_equal(m.pattern, "/notifications/:id");
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0].name, "id");
    assert_string_equal(router_match_param(&m, "id"), "42");
    assert_null(router_match_param(&m, "other"));
    router_match_free(&m);
    assert_int_equal(m.nparams, 0);

    assert_int_equal(match(r, "POST", "/notifications/7/read", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_read);
    assert_string_equal(router_match_param(&m, "id"), "7");
    router_match_free(&m);

    /* the path length is honoured: a query left after it is not read */
    const char *target = "/healthz?x=1";
    assert_int_equal(router_match(r, "GET", target, 8, &m, NULL), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_other);
    router_match_free(&m);
    router_free(r);
}

static void literal_wins_and_backtracks(void **state)
{
    (void)state;
    router_t *r = notifications_router();
    router_match_t m;
    assert_int_equal(match(r, "GET", "/notifications/unread-count", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_unread);
    assert_int_equal(m.nparams, 0);
    router_match_free(&m);

    /* the literal node has no "read" child: back up and take the parameter */
    assert_int_equal(match(r, "POST", "/notifications/unread-count/read", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_read);
    assert_string_equal(router_match_param(&m, "id"), "unread-count");
    router_match_free(&m);

    /* precedence only chooses among routes accepting the method */
    assert_int_equal(match(r, "DELETE", "/notifications/unread-count", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_delete);
    assert_string_equal(router_match_param(&m, "id"), "unread-count");
    router_match_free(&m);
    router_free(r);

    /* deeper backtracking over two levels */
    r = router_new();
    add_ok(r, "GET", "/a/b/c", &h_list);
    add_ok(r, "GET", "/a/:x/d", &h_get);
    add_ok(r, "GET", "/:p/:q/:s/e", &h_other);
    assert_int_equal(match(r, "GET", "/a/b/d", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_get);
    assert_string_equal(router_match_param(&m, "x"), "b");
    router_match_free(&m);
    assert_int_equal(match(r, "GET", "/a/b/c/e", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_other);
    assert_int_equal(m.nparams, 3);
    assert_string_equal(m.params[0].name, "p");
    assert_string_equal(m.params[0].value, "a");
    assert_string_equal(m.params[1].value, "b");
    assert_string_equal(m.params[2].name, "s");
    assert_string_equal(m.params[2].value, "c");
    router_match_free(&m);
    router_free(r);
}

static void params_are_decoded_per_route_names(void **state)
{
    (void)state;
    router_t *r = router_new();
    add_ok(r, "GET", "/users/:user/files/:name", &h_get);
    add_ok(r, "POST", "/users/:uid/files/:file", &h_create); /* same node, other names */
    add_ok(r, "GET", "/files/:name", &h_other);
    add_ok(r, "GET", "/files/:dir/:name", &h_list);
    router_match_t m;
    assert_int_equal(match(r, "GET", "/users/j%C3%B6rg/files/a%20b+c", &m), ROUTER_FOUND);
    assert_string_equal(router_match_param(&m, "user"), "j\xc3\xb6rg");
    assert_string_equal(router_match_param(&m, "name"), "a b+c"); /* '+' is not a space here */
    router_match_free(&m);
    assert_int_equal(match(r, "POST", "/users/u1/files/f1", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_create);
    assert_string_equal(router_match_param(&m, "uid"), "u1");
    assert_string_equal(router_match_param(&m, "file"), "f1");
    assert_null(router_match_param(&m, "user"));
    router_match_free(&m);

    /* an encoded slash stays inside its segment */
    assert_int_equal(match(r, "GET", "/files/a%2Fb", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_other);
    assert_string_equal(router_match_param(&m, "name"), "a/b");
    router_match_free(&m);
    assert_int_equal(match(r, "GET", "/files/a/b", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_list);
    router_match_free(&m);
    router_free(r);
}

static void literals_compare_decoded(void **state)
{
    (void)state;
    router_t *r = router_new();
    add_ok(r, "GET", "/abc", &h_list);
    add_ok(r, "GET", "/a%20b", &h_get);    /* pattern literals are decoded too */
    add_ok(r, "GET", "/x%2Fy", &h_other);  /* only an encoded slash can reach it */
    add_ok(r, "GET", "/%3Aid", &h_create); /* a literal ":id" */
    router_match_t m;
    assert_int_equal(match(r, "GET", "/a%62c", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_list);
    router_match_free(&m);
    assert_int_equal(match(r, "GET", "/%61%62%63", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_list);
    router_match_free(&m);
    assert_int_equal(match(r, "GET", "/a%20b", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_get);
    router_match_free(&m);
    assert_int_equal(match(r, "GET", "/x%2fy", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_other);
    router_match_free(&m);
    expect_status(r, "GET", "/x/y", ROUTER_NOT_FOUND);
    assert_int_equal(match(r, "GET", "/:id", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_create);
    router_match_free(&m);
    expect_status(r, "GET", "/ABC", ROUTER_NOT_FOUND); /* case-sensitive */
    router_free(r);
}

static void bad_paths(void **state)
{
    (void)state;
    router_t *r = notifications_router();
    static const char *bad[] = {"/notifications/%",
                                "/notifications/%G1",
                                "/notifications/%0",
                                "/notifications/%00",
                                "/x/%zz/y",
                                "/nothing/a%2",
                                "notifications",
                                "*",
                                "?a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_status(r, "GET", bad[i], ROUTER_BAD_PATH);
    router_match_t m;
    assert_int_equal(router_match(r, "GET", "", 0, &m, NULL), ROUTER_BAD_PATH);
    router_match_free(&m);
    /* a raw NUL inside the given length */
    assert_int_equal(router_match(r, "GET", "/healthz\0x", 10, &m, NULL), ROUTER_BAD_PATH);
    router_match_free(&m);
    router_free(r);
}

static void not_found_vs_method_not_allowed(void **state)
{
    (void)state;
    router_t *r = notifications_router();
    expect_405(r, "PUT", "/notifications", "GET, HEAD, POST");
    expect_405(r, "PUT", "/notifications/9", "DELETE, GET, HEAD, PATCH");
    expect_405(r, "GET", "/notifications/9/read", "POST");
    /* Allow lists every method that would match, across literal and parameter routes */
    expect_405(r, "PUT", "/notifications/unread-count", "DELETE, GET, HEAD, PATCH");
    expect_405(r, "HEAD", "/notifications/9/read", "POST");
    expect_status(r, "GET", "/nothing", ROUTER_NOT_FOUND);
    expect_status(r, "GET", "/notifications/9/unread", ROUTER_NOT_FOUND);
    expect_status(r, "GET", "/", ROUTER_NOT_FOUND);
    expect_status(r, "get", "/notifications", ROUTER_METHOD_NOT_ALLOWED); /* case-sensitive */
    router_free(r);

    r = router_new();
    expect_status(r, "GET", "/", ROUTER_NOT_FOUND); /* empty router */
    add_ok(r, "HEAD", "/h", &h_head);
    add_ok(r, "GET", "/h", &h_get);
    add_ok(r, "OPTIONS", "/h", &h_other);
    add_ok(r, "M-SEARCH", "/h", &h_list);
    expect_405(r, "PUT", "/h", "GET, HEAD, M-SEARCH, OPTIONS"); /* HEAD listed once */
    router_free(r);
}

static void head_falls_back_to_get(void **state)
{
    (void)state;
    router_t *r = notifications_router();
    router_match_t m;
    assert_int_equal(match(r, "HEAD", "/notifications/5", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_get);
    assert_string_equal(router_match_param(&m, "id"), "5");
    router_match_free(&m);
    add_ok(r, "HEAD", "/notifications", &h_head);
    assert_int_equal(match(r, "HEAD", "/notifications", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_head); /* an explicit HEAD route wins */
    router_match_free(&m);
    assert_int_equal(match(r, "GET", "/notifications", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_list);
    router_match_free(&m);
    router_free(r);

    /* the fallback follows path precedence: the literal's GET beats a parameter's HEAD */
    r = router_new();
    add_ok(r, "GET", "/n/count", &h_unread);
    add_ok(r, "HEAD", "/n/:id", &h_head);
    assert_int_equal(match(r, "HEAD", "/n/count", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_unread);
    router_match_free(&m);
    assert_int_equal(match(r, "HEAD", "/n/5", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_head);
    router_match_free(&m);
    /* GET never falls back to HEAD */
    expect_405(r, "GET", "/n/5", "HEAD");
    router_free(r);
}

static void strict_slashes_and_empty_segments(void **state)
{
    (void)state;
    router_t *r = notifications_router();
    add_ok(r, "GET", "/a/:x/b", &h_get);
    add_ok(r, "GET", "/a/:x", &h_get);
    expect_status(r, "GET", "/notifications/", ROUTER_NOT_FOUND);
    expect_status(r, "GET", "//notifications", ROUTER_NOT_FOUND);
    expect_status(r, "GET", "/notifications//read", ROUTER_NOT_FOUND);
    expect_status(r, "POST", "/notifications//read", ROUTER_NOT_FOUND);
    expect_status(r, "GET", "/a//b", ROUTER_NOT_FOUND);
    expect_status(r, "GET", "/a/", ROUTER_NOT_FOUND);
    expect_status(r, "GET", "/healthz/", ROUTER_NOT_FOUND);
    expect_status(r, "GET", "//", ROUTER_NOT_FOUND);
    router_match_t m;
    assert_int_equal(match(r, "GET", "/a/%20", &m), ROUTER_FOUND); /* not empty once decoded */
    assert_string_equal(router_match_param(&m, "x"), " ");
    router_match_free(&m);

    add_ok(r, "GET", "/", &h_root);
    assert_int_equal(match(r, "GET", "/", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_root);
    assert_string_equal(m.pattern, "/");
    router_match_free(&m);
    expect_status(r, "GET", "//", ROUTER_NOT_FOUND);
    router_free(r);
}

static void conflicts_are_refused(void **state)
{
    (void)state;
    router_t *r = notifications_router();
    char err[256];
    assert_int_equal(router_add(r, "GET", "/notifications/:nid", &h_other, err, sizeof(err)),
                     ROUTER_ECONFLICT);
    assert_non_null(strstr(err, "GET /notifications/:id"));
    assert_int_equal(router_add(r, "GET", "/notifications", &h_other, err, sizeof(err)),
                     ROUTER_ECONFLICT);
    assert_int_equal(router_add(r, "GET", "/%6Eotifications", &h_other, err, sizeof(err)),
                     ROUTER_ECONFLICT);
    assert_non_null(strstr(err, "GET /notifications"));
    /* err may be NULL or too small */
    assert_int_equal(router_add(r, "GET", "/healthz", &h_other, NULL, 0), ROUTER_ECONFLICT);
    char tiny[4];
    assert_int_equal(router_add(r, "GET", "/healthz", &h_other, tiny, sizeof(tiny)),
                     ROUTER_ECONFLICT);
    assert_int_equal(strlen(tiny), 3);

    /* not conflicts: other method, literal vs parameter, different depth */
    add_ok(r, "PUT", "/notifications/:nid", &h_other);
    add_ok(r, "GET", "/notifications/all", &h_other);
    add_ok(r, "GET", "/notifications/:id/read", &h_other);

    router_match_t m;
    assert_int_equal(match(r, "GET", "/notifications/3", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_get); /* the first route is untouched */
    router_match_free(&m);
    assert_int_equal(match(r, "PUT", "/notifications/3", &m), ROUTER_FOUND);
    assert_string_equal(router_match_param(&m, "nid"), "3");
    router_match_free(&m);
    router_free(r);
}

static void count_routes(void *user, const char *method, const char *pattern, void *handler)
{
    (void)method;
    (void)pattern;
    (void)handler;
    (*(size_t *)user)++;
}

static void invalid_patterns_are_refused(void **state)
{
    (void)state;
    static const char *bad[] = {"",
                                "notifications",
                                "/a//b",
                                "/a/",
                                "//",
                                "/:",
                                "/:1a",
                                "/:a-b",
                                "/:id.json",
                                "/:id/x/:id",
                                "/a?b",
                                "/a b",
                                "/a#",
                                "/a\tb",
                                "/*rest",
                                "/a/*",
                                "/a%G1",
                                "/a%0",
                                "/a%00",
                                "/a%",
                                "/:a/:b/:c/:d/:e/:f/:g/:h/:i/:j/:k/:l/:m/:n/:o/:p/:q"};
    router_t *r = router_new();
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        int rc = router_add(r, "GET", bad[i], &h_get, err, sizeof(err));
        if (rc != ROUTER_EINVAL) fail_msg("pattern \"%s\" accepted (rc %d)", bad[i], rc);
        assert_true(strlen(err) > 0);
    }
    static const char *bad_methods[] = {"", "get", "Get", "GE T", "GET\r\n", "GET/1", "(GET)"};
    for (size_t i = 0; i < sizeof(bad_methods) / sizeof(bad_methods[0]); i++)
        assert_int_equal(router_add(r, bad_methods[i], "/a", &h_get, err, sizeof(err)),
                         ROUTER_EINVAL);
    assert_int_equal(router_add(r, NULL, "/a", &h_get, err, sizeof(err)), ROUTER_EINVAL);
    assert_int_equal(router_add(r, "GET", NULL, &h_get, err, sizeof(err)), ROUTER_EINVAL);
    assert_int_equal(router_add(r, "GET", "/a", NULL, err, sizeof(err)), ROUTER_EINVAL);
    assert_int_equal(router_add(r, "GET", "/a//", &h_get, NULL, 0), ROUTER_EINVAL);
    size_t count = 0;
    router_foreach(r, count_routes, &count);
    assert_int_equal(count, 0); /* failed adds leave nothing behind */
    expect_status(r, "GET", "/a", ROUTER_NOT_FOUND);

    /* the limits themselves are accepted */
    add_ok(r, "GET", "/:a/:b/:c/:d/:e/:f/:g/:h/:i/:j/:k/:l/:m/:n/:o/:p", &h_list);
    add_ok(r, "GET", "/_x/:_/:a9_Z", &h_list);
    add_ok(r, "PATCH", "/x/:id", &h_list);
    router_match_t m;
    assert_int_equal(match(r, "GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", &m), ROUTER_FOUND);
    assert_int_equal(m.nparams, 16);
    assert_string_equal(router_match_param(&m, "a"), "1");
    assert_string_equal(router_match_param(&m, "p"), "16");
    router_match_free(&m);
    expect_status(r, "GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", ROUTER_NOT_FOUND);
    router_free(r);
}

typedef struct listing {
    char text[512];
} listing_t;

static void list_route(void *user, const char *method, const char *pattern, void *handler)
{
    listing_t *l = user;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof(l->text) - used, "%s %s %s;", method, pattern,
             handler == &h_other ? "O" : "-");
}

static void foreach_and_removal(void **state)
{
    (void)state;
    router_t *r = router_new();
    add_ok(r, "GET", "/p/items", &h_other);
    add_ok(r, "GET", "/keep", &h_list);
    add_ok(r, "POST", "/p/items/:id", &h_other);
    add_ok(r, "GET", "/p/items/:id/deep/x", &h_other);
    add_ok(r, "GET", "/p/items/:id", &h_get);
    listing_t l = {""};
    router_foreach(r, list_route, &l);
    assert_string_equal(l.text, "GET /p/items O;GET /keep -;POST /p/items/:id O;"
                                "GET /p/items/:id/deep/x O;GET /p/items/:id -;");

    assert_int_equal(router_remove_handler(r, &h_other), 3);
    assert_int_equal(router_remove_handler(r, &h_other), 0);
    assert_int_equal(router_remove_handler(r, &h_patch), 0);
    l.text[0] = '\0';
    router_foreach(r, list_route, &l);
    assert_string_equal(l.text, "GET /keep -;GET /p/items/:id -;");

    router_match_t m;
    expect_status(r, "GET", "/p/items", ROUTER_NOT_FOUND);
    expect_status(r, "GET", "/p/items/1/deep/x", ROUTER_NOT_FOUND);
    expect_405(r, "POST", "/p/items/1", "GET, HEAD");
    assert_int_equal(match(r, "GET", "/p/items/1", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_get);
    router_match_free(&m);

    /* removed routes no longer conflict */
    add_ok(r, "POST", "/p/items/:x", &h_create);
    add_ok(r, "GET", "/p/items/:y/deep/x", &h_create);
    assert_int_equal(match(r, "GET", "/p/items/2/deep/x", &m), ROUTER_FOUND);
    assert_ptr_equal(m.handler, &h_create);
    assert_string_equal(router_match_param(&m, "y"), "2");
    router_match_free(&m);

    /* removing everything empties the trie (ASan checks nothing leaks) */
    assert_int_equal(router_remove_handler(r, &h_get), 1);
    assert_int_equal(router_remove_handler(r, &h_list), 1);
    assert_int_equal(router_remove_handler(r, &h_create), 2);
    expect_status(r, "GET", "/keep", ROUTER_NOT_FOUND);
    add_ok(r, "GET", "/keep", &h_list);
    assert_int_equal(match(r, "GET", "/keep", &m), ROUTER_FOUND);
    router_match_free(&m);
    router_free(r);
    router_free(NULL);
}

static void many_routes(void **state)
{
    (void)state;
    enum { N = 3000 };
    static int handlers[N];
    static const char *methods[] = {"GET", "POST", "DELETE"};
    router_t *r = router_new();
    char pattern[64], path[64];
    for (int i = 0; i < N; i++) {
        snprintf(pattern, sizeof(pattern), "/r%d/:id/x%d", i % 1000, i);
        add_ok(r, methods[i % 3], pattern, &handlers[i]);
        snprintf(pattern, sizeof(pattern), "/r%d", i);
        add_ok(r, methods[i % 3], pattern, &handlers[i]);
    }
    router_match_t m;
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/r%d/v%d/x%d", i % 1000, i, i);
        assert_int_equal(match(r, methods[i % 3], path, &m), ROUTER_FOUND);
        assert_ptr_equal(m.handler, &handlers[i]);
        snprintf(pattern, sizeof(pattern), "v%d", i);
        assert_string_equal(router_match_param(&m, "id"), pattern);
        router_match_free(&m);
        snprintf(path, sizeof(path), "/r%d", i);
        assert_int_equal(match(r, methods[i % 3], path, &m), ROUTER_FOUND);
        assert_ptr_equal(m.handler, &handlers[i]);
        router_match_free(&m);
    }
    expect_status(r, "GET", "/r3000", ROUTER_NOT_FOUND);
    expect_405(r, "PUT", "/r7", "POST");

    /* a very long path only walks as deep as the trie */
    size_t len = 200000;
    char *deep = malloc(len + 1);
    for (size_t i = 0; i < len; i += 2)
        memcpy(deep + i, "/a", 2);
    deep[len] = '\0';
    assert_int_equal(router_match(r, "GET", deep, len, &m, NULL), ROUTER_NOT_FOUND);
    router_match_free(&m);
    free(deep);

    for (int i = 0; i < N; i += 2)
        assert_int_equal(router_remove_handler(r, &handlers[i]), 2);
    expect_status(r, "GET", "/r0", ROUTER_NOT_FOUND);
    assert_int_equal(match(r, "POST", "/r1", &m), ROUTER_FOUND);
    router_match_free(&m);
    router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_literals_and_params),
        cmocka_unit_test(literal_wins_and_backtracks),
        cmocka_unit_test(params_are_decoded_per_route_names),
        cmocka_unit_test(literals_compare_decoded),
        cmocka_unit_test(bad_paths),
        cmocka_unit_test(not_found_vs_method_not_allowed),
        cmocka_unit_test(head_falls_back_to_get),
        cmocka_unit_test(strict_slashes_and_empty_segments),
        cmocka_unit_test(conflicts_are_refused),
        cmocka_unit_test(invalid_patterns_are_refused),
        cmocka_unit_test(foreach_and_removal),
        cmocka_unit_test(many_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
