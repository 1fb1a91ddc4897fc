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

/* Replay mode: fetch the fixed range [from, to] with the same machinery
 * (ranges in flight, adaptive range size, endpoint failover), without the
 * tracker or the store; the caller reconciles each range, in block order.
 * Callbacks run on the ingest thread; a negative return stops the run with
 * that code. */
typedef struct ingest_replay {
	uint64_t from, to; /* requested block numbers, inclusive */
	void *arg;
	/* on_target: the node's head (block number) and, in finality mode, its
	 * finalized/safe block (-1 otherwise) are known; *ret_to gets the last
	 * block to fetch (the range clipped to the confirmed height). Returns
	 * 0, 1 when there is nothing to fetch (the replay ends at once), or a
	 * negative code. Called once, on the first connection. */
	int (*on_target)(void *arg, uint64_t head, int64_t finalized, uint64_t *ret_to);
	/* on_logs: the payments found in [from, to] (block_time may be -1).
	 * May set *ret_ctx (kept with the range, freed with free_ctx) and ask
	 * for the canonical headers of *ret_n block numbers (*ret_numbers,
	 * malloc'd, freed by the caller). */
	int (*on_logs)(void *arg, uint64_t from, uint64_t to, const pw_payment *found, size_t n, void **ret_ctx,
		       uint64_t **ret_numbers, size_t *ret_n);
	/* on_range: the range is complete: found payments with block_time set,
	 * the headers fetched for it (ascending, canonical at fetch time), and
	 * the number of Transfer logs the node returned. */
	int (*on_range)(void *arg, void *ctx, uint64_t from, uint64_t to, pw_payment *found, size_t n,
			const pw_block_ref *headers, size_t n_headers, size_t n_logs);
	void (*free_ctx)(void *ctx);
} ingest_replay;

typedef struct ingest_params {
	const pw_config *cfg;
	size_t chain_index;                /* its family's adapter is used */
	store *st;                         /* NULL in replay mode */
	const matcher *m;
	const ingest_replay *replay;       /* NULL for `run` */
	atomic_bool *stop;                 /* set by the main thread on SIGINT/SIGTERM */
	void (*on_confirmed)(void *arg);   /* called after a commit that filled the outbox */
	void *on_confirmed_arg;
} ingest_params;

/* ingest_run: run until *stop is set (returns 0), in replay mode until the
 * range is done (returns 0), or until a fatal error: a chain
 * id mismatch (PW_ECHAINID), a store failure (PW_ESTORE), a reorg the
 * tracker cannot follow (PW_EREORG). Errors are logged with the chain name.
 * Connection failures are retried forever with backoff across the chain's URLs. */
int ingest_run(const ingest_params *p);

#endif
