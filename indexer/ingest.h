/* ingest.h: one chain's ingest loop (run on its own thread). It always asks
 * the same question: what is the next range between the checkpoint and the
 * target head? Backfill and live are the same code; newHeads only moves the
 * target. Ranges are fetched with several eth_getLogs in flight, applied in
 * order, the range size adapted to the node's answers. */
#ifndef PW_INGEST_H
#define PW_INGEST_H

#include "chain.h"
#include "config.h"
#include "matcher.h"
#include "store.h"

#include <stdatomic.h>

typedef struct ingest_params {
	const pw_config *cfg;
	size_t chain_index;
	const chain_ops *ops;
	store *st;
	const matcher *m;
	atomic_bool *stop;                 /* set by the main thread on SIGINT/SIGTERM */
	void (*on_confirmed)(void *arg);   /* called after a commit that filled the outbox */
	void *on_confirmed_arg;
} ingest_params;

/* ingest_run: run until *stop is set (returns 0) or a fatal error: a chain
 * id mismatch (PW_ECHAINID), a store failure (PW_ESTORE), a reorg the
 * tracker cannot follow (PW_EREORG). Errors are logged with the chain name.
 * Connection failures are retried forever with backoff across ws_urls. */
int ingest_run(const ingest_params *p);

#endif
