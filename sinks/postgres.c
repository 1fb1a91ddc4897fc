/* postgres.c: libpq sink. A small batch (a live block's payments: up to
 * PG_SINK_STATEMENT_MAX confirmed entries, or pending ones) is one
 * prepared statement over its rows as one JSON parameter, in one round
 * trip. A larger batch of confirmed payments is COPied (text format)
 * straight into payments; if a row of it is already there (a replay after
 * a crash, rows a `replay` wrote first), the transaction is rolled back
 * and the batch goes the general way: COPY into a session temp table and
 * one INSERT ... SELECT ... ON CONFLICT per kind of entry, which also
 * takes reverted and pending entries. Either way a batch of thousands is a
 * handful of round trips. */
#include "postgres.h"
#include "buf.h"
#include "pg_conn.h"
#include "hex.h"
#include "idfmt.h"
#include "parse.h"
#include "pw_error.h"
#include "text.h"
#include "uint256.h"
#include "webhook.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pg_sink {
	PGconn *conn;
	char *dsn; /* kept to scrub its password from error texts (pg_scrub) */
	bool temp_ready;
	bool upsert_only;            /* the last batch found rows already present: skip the direct COPY */
	bool events_prepared;        /* copied_events_sql is prepared on conn (as "copied_events") */
	bool small_prepared;         /* write_small_sql is prepared on conn (as "write_small") */
	bool small_pending_prepared; /* write_small_pending_sql is (as "write_small_pending") */
	size_t statement_max;        /* confirmed or pending batches up to this size: write_small
				      * (pg_sink_set_statement_max) */
	char sqlstate[6];            /* SQLSTATE of the last failed statement; "" for a connection-level failure */
	char error[512];
};

static void strip_newlines(char *msg)
{
	text_one_line(msg);
}

/* A failure of the connection itself (no statement result): no SQLSTATE. */
static int set_error(pg_sink *s, const char *what)
{
	const char *msg = PQerrorMessage(s->conn);
	snprintf(s->error, sizeof(s->error), "%s: %s", what, msg && *msg ? msg : "unknown error");
	strip_newlines(s->error);
	s->sqlstate[0] = '\0';
	pg_scrub(s->error, s->dsn);
	return PW_EDB;
}

/* A statement failed: keep its message and SQLSTATE. PW_EDB. */
static int fail_result(pg_sink *s, const char *what, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(s->error, sizeof(s->error), "%s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn));
	strip_newlines(s->error);
	snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", state ? state : "");
	pg_scrub(s->error, s->dsn);
	return PW_EDB;
}

/* Did the last failure refuse the data rather than lose the connection?
 * SQLSTATE classes 21 (cardinality violation), 22 (data exception) and 23
 * (integrity constraint violation), on a connection still up. */
static bool refused_for_data(const pg_sink *s)
{
	return PQstatus(s->conn) == CONNECTION_OK &&
	       (strncmp(s->sqlstate, "21", 2) == 0 || strncmp(s->sqlstate, "22", 2) == 0 ||
		strncmp(s->sqlstate, "23", 2) == 0);
}

static int exec_ok(pg_sink *s, const char *sql, const char *what)
{
	PGresult *res = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int r = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : fail_result(s, what, res);
	PQclear(res);
	return r;
}

/* A statement with text parameters and no rows. 0 or PW_EDB (its
 * message and SQLSTATE kept). */
static int exec_params_ok(pg_sink *s, const char *sql, int n, const char *const *params, const char *what)
{
	PGresult *res = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : fail_result(s, what, res);
	PQclear(res);
	return r;
}

static void rollback(pg_sink *s)
{
	PGresult *res = PQexec(s->conn, "ROLLBACK");
	PQclear(res);
}

/* pg_sink_connect, with the schema checked (pg_open_migrated) when migrated */
static int sink_open(const char *dsn, bool migrated, pg_sink **ret, char *err, size_t errlen)
{
	pg_sink *s = calloc(1, sizeof(*s));
	if (!s || !(s->dsn = strdup(dsn))) {
		free(s);
		return PW_ENOMEM;
	}
	s->statement_max = PG_SINK_STATEMENT_MAX;
	int r = 0;
	if (migrated)
		r = pg_open_migrated(dsn, "paywatch", &s->conn, err, errlen);
	else if (!(s->conn = pg_open(dsn, "paywatch", err, errlen)))
		r = PW_EDB;
	if (r < 0) {
		free(s->dsn);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int pg_sink_connect(const char *dsn, pg_sink **ret, char *err, size_t errlen)
{
	return sink_open(dsn, false, ret, err, errlen);
}

int pg_sink_connect_migrated(const char *dsn, pg_sink **ret, char *err, size_t errlen)
{
	return sink_open(dsn, true, ret, err, errlen);
}

void pg_sink_close(pg_sink *s)
{
	if (!s)
		return;
	PQfinish(s->conn);
	free(s->dsn);
	free(s);
}

void pg_sink_set_statement_max(pg_sink *s, size_t n)
{
	s->statement_max = n;
}

const char *pg_sink_error(const pg_sink *s)
{
	return s->error;
}

/* COPY text rows are built in a stack buffer, field by field, without
 * printf (it was a fifth of the sink thread's CPU in a backfill). */
#define ROW_MAX                                                                                                        \
	(3 * 2 * PW_NAME_MAX + 2 * PW_HASH_TEXT_MAX + 3 * PW_ADDR_TEXT_MAX + 2 * U256_DEC_MAX + 2 * 40 + 5 * 24 + 48)

/* Append s with COPY text escapes (backslash, tab, newline, CR); the
 * strings are NUL-terminated within PW_NAME_MAX. */
static char *put_text(char *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\': *o++ = '\\', *o++ = '\\'; break;
		case '\t': *o++ = '\\', *o++ = 't'; break;
		case '\n': *o++ = '\\', *o++ = 'n'; break;
		case '\r': *o++ = '\\', *o++ = 'r'; break;
		default: *o++ = *s; break;
		}
	}
	return o;
}

/* The same escapes, appended to b: for strings of any length (256
 * characters at a time). 0 or PW_ENOMEM. */
static int copy_text(pw_buf *b, const char *s)
{
	int r = 0;
	while (*s && r == 0) {
		char chunk[257], out[2 * 256];
		size_t n = 0;
		while (s[n] && n < 256) {
			chunk[n] = s[n];
			n++;
		}
		chunk[n] = '\0';
		s += n;
		char *e = put_text(out, chunk);
		r = buf_append(b, out, (size_t)(e - out));
	}
	return r;
}

static char *put_str(char *o, const char *s)
{
	size_t n = strlen(s);
	memcpy(o, s, n);
	return o + n;
}

static char *put_u64(char *o, uint64_t v)
{
	char t[24];
	size_t n = 0;
	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*o++ = t[--n];
	return o;
}

static char *put_i64(char *o, int64_t v)
{
	if (v < 0) {
		*o++ = '-';
		return put_u64(o, (uint64_t)0 - (uint64_t)v);
	}
	return put_u64(o, (uint64_t)v);
}

/* A hash or transaction id in its family's form (idfmt.h); EVM's hex
 * is written in place, the hot path of a backfill. */
static char *put_hash(char *o, uint8_t family, const uint8_t *in, size_t n)
{
	if (family == PW_FAMILY_EVM) {
		hex_encode(in, n, o);
		return o + 2 + 2 * n;
	}
	pw_format_hash(family, in, n, o);
	return o + strlen(o);
}

static char *put_address(char *o, uint8_t family, const pw_addr *a)
{
	if (family == PW_FAMILY_EVM) {
		hex_encode(a->b, a->len, o);
		return o + 2 + 2 * (size_t)a->len;
	}
	pw_format_address(family, a, o);
	return o + strlen(o);
}

/* A timestamptz in COPY text: "YYYY-MM-DD HH:MM:SS[.mmm]+00" from unix
 * milliseconds; ms_digits adds the milliseconds. out holds 40 bytes. */
static void copy_timestamp(int64_t ms, bool ms_digits, char *out)
{
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ms_digits ? ".%03d+00" : "+00", (int)(ms - (int64_t)t * 1000));
}

/* The last timestamps formatted: rows of a batch share blocks and the
 * moment they were confirmed. */
typedef struct copy_times {
	int64_t block_s, confirmed_ms;
	char block[40], confirmed[40];
} copy_times;

/* pw_incoming's columns and payments' after its id: PAYMENT_FIELDS. */
#define N_PAYMENT_COLUMNS 19

/* Column k (0 to N_PAYMENT_COLUMNS - 1, PAYMENT_FIELDS' order) of payment
 * p written at o, at most PW_HASH_TEXT_MAX + U256_DEC_MAX bytes and no
 * NUL; its end returned, or NULL when the amount cannot be scaled (k 14).
 * copy: the texts (chain, token symbol, merchant id) with COPY's escapes
 * (put_text), else as they are (incoming_json: cJSON escapes them). tc:
 * block_time and confirmed_at as timestamptz (the payments table); NULL:
 * as unix seconds and milliseconds (pw_incoming, converted by the
 * INSERT ... SELECT). One writer for COPY rows and JSON rows alike, so the
 * two cannot disagree on a column. */
static char *put_column(char *o, const pw_payment *p, int k, copy_times *tc, bool copy)
{
	switch (k) {
	case 0: return copy ? put_text(o, p->chain) : put_str(o, p->chain);
	case 1: return put_u64(o, p->chain_id);
	case 2: return put_u64(o, p->block_number);
	case 3: return put_hash(o, p->family, p->block_hash, PW_HASH_LEN);
	case 4:
		if (!tc)
			return put_i64(o, p->block_time);
		if (tc->block_s != p->block_time || !tc->block[0]) {
			tc->block_s = p->block_time;
			copy_timestamp(p->block_time * 1000, false, tc->block);
		}
		return put_str(o, tc->block);
	case 5: return put_hash(o, p->family, p->tx_hash.b, p->tx_hash.len);
	case 6: return put_u64(o, p->log_index);
	case 7: return put_address(o, p->family, &p->token);
	case 8: return copy ? put_text(o, p->token_symbol) : put_str(o, p->token_symbol);
	case 9: return put_address(o, p->family, &p->from);
	case 10: return put_address(o, p->family, &p->to);
	case 11: return copy ? put_text(o, p->merchant_id) : put_str(o, p->merchant_id);
	case 12: u256_to_dec(p->amount, o); return o + strlen(o);
	case 13: return put_u64(o, p->decimals);
	case 14: return u256_format_units(p->amount, p->decimals, o) < 0 ? NULL : o + strlen(o);
	case 15: return put_str(o, pw_status_name(p->status));
	case 16: return put_u64(o, p->confirmations);
	case 17:
		if (!tc)
			return put_i64(o, p->confirmed_at_ms);
		if (tc->confirmed_ms != p->confirmed_at_ms || !tc->confirmed[0]) {
			tc->confirmed_ms = p->confirmed_at_ms;
			copy_timestamp(p->confirmed_at_ms, true, tc->confirmed);
		}
		return put_str(o, tc->confirmed);
	default: return put_str(o, pw_family_name(p->family));
	}
}

/* One payment as a COPY text row (put_column's tc). 0 or PW_EINVAL (an
 * amount that cannot be scaled) / PW_ENOMEM. */
static int copy_row(pw_buf *b, const pw_payment *p, copy_times *tc)
{
	char row[ROW_MAX], *o = row;
	for (int k = 0; k < N_PAYMENT_COLUMNS; k++) {
		if (k)
			*o++ = '\t';
		if (!(o = put_column(o, p, k, tc, true)))
			return PW_EINVAL;
	}
	*o++ = '\n';
	return buf_append(b, row, (size_t)(o - row));
}

int pg_sink_copy_row(const pw_payment *p, bool timestamps, char *out, size_t outlen)
{
	pw_buf b;
	copy_times tc = { 0 };
	buf_init(&b, outlen ? outlen - 1 : 0);
	int r = payment_check(p, out, outlen) < 0 ? PW_ERANGE : copy_row(&b, p, timestamps ? &tc : NULL);
	if (r == 0)
		snprintf(out, outlen, "%s", b.data ? b.data : "");
	buf_done(&b);
	return r;
}

static const char create_incoming_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS pw_incoming ("
	" chain text, chain_id bigint, block_number bigint, block_hash text, block_time_s bigint,"
	" tx_hash text, log_index int, token_address text, token_symbol text, from_address text,"
	" to_address text, merchant_id text, amount_raw numeric(78,0), decimals int, amount numeric,"
	" status text, confirmations int, confirmed_at_ms bigint, chain_family text) ON COMMIT DELETE ROWS";

#define INCOMING_COLUMNS                                                                                               \
	" chain, chain_id, block_number, block_hash, to_timestamp(block_time_s), tx_hash, log_index,"                  \
	" token_address, token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount,"           \
	" status, confirmations, to_timestamp(confirmed_at_ms / 1000.0), chain_family"
#define PAYMENT_FIELDS                                                                                                 \
	"chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index, token_address,"                    \
	" token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount, status,"                  \
	" confirmations, confirmed_at, chain_family"
#define PAYMENT_COLUMNS " (" PAYMENT_FIELDS

#define PAYLOAD_ARGS(t)                                                                                                \
	t ".id, " t ".chain, " t ".chain_id, " t ".block_number, " t ".block_hash, " t ".block_time, " t               \
	  ".tx_hash, " t ".log_index, " t ".token_address, " t ".token_symbol, " t ".decimals, " t ".from_address, " t \
	  ".to_address, " t ".amount, " t ".amount_raw, " t ".confirmations, " t ".merchant_id, " t ".status"

/* Events exist for merchants with an endpoint subscribed to the type (an
 * endpoint disabled by 410 still counts: its events wait for redelivery);
 * merchants without webhooks cost no event rows. A session that set
 * paywatch.webhooks = 'off' (pg_sink_set_webhooks) creates none. */
#define WEBHOOKS_ON "current_setting('paywatch.webhooks', true) IS DISTINCT FROM 'off'"
#define SUBSCRIBED(t, type)                                                                                            \
	WEBHOOKS_ON                                                                                                    \
	" AND"                                                                                                         \
	" EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.merchant_id = " t                                          \
	".merchant_id AND e.active"                                                                                    \
	" AND '" type "' = ANY (e.events))"

/* Deliveries for the events just created: one per active endpoint of the
 * merchant subscribed to the event's type (DELIVERIES_INSERT, then its
 * end: DELIVERIES_CTE's skips a delivery already there). */
#define DELIVERIES_INSERT                                                                                              \
	", dl AS (INSERT INTO webhook_deliveries (event_id, endpoint_id)"                                              \
	" SELECT ev.id, e.id FROM ev JOIN webhook_endpoints e ON e.merchant_id = ev.merchant_id"                       \
	" AND e.active AND e.disabled_at IS NULL AND ev.type = ANY (e.events)"
#define DELIVERIES_CTE DELIVERIES_INSERT " ON CONFLICT DO NOTHING RETURNING 1)"

/* The key of a payment's n-th event of a type: "type" for the first (the
 * ids of every first event stay what they were), "type#n" after that (a
 * payment confirmed again after a revert: the chain went back). n is the
 * count the payment's row keeps (schema/021_payment_event_counts.sql),
 * raised by the same upsert that changed the row's status (the CTE t holds
 * the row after it), so a replay of the same batch after a crash finds the
 * row already in its state and creates nothing. */
#define NTH_EVENT_KEY(t, type, count)                                                                                  \
	"'" type "' || CASE WHEN " t "." count " > 1 THEN '#' || " t "." count " ELSE '' END"

/* A payment's event id for the SQL key of its type (NTH_EVENT_KEY or a
 * literal): the webhook-id. */
#define EVENT_ID(t, key) "paywatch_event_id(" t ".chain_id, " t ".block_hash, " t ".log_index, " key ")"

/* The feed row (schema/010_event_feed.sql) of each state change of the
 * CTE t, for every merchant: CTE `fd`. id_sql: the event id (EVENT_ID, of
 * the same key as the webhook event's), or NULL for a payment's first
 * event of the type (the feed computes that one when read: no md5 per row
 * of a backfill); reverses_sql: the confirmed event a payment.reverted
 * row reverses, '' for none and for a payment.confirmed row
 * (schema/021_payment_event_counts.sql). */
#define FEED_CTE(t, type, id_sql, reverses_sql)                                                                        \
	" fd AS (INSERT INTO event_feed (id, type, merchant_id, payment_id, reverses)"                                 \
	" SELECT " id_sql ", '" type "', " t ".merchant_id, " t ".id, " reverses_sql " FROM " t " ORDER BY " t         \
	".id RETURNING payment_id),"

/* payment.confirmed events: the feed rows of the payment rows of the CTE
 * `ins` (feed_id: their ids, as FEED_CTE takes them), and for merchants
 * with an endpoint the webhook events (key: the SQL of the event key) and
 * their deliveries */
#define CONFIRMED_EVENTS_CTE(key, feed_id)                                                                             \
	FEED_CTE("ins", "payment.confirmed", feed_id, "''")                                                            \
	" ev AS (INSERT INTO webhook_events (id, type, merchant_id, payment_id, payload)"                              \
	" SELECT " EVENT_ID("ins", key) ", 'payment.confirmed', ins.merchant_id, ins.id,"                              \
	" paywatch_event_payload('payment.confirmed', " PAYLOAD_ARGS("ins") ", NULL) FROM ins"                         \
	" WHERE " SUBSCRIBED("ins", "payment.confirmed")                                                               \
	" ON CONFLICT (id) DO NOTHING RETURNING id, type, merchant_id)" DELIVERIES_CTE

/* Confirmed entries: the payment row and its payment.confirmed event, in one
 * statement; a row already confirmed (a replay after a crash) creates
 * nothing; a row reverted earlier is confirmed again (its block is
 * canonical again) with a new payment.confirmed event. */
#define CONFIRMED_FROM_INCOMING                                                                                        \
	" ins AS (INSERT INTO payments" PAYMENT_COLUMNS                                                                \
	")"                                                                                                            \
	" SELECT" INCOMING_COLUMNS                                                                                     \
	" FROM pw_incoming WHERE status = 'confirmed'"                                                                 \
	" ORDER BY block_number, log_index"                                                                            \
	" ON CONFLICT ON CONSTRAINT payments_identity DO UPDATE SET status = 'confirmed',"                             \
	" reverted_at = NULL, confirmations = EXCLUDED.confirmations, confirmed_at = EXCLUDED.confirmed_at,"           \
	" times_confirmed = payments.times_confirmed + 1"                                                              \
	" WHERE payments.status = 'reverted' RETURNING *)," CONFIRMED_EVENTS_CTE(                                      \
		NTH_EVENT_KEY("ins", "payment.confirmed", "times_confirmed"),                                          \
		EVENT_ID("ins", NTH_EVENT_KEY("ins", "payment.confirmed", "times_confirmed")))
static const char insert_confirmed_sql[] =
	"WITH" CONFIRMED_FROM_INCOMING
	" SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM dl), (SELECT count(*) FROM fd)";

/* pw_incoming as a CTE over the rows of $1 instead of the temp table, for
 * the one-statement ways below: a JSON array of rows, each an array of
 * pw_incoming's 19 columns in order as strings (incoming_json), cast to
 * the temp table's types. */
#define INCOMING_FROM_JSON                                                                                             \
	" pw_incoming AS (SELECT r->>0 AS chain, (r->>1)::bigint AS chain_id,"                                         \
	" (r->>2)::bigint AS block_number, r->>3 AS block_hash, (r->>4)::bigint AS block_time_s,"                      \
	" r->>5 AS tx_hash, (r->>6)::int AS log_index,"                                                                \
	" r->>7 AS token_address, r->>8 AS token_symbol, r->>9 AS from_address, r->>10 AS to_address,"                 \
	" r->>11 AS merchant_id, (r->>12)::numeric(78,0) AS amount_raw, (r->>13)::int AS decimals,"                    \
	" (r->>14)::numeric AS amount, r->>15 AS status, (r->>16)::int AS confirmations,"                              \
	" (r->>17)::bigint AS confirmed_at_ms, r->>18 AS chain_family FROM jsonb_array_elements($1::jsonb) r),"

/* A small batch of confirmed entries (a live block's payments) in one
 * statement, run on its own (autocommit: one round trip where the direct
 * way takes seven): the confirmed statement above over the rows of $1
 * (INCOMING_FROM_JSON). It wakes the dispatchers when it queued
 * deliveries and the feed's long-polls when it wrote feed rows
 * (pg_notify, delivered at its commit, as commit_notifying's NOTIFYs). */
static const char write_small_sql[] =
	"WITH" INCOMING_FROM_JSON CONFIRMED_FROM_INCOMING
	", nt AS (SELECT pg_notify('paywatch_webhooks', '') FROM (SELECT 1 FROM dl LIMIT 1) w"
	" UNION ALL SELECT pg_notify('" PG_FEED_CHANNEL
	"', '') FROM (SELECT 1 FROM fd LIMIT 1) f)"
	" SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM dl), (SELECT count(*) FROM nt)";

/* Reverted entries: the row turns 'reverted' (or is recorded as reverted if
 * missing: never confirmed, its counts 0 and 1) and a payment.reverted
 * event names the confirmed event it reverses: the payment's latest, the
 * n-th by the row's count (NTH_EVENT_KEY), whose id the feed row names
 * ('' for none) and the webhook event too where that confirmation was
 * made a webhook event (NULL where none was: the revert of a payment
 * never confirmed, or a confirmation made while no endpoint of the
 * merchant took payment.confirmed), found by its id. */
static const char apply_reverted_sql[] =
	"WITH up AS (INSERT INTO payments" PAYMENT_COLUMNS ", reverted_at, times_confirmed, times_reverted)"
	" SELECT" INCOMING_COLUMNS ", now(), 0, 1 FROM pw_incoming WHERE status = 'reverted'"
	" ORDER BY block_number, log_index"
	" ON CONFLICT ON CONSTRAINT payments_identity DO UPDATE SET status = 'reverted', reverted_at = now(),"
	" times_reverted = payments.times_reverted + 1 WHERE payments.status = 'confirmed' RETURNING *),"
	FEED_CTE("up", "payment.reverted",
		 EVENT_ID("up", NTH_EVENT_KEY("up", "payment.reverted", "times_reverted")),
		 "CASE WHEN up.times_confirmed > 0 THEN "
		 EVENT_ID("up", NTH_EVENT_KEY("up", "payment.confirmed", "times_confirmed")) " ELSE '' END")
	" ev AS (INSERT INTO webhook_events (id, type, merchant_id, payment_id, reverses_event_id, payload)"
	" SELECT paywatch_event_id(up.chain_id, up.block_hash, up.log_index, "
	NTH_EVENT_KEY("up", "payment.reverted", "times_reverted") "),"
	" 'payment.reverted', up.merchant_id, up.id, c.id,"
	" paywatch_event_payload('payment.reverted', " PAYLOAD_ARGS("up") ", c.id)"
	" FROM up LEFT JOIN webhook_events c ON up.times_confirmed > 0"
	" AND c.id = " EVENT_ID("up", NTH_EVENT_KEY("up", "payment.confirmed", "times_confirmed"))
	" WHERE " SUBSCRIBED("up", "payment.reverted")
	" ON CONFLICT (id) DO NOTHING RETURNING id, type, merchant_id)" DELIVERIES_CTE
	" SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM dl), (SELECT count(*) FROM fd)";

/* The body of an event of pw_incoming row i, which has no payment row
 * (no id): type, the status it shows and the event it reverses (SQL). */
#define INCOMING_PAYLOAD(type, status, reverses)                                                                       \
	"paywatch_event_payload('" type                                                                                \
	"', NULL, i.chain, i.chain_id, i.block_number, i.block_hash,"                                                  \
	" to_timestamp(i.block_time_s), i.tx_hash, i.log_index, i.token_address, i.token_symbol, i.decimals,"          \
	" i.from_address, i.to_address, i.amount, i.amount_raw, i.confirmations, i.merchant_id, '" status              \
	"', " reverses ")"

/* "#n" for a payment's n-th sighting (SQL n), "" for its first: the
 * suffix of its payment.pending and payment.dropped keys (schema/024;
 * the pending key's is written out below, its n read once). */
#define NTH_SIGHTING(n) "CASE WHEN " n " > 1 THEN '#' || " n " ELSE '' END"

/* Pending entries (merchants who opted in): an event without a payment
 * row, for the payment's current sighting (one more than its drops in
 * payment_drops: a scalar subquery, read for the rows an event is
 * written for only), and its deliveries: CTEs `ev` and `dl`. */
#define PENDING_EVENTS_CTE                                                                                             \
	" ev AS (INSERT INTO webhook_events (id, type, merchant_id, payload)"                                          \
	" SELECT paywatch_event_id(i.chain_id, i.block_hash, i.log_index, 'payment.pending' || coalesce((SELECT"     \
	" '#' || (d.times_dropped + 1) FROM payment_drops d WHERE d.chain_id = i.chain_id AND d.block_hash ="         \
	" i.block_hash AND d.log_index = i.log_index), '')), 'payment.pending',"        \
	" i.merchant_id, " INCOMING_PAYLOAD("payment.pending", "pending", "NULL")                                      \
	" FROM pw_incoming i WHERE i.status = 'pending'"                                                               \
	" AND " SUBSCRIBED(                                                                                            \
		"i", "payment.pending") " ON CONFLICT (id) DO NOTHING RETURNING id, type, merchant_id)" DELIVERIES_CTE
static const char insert_pending_sql[] =
	"WITH" PENDING_EVENTS_CTE " SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM dl), 0";

/* Pending entries, every merchant's: the payment seen, not yet confirmed
 * (schema/014_invoice_states.sql: invoices count it as amount_pending),
 * unless it is confirmed already (an entry written again after a crash):
 * CTE `sn`. */
#define SEEN_CTE                                                                                                       \
	" sn AS (INSERT INTO pending_payments (chain_id, block_hash, log_index, chain, block_number, tx_hash,"         \
	" token_address, to_address, merchant_id, amount_raw, amount)"                                                 \
	" SELECT i.chain_id, i.block_hash, i.log_index, i.chain, i.block_number, i.tx_hash, i.token_address,"          \
	" i.to_address, i.merchant_id, i.amount_raw, i.amount FROM pw_incoming i WHERE i.status = 'pending'"           \
	" AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.chain_id = i.chain_id AND p.block_hash = i.block_hash"      \
	" AND p.log_index = i.log_index) ORDER BY i.chain_id, i.block_hash, i.log_index"                               \
	" ON CONFLICT DO NOTHING RETURNING 1)"
static const char insert_seen_sql[] = "WITH" SEEN_CTE " SELECT (SELECT count(*) FROM sn), 0, 0";

/* A small batch of pending entries (a live block's payments seen, with
 * confirmations to wait for) in one statement, run on its own: the two
 * pending statements above over the rows of $1 (INCOMING_FROM_JSON), in
 * one snapshot as they are in one transaction (neither reads what the
 * other writes; the invoices' triggers on pending_payments fire at its
 * end). It wakes the dispatchers when it queued deliveries (the
 * invoices' triggers notify the feed themselves). Counts: events,
 * deliveries, pending_payments rows. */
static const char write_small_pending_sql[] =
	"WITH" INCOMING_FROM_JSON PENDING_EVENTS_CTE "," SEEN_CTE
	", nt AS (SELECT pg_notify('paywatch_webhooks', '') FROM (SELECT 1 FROM dl LIMIT 1) w)"
	" SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM dl), (SELECT count(*) FROM sn),"
	" (SELECT count(*) FROM nt)";

/* Dropped entries whose pending row is still there (run before
 * delete_dropped_sql, which deletes it): the drop counted in
 * payment_drops (its n-th: CTE `sg`), and where that sighting's
 * payment.pending event exists (an endpoint was told of the payment) a
 * payment.dropped event naming it (its reverses_event_id, in the body
 * too), the payment's body with status 'dropped' and the entry's 0
 * confirmations, delivered to every endpoint the pending event was
 * delivered to that is active and not disabled
 * (schema/024_payment_dropped_events.sql). Written again after a crash,
 * the entries find no row: nothing. Counts: events, deliveries, 0. */
static const char insert_dropped_sql[] =
	"WITH sg AS (INSERT INTO payment_drops (chain_id, block_hash, log_index, times_dropped)"
	" SELECT DISTINCT i.chain_id, i.block_hash, i.log_index, 1 FROM pw_incoming i JOIN pending_payments q"
	" ON q.chain_id = i.chain_id AND q.block_hash = i.block_hash AND q.log_index = i.log_index"
	" WHERE i.status = 'dropped' ORDER BY 1, 2, 3"
	" ON CONFLICT (chain_id, block_hash, log_index) DO UPDATE SET times_dropped = payment_drops.times_dropped + 1"
	" RETURNING chain_id, block_hash, log_index, times_dropped),"
	" ev AS (INSERT INTO webhook_events (id, type, merchant_id, reverses_event_id, payload)"
	" SELECT paywatch_event_id(i.chain_id, i.block_hash, i.log_index, 'payment.dropped' || " NTH_SIGHTING(
		"sg.times_dropped") "), 'payment.dropped', i.merchant_id, pe.id, " INCOMING_PAYLOAD("payment.dropped",
										    "dropped", "pe.id")
	" FROM pw_incoming i JOIN sg ON sg.chain_id = i.chain_id AND sg.block_hash = i.block_hash"
	" AND sg.log_index = i.log_index JOIN webhook_events pe ON pe.id = paywatch_event_id(i.chain_id, i.block_hash,"
	" i.log_index, 'payment.pending' || " NTH_SIGHTING("sg.times_dropped") ")"
	" WHERE i.status = 'dropped' AND " WEBHOOKS_ON " ON CONFLICT (id) DO NOTHING RETURNING id, reverses_event_id),"
	" dl AS (INSERT INTO webhook_deliveries (event_id, endpoint_id)"
	" SELECT ev.id, e.id FROM ev JOIN webhook_deliveries pd ON pd.event_id = ev.reverses_event_id"
	" JOIN webhook_endpoints e ON e.id = pd.endpoint_id AND e.active AND e.disabled_at IS NULL"
	" ON CONFLICT DO NOTHING RETURNING 1)"
	" SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM dl), 0";

/* Dropped entries: a reorg took the block of a pending payment. */
static const char delete_dropped_sql[] =
	"WITH dr AS (DELETE FROM pending_payments q USING pw_incoming i WHERE i.status = 'dropped'"
	" AND q.chain_id = i.chain_id AND q.block_hash = i.block_hash AND q.log_index = i.log_index RETURNING 1)"
	" SELECT (SELECT count(*) FROM dr), 0, 0";

/* Run a statement returning one row of three counts (rows, deliveries,
 * feed rows); the feed rows are added to *feed. */
static int exec_counts(pg_sink *s, const char *sql, const char *what, size_t *ret_a, size_t *ret_b, size_t *feed)
{
	PGresult *res = PQexec(s->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 3) {
		fail_result(s, what, res);
		PQclear(res);
		return PW_EDB;
	}
	uint64_t a = 0, b = 0, c = 0;
	if (parse_u64(PQgetvalue(res, 0, 0), SIZE_MAX, &a) < 0 || parse_u64(PQgetvalue(res, 0, 1), SIZE_MAX, &b) < 0 ||
	    parse_u64(PQgetvalue(res, 0, 2), SIZE_MAX, &c) < 0) {
		snprintf(s->error, sizeof(s->error), "%s: unexpected counts in the answer", what);
		PQclear(res);
		return PW_EDB;
	}
	*ret_a = (size_t)a;
	*ret_b = (size_t)b;
	*feed += (size_t)c;
	PQclear(res);
	return 0;
}

/* What a COPY row of a payment holds: a pw_incoming row (times as unix
 * seconds and milliseconds), a payments row with its id (ids[i]), or the
 * payment's event_feed row (a payment.confirmed row, its id NULL: the
 * first event of a new row, schema/010_event_feed.sql; reversing none). */
typedef enum copy_kind { COPY_INCOMING, COPY_PAYMENT, COPY_FEED } copy_kind;

/* The COPYs of COPY_PAYMENT and COPY_FEED rows */
#define PAYMENTS_COPY_SQL "COPY payments (id, " PAYMENT_FIELDS ") FROM STDIN"
#define FEED_COPY_SQL "COPY event_feed (id, type, merchant_id, payment_id, reverses) FROM STDIN"

/* Row i of a COPY of kind k, appended to b. 0, PW_EINVAL, PW_ENOMEM. */
static int copy_row_of(pw_buf *b, copy_kind k, const pw_payment *p, uint64_t id, copy_times *tc)
{
	char head[32], *o = head;
	if (k == COPY_INCOMING)
		return copy_row(b, p, NULL);
	if (k == COPY_FEED) {
		char row[2 * PW_NAME_MAX + 64];
		o = put_str(row, "\\N\tpayment.confirmed\t");
		o = put_text(o, p->merchant_id);
		*o++ = '\t';
		o = put_u64(o, id);
		o = put_str(o, "\t\n"); /* reverses: '' (none) */
		return buf_append(b, row, (size_t)(o - row));
	}
	o = put_u64(o, id);
	*o++ = '\t';
	int r = buf_append(b, head, (size_t)(o - head));
	return r < 0 ? r : copy_row(b, p, tc);
}

/* A COPY's rows are sent in messages of about this many bytes (a row
 * more at most). 64 KiB, not 1 MiB: the row buffer and libpq's output
 * buffer of each writer stay small (a backfill's peak RSS 51.2 against
 * 54.3 MB, the time 0.99x; bench/HISTORY.md, a twenty-sixth session). */
#define COPY_MESSAGE_BYTES ((size_t)64 << 10)

/* COPY n payments as rows of kind k (ids: their payment ids, for
 * COPY_PAYMENT and COPY_FEED) with copy_sql (a COPY ... FROM STDIN
 * statement), COPY_MESSAGE_BYTES of rows per message. 0 with *ret_rows,
 * or PW_EDB (pg_sink_error; the transaction is aborted). */
static int copy_in(pg_sink *s, const char *copy_sql, copy_kind k, const pw_payment *payments, const uint64_t *ids,
		   size_t n, size_t *ret_rows)
{
	PGresult *res = PQexec(s->conn, copy_sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		fail_result(s, "copy", res);
		PQclear(res);
		return PW_EDB;
	}
	PQclear(res);
	pw_buf b;
	copy_times tc = { 0 };
	buf_init(&b, (size_t)1 << 30);
	for (size_t i = 0; i < n; i++) {
		int r = copy_row_of(&b, k, &payments[i], ids ? ids[i] : 0, &tc);
		if (r < 0) {
			buf_done(&b);
			PQputCopyEnd(s->conn, "paywatch: cannot encode row");
			while ((res = PQgetResult(s->conn)) != NULL)
				PQclear(res);
			snprintf(s->error, sizeof(s->error), "cannot encode payment row: %s", pw_strerror(r));
			return PW_EDB;
		}
		if (b.len >= COPY_MESSAGE_BYTES || i + 1 == n) {
			if (PQputCopyData(s->conn, b.data, (int)b.len) != 1) {
				buf_done(&b);
				return set_error(s, "copy data");
			}
			buf_reset(&b);
		}
	}
	buf_done(&b);
	if (PQputCopyEnd(s->conn, NULL) != 1)
		return set_error(s, "copy end");
	int r = 0;
	res = PQgetResult(s->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fail_result(s, "copy", res);
		r = PW_EDB;
	} else {
		uint64_t rows = 0;
		if (parse_u64(PQcmdTuples(res), SIZE_MAX, &rows) < 0) {
			snprintf(s->error, sizeof(s->error), "copy: no row count in the answer");
			r = PW_EDB;
		}
		*ret_rows = (size_t)rows;
	}
	PQclear(res);
	while ((res = PQgetResult(s->conn)) != NULL)
		PQclear(res);
	return r;
}

/* Run the statement sql under name, prepared on this connection at its
 * first use (*prepared says it was; named statements outlive the
 * transaction they were made in, and a new connection is a new pg_sink).
 * The result (the caller clears it), or NULL with s->error set when
 * Postgres refused to prepare it. */
static PGresult *exec_prepared(pg_sink *s, bool *prepared, const char *name, const char *sql, int n,
			       const char *const *params, const char *what)
{
	if (!*prepared) {
		PGresult *p = PQprepare(s->conn, name, sql, n, NULL);
		bool ok = PQresultStatus(p) == PGRES_COMMAND_OK;
		if (!ok)
			fail_result(s, what, p);
		PQclear(p);
		if (!ok)
			return NULL;
		*prepared = true;
	}
	return PQexecPrepared(s->conn, name, n, params, NULL, NULL, 0);
}

/* The payment.confirmed webhook events (and deliveries) of the rows this
 * transaction COPied into payments of chain $1, blocks $2..$3: rows whose
 * xmin is this transaction. Where no endpoint anywhere takes the type
 * (or the session set paywatch.webhooks = 'off') the one-time filter
 * skips the scan: a backfill without webhooks reads nothing back.
 * Inserted without ON CONFLICT: a payment the COPY wrote is new, so no
 * event of it can be there (an event's id is its payment's identity and
 * type, and the foreign key keeps a payment with events from being
 * deleted), nor any delivery of that event; should one be there anyway
 * (an event inserted by hand), the unique violation rolls the batch back
 * to the general way, which skips it (write_batch), as before. Each
 * ON CONFLICT cost every event and delivery a check before its insert and
 * a confirmation after it: a backfill with webhooks on took 1.16x the
 * time with them (bench/HISTORY.md, a thirty-ninth session).
 * Prepared on a connection's first use (named statements outlive the
 * transaction they were made in): parsing and planning it took longer
 * than running it for a live block's one payment (1.3 against 0.6 ms). */
static const char copied_events_sql[] =
	"WITH ins AS (SELECT p.* FROM payments p WHERE current_setting('paywatch.webhooks', true) IS DISTINCT FROM 'off'"
	" AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.active AND 'payment.confirmed' = ANY (e.events))"
	" AND p.chain = $1 AND p.block_number BETWEEN $2 AND $3 AND p.xmin = pg_current_xact_id()::xid ORDER BY p.id),"
	" ev AS (INSERT INTO webhook_events (id, type, merchant_id, payment_id, payload)"
	" SELECT " EVENT_ID("ins", "'payment.confirmed'") ", 'payment.confirmed', ins.merchant_id, ins.id,"
	" paywatch_event_payload('payment.confirmed', " PAYLOAD_ARGS("ins") ", NULL) FROM ins"
	" WHERE " SUBSCRIBED("ins", "payment.confirmed") /* new rows: their first event */
	" RETURNING id, type, merchant_id)" DELIVERIES_INSERT " RETURNING 1)"
	" SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM dl)";

/* The webhook events of the rows this transaction COPied into chain's
 * blocks lo..hi (none when lo > hi). 0 with *ret_deliveries, or PW_EDB. */
static int copied_events_in(pg_sink *s, const char *chain, uint64_t lo, uint64_t hi, size_t *ret_deliveries)
{
	char los[24], his[24];
	snprintf(los, sizeof(los), "%llu", (unsigned long long)lo);
	snprintf(his, sizeof(his), "%llu", (unsigned long long)hi);
	const char *params[3] = { chain, los, his };
	PGresult *res = exec_prepared(s, &s->events_prepared, "copied_events", copied_events_sql, 3, params,
				      "payment events: prepare");
	if (!res)
		return PW_EDB;
	int r = 0;
	uint64_t d = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fail_result(s, "payment events", res);
		r = PW_EDB;
	} else if (parse_u64(PQgetvalue(res, 0, 1), SIZE_MAX, &d) < 0) {
		snprintf(s->error, sizeof(s->error), "payment events: unexpected count in the answer");
		r = PW_EDB;
	}
	PQclear(res);
	*ret_deliveries = (size_t)d;
	return r;
}

/* The webhook events of the rows just COPied: one statement per chain of
 * the batch, over that chain's block range. 0 with *ret_deliveries,
 * PW_EDB. */
static int copied_events(pg_sink *s, const pw_payment *payments, size_t n, size_t *ret_deliveries)
{
	size_t deliveries = 0;
	bool *done = calloc(n, sizeof(bool));
	if (!done) {
		snprintf(s->error, sizeof(s->error), "out of memory");
		return PW_ENOMEM;
	}
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (done[i])
			continue;
		uint64_t lo = payments[i].block_number, hi = lo;
		for (size_t j = i; j < n; j++) {
			if (done[j] || strcmp(payments[j].chain, payments[i].chain) != 0)
				continue;
			done[j] = true;
			lo = payments[j].block_number < lo ? payments[j].block_number : lo;
			hi = payments[j].block_number > hi ? payments[j].block_number : hi;
		}
		size_t d = 0;
		r = copied_events_in(s, payments[i].chain, lo, hi, &d);
		deliveries += d;
	}
	free(done);
	*ret_deliveries = deliveries;
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Open the transaction and take n payment ids from payments' sequence, in
 * one round trip; the ids ascend, so the batch's order (block, log index)
 * is its ids' order, as a COPY that took them itself would give. 0 with
 * *ret_ids (malloc'd, n of them; the caller frees), or PW_EDB / PW_ENOMEM
 * (the transaction may be open: the caller rolls back). */
static int begin_with_ids(pg_sink *s, size_t n, uint64_t **ret_ids)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "BEGIN; SELECT nextval('payments_id_seq') FROM generate_series(1, %zu)", n);
	uint64_t *ids = malloc(n * sizeof(*ids));
	if (!ids) {
		snprintf(s->error, sizeof(s->error), "out of memory");
		return PW_ENOMEM;
	}
	PGresult *res = PQexec(s->conn, sql);
	int r = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || (size_t)PQntuples(res) != n || PQnfields(res) != 1) {
		r = fail_result(s, "payment ids", res);
	} else {
		for (size_t i = 0; i < n && r == 0; i++) {
			if (parse_u64(PQgetvalue(res, (int)i, 0), INT64_MAX, &ids[i]) < 0) {
				snprintf(s->error, sizeof(s->error), "payment ids: not a number in the answer");
				r = PW_EDB;
			}
		}
	}
	PQclear(res);
	if (r < 0) {
		free(ids);
		return r;
	}
	qsort(ids, n, sizeof(*ids), cmp_u64);
	*ret_ids = ids;
	return 0;
}

/* Commit a write of payments with the wake-ups it owes, in one round
 * trip (a NOTIFY is delivered at commit): the dispatchers when it queued
 * deliveries, the feed's long-polls when it wrote feed rows (invoice
 * events, schema/014's triggers, notify for themselves). 0 or PW_EDB. */
static int commit_notifying(pg_sink *s, size_t deliveries, size_t feed)
{
	static const char *const sql[4] = {
		"COMMIT",
		"NOTIFY " PG_FEED_CHANNEL "; COMMIT",
		"NOTIFY paywatch_webhooks; COMMIT",
		"NOTIFY paywatch_webhooks; NOTIFY " PG_FEED_CHANNEL "; COMMIT",
	};
	return exec_ok(s, sql[(deliveries ? 2 : 0) + (feed ? 1 : 0)], "commit");
}

/* The direct way, for a batch of confirmed payments only: their ids,
 * COPY into payments, COPY of their feed rows, then their webhook events.
 * 0 with *ret, or PW_EDB, rolled back: a row already there (unique
 * violation), a refused row, or a lost connection (the caller tells them
 * apart by the connection's status). */
static int write_direct(pg_sink *s, const pw_payment *payments, size_t n, pg_write_result *ret)
{
	size_t copied = 0, deliveries = 0, feed = 0;
	uint64_t *ids = NULL;
	if (begin_with_ids(s, n, &ids) < 0 ||
	    copy_in(s, PAYMENTS_COPY_SQL, COPY_PAYMENT, payments, ids, n, &copied) < 0 ||
	    copy_in(s, FEED_COPY_SQL, COPY_FEED, payments, ids, n, &feed) < 0 ||
	    copied_events(s, payments, n, &deliveries) < 0 || commit_notifying(s, deliveries, feed) < 0) {
		free(ids);
		strip_newlines(s->error);
		rollback(s);
		return PW_EDB;
	}
	free(ids);
	*ret = (pg_write_result){ .inserted = copied, .deliveries = deliveries, .copied = true };
	return 0;
}

/* A batch as write_small_sql's $1: a JSON array of rows, each an array of
 * pw_incoming's 19 columns as strings in COPY_INCOMING's order and text
 * (put_column, as the COPY rows; cJSON escapes them). Malloc'd (the caller
 * frees it with cJSON_free), or NULL when out of memory or an amount
 * cannot be formatted. */
static char *incoming_json(const pw_payment *payments, size_t n)
{
	cJSON *rows = cJSON_CreateArray();
	bool ok = rows != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		cJSON *row = cJSON_CreateArray();
		ok = row && cJSON_AddItemToArray(rows, row);
		for (int k = 0; ok && k < N_PAYMENT_COLUMNS; k++) {
			char v[PW_HASH_TEXT_MAX + U256_DEC_MAX + 1], *end = put_column(v, &payments[i], k, NULL, false);
			cJSON *f = NULL;
			if (end) {
				*end = '\0';
				f = cJSON_CreateString(v);
			}
			ok = f && cJSON_AddItemToArray(row, f);
		}
	}
	char *text = ok ? cJSON_PrintUnformatted(rows) : NULL;
	cJSON_Delete(rows);
	return text;
}

/* The one-statement way, for a small batch of confirmed payments
 * (write_small_sql: rows already there are counted present, a row
 * reverted earlier is confirmed again, as by the general way) or of
 * pending entries (pending true: write_small_pending_sql). 0 with *ret,
 * or PW_EDB / PW_ENOMEM (nothing written: the statement is its own
 * transaction). */
static int write_small(pg_sink *s, const pw_payment *payments, size_t n, bool pending, pg_write_result *ret)
{
	char *rows = incoming_json(payments, n);
	if (!rows) {
		snprintf(s->error, sizeof(s->error), "out of memory, or an amount that cannot be written");
		return PW_ENOMEM;
	}
	const char *params[1] = { rows };
	PGresult *res = pending ? exec_prepared(s, &s->small_pending_prepared, "write_small_pending",
						write_small_pending_sql, 1, params, "pending payments: prepare")
				: exec_prepared(s, &s->small_prepared, "write_small", write_small_sql, 1, params,
						"payments: prepare");
	cJSON_free(rows);
	if (!res)
		return PW_EDB;
	const char *what = pending ? "pending payments" : "insert payments";
	uint64_t a = 0, deliveries = 0, seen = 0;
	int r = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != (pending ? 4 : 3)) {
		r = fail_result(s, what, res);
	} else if (parse_u64(PQgetvalue(res, 0, 0), n, &a) < 0 ||
		   parse_u64(PQgetvalue(res, 0, 1), SIZE_MAX, &deliveries) < 0 ||
		   (pending && parse_u64(PQgetvalue(res, 0, 2), n, &seen) < 0)) {
		snprintf(s->error, sizeof(s->error), "%s: unexpected counts in the answer", what);
		r = PW_EDB;
	}
	PQclear(res);
	if (r < 0)
		return r;
	if (pending)
		*ret = (pg_write_result){ .pending_events = (size_t)a,
					  .pending_rows = (size_t)seen,
					  .deliveries = (size_t)deliveries,
					  .one_statement = true };
	else
		*ret = (pg_write_result){ .inserted = (size_t)a,
					  .present = n - (size_t)a,
					  .deliveries = (size_t)deliveries,
					  .one_statement = true };
	return 0;
}

/* The general way: COPY into the session temp table, then one statement
 * per kind of entry, each idempotent. 0 with *ret, or PW_EDB (rolled back). */
static int write_upsert(pg_sink *s, const pw_payment *payments, size_t n, pg_write_result *ret)
{
	pg_write_result out = { 0 };
	size_t n_confirmed = 0, n_reverted = 0, n_pending = 0, n_dropped = 0, deliveries = 0, copied = 0, feed = 0;
	if (exec_ok(s, "BEGIN", "begin") < 0)
		return PW_EDB;
	if (!s->temp_ready) {
		if (exec_ok(s, create_incoming_sql, "create temp table") < 0)
			goto out_rollback;
		s->temp_ready = true;
	}
	if (copy_in(s, "COPY pw_incoming FROM STDIN", COPY_INCOMING, payments, NULL, n, &copied) < 0)
		goto out_rollback;
	for (size_t i = 0; i < n; i++) {
		n_confirmed += payments[i].status == PW_STATUS_CONFIRMED;
		n_reverted += payments[i].status == PW_STATUS_REVERTED;
		n_pending += payments[i].status == PW_STATUS_PENDING;
		n_dropped += payments[i].status == PW_STATUS_DROPPED;
	}
	size_t d = 0; /* deliveries of one statement; only set when the statement runs */
	if (n_confirmed && exec_counts(s, insert_confirmed_sql, "insert payments", &out.inserted, &d, &feed) < 0)
		goto out_rollback;
	deliveries += d, d = 0;
	if (n_reverted && exec_counts(s, apply_reverted_sql, "revert payments", &out.reverted, &d, &feed) < 0)
		goto out_rollback;
	deliveries += d, d = 0;
	if (n_pending && exec_counts(s, insert_pending_sql, "pending events", &out.pending_events, &d, &feed) < 0)
		goto out_rollback;
	deliveries += d, d = 0;
	size_t seen = 0, dropped = 0;
	if (n_pending && exec_counts(s, insert_seen_sql, "pending payments", &seen, &d, &feed) < 0)
		goto out_rollback;
	if (n_dropped && exec_counts(s, insert_dropped_sql, "dropped events", &out.dropped_events, &d, &feed) < 0)
		goto out_rollback;
	deliveries += d, d = 0;
	if (n_dropped && exec_counts(s, delete_dropped_sql, "dropped payments", &dropped, &d, &feed) < 0)
		goto out_rollback;
	out.pending_rows = seen;
	out.dropped_rows = dropped;
	if (commit_notifying(s, deliveries, feed) < 0)
		goto out_rollback;
	out.present = n_confirmed - out.inserted;
	out.deliveries = deliveries;
	*ret = out;
	return 0;
out_rollback:
	strip_newlines(s->error);
	rollback(s);
	s->temp_ready = false; /* created in this transaction, it went with the rollback */
	return PW_EDB;
}

/* pg_sink_warm_up_rows's rows: one payment through the small batches' statements,
 * seen pending then confirmed (its pending row deleted by the trigger, as
 * a live payment's is), for a merchant of the registry (one with an
 * active endpoint first, so that its events and deliveries are written
 * too), under an identity no chain has (chain "paywatch-warm-up", chain id
 * 0, the block hash and the recipient holding the backend's pid: two
 * writers warming up at once never wait on each other's rows). The
 * payment pays an invoice made for it at its address, which it moves to
 * processing then paid, so that the settlement's functions (014) run too:
 * PL/pgSQL compiles a function and plans its statements per session, at
 * their first call. They reach what a write of no rows does not: the
 * functions, triggers and index paths run per row. In the caller's
 * transaction, which it rolls back (the NOTIFYs with it). 1 (warmed), 0
 * (no merchant exists yet: nothing to warm), or PW_EDB (also when the
 * invoice was not settled paid). */
static int warm_up_rows(pg_sink *s)
{
	/* two reads of one row each: no scan of the registry's merchants */
	PGresult *res = PQexec(s->conn,
			       "SELECT coalesce((SELECT merchant_id FROM webhook_endpoints WHERE active LIMIT 1),"
			       " (SELECT id FROM merchants LIMIT 1))");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		int r = fail_result(s, "warm-up: a merchant", res);
		PQclear(res);
		return r;
	}
	if (PQgetisnull(res, 0, 0) || PQgetlength(res, 0, 0) >= PW_NAME_MAX) {
		PQclear(res);
		return 0;
	}
	pw_payment p[2];
	memset(p, 0, sizeof(p));
	snprintf(p[0].merchant_id, sizeof(p[0].merchant_id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	uint32_t pid = (uint32_t)PQbackendPID(s->conn);
	snprintf(p[0].chain, sizeof(p[0].chain), "paywatch-warm-up");
	snprintf(p[0].token_symbol, sizeof(p[0].token_symbol), "WARM");
	p[0].family = PW_FAMILY_EVM;
	for (int i = 0; i < 4; i++)
		p[0].block_hash[i] = p[0].to.b[i] = (uint8_t)(pid >> (24 - 8 * i));
	p[0].block_time = (int64_t)time(NULL);
	p[0].tx_hash.len = PW_HASH_LEN;
	p[0].token.len = p[0].from.len = p[0].to.len = PW_ADDR_LEN;
	p[0].amount[PW_U256_LEN - 1] = 1;
	p[0].status = PW_STATUS_PENDING;
	p[0].confirmations = 1;
	p[1] = p[0];
	p[1].status = PW_STATUS_CONFIRMED;
	p[1].confirmations = 2;
	p[1].confirmed_at_ms = p[1].block_time * 1000;
	/* the invoice the payment settles: its id, reference and address the
	 * writer's own (invoices' ids match ^inv_[A-Za-z0-9_-]{22}$; a pid is
	 * at most 2^22 on Linux, six hex digits) */
	char id[32], token[PW_ADDR_TEXT_MAX], to[PW_ADDR_TEXT_MAX];
	snprintf(id, sizeof(id), "inv_paywatch_warm_up%06x", pid & 0xffffffu);
	pw_format_address(p[0].family, &p[0].token, token);
	pw_format_address(p[0].family, &p[0].to, to);
	const char *inv[] = { id,    p[0].merchant_id,  p[0].chain, pw_family_name(p[0].family),
			      token, p[0].token_symbol, to };
	if (exec_params_ok(
		    s,
		    "INSERT INTO invoices (id, merchant_id, reference, request_sha256, chain, chain_family,"
		    " token_address, token_symbol, decimals, amount_raw, amount, address, address_shown, hd_index,"
		    " hd_path, expires_at) VALUES ($1, $2, $1, repeat('0', 64), $3, $4, $5, $6, 0, 1, 1, $7, $7, 0,"
		    " 'm/0', now() + interval '1 hour')",
		    7, inv, "warm-up: an invoice") < 0)
		return PW_EDB;
	pg_write_result pending = { 0 }, confirmed = { 0 };
	if (write_small(s, &p[0], 1, true, &pending) < 0 || write_small(s, &p[1], 1, false, &confirmed) < 0)
		return PW_EDB;
	if (pending.pending_rows != 1 || confirmed.inserted != 1) {
		snprintf(s->error, sizeof(s->error), "warm-up: its rows were not written (%zu pending, %zu confirmed)",
			 pending.pending_rows, confirmed.inserted);
		return PW_EDB;
	}
	const char *inv_id[] = { id };
	res = PQexecParams(s->conn, "SELECT status FROM invoices WHERE id = $1", 1, NULL, inv_id, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		int r = fail_result(s, "warm-up: its invoice", res);
		PQclear(res);
		return r;
	}
	bool paid = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "paid") == 0;
	if (!paid)
		snprintf(s->error, sizeof(s->error), "warm-up: its invoice was not settled paid (%s)",
			 PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "gone");
	PQclear(res);
	return paid ? 1 : PW_EDB;
}

int pg_sink_warm_up(pg_sink *s)
{
	/* the small batches' statements take one parameter, a JSON array
	 * whose rows the planner cannot see: a custom plan is the generic
	 * plan made again, 1-6 ms at each of the first five executions of a
	 * connection (Postgres's default), so plan each statement once */
	if (exec_ok(s, "SET plan_cache_mode = force_generic_plan", "warm-up: plan cache mode") < 0 ||
	    exec_ok(s, "BEGIN", "warm-up") < 0)
		return PW_EDB;
	size_t k[12] = { 0 }, feed = 0; /* what each statement wrote: all none */
	pg_write_result small = { 0 }, small_pending = { 0 };
	int r = 0;
	if (exec_ok(s, create_incoming_sql, "warm-up: temp table") < 0 ||
	    copy_in(s, "COPY pw_incoming FROM STDIN", COPY_INCOMING, NULL, NULL, 0, &k[0]) < 0 ||
	    exec_counts(s, insert_confirmed_sql, "warm-up: insert payments", &k[1], &k[2], &feed) < 0 ||
	    exec_counts(s, insert_pending_sql, "warm-up: pending events", &k[3], &k[4], &feed) < 0 ||
	    exec_counts(s, insert_seen_sql, "warm-up: pending payments", &k[5], &k[6], &feed) < 0 ||
	    copy_in(s, PAYMENTS_COPY_SQL, COPY_PAYMENT, NULL, NULL, 0, &k[7]) < 0 ||
	    copy_in(s, FEED_COPY_SQL, COPY_FEED, NULL, NULL, 0, &k[8]) < 0 ||
	    copied_events_in(s, "", 1, 0, &k[9]) < 0 || write_small(s, NULL, 0, false, &small) < 0 ||
	    write_small(s, NULL, 0, true, &small_pending) < 0)
		r = PW_EDB;
	k[10] = small.inserted + small.deliveries;
	k[11] = small_pending.pending_events + small_pending.pending_rows + small_pending.deliveries;
	for (size_t i = 0; i < 12 && r == 0; i++) {
		if (k[i] || feed) { /* statements on no rows wrote some: a bug, and rolled back below */
			snprintf(s->error, sizeof(s->error), "warm-up: statement %zu wrote rows where none were given",
				 i + 1);
			r = PW_EDB;
		}
	}
	strip_newlines(s->error);
	rollback(s);
	s->temp_ready = false; /* created in the transaction rolled back */
	return r;
}

int pg_sink_warm_up_rows(pg_sink *s)
{
	if (exec_ok(s, "BEGIN", "warm-up") < 0)
		return PW_EDB;
	int r = warm_up_rows(s);
	strip_newlines(s->error);
	rollback(s);
	return r;
}

/* One write of a batch (n > 0) whose entries passed payment_check and
 * hold no identity twice: one statement (a small batch of confirmed or of
 * pending entries), the direct COPY, or the upsert. 0 with *ret,
 * PW_EREFUSED (Postgres refused it for a data reason: rolled back, the
 * connection is fine), or PW_EDB. */
static int write_batch(pg_sink *s, const pw_payment *payments, size_t n, pg_write_result *ret)
{
	bool all_confirmed = true, all_pending = true;
	for (size_t i = 0; i < n; i++) {
		all_confirmed = all_confirmed && payments[i].status == PW_STATUS_CONFIRMED;
		all_pending = all_pending && payments[i].status == PW_STATUS_PENDING;
	}
	bool small = (all_confirmed || all_pending) && n <= s->statement_max;
	if (small || (all_confirmed && !s->upsert_only)) {
		int r = small ? write_small(s, payments, n, all_pending, ret) : write_direct(s, payments, n, ret);
		if (r == 0) {
			if (small && all_confirmed) /* it counts rows already present, as the general way below */
				s->upsert_only = ret->present > 0;
			return 0;
		}
		if (PQstatus(s->conn) != CONNECTION_OK) {
			s->temp_ready = false;
			return PW_EDB;
		}
		/* a row already there (the COPY), or one refused: the general way reports it */
	}
	int r = write_upsert(s, payments, n, ret);
	/* rows already present tend to come in runs (a range replayed first):
	 * stay on the general way until a batch finds none */
	if (r == 0)
		s->upsert_only = ret->present > 0;
	else if (refused_for_data(s))
		r = PW_EREFUSED;
	return r;
}

/* Quarantine: an entry that cannot be written is kept in
 * payment_quarantine (its outbox encoding, the reason, and its identity
 * as text an operator can read), never dropped; a second quarantine of
 * the same entry (a crash between this commit and the outbox deletion)
 * replaces the first, so the latest is last. */
static const char quarantine_delete_sql[] =
	"DELETE FROM payment_quarantine WHERE chain_id = $1 AND block_hash = $2 AND log_index = $3 AND kind = $4";
static const char quarantine_insert_sql[] =
	"INSERT INTO payment_quarantine (chain_id, block_hash, log_index, kind, chain, block_number, tx_hash,"
	" merchant_id, amount_raw, entry, reason, sqlstate)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::bytea, $11, $12)";

/* Quarantine p with the reason (and SQLSTATE, "" for paywatch's own
 * refusal). 0 or PW_EDB. */
static int quarantine_entry(pg_sink *s, const pw_payment *p, const char *reason, const char *sqlstate)
{
	char chain_id[24], number[24], log_index[16], block_hash[PW_HASH_TEXT_MAX], tx_hash[PW_HASH_TEXT_MAX];
	char raw[U256_DEC_MAX], chain[4 * PW_NAME_MAX], merchant[4 * PW_NAME_MAX], why[1024];
	char entry[2 + 2 * PW_PAYMENT_ENC_MAX + 1];
	uint8_t enc[PW_PAYMENT_ENC_MAX];
	snprintf(chain_id, sizeof(chain_id), "%llu", (unsigned long long)p->chain_id);
	snprintf(number, sizeof(number), "%llu", (unsigned long long)p->block_number);
	snprintf(log_index, sizeof(log_index), "%u", p->log_index);
	/* text columns hold what Postgres accepts whatever the entry holds */
	pw_format_hash(p->family, p->block_hash, PW_HASH_LEN, block_hash);
	pw_format_hash(p->family, p->tx_hash.b, p->tx_hash.len <= PW_TXID_MAX ? p->tx_hash.len : 0, tx_hash);
	u256_to_dec(p->amount, raw);
	text_escape(chain, sizeof(chain), p->chain);
	text_escape(merchant, sizeof(merchant), p->merchant_id);
	text_escape(why, sizeof(why), reason);
	size_t len = payment_encode(p, enc);
	hex_encode(enc, len, entry);
	entry[0] = '\\';
	const char *key[4] = { chain_id, block_hash, log_index, pw_status_name(p->status) };
	const char *params[12] = { chain_id, block_hash, log_index, pw_status_name(p->status),
				   chain,    number,     tx_hash,   merchant,
				   raw,      entry,      why,       sqlstate && *sqlstate ? sqlstate : NULL };
	if (exec_ok(s, "BEGIN", "begin") < 0)
		return PW_EDB;
	if (exec_params_ok(s, quarantine_delete_sql, 4, key, "quarantine") < 0 ||
	    exec_params_ok(s, quarantine_insert_sql, 12, params, "quarantine") < 0 ||
	    exec_ok(s, "COMMIT", "commit") < 0) {
		rollback(s);
		return PW_EDB;
	}
	return 0;
}

static void add_result(pg_write_result *to, const pg_write_result *part)
{
	to->inserted += part->inserted;
	to->present += part->present;
	to->reverted += part->reverted;
	to->pending_events += part->pending_events;
	to->pending_rows += part->pending_rows;
	to->dropped_rows += part->dropped_rows;
	to->dropped_events += part->dropped_events;
	to->deliveries += part->deliveries;
	to->copied |= part->copied;
	to->one_statement |= part->one_statement;
}

/* Write payments; a part Postgres refuses for a data reason is split in
 * halves until the refused entry is alone, and that one is quarantined:
 * a poison entry costs about 2 log2(n) transactions, the others are all
 * written, in their order. 0, or PW_EDB (connection trouble: what was
 * written stays written; the writes are idempotent). */
static int write_isolating(pg_sink *s, const pw_payment *p, size_t n, pg_write_result *ret)
{
	pg_write_result part = { 0 };
	int r = write_batch(s, p, n, &part);
	if (r == 0) {
		add_result(ret, &part);
		return 0;
	}
	if (r != PW_EREFUSED)
		return r;
	if (n == 1) {
		char reason[512], state[6];
		snprintf(reason, sizeof(reason), "%s", s->error);
		snprintf(state, sizeof(state), "%s", s->sqlstate);
		if ((r = quarantine_entry(s, p, reason, state)) < 0)
			return r;
		ret->quarantined++;
		return 0;
	}
	size_t half = n / 2;
	if ((r = write_isolating(s, p, half, ret)) < 0)
		return r;
	return write_isolating(s, p + half, n - half, ret);
}

static int cmp_identity_at(const void *a, const void *b)
{
	const pw_payment *x = *(const pw_payment *const *)a, *y = *(const pw_payment *const *)b;
	if (x->status != y->status)
		return x->status < y->status ? -1 : 1;
	if (x->chain_id != y->chain_id)
		return x->chain_id < y->chain_id ? -1 : 1;
	int r = memcmp(x->block_hash, y->block_hash, PW_HASH_LEN);
	if (r)
		return r;
	if (x->log_index != y->log_index)
		return x->log_index < y->log_index ? -1 : 1;
	return x < y ? -1 : x > y; /* by position: the first of a repeat is kept */
}

int pg_sink_write_payments(pg_sink *s, const pw_payment *payments, size_t n, pg_write_result *ret)
{
	*ret = (pg_write_result){ 0 };
	if (n == 0)
		return 0;
	/* entries paywatch itself refuses (payment_check) are quarantined
	 * before anything is sent; an entry repeated in the batch (same
	 * status, same identity) is written once: Postgres refuses an
	 * ON CONFLICT DO UPDATE that meets one row twice */
	const pw_payment **order = malloc(n * sizeof(*order));
	bool *skip = calloc(n, sizeof(*skip));
	pw_payment *kept = NULL;
	int r = 0;
	if (!order || !skip) {
		r = PW_ENOMEM;
		goto out_free;
	}
	size_t n_skip = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		char why[160];
		order[i] = &payments[i];
		if (payment_check(&payments[i], why, sizeof(why)) < 0) {
			char reason[200];
			snprintf(reason, sizeof(reason), "paywatch: %s", why);
			r = quarantine_entry(s, &payments[i], reason, "");
			skip[i] = true;
			n_skip++;
			ret->quarantined++;
		}
	}
	if (r < 0)
		goto out_free;
	qsort(order, n, sizeof(*order), cmp_identity_at);
	for (size_t k = 1; k < n; k++) {
		const pw_payment *a = order[k - 1], *b = order[k];
		if (a->status == b->status && a->chain_id == b->chain_id && a->log_index == b->log_index &&
		    memcmp(a->block_hash, b->block_hash, PW_HASH_LEN) == 0 && !skip[b - payments]) {
			skip[b - payments] = true;
			n_skip++;
			ret->duplicates++;
		}
	}
	if (n_skip == n)
		goto out_free;
	const pw_payment *batch = payments;
	if (n_skip) {
		if (!(kept = malloc((n - n_skip) * sizeof(*kept)))) {
			r = PW_ENOMEM;
			goto out_free;
		}
		size_t o = 0;
		for (size_t i = 0; i < n; i++)
			if (!skip[i])
				kept[o++] = payments[i];
		batch = kept;
	}
	r = write_isolating(s, batch, n - n_skip, ret);
out_free:
	if (r == PW_ENOMEM)
		snprintf(s->error, sizeof(s->error), "out of memory");
	free(order);
	free(skip);
	free(kept);
	return r < 0 ? PW_EDB : 0;
}

/* SHA-256 of text as 64 lowercase hex digits (+ NUL): how migration 006
 * remembered a legacy endpoint's full URL. */
static void sha256_hex(const char *text, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int pg_sink_sync_merchants(pg_sink *s, const char *chains, const char *const *merchant_ids, size_t n_merchants,
			   const pg_merchant_address *addresses, size_t n_addresses,
			   const pg_webhook_endpoint *endpoints, size_t n_endpoints)
{
	if (exec_ok(s, "BEGIN", "begin") < 0)
		return PW_EDB;
	if (exec_ok(s,
		    "CREATE TEMP TABLE IF NOT EXISTS pw_merchant_addresses (chain text, address text,"
		    " merchant_id text, chain_family text) ON COMMIT DROP",
		    "temp table") < 0 ||
	    exec_ok(s, "CREATE TEMP TABLE IF NOT EXISTS pw_merchant_ids (id text) ON COMMIT DROP", "temp table") < 0)
		goto out_rollback;
	/* the merchants in one COPY and one statement (a statement each was
	 * 150,000 round trips for 150,000 merchants) */
	PGresult *ids = PQexec(s->conn, "COPY pw_merchant_ids FROM STDIN");
	bool copying = PQresultStatus(ids) == PGRES_COPY_IN;
	if (!copying)
		fail_result(s, "copy", ids);
	PQclear(ids);
	if (!copying)
		goto out_rollback;
	pw_buf idb;
	buf_init(&idb, (size_t)1 << 30);
	for (size_t i = 0; i < n_merchants; i++) {
		copy_text(&idb, merchant_ids[i]);
		buf_append(&idb, "\n", 1);
		if (idb.len > (1u << 20) || i + 1 == n_merchants) {
			PQputCopyData(s->conn, idb.data, (int)idb.len);
			buf_reset(&idb);
		}
	}
	buf_done(&idb);
	PQputCopyEnd(s->conn, NULL);
	ids = PQgetResult(s->conn);
	copying = PQresultStatus(ids) == PGRES_COMMAND_OK;
	if (!copying)
		fail_result(s, "copy", ids);
	PQclear(ids);
	while ((ids = PQgetResult(s->conn)) != NULL)
		PQclear(ids);
	if (!copying ||
	    exec_ok(s,
		    "INSERT INTO merchants (id) SELECT DISTINCT id FROM pw_merchant_ids ON CONFLICT (id) DO UPDATE"
		    " SET updated_at = now(), origin = 'config', removed_at = NULL"
		    " WHERE merchants.origin <> 'config' OR merchants.removed_at IS NOT NULL",
		    "merchants") < 0)
		goto out_rollback;
	PGresult *res = PQexec(s->conn, "COPY pw_merchant_addresses FROM STDIN");
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		fail_result(s, "copy", res);
		PQclear(res);
		goto out_rollback;
	}
	PQclear(res);
	pw_buf b;
	buf_init(&b, (size_t)1 << 30);
	for (size_t i = 0; i < n_addresses; i++) {
		char addr[PW_ADDR_TEXT_MAX];
		pw_format_address(addresses[i].family, &addresses[i].address, addr);
		copy_text(&b, addresses[i].chain);
		buf_appendf(&b, "\t%s\t", addr);
		copy_text(&b, addresses[i].merchant_id);
		buf_appendf(&b, "\t%s\n", pw_family_name(addresses[i].family));
		if (b.len > (1u << 20) || i + 1 == n_addresses) {
			PQputCopyData(s->conn, b.data, (int)b.len);
			buf_reset(&b);
		}
	}
	buf_done(&b);
	PQputCopyEnd(s->conn, NULL);
	res = PQgetResult(s->conn);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		fail_result(s, "copy", res);
	PQclear(res);
	while ((res = PQgetResult(s->conn)) != NULL)
		PQclear(res);
	if (!ok)
		goto out_rollback;
	const char *chain_param[1] = { chains };
	if (exec_params_ok(s,
			   /* on the chains this config indexes only: another process's
			    * config speaks for its own */
			   "DELETE FROM merchant_addresses m WHERE m.origin = 'config' AND m.hd_index IS NULL"
			   " AND m.chain = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM"
			   " pw_merchant_addresses t WHERE t.chain = m.chain AND t.address = m.address"
			   " AND t.merchant_id = m.merchant_id)",
			   1, chain_param, "prune addresses") < 0 ||
	    exec_ok(s,
		    "INSERT INTO merchant_addresses (chain, address, merchant_id, chain_family) SELECT DISTINCT ON"
		    " (chain, address) chain, address, merchant_id, chain_family FROM pw_merchant_addresses"
		    " ON CONFLICT (chain, address) DO UPDATE SET merchant_id = EXCLUDED.merchant_id, origin = 'config',"
		    " chain_family = EXCLUDED.chain_family WHERE (merchant_addresses.merchant_id,"
		    " merchant_addresses.origin) IS DISTINCT FROM (EXCLUDED.merchant_id, 'config')",
		    "insert addresses") < 0 ||
	    exec_ok(s, "UPDATE webhook_endpoints SET active = false WHERE origin = 'config' AND active", "endpoints") <
		    0)
		goto out_rollback;
	for (size_t i = 0; i < n_endpoints; i++) {
		char shown[300], digest[65];
		webhook_url_display(endpoints[i].url, shown, sizeof(shown));
		sha256_hex(endpoints[i].url, digest);
		const char *adopt[3] = { endpoints[i].merchant_id, endpoints[i].key, digest };
		const char *params[4] = { endpoints[i].merchant_id, endpoints[i].key, shown, endpoints[i].events };
		if (exec_params_ok(
			    s,
			    "UPDATE webhook_endpoints SET key = $2, url_sha256 = NULL WHERE merchant_id = $1"
			    " AND key IS NULL AND url_sha256 = $3 AND NOT EXISTS (SELECT 1 FROM webhook_endpoints k"
			    " WHERE k.merchant_id = $1 AND k.key = $2)",
			    3, adopt, "webhook endpoints") < 0 ||
		    exec_params_ok(
			    s,
			    "INSERT INTO webhook_endpoints (merchant_id, key, url, events) VALUES ($1, $2, $3, $4::text[])"
			    " ON CONFLICT (merchant_id, key) DO UPDATE SET url = EXCLUDED.url, events = EXCLUDED.events,"
			    " active = true, origin = 'config', url_sealed = NULL, secret_sealed = NULL, key_id = NULL",
			    4, params, "webhook endpoints") < 0)
			goto out_rollback;
	}
	if (exec_ok(s, "COMMIT", "commit") < 0)
		goto out_rollback;
	return 0;
out_rollback:
	rollback(s);
	return PW_EDB;
}

static const char create_migrations_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY,"
	" applied_at timestamptz NOT NULL DEFAULT now())";

static int is_applied(pg_sink *s, const char *name, bool *ret)
{
	const char *params[1] = { name };
	PGresult *res = PQexecParams(s->conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, params,
				     NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail_result(s, "schema_migrations", res);
		PQclear(res);
		return PW_EDB;
	}
	*ret = PQntuples(res) > 0;
	PQclear(res);
	return 0;
}

int pg_sink_count_missing_migrations(pg_sink *s, const struct schema_migration *list, size_t *ret_missing)
{
	char err[400];
	int r = pg_count_missing_migrations(s->conn, list, ret_missing, err, sizeof(err));
	if (r < 0) {
		snprintf(s->error, sizeof(s->error), "schema_migrations: %s", err);
		s->sqlstate[0] = '\0';
		pg_scrub(s->error, s->dsn);
	}
	return r;
}

int pg_sink_migrate(pg_sink *s, const struct schema_migration *list, size_t *ret_applied)
{
	size_t applied = 0;
	if (exec_ok(s, create_migrations_sql, "create schema_migrations") < 0)
		return PW_EDB;
	for (const struct schema_migration *m = list; m->name; m++) {
		bool done = false;
		if (exec_ok(s, "BEGIN", "begin") < 0)
			return PW_EDB;
		/* serialize concurrent migrators; released at commit */
		if (exec_ok(s, "SELECT pg_advisory_xact_lock(7400417)", "advisory lock") < 0 ||
		    is_applied(s, m->name, &done) < 0)
			goto out_rollback;
		if (done) {
			exec_ok(s, "COMMIT", "commit");
			continue;
		}
		char what[160];
		snprintf(what, sizeof(what), "migration %s", m->name);
		if (exec_ok(s, m->sql, what) < 0)
			goto out_rollback;
		const char *params[1] = { m->name };
		PGresult *res = PQexecParams(s->conn, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, NULL,
					     params, NULL, NULL, 0);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
		if (!ok || exec_ok(s, "COMMIT", "commit") < 0)
			goto out_rollback;
		applied++;
	}
	*ret_applied = applied;
	return 0;
out_rollback:
	rollback(s);
	return PW_EDB;
}

int pg_sink_put_chain_report(pg_sink *s, const char *chain, const char *report_json)
{
	const char *params[2] = { chain, report_json };
	return exec_params_ok(s,
			      "INSERT INTO chain_reports (chain, report, updated_at) VALUES ($1, $2::jsonb, now())"
			      " ON CONFLICT (chain) DO UPDATE SET report = EXCLUDED.report, updated_at = now()",
			      2, params, "chain report");
}

int pg_sink_set_webhooks(pg_sink *s, bool on)
{
	return exec_ok(s, on ? "SET paywatch.webhooks = 'on'" : "SET paywatch.webhooks = 'off'",
		       "set paywatch.webhooks");
}

/* Parse one row of read_payments_sql into p; PW_EPARSE on a value that is
 * not what the schema's CHECKs allow (a row edited by hand). */
static int parse_row(const PGresult *res, int i, pw_payment *p)
{
	memset(p, 0, sizeof(*p));
	uint64_t u;
	int bad = 0;
	const char *family = PQgetvalue(res, i, 17);
	p->family = strcmp(family, "tron") == 0 ? PW_FAMILY_TRON : PW_FAMILY_EVM;
	bad |= strcmp(family, pw_family_name(p->family)) != 0;
	snprintf(p->chain, sizeof(p->chain), "%s", PQgetvalue(res, i, 0));
	bad |= parse_u64(PQgetvalue(res, i, 1), UINT64_MAX, &p->chain_id);
	bad |= parse_u64(PQgetvalue(res, i, 2), UINT64_MAX, &p->block_number);
	bad |= pw_parse_hash(p->family, PQgetvalue(res, i, 3), p->block_hash, PW_HASH_LEN);
	bad |= parse_i64(PQgetvalue(res, i, 4), 0, PW_TIME_MAX_S, &p->block_time);
	p->tx_hash.len = PW_HASH_LEN;
	bad |= pw_parse_hash(p->family, PQgetvalue(res, i, 5), p->tx_hash.b, PW_HASH_LEN);
	bad |= parse_u64(PQgetvalue(res, i, 6), UINT32_MAX, &u);
	p->log_index = (uint32_t)u;
	bad |= pw_parse_address(p->family, PQgetvalue(res, i, 7), &p->token);
	snprintf(p->token_symbol, sizeof(p->token_symbol), "%s", PQgetvalue(res, i, 8));
	bad |= parse_u64(PQgetvalue(res, i, 9), 77, &u);
	p->decimals = (uint8_t)u;
	bad |= pw_parse_address(p->family, PQgetvalue(res, i, 10), &p->from);
	bad |= pw_parse_address(p->family, PQgetvalue(res, i, 11), &p->to);
	snprintf(p->merchant_id, sizeof(p->merchant_id), "%s", PQgetvalue(res, i, 12));
	bad |= u256_from_dec(PQgetvalue(res, i, 13), p->amount);
	p->status = strcmp(PQgetvalue(res, i, 14), "reverted") == 0 ? PW_STATUS_REVERTED : PW_STATUS_CONFIRMED;
	bad |= parse_u64(PQgetvalue(res, i, 15), UINT32_MAX, &u);
	p->confirmations = (uint32_t)u;
	bad |= parse_i64(PQgetvalue(res, i, 16), 0, PW_TIME_MAX_S * 1000, &p->confirmed_at_ms);
	return bad ? PW_EPARSE : 0;
}

static const char read_payments_sql[] =
	"SELECT chain, chain_id, block_number, block_hash, extract(epoch FROM block_time)::bigint, tx_hash,"
	" log_index, token_address, token_symbol, decimals, from_address, to_address, merchant_id, amount_raw,"
	" status, confirmations, (extract(epoch FROM confirmed_at) * 1000)::bigint, chain_family"
	" FROM payments WHERE chain = $1 AND block_number BETWEEN $2 AND $3"
	" AND ($4::text IS NULL OR merchant_id = $4) AND ($5::text IS NULL OR to_address = $5)"
	" ORDER BY block_number, log_index";

int pg_sink_read_payments(pg_sink *s, const char *chain, uint8_t family, uint64_t from, uint64_t to,
			  const char *merchant_id, const pw_addr *to_address, pw_payment **ret, size_t *ret_n)
{
	char from_s[24], to_s[24], addr[PW_ADDR_TEXT_MAX];
	snprintf(from_s, sizeof(from_s), "%llu", (unsigned long long)from);
	snprintf(to_s, sizeof(to_s), "%llu", (unsigned long long)to);
	if (to_address)
		pw_format_address(family, to_address, addr);
	const char *params[5] = { chain, from_s, to_s, merchant_id, to_address ? addr : NULL };
	PGresult *res = PQexecParams(s->conn, read_payments_sql, 5, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail_result(s, "read payments", res);
		PQclear(res);
		return PW_EDB;
	}
	int n = PQntuples(res);
	pw_payment *rows = n ? malloc((size_t)n * sizeof(*rows)) : NULL;
	if (n && !rows) {
		PQclear(res);
		return PW_ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		if (parse_row(res, i, &rows[i]) < 0) {
			snprintf(s->error, sizeof(s->error), "payments row %d of blocks %s..%s: unreadable value", i,
				 from_s, to_s);
			free(rows);
			PQclear(res);
			return PW_EPARSE;
		}
	}
	PQclear(res);
	*ret = rows;
	*ret_n = (size_t)n;
	return 0;
}

int pg_sink_fix_payment(pg_sink *s, const pw_payment *p, size_t *ret_updated)
{
	char chain_id[24], number[24], time_s[24], log_index[16], decimals[8], raw[U256_DEC_MAX], amount[U256_DEC_MAX];
	char block_hash[PW_HASH_TEXT_MAX], tx_hash[PW_HASH_TEXT_MAX], token[PW_ADDR_TEXT_MAX], from[PW_ADDR_TEXT_MAX],
		to[PW_ADDR_TEXT_MAX];
	snprintf(chain_id, sizeof(chain_id), "%llu", (unsigned long long)p->chain_id);
	snprintf(number, sizeof(number), "%llu", (unsigned long long)p->block_number);
	snprintf(time_s, sizeof(time_s), "%lld", (long long)p->block_time);
	snprintf(log_index, sizeof(log_index), "%u", p->log_index);
	snprintf(decimals, sizeof(decimals), "%u", p->decimals);
	pw_format_hash(p->family, p->block_hash, PW_HASH_LEN, block_hash);
	pw_format_hash(p->family, p->tx_hash.b, p->tx_hash.len, tx_hash);
	pw_format_address(p->family, &p->token, token);
	pw_format_address(p->family, &p->from, from);
	pw_format_address(p->family, &p->to, to);
	u256_to_dec(p->amount, raw);
	if (u256_format_units(p->amount, p->decimals, amount) < 0)
		return PW_EINVAL;
	const char *params[15] = { chain_id, block_hash,     log_index, p->chain,        number,
				   time_s,   tx_hash,        token,     p->token_symbol, from,
				   to,       p->merchant_id, raw,       decimals,        amount };
	PGresult *res =
		PQexecParams(s->conn,
			     "UPDATE payments SET chain = $4, block_number = $5, block_time = to_timestamp($6),"
			     " tx_hash = $7, token_address = $8, token_symbol = $9, from_address = $10,"
			     " to_address = $11, merchant_id = $12, amount_raw = $13, decimals = $14, amount = $15,"
			     " status = 'confirmed', reverted_at = NULL"
			     " WHERE chain_id = $1 AND block_hash = $2 AND log_index = $3",
			     15, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fail_result(s, "fix payment", res);
		PQclear(res);
		return PW_EDB;
	}
	uint64_t updated = 0;
	int r = parse_u64(PQcmdTuples(res), SIZE_MAX, &updated) < 0 ? PW_EDB : 0;
	if (r < 0)
		snprintf(s->error, sizeof(s->error), "fix payment: no row count in the answer");
	else
		*ret_updated = (size_t)updated;
	PQclear(res);
	return r;
}

/* ---- the quarantine, for operators ---- */

static const char quarantine_list_sql[] =
	"SELECT id, chain, block_number, block_hash, tx_hash, log_index, kind, merchant_id, amount_raw, reason,"
	" coalesce(sqlstate, ''), to_char(quarantined_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	" retries, coalesce(to_char(last_retry_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
	" FROM payment_quarantine WHERE ($1::text IS NULL OR chain = $1) ORDER BY id LIMIT $2";

int pg_sink_quarantine_list(pg_sink *s, const char *chain, size_t limit, pg_quarantined **ret, size_t *ret_n)
{
	char lim[24];
	snprintf(lim, sizeof(lim), "%zu", limit);
	const char *params[2] = { chain, lim };
	PGresult *res = PQexecParams(s->conn, quarantine_list_sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail_result(s, "quarantine", res);
		PQclear(res);
		return PW_EDB;
	}
	size_t n = (size_t)PQntuples(res);
	pg_quarantined *rows = n ? calloc(n, sizeof(*rows)) : NULL;
	if (n && !rows) {
		PQclear(res);
		return PW_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		pg_quarantined *q = &rows[i];
		int k = (int)i;
		uint64_t u = 0;
		parse_u64(PQgetvalue(res, k, 0), UINT64_MAX, &u);
		q->id = u;
		snprintf(q->chain, sizeof(q->chain), "%s", PQgetvalue(res, k, 1));
		snprintf(q->block_number, sizeof(q->block_number), "%s", PQgetvalue(res, k, 2));
		snprintf(q->block_hash, sizeof(q->block_hash), "%s", PQgetvalue(res, k, 3));
		snprintf(q->tx_hash, sizeof(q->tx_hash), "%s", PQgetvalue(res, k, 4));
		snprintf(q->log_index, sizeof(q->log_index), "%s", PQgetvalue(res, k, 5));
		snprintf(q->kind, sizeof(q->kind), "%s", PQgetvalue(res, k, 6));
		snprintf(q->merchant_id, sizeof(q->merchant_id), "%s", PQgetvalue(res, k, 7));
		snprintf(q->amount_raw, sizeof(q->amount_raw), "%s", PQgetvalue(res, k, 8));
		snprintf(q->reason, sizeof(q->reason), "%s", PQgetvalue(res, k, 9));
		snprintf(q->sqlstate, sizeof(q->sqlstate), "%s", PQgetvalue(res, k, 10));
		snprintf(q->quarantined_at, sizeof(q->quarantined_at), "%s", PQgetvalue(res, k, 11));
		parse_u64(PQgetvalue(res, k, 12), UINT32_MAX, &u);
		q->retries = (uint32_t)u;
		snprintf(q->last_retry_at, sizeof(q->last_retry_at), "%s", PQgetvalue(res, k, 13));
	}
	PQclear(res);
	*ret = rows;
	*ret_n = n;
	return 0;
}

int pg_sink_quarantine_summary(pg_sink *s, const char *chain, uint64_t *ret_count, char *ret_oldest, size_t oldest_len)
{
	const char *params[1] = { chain };
	PGresult *res = PQexecParams(s->conn,
				     "SELECT count(*), coalesce(to_char(min(quarantined_at) AT TIME ZONE 'UTC',"
				     " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') FROM payment_quarantine"
				     " WHERE ($1::text IS NULL OR chain = $1)",
				     1, NULL, params, NULL, NULL, 0);
	uint64_t count = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    parse_u64(PQgetvalue(res, 0, 0), UINT64_MAX, &count) < 0) {
		fail_result(s, "quarantine", res);
		PQclear(res);
		return PW_EDB;
	}
	*ret_count = count;
	snprintf(ret_oldest, oldest_len, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

/* One quarantined entry again: written (the row goes), or refused again
 * (retries + 1, the new reason). 0 with *ret_written, or PW_EDB. */
static int retry_one(pg_sink *s, const char *id, const char *entry_text, bool *ret_written)
{
	size_t len = 0;
	unsigned char *raw = PQunescapeBytea((const unsigned char *)entry_text, &len);
	pw_payment p;
	char reason[600] = "";
	int r = raw && payment_decode(raw, len, &p) == 0 ? 0 : PW_EPARSE;
	PQfreemem(raw);
	pg_write_result res = { 0 };
	if (r < 0) {
		snprintf(reason, sizeof(reason), "paywatch: the entry does not decode (written by another version?)");
	} else if (payment_check(&p, reason + 10, sizeof(reason) - 10) < 0) {
		memcpy(reason, "paywatch: ", 10);
		r = PW_EREFUSED;
	} else if ((r = write_batch(s, &p, 1, &res)) == PW_EREFUSED) {
		text_escape(reason, sizeof(reason), s->error);
	} else if (r < 0) {
		return r;
	}
	const char *params[2] = { id, reason };
	if ((r == 0 ? exec_params_ok(s, "DELETE FROM payment_quarantine WHERE id = $1", 1, params, "quarantine")
		    : exec_params_ok(s,
				     "UPDATE payment_quarantine SET retries = retries + 1, last_retry_at = now(),"
				     " reason = $2 WHERE id = $1",
				     2, params, "quarantine")) < 0)
		return PW_EDB;
	*ret_written = r == 0;
	return 0;
}

int pg_sink_quarantine_retry(pg_sink *s, uint64_t id, const char *chain, size_t *ret_written, size_t *ret_refused)
{
	char id_text[24];
	snprintf(id_text, sizeof(id_text), "%llu", (unsigned long long)id);
	const char *params[2] = { id ? id_text : NULL, chain };
	PGresult *res = PQexecParams(s->conn,
				     "SELECT id, entry FROM payment_quarantine WHERE ($1::bigint IS NULL OR id = $1)"
				     " AND ($2::text IS NULL OR chain = $2) ORDER BY id",
				     2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail_result(s, "quarantine", res);
		PQclear(res);
		return PW_EDB;
	}
	size_t written = 0, refused = 0;
	int r = 0;
	for (int i = 0; i < PQntuples(res) && r == 0; i++) {
		bool ok = false;
		if ((r = retry_one(s, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), &ok)) == 0)
			ok ? written++ : refused++;
	}
	PQclear(res);
	*ret_written = written;
	*ret_refused = refused;
	return r;
}

PGconn *pg_sink_conn(pg_sink *s)
{
	return s->conn;
}
