/* fuzz_msgpack.c - libFuzzer target: any bytes as a MessagePack message from a Redis peer.
 * A refusal must carry a message. A decoded value must encode again; without binary values it
 * must decode back to the same JSON text (with them, a literal placeholder object in the input
 * may legitimately name an attachment that does not exist, so only success is checked). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json_out.h"
#include "base/msgpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    json_t *v;
    msgpack_bins_t bins = MSGPACK_BINS_INIT;
    if (msgpack_decode(data, size, &v, &bins, err, sizeof err) != 0) {
        if (!err[0] || v || bins.count) abort();
        msgpack_bins_free(&bins);
        return 0;
    }
    buf_t packed = BUF_INIT, text = BUF_INIT, again = BUF_INIT;
    json_out_append(&text, v);
    const msgpack_bin_t *items = bins.count ? bins.items : NULL;
    int rc = msgpack_write_json(&packed, v, items, bins.count, err, sizeof err);
    if (rc != 0 && (!bins.count || !strstr(err, "placeholder"))) abort();
    if (rc == 0) {
        json_t *back;
        msgpack_bins_t bins2 = MSGPACK_BINS_INIT;
        if (msgpack_decode(packed.data, packed.len, &back, &bins2, err, sizeof err) != 0) abort();
        json_out_append(&again, back);
        if (!bins.count && (again.len != text.len || memcmp(again.data, text.data, text.len)))
            abort();
        json_decref(back);
        msgpack_bins_free(&bins2);
    }
    buf_free(&packed);
    buf_free(&text);
    buf_free(&again);
    json_decref(v);
    msgpack_bins_free(&bins);
    return 0;
}
