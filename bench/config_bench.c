/* config_bench.c: loading a config with many merchant addresses, the way
 * `paywatch run` does: the strict JSON check, cJSON, validation
 * (config_parse: EIP-55 parsing of every address, unique merchant ids,
 * unique addresses per chain) and the matcher built from it. Generates
 * N addresses (a fixed seed) held K per merchant, writes the JSON text in
 * memory, and prints one JSON object: text bytes, parse ms, matcher ms,
 * peak RSS (MB, VmHWM). Not a test: bench/run calls it (1 M addresses,
 * 100,000 merchants by default; validation was quadratic in merchants
 * before, 39 s for 150,000).
 * usage: paywatch_config_bench N_ADDRESSES [PER_MERCHANT] */
#include "clock.h"
#include "config.h"
#include "matcher.h"
#include "parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next_u64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double peak_rss_mb(void)
{
	double mb = 0;
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			mb = strtod(line + 6, NULL) / 1024.0;
	if (f)
		fclose(f);
	return mb;
}

int main(int argc, char **argv)
{
	uint64_t n = 0, per = 10;
	if (argc < 2 || parse_u64(argv[1], 100000000, &n) < 0 || n == 0 ||
	    (argc > 2 && (parse_u64(argv[2], 1000000, &per) < 0 || per == 0))) {
		fprintf(stderr, "usage: %s N_ADDRESSES [PER_MERCHANT]\n", argv[0]);
		return 2;
	}
	size_t cap = (size_t)n * 48 + ((size_t)n / per + 1) * 64 + 4096;
	char *text = malloc(cap);
	if (!text)
		return 1;
	size_t o = (size_t)snprintf(
		text, cap,
		"{\"data_dir\":\"/tmp/unused\",\"postgres\":{\"dsn\":\"host=127.0.0.1\"},\"chains\":[{\"name\":"
		"\"mainnet\",\"kind\":\"evm\",\"chain_id\":1,\"ws_url\":\"ws://127.0.0.1:1\",\"tokens\":["
		"{\"symbol\":\"USDC\",\"address\":\"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48\",\"decimals\":6}]}],"
		"\"merchants\":[");
	uint64_t seed = 42;
	for (uint64_t i = 0; i < n; i++) {
		if (i % per == 0)
			o += (size_t)snprintf(text + o, cap - o, "%s{\"id\":\"m%llu\",\"addresses\":{\"mainnet\":[",
					      i ? "]}}," : "", (unsigned long long)(i / per));
		uint64_t a = next_u64(&seed), b = next_u64(&seed), c = next_u64(&seed);
		o += (size_t)snprintf(text + o, cap - o, "%s\"0x%016llx%016llx%08llx\"", i % per ? "," : "",
				      (unsigned long long)a, (unsigned long long)b,
				      (unsigned long long)(c & 0xffffffffULL));
	}
	o += (size_t)snprintf(text + o, cap - o, "]}}]}");
	pw_config *cfg = NULL;
	char err[512];
	int64_t t0 = pw_mono_ms();
	if (config_parse(text, o, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "config: %s\n", err);
		return 1;
	}
	int64_t t1 = pw_mono_ms();
	matcher *m = NULL;
	if (matcher_from_config(cfg, &m) < 0) {
		fprintf(stderr, "matcher failed\n");
		return 1;
	}
	int64_t t2 = pw_mono_ms();
	printf("{\"addresses\":%llu,\"merchants\":%llu,\"json_bytes\":%zu,\"parse_ms\":%lld,\"matcher_ms\":%lld,"
	       "\"peak_rss_mb\":%.1f}\n",
	       (unsigned long long)n, (unsigned long long)((n + per - 1) / per), o, (long long)(t1 - t0),
	       (long long)(t2 - t1), peak_rss_mb());
	matcher_destroy(m);
	config_destroy(cfg);
	free(text);
	return 0;
}
