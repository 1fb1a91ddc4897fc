/* outbox_queue.h: hands out batches of the RocksDB outbox to the sink
 * writers (sink_loop.c), so that several Postgres connections write at once
 * without two writers holding the same entry and without reordering what
 * must stay in order.
 *
 * - Batches are read from a shared cursor (a sequence number), so each
 *   entry is handed out once while it is in flight. A batch is a run of
 *   entries of one status (confirmed, reverted or pending), in outbox order:
 *   a payment reverted and later confirmed again (the chain went back) has
 *   its two entries in two batches, applied in that order.
 * - A batch of confirmed payments only is independent of the others (each
 *   row is its own identity): such batches commit in any order.
 * - A batch of reverted or pending entries is exclusive: the take
 *   waits until every batch handed out before it is done, and nothing else
 *   is handed out until it is done. A revert never overtakes the
 *   confirmation it reverses.
 * - A batch that failed (outbox_queue_done with ok false) stops the handing
 *   out; once no batch is in flight the cursor returns to the outbox head,
 *   so every entry still in the outbox is handed out again (the writes are
 *   idempotent). An exclusive batch waiting behind a failed one is given
 *   back the same way.
 * - Nothing is handed out before outbox_queue_open (the merchants and
 *   webhook endpoints are mirrored to Postgres first: an event needs its
 *   endpoint).
 * Thread safety: every function may be called from any thread. */
#ifndef PW_OUTBOX_QUEUE_H
#define PW_OUTBOX_QUEUE_H

#include "payment.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct outbox_queue outbox_queue;

/* outbox_queue_create: a queue over st's outbox (st must outlive it).
 * 0 with *ret (free with outbox_queue_destroy), PW_ENOMEM. */
int outbox_queue_create(store *st, outbox_queue **ret);

/* outbox_queue_destroy: free; accepts NULL. No take may be in progress. */
void outbox_queue_destroy(outbox_queue *q);

/* outbox_queue_open: allow batches to be handed out (and wake waiters). */
void outbox_queue_open(outbox_queue *q);

/* outbox_queue_take: the next batch (up to max entries of one status) into
 * payments and seqs (max slots each). *ret_n = 0: nothing to hand out now (empty, not
 * open, an exclusive batch in flight, or a failure being rewound).
 * *ret_exclusive: the batch is of reverted or pending entries; the call
 * returned only once every earlier batch was done. Every batch taken
 * (n > 0) must be given back with outbox_queue_done.
 * 0, or PW_ESTORE (the outbox cannot be read). */
int outbox_queue_take(outbox_queue *q, pw_payment *payments, uint64_t *seqs, size_t max, size_t *ret_n,
		      bool *ret_exclusive);

/* outbox_queue_done: a batch taken is finished: ok, written and deleted
 * from the outbox; not ok, its entries are still there (they are handed out
 * again from the outbox head once no batch is in flight). */
void outbox_queue_done(outbox_queue *q, bool exclusive, bool ok);

/* outbox_queue_wakes: a counter of wakes to pass to outbox_queue_wait:
 * every wake (outbox_queue_wake, open, and each batch done), or with
 * notifies_only the first two alone (for a writer backing off after a
 * failure: other writers' batches should not cut its pause short). */
uint64_t outbox_queue_wakes(outbox_queue *q, bool notifies_only);

/* outbox_queue_waiting: how many outbox_queue_take calls are waiting, an
 * exclusive batch in hand, for the batches handed out before it to be
 * done (0 or 1: one exclusive batch at a time). A test reads it to know a
 * take is blocked, rather than sleeping and checking it has not returned. */
size_t outbox_queue_waiting(outbox_queue *q);

/* outbox_queue_wake: new entries (or a stop): wake every waiter. */
void outbox_queue_wake(outbox_queue *q);

/* outbox_queue_wait: wait until that counter moves past seen, *stop is set
 * (stop may be NULL), or ms milliseconds pass. */
void outbox_queue_wait(outbox_queue *q, bool notifies_only, uint64_t seen, int ms, const _Atomic bool *stop);

#endif
