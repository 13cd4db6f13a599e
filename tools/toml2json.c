/* toml2json.c - prints a TOML document as JSON; --tagged gives the toml-test
 * decoder form so the official test corpus can check the parser.
 *
 *   toml2json [--tagged] [FILE]     FILE "-" or absent: standard input
 *
 * Exit status: 0 printed, 1 the document was refused (message on stderr),
 * 2 usage error. */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "config/toml.h"

static void usage(FILE *to)
{
    fputs("usage: toml2json [--tagged] [FILE]\n"
          "Prints the TOML document FILE (or standard input) as JSON.\n"
          "  --tagged  every value as {\"type\": ..., \"value\": ...} (toml-test decoder form)\n",
          to);
}

static int read_stdin(buf_t *b)
{
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        buf_append(b, chunk, got);
    return ferror(stdin) ? -1 : 0;
}

int main(int argc, char **argv)
{
    unsigned flags = TOML_JSON_PRETTY;
    const char *path = NULL;
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_files && strcmp(a, "--tagged") == 0) {
            flags |= TOML_JSON_TAGGED;
        } else if (!only_files && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            usage(stdout);
            return 0;
        } else if (!only_files && strcmp(a, "--") == 0) {
            only_files = 1;
        } else if (!only_files && a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "toml2json: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "toml2json: only one file may be given\n");
            usage(stderr);
            return 2;
        } else {
            path = a;
        }
    }

    char err[512];
    toml_value_t *root;
    if (!path || strcmp(path, "-") == 0) {
        buf_t in = BUF_INIT;
        if (read_stdin(&in) < 0) {
            fprintf(stderr, "toml2json: cannot read standard input\n");
            buf_free(&in);
            return 1;
        }
        root = toml_parse(in.data, in.len, "<stdin>", err, sizeof(err));
        buf_free(&in);
    } else {
        root = toml_parse_file(path, err, sizeof(err));
    }
    if (!root) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    buf_t out = BUF_INIT;
    toml_write_json(root, flags, &out);
    buf_append_byte(&out, '\n');
    toml_free(root);
    int rc = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0 ? 0 : 1;
    buf_free(&out);
    return rc;
}
