/* random.c - CSPRNG bytes and URL-safe identifiers. */
#include "base/random.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

void random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            perror("iogate: getrandom");
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

void random_id(char *out, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char bytes[64];
    size_t done = 0;
    while (done < len) {
        size_t chunk = len - done < sizeof(bytes) ? len - done : sizeof(bytes);
        random_bytes(bytes, chunk);
        for (size_t i = 0; i < chunk; i++)
            out[done + i] = alphabet[bytes[i] & 63];
        done += chunk;
    }
    out[len] = '\0';
}
