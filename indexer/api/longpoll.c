/* longpoll.c: parked /v1/events requests (longpoll.h). */
#include "longpoll.h"
#include "clock.h"
#include "log.h"
#include "pw_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEAD_POLL_MS 250

typedef struct parked {
	struct MHD_Connection *conn;
	api_feed_cursor after;
	int64_t deadline_ms;
} parked;

/* The events read for the parked requests at one wake-up: at most this
 * many (a request the batch cannot answer queries the database). */
#define BATCH_MAX 1000

struct api_longpoll {
	api_feed_watch *watch;
	api_feed_batch *batch; /* the last wake-up's events, under lock */
	pthread_t thread;
	pthread_mutex_t lock;
	bool stopping;
	api_feed_cursor head; /* the last head read, under lock */
	parked *list;         /* under lock */
	size_t n, cap;
};

/* Resume (and forget) every parked connection that the head has passed,
 * that is due, or all of them; under lock. */
static void resume_due(api_longpoll *lp, bool all)
{
	int64_t now = pw_mono_ms();
	size_t kept = 0;
	for (size_t i = 0; i < lp->n; i++) {
		parked *p = &lp->list[i];
		if (all || now >= p->deadline_ms || api_feed_cursor_less(&p->after, &lp->head))
			MHD_resume_connection(p->conn);
		else
			lp->list[kept++] = *p;
	}
	lp->n = kept;
}

static void *watch_main(void *arg)
{
	api_longpoll *lp = arg;
	char err[512];
	bool failing = false;
	for (;;) {
		pthread_mutex_lock(&lp->lock);
		bool stopping = lp->stopping, waiting = lp->n > 0;
		pthread_mutex_unlock(&lp->lock);
		if (stopping)
			break;
		bool notified = false;
		api_feed_cursor head = { 0, 0 };
		int r = api_feed_watch_wait(lp->watch, HEAD_POLL_MS, &notified, err, sizeof(err));
		if (r == 0 && (notified || waiting))
			r = api_feed_watch_head(lp->watch, &head, err, sizeof(err));
		if (r < 0 && !failing)
			log_emit(LOG_LEVEL_WARN, "api", -1,
				 "event feed watch: %s (long-polls answer at their deadline)", err);
		failing = r < 0;
		pthread_mutex_lock(&lp->lock);
		bool moved = r == 0 && (notified || waiting) && api_feed_cursor_less(&lp->head, &head);
		api_feed_cursor from = head;
		for (size_t i = 0; moved && i < lp->n; i++)
			if (api_feed_cursor_less(&lp->list[i].after, &from))
				from = lp->list[i].after;
		pthread_mutex_unlock(&lp->lock);
		/* one read of the new events for every parked request it wakes */
		api_feed_batch *batch = NULL;
		if (moved && api_feed_cursor_less(&from, &head) &&
		    api_feed_watch_fetch(lp->watch, &from, BATCH_MAX, &batch, err, sizeof(err)) < 0)
			batch = NULL; /* the requests ask the database themselves */
		pthread_mutex_lock(&lp->lock);
		if (moved) {
			lp->head = head;
			api_feed_batch_free(lp->batch);
			lp->batch = batch;
		}
		resume_due(lp, false);
		pthread_mutex_unlock(&lp->lock);
		if (r < 0)
			nanosleep(&(struct timespec){ .tv_nsec = HEAD_POLL_MS * 1000000L }, NULL);
	}
	return NULL;
}

int api_longpoll_start(const char *dsn, api_longpoll **ret)
{
	api_longpoll *lp = calloc(1, sizeof(*lp));
	if (!lp || api_feed_watch_create(dsn, &lp->watch) < 0) {
		free(lp);
		return PW_ENOMEM;
	}
	pthread_mutex_init(&lp->lock, NULL);
	if (pthread_create(&lp->thread, NULL, watch_main, lp) != 0) {
		api_feed_watch_destroy(lp->watch);
		pthread_mutex_destroy(&lp->lock);
		free(lp);
		return PW_EIO;
	}
	*ret = lp;
	return 0;
}

bool api_longpoll_park(api_longpoll *lp, struct MHD_Connection *conn, const api_feed_cursor *after, int64_t deadline_ms)
{
	pthread_mutex_lock(&lp->lock);
	/* the head read since this request's query may hold its event already */
	bool park = !lp->stopping && !api_feed_cursor_less(after, &lp->head) && pw_mono_ms() < deadline_ms;
	if (park && lp->n == lp->cap) {
		size_t cap = lp->cap ? lp->cap * 2 : 64;
		parked *l = realloc(lp->list, cap * sizeof(*l));
		if (l) {
			lp->list = l;
			lp->cap = cap;
		} else {
			park = false;
		}
	}
	if (park) {
		lp->list[lp->n++] = (parked){ .conn = conn, .after = *after, .deadline_ms = deadline_ms };
		MHD_suspend_connection(conn);
	}
	pthread_mutex_unlock(&lp->lock);
	return park;
}

bool api_longpoll_answer(api_longpoll *lp, const api_event_query *q, char **ret_json, unsigned *ret_count,
			 api_feed_cursor *ret_next)
{
	pthread_mutex_lock(&lp->lock);
	bool ok = api_feed_batch_answer(lp->batch, q, ret_json, ret_count, ret_next);
	pthread_mutex_unlock(&lp->lock);
	return ok;
}

size_t api_longpoll_waiting(api_longpoll *lp)
{
	pthread_mutex_lock(&lp->lock);
	size_t n = lp->n;
	pthread_mutex_unlock(&lp->lock);
	return n;
}

void api_longpoll_stop(api_longpoll *lp)
{
	if (!lp)
		return;
	pthread_mutex_lock(&lp->lock);
	lp->stopping = true;
	resume_due(lp, true);
	pthread_mutex_unlock(&lp->lock);
	pthread_join(lp->thread, NULL);
	api_feed_watch_destroy(lp->watch);
	api_feed_batch_free(lp->batch);
	pthread_mutex_destroy(&lp->lock);
	free(lp->list);
	free(lp);
}
