/* random.h: non-cryptographic randomness for jitter (retry and backoff
 * delays), seeded per thread from the kernel (getrandom), so two processes
 * started together do not retry in step. Not for keys or secrets: those
 * come from OpenSSL's RAND_bytes. */
#ifndef PW_RANDOM_H
#define PW_RANDOM_H

#include <stdint.h>

/* pw_random_u64: 64 random bits (xoshiro256** state per thread, seeded on
 * first use from getrandom, falling back to time, pid and thread address). */
uint64_t pw_random_u64(void);

/* pw_random_unit: a double in [0, 1). */
double pw_random_unit(void);

/* pw_random_below: a value in [0, n) (0 when n is 0). */
uint64_t pw_random_below(uint64_t n);

#endif
