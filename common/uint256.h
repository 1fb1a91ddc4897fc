/* uint256.h: exact unsigned 256-bit integers for token amounts in base units,
 * stored as 32 bytes big-endian (the ABI encoding of uint256). Never floats. */
#ifndef PW_UINT256_H
#define PW_UINT256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define U256_DEC_MAX 80 /* 78 digits, a point, NUL, and a spare */

/* u256_from_hex: "0x" + 1..64 hex digits (leading zeros and odd lengths
 * accepted) -> out. 0, PW_EPARSE (no prefix, empty, non-hex), PW_ERANGE
 * (more than 64 significant digits); out untouched on error. */
int u256_from_hex(const char *s, uint8_t out[32]);

/* u256_from_dec: decimal digits only -> out. 0, PW_EPARSE, PW_ERANGE (>= 2^256). */
int u256_from_dec(const char *s, uint8_t out[32]);

/* u256_to_dec: the decimal string of v into out (U256_DEC_MAX bytes). */
void u256_to_dec(const uint8_t v[32], char out[U256_DEC_MAX]);

/* u256_format_units: v base units shown with `decimals` fraction digits,
 * exact, trailing zeros removed: 12500000 with 6 -> "12.5", 0 -> "0",
 * 1 with 18 -> "0.000000000000000001". decimals must be 0..77, else
 * PW_EINVAL. out holds U256_DEC_MAX bytes. */
int u256_format_units(const uint8_t v[32], unsigned decimals, char out[U256_DEC_MAX]);

/* u256_is_zero: true when v == 0. */
bool u256_is_zero(const uint8_t v[32]);

#endif
