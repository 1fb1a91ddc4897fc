/* api_pg.c: the HTTP API's queries (api_pg.h). */
#include "api_pg.h"
#include "b64url.h"
#include "pg_conn.h"
#include "pw_error.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A payment row as the API shows it: id, the keyset position, PAYMENT
 * (the webhook body's data object, from the same SQL function) and
 * reverted_at. */
#define PAYMENT_SELECT                                                                                   \
	"SELECT p.id, to_char(p.confirmed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"       \
	" (paywatch_event_payload(p.status, p.id, p.chain, p.chain_id, p.block_number, p.block_hash,"       \
	" p.block_time, p.tx_hash, p.log_index, p.token_address, p.token_symbol, p.decimals,"               \
	" p.from_address, p.to_address, p.amount, p.amount_raw, p.confirmations, p.merchant_id, p.status,"  \
	" NULL)::json -> 'data')::text,"                                                                   \
	" to_char(p.reverted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"                      \
	" FROM payments p"

/* Filters: $1 merchant, $2 chain, $3 status, $4 tx_hash, $5 to, $6 from
 * (NULL: any); $7, $8 the cursor's (confirmed_at, id); $9 the row count;
 * $10 token (symbol or address), $11/$12 amounts (exact numeric, token
 * units), $13/$14 times on confirmed_at. */
#define PAYMENT_FILTERS                                                                                  \
	" WHERE ($1::text IS NULL OR p.merchant_id = $1) AND ($2::text IS NULL OR p.chain = $2)"            \
	" AND ($3::text IS NULL OR p.status = $3) AND ($4::text IS NULL OR p.tx_hash = $4)"                 \
	" AND ($5::text IS NULL OR p.to_address = $5) AND ($6::text IS NULL OR p.from_address = $6)"        \
	" AND ($10::text IS NULL OR p.token_symbol = $10 OR p.token_address = $10)"                         \
	" AND ($11::numeric IS NULL OR p.amount >= $11::numeric)"                                           \
	" AND ($12::numeric IS NULL OR p.amount <= $12::numeric)"                                           \
	" AND ($13::timestamptz IS NULL OR p.confirmed_at >= $13::timestamptz)"                             \
	" AND ($14::timestamptz IS NULL OR p.confirmed_at < $14::timestamptz)"

static const char list_desc_sql[] = PAYMENT_SELECT PAYMENT_FILTERS
	" AND ($7::timestamptz IS NULL OR (p.confirmed_at, p.id) < ($7::timestamptz, $8::bigint))"
	" ORDER BY p.confirmed_at DESC, p.id DESC LIMIT $9";
static const char list_asc_sql[] = PAYMENT_SELECT PAYMENT_FILTERS
	" AND ($7::timestamptz IS NULL OR (p.confirmed_at, p.id) > ($7::timestamptz, $8::bigint))"
	" ORDER BY p.confirmed_at, p.id LIMIT $9";
static const char get_sql[] = PAYMENT_SELECT " WHERE p.id = $1 AND ($2::text IS NULL OR p.merchant_id = $2)";

static void set_err(char *err, size_t errlen, PGconn *c)
{
	const char *m = PQerrorMessage(c);
	size_t n = strlen(m);
	while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	snprintf(err, errlen, "%.*s", (int)(n > 400 ? 400 : n), m);
}

static int prepare(PGconn *c, uint32_t statement_timeout_ms, char *err, size_t errlen)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SET statement_timeout = %u; SET default_transaction_read_only = on",
		 statement_timeout_ms);
	PGresult *res = PQexec(c, sql);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : PW_EDB;
	if (r)
		set_err(err, errlen, c);
	PQclear(res);
	return r;
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

int api_cursor_decode(const char *text, api_cursor *ret)
{
	uint8_t raw[72];
	size_t got = 0;
	if (b64url_decode(text, raw, sizeof(raw) - 1, &got) < 0)
		return PW_EPARSE;
	raw[got] = '\0';
	if (memchr(raw, '\0', got))
		return PW_EPARSE;
	/* YYYY-MM-DDTHH:MM:SS.ffffffZ|id */
	const char *s = (const char *)raw;
	const char *bar = strchr(s, '|');
	if (!bar || bar - s != 27)
		return PW_EPARSE;
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	for (size_t i = 0; i < 27; i++)
		if (shape[i] == 'd' ? !digits(s + i, 1) : s[i] != shape[i])
			return PW_EPARSE;
	int mon = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
	int hour = (s[11] - '0') * 10 + (s[12] - '0'), min = (s[14] - '0') * 10 + (s[15] - '0');
	int sec = (s[17] - '0') * 10 + (s[18] - '0');
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59)
		return PW_EPARSE; /* never a Postgres error: a cursor is checked here */
	const char *id = bar + 1;
	size_t idn = strlen(id);
	if (idn == 0 || idn > 18 || !digits(id, idn))
		return PW_EPARSE;
	memcpy(ret->at, s, 27);
	ret->at[27] = '\0';
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

static int two(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

bool api_time_ok(const char *s)
{
	/* YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM), RFC 3339 section 5.6 */
	size_t n = strlen(s);
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	if (n < 20 || n > 35)
		return false;
	for (size_t i = 0; i < 19; i++)
		if (shape[i] == 'd' ? !digits(s + i, 1) : s[i] != shape[i] && !(i == 10 && s[i] == 't'))
			return false;
	int mon = two(s + 5), day = two(s + 8);
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || two(s + 11) > 23 || two(s + 14) > 59 || two(s + 17) > 60)
		return false;
	size_t i = 19;
	if (s[i] == '.') {
		size_t f = ++i;
		while (i < n && digits(s + i, 1))
			i++;
		if (i == f || i - f > 9)
			return false;
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
		return true;
	return i + 6 == n && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2) && s[i + 3] == ':' &&
	       digits(s + i + 4, 2) && two(s + i + 1) <= 23 && two(s + i + 4) <= 59;
}

/* PAYMENT of row k: the data object with reverted_at added. */
static cJSON *payment_of(PGresult *res, int k)
{
	cJSON *d = cJSON_Parse(PQgetvalue(res, k, 2));
	if (!d)
		return NULL;
	if (PQgetisnull(res, k, 3))
		cJSON_AddNullToObject(d, "reverted_at");
	else
		cJSON_AddStringToObject(d, "reverted_at", PQgetvalue(res, k, 3));
	return d;
}

static int list_payments(PGconn *c, const void *arg, char **ret_json, char *err, size_t errlen)
{
	const api_payment_query *q = arg;
	char cursor_id[24], limit[16];
	snprintf(cursor_id, sizeof(cursor_id), "%lld", (long long)q->cursor.id);
	snprintf(limit, sizeof(limit), "%u", q->limit + 1); /* one more: is there a next page? */
	const char *params[14] = { q->merchant_id, q->chain,	 q->status,	q->tx_hash, q->to_address,
				   q->from_address, q->has_cursor ? q->cursor.at : NULL, q->has_cursor ? cursor_id : NULL,
				   limit,	    q->token,	 q->min_amount, q->max_amount, q->since,
				   q->until };
	PGresult *res = PQexecParams(c, q->ascending ? list_asc_sql : list_desc_sql, 14, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_err(err, errlen, c);
		PQclear(res);
		return PW_EDB;
	}
	int rows = PQntuples(res);
	int shown = rows > (int)q->limit ? (int)q->limit : rows;
	cJSON *out = cJSON_CreateObject();
	cJSON *data = cJSON_AddArrayToObject(out, "data");
	int r = 0;
	for (int k = 0; k < shown && r == 0; k++) {
		cJSON *p = payment_of(res, k);
		if (!p)
			r = PW_ENOMEM;
		else
			cJSON_AddItemToArray(data, p);
	}
	if (r == 0 && rows > (int)q->limit) {
		api_cursor next = { .id = strtoll(PQgetvalue(res, shown - 1, 0), NULL, 10) };
		snprintf(next.at, sizeof(next.at), "%s", PQgetvalue(res, shown - 1, 1));
		char text[96];
		api_cursor_encode(&next, text, sizeof(text));
		cJSON_AddStringToObject(out, "next_cursor", text);
	} else {
		cJSON_AddNullToObject(out, "next_cursor");
	}
	PQclear(res);
	*ret_json = r == 0 ? cJSON_PrintUnformatted(out) : NULL;
	cJSON_Delete(out);
	if (r == 0 && !*ret_json)
		r = PW_ENOMEM;
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
		set_err(err, errlen, c);
		PQclear(res);
		return PW_EDB;
	}
	int r = PQntuples(res) == 1 ? 0 : PW_ENOTFOUND;
	cJSON *p = r == 0 ? payment_of(res, 0) : NULL;
	PQclear(res);
	if (r == 0 && !p)
		return PW_ENOMEM;
	if (r == 0) {
		*ret_json = cJSON_PrintUnformatted(p);
		cJSON_Delete(p);
		if (!*ret_json)
			return PW_ENOMEM;
	}
	return r;
}

static int chain_reports(PGconn *c, const void *arg, char **ret_json, char *err, size_t errlen)
{
	(void)arg;
	PGresult *res = PQexec(c, "SELECT chain, report::text, extract(epoch FROM now() - updated_at)::float8"
				  " FROM chain_reports ORDER BY chain");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_err(err, errlen, c);
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

typedef int (*query_fn)(PGconn *c, const void *arg, char **json, char *err, size_t errlen);

/* Run fn on a free connection (waiting for one), opening or reopening it
 * first when needed. fn's result, or PW_EDB (no connection); err scrubbed. */
static int pooled(api_pg_pool *p, query_fn fn, const void *arg, char **json, char *err, size_t errlen)
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
	if (!c) {
		c = pg_open(p->dsn, "paywatch api", err, errlen);
		if (c && prepare(c, p->statement_timeout_ms, err, errlen) < 0) {
			PQfinish(c);
			c = NULL;
		}
	}
	int r = c ? fn(c, arg, json, err, errlen) : PW_EDB;
	if (r == PW_EDB)
		pg_scrub(err, p->dsn);
	pthread_mutex_lock(&p->lock);
	p->conn[slot] = c;
	p->busy[slot] = false;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return r;
}

int api_pg_list_payments(api_pg_pool *p, const api_payment_query *q, char **ret_json, char *err, size_t errlen)
{
	return pooled(p, list_payments, q, ret_json, err, errlen);
}

int api_pg_get_payment(api_pg_pool *p, int64_t id, const char *merchant_id, char **ret_json, char *err,
		       size_t errlen)
{
	get_arg g = { .id = id, .merchant_id = merchant_id };
	return pooled(p, get_payment, &g, ret_json, err, errlen);
}

int api_pg_chain_reports(api_pg_pool *p, char **ret_json, char *err, size_t errlen)
{
	return pooled(p, chain_reports, NULL, ret_json, err, errlen);
}
