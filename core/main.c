/* main.c - the command line: run the server, check a configuration, print
 * the version. The other subcommands live in core/cli, the server in the gateway. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "cli/cli.h"
#include "config/config.h"
#include "gateway/gateway.h"
#include "gateway/supervisor.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: iogate [--config FILE]      run the server (embedded defaults without FILE)\n"
            "       iogate --check-config FILE  validate FILE and exit (0 valid, 1 invalid)\n"
            "       iogate --print-config [--config FILE]\n"
            "                                   print the effective configuration as TOML\n"
            "       iogate genconfig [--force] [FILE]\n"
            "                                   write a configuration with a fresh JWT secret\n"
            "                                   (mode 0600; to standard output without FILE)\n"
            "       iogate token --config FILE --sub ID [--claim k=v]... [--ttl 1h]\n"
            "                                   print a token signed with FILE's HS* secret\n"
            "       iogate new-plugin NAME DIR  create a plugin project from the SDK template\n"
            "       iogate --version            print the version\n"
            "       iogate --help               this text\n");
}

/* `iogate new-plugin NAME DIR` runs the SDK's scaffolding script: the installed one
 * (PREFIX/share/iogate, next to PREFIX/bin/iogate) or the source tree's. */
static int new_plugin(int argc, char **argv)
{
    char exe[PATH_MAX];
    size_t len = sizeof(exe);
    char script[PATH_MAX + 64];
    const char *candidates[3] = {NULL, NULL, IOGATE_SOURCE_DIR "/sdk/new-plugin.sh"};
    const char *env = getenv("IOGATE_DATADIR");
    char from_env[PATH_MAX + 32];
    if (env) {
        snprintf(from_env, sizeof(from_env), "%s/new-plugin.sh", env);
        candidates[0] = from_env;
    }
    if (uv_exepath(exe, &len) == 0) {
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(script, sizeof(script), "%s/../share/iogate/new-plugin.sh", exe);
        candidates[1] = script;
    }
    for (int i = 0; i < 3; i++) {
        if (!candidates[i] || access(candidates[i], X_OK) != 0) continue;
        char *args[5] = {(char *)"/bin/sh", (char *)candidates[i], argc > 2 ? argv[2] : NULL,
                         argc > 3 ? argv[3] : NULL, NULL};
        if (argc != 4) {
            fprintf(stderr, "usage: iogate new-plugin NAME DIR\n");
            return 2;
        }
        execv("/bin/sh", args);
        perror("iogate: cannot run new-plugin.sh");
        return 1;
    }
    fprintf(stderr, "iogate: the SDK scaffolding (share/iogate/new-plugin.sh) was not found; "
                    "set IOGATE_DATADIR\n");
    return 1;
}

static void print_line(void *user, const char *line)
{
    fprintf(user, "%s\n", line);
}

static int load_config(config_t *cfg, const char *path)
{
    char err[512];
    if (!path) {
        config_defaults(cfg);
        return 0;
    }
    if (config_load_file(cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "iogate: %s\n", err);
        return -1;
    }
    return 0;
}

/* One server on this process's loop: the whole of it, or one of [server] workers. */
static int run_server(const config_t *cfg, const worker_slot_t *worker)
{
    char err[512] = "";
    uv_loop_t loop;
    uv_loop_init(&loop);
    gateway_t gw;
    int code = 1;
    if (gateway_init(&gw, &loop, cfg, worker, err, sizeof(err)) != 0) {
        log_error("gateway", "%s", err);
    } else {
        code = gateway_run(&gw, err, sizeof(err));
        if (code != 0 && err[0]) log_error("gateway", "%s", err);
    }
    gateway_free(&gw);
    if (uv_loop_close(&loop) != 0) log_warn("gateway", "event loop closed with handles open");
    return code;
}

static void log_note(void *user, const char *line)
{
    (void)user;
    log_debug("supervisor", "%s", line);
}

/* Several workers run under a supervisor, which first checks what each would refuse at its
 * start (keys, plugins), so that a wrong configuration stops at once instead of looping. */
static int start(const config_t *cfg)
{
    if (supervisor_worker_count(cfg) < 2) return run_server(cfg, NULL);
    char err[512];
    if (gateway_check_config(cfg, log_note, NULL, err, sizeof(err)) != 0) {
        log_error("gateway", "%s", err);
        return 1;
    }
    return supervisor_run(cfg, run_server);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *check_path = NULL;
    int print = 0;
    int sub = cli_dispatch(argc, argv);
    if (sub >= 0) return sub;
    if (argc >= 2 && strcmp(argv[1], "new-plugin") == 0) return new_plugin(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
            printf("iogate %s\n", IOGATE_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(a, "--check-config") == 0 && i + 1 < argc) {
            check_path = argv[++i];
        } else if (strcmp(a, "--print-config") == 0) {
            print = 1;
        } else {
            fprintf(stderr, "iogate: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    config_t cfg;
    if (check_path) {
        int bad = load_config(&cfg, check_path);
        if (!bad) {
            /* Key files are read and the keys checked as the server would at start. */
            char err[512];
            bad = gateway_check_config(&cfg, print_line, stdout, err, sizeof(err));
            if (bad) fprintf(stderr, "iogate: %s\n", err);
        }
        if (!bad) printf("%s: configuration is valid\n", check_path);
        config_free(&cfg);
        return bad ? 1 : 0;
    }
    if (load_config(&cfg, config_path) != 0) {
        config_free(&cfg);
        return 1;
    }
    int code = 0;
    if (print) {
        config_print(&cfg, print_line, stdout);
    } else {
        log_setup(cfg.log.level, cfg.log.format);
        code = start(&cfg);
    }
    config_free(&cfg);
    return code;
}
