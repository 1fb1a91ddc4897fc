/* sink_loop.c: outbox -> Postgres. */
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

struct sink_loop {
	const pw_config *cfg;
	store *st;
	atomic_bool *stop;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool notified;
	pg_sink *pg;
	pw_payment *batch;
	uint64_t *seqs;
};

void sink_loop_notify(void *arg)
{
	sink_loop *sl = arg;
	pthread_mutex_lock(&sl->lock);
	sl->notified = true;
	pthread_cond_signal(&sl->cond);
	pthread_mutex_unlock(&sl->lock);
}

static void wait_notified(sink_loop *sl, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sl->lock);
	while (!sl->notified && !atomic_load(sl->stop))
		if (pthread_cond_timedwait(&sl->cond, &sl->lock, &ts) != 0)
			break;
	sl->notified = false;
	pthread_mutex_unlock(&sl->lock);
}

/* Connect, check the schema, mirror the merchants. */
static int sink_connect(sink_loop *sl)
{
	char err[512];
	int r = pg_sink_connect(sl->cfg->pg_dsn, &sl->pg, err, sizeof(err));
	if (r < 0) {
		log_warn("postgres: cannot connect: %s", err);
		return r;
	}
	size_t missing = 0;
	if ((r = pg_sink_count_missing_migrations(sl->pg, schema_migrations, &missing)) < 0 || missing) {
		if (r == 0)
			log_error(PW_EDB, "postgres: %zu schema migration(s) not applied: run `paywatch migrate -c FILE` first",
				  missing);
		else
			log_warn("postgres: %s", pg_sink_error(sl->pg));
		pg_sink_close(sl->pg);
		sl->pg = NULL;
		return PW_EDB;
	}
	if ((r = migrate_sync_merchants(sl->pg, sl->cfg)) < 0) {
		log_warn("postgres: cannot mirror merchants: %s", pg_sink_error(sl->pg));
		pg_sink_close(sl->pg);
		sl->pg = NULL;
		return r;
	}
	log_info("postgres: connected; merchants mirrored");
	return 0;
}

/* Move outbox entries to Postgres until the outbox is empty. */
static int drain(sink_loop *sl)
{
	for (;;) {
		size_t n = 0;
		pg_write_result res;
		int r = store_outbox_read(sl->st, sl->batch, sl->seqs, SINK_BATCH, &n);
		if (r < 0)
			return log_error(r, "outbox: cannot read");
		if (n == 0)
			return 0;
		if ((r = pg_sink_write_payments(sl->pg, sl->batch, n, &res)) < 0) {
			log_warn("postgres: write of %zu payments failed: %s", n, pg_sink_error(sl->pg));
			return r;
		}
		if ((r = store_outbox_delete(sl->st, sl->seqs, n)) < 0)
			return log_error(r, "outbox: cannot delete delivered entries");
		log_emit(LOG_LEVEL_INFO, sl->batch[n - 1].chain, (long long)sl->batch[n - 1].block_number,
			 "postgres: %zu outbox entries written by %s (%zu new, %zu already present, %zu reverted, "
			 "%zu pending events, %zu webhook deliveries queued)",
			 n, res.copied ? "copy" : "upsert", res.inserted, res.present, res.reverted, res.pending_events, res.deliveries);
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

static void *sink_thread(void *arg)
{
	sink_loop *sl = arg;
	int backoff_ms = 500;
	while (!atomic_load(sl->stop)) {
		if (!sl->pg && sink_connect(sl) < 0) {
			log_outbox(sl);
			wait_notified(sl, backoff_ms);
			backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
			continue;
		}
		if (drain(sl) < 0) {
			pg_sink_close(sl->pg); /* a fresh connection next time */
			sl->pg = NULL;
			log_outbox(sl);
			wait_notified(sl, backoff_ms);
			backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
			continue;
		}
		backoff_ms = 500;
		wait_notified(sl, 1000);
	}
	/* shutdown: one last drain of what the ingest threads committed */
	if (sl->pg || sink_connect(sl) == 0)
		drain(sl);
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
	sl->batch = malloc(SINK_BATCH * sizeof(pw_payment));
	sl->seqs = malloc(SINK_BATCH * sizeof(uint64_t));
	pthread_mutex_init(&sl->lock, NULL);
	pthread_cond_init(&sl->cond, NULL);
	if (!sl->batch || !sl->seqs || pthread_create(&sl->thread, NULL, sink_thread, sl) != 0) {
		free(sl->batch);
		free(sl->seqs);
		free(sl);
		return PW_ENOMEM;
	}
	*ret = sl;
	return 0;
}

uint64_t sink_loop_join(sink_loop *sl)
{
	sink_loop_notify(sl);
	pthread_join(sl->thread, NULL);
	uint64_t depth = 0;
	int64_t oldest = 0;
	store_outbox_stats(sl->st, NULL, &depth, &oldest);
	pg_sink_close(sl->pg);
	pthread_mutex_destroy(&sl->lock);
	pthread_cond_destroy(&sl->cond);
	free(sl->batch);
	free(sl->seqs);
	free(sl);
	return depth;
}
