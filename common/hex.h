/* hex.h: hex text at the edges, fixed-size bytes inside. Formats follow the
 * Ethereum JSON-RPC spec: DATA is "0x" + two digits per byte, QUANTITY is
 * "0x" + a number without leading zeros (leading zeros are accepted here). */
#ifndef PW_HEX_H
#define PW_HEX_H

#include <stddef.h>
#include <stdint.h>

/* hex_decode_fixed: s (n chars, not NUL-terminated needed) must be "0x"
 * followed by exactly 2*out_len hex digits (either case). Writes out_len
 * bytes. 0, or PW_EPARSE (wrong length, missing prefix, non-hex); out is
 * untouched on error. */
int hex_decode_fixed(const char *s, size_t n, uint8_t *out, size_t out_len);

/* hex_parse_quantity: "0x" + 1..16 hex digits -> *ret (block numbers, log
 * indexes, timestamps). 0, PW_EPARSE (empty, no prefix, non-hex), PW_ERANGE
 * (more than 64 bits of value); *ret untouched on error. */
int hex_parse_quantity(const char *s, uint64_t *ret);

/* hex_encode: "0x" + 2*n lowercase digits + NUL into out (2*n+3 bytes). */
void hex_encode(const uint8_t *in, size_t n, char *out);

/* hex_digit_value: 0..15 for a hex digit, -1 otherwise. */
int hex_digit_value(char c);

#endif
