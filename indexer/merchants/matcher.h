/* matcher.h: the merchant address set. Maps (chain index, address) to the
 * owning merchant's index. Slots hold 20-byte addresses (EVM and Tron; a
 * family with wider addresses, such as Solana's 32, needs wider slots:
 * such an address is refused with PW_EINVAL until then). Open addressing with linear probing at a
 * load factor <= 1/2: lookups cost one or two cache lines at any size, and
 * 10 M addresses take ~512 MiB (32-byte slots, 2^24 of them). An
 * address derived from a merchant's xpub (BIP-32) also carries its index,
 * and the merchant its key, so a payment near the end of the watched
 * window can grow it (hd_window.h).
 * Thread safety: built once, then read-only; readers need no lock. */
#ifndef PW_MATCHER_H
#define PW_MATCHER_H

#include "bip32.h"
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct matcher matcher;

/* matcher_create: an empty set sized for `expected` addresses (it grows).
 * 0 with *ret (caller frees with matcher_destroy), or PW_ENOMEM. */
int matcher_create(size_t expected, matcher **ret);

/* matcher_reserve: room for n addresses without growing (a load that
 * knows its size rehashes nothing). 0 or PW_ENOMEM (set unchanged). */
int matcher_reserve(matcher *m, size_t n);

/* matcher_destroy: free; accepts NULL. */
void matcher_destroy(matcher *m);

/* matcher_add: map (chain_index, address) to merchant_index. Adding the same
 * key with the same merchant is a no-op; with another merchant, or an
 * address not PW_ADDR_LEN bytes long, PW_EINVAL. PW_ENOMEM when growing
 * fails (set unchanged). */
int matcher_add(matcher *m, uint32_t chain_index, const pw_addr *address, uint32_t merchant_index);

/* matcher_add_hd: matcher_add of an address derived at hd_index (>= 0;
 * -1: not derived) under the merchant's xpub; raises the xpub's window
 * high for the chain when one is set (matcher_set_xpub first). */
int matcher_add_hd(matcher *m, uint32_t chain_index, const pw_addr *address, uint32_t merchant_index, long hd_index);

/* matcher_lookup_hd: matcher_lookup, with the address's index under its
 * merchant's xpub in *ret_hd_index (-1: not derived). */
bool matcher_lookup_hd(const matcher *m, uint32_t chain_index, const pw_addr *address, uint32_t *ret_merchant_index,
		       long *ret_hd_index);

/* matcher_lookup: true and *ret_merchant_index set when the address is a
 * merchant's on that chain; false (ret untouched) otherwise. */
bool matcher_lookup(const matcher *m, uint32_t chain_index, const pw_addr *address, uint32_t *ret_merchant_index);

/* matcher_prefetch: start loading the slot of (chain_index, address) into
 * the CPU cache (a hint, no effect on results). Calling it a few lookups
 * ahead lets a stream of lookups in a set larger than the cache overlap
 * their memory latency (matcher_match_transfers does). */
void matcher_prefetch(const matcher *m, uint32_t chain_index, const pw_addr *address);

/* matcher_count: number of addresses held. */
size_t matcher_count(const matcher *m);

/* matcher_add_merchant: append merchant id (copied; 1..PW_NAME_MAX-1
 * bytes) to the set's merchant table; its index (0, 1, ...) into
 * *ret_index is what matcher_add takes. The caller adds each id once.
 * 0, PW_EINVAL (empty or too long), PW_ENOMEM. */
int matcher_add_merchant(matcher *m, const char *id, uint32_t *ret_index);

/* matcher_find_merchant: the index of merchant id (an O(1) lookup). true
 * with *ret_index, or false when the set has no such merchant. */
bool matcher_find_merchant(const matcher *m, const char *id, uint32_t *ret_index);

/* matcher_merchant_index: the index of merchant id, added when new (a
 * set being built). 0, PW_EINVAL, PW_ENOMEM. */
int matcher_merchant_index(matcher *m, const char *id, uint32_t *ret_index);

/* matcher_merchant_id: the id of merchant index i (borrowed, lives as
 * long as the set), or NULL when i was never added. */
const char *matcher_merchant_id(const matcher *m, uint32_t i);

/* matcher_merchants: how many merchant ids the set holds. */
size_t matcher_merchants(const matcher *m);

/* A merchant's xpub as the set holds it: the key, the path template, the
 * gap limit, and per chain index the highest index with an address in the
 * set (-1: none). */
#define MATCHER_CHAINS_MAX 64
typedef struct matcher_xpub {
	bip32_pub key;
	bip32_path path;
	char text[BIP32_TEXT_MAX]; /* the key as written: the same key is the same text */
	uint32_t gap_limit;
	long high[MATCHER_CHAINS_MAX];
} matcher_xpub;

/* matcher_set_xpub: merchant index's xpub (copied). 0, PW_EINVAL (no such
 * merchant index), PW_ENOMEM. */
int matcher_set_xpub(matcher *m, uint32_t merchant_index, const matcher_xpub *x);

/* matcher_xpub_of: merchant index's xpub (owned by the set; a set being
 * built may change its highs), or NULL. */
matcher_xpub *matcher_xpub_of(const matcher *m, uint32_t merchant_index);

/* matcher_clone: a deep copy of m (an incremental load adds to the copy
 * while readers go on with m). 0 with *ret, PW_ENOMEM. */
int matcher_clone(const matcher *m, matcher **ret);

/* matcher_each: fn(arg, chain_index, address, merchant_index, hd_index)
 * for every address of the set, in no particular order (hd_index -1: not
 * derived). fn returning < 0 stops the walk with that result. 0, or
 * fn's result. */
typedef int (*matcher_entry_fn)(void *arg, uint32_t chain_index, const pw_addr *address, uint32_t merchant_index,
				long hd_index);
int matcher_each(const matcher *m, matcher_entry_fn fn, void *arg);

/* matcher_from_config: a set holding every merchant of cfg (merchant
 * index i is cfg->merchants[i]) and every address of theirs.
 * 0 with *ret, PW_ENOMEM, or PW_EINVAL (an address owned twice). */
int matcher_from_config(const pw_config *cfg, matcher **ret);

#include "chain.h"

/* matcher_match_transfers: the payments among n decoded transfers of chain
 * cfg->chains[chain_index]: the token is one of the chain's configured
 * tokens, the amount is non-zero (zero-value transfers are address
 * poisoning), and `to` is a merchant address. Each payment is written to
 * out (n slots) as PW_STATUS_PENDING with chain, token and merchant fields
 * filled (the merchant id from the set's merchant table); block_time comes from the transfer (-1 when unknown).
 * Returns the number of payments written. */
size_t matcher_match_transfers(const matcher *m, const pw_config *cfg, size_t chain_index,
			       const chain_transfer *transfers, size_t n, pw_payment *out);

/* matcher_token_of: the configured token of transfer t on the chain, or
 * NULL (not a configured token, or a zero amount: address poisoning). */
const cfg_token *matcher_token_of(const pw_config *cfg, size_t chain_index, const chain_transfer *t);

/* matcher_fill_payment: *p as the payment of t (to merchant_id, in
 * token), PW_STATUS_PENDING. */
void matcher_fill_payment(const pw_config *cfg, size_t chain_index, const chain_transfer *t, const cfg_token *token,
			  const char *merchant_id, pw_payment *p);
#endif
