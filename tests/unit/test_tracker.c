/* test_tracker.c: confirmation arithmetic (head - block + 1 >=
 * confirmations, counted on processed blocks), pending -> outbox in the
 * range's batch, checkpoint resume, header-window pruning, and a header
 * that does not link to the stored window (PW_EREORG, nothing written). */
#include "pw_error.h"
#include "store.h"
#include "test.h"
#include "tracker.h"

#include <stdlib.h>

static pw_block_ref header(uint64_t n, uint8_t fork)
{
	pw_block_ref h = { .number = n, .time = 1700000000 + (int64_t)n };
	memset(h.hash, 0, 32);
	memset(h.parent_hash, 0, 32);
	pw_put_be64(h.hash, n);
	h.hash[31] = fork;
	if (n) {
		pw_put_be64(h.parent_hash, n - 1);
		h.parent_hash[31] = fork;
	}
	return h;
}

static pw_payment payment(uint64_t block, uint32_t log_index)
{
	pw_payment p;
	memset(&p, 0, sizeof(p));
	snprintf(p.chain, sizeof(p.chain), "local");
	p.block_number = block;
	p.log_index = log_index;
	pw_put_be64(p.block_hash, block);
	p.amount[31] = 9;
	p.block_time = 1;
	return p;
}

static size_t outbox_count(store *s)
{
	uint64_t depth;
	int64_t oldest;
	store_outbox_stats(s, &depth, &oldest);
	return (size_t)depth;
}

int main(void)
{
	char dir[] = "/tmp/pw-test-tracker-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char err[256];
	store *s;
	ASSERT_EQ_INT(0, store_open(dir, false, &s, err, sizeof(err)));
	tracker *t;
	enum { CONF = 3, WINDOW = 8 };
	ASSERT_EQ_INT(0, tracker_create(s, "local", CONF, WINDOW, 10, &t));
	ASSERT_EQ_INT(10, tracker_next_block(t));
	CHECK(!tracker_has_checkpoint(t));

	size_t confirmed = 99;
	pw_block_ref h10 = header(10, 0);
	pw_payment p10 = payment(10, 0);
	ASSERT_EQ_INT(0, tracker_apply_range(t, 10, 10, &h10, 1, &p10, 1, 1000, &confirmed));
	ASSERT_EQ_INT(0, confirmed); /* 1 block of 3 */
	pw_block_ref h11 = header(11, 0);
	ASSERT_EQ_INT(0, tracker_apply_range(t, 11, 11, &h11, 1, NULL, 0, 1000, &confirmed));
	ASSERT_EQ_INT(0, confirmed); /* 2 of 3 */
	ASSERT_EQ_INT(0, outbox_count(s));
	pw_block_ref h12 = header(12, 0);
	pw_payment p12 = payment(12, 4);
	ASSERT_EQ_INT(0, tracker_apply_range(t, 12, 12, &h12, 1, &p12, 1, 2000, &confirmed));
	ASSERT_EQ_INT(1, confirmed); /* block 10: 12 - 10 + 1 = 3 */
	pw_payment out[4];
	uint64_t seqs[4];
	size_t n;
	ASSERT_EQ_INT(0, store_outbox_read(s, out, seqs, 4, &n));
	ASSERT_EQ_INT(1, n);
	ASSERT_EQ_INT(10, out[0].block_number);
	ASSERT_EQ_INT(3, out[0].confirmations);
	ASSERT_EQ_INT(PW_STATUS_CONFIRMED, out[0].status);
	ASSERT_EQ_INT(2000, out[0].confirmed_at_ms);

	/* a non-contiguous range is refused */
	ASSERT_EQ_INT(PW_EINVAL, tracker_apply_range(t, 14, 14, NULL, 0, NULL, 0, 0, &confirmed));
	/* a header whose parent is not the stored block 12: a reorg; nothing written */
	pw_block_ref fork13 = header(13, 7);
	ASSERT_EQ_INT(PW_EREORG, tracker_apply_range(t, 13, 13, &fork13, 1, NULL, 0, 0, &confirmed));
	ASSERT_EQ_INT(13, tracker_next_block(t));
	tracker_destroy(t);

	/* resume from the checkpoint; a deep range confirms old pending and
	 * its own deep payments in the same batch */
	ASSERT_EQ_INT(0, tracker_create(s, "local", CONF, WINDOW, 0, &t));
	ASSERT_EQ_INT(13, tracker_next_block(t));
	CHECK(tracker_has_checkpoint(t));
	pw_payment deep[2] = { payment(15, 0), payment(30, 1) };
	pw_block_ref win[8];
	for (int i = 0; i < 8; i++)
		win[i] = header(23 + (uint64_t)i, 0); /* window part of [13, 30] */
	ASSERT_EQ_INT(0, tracker_apply_range(t, 13, 30, win, 8, deep, 2, 3000, &confirmed));
	ASSERT_EQ_INT(2, confirmed); /* pending block 12, new block 15; block 30 stays pending */
	ASSERT_EQ_INT(3, outbox_count(s));
	ASSERT_EQ_INT(0, store_outbox_read(s, out, seqs, 4, &n));
	ASSERT_EQ_INT(30 - 12 + 1, out[1].confirmations);
	/* the window keeps the last WINDOW headers only */
	pw_block_ref got;
	ASSERT_EQ_INT(PW_ENOTFOUND, store_get_header(s, "local", 12, &got));
	ASSERT_EQ_INT(0, store_get_header(s, "local", 23, &got));
	ASSERT_EQ_INT(0, store_get_header(s, "local", 30, &got));
	tracker_destroy(t);
	store_close(s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return test_finish("test_tracker");
}
