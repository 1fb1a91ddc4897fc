/* cli.h: the command line. indexer/program/main.c only calls cli_main, so tests
 * can drive the same code. */
#ifndef PW_CLI_H
#define PW_CLI_H

/* cli_main: parse argv and run the command. Returns the process exit code:
 * 0 success, 1 runtime failure, 2 usage or configuration error. */
int cli_main(int argc, char **argv);

#endif
