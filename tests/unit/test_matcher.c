/* test_matcher.c: the merchant address set: hits, misses, per-chain keys,
 * conflicting owners, growth past many resizes. */
#include "matcher.h"
#include "registry.h"
#include "pw_error.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

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

typedef struct walked {
	size_t n, stop_after;
	long hd_sum;
	int acme_hits;
} walked;

static int walk_one(void *arg, uint32_t chain_index, const pw_addr *address, uint32_t merchant_index, long hd_index)
{
	walked *w = arg;
	pw_addr a;
	addr_of(1, &a);
	if (chain_index != 0 || address->len != PW_ADDR_LEN)
		return PW_EPARSE;
	w->acme_hits += pw_addr_eq(address, &a) && merchant_index == 0;
	w->hd_sum += hd_index;
	w->n++;
	return w->stop_after && w->n == w->stop_after ? PW_EINVAL : 0;
}

/* Derived addresses carry their index and raise their xpub's window;
 * a clone is deep; merchant ids; the registry swaps sets while a reader
 * holds one, and frees a replaced set when its last reader lets go. */
static void test_sets_and_registry(void)
{
	matcher *m = NULL;
	ASSERT_EQ_INT(0, matcher_create(0, &m));
	ASSERT_EQ_INT(0, matcher_reserve(m, 1000));
	uint32_t acme, shop;
	ASSERT_EQ_INT(0, matcher_add_merchant(m, "acme", &acme));
	ASSERT_EQ_INT(0, matcher_add_merchant(m, "shop", &shop));
	CHECK(matcher_add_merchant(m, "", &acme) == PW_EINVAL);
	matcher_xpub x;
	memset(&x, 0, sizeof(x));
	x.gap_limit = 20;
	for (int k = 0; k < MATCHER_CHAINS_MAX; k++)
		x.high[k] = -1;
	ASSERT_EQ_INT(0, matcher_set_xpub(m, shop, &x));
	pw_addr a, b;
	addr_of(1, &a);
	addr_of(2, &b);
	ASSERT_EQ_INT(0, matcher_add(m, 0, &a, acme));
	ASSERT_EQ_INT(0, matcher_add_hd(m, 0, &b, shop, 7));
	CHECK(matcher_xpub_of(m, shop)->high[0] == 7 && matcher_xpub_of(m, acme) == NULL);
	uint32_t who;
	long hd;
	CHECK(matcher_lookup_hd(m, 0, &a, &who, &hd) && who == acme && hd == -1);
	CHECK(matcher_lookup_hd(m, 0, &b, &who, &hd) && who == shop && hd == 7);
	ASSERT_EQ_STR("shop", matcher_merchant_id(m, shop));
	CHECK(matcher_merchant_id(m, 9) == NULL);
	matcher *c = NULL;
	ASSERT_EQ_INT(0, matcher_clone(m, &c));
	pw_addr d;
	addr_of(3, &d);
	ASSERT_EQ_INT(0, matcher_add_hd(c, 0, &d, shop, 30));
	CHECK(matcher_count(c) == 3 && matcher_count(m) == 2 && !matcher_lookup(m, 0, &d, &who));
	CHECK(matcher_xpub_of(c, shop)->high[0] == 30 && matcher_xpub_of(m, shop)->high[0] == 7);
	/* merchant ids found by their index, in the clone too; a new one added there only */
	uint32_t found, fresh;
	CHECK(matcher_find_merchant(c, "shop", &found) && found == shop && !matcher_find_merchant(c, "nobody", &found));
	ASSERT_EQ_INT(0, matcher_merchant_index(c, "initech", &fresh));
	CHECK(fresh == 2 && matcher_find_merchant(c, "initech", &found) && found == 2 &&
	      !matcher_find_merchant(m, "initech", &found));
	ASSERT_EQ_INT(0, matcher_merchant_index(c, "acme", &found));
	CHECK(found == acme && matcher_merchants(c) == 3);
	char id[16];
	for (int k = 0; k < 500; k++) { /* past several growths of the id index */
		snprintf(id, sizeof(id), "m%d", k);
		ASSERT_EQ_INT(0, matcher_merchant_index(c, id, &fresh));
	}
	CHECK(matcher_find_merchant(c, "m0", &found) && found == 3 && matcher_find_merchant(c, "m499", &found) &&
	      found == 502 && matcher_find_merchant(c, "shop", &found) && found == shop);

	/* every entry walked once, with its chain, owner and index (replay filters a whole set so) */
	walked w = { 0 };
	ASSERT_EQ_INT(0, matcher_each(c, walk_one, &w));
	CHECK(w.n == 3 && w.hd_sum == 7 + 30 - 1 && w.acme_hits == 1);
	w.stop_after = 1;
	w.n = 0;
	CHECK(matcher_each(c, walk_one, &w) == PW_EINVAL && w.n == 1);

	registry *reg = NULL;
	ASSERT_EQ_INT(0, registry_create(m, &reg));
	const matcher *held = registry_acquire(reg); /* a range being matched */
	CHECK(held == m && registry_version(reg) == 1);
	CHECK(registry_publish(reg, c) == 2); /* swapped while held */
	const matcher *now = registry_acquire(reg);
	CHECK(now == c && matcher_lookup(now, 0, &d, &who) && matcher_lookup(held, 0, &a, &who));
	registry_release(reg, now);
	registry_release(reg, held); /* the replaced set is freed here (ASan: no leak, no use after free) */
	matcher *e = NULL;
	ASSERT_EQ_INT(0, matcher_create(0, &e));
	CHECK(registry_publish_over(reg, e, 1) == 0); /* version 2 is newer: e is freed, c stays */
	now = registry_acquire(reg);
	CHECK(now == c);
	registry_release(reg, now);
	registry_destroy(reg);
}

int main(void)
{
	test_sets_and_registry();
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
