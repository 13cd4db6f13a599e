/* cli.h - the subcommands of the iogate program besides running the server: `genconfig` (a
 * new configuration with a fresh secret) and `token` (a JWT signed with a configuration's
 * secret). main() hands them its arguments; they print, write a file and return an exit code,
 * and never start an event loop. */
#ifndef IOGATE_CLI_H
#define IOGATE_CLI_H

/* Exit codes, as the server's: 0 done, 1 failed (a file, a configuration, a key), 2 usage. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* Runs the subcommand argv[1] names and returns its exit code; -1 when argv[1] names none
 * (then main() parses the options itself). */
int cli_dispatch(int argc, char **argv);

#endif
