/* replay.h: `paywatch replay`: fetch a block range of one chain again and
 * reconcile Postgres with it. It runs beside `paywatch run` on the same
 * config: it touches no RocksDB, and every write is idempotent. */
#ifndef PW_REPLAY_H
#define PW_REPLAY_H

/* replay_cli: `paywatch replay` with argv after the command name
 * (-c FILE --chain NAME --from N --to M [options]; see replay_help).
 * Returns the exit code: 0 the range (as clipped to the confirmed height)
 * was fully reconciled, 1 a failure or an interruption (the summary names
 * the last block completed), 2 bad arguments or config. */
int replay_cli(int argc, char **argv);

#endif
