/* longpoll.h: the long-polls of GET /v1/events?wait=SECONDS. A request
 * that found no event parks its connection (suspended: it holds no thread
 * and no Postgres connection while it waits); one thread LISTENs to the
 * writers' NOTIFY, reads the feed's head when notified (and every 250 ms
 * while anyone waits: a transaction that ends without writing can move
 * the feed), and resumes every parked connection whose cursor is before
 * the head, or whose deadline has passed. When the head moves, the thread
 * reads the new events once (after the earliest parked cursor) and the
 * resumed requests answer from that read (api_longpoll_answer) instead of
 * each querying Postgres; one it cannot answer queries again, and answers
 * or parks again. */
#ifndef PW_API_LONGPOLL_H
#define PW_API_LONGPOLL_H

#include "api_pg.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct api_longpoll api_longpoll;

/* api_longpoll_start: the watching thread, on its own connection to dsn
 * (borrowed: must outlive it). 0 with *ret, or PW_ENOMEM / PW_EIO (no
 * thread). */
int api_longpoll_start(const char *dsn, api_longpoll **ret);

/* api_longpoll_park: suspend conn until the feed's head is past after or
 * the monotonic clock reaches deadline_ms (milliseconds, pw_mono_ms).
 * false when it was not parked (the head is past after already, or the
 * long-polls are stopping): the caller answers now. The daemon must allow
 * suspend and resume. */
bool api_longpoll_park(api_longpoll *lp, struct MHD_Connection *conn, const api_feed_cursor *after,
		       int64_t deadline_ms);

/* api_longpoll_answer: q's page from the events read at the last
 * wake-up (api_feed_batch_answer): true with *ret_json (malloc'd),
 * *ret_count >= 1 and *ret_next; false: query the database. */
bool api_longpoll_answer(api_longpoll *lp, const api_event_query *q, char **ret_json, unsigned *ret_count,
			 api_feed_cursor *ret_next);

/* api_longpoll_waiting: how many connections are parked now. */
size_t api_longpoll_waiting(api_longpoll *lp);

/* api_longpoll_stop: resume every parked connection (their requests answer
 * at once), stop the thread and free; accepts NULL. Call before the
 * daemon stops. */
void api_longpoll_stop(api_longpoll *lp);

#endif
