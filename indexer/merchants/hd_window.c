/* hd_window.c: the gap limit applied while matching (hd_window.h). */
#include "hd_window.h"
#include "log.h"
#include "pw_error.h"

#include <stdlib.h>
#include <string.h>

#define MATCH_PREFETCH_AHEAD 8

struct hd_window {
	const pw_config *cfg;
	size_t ci;
	const chain_family *fam;
	hd_used_fn on_used;
	void *arg;
	matcher *overlay; /* derived addresses the shared set lacks; its own merchant table and xpub copies */
	size_t growths;
	const matcher *seen; /* the shared set the overlay was made against */
};

int hd_window_create(const pw_config *cfg, size_t chain_index, hd_used_fn on_used, void *arg, hd_window **ret)
{
	hd_window *w = calloc(1, sizeof(*w));
	if (!w || matcher_create(64, &w->overlay) < 0) {
		free(w);
		return PW_ENOMEM;
	}
	w->cfg = cfg;
	w->ci = chain_index;
	w->fam = cfg->chains[chain_index].family;
	w->on_used = on_used;
	w->arg = arg;
	*ret = w;
	return 0;
}

void hd_window_destroy(hd_window *w)
{
	if (!w)
		return;
	matcher_destroy(w->overlay);
	free(w);
}

size_t hd_window_growths(const hd_window *w)
{
	return w->growths;
}

size_t hd_window_extra(const hd_window *w)
{
	return matcher_count(w->overlay);
}

/* The index of merchant id in m, or -1. */
static long find_merchant(const matcher *m, const char *id)
{
	uint32_t i;
	return matcher_find_merchant(m, id, &i) ? (long)i : -1;
}

/* Derive indexes from..to of x into the overlay for overlay merchant om. */
static void derive_into(hd_window *w, uint32_t om, const matcher_xpub *x, long from, long to)
{
	for (long i = from; i <= to && i < (long)BIP32_HARDENED; i++) {
		bip32_pub child;
		pw_addr a;
		if (bip32_derive_path(&x->key, &x->path, (uint32_t)i, &child) < 0 ||
		    w->fam->address_of_key(child.key, &a) < 0)
			continue; /* BIP-32: an invalid child is skipped */
		uint32_t owner;
		if (matcher_lookup(w->seen, (uint32_t)w->ci, &a, &owner))
			continue; /* the set has it (or another merchant owns it) */
		if (matcher_add_hd(w->overlay, (uint32_t)w->ci, &a, om, i) == PW_ENOMEM)
			return;
	}
}

/* The shared set changed: an overlay with only what the new one lacks. */
static void rebase(hd_window *w, const matcher *set)
{
	matcher *old = w->overlay;
	w->seen = set;
	if (matcher_count(old) == 0)
		return;
	if (matcher_create(64, &w->overlay) < 0) {
		w->overlay = old;
		return;
	}
	for (size_t i = 0; i < matcher_merchants(old); i++) {
		const matcher_xpub *ox = matcher_xpub_of(old, (uint32_t)i);
		const char *id = matcher_merchant_id(old, (uint32_t)i);
		long si = find_merchant(set, id);
		const matcher_xpub *sx = si >= 0 ? matcher_xpub_of(set, (uint32_t)si) : NULL;
		if (!ox || !sx || strcmp(ox->text, sx->text) != 0)
			continue; /* removed, or another key now */
		long have = sx->high[w->ci];
		if (ox->high[w->ci] <= have)
			continue; /* stored and loaded: the set covers it */
		uint32_t om;
		if (matcher_add_merchant(w->overlay, id, &om) < 0 || matcher_set_xpub(w->overlay, om, ox) < 0)
			continue;
		derive_into(w, om, ox, have + 1, ox->high[w->ci]);
	}
	matcher_destroy(old);
}

/* A payment to index hd of merchant `merchant` of `from` (the set or the
 * overlay): grow the window when it reaches past it. */
static void reached(hd_window *w, const matcher *from, uint32_t merchant, long hd)
{
	const char *id = matcher_merchant_id(from, merchant);
	const matcher_xpub *x = matcher_xpub_of(from, merchant);
	if (!x)
		return;
	long want = hd + (long)x->gap_limit;
	/* the overlay's copy of this merchant, if any */
	long om = from == w->overlay ? (long)merchant : find_merchant(w->overlay, id);
	const matcher_xpub *ox = om >= 0 ? matcher_xpub_of(w->overlay, (uint32_t)om) : NULL;
	long have = x->high[w->ci];
	if (ox && ox->high[w->ci] > have)
		have = ox->high[w->ci];
	if (want <= have)
		return;
	w->growths++;
	if (om < 0) {
		uint32_t fresh;
		matcher_xpub copy = *x;
		if (matcher_add_merchant(w->overlay, id, &fresh) < 0 || matcher_set_xpub(w->overlay, fresh, &copy) < 0)
			return;
		om = fresh;
	}
	matcher_xpub *mine = matcher_xpub_of(w->overlay, (uint32_t)om);
	derive_into(w, (uint32_t)om, mine, have + 1, want);
	if (mine->high[w->ci] < want)
		mine->high[w->ci] = want;
	log_emit(LOG_LEVEL_INFO, w->cfg->chains[w->ci].name, -1,
		 "merchant %s: a payment to xpub index %ld: watching its indexes up to %ld", id, hd, want);
	if (w->on_used)
		w->on_used(w->arg, id, w->cfg->chains[w->ci].name, hd);
}

size_t hd_window_match(hd_window *w, const matcher *set, const chain_transfer *transfers, size_t n, pw_payment *out)
{
	if (set != w->seen)
		rebase(w, set);
	uint32_t ci = (uint32_t)w->ci;
	size_t found = 0;
	for (size_t i = 0; i < n && i < MATCH_PREFETCH_AHEAD; i++)
		matcher_prefetch(set, ci, &transfers[i].to);
	for (size_t i = 0; i < n; i++) {
		const chain_transfer *t = &transfers[i];
		if (i + MATCH_PREFETCH_AHEAD < n)
			matcher_prefetch(set, ci, &transfers[i + MATCH_PREFETCH_AHEAD].to);
		const cfg_token *token = matcher_token_of(w->cfg, w->ci, t);
		if (!token)
			continue;
		uint32_t merchant;
		long hd;
		const matcher *from = set;
		if (!matcher_lookup_hd(set, ci, &t->to, &merchant, &hd)) {
			from = w->overlay;
			if (matcher_count(w->overlay) == 0 ||
			    !matcher_lookup_hd(w->overlay, ci, &t->to, &merchant, &hd))
				continue;
		}
		const char *merchant_id = matcher_merchant_id(from, merchant);
		if (!merchant_id)
			continue;
		matcher_fill_payment(w->cfg, w->ci, t, token, merchant_id, &out[found++]);
		if (hd >= 0)
			reached(w, from, merchant, hd);
	}
	return found;
}
