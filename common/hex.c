/* hex.c: hex decoding/encoding for JSON-RPC DATA and QUANTITY values. */
#include "hex.h"
#include "pw_error.h"

#include <string.h>

/* A hex digit's value plus one, by byte; 0 for every other byte. A table:
 * a hash's digits are random between 0-9 and a-f, so a comparison per
 * digit is a mispredicted branch per digit (hex_decode_fixed is the
 * ingest's hot path, five hashes and an amount per log). */
static const uint8_t digit_plus_one[256] = {
	['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
	['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int hex_digit_value(char c)
{
	return (int)digit_plus_one[(unsigned char)c] - 1;
}

int hex_decode_fixed(const char *s, size_t n, uint8_t *out, size_t out_len)
{
	uint8_t tmp[256];
	if (out_len > sizeof(tmp) || n != 2 + 2 * out_len || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return PW_EPARSE;
	const unsigned char *d = (const unsigned char *)s + 2;
	int bad = 0; /* negative once any digit is not hex: checked after the loop, no branch per digit */
	for (size_t i = 0; i < out_len; i++) {
		int hi = (int)digit_plus_one[d[2 * i]] - 1, lo = (int)digit_plus_one[d[2 * i + 1]] - 1;
		bad |= hi | lo;
		tmp[i] = (uint8_t)((unsigned)hi << 4 | (unsigned)lo);
	}
	if (bad < 0)
		return PW_EPARSE;
	memcpy(out, tmp, out_len);
	return 0;
}

int hex_parse_quantity(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || s[2] == '\0')
		return PW_EPARSE;
	for (const char *p = s + 2; *p; p++) {
		int d = hex_digit_value(*p);
		if (d < 0)
			return PW_EPARSE;
		if (v >> 60)
			return PW_ERANGE;
		v = v << 4 | (uint64_t)d;
	}
	*ret = v;
	return 0;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	out[0] = '0';
	out[1] = 'x';
	for (size_t i = 0; i < n; i++) {
		out[2 + 2 * i] = digits[in[i] >> 4];
		out[3 + 2 * i] = digits[in[i] & 15];
	}
	out[2 + 2 * n] = '\0';
}
