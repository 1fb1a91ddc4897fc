/* test_webhook.c: Standard Webhooks signing against the specification's
 * example (secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, id
 * msg_p5jXN8AQM9LWM0D4loKWxJek, timestamp 1614265330, body
 * {"test": 2432232314}; the expected value was recomputed with Python's
 * hmac/base64), and the target check's address classes. */
#include "pw_error.h"
#include "test.h"
#include "webhook.h"

#include <curl/curl.h>

static void expect_private(const char *url, bool refused)
{
	char *resolve = NULL, err[256] = "";
	int r = webhook_check_target(url, false, &resolve, err, sizeof(err));
	if ((r < 0) != refused)
		fprintf(stderr, "%s: r=%d err=%s\n", url, r, err);
	ASSERT_EQ_INT(refused, r < 0);
	free(resolve);
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
	expect_private("http://127.0.0.1:8080/h", true);
	expect_private("http://10.1.2.3/h", true);
	expect_private("http://172.16.0.1/h", true);
	expect_private("http://172.31.255.255/h", true);
	expect_private("http://192.168.1.1/h", true);
	expect_private("http://169.254.169.254/latest/meta-data", true); /* cloud metadata */
	expect_private("http://100.64.0.1/h", true);
	expect_private("http://0.0.0.0/h", true);
	expect_private("http://224.0.0.1/h", true);
	expect_private("http://[::1]/h", true);
	expect_private("http://[fe80::1]/h", true);
	expect_private("http://[fd00::1]/h", true);
	expect_private("http://[::ffff:127.0.0.1]/h", true);
	expect_private("http://localhost/h", true);
	/* public addresses pass (IP literals: no DNS needed) and are pinned */
	expect_private("https://93.184.216.34/h", false);
	expect_private("https://172.32.0.1/h", false);
	expect_private("https://[2606:4700::1111]/h", false);
	char *resolve = NULL, err[256];
	ASSERT_EQ_INT(0, webhook_check_target("https://93.184.216.34:8443/h", false, &resolve, err, sizeof(err)));
	ASSERT_EQ_STR("93.184.216.34:8443:93.184.216.34", resolve);
	free(resolve);
	resolve = NULL;
	ASSERT_EQ_INT(0, webhook_check_target("http://127.0.0.1:9/h", true, &resolve, err, sizeof(err))); /* allowed */
	free(resolve);
	ASSERT_EQ_INT(PW_EINVAL, webhook_check_target("not a url", false, &resolve, err, sizeof(err)));
	curl_global_cleanup();
	return test_finish("test_webhook");
}
