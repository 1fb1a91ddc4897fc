/* api_pg.h: the HTTP API's queries over the payments table. Every SQL
 * statement the API sends lives here (all SQL of the Postgres sink in the
 * sink). A PAYMENT is the `data` object of the webhook body, built by the
 * same SQL function (paywatch_event_payload, schema/003_webhooks.sql), plus
 * `reverted_at`. Pages are keyset pages on (confirmed_at, id). */
#ifndef PW_API_PG_H
#define PW_API_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_PAGE_MAX 1000

/* The API's own Postgres connections: at most n, opened on first use,
 * reopened when broken, each with a statement timeout and read-only
 * transactions. Thread-safe: a query waits for a free connection. */
typedef struct api_pg_pool api_pg_pool;

/* api_pg_pool_create: a pool for dsn (borrowed: must outlive the pool) of
 * n connections, statement_timeout_ms per query. 0 with *ret or PW_ENOMEM. */
int api_pg_pool_create(const char *dsn, size_t n, uint32_t statement_timeout_ms, api_pg_pool **ret);

/* api_pg_pool_destroy: close every connection and free; accepts NULL. */
void api_pg_pool_destroy(api_pg_pool *p);

/* A query on one of the pool's connections: fn's answer (JSON text,
 * malloc'd) in *ret_json. Sessions are read-only by default: a writing fn
 * opens its own BEGIN READ WRITE transaction. */
typedef int (*api_pg_query_fn)(PGconn *c, const void *arg, char **ret_json, char *err, size_t errlen);

/* api_pg_call: run fn(arg) on a free connection of p (waiting for one),
 * opened or reopened first when needed. fn's result, or PW_EDB (no
 * connection), or PW_ESCHEMA (a connection opened on a database that lacks
 * some of this build's migrations; pg_open_migrated; so may every api_pg_*
 * call below); err scrubbed of the DSN's password. */
int api_pg_call(api_pg_pool *p, api_pg_query_fn fn, const void *arg, char **ret_json, char *err, size_t errlen);

/* A position in the (confirmed_at, id) order: after (or before, in
 * descending order) this row. `at` is confirmed_at as
 * "YYYY-MM-DDTHH:MM:SS.ffffffZ" (microseconds, UTC). */
typedef struct api_cursor {
	char at[32];
	int64_t id;
} api_cursor;

/* A GET /v1/payments query; every string is NULL when not filtered on and
 * is already in the stored form (addresses and hashes as the table holds
 * them). */
typedef struct api_payment_query {
	const char *merchant_id;
	const char *chain;
	const char *status; /* "confirmed" or "reverted" */
	const char *tx_hash;
	const char *to_address;
	const char *from_address;
	const char *token;      /* a symbol, or a token address in the stored form */
	const char *min_amount; /* decimal strings in token units (checked: api_decimal_ok) */
	const char *max_amount;
	const char *since; /* RFC 3339 times on confirmed_at (checked: api_time_ok) */
	const char *until;
	bool ascending; /* default: newest first */
	unsigned limit; /* 1..API_PAGE_MAX */
	bool has_cursor;
	api_cursor cursor;
} api_payment_query;

/* api_cursor_encode: the opaque cursor text (base64url, no padding) of c
 * into out (at least 96 bytes). */
void api_cursor_encode(const api_cursor *c, char *out, size_t outlen);

/* api_cursor_decode: parse what api_cursor_encode wrote; anything else is
 * PW_EPARSE (a cursor is never handed to Postgres unchecked). 0 or
 * PW_EPARSE. */
int api_cursor_decode(const char *text, api_cursor *ret);

/* api_decimal_ok: s is a decimal number in token units as the API takes
 * it: digits, an optional '.' and digits, no sign or exponent, at most 78
 * digits in all (amounts are uint256 in base units). */
bool api_decimal_ok(const char *s);

/* api_time_ok: s is an RFC 3339 date-time ("2026-11-29T20:51:17Z",
 * fraction optional, offset "Z" or "+01:00"), checked field by field and
 * within what PostgreSQL's timestamptz takes: year 0001 on, a day its
 * month has, a leap second (:60) without a non-zero fraction, an offset
 * within +-15:59. */
bool api_time_ok(const char *s);

/* api_pg_list_payments: one page as the JSON text
 * {"data": [PAYMENT, ...], "next_cursor": "..." | null} (malloc'd, caller
 * frees) in *ret_json. 0, PW_ENOMEM, or PW_EDB with libpq's message in err
 * (errlen bytes, scrubbed of the DSN's password; a statement timeout
 * reads "canceling statement due to statement timeout"); no connection
 * could be made: PW_EDB too. */
int api_pg_list_payments(api_pg_pool *p, const api_payment_query *q, char **ret_json, char *err, size_t errlen);

/* api_pg_get_payment: PAYMENT id as JSON text (malloc'd) in *ret_json;
 * merchant_id non-NULL: only if the payment is that merchant's. 0,
 * PW_ENOTFOUND (no such payment, or another merchant's), PW_ENOMEM,
 * PW_EDB (message in err). */
int api_pg_get_payment(api_pg_pool *p, int64_t id, const char *merchant_id, char **ret_json, char *err, size_t errlen);

/* api_pg_chain_reports: what `paywatch run` last published per chain
 * (table chain_reports) as the JSON text
 * {"<chain>": {"report": {...}, "age_s": <seconds since published>}, ...}
 * (malloc'd) in *ret_json. 0, PW_ENOMEM, PW_EDB (message in err). */
int api_pg_chain_reports(api_pg_pool *p, char **ret_json, char *err, size_t errlen);

/* A GET /v1/webhooks/deliveries query: newest first, keyset on the id. */
typedef struct api_delivery_query {
	const char *merchant_id; /* NULL: every merchant's */
	const char *status;      /* pending, delivered, failed; NULL: any */
	unsigned limit;          /* 1..API_PAGE_MAX */
	bool has_cursor;
	int64_t before_id; /* the cursor: deliveries with a smaller id */
} api_delivery_query;

/* api_delivery_cursor_encode / _decode: the opaque cursor of a deliveries
 * page (base64url; out at least 48 bytes). decode: 0 or PW_EPARSE. */
void api_delivery_cursor_encode(int64_t id, char *out, size_t outlen);
int api_delivery_cursor_decode(const char *text, int64_t *ret);

/* api_pg_list_deliveries: one page as the JSON text {"data": [DELIVERY,
 * ...], "next_cursor": "..." | null} (malloc'd) in *ret_json. DELIVERY:
 * id, event_id, type, merchant_id, endpoint {id, url (scheme://host:port),
 * disabled}, status, attempts, last_status, last_error, next_attempt_at
 * (while pending), delivered_at, created_at (RFC 3339 UTC or null). 0,
 * PW_ENOMEM, PW_EDB (message in err). */
int api_pg_list_deliveries(api_pg_pool *p, const api_delivery_query *q, char **ret_json, char *err, size_t errlen);

/* api_pg_redeliver: queue delivery id again (attempts reset, due now, the
 * same webhook-id) and wake the dispatchers (NOTIFY paywatch_webhooks);
 * merchant_id non-NULL: only that merchant's. *ret_json (malloc'd, the
 * caller frees it): the DELIVERY as queued, read in the same transaction
 * (status pending, attempts 0, even when a dispatcher sends it at once).
 * 0, PW_ENOTFOUND (none, or another merchant's), PW_EREFUSED (pending
 * already: it will be sent), PW_ENOMEM, PW_EDB. */
int api_pg_redeliver(api_pg_pool *p, int64_t id, const char *merchant_id, char **ret_json, char *err, size_t errlen);

/* A position in the event feed: after the row (xid, seq) of event_feed
 * (schema/010_event_feed.sql explains the order). */
typedef struct api_feed_cursor {
	uint64_t xid;
	int64_t seq;
} api_feed_cursor;

/* api_feed_cursor_encode: the opaque text (base64url, no padding) of c
 * into out (at least 64 bytes). */
void api_feed_cursor_encode(const api_feed_cursor *c, char *out, size_t outlen);

/* api_feed_cursor_decode: parse what api_feed_cursor_encode wrote;
 * anything else is PW_EPARSE. 0 or PW_EPARSE. */
int api_feed_cursor_decode(const char *text, api_feed_cursor *ret);

/* A GET /v1/events query. */
typedef struct api_event_query {
	const char *merchant_id; /* NULL: every merchant's events */
	api_feed_cursor after;   /* {0, 0}: from the beginning */
	bool after_now;          /* start at the end (after=now): after is ignored */
	unsigned limit;          /* 1..API_PAGE_MAX */
} api_event_query;

/* api_pg_list_events: one page of the feed as the JSON text
 * {"data": [{"id", "type", "timestamp", "data": PAYMENT}, ...],
 * "next_cursor": "..."} (malloc'd, caller frees) in *ret_json, and how
 * many events it holds in *ret_count. Only events of transactions that have ended are served
 * (the xmin rule), so a consumer passing each next_cursor back sees every
 * event once, however the writers' commits interleave. next_cursor is
 * never null: an empty page answers a cursor to poll with; it is also
 * written to *ret_next. 0, PW_ENOMEM, PW_EDB (message in err). */
int api_pg_list_events(api_pg_pool *p, const api_event_query *q, unsigned *ret_count, api_feed_cursor *ret_next,
		       char **ret_json, char *err, size_t errlen);

/* api_feed_cursor_less: a before b in the feed's order. */
static inline bool api_feed_cursor_less(const api_feed_cursor *a, const api_feed_cursor *b)
{
	return a->xid < b->xid || (a->xid == b->xid && a->seq < b->seq);
}

/* Waiting for the feed to grow: one connection that LISTENs to the
 * writers' NOTIFY (pg_conn.h, PG_FEED_CHANNEL) and reads the feed's head.
 * For one thread. */
typedef struct api_feed_watch api_feed_watch;

/* api_feed_watch_create: a watch for dsn (borrowed); connects on first
 * use. 0 with *ret, or PW_ENOMEM. */
int api_feed_watch_create(const char *dsn, api_feed_watch **ret);

/* api_feed_watch_destroy: close and free; accepts NULL. */
void api_feed_watch_destroy(api_feed_watch *w);

/* api_feed_watch_wait: wait up to timeout_ms milliseconds for a
 * notification; *ret_notified tells whether one came. 0, or PW_EDB (no
 * connection, or the database is behind this build's schema: message in
 * err, errlen bytes; the next call reconnects, and checks a schema found
 * behind again after PG_SCHEMA_RECHECK_MS). */
int api_feed_watch_wait(api_feed_watch *w, int timeout_ms, bool *ret_notified, char *err, size_t errlen);

/* The events after a position, as one read of the watch connection found
 * them (schema/010_event_feed.sql's rule: those below its snapshot's
 * xmin), for answering many parked long-polls with one query. */
typedef struct api_feed_item {
	api_feed_cursor at;
	char merchant_id[64];
	char *json; /* the event as GET /v1/events shows it */
} api_feed_item;

typedef struct api_feed_batch {
	api_feed_cursor from; /* every servable event after this is in items (unless truncated) */
	uint64_t xmin;        /* the snapshot's xmin */
	bool truncated;       /* items stopped at the row cap: events after the last may exist */
	api_feed_item *items;
	size_t n;
} api_feed_batch;

/* api_feed_watch_fetch: up to max events after `after` (every merchant's)
 * into *ret (free with api_feed_batch_free). 0, PW_ENOMEM, PW_EDB (err). */
int api_feed_watch_fetch(api_feed_watch *w, const api_feed_cursor *after, unsigned max, api_feed_batch **ret, char *err,
			 size_t errlen);

/* api_feed_batch_free: accepts NULL. */
void api_feed_batch_free(api_feed_batch *b);

/* api_feed_batch_answer: the page api_pg_list_events would answer q, built
 * from b without a query: true with *ret_json (malloc'd), *ret_count (at
 * least 1) and *ret_next; false when b cannot tell (q's cursor is before
 * b's start, no event of q's in b, or the page may go on past a truncated
 * b): then ask the database. */
bool api_feed_batch_answer(const api_feed_batch *b, const api_event_query *q, char **ret_json, unsigned *ret_count,
			   api_feed_cursor *ret_next);

/* api_feed_watch_head: the position of the last event the feed serves now
 * ({0, 0} when none). 0 or PW_EDB (message in err). */
int api_feed_watch_head(api_feed_watch *w, api_feed_cursor *ret, char *err, size_t errlen);

#endif
