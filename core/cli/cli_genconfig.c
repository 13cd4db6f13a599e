/* cli_genconfig.c - `iogate genconfig [--force] [FILE]`: the shipped configuration with a
 * fresh HS256 secret from the kernel's CSPRNG, to FILE (mode 0600, never half-written, never
 * written through a symlink) or to standard output. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base64.h"
#include "base/errbuf.h"
#include "base/mem.h"
#include "base/random.h"
#include "cli/cli_internal.h"

/* The commented example in config/iogate.toml that the secret replaces. */
static const char secret_example[] = "# jwt_secret = ";

int cli_config_with_secret(buf_t *out, const char *text, size_t len, const char *secret)
{
    const char *p = text, *end = text + len;
    size_t n = sizeof(secret_example) - 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        if ((size_t)(next - p) >= n && memcmp(p, secret_example, n) == 0) {
            buf_append(out, text, (size_t)(p - text));
            buf_append_str(out,
                           "# Written by `iogate genconfig`: 64 random bytes, base64. Keep this "
                           "file private;\n# whatever issues your tokens signs them with the "
                           "same string.\n");
            buf_printf(out, "jwt_secret = \"%s\"\n", secret);
            buf_append(out, next, (size_t)(end - next));
            return 0;
        }
        p = next;
    }
    return -1;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Makes the new name durable too; a directory that cannot be synced is no error. */
static void sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int cli_write_private_file(const char *path, const void *data, size_t len, int replace, char *err,
                           size_t err_size)
{
    size_t n = strlen(path);
    char *tmp = xmalloc(n + sizeof(".XXXXXX"));
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".XXXXXX", sizeof(".XXXXXX"));
    /* mkstemp opens with O_EXCL: the temporary file is new, whatever was there. */
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        errbuf_set(err, err_size, "cannot create %s: %s", path, strerror(e));
        free(tmp);
        errno = e;
        return -1;
    }
    const char *step = "cannot write";
    if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) goto fail;
    int rc = close(fd);
    fd = -1;
    if (rc != 0) goto fail;
    step = "cannot create";
    if (replace) {
        if (rename(tmp, path) != 0) goto fail;
    } else {
        /* link() fails with EEXIST on any existing name, a dangling symlink included. */
        if (link(tmp, path) != 0) goto fail;
        unlink(tmp);
    }
    sync_parent(path);
    free(tmp);
    return 0;
fail:;
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(tmp);
    if (e == EEXIST)
        errbuf_set(err, err_size, "%s already exists", path);
    else
        errbuf_set(err, err_size, "%s %s: %s", step, path, strerror(e));
    errno = e;
    return -1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: iogate genconfig [--force] [FILE]\n"
                 "  Writes the default configuration, every key commented, with a fresh HS256\n"
                 "  secret ([auth] jwt_secret: 64 random bytes, base64) to FILE, created with\n"
                 "  mode 0600. An existing FILE is kept unless --force replaces it. Without FILE\n"
                 "  (or with -) the configuration goes to standard output.\n");
}

static int emit(const char *prog, const char *path, int force, const buf_t *text)
{
    if (!path) {
        if (fwrite(text->data, 1, text->len, stdout) != text->len || fflush(stdout) != 0) {
            fprintf(stderr, "iogate genconfig: cannot write to standard output: %s\n",
                    strerror(errno));
            return CLI_EXIT_FAIL;
        }
        return CLI_EXIT_OK;
    }
    char err[512];
    if (cli_write_private_file(path, text->data, text->len, force, err, sizeof(err)) != 0) {
        int exists = errno == EEXIST;
        fprintf(stderr, "iogate genconfig: %s%s\n", err,
                exists ? " (--force replaces it, and its secret with it)" : "");
        return CLI_EXIT_FAIL;
    }
    printf("iogate: wrote %s (mode 0600) with a new HS256 secret. Next:\n"
           "  validate it:   %s --check-config %s\n"
           "  run with it:   %s --config %s\n"
           "  a token:       %s token --config %s --sub alice\n",
           path, prog, path, prog, path, prog, path);
    return CLI_EXIT_OK;
}

int cli_genconfig(const char *prog, int argc, char **argv)
{
    const char *path = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--force") == 0 || strcmp(a, "-f") == 0) {
            force = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "iogate genconfig: unknown option '%s'\n", a);
            usage(stderr);
            return CLI_EXIT_USAGE;
        } else if (path) {
            fprintf(stderr, "iogate genconfig: one FILE at most ('%s' and '%s')\n", path, a);
            usage(stderr);
            return CLI_EXIT_USAGE;
        } else {
            path = a;
        }
    }
    if (path && strcmp(path, "-") == 0) path = NULL;

    unsigned char raw[CLI_SECRET_BYTES];
    char secret[2 * CLI_SECRET_BYTES]; /* base64: 4 characters per 3 bytes, and a NUL */
    random_bytes(raw, sizeof(raw));
    base64_encode(secret, raw, sizeof(raw));
    buf_t text = BUF_INIT;
    int code = CLI_EXIT_FAIL;
    if (cli_config_with_secret(&text, (const char *)cli_default_config, cli_default_config_len,
                               secret) != 0)
        fprintf(stderr,
                "iogate genconfig: the built-in configuration has no \"%s\" line to "
                "fill\n",
                secret_example);
    else
        code = emit(prog, path, force, &text);
    /* The secret leaves this process only in the output. */
    memset(raw, 0, sizeof(raw));
    memset(secret, 0, sizeof(secret));
    if (text.data) memset(text.data, 0, text.len);
    buf_free(&text);
    return code;
}
