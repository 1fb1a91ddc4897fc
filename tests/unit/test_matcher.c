/* test_matcher.c: the merchant address set: hits, misses, per-chain keys,
 * conflicting owners, growth past many resizes. */
#include "matcher.h"
#include "pw_error.h"
#include "test.h"

static void addr_of(uint32_t i, pw_addr *out)
{
	/* a keccak-free but well-spread address derived from i */
	uint64_t x = i * 0x9e3779b97f4a7c15ULL + 1;
	out->len = PW_ADDR_LEN;
	for (int k = 0; k < PW_ADDR_LEN; k++) {
		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ULL;
		out->b[k] = (uint8_t)(x >> 56);
	}
}

int main(void)
{
	matcher *m = NULL;
	ASSERT_EQ_INT(0, matcher_create(0, &m));
	enum { N = 200000 };
	pw_addr a;
	for (uint32_t i = 0; i < N; i++) {
		addr_of(i, &a);
		ASSERT_EQ_INT(0, matcher_add(m, i % 3, &a, i % 1000));
	}
	ASSERT_EQ_INT(N, matcher_count(m));
	int hits = 0, wrong = 0;
	for (uint32_t i = 0; i < N; i++) {
		uint32_t merchant = 0;
		addr_of(i, &a);
		if (matcher_lookup(m, i % 3, &a, &merchant)) {
			hits++;
			wrong += merchant != i % 1000;
		}
	}
	ASSERT_EQ_INT(N, hits);
	ASSERT_EQ_INT(0, wrong);
	int false_hits = 0;
	for (uint32_t i = N; i < 2 * N; i++) {
		uint32_t merchant;
		addr_of(i, &a);
		false_hits += matcher_lookup(m, i % 3, &a, &merchant);
	}
	ASSERT_EQ_INT(0, false_hits);
	/* the same address on another chain is another key */
	uint32_t merchant = 77;
	addr_of(5, &a);
	CHECK(!matcher_lookup(m, (5 % 3) + 1, &a, &merchant));
	ASSERT_EQ_INT(77, merchant); /* untouched on a miss */
	/* re-adding with the same owner is fine; another owner is refused */
	ASSERT_EQ_INT(0, matcher_add(m, 5 % 3, &a, 5));
	ASSERT_EQ_INT(PW_EINVAL, matcher_add(m, 5 % 3, &a, 6));
	ASSERT_EQ_INT(N, matcher_count(m));
	/* an address of another width (a 32-byte Solana key) is refused, not
	 * cut to 20 bytes: it would alias the address of its first 20 */
	pw_addr wide = a;
	wide.len = 32;
	ASSERT_EQ_INT(PW_EINVAL, matcher_add(m, 5 % 3, &wide, 5));
	CHECK(!matcher_lookup(m, 5 % 3, &wide, &merchant));
	ASSERT_EQ_INT(N, matcher_count(m));
	matcher_destroy(m);
	matcher_destroy(NULL);
	return test_finish("test_matcher");
}
