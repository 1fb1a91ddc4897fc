/* test_hex.c: DATA and QUANTITY hex parsing per the JSON-RPC spec. */
#include "hex.h"
#include "pw_error.h"
#include "test.h"

int main(void)
{
	uint8_t out[4] = { 9, 9, 9, 9 };
	uint64_t q = 77;
	char text[16];

	ASSERT_EQ_INT(0, hex_decode_fixed("0xdeadBEEF", 10, out, 4));
	ASSERT_EQ_INT(0xde, out[0]);
	ASSERT_EQ_INT(0xef, out[3]);
	ASSERT_EQ_INT(PW_EPARSE, hex_decode_fixed("0xdeadbee", 9, out, 4)); /* odd length */
	ASSERT_EQ_INT(PW_EPARSE, hex_decode_fixed("0xdeadbeef00", 12, out, 4)); /* too long */
	ASSERT_EQ_INT(PW_EPARSE, hex_decode_fixed("deadbeef00", 10, out, 4)); /* no prefix */
	ASSERT_EQ_INT(PW_EPARSE, hex_decode_fixed("0xdeadbeeg", 10, out, 4)); /* non-hex */
	ASSERT_EQ_INT(0xde, out[0]); /* untouched on error */

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
