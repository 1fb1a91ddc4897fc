/* reports.h: settlement and payments reports of a merchant (issue 15),
 * for finance: the API (GET /v1/reports/settlement, /v1/reports/payments)
 * and `paywatch report` give the same bytes. Days are UTC days of the
 * payments' block time, from..to inclusive. Amounts are exact decimals in
 * token units (Postgres numeric sums), never floats.
 *
 * settlement, JSON: {"report": "settlement", "merchant_id", "from", "to",
 *   "generated_at", "chains": [{"chain", "final_height", "rule",
 *   "reported_at"}], "rows": [{"day", "chain", "token": {"symbol",
 *   "address", "decimals"}, "payments", "reverted_payments", "gross",
 *   "reverted", "net", "final"}], "totals": [the same without day and
 *   final, per chain and token]}. gross: every payment recorded that day
 *   (confirmed, or confirmed and then reverted by a reorg); reverted: the
 *   latter; net = gross - reverted. final_height: the height up to which
 *   the chain's payments were confirmed when the report was made (by
 *   finality or confirmations: rule); a row is final when all its
 *   payments are at or below it.
 * payments, JSON: {"report": "payments", "merchant_id", "from", "to",
 *   "generated_at", "data": [{"id", "invoice_id", "invoice_reference",
 *   "chain", "block_number", "block_time", "tx_hash", "log_index", "from",
 *   "to", "token": {...}, "amount", "amount_raw", "status",
 *   "confirmed_at", "reverted_at"}]}.
 * CSV (csv.h: RFC 4180; amounts, hashes and addresses as ="..." text a
 *   spreadsheet keeps exact): a header line, then the rows; settlement's
 *   totals are rows whose day is "total". */
#ifndef PW_REPORTS_H
#define PW_REPORTS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define REPORT_DAYS_MAX 366        /* from..to */
#define REPORT_PAYMENTS_MAX 100000 /* rows of a payments report */

typedef struct report_query {
	const char *kind;        /* "settlement" or "payments" */
	const char *merchant_id; /* required */
	const char *from, *to;   /* "YYYY-MM-DD" */
	const char *format;      /* "json" (NULL) or "csv" */
} report_query;

/* report_check: are q's fields valid (a known kind and format, real
 * dates, from <= to, at most REPORT_DAYS_MAX days)? 0, or PW_EINVAL with
 * "field: reason" in err. */
int report_check(const report_query *q, char *err, size_t errlen);

/* report_build: the report q (checked) into *ret_body (malloc'd,
 * NUL-terminated; caller frees), its media type into *ret_type
 * ("application/json" or "text/csv; charset=utf-8"). 0; PW_EREFUSED (more
 * than REPORT_PAYMENTS_MAX payments: err says to narrow the days); PW_EDB
 * (libpq's message in err); PW_ENOMEM. */
int report_build(PGconn *c, const report_query *q, char **ret_body, const char **ret_type, char *err, size_t errlen);

/* report_stream: the report q (checked) written to out, report_build's
 * bytes for what both can give, but a payments report of any number of
 * rows: read through a cursor in one REPEATABLE READ transaction (one
 * snapshot: rows written meanwhile are not in it) and written a page of
 * rows at a time, its memory a page's whatever the rows (`paywatch report
 * payments`). A settlement report is report_build's. *ret_rows: the
 * payments written (0 for settlement). 0; PW_EDB (libpq's message in
 * err); PW_EIO (out refused a write: err says why; what was written
 * stays); PW_ENOMEM. */
int report_stream(PGconn *c, const report_query *q, FILE *out, size_t *ret_rows, char *err, size_t errlen);

#endif
