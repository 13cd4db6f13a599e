/* lg_args.c - command-line number parsing shared by the benchmark programs. */
#include "lg_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int lg_parse_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max) return -1;
    *out = (uint32_t)v;
    return 0;
}

int lg_parse_u32_list(const char *s, uint32_t *out, int cap, uint32_t min, uint32_t max)
{
    int n = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char item[24];
        if (n == cap || len == 0 || len >= sizeof item) return -1;
        memcpy(item, s, len);
        item[len] = '\0';
        if (lg_parse_u32(item, &out[n++], min, max) != 0) return -1;
        if (!comma) return n;
        s = comma + 1;
    }
}
