/* test_common.c: the leaf helpers every module leans on: strict number
 * parsing, the capped buffer (its allocation stays within the cap), UTF-8
 * checks and the escaping of outside text for logs (RFC 3629 cases), and
 * payment_check's schema bounds, base64url (RFC 4648 test vectors), the
 * API's cursors, the metrics' text format, the API's route table and CSV
 * fields (RFC 4180 quoting, spreadsheet-safe text), the canonical texts
 * of EVM addresses and hashes read back only in that form, the API's
 * times within what Postgres takes, and Retry-After within a cap. */
#include "api_pg.h"
#include "b64url.h"
#include "buf.h"
#include "csv.h"
#include "idfmt.h"
#include "metrics.h"
#include "parse.h"
#include "payment.h"
#include "pw_error.h"
#include "random.h"
#include "retry_after.h"
#include "routes.h"
#include "test.h"
#include "secretbox.h"
#include "text.h"
#include "url.h"

#include <sys/wait.h>
#include <unistd.h>

static void test_parse(void)
{
	uint64_t u = 7;
	int64_t v = 7;
	ASSERT_EQ_INT(0, parse_u64("18446744073709551615", UINT64_MAX, &u));
	CHECK(u == UINT64_MAX);
	ASSERT_EQ_INT(PW_ERANGE, parse_u64("18446744073709551616", UINT64_MAX, &u));
	ASSERT_EQ_INT(PW_EPARSE, parse_u64(" 1", UINT64_MAX, &u));
	ASSERT_EQ_INT(PW_EPARSE, parse_u64("1x", UINT64_MAX, &u));
	ASSERT_EQ_INT(PW_EPARSE, parse_u64("", UINT64_MAX, &u));
	ASSERT_EQ_INT(PW_EPARSE, parse_u64(NULL, UINT64_MAX, &u));
	ASSERT_EQ_INT(0, parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v));
	CHECK(v == INT64_MIN);
	ASSERT_EQ_INT(0, parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v));
	CHECK(v == INT64_MAX);
	ASSERT_EQ_INT(PW_ERANGE, parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v));
	ASSERT_EQ_INT(PW_ERANGE, parse_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &v));
	ASSERT_EQ_INT(PW_ERANGE, parse_i64("-1", 0, 10, &v));
	ASSERT_EQ_INT(PW_EPARSE, parse_i64("-", 0, 10, &v));
	ASSERT_EQ_INT(PW_EPARSE, parse_i64("+1", 0, 10, &v));
	ASSERT_EQ_INT(INT64_MAX, v); /* untouched on error */
}

static void test_buf(void)
{
	pw_buf b;
	char chunk[1000];
	memset(chunk, 'a', sizeof(chunk));
	buf_init(&b, 3000);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ_INT(0, buf_append(&b, chunk, sizeof(chunk)));
	ASSERT_EQ_INT(PW_ETOOBIG, buf_append(&b, chunk, 1));
	ASSERT_EQ_INT(3000, b.len);
	CHECK(b.alloc <= 3001); /* doubling would have reached 4096 */
	buf_done(&b);
	buf_init(&b, 10);
	ASSERT_EQ_INT(PW_ETOOBIG, buf_append(&b, chunk, 11));
	ASSERT_EQ_INT(0, buf_append(&b, chunk, 10));
	CHECK(b.alloc <= 11);
	buf_truncate(&b, 4); /* appends undone */
	ASSERT_EQ_INT(4, b.len);
	CHECK(strcmp(b.data, "aaaa") == 0);
	buf_truncate(&b, 8); /* never grows */
	ASSERT_EQ_INT(4, b.len);
	buf_done(&b);
	buf_truncate(&b, 0); /* empty, nothing allocated */
	CHECK(b.data == NULL && b.len == 0);
}

static void test_text(void)
{
	static const struct {
		const char *s;
		bool valid;
	} utf8[] = {
		{ "USDC", true },
		{ "USD\xe2\x82\xae\x30", true }, /* USD₮0 */
		{ "\xf0\x9f\x92\xb5", true },    /* U+1F4B5 */
		{ "\xff", false },               /* never in UTF-8 */
		{ "\xc0\xaf", false },           /* overlong '/' */
		{ "\xe0\x80\xaf", false },       /* overlong '/' */
		{ "\xed\xa0\x80", false },       /* surrogate U+D800 */
		{ "\xf4\x90\x80\x80", false },   /* above U+10FFFF */
		{ "\xe2\x82", false },           /* truncated */
		{ "ok\x80", false },             /* stray continuation byte */
	};
	for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++) {
		if (text_utf8_valid(utf8[i].s, strlen(utf8[i].s)) != utf8[i].valid)
			fprintf(stderr, "utf8 case %zu\n", i);
		CHECK(text_utf8_valid(utf8[i].s, strlen(utf8[i].s)) == utf8[i].valid);
	}
	CHECK(
		text_is_clean_utf8("USD\xe2\x82\xae"
				   "0",
				   6));
	CHECK(!text_is_clean_utf8("a\tb", 3));
	CHECK(!text_is_clean_utf8("a\x7f", 2));
	CHECK(!text_is_clean_utf8("a\xc2\x9b", 3)); /* C1 CSI */

	char out[128];
	text_escape(out, sizeof(out), "node error: \x1b[31mred\x1b[0m\n2026-01-01T00:00:00Z info forged");
	ASSERT_EQ_STR("node error: \\x1b[31mred\\x1b[0m\\x0a2026-01-01T00:00:00Z info forged", out);
	text_escape(out, sizeof(out), "bad \xff utf8 \xe2\x82\xae ok \\ end");
	ASSERT_EQ_STR("bad \\xff utf8 \xe2\x82\xae ok \\\\ end", out);
	/* truncation never splits an escape or a character */
	size_t n = text_escape(out, 6,
			       "ab\x1b"
			       "cd");
	ASSERT_EQ_STR("ab", out);
	ASSERT_EQ_INT(2, n);
	n = text_escape(out, 5, "ab\xe2\x82\xae");
	ASSERT_EQ_STR("ab", out);
}

static void test_payment_check(void)
{
	pw_payment p;
	char why[128];
	memset(&p, 0, sizeof(p));
	snprintf(p.chain, sizeof(p.chain), "mainnet");
	snprintf(p.token_symbol, sizeof(p.token_symbol),
		 "USD\xe2\x82\xae"
		 "0");
	snprintf(p.merchant_id, sizeof(p.merchant_id), "acme");
	p.amount[31] = 1;
	p.tx_hash.len = PW_HASH_LEN;
	p.token.len = p.from.len = p.to.len = PW_ADDR_LEN;
	p.block_time = PW_TIME_MAX_S;
	p.log_index = PW_LOG_INDEX_MAX;
	p.block_number = PW_BLOCK_MAX;
	p.decimals = 77;
	p.confirmations = PW_CONFIRMATIONS_MAX;
	p.confirmed_at_ms = PW_TIME_MAX_S * 1000;
	ASSERT_EQ_INT(0, payment_check(&p, why, sizeof(why)));
	static const char *const fields[] = { "log_index", "block_time",   "token_symbol",  "amount",
					      "decimals",  "block_number", "confirmations", "confirmed_at" };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		pw_payment q = p;
		switch (i) {
		case 0: q.log_index = (uint32_t)PW_LOG_INDEX_MAX + 1; break;
		case 1: q.block_time = PW_TIME_MAX_S + 1; break;
		case 2: snprintf(q.token_symbol, sizeof(q.token_symbol), "US\xff"); break;
		case 3: q.amount[31] = 0; break;
		case 4: q.decimals = 78; break;
		case 5: q.block_number = (uint64_t)PW_BLOCK_MAX + 1; break;
		case 6: q.confirmations = (uint32_t)PW_CONFIRMATIONS_MAX + 1; break;
		case 7: q.confirmed_at_ms = -1; break;
		}
		why[0] = '\0';
		ASSERT_EQ_INT(PW_ERANGE, payment_check(&q, why, sizeof(why)));
		if (strncmp(why, fields[i], strlen(fields[i])) != 0)
			fprintf(stderr, "payment_check %s: %s\n", fields[i], why);
		CHECK(strncmp(why, fields[i], strlen(fields[i])) == 0);
	}
}

/* The jitter of two processes started together differs: each seeds from
 * the kernel (rand() was never seeded: every process had the same). */
static void test_random(void)
{
	uint64_t got[2] = { 0, 0 };
	for (int k = 0; k < 2; k++) {
		int fds[2];
		CHECK(pipe(fds) == 0);
		pid_t pid = fork();
		if (pid == 0) {
			uint64_t v = pw_random_u64();
			ssize_t w = write(fds[1], &v, sizeof(v));
			_exit(w == (ssize_t)sizeof(v) ? 0 : 1);
		}
		close(fds[1]);
		CHECK(read(fds[0], &got[k], sizeof(got[k])) == (ssize_t)sizeof(got[k]));
		close(fds[0]);
		int status = 0;
		waitpid(pid, &status, 0);
	}
	CHECK(got[0] != got[1]);
	CHECK(got[0] != 0 && got[1] != 0);
	double u = pw_random_unit();
	CHECK(u >= 0 && u < 1);
	CHECK(pw_random_below(1) == 0);
	uint64_t seen = 0;
	for (int i = 0; i < 200; i++)
		seen |= (uint64_t)1 << pw_random_below(8);
	ASSERT_EQ_INT(0xff, seen); /* every value of [0, 8) comes up */
}

/* RFC 4648, section 10, without padding; then the two url-safe digits */
static void test_b64url(void)
{
	static const char *const vec[][2] = { { "f", "Zg" },        { "fo", "Zm8" },        { "foo", "Zm9v" },
					      { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" } };
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char out[32];
		b64url_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]), out, sizeof(out));
		ASSERT_EQ_STR(vec[i][1], out);
		uint8_t back[16];
		size_t n = 0;
		ASSERT_EQ_INT(0, b64url_decode(vec[i][1], back, sizeof(back), &n));
		CHECK(n == strlen(vec[i][0]) && memcmp(back, vec[i][0], n) == 0);
	}
	const uint8_t fb[2] = { 0xfb, 0xff };
	char out[8];
	b64url_encode(fb, 2, out, sizeof(out));
	ASSERT_EQ_STR("-_8", out);
	uint8_t back[8];
	size_t n = 0;
	ASSERT_EQ_INT(PW_EPARSE, b64url_decode("+_8", back, sizeof(back), &n)); /* base64's alphabet, not base64url's */
	ASSERT_EQ_INT(PW_EPARSE, b64url_decode("Zm9vY", back, sizeof(back), &n)); /* a length no encoding has */
	ASSERT_EQ_INT(PW_EPARSE, b64url_decode("Zm9vYmFy", back, 3, &n));         /* longer than out */

	api_cursor c = { .at = "2026-11-29T20:51:17.841123Z", .id = 4242 }, d;
	char text[96];
	api_cursor_encode(&c, text, sizeof(text));
	ASSERT_EQ_INT(0, api_cursor_decode(text, &d));
	ASSERT_EQ_STR(c.at, d.at);
	ASSERT_EQ_INT(4242, d.id);
	static const char *const bad[] = { "2026-13-29T20:51:17.841123Z|1", "2026-11-29T20:51:17.841123Z|",
					   "2026-11-29 20:51:17.841123Z|1", "2026-11-29T20:51:17.841123Z|1x",
					   "2026-11-29T20:51:17Z|1",        "x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b64url_encode((const uint8_t *)bad[i], strlen(bad[i]), text, sizeof(text));
		ASSERT_EQ_INT(PW_EPARSE, api_cursor_decode(text, &d));
	}
	/* the feed's and the deliveries' cursors */
	api_feed_cursor f = { .xid = 18446744073709551615ULL, .seq = 9223372036854775807LL }, g;
	api_feed_cursor_encode(&f, text, sizeof(text));
	ASSERT_EQ_INT(0, api_feed_cursor_decode(text, &g));
	CHECK(g.xid == f.xid && g.seq == f.seq);
	CHECK(api_feed_cursor_less(&(api_feed_cursor){ 5, 9 }, &(api_feed_cursor){ 6, 1 }));
	CHECK(api_feed_cursor_less(&(api_feed_cursor){ 6, 0 }, &(api_feed_cursor){ 6, 1 }));
	CHECK(!api_feed_cursor_less(&(api_feed_cursor){ 6, 1 }, &(api_feed_cursor){ 6, 1 }));
	static const char *const bad_feed[] = { "e|1",
						"e||1",
						"e|1|",
						"d|1|2",
						"e|1|2|3",
						"e|-1|2",
						"e|18446744073709551616|1",
						"e|1|9223372036854775808" };
	for (size_t i = 0; i < sizeof(bad_feed) / sizeof(bad_feed[0]); i++) {
		b64url_encode((const uint8_t *)bad_feed[i], strlen(bad_feed[i]), text, sizeof(text));
		ASSERT_EQ_INT(PW_EPARSE, api_feed_cursor_decode(text, &g));
	}
	int64_t before = 0;
	api_delivery_cursor_encode(77, text, sizeof(text));
	ASSERT_EQ_INT(0, api_delivery_cursor_decode(text, &before));
	ASSERT_EQ_INT(77, (int)before);
	b64url_encode((const uint8_t *)"e|1|2", 5, text, sizeof(text));
	ASSERT_EQ_INT(PW_EPARSE, api_delivery_cursor_decode(text, &before));
}

/* Answering parked long-polls from one read of the feed: the same page a
 * query would give, or "ask the database" when the read cannot tell. */
static void test_feed_batch(void)
{
	api_feed_item items[4] = {
		{ { 10, 1 }, "acme", "{\"id\":\"a\"}" },
		{ { 10, 2 }, "globex", "{\"id\":\"b\"}" },
		{ { 11, 3 }, "acme", "{\"id\":\"c\"}" },
		{ { 12, 4 }, "acme", "{\"id\":\"d\"}" },
	};
	api_feed_batch b = { .from = { 9, 0 }, .xmin = 13, .items = items, .n = 4 };
	api_event_query q = { .after = { 10, 1 }, .limit = 2 };
	char *json = NULL, text[96];
	unsigned n = 0;
	api_feed_cursor next;
	CHECK(api_feed_batch_answer(&b, &q, &json, &n, &next)); /* a full page: after its last event */
	ASSERT_EQ_INT(2, (int)n);
	CHECK(next.xid == 11 && next.seq == 3);
	api_feed_cursor_encode(&next, text, sizeof(text));
	char want[200];
	snprintf(want, sizeof(want), "{\"data\":[{\"id\":\"b\"},{\"id\":\"c\"}],\"next_cursor\":\"%s\"}", text);
	ASSERT_EQ_STR(want, json);
	free(json);
	q.limit = 100; /* a short page: from (xmin, 0) */
	q.merchant_id = "acme";
	CHECK(api_feed_batch_answer(&b, &q, &json, &n, &next));
	ASSERT_EQ_INT(2, (int)n);
	CHECK(next.xid == 13 && next.seq == 0);
	free(json);
	b.truncated = true; /* the page could go on past the read */
	CHECK(!api_feed_batch_answer(&b, &q, &json, &n, &next));
	b.truncated = false;
	q.merchant_id = "initech"; /* none of its events: ask the database (or park) */
	CHECK(!api_feed_batch_answer(&b, &q, &json, &n, &next));
	q.merchant_id = NULL;
	q.after = (api_feed_cursor){ 8, 5 }; /* before the read's start */
	CHECK(!api_feed_batch_answer(&b, &q, &json, &n, &next));
	q.after = (api_feed_cursor){ 12, 4 }; /* at its end */
	CHECK(!api_feed_batch_answer(&b, &q, &json, &n, &next));
	CHECK(!api_feed_batch_answer(NULL, &q, &json, &n, &next));
}

/* The metrics catalogue and the text format (Prometheus exposition 0.0.4):
 * counters add, gauges set, histograms are cumulative with +Inf, _sum and
 * _count; label values are escaped; undeclared names are ignored. */
static void test_metrics(void)
{
	char l[200];
	metrics_labels(l, sizeof(l), "chain", "lo\"c\\al\n", "method", "eth_getLogs", NULL);
	ASSERT_EQ_STR("chain=\"lo\\\"c\\\\al\\n\",method=\"eth_getLogs\"", l);
	metrics_add("paywatch_chain_logs_scanned_total", "chain=\"a\"", 2);
	metrics_add("paywatch_chain_logs_scanned_total", "chain=\"a\"", 3);
	metrics_add("paywatch_chain_logs_scanned_total", "chain=\"a\"", -9); /* a counter never goes down */
	metrics_set("paywatch_chain_lag_blocks", "chain=\"a\"", 7);
	metrics_set("paywatch_chain_lag_blocks", "chain=\"a\"", 4);
	metrics_observe("paywatch_rpc_request_duration_seconds", "chain=\"a\"", 0.004);
	metrics_observe("paywatch_rpc_request_duration_seconds", "chain=\"a\"", 0.3);
	metrics_observe("paywatch_rpc_request_duration_seconds", "chain=\"a\"", 99);
	metrics_add("paywatch_not_declared_total", "", 1);
	metrics_set("paywatch_chain_logs_scanned_total", "chain=\"a\"", 100); /* the wrong type: ignored */
	CHECK(!metrics_declared("paywatch_not_declared_total"));
	CHECK(metrics_declared("paywatch_payments_total"));
	char *t = metrics_render();
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(strstr(
		t,
		"# TYPE paywatch_chain_logs_scanned_total counter\npaywatch_chain_logs_scanned_total{chain=\"a\"} 5\n"));
	CHECK(strstr(t, "paywatch_chain_lag_blocks{chain=\"a\"} 4\n"));
	CHECK(strstr(t, "paywatch_rpc_request_duration_seconds_bucket{chain=\"a\",le=\"0.001\"} 0\n"));
	CHECK(strstr(t, "paywatch_rpc_request_duration_seconds_bucket{chain=\"a\",le=\"0.005\"} 1\n"));
	CHECK(strstr(t, "paywatch_rpc_request_duration_seconds_bucket{chain=\"a\",le=\"0.5\"} 2\n"));
	CHECK(strstr(t, "paywatch_rpc_request_duration_seconds_bucket{chain=\"a\",le=\"10\"} 2\n"));
	CHECK(strstr(t, "paywatch_rpc_request_duration_seconds_bucket{chain=\"a\",le=\"+Inf\"} 3\n"));
	CHECK(strstr(t, "paywatch_rpc_request_duration_seconds_count{chain=\"a\"} 3\n"));
	CHECK(strstr(t, "paywatch_rpc_request_duration_seconds_sum{chain=\"a\"} 99.304"));
	CHECK(strstr(t, "# HELP paywatch_payments_total ")); /* declared families show before any series */
	CHECK(!strstr(t, "not_declared"));
	CHECK(strstr(t, "paywatch_process_open_fds "));
	free(t);
}

/* The API's route table: templates match their URLs only. */
static void test_routes(void)
{
	api_path_params p;
	char allow[64];
	CHECK(api_route_match("/v1/payments", "GET", &p, allow, sizeof(allow)) == API_PAYMENTS);
	CHECK(api_route_match("/v1/payments", "HEAD", &p, allow, sizeof(allow)) == API_PAYMENTS);
	CHECK(api_route_match("/v1/payments/42", "GET", &p, allow, sizeof(allow)) == API_PAYMENT);
	ASSERT_EQ_STR("42", p.v[0]);
	CHECK(api_route_match("/v1/payments/", "GET", &p, allow, sizeof(allow)) == API_N_ROUTES);
	CHECK(api_route_match("/v1/payments/42/x", "GET", &p, allow, sizeof(allow)) == API_N_ROUTES);
	CHECK(api_route_match("/v1/webhooks/deliveries/7/redeliver", "POST", &p, allow, sizeof(allow)) ==
	      API_REDELIVER);
	ASSERT_EQ_STR("7", p.v[0]);
	CHECK(api_route_match("/v1/webhooks/deliveries/7/redeliverx", "POST", &p, allow, sizeof(allow)) ==
	      API_N_ROUTES);
	char longer[200];
	memset(longer, '1', sizeof(longer));
	memcpy(longer, "/v1/payments/", 13);
	longer[sizeof(longer) - 1] = '\0';
	CHECK(api_route_match(longer, "GET", &p, allow, sizeof(allow)) == API_N_ROUTES);
	CHECK(api_route_match("/v1/paymentsx", "GET", &p, allow, sizeof(allow)) == API_N_ROUTES && !allow[0]);
	CHECK(api_route_match("/metrics", "GET", &p, allow, sizeof(allow)) == API_METRICS);
	/* one path, several methods: each to its route, another method gets Allow */
	CHECK(api_route_match("/v1/merchants", "POST", &p, allow, sizeof(allow)) == API_MERCHANT_CREATE);
	CHECK(api_route_match("/v1/merchants", "GET", &p, allow, sizeof(allow)) == API_MERCHANTS);
	CHECK(api_route_match("/v1/merchants", "PUT", &p, allow, sizeof(allow)) == API_N_ROUTES);
	ASSERT_EQ_STR("GET, HEAD, POST", allow);
	CHECK(api_route_match("/v1/merchants/acme/addresses/local/0xab", "DELETE", &p, allow, sizeof(allow)) ==
	      API_ADDRESS_DELETE);
	CHECK(p.n == 3 && strcmp(p.v[0], "acme") == 0 && strcmp(p.v[1], "local") == 0 && strcmp(p.v[2], "0xab") == 0);
	CHECK(api_route_match("/v1/merchants/acme/webhooks/main", "DELETE", &p, allow, sizeof(allow)) ==
	      API_WEBHOOK_DELETE);
	ASSERT_EQ_STR("main", p.v[1]);
	/* the checkout page: its assets are not invoice ids */
	CHECK(api_route_match("/pay/inv_abc", "GET", &p, allow, sizeof(allow)) == API_CHECKOUT_PAGE);
	CHECK(api_route_match("/pay/inv_abc/status", "GET", &p, allow, sizeof(allow)) == API_CHECKOUT_STATUS);
	CHECK(api_route_match("/assets/checkout.js", "GET", &p, allow, sizeof(allow)) == API_CHECKOUT_JS);
	CHECK(api_route_match("/v1/reports/settlement", "GET", &p, allow, sizeof(allow)) == API_REPORT_SETTLEMENT);
}

/* One line of fields (kinds[i] for fields[i]) as csv writes it. */
static void check_csv(const char *const *fields, const enum csv_kind *kinds, size_t n, const char *want)
{
	pw_buf b;
	buf_init(&b, 1 << 16);
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = csv_field(&b, fields[i], kinds[i], i == 0);
	CHECK(r == 0 && csv_end(&b) == 0);
	ASSERT_EQ_STR(want, b.data);
	buf_done(&b);
}

static void test_csv(void)
{
	/* RFC 4180: plain fields bare; a comma, a quote, CR or LF quoted, quotes doubled; CRLF */
	const char *f1[] = { "2026-11-30", "a,b", "say \"hi\"", "two\nlines", NULL };
	const enum csv_kind k1[] = { CSV_PLAIN, CSV_PLAIN, CSV_PLAIN, CSV_PLAIN, CSV_PLAIN };
	check_csv(f1, k1, 5, "2026-11-30,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n");
	/* exact values stay text in a spreadsheet: 1E+21 and hex-as-number avoided */
	const char *f2[] = { "1000000000000000000000.000000000000000001", "0x5e10", "" };
	const enum csv_kind k2[] = { CSV_EXACT, CSV_EXACT, CSV_EXACT };
	check_csv(f2, k2, 3, "\"=\"\"1000000000000000000000.000000000000000001\"\"\",\"=\"\"0x5e10\"\"\",\r\n");
	/* outside text starting like a formula gets a leading ' (OWASP) */
	const char *f3[] = { "=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "order-7" };
	const enum csv_kind k3[] = { CSV_TEXT, CSV_TEXT, CSV_TEXT, CSV_TEXT, CSV_TEXT };
	check_csv(f3, k3, 5, "\"'=HYPERLINK(\"\"x\"\")\",\"'+1\",\"'-2\",\"'@SUM(A1)\",order-7\r\n");
	/* a full buffer is an error, never a cut field */
	pw_buf b;
	buf_init(&b, 8);
	CHECK(csv_field(&b, "0123456789", CSV_PLAIN, 1) == PW_ETOOBIG && b.len == 0);
	buf_done(&b);
}

static void test_secretbox(void)
{
	secretbox_keys keys = { 0 };
	char err[200];
	/* the same 32 bytes in both forms give the same key and id */
	const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	const char *b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
	secretbox_key a, b;
	ASSERT_EQ_INT(0, secretbox_key_parse(hex, &a, err, sizeof(err)));
	ASSERT_EQ_INT(0, secretbox_key_parse(b64, &b, err, sizeof(err)));
	CHECK(memcmp(a.key, b.key, 32) == 0 && strcmp(a.id, b.id) == 0 && strlen(a.id) == 16);
	CHECK(secretbox_key_parse("00010203", &b, err, sizeof(err)) == PW_ECONFIG && !strstr(err, "00010203"));
	keys.have_current = true;
	keys.current = a;
	char *sealed = NULL, *plain = NULL, *again = NULL;
	const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	ASSERT_EQ_INT(0, secretbox_seal(&a, "ctx/1", (const uint8_t *)secret, strlen(secret), &sealed));
	CHECK(strncmp(sealed, "pw1:", 4) == 0 && strncmp(sealed + 4, a.id, 16) == 0 && !strstr(sealed, "MfKQ9r8"));
	ASSERT_EQ_INT(0, secretbox_seal(&a, "ctx/1", (const uint8_t *)secret, strlen(secret), &again));
	CHECK(strcmp(sealed, again) != 0); /* a fresh nonce per seal */
	ASSERT_EQ_INT(0, secretbox_open(&keys, "ctx/1", sealed, &plain));
	CHECK(plain && strcmp(plain, secret) == 0);
	secretbox_free(plain);
	plain = NULL;
	CHECK(secretbox_open(&keys, "ctx/2", sealed, &plain) == PW_EREFUSED && !plain); /* bound to its row */
	char *bent = strdup(sealed);
	bent[strlen(bent) - 6] = bent[strlen(bent) - 6] == 'A' ? 'B' : 'A';
	CHECK(secretbox_open(&keys, "ctx/1", bent, &plain) == PW_EREFUSED && !plain); /* altered */
	free(bent);
	/* another key: its id is not held, until it is the old one */
	secretbox_key k2;
	ASSERT_EQ_INT(0, secretbox_key_parse("1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100", &k2,
					     err, sizeof(err)));
	secretbox_keys other = { .have_current = true, .current = k2 };
	CHECK(secretbox_open(&other, "ctx/1", sealed, &plain) == PW_ENOTFOUND);
	other.have_old = true;
	other.old = a;
	ASSERT_EQ_INT(0, secretbox_open(&other, "ctx/1", sealed, &plain));
	CHECK(plain && strcmp(plain, secret) == 0);
	secretbox_free(plain);
	CHECK(secretbox_open(&keys, "ctx/1", "pw1:zz", &plain) == PW_EPARSE);
	char ws[64];
	ASSERT_EQ_INT(0, secretbox_new_webhook_secret(ws, sizeof(ws)));
	CHECK(strncmp(ws, "whsec_", 6) == 0 && strlen(ws) == 6 + 44);
	free(sealed);
	free(again);
}

/* The canonical readers (rows Postgres holds) take "0x" + lowercase hex
 * only: "0X" slipped through before (fuzz_inputs found it: its text did
 * not read back the same). */
static void test_canonical_ids(void)
{
	pw_addr a;
	uint8_t h[32];
	const char *addr = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
	char out[PW_ADDR_TEXT_MAX], hash[67] = "0x", upper[67];
	ASSERT_EQ_INT(0, pw_parse_address(PW_FAMILY_EVM, addr, &a));
	pw_format_address(PW_FAMILY_EVM, &a, out);
	ASSERT_EQ_STR(addr, out);
	ASSERT_EQ_INT(PW_EPARSE, pw_parse_address(PW_FAMILY_EVM, "0X5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", &a));
	ASSERT_EQ_INT(PW_EPARSE, pw_parse_address(PW_FAMILY_EVM, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", &a));
	ASSERT_EQ_INT(PW_EPARSE, pw_parse_address(PW_FAMILY_EVM, "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", &a));
	for (int i = 0; i < 32; i++)
		snprintf(hash + 2 + 2 * i, 3, "%02x", (unsigned)(i * 7 + 1));
	ASSERT_EQ_INT(0, pw_parse_hash(PW_FAMILY_EVM, hash, h, sizeof(h)));
	snprintf(upper, sizeof(upper), "0X%s", hash + 2);
	ASSERT_EQ_INT(PW_EPARSE, pw_parse_hash(PW_FAMILY_EVM, upper, h, sizeof(h)));
	ASSERT_EQ_INT(0, pw_parse_hash(PW_FAMILY_TRON, hash + 2, h, sizeof(h)));
	ASSERT_EQ_INT(PW_EPARSE, pw_parse_hash(PW_FAMILY_TRON, hash, h, sizeof(h)));
}

/* api_time_ok takes what PostgreSQL 15's timestamptz takes (each case
 * read by `SELECT '...'::timestamptz` on the rig's server): a time it
 * took that Postgres refuses made a bad query parameter a 503 (found by
 * reading api_time_ok beside fuzz_inputs). */
static void test_api_times(void)
{
	static const char *const good[] = { "2024-02-29T00:00:00Z",           "2026-12-31T23:59:60Z",
					    "2026-12-31T23:59:60.0Z",         "0001-01-01T00:00:00Z",
					    "2026-01-01T00:00:00+15:59",      "2026-01-01T00:00:00-15:59",
					    "2026-01-01T00:00:00.123456789Z", "2026-01-01t00:00:00z",
					    "2026-11-29T20:51:17+01:00" };
	static const char *const bad[] = { "2026-02-29T00:00:00Z",        "2026-02-31T00:00:00Z",
					   "2026-04-31T00:00:00Z",        "0000-01-01T00:00:00Z",
					   "2026-12-31T23:59:60.5+01:00", "2026-01-01T00:00:00+16:00",
					   "2026-01-01T00:00:00+23:59",   "2026-01-01T23:60:00Z",
					   "2026-13-01T00:00:00Z",        "2026-11-29" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!api_time_ok(good[i])) {
			test_failures++;
			fprintf(stderr, "api_time_ok refused %s\n", good[i]);
		}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (api_time_ok(bad[i])) {
			test_failures++;
			fprintf(stderr, "api_time_ok took %s\n", bad[i]);
		}
	test_checks++;
}

/* pw_url_parse: a node URL's parts, and what it refuses (the config's
 * check and the JSON-RPC client read URLs with it). */
static void test_url(void)
{
	pw_url u;
	char err[160];
	ASSERT_EQ_INT(0, pw_url_parse("wss://eth.example.com/v3/KEY?x=1", &u, err, sizeof(err)));
	CHECK(u.tls && !u.http);
	ASSERT_EQ_STR("eth.example.com", u.host);
	ASSERT_EQ_INT(443, u.port);
	ASSERT_EQ_STR("/v3/KEY?x=1", u.path);
	ASSERT_EQ_INT(0, pw_url_parse("http://127.0.0.1:8545", &u, err, sizeof(err)));
	CHECK(!u.tls && u.http);
	ASSERT_EQ_INT(8545, u.port);
	ASSERT_EQ_STR("/", u.path);
	ASSERT_EQ_INT(0, pw_url_parse("ws://node_1:65535?key=a", &u, err, sizeof(err)));
	ASSERT_EQ_INT(65535, u.port);
	ASSERT_EQ_STR("/?key=a", u.path); /* a bare query gets its path */
	ASSERT_EQ_INT(0, pw_url_parse("https://h", &u, err, sizeof(err)));
	ASSERT_EQ_INT(443, u.port);
	static const char *const bad[] = {
		"ws://127.0.0.1:85x45",
		"ws://127.0.0.1:99999",
		"ws://127.0.0.1:0",
		"ws://127.0.0.1:",
		"ws://h:008545x",
		"ws://h:+1",
		"ws://h:-1",
		"ws://h: 1",
		"ws://h:1#f",
		"ws://h#f",
		"ws://[::1]:1",
		"ws://u:p@h/",
		"ws://@h",
		"ws://",
		"ws:///x",
		"ws://:1",
		"ftp://h",
		"WS://h",
		"ws://h\x01",
		"ws://h/\x7f",
		"ws://h/\xc3\xa9",
		"ws://h\\x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		int r = pw_url_parse(bad[i], &u, err, sizeof(err));
		if (r == 0 || !err[0])
			fprintf(stderr, "url %zu taken: %s\n", i, bad[i]);
		CHECK(r < 0 && err[0]);
	}
	/* 1..5 digits: 08545 is 8545, as a port; six digits (000001) are not */
	ASSERT_EQ_INT(0, pw_url_parse("ws://h:08545/", &u, err, sizeof(err)));
	ASSERT_EQ_INT(8545, u.port);
	CHECK(pw_url_parse("ws://h:000001/", &u, err, sizeof(err)) < 0);
	/* a path of 1,023 bytes fits; 1,024 does not; the reason never quotes the URL */
	char url[1200] = "ws://h";
	memset(url + 6, 'k', 1023);
	url[6] = '/';
	url[6 + 1023] = '\0';
	ASSERT_EQ_INT(0, pw_url_parse(url, &u, err, sizeof(err)));
	ASSERT_EQ_INT(1023, (int)strlen(u.path));
	url[6 + 1023] = 'k';
	url[6 + 1024] = '\0';
	CHECK(pw_url_parse(url, &u, err, sizeof(err)) < 0 && !strstr(err, "kkk"));
	char host[300] = "ws://";
	memset(host + 5, 'a', 256);
	host[5 + 256] = '\0';
	CHECK(pw_url_parse(host, &u, err, sizeof(err)) < 0);
	host[5 + 255] = '\0';
	ASSERT_EQ_INT(0, pw_url_parse(host, &u, err, sizeof(err)));
}

/* Retry-After (RFC 9110 10.2.3) as the webhook dispatcher and the
 * JSON-RPC client's HTTP transport read it, within the caller's cap */
static void test_retry_after(void)
{
	enum { MAX = 86400 };
	/* Retry-After's value (RFC 9110 10.2.3): delay-seconds or an
	 * HTTP-date in each format of 5.6.7, white space around ignored */
	const time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT: RFC 9110's example date */
	static const struct {
		const char *value;
		long want;
	} retry_after[] = {
		{ "120", 120 },
		{ " 120 \r\n", 120 }, /* as libcurl hands the header line over, after "Retry-After:" */
		{ "\t7\t", 7 },
		{ "0", 0 },
		{ "0007", 7 },
		{ "86400", MAX },
		{ "86401", MAX },
		{ "99999999999999999999999999999999999999", MAX },
		{ "Sun, 06 Nov 1994 08:51:37 GMT", 120 },  /* IMF-fixdate */
		{ "Sunday, 06-Nov-94 08:51:37 GMT", 120 }, /* RFC 850 */
		{ "Sun Nov  6 08:51:37 1994", 120 },       /* asctime */
		{ " Sun, 06 Nov 1994 08:51:37 GMT \r\n", 120 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 0 }, /* now */
		{ "Fri, 31 Dec 1993 23:59:59 GMT", 0 }, /* past */
		{ "Thu, 01 Jan 1970 00:00:00 GMT", 0 },
		{ "Fri, 31 Dec 9999 23:59:59 GMT", MAX },
		{ "", -1 },
		{ " \r\n", -1 },
		{ "-1", -1 },
		{ "+5", -1 },
		{ "1.5", -1 },
		{ "5s", -1 },
		{ "0x10", -1 },
		{ "soon", -1 },
	};
	for (size_t i = 0; i < sizeof(retry_after) / sizeof(retry_after[0]); i++) {
		long got = pw_retry_after_s(retry_after[i].value, strlen(retry_after[i].value), now, MAX);
		if (got != retry_after[i].want)
			fprintf(stderr, "Retry-After \"%s\"\n", retry_after[i].value);
		ASSERT_EQ_INT(retry_after[i].want, got);
	}
	/* the length is the value's: not read past, a NUL inside refused */
	ASSERT_EQ_INT(12, pw_retry_after_s("120", 2, now, MAX));
	ASSERT_EQ_INT(-1, pw_retry_after_s("Sun, 06 Nov 1994\0 08:51:37 GMT", 30, now, MAX));
	char long_date[200];
	memset(long_date, ' ', sizeof(long_date));
	memcpy(long_date + 100, "Sun, 06 Nov 1994 08:51:37 GMT", 29);
	ASSERT_EQ_INT(120, pw_retry_after_s(long_date, sizeof(long_date), now, MAX)); /* padded: still read */
	memcpy(long_date + 170, "x", 1); /* 71 bytes between the first and last not white: no date is that long */
	ASSERT_EQ_INT(-1, pw_retry_after_s(long_date, sizeof(long_date), now, MAX));
	/* a smaller cap bounds both forms */
	ASSERT_EQ_INT(60, pw_retry_after_s("61", 2, now, 60));
	ASSERT_EQ_INT(60, pw_retry_after_s("Sun, 06 Nov 1994 08:51:37 GMT", 29, now, 60));
	ASSERT_EQ_INT(59, pw_retry_after_s("59", 2, now, 60));
	ASSERT_EQ_INT(0, pw_retry_after_s("5", 1, now, 0));
	/* header lines as libcurl hands them over */
	long secs = -7;
	CHECK(pw_retry_after_line("Retry-After: 3 \r\n", 17, now, MAX, &secs) && secs == 3);
	CHECK(pw_retry_after_line("retry-after:120\r\n", 17, now, 60, &secs) && secs == 60);
	CHECK(pw_retry_after_line("RETRY-AFTER: Sun, 06 Nov 1994 08:51:37 GMT\r\n", 44, now, MAX, &secs) &&
	      secs == 120);
	secs = -7;
	CHECK(!pw_retry_after_line("Retry-After: soon\r\n", 20, now, MAX, &secs) && secs == -7);
	CHECK(!pw_retry_after_line("Retry-After:\r\n", 14, now, MAX, &secs) && secs == -7);
	CHECK(!pw_retry_after_line("Retry-After", 11, now, MAX, &secs) && secs == -7);
	CHECK(!pw_retry_after_line("Retry-Afterwards: 5\r\n", 21, now, MAX, &secs) && secs == -7);
	CHECK(!pw_retry_after_line("X-Retry-After: 5\r\n", 18, now, MAX, &secs) && secs == -7);
	CHECK(!pw_retry_after_line("HTTP/1.1 429 Too Many Requests\r\n", 32, now, MAX, &secs) && secs == -7);
	CHECK(!pw_retry_after_line("Retry-After: 5\r\n", 8, now, MAX, &secs) && secs == -7); /* cut short */
}

int main(void)
{
	test_retry_after();
	test_url();
	test_api_times();
	test_canonical_ids();
	test_secretbox();
	test_b64url();
	test_random();
	test_parse();
	test_buf();
	test_text();
	test_payment_check();
	test_metrics();
	test_routes();
	test_csv();
	test_feed_batch();
	return test_finish("test_common");
}
