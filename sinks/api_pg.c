/* api_pg.c: the HTTP API's queries (api_pg.h). */
#include "api_pg.h"
#include "b64url.h"
#include "buf.h"
#include "clock.h"
#include "parse.h"
#include "pg_conn.h"
#include "pw_error.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A payment row as the API shows it: id, the keyset position, PAYMENT
 * (the webhook body's data object, from the same SQL function) and
 * reverted_at. */
#define PAYMENT_SELECT                                                                                                 \
	"SELECT p.id, to_char(p.confirmed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"                \
	" left((paywatch_event_payload(p.status, p.id, p.chain, p.chain_id, p.block_number, p.block_hash,"             \
	" p.block_time, p.tx_hash, p.log_index, p.token_address, p.token_symbol, p.decimals,"                          \
	" p.from_address, p.to_address, p.amount, p.amount_raw, p.confirmations, p.merchant_id, p.status,"             \
	" NULL)::json -> 'data')::text, -1) || ', \"reverted_at\" : ' || coalesce(to_json(to_char("                    \
	" p.reverted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))::text, 'null') || '}'"               \
	" FROM payments p"

/* Filters: $1 merchant, $2 chain, $3 status, $4 tx_hash, $5 to, $6 from
 * (NULL: any); $7, $8 the cursor's (confirmed_at, id); $9 the row count;
 * $10 token (symbol or address), $11/$12 amounts (exact numeric, token
 * units), $13/$14 times on confirmed_at. */
#define PAYMENT_FILTERS                                                                                                \
	" WHERE ($1::text IS NULL OR p.merchant_id = $1) AND ($2::text IS NULL OR p.chain = $2)"                       \
	" AND ($3::text IS NULL OR p.status = $3) AND ($4::text IS NULL OR p.tx_hash = $4)"                            \
	" AND ($5::text IS NULL OR p.to_address = $5) AND ($6::text IS NULL OR p.from_address = $6)"                   \
	" AND ($10::text IS NULL OR p.token_symbol = $10 OR p.token_address = $10)"                                    \
	" AND ($11::numeric IS NULL OR p.amount >= $11::numeric)"                                                      \
	" AND ($12::numeric IS NULL OR p.amount <= $12::numeric)"                                                      \
	" AND ($13::timestamptz IS NULL OR p.confirmed_at >= $13::timestamptz)"                                        \
	" AND ($14::timestamptz IS NULL OR p.confirmed_at < $14::timestamptz)"

static const char list_desc_sql[] = PAYMENT_SELECT PAYMENT_FILTERS
	" AND ($7::timestamptz IS NULL OR (p.confirmed_at, p.id) < ($7::timestamptz, $8::bigint))"
	" ORDER BY p.confirmed_at DESC, p.id DESC LIMIT $9";
static const char list_asc_sql[] = PAYMENT_SELECT PAYMENT_FILTERS
	" AND ($7::timestamptz IS NULL OR (p.confirmed_at, p.id) > ($7::timestamptz, $8::bigint))"
	" ORDER BY p.confirmed_at, p.id LIMIT $9";
static const char get_sql[] = PAYMENT_SELECT " WHERE p.id = $1 AND ($2::text IS NULL OR p.merchant_id = $2)";

static int prepare(PGconn *c, uint32_t statement_timeout_ms, char *err, size_t errlen)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SET statement_timeout = %u; SET default_transaction_read_only = on",
		 statement_timeout_ms);
	PGresult *res = PQexec(c, sql);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : PW_EDB;
	if (r)
		pg_error(c, err, errlen);
	PQclear(res);
	return r;
}

/* The text of an opaque cursor: base64url-decoded into buf (n bytes,
 * NUL-terminated). buf, or NULL when it is not base64url, too long, or
 * holds a NUL (a cursor is never handed to Postgres unchecked). */
static const char *cursor_text(const char *text, uint8_t *buf, size_t n)
{
	size_t got = 0;
	if (b64url_decode(text, buf, n - 1, &got) < 0 || memchr(buf, '\0', got))
		return NULL;
	buf[got] = '\0';
	return (const char *)buf;
}

/* "<at>|<id>" in base64url without padding */
void api_cursor_encode(const api_cursor *c, char *out, size_t outlen)
{
	char raw[64];
	int n = snprintf(raw, sizeof(raw), "%s|%lld", c->at, (long long)c->id);
	b64url_encode((const uint8_t *)raw, (size_t)n, out, outlen);
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int two(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

int api_cursor_decode(const char *text, api_cursor *ret)
{
	uint8_t raw[72];
	const char *s = cursor_text(text, raw, sizeof(raw));
	if (!s)
		return PW_EPARSE;
	/* YYYY-MM-DDTHH:MM:SS.ffffffZ|id */
	const char *bar = strchr(s, '|');
	if (!bar || bar - s != 27)
		return PW_EPARSE;
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	for (size_t i = 0; i < 27; i++)
		if (shape[i] == 'd' ? !digits(s + i, 1) : s[i] != shape[i])
			return PW_EPARSE;
	char at[28];
	memcpy(at, s, 27);
	at[27] = '\0';
	/* never a Postgres error: a cursor is checked here, the time as
	 * timestamptz takes it (api_time_ok), and no leap second (Postgres
	 * never writes one) */
	if (two(s + 17) > 59 || !api_time_ok(at))
		return PW_EPARSE;
	const char *id = bar + 1;
	size_t idn = strlen(id);
	if (idn == 0 || idn > 18 || !digits(id, idn))
		return PW_EPARSE;
	memcpy(ret->at, at, sizeof(at));
	ret->id = strtoll(id, NULL, 10);
	return 0;
}

bool api_decimal_ok(const char *s)
{
	size_t n = strlen(s), int_digits = 0, frac_digits = 0;
	size_t i = 0;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, int_digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, frac_digits++;
		if (frac_digits == 0)
			return false;
	}
	return i == n && int_digits > 0 && int_digits + frac_digits <= 78;
}

/* Days in month mon (1..12) of year (Gregorian, RFC 3339 appendix C). */
static int month_days(int year, int mon)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return mon == 2 && leap ? 29 : days[mon - 1];
}

bool api_time_ok(const char *s)
{
	/* YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM), RFC 3339 section 5.6,
	 * narrowed to what PostgreSQL 15's timestamptz takes, so that no time
	 * this accepts makes the query fail (a 503 for a bad parameter): year
	 * 0001 or later, the day within its month, a leap second (:60) only
	 * without a fraction other than zeros, an offset within +-15:59. */
	size_t n = strlen(s);
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	if (n < 20 || n > 35)
		return false;
	for (size_t i = 0; i < 19; i++)
		if (shape[i] == 'd' ? !digits(s + i, 1) : s[i] != shape[i] && !(i == 10 && s[i] == 't'))
			return false;
	int year = two(s) * 100 + two(s + 2), mon = two(s + 5), day = two(s + 8), sec = two(s + 17);
	if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > month_days(year, mon) || two(s + 11) > 23 ||
	    two(s + 14) > 59 || sec > 60)
		return false;
	size_t i = 19;
	if (s[i] == '.') {
		size_t f = ++i;
		while (i < n && digits(s + i, 1))
			i++;
		if (i == f || i - f > 9)
			return false;
		for (size_t k = f; sec == 60 && k < i; k++)
			if (s[k] != '0')
				return false;
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
		return true;
	return i + 6 == n && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2) && s[i + 3] == ':' &&
	       digits(s + i + 4, 2) && two(s + i + 1) <= 15 && two(s + i + 4) <= 59;
}

/* PAYMENT of row k: the data object (column col) with reverted_at (column
 * col + 1) added. */
static cJSON *payment_at(PGresult *res, int k, int col)
{
	cJSON *d = cJSON_Parse(PQgetvalue(res, k, col));
	if (!d)
		return NULL;
	if (PQgetisnull(res, k, col + 1))
		cJSON_AddNullToObject(d, "reverted_at");
	else
		cJSON_AddStringToObject(d, "reverted_at", PQgetvalue(res, k, col + 1));
	return d;
}

/* A page as {"data": [ROW, ...], "next_cursor": "..." | null}: the JSON
 * texts Postgres built for column col of the first n rows, joined as
 * text (no parse and print again here). 0 with *ret_json (malloc'd), or
 * PW_ENOMEM. */
static int join_page(PGresult *res, int col, int n, const char *next_cursor, char **ret_json)
{
	pw_buf b;
	buf_init(&b, (size_t)256 << 20);
	int r = buf_append(&b, "{\"data\":[", 9);
	for (int k = 0; k < n && r == 0; k++) {
		if (k)
			r = buf_append(&b, ",", 1);
		if (r == 0)
			r = buf_append(&b, PQgetvalue(res, k, col), (size_t)PQgetlength(res, k, col));
	}
	if (r == 0)
		r = next_cursor ? buf_appendf(&b, "],\"next_cursor\":\"%s\"}", next_cursor)
				: buf_appendf(&b, "],\"next_cursor\":null}");
	if (r < 0) {
		buf_done(&b);
		return PW_ENOMEM;
	}
	*ret_json = b.data; /* the caller frees it */
	return 0;
}

static int list_payments(PGconn *c, const void *arg, char **ret_json, char *err, size_t errlen)
{
	const api_payment_query *q = arg;
	char cursor_id[24], limit[16];
	snprintf(cursor_id, sizeof(cursor_id), "%lld", (long long)q->cursor.id);
	snprintf(limit, sizeof(limit), "%u", q->limit + 1); /* one more: is there a next page? */
	const char *params[14] = { q->merchant_id,
				   q->chain,
				   q->status,
				   q->tx_hash,
				   q->to_address,
				   q->from_address,
				   q->has_cursor ? q->cursor.at : NULL,
				   q->has_cursor ? cursor_id : NULL,
				   limit,
				   q->token,
				   q->min_amount,
				   q->max_amount,
				   q->since,
				   q->until };
	PGresult *res = PQexecParams(c, q->ascending ? list_asc_sql : list_desc_sql, 14, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error(c, err, errlen);
		PQclear(res);
		return PW_EDB;
	}
	int rows = PQntuples(res);
	int shown = rows > (int)q->limit ? (int)q->limit : rows;
	char text[96] = "";
	if (rows > (int)q->limit) {
		api_cursor next = { .id = strtoll(PQgetvalue(res, shown - 1, 0), NULL, 10) };
		snprintf(next.at, sizeof(next.at), "%s", PQgetvalue(res, shown - 1, 1));
		api_cursor_encode(&next, text, sizeof(text));
	}
	int r = join_page(res, 2, shown, text[0] ? text : NULL, ret_json);
	PQclear(res);
	return r;
}

typedef struct get_arg {
	int64_t id;
	const char *merchant_id;
} get_arg;

static int get_payment(PGconn *c, const void *arg, char **ret_json, char *err, size_t errlen)
{
	const get_arg *g = arg;
	char idtext[24];
	snprintf(idtext, sizeof(idtext), "%lld", (long long)g->id);
	const char *params[2] = { idtext, g->merchant_id };
	PGresult *res = PQexecParams(c, get_sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error(c, err, errlen);
		PQclear(res);
		return PW_EDB;
	}
	int r = PQntuples(res) == 1 ? 0 : PW_ENOTFOUND;
	if (r == 0 && !(*ret_json = strdup(PQgetvalue(res, 0, 2))))
		r = PW_ENOMEM;
	PQclear(res);
	return r;
}

static int chain_reports(PGconn *c, const void *arg, char **ret_json, char *err, size_t errlen)
{
	(void)arg;
	PGresult *res = PQexec(c,
			       "SELECT chain, report::text, extract(epoch FROM now() - updated_at)::float8"
			       " FROM chain_reports ORDER BY chain");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error(c, err, errlen);
		PQclear(res);
		return PW_EDB;
	}
	cJSON *out = cJSON_CreateObject();
	int r = out ? 0 : PW_ENOMEM;
	for (int k = 0; r == 0 && k < PQntuples(res); k++) {
		cJSON *e = cJSON_CreateObject();
		cJSON *report = cJSON_Parse(PQgetvalue(res, k, 1));
		if (!e || !report) {
			cJSON_Delete(e);
			cJSON_Delete(report);
			r = PW_ENOMEM;
			break;
		}
		cJSON_AddItemToObject(e, "report", report);
		cJSON_AddNumberToObject(e, "age_s", strtod(PQgetvalue(res, k, 2), NULL));
		cJSON_AddItemToObject(out, PQgetvalue(res, k, 0), e);
	}
	PQclear(res);
	*ret_json = r == 0 ? cJSON_PrintUnformatted(out) : NULL;
	cJSON_Delete(out);
	return r == 0 && !*ret_json ? PW_ENOMEM : r;
}

/* ---- the event feed (schema/010_event_feed.sql) ---- */

/* An event: its feed position, id (stored, or for a payment's first event
 * of its type computed: paywatch_event_id), type, timestamp, and PAYMENT
 * as it was at the event: status from the type; a reverted event names the
 * confirmed event it reverses (the payment's latest before it, kept on its
 * row: schema/021_payment_event_counts.sql) and has reverted_at its own
 * time. An invoice event (invoice_id set) carries the INVOICE stored with
 * it. */
#define EVENT_SELECT                                                                                                   \
	"SELECT f.xid::text, f.seq,"                                                                                   \
	" coalesce(f.id, paywatch_event_id(p.chain_id, p.block_hash, p.log_index, f.type)), f.type,"                   \
	" to_char(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"                              \
	" CASE WHEN f.invoice_id IS NOT NULL THEN f.data::text ELSE"                                                   \
	" (paywatch_event_payload(f.type, p.id, p.chain, p.chain_id, p.block_number, p.block_hash,"                    \
	" p.block_time, p.tx_hash, p.log_index, p.token_address, p.token_symbol, p.decimals,"                          \
	" p.from_address, p.to_address, p.amount, p.amount_raw, p.confirmations, p.merchant_id,"                       \
	" CASE f.type WHEN 'payment.reverted' THEN 'reverted' ELSE 'confirmed' END,"                                   \
	" nullif(f.reverses, ''))::json -> 'data')::text END,"                                                         \
	" CASE f.type WHEN 'payment.reverted' THEN"                                                                    \
	" to_char(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') END, f.merchant_id"            \
	" FROM event_feed f LEFT JOIN payments p ON p.id = f.payment_id"

/* $1/$2 the cursor (xid, seq), $3 the snapshot's xmin: only rows of
 * transactions that have ended; $4 the row count; $5 the merchant. */
static const char events_sql[] = EVENT_SELECT
	" WHERE (f.xid, f.seq) > ($1::xid8, $2::bigint) AND f.xid < $3::xid8 ORDER BY f.xid, f.seq LIMIT $4";
static const char merchant_events_sql[] = EVENT_SELECT
	" WHERE f.merchant_id = $5 AND (f.xid, f.seq) > ($1::xid8, $2::bigint) AND f.xid < $3::xid8"
	" ORDER BY f.xid, f.seq LIMIT $4";

/* "e|<xid>|<seq>" in base64url without padding */
void api_feed_cursor_encode(const api_feed_cursor *c, char *out, size_t outlen)
{
	char raw[64];
	int n = snprintf(raw, sizeof(raw), "e|%llu|%lld", (unsigned long long)c->xid, (long long)c->seq);
	b64url_encode((const uint8_t *)raw, (size_t)n, out, outlen);
}

int api_feed_cursor_decode(const char *text, api_feed_cursor *ret)
{
	uint8_t raw[64];
	const char *s = cursor_text(text, raw, sizeof(raw));
	if (!s || s[0] != 'e' || s[1] != '|')
		return PW_EPARSE;
	const char *bar = strchr(s + 2, '|');
	if (!bar)
		return PW_EPARSE;
	char xid[24];
	size_t xn = (size_t)(bar - (s + 2));
	uint64_t x = 0, q = 0;
	if (xn == 0 || xn >= sizeof(xid))
		return PW_EPARSE;
	memcpy(xid, s + 2, xn);
	xid[xn] = '\0';
	if (parse_u64(xid, UINT64_MAX, &x) < 0 || parse_u64(bar + 1, INT64_MAX, &q) < 0)
		return PW_EPARSE;
	ret->xid = x;
	ret->seq = (int64_t)q;
	return 0;
}

/* The xmin of a snapshot taken now: every transaction with a smaller xid
 * has ended. 0 with *ret, or PW_EDB. */
static int snapshot_xmin(PGconn *c, uint64_t *ret, char *err, size_t errlen)
{
	PGresult *res = PQexec(c, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text");
	int r = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? 0 : PW_EDB;
	if (r)
		pg_error(c, err, errlen);
	else
		*ret = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return r;
}

/* The event of row k of an EVENT_SELECT answer. NULL on out of memory. */
static cJSON *event_of(PGresult *res, int k)
{
	cJSON *e = cJSON_CreateObject();
	bool invoice = strncmp(PQgetvalue(res, k, 3), "invoice.", 8) == 0;
	cJSON *p = invoice ? cJSON_Parse(PQgetvalue(res, k, 5)) : payment_at(res, k, 5);
	if (!e || !p) {
		cJSON_Delete(e);
		cJSON_Delete(p);
		return NULL;
	}
	cJSON_AddStringToObject(e, "id", PQgetvalue(res, k, 2));
	cJSON_AddStringToObject(e, "type", PQgetvalue(res, k, 3));
	cJSON_AddStringToObject(e, "timestamp", PQgetvalue(res, k, 4));
	cJSON_AddItemToObject(e, "data", p);
	return e;
}

/* The feed's events after *from (after_now: from the end: *from becomes
 * (xmin, 0)), at most limit, of one merchant or all (NULL), below the
 * xmin of a snapshot taken first (*ret_xmin). The answer (EVENT_SELECT's
 * columns; caller clears), or NULL with libpq's message in err. */
static PGresult *read_events(PGconn *c, api_feed_cursor *from, bool after_now, unsigned limit, const char *merchant,
			     uint64_t *ret_xmin, char *err, size_t errlen)
{
	uint64_t xmin = 0;
	if (snapshot_xmin(c, &xmin, err, errlen) < 0)
		return NULL;
	if (after_now)
		*from = (api_feed_cursor){ .xid = xmin, .seq = 0 };
	char xid[24], seq[24], xmins[24], lim[16];
	snprintf(xid, sizeof(xid), "%llu", (unsigned long long)from->xid);
	snprintf(seq, sizeof(seq), "%lld", (long long)from->seq);
	snprintf(xmins, sizeof(xmins), "%llu", (unsigned long long)xmin);
	snprintf(lim, sizeof(lim), "%u", limit);
	const char *params[5] = { xid, seq, xmins, lim, merchant };
	PGresult *res = PQexecParams(c, merchant ? merchant_events_sql : events_sql, merchant ? 5 : 4, NULL, params,
				     NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error(c, err, errlen);
		PQclear(res);
		return NULL;
	}
	*ret_xmin = xmin;
	return res;
}

typedef struct events_arg {
	const api_event_query *q;
	unsigned *returned;
	api_feed_cursor *next;
} events_arg;

static int list_events(PGconn *c, const void *arg, char **ret_json, char *err, size_t errlen)
{
	const events_arg *a = arg;
	api_feed_cursor *ret_next = a->next;
	const api_event_query *q = a->q;
	uint64_t xmin = 0;
	api_feed_cursor from = q->after;
	PGresult *res = read_events(c, &from, q->after_now, q->limit, q->merchant_id, &xmin, err, errlen);
	if (!res)
		return PW_EDB;
	int rows = PQntuples(res);
	cJSON *out = cJSON_CreateObject();
	cJSON *data = cJSON_AddArrayToObject(out, "data");
	int r = 0;
	for (int k = 0; k < rows && r == 0; k++) {
		cJSON *e = event_of(res, k);
		if (!e)
			r = PW_ENOMEM;
		else
			cJSON_AddItemToArray(data, e);
	}
	/* A full page: go on after its last row. Otherwise every row below
	 * xmin after the cursor was in it, and no row to come is below xmin:
	 * go on from (xmin, 0). */
	api_feed_cursor next = { .xid = xmin, .seq = 0 };
	if (rows == (int)q->limit && rows > 0) {
		next.xid = strtoull(PQgetvalue(res, rows - 1, 0), NULL, 10);
		next.seq = strtoll(PQgetvalue(res, rows - 1, 1), NULL, 10);
	} else if (!q->after_now && (from.xid > xmin || (from.xid == xmin && from.seq > 0))) {
		next = from; /* a cursor past xmin (taken from a later snapshot elsewhere): keep it */
	}
	char text[96];
	api_feed_cursor_encode(&next, text, sizeof(text));
	cJSON_AddStringToObject(out, "next_cursor", text);
	PQclear(res);
	*ret_json = r == 0 ? cJSON_PrintUnformatted(out) : NULL;
	cJSON_Delete(out);
	if (r == 0 && !*ret_json)
		r = PW_ENOMEM;
	if (r == 0) {
		*a->returned = (unsigned)rows;
		*ret_next = next;
	}
	return r;
}

/* ---- webhook deliveries ---- */

/* DELIVERY: the delivery, its event and its endpoint (the config id and
 * scheme://host:port: Postgres holds no more of a URL). */
#define DELIVERY_SELECT                                                                                                \
	"SELECT d.id, json_build_object('id', d.id, 'event_id', ev.id, 'type', ev.type,"                               \
	" 'merchant_id', ev.merchant_id, 'endpoint', json_build_object('id', e.key, 'url', e.url,"                     \
	" 'disabled', e.disabled_at IS NOT NULL), 'status', d.status, 'attempts', d.attempts,"                         \
	" 'last_status', d.last_status, 'last_error', d.last_error,"                                                   \
	" 'next_attempt_at', CASE WHEN d.status = 'pending' THEN " RFC3339("d.next_attempt_at") " END,"                \
	" 'delivered_at', " RFC3339("d.delivered_at") ", 'created_at', " RFC3339("d.created_at") ")::text"             \
	" FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id"                                      \
	" JOIN webhook_endpoints e ON e.id = d.endpoint_id"
#define RFC3339(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* $1 merchant, $2 status (NULL: any), $3 before this id (NULL: from the
 * newest), $4 the row count */
static const char deliveries_sql[] = DELIVERY_SELECT
	" WHERE ($1::text IS NULL OR ev.merchant_id = $1) AND ($2::text IS NULL OR d.status = $2)"
	" AND ($3::bigint IS NULL OR d.id < $3::bigint) ORDER BY d.id DESC LIMIT $4";
static const char delivery_sql[] = DELIVERY_SELECT " WHERE d.id = $1 AND ($2::text IS NULL OR ev.merchant_id = $2)";
/* queue again: attempts reset, due now, the same webhook-id */
static const char redeliver_sql[] =
	"UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), locked_until = NULL"
	" WHERE id = $1 AND status <> 'pending'";

/* "d|<id>" in base64url without padding */
void api_delivery_cursor_encode(int64_t id, char *out, size_t outlen)
{
	char raw[32];
	int n = snprintf(raw, sizeof(raw), "d|%lld", (long long)id);
	b64url_encode((const uint8_t *)raw, (size_t)n, out, outlen);
}

int api_delivery_cursor_decode(const char *text, int64_t *ret)
{
	uint8_t raw[32];
	const char *s = cursor_text(text, raw, sizeof(raw));
	uint64_t id = 0;
	if (!s || s[0] != 'd' || s[1] != '|' || parse_u64(s + 2, INT64_MAX, &id) < 0)
		return PW_EPARSE;
	*ret = (int64_t)id;
	return 0;
}

static int list_deliveries(PGconn *c, const void *arg, char **ret_json, char *err, size_t errlen)
{
	const api_delivery_query *q = arg;
	char before[24], limit[16];
	snprintf(before, sizeof(before), "%lld", (long long)q->before_id);
	snprintf(limit, sizeof(limit), "%u", q->limit + 1); /* one more: is there a next page? */
	const char *params[4] = { q->merchant_id, q->status, q->has_cursor ? before : NULL, limit };
	PGresult *res = PQexecParams(c, deliveries_sql, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error(c, err, errlen);
		PQclear(res);
		return PW_EDB;
	}
	int rows = PQntuples(res);
	int shown = rows > (int)q->limit ? (int)q->limit : rows;
	char text[48] = "";
	if (rows > (int)q->limit)
		api_delivery_cursor_encode(strtoll(PQgetvalue(res, shown - 1, 0), NULL, 10), text, sizeof(text));
	int r = join_page(res, 1, shown, text[0] ? text : NULL, ret_json);
	PQclear(res);
	return r;
}

/* One statement of a read-write transaction: 0 or PW_EDB. */
static int exec_command(PGconn *c, const char *sql, int n, const char *const *params, uint64_t *ret_rows, char *err,
			size_t errlen)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	int r = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : PW_EDB;
	if (r)
		pg_error(c, err, errlen);
	else if (ret_rows && parse_u64(PQcmdTuples(res), UINT64_MAX, ret_rows) < 0)
		*ret_rows = 0;
	PQclear(res);
	return r;
}

static int redeliver(PGconn *c, const void *arg, char **ret_json, char *err, size_t errlen)
{
	const get_arg *g = arg;
	char idtext[24];
	snprintf(idtext, sizeof(idtext), "%lld", (long long)g->id);
	const char *params[2] = { idtext, g->merchant_id };
	*ret_json = NULL;
	/* the pool's sessions are read-only by default: this one transaction writes */
	if (exec_command(c, "BEGIN READ WRITE", 0, NULL, NULL, err, errlen) < 0)
		return PW_EDB;
	PGresult *res = PQexecParams(c, delivery_sql, 2, NULL, params, NULL, NULL, 0);
	int r = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : PW_EDB;
	if (r)
		pg_error(c, err, errlen);
	else if (PQntuples(res) != 1)
		r = PW_ENOTFOUND; /* or another merchant's: its existence is not told */
	PQclear(res);
	uint64_t queued = 0;
	if (r == 0 && exec_command(c, redeliver_sql, 1, params, &queued, err, errlen) < 0)
		r = PW_EDB;
	if (r == 0 && queued == 0)
		r = PW_EREFUSED; /* pending already: a dispatcher may hold its lease */
	if (r == 0 && exec_command(c, "NOTIFY paywatch_webhooks", 0, NULL, NULL, err, errlen) < 0)
		r = PW_EDB;
	/* the delivery as queued, read before the commit: after it, a
	 * dispatcher woken by the NOTIFY may already have sent it */
	if (r == 0) {
		res = PQexecParams(c, delivery_sql, 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
			pg_error(c, err, errlen);
			r = PW_EDB;
		} else if (!(*ret_json = strdup(PQgetvalue(res, 0, 1)))) {
			r = PW_ENOMEM;
		}
		PQclear(res);
	}
	if (r == 0)
		r = exec_command(c, "COMMIT", 0, NULL, NULL, err, errlen);
	else
		PQclear(PQexec(c, "ROLLBACK"));
	if (r < 0) {
		free(*ret_json);
		*ret_json = NULL;
	}
	return r;
}

/* ---- the pool ---- */

struct api_pg_pool {
	const char *dsn;
	uint32_t statement_timeout_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	PGconn **conn;
	bool *busy;
	size_t n;
};

int api_pg_pool_create(const char *dsn, size_t n, uint32_t statement_timeout_ms, api_pg_pool **ret)
{
	api_pg_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return PW_ENOMEM;
	p->conn = calloc(n ? n : 1, sizeof(PGconn *));
	p->busy = calloc(n ? n : 1, sizeof(bool));
	if (!p->conn || !p->busy) {
		free(p->conn);
		free(p->busy);
		free(p);
		return PW_ENOMEM;
	}
	p->dsn = dsn;
	p->n = n ? n : 1;
	p->statement_timeout_ms = statement_timeout_ms;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	*ret = p;
	return 0;
}

void api_pg_pool_destroy(api_pg_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		if (p->conn[i])
			PQfinish(p->conn[i]);
	free(p->conn);
	free(p->busy);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

/* Run fn on a free connection (waiting for one), opening or reopening it
 * first when needed. fn's result, or PW_EDB (no connection); err scrubbed. */
static int pooled(api_pg_pool *p, api_pg_query_fn fn, const void *arg, char **json, char *err, size_t errlen)
{
	pthread_mutex_lock(&p->lock);
	size_t slot = p->n;
	for (;;) {
		for (size_t i = 0; i < p->n && slot == p->n; i++)
			if (!p->busy[i])
				slot = i;
		if (slot < p->n)
			break;
		pthread_cond_wait(&p->cond, &p->lock);
	}
	p->busy[slot] = true;
	PGconn *c = p->conn[slot];
	pthread_mutex_unlock(&p->lock);
	if (c && PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		c = NULL;
	}
	int r = 0;
	if (!c) {
		/* a database one `migrate` behind: PW_ESCHEMA, and no connection
		 * kept, so the next call checks again */
		r = pg_open_migrated(p->dsn, "paywatch api", &c, err, errlen);
		if (c && (r = prepare(c, p->statement_timeout_ms, err, errlen)) < 0) {
			PQfinish(c);
			c = NULL;
		}
	}
	if (r == 0)
		r = fn(c, arg, json, err, errlen);
	if (r == PW_EDB)
		pg_scrub(err, p->dsn);
	pthread_mutex_lock(&p->lock);
	p->conn[slot] = c;
	p->busy[slot] = false;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return r;
}

int api_pg_call(api_pg_pool *p, api_pg_query_fn fn, const void *arg, char **ret_json, char *err, size_t errlen)
{
	return pooled(p, fn, arg, ret_json, err, errlen);
}

int api_pg_list_payments(api_pg_pool *p, const api_payment_query *q, char **ret_json, char *err, size_t errlen)
{
	return pooled(p, list_payments, q, ret_json, err, errlen);
}

int api_pg_get_payment(api_pg_pool *p, int64_t id, const char *merchant_id, char **ret_json, char *err, size_t errlen)
{
	get_arg g = { .id = id, .merchant_id = merchant_id };
	return pooled(p, get_payment, &g, ret_json, err, errlen);
}

int api_pg_list_deliveries(api_pg_pool *p, const api_delivery_query *q, char **ret_json, char *err, size_t errlen)
{
	return pooled(p, list_deliveries, q, ret_json, err, errlen);
}

int api_pg_redeliver(api_pg_pool *p, int64_t id, const char *merchant_id, char **ret_json, char *err, size_t errlen)
{
	get_arg g = { .id = id, .merchant_id = merchant_id };
	return pooled(p, redeliver, &g, ret_json, err, errlen);
}

int api_pg_chain_reports(api_pg_pool *p, char **ret_json, char *err, size_t errlen)
{
	return pooled(p, chain_reports, NULL, ret_json, err, errlen);
}

int api_pg_list_events(api_pg_pool *p, const api_event_query *q, unsigned *ret_count, api_feed_cursor *ret_next,
		       char **ret_json, char *err, size_t errlen)
{
	*ret_count = 0;
	events_arg a = { .q = q, .returned = ret_count, .next = ret_next };
	return pooled(p, list_events, &a, ret_json, err, errlen);
}

/* ---- waiting for the feed to grow ---- */

struct api_feed_watch {
	const char *dsn;
	PGconn *c;
	int64_t behind_until_ms; /* the schema was behind: no new connection before then (monotonic) */
	char behind[200];        /* what the last check said */
};

int api_feed_watch_create(const char *dsn, api_feed_watch **ret)
{
	api_feed_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return PW_ENOMEM;
	w->dsn = dsn;
	*ret = w;
	return 0;
}

void api_feed_watch_destroy(api_feed_watch *w)
{
	if (!w)
		return;
	if (w->c)
		PQfinish(w->c);
	free(w);
}

/* The connection, LISTENing; reopened when broken, on a schema this build
 * reads (pg_open_migrated): behind it, checked again every
 * PG_SCHEMA_RECHECK_MS (each check a new backend), the check's answer
 * returned meanwhile. */
static PGconn *watch_conn(api_feed_watch *w, char *err, size_t errlen)
{
	if (w->c && PQstatus(w->c) == CONNECTION_OK)
		return w->c;
	if (w->c)
		PQfinish(w->c);
	w->c = NULL;
	if (w->behind_until_ms && pw_mono_ms() < w->behind_until_ms) {
		snprintf(err, errlen, "%s", w->behind);
		return NULL;
	}
	w->behind_until_ms = 0;
	if (pg_open_migrated(w->dsn, "paywatch api feed", &w->c, err, errlen) == PW_ESCHEMA) {
		w->behind_until_ms = pw_mono_ms() + PG_SCHEMA_RECHECK_MS;
		snprintf(w->behind, sizeof(w->behind), "%s", err);
	}
	if (!w->c)
		return NULL;
	PGresult *res = PQexec(w->c, "LISTEN " PG_FEED_CHANNEL);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok) {
		pg_error(w->c, err, errlen);
		pg_scrub(err, w->dsn);
		PQfinish(w->c);
		w->c = NULL;
	}
	return w->c;
}

int api_feed_watch_wait(api_feed_watch *w, int timeout_ms, bool *ret_notified, char *err, size_t errlen)
{
	*ret_notified = false;
	PGconn *c = watch_conn(w, err, errlen);
	if (!c)
		return PW_EDB;
	struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
	if (poll(&pfd, 1, timeout_ms) > 0 && !PQconsumeInput(c)) {
		pg_error(c, err, errlen);
		pg_scrub(err, w->dsn);
		return PW_EDB;
	}
	PGnotify *n;
	while ((n = PQnotifies(c)) != NULL) {
		*ret_notified = true;
		PQfreemem(n);
	}
	return 0;
}

int api_feed_watch_fetch(api_feed_watch *w, const api_feed_cursor *after, unsigned max, api_feed_batch **ret, char *err,
			 size_t errlen)
{
	PGconn *c = watch_conn(w, err, errlen);
	if (!c)
		return PW_EDB;
	uint64_t xmin = 0;
	api_feed_cursor from = *after;
	PGresult *res = read_events(c, &from, false, max, NULL, &xmin, err, errlen);
	if (!res) {
		pg_scrub(err, w->dsn);
		return PW_EDB;
	}
	int rows = PQntuples(res);
	api_feed_batch *b = calloc(1, sizeof(*b));
	if (b)
		b->items = calloc(rows ? (size_t)rows : 1, sizeof(*b->items));
	int r = b && b->items ? 0 : PW_ENOMEM;
	for (int k = 0; k < rows && r == 0; k++) {
		api_feed_item *it = &b->items[k];
		cJSON *e = event_of(res, k);
		it->json = e ? cJSON_PrintUnformatted(e) : NULL;
		cJSON_Delete(e);
		if (!it->json) {
			r = PW_ENOMEM;
			break;
		}
		it->at.xid = strtoull(PQgetvalue(res, k, 0), NULL, 10);
		it->at.seq = strtoll(PQgetvalue(res, k, 1), NULL, 10);
		snprintf(it->merchant_id, sizeof(it->merchant_id), "%s", PQgetvalue(res, k, 7));
		b->n++;
	}
	PQclear(res);
	if (r < 0) {
		api_feed_batch_free(b);
		return r;
	}
	b->from = *after;
	b->xmin = xmin;
	b->truncated = rows == (int)max;
	*ret = b;
	return 0;
}

void api_feed_batch_free(api_feed_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->items[i].json);
	free(b->items);
	free(b);
}

bool api_feed_batch_answer(const api_feed_batch *b, const api_event_query *q, char **ret_json, unsigned *ret_count,
			   api_feed_cursor *ret_next)
{
	if (!b || q->after_now || api_feed_cursor_less(&q->after, &b->from))
		return false; /* the batch does not hold every event after the cursor */
	size_t first = 0;
	while (first < b->n && !api_feed_cursor_less(&q->after, &b->items[first].at))
		first++;
	size_t picked[API_PAGE_MAX], n = 0;
	for (size_t i = first; i < b->n && n < q->limit; i++)
		if (!q->merchant_id || strcmp(q->merchant_id, b->items[i].merchant_id) == 0)
			picked[n++] = i;
	if (n == 0 || (n < q->limit && b->truncated))
		return false; /* nothing here, or the page may go on past the batch: ask the database */
	/* as list_events: a full page goes on after its last event; a short one
	 * from (xmin, 0) of the batch's snapshot */
	api_feed_cursor next = { .xid = b->xmin, .seq = 0 };
	if (n == q->limit)
		next = b->items[picked[n - 1]].at;
	char text[96];
	api_feed_cursor_encode(&next, text, sizeof(text));
	pw_buf out;
	buf_init(&out, (size_t)256 << 20);
	int r = buf_append(&out, "{\"data\":[", 9);
	for (size_t i = 0; i < n && r == 0; i++)
		r = buf_appendf(&out, "%s%s", i ? "," : "", b->items[picked[i]].json);
	if (r == 0)
		r = buf_appendf(&out, "],\"next_cursor\":\"%s\"}", text);
	if (r < 0) {
		buf_done(&out);
		return false;
	}
	*ret_json = out.data; /* the caller frees it */
	*ret_count = (unsigned)n;
	*ret_next = next;
	return true;
}

int api_feed_watch_head(api_feed_watch *w, api_feed_cursor *ret, char *err, size_t errlen)
{
	PGconn *c = watch_conn(w, err, errlen);
	if (!c)
		return PW_EDB;
	PGresult *res =
		PQexec(c,
		       "SELECT xid::text, seq FROM event_feed"
		       " WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY xid DESC, seq DESC LIMIT 1");
	int r = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : PW_EDB;
	if (r) {
		pg_error(c, err, errlen);
		pg_scrub(err, w->dsn);
	} else if (PQntuples(res) == 1) {
		ret->xid = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		ret->seq = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	} else {
		*ret = (api_feed_cursor){ 0, 0 };
	}
	PQclear(res);
	return r;
}
