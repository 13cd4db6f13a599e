/* msgpackcat.c - JSON to MessagePack (as hex) and back, through core/base/msgpack; the Node
 * tests compare its bytes and values with notepack.io's.
 *
 *   msgpackcat [-l]       JSON[<TAB>HEX...]  ->  HEX      the HEX fields are attachments
 *   msgpackcat -d [-l]    HEX  ->  JSON[<TAB>HEX...]      binary values as attachments
 *
 * Standard input is one record, or with -l one record per line; each gives one output line.
 * JSON is read as JSON.parse reads it and printed as JSON.stringify prints it, with binary
 * values as Socket.IO placeholders ({"_placeholder":true,"num":N}) for the attachments that
 * follow. A record that fails prints "!" and the reason with -l (the others still run), else
 * the reason on stderr. Exit status: 0 all records done, 1 a record failed, 2 usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json_in.h"
#include "base/json_out.h"
#include "base/mem.h"
#include "base/msgpack.h"

static void usage(FILE *to)
{
    fputs("usage: msgpackcat [-d] [-l]\n"
          "Reads JSON (tab-separated hex attachments may follow) and prints MessagePack as hex;\n"
          "  -d  the other way: reads hex, prints JSON then each binary value as hex\n"
          "  -l  one record per line instead of the whole input\n",
          to);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int from_hex(const char *s, size_t len, buf_t *out)
{
    if (len % 2) return -1;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0) return -1;
        buf_append_byte(out, (uint8_t)(hi << 4 | lo));
    }
    return 0;
}

static void to_hex(buf_t *out, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf_printf(out, "%02x", p[i]);
}

/* JSON[\tHEX...] -> hex of the MessagePack bytes. */
static int encode_record(const char *rec, size_t len, buf_t *line, char *err, size_t errsz)
{
    const char *tab = memchr(rec, '\t', len);
    size_t json_len = tab ? (size_t)(tab - rec) : len;
    json_t *v = json_parse_js(rec, json_len);
    if (!v) {
        snprintf(err, errsz, "not a JSON text");
        return -1;
    }
    buf_t raw = BUF_INIT, packed = BUF_INIT;
    msgpack_bin_t *bins = NULL;
    size_t nbins = 0;
    int rc = 0;
    if (tab) {
        /* Decode every attachment into one buffer first: it may move while it grows. */
        size_t *ends = NULL;
        for (const char *p = tab + 1, *end = rec + len; rc == 0; p++) {
            const char *next = memchr(p, '\t', (size_t)(end - p));
            const char *stop = next ? next : end;
            if (from_hex(p, (size_t)(stop - p), &raw) < 0) {
                snprintf(err, errsz, "attachment %zu is not hex", nbins);
                rc = -1;
            }
            ends = xrealloc(ends, (nbins + 1) * sizeof *ends);
            ends[nbins++] = raw.len;
            if (!next) break;
            p = next;
        }
        bins = xcalloc(nbins, sizeof *bins);
        for (size_t i = 0; i < nbins && rc == 0; i++) {
            size_t from = i ? ends[i - 1] : 0;
            bins[i] = (msgpack_bin_t){(const uint8_t *)raw.data + from, ends[i] - from};
        }
        free(ends);
    }
    if (rc == 0) rc = msgpack_write_json(&packed, v, bins, nbins, err, errsz);
    if (rc == 0) to_hex(line, (const uint8_t *)packed.data, packed.len);
    free(bins);
    buf_free(&raw);
    buf_free(&packed);
    json_decref(v);
    return rc;
}

/* hex -> JSON[\tHEX...]. */
static int decode_record(const char *rec, size_t len, buf_t *line, char *err, size_t errsz)
{
    buf_t raw = BUF_INIT;
    if (from_hex(rec, len, &raw) < 0) {
        snprintf(err, errsz, "not hex");
        buf_free(&raw);
        return -1;
    }
    json_t *v;
    msgpack_bins_t bins = MSGPACK_BINS_INIT;
    int rc = msgpack_decode(raw.data, raw.len, &v, &bins, err, errsz);
    if (rc == 0) {
        json_out_append(line, v);
        for (size_t i = 0; i < bins.count; i++) {
            buf_append_byte(line, '\t');
            to_hex(line, bins.items[i].data, bins.items[i].len);
        }
        json_decref(v);
    }
    msgpack_bins_free(&bins);
    buf_free(&raw);
    return rc;
}

int main(int argc, char **argv)
{
    int decode = 0, lines = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-d") == 0) {
            decode = 1;
        } else if (strcmp(argv[i], "-l") == 0) {
            lines = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "msgpackcat: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    buf_t in = BUF_INIT, out = BUF_INIT;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        buf_append(&in, chunk, got);
    if (ferror(stdin)) {
        fprintf(stderr, "msgpackcat: cannot read standard input\n");
        return 1;
    }
    int status = 0;
    const char *p = in.data ? in.data : "", *end = p + in.len;
    while (p < end || (!lines && p == end)) {
        const char *nl = lines ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        const char *stop = nl ? nl : end;
        size_t len = (size_t)(stop - p);
        while (!lines && len && (p[len - 1] == '\n' || p[len - 1] == '\r'))
            len--;
        char err[256] = "";
        buf_t line = BUF_INIT;
        int rc = decode ? decode_record(p, len, &line, err, sizeof err)
                        : encode_record(p, len, &line, err, sizeof err);
        if (rc < 0) {
            status = 1;
            if (!lines) fprintf(stderr, "msgpackcat: %s\n", err);
            buf_reset(&line);
            buf_printf(&line, "!%s", err);
        }
        if (rc == 0 || lines) {
            buf_append(&out, line.data, line.len);
            buf_append_byte(&out, '\n');
        }
        buf_free(&line);
        if (!lines) break;
        p = stop + 1;
    }
    if (fwrite(out.data ? out.data : "", 1, out.len, stdout) != out.len || fflush(stdout) != 0)
        status = 1;
    buf_free(&in);
    buf_free(&out);
    return status;
}
