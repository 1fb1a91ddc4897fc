/* fuzz_jsonrpc.c: libFuzzer target for the JSON-RPC answer path of a
 * running ingest, end to end up to the row Postgres would get: one
 * websocket message -> rpc_parse_message -> evm_message_to_event, with the
 * requests a live ingest has in flight (eth_getLogs, eth_getLogs as a
 * batch of three filters, a header batch, eth_blockNumber, a finalized
 * block) and the newHeads subscription; the
 * transfers of an eth_getLogs answer then go through the matcher (every
 * recipient is made a merchant's), the tracker (a real RocksDB store,
 * confirmations 1: each payment reaches the outbox) of an EVM chain and
 * of a Tron chain (the same logs, java-tron's JSON-RPC being Ethereum's),
 * the outbox encoding
 * (read back from RocksDB) and the sink's COPY row, which must fit the
 * schema (row_check.h). Any input must end in an event or be ignored: no
 * crash, no leak, no undefined behaviour, no accepted payment that
 * Postgres would refuse, no wait asked for past RPC_RETRY_AFTER_MAX_S;
 * and what the adapter's scanner reads without a
 * parse tree (evm_scan_logs_answer), the strict path reads the same
 * (scan_check.h). */
#define _XOPEN_SOURCE 700 /* nftw (XSI), for the store's directory at exit */
#include "chain.h"
#include "config.h"
#include "evm_int.h"
#include "jsonrpc.h"
#include "matcher.h"
#include "postgres.h"
#include "row_check.h"
#include "scan_check.h"
#include "store.h"
#include "tracker.h"

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The watched token is the seed corpus's: USDC on Ethereum, and the same
 * 20 bytes as a Tron contract (41 a0b869... = TQd22wygQNcAJt1yRwtPj8wApXtUHYXGhN). */
static const char config_text[] =
	"{\"data_dir\":\"/tmp/unused\",\"postgres\":{\"dsn\":\"postgresql://x@127.0.0.1/x\"},\"chains\":[{\"name\":"
	"\"mainnet\",\"kind\":\"evm\",\"chain_id\":1,\"ws_url\":\"ws://127.0.0.1:1\",\"confirmations\":1,\"tokens\":["
	"{\"symbol\":\"USDC\",\"address\":\"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\",\"decimals\":6}]},"
	"{\"name\":\"tron\",\"kind\":\"tron\",\"chain_id\":728126428,\"http_url\":\"http://127.0.0.1:1\",\"confirmations\":1,"
	"\"tokens\":[{\"symbol\":\"USDC\",\"address\":\"41a0b86991c6218b36c1d19d4a2e9eb0ce3606eb48\",\"decimals\":6}]}],"
	"\"merchants\":[{\"id\":\"acme\",\"addresses\":{}}]}";

static pw_config *g_cfg;
static store *g_store;
static uint64_t g_round;
static char g_dir[] = "/tmp/pw-fuzz-store-XXXXXX";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* at exit (libFuzzer's end of a timed run or of a corpus's replay): the
 * store closed and its directory removed, not left in /tmp (4 MB a run) */
static void teardown(void)
{
	store_close(g_store);
	g_store = NULL;
	nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	char err[512];
	if (config_parse(config_text, sizeof(config_text) - 1, &g_cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz config: %s\n", err);
		abort();
	}
	if (!mkdtemp(g_dir) || store_open(g_dir, false, &g_store, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz store: %s\n", err);
		abort();
	}
	atexit(teardown);
}

/* decode -> match -> tracker -> outbox -> COPY row, checked, for chain
 * cfg->chains[ci] */
static void pipeline(const chain_transfer *t, size_t n, size_t ci)
{
	matcher *m = NULL;
	if (matcher_create(n, &m) < 0)
		return;
	uint64_t to_block = 0;
	for (size_t i = 0; i < n; i++) {
		matcher_add(m, (uint32_t)ci, &t[i].to, 0);
		to_block = t[i].block_number > to_block ? t[i].block_number : to_block;
	}
	pw_payment *found = calloc(n, sizeof(*found));
	size_t n_found = found ? matcher_match_transfers(m, g_cfg, ci, t, n, found) : 0;
	for (size_t i = 0; i < n_found; i++)
		if (found[i].block_time < 0)
			found[i].block_time = 1700000000; /* the ingest takes it from the block's header */
	char chain[32];
	snprintf(chain, sizeof(chain), "f%llu", (unsigned long long)++g_round);
	for (size_t i = 0; i < n_found; i++)
		snprintf(found[i].chain, sizeof(found[i].chain), "%s", chain);
	tracker_options opts = { .confirmations = 1, .window = 16, .start_block = 0 };
	tracker *tr = NULL;
	size_t confirmed = 0;
	if (n_found && tracker_create(g_store, chain, &opts, &tr) == 0 &&
	    tracker_apply_range(tr, 0, to_block, to_block + 1, NULL, 0, found, n_found, 1700000000123LL, &confirmed,
				NULL) == 0) {
		pw_payment out[64];
		uint64_t seqs[64];
		size_t got = 0;
		while (store_outbox_read(g_store, 0, out, seqs, 64, &got) == 0 && got > 0) {
			for (size_t i = 0; i < got; i++) {
				char row[2048], why[2048];
				for (int ts = 0; ts < 2; ts++) {
					if (pg_sink_copy_row(&out[i], ts, row, sizeof(row)) < 0) {
						fprintf(stderr, "an accepted payment has no COPY row: %s\n", row);
						abort();
					}
					const char *bad = row_check(row, ts);
					if (getenv("PW_FUZZ_VERBOSE"))
						fprintf(stderr, "row: %s", row);
					if (bad) {
						snprintf(why, sizeof(why), "%s", row);
						fprintf(stderr, "COPY row does not fit the schema (%s): %s", bad, why);
						abort();
					}
				}
			}
			store_outbox_delete(g_store, seqs, got);
		}
	}
	tracker_destroy(tr);
	free(found);
	matcher_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_cfg)
		setup();
	chain_adapter *a = evm_adapter_create_detached(15000);
	if (!a)
		return 0;
	evm_track(a, 1, 1, REQ_TRANSFERS, 0, 1000000000);
	evm_track(a, 2, 4, REQ_HEADERS, 10, 13);
	evm_track(a, 6, 1, REQ_NUMBER, 0, 0);
	evm_track(a, 7, 1, REQ_TAG, 0, 0);
	evm_track(a, 20, 3, REQ_TRANSFERS, 0, 1000000000); /* many tokens: a batch of 3 filters */
	/* the scanner of the adapter's hot path reads nothing the strict
	 * path (below) would read otherwise */
	if (scan_check((const char *)data, size) < 0)
		abort();
	rpc_message m;
	rpc_parse_message((const char *)data, size, &m);
	chain_event ev;
	if (evm_message_to_event(a, &m, &ev)) {
		/* the wait a node's answer asks for is bounded whatever it wrote
		 * (a rate-limit error's backoff_seconds) */
		if (ev.kind == CHAIN_EV_ERROR && ev.retry_after_s > RPC_RETRY_AFTER_MAX_S) {
			fprintf(stderr, "a node's wait of %u s past the cap\n", ev.retry_after_s);
			abort();
		}
		for (size_t ci = 0; ci < 2 && ev.kind == CHAIN_EV_TRANSFERS && ev.n_transfers; ci++)
			pipeline(ev.transfers, ev.n_transfers, ci);
		chain_event_done(&ev);
	}
	rpc_message_done(&m);
	g_cfg->chains[0].family->ops->close(a);
	return 0;
}
