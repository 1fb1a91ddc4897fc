/* idfmt.h: a payment's identities in each family's canonical text, the
 * one form written everywhere (Postgres, the API, webhooks, logs):
 *   EVM:  addresses "0x" + 40 lowercase hex; hashes "0x" + 64 lowercase hex
 *         (Ethereum JSON-RPC DATA; EIP-55 is accepted on input only);
 *   Tron: addresses Base58Check of 0x41 + the 20 bytes ("T...", TRON
 *         developer docs, "Account"); transaction ids and block hashes 64
 *         lowercase hex without "0x" (as TronGrid and explorers show them).
 * Parsing reads these canonical forms back (rows Postgres holds); config
 * input (EIP-55, "41..." hex) is parsed by each family in chains/. */
#ifndef PW_IDFMT_H
#define PW_IDFMT_H

#include "payment.h"

#include <stddef.h>
#include <stdint.h>

/* Text sizes including the NUL, for every family. */
#define PW_ADDR_TEXT_MAX 68  /* "0x" + 64 hex digits of a 32-byte address */
#define PW_HASH_TEXT_MAX 131 /* "0x" + 128 hex digits of a 64-byte id */

/* pw_family_name: "evm", "tron"; "?" for an unknown value. */
const char *pw_family_name(uint8_t family);

/* pw_format_address: a's text in family's form into out (PW_ADDR_TEXT_MAX
 * bytes); "" for an address of a length the family does not have. */
void pw_format_address(uint8_t family, const pw_addr *a, char *out);

/* pw_format_hash: len bytes (a block hash, a transaction id) in family's
 * form into out (PW_HASH_TEXT_MAX bytes). */
void pw_format_hash(uint8_t family, const uint8_t *bytes, size_t len, char *out);

/* pw_parse_address: the canonical text of an address of family into
 * *ret. 0, PW_EPARSE (not that form), PW_ECHECKSUM (Tron: a bad
 * checksum); *ret untouched on error. */
int pw_parse_address(uint8_t family, const char *text, pw_addr *ret);

/* pw_parse_hash: the canonical text of a len-byte hash or id into out.
 * 0 or PW_EPARSE; out untouched on error. */
int pw_parse_hash(uint8_t family, const char *text, uint8_t *out, size_t len);

#endif
