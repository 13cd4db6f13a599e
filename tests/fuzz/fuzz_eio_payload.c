/* fuzz_eio_payload.c - libFuzzer target for Engine.IO frames and polling payloads.
 *
 * Build (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_DEFAULT_SOURCE -Icore \
 *     tests/fuzz/fuzz_eio_payload.c core/eio/eio_packet.c core/base/base64.c \
 *     core/base/buf.c core/base/mem.c -o fuzz_eio_payload
 *
 * Besides crashes it checks that decoding is exact: a payload that decodes re-encodes to the
 * very same bytes (base64 decoding accepts only the canonical form). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "eio/eio_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int reencode(void *user, const eio_packet_t *p)
{
    eio_payload_append(user, p->type, p->binary, p->data, p->len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    buf_t out = BUF_INIT;
    int rc = eio_payload_decode(body, size, reencode, &out);
    if (rc == 0 && (out.len != size || memcmp(out.data, body, size) != 0)) abort();
    if (rc != 0 && out.len != 0) abort(); /* a bad payload delivers nothing */
    buf_free(&out);

    eio_packet_t p;
    buf_t scratch = BUF_INIT;
    if (eio_packet_decode_ws_text(body, size, &scratch, &p) == 0) {
        buf_t frame = BUF_INIT;
        if (p.binary)
            eio_payload_append(&frame, p.type, 1, p.data, p.len);
        else
            eio_packet_encode_text(&frame, p.type, p.data, p.len);
        if (frame.len != size || memcmp(frame.data, body, size) != 0) abort();
        buf_free(&frame);
    }
    buf_free(&scratch);
    return 0;
}
