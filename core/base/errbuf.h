/* errbuf.h - writing an error message into a caller's buffer, the core's one way of
 * handing back "why" next to an error code. */
#ifndef IOGATE_ERRBUF_H
#define IOGATE_ERRBUF_H

#include <stddef.h>

/* Formats into err (truncating); does nothing when err is NULL or err_size is 0. */
void errbuf_set(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
