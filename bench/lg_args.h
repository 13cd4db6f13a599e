/* lg_args.h - command-line number parsing shared by the benchmark programs (libc only). */
#ifndef IOGATE_LG_ARGS_H
#define IOGATE_LG_ARGS_H

#include <stdint.h>

/* Parses s as a decimal integer in [min, max] into *out; 0, or -1 (nothing stored) when s
 * is not such a number. */
int lg_parse_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max);

#endif
