/* utf8.c - strict UTF-8 validation; see utf8.h. Owns no memory. */
#include "base/utf8.h"

#include <string.h>

void utf8_stream_init(utf8_stream_t *st)
{
    st->need = 0;
    st->lo = 0x80;
    st->hi = 0xbf;
}

/* The first continuation byte's range depends on the lead byte: that single check refuses
   overlong encodings (E0, F0), surrogates (ED) and code points above U+10FFFF (F4). */
static int start_sequence(utf8_stream_t *st, uint8_t c)
{
    st->lo = 0x80;
    st->hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        st->need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        st->need = 2;
        if (c == 0xe0) st->lo = 0xa0;
        if (c == 0xed) st->hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        st->need = 3;
        if (c == 0xf0) st->lo = 0x90;
        if (c == 0xf4) st->hi = 0x8f;
    } else {
        return -1; /* stray continuation byte, C0/C1 (always overlong) or F5..FF */
    }
    return 0;
}

int utf8_stream_feed(utf8_stream_t *st, const char *data, size_t len)
{
    if (st->need == UTF8_STREAM_BAD) return -1;
    if (len == 0) return 0; /* data may be NULL then */

    const uint8_t *p = (const uint8_t *)data;
    const uint8_t *end = p + len;
    while (p < end) {
        if (st->need == 0) {
            /* Text is mostly ASCII: skip it eight bytes at a time. */
            while (end - p >= 8) {
                uint64_t w;
                memcpy(&w, p, sizeof(w));
                if (w & UINT64_C(0x8080808080808080)) break;
                p += 8;
            }
            if (p == end) break;
            uint8_t c = *p++;
            if (c < 0x80) continue;
            if (start_sequence(st, c) != 0) goto bad;
        } else {
            uint8_t c = *p++;
            if (c < st->lo || c > st->hi) goto bad;
            st->lo = 0x80;
            st->hi = 0xbf;
            st->need--;
        }
    }
    return 0;
bad:
    st->need = UTF8_STREAM_BAD;
    return -1;
}

int utf8_stream_finish(const utf8_stream_t *st)
{
    return st->need == 0 ? 0 : -1;
}

int utf8_valid(const char *s, size_t len)
{
    utf8_stream_t st;
    utf8_stream_init(&st);
    return utf8_stream_feed(&st, s, len) == 0 && utf8_stream_finish(&st) == 0;
}
