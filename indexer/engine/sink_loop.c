/* sink_loop.c: outbox -> Postgres, through SINK_WRITERS writer threads,
 * each with its own connection, taking batches from an outbox_queue (which
 * keeps them apart and in the order that matters; see outbox_queue.h).
 * Two writers keep two Postgres backends busy during a backfill. Writer 0
 * mirrors the merchants and webhook endpoints at each connect; the queue
 * opens once that is done. */
#include "sink_loop.h"
#include "log.h"
#include "metrics.h"
#include "mirror.h"
#include "outbox_queue.h"
#include "postgres.h"
#include "clock.h"
#include "pw_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SINK_BATCH 5000
#define SINK_WRITERS 2
#define SINK_BACKOFF_MAX_MS 10000 /* Postgres back: noticed within 10 s */

typedef struct writer {
	struct sink_loop *sl;
	int index;
	pthread_t thread;
	bool started;
	pg_sink *pg;
	bool rows_warm; /* pg_sink_warm_up_rows ran on this connection */
	pw_payment *batch;
	uint64_t *seqs;
} writer;

struct sink_loop {
	const pw_config *cfg;
	store *st;
	atomic_bool *stop;
	atomic_bool quit;  /* start failed: the writers already started end */
	atomic_int seeded; /* 0: not tried yet; 1: the config seeded the registry; -1: the first try failed */
	outbox_queue *q;
	writer w[SINK_WRITERS];
};

static bool stopping(sink_loop *sl)
{
	return atomic_load(sl->stop) || atomic_load(&sl->quit);
}

void sink_loop_notify(void *arg)
{
	sink_loop *sl = arg;
	outbox_queue_wake(sl->q);
}

/* One warm-up step on w's connection (pg_sink_warm_up or
 * pg_sink_warm_up_rows), its time logged ("writer N <done> in M ms",
 * debug; <idle> instead when the step returned 0 and idle is given: it
 * found nothing to warm); a failure only leaves the backend cold for the
 * write named by first ("writer N: <what> failed (<first> runs cold)",
 * warn). */
static void warm_up(writer *w, int (*step)(pg_sink *), const char *done, const char *idle, const char *what,
		    const char *first)
{
	int64_t t0 = pw_mono_ms();
	int r = step(w->pg);
	if (r < 0)
		log_warn("postgres: writer %d: %s failed (%s runs cold): %s", w->index + 1, what, first,
			 pg_sink_error(w->pg));
	else
		log_debug("postgres: writer %d %s in %lld ms", w->index + 1, r == 0 && idle ? idle : done,
			  (long long)(pw_mono_ms() - t0));
}

/* Connect, check the schema; writer 0 mirrors the merchants. */
static int sink_connect(writer *w)
{
	sink_loop *sl = w->sl;
	char err[512];
	int r = pg_sink_connect_migrated(sl->cfg->pg_dsn, &w->pg, err, sizeof(err));
	if (r < 0) {
		if (w->index == 0) {
			if (r == PW_ESCHEMA)
				log_error(PW_EDB, "postgres: %s", err);
			else
				log_warn("postgres: cannot connect: %s", err);
			int untried = 0;
			atomic_compare_exchange_strong(&sl->seeded, &untried, -1);
		}
		return r;
	}
	if (w->index == 0) {
		if ((r = merchants_mirror(w->pg, sl->cfg)) < 0) {
			log_warn("postgres: cannot mirror merchants: %s", pg_sink_error(w->pg));
			pg_sink_close(w->pg);
			w->pg = NULL;
			int untried = 0;
			atomic_compare_exchange_strong(&sl->seeded, &untried, -1);
			return r;
		}
		atomic_store(&sl->seeded, 1);
		outbox_queue_open(sl->q);
		log_info("postgres: connected; merchants mirrored");
	} else {
		log_debug("postgres: writer %d connected", w->index + 1);
	}
	/* the first batch then finds the backend's caches warm (a live
	 * payment's latency) */
	w->rows_warm = false;
	warm_up(w, pg_sink_warm_up, "warmed up", NULL, "warm-up", "its first batch");
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
		int r = outbox_queue_take(sl->q, w->batch, w->seqs, SINK_BATCH, &n, &exclusive);
		if (r < 0) {
			char why[512];
			store_error(sl->st, why, sizeof(why));
			return log_error(r, "outbox: cannot read: %s", why);
		}
		if (n == 0)
			return 0;
		pg_write_result res;
		r = pg_sink_write_payments(w->pg, w->batch, n, &res);
		bool written = r == 0;
		if (written)
			r = store_outbox_delete(sl->st, w->seqs, n);
		outbox_queue_done(sl->q, exclusive, r == 0);
		if (!written) {
			log_warn("postgres: write of %zu payments failed: %s", n, pg_sink_error(w->pg));
			return r;
		}
		static const char *const results[4] = { "inserted", "present", "reverted", "quarantined" };
		const size_t counts[4] = { res.inserted, res.present, res.reverted, res.quarantined };
		for (int k = 0; k < 4; k++) {
			char labels[40];
			metrics_labels(labels, sizeof(labels), "result", results[k], NULL);
			metrics_add("paywatch_postgres_rows_written_total", labels, (double)counts[k]);
		}
		if (res.quarantined)
			log_emit(
				LOG_LEVEL_ERROR, NULL, -1,
				"postgres: %zu outbox entr%s refused and kept in the quarantine, the other %zu written "
				"(`paywatch quarantine list` shows them, `paywatch quarantine retry` writes them again): %s",
				res.quarantined, res.quarantined == 1 ? "y" : "ies", n - res.quarantined,
				pg_sink_error(w->pg));
		if (r < 0) {
			char why[512];
			store_error(sl->st, why, sizeof(why));
			return log_error(r, "outbox: cannot delete delivered entries: %s", why);
		}
		const char *way = res.copied ? "copy" : res.one_statement ? "one statement" : "upsert";
		log_emit(
			LOG_LEVEL_INFO, w->batch[n - 1].chain, (long long)w->batch[n - 1].block_number,
			"postgres: %zu outbox entries written by %s (%zu new, %zu already present, %zu reverted, "
			"%zu seen, %zu dropped, %zu pending events, %zu dropped events, %zu webhook deliveries queued)",
			n, way, res.inserted, res.present, res.reverted, res.pending_rows, res.dropped_rows,
			res.pending_events, res.dropped_events, res.deliveries);
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

/* After a failure: wait out the whole backoff. New outbox entries (the
 * ingest notifies on every commit) do not cut it short, only a stop does:
 * a writer retrying on every notify reconnected ~13 times a second. */
static void pause_after_failure(sink_loop *sl, int ms)
{
	int64_t end = pw_mono_ms() + ms;
	while (!stopping(sl)) {
		int64_t left = end - pw_mono_ms();
		if (left <= 0)
			break;
		outbox_queue_wait(sl->q, true, outbox_queue_wakes(sl->q, true), (int)left, sl->stop);
	}
}

static void *writer_thread(void *arg)
{
	writer *w = arg;
	sink_loop *sl = w->sl;
	int backoff_ms = 500;
	while (!stopping(sl)) {
		uint64_t seen = outbox_queue_wakes(sl->q, false);
		if (!w->pg && sink_connect(w) < 0) {
			if (w->index == 0)
				log_outbox(sl);
			pause_after_failure(sl, backoff_ms);
			backoff_ms = backoff_ms * 2 > SINK_BACKOFF_MAX_MS ? SINK_BACKOFF_MAX_MS : backoff_ms * 2;
			continue;
		}
		if (drain(w) < 0) {
			pg_sink_close(w->pg); /* a fresh connection next time */
			w->pg = NULL;
			if (w->index == 0)
				log_outbox(sl);
			pause_after_failure(sl, backoff_ms);
			backoff_ms = backoff_ms * 2 > SINK_BACKOFF_MAX_MS ? SINK_BACKOFF_MAX_MS : backoff_ms * 2;
			continue;
		}
		backoff_ms = 500;
		/* once per connection, the first time it finds nothing to take
		 * (caught up, or another writer's batch of pending or reverted
		 * entries running alone) once the registry's merchants are there:
		 * the row paths of the live statements, warmed up before a live
		 * payment; a backfill's batches are never kept waiting */
		if (!w->rows_warm && atomic_load(&sl->seeded) != 0) {
			w->rows_warm = true;
			warm_up(w, pg_sink_warm_up_rows, "warmed its row paths up (a payment settling an invoice)",
				"found no merchant to warm its row paths up with", "row warm-up",
				"its first live payment");
		}
		outbox_queue_wait(sl->q, false, seen, 1000, sl->stop);
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
	if (outbox_queue_create(st, &sl->q) < 0) {
		free(sl);
		return PW_ENOMEM;
	}
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
	outbox_queue_destroy(sl->q);
	free(sl);
	return depth;
}

bool sink_loop_wait_seeded(sink_loop *sl, int timeout_ms)
{
	int64_t until = pw_mono_ms() + timeout_ms;
	while (atomic_load(&sl->seeded) == 0 && pw_mono_ms() < until && !stopping(sl)) {
		struct timespec t = { 0, 10 * 1000000L };
		nanosleep(&t, NULL);
	}
	return atomic_load(&sl->seeded) == 1;
}
