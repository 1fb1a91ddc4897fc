/* matcher.c: open-addressing hash set of merchant addresses. */
/* Lookups of a page of logs are issued this many transfers ahead as
 * prefetches: a large set costs one cache miss per lookup, and misses
 * started early overlap instead of queueing. */
#define MATCH_PREFETCH_AHEAD 8
#include "matcher.h"
#include "pw_error.h"
#include "uint256.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

typedef struct slot {
	uint8_t address[20];
	uint32_t chain_index;
	uint32_t merchant_plus1; /* 0 = empty slot */
	uint32_t hd_plus1;       /* the index under the merchant's xpub + 1; 0: not derived */
} slot;

struct matcher {
	slot *slots;
	size_t mask; /* capacity - 1; capacity is a power of two */
	size_t count;
	char *names; /* the merchant ids, each NUL-terminated, one after another */
	size_t names_len, names_cap;
	uint32_t *name_at; /* merchant index -> offset in names */
	size_t n_names, name_at_cap;
	uint32_t *name_slots; /* merchant id -> index + 1, open addressing (0: empty) */
	size_t name_mask;
	matcher_xpub **xpubs; /* merchant index -> its xpub, or NULL (n_names entries once any is set) */
	size_t xpubs_cap;
};

/* Addresses are keccak outputs (uniform) for honest users; the finalizer
 * still mixes every byte so vanity prefixes do not cluster. */
static uint64_t address_hash(uint32_t chain_index, const uint8_t a[20])
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ chain_index;
	for (int i = 0; i < 20; i += 4) {
		uint32_t w =
			(uint32_t)a[i] | (uint32_t)a[i + 1] << 8 | (uint32_t)a[i + 2] << 16 | (uint32_t)a[i + 3] << 24;
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 32);
}

/* A zeroed slot array. Large ones are 2 MiB aligned and marked for
 * transparent huge pages: at 10 M addresses (~900 MiB) every lookup would
 * otherwise also miss the TLB. */
static slot *alloc_slots(size_t capacity)
{
	size_t bytes = capacity * sizeof(slot);
	if (bytes < HUGE_PAGE * 2)
		return calloc(capacity, sizeof(slot));
	void *p = NULL;
	if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
		return NULL;
	madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without THP it is plain memory */
	memset(p, 0, bytes);
	return p;
}

static int matcher_resize(matcher *m, size_t capacity)
{
	slot *fresh = alloc_slots(capacity);
	if (!fresh)
		return PW_ENOMEM;
	size_t mask = capacity - 1;
	for (size_t i = 0; m->slots && i <= m->mask; i++) {
		const slot *s = &m->slots[i];
		if (!s->merchant_plus1)
			continue;
		size_t j = address_hash(s->chain_index, s->address) & mask;
		while (fresh[j].merchant_plus1)
			j = (j + 1) & mask;
		fresh[j] = *s;
	}
	free(m->slots);
	m->slots = fresh;
	m->mask = mask;
	return 0;
}

int matcher_create(size_t expected, matcher **ret)
{
	matcher *m = calloc(1, sizeof(*m));
	if (!m)
		return PW_ENOMEM;
	size_t capacity = 16;
	while (capacity < expected * 2)
		capacity *= 2;
	if (matcher_resize(m, capacity) < 0) {
		free(m);
		return PW_ENOMEM;
	}
	*ret = m;
	return 0;
}

void matcher_destroy(matcher *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m->names);
	free(m->name_at);
	free(m->name_slots);
	for (size_t i = 0; i < m->xpubs_cap; i++)
		free(m->xpubs[i]);
	free(m->xpubs);
	free(m);
}

int matcher_set_xpub(matcher *m, uint32_t merchant, const matcher_xpub *x)
{
	if (merchant >= m->n_names)
		return PW_EINVAL;
	if (merchant >= m->xpubs_cap) {
		size_t cap = m->xpubs_cap ? m->xpubs_cap : 64;
		while (cap <= merchant)
			cap *= 2;
		matcher_xpub **grown = realloc(m->xpubs, cap * sizeof(*grown));
		if (!grown)
			return PW_ENOMEM;
		memset(grown + m->xpubs_cap, 0, (cap - m->xpubs_cap) * sizeof(*grown));
		m->xpubs = grown;
		m->xpubs_cap = cap;
	}
	if (!m->xpubs[merchant] && !(m->xpubs[merchant] = malloc(sizeof(matcher_xpub))))
		return PW_ENOMEM;
	*m->xpubs[merchant] = *x;
	return 0;
}

matcher_xpub *matcher_xpub_of(const matcher *m, uint32_t merchant)
{
	return merchant < m->xpubs_cap ? m->xpubs[merchant] : NULL;
}

int matcher_each(const matcher *m, matcher_entry_fn fn, void *arg)
{
	for (size_t i = 0; i <= m->mask; i++) {
		const slot *s = &m->slots[i];
		if (!s->merchant_plus1)
			continue;
		pw_addr a = { .len = PW_ADDR_LEN };
		memcpy(a.b, s->address, PW_ADDR_LEN);
		int r = fn(arg, s->chain_index, &a, s->merchant_plus1 - 1, s->hd_plus1 ? (long)s->hd_plus1 - 1 : -1);
		if (r < 0)
			return r;
	}
	return 0;
}

int matcher_clone(const matcher *m, matcher **ret)
{
	matcher *c = calloc(1, sizeof(*c));
	if (!c)
		return PW_ENOMEM;
	c->mask = m->mask;
	c->count = m->count;
	c->slots = alloc_slots(m->mask + 1);
	c->names = malloc(m->names_cap ? m->names_cap : 1);
	c->name_at = malloc((m->name_at_cap ? m->name_at_cap : 1) * sizeof(uint32_t));
	c->xpubs = calloc(m->xpubs_cap ? m->xpubs_cap : 1, sizeof(*c->xpubs));
	c->name_slots = m->name_slots ? malloc((m->name_mask + 1) * sizeof(uint32_t)) : NULL;
	c->name_mask = m->name_mask;
	c->names_len = m->names_len;
	c->names_cap = m->names_cap;
	c->n_names = m->n_names;
	c->name_at_cap = m->name_at_cap;
	c->xpubs_cap = m->xpubs_cap;
	bool ok = c->slots && c->names && c->name_at && c->xpubs && (c->name_slots || !m->name_slots);
	for (size_t i = 0; ok && i < m->xpubs_cap; i++)
		if (m->xpubs[i]) {
			ok = (c->xpubs[i] = malloc(sizeof(matcher_xpub))) != NULL;
			if (ok)
				*c->xpubs[i] = *m->xpubs[i];
		}
	if (!ok) {
		matcher_destroy(c);
		return PW_ENOMEM;
	}
	memcpy(c->slots, m->slots, (m->mask + 1) * sizeof(slot));
	memcpy(c->names, m->names, m->names_len);
	memcpy(c->name_at, m->name_at, m->n_names * sizeof(uint32_t));
	if (m->name_slots)
		memcpy(c->name_slots, m->name_slots, (m->name_mask + 1) * sizeof(uint32_t));
	*ret = c;
	return 0;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

/* The id index at twice the merchants, rehashed when they outgrow half. */
static int grow_name_slots(matcher *m)
{
	size_t cap = m->name_slots ? (m->name_mask + 1) * 2 : 128;
	uint32_t *fresh = calloc(cap, sizeof(*fresh));
	if (!fresh)
		return PW_ENOMEM;
	for (size_t i = 0; i < m->n_names; i++) {
		size_t j = name_hash(m->names + m->name_at[i]) & (cap - 1);
		while (fresh[j])
			j = (j + 1) & (cap - 1);
		fresh[j] = (uint32_t)i + 1;
	}
	free(m->name_slots);
	m->name_slots = fresh;
	m->name_mask = cap - 1;
	return 0;
}

bool matcher_find_merchant(const matcher *m, const char *id, uint32_t *ret_index)
{
	if (!m->name_slots)
		return false;
	for (size_t j = name_hash(id) & m->name_mask; m->name_slots[j]; j = (j + 1) & m->name_mask)
		if (strcmp(m->names + m->name_at[m->name_slots[j] - 1], id) == 0) {
			*ret_index = m->name_slots[j] - 1;
			return true;
		}
	return false;
}

int matcher_merchant_index(matcher *m, const char *id, uint32_t *ret_index)
{
	return matcher_find_merchant(m, id, ret_index) ? 0 : matcher_add_merchant(m, id, ret_index);
}

int matcher_add_merchant(matcher *m, const char *id, uint32_t *ret_index)
{
	size_t len = strlen(id);
	if (len == 0 || len >= PW_NAME_MAX || m->n_names >= UINT32_MAX - 1)
		return PW_EINVAL;
	if ((!m->name_slots || (m->n_names + 1) * 2 > m->name_mask + 1) && grow_name_slots(m) < 0)
		return PW_ENOMEM;
	if (m->names_len + len + 1 > m->names_cap) {
		size_t cap = m->names_cap ? m->names_cap * 2 : 4096;
		while (cap < m->names_len + len + 1)
			cap *= 2;
		char *grown = realloc(m->names, cap);
		if (!grown)
			return PW_ENOMEM;
		m->names = grown;
		m->names_cap = cap;
	}
	if (m->n_names == m->name_at_cap) {
		size_t cap = m->name_at_cap ? m->name_at_cap * 2 : 64;
		uint32_t *grown = realloc(m->name_at, cap * sizeof(*grown));
		if (!grown)
			return PW_ENOMEM;
		m->name_at = grown;
		m->name_at_cap = cap;
	}
	if (m->names_len > UINT32_MAX - PW_NAME_MAX)
		return PW_ENOMEM;
	m->name_at[m->n_names] = (uint32_t)m->names_len;
	memcpy(m->names + m->names_len, id, len + 1);
	m->names_len += len + 1;
	size_t j = name_hash(id) & m->name_mask;
	while (m->name_slots[j])
		j = (j + 1) & m->name_mask;
	m->name_slots[j] = (uint32_t)m->n_names + 1;
	*ret_index = (uint32_t)m->n_names++;
	return 0;
}

const char *matcher_merchant_id(const matcher *m, uint32_t i)
{
	return i < m->n_names ? m->names + m->name_at[i] : NULL;
}

size_t matcher_merchants(const matcher *m)
{
	return m->n_names;
}

int matcher_reserve(matcher *m, size_t n)
{
	size_t capacity = m->mask + 1;
	while (capacity < n * 2)
		capacity *= 2;
	return capacity == m->mask + 1 ? 0 : matcher_resize(m, capacity);
}

int matcher_add(matcher *m, uint32_t chain_index, const pw_addr *key, uint32_t merchant_index)
{
	return matcher_add_hd(m, chain_index, key, merchant_index, -1);
}

int matcher_add_hd(matcher *m, uint32_t chain_index, const pw_addr *key, uint32_t merchant_index, long hd_index)
{
	if (hd_index >= (long)UINT32_MAX - 1)
		return PW_EINVAL;
	if (key->len != PW_ADDR_LEN)
		return PW_EINVAL;
	const uint8_t *address = key->b;
	if ((m->count + 1) * 2 > m->mask + 1) {
		int r = matcher_resize(m, (m->mask + 1) * 2);
		if (r < 0)
			return r;
	}
	size_t j = address_hash(chain_index, address) & m->mask;
	for (;; j = (j + 1) & m->mask) {
		slot *s = &m->slots[j];
		if (!s->merchant_plus1) {
			memcpy(s->address, address, 20);
			s->chain_index = chain_index;
			s->merchant_plus1 = merchant_index + 1;
			s->hd_plus1 = hd_index >= 0 ? (uint32_t)hd_index + 1 : 0;
			m->count++;
			matcher_xpub *x = hd_index >= 0 ? matcher_xpub_of(m, merchant_index) : NULL;
			if (x && chain_index < MATCHER_CHAINS_MAX && hd_index > x->high[chain_index])
				x->high[chain_index] = hd_index;
			return 0;
		}
		if (s->chain_index == chain_index && memcmp(s->address, address, 20) == 0)
			return s->merchant_plus1 == merchant_index + 1 ? 0 : PW_EINVAL;
	}
}

bool matcher_lookup(const matcher *m, uint32_t chain_index, const pw_addr *key, uint32_t *ret_merchant_index)
{
	long hd;
	return matcher_lookup_hd(m, chain_index, key, ret_merchant_index, &hd);
}

bool matcher_lookup_hd(const matcher *m, uint32_t chain_index, const pw_addr *key, uint32_t *ret_merchant_index,
		       long *ret_hd_index)
{
	if (key->len != PW_ADDR_LEN)
		return false;
	const uint8_t *address = key->b;
	size_t j = address_hash(chain_index, address) & m->mask;
	for (;; j = (j + 1) & m->mask) {
		const slot *s = &m->slots[j];
		if (!s->merchant_plus1)
			return false;
		if (s->chain_index == chain_index && memcmp(s->address, address, 20) == 0) {
			*ret_merchant_index = s->merchant_plus1 - 1;
			*ret_hd_index = (long)s->hd_plus1 - 1;
			return true;
		}
	}
}

void matcher_prefetch(const matcher *m, uint32_t chain_index, const pw_addr *address)
{
	__builtin_prefetch(&m->slots[address_hash(chain_index, address->b) & m->mask]);
}

size_t matcher_count(const matcher *m)
{
	return m->count;
}

int matcher_from_config(const pw_config *cfg, matcher **ret)
{
	size_t total = 0;
	for (size_t i = 0; i < cfg->n_merchants; i++)
		total += cfg->merchants[i].n_addresses;
	matcher *m;
	int r = matcher_create(total, &m);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg->n_merchants; i++) {
		const cfg_merchant *mc = &cfg->merchants[i];
		uint32_t index;
		if ((r = matcher_add_merchant(m, mc->id, &index)) < 0) {
			matcher_destroy(m);
			return r;
		}
		for (size_t k = 0; k < mc->n_addresses; k++) {
			r = matcher_add(m, (uint32_t)mc->addresses[k].chain_index, &mc->addresses[k].address,
					(uint32_t)i);
			if (r < 0) {
				matcher_destroy(m);
				return r;
			}
		}
	}
	*ret = m;
	return 0;
}

size_t matcher_match_transfers(const matcher *m, const pw_config *cfg, size_t chain_index,
			       const chain_transfer *transfers, size_t n, pw_payment *out)
{
	size_t found = 0;
	for (size_t i = 0; i < n && i < MATCH_PREFETCH_AHEAD; i++)
		matcher_prefetch(m, (uint32_t)chain_index, &transfers[i].to);
	for (size_t i = 0; i < n; i++) {
		const chain_transfer *t = &transfers[i];
		if (i + MATCH_PREFETCH_AHEAD < n)
			matcher_prefetch(m, (uint32_t)chain_index, &transfers[i + MATCH_PREFETCH_AHEAD].to);
		const cfg_token *token = matcher_token_of(cfg, chain_index, t);
		uint32_t merchant;
		const char *merchant_id;
		if (!token || !matcher_lookup(m, (uint32_t)chain_index, &t->to, &merchant) ||
		    !(merchant_id = matcher_merchant_id(m, merchant)))
			continue;
		matcher_fill_payment(cfg, chain_index, t, token, merchant_id, &out[found++]);
	}
	return found;
}

const cfg_token *matcher_token_of(const pw_config *cfg, size_t chain_index, const chain_transfer *t)
{
	const cfg_chain *chain = &cfg->chains[chain_index];
	if (u256_is_zero(t->amount)) /* zero-value transfers are address poisoning */
		return NULL;
	for (size_t k = 0; k < chain->n_tokens; k++)
		if (pw_addr_eq(&chain->tokens[k].address, &t->token))
			return &chain->tokens[k];
	return NULL;
}

void matcher_fill_payment(const pw_config *cfg, size_t chain_index, const chain_transfer *t, const cfg_token *token,
			  const char *merchant_id, pw_payment *p)
{
	const cfg_chain *chain = &cfg->chains[chain_index];
	memset(p, 0, sizeof(*p));
	snprintf(p->chain, sizeof(p->chain), "%s", chain->name);
	p->family = chain->family->family;
	p->chain_id = chain->chain_id;
	p->block_number = t->block_number;
	memcpy(p->block_hash, t->block_hash, PW_HASH_LEN);
	p->block_time = t->block_time;
	p->tx_hash = t->tx_hash;
	p->log_index = t->log_index;
	p->token = t->token;
	snprintf(p->token_symbol, sizeof(p->token_symbol), "%s", token->symbol);
	p->decimals = (uint8_t)token->decimals;
	p->from = t->from;
	p->to = t->to;
	snprintf(p->merchant_id, sizeof(p->merchant_id), "%s", merchant_id);
	memcpy(p->amount, t->amount, PW_U256_LEN);
	p->status = PW_STATUS_PENDING;
}
