/* base58.h: Base58 (Bitcoin's alphabet) and Base58Check (a 4-byte
 * double-SHA-256 checksum appended before encoding), as Bitcoin and Tron
 * write addresses (Tron: "T..." is Base58Check of 0x41 + 20 bytes; TRON
 * developer docs, "Account"). Leading zero bytes become leading '1's. */
#ifndef PW_BASE58_H
#define PW_BASE58_H

#include <stddef.h>
#include <stdint.h>

/* base58_encode: n bytes (n <= 128) into out (outlen bytes, NUL-terminated).
 * Returns the text length, or 0 when out is too small. */
size_t base58_encode(const uint8_t *in, size_t n, char *out, size_t outlen);

/* base58_decode: the text (NUL-terminated, at most 200 characters) into
 * out (outlen bytes). 0 with *ret_n bytes written, or PW_EPARSE (a
 * character outside the alphabet, empty text) / PW_ERANGE (out too small);
 * out untouched on error. */
int base58_decode(const char *text, uint8_t *out, size_t outlen, size_t *ret_n);

/* base58check_encode: Base58 of in + the first 4 bytes of
 * SHA-256(SHA-256(in)). Same contract as base58_encode (n <= 124). */
size_t base58check_encode(const uint8_t *in, size_t n, char *out, size_t outlen);

/* base58check_decode: decode and verify the checksum; out gets the payload
 * (without the checksum). 0 with *ret_n, PW_EPARSE (not Base58, shorter
 * than a checksum), PW_ECHECKSUM (the checksum does not match),
 * PW_ERANGE (out too small); out untouched on error. */
int base58check_decode(const char *text, uint8_t *out, size_t outlen, size_t *ret_n);

#endif
