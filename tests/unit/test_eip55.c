/* test_eip55.c: EIP-55 checksum against the vectors in the EIP itself. */
#include "eip55.h"
#include "pw_error.h"
#include "test.h"

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	char *eip = test_read_file(argv[1], "vectors/eip-55.md", NULL);
	const char *sec = strstr(eip, "# Test Cases");
	CHECK(sec != NULL);
	int vectors = 0;
	for (const char *p = sec; p && (p = strstr(p, "0x")) != NULL; p += 42) {
		char addr[43];
		if (strlen(p) < 42)
			break;
		memcpy(addr, p, 42);
		addr[42] = '\0';
		uint8_t bytes[20];
		char formatted[EIP55_TEXT_LEN];
		ASSERT_EQ_INT(0, eip55_parse(addr, bytes));
		eip55_format(bytes, formatted);
		ASSERT_EQ_STR(addr, formatted);
		vectors++;
		/* flip the case of one letter: the checksum must now fail */
		for (int i = 2; i < 42; i++) {
			if ((addr[i] >= 'a' && addr[i] <= 'f') || (addr[i] >= 'A' && addr[i] <= 'F')) {
				addr[i] ^= 0x20;
				break;
			}
		}
		int r = eip55_parse(addr, bytes);
		/* all-caps vectors become mixed case: must fail; mixed ones too */
		ASSERT_EQ_INT(PW_ECHECKSUM, r);
	}
	free(eip);
	ASSERT_EQ_INT(8, vectors);

	uint8_t b[20];
	ASSERT_EQ_INT(0, eip55_parse("0x70997970c51812dc3a010c7d01b50e0d17dc79c8", b)); /* lowercase ok */
	ASSERT_EQ_INT(0, eip55_parse("0x70997970C51812DC3A010C7D01B50E0D17DC79C8", b)); /* uppercase ok */
	ASSERT_EQ_INT(0, eip55_parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", b));
	ASSERT_EQ_INT(PW_ECHECKSUM, eip55_parse("0x70997970C51812dc3A010C7d01b50e0d17dc79c8", b));
	ASSERT_EQ_INT(PW_EPARSE, eip55_parse("0x70997970c51812dc3a010c7d01b50e0d17dc79", b));
	ASSERT_EQ_INT(PW_EPARSE, eip55_parse("70997970c51812dc3a010c7d01b50e0d17dc79c8aa", b));
	ASSERT_EQ_INT(PW_EPARSE, eip55_parse("0xz0997970c51812dc3a010c7d01b50e0d17dc79c8", b));
	return test_finish("test_eip55");
}
