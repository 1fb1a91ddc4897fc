/* test_webhook.c: Standard Webhooks signing against the specification's
 * example (secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, id
 * msg_p5jXN8AQM9LWM0D4loKWxJek, timestamp 1614265330, body
 * {"test": 2432232314}; the expected value was recomputed with Python's
 * hmac/base64), one signature per secret while rotating, the address
 * policy for webhook targets (a table of every refused range and embedded
 * form, with a public neighbour of each), how an answer is classified,
 * what of a URL is shown, the policy applied by libcurl to the
 * address it resolved and connects to, and a dispatcher loop's waiting
 * window read from its pace (against a sort of the last 64 samples, over
 * a random run of 5,000). */
#include "pw_error.h"
#include "test.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdlib.h>

/* the address policy on an IPv4 or IPv6 literal */
static void expect_private(const char *literal, bool refused)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	const struct sockaddr *sa = NULL;
	if (inet_pton(AF_INET, literal, &v4.sin_addr) == 1)
		sa = (const struct sockaddr *)&v4;
	else if (inet_pton(AF_INET6, literal, &v6.sin6_addr) == 1)
		sa = (const struct sockaddr *)&v6;
	CHECK(sa != NULL);
	if (!sa)
		return;
	bool allowed = webhook_address_allowed(sa, false);
	if (allowed == refused)
		fprintf(stderr, "%s: %s\n", literal, allowed ? "allowed" : "refused");
	ASSERT_EQ_INT(refused, !allowed);
	CHECK(webhook_address_allowed(sa, true)); /* allow_private_targets */
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The waiting window of the last (up to) 64 of the samples took[0..n),
 * as webhook_pace_window says it: each counted within 0..1000 ms, ten
 * times their median (the lower of the middle two), within 250..1000 ms. */
static uint32_t window_of(const int64_t *took, size_t n)
{
	if (!n)
		return WEBHOOK_SLOW_AFTER_MS;
	int64_t last[WEBHOOK_PACE_SAMPLES];
	size_t m = n < WEBHOOK_PACE_SAMPLES ? n : WEBHOOK_PACE_SAMPLES;
	for (size_t i = 0; i < m; i++) {
		int64_t v = took[n - m + i];
		last[i] = v < 0 ? 0 : v > WEBHOOK_SLOW_AFTER_MS ? WEBHOOK_SLOW_AFTER_MS : v;
	}
	qsort(last, m, sizeof(*last), cmp_i64);
	int64_t w = WEBHOOK_WAITING_FACTOR * last[(m - 1) / 2];
	return (uint32_t)(w < WEBHOOK_WAITING_MIN_MS  ? WEBHOOK_WAITING_MIN_MS
			  : w > WEBHOOK_SLOW_AFTER_MS ? WEBHOOK_SLOW_AFTER_MS
						      : w);
}

static void pace_window(void)
{
	webhook_pace p = { 0 };
	ASSERT_EQ_INT(1000, webhook_pace_window(&p)); /* no request ended yet */
	ASSERT_EQ_INT(250, webhook_pace_add(&p, 2));  /* answers at once: the floor */
	for (int i = 0; i < 40; i++)                  /* most of the last 64 at 150 ms: 1,500, within 1 s */
		webhook_pace_add(&p, 150);
	ASSERT_EQ_INT(1000, webhook_pace_window(&p));
	for (int i = 0; i < 64; i++) /* every one at 40 ms: the oldest gave way */
		webhook_pace_add(&p, 40);
	ASSERT_EQ_INT(400, webhook_pace_window(&p));
	for (int i = 0; i < 4; i++) /* a new slow endpoint's first four, hung: the median stays */
		webhook_pace_add(&p, 60000);
	ASSERT_EQ_INT(400, webhook_pace_window(&p));
	CHECK(webhook_pace_add(&p, -5) == 400); /* a clock step back counts 0 */

	/* a random run: answers of 0..300 ms, hangs, bursts of one pace,
	 * against the window of a sort of the last 64 after each sample */
	webhook_pace q = { 0 };
	static int64_t took[5000];
	srand(7);
	size_t wrong = 0;
	for (size_t i = 0; i < 5000; i++) {
		int r = rand() % 100;
		took[i] = r < 5 ? 30000 : r < 10 ? -1 : r < 40 ? (i > 0 ? took[i - 1] : 0) : rand() % 300;
		uint32_t got = webhook_pace_add(&q, took[i]), want = window_of(took, i + 1);
		if (got != want && wrong++ < 3)
			fprintf(stderr, "pace: after %zu samples the window is %u ms, not %u\n", i + 1, got, want);
	}
	ASSERT_EQ_INT(0, wrong);
	ASSERT_EQ_INT(WEBHOOK_PACE_SAMPLES, q.n);
	for (size_t i = 1; i < q.n; i++) /* kept in order */
		CHECK(q.sorted[i - 1] <= q.sorted[i]);
}

int main(void)
{
	pace_window();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	char sig[128];
	const char body[] = "{\"test\": 2432232314}";
	ASSERT_EQ_INT(0, webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
				      1614265330, body, strlen(body), sig, sizeof(sig)));
	ASSERT_EQ_STR("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig);
	/* one byte changed in the body changes the signature */
	ASSERT_EQ_INT(0, webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
				      1614265330, "{\"test\": 2432232315}", strlen(body), sig, sizeof(sig)));
	CHECK(strcmp(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") != 0);
	ASSERT_EQ_INT(PW_EINVAL, webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, "x", 1, sig, sizeof(sig)));
	ASSERT_EQ_INT(PW_EINVAL, webhook_sign("whsec_!!!", "m", 1, "x", 1, sig, sizeof(sig)));

	/* every range and embedded form the policy refuses, and public
	 * addresses beside them that pass (RFC 6890 special-purpose registries) */
	static const struct {
		const char *literal;
		bool refused;
	} policy[] = {
		{ "0.0.0.0", true },
		{ "0.255.1.2", true }, /* 0/8 */
		{ "10.1.2.3", true },
		{ "11.0.0.1", false }, /* 10/8 */
		{ "100.64.0.1", true },
		{ "100.127.255.254", true }, /* 100.64/10 CGNAT */
		{ "100.128.0.1", false },
		{ "127.0.0.1", true }, /* loopback */
		{ "169.254.169.254", true },
		{ "169.255.0.1", false }, /* link-local, metadata */
		{ "172.16.0.1", true },
		{ "172.31.255.255", true },
		{ "172.32.0.1", false },
		{ "192.0.0.8", true },
		{ "192.0.1.1", false }, /* 192.0.0/24 */
		/* TEST-NETs */
		{ "192.0.2.1", true },
		{ "198.51.100.7", true },
		{ "203.0.113.9", true },
		/* 198.18/15 */
		{ "198.18.0.1", true },
		{ "198.19.255.254", true },
		{ "198.20.0.1", false },
		{ "192.168.1.1", true },
		{ "224.0.0.1", true },
		{ "239.255.255.250", true },
		{ "240.0.0.1", true },
		{ "255.255.255.255", true }, /* 240/4, broadcast */
		{ "93.184.216.34", false },
		{ "8.8.8.8", false },
		{ "::", true },
		{ "::1", true },       /* unspecified, loopback */
		{ "::8.8.8.8", true }, /* IPv4-compatible (deprecated): refused whole */
		{ "::ffff:127.0.0.1", true },
		{ "::ffff:8.8.8.8", false }, /* IPv4-mapped */
		{ "::ffff:0:10.0.0.1", true },
		{ "::ffff:0:8.8.8.8", false }, /* IPv4-translated */
		/* NAT64 of 127.0.0.1, 169.254.169.254 */
		{ "64:ff9b::7f00:1", true },
		{ "64:ff9b::a9fe:a9fe", true },
		{ "64:ff9b::808:808", false },  /* NAT64 of 8.8.8.8 */
		{ "64:ff9b:1::808:808", true }, /* local-use NAT64: any mapping */
		{ "2002:7f00:1::1", true },
		{ "2002:c0a8:101::1", true },                      /* 6to4 of 127.0.0.1, 192.168.1.1 */
		{ "2002:808:808::1", false },                      /* 6to4 of 8.8.8.8 */
		{ "2001:0:4136:e378:8000:63bf:f5ff:fffe", true },  /* Teredo, client 10.0.0.1 (obfuscated) */
		{ "2001:0:a00:1:8000:63bf:f7f7:f7f7", true },      /* Teredo, server 10.0.0.1 */
		{ "2001:0:4136:e378:8000:63bf:f7f7:f7f7", false }, /* Teredo, server 65.54.227.120, client 8.8.8.8 */
		{ "2001:db8::1", true },                           /* documentation */
		{ "100::1", true },                                /* discard */
		{ "fc00::1", true },
		{ "fd00::1", true }, /* unique local */
		{ "fe80::1", true },
		{ "febf::1", true }, /* link-local */
		{ "fec0::1", true },
		{ "feff::1", true }, /* site-local (deprecated) */
		{ "ff02::1", true }, /* multicast */
		{ "2606:4700::1111", false },
		{ "2a00:1450:4001::200e", false },
	};
	for (size_t i = 0; i < sizeof(policy) / sizeof(policy[0]); i++)
		expect_private(policy[i].literal, policy[i].refused);

	/* key rotation: one v1 signature per secret, the new first */
	const char *rotating[2] = { "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
				    "whsec_Q0Q0Q0Q0Q0Q0Q0Q0Q0Q0Q0Q0Q0Q0Q0Q0" };
	char both[400], second[128];
	ASSERT_EQ_INT(0, webhook_sign_all(rotating, 2, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
					  both, sizeof(both)));
	ASSERT_EQ_INT(0, webhook_sign(rotating[1], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
				      second, sizeof(second)));
	char want[400];
	snprintf(want, sizeof(want), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= %s", second);
	ASSERT_EQ_STR(want, both);
	ASSERT_EQ_INT(PW_EINVAL, webhook_sign_all(rotating, 2, "m", 1, "x", 1, both, 60)); /* too small for two */

	/* the endpoint gauges' count: every 5 s, or 50 times what it took
	 * once that is longer (at most 1/50 of the dispatcher's time) */
	CHECK(webhook_gauges_interval_ms(0) == 5000);
	CHECK(webhook_gauges_interval_ms(-3) == 5000);
	CHECK(webhook_gauges_interval_ms(100) == 5000);
	CHECK(webhook_gauges_interval_ms(101) == 5050);
	CHECK(webhook_gauges_interval_ms(3000) == 150000);

	/* what an answer means */
	static const uint32_t schedule[] = { 0, 5, 300 };
	double delay = -1;
	ASSERT_EQ_INT(WEBHOOK_DELIVERED, webhook_classify(200, false, 1, schedule, 3, -1, 0.5, &delay));
	ASSERT_EQ_INT(WEBHOOK_DELIVERED, webhook_classify(204, false, 3, schedule, 3, -1, 0.5, &delay));
	ASSERT_EQ_INT(WEBHOOK_GONE, webhook_classify(410, false, 1, schedule, 3, -1, 0.5, &delay));
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(500, false, 1, schedule, 3, -1, 0.5, &delay));
	CHECK(delay > 4.99 && delay < 5.01); /* the middle of +-10 % */
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(500, false, 2, schedule, 3, -1, 0.0, &delay));
	CHECK(delay > 269.9 && delay < 270.1); /* 300 - 10 % */
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(0, true, 2, schedule, 3, -1, 1.0, &delay));
	CHECK(delay > 329.9 && delay < 330.1); /* a timeout: 300 + 10 % */
	/* schedule done */
	ASSERT_EQ_INT(WEBHOOK_FAILED, webhook_classify(500, false, 3, schedule, 3, -1, 0.5, &delay));
	ASSERT_EQ_INT(WEBHOOK_FAILED, webhook_classify(0, true, 3, schedule, 3, -1, 0.5, &delay));
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(429, false, 1, schedule, 3, 7, 0.5, &delay));
	CHECK(delay == 7); /* Retry-After */
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(503, false, 1, schedule, 3, 999999, 0.5, &delay));
	CHECK(delay == 86400); /* capped at a day */
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(500, false, 1, schedule, 3, 7, 0.5, &delay));
	CHECK(delay > 4.99 && delay < 5.01); /* Retry-After only on 429 and 503 */
	/* Retry-After asks for more time, never for less: "0" or a date
	 * past waits the schedule's delay (else a receiver answering 429 with
	 * Retry-After: 0 would run the three days of retries out at once) */
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(429, false, 2, schedule, 3, 0, 0.5, &delay));
	CHECK(delay > 299.9 && delay < 300.1);
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(503, false, 1, schedule, 3, 2, 0.5, &delay));
	CHECK(delay > 4.99 && delay < 5.01);
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(503, false, 2, schedule, 3, 301, 0.0, &delay));
	CHECK(delay == 301);

	/* redirects are not followed */
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(301, false, 1, schedule, 3, -1, 0.5, &delay));
	/* cut after the status */
	ASSERT_EQ_INT(WEBHOOK_RETRY, webhook_classify(200, true, 1, schedule, 3, -1, 0.5, &delay));

	/* what of a URL is shown: scheme, host and port, never user info, path, query */
	char shown[300];
	webhook_url_display("https://user:hookWORD1@hooks.example.com/acme/hookWORD2?key=hookWORD3#frag", shown,
			    sizeof(shown));
	ASSERT_EQ_STR("https://hooks.example.com:443", shown);
	webhook_url_display("http://[2606:4700::1111]:8080/x", shown, sizeof(shown));
	ASSERT_EQ_STR("http://[2606:4700::1111]:8080", shown);
	webhook_url_host("http://u:p@127.0.0.1:9/token", shown, sizeof(shown));
	ASSERT_EQ_STR("127.0.0.1:9", shown);
	webhook_url_display("not a url", shown, sizeof(shown));
	ASSERT_EQ_STR("(invalid URL)", shown);

	/* URLs: http(s) only, parsed by libcurl; no DNS */
	char err[256];
	ASSERT_EQ_INT(0, webhook_check_url("https://hooks.example.com:8443/h?token=x", err, sizeof(err)));
	ASSERT_EQ_INT(PW_EINVAL, webhook_check_url("not a url", err, sizeof(err)));
	ASSERT_EQ_INT(PW_EINVAL, webhook_check_url("ftp://example.com/h", err, sizeof(err)));
	CHECK(strstr(err, "only http and https") != NULL);

	/* through libcurl: its own resolution of "localhost", then the policy on
	 * the address it connects to (no request leaves: the socket is refused) */
	long status = -1;
	char why[512] = "";
	const char *secret[1] = { "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" };
	webhook_endpoint ep = { "acme", "default", "http://localhost:9/h", secret, 1 };
	int r = webhook_send_once(&ep, "msg_1", "{}", false, NULL, 2000, &status, why, sizeof(why));
	ASSERT_EQ_INT(PW_ECONN, r);
	CHECK(strstr(why, "host http://localhost:9 resolves to a loopback, private or link-local address") != NULL);
	if (!strstr(why, "loopback"))
		fprintf(stderr, "localhost: %s\n", why);
	/* allowed: the connection is attempted (port 9 on loopback: refused by the kernel) */
	why[0] = '\0';
	ep.url = "http://127.0.0.1:9/h";
	r = webhook_send_once(&ep, "msg_1", "{}", true, NULL, 2000, &status, why, sizeof(why));
	ASSERT_EQ_INT(PW_ECONN, r);
	CHECK(strstr(why, "loopback") == NULL);
	/* through an explicit proxy the target is resolved and checked by
	 * paywatch, before any connection (the proxy here is a closed port:
	 * nothing would answer anyway) */
	why[0] = '\0';
	ep.url = "http://localhost:9/h";
	r = webhook_send_once(&ep, "msg_1", "{}", false, "http://127.0.0.1:9", 2000, &status, why, sizeof(why));
	ASSERT_EQ_INT(PW_ECONN, r);
	CHECK(strstr(why, "resolves to a loopback, private or link-local address") != NULL);
	if (!strstr(why, "loopback"))
		fprintf(stderr, "through a proxy: %s\n", why);
	curl_global_cleanup();
	return test_finish("test_webhook");
}
