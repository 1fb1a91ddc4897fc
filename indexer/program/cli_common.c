/* cli_common.c: shared by the command-line parsers (cli_common.h). */
#include "cli_common.h"
#include "pg_conn.h"

#include <stdio.h>

int cli_usage(const char *fmt, const char *arg, const char *help)
{
	fprintf(stderr, "paywatch: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n\n%s", help);
	return 2;
}

int cli_open(const char *config_path, pw_config **ret_cfg, PGconn **ret_pg)
{
	char err[1024];
	if (config_load(config_path, ret_cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "paywatch: config %s: %s\n", config_path, err);
		return 2;
	}
	if (!(*ret_pg = pg_open((*ret_cfg)->pg_dsn, "paywatch cli", err, sizeof(err)))) {
		fprintf(stderr, "paywatch: postgres: %s\n", err);
		config_destroy(*ret_cfg);
		return 1;
	}
	return 0;
}
