/* matcher_bench.c: the merchant address set at a given size. Loads N
 * pseudo-random addresses (a fixed seed, so runs compare), then times
 * lookups of addresses that are in the set and of addresses that are not.
 * Prints one JSON object: load ms, peak RSS (MB, VmHWM), ns per
 * lookup (hits, misses, and hits streamed with prefetch as the matching
 * of a page of logs does), and ns per step of a pointer chase through a
 * buffer as large as the set (one memory round trip: the floor of an
 * isolated lookup once the set outgrows the caches). Not a test: bench/run
 * calls it at 1 k, 1 M and 10 M addresses.
 * usage: paywatch_matcher_bench N [LOOKUPS] */
#include "clock.h"
#include "matcher.h"
#include "parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* splitmix64: a fast, well-mixed generator for synthetic addresses */
static uint64_t next_u64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void address_of(uint64_t seed, uint64_t i, pw_addr *out)
{
	uint64_t s = seed ^ (i * 0x2545f4914f6cdd1dULL);
	uint64_t a = next_u64(&s), b = next_u64(&s), c = next_u64(&s);
	out->len = PW_ADDR_LEN;
	memcpy(out->b, &a, 8);
	memcpy(out->b + 8, &b, 8);
	memcpy(out->b + 16, &c, 4);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	uint64_t n = 0, lookups = 2000000;
	if (argc < 2 || parse_u64(argv[1], 100000000, &n) < 0 || n == 0 ||
	    (argc > 2 && parse_u64(argv[2], 1000000000, &lookups) < 0)) {
		fprintf(stderr, "usage: %s N [LOOKUPS]   (N addresses, 1..100000000)\n", argv[0]);
		return 2;
	}
	matcher *m;
	int64_t t0 = now_ns();
	if (matcher_create((size_t)n, &m) < 0) /* sized up front, as matcher_from_config does */
		return 1;
	pw_addr addr;
	for (uint64_t i = 0; i < n; i++) {
		address_of(1, i, &addr);
		if (matcher_add(m, 0, &addr, (uint32_t)(i % 1000)) < 0) {
			fprintf(stderr, "matcher_add failed at %llu\n", (unsigned long long)i);
			return 1;
		}
	}
	int64_t load_ns = now_ns() - t0;
	/* lookups: the addresses are generated first so generation is not timed */
	size_t batch = 4096;
	pw_addr *hits = malloc(batch * sizeof(pw_addr)), *misses = malloc(batch * sizeof(pw_addr));
	if (!hits || !misses)
		return 1;
	uint64_t found = 0, s = 42;
	int64_t hit_ns = 0, miss_ns = 0, stream_ns = 0;
	uint64_t found_stream = 0;
	for (uint64_t done = 0; done < lookups; done += batch) {
		for (size_t k = 0; k < batch; k++) {
			address_of(1, next_u64(&s) % n, &hits[k]);
			address_of(2, done + k, &misses[k]);
		}
		uint32_t mi;
		int64_t a = now_ns();
		for (size_t k = 0; k < batch; k++)
			found += matcher_lookup(m, 0, &hits[k], &mi);
		int64_t b = now_ns();
		for (size_t k = 0; k < batch; k++)
			found += matcher_lookup(m, 0, &misses[k], &mi);
		int64_t c = now_ns();
		/* a stream of lookups with prefetch 8 ahead, as matcher_match_transfers does */
		for (size_t k = 0; k < batch && k < 8; k++)
			matcher_prefetch(m, 0, &hits[k]);
		for (size_t k = 0; k < batch; k++) {
			if (k + 8 < batch)
				matcher_prefetch(m, 0, &hits[k + 8]);
			found_stream += matcher_lookup(m, 0, &hits[k], &mi);
		}
		int64_t d = now_ns();
		hit_ns += b - a;
		miss_ns += c - b;
		stream_ns += d - c;
	}
	uint64_t total = (lookups + batch - 1) / batch * batch;
	/* VmHWM, not getrusage: ru_maxrss survives execve, so it would report
	 * the parent's peak when the parent is bigger */
	double peak_mb = 0;
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			peak_mb = strtod(line + 6, NULL) / 1024.0;
	if (f)
		fclose(f);
	/* the memory's own floor: a pointer chase (each read's address is the
	 * previous read's value: a random cycle, Sattolo's shuffle) in a buffer
	 * as large as the loaded matcher (its RSS). That is one cache/TLB miss
	 * round trip with nothing to overlap it: what an isolated lookup in a
	 * table far bigger than the caches costs whatever the hash table. */
	size_t words = 0;
	FILE *st = fopen("/proc/self/status", "r");
	char sline[256];
	while (st && fgets(sline, sizeof(sline), st))
		if (strncmp(sline, "VmRSS:", 6) == 0)
			words = (size_t)(strtod(sline + 6, NULL) * 1024.0 / 8.0);
	if (st)
		fclose(st);
	if (words < 1024)
		words = 1024;
	uint64_t *mem = NULL; /* on huge pages, as the matcher's slots are */
	if (posix_memalign((void **)&mem, (size_t)2 << 20, words * sizeof(uint64_t)) != 0)
		return 1;
	madvise(mem, words * sizeof(uint64_t), MADV_HUGEPAGE);
	for (size_t k = 0; k < words; k++)
		mem[k] = k;
	for (size_t k = words - 1; k > 0; k--) { /* Sattolo: one cycle through every word */
		size_t j = (size_t)(next_u64(&s) % k);
		uint64_t t = mem[k];
		mem[k] = mem[j];
		mem[j] = t;
	}
	uint64_t at = 0;
	int64_t m0 = now_ns();
	for (uint64_t k = 0; k < total; k++)
		at = mem[at];
	int64_t mem_ns = now_ns() - m0;
	volatile uint64_t keep = at; /* the reads must happen */
	(void)keep;
	free(mem);
	printf("{\"addresses\":%llu,\"load_ms\":%.1f,\"peak_rss_mb\":%.1f,\"hit_ns\":%.1f,\"miss_ns\":%.1f,"
	       "\"stream_ns\":%.1f,\"mem_chase_ns\":%.1f,\"lookups\":%llu,\"found\":%llu}\n",
	       (unsigned long long)n, (double)load_ns / 1e6, peak_mb, (double)hit_ns / (double)total,
	       (double)miss_ns / (double)total, (double)stream_ns / (double)total, (double)mem_ns / (double)total,
	       (unsigned long long)total, (unsigned long long)found);
	/* every hit must be found; a miss colliding with a real address is
	 * astronomically unlikely (160-bit keys) */
	if (found != total || found_stream != total) {
		fprintf(stderr, "lookup mismatch: %llu of %llu hits found\n", (unsigned long long)found,
			(unsigned long long)total);
		return 1;
	}
	free(hits);
	free(misses);
	matcher_destroy(m);
	return 0;
}
