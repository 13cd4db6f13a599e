/* lg_args.c - command-line number parsing shared by the benchmark programs. */
#include "lg_args.h"

#include <errno.h>
#include <stdlib.h>

int lg_parse_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max) return -1;
    *out = (uint32_t)v;
    return 0;
}
