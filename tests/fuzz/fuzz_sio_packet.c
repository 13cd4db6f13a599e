/* fuzz_sio_packet.c - libFuzzer target for the Socket.IO packet decoder.
 *
 * Build (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_DEFAULT_SOURCE -Icore \
 *     tests/fuzz/fuzz_sio_packet.c core/sio/sio_packet.c core/base/json_out.c \
 *     core/base/buf.c core/base/mem.c -ljansson -lm -o fuzz_sio_packet
 *
 * Input: byte 0 sets the attachment limit (0-15); the rest is a sequence of Engine.IO
 * messages separated by 0xff, each starting with a byte whose low bit says binary. Every
 * decoded packet is re-encoded and decoded again: the second encoding must equal the first. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json_out.h"
#include "sio/sio_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes p as the server would re-emit it: placeholders renumbered, count = references. */
static void encode(const sio_packet_t *p, buf_t *out)
{
    buf_t json = BUF_INIT;
    size_t *order = NULL, n = 0;
    if (p->data && sio_binary_serialize(&json, p->data, p->bin_len, &order, &n) != 0) abort();
    free(order);
    sio_encode(out, p->type, p->nsp, p->id, n, json.data, json.len);
    buf_free(&json);
}

static void check_packet(const sio_packet_t *p)
{
    if (p->bin_len != p->attachments) abort();
    buf_t first = BUF_INIT, second = BUF_INIT;
    encode(p, &first);
    sio_packet_t q;
    if (sio_packet_decode_text(first.data, first.len, SIZE_MAX, &q) != 0) abort();
    q.bin_len = q.attachments; /* stands for the attachments sent after the packet */
    encode(&q, &second);
    q.bin_len = 0;
    if (first.len != second.len || memcmp(first.data, second.data, first.len) != 0) abort();
    sio_packet_free(&q);
    buf_free(&first);
    buf_free(&second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    /* The first byte picks the limits: up to 15 attachments, binary packets bounded (to
     * 64 bytes times the top bits) or not. */
    sio_decoder_limits_t limits = {data[0] & 15, (size_t)(data[0] >> 4) * 64};
    sio_decoder_t d;
    sio_decoder_init(&d, &limits);
    size_t i = 1;
    while (i < size) {
        const uint8_t *end = memchr(data + i, 0xff, size - i);
        size_t n = (size_t)((end ? end : data + size) - (data + i));
        if (n > 0) {
            int is_binary = data[i] & 1;
            sio_packet_t p;
            int rc = sio_decoder_feed(&d, is_binary, (const char *)data + i + 1, n - 1, &p);
            if (rc == SIO_DECODE_PACKET) {
                check_packet(&p);
                sio_packet_free(&p);
            } else if (rc != SIO_DECODE_MORE && rc >= 0) {
                abort();
            }
        }
        i += n + 1;
    }
    sio_decoder_free(&d);
    return 0;
}
