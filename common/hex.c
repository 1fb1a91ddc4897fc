/* hex.c: hex decoding/encoding for JSON-RPC DATA and QUANTITY values. */
#include "hex.h"
#include "pw_error.h"

#include <string.h>

int hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode_fixed(const char *s, size_t n, uint8_t *out, size_t out_len)
{
	uint8_t tmp[256];
	if (out_len > sizeof(tmp) || n != 2 + 2 * out_len || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return PW_EPARSE;
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_digit_value(s[2 + 2 * i]), lo = hex_digit_value(s[3 + 2 * i]);
		if (hi < 0 || lo < 0)
			return PW_EPARSE;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
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
