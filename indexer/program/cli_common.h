/* cli_common.h: what the commands share: the check of every argument, one
 * argument parser (cli_parse), the usage error and opening the config and
 * its Postgres. */
#ifndef PW_CLI_COMMON_H
#define PW_CLI_COMMON_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/* cli_usage: print "paywatch: " + fmt (with arg), then help, to stderr.
 * Returns 2 (the usage exit code). */
int cli_usage(const char *fmt, const char *arg, const char *help);

/* cli_check_args: argv[1..argc-1], each an argument from outside the
 * program, must be well-formed UTF-8 (RFC 3629) without control
 * characters (U+0000..U+001F, U+007F..U+009F) other than tab and newline
 * (a JSON --metadata written over lines): no value the commands show,
 * match or send to Postgres can then hold bytes Postgres refuses or a
 * terminal obeys. 0, or 2 with the first bad argument named (its position
 * and its text escaped, text_escape) on stderr. */
int cli_check_args(int argc, char **argv);

/* An option of a command: "--name" (or "-c"), and where it goes: value
 * (the next argument) or flag (set true). */
typedef struct cli_option {
	const char *name;
	const char **value;
	bool *flag;
} cli_option;

/* cli_parse: argv (argc strings) against opts (ending with a NULL name),
 * the one grammar of every command: -h/--help prints help to stdout,
 * sets *ret_help and stops (the command then returns 0);
 * a value option takes the next argument, or for a "--name" its
 * "--name=value" form; a flag takes no value; the other arguments are
 * positional, at most n_pos of them into pos (*ret_n_pos counts them; pos
 * points into argv). 0, or 2 with the usage error printed before help:
 * an unknown option, an option without its value, a flag given one, one
 * positional argument too many. */
int cli_parse(int argc, char **argv, const cli_option *opts, const char **pos, size_t n_pos, size_t *ret_n_pos,
	      bool *ret_help, const char *help);

/* cli_load_config: load config_path (config_load). 0 with *ret_cfg
 * (config_destroy), or 2 with the reason printed ("paywatch: config
 * PATH: ..."). */
int cli_load_config(const char *config_path, pw_config **ret_cfg);

/* cli_open: load config_path and connect to its Postgres (a command that
 * works on the database). 0 with *ret_cfg (config_destroy) and *ret_pg
 * (PQfinish); otherwise the exit code, the reason printed: 2 for the
 * config, 1 for Postgres (no connection, or a database that lacks some of
 * this build's migrations: pg_open_migrated). */
int cli_open(const char *config_path, pw_config **ret_cfg, PGconn **ret_pg);

#endif
