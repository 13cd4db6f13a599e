/* fuzz_sio_recovery.c - libFuzzer target for what a reconnecting client sends for connection
 * state recovery: the pid and offset of its CONNECT payload (core/sio/sio_recovery.c).
 *
 * Input: a pid, a 0xff byte, an offset (no 0xff: the offset is absent), both of any bytes.
 * Each is parsed; a parsed position's cursors must be valid names. Then both go to
 * sio_recovery_restore() on books holding a session and packets, for its user and for none,
 * and to sio_recovery_store_hints(): a restore may never succeed (a guessed pid cannot carry
 * this node's mac for the kept session's id), and nothing may leak or crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sio/sio_recovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int nsp; /* namespaces are compared by address */

static void check_position(const sio_position_t *at)
{
    if (at->ncursors > SIO_RECOVERY_MAX_SOURCES) abort();
    for (size_t i = 0; i < at->ncursors; i++)
        if (!sio_recovery_name_valid(at->cursors[i].name, strlen(at->cursors[i].name)) ||
            !sio_recovery_name_valid(at->cursors[i].value, strlen(at->cursors[i].value)))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *pid = (const char *)data;
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t pid_len = sep ? (size_t)(sep - data) : size;
    const char *offset = sep ? (const char *)sep + 1 : NULL;
    size_t offset_len = sep ? size - pid_len - 1 : 0;

    sio_pid_t p;
    if (sio_pid_parse(pid, pid_len, &p) == 0) check_position(&p.at);
    sio_position_t at;
    if (offset && sio_position_parse(offset, offset_len, &at) == 0) check_position(&at);

    sio_recovery_options_t o = {120000, 1 << 20, 1 << 16};
    sio_recovery_t *r = sio_recovery_new(&o);
    sio_recovery_add_source(r, "notification", "id");
    uint64_t now = 1700000000000ULL;
    const char *sid = "AAAAAAAAAAAAAAAAAAAA";
    sio_room_name_t rooms[2] = {{sid, 20}, {"user:u1", 7}};
    sio_session_in_t in = {&nsp, sid, "u1", sio_recovery_now_seq(r, now), 0, rooms, 2};
    sio_recovery_persist(r, &in, now);
    const char *names[1] = {"user:u1"};
    size_t lens[1] = {7};
    sio_keep_target_t t = {&nsp, SIO_KEEP_ROOMS, names, lens, 1, NULL, NULL, 0};
    rbuf_t *packet = rbuf_new("42[\"ev\"]", 8);
    sio_recovery_keep(r, sio_recovery_next_seq(r, now + 1), now + 1, &t, packet, NULL, 0);
    rbuf_unref(packet);

    const char *users[2] = {"u1", NULL};
    for (int i = 0; i < 2; i++) {
        sio_restored_t out;
        if (sio_recovery_restore(r, &nsp, pid, pid_len, offset, offset_len, users[i], now + 2,
                                 &out) == SIO_RESTORE_OK)
            abort();
        sio_store_hint_t hints[SIO_RECOVERY_MAX_SOURCES];
        sio_recovery_store_hints(r, pid, pid_len, offset, offset_len, users[i], hints);
    }
    sio_recovery_free(r);
    return 0;
}
