/* cli.c - the table of subcommands, and their dispatch from main(). */
#include <string.h>

#include "cli/cli_internal.h"

static const struct {
    const char *name;
    int (*run)(const char *prog, int argc, char **argv);
} commands[] = {
    {"genconfig", cli_genconfig},
    {"token", cli_token},
};

int cli_dispatch(int argc, char **argv)
{
    if (argc < 2) return -1;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argv[0], argc - 1, argv + 1);
    return -1;
}
