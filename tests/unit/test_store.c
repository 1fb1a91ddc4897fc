/* test_store.c: RocksDB store: checkpoint and headers persist across a
 * reopen, batches are atomic (an uncommitted batch leaves nothing), the
 * outbox keeps order and its sequence survives a reopen; a long run of
 * outbox entries is deleted with one range tombstone, exactly that run. */
#include "pw_error.h"
#include "store.h"
#include "test.h"
#include "test_payments.h"

#include <stdlib.h>
#include <unistd.h>

/* One outbox entry (a payment at block, log 0) in a batch of its own. */
static void put_one(store *s, uint64_t block)
{
	store_batch *b = store_batch_create(s);
	pw_payment p = test_make_payment(block, 0);
	store_batch_put_outbox(b, &p);
	ASSERT_EQ_INT(0, store_batch_commit(b));
	store_batch_destroy(b);
}

/* 300 entries; a run of 100 from the middle deleted as a writer deletes
 * a batch: one range tombstone, and exactly those entries gone (the
 * neighbours on both sides kept); a run with a gap and a short run go
 * entry by entry. Entries committed after a range deletion are read. */
static void outbox_range_delete(void)
{
	char dir[] = "/tmp/pw-test-store-range-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char err[512];
	store *s = NULL;
	ASSERT_EQ_INT(0, store_open(dir, false, &s, err, sizeof(err)));
	store_batch *b = store_batch_create(s);
	for (uint32_t i = 0; i < 300; i++) {
		pw_payment p = test_make_payment(1000 + i, i % 50);
		store_batch_put_outbox(b, &p);
	}
	ASSERT_EQ_INT(0, store_batch_commit(b));
	store_batch_destroy(b);
	static pw_payment out[400];
	static uint64_t seqs[400], run[400];
	size_t n = 0;
	ASSERT_EQ_INT(0, store_outbox_read(s, 0, out, seqs, 400, &n));
	ASSERT_EQ_INT(300, n);
	memcpy(run, seqs + 100, 100 * sizeof(uint64_t));
	uint64_t tombs = store_range_deletes(s);
	ASSERT_EQ_INT(0, store_outbox_delete(s, run, 100));
	ASSERT_EQ_INT(tombs + 1, store_range_deletes(s));
	ASSERT_EQ_INT(0, store_outbox_read(s, 0, out, seqs, 400, &n));
	ASSERT_EQ_INT(200, n);
	ASSERT_EQ_INT(1099, out[99].block_number);  /* the last before the run */
	ASSERT_EQ_INT(1200, out[100].block_number); /* the first after it */
	/* 100 numbers with a gap (the first 50 and the last 50 left):
	 * entry by entry, no range tombstone */
	memcpy(run, seqs, 50 * sizeof(uint64_t));
	memcpy(run + 50, seqs + 150, 50 * sizeof(uint64_t));
	ASSERT_EQ_INT(0, store_outbox_delete(s, run, 100));
	ASSERT_EQ_INT(tombs + 1, store_range_deletes(s));
	ASSERT_EQ_INT(0, store_outbox_read(s, 0, out, seqs, 400, &n));
	ASSERT_EQ_INT(100, n);
	ASSERT_EQ_INT(1050, out[0].block_number);
	ASSERT_EQ_INT(1200, out[50].block_number);
	/* a short run: entry by entry */
	ASSERT_EQ_INT(0, store_outbox_delete(s, seqs, 10));
	ASSERT_EQ_INT(tombs + 1, store_range_deletes(s));
	/* entries after a range deletion: numbered on, read */
	put_one(s, 5000);
	ASSERT_EQ_INT(0, store_outbox_read(s, 0, out, seqs, 400, &n));
	ASSERT_EQ_INT(91, n);
	ASSERT_EQ_INT(5000, out[90].block_number);
	store_close(s);
	/* and across a reopen */
	ASSERT_EQ_INT(0, store_open(dir, false, &s, err, sizeof(err)));
	ASSERT_EQ_INT(0, store_outbox_read(s, 0, out, seqs, 400, &n));
	ASSERT_EQ_INT(91, n);
	ASSERT_EQ_INT(1060, out[0].block_number);
	store_close(s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	outbox_range_delete();
	char dir[] = "/tmp/pw-test-store-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char err[512];
	store *s = NULL;
	ASSERT_EQ_INT(0, store_open(dir, false, &s, err, sizeof(err)));
	uint64_t ckpt = 0;
	ASSERT_EQ_INT(PW_ENOTFOUND, store_get_checkpoint(s, "local", &ckpt));

	store_batch *b = store_batch_create(s);
	store_batch_put_checkpoint(b, "local", 41);
	store_batch_destroy(b); /* never committed */
	ASSERT_EQ_INT(PW_ENOTFOUND, store_get_checkpoint(s, "local", &ckpt));

	b = store_batch_create(s);
	pw_block_ref h = { .number = 42, .time = 1700000000 };
	memset(h.hash, 0xaa, 32);
	memset(h.parent_hash, 0xbb, 32);
	store_batch_put_header(b, "local", &h);
	store_batch_put_checkpoint(b, "local", 42);
	for (uint32_t i = 0; i < 5; i++) {
		pw_payment p = test_make_payment(40 + i, i);
		store_batch_put_outbox(b, &p);
	}
	pw_payment pend = test_make_payment(42, 9);
	store_batch_put_payment(b, STORE_PENDING, &pend);
	ASSERT_EQ_INT(0, store_batch_commit(b));
	store_batch_destroy(b);
	store_close(s);

	ASSERT_EQ_INT(0, store_open(dir, false, &s, err, sizeof(err)));
	ASSERT_EQ_INT(0, store_get_checkpoint(s, "local", &ckpt));
	ASSERT_EQ_INT(42, ckpt);
	pw_block_ref got;
	ASSERT_EQ_INT(0, store_get_header(s, "local", 42, &got));
	CHECK(memcmp(&got, &h, sizeof(h)) == 0);
	ASSERT_EQ_INT(PW_ENOTFOUND, store_get_header(s, "other", 42, &got));

	pw_payment out[10];
	uint64_t seqs[10];
	size_t n = 0;
	ASSERT_EQ_INT(0, store_outbox_read(s, 0, out, seqs, 10, &n));
	ASSERT_EQ_INT(5, n);
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ_INT(40 + i, out[i].block_number);
		if (i)
			CHECK(seqs[i] > seqs[i - 1]);
	}
	ASSERT_EQ_INT(0, store_outbox_delete(s, seqs, 3));
	/* new entries after a reopen sort after the old ones */
	put_one(s, 99);
	ASSERT_EQ_INT(0, store_outbox_read(s, 0, out, seqs, 10, &n));
	ASSERT_EQ_INT(3, n);
	ASSERT_EQ_INT(43, out[0].block_number);
	ASSERT_EQ_INT(99, out[2].block_number);
	/* entries are numbered at commit: a batch put first and committed
	 * second sorts after one committed between (a reader's cursor past
	 * the first commit still finds it) */
	{
		store_batch *first = store_batch_create(s), *second = store_batch_create(s);
		pw_payment pa = test_make_payment(100, 0), pb = test_make_payment(101, 0);
		store_batch_put_outbox(first, &pa);
		store_batch_put_outbox(second, &pb);
		ASSERT_EQ_INT(0, store_batch_commit(second));
		ASSERT_EQ_INT(0, store_outbox_read(s, 0, out, seqs, 10, &n));
		ASSERT_EQ_INT(4, n);
		ASSERT_EQ_INT(101, out[3].block_number);
		uint64_t cursor = seqs[3] + 1;
		ASSERT_EQ_INT(0, store_batch_commit(first));
		ASSERT_EQ_INT(0, store_outbox_read(s, cursor, out, seqs, 10, &n));
		ASSERT_EQ_INT(1, n);
		ASSERT_EQ_INT(100, out[0].block_number);
		store_batch_destroy(first);
		store_batch_destroy(second);
		ASSERT_EQ_INT(0, store_outbox_read(s, 0, out, seqs, 10, &n));
		uint64_t drop[2] = { seqs[3], seqs[4] };
		ASSERT_EQ_INT(0, store_outbox_delete(s, drop, 2));
	}
	uint64_t depth = 0;
	int64_t oldest = 0;
	ASSERT_EQ_INT(0, store_outbox_stats(s, NULL, &depth, &oldest));
	ASSERT_EQ_INT(3, depth);
	/* per chain: one entry of another chain is counted apart */
	b = store_batch_create(s);
	pw_payment other = test_make_payment(7, 0);
	snprintf(other.chain, sizeof(other.chain), "other");
	other.confirmed_at_ms = 1234;
	store_batch_put_outbox(b, &other);
	ASSERT_EQ_INT(0, store_batch_commit(b));
	store_batch_destroy(b);
	ASSERT_EQ_INT(0, store_outbox_stats(s, "other", &depth, &oldest));
	ASSERT_EQ_INT(1, depth);
	ASSERT_EQ_INT(1234, oldest);
	ASSERT_EQ_INT(0, store_outbox_stats(s, "local", &depth, &oldest));
	ASSERT_EQ_INT(3, depth);
	ASSERT_EQ_INT(0, store_outbox_stats(s, "none", &depth, &oldest));
	ASSERT_EQ_INT(0, depth);
	/* every chain's in one scan: the same figures as one scan each, a
	 * chain not named passed over, one with no entry 0 and 0; entries of
	 * two chains interleaved (the lookup's last chain changing) */
	b = store_batch_create(s);
	for (uint32_t i = 0; i < 6; i++) {
		pw_payment p = test_make_payment(20 + i, 0);
		snprintf(p.chain, sizeof(p.chain), "%s", i % 2 ? "other" : "third");
		p.confirmed_at_ms = 5000 + i;
		store_batch_put_outbox(b, &p);
	}
	ASSERT_EQ_INT(0, store_batch_commit(b));
	store_batch_destroy(b);
	const char *names[] = { "third", "none", "local", "other" };
	uint64_t depths[4] = { 9, 9, 9, 9 };
	int64_t oldests[4] = { -1, -1, -1, -1 };
	ASSERT_EQ_INT(0, store_outbox_stats_chains(s, names, 4, depths, oldests));
	ASSERT_EQ_INT(3, depths[0]);
	ASSERT_EQ_INT(5000, oldests[0]);
	ASSERT_EQ_INT(0, depths[1]);
	ASSERT_EQ_INT(0, oldests[1]);
	for (size_t k = 0; k < 4; k++) {
		ASSERT_EQ_INT(0, store_outbox_stats(s, names[k], &depth, &oldest));
		ASSERT_EQ_INT(depth, depths[k]);
		ASSERT_EQ_INT(oldest, oldests[k]);
	}
	ASSERT_EQ_INT(4, depths[3]); /* the one before and three of the six */
	ASSERT_EQ_INT(1234, oldests[3]);
	ASSERT_EQ_INT(0, store_outbox_stats_chains(s, names + 2, 1, depths, oldests));
	ASSERT_EQ_INT(3, depths[0]); /* local alone */
	ASSERT_EQ_INT(0, store_outbox_stats(s, NULL, &depth, &oldest));
	ASSERT_EQ_INT(10, depth);

	/* chain state: round trip, per chain, and versioned */
	store_chain_state st, st_got;
	ASSERT_EQ_INT(PW_ENOTFOUND, store_get_state(s, "local", &st_got));
	memset(&st, 0, sizeof(st));
	st.head = 123456789;
	st.head_time = 1700000012;
	st.finalized = -1;
	snprintf(st.endpoint, sizeof(st.endpoint), "ws://127.0.0.1:8545/");
	st.reorgs = 2;
	st.last_reorg_depth = 3;
	st.last_reorg_ms = 1700000000123;
	st.updated_ms = 1700000000456;
	st.checkpoint = 123456700;
	st.checkpoint_time = 1700000001;
	ASSERT_EQ_INT(0, store_put_state(s, "local", &st));
	ASSERT_EQ_INT(0, store_get_state(s, "local", &st_got));
	CHECK(memcmp(&st, &st_got, sizeof(st)) == 0);
	ASSERT_EQ_INT(PW_ENOTFOUND, store_get_state(s, "other", &st_got));

	/* a read-only instance opened while the writer has the DB open (what
	 * `paywatch status` does beside `paywatch run`) sees the committed data */
	store *ro = NULL;
	ASSERT_EQ_INT(0, store_open(dir, true, &ro, err, sizeof(err)));
	ASSERT_EQ_INT(0, store_get_checkpoint(ro, "local", &ckpt));
	ASSERT_EQ_INT(42, ckpt);
	ASSERT_EQ_INT(0, store_get_state(ro, "local", &st_got));
	ASSERT_EQ_INT(123456789, st_got.head);
	store_close(ro);
	store_close(s);

	/* read-only open works beside nothing else and sees the data */
	ASSERT_EQ_INT(0, store_open(dir, true, &s, err, sizeof(err)));
	ASSERT_EQ_INT(0, store_get_checkpoint(s, "local", &ckpt));
	ASSERT_EQ_INT(42, ckpt);
	store_close(s);
	ASSERT_EQ_INT(PW_ESTORE, store_open("/proc/nonexistent/x", false, &s, err, sizeof(err)));
	CHECK(strstr(err, "cannot open RocksDB") != NULL);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return test_finish("test_store");
}
