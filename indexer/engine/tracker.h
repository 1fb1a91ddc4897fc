/* tracker.h: per-chain ingest state above the adapter: the checkpoint, the
 * header window, and confirmation. It turns a fetched range (headers near
 * the head, matched payments) into one atomic store batch: window headers,
 * pending payments, newly confirmed payments into the outbox, the
 * checkpoint advance. On a reorg it rewinds to the common ancestor in one
 * batch: orphaned pending payments are dropped, orphaned confirmed ones are
 * reverted (a PW_STATUS_REVERTED outbox entry each).
 * Confirmation: with `confirmations`, a payment of block b is confirmed
 * once checkpoint - b + 1 >= confirmations, counting only blocks paywatch
 * has itself processed; in finality mode, once b <= min(checkpoint, the
 * node's finalized/safe block).
 * Thread safety: a tracker belongs to its chain's ingest thread. */
#ifndef PW_TRACKER_H
#define PW_TRACKER_H

#include "payment.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tracker tracker;

typedef struct tracker_options {
	uint32_t confirmations; /* >= 1; ignored in finality mode */
	uint32_t window;        /* headers kept below the checkpoint */
	uint64_t start_block;   /* first block when there is no checkpoint */
	bool finality;          /* confirm by the node's finalized/safe block */
	bool emit_pending;      /* also put a PW_STATUS_PENDING outbox entry when a payment is first seen
				 * (pending_payments in Postgres, for invoices and payment.pending
				 * webhooks), and a PW_STATUS_DROPPED one when a reorg drops it */
} tracker_options;

/* tracker_create: load the chain's checkpoint from st (or start at
 * start_block). 0 with *ret (free with tracker_destroy), PW_ENOMEM, PW_ESTORE. */
int tracker_create(store *st, const char *chain, const tracker_options *opts, tracker **ret);

/* tracker_destroy: free; accepts NULL. */
void tracker_destroy(tracker *t);

/* tracker_next_block: the first block number not yet processed. */
uint64_t tracker_next_block(const tracker *t);

/* tracker_has_checkpoint: false before the first range is applied (or
 * tracker_begin_at). */
bool tracker_has_checkpoint(const tracker *t);

/* tracker_begin_at: a chain without a checkpoint begins at block instead
 * of start_block: the checkpoint block - 1 is committed (nothing below
 * block is read, and a restart resumes at block, however far the chain
 * has gone), and tracker_next_block is block. Block 0 commits nothing
 * (there is no block before it). 0; PW_EINVAL when a checkpoint exists;
 * PW_ENOMEM, PW_ESTORE. */
int tracker_begin_at(tracker *t, uint64_t block);

/* tracker_apply_range: commit the effects of blocks [from, to] (from must
 * be tracker_next_block). window_from: the first block of the range's
 * window part (headers kept for reorg checks), > to when it has none.
 * headers: ascending headers of the window part, every block it holds (a
 * family whose block numbers can be skipped, such as Solana's slots, leaves
 * the skipped ones out). Headers link by parent hash: each to the header
 * before it, the first (when the window part starts at `from`) to the
 * highest stored header below it; a broken link is PW_EREORG, nothing
 * written, *ret_unlinked (may be NULL) the block that does not link. A
 * payment confirmed in a block below the window part is not kept in the
 * confirmed set (no reorg the tracker handles reaches there), and the
 * stored headers below a window part that starts after `from` are dropped
 * (no later header links to them). payments: matched payments of the
 * range with block_time set. now_ms: unix milliseconds stamped as
 * confirmed_at. 0 with *ret_confirmed = payments moved to the outbox,
 * PW_EREORG, PW_ESTORE, PW_EINVAL (range not contiguous, headers out of
 * order or outside the window part). */
int tracker_apply_range(tracker *t, uint64_t from, uint64_t to, uint64_t window_from, const pw_block_ref *headers,
			size_t n_headers, const pw_payment *payments, size_t n_payments, int64_t now_ms,
			size_t *ret_confirmed, uint64_t *ret_unlinked);

/* tracker_set_finalized: in finality mode, the node's finalized (or safe)
 * block number; it never moves back. Then tracker_confirm commits what it
 * confirms. */
void tracker_set_finalized(tracker *t, uint64_t number);

/* tracker_confirm: commit the confirmations due at the current checkpoint
 * and finalized block (finality mode: the finalized block may move without
 * a new range). 0 with *ret_confirmed, PW_ESTORE. */
int tracker_confirm(tracker *t, int64_t now_ms, size_t *ret_confirmed);

/* tracker_rewind: the chain reorganised above block `ancestor` (the common
 * ancestor, a block still canonical). In one batch: pending payments of
 * blocks > ancestor are dropped (*ret_dropped), confirmed ones still in the
 * window get a PW_STATUS_REVERTED outbox entry (*ret_reverted), headers
 * above the ancestor are removed, the checkpoint becomes ancestor.
 * 0, PW_EINVAL (ancestor >= next block), PW_ESTORE. */
int tracker_rewind(tracker *t, uint64_t ancestor, int64_t now_ms, size_t *ret_dropped, size_t *ret_reverted);

#endif
