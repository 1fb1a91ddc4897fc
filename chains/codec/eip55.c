/* eip55.c: EIP-55 checksum: a hex letter is uppercase when the matching
 * nibble of keccak256(lowercase hex address, without 0x) is >= 8. */
#include "eip55.h"
#include "hex.h"
#include "keccak.h"
#include "pw_error.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

void eip55_format(const uint8_t addr[20], char out[EIP55_TEXT_LEN])
{
	uint8_t h[32];
	hex_encode(addr, 20, out);
	keccak256(out + 2, 40, h);
	for (int i = 0; i < 40; i++) {
		unsigned nibble = i % 2 ? h[i / 2] & 15 : h[i / 2] >> 4;
		char *c = &out[2 + i];
		if (*c >= 'a' && *c <= 'f' && nibble >= 8)
			*c = (char)toupper((unsigned char)*c);
	}
}

int eip55_parse(const char *s, uint8_t out[20])
{
	uint8_t addr[20];
	if (!s || strlen(s) != 42 || hex_decode_fixed(s, 42, addr, 20) < 0)
		return PW_EPARSE;
	bool has_lower = false, has_upper = false;
	for (int i = 2; i < 42; i++) {
		has_lower |= s[i] >= 'a' && s[i] <= 'f';
		has_upper |= s[i] >= 'A' && s[i] <= 'F';
	}
	if (has_lower && has_upper) {
		char want[EIP55_TEXT_LEN];
		eip55_format(addr, want);
		if (memcmp(want + 2, s + 2, 40) != 0)
			return PW_ECHECKSUM;
	}
	memcpy(out, addr, 20);
	return 0;
}
