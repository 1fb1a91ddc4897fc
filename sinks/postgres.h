/* postgres.h: the PostgreSQL sink. Writes confirmed payments in batches
 * (COPY into a temporary table, then one INSERT ... ON CONFLICT DO NOTHING
 * on the payment identity, one transaction per batch), mirrors merchants,
 * and applies schema migrations. Knows nothing of RocksDB or the indexer.
 * Thread safety: a pg_sink (one libpq connection) belongs to one thread. */
#ifndef PW_POSTGRES_H
#define PW_POSTGRES_H

#include "payment.h"
#include "pg_conn.h"

#include <libpq-fe.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One merchant address row for pg_sink_sync_merchants. */
typedef struct pg_merchant_address {
	const char *merchant_id;
	const char *chain;
	uint8_t family; /* enum pw_family: how the address is written */
	pw_addr address;
} pg_merchant_address;

/* One webhook endpoint for pg_sink_sync_merchants. The URL is the full
 * one from the config: only its scheme://host:port reaches Postgres. */
typedef struct pg_webhook_endpoint {
	const char *merchant_id;
	const char *key; /* the config's stable endpoint id */
	const char *url;
	const char *events; /* Postgres array literal, e.g. "{payment.confirmed,payment.reverted}" */
} pg_webhook_endpoint;

typedef struct pg_sink pg_sink;

/* pg_sink_connect: open a libpq connection. 0 with *ret (close with
 * pg_sink_close), or PW_EDB with libpq's message in err (libpq never puts
 * the password in it). */
int pg_sink_connect(const char *dsn, pg_sink **ret, char *err, size_t errlen);

/* pg_sink_connect_migrated: pg_sink_connect on a connection from
 * pg_open_migrated (the sink writers, the chain reporter, `quarantine`; not
 * `migrate`): also PW_ESCHEMA, with pg_open_migrated's text in err, when the
 * database lacks one of this build's migrations. */
int pg_sink_connect_migrated(const char *dsn, pg_sink **ret, char *err, size_t errlen);

/* pg_sink_close: close; accepts NULL. */
void pg_sink_close(pg_sink *s);

/* Batches of confirmed payments, or of pending entries, up to this many
 * rows (a live block's payments) are written by one statement, in one
 * round trip; larger ones by COPY (pg_sink_write_payments). */
#define PG_SINK_STATEMENT_MAX 64

/* pg_sink_set_statement_max: write batches of confirmed payments, or of
 * pending entries, of up to n rows by one statement (PG_SINK_STATEMENT_MAX
 * when connected; 0: every batch by COPY or the upsert). For tests that
 * check each way. */
void pg_sink_set_statement_max(pg_sink *s, size_t n);

/* pg_sink_error: the last error text ("" when none); owned by the sink. */
const char *pg_sink_error(const pg_sink *s);

/* What one pg_sink_write_payments call changed. */
typedef struct pg_write_result {
	size_t inserted;       /* confirmed payments newly inserted, or confirmed again after a revert */
	size_t present;        /* confirmed payments already there (a replay after a crash) */
	size_t reverted;       /* rows turned from confirmed to reverted (or inserted as reverted) */
	size_t pending_events; /* payment.pending events created */
	size_t pending_rows;   /* pending_payments rows written (payments seen, not yet confirmed) */
	size_t dropped_rows;   /* pending_payments rows deleted: their block left the chain */
	size_t dropped_events; /* payment.dropped events created (for payments a payment.pending told of) */
	size_t deliveries;     /* webhook deliveries queued */
	size_t quarantined;    /* entries refused (by Postgres for a data reason, or by payment_check) and
				* kept in payment_quarantine instead */
	size_t duplicates;     /* entries repeated within the batch, written once */
	bool copied;           /* written by the direct COPY into payments (not the upsert) */
	bool one_statement;    /* written by one statement (a small batch of confirmed payments or of
				* pending entries) */
} pg_write_result;

/* pg_sink_write_payments: write n outbox entries in one transaction, in
 * order: PW_STATUS_CONFIRMED entries are inserted unless a row with the
 * same identity (chain_id, block_hash, log_index) exists (a 'reverted' one
 * is confirmed again: its block is canonical again);
 * PW_STATUS_REVERTED entries set that row's status to 'reverted' and
 * reverted_at to now() (inserting it as reverted if it is missing); each
 * change of a row's status is counted on the row (times_confirmed,
 * times_reverted: schema/021_payment_event_counts.sql), the n of its
 * event's id (paywatch_event_id of "type" or "type#n");
 * PW_STATUS_PENDING entries write a pending_payments row (unless the
 * payment is confirmed already) and create payment.pending events for
 * merchants subscribed to them; PW_STATUS_DROPPED entries delete that row
 * (schema/014_invoice_states.sql: the invoices at those addresses are
 * settled by triggers, in the same transaction) and, where the payment's
 * payment.pending event exists, create a payment.dropped event naming it,
 * delivered to the endpoints that event was delivered to
 * (schema/024_payment_dropped_events.sql). Every inserted or reverted row of a
 * merchant with an endpoint subscribed to it gets its webhook event
 * (payment.confirmed / payment.reverted) in the same transaction, and a
 * delivery per subscribed endpoint; dispatchers are
 * woken with NOTIFY paywatch_webhooks. A batch should hold entries of one
 * status (the outbox queue cuts them so): several are applied confirmed,
 * then reverted, then pending, then dropped, whatever their order.
 * A batch of confirmed entries only, or of pending entries only, of up
 * to PG_SINK_STATEMENT_MAX, is written by one statement (one round trip:
 * a live block's payments);
 * a larger one is first COPied into payments (the fast way); if a row of
 * it is already there, that is rolled back and the batch takes the
 * upsert, as do the batches after it until one finds no row present.
 * One entry never stops the others: an entry that fails payment_check, or
 * that Postgres refuses for a data reason (SQLSTATE class 21, 22 or 23;
 * the batch is split in halves until the entry is alone), is kept in
 * payment_quarantine with the reason (ret->quarantined) and the rest is
 * written. An entry repeated in the batch is written once.
 * 0 with *ret: every entry is written or quarantined; or PW_EDB
 * (connection or server trouble; pg_sink_error): what was committed stays
 * (the writes are idempotent), the caller retries the batch. */
int pg_sink_write_payments(pg_sink *s, const pw_payment *payments, size_t n, pg_write_result *ret);

/* pg_sink_conn: the sink's connection, for a caller that runs its own
 * statements on it between the sink's (the registry's seeding). */
PGconn *pg_sink_conn(pg_sink *s);

/* pg_sink_sync_merchants: seed the registry (schema/011_registry.sql)
 * with the config's merchants, addresses and endpoints, in one
 * transaction. What the config names wins: its merchants exist (again),
 * its addresses belong to its merchants, its endpoints, known by
 * (merchant_id, key), are active with its URL and events (an endpoint
 * whose URL changed keeps its row and deliveries). Rows of origin 'config'
 * the config no longer names are pruned (addresses, on the config's
 * chains: a text[] literal; another config speaks for its own) or made inactive
 * (endpoints; their history stays); rows added through the API or the CLI
 * (origin 'registry') are left alone. A row from before endpoint ids (its
 * full URL's SHA-256 kept by migration 006) is adopted by the endpoint
 * with that URL. Postgres gets only scheme://host:port of a URL.
 * 0 or PW_EDB. */
int pg_sink_sync_merchants(pg_sink *s, const char *chains, const char *const *merchant_ids, size_t n_merchants,
			   const pg_merchant_address *addresses, size_t n_addresses,
			   const pg_webhook_endpoint *endpoints, size_t n_endpoints);

/* pg_sink_migrate: apply, in order, each migration of the NULL-terminated
 * list not yet in schema_migrations, each in its own transaction under an
 * advisory lock (two migrators never race). *ret_applied gets the count.
 * 0 or PW_EDB (the failing migration rolled back; err names it). */
int pg_sink_migrate(pg_sink *s, const struct schema_migration *list, size_t *ret_applied);

/* pg_sink_put_chain_report: replace chain's row of chain_reports with
 * report_json (a JSON object: chain_report_json's) and updated_at = now().
 * 0 or PW_EDB (pg_sink_error). */
int pg_sink_put_chain_report(pg_sink *s, const char *chain, const char *report_json);

/* pg_sink_warm_up: run, on no rows, the statements a write of confirmed
 * and pending payments runs (the temp table, the upsert's confirmed and
 * pending statements, the COPYs into payments and event_feed, the events
 * statement, the small batches' statements; not the rarer revert and
 * drop), in one transaction rolled back. A fresh backend's first write
 * otherwise loads every table's, index's, trigger's and function's
 * catalog entries itself: 12-18 ms for one payment against 1-2 ms for the
 * next (bench/warm_probe.mjs). It also sets the session's plan_cache_mode
 * to force_generic_plan: the small batches' statements take one JSON
 * parameter the planner cannot see into, and are planned once instead of
 * at each of their first five executions (1-6 ms each). Writes nothing;
 * for a writer's connection before its first batch. 0, or PW_EDB
 * (pg_sink_error; also when a statement reports a row): the connection
 * stays usable unless it was lost, and the first write then runs cold. */
int pg_sink_warm_up(pg_sink *s);

/* pg_sink_warm_up_rows: the small batches' statements on one payment,
 * seen pending then confirmed, for a merchant of the registry (one with an
 * active endpoint first), under an identity no chain has (chain
 * "paywatch-warm-up", chain id 0), paying an invoice made for it (moved to
 * processing, then paid), in one transaction rolled back: the per-row
 * paths (functions, triggers, index inserts, the settlement's PL/pgSQL
 * functions of 014) that pg_sink_warm_up's statements on no rows do not
 * reach, which a writer's first live payment otherwise runs first (8-9 ms
 * against 1-2 ms), and its first payment to an invoice (the settlement
 * compiled and planned: about 12 ms against 1.5, bench/settle_probe.mjs).
 * Writes nothing and notifies no one (consumes a value of the
 * payments, feed and deliveries sequences); for a writer once it has
 * found the outbox empty (a backfill's batches are not kept waiting). 1
 * (warmed), 0 (no merchant yet: nothing to warm), or PW_EDB
 * (pg_sink_error; the rows were not written, or the invoice not settled
 * paid): as for pg_sink_warm_up. */
int pg_sink_warm_up_rows(pg_sink *s);

/* pg_sink_set_webhooks: off: later pg_sink_write_payments calls on this
 * connection create no webhook events (replay --no-webhooks); on: the
 * default. 0 or PW_EDB. */
int pg_sink_set_webhooks(pg_sink *s, bool on);

/* pg_sink_read_payments: the payment rows of chain (of family: how its
 * identities are written) with block numbers in [from, to], optionally
 * only merchant_id's and/or those to to_address (NULL for any), ordered by
 * (block_number, log_index), with
 * status PW_STATUS_CONFIRMED or PW_STATUS_REVERTED. The rows are bounded by
 * the range: callers read ranges of a replay slot, not a whole chain.
 * 0 with *ret (malloc'd, caller frees; NULL when none) and *ret_n,
 * PW_EDB, PW_ENOMEM, or PW_EPARSE (a hand-edited value; pg_sink_error). */
int pg_sink_read_payments(pg_sink *s, const char *chain, uint8_t family, uint64_t from, uint64_t to,
			  const char *merchant_id, const pw_addr *to_address, pw_payment **ret, size_t *ret_n);

/* pg_sink_fix_payment: set every column of the row with p's identity
 * (chain_id, block_hash, log_index) to p's values, status 'confirmed'
 * (replay --fix: the chain is the truth). No webhook event is created.
 * 0 with *ret_updated (0 or 1), PW_EDB, PW_EINVAL (unformattable amount). */
int pg_sink_fix_payment(pg_sink *s, const pw_payment *p, size_t *ret_updated);

/* One quarantined entry as an operator reads it (text as Postgres holds
 * it; the entry itself stays in Postgres). */
typedef struct pg_quarantined {
	uint64_t id;
	char chain[256], block_number[24], block_hash[67], tx_hash[67], log_index[16], kind[12];
	char merchant_id[256], amount_raw[80], reason[1024], sqlstate[6];
	char quarantined_at[24], last_retry_at[24]; /* RFC 3339 UTC; last_retry_at "" when never */
	uint32_t retries;
} pg_quarantined;

/* pg_sink_quarantine_list: up to limit quarantined entries, oldest first,
 * of chain (NULL: every chain). 0 with *ret (calloc'd, caller frees; NULL
 * when none) and *ret_n, PW_EDB, PW_ENOMEM. */
int pg_sink_quarantine_list(pg_sink *s, const char *chain, size_t limit, pg_quarantined **ret, size_t *ret_n);

/* pg_sink_quarantine_summary: how many entries are quarantined (of chain,
 * NULL: all) and when the oldest was (RFC 3339 into ret_oldest, "" when
 * none). 0 or PW_EDB. */
int pg_sink_quarantine_summary(pg_sink *s, const char *chain, uint64_t *ret_count, char *ret_oldest, size_t oldest_len);

/* pg_sink_quarantine_retry: write quarantined entries again, in the order
 * they were quarantined (id; 0: all, optionally of one chain): each one
 * written (with its webhook events, as the sink writes any entry) leaves
 * the quarantine; one refused again stays, with retries + 1 and the new
 * reason. 0 with the counts, or PW_EDB (connection trouble; entries done
 * so far stay done). */
int pg_sink_quarantine_retry(pg_sink *s, uint64_t id, const char *chain, size_t *ret_written, size_t *ret_refused);

/* pg_sink_copy_row: the COPY text row the sink sends for p (18 columns,
 * tab-separated, newline-terminated): timestamps true as for the payments
 * table (timestamptz text), false as for the session temp table (unix s
 * and ms). For tests and the fuzz target, which check every row against
 * the schema. 0 with the row in out (outlen bytes), or PW_ERANGE
 * (payment_check refuses p: the reason in out), PW_EINVAL, PW_ETOOBIG. */
int pg_sink_copy_row(const pw_payment *p, bool timestamps, char *out, size_t outlen);

/* pg_sink_count_missing_migrations: pg_count_missing_migrations on the
 * sink's connection; its message is the sink's error (pg_sink_error). */
int pg_sink_count_missing_migrations(pg_sink *s, const struct schema_migration *list, size_t *ret_missing);

#endif
