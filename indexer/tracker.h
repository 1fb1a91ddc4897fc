/* tracker.h: per-chain ingest state machine above the adapter: the
 * checkpoint, the header window, and confirmation. It turns a fetched range
 * (headers near the head, matched payments) into one atomic store batch:
 * window headers, pending payments, newly confirmed payments into the
 * outbox, and the checkpoint advance.
 * A payment of block b is confirmed once the checkpoint c satisfies
 * c - b + 1 >= confirmations: confirmations are counted on blocks paywatch
 * has itself processed, never on a head it has only been told about.
 * Thread safety: a tracker belongs to its chain's ingest thread. */
#ifndef PW_TRACKER_H
#define PW_TRACKER_H

#include "payment.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tracker tracker;

/* tracker_create: load the chain's checkpoint from st (or start at
 * start_block). confirmations >= 1; window = headers kept. 0 with *ret
 * (free with tracker_destroy), PW_ENOMEM, PW_ESTORE. */
int tracker_create(store *st, const char *chain, uint32_t confirmations, uint32_t window,
		   uint64_t start_block, tracker **ret);

/* tracker_destroy: free; accepts NULL. */
void tracker_destroy(tracker *t);

/* tracker_next_block: the first block number not yet processed. */
uint64_t tracker_next_block(const tracker *t);

/* tracker_has_checkpoint: false before the first range is applied. */
bool tracker_has_checkpoint(const tracker *t);

/* tracker_apply_range: commit the effects of blocks [from, to] (from must
 * be tracker_next_block). headers: ascending, contiguous headers of the
 * range's window part (may be empty); their parent links are checked
 * against each other and the stored window (PW_EREORG on a mismatch,
 * nothing written). payments: matched payments of the range with
 * block_time set. now_ms: unix milliseconds stamped as confirmed_at.
 * 0 with *ret_confirmed = payments moved to the outbox, PW_EREORG,
 * PW_ESTORE, PW_EINVAL (range not contiguous). */
int tracker_apply_range(tracker *t, uint64_t from, uint64_t to, const pw_block_ref *headers,
			size_t n_headers, const pw_payment *payments, size_t n_payments, int64_t now_ms,
			size_t *ret_confirmed);

#endif
