/* test_eio_server.c - which worker a request target's session belongs to
 * (eio_server_owner): the worker index a session id carries with several workers, and
 * nothing for targets that are not this server's, carry no session, or are malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "eio/eio_server.h"

static const eio_callbacks_t no_callbacks = {NULL, NULL, NULL, NULL, NULL};

static eio_server_t *server(uv_loop_t *loop, const char *path, unsigned count)
{
    eio_options_t o;
    memset(&o, 0, sizeof(o));
    o.path = path;
    o.allow_polling = o.allow_websocket = 1;
    o.worker_count = count;
    o.worker_index = 1;
    return eio_server_new(loop, &o, &no_callbacks, NULL);
}

static void done(uv_loop_t *loop, eio_server_t *srv)
{
    eio_server_release(srv);
    uv_run(loop, UV_RUN_DEFAULT);
    eio_server_free(srv);
    assert_int_equal(uv_loop_close(loop), 0);
}

static int owner(eio_server_t *srv, const char *target)
{
    return eio_server_owner(srv, target, strlen(target));
}

static void the_worker_index_is_read_from_the_session_id(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    eio_server_t *srv = server(&loop, "/socket.io/", 70);
    /* "AD": 0 * 64 + 3; "BA": 64; the other 18 characters are the random part. */
    assert_int_equal(owner(srv, "/socket.io/?EIO=4&transport=polling&sid=ADxxxxxxxxxxxxxxxxxx"), 3);
    assert_int_equal(owner(srv, "/socket.io/?sid=BAxxxxxxxxxxxxxxxxxx&EIO=4"), 64);
    assert_int_equal(owner(srv, "/socket.io?EIO=4&sid=AAxxxxxxxxxxxxxxxxxx"), 0);
    assert_int_equal(owner(srv, "/socket.io/x?sid=AFxxxxxxxxxxxxxxxxxx"), 5); /* a prefix match */
    done(&loop, srv);
}

static void targets_without_a_valid_session_have_no_owner(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    eio_server_t *srv = server(&loop, "/socket.io/", 4);
    assert_int_equal(owner(srv, "/socket.io/?EIO=4&transport=polling"), -1); /* a handshake */
    assert_int_equal(owner(srv, "/socket.io/"), -1);
    assert_int_equal(owner(srv, "/api/x?sid=ADxxxxxxxxxxxxxxxxxx"), -1); /* not this path */
    assert_int_equal(owner(srv, "/socket.iox?sid=ADxxxxxxxxxxxxxxxxxx"), -1);
    assert_int_equal(owner(srv, "/socket.io/?sid=ADxxxxxxxxxxxxxxxxx"), -1);   /* too short */
    assert_int_equal(owner(srv, "/socket.io/?sid=ADxxxxxxxxxxxxxxxxxxx"), -1); /* too long */
    assert_int_equal(owner(srv, "/socket.io/?sid=A%xxxxxxxxxxxxxxxxxxx"),
                     -1);                                                     /* not the alphabet */
    assert_int_equal(owner(srv, "/socket.io/?sid=AExxxxxxxxxxxxxxxxxx"), -1); /* index 4 of 4 */
    assert_int_equal(owner(srv, "/socket.io/?xsid=ADxxxxxxxxxxxxxxxxxx"), -1);
    assert_int_equal(owner(srv, "/socket.io/?sid="), -1);
    assert_int_equal(owner(srv, "/"), -1);
    assert_int_equal(owner(srv, ""), -1);
    done(&loop, srv);
}

static void one_worker_steers_nothing(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    eio_server_t *srv = server(&loop, "/socket.io/", 1);
    assert_int_equal(owner(srv, "/socket.io/?sid=AAxxxxxxxxxxxxxxxxxx"), -1);
    done(&loop, srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_worker_index_is_read_from_the_session_id),
        cmocka_unit_test(targets_without_a_valid_session_have_no_owner),
        cmocka_unit_test(one_worker_steers_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
