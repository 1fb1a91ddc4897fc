/* tracker.c: checkpoint, header window, confirmations and rewinds for one
 * chain. Every change is one store batch. */
#include "tracker.h"
#include "pw_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tracker {
	store *st;
	char chain[PW_NAME_MAX];
	tracker_options opts;
	uint64_t next_block;
	bool has_checkpoint;
	uint64_t finalized;
	bool has_finalized;
	/* confirmed payments (pruned) and headers (headers_pruned) of blocks
	 * below these were dropped; 0 after a start */
	uint64_t pruned, headers_pruned;
};

int tracker_create(store *st, const char *chain, const tracker_options *opts, tracker **ret)
{
	tracker *t = calloc(1, sizeof(*t));
	if (!t)
		return PW_ENOMEM;
	t->st = st;
	snprintf(t->chain, sizeof(t->chain), "%s", chain);
	t->opts = *opts;
	if (t->opts.confirmations == 0)
		t->opts.confirmations = 1;
	uint64_t ckpt;
	int r = store_get_checkpoint(st, chain, &ckpt);
	if (r == 0) {
		t->next_block = ckpt + 1;
		t->has_checkpoint = true;
	} else if (r == PW_ENOTFOUND) {
		t->next_block = opts->start_block;
	} else {
		free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void tracker_destroy(tracker *t)
{
	free(t);
}

uint64_t tracker_next_block(const tracker *t)
{
	return t->next_block;
}

bool tracker_has_checkpoint(const tracker *t)
{
	return t->has_checkpoint;
}

int tracker_begin_at(tracker *t, uint64_t block)
{
	if (t->has_checkpoint)
		return PW_EINVAL;
	if (block > 0) {
		store_batch *b = store_batch_create(t->st);
		if (!b)
			return PW_ENOMEM;
		store_batch_put_checkpoint(b, t->chain, block - 1);
		int r = store_batch_commit(b);
		store_batch_destroy(b);
		if (r < 0)
			return r;
		t->has_checkpoint = true;
	}
	t->next_block = block;
	return 0;
}

void tracker_set_finalized(tracker *t, uint64_t number)
{
	if (!t->has_finalized || number > t->finalized)
		t->finalized = number;
	t->has_finalized = true;
}

/* The highest block whose payments are confirmed when the checkpoint is
 * `checkpoint`; false when none is. */
static bool confirm_height(const tracker *t, uint64_t checkpoint, uint64_t *ret)
{
	if (t->opts.finality) {
		if (!t->has_finalized)
			return false;
		*ret = t->finalized < checkpoint ? t->finalized : checkpoint;
		return true;
	}
	if (checkpoint + 1 < t->opts.confirmations)
		return false;
	*ret = checkpoint + 1 - t->opts.confirmations;
	return true;
}

typedef struct batch_ctx {
	store_batch *b;
	uint64_t checkpoint;
	uint64_t keep_from; /* confirmed payments of blocks >= keep_from are kept for a reorg */
	int64_t now_ms;
	size_t count;
	bool emit_dropped; /* a pending payment dropped by a reorg puts a PW_STATUS_DROPPED entry */
} batch_ctx;

/* head - block + 1, within what the schema's int holds (a payment
 * confirmed deep in a backfill can count more blocks than that). */
static uint32_t confirmations_at(uint64_t head, uint64_t block)
{
	uint64_t n = head - block + 1;
	return n > (uint64_t)PW_CONFIRMATIONS_MAX ? (uint32_t)PW_CONFIRMATIONS_MAX : (uint32_t)n;
}

static void confirm_into(batch_ctx *c, pw_payment *p)
{
	p->status = PW_STATUS_CONFIRMED;
	p->confirmations = confirmations_at(c->checkpoint, p->block_number);
	p->confirmed_at_ms = c->now_ms;
	store_batch_put_outbox(c->b, p);
	/* remembered while a reorg could orphan it: not below the window part
	 * of a deep range (half the store writes of a backfill) */
	if (p->block_number >= c->keep_from)
		store_batch_put_payment(c->b, STORE_CONFIRMED, p);
	c->count++;
}

static int confirm_pending(const pw_payment *p, void *arg)
{
	batch_ctx *c = arg;
	pw_payment q = *p;
	store_batch_delete_payment(c->b, STORE_PENDING, p);
	confirm_into(c, &q);
	return 0;
}

/* Headers link by parent hash: each to the one before it in the answer,
 * the first to the highest stored header below it when the window part
 * starts at the range's first block (the stored window then ends at the
 * checkpoint, whatever numbers lie between: a family whose numbers can be
 * skipped leaves them out). Ascending numbers or PW_EINVAL; a broken link
 * is PW_EREORG with *ret_at the block that does not link. */
static int check_links(tracker *t, uint64_t from, uint64_t window_from, const pw_block_ref *headers, size_t n,
		       uint64_t *ret_at)
{
	for (size_t i = 0; i < n; i++)
		if (headers[i].number < window_from || (i > 0 && headers[i].number <= headers[i - 1].number))
			return PW_EINVAL;
	for (size_t i = 0; i < n; i++) {
		pw_block_ref parent;
		const uint8_t *want = NULL;
		if (i > 0) {
			want = headers[i - 1].hash;
		} else if (window_from == from) {
			int r = store_get_header_below(t->st, t->chain, headers[0].number, &parent);
			if (r == PW_ESTORE)
				return r;
			if (r == 0)
				want = parent.hash;
		}
		if (want && memcmp(want, headers[i].parent_hash, PW_HASH_LEN) != 0) {
			*ret_at = headers[i].number;
			return PW_EREORG;
		}
	}
	return 0;
}

/* Queue the confirmations due at `checkpoint` for pending payments of
 * earlier ranges. */
static int confirm_due(tracker *t, batch_ctx *c)
{
	uint64_t height;
	if (!confirm_height(t, c->checkpoint, &height))
		return 0;
	return store_scan_payments(t->st, STORE_PENDING, t->chain, 0, height, confirm_pending, c);
}

/* Dropping what falls below the window. A block interval a range adds
 * (one block live, a range near the head) is dropped by point deletes:
 * range tombstones, one per block over a shared start, made RocksDB
 * refragment them all at every iterator it opened until the memtable
 * flushed, a cost growing with every block (a backfill of 1,500 blocks in
 * ranges of 2 went from 0.5 to 76 ms a range). A wide interval (the first
 * after a start, a deep backfill range) is one range tombstone that starts
 * where the last ended. */
#define PRUNE_POINT_MAX 256

static void prune_headers(tracker *t, store_batch *b, uint64_t lo, uint64_t hi)
{
	if (lo >= hi)
		return;
	if (hi - lo > PRUNE_POINT_MAX) {
		store_batch_delete_headers_between(b, t->chain, lo, hi);
		return;
	}
	for (uint64_t n = lo; n < hi; n++)
		store_batch_delete_header(b, t->chain, n);
}

static int delete_confirmed(const pw_payment *p, void *arg)
{
	store_batch_delete_payment(arg, STORE_CONFIRMED, p);
	return 0;
}

static int prune_confirmed(tracker *t, store_batch *b, uint64_t lo, uint64_t hi)
{
	if (lo >= hi)
		return 0;
	if (hi - lo > PRUNE_POINT_MAX) {
		store_batch_delete_payments_between(b, STORE_CONFIRMED, t->chain, lo, hi);
		return 0;
	}
	return store_scan_payments(t->st, STORE_CONFIRMED, t->chain, lo, hi - 1, delete_confirmed, b);
}

int tracker_apply_range(tracker *t, uint64_t from, uint64_t to, uint64_t window_from, const pw_block_ref *headers,
			size_t n_headers, const pw_payment *payments, size_t n_payments, int64_t now_ms,
			size_t *ret_confirmed, uint64_t *ret_unlinked)
{
	if (from != t->next_block || to < from || (n_headers && window_from > to))
		return PW_EINVAL;
	if (window_from < from)
		window_from = from;
	uint64_t unlinked = 0;
	int r = check_links(t, from, window_from, headers, n_headers, &unlinked);
	if (r == PW_EREORG && ret_unlinked)
		*ret_unlinked = unlinked;
	if (r < 0)
		return r;
	store_batch *b = store_batch_create(t->st);
	if (!b)
		return PW_ENOMEM;
	/* the window part starts at the head's window bottom, or at `from` when
	 * the whole range is inside the window (then earlier blocks' pending
	 * payments confirmed here are inside it too) */
	bool starts_inside = window_from > from;
	uint64_t keep_from = window_from > to ? to + 1 : starts_inside ? window_from : 0;
	batch_ctx c = { .b = b, .checkpoint = to, .now_ms = now_ms, .keep_from = keep_from };
	uint64_t pruned = t->pruned, headers_pruned = t->headers_pruned;
	/* blocks before the window part have no headers: what is stored below
	 * it is cut off from what follows (no header will link to it) */
	if (starts_inside) {
		uint64_t cut = window_from > to ? to + 1 : window_from;
		prune_headers(t, b, headers_pruned, cut);
		if (cut > headers_pruned)
			headers_pruned = cut;
	}
	for (size_t i = 0; i < n_headers; i++)
		store_batch_put_header(b, t->chain, &headers[i]);
	if (to + 1 > t->opts.window) {
		uint64_t bottom = to + 1 - t->opts.window;
		prune_headers(t, b, headers_pruned, bottom);
		if ((r = prune_confirmed(t, b, pruned, bottom)) < 0)
			goto out_destroy;
		if (bottom > headers_pruned)
			headers_pruned = bottom;
		if (bottom > pruned)
			pruned = bottom;
	}
	if ((r = confirm_due(t, &c)) < 0)
		goto out_destroy;
	uint64_t height = 0;
	bool any = confirm_height(t, to, &height);
	for (size_t i = 0; i < n_payments; i++) {
		pw_payment p = payments[i];
		if (any && p.block_number <= height)
			confirm_into(&c, &p); /* deep enough already: straight to the outbox */
		else {
			store_batch_put_payment(b, STORE_PENDING, &p);
			if (t->opts.emit_pending) {
				p.confirmations = confirmations_at(to, p.block_number);
				p.confirmed_at_ms = now_ms;
				store_batch_put_outbox(b, &p); /* status PW_STATUS_PENDING */
			}
		}
	}
	store_batch_put_checkpoint(b, t->chain, to);
	if ((r = store_batch_commit(b)) < 0)
		goto out_destroy;
	t->next_block = to + 1;
	t->pruned = pruned;
	t->headers_pruned = headers_pruned;
	t->has_checkpoint = true;
	*ret_confirmed = c.count;
out_destroy:
	store_batch_destroy(b);
	return r;
}

int tracker_confirm(tracker *t, int64_t now_ms, size_t *ret_confirmed)
{
	*ret_confirmed = 0;
	if (!t->has_checkpoint)
		return 0;
	store_batch *b = store_batch_create(t->st);
	if (!b)
		return PW_ENOMEM;
	batch_ctx c = { .b = b, .checkpoint = t->next_block - 1, .now_ms = now_ms };
	int r = confirm_due(t, &c);
	if (r == 0 && c.count)
		r = store_batch_commit(b);
	if (r == 0)
		*ret_confirmed = c.count;
	store_batch_destroy(b);
	return r;
}

static int drop_pending(const pw_payment *p, void *arg)
{
	batch_ctx *c = arg;
	store_batch_delete_payment(c->b, STORE_PENDING, p);
	if (c->emit_dropped) { /* its pending entry went out: take it back */
		pw_payment q = *p;
		q.status = PW_STATUS_DROPPED;
		q.confirmations = 0;
		q.confirmed_at_ms = c->now_ms;
		store_batch_put_outbox(c->b, &q);
	}
	c->count++;
	return 0;
}

static int revert_confirmed(const pw_payment *p, void *arg)
{
	batch_ctx *c = arg;
	pw_payment q = *p;
	store_batch_delete_payment(c->b, STORE_CONFIRMED, p);
	q.status = PW_STATUS_REVERTED;
	q.confirmed_at_ms = c->now_ms; /* for a reverted entry: when the revert was decided */
	store_batch_put_outbox(c->b, &q);
	c->count++;
	return 0;
}

int tracker_rewind(tracker *t, uint64_t ancestor, int64_t now_ms, size_t *ret_dropped, size_t *ret_reverted)
{
	if (!t->has_checkpoint || ancestor + 1 >= t->next_block)
		return PW_EINVAL;
	store_batch *b = store_batch_create(t->st);
	if (!b)
		return PW_ENOMEM;
	batch_ctx dropped = { .b = b, .now_ms = now_ms, .emit_dropped = t->opts.emit_pending },
		  reverted = { .b = b, .now_ms = now_ms };
	int r = store_scan_payments(t->st, STORE_PENDING, t->chain, ancestor + 1, UINT64_MAX, drop_pending, &dropped);
	if (r == 0)
		r = store_scan_payments(t->st, STORE_CONFIRMED, t->chain, ancestor + 1, UINT64_MAX, revert_confirmed,
					&reverted);
	if (r == 0) {
		store_batch_delete_headers_from(b, t->chain, ancestor + 1);
		store_batch_put_checkpoint(b, t->chain, ancestor);
		r = store_batch_commit(b);
	}
	store_batch_destroy(b);
	if (r < 0)
		return r;
	t->next_block = ancestor + 1;
	*ret_dropped = dropped.count;
	*ret_reverted = reverted.count;
	return 0;
}
