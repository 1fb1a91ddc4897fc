/* tron.c: the Tron family. java-tron answers eth_chainId, eth_blockNumber,
 * eth_getBlockByNumber (with the "finalized" tag = the solidified block;
 * no "safe") and eth_getLogs like an Ethereum node (TronJsonRpc in
 * java-tron's framework/.../services/jsonrpc): log addresses and topics
 * carry the 20-byte address without Tron's 0x41 prefix, hashes are 0x +
 * 64 hex digits. So its adapter is the EVM JSON-RPC adapter over HTTP; what
 * is Tron's own is how addresses are read and written, its limits (5,000
 * blocks a query; 10,000 candidate blocks a result, -32005) and its lack
 * of a websocket. */
#include "tron.h"
#include "base58.h"
#include "bip32.h"
#include "evm.h"
#include "hex.h"
#include "idfmt.h"
#include "pw_error.h"

#include <stdio.h>
#include <string.h>

#define TRON_PREFIX 0x41

/* Config input: Base58Check "T..." (25 bytes: 0x41, 20 bytes, a 4-byte
 * checksum), or 42 hex digits "41..." (with or without "0x"), as java-tron
 * and TronGrid write the same address. */
static int tron_parse_address(const char *text, pw_addr *ret, char *err, size_t errlen)
{
	uint8_t raw[1 + PW_ADDR_LEN];
	size_t n = strlen(text), got = 0;
	const char *hex = n == 44 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') ? text + 2 : text;
	if (strlen(hex) == 42 && (hex[0] == '4') && hex[1] == '1') {
		char prefixed[48];
		snprintf(prefixed, sizeof(prefixed), "0x%s", hex);
		if (hex_decode_fixed(prefixed, 44, raw, sizeof(raw)) < 0) {
			snprintf(err, errlen,
				 "must be a Tron address: Base58Check \"T...\" or 42 hex digits \"41...\"");
			return PW_EPARSE;
		}
		pw_addr_set(ret, raw + 1, PW_ADDR_LEN);
		return 0;
	}
	int r = n <= 64 ? base58check_decode(text, raw, sizeof(raw), &got) : PW_EPARSE;
	if (r == PW_ECHECKSUM) {
		snprintf(err, errlen, "bad Base58Check checksum in Tron address %.64s", text);
		return r;
	}
	if (r == 0 && got == sizeof(raw) && raw[0] != TRON_PREFIX) {
		snprintf(err, errlen, "not a Tron mainnet address: version byte 0x%02x, Tron's is 0x41 (\"T...\")",
			 raw[0]);
		return PW_EPARSE;
	}
	if (r < 0 || got != sizeof(raw)) {
		snprintf(err, errlen, "must be a Tron address: Base58Check \"T...\" or 42 hex digits \"41...\"");
		return PW_EPARSE;
	}
	pw_addr_set(ret, raw + 1, PW_ADDR_LEN);
	return 0;
}

static void tron_format_address_input(const pw_addr *a, char *out)
{
	pw_format_address(PW_FAMILY_TRON, a, out);
}

const chain_family tron_chain_family = {
	.kind = "tron",
	.family = PW_FAMILY_TRON,
	.ops = &evm_chain_ops,
	.address_len = PW_ADDR_LEN,
	.has_safe = false,
	.has_websocket = false,
	.max_range = TRON_MAX_BLOCK_RANGE,
	.address_hint = "Base58Check \"T...\" or hex \"41...\"",
	.parse_address = tron_parse_address,
	.format_address_input = tron_format_address_input,
	.address_of_key = bip32_key_address, /* Tron: 0x41 + the same 20 bytes */
};
