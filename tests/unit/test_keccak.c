/* test_keccak.c: Keccak-256 against the Keccak team's ShortMsgKAT_256
 * (byte-aligned entries) and the ERC-20 Transfer topic. */
#include "hex.h"
#include "keccak.h"
#include "test.h"

#include <ctype.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_keccak FIXTURES_DIR\n");
		return 2;
	}
	char *kat = test_read_file(argv[1], "vectors/keccak256_ShortMsgKAT_256.txt", NULL);
	int vectors = 0;
	char *save = NULL;
	long len_bits = -1;
	char *msg = NULL;
	for (char *line = strtok_r(kat, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "Len = ", 6) == 0) {
			len_bits = strtol(line + 6, NULL, 10);
		} else if (strncmp(line, "Msg = ", 6) == 0) {
			msg = line + 6;
		} else if (strncmp(line, "MD = ", 5) == 0 && msg && len_bits >= 0 && len_bits % 8 == 0) {
			size_t n = (size_t)len_bits / 8;
			uint8_t *data = malloc(n + 1), md[32], want[32];
			char hex[3] = { 0 };
			for (size_t i = 0; i < n; i++) {
				hex[0] = msg[2 * i];
				hex[1] = msg[2 * i + 1];
				data[i] = (uint8_t)strtoul(hex, NULL, 16);
			}
			for (int i = 0; i < 32; i++) {
				hex[0] = line[5 + 2 * i];
				hex[1] = line[6 + 2 * i];
				want[i] = (uint8_t)strtoul(hex, NULL, 16);
			}
			keccak256(data, n, md);
			if (memcmp(md, want, 32) != 0)
				fprintf(stderr, "KAT mismatch at Len = %ld\n", len_bits);
			CHECK(memcmp(md, want, 32) == 0);
			vectors++;
			free(data);
			msg = NULL;
		}
	}
	free(kat);
	printf("keccak KAT vectors checked: %d\n", vectors);
	CHECK(vectors >= 256); /* 0..2040 bits in steps of 8, plus longer */

	uint8_t topic[32];
	char text[67];
	const char sig[] = "Transfer(address,address,uint256)";
	keccak256(sig, strlen(sig), topic);
	hex_encode(topic, 32, text);
	ASSERT_EQ_STR("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef", text);

	/* a multi-block input (> 136-byte rate) */
	uint8_t big[1000], a[32], b[32];
	memset(big, 'a', sizeof(big));
	keccak256(big, sizeof(big), a);
	keccak256(big, sizeof(big), b);
	CHECK(memcmp(a, b, 32) == 0);
	return test_finish("test_keccak");
}
