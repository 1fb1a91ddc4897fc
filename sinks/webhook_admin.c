/* webhook_admin.c: the operator's queries of the webhook tables. */
#include "webhook_admin.h"
#include "parse.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "text.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int query_failed(PGresult *res, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, PQresultErrorMessage(res));
	text_one_line(err);
	PQclear(res);
	return PW_EDB;
}

static void copy_value(const PGresult *res, int row, int col, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", PQgetvalue(res, row, col));
}

static const char list_sql[] =
	"SELECT ev.id, ev.type, ev.merchant_id, coalesce(e.key, ''), e.url, d.status, d.attempts,"
	" coalesce(d.last_status::text, ''), coalesce(d.last_error, ''),"
	" CASE WHEN d.status = 'pending' THEN to_char(d.next_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') ELSE '' END,"
	" e.disabled_at IS NOT NULL, coalesce(e.disabled_reason, '')"
	" FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id JOIN webhook_endpoints e ON e.id = d.endpoint_id"
	" WHERE ($1::text IS NULL OR ev.merchant_id = $1) AND ($2::text IS NULL OR d.status = $2)"
	" AND ($3::timestamptz IS NULL OR ev.created_at >= $3::timestamptz)"
	" ORDER BY ev.created_at DESC, d.id DESC LIMIT $4";

int webhook_admin_list(const char *dsn, const char *merchant, const char *status, const char *since, size_t limit,
		       webhook_delivery_view **ret, size_t *ret_n, char *err, size_t errlen)
{
	PGconn *pg;
	int r = pg_open_migrated(dsn, "paywatch-cli", &pg, err, errlen);
	if (r < 0)
		return r;
	char lim[24];
	snprintf(lim, sizeof(lim), "%zu", limit);
	const char *params[4] = { merchant, status, since, lim };
	PGresult *res = PQexecParams(pg, list_sql, 4, NULL, params, NULL, NULL, 0);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && since && state && strncmp(state, "22", 2) == 0) {
		/* a data exception: the one value Postgres reads here is since */
		snprintf(err, errlen, "since: not a time Postgres reads as a timestamptz");
		PQclear(res);
		PQfinish(pg);
		return PW_EINVAL;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = query_failed(res, "webhook deliveries", err, errlen);
		PQfinish(pg);
		return r;
	}
	size_t n = (size_t)PQntuples(res);
	webhook_delivery_view *rows = n ? calloc(n, sizeof(*rows)) : NULL;
	if (n && !rows) {
		PQclear(res);
		PQfinish(pg);
		snprintf(err, errlen, "out of memory");
		return PW_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		webhook_delivery_view *v = &rows[i];
		int k = (int)i;
		uint64_t attempts = 0;
		copy_value(res, k, 0, v->event_id, sizeof(v->event_id));
		copy_value(res, k, 1, v->type, sizeof(v->type));
		copy_value(res, k, 2, v->merchant_id, sizeof(v->merchant_id));
		copy_value(res, k, 3, v->endpoint_id, sizeof(v->endpoint_id));
		copy_value(res, k, 4, v->endpoint_url, sizeof(v->endpoint_url));
		copy_value(res, k, 5, v->status, sizeof(v->status));
		parse_u64(PQgetvalue(res, k, 6), UINT32_MAX, &attempts);
		v->attempts = (uint32_t)attempts;
		copy_value(res, k, 7, v->last_status, sizeof(v->last_status));
		copy_value(res, k, 8, v->last_error, sizeof(v->last_error));
		copy_value(res, k, 9, v->next_attempt, sizeof(v->next_attempt));
		v->endpoint_disabled = strcmp(PQgetvalue(res, k, 10), "t") == 0;
		copy_value(res, k, 11, v->disabled_reason, sizeof(v->disabled_reason));
	}
	PQclear(res);
	PQfinish(pg);
	*ret = rows;
	*ret_n = n;
	return 0;
}

static const char redeliver_sql[] =
	"UPDATE webhook_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = now(),"
	" locked_until = NULL FROM webhook_events ev WHERE ev.id = d.event_id AND d.status <> 'pending'"
	" AND (($1::text IS NOT NULL AND d.event_id = $1) OR ($1::text IS NULL AND d.status = 'failed'"
	" AND ($2::text IS NULL OR ev.merchant_id = $2)))";

int webhook_admin_redeliver(const char *dsn, const char *const *ids, size_t n, const char *merchant, size_t *ret_counts,
			    char *err, size_t errlen)
{
	PGconn *pg;
	int r = pg_open_migrated(dsn, "paywatch-cli", &pg, err, errlen);
	if (r < 0)
		return r;
	size_t total = 0;
	for (size_t i = 0; i < (ids ? n : 1) && r == 0; i++) {
		const char *params[2] = { ids ? ids[i] : NULL, merchant };
		PGresult *res = PQexecParams(pg, redeliver_sql, 2, NULL, params, NULL, NULL, 0);
		uint64_t count = 0;
		if (PQresultStatus(res) != PGRES_COMMAND_OK || parse_u64(PQcmdTuples(res), SIZE_MAX, &count) < 0) {
			r = query_failed(res, "redeliver", err, errlen);
			break;
		}
		PQclear(res);
		ret_counts[i] = (size_t)count;
		total += (size_t)count;
	}
	if (total)
		PQclear(PQexec(pg, "NOTIFY paywatch_webhooks")); /* wake the dispatchers */
	PQfinish(pg);
	return r;
}

static const char endpoints_sql[] =
	"SELECT e.merchant_id, e.url, e.active, e.disabled_at IS NOT NULL, coalesce(e.disabled_reason, ''),"
	" count(d.id) FILTER (WHERE d.status = 'pending' AND d.next_attempt_at <= now()),"
	" count(d.id) FILTER (WHERE d.status = 'pending'),"
	" count(d.id) FILTER (WHERE d.status = 'failed'),"
	" count(d.id) FILTER (WHERE d.status = 'delivered'),"
	" la.err, to_char(la.attempted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), coalesce(e.key, '')"
	" FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id"
	" LEFT JOIN LATERAL (SELECT coalesce(a.error, 'HTTP ' || a.http_status) AS err, a.attempted_at"
	"   FROM webhook_attempts a JOIN webhook_deliveries d2 ON d2.id = a.delivery_id"
	"   WHERE d2.endpoint_id = e.id AND (a.error IS NOT NULL OR a.http_status IS NULL"
	"   OR a.http_status NOT BETWEEN 200 AND 299) ORDER BY a.attempted_at DESC LIMIT 1) la ON true"
	" GROUP BY e.id, la.err, la.attempted_at ORDER BY e.merchant_id, e.id";

int webhook_admin_endpoints(const char *dsn, webhook_endpoint_view **ret, size_t *ret_n, char *err, size_t errlen)
{
	PGconn *pg;
	int r = pg_open_migrated(dsn, "paywatch-status", &pg, err, errlen);
	if (r < 0)
		return r;
	PGresult *res = PQexec(pg, endpoints_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = query_failed(res, "webhook endpoints", err, errlen);
		PQfinish(pg);
		return r;
	}
	size_t n = (size_t)PQntuples(res);
	webhook_endpoint_view *rows = n ? calloc(n, sizeof(*rows)) : NULL;
	if (n && !rows) {
		PQclear(res);
		PQfinish(pg);
		snprintf(err, errlen, "out of memory");
		return PW_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		webhook_endpoint_view *v = &rows[i];
		int k = (int)i;
		copy_value(res, k, 0, v->merchant_id, sizeof(v->merchant_id));
		copy_value(res, k, 1, v->url, sizeof(v->url));
		v->active = PQgetvalue(res, k, 2)[0] == 't';
		v->disabled = PQgetvalue(res, k, 3)[0] == 't';
		copy_value(res, k, 4, v->disabled_reason, sizeof(v->disabled_reason));
		parse_u64(PQgetvalue(res, k, 5), UINT64_MAX, &v->due);
		parse_u64(PQgetvalue(res, k, 6), UINT64_MAX, &v->pending);
		parse_u64(PQgetvalue(res, k, 7), UINT64_MAX, &v->failed);
		parse_u64(PQgetvalue(res, k, 8), UINT64_MAX, &v->delivered);
		v->has_error = !PQgetisnull(res, k, 9);
		copy_value(res, k, 9, v->last_error, sizeof(v->last_error));
		copy_value(res, k, 10, v->last_error_at, sizeof(v->last_error_at));
		copy_value(res, k, 11, v->id, sizeof(v->id));
	}
	PQclear(res);
	PQfinish(pg);
	*ret = rows;
	*ret_n = n;
	return 0;
}
