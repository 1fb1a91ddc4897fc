/* pg_sink_check.c: the Postgres sink's write path against a real Postgres
 * (started and migrated by test_sink.mjs, which passes the DSN):
 *   - a batch of new confirmed payments goes by the direct COPY, with its
 *     events and deliveries;
 *   - the same batch again (a replay after a crash) falls back to the
 *     upsert and writes nothing;
 *   - revert, confirm again (the chain went back to the block), replay of
 *     that, revert again: the row follows, each step has its own event, a
 *     revert names the latest confirmation, and nothing is written twice;
 *     the row counts its events, and its feed rows carry the webhook
 *     events' ids and reversed events (also for a payment reverted before
 *     any confirmation);
 *   - migration 021 over the tables as 020 left them (check_counts_migrated);
 *   - the quarantine, Tron's forms, one statement's batches, the warm-up,
 *     the registry of one chain (main and each check_* below).
 * usage: pg_sink_check DSN */
#include "config.h"
#include "idfmt.h"
#include "matcher.h"
#include "payment.h"
#include "pg_conn.h"
#include "postgres.h"
#include "pw_error.h"
#include "registry_watch.h"
#include "../unit/test.h"
#include "../unit/test_payments.h"

#include <libpq-fe.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

static PGconn *db;

/* One integer from a query of one row and column. */
static long long q_int(const char *sql)
{
	PGresult *res = PQexec(db, sql);
	long long v = -1;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else
		fprintf(stderr, "query failed: %s: %s", sql, PQerrorMessage(db));
	PQclear(res);
	return v;
}

static char *q_text(const char *sql, char *out, size_t n)
{
	PGresult *res = PQexec(db, sql);
	out[0] = '\0';
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		snprintf(out, n, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

/* The channels notified on db (LISTENing), as a comma-separated list in
 * order, once want of them came or timeout_ms passed. */
static const char *notified(int want, int timeout_ms, char *out, size_t n)
{
	int got = 0;
	out[0] = '\0';
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		PQconsumeInput(db);
		PGnotify *nf;
		while ((nf = PQnotifies(db)) != NULL) {
			size_t len = strlen(out);
			snprintf(out + len, n - len, "%s%s", len ? "," : "", nf->relname);
			PQfreemem(nf);
			got++;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (got >= want || ms >= timeout_ms)
			return out;
		fd_set fds;
		FD_ZERO(&fds);
		FD_SET(PQsocket(db), &fds);
		struct timeval tv = { 0, 50000 };
		select(PQsocket(db) + 1, &fds, NULL, NULL, &tv);
	}
}

static pw_payment payment(uint64_t block, uint32_t log_index, uint8_t status)
{
	pw_payment p = test_make_payment(block, log_index);
	p.block_time = 1700000000 + (int64_t)block;
	p.status = status;
	p.confirmations = 2;
	p.confirmed_at_ms = 1700000000123LL + (int64_t)block;
	p.to.b[19] = 0x01;
	p.from.b[19] = 0x02;
	p.token.b[19] = 0x03;
	p.tx_hash.b[0] = (uint8_t)log_index;
	return p;
}

static pg_write_result write_batch(pg_sink *s, const pw_payment *p, size_t n)
{
	pg_write_result res = { 0 };
	int r = pg_sink_write_payments(s, p, n, &res);
	if (r < 0)
		fprintf(stderr, "write failed: %s\n", pg_sink_error(s));
	ASSERT_EQ_INT(0, r);
	return res;
}

/* A Tron payment is written in Tron's forms (T... addresses, hashes as 64
 * hex digits without 0x), read back to the same payment, and announced by
 * a webhook carrying those forms; the per-family CHECKs (migration 007)
 * refuse one family's forms in the other's rows. */
static void check_tron(pg_sink *s)
{
	char a[512];
	pw_payment t = test_make_payment(30864600, 0);
	snprintf(t.chain, sizeof(t.chain), "tron");
	t.family = PW_FAMILY_TRON;
	t.chain_id = 728126428;
	t.block_time = 1623056091;
	t.status = PW_STATUS_CONFIRMED;
	t.confirmations = 19;
	t.confirmed_at_ms = 1623056200000LL;
	snprintf(t.token_symbol, sizeof(t.token_symbol), "USDT");
	/* block 30864600's USDT Transfer (getblockdocs_wallet_gettransactioninfobyid_usdt_transfer.json) */
	ASSERT_EQ_INT(0, pw_parse_address(PW_FAMILY_TRON, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", &t.token));
	ASSERT_EQ_INT(0, pw_parse_address(PW_FAMILY_TRON, "TWpZXLfsvVuQuJZLkdWNY7XY2teePqPpz7", &t.from));
	ASSERT_EQ_INT(0, pw_parse_address(PW_FAMILY_TRON, "TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt", &t.to));
	ASSERT_EQ_INT(0,
		      pw_parse_hash(PW_FAMILY_TRON, "0af79242191c6728b79e858a36a4b5c65e4e52b9fcee4dc5af30eac57b6d0953",
				    t.tx_hash.b, 32));
	memset(t.amount, 0, sizeof(t.amount));
	t.amount[28] = 0x1f, t.amount[29] = 0xb6, t.amount[30] = 0xe5, t.amount[31] = 0x7f; /* 532079999 */
	pg_write_result r = write_batch(s, &t, 1);
	ASSERT_EQ_INT(1, r.inserted);
	ASSERT_EQ_INT(1, r.deliveries);
	ASSERT_EQ_STR(
		"tron TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t TWpZXLfsvVuQuJZLkdWNY7XY2teePqPpz7 "
		"TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt 0af79242191c6728b79e858a36a4b5c65e4e52b9fcee4dc5af30eac57b6d0953 532.079999",
		q_text("SELECT chain_family || ' ' || token_address || ' ' || from_address || ' ' || to_address || ' '"
		       " || tx_hash || ' ' || amount FROM payments WHERE chain = 'tron'",
		       a, sizeof(a)));
	CHECK(q_int("SELECT count(*) FROM payments WHERE chain = 'tron' AND length(block_hash) = 64"
		    " AND left(block_hash, 2) <> '0x'") == 1);
	/* the webhook payload carries the same forms */
	ASSERT_EQ_STR(
		"TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt 0af79242191c6728b79e858a36a4b5c65e4e52b9fcee4dc5af30eac57b6d0953",
		q_text("SELECT (e.payload::json->'data'->>'to') || ' ' || (e.payload::json->'data'->>'tx_hash')"
		       " FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.chain = 'tron'",
		       a, sizeof(a)));
	/* read back (replay's reconciliation) to the same payment */
	pw_payment *rows = NULL;
	size_t n = 0;
	ASSERT_EQ_INT(0, pg_sink_read_payments(s, "tron", PW_FAMILY_TRON, 0, 40000000, NULL, &t.to, &rows, &n));
	ASSERT_EQ_INT(1, n);
	if (n == 1) {
		ASSERT_EQ_INT(PW_FAMILY_TRON, rows[0].family);
		CHECK(pw_addr_eq(&rows[0].to, &t.to) && pw_addr_eq(&rows[0].from, &t.from) &&
		      pw_addr_eq(&rows[0].token, &t.token));
		CHECK(rows[0].tx_hash.len == 32 && memcmp(rows[0].tx_hash.b, t.tx_hash.b, 32) == 0);
		CHECK(memcmp(rows[0].block_hash, t.block_hash, 32) == 0 && memcmp(rows[0].amount, t.amount, 32) == 0);
	}
	free(rows);
	/* the CHECKs, per family */
	static const char insert[] =
		"INSERT INTO payments (chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index,"
		" token_address, token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount,"
		" status, confirmations, confirmed_at, chain_family) VALUES ('x', 9, 1, '%s', now(), '%s', %d, '%s',"
		" 'U', '%s', '%s', 'acme', 1, 0, 1, 'confirmed', 1, now(), '%s')";
	static const char *const H = "00000000000000000000000000000000000000000000000000000000000000aa";
	static const char *const H0X = "0x00000000000000000000000000000000000000000000000000000000000000aa";
	static const char *const T = "TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt";
	static const char *const E = "0x0d0707963952f2fba59dd06f2b425ace40b492fe";
	static const struct {
		const char *hash, *addr, *family;
		bool ok;
	} rows_sql[] = {
		{ "H", "T", "tron", true },    { "H0X", "T", "tron", false }, { "H", "E", "tron", false },
		{ "H0X", "E", "evm", true },   { "H", "E", "evm", false },    { "H0X", "T", "evm", false },
		{ "H", "T", "solana", false },
	};
	for (size_t i = 0; i < sizeof(rows_sql) / sizeof(rows_sql[0]); i++) {
		const char *h = rows_sql[i].hash[1] == '0' ? H0X : H, *ad = rows_sql[i].addr[0] == 'T' ? T : E;
		char sql[2048];
		snprintf(sql, sizeof(sql), insert, h, h, (int)i, ad, ad, ad, rows_sql[i].family);
		PGresult *res = PQexec(db, sql);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		if (ok != rows_sql[i].ok) {
			test_failures++;
			fprintf(stderr, "row %zu (%s %s %s): %s, expected %s\n", i, rows_sql[i].hash, rows_sql[i].addr,
				rows_sql[i].family, ok ? "accepted" : PQresultErrorMessage(res),
				rows_sql[i].ok ? "accepted" : "refused");
		}
		test_checks++;
		PQclear(res);
	}
	PQclear(PQexec(db, "DELETE FROM payments WHERE chain = 'x'"));
}

#define X_EVENTS(type)                                                                                                           \
	"SELECT count(*) FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.log_index = 0 AND e.type = '" type \
	"'"

/* The feed rows of the payment at (block, log_index) of chain local:
 * their ids (stored, or computed for a first event, as the feed serves
 * them) are its webhook events' ids in the same order, and their
 * reversed events its webhook events' (acme takes both types). */
static void check_feed_matches_webhooks(uint64_t block, uint32_t log_index)
{
	char where[128], sql[1024], feed[1024], hooks[1024];
	snprintf(where, sizeof(where), "p.chain = 'local' AND p.block_number = %llu AND p.log_index = %u",
		 (unsigned long long)block, log_index);
	snprintf(sql, sizeof(sql),
		 "SELECT string_agg(f.type || ' ' || coalesce(f.id, paywatch_event_id(p.chain_id, p.block_hash,"
		 " p.log_index, f.type)) || ' ' || coalesce(nullif(f.reverses, ''), '-'), ',' ORDER BY f.xid, f.seq)"
		 " FROM event_feed f JOIN payments p ON p.id = f.payment_id WHERE %s",
		 where);
	q_text(sql, feed, sizeof(feed));
	snprintf(sql, sizeof(sql),
		 "SELECT string_agg(e.type || ' ' || e.id || ' ' || coalesce(e.reverses_event_id, '-'), ','"
		 " ORDER BY e.created_at, e.id) FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE %s",
		 where);
	CHECK(strlen(feed) > 0);
	ASSERT_EQ_STR(q_text(sql, hooks, sizeof(hooks)), feed);
}

/* A payment reverted before any confirmation was written (the revert's
 * upsert records a missing row as reverted: postgres.h), then confirmed,
 * then reverted again: its events are payment.reverted (naming nothing),
 * payment.confirmed (the first of its type), payment.reverted#2 (naming
 * that confirmation), and its row counts one and two. */
static void check_reverted_first(pg_sink *s)
{
	char a[512];
	pw_payment rev = payment(56, 0, PW_STATUS_REVERTED), conf = payment(56, 0, PW_STATUS_CONFIRMED);
	rev.block_hash[1] = conf.block_hash[1] = 56;
	ASSERT_EQ_INT(1, write_batch(s, &rev, 1).reverted);
	static const char counts_sql[] =
		"SELECT times_confirmed || ' ' || times_reverted FROM payments WHERE block_number = 56";
	ASSERT_EQ_STR("0 1", q_text(counts_sql, a, sizeof(a)));
	ASSERT_EQ_INT(1, write_batch(s, &conf, 1).inserted);
	ASSERT_EQ_INT(1, write_batch(s, &rev, 1).reverted);
	ASSERT_EQ_STR("1 2", q_text(counts_sql, a, sizeof(a)));
	/* each feed row's id and reversed event, as the key they were made of */
#define KEY_OF(x)                                                                                                      \
	"CASE " x                                                                                                      \
	" WHEN k.r1 THEN 'payment.reverted' WHEN k.c1 THEN 'payment.confirmed'"                                        \
	" WHEN k.r2 THEN 'payment.reverted#2' ELSE coalesce(" x ", '-') END"
	ASSERT_EQ_STR(
		"payment.reverted -,payment.confirmed -,payment.reverted#2 payment.confirmed",
		q_text("SELECT string_agg(" KEY_OF("f.id") " || ' ' || " KEY_OF(
			       "nullif(f.reverses, '')") ", ','"
							 " ORDER BY f.xid, f.seq)"
							 " FROM event_feed f JOIN payments p ON p.id = f.payment_id CROSS JOIN LATERAL (SELECT"
							 " paywatch_event_id(p.chain_id, p.block_hash, p.log_index, 'payment.reverted') r1,"
							 " paywatch_event_id(p.chain_id, p.block_hash, p.log_index, 'payment.confirmed') c1,"
							 " paywatch_event_id(p.chain_id, p.block_hash, p.log_index, 'payment.reverted#2') r2) k"
							 " WHERE p.block_number = 56",
		       a, sizeof(a)));
#undef KEY_OF
	check_feed_matches_webhooks(56, 0);
}

/* A payment's webhook revert names the confirmation it reverses, found
 * by the payment's count as its feed row's is, not the latest
 * payment.confirmed webhook event: confirmed (a webhook event), reverted
 * (naming it), confirmed again while the merchant's endpoints took only
 * payment.reverted (a feed row, no webhook event), reverted again: the
 * second revert's webhook event names nothing (the one before named the
 * first confirmation, already reversed), its feed row the second
 * confirmation. */
static void check_revert_names_its_confirmation(pg_sink *s)
{
	char a[512], b[512];
	pw_payment conf = payment(58, 0, PW_STATUS_CONFIRMED), rev = payment(58, 0, PW_STATUS_REVERTED);
	conf.block_hash[1] = rev.block_hash[1] = 58;
	ASSERT_EQ_INT(1, write_batch(s, &conf, 1).inserted);
	ASSERT_EQ_INT(1, write_batch(s, &rev, 1).reverted);
	PQclear(PQexec(db,
		       "CREATE TEMP TABLE saved_events AS SELECT id, events FROM webhook_endpoints;"
		       " UPDATE webhook_endpoints SET events = array_remove(events,"
		       " 'payment.confirmed')"));
	ASSERT_EQ_INT(1, write_batch(s, &conf, 1).inserted);
	ASSERT_EQ_INT(1, write_batch(s, &rev, 1).reverted);
	PQclear(PQexec(db,
		       "UPDATE webhook_endpoints w SET events = v.events FROM saved_events v"
		       " WHERE v.id = w.id; DROP TABLE saved_events"));
	ASSERT_EQ_STR("2 2", q_text("SELECT times_confirmed || ' ' || times_reverted FROM payments"
				    " WHERE block_number = 58",
				    a, sizeof(a)));
	/* the latest revert's webhook event: reverted#2, naming nothing */
	ASSERT_EQ_STR("t", q_text("SELECT e.id = paywatch_event_id(p.chain_id, p.block_hash, p.log_index,"
				  " 'payment.reverted#2') AND e.reverses_event_id IS NULL"
				  " AND (e.payload::json -> 'data' ->> 'reverses_event_id') IS NULL"
				  " FROM webhook_events e JOIN payments p ON p.id = e.payment_id"
				  " WHERE p.block_number = 58 AND e.type = 'payment.reverted'"
				  " ORDER BY e.created_at DESC LIMIT 1",
				  a, sizeof(a)));
	ASSERT_EQ_INT(1, q_int("SELECT count(*) FROM webhook_events e JOIN payments p ON p.id = e.payment_id"
			       " WHERE p.block_number = 58 AND e.type = 'payment.confirmed'"));
	/* its feed row names the second confirmation */
	ASSERT_EQ_STR(q_text("SELECT paywatch_event_id(chain_id, block_hash, log_index,"
			     " 'payment.confirmed#2') FROM payments WHERE block_number = 58",
			     a, sizeof(a)),
		      q_text("SELECT f.reverses FROM event_feed f JOIN payments p ON p.id = f.payment_id"
			     " WHERE p.block_number = 58 AND f.type = 'payment.reverted'"
			     " ORDER BY f.xid DESC, f.seq DESC LIMIT 1",
			     b, sizeof(b)));
}

/* The direct way's events are inserted without ON CONFLICT (its payments
 * are new): an event already there with the id of a new payment's
 * confirmation (inserted by hand) rolls the batch back to the general
 * way, which writes the payment and its feed row and keeps that event as
 * it was. With ON CONFLICT the direct way would have written the batch
 * itself (copied). */
static void check_copied_event_there(pg_sink *s)
{
	char hash[PW_HASH_TEXT_MAX], sql[512], a[64];
	pw_payment p = payment(64, 0, PW_STATUS_CONFIRMED);
	p.block_hash[1] = 64;
	pw_format_hash(p.family, p.block_hash, PW_HASH_LEN, hash);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO webhook_events (id, type, merchant_id, payload) VALUES"
		 " (paywatch_event_id(%llu, '%s', 0, 'payment.confirmed'), 'payment.confirmed', '%s',"
		 " '{\"by\":\"hand\"}')",
		 (unsigned long long)p.chain_id, hash, p.merchant_id);
	PQclear(PQexec(db, sql));
	ASSERT_EQ_INT(1, q_int("SELECT count(*) FROM webhook_events WHERE payload = '{\"by\":\"hand\"}'"));
	pg_write_result r = write_batch(s, &p, 1);
	CHECK(!r.copied);
	ASSERT_EQ_INT(1, r.inserted);
	ASSERT_EQ_INT(0, r.deliveries);
	ASSERT_EQ_STR("1 1", q_text("SELECT count(*) || ' ' || (SELECT count(*) FROM event_feed f"
				    " WHERE f.payment_id = min(p.id)) FROM payments p"
				    " WHERE block_number = 64",
				    a, sizeof(a)));
	ASSERT_EQ_STR("1 0", q_text("SELECT count(*) || ' ' || count(payment_id) FROM webhook_events"
				    " WHERE payload = '{\"by\":\"hand\"}'",
				    a, sizeof(a)));
	/* the next new payment takes the direct way again */
	pw_payment q = payment(66, 0, PW_STATUS_CONFIRMED);
	q.block_hash[1] = 66;
	r = write_batch(s, &q, 1);
	CHECK(r.copied);
	ASSERT_EQ_INT(1, r.deliveries);
}

/* 003's paywatch_event_payload, as that migration declares it (the
 * embedded schema's text), declared again as paywatch_event_payload_003:
 * the bodies before 022. */
static void declare_payload_003(void)
{
	const char *sql = NULL;
	for (const struct schema_migration *m = schema_migrations; m->name && !sql; m++)
		if (strcmp(m->name, "003_webhooks.sql") == 0)
			sql = m->sql;
	static const char head[] = "CREATE FUNCTION paywatch_event_payload";
	const char *from = sql ? strstr(sql, head) : NULL;
	const char *to = from ? strstr(from, "\n$$;") : NULL; /* the end of its body */
	CHECK(to != NULL);
	if (!to)
		return;
	const char *rest = from + strlen(head); /* its arguments on */
	char def[4096];
	int n = snprintf(def, sizeof(def), "%s_003%.*s", head, (int)(to + strlen("\n$$;") - rest), rest);
	CHECK(n > 0 && (size_t)n < sizeof(def));
	PGresult *res = PQexec(db, def);
	ASSERT_EQ_INT(PGRES_COMMAND_OK, PQresultStatus(res));
	PQclear(res);
}

/* A payment event's body is the same bytes as 003's function made it (022
 * writes it by concatenation: the body is what is signed and sent, and
 * the API reads it back): the two over every pair of values below in the
 * text arguments (quotes, backslashes, control characters, non-ASCII
 * text, an empty string, NULL), ids and reversed events given or NULL,
 * and once with every argument NULL. */
#define PAYLOAD_NULLS                                                                                                  \
	"NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"                                                  \
	" NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
#define PAYLOAD_ARGS_OF_AB                                                                                             \
	"a, id, b, 1, 2, a, to_timestamp(1.5), b, 3, a, b, 6, a, b, 1.500, 1500, 1,"                                   \
	" b, a, rev"
static void check_payload_bytes(void)
{
	declare_payload_003();
	static const char sql[] =
		"WITH v(x) AS (VALUES (NULL::text), (''), ('a\"b'), ('a\\b'), (E'tab\\there'), (E'nl\\nx'),"
		" (E'c\\x01x'), ('\u00e9\u6f22\U0001F642'), ('</script>'), ('u\\u2028x'), ('0xabc')),"
		" args AS (SELECT a.x AS a, b.x AS b, i AS id, r AS rev FROM v a, v b,"
		" (VALUES (NULL::bigint), (7)) i(i), (VALUES (NULL::text), ('evt_x')) r(r)),"
		" out AS (SELECT paywatch_event_payload(" PAYLOAD_ARGS_OF_AB
		") AS got,"
		" paywatch_event_payload_003(" PAYLOAD_ARGS_OF_AB
		") AS want FROM args"
		" UNION ALL SELECT paywatch_event_payload(" PAYLOAD_NULLS
		"),"
		" paywatch_event_payload_003(" PAYLOAD_NULLS
		"))"
		" SELECT count(*) || ' ' || count(*) FILTER (WHERE got IS DISTINCT FROM want) FROM out";
	char a[64];
	ASSERT_EQ_STR("485 0", q_text(sql, a, sizeof(a)));
	PQclear(PQexec(db, "DROP FUNCTION paywatch_event_payload_003"));
}
#undef PAYLOAD_ARGS_OF_AB
#undef PAYLOAD_NULLS

/* A database written before migration 021 (its columns and the feed's
 * reversed events dropped, the index by payment made again, its row in
 * schema_migrations deleted: the tables as 020 left them, holding the
 * histories above) is migrated: each payment's counts and each revert's
 * reversed event come out as the writes above left them, the index is
 * gone, a feed row without reverses (an older writer's) is refused, and
 * the next state change takes the next key (X confirmed a third time:
 * payment.confirmed#3). */
static void check_counts_migrated(const char *dsn)
{
	static const char counts_sql[] =
		"SELECT string_agg(block_number || ':' || log_index || ' ' || times_confirmed || '/' || times_reverted, ','"
		" ORDER BY id) FROM payments WHERE (times_confirmed, times_reverted) <> (1, 0)";
	static const char reverses_sql[] =
		"SELECT count(*) || ' ' || string_agg(coalesce(reverses, '-'), ',' ORDER BY xid, seq) FROM event_feed"
		" WHERE type = 'payment.reverted'";
	char counts[1024], reverses[4096], a[4096];
	q_text(counts_sql, counts, sizeof(counts));
	q_text(reverses_sql, reverses, sizeof(reverses));
	/* X (block 10), the payment written twice (41), M (50), the one reverted
	 * first (56), the one confirmed again without a webhook (58), the one
	 * statement's (70: reverted, confirmed again) */
	ASSERT_EQ_STR("10:0 2/2,41:0 1/1,50:0 1/1,56:0 1/2,58:0 2/2,70:0 2/1", counts);
	PQclear(PQexec(db,
		       "ALTER TABLE payments DROP COLUMN times_confirmed, DROP COLUMN times_reverted;"
		       " ALTER TABLE event_feed DROP COLUMN reverses;" /* and its constraint */
		       " CREATE INDEX event_feed_by_payment ON event_feed (payment_id, type);"
		       " DELETE FROM schema_migrations WHERE version = '021_payment_event_counts.sql'"));
	ASSERT_EQ_INT(0, q_int("SELECT count(*) FROM information_schema.columns"
			       " WHERE column_name = 'times_confirmed'"));

	pg_sink *s = NULL;
	char err[512];
	size_t applied = 0;
	if (pg_sink_connect(dsn, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot connect: %s\n", err);
		CHECK(false);
		return;
	}
	ASSERT_EQ_INT(0, pg_sink_migrate(s, schema_migrations, &applied));
	ASSERT_EQ_INT(1, applied);
	ASSERT_EQ_STR(counts, q_text(counts_sql, a, sizeof(a)));
	ASSERT_EQ_STR(reverses, q_text(reverses_sql, a, sizeof(a)));
	ASSERT_EQ_INT(0, q_int("SELECT count(*) FROM pg_indexes WHERE indexname = 'event_feed_by_payment'"));
	/* a writer of a build before 021 leaves reverses out: refused, a data
	 * error (its entries quarantined, never counted wrong) */
	PGresult *res = PQexec(db,
			       "INSERT INTO event_feed (id, type, merchant_id, payment_id)"
			       " SELECT 'evt_old_writer', 'payment.confirmed', merchant_id, id FROM payments"
			       " WHERE block_number = 10 AND log_index = 0");
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	ASSERT_EQ_STR("23514", state ? state : "");
	CHECK(strstr(PQresultErrorMessage(res), "event_feed_reverses_given") != NULL);
	PQclear(res);

	pw_payment x = payment(10, 0, PW_STATUS_CONFIRMED);
	ASSERT_EQ_INT(1, write_batch(s, &x, 1).inserted);
	ASSERT_EQ_INT(1, q_int("SELECT count(*) FROM webhook_events e JOIN payments p ON p.id = e.payment_id"
			       " WHERE p.block_number = 10 AND p.log_index = 0 AND e.id = paywatch_event_id(p.chain_id,"
			       " p.block_hash, p.log_index, 'payment.confirmed#3')"));
	check_feed_matches_webhooks(10, 0);
	pg_sink_close(s);
}

/* A small batch of two entries of status at block, the second refused by
 * a constraint on table (added here, dropped after: its amount, 667): the
 * statement is refused whole, then the upsert; split in halves, the other
 * entry is written (by the statement) and the refused one quarantined.
 * The write's result. */
static pg_write_result write_poisoned_small(pg_sink *s, const char *table, uint8_t status, uint64_t block)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD CONSTRAINT test_poison_small CHECK (amount_raw <> 667)", table);
	PQclear(PQexec(db, sql));
	pw_payment poisoned[2] = { payment(block, 0, status), payment(block, 1, status) };
	poisoned[0].block_hash[1] = poisoned[1].block_hash[1] = (uint8_t)block;
	poisoned[1].amount[30] = 0x02, poisoned[1].amount[31] = 0x9b; /* 667 */
	pg_write_result r = write_batch(s, poisoned, 2);
	CHECK(r.one_statement);
	ASSERT_EQ_INT(1, r.quarantined);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM payment_quarantine WHERE block_number = %llu AND sqlstate = '23514'",
		 (unsigned long long)block);
	ASSERT_EQ_INT(1, q_int(sql));
	snprintf(sql, sizeof(sql), "ALTER TABLE %s DROP CONSTRAINT test_poison_small", table);
	PQclear(PQexec(db, sql));
	return r;
}

/* Small batches of confirmed payments (a live block's) go by one
 * statement: rows, ids, feed rows, events and deliveries as the other ways
 * write them, the dispatchers and the feed's long-polls woken at its
 * commit, a replay of the batch writing nothing, a reverted row confirmed
 * again with a new event, and a refused entry quarantined while the rest
 * is written (the general way, after the statement is refused). */
static void check_one_statement(pg_sink *s)
{
	char a[512], b[512];
	PQclear(PQexec(db, "LISTEN paywatch_webhooks; LISTEN " PG_FEED_CHANNEL));
	pw_payment two[2] = { payment(70, 0, PW_STATUS_CONFIRMED), payment(70, 1, PW_STATUS_CONFIRMED) };
	two[0].block_hash[1] = two[1].block_hash[1] = 70;
	long long events_before = q_int("SELECT count(*) FROM webhook_events");
	pg_write_result r = write_batch(s, two, 2);
	ASSERT_EQ_STR("paywatch_webhooks," PG_FEED_CHANNEL, notified(2, 10000, b, sizeof(b)));
	CHECK(r.one_statement && !r.copied);
	ASSERT_EQ_INT(2, r.inserted);
	ASSERT_EQ_INT(0, r.present);
	ASSERT_EQ_INT(2, r.deliveries);
	ASSERT_EQ_STR(
		"0,1",
		q_text("SELECT string_agg(log_index::text, ',' ORDER BY id) FROM payments WHERE block_number = 70", a,
		       sizeof(a)));
	ASSERT_EQ_STR("0.000001 2023-11-14 22:14:30+00 2023-11-14 22:13:20.193+00",
		      q_text("SELECT amount || ' ' || block_time || ' ' || confirmed_at FROM payments"
			     " WHERE block_number = 70 AND log_index = 0",
			     a, sizeof(a)));
	/* one feed row each, under its event's id; one event and delivery each */
	ASSERT_EQ_STR(
		"0 payment.confirmed acme,1 payment.confirmed acme",
		q_text("SELECT string_agg(p.log_index || ' ' || f.type || ' ' || f.merchant_id, ',' ORDER BY f.xid, f.seq)"
		       " FROM event_feed f JOIN payments p ON p.id = f.payment_id WHERE p.block_number = 70",
		       a, sizeof(a)));
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM event_feed f JOIN webhook_events e ON e.id = f.id"
			       " JOIN payments p ON p.id = e.payment_id WHERE p.block_number = 70"));
	ASSERT_EQ_INT(events_before + 2, q_int("SELECT count(*) FROM webhook_events"));
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"
			       " JOIN payments p ON p.id = e.payment_id WHERE p.block_number = 70"));

	/* the same batch again (a crash before the outbox delete): nothing */
	r = write_batch(s, two, 2);
	CHECK(r.one_statement);
	ASSERT_EQ_INT(0, r.inserted);
	ASSERT_EQ_INT(2, r.present);
	ASSERT_EQ_INT(0, r.deliveries);
	ASSERT_EQ_INT(events_before + 2, q_int("SELECT count(*) FROM webhook_events"));
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM event_feed f JOIN payments p ON p.id = f.payment_id"
			       " WHERE p.block_number = 70"));

	/* reverted (the upsert), then confirmed again by the statement: a new
	 * event (payment.confirmed#2) */
	pw_payment rev = two[0];
	rev.status = PW_STATUS_REVERTED;
	r = write_batch(s, &rev, 1);
	ASSERT_EQ_INT(1, r.reverted);
	r = write_batch(s, &two[0], 1);
	CHECK(r.one_statement);
	ASSERT_EQ_INT(1, r.inserted);
	ASSERT_EQ_INT(1, r.deliveries);
	ASSERT_EQ_STR("confirmed",
		      q_text("SELECT status FROM payments WHERE block_number = 70 AND log_index = 0", a, sizeof(a)));
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM webhook_events e JOIN payments p ON p.id = e.payment_id"
			       " WHERE p.block_number = 70 AND p.log_index = 0 AND e.type = 'payment.confirmed'"));

	/* no endpoint active: the feed's long-polls are woken, the dispatchers
	 * not (no delivery queued) */
	notified(8, 200, b, sizeof(b)); /* drain what the writes above sent */
	PQclear(PQexec(db, "UPDATE webhook_endpoints SET active = false"));
	pw_payment quiet = payment(71, 0, PW_STATUS_CONFIRMED);
	quiet.block_hash[1] = 71;
	r = write_batch(s, &quiet, 1);
	ASSERT_EQ_STR(PG_FEED_CHANNEL, notified(2, 1000, b, sizeof(b)));
	CHECK(r.one_statement);
	ASSERT_EQ_INT(1, r.inserted);
	ASSERT_EQ_INT(0, r.deliveries);
	PQclear(PQexec(db, "UPDATE webhook_endpoints SET active = true"));
	PQclear(PQexec(db, "UNLISTEN *"));

	/* one refused entry in a small batch */
	r = write_poisoned_small(s, "payments", PW_STATUS_CONFIRMED, 72);
	ASSERT_EQ_INT(1, r.inserted);
	ASSERT_EQ_INT(1, q_int("SELECT count(*) FROM payments WHERE block_number = 72"));
}

/* A small batch of pending entries (a live block's payments seen, with
 * confirmations to wait for) is one statement too: the same pending rows,
 * events, deliveries and wake-up as the general way's two statements;
 * idempotent; a payment confirmed already gets no pending row; a refused
 * entry is quarantined and the other written. */
static void check_one_statement_pending(pg_sink *s)
{
	char a[512], b[512];
	pw_payment two[2] = { payment(74, 0, PW_STATUS_PENDING), payment(74, 1, PW_STATUS_PENDING) };
	two[0].block_hash[1] = two[1].block_hash[1] = 74;
	long long events_before = q_int("SELECT count(*) FROM webhook_events");

	/* no endpoint takes payment.pending: the rows, no event */
	pg_write_result r = write_batch(s, two, 2);
	CHECK(r.one_statement && !r.copied);
	ASSERT_EQ_INT(2, r.pending_rows);
	ASSERT_EQ_INT(0, r.pending_events);
	ASSERT_EQ_INT(0, r.deliveries);
	ASSERT_EQ_INT(0, r.inserted);
	ASSERT_EQ_STR(
		"74:0 acme 0.000001,74:1 acme 0.000001",
		q_text("SELECT string_agg(block_number || ':' || log_index || ' ' || merchant_id || ' ' || amount, ','"
		       " ORDER BY log_index) FROM pending_payments WHERE block_number = 74",
		       a, sizeof(a)));
	ASSERT_EQ_INT(events_before, q_int("SELECT count(*) FROM webhook_events"));

	/* the endpoint takes payment.pending: an event and a delivery each,
	 * the dispatchers woken; the rows already there are not written again */
	PQclear(PQexec(db, "UPDATE webhook_endpoints SET events = events || '{payment.pending}'"));
	PQclear(PQexec(db, "LISTEN paywatch_webhooks"));
	r = write_batch(s, two, 2);
	ASSERT_EQ_STR("paywatch_webhooks", notified(1, 10000, b, sizeof(b)));
	CHECK(r.one_statement);
	ASSERT_EQ_INT(0, r.pending_rows);
	ASSERT_EQ_INT(2, r.pending_events);
	ASSERT_EQ_INT(2, r.deliveries);
	ASSERT_EQ_STR(
		"74:0 pending acme,74:1 pending acme",
		q_text("SELECT string_agg((p->'data'->>'block_number') || ':' || (p->'data'->>'log_index')"
		       " || ' ' || (p->'data'->>'status') || ' ' || merchant_id, ',' ORDER BY p->'data'->>'log_index')"
		       " FROM (SELECT payload::jsonb AS p, * FROM webhook_events) e WHERE type = 'payment.pending'"
		       " AND payment_id IS NULL AND (p->'data'->>'block_number') = '74'",
		       a, sizeof(a)));
	ASSERT_EQ_INT(
		2, q_int("SELECT count(*) FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"
			 " WHERE e.type = 'payment.pending' AND (e.payload::jsonb->'data'->>'block_number') = '74'"));

	/* again (a crash before the outbox delete): nothing, no wake-up */
	r = write_batch(s, two, 2);
	CHECK(r.one_statement);
	ASSERT_EQ_INT(0, r.pending_rows);
	ASSERT_EQ_INT(0, r.pending_events);
	ASSERT_EQ_INT(0, r.deliveries);
	ASSERT_EQ_STR("", notified(1, 300, b, sizeof(b)));
	ASSERT_EQ_INT(events_before + 2, q_int("SELECT count(*) FROM webhook_events"));

	/* a payment confirmed already (block 70, check_one_statement): no
	 * pending row */
	pw_payment late = payment(70, 1, PW_STATUS_PENDING);
	late.block_hash[1] = 70;
	r = write_batch(s, &late, 1);
	CHECK(r.one_statement);
	ASSERT_EQ_INT(0, r.pending_rows);
	ASSERT_EQ_INT(0, q_int("SELECT count(*) FROM pending_payments WHERE block_number = 70"));

	/* 74:1's block left the chain before it confirmed (a reorg): its row
	 * deleted, and a payment.dropped event naming its payment.pending
	 * event, the payment's body as dropped, delivered to the endpoint the
	 * pending one went to; the dispatchers woken */
	pw_payment gone = two[1];
	gone.status = PW_STATUS_DROPPED;
	gone.confirmations = 0;
	notified(8, 200, b, sizeof(b)); /* drain the wake-up of the write above */
	r = write_batch(s, &gone, 1);
	ASSERT_EQ_STR("paywatch_webhooks", notified(1, 10000, b, sizeof(b)));
	ASSERT_EQ_INT(1, r.dropped_rows);
	ASSERT_EQ_INT(1, r.dropped_events);
	ASSERT_EQ_INT(1, r.deliveries);
	ASSERT_EQ_STR("74:0", q_text("SELECT string_agg(block_number || ':' || log_index, ',') FROM pending_payments"
				     " WHERE block_number = 74",
				     a, sizeof(a)));
	q_text("SELECT id FROM webhook_events WHERE type = 'payment.pending'"
	       " AND payload::jsonb->'data'->>'block_number' = '74' AND payload::jsonb->'data'->>'log_index' = '1'",
	       a, sizeof(a));
	CHECK(strncmp(a, "evt_", 4) == 0);
	char want[600];
	snprintf(want, sizeof(want), "acme %s dropped 0 74:1 0.000001 1 %s", a, a);
	ASSERT_EQ_STR(
		want,
		q_text("SELECT merchant_id || ' ' || reverses_event_id || ' ' || (p->'data'->>'status') || ' ' ||"
		       " (p->'data'->>'confirmations') || ' ' || (p->'data'->>'block_number') || ':' ||"
		       " (p->'data'->>'log_index') || ' ' || (p->'data'->>'amount') || ' ' ||"
		       " (p->'data'->>'amount_raw') || ' ' || (p->'data'->>'reverses_event_id') ||"
		       " CASE WHEN p->'data' ? 'id' OR payment_id IS NOT NULL THEN ' with a payment' ELSE '' END"
		       " FROM (SELECT payload::jsonb AS p, * FROM webhook_events) e WHERE type = 'payment.dropped'",
		       b, sizeof(b)));
	ASSERT_EQ_STR(q_text("SELECT string_agg(d.endpoint_id::text, ',') FROM webhook_deliveries d"
			     " JOIN webhook_events e ON e.id = d.event_id WHERE e.type = 'payment.dropped'",
			     a, sizeof(a)),
		      q_text("SELECT string_agg(d.endpoint_id::text, ',') FROM webhook_deliveries d"
			     " JOIN webhook_events e ON e.id = d.event_id WHERE e.type = 'payment.pending'"
			     " AND e.payload::jsonb->'data'->>'block_number' = '74'"
			     " AND e.payload::jsonb->'data'->>'log_index' = '1'",
			     b, sizeof(b)));
	CHECK(a[0] != '\0');

	/* again (a crash before the outbox delete): nothing, no wake-up */
	r = write_batch(s, &gone, 1);
	ASSERT_EQ_INT(0, r.dropped_rows);
	ASSERT_EQ_INT(0, r.dropped_events);
	ASSERT_EQ_INT(0, r.deliveries);
	ASSERT_EQ_STR("", notified(1, 300, b, sizeof(b)));
	ASSERT_EQ_INT(1, q_int("SELECT count(*) FROM webhook_events WHERE type = 'payment.dropped'"));

	/* the block comes back (the chain went back to it): 74:1 seen again,
	 * a payment.pending of its own ("payment.pending#2"), and its second
	 * drop a payment.dropped#2 naming that one; each written again:
	 * nothing */
	for (int again = 0; again < 2; again++) {
		r = write_batch(s, &two[1], 1);
		ASSERT_EQ_INT(again ? 0 : 1, r.pending_rows);
		ASSERT_EQ_INT(again ? 0 : 1, r.pending_events);
	}
	for (int again = 0; again < 2; again++) {
		r = write_batch(s, &gone, 1);
		ASSERT_EQ_INT(again ? 0 : 1, r.dropped_rows);
		ASSERT_EQ_INT(again ? 0 : 1, r.dropped_events);
		ASSERT_EQ_INT(again ? 0 : 1, r.deliveries);
	}
	/* each dropped event by its key, and the pending event it names */
#define NTH_OF(col, type)                                                                                              \
	"CASE " col " WHEN paywatch_event_id(c.chain_id, c.hash, 1, '" type                                            \
	"') THEN 'first'"                                                                                              \
	" WHEN paywatch_event_id(c.chain_id, c.hash, 1, '" type "#2') THEN 'second' ELSE " col " END"
	ASSERT_EQ_STR(
		"first names first, second names second",
		q_text("SELECT string_agg(k, ', ' ORDER BY k) FROM (SELECT " NTH_OF("d.id", "payment.dropped") " || ' names ' || " NTH_OF(
			       "d.reverses_event_id",
			       "payment.pending") " AS k"
						  " FROM webhook_events d, (SELECT (payload::jsonb->'data'->>'chain_id')::bigint AS chain_id,"
						  " payload::jsonb->'data'->>'block_hash' AS hash FROM webhook_events"
						  " WHERE type = 'payment.pending' AND payload::jsonb->'data'->>'block_number' = '74'"
						  " AND payload::jsonb->'data'->>'log_index' = '1' LIMIT 1) c"
						  " WHERE d.type = 'payment.dropped') x",
		       a, sizeof(a)));
#undef NTH_OF
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM webhook_events WHERE type = 'payment.pending'"
			       " AND payload::jsonb->'data'->>'block_number' = '74'"
			       " AND payload::jsonb->'data'->>'log_index' = '1'"));
	ASSERT_EQ_INT(1, q_int("SELECT count(*) FROM payment_drops WHERE times_dropped = 2"));
	notified(8, 200, b, sizeof(b));
	PQclear(PQexec(db, "UNLISTEN *"));

	/* one refused entry in a small pending batch */
	r = write_poisoned_small(s, "pending_payments", PW_STATUS_PENDING, 75);
	ASSERT_EQ_INT(1, r.pending_rows);
	ASSERT_EQ_STR("75:0", q_text("SELECT string_agg(block_number || ':' || log_index, ',') FROM pending_payments"
				     " WHERE block_number = 75",
				     a, sizeof(a)));
	PQclear(PQexec(db, "UPDATE webhook_endpoints SET events = array_remove(events, 'payment.pending')"));

	/* a payment seen while no endpoint took payment.pending, then
	 * dropped: its row deleted, its drop counted, no event */
	pw_payment untold = payment(77, 0, PW_STATUS_PENDING);
	untold.block_hash[1] = 77;
	long long drops = q_int("SELECT count(*) FROM payment_drops");
	r = write_batch(s, &untold, 1);
	ASSERT_EQ_INT(1, r.pending_rows);
	ASSERT_EQ_INT(0, r.pending_events);
	untold.status = PW_STATUS_DROPPED;
	r = write_batch(s, &untold, 1);
	ASSERT_EQ_INT(1, r.dropped_rows);
	ASSERT_EQ_INT(0, r.dropped_events);
	ASSERT_EQ_INT(0, r.deliveries);
	ASSERT_EQ_INT(drops + 1, q_int("SELECT count(*) FROM payment_drops"));
	ASSERT_EQ_INT(0, q_int("SELECT count(*) FROM pending_payments WHERE block_number = 77"));
}

/* The warm-ups (a writer's connection, before its first batch, and its
 * row paths once the outbox is empty) write nothing and wake no one,
 * though they run a payment through the small batches' statements (the
 * payments sequence moves on) and leave the session planning them once
 * (plan_cache_mode); writes after them work. */
static void check_warm_up(pg_sink *s)
{
	char a[512], b[512];
	static const char counts_sql[] =
		"SELECT (SELECT count(*) FROM payments) || ' ' || (SELECT count(*) FROM pending_payments) || ' ' ||"
		" (SELECT count(*) FROM webhook_events) || ' ' || (SELECT count(*) FROM webhook_deliveries) || ' ' ||"
		" (SELECT count(*) FROM event_feed) || ' ' || (SELECT count(*) FROM payment_quarantine) || ' ' ||"
		" (SELECT count(*) FROM invoices)";
	char before[128];
	q_text(counts_sql, before, sizeof(before));
	long long seq_before = q_int("SELECT last_value FROM payments_id_seq");
	PQclear(PQexec(db, "LISTEN paywatch_webhooks; LISTEN " PG_FEED_CHANNEL));
	notified(8, 200, b, sizeof(b)); /* drain what the sections above sent */
	if (pg_sink_warm_up(s) < 0)
		fprintf(stderr, "warm-up failed: %s\n", pg_sink_error(s));
	int warmed = pg_sink_warm_up_rows(s);
	if (warmed < 0)
		fprintf(stderr, "row warm-up failed: %s\n", pg_sink_error(s));
	ASSERT_EQ_INT(1, warmed); /* its payment settled its invoice paid */
	ASSERT_EQ_STR(before, q_text(counts_sql, a, sizeof(a)));
	/* its rows were written, then rolled back */
	CHECK(q_int("SELECT last_value FROM payments_id_seq") > seq_before);
	ASSERT_EQ_STR("", notified(1, 300, b, sizeof(b)));
	PGresult *res = PQexec(pg_sink_conn(s), "SHOW plan_cache_mode");
	ASSERT_EQ_STR("force_generic_plan", PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	PQclear(PQexec(db, "UNLISTEN *"));

	pw_payment after = payment(76, 0, PW_STATUS_CONFIRMED);
	after.block_hash[1] = 76;
	pg_write_result r = write_batch(s, &after, 1);
	CHECK(r.one_statement);
	ASSERT_EQ_INT(1, r.inserted);
	ASSERT_EQ_INT(0, q_int("SELECT count(*) FROM payments WHERE chain = 'paywatch-warm-up'"));
}

/* registry_build of one chain (a replay's) holds that chain's rows of
 * the registry alone; the other chains' are counted, never held. The
 * table holds acme's rows on local and tron (above) and three of a
 * registry merchant's, one on local and two on other; tron is no chain
 * of this config. */
static void check_registry_one_chain(void)
{
	static const char cfg_text[] =
		"{\"data_dir\":\"/tmp/unused\",\"postgres\":{\"dsn\":\"postgresql://x@127.0.0.1/x\"},\"chains\":["
		"{\"name\":\"local\",\"kind\":\"evm\",\"chain_id\":31337,\"ws_url\":\"ws://127.0.0.1:1\",\"confirmations\":1,"
		"\"tokens\":[{\"symbol\":\"USDC\",\"address\":\"0x5FbDB2315678afecb367f032d93F642f64180aa3\",\"decimals\":6}]},"
		"{\"name\":\"other\",\"kind\":\"evm\",\"chain_id\":31338,\"ws_url\":\"ws://127.0.0.1:2\",\"confirmations\":1,"
		"\"tokens\":[{\"symbol\":\"USDC\",\"address\":\"0x5FbDB2315678afecb367f032d93F642f64180aa3\",\"decimals\":6}]}],"
		"\"merchants\":[{\"id\":\"cfgonly\",\"addresses\":{}}]}";
	pw_config *cfg = NULL;
	char err[512] = "";
	ASSERT_EQ_INT(0, config_parse(cfg_text, sizeof(cfg_text) - 1, &cfg, err, sizeof(err)));
	if (!cfg) {
		fprintf(stderr, "config: %s\n", err);
		return;
	}
	PQclear(PQexec(db,
		       "INSERT INTO merchants (id, origin) VALUES ('regm', 'registry');"
		       "INSERT INTO merchant_addresses (chain, address, merchant_id, origin) VALUES"
		       " ('local', '0x00000000000000000000000000000000000000a1', 'regm', 'registry'),"
		       " ('other', '0x00000000000000000000000000000000000000b1', 'regm', 'registry'),"
		       " ('other', '0x00000000000000000000000000000000000000b2', 'regm', 'registry')"));
	/* a merchant whose xpub (BIP-32 test vector 1's m) serves chain other alone */
	PQclear(PQexec(
		db,
		"INSERT INTO merchants (id, origin) VALUES ('hdm', 'registry');"
		"INSERT INTO merchant_xpubs (merchant_id, xpub, fingerprint, path, chains, gap_limit, origin)"
		" VALUES ('hdm', 'xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8Yt"
		"GqsefD265TMg7usUDFdp6W1EGMcet8', '3442193e', '0/*', '{other}', 5, 'registry')"));
	ASSERT_EQ_INT(5, q_int("SELECT count(*) FROM merchant_addresses"));
	ASSERT_EQ_INT(1, q_int("SELECT count(*) FROM merchant_xpubs"));
	matcher *m = NULL;
	registry_load_stats st;
	uint32_t index;
	ASSERT_EQ_INT(0, registry_build(cfg, db, NULL, &m, &st, err, sizeof(err)));
	ASSERT_EQ_INT(4, (int)matcher_count(m)); /* local and other; tron is not this config's */
	ASSERT_EQ_INT(1, (int)st.other_chain);
	ASSERT_EQ_INT(1, (int)st.xpubs);
	CHECK(m && matcher_find_merchant(m, "hdm", &index));
	matcher_destroy(m);
	m = NULL;
	ASSERT_EQ_INT(0, registry_build(cfg, db, "other", &m, &st, err, sizeof(err)));
	ASSERT_EQ_INT(1, (int)st.xpubs); /* hdm's window, of chain other */
	matcher_destroy(m);
	m = NULL;
	ASSERT_EQ_INT(0, registry_build(cfg, db, "local", &m, &st, err, sizeof(err)));
	ASSERT_EQ_INT(2, (int)matcher_count(m)); /* acme's and regm's on local */
	ASSERT_EQ_INT(3, (int)st.other_chain);
	ASSERT_EQ_INT(0, (int)st.xpubs); /* hdm's xpub serves chain other alone: not held */
	CHECK(m && matcher_find_merchant(m, "regm", &index));
	CHECK(m && !matcher_find_merchant(m, "hdm", &index));
	matcher_destroy(m);
	PQclear(PQexec(db, "DELETE FROM merchants WHERE id IN ('regm', 'hdm')"));
	config_destroy(cfg);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DSN\n", argv[0]);
		return 2;
	}
	pg_sink *s = NULL;
	char err[512], a[128], b[128];
	if (pg_sink_connect(argv[1], &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot connect: %s\n", err);
		return 1;
	}
	db = PQconnectdb(argv[1]);
	CHECK(PQstatus(db) == CONNECTION_OK);
	PQclear(PQexec(db, "SET TIME ZONE 'UTC'"));
	/* merchant acme, its address, an endpoint for both event types */
	const char *ids[] = { "acme" };
	pg_merchant_address addr[2] = { { .merchant_id = "acme", .chain = "local" },
					{ .merchant_id = "acme", .chain = "tron", .family = PW_FAMILY_TRON } };
	addr[0].address.len = PW_ADDR_LEN;
	addr[0].address.b[19] = 0x01;
	/* TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt = 41 0d0707963952f2fba59dd06f2b425ace40b492fe (tron_address_vectors.json)
	 */
	ASSERT_EQ_INT(0, pw_parse_address(PW_FAMILY_TRON, "TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt", &addr[1].address));
	pg_webhook_endpoint ep = { .merchant_id = "acme",
				   .key = "default",
				   .url = "https://hooks.example/acme",
				   .events = "{payment.confirmed,payment.reverted}" };
	ASSERT_EQ_INT(0, pg_sink_sync_merchants(s, "{local,tron}", ids, 1, addr, 2, &ep, 1));
	ASSERT_EQ_STR(
		"local evm 0x0000000000000000000000000000000000000001,tron tron TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt",
		q_text("SELECT string_agg(chain || ' ' || chain_family || ' ' || address, ',' ORDER BY chain)"
		       " FROM merchant_addresses",
		       a, sizeof(a)));

	/* the batches below go by COPY or the upsert, as they did before small
	 * batches took one statement: check_one_statement checks that way */
	pg_sink_set_statement_max(s, 0);
	/* X (log 0) and Y (log 1) in block 10: new, by the direct COPY; its
	 * commit wakes the dispatchers and the feed's long-polls */
	PQclear(PQexec(db, "LISTEN paywatch_webhooks; LISTEN " PG_FEED_CHANNEL));
	pw_payment xy[2] = { payment(10, 0, PW_STATUS_CONFIRMED), payment(10, 1, PW_STATUS_CONFIRMED) };
	pg_write_result r = write_batch(s, xy, 2);
	ASSERT_EQ_STR("paywatch_webhooks," PG_FEED_CHANNEL, notified(2, 10000, b, sizeof(b)));
	PQclear(PQexec(db, "UNLISTEN *"));
	CHECK(r.copied);
	ASSERT_EQ_INT(2, r.inserted);
	ASSERT_EQ_INT(2, r.deliveries);
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM payments WHERE status = 'confirmed'"));
	ASSERT_EQ_STR("2023-11-14 22:13:30+00",
		      q_text("SELECT block_time::text FROM payments WHERE log_index = 0", a, sizeof(a)));
	ASSERT_EQ_STR("2023-11-14 22:13:20.133+00",
		      q_text("SELECT confirmed_at::text FROM payments WHERE log_index = 0", a, sizeof(a)));
	ASSERT_EQ_STR("0.000001", q_text("SELECT amount::text FROM payments WHERE log_index = 0", a, sizeof(a)));
	/* the ids follow the batch's order, and the feed rows (a COPY of their
	 * own) follow the ids: one each, the id NULL (the first event of a new
	 * row: the feed computes it when read) */
	ASSERT_EQ_STR("0,1", q_text("SELECT string_agg(log_index::text, ',' ORDER BY id) FROM payments", a, sizeof(a)));
	ASSERT_EQ_STR(
		"0 payment.confirmed acme -,1 payment.confirmed acme -",
		q_text("SELECT string_agg(p.log_index || ' ' || f.type || ' ' || f.merchant_id || ' ' || coalesce(f.id, '-'),"
		       " ',' ORDER BY f.xid, f.seq) FROM event_feed f JOIN payments p ON p.id = f.payment_id",
		       a, sizeof(a)));

	/* the same batch again: the COPY meets the rows, the upsert writes nothing */
	r = write_batch(s, xy, 2);
	CHECK(!r.copied);
	ASSERT_EQ_INT(0, r.inserted);
	ASSERT_EQ_INT(2, r.present);
	ASSERT_EQ_INT(0, r.deliveries);
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM payments"));
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM webhook_events"));
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM event_feed"));

	/* X reverted: its event names X's confirmation */
	pw_payment x_rev = payment(10, 0, PW_STATUS_REVERTED);
	r = write_batch(s, &x_rev, 1);
	ASSERT_EQ_INT(1, r.reverted);
	ASSERT_EQ_STR("reverted", q_text("SELECT status FROM payments WHERE log_index = 0", a, sizeof(a)));
	q_text("SELECT e.id FROM webhook_events e JOIN payments p ON p.id = e.payment_id"
	       " WHERE p.log_index = 0 AND e.type = 'payment.confirmed'",
	       a, sizeof(a));
	ASSERT_EQ_STR(a, q_text("SELECT reverses_event_id FROM webhook_events WHERE type = 'payment.reverted'", b,
				sizeof(b)));

	/* the chain went back: X confirmed again, with a new event */
	pw_payment x = payment(10, 0, PW_STATUS_CONFIRMED);
	r = write_batch(s, &x, 1);
	ASSERT_EQ_INT(1, r.inserted);
	ASSERT_EQ_INT(0, r.present);
	ASSERT_EQ_INT(1, r.deliveries);
	ASSERT_EQ_STR("confirmed", q_text("SELECT status FROM payments WHERE log_index = 0", a, sizeof(a)));
	ASSERT_EQ_INT(0, q_int("SELECT count(*) FROM payments WHERE log_index = 0 AND reverted_at IS NOT NULL"));
	ASSERT_EQ_INT(2, q_int(X_EVENTS("payment.confirmed")));
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM payments WHERE status = 'confirmed'"));
	/* a replay of that batch (a crash before the outbox delete) writes nothing */
	r = write_batch(s, &x, 1);
	ASSERT_EQ_INT(0, r.inserted);
	ASSERT_EQ_INT(1, r.present);
	ASSERT_EQ_INT(2, q_int(X_EVENTS("payment.confirmed")));

	/* reverted again: a second revert event, naming the latest confirmation */
	r = write_batch(s, &x_rev, 1);
	ASSERT_EQ_INT(1, r.reverted);
	ASSERT_EQ_INT(2, q_int(X_EVENTS("payment.reverted")));
	q_text("SELECT e.id FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.log_index = 0"
	       " AND e.type = 'payment.confirmed' ORDER BY e.created_at DESC LIMIT 1",
	       a, sizeof(a));
	ASSERT_EQ_STR(a, q_text("SELECT reverses_event_id FROM webhook_events WHERE type = 'payment.reverted'"
				" ORDER BY created_at DESC LIMIT 1",
				b, sizeof(b)));
	r = write_batch(s, &x_rev, 1); /* and its replay: nothing */
	ASSERT_EQ_INT(0, r.reverted);
	ASSERT_EQ_INT(2, q_int(X_EVENTS("payment.reverted")));
	/* every event has one delivery, every id is distinct */
	ASSERT_EQ_INT(q_int("SELECT count(*) FROM webhook_events"), q_int("SELECT count(*) FROM webhook_deliveries"));
	ASSERT_EQ_INT(5, q_int("SELECT count(DISTINCT id) FROM webhook_events")); /* X: 2 + 2, Y: 1 */
	/* X's row counts its events (schema/021_payment_event_counts.sql);
	 * its feed rows carry the webhook events' ids, in their order, and
	 * each revert names the confirmation its webhook event names */
	ASSERT_EQ_STR("2 2", q_text("SELECT times_confirmed || ' ' || times_reverted FROM payments"
				    " WHERE block_number = 10 AND log_index = 0",
				    a, sizeof(a)));
	check_feed_matches_webhooks(10, 0);

	/* one entry never stops the others. A constraint added here stands for
	 * any value Postgres refuses for a data reason (SQLSTATE class 23): in a
	 * batch of 100, entries 17 and 63 are refused and quarantined, the 98
	 * others are written, in one call, by the direct COPY's split */
	PQclear(PQexec(db, "ALTER TABLE payments ADD CONSTRAINT test_poison CHECK (amount_raw <> 666)"));
	pw_payment batch[100];
	for (uint32_t i = 0; i < 100; i++) {
		batch[i] = payment(20 + i / 10, i % 10, PW_STATUS_CONFIRMED);
		batch[i].block_hash[1] = (uint8_t)(i / 10); /* blocks 20..29 */
		if (i == 17 || i == 63)
			batch[i].amount[30] = 0x02, batch[i].amount[31] = 0x9a; /* 666 */
	}
	long long rows_before = q_int("SELECT count(*) FROM payments");
	r = write_batch(s, batch, 100);
	ASSERT_EQ_INT(98, r.inserted);
	ASSERT_EQ_INT(2, r.quarantined);
	ASSERT_EQ_INT(98, r.deliveries);
	ASSERT_EQ_INT(rows_before + 98, q_int("SELECT count(*) FROM payments"));
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM payment_quarantine WHERE reason LIKE '%test_poison%'"
			       " AND sqlstate = '23514' AND kind = 'confirmed' AND amount_raw = 666"));
	ASSERT_EQ_STR("21,26", q_text("SELECT string_agg(block_number::text, ',' ORDER BY id) FROM payment_quarantine",
				      a, sizeof(a)));
	/* the same batch again (a crash before the outbox delete): nothing new,
	 * and the quarantine still holds each entry once */
	r = write_batch(s, batch, 100);
	ASSERT_EQ_INT(0, r.inserted);
	ASSERT_EQ_INT(98, r.present);
	ASSERT_EQ_INT(2, r.quarantined);
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM payment_quarantine"));

	/* entries paywatch itself refuses before sending: out of the schema's
	 * bounds, a symbol that is not UTF-8 */
	pw_payment own[3] = { payment(40, 0, PW_STATUS_CONFIRMED), payment(40, 1, PW_STATUS_CONFIRMED),
			      payment(40, 2, PW_STATUS_CONFIRMED) };
	own[0].block_time = PW_TIME_MAX_S + 1;
	snprintf(own[1].token_symbol, sizeof(own[1].token_symbol), "US\xff");
	r = write_batch(s, own, 3);
	ASSERT_EQ_INT(1, r.inserted);
	ASSERT_EQ_INT(2, r.quarantined);
	ASSERT_EQ_INT(
		1,
		q_int("SELECT count(*) FROM payment_quarantine WHERE reason LIKE 'paywatch: block_time%' AND sqlstate IS NULL"));
	ASSERT_EQ_INT(1, q_int("SELECT count(*) FROM payment_quarantine WHERE reason LIKE 'paywatch: token_symbol%'"));

	/* a payment repeated in one batch is written once, by either way */
	pw_payment twice[3] = { payment(41, 0, PW_STATUS_CONFIRMED), payment(41, 0, PW_STATUS_CONFIRMED),
				payment(41, 1, PW_STATUS_CONFIRMED) };
	r = write_batch(s, twice, 3);
	ASSERT_EQ_INT(2, r.inserted);
	ASSERT_EQ_INT(1, r.duplicates);
	pw_payment rev_twice[2] = { payment(41, 0, PW_STATUS_REVERTED), payment(41, 0, PW_STATUS_REVERTED) };
	r = write_batch(s, rev_twice, 2); /* the upsert: "cannot affect row a second time" without the dedupe */
	ASSERT_EQ_INT(1, r.reverted);
	ASSERT_EQ_INT(1, r.duplicates);
	ASSERT_EQ_INT(0, r.quarantined);

	/* the cause fixed, a retry writes the two refused by Postgres, with
	 * their events; the two out of bounds are refused again and stay */
	PQclear(PQexec(db, "ALTER TABLE payments DROP CONSTRAINT test_poison"));
	size_t written = 0, refused = 0;
	ASSERT_EQ_INT(0, pg_sink_quarantine_retry(s, 0, NULL, &written, &refused));
	ASSERT_EQ_INT(2, written);
	ASSERT_EQ_INT(2, refused);
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM payments WHERE amount_raw = 666 AND status = 'confirmed'"));
	ASSERT_EQ_INT(
		2,
		q_int("SELECT count(*) FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.amount_raw = 666"));
	ASSERT_EQ_INT(2,
		      q_int("SELECT count(*) FROM payment_quarantine WHERE retries = 1 AND last_retry_at IS NOT NULL"));
	pg_quarantined *list = NULL;
	size_t n_list = 0;
	ASSERT_EQ_INT(0, pg_sink_quarantine_list(s, "local", 10, &list, &n_list));
	ASSERT_EQ_INT(2, n_list);
	if (n_list == 2) {
		ASSERT_EQ_STR("40", list[0].block_number);
		CHECK(strstr(list[0].reason, "block_time") != NULL);
		ASSERT_EQ_INT(1, list[0].retries);
	}
	free(list);
	uint64_t count = 0;
	char oldest[32];
	ASSERT_EQ_INT(0, pg_sink_quarantine_summary(s, NULL, &count, oldest, sizeof(oldest)));
	ASSERT_EQ_INT(2, count);
	CHECK(strlen(oldest) == 20);

	/* one batch of several statuses: applied confirmed, reverted, pending,
	 * dropped (postgres.h), in one transaction, each statement seeing the
	 * one before:
	 * M confirmed then reverted (its revert names its confirmation), N
	 * seen pending then dropped, P seen pending and kept */
	long long events_before = q_int("SELECT count(*) FROM webhook_events");
	pw_payment mixed[5] = { payment(50, 0, PW_STATUS_CONFIRMED), payment(50, 0, PW_STATUS_REVERTED),
				payment(52, 0, PW_STATUS_PENDING), payment(52, 1, PW_STATUS_PENDING),
				payment(52, 1, PW_STATUS_DROPPED) };
	r = write_batch(s, mixed, 5);
	CHECK(!r.copied);
	ASSERT_EQ_INT(1, r.inserted);
	ASSERT_EQ_INT(1, r.reverted);
	ASSERT_EQ_INT(2, r.pending_rows);
	ASSERT_EQ_INT(1, r.dropped_rows);
	ASSERT_EQ_STR("reverted", q_text("SELECT status FROM payments WHERE block_number = 50", a, sizeof(a)));
	ASSERT_EQ_INT(events_before + 2, q_int("SELECT count(*) FROM webhook_events"));
	q_text("SELECT e.id FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.block_number = 50"
	       " AND e.type = 'payment.confirmed'",
	       a, sizeof(a));
	ASSERT_EQ_STR(a,
		      q_text("SELECT e.reverses_event_id FROM webhook_events e JOIN payments p ON p.id = e.payment_id"
			     " WHERE p.block_number = 50 AND e.type = 'payment.reverted'",
			     b, sizeof(b)));
	ASSERT_EQ_STR("52:0", q_text("SELECT string_agg(block_number || ':' || log_index, ',') FROM pending_payments",
				     a, sizeof(a)));

	/* no endpoint active anywhere: a direct batch writes its payment and
	 * feed row, and no webhook event (the events statement's one-time
	 * filter: it reads nothing back) */
	PQclear(PQexec(db, "UPDATE webhook_endpoints SET active = false"));
	pw_payment quiet = payment(60, 0, PW_STATUS_CONFIRMED);
	long long quiet_events = q_int("SELECT count(*) FROM webhook_events");
	r = write_batch(s, &quiet, 1);
	CHECK(r.copied);
	ASSERT_EQ_INT(1, r.inserted);
	ASSERT_EQ_INT(0, r.deliveries);
	ASSERT_EQ_INT(quiet_events, q_int("SELECT count(*) FROM webhook_events"));
	ASSERT_EQ_INT(1, q_int("SELECT count(*) FROM event_feed f JOIN payments p ON p.id = f.payment_id"
			       " WHERE p.block_number = 60 AND f.type = 'payment.confirmed'"));
	PQclear(PQexec(db, "UPDATE webhook_endpoints SET active = true"));

	check_reverted_first(s);
	check_revert_names_its_confirmation(s);
	check_payload_bytes();
	check_copied_event_there(s);
	check_tron(s);
	pg_sink_set_statement_max(s, PG_SINK_STATEMENT_MAX);
	check_one_statement(s);
	check_one_statement_pending(s);
	check_warm_up(s);
	check_registry_one_chain();
	check_counts_migrated(argv[1]);
	PQfinish(db);
	pg_sink_close(s);
	return test_finish("pg_sink_check");
}
