/* invoice_pg.h: the SQL of invoices (schema/013_invoices.sql). INVOICE is
 * the JSON text paywatch_invoice_json builds: id, merchant_id, reference,
 * chain, token {address, symbol, decimals}, amount, amount_paid,
 * amount_pending (decimal strings in token units), address (as a payer
 * writes it), path, payment_uri, status, exception, created_at, expires_at,
 * paid_at (RFC 3339 UTC or null), payments (ids), metadata. Answers are
 * malloc'd; errors: PW_EDB (libpq's message in err), PW_ENOTFOUND,
 * PW_EREFUSED (reason in err), PW_ENOMEM. */
#ifndef PW_INVOICE_PG_H
#define PW_INVOICE_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* invoice_id_ok: s has an invoice id's shape, "inv_" + 22 base64url
 * characters (128 random bits, as invoice_create makes it); what ids from
 * outside (a path, a cursor) are checked with before a query. */
bool invoice_id_ok(const char *s);

/* An invoice to insert, every field checked by the caller. */
typedef struct invoice_row {
	const char *id, *merchant_id, *reference, *request_sha256;
	const char *chain, *family, *token_address, *token_symbol;
	int decimals;
	const char *amount_raw, *amount; /* base units; token units (exact) */
	const char *address, *address_shown, *hd_path;
	long hd_index;
	const char *payment_uri; /* NULL: none */
	const char *metadata;    /* a JSON object's text */
	int64_t expires_in_s;    /* -1: expires_at is given */
	const char *expires_at;  /* RFC 3339, checked */
} invoice_row;

/* invoice_pg_by_reference: the invoice merchant_id made for reference:
 * INVOICE into *ret_json and its body's SHA-256 into sha256 (65 bytes).
 * PW_ENOTFOUND when there is none. */
int invoice_pg_by_reference(PGconn *c, const char *merchant_id, const char *reference, char sha256[65], char **ret_json,
			    char *err, size_t errlen);

/* invoice_pg_insert: insert r; INVOICE into *ret_json. PW_EREFUSED when
 * the merchant used the reference meanwhile (the caller reads it again). */
int invoice_pg_insert(PGconn *c, const invoice_row *r, char **ret_json, char *err, size_t errlen);

/* invoice_pg_get: INVOICE id (merchant_id non-NULL: only that merchant's). */
int invoice_pg_get(PGconn *c, const char *id, const char *merchant_id, char **ret_json, char *err, size_t errlen);

/* A GET /v1/invoices query: newest first, keyset on (created_at, id). */
typedef struct invoice_query {
	const char *merchant_id, *status, *reference; /* NULL: any */
	unsigned limit;                               /* 1..1000 */
	const char *cursor;                           /* NULL: from the newest */
} invoice_query;

/* invoice_pg_list: {"data": [INVOICE, ...], "next_cursor": TEXT|null}.
 * PW_EPARSE: a cursor this API did not give. */
int invoice_pg_list(PGconn *c, const invoice_query *q, char **ret_json, char *err, size_t errlen);

/* invoice_pg_cancel: a `new` invoice becomes `cancelled`, with its
 * invoice.cancelled event (the feed row, and the webhook event and
 * deliveries for the endpoints that take the type: paywatch_invoice_event,
 * schema/025) in the same transaction; INVOICE after it (*ret_json, the
 * caller frees). PW_ENOTFOUND (no such invoice, or another merchant's);
 * PW_EREFUSED: not `new` (err names its status); PW_EDB. */
int invoice_pg_cancel(PGconn *c, const char *id, const char *merchant_id, char **ret_json, char *err, size_t errlen);

/* invoice_pg_expire_due: expire the open invoices past their expires_at,
 * at most max_rows (schema/014_invoice_states.sql,
 * paywatch_invoices_expire: each exactly once however many processes ask,
 * with its invoice.expired event). The events written into *ret_events.
 * 0 or PW_EDB. */
int invoice_pg_expire_due(PGconn *c, int max_rows, long *ret_events, char *err, size_t errlen);

/* invoice_pg_checkout: what the checkout page shows of invoice id:
 * {"invoice": INVOICE, "seconds_left": until expires_at by Postgres's
 * clock, 0 once past} into *ret_json. PW_ENOTFOUND when there is none. */
int invoice_pg_checkout(PGconn *c, const char *id, char **ret_json, char *err, size_t errlen);

#endif
