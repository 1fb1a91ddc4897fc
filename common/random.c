/* random.c: per-thread xoshiro256** (Blackman and Vigna), seeded from
 * getrandom(2). */
#include "random.h"

#include <stdbool.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Thread_local uint64_t state[4];
static _Thread_local bool seeded;

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* splitmix64: spreads a weak seed over the state */
static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void seed(void)
{
	if (getrandom(state, sizeof(state), GRND_NONBLOCK) != (ssize_t)sizeof(state)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40) ^
			     (uint64_t)(uintptr_t)&seeded;
		for (int i = 0; i < 4; i++)
			state[i] = splitmix(&x);
	}
	if (!(state[0] | state[1] | state[2] | state[3]))
		state[0] = 1; /* the all-zero state is a fixed point */
	seeded = true;
}

uint64_t pw_random_u64(void)
{
	if (!seeded)
		seed();
	uint64_t result = rotl(state[1] * 5, 7) * 9, t = state[1] << 17;
	state[2] ^= state[0];
	state[3] ^= state[1];
	state[1] ^= state[2];
	state[0] ^= state[3];
	state[2] ^= t;
	state[3] = rotl(state[3], 45);
	return result;
}

double pw_random_unit(void)
{
	return (double)(pw_random_u64() >> 11) * 0x1.0p-53;
}

uint64_t pw_random_below(uint64_t n)
{
	return n ? pw_random_u64() % n : 0;
}
