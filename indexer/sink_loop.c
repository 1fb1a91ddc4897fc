/* sink_loop.c: outbox -> Postgres, through SINK_WRITERS writer threads.
 *
 * Each writer owns a connection and takes the next batch of the outbox
 * (from a shared cursor, so no two writers hold the same entries); batches
 * of confirmed payments are independent rows and commit in any order, so
 * two writers keep two Postgres backends busy during a backfill. A batch
 * holding a reverted or pending entry is written alone: it waits for the
 * batches taken before it, and no batch is taken while it is in flight, so
 * a revert never overtakes the confirmation it reverses. A failed batch
 * stops the handing out; once no batch is in flight the cursor goes back to
 * the outbox head, so every entry not deleted is taken again (idempotent).
 * Writer 0 mirrors the merchants and webhook endpoints at each connect; the
 * others take no batch before that is done once (an event needs its
 * endpoint). */
#include "sink_loop.h"
#include "log.h"
#include "migrate.h"
#include "postgres.h"
#include "clock.h"
#include "pw_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SINK_BATCH 5000
#define SINK_WRITERS 2

typedef struct writer {
	struct sink_loop *sl;
	int index;
	pthread_t thread;
	bool started;
	pg_sink *pg;
	pw_payment *batch;
	uint64_t *seqs;
} writer;

struct sink_loop {
	const pw_config *cfg;
	store *st;
	atomic_bool *stop;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* new entries, a batch finished, stop */
	uint64_t wakes;      /* bumped by each of those */
	uint64_t cursor;     /* the first sequence number not handed out */
	size_t in_flight;    /* batches handed out and not finished */
	bool exclusive;      /* the batch in flight must be alone */
	bool rewind;         /* a batch failed: back to the outbox head */
	bool mirrored;       /* writer 0 mirrored the merchants once */
	atomic_bool quit;    /* start failed: the writers already started end */
	writer w[SINK_WRITERS];
};

static bool stopping(sink_loop *sl)
{
	return atomic_load(sl->stop) || atomic_load(&sl->quit);
}

static void wake_all_locked(sink_loop *sl)
{
	sl->wakes++;
	pthread_cond_broadcast(&sl->cond);
}

void sink_loop_notify(void *arg)
{
	sink_loop *sl = arg;
	pthread_mutex_lock(&sl->lock);
	wake_all_locked(sl);
	pthread_mutex_unlock(&sl->lock);
}

/* Wait up to ms for a wake (or stop). Called with the lock held; seen is
 * the wake count the caller last acted on. */
static void wait_wake_locked(sink_loop *sl, uint64_t seen, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (sl->wakes == seen && !stopping(sl))
		if (pthread_cond_timedwait(&sl->cond, &sl->lock, &ts) != 0)
			break;
}

static void wait_wake(sink_loop *sl, uint64_t seen, int ms)
{
	pthread_mutex_lock(&sl->lock);
	wait_wake_locked(sl, seen, ms);
	pthread_mutex_unlock(&sl->lock);
}

static uint64_t wakes_now(sink_loop *sl)
{
	pthread_mutex_lock(&sl->lock);
	uint64_t n = sl->wakes;
	pthread_mutex_unlock(&sl->lock);
	return n;
}

/* Connect, check the schema; writer 0 mirrors the merchants. */
static int sink_connect(writer *w)
{
	sink_loop *sl = w->sl;
	char err[512];
	int r = pg_sink_connect(sl->cfg->pg_dsn, &w->pg, err, sizeof(err));
	if (r < 0) {
		if (w->index == 0)
			log_warn("postgres: cannot connect: %s", err);
		return r;
	}
	size_t missing = 0;
	if ((r = pg_sink_count_missing_migrations(w->pg, schema_migrations, &missing)) < 0 || missing) {
		if (w->index == 0 && r == 0)
			log_error(PW_EDB, "postgres: %zu schema migration(s) not applied: run `paywatch migrate -c FILE` first",
				  missing);
		else if (w->index == 0)
			log_warn("postgres: %s", pg_sink_error(w->pg));
		pg_sink_close(w->pg);
		w->pg = NULL;
		return PW_EDB;
	}
	if (w->index == 0) {
		if ((r = migrate_sync_merchants(w->pg, sl->cfg)) < 0) {
			log_warn("postgres: cannot mirror merchants: %s", pg_sink_error(w->pg));
			pg_sink_close(w->pg);
			w->pg = NULL;
			return r;
		}
		pthread_mutex_lock(&sl->lock);
		sl->mirrored = true;
		wake_all_locked(sl);
		pthread_mutex_unlock(&sl->lock);
		log_info("postgres: connected; merchants mirrored");
	} else {
		log_debug("postgres: writer %d connected", w->index + 1);
	}
	return 0;
}

/* Hand out the next batch to w (n = 0: none now). Under the lock. A batch
 * with a reverted or pending entry waits here for the batches before it. */
static int take_locked(writer *w, size_t *ret_n, bool *ret_exclusive)
{
	sink_loop *sl = w->sl;
	*ret_n = 0;
	if (!sl->mirrored || sl->exclusive)
		return 0;
	if (sl->rewind) {
		if (sl->in_flight)
			return 0;
		sl->cursor = 0;
		sl->rewind = false;
	}
	size_t n = 0;
	int r = store_outbox_read_from(sl->st, sl->cursor, w->batch, w->seqs, SINK_BATCH, &n);
	if (r < 0 || n == 0)
		return r;
	bool exclusive = false;
	for (size_t i = 0; i < n && !exclusive; i++)
		exclusive = w->batch[i].status != PW_STATUS_CONFIRMED;
	sl->cursor = w->seqs[n - 1] + 1;
	sl->in_flight++;
	if (exclusive) {
		sl->exclusive = true;
		while (sl->in_flight > 1)
			pthread_cond_wait(&sl->cond, &sl->lock);
		if (sl->rewind) { /* a batch before it failed: it goes again first */
			sl->in_flight--;
			sl->exclusive = false;
			wake_all_locked(sl);
			return 0;
		}
	}
	*ret_n = n;
	*ret_exclusive = exclusive;
	return 0;
}

/* Write batches until none is left to take. 0, or < 0 when a batch failed
 * (its entries stay in the outbox and are taken again). */
static int drain(writer *w)
{
	sink_loop *sl = w->sl;
	for (;;) {
		size_t n = 0;
		bool exclusive = false;
		pthread_mutex_lock(&sl->lock);
		int r = take_locked(w, &n, &exclusive);
		pthread_mutex_unlock(&sl->lock);
		if (r < 0)
			return log_error(r, "outbox: cannot read");
		if (n == 0)
			return 0;
		pg_write_result res;
		const char *failed = NULL;
		if ((r = pg_sink_write_payments(w->pg, w->batch, n, &res)) < 0)
			failed = "postgres";
		else if ((r = store_outbox_delete(sl->st, w->seqs, n)) < 0)
			failed = "outbox";
		pthread_mutex_lock(&sl->lock);
		sl->in_flight--;
		if (exclusive)
			sl->exclusive = false;
		if (r < 0)
			sl->rewind = true;
		wake_all_locked(sl);
		pthread_mutex_unlock(&sl->lock);
		if (failed && failed[0] == 'p') {
			log_warn("postgres: write of %zu payments failed: %s", n, pg_sink_error(w->pg));
			return r;
		}
		if (failed)
			return log_error(r, "outbox: cannot delete delivered entries");
		log_emit(LOG_LEVEL_INFO, w->batch[n - 1].chain, (long long)w->batch[n - 1].block_number,
			 "postgres: %zu outbox entries written by %s (%zu new, %zu already present, %zu reverted, "
			 "%zu pending events, %zu webhook deliveries queued)",
			 n, res.copied ? "copy" : "upsert", res.inserted, res.present, res.reverted, res.pending_events,
			 res.deliveries);
	}
}

static void log_outbox(sink_loop *sl)
{
	uint64_t depth = 0;
	int64_t oldest_ms = 0;
	store_outbox_stats(sl->st, NULL, &depth, &oldest_ms);
	if (depth) {
		int64_t age = pw_wall_ms() - oldest_ms;
		log_warn("outbox: %llu payment(s) waiting for Postgres, oldest confirmed %lld s ago",
			 (unsigned long long)depth, (long long)(age / 1000));
	}
}

static void *writer_thread(void *arg)
{
	writer *w = arg;
	sink_loop *sl = w->sl;
	int backoff_ms = 500;
	while (!stopping(sl)) {
		uint64_t seen = wakes_now(sl);
		if (!w->pg && sink_connect(w) < 0) {
			if (w->index == 0)
				log_outbox(sl);
			wait_wake(sl, seen, backoff_ms);
			backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
			continue;
		}
		if (drain(w) < 0) {
			pg_sink_close(w->pg); /* a fresh connection next time */
			w->pg = NULL;
			if (w->index == 0)
				log_outbox(sl);
			wait_wake(sl, seen, backoff_ms);
			backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
			continue;
		}
		backoff_ms = 500;
		wait_wake(sl, seen, 1000);
	}
	/* shutdown: one last drain of what the ingest threads committed */
	if (!atomic_load(&sl->quit) && (w->pg || sink_connect(w) == 0))
		drain(w);
	return NULL;
}

int sink_loop_start(const pw_config *cfg, store *st, atomic_bool *stop, sink_loop **ret)
{
	sink_loop *sl = calloc(1, sizeof(*sl));
	if (!sl)
		return PW_ENOMEM;
	sl->cfg = cfg;
	sl->st = st;
	sl->stop = stop;
	pthread_mutex_init(&sl->lock, NULL);
	pthread_cond_init(&sl->cond, NULL);
	for (int i = 0; i < SINK_WRITERS; i++) {
		writer *w = &sl->w[i];
		w->sl = sl;
		w->index = i;
		w->batch = malloc(SINK_BATCH * sizeof(pw_payment));
		w->seqs = malloc(SINK_BATCH * sizeof(uint64_t));
		if (!w->batch || !w->seqs || pthread_create(&w->thread, NULL, writer_thread, w) != 0) {
			atomic_store(&sl->quit, true);
			sink_loop_join(sl); /* ends and frees the writers already started */
			return PW_ENOMEM;
		}
		w->started = true;
	}
	*ret = sl;
	return 0;
}

uint64_t sink_loop_join(sink_loop *sl)
{
	sink_loop_notify(sl);
	for (int i = 0; i < SINK_WRITERS; i++)
		if (sl->w[i].started)
			pthread_join(sl->w[i].thread, NULL);
	uint64_t depth = 0;
	int64_t oldest = 0;
	store_outbox_stats(sl->st, NULL, &depth, &oldest);
	for (int i = 0; i < SINK_WRITERS; i++) {
		pg_sink_close(sl->w[i].pg);
		free(sl->w[i].batch);
		free(sl->w[i].seqs);
	}
	pthread_mutex_destroy(&sl->lock);
	pthread_cond_destroy(&sl->cond);
	free(sl);
	return depth;
}
