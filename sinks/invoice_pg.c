/* invoice_pg.c: the SQL of invoices (invoice_pg.h). */
#include "invoice_pg.h"
#include "b64url.h"
#include "pg_conn.h"
#include "pw_error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int invoice_pg_by_reference(PGconn *c, const char *merchant_id, const char *reference, char sha256[65], char **ret_json,
			    char *err, size_t errlen)
{
	const char *params[2] = { merchant_id, reference };
	PGresult *res;
	int r = pg_exec(c,
			"SELECT paywatch_invoice_json(i)::text, i.request_sha256 FROM invoices i"
			" WHERE i.merchant_id = $1 AND i.reference = $2",
			2, params, &res, err, errlen);
	if (r < 0)
		return r;
	if (PQntuples(res) == 1)
		snprintf(sha256, 65, "%s", PQgetvalue(res, 0, 1));
	return pg_first_text(res, ret_json);
}

int invoice_pg_insert(PGconn *c, const invoice_row *r, char **ret_json, char *err, size_t errlen)
{
	char dec[16], hd[24], secs[24];
	snprintf(dec, sizeof(dec), "%d", r->decimals);
	snprintf(hd, sizeof(hd), "%ld", r->hd_index);
	snprintf(secs, sizeof(secs), "%lld", (long long)r->expires_in_s);
	const char *params[20] = { r->id,
				   r->merchant_id,
				   r->reference,
				   r->request_sha256,
				   r->chain,
				   r->family,
				   r->token_address,
				   r->token_symbol,
				   dec,
				   r->amount_raw,
				   r->amount,
				   r->address,
				   r->address_shown,
				   hd,
				   r->hd_path,
				   r->payment_uri,
				   r->metadata,
				   r->expires_in_s >= 0 ? secs : NULL,
				   r->expires_at };
	PGresult *res = NULL;
	int q = pg_begin(c, err, errlen);
	if (q == 0)
		q = pg_exec(
			c,
			"INSERT INTO invoices (id, merchant_id, reference, request_sha256, chain, chain_family, token_address,"
			" token_symbol, decimals, amount_raw, amount, address, address_shown, hd_index, hd_path, payment_uri,"
			" metadata, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::int, $10::numeric, $11::numeric,"
			" $12, $13, $14::int, $15, $16, $17::jsonb,"
			" coalesce(now() + make_interval(secs => $18::int), $19::timestamptz))"
			" ON CONFLICT (merchant_id, reference) DO NOTHING RETURNING paywatch_invoice_json(invoices)::text",
			19, params, &res, err, errlen);
	if ((q = pg_end(c, q, err, errlen)) < 0) {
		PQclear(res);
		return q;
	}
	q = pg_first_text(res, ret_json);
	if (q == PW_ENOTFOUND)
		snprintf(err, errlen, "reference %.128s was used meanwhile", r->reference);
	return q == PW_ENOTFOUND ? PW_EREFUSED : q;
}

int invoice_pg_get(PGconn *c, const char *id, const char *merchant_id, char **ret_json, char *err, size_t errlen)
{
	const char *params[2] = { id, merchant_id };
	PGresult *res;
	int r = pg_exec(c,
			"SELECT paywatch_invoice_json(i)::text FROM invoices i WHERE i.id = $1"
			" AND ($2::text IS NULL OR i.merchant_id = $2)",
			2, params, &res, err, errlen);
	return r < 0 ? r : pg_first_text(res, ret_json);
}

bool invoice_id_ok(const char *s)
{
	return strncmp(s, "inv_", 4) == 0 && strlen(s) == 26 &&
	       strspn(s + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == 22;
}

/* A cursor: base64url of "<created_at epoch microseconds>/<id>". */
static int cursor_decode(const char *text, char *at, size_t atlen, char *id, size_t idlen)
{
	uint8_t raw[96];
	size_t n;
	if (b64url_decode(text, raw, sizeof(raw) - 1, &n) < 0)
		return PW_EPARSE;
	raw[n] = '\0';
	char *slash = memchr(raw, '/', n);
	if (!slash || slash == (char *)raw || (size_t)(slash - (char *)raw) >= atlen)
		return PW_EPARSE;
	*slash = '\0';
	/* never a Postgres error: microseconds that fit a bigint (18 digits),
	 * an invoice id's shape ("inv_" + 22 base64url characters) */
	const char *inv = slash + 1;
	if (strspn((char *)raw, "0123456789") != strlen((char *)raw) || strlen((char *)raw) > 18 ||
	    strlen(inv) >= idlen || !invoice_id_ok(inv))
		return PW_EPARSE;
	snprintf(at, atlen, "%s", (char *)raw);
	snprintf(id, idlen, "%s", slash + 1);
	return 0;
}

int invoice_pg_list(PGconn *c, const invoice_query *q, char **ret_json, char *err, size_t errlen)
{
	char at[24] = "", id[64] = "", lim[16];
	if (q->cursor && cursor_decode(q->cursor, at, sizeof(at), id, sizeof(id)) < 0)
		return PW_EPARSE;
	snprintf(lim, sizeof(lim), "%u", q->limit);
	const char *params[6] = { q->merchant_id,        q->status, q->reference, q->cursor ? at : NULL,
				  q->cursor ? id : NULL, lim };
	PGresult *res;
	int r = pg_exec(c,
			"SELECT paywatch_invoice_json(i)::text,"
			" (extract(epoch FROM i.created_at) * 1000000)::bigint::text || '/' || i.id FROM invoices i"
			" WHERE ($1::text IS NULL OR i.merchant_id = $1) AND ($2::text IS NULL OR i.status = $2)"
			" AND ($3::text IS NULL OR i.reference = $3) AND ($4::bigint IS NULL OR"
			" ((extract(epoch FROM i.created_at) * 1000000)::bigint, i.id) < ($4::bigint, $5))"
			" ORDER BY i.created_at DESC, i.id DESC LIMIT $6::int",
			6, params, &res, err, errlen);
	if (r < 0)
		return r;
	int n = PQntuples(res);
	size_t len = 32;
	for (int k = 0; k < n; k++)
		len += strlen(PQgetvalue(res, k, 0)) + 1;
	char *out = malloc(len + 160);
	if (!out) {
		PQclear(res);
		return PW_ENOMEM;
	}
	size_t o = (size_t)sprintf(out, "{\"data\":[");
	for (int k = 0; k < n; k++)
		o += (size_t)sprintf(out + o, "%s%s", k ? "," : "", PQgetvalue(res, k, 0));
	char next[160] = "null";
	if (n > 0 && (unsigned)n == q->limit) {
		const char *last = PQgetvalue(res, n - 1, 1);
		char enc[150];
		b64url_encode((const uint8_t *)last, strlen(last), enc, sizeof(enc));
		snprintf(next, sizeof(next), "\"%s\"", enc);
	}
	sprintf(out + o, "],\"next_cursor\":%s}", next);
	PQclear(res);
	*ret_json = out;
	return 0;
}

int invoice_pg_cancel(PGconn *c, const char *id, const char *merchant_id, char **ret_json, char *err, size_t errlen)
{
	const char *params[2] = { id, merchant_id };
	PGresult *res;
	int r = pg_begin(c, err, errlen);
	if (r == 0)
		r = pg_exec(
			c,
			"SELECT status FROM invoices WHERE id = $1 AND ($2::text IS NULL OR merchant_id = $2) FOR UPDATE",
			2, params, &res, err, errlen);
	if (r == 0) {
		if (PQntuples(res) != 1)
			r = PW_ENOTFOUND;
		else if (strcmp(PQgetvalue(res, 0, 0), "new") != 0) {
			snprintf(err, errlen, "the invoice is %s: only a new invoice is cancelled",
				 PQgetvalue(res, 0, 0));
			r = PW_EREFUSED;
		}
		PQclear(res);
	}
	if (r == 0)
		r = pg_exec(c, "UPDATE invoices SET status = 'cancelled', cancelled_at = now() WHERE id = $1", 1,
			    params, NULL, err, errlen);
	if (r == 0) /* the move's event: its feed row, its webhook event and deliveries (schema/025) */
		r = pg_exec(c, "SELECT paywatch_invoice_event(i, 'invoice.cancelled') FROM invoices i WHERE i.id = $1",
			    1, params, NULL, err, errlen);
	r = pg_end(c, r, err, errlen);
	return r < 0 ? r : invoice_pg_get(c, id, merchant_id, ret_json, err, errlen);
}

int invoice_pg_expire_due(PGconn *c, int max_rows, long *ret_events, char *err, size_t errlen)
{
	char n[16];
	snprintf(n, sizeof(n), "%d", max_rows);
	const char *params[1] = { n };
	PGresult *res;
	int r = pg_exec(c, "SELECT paywatch_invoices_expire($1::int)", 1, params, &res, err, errlen);
	if (r < 0)
		return r;
	*ret_events = PQntuples(res) == 1 ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return 0;
}

int invoice_pg_checkout(PGconn *c, const char *id, char **ret_json, char *err, size_t errlen)
{
	const char *params[1] = { id };
	PGresult *res;
	int r = pg_exec(c,
			"SELECT json_build_object('invoice', paywatch_invoice_json(i), 'seconds_left',"
			" greatest(0, ceil(extract(epoch FROM i.expires_at - now())))::bigint)::text"
			" FROM invoices i WHERE i.id = $1",
			1, params, &res, err, errlen);
	return r < 0 ? r : pg_first_text(res, ret_json);
}
