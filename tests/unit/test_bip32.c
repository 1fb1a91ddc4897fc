/* test_bip32.c: BIP-32 public derivation against the official vectors
 * (vectors/bip32_test_vectors.json, from bip-0032.mediawiki): every
 * non-hardened step of vectors 1-4 derived from its parent's xpub and
 * serialized again equals the vector's xpub; every key of vector 5
 * (invalid keys) is refused; anvil's account-level xpub
 * (m/44'/60'/0'/0, vectors/anvil_default_accounts_bip44_eth.json) gives
 * the 10 addresses of anvil's accounts (EIP-55); paths and refusals. */
#include "bip32.h"
#include "eip55.h"
#include "payment.h"
#include "pw_error.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Does path `child` extend `parent` by one non-hardened component? Its
 * index in *ret. */
static int one_step(const char *parent, const char *child, uint32_t *ret)
{
	size_t n = strlen(parent);
	if (strncmp(parent, child, n) != 0 || child[n] != '/')
		return 0;
	const char *c = child + n + 1;
	if (strchr(c, '/') || strchr(c, '\''))
		return 0;
	*ret = (uint32_t)strtoul(c, NULL, 10);
	return 1;
}

static void test_vectors(const char *dir)
{
	size_t len = 0;
	char *text = test_read_file(dir, "vectors/bip32_test_vectors.json", &len);
	CHECK(text != NULL);
	if (!text)
		return;
	cJSON *root = cJSON_Parse(text);
	free(text);
	const cJSON *v;
	int steps = 0, invalid = 0;
	cJSON_ArrayForEach (v, cJSON_GetObjectItem(root, "vectors")) {
		const cJSON *chains = cJSON_GetObjectItem(v, "chains");
		int n = cJSON_GetArraySize(chains);
		for (int i = 0; i < n; i++) {
			const cJSON *a = cJSON_GetArrayItem(chains, i);
			char err[200];
			bip32_pub k;
			ASSERT_EQ_INT(
				0, bip32_parse_xpub(cJSON_GetObjectItem(a, "xpub")->valuestring, &k, err, sizeof(err)));
			char back[BIP32_TEXT_MAX];
			bip32_format_xpub(&k, back);
			ASSERT_EQ_STR(cJSON_GetObjectItem(a, "xpub")->valuestring, back);
			for (int j = 0; j < n; j++) {
				const cJSON *b = cJSON_GetArrayItem(chains, j);
				uint32_t idx;
				if (!one_step(cJSON_GetObjectItem(a, "path")->valuestring,
					      cJSON_GetObjectItem(b, "path")->valuestring, &idx))
					continue;
				bip32_pub c;
				ASSERT_EQ_INT(0, bip32_derive_child(&k, idx, &c));
				char got[BIP32_TEXT_MAX];
				bip32_format_xpub(&c, got);
				ASSERT_EQ_STR(cJSON_GetObjectItem(b, "xpub")->valuestring, got);
				steps++;
			}
		}
		const cJSON *bad;
		cJSON_ArrayForEach (bad, cJSON_GetObjectItem(v, "invalid_extended_keys")) {
			bip32_pub k;
			char err[200] = "";
			int r = bip32_parse_xpub(cJSON_GetObjectItem(bad, "key")->valuestring, &k, err, sizeof(err));
			if (r != PW_EPARSE || !err[0])
				printf("not refused: %s (%s)\n", cJSON_GetObjectItem(bad, "key")->valuestring,
				       cJSON_GetObjectItem(bad, "reason")->valuestring);
			CHECK(r == PW_EPARSE && err[0]);
			invalid++;
		}
	}
	cJSON_Delete(root);
	CHECK(steps >= 5); /* vectors 1-4: m/0'/1, m/0'/1/2'/2, .../1000000000, m/0, m/0/2147483647'/1, ... */
	CHECK(invalid >= 15);
	printf("bip32: %d public steps of the official vectors, %d invalid keys refused\n", steps, invalid);
}

static void test_anvil(const char *dir)
{
	size_t len = 0;
	char *text = test_read_file(dir, "vectors/anvil_default_accounts_bip44_eth.json", &len);
	CHECK(text != NULL);
	if (!text)
		return;
	cJSON *root = cJSON_Parse(text);
	free(text);
	const cJSON *d = cJSON_GetObjectItem(root, "derived_not_in_source");
	char err[200];
	bip32_pub k;
	ASSERT_EQ_INT(
		0, bip32_parse_xpub(cJSON_GetObjectItem(d, "xpub_m/44'/60'/0'/0")->valuestring, &k, err, sizeof(err)));
	bip32_path p;
	ASSERT_EQ_INT(0, bip32_parse_path("*", &p, err, sizeof(err)));
	const cJSON *want;
	uint32_t i = 0;
	cJSON_ArrayForEach (want, cJSON_GetObjectItem(d, "eip55")) {
		bip32_pub c;
		ASSERT_EQ_INT(0, bip32_derive_path(&k, &p, i, &c));
		pw_addr addr;
		char shown[EIP55_TEXT_LEN];
		ASSERT_EQ_INT(0, bip32_key_address(c.key, &addr));
		CHECK(addr.len == 20);
		eip55_format(addr.b, shown);
		ASSERT_EQ_STR(want->valuestring, shown);
		i++;
	}
	CHECK(i == 10);
	cJSON_Delete(root);
}

static void test_paths(void)
{
	char err[200], out[64];
	bip32_path p;
	ASSERT_EQ_INT(0, bip32_parse_path("0/*", &p, err, sizeof(err)));
	bip32_format_path(&p, 17, out, sizeof(out));
	ASSERT_EQ_STR("0/17", out);
	ASSERT_EQ_INT(0, bip32_parse_path("1/2/*/3", &p, err, sizeof(err)));
	bip32_format_path(&p, 2147483647u, out, sizeof(out));
	ASSERT_EQ_STR("1/2/2147483647/3", out);
	static const char *const bad[] = {
		"", "0", "*/*", "0'/*", "0h/*", "2147483648/*", "a/*", "0//*", "/*", "*/", "1/2/3/4/5/6/7/8/*"
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		err[0] = '\0';
		ASSERT_EQ_INT(PW_EPARSE, bip32_parse_path(bad[k], &p, err, sizeof(err)));
		CHECK(err[0] != '\0');
	}
	ASSERT_EQ_INT(PW_EPARSE, bip32_parse_path("0'/*", &p, err, sizeof(err)));
	CHECK(strstr(err, "hardened") != NULL);
	/* a private key is refused by name, and the message never quotes it */
	const char *xprv =
		"xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi";
	bip32_pub k;
	ASSERT_EQ_INT(PW_EPARSE, bip32_parse_xpub(xprv, &k, err, sizeof(err)));
	CHECK(strstr(err, "private key") != NULL && strstr(err, "xprv9s21") == NULL);
	const char *xpub =
		"xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8";
	ASSERT_EQ_INT(0, bip32_parse_xpub(xpub, &k, err, sizeof(err)));
	bip32_pub c;
	ASSERT_EQ_INT(PW_EINVAL, bip32_derive_child(&k, BIP32_HARDENED, &c));
	char typo[BIP32_TEXT_MAX];
	strcpy(typo, xpub);
	typo[50] = typo[50] == 'a' ? 'b' : 'a';
	ASSERT_EQ_INT(PW_EPARSE, bip32_parse_xpub(typo, &k, err, sizeof(err)));
	CHECK(strstr(err, "checksum") != NULL);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "../shared/fixtures";
	test_vectors(dir);
	test_anvil(dir);
	test_paths();
	return test_finish("test_bip32");
}
