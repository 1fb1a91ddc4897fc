/* test_hex.c: DATA and QUANTITY hex parsing per the JSON-RPC spec. */
#include "hex.h"
#include "pw_error.h"
#include "test.h"

#include <string.h>

int main(void)
{
	uint8_t out[4] = { 9, 9, 9, 9 };
	uint64_t q = 77;
	char text[16];

	ASSERT_EQ_INT(0, hex_decode_fixed("0xdeadBEEF", 10, out, 4));
	ASSERT_EQ_INT(0xde, out[0]);
	ASSERT_EQ_INT(0xef, out[3]);
	ASSERT_EQ_INT(PW_EPARSE, hex_decode_fixed("0xdeadbee", 9, out, 4));     /* odd length */
	ASSERT_EQ_INT(PW_EPARSE, hex_decode_fixed("0xdeadbeef00", 12, out, 4)); /* too long */
	ASSERT_EQ_INT(PW_EPARSE, hex_decode_fixed("deadbeef00", 10, out, 4));   /* no prefix */
	ASSERT_EQ_INT(PW_EPARSE, hex_decode_fixed("0xdeadbeeg", 10, out, 4));   /* non-hex */
	ASSERT_EQ_INT(0xde, out[0]);                                            /* untouched on error */

	/* every byte value, as the high and as the low digit of a byte and
	 * at the end of a 32-byte hash: a hex digit (either case) decodes to
	 * its value, any other byte (NUL, bytes above 0x7f) is refused */
	int refused = 0, wrong = 0;
	for (int c = 0; c < 256; c++) {
		int want = c >= '0' && c <= '9'   ? c - '0'
			   : c >= 'a' && c <= 'f' ? c - 'a' + 10
			   : c >= 'A' && c <= 'F' ? c - 'A' + 10
						  : -1;
		char pair[4] = { '0', 'x', (char)c, '7' }, hash[66];
		uint8_t b = 0, h[32];
		wrong += hex_digit_value((char)c) != want;
		int r1 = hex_decode_fixed(pair, 4, &b, 1);
		wrong += want < 0 ? r1 != PW_EPARSE : (r1 != 0 || b != (uint8_t)(want << 4 | 7));
		pair[2] = '7', pair[3] = (char)c;
		int r2 = hex_decode_fixed(pair, 4, &b, 1);
		wrong += want < 0 ? r2 != PW_EPARSE : (r2 != 0 || b != (uint8_t)(7 << 4 | want));
		memset(hash, 'a', sizeof(hash));
		hash[0] = '0', hash[1] = 'x', hash[65] = (char)c;
		int r3 = hex_decode_fixed(hash, 66, h, 32);
		wrong += want < 0 ? r3 != PW_EPARSE : (r3 != 0 || h[0] != 0xaa || h[31] != (uint8_t)(0xa0 | want));
		refused += want < 0;
	}
	ASSERT_EQ_INT(0, wrong);
	ASSERT_EQ_INT(256 - 22, refused);

	ASSERT_EQ_INT(0, hex_parse_quantity("0x0", &q));
	ASSERT_EQ_INT(0, q);
	ASSERT_EQ_INT(0, hex_parse_quantity("0xf42400", &q));
	ASSERT_EQ_INT(16000000, q);
	ASSERT_EQ_INT(0, hex_parse_quantity("0xffffffffffffffff", &q));
	CHECK(q == UINT64_MAX);
	ASSERT_EQ_INT(PW_ERANGE, hex_parse_quantity("0x10000000000000000", &q));
	ASSERT_EQ_INT(PW_EPARSE, hex_parse_quantity("0x", &q));
	ASSERT_EQ_INT(PW_EPARSE, hex_parse_quantity("12", &q));
	ASSERT_EQ_INT(PW_EPARSE, hex_parse_quantity("0x1z", &q));
	ASSERT_EQ_INT(PW_EPARSE, hex_parse_quantity("0x-1", &q));

	uint8_t bytes[3] = { 0x00, 0xab, 0x10 };
	hex_encode(bytes, 3, text);
	ASSERT_EQ_STR("0x00ab10", text);
	return test_finish("test_hex");
}
