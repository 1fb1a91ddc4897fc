/* test_webhook.c: Standard Webhooks signing against the specification's
 * example (secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, id
 * msg_p5jXN8AQM9LWM0D4loKWxJek, timestamp 1614265330, body
 * {"test": 2432232314}; the expected value was recomputed with Python's
 * hmac/base64), the address policy for webhook targets, and that policy
 * applied by libcurl to the address it resolved and connects to. */
#include "pw_error.h"
#include "test.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>

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

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	char sig[128];
	const char body[] = "{\"test\": 2432232314}";
	ASSERT_EQ_INT(0, webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
				      strlen(body), sig, sizeof(sig)));
	ASSERT_EQ_STR("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig);
	/* one byte changed in the body changes the signature */
	ASSERT_EQ_INT(0, webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
				      "{\"test\": 2432232315}", strlen(body), sig, sizeof(sig)));
	CHECK(strcmp(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") != 0);
	ASSERT_EQ_INT(PW_EINVAL, webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, "x", 1, sig, sizeof(sig)));
	ASSERT_EQ_INT(PW_EINVAL, webhook_sign("whsec_!!!", "m", 1, "x", 1, sig, sizeof(sig)));

	/* private, loopback, link-local, CGNAT, multicast: refused by default */
	expect_private("127.0.0.1", true);
	expect_private("10.1.2.3", true);
	expect_private("172.16.0.1", true);
	expect_private("172.31.255.255", true);
	expect_private("192.168.1.1", true);
	expect_private("169.254.169.254", true); /* cloud metadata */
	expect_private("100.64.0.1", true);
	expect_private("0.0.0.0", true);
	expect_private("224.0.0.1", true);
	expect_private("::1", true);
	expect_private("fe80::1", true);
	expect_private("fd00::1", true);
	expect_private("::ffff:127.0.0.1", true);
	/* public addresses pass */
	expect_private("93.184.216.34", false);
	expect_private("172.32.0.1", false);
	expect_private("2606:4700::1111", false);

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
	int r = webhook_send_once("http://localhost:9/h", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", "{}", false, 2000,
				  &status, why, sizeof(why));
	ASSERT_EQ_INT(PW_ECONN, r);
	CHECK(strstr(why, "host localhost:9 resolves to a loopback, private or link-local address") != NULL);
	if (!strstr(why, "loopback"))
		fprintf(stderr, "localhost: %s\n", why);
	/* allowed: the connection is attempted (port 9 on loopback: refused by the kernel) */
	why[0] = '\0';
	r = webhook_send_once("http://127.0.0.1:9/h", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", "{}", true, 2000,
			      &status, why, sizeof(why));
	ASSERT_EQ_INT(PW_ECONN, r);
	CHECK(strstr(why, "loopback") == NULL);
	curl_global_cleanup();
	return test_finish("test_webhook");
}
