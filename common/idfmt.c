/* idfmt.c: canonical text of identities, per family. */
#include "idfmt.h"
#include "base58.h"
#include "hex.h"
#include "pw_error.h"

#include <stdbool.h>
#include <string.h>

#define TRON_PREFIX 0x41

const char *pw_family_name(uint8_t family)
{
	return family == PW_FAMILY_EVM ? "evm" : family == PW_FAMILY_TRON ? "tron" : "?";
}

void pw_format_address(uint8_t family, const pw_addr *a, char *out)
{
	out[0] = '\0';
	if (family == PW_FAMILY_TRON) {
		uint8_t raw[1 + PW_ADDR_LEN];
		if (a->len != PW_ADDR_LEN)
			return;
		raw[0] = TRON_PREFIX;
		memcpy(raw + 1, a->b, PW_ADDR_LEN);
		base58check_encode(raw, sizeof(raw), out, PW_ADDR_TEXT_MAX);
		return;
	}
	if (a->len && a->len <= PW_ADDR_MAX)
		hex_encode(a->b, a->len, out);
}

void pw_format_hash(uint8_t family, const uint8_t *bytes, size_t len, char *out)
{
	hex_encode(bytes, len, out);
	if (family == PW_FAMILY_TRON) /* no "0x" */
		memmove(out, out + 2, 2 * len + 1);
}

/* n bytes of text in the canonical hex form: "0x" (lowercase, as the
 * schema's CHECKs want it) and no uppercase digit. */
static bool canonical_hex(const char *text, size_t n)
{
	if (n < 2 || text[0] != '0' || text[1] != 'x')
		return false;
	for (size_t i = 2; i < n; i++)
		if (text[i] >= 'A' && text[i] <= 'F')
			return false;
	return true;
}

int pw_parse_address(uint8_t family, const char *text, pw_addr *ret)
{
	uint8_t raw[1 + PW_ADDR_LEN];
	if (family == PW_FAMILY_TRON) {
		size_t n = 0;
		int r = base58check_decode(text, raw, sizeof(raw), &n);
		if (r == PW_ECHECKSUM)
			return r;
		if (r < 0 || n != sizeof(raw) || raw[0] != TRON_PREFIX)
			return PW_EPARSE;
		pw_addr_set(ret, raw + 1, PW_ADDR_LEN);
		return 0;
	}
	size_t len = strlen(text);
	if (!canonical_hex(text, len) || hex_decode_fixed(text, len, raw, PW_ADDR_LEN) < 0)
		return PW_EPARSE;
	pw_addr_set(ret, raw, PW_ADDR_LEN);
	return 0;
}

int pw_parse_hash(uint8_t family, const char *text, uint8_t *out, size_t len)
{
	char prefixed[PW_HASH_TEXT_MAX + 2];
	size_t n = strlen(text);
	if (family == PW_FAMILY_TRON) {
		if (n + 3 > sizeof(prefixed) || (n >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')))
			return PW_EPARSE;
		prefixed[0] = '0', prefixed[1] = 'x';
		memcpy(prefixed + 2, text, n + 1);
		text = prefixed;
		n += 2;
	}
	if (!canonical_hex(text, n))
		return PW_EPARSE;
	return hex_decode_fixed(text, n, out, len) < 0 ? PW_EPARSE : 0;
}
