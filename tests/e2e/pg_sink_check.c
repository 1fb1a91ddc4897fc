/* pg_sink_check.c: the Postgres sink's write path against a real Postgres
 * (started and migrated by test_sink.mjs, which passes the DSN):
 *   - a batch of new confirmed payments goes by the direct COPY, with its
 *     events and deliveries;
 *   - the same batch again (a replay after a crash) falls back to the
 *     upsert and writes nothing;
 *   - revert, confirm again (the chain went back to the block), replay of
 *     that, revert again: the row follows, each step has its own event, a
 *     revert names the latest confirmation, and nothing is written twice.
 * usage: pg_sink_check DSN */
#include "payment.h"
#include "postgres.h"
#include "pw_error.h"
#include "../unit/test.h"
#include "../unit/test_payments.h"

#include <libpq-fe.h>

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

static pw_payment payment(uint64_t block, uint32_t log_index, uint8_t status)
{
	pw_payment p = test_make_payment(block, log_index);
	p.block_time = 1700000000 + (int64_t)block;
	p.status = status;
	p.confirmations = 2;
	p.confirmed_at_ms = 1700000000123LL + (int64_t)block;
	p.to[19] = 0x01;
	p.from[19] = 0x02;
	p.token[19] = 0x03;
	p.tx_hash[0] = (uint8_t)log_index;
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

#define X_EVENTS(type) \
	"SELECT count(*) FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.log_index = 0 AND e.type = '" type "'"

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
	pg_merchant_address addr = { .merchant_id = "acme", .chain = "local" };
	addr.address[19] = 0x01;
	pg_webhook_endpoint ep = { .merchant_id = "acme", .key = "default", .url = "https://hooks.example/acme",
				   .events = "{payment.confirmed,payment.reverted}" };
	ASSERT_EQ_INT(0, pg_sink_sync_merchants(s, ids, 1, &addr, 1, &ep, 1));

	/* X (log 0) and Y (log 1) in block 10: new, by the direct COPY */
	pw_payment xy[2] = { payment(10, 0, PW_STATUS_CONFIRMED), payment(10, 1, PW_STATUS_CONFIRMED) };
	pg_write_result r = write_batch(s, xy, 2);
	CHECK(r.copied);
	ASSERT_EQ_INT(2, r.inserted);
	ASSERT_EQ_INT(2, r.deliveries);
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM payments WHERE status = 'confirmed'"));
	ASSERT_EQ_STR("2023-11-14 22:13:30+00", q_text("SELECT block_time::text FROM payments WHERE log_index = 0", a, sizeof(a)));
	ASSERT_EQ_STR("2023-11-14 22:13:20.133+00",
		      q_text("SELECT confirmed_at::text FROM payments WHERE log_index = 0", a, sizeof(a)));
	ASSERT_EQ_STR("0.000001", q_text("SELECT amount::text FROM payments WHERE log_index = 0", a, sizeof(a)));

	/* the same batch again: the COPY meets the rows, the upsert writes nothing */
	r = write_batch(s, xy, 2);
	CHECK(!r.copied);
	ASSERT_EQ_INT(0, r.inserted);
	ASSERT_EQ_INT(2, r.present);
	ASSERT_EQ_INT(0, r.deliveries);
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM payments"));
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM webhook_events"));

	/* X reverted: its event names X's confirmation */
	pw_payment x_rev = payment(10, 0, PW_STATUS_REVERTED);
	r = write_batch(s, &x_rev, 1);
	ASSERT_EQ_INT(1, r.reverted);
	ASSERT_EQ_STR("reverted", q_text("SELECT status FROM payments WHERE log_index = 0", a, sizeof(a)));
	q_text("SELECT e.id FROM webhook_events e JOIN payments p ON p.id = e.payment_id"
	       " WHERE p.log_index = 0 AND e.type = 'payment.confirmed'", a, sizeof(a));
	ASSERT_EQ_STR(a, q_text("SELECT reverses_event_id FROM webhook_events WHERE type = 'payment.reverted'", b, sizeof(b)));

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
	       " AND e.type = 'payment.confirmed' ORDER BY e.created_at DESC LIMIT 1", a, sizeof(a));
	ASSERT_EQ_STR(a, q_text("SELECT reverses_event_id FROM webhook_events WHERE type = 'payment.reverted'"
				" ORDER BY created_at DESC LIMIT 1", b, sizeof(b)));
	r = write_batch(s, &x_rev, 1); /* and its replay: nothing */
	ASSERT_EQ_INT(0, r.reverted);
	ASSERT_EQ_INT(2, q_int(X_EVENTS("payment.reverted")));
	/* every event has one delivery, every id is distinct */
	ASSERT_EQ_INT(q_int("SELECT count(*) FROM webhook_events"), q_int("SELECT count(*) FROM webhook_deliveries"));
	ASSERT_EQ_INT(5, q_int("SELECT count(DISTINCT id) FROM webhook_events")); /* X: 2 + 2, Y: 1 */

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
	ASSERT_EQ_STR("21,26", q_text("SELECT string_agg(block_number::text, ',' ORDER BY id) FROM payment_quarantine", a,
				      sizeof(a)));
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
	ASSERT_EQ_INT(1, q_int("SELECT count(*) FROM payment_quarantine WHERE reason LIKE 'paywatch: block_time%' AND sqlstate IS NULL"));
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
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.amount_raw = 666"));
	ASSERT_EQ_INT(2, q_int("SELECT count(*) FROM payment_quarantine WHERE retries = 1 AND last_retry_at IS NOT NULL"));
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

	PQfinish(db);
	pg_sink_close(s);
	return test_finish("pg_sink_check");
}
