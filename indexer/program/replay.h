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

#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* What a replay of one address found. */
typedef struct replay_result {
	uint64_t found;    /* payments to it on chain in the range (as clipped) */
	uint64_t inserted; /* of those, missing from Postgres and inserted (with events) */
	uint64_t present;
	uint64_t last_done; /* the last block reconciled */
	bool complete;
} replay_result;

/* replay_address: the history of one registry address (merchant_id's,
 * address as a config writes it, or its stored form) on chain, blocks
 * from..to (clipped to the confirmed height), reconciled as `paywatch
 * replay --address` does: payments missing from Postgres are inserted
 * with their webhook and feed events. In-process (an `run` thread): no
 * signal handlers, nothing printed; *stop ends it early. 0 when complete,
 * 1 otherwise (*ret says how far), 2 bad arguments. */
int replay_address(const pw_config *cfg, const char *chain, const char *merchant_id, const char *address, uint64_t from,
		   uint64_t to, atomic_bool *stop, replay_result *ret);

#endif
