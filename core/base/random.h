/* random.h - bytes and identifiers from the kernel's CSPRNG (getrandom). */
#ifndef IOGATE_RANDOM_H
#define IOGATE_RANDOM_H

#include <stddef.h>

/* Fills buf with n cryptographically secure random bytes (aborts if the kernel cannot). */
void random_bytes(void *buf, size_t n);
/* Writes a URL-safe identifier of len characters (A-Z a-z 0-9 - _) and a NUL into out,
 * which must hold len + 1 bytes. Each character carries 6 random bits. */
void random_id(char *out, size_t len);

#endif
