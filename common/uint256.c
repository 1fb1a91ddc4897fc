/* uint256.c: parsing and exact decimal formatting of big-endian uint256. */
#include "uint256.h"
#include "hex.h"
#include "pw_error.h"

#include <string.h>

int u256_from_hex(const char *s, uint8_t out[32])
{
	uint8_t v[32] = { 0 };
	if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return PW_EPARSE;
	const char *d = s + 2;
	size_t n = strlen(d);
	if (n == 0)
		return PW_EPARSE;
	for (size_t i = 0; i < n; i++)
		if (hex_digit_value(d[i]) < 0)
			return PW_EPARSE;
	while (n > 64 && *d == '0')
		d++, n--;
	if (n > 64)
		return PW_ERANGE;
	/* fill from the least significant digit */
	for (size_t i = 0; i < n; i++) {
		int dv = hex_digit_value(d[n - 1 - i]);
		v[31 - i / 2] |= (uint8_t)(i % 2 ? dv << 4 : dv);
	}
	memcpy(out, v, 32);
	return 0;
}

int u256_from_dec(const char *s, uint8_t out[32])
{
	uint8_t v[32] = { 0 };
	if (!s || !*s)
		return PW_EPARSE;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return PW_EPARSE;
		unsigned carry = (unsigned)(*s - '0');
		for (int i = 31; i >= 0; i--) { /* v = v*10 + digit */
			unsigned x = v[i] * 10u + carry;
			v[i] = (uint8_t)x;
			carry = x >> 8;
		}
		if (carry)
			return PW_ERANGE;
	}
	memcpy(out, v, 32);
	return 0;
}

bool u256_is_zero(const uint8_t v[32])
{
	for (int i = 0; i < 32; i++)
		if (v[i])
			return false;
	return true;
}

void u256_to_dec(const uint8_t v[32], char out[U256_DEC_MAX])
{
	/* repeated division by 10^9 over 32-bit limbs */
	uint32_t limb[8];
	char rev[U256_DEC_MAX];
	size_t n = 0;
	for (int i = 0; i < 8; i++)
		limb[i] = (uint32_t)v[4 * i] << 24 | (uint32_t)v[4 * i + 1] << 16 | (uint32_t)v[4 * i + 2] << 8 |
			  v[4 * i + 3];
	for (;;) {
		uint64_t rem = 0;
		bool nonzero = false;
		for (int i = 0; i < 8; i++) {
			uint64_t cur = rem << 32 | limb[i];
			limb[i] = (uint32_t)(cur / 1000000000u);
			rem = cur % 1000000000u;
			nonzero |= limb[i] != 0;
		}
		for (int k = 0; k < 9; k++) {
			rev[n++] = (char)('0' + rem % 10);
			rem /= 10;
			if (!nonzero && rem == 0)
				break;
		}
		if (!nonzero)
			break;
	}
	while (n > 1 && rev[n - 1] == '0')
		n--;
	for (size_t i = 0; i < n; i++)
		out[i] = rev[n - 1 - i];
	out[n] = '\0';
}

int u256_format_units(const uint8_t v[32], unsigned decimals, char out[U256_DEC_MAX])
{
	char digits[U256_DEC_MAX];
	if (decimals > 77)
		return PW_EINVAL;
	u256_to_dec(v, digits);
	size_t n = strlen(digits);
	if (decimals == 0) {
		memcpy(out, digits, n + 1);
		return 0;
	}
	/* left-pad so there is at least one integer digit */
	char padded[2 * U256_DEC_MAX];
	size_t pad = n <= decimals ? decimals + 1 - n : 0;
	memset(padded, '0', pad);
	memcpy(padded + pad, digits, n + 1);
	n += pad;
	size_t int_len = n - decimals;
	size_t frac_len = decimals;
	while (frac_len > 0 && padded[int_len + frac_len - 1] == '0')
		frac_len--;
	memcpy(out, padded, int_len);
	if (frac_len) {
		out[int_len] = '.';
		memcpy(out + int_len + 1, padded + int_len, frac_len);
		out[int_len + 1 + frac_len] = '\0';
	} else {
		out[int_len] = '\0';
	}
	return 0;
}
