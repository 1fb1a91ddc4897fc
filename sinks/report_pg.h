/* report_pg.h: the SQL of settlement and payments reports
 * (indexer/merchants/reports.h formats them). Days are UTC days of the
 * payments' block time, from..to inclusive ("YYYY-MM-DD", checked by the
 * caller). Sums are Postgres numeric (exact), as text. Results are the
 * caller's to PQclear; errors: PW_EDB with libpq's message in err. */
#ifndef PW_REPORT_PG_H
#define PW_REPORT_PG_H

#include <libpq-fe.h>
#include <stddef.h>

/* report_pg_settlement: one row per day, chain and token, then one total
 * row per chain and token (day NULL): columns day, chain, token_symbol,
 * token_address, decimals, payments, reverted_payments, gross, reverted,
 * net, highest block number. gross: every payment recorded (confirmed or
 * reverted); reverted: those a reorg took back; net = gross - reverted. */
int report_pg_settlement(PGconn *c, const char *merchant_id, const char *from, const char *to, PGresult **ret,
			 char *err, size_t errlen);

/* report_pg_final_heights: per chain (chain_reports, published by `run`):
 * chain, the height up to which payments are confirmed (text; NULL when
 * not known yet), the rule ("finalized", "safe" or "N confirmations") and
 * when it was reported (RFC 3339). */
int report_pg_final_heights(PGconn *c, PGresult **ret, char *err, size_t errlen);

/* report_pg_payments: the merchant's payments of the days, in block time
 * order, at most max_rows + 1 (the caller tells "more than max_rows"):
 * id, invoice_id, invoice_reference (NULL when not an invoice's),
 * chain, block_number, block_time, tx_hash, log_index, from, to,
 * token_symbol, token_address, decimals, amount, amount_raw, status,
 * confirmed_at, reverted_at. */
int report_pg_payments(PGconn *c, const char *merchant_id, const char *from, const char *to, long max_rows,
		       PGresult **ret, char *err, size_t errlen);

/* report_pg_payments_cursor: DECLARE the cursor `name` (an SQL
 * identifier of the caller's, not a user's) over every row
 * report_pg_payments answers, without a limit, in the caller's open
 * transaction (its snapshot: REPEATABLE READ keeps the pages of one
 * report consistent); the caller FETCHes and CLOSEs it. 0 or PW_EDB. */
int report_pg_payments_cursor(PGconn *c, const char *name, const char *merchant_id, const char *from, const char *to,
			      char *err, size_t errlen);

#endif
