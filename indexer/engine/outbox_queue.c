/* outbox_queue.c: see outbox_queue.h. One mutex guards the cursor and the
 * counts; the outbox read happens under it (a RocksDB iterator over at most
 * one batch), which keeps "read from the cursor, move the cursor" atomic. */
#include "outbox_queue.h"
#include "clock.h"
#include "pw_error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct outbox_queue {
	store *st;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a wake, a batch done */
	uint64_t wakes;      /* every wake: new entries, open, a batch done */
	uint64_t notifies;   /* new entries and open only */
	uint64_t cursor;     /* the first sequence number not handed out */
	size_t in_flight;    /* batches handed out and not done */
	size_t waiting;      /* takes of an exclusive batch waiting for the batches before it */
	bool exclusive;      /* an exclusive batch is handed out */
	bool rewind;         /* a batch failed: back to the outbox head when none is in flight */
	bool open;
};

int outbox_queue_create(store *st, outbox_queue **ret)
{
	outbox_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return PW_ENOMEM;
	q->st = st;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	*ret = q;
	return 0;
}

void outbox_queue_destroy(outbox_queue *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q);
}

static void wake_locked(outbox_queue *q)
{
	q->wakes++;
	pthread_cond_broadcast(&q->cond);
}

void outbox_queue_wake(outbox_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->notifies++;
	wake_locked(q);
	pthread_mutex_unlock(&q->lock);
}

void outbox_queue_open(outbox_queue *q)
{
	pthread_mutex_lock(&q->lock);
	if (!q->open) { /* a writer reconnecting to an open queue wakes nobody */
		q->open = true;
		q->notifies++;
		wake_locked(q);
	}
	pthread_mutex_unlock(&q->lock);
}

uint64_t outbox_queue_wakes(outbox_queue *q, bool notifies_only)
{
	pthread_mutex_lock(&q->lock);
	uint64_t n = notifies_only ? q->notifies : q->wakes;
	pthread_mutex_unlock(&q->lock);
	return n;
}

size_t outbox_queue_waiting(outbox_queue *q)
{
	pthread_mutex_lock(&q->lock);
	size_t n = q->waiting;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void outbox_queue_wait(outbox_queue *q, bool notifies_only, uint64_t seen, int ms, const _Atomic bool *stop)
{
	struct timespec ts = pw_deadline(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&q->lock);
	const uint64_t *counter = notifies_only ? &q->notifies : &q->wakes;
	while (*counter == seen && !(stop && atomic_load(stop)))
		if (pthread_cond_timedwait(&q->cond, &q->lock, &ts) != 0)
			break;
	pthread_mutex_unlock(&q->lock);
}

int outbox_queue_take(outbox_queue *q, pw_payment *payments, uint64_t *seqs, size_t max, size_t *ret_n,
		      bool *ret_exclusive)
{
	*ret_n = 0;
	*ret_exclusive = false;
	pthread_mutex_lock(&q->lock);
	if (!q->open || q->exclusive || (q->rewind && q->in_flight)) {
		pthread_mutex_unlock(&q->lock);
		return 0;
	}
	if (q->rewind) {
		q->cursor = 0;
		q->rewind = false;
	}
	size_t n = 0;
	int r = store_outbox_read(q->st, q->cursor, payments, seqs, max, &n);
	if (r < 0 || n == 0) {
		pthread_mutex_unlock(&q->lock);
		return r;
	}
	/* a batch is one run of the same status: the writer applies a batch's
	 * statuses one statement each, so a revert and a later confirmation of
	 * the same payment must not share one */
	for (size_t i = 1; i < n; i++)
		if (payments[i].status != payments[0].status) {
			n = i;
			break;
		}
	bool exclusive = payments[0].status != PW_STATUS_CONFIRMED;
	q->cursor = seqs[n - 1] + 1;
	q->in_flight++;
	if (exclusive) {
		q->exclusive = true;
		q->waiting++;
		while (q->in_flight > 1)
			pthread_cond_wait(&q->cond, &q->lock);
		q->waiting--;
		if (q->rewind) { /* a batch before it failed: that one goes again first */
			q->in_flight--;
			q->exclusive = false;
			wake_locked(q);
			pthread_mutex_unlock(&q->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&q->lock);
	*ret_n = n;
	*ret_exclusive = exclusive;
	return 0;
}

void outbox_queue_done(outbox_queue *q, bool exclusive, bool ok)
{
	pthread_mutex_lock(&q->lock);
	q->in_flight--;
	if (exclusive)
		q->exclusive = false;
	if (!ok)
		q->rewind = true;
	wake_locked(q);
	pthread_mutex_unlock(&q->lock);
}
