/* api_pg.h: the HTTP API's queries over the payments table. Every SQL
 * statement the API sends lives here (all SQL of the Postgres sink in the
 * sink). A PAYMENT is the `data` object of the webhook body, built by the
 * same SQL function (paywatch_event_payload, schema/003_webhooks.sql), plus
 * `reverted_at`. Pages are keyset pages on (confirmed_at, id). */
#ifndef PW_API_PG_H
#define PW_API_PG_H

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
	const char *status;      /* "confirmed" or "reverted" */
	const char *tx_hash;
	const char *to_address;
	const char *from_address;
	const char *token;       /* a symbol, or a token address in the stored form */
	const char *min_amount;  /* decimal strings in token units (checked: api_decimal_ok) */
	const char *max_amount;
	const char *since;       /* RFC 3339 times on confirmed_at (checked: api_time_ok) */
	const char *until;
	bool ascending;          /* default: newest first */
	unsigned limit;          /* 1..API_PAGE_MAX */
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
 * fraction and offset optional, "+01:00" or "Z"), checked field by field. */
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
int api_pg_get_payment(api_pg_pool *p, int64_t id, const char *merchant_id, char **ret_json, char *err,
		       size_t errlen);

/* api_pg_chain_reports: what `paywatch run` last published per chain
 * (table chain_reports) as the JSON text
 * {"<chain>": {"report": {...}, "age_s": <seconds since published>}, ...}
 * (malloc'd) in *ret_json. 0, PW_ENOMEM, PW_EDB (message in err). */
int api_pg_chain_reports(api_pg_pool *p, char **ret_json, char *err, size_t errlen);

#endif
