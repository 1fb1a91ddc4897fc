/* report_cli.h: `paywatch report settlement|payments` (reports.h: the
 * same bytes the API's /v1/reports/... answer). */
#ifndef PW_REPORT_CLI_H
#define PW_REPORT_CLI_H

/* report_cli: argv after "report". Exit code: 0 (the report on stdout), 1
 * (Postgres failed, or too many payments), 2 (usage, config, a bad
 * value). */
int report_cli(int argc, char **argv);

#endif
