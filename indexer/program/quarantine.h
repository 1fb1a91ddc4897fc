/* quarantine.h: `paywatch quarantine list|retry`: the outbox entries kept
 * aside in Postgres because they could not be written (see
 * pg_sink_write_payments), listed and written again. */
#ifndef PW_QUARANTINE_H
#define PW_QUARANTINE_H

/* quarantine_cli: argv after "quarantine". Exit code: 0, 1 (Postgres
 * unreachable, or an entry refused again on retry), 2 (usage, config). */
int quarantine_cli(int argc, char **argv);

#endif
