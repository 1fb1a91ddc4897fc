/* hd_window.h: the gap limit of xpub deposit addresses, applied while
 * matching (one per chain pipeline, owned by its thread). A payment to
 * index i of a merchant's xpub widens the watched window to i +
 * gap_limit at once: the addresses it grows over are derived (BIP-32
 * public derivation) into an overlay beside the shared set, so a later
 * transfer of the same range or block to one of them is a payment too,
 * and the registry is asked to store them (on_used: the registry watch
 * writes them to Postgres, from where every process loads them). When the
 * shared set changes, the overlay keeps only what the new set still
 * lacks. */
#ifndef PW_HD_WINDOW_H
#define PW_HD_WINDOW_H

#include "matcher.h"

typedef struct hd_window hd_window;

/* on_used: a payment went to index `index` of merchant_id's xpub on chain
 * and grew the window (called on the matching thread; must not block). */
typedef void (*hd_used_fn)(void *arg, const char *merchant_id, const char *chain, long index);

/* hd_window_create: the window state of chain cfg->chains[chain_index];
 * on_used may be NULL. 0 with *ret (free with hd_window_destroy), or
 * PW_ENOMEM. */
int hd_window_create(const pw_config *cfg, size_t chain_index, hd_used_fn on_used, void *arg, hd_window **ret);

/* hd_window_destroy: free; accepts NULL. */
void hd_window_destroy(hd_window *w);

/* hd_window_match: matcher_match_transfers against set and the overlay,
 * in transfer order, growing windows as payments reach them. Returns the
 * number of payments written to out (n slots). */
size_t hd_window_match(hd_window *w, const matcher *set, const chain_transfer *transfers, size_t n, pw_payment *out);

/* hd_window_growths: how many times a payment grew a window so far. */
size_t hd_window_growths(const hd_window *w);

/* hd_window_extra: addresses in the overlay now (for tests and logs). */
size_t hd_window_extra(const hd_window *w);

#endif
