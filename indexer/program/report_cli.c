/* report_cli.c: `paywatch report ...` (report_cli.h). */
#include "report_cli.h"
#include "cli_common.h"
#include "pw_error.h"
#include "reports.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char report_help[] =
	"usage: paywatch report settlement|payments -c FILE --merchant M --from YYYY-MM-DD --to YYYY-MM-DD\n"
	"                       [--format json|csv]\n"
	"\n"
	"A merchant's report over UTC days from..to (inclusive, at most 366), by the\n"
	"payments' block time, on stdout; the API's GET /v1/reports/... answer the same.\n"
	"  settlement  per day, chain and token: payments, gross (every payment recorded),\n"
	"              reverted (taken back by a reorg), net = gross - reverted, exact\n"
	"              decimals; totals per chain and token; per chain the height up to\n"
	"              which payments were confirmed when it was made (final_height), and\n"
	"              per row whether all its payments are at or below it (final).\n"
	"  payments    every payment: invoice reference, tx hash, block, addresses,\n"
	"              amount, status, times: any number of them, read in one snapshot\n"
	"              and written as they come (the API's answer stops at 100000).\n"
	"--format csv: RFC 4180, CRLF; amounts, hashes and addresses as =\"...\" so a\n"
	"spreadsheet keeps them exact; settlement totals are rows whose day is \"total\".\n"
	"Exit: 0; 1 Postgres failed or stdout refused a write; 2 usage or a bad value.\n";

int report_cli(int argc, char **argv)
{
	report_query q = { 0 };
	const char *config = NULL;
	bool help = false;
	const cli_option opts[] = {
		{ "-c", &config, NULL },     { "--config", &config, NULL }, { "--merchant", &q.merchant_id, NULL },
		{ "--from", &q.from, NULL }, { "--to", &q.to, NULL },       { "--format", &q.format, NULL },
		{ NULL, NULL, NULL }
	};
	size_t n = 0;
	int rc = cli_parse(argc, argv, opts, &q.kind, 1, &n, &help, report_help);
	if (rc || help)
		return rc;
	if (!q.kind)
		return cli_usage("%s", "missing settlement or payments", report_help);
	if (!config)
		return cli_usage("%s", "missing -c FILE", report_help);
	char err[512] = "";
	if (report_check(&q, err, sizeof(err)) < 0) {
		char arg[600];
		snprintf(arg, sizeof(arg), "%s", err);
		/* the API's field names are the options here */
		if (strncmp(arg, "merchant_id:", 12) == 0)
			snprintf(arg, sizeof(arg), "--merchant:%s", err + 12);
		return cli_usage("%s", arg, report_help);
	}
	pw_config *cfg;
	PGconn *c;
	rc = cli_open(config, &cfg, &c);
	if (rc != 0)
		return rc;
	size_t rows = 0;
	int r = report_stream(c, &q, stdout, &rows, err, sizeof(err));
	PQfinish(c);
	config_destroy(cfg);
	if (r < 0) {
		fprintf(stderr, "paywatch: report %s: %s\n", q.kind, *err ? err : pw_strerror(r));
		return 1;
	}
	if (!(q.format && strcmp(q.format, "csv") == 0))
		fputc('\n', stdout);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "paywatch: report %s: cannot write the report: %s\n", q.kind, strerror(errno));
		return 1;
	}
	return 0;
}
