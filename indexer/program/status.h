/* status.h: `paywatch status`: where each chain and each merchant webhook
 * endpoint stands. It opens RocksDB read-only, so it works while
 * `paywatch run` is running. */
#ifndef PW_STATUS_H
#define PW_STATUS_H

/* status_cli: `paywatch status -c FILE [--json]`. Returns 0, 1 when the
 * RocksDB state or Postgres cannot be read (what could be read is still
 * printed), 2 on bad arguments or config. */
int status_cli(int argc, char **argv);

#endif
