/* test_outbox_queue.c: how outbox batches are handed out to the sink
 * writers, on a real RocksDB store: nothing before open; no entry handed
 * out twice while in flight; a batch is a run of one status; a batch of
 * reverted entries waits for the batches before it and runs alone; a failed batch is handed out again from
 * the outbox head, and an exclusive batch waiting behind it is given back.
 * A take that should block is waited for until the queue counts it
 * waiting (outbox_queue_waiting), not for a fixed time. */
#include "outbox_queue.h"
#include "pw_error.h"
#include "test.h"
#include "test_payments.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static void put(store *s, uint64_t block, uint32_t log_index, uint8_t status)
{
	store_batch *b = store_batch_create(s);
	pw_payment p = test_make_payment(block, log_index);
	p.status = status;
	store_batch_put_outbox(b, &p);
	if (store_batch_commit(b) < 0)
		abort();
	store_batch_destroy(b);
}

/* a writer taking a batch on its own thread */
typedef struct taker {
	outbox_queue *q;
	pw_payment batch[3];
	uint64_t seqs[3];
	size_t n;
	bool exclusive;
	int r;
	atomic_bool returned;
	pthread_t thread;
} taker;

static void *take_thread(void *arg)
{
	taker *t = arg;
	t->r = outbox_queue_take(t->q, t->batch, t->seqs, 3, &t->n, &t->exclusive);
	atomic_store(&t->returned, true);
	return NULL;
}

/* Wait (up to 10 s) until a take is blocked in the queue, waiting for
 * the batches before its exclusive one: true when it is. */
static bool blocked(outbox_queue *q)
{
	for (int i = 0; i < 10000 && !outbox_queue_waiting(q); i++)
		usleep(1000);
	return outbox_queue_waiting(q) == 1;
}

static void start_taker(taker *t, outbox_queue *q)
{
	memset(t, 0, sizeof(*t));
	t->q = q;
	if (pthread_create(&t->thread, NULL, take_thread, t) != 0)
		abort();
}

int main(void)
{
	char dir[] = "/tmp/pw-test-oq-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char err[512];
	store *s = NULL;
	ASSERT_EQ_INT(0, store_open(dir, false, &s, err, sizeof(err)));
	/* seqs 1-3 confirmed, 4 reverted, 5-6 confirmed */
	put(s, 10, 0, PW_STATUS_CONFIRMED);
	put(s, 10, 1, PW_STATUS_CONFIRMED);
	put(s, 11, 0, PW_STATUS_CONFIRMED);
	put(s, 10, 1, PW_STATUS_REVERTED);
	put(s, 12, 0, PW_STATUS_CONFIRMED);
	put(s, 12, 1, PW_STATUS_CONFIRMED);

	outbox_queue *q = NULL;
	ASSERT_EQ_INT(0, outbox_queue_create(s, &q));
	pw_payment a[3], c[3];
	uint64_t aseq[3], cseq[3];
	size_t n = 9;
	bool excl = true;

	/* closed until the merchants are mirrored */
	ASSERT_EQ_INT(0, outbox_queue_take(q, a, aseq, 3, &n, &excl));
	ASSERT_EQ_INT(0, n);
	uint64_t w0 = outbox_queue_wakes(q, true);
	outbox_queue_open(q);
	CHECK(outbox_queue_wakes(q, true) != w0);

	/* writer A: seqs 1-3, confirmed only */
	ASSERT_EQ_INT(0, outbox_queue_take(q, a, aseq, 3, &n, &excl));
	ASSERT_EQ_INT(3, n);
	CHECK(!excl);
	ASSERT_EQ_INT(1, aseq[0]);
	ASSERT_EQ_INT(3, aseq[2]);

	/* writer B: seq 4 is a revert: a batch of its own, and it waits for A */
	taker b;
	start_taker(&b, q);
	CHECK(blocked(q));
	CHECK(!atomic_load(&b.returned));
	/* writer C gets nothing while the exclusive batch is handed out */
	ASSERT_EQ_INT(0, outbox_queue_take(q, c, cseq, 3, &n, &excl));
	ASSERT_EQ_INT(0, n);
	/* A committed and deleted its entries: B goes on */
	ASSERT_EQ_INT(0, store_outbox_delete(s, aseq, 3));
	outbox_queue_done(q, false, true);
	pthread_join(b.thread, NULL);
	ASSERT_EQ_INT(0, b.r);
	ASSERT_EQ_INT(1, b.n); /* the revert alone, not the confirmed 5-6 after it */
	CHECK(b.exclusive);
	ASSERT_EQ_INT(4, b.seqs[0]);
	ASSERT_EQ_INT(PW_STATUS_REVERTED, b.batch[0].status);

	/* B failed: its entry is handed out again, from the outbox head */
	outbox_queue_done(q, true, false);
	ASSERT_EQ_INT(0, outbox_queue_take(q, c, cseq, 3, &n, &excl));
	ASSERT_EQ_INT(1, n);
	CHECK(excl);
	ASSERT_EQ_INT(4, cseq[0]);
	ASSERT_EQ_INT(0, store_outbox_delete(s, cseq, 1));
	outbox_queue_done(q, true, true);
	/* then the confirmed run after it */
	ASSERT_EQ_INT(0, outbox_queue_take(q, c, cseq, 3, &n, &excl));
	ASSERT_EQ_INT(2, n);
	CHECK(!excl);
	ASSERT_EQ_INT(5, cseq[0]);
	ASSERT_EQ_INT(0, store_outbox_delete(s, cseq, 2));
	outbox_queue_done(q, false, true);
	ASSERT_EQ_INT(0, outbox_queue_take(q, c, cseq, 3, &n, &excl));
	ASSERT_EQ_INT(0, n); /* empty */

	/* an exclusive batch waiting behind a batch that fails is given back,
	 * and the failed batch comes first again */
	put(s, 20, 0, PW_STATUS_CONFIRMED); /* seq 7 */
	ASSERT_EQ_INT(0, outbox_queue_take(q, a, aseq, 1, &n, &excl));
	ASSERT_EQ_INT(1, n);
	ASSERT_EQ_INT(7, aseq[0]);
	put(s, 20, 0, PW_STATUS_REVERTED); /* seq 8 */
	start_taker(&b, q);
	CHECK(blocked(q));
	CHECK(!atomic_load(&b.returned));
	outbox_queue_done(q, false, false);
	pthread_join(b.thread, NULL);
	ASSERT_EQ_INT(0, b.r);
	ASSERT_EQ_INT(0, b.n);
	ASSERT_EQ_INT(0, outbox_queue_take(q, a, aseq, 3, &n, &excl));
	ASSERT_EQ_INT(1, n); /* the confirmation first, alone */
	ASSERT_EQ_INT(7, aseq[0]);
	CHECK(!excl);
	ASSERT_EQ_INT(0, store_outbox_delete(s, aseq, 1));
	outbox_queue_done(q, false, true);
	ASSERT_EQ_INT(0, outbox_queue_take(q, a, aseq, 3, &n, &excl));
	ASSERT_EQ_INT(1, n); /* then its revert */
	ASSERT_EQ_INT(8, aseq[0]);
	CHECK(excl);
	outbox_queue_done(q, true, true);

	outbox_queue_destroy(q);
	store_close(s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return test_finish("test_outbox_queue");
}
