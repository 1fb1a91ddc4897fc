/* reports.c: settlement and payments reports (reports.h). */
#define _GNU_SOURCE /* timegm */
#include "reports.h"
#include "buf.h"
#include "config.h"
#include "csv.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "report_pg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "YYYY-MM-DD", a real day: its midnight UTC into *ret. */
static bool parse_day(const char *s, time_t *ret)
{
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	struct tm tm = { 0 };
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	int y = tm.tm_year, m = tm.tm_mon, d = tm.tm_mday;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_year != y || tm.tm_mon != m || tm.tm_mday != d || y < 70)
		return false;
	*ret = t;
	return true;
}

int report_check(const report_query *q, char *err, size_t errlen)
{
	time_t from, to;
	if (!q->kind || (strcmp(q->kind, "settlement") != 0 && strcmp(q->kind, "payments") != 0))
		snprintf(err, errlen, "report: settlement or payments");
	else if (!q->merchant_id || !*q->merchant_id)
		snprintf(err, errlen, "merchant_id: required");
	else if (!config_valid_id(q->merchant_id))
		snprintf(err, errlen, "merchant_id: not a merchant id (1..63 of A-Z a-z 0-9 . _ -)");
	else if (!parse_day(q->from, &from))
		snprintf(err, errlen, "from: a UTC day, YYYY-MM-DD");
	else if (!parse_day(q->to, &to))
		snprintf(err, errlen, "to: a UTC day, YYYY-MM-DD");
	else if (to < from)
		snprintf(err, errlen, "to: before from");
	else if ((to - from) / 86400 + 1 > REPORT_DAYS_MAX)
		snprintf(err, errlen, "to: at most %d days from `from`", REPORT_DAYS_MAX);
	else if (q->format && strcmp(q->format, "json") != 0 && strcmp(q->format, "csv") != 0)
		snprintf(err, errlen, "format: json or csv");
	else
		return 0;
	return PW_EINVAL;
}

static const char *val(PGresult *res, int k, int col)
{
	return PQgetisnull(res, k, col) ? NULL : PQgetvalue(res, k, col);
}

static void add_text(cJSON *o, const char *name, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

static void add_int(cJSON *o, const char *name, const char *v)
{
	if (v)
		cJSON_AddNumberToObject(o, name, strtod(v, NULL));
	else
		cJSON_AddNullToObject(o, name);
}

static cJSON *token_of(PGresult *res, int k, int col)
{
	cJSON *t = cJSON_CreateObject();
	add_text(t, "symbol", val(res, k, col));
	add_text(t, "address", val(res, k, col + 1));
	add_int(t, "decimals", val(res, k, col + 2));
	return t;
}

/* The chain's final height in heights (report_pg_final_heights), or NULL. */
static const char *final_height(PGresult *heights, const char *chain)
{
	for (int k = 0; k < PQntuples(heights); k++)
		if (strcmp(PQgetvalue(heights, k, 0), chain) == 0)
			return val(heights, k, 1);
	return NULL;
}

static bool row_final(PGresult *heights, PGresult *res, int k)
{
	const char *h = final_height(heights, PQgetvalue(res, k, 1));
	return h && strtoull(PQgetvalue(res, k, 10), NULL, 10) <= strtoull(h, NULL, 10);
}

/* A report's object with what every report starts with. */
static cJSON *report_head(const report_query *q, const char *now)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "report", q->kind);
	cJSON_AddStringToObject(o, "merchant_id", q->merchant_id);
	cJSON_AddStringToObject(o, "from", q->from);
	cJSON_AddStringToObject(o, "to", q->to);
	cJSON_AddStringToObject(o, "generated_at", now);
	return o;
}

static char *settlement_json(const report_query *q, PGresult *res, PGresult *heights, const char *now)
{
	cJSON *o = report_head(q, now);
	cJSON *chains = cJSON_AddArrayToObject(o, "chains");
	for (int k = 0; k < PQntuples(heights); k++) {
		cJSON *c = cJSON_CreateObject();
		add_text(c, "chain", val(heights, k, 0));
		add_int(c, "final_height", val(heights, k, 1));
		add_text(c, "rule", val(heights, k, 2));
		add_text(c, "reported_at", val(heights, k, 3));
		cJSON_AddItemToArray(chains, c);
	}
	cJSON *rows = cJSON_AddArrayToObject(o, "rows"), *totals = cJSON_AddArrayToObject(o, "totals");
	for (int k = 0; k < PQntuples(res); k++) {
		bool total = PQgetisnull(res, k, 0);
		cJSON *r = cJSON_CreateObject();
		if (!total)
			add_text(r, "day", val(res, k, 0));
		add_text(r, "chain", val(res, k, 1));
		cJSON_AddItemToObject(r, "token", token_of(res, k, 2));
		add_int(r, "payments", val(res, k, 5));
		add_int(r, "reverted_payments", val(res, k, 6));
		add_text(r, "gross", val(res, k, 7));
		add_text(r, "reverted", val(res, k, 8));
		add_text(r, "net", val(res, k, 9));
		if (!total)
			cJSON_AddBoolToObject(r, "final", row_final(heights, res, k));
		cJSON_AddItemToArray(total ? totals : rows, r);
	}
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

static char *settlement_csv(PGresult *res, PGresult *heights)
{
	pw_buf b;
	buf_init(&b, (size_t)256 << 20);
	int r = buf_appendf(&b,
			    "day,chain,token,token_address,decimals,payments,reverted_payments,gross,reverted,net,"
			    "final_height,final\r\n");
	for (int k = 0; r == 0 && k < PQntuples(res); k++) {
		bool total = PQgetisnull(res, k, 0);
		const char *h = final_height(heights, PQgetvalue(res, k, 1));
		r = csv_field(&b, total ? "total" : val(res, k, 0), CSV_PLAIN, 1);
		r = r ? r : csv_field(&b, val(res, k, 1), CSV_TEXT, 0);
		r = r ? r : csv_field(&b, val(res, k, 2), CSV_TEXT, 0);
		r = r ? r : csv_field(&b, val(res, k, 3), CSV_EXACT, 0);
		r = r ? r : csv_field(&b, val(res, k, 4), CSV_PLAIN, 0);
		r = r ? r : csv_field(&b, val(res, k, 5), CSV_PLAIN, 0);
		r = r ? r : csv_field(&b, val(res, k, 6), CSV_PLAIN, 0);
		for (int col = 7; col <= 9; col++)
			r = r ? r : csv_field(&b, val(res, k, col), CSV_EXACT, 0);
		r = r ? r : csv_field(&b, h, CSV_PLAIN, 0);
		r = r ? r : csv_field(&b, total ? NULL : row_final(heights, res, k) ? "true" : "false", CSV_PLAIN, 0);
		r = r ? r : csv_end(&b);
	}
	char *out = r == 0 ? strdup(b.data ? b.data : "") : NULL;
	buf_done(&b);
	return out;
}

/* Row k of a payments report as its JSON object. */
static cJSON *payment_row_json(PGresult *res, int k)
{
	cJSON *p = cJSON_CreateObject();
	add_int(p, "id", val(res, k, 0));
	add_text(p, "invoice_id", val(res, k, 1));
	add_text(p, "invoice_reference", val(res, k, 2));
	add_text(p, "chain", val(res, k, 3));
	add_int(p, "block_number", val(res, k, 4));
	add_text(p, "block_time", val(res, k, 5));
	add_text(p, "tx_hash", val(res, k, 6));
	add_int(p, "log_index", val(res, k, 7));
	add_text(p, "from", val(res, k, 8));
	add_text(p, "to", val(res, k, 9));
	cJSON_AddItemToObject(p, "token", token_of(res, k, 10));
	add_text(p, "amount", val(res, k, 13));
	add_text(p, "amount_raw", val(res, k, 14));
	add_text(p, "status", val(res, k, 15));
	add_text(p, "confirmed_at", val(res, k, 16));
	add_text(p, "reverted_at", val(res, k, 17));
	return p;
}

static char *payments_json(const report_query *q, PGresult *res, const char *now)
{
	cJSON *o = report_head(q, now);
	cJSON *data = cJSON_AddArrayToObject(o, "data");
	for (int k = 0; k < PQntuples(res); k++)
		cJSON_AddItemToArray(data, payment_row_json(res, k));
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

/* The payments report's CSV columns, in the query's order, and how each
 * is written */
static const struct {
	const char *name;
	enum csv_kind kind;
} payment_cols[] = { { "id", CSV_PLAIN },       { "invoice_id", CSV_PLAIN },   { "invoice_reference", CSV_TEXT },
		     { "chain", CSV_TEXT },     { "block_number", CSV_PLAIN }, { "block_time", CSV_PLAIN },
		     { "tx_hash", CSV_EXACT },  { "log_index", CSV_PLAIN },    { "from", CSV_EXACT },
		     { "to", CSV_EXACT },       { "token", CSV_TEXT },         { "token_address", CSV_EXACT },
		     { "decimals", CSV_PLAIN }, { "amount", CSV_EXACT },       { "amount_raw", CSV_EXACT },
		     { "status", CSV_PLAIN },   { "confirmed_at", CSV_PLAIN }, { "reverted_at", CSV_PLAIN } };
#define N_PAYMENT_COLS (sizeof(payment_cols) / sizeof(payment_cols[0]))

/* The CSV header line (header) or res's rows, appended to b. 0 or
 * buf_append's error. */
static int payments_csv_lines(pw_buf *b, PGresult *res, bool header)
{
	int r = 0;
	for (size_t c = 0; header && r == 0 && c < N_PAYMENT_COLS; c++)
		r = csv_field(b, payment_cols[c].name, CSV_PLAIN, c == 0);
	if (header)
		return r ? r : csv_end(b);
	for (int k = 0; r == 0 && k < PQntuples(res); k++) {
		for (size_t c = 0; r == 0 && c < N_PAYMENT_COLS; c++)
			r = csv_field(b, val(res, k, (int)c), payment_cols[c].kind, c == 0);
		r = r ? r : csv_end(b);
	}
	return r;
}

static char *payments_csv(PGresult *res)
{
	pw_buf b;
	buf_init(&b, (size_t)1 << 30);
	int r = payments_csv_lines(&b, NULL, true);
	r = r ? r : payments_csv_lines(&b, res, false);
	char *out = r == 0 ? strdup(b.data ? b.data : "") : NULL;
	buf_done(&b);
	return out;
}

/* A report's generated_at: now, RFC 3339 UTC to the second. */
static void generated_at(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

/* report_stream's page: rows fetched from the cursor at a time */
#define STREAM_PAGE_ROWS 2000

int report_stream(PGconn *c, const report_query *q, FILE *out, size_t *ret_rows, char *err, size_t errlen)
{
	bool csv = q->format && strcmp(q->format, "csv") == 0;
	*ret_rows = 0;
	if (strcmp(q->kind, "payments") != 0) { /* a settlement report is small: built whole */
		char *body = NULL;
		const char *type = NULL;
		int r = report_build(c, q, &body, &type, err, errlen);
		if (r < 0)
			return r;
		bool ok = fputs(body, out) >= 0;
		free(body);
		if (!ok) {
			snprintf(err, errlen, "cannot write the report: %s", strerror(errno));
			return PW_EIO;
		}
		return 0;
	}
	char now[32];
	generated_at(now);
	pw_buf b;
	buf_init(&b, (size_t)256 << 20);
	int r = pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL, err, errlen);
	bool begun = r == 0;
	if (r == 0)
		r = report_pg_payments_cursor(c, "pw_report", q->merchant_id, q->from, q->to, err, errlen);
	/* the head: the whole report's bytes up to its rows (JSON: its object
	 * with an empty "data" array, the last key, printed and cut before
	 * "]}"), so that the bytes are report_build's */
	if (r == 0 && csv)
		r = payments_csv_lines(&b, NULL, true);
	else if (r == 0) {
		cJSON *o = report_head(q, now);
		cJSON_AddArrayToObject(o, "data");
		char *head = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		r = head ? buf_append(&b, head, strlen(head) - 2) : PW_ENOMEM;
		free(head);
	}
	for (bool more = r == 0; more;) {
		PGresult *res = NULL;
		char fetch[64];
		snprintf(fetch, sizeof(fetch), "FETCH FORWARD %d FROM pw_report", STREAM_PAGE_ROWS);
		if ((r = pg_exec(c, fetch, 0, NULL, &res, err, errlen)) < 0)
			break;
		int n = PQntuples(res);
		more = n == STREAM_PAGE_ROWS;
		if (csv)
			r = payments_csv_lines(&b, res, false);
		for (int k = 0; !csv && r == 0 && k < n; k++) {
			cJSON *row = payment_row_json(res, k);
			char *text = row ? cJSON_PrintUnformatted(row) : NULL;
			cJSON_Delete(row);
			r = text ? buf_appendf(&b, "%s%s", *ret_rows + (size_t)k ? "," : "", text) : PW_ENOMEM;
			free(text);
		}
		PQclear(res);
		*ret_rows += (size_t)n;
		if (r == 0 && !more && !csv)
			r = buf_append(&b, "]}", 2);
		if (r == 0 && b.len && fwrite(b.data, 1, b.len, out) != b.len) {
			snprintf(err, errlen, "cannot write the report: %s", strerror(errno));
			r = PW_EIO;
		}
		buf_reset(&b);
		if (r < 0)
			break;
	}
	buf_done(&b);
	if (r == PW_ENOMEM || r == PW_ETOOBIG)
		snprintf(err, errlen, "out of memory");
	if (begun)
		r = pg_end(c, r, err, errlen); /* the cursor ends with the transaction */
	return r;
}

int report_build(PGconn *c, const report_query *q, char **ret_body, const char **ret_type, char *err, size_t errlen)
{
	bool csv = q->format && strcmp(q->format, "csv") == 0;
	char now[32];
	generated_at(now);
	PGresult *res = NULL, *heights = NULL;
	char *out = NULL;
	int r;
	if (strcmp(q->kind, "settlement") == 0) {
		/* the heights first: a payment written after them is past them */
		r = report_pg_final_heights(c, &heights, err, errlen);
		if (r == 0)
			r = report_pg_settlement(c, q->merchant_id, q->from, q->to, &res, err, errlen);
		if (r == 0 && !(out = csv ? settlement_csv(res, heights) : settlement_json(q, res, heights, now)))
			r = PW_ENOMEM;
	} else {
		r = report_pg_payments(c, q->merchant_id, q->from, q->to, REPORT_PAYMENTS_MAX, &res, err, errlen);
		if (r == 0 && PQntuples(res) > REPORT_PAYMENTS_MAX) {
			snprintf(err, errlen,
				 "more than %d payments in %s..%s: ask for fewer days, or run `paywatch report "
				 "payments`, which streams any number",
				 REPORT_PAYMENTS_MAX, q->from, q->to);
			r = PW_EREFUSED;
		} else if (r == 0 && !(out = csv ? payments_csv(res) : payments_json(q, res, now)))
			r = PW_ENOMEM;
	}
	PQclear(res);
	PQclear(heights);
	if (r < 0)
		return r;
	*ret_body = out;
	*ret_type = csv ? "text/csv; charset=utf-8" : "application/json";
	return 0;
}
