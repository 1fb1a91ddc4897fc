/* outbox_bench.c: what reading the outbox's figures costs when Postgres
 * has been away and the outbox is deep: `paywatch run`'s chain reporter
 * (every 10 s) and `paywatch status` read each chain's entries and
 * oldest. Fills a throwaway RocksDB with N outbox entries of K chains
 * (runs of 1,000 of one chain, as backfills write them), then times, in
 * alternating rounds, a scan per chain (store_outbox_stats, chain by
 * chain) against one scan for every chain (store_outbox_stats_chains,
 * what the reporter and status do), checks that both read the same
 * figures, and prints one JSON object: entries, chains, the medians (ms)
 * and one scan's time over the per-chain scans'. Not a test: bench/run
 * calls it.
 * usage: paywatch_outbox_bench N_ENTRIES [CHAINS] [ROUNDS] */
#define _XOPEN_SOURCE 700 /* nftw (XSI), for the store's directory at exit */
#include "clock.h"
#include "parse.h"
#include "store.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAINS_MAX 16
#define ROUNDS_MAX 50
#define RUN_LEN 1000 /* entries of one chain in a row */

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double median_ms(int64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	return n % 2 ? (double)v[n / 2] : (double)(v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* entry k: a confirmed payment of chain, block and log index from k (an
 * EVM payment of 1 base unit of USDC and up to acme, as the pipeline
 * writes one) */
static void fill(pw_payment *p, uint64_t k, const char *chain)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->chain, sizeof(p->chain), "%s", chain);
	snprintf(p->token_symbol, sizeof(p->token_symbol), "USDC");
	snprintf(p->merchant_id, sizeof(p->merchant_id), "acme");
	p->chain_id = 1;
	p->block_number = 1000 + k / 50;
	p->log_index = (uint32_t)(k % 50);
	memcpy(p->block_hash, &k, sizeof(k));
	p->tx_hash.len = PW_HASH_LEN;
	memcpy(p->tx_hash.b, &k, sizeof(k));
	p->token.len = p->from.len = p->to.len = PW_ADDR_LEN;
	p->amount[31] = (uint8_t)(k % 255 + 1);
	p->decimals = 6;
	p->status = PW_STATUS_CONFIRMED;
	p->confirmations = 1;
	p->confirmed_at_ms = 1700000000000 + (int64_t)k;
}

int main(int argc, char **argv)
{
	uint64_t n = 0, chains = 3, rounds = 5;
	if (argc < 2 || argc > 4 || parse_u64(argv[1], 100000000, &n) < 0 || n == 0 ||
	    (argc > 2 && (parse_u64(argv[2], CHAINS_MAX, &chains) < 0 || chains == 0)) ||
	    (argc > 3 && (parse_u64(argv[3], ROUNDS_MAX, &rounds) < 0 || rounds == 0))) {
		fprintf(stderr,
			"usage: paywatch_outbox_bench N_ENTRIES (1..100000000) [CHAINS (1..%d)] [ROUNDS (1..%d)]\n",
			CHAINS_MAX, ROUNDS_MAX);
		return 2;
	}
	char dir[] = "/tmp/pw-outbox-bench-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char err[512], names_buf[CHAINS_MAX][16];
	const char *names[CHAINS_MAX];
	for (uint64_t c = 0; c < chains; c++) {
		snprintf(names_buf[c], sizeof(names_buf[c]), "chain%llu", (unsigned long long)c);
		names[c] = names_buf[c];
	}
	store *s = NULL;
	int rc = 1;
	if (store_open(dir, false, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "outbox bench: %s\n", err);
		goto out_remove;
	}
	for (uint64_t k = 0; k < n; k += 10000) {
		store_batch *b = store_batch_create(s);
		if (!b)
			goto out_close;
		for (uint64_t i = k; i < k + 10000 && i < n; i++) {
			pw_payment p;
			fill(&p, i, names[(i / RUN_LEN) % chains]);
			store_batch_put_outbox(b, &p);
		}
		int r = store_batch_commit(b);
		store_batch_destroy(b);
		if (r < 0)
			goto out_close;
	}
	int64_t per_chain[ROUNDS_MAX], one[ROUNDS_MAX];
	for (uint64_t r = 0; r < rounds; r++) {
		uint64_t d1[CHAINS_MAX], d2[CHAINS_MAX];
		int64_t o1[CHAINS_MAX], o2[CHAINS_MAX];
		int64_t t0 = pw_mono_ms();
		for (uint64_t c = 0; c < chains; c++)
			if (store_outbox_stats(s, names[c], &d1[c], &o1[c]) < 0)
				goto out_close;
		int64_t t1 = pw_mono_ms();
		if (store_outbox_stats_chains(s, names, chains, d2, o2) < 0)
			goto out_close;
		int64_t t2 = pw_mono_ms();
		if (memcmp(d1, d2, chains * sizeof(*d1)) != 0 || memcmp(o1, o2, chains * sizeof(*o1)) != 0) {
			fprintf(stderr, "outbox bench: one scan read other figures than a scan per chain\n");
			goto out_close;
		}
		per_chain[r] = t1 - t0;
		one[r] = t2 - t1;
	}
	double a = median_ms(per_chain, rounds), b = median_ms(one, rounds);
	printf("{\"entries\":%llu,\"chains\":%llu,\"rounds\":%llu,\"per_chain_ms\":%.1f,\"one_scan_ms\":%.1f,"
	       "\"ratio\":%.3f}\n",
	       (unsigned long long)n, (unsigned long long)chains, (unsigned long long)rounds, a, b, a > 0 ? b / a : 0);
	rc = 0;
out_close:
	if (rc)
		fprintf(stderr, "outbox bench: a RocksDB write or read failed\n");
	store_close(s);
out_remove:
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
