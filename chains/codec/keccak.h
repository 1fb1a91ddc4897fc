/* keccak.h: Keccak-256 as Ethereum uses it (the original Keccak submission,
 * padding byte 0x01, not NIST SHA3-256's 0x06). Vectors: the Keccak team's
 * ShortMsgKAT_256. Debian ships no C library for it, so it lives here. */
#ifndef PW_KECCAK_H
#define PW_KECCAK_H

#include <stddef.h>
#include <stdint.h>

/* keccak256: hash n bytes of data into out (32 bytes). Cannot fail. */
void keccak256(const void *data, size_t n, uint8_t out[32]);

#endif
