/* cli_internal.h - what the subcommands share, and the pieces the unit tests reach. */
#ifndef IOGATE_CLI_INTERNAL_H
#define IOGATE_CLI_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "cli/cli.h"

/* config/iogate.toml as shipped, compiled in at build time (cmake/embed-text.cmake). */
extern const unsigned char cli_default_config[];
extern const size_t cli_default_config_len;

/* Random bytes in a generated secret: 64, enough for HS512 (RFC 7518 section 3.2). */
#define CLI_SECRET_BYTES 64
/* Longest lifetime `iogate token --ttl` signs: a year. */
#define CLI_TOKEN_MAX_TTL_S (366LL * 86400)

/* The subcommands: prog is how the program was invoked (argv[0] of main), for the commands
 * they suggest; argv[0] is the subcommand's name. */
int cli_genconfig(const char *prog, int argc, char **argv);
int cli_token(const char *prog, int argc, char **argv);

/* Appends text[0..len) to out with its commented example line "# jwt_secret = ..." replaced
 * by `jwt_secret = "secret"` (secret is base64: nothing to escape). Returns 0, or -1 when the
 * text has no such line. */
int cli_config_with_secret(buf_t *out, const char *text, size_t len, const char *secret);

/* Writes data to path with mode 0600 so that path never holds a partial file: a temporary
 * file beside it is written and synced, then linked to path (refused when path exists, a
 * symlink included) or, with replace, renamed over it (a symlink is replaced, never
 * followed). Returns 0, or -1 with err naming path and the reason. */
int cli_write_private_file(const char *path, const void *data, size_t len, int replace, char *err,
                           size_t err_size);

/* "90" or "90s", "15m", "1h", "7d" to seconds: 0, or -1 when malformed or outside
 * 1 s .. CLI_TOKEN_MAX_TTL_S. */
int cli_parse_ttl(const char *text, int64_t *seconds);

/* Adds one --claim to claims: "k=v" sets the string v, "k:=json" the JSON value. Refuses an
 * empty name, JSON that does not parse, a claim given twice, and the claims the command sets
 * itself (sub, iat, exp). Returns 0, or -1 with err. */
int cli_add_claim(json_t *claims, const char *spec, char *err, size_t err_size);

#endif
