/* test_tron_address.c: the Tron address codec (Base58Check of 0x41 + the 20
 * bytes logs carry) against ../shared/fixtures/vectors/tron_address_vectors.json:
 * every valid pair both ways, through the family's config parser (T... and
 * 41... input) and the canonical writer Postgres and webhooks get; every
 * invalid string refused; Base58 round trips with leading zero bytes. */
#include "base58.h"
#include "chain.h"
#include "hex.h"
#include "idfmt.h"
#include "pw_error.h"
#include "test.h"

#include <cjson/cJSON.h>

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'F')
			*s = (char)(*s - 'A' + 'a');
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	char *text = test_read_file(argv[1], "vectors/tron_address_vectors.json", NULL);
	cJSON *root = cJSON_Parse(text);
	free(text);
	CHECK(root != NULL);
	const chain_family *tron = chain_family_find("tron");
	CHECK(tron != NULL);
	if (!root || !tron)
		return test_finish("test_tron_address");
	int valid = 0, invalid = 0;
	const cJSON *v;
	cJSON_ArrayForEach (v, cJSON_GetObjectItem(root, "valid")) {
		const char *b58 = cJSON_GetObjectItem(v, "base58")->valuestring;
		const cJSON *src = cJSON_GetObjectItem(v, "hex41_from_source");
		const cJSON *chk = cJSON_GetObjectItem(cJSON_GetObjectItem(v, "collector_check"), "decoded_hex41");
		char hex41[64];
		snprintf(hex41, sizeof(hex41), "%s", cJSON_IsString(src) ? src->valuestring : chk->valuestring);
		lower(hex41);
		/* T... as a config writes it */
		pw_addr a, b;
		char err[256], out[PW_ADDR_TEXT_MAX], hex[64];
		ASSERT_EQ_INT(0, tron->parse_address(b58, &a, err, sizeof(err)));
		ASSERT_EQ_INT(20, a.len);
		hex_encode(a.b, 20, hex); /* "0x" + 40 */
		ASSERT_EQ_STR(hex41 + 2, hex + 2);
		ASSERT_EQ_INT(0, strncmp(hex41, "41", 2));
		/* the canonical text (Postgres, webhooks) is the T... form */
		pw_format_address(PW_FAMILY_TRON, &a, out);
		ASSERT_EQ_STR(b58, out);
		tron->format_address_input(&a, out);
		ASSERT_EQ_STR(b58, out);
		ASSERT_EQ_INT(0, pw_parse_address(PW_FAMILY_TRON, b58, &b));
		CHECK(pw_addr_eq(&a, &b));
		/* the same address in hex, as java-tron and TronGrid also write it */
		ASSERT_EQ_INT(0, tron->parse_address(hex41, &b, err, sizeof(err)));
		CHECK(pw_addr_eq(&a, &b));
		char upper[64];
		snprintf(upper, sizeof(upper), "0x%s", cJSON_IsString(src) ? src->valuestring : hex41);
		ASSERT_EQ_INT(0, tron->parse_address(upper, &b, err, sizeof(err)));
		CHECK(pw_addr_eq(&a, &b));
		/* one character changed: the checksum catches it */
		char typo[64];
		snprintf(typo, sizeof(typo), "%s", b58);
		typo[10] = typo[10] == 'a' ? 'b' : 'a';
		ASSERT_EQ_INT(PW_ECHECKSUM, tron->parse_address(typo, &b, err, sizeof(err)));
		CHECK(strstr(err, "checksum") != NULL);
		ASSERT_EQ_INT(PW_ECHECKSUM, pw_parse_address(PW_FAMILY_TRON, typo, &b));
		valid++;
	}
	cJSON_ArrayForEach (v, cJSON_GetObjectItem(root, "invalid")) {
		const char *s = cJSON_GetObjectItem(v, "string")->valuestring;
		pw_addr a;
		char err[256] = "";
		CHECK(tron->parse_address(s, &a, err, sizeof(err)) < 0);
		CHECK(err[0] != '\0');
		CHECK(pw_parse_address(PW_FAMILY_TRON, s, &a) < 0);
		invalid++;
	}
	cJSON_Delete(root);
	ASSERT_EQ_INT(6, valid);
	ASSERT_EQ_INT(6, invalid);

	/* a valid Base58Check of another version byte (Bitcoin P2PKH) is not Tron's */
	pw_addr a;
	char err[256];
	ASSERT_EQ_INT(PW_EPARSE, tron->parse_address("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", &a, err, sizeof(err)));
	CHECK(strstr(err, "0x41") != NULL);

	/* Base58: leading zero bytes are leading '1's, both ways */
	uint8_t in[40], back[40];
	char enc[128];
	size_t n;
	for (int len = 1; len <= 40; len++) {
		for (int i = 0; i < len; i++)
			in[i] = i < len / 3 ? 0 : (uint8_t)(i * 37 + len);
		CHECK(base58_encode(in, (size_t)len, enc, sizeof(enc)) > 0);
		ASSERT_EQ_INT(0, base58_decode(enc, back, sizeof(back), &n));
		ASSERT_EQ_INT(len, n);
		CHECK(memcmp(in, back, (size_t)len) == 0);
		CHECK(base58check_encode(in, (size_t)len, enc, sizeof(enc)) > 0);
		ASSERT_EQ_INT(0, base58check_decode(enc, back, sizeof(back), &n));
		ASSERT_EQ_INT(len, n);
	}
	ASSERT_EQ_INT(PW_EPARSE, base58_decode("0OIl", back, sizeof(back), &n)); /* outside the alphabet */
	ASSERT_EQ_INT(PW_EPARSE, base58_decode("", back, sizeof(back), &n));
	ASSERT_EQ_INT(PW_ERANGE, base58_decode("zzzzzzzzzzzzzzzz", back, 4, &n));
	ASSERT_EQ_INT(0, base58_encode(in, 20, enc, 5)); /* out too small */
	return test_finish("test_tron_address");
}
