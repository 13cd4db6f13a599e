/* fuzz_toml.c - libFuzzer target: any bytes as a TOML document. A document that
 * parses must also serialize to JSON; a refused one must carry a positioned message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    toml_value_t *doc = toml_parse((const char *)data, size, "fuzz", err, sizeof(err));
    if (doc) {
        buf_t out = BUF_INIT;
        toml_write_json(doc, TOML_JSON_TAGGED, &out);
        if (!out.len) abort();
        buf_free(&out);
        toml_free(doc);
    } else if (strncmp(err, "fuzz:", 5) != 0) {
        abort();
    }
    return 0;
}
