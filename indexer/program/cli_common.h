/* cli_common.h: what the commands' own argument parsers share (cli.c,
 * registry_cli.c, invoice_cli.c): the usage error and opening the config
 * and its Postgres. */
#ifndef PW_CLI_COMMON_H
#define PW_CLI_COMMON_H

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
