/* cli.h: the command line. indexer/program/main.c only calls cli_main, so tests
 * can drive the same code. */
#ifndef PW_CLI_H
#define PW_CLI_H

/* cli_main: parse argv and run the command. Returns the process exit code:
 * 0 success, 1 runtime failure, 2 usage or configuration error. */
int cli_main(int argc, char **argv);

#include "config.h"

#include <libpq-fe.h>

/* cli_usage: print "paywatch: " + fmt (with arg), then help, to stderr.
 * Returns 2 (the usage exit code). */
int cli_usage(const char *fmt, const char *arg, const char *help);

/* cli_open: load config_path and connect to its Postgres (a command that
 * works on the database). 0 with *ret_cfg (config_destroy) and *ret_pg
 * (PQfinish); otherwise the exit code, the reason printed: 2 for the
 * config, 1 for Postgres. */
int cli_open(const char *config_path, pw_config **ret_cfg, PGconn **ret_pg);

#endif
