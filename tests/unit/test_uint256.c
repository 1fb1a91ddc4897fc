/* test_uint256.c: uint256 parsing and exact decimal formatting. */
#include "pw_error.h"
#include "test.h"
#include "uint256.h"

static void check_hex_dec(const char *hex, const char *dec)
{
	uint8_t v[32];
	char out[U256_DEC_MAX];
	ASSERT_EQ_INT(0, u256_from_hex(hex, v));
	u256_to_dec(v, out);
	ASSERT_EQ_STR(dec, out);
	uint8_t back[32];
	ASSERT_EQ_INT(0, u256_from_dec(dec, back));
	CHECK(memcmp(v, back, 32) == 0);
}

static void check_units(const char *dec, unsigned decimals, const char *want)
{
	uint8_t v[32];
	char out[U256_DEC_MAX];
	ASSERT_EQ_INT(0, u256_from_dec(dec, v));
	ASSERT_EQ_INT(0, u256_format_units(v, decimals, out));
	ASSERT_EQ_STR(want, out);
}

int main(void)
{
	uint8_t v[32];
	static const char max_hex[] = "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
	static const char max_dec[] = "115792089237316195423570985008687907853269984665640564039457584007913129639935";

	check_hex_dec("0x0", "0");
	check_hex_dec("0x1", "1");
	check_hex_dec(max_hex, max_dec);
	check_hex_dec("0x0000000000000000000000000000000000000000000000000000000000bebc20", "12500000");
	check_hex_dec("0xabc", "2748"); /* odd length */
	check_hex_dec("0x3b9aca00", "1000000000");
	check_hex_dec("0x100000000000000000000000000000000000000000000000000", /* 2^200 */
		      "1606938044258990275541962092341162602522202993782792835301376");
	/* leading zeros beyond 64 digits are still the same number */
	check_hex_dec("0x000000000000000000000000000000000000000000000000000000000000000001", "1");

	/* 65 digits */
	ASSERT_EQ_INT(PW_ERANGE,
		      u256_from_hex("0x1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", v));
	ASSERT_EQ_INT(PW_EPARSE, u256_from_hex("0x12g4", v));
	ASSERT_EQ_INT(PW_EPARSE, u256_from_hex("0x", v));
	ASSERT_EQ_INT(PW_EPARSE, u256_from_hex("1234", v));
	ASSERT_EQ_INT(
		PW_ERANGE,
		u256_from_dec("115792089237316195423570985008687907853269984665640564039457584007913129639936", v));
	ASSERT_EQ_INT(PW_EPARSE, u256_from_dec("12a", v));
	ASSERT_EQ_INT(PW_EPARSE, u256_from_dec("", v));

	check_units("0", 0, "0");
	check_units("0", 6, "0");
	check_units("0", 18, "0");
	check_units("12500000", 6, "12.5");
	check_units("12500000", 0, "12500000");
	check_units("1", 6, "0.000001");
	check_units("1000000", 6, "1");
	check_units("1", 18, "0.000000000000000001");
	check_units("1234567890123456789012", 18, "1234.567890123456789012");
	check_units(max_dec, 18, "115792089237316195423570985008687907853269984665640564039457.584007913129639935");
	check_units(max_dec, 77, "1.15792089237316195423570985008687907853269984665640564039457584007913129639935");
	char out[U256_DEC_MAX];
	ASSERT_EQ_INT(PW_EINVAL, u256_format_units(v, 78, out));
	CHECK(!u256_is_zero(v) || true);
	ASSERT_EQ_INT(0, u256_from_hex("0x00", v));
	CHECK(u256_is_zero(v));
	return test_finish("test_uint256");
}
