/* keccak.c: Keccak-f[1600] permutation and the Keccak-256 sponge
 * (rate 136 bytes, capacity 512 bits). Little-endian lanes as in the spec. */
#include "keccak.h"

#include <string.h>

static const uint64_t round_constants[24] = {
	0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
	0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
	0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
	0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
	0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
	0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* rho rotation offsets and pi lane order, walking the (x,y) cycle from lane 1 */
static const unsigned rho_offsets[24] = { 1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
					  27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44 };
static const unsigned pi_lanes[24] = { 10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
				       15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1 };

static uint64_t rotl64(uint64_t x, unsigned s)
{
	return (x << s) | (x >> (64 - s));
}

static void keccak_f1600(uint64_t st[25])
{
	uint64_t c[5], t;
	for (int round = 0; round < 24; round++) {
		for (int x = 0; x < 5; x++) /* theta */
			c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];
		for (int x = 0; x < 5; x++) {
			t = c[(x + 4) % 5] ^ rotl64(c[(x + 1) % 5], 1);
			for (int y = 0; y < 25; y += 5)
				st[y + x] ^= t;
		}
		t = st[1]; /* rho and pi */
		for (int i = 0; i < 24; i++) {
			unsigned j = pi_lanes[i];
			uint64_t next = st[j];
			st[j] = rotl64(t, rho_offsets[i]);
			t = next;
		}
		for (int y = 0; y < 25; y += 5) { /* chi */
			for (int x = 0; x < 5; x++)
				c[x] = st[y + x];
			for (int x = 0; x < 5; x++)
				st[y + x] = c[x] ^ (~c[(x + 1) % 5] & c[(x + 2) % 5]);
		}
		st[0] ^= round_constants[round]; /* iota */
	}
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void keccak256(const void *data, size_t n, uint8_t out[32])
{
	enum { RATE = 136 };
	uint64_t st[25] = { 0 };
	const uint8_t *p = data;
	uint8_t block[RATE];

	while (n >= RATE) {
		for (int i = 0; i < RATE / 8; i++)
			st[i] ^= load_le64(p + 8 * i);
		keccak_f1600(st);
		p += RATE;
		n -= RATE;
	}
	memset(block, 0, sizeof(block));
	memcpy(block, p, n);
	block[n] |= 0x01;
	block[RATE - 1] |= 0x80;
	for (int i = 0; i < RATE / 8; i++)
		st[i] ^= load_le64(block + 8 * i);
	keccak_f1600(st);
	for (int i = 0; i < 32; i++)
		out[i] = (uint8_t)(st[i / 8] >> (8 * (i % 8)));
}
