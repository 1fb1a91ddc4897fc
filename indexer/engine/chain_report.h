/* chain_report.h: where a chain stands, read from the RocksDB that
 * `paywatch run` writes (its checkpoint, header window, pending payments,
 * outbox, and the state record run keeps per chain: head, finalized block,
 * endpoint, last reorg). `paywatch status` prints it; `run` publishes it to
 * Postgres for the API (/v1/chains, /readyz). */
#ifndef PW_CHAIN_REPORT_H
#define PW_CHAIN_REPORT_H

#include "config.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* One chain's figures. quarantine_known/quarantined are the caller's
 * (from Postgres); the rest comes from chain_report_read_all. */
typedef struct chain_report {
	const cfg_chain *c;
	bool indexed; /* a checkpoint exists */
	uint64_t checkpoint;
	bool have_state;
	store_chain_state st;
	bool have_confirmed;
	uint64_t confirmed_height;
	int64_t checkpoint_time; /* unix s of the checkpoint block, -1 unknown */
	uint64_t pending;
	uint64_t outbox_depth;
	int64_t outbox_oldest_ms;
	bool unread;           /* the store could not be read (status): every figure above unknown */
	bool quarantine_known; /* Postgres answered */
	uint64_t quarantined;  /* entries of this chain in payment_quarantine */
	char error[256];
} chain_report;

/* Lag and freshness, derived at now_ms (unix ms). */
typedef struct chain_figures {
	bool lag_known, lag_s_known, head_known;
	int64_t lag_blocks, lag_s;
	double state_age_s;
} chain_figures;

/* chain_report_read_all: the figures of each of cfg's chains from s into
 * cs[0..cfg->n_chains) (the caller's; each zeroed first), the outbox's in
 * one scan for every chain (store_outbox_stats_chains: O(depth), not
 * O(depth x chains)); a read that failed leaves its reason in the error of
 * each chain it concerns. */
void chain_report_read_all(store *s, const pw_config *cfg, chain_report *cs);

/* chain_report_figures: the lag in blocks and seconds (known when the head
 * and the checkpoint are) and the age of run's state record, at now_ms. */
chain_figures chain_report_figures(const chain_report *cs, int64_t now_ms);

/* chain_report_json: the figures as `status --json` prints them (unknown
 * values null, every store figure when cs->unread; endpoint the masked
 * URL). Caller frees with cJSON_Delete; NULL on out of memory. */
cJSON *chain_report_json(const chain_report *cs, int64_t now_ms);

/* report_iso_time: unix_ms as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into out (n bytes). */
void report_iso_time(int64_t unix_ms, char *out, size_t n);

/* report_json_num / report_json_time: add k to o as a number / an ISO
 * time, or null when not known. */
void report_json_num(cJSON *o, const char *k, bool known, double v);
void report_json_time(cJSON *o, const char *k, bool known, int64_t unix_ms);

/* The reporter: a thread of `paywatch run` that publishes every chain's
 * report to Postgres (table chain_reports) every second, on its own
 * connection, so that the API of any process can read it. */
typedef struct chain_reporter chain_reporter;

/* chain_reporter_start: start it; it ends when *stop is set. cfg, st and
 * stop must outlive it. 0 with *ret, or PW_ENOMEM. Postgres being down is
 * no error: it tries again each second. */
int chain_reporter_start(const pw_config *cfg, store *st, atomic_bool *stop, chain_reporter **ret);

/* chain_reporter_join: wait for it to end (after *stop was set) and free;
 * accepts NULL. */
void chain_reporter_join(chain_reporter *r);

#endif
