/* report_pg.c: the SQL of reports (report_pg.h). */
#include "report_pg.h"
#include "pg_conn.h"

#include <stdio.h>

#define DAYS_OF(p)                                                                                                     \
	p ".merchant_id = $1 AND " p                                                                                   \
	  ".block_time >= ($2::date)::timestamp AT TIME ZONE 'UTC'"                                                    \
	  " AND " p ".block_time < ($3::date + 1)::timestamp AT TIME ZONE 'UTC'"
#define RFC3339(t) "to_char(" t " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

int report_pg_settlement(PGconn *c, const char *merchant_id, const char *from, const char *to, PGresult **ret,
			 char *err, size_t errlen)
{
	const char *params[3] = { merchant_id, from, to };
	return pg_exec(c,
		       "SELECT to_char(day, 'YYYY-MM-DD'), chain, token_symbol, token_address, decimals::text,"
		       " count(*)::text, count(*) FILTER (WHERE status = 'reverted')::text,"
		       " trim_scale(sum(amount))::text,"
		       " trim_scale(coalesce(sum(amount) FILTER (WHERE status = 'reverted'), 0))::text,"
		       " trim_scale(sum(amount) - coalesce(sum(amount) FILTER (WHERE status = 'reverted'), 0))::text,"
		       " max(block_number)::text"
		       " FROM (SELECT (p.block_time AT TIME ZONE 'UTC')::date AS day, p.chain, p.token_symbol,"
		       " p.token_address, p.decimals, p.status, p.amount, p.block_number FROM payments p"
		       " WHERE " DAYS_OF("p") ") d"
		       " GROUP BY GROUPING SETS ((day, chain, token_symbol, token_address, decimals),"
		       " (chain, token_symbol, token_address, decimals))"
		       " ORDER BY day IS NULL, day, chain, token_symbol, token_address",
		       3, params, ret, err, errlen);
}

int report_pg_final_heights(PGconn *c, PGresult **ret, char *err, size_t errlen)
{
	return pg_exec(c,
		       "SELECT chain, report->>'confirmed_height',"
		       " coalesce(report->>'finality', (report->>'confirmations') || ' confirmations'),"
		       " " RFC3339("updated_at") " FROM chain_reports ORDER BY chain",
		       0, NULL, ret, err, errlen);
}

/* The payments report's rows: report_pg_payments's columns and order */
#define PAYMENTS_SQL                                                                                                   \
	"SELECT p.id::text, i.id, i.reference, p.chain, p.block_number::text, " RFC3339("p.block_time") ","            \
	" p.tx_hash, p.log_index::text, p.from_address, p.to_address, p.token_symbol, p.token_address,"                \
	" p.decimals::text, trim_scale(p.amount)::text, p.amount_raw::text, p.status,"                                 \
	" " RFC3339("p.confirmed_at") ", " RFC3339("p.reverted_at") " FROM payments p"                                 \
	" LEFT JOIN invoices i ON i.chain = p.chain AND i.address = p.to_address"                                      \
	" AND i.token_address = p.token_address AND p.inserted_at >= i.created_at"                                     \
	" WHERE " DAYS_OF("p") " ORDER BY p.block_time, p.id"

int report_pg_payments(PGconn *c, const char *merchant_id, const char *from, const char *to, long max_rows,
		       PGresult **ret, char *err, size_t errlen)
{
	char lim[24];
	snprintf(lim, sizeof(lim), "%ld", max_rows + 1);
	const char *params[4] = { merchant_id, from, to, lim };
	return pg_exec(c, PAYMENTS_SQL " LIMIT $4::bigint", 4, params, ret, err, errlen);
}

int report_pg_payments_cursor(PGconn *c, const char *name, const char *merchant_id, const char *from, const char *to,
			      char *err, size_t errlen)
{
	char sql[2048];
	snprintf(sql, sizeof(sql), "DECLARE %s NO SCROLL CURSOR FOR " PAYMENTS_SQL, name);
	const char *params[3] = { merchant_id, from, to };
	return pg_exec(c, sql, 3, params, NULL, err, errlen);
}
