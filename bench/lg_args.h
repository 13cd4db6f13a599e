/* lg_args.h - command-line number parsing shared by the benchmark programs (libc only). */
#ifndef IOGATE_LG_ARGS_H
#define IOGATE_LG_ARGS_H

#include <stdint.h>

/* Parses s as a decimal integer in [min, max] into *out; 0, or -1 (nothing stored) when s
 * is not such a number. */
int lg_parse_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max);
/* Parses s as a comma-separated list of such integers ("1000,5000") into out[0..cap);
 * returns how many, or -1 (what was stored is meaningless) when an item is not such a
 * number or there are more than cap. */
int lg_parse_u32_list(const char *s, uint32_t *out, int cap, uint32_t min, uint32_t max);

#endif
