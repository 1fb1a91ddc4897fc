/* eip55.h: EVM addresses (20 bytes) as text: parsing with EIP-55 mixed-case
 * checksum verification, and printing in lowercase or EIP-55 form. */
#ifndef PW_EIP55_H
#define PW_EIP55_H

#include <stddef.h>
#include <stdint.h>

#define EIP55_TEXT_LEN 43 /* "0x" + 40 digits + NUL */

/* eip55_parse: s = "0x" + 40 hex digits. All-lowercase and all-uppercase
 * digits are accepted as they are; mixed case must carry a valid EIP-55
 * checksum. 0, PW_EPARSE (shape), PW_ECHECKSUM (mixed case, bad checksum);
 * out untouched on error. */
int eip55_parse(const char *s, uint8_t out[20]);

/* eip55_format: the EIP-55 checksummed form of addr into out (43 bytes). */
void eip55_format(const uint8_t addr[20], char out[EIP55_TEXT_LEN]);

#endif
