/* tracker.c: checkpoint, header window and confirmations for one chain. */
#include "tracker.h"
#include "pw_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tracker {
	store *st;
	char chain[PW_NAME_MAX];
	uint32_t confirmations;
	uint32_t window;
	uint64_t next_block;
	bool has_checkpoint;
};

int tracker_create(store *st, const char *chain, uint32_t confirmations, uint32_t window,
		   uint64_t start_block, tracker **ret)
{
	tracker *t = calloc(1, sizeof(*t));
	if (!t)
		return PW_ENOMEM;
	t->st = st;
	snprintf(t->chain, sizeof(t->chain), "%s", chain);
	t->confirmations = confirmations ? confirmations : 1;
	t->window = window;
	uint64_t ckpt;
	int r = store_get_checkpoint(st, chain, &ckpt);
	if (r == 0) {
		t->next_block = ckpt + 1;
		t->has_checkpoint = true;
	} else if (r == PW_ENOTFOUND) {
		t->next_block = start_block;
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

typedef struct confirm_ctx {
	store_batch *b;
	uint64_t checkpoint;
	int64_t now_ms;
	size_t confirmed;
} confirm_ctx;

static void confirm_into(confirm_ctx *c, pw_payment *p)
{
	p->status = PW_STATUS_CONFIRMED;
	p->confirmations = (uint32_t)(c->checkpoint - p->block_number + 1);
	p->confirmed_at_ms = c->now_ms;
	store_batch_put_outbox(c->b, p);
	c->confirmed++;
}

static int confirm_pending(const pw_payment *p, void *arg)
{
	confirm_ctx *c = arg;
	pw_payment q = *p;
	store_batch_delete_pending(c->b, p);
	confirm_into(c, &q);
	return 0;
}

static int check_links(tracker *t, const pw_block_ref *headers, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pw_block_ref parent;
		const uint8_t *want = NULL;
		if (i > 0) {
			if (headers[i].number != headers[i - 1].number + 1)
				return PW_EINVAL;
			want = headers[i - 1].hash;
		} else if (headers[0].number > 0 &&
			   store_get_header(t->st, t->chain, headers[0].number - 1, &parent) == 0) {
			want = parent.hash;
		}
		if (want && memcmp(want, headers[i].parent_hash, PW_HASH_LEN) != 0)
			return PW_EREORG;
	}
	return 0;
}

int tracker_apply_range(tracker *t, uint64_t from, uint64_t to, const pw_block_ref *headers,
			size_t n_headers, const pw_payment *payments, size_t n_payments, int64_t now_ms,
			size_t *ret_confirmed)
{
	if (from != t->next_block || to < from)
		return PW_EINVAL;
	int r = check_links(t, headers, n_headers);
	if (r < 0)
		return r;
	store_batch *b = store_batch_create(t->st);
	if (!b)
		return PW_ENOMEM;
	confirm_ctx c = { .b = b, .checkpoint = to, .now_ms = now_ms };
	for (size_t i = 0; i < n_headers; i++)
		store_batch_put_header(b, t->chain, &headers[i]);
	if (to + 1 > t->window)
		store_batch_delete_headers_below(b, t->chain, to + 1 - t->window);

	/* blocks <= confirm_height have `confirmations` blocks on top (incl. own) */
	bool any_confirmed = to + 1 >= t->confirmations;
	uint64_t confirm_height = any_confirmed ? to + 1 - t->confirmations : 0;
	if (any_confirmed && (r = store_scan_pending(t->st, t->chain, confirm_height, confirm_pending, &c)) < 0)
		goto out_destroy;
	for (size_t i = 0; i < n_payments; i++) {
		pw_payment p = payments[i];
		if (any_confirmed && p.block_number <= confirm_height)
			confirm_into(&c, &p); /* deep enough already: straight to the outbox */
		else
			store_batch_put_pending(b, &p);
	}
	store_batch_put_checkpoint(b, t->chain, to);
	if ((r = store_batch_commit(b)) < 0)
		goto out_destroy;
	t->next_block = to + 1;
	t->has_checkpoint = true;
	*ret_confirmed = c.confirmed;
out_destroy:
	store_batch_destroy(b);
	return r;
}
