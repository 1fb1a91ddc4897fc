/* ingest.h: one chain's ingest for `paywatch run` (on its own thread): the
 * range pipeline (pipeline.h) fetching from the checkpoint to the node's
 * head, and what `run` does with each range: the tracker's atomic batch
 * (window headers, pending payments, confirmations into the outbox, the
 * checkpoint). Backfill and live are the same code; a new head only moves
 * the target. It follows heads (a subscription, or polling over HTTP;
 * probing a silent node), the finalized/safe block in finality mode, and
 * reorgs (the common ancestor found in the stored window, then a rewind),
 * and records what `paywatch status` shows. */
#ifndef PW_INGEST_H
#define PW_INGEST_H

#include "chain.h"
#include "config.h"
#include "hd_window.h"
#include "registry.h"
#include "store.h"

#include <stdatomic.h>

typedef struct ingest_params {
	const pw_config *cfg;
	size_t chain_index; /* its family's adapter is used */
	store *st;
	registry *reg;         /* the merchant address set, followed live */
	hd_used_fn on_hd_used; /* a payment grew an xpub window (may be NULL) */
	void *on_hd_used_arg;
	atomic_bool *stop;               /* set by the main thread on SIGINT/SIGTERM */
	void (*on_confirmed)(void *arg); /* called after a commit that filled the outbox */
	void *on_confirmed_arg;
} ingest_params;

/* ingest_run: run until *stop is set (returns 0) or until a fatal error: a
 * chain id mismatch (PW_ECHAINID), a store failure (PW_ESTORE), a reorg
 * deeper than the window (PW_EREORGDEEP). Errors are logged with the chain
 * name. Connection failures are retried forever with backoff across the
 * chain's URLs. */
int ingest_run(const ingest_params *p);

#endif
