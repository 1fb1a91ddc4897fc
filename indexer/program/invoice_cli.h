/* invoice_cli.h: `paywatch invoices list|show|create|cancel` (the API's
 * invoices from the command line; invoices.h, sinks/invoice_pg.h). */
#ifndef PW_INVOICE_CLI_H
#define PW_INVOICE_CLI_H

/* invoice_cli: argv after "invoices". Exit code: 0, 1 (Postgres failed,
 * refused), 2 (usage, config, a bad value). */
int invoice_cli(int argc, char **argv);

#endif
