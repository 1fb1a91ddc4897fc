/* replay.c: `paywatch replay`. The range is fetched by the range pipeline
 * `run` uses (ranges in flight, adaptive size, failover); each fetched
 * range is reconciled with the Postgres rows of the same blocks, in block
 * order. Its writes go to a writer thread on its own connection, so the
 * node and Postgres work at once as they do for `run` (whose sink thread
 * writes beside its ingest): consecutive ranges' writes are joined into
 * one transaction of up to REPLAY_BATCH payments. Memory is bounded by the
 * ranges in flight and the writer's queue, never by the replay's length. */
#include "replay.h"
#include "cli_common.h"
#include "config.h"
#include "clock.h"
#include "hex.h"
#include "idfmt.h"
#include "pipeline.h"
#include "log.h"
#include "matcher.h"
#include "registry.h"
#include "registry_watch.h"
#include "mirror.h"
#include "parse.h"
#include "postgres.h"
#include "pw_error.h"
#include "uint256.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char replay_help[] =
	"usage: paywatch replay -c FILE --chain NAME --from N --to M [options]\n"
	"\n"
	"Fetches blocks N..M of chain NAME from its node again (several eth_getLogs in\n"
	"flight, adaptive range size, failover across its URLs), matches the transfers\n"
	"against the merchant addresses of FILE and of the registry (as `run` does),\n"
	"and reconciles Postgres with them:\n"
	"  present     found on chain and in Postgres, equal: nothing to do\n"
	"  missing     found on chain, not in Postgres: inserted, with webhook events\n"
	"              queued (merchants hear of them once)\n"
	"  reverted    a confirmed row of the range whose block is no longer canonical:\n"
	"              marked reverted, with a payment.reverted event\n"
	"  differing   a row whose columns differ from the chain, or a row of a\n"
	"              watched address on a canonical block with no such transfer:\n"
	"              reported; with --fix set to the chain's values (or reverted)\n"
	"Rows of addresses or tokens no longer in FILE or the registry are left alone\n"
	"and counted.\n"
	"Blocks above the confirmed height (head - confirmations + 1, or the node's\n"
	"finalized/safe block) are not replayed: the range is clipped and says so.\n"
	"Safe beside `paywatch run` on the same config: it needs no RocksDB, and\n"
	"every write is idempotent (payment identity, deterministic event ids).\n"
	"\n"
	"options:\n"
	"  --dry-run        report only; change nothing\n"
	"  --no-webhooks    insert and revert without queuing webhook events\n"
	"  --merchant ID    only this merchant's addresses and rows (the config's or the\n"
	"                   registry's)\n"
	"  --address ADDR   only this address, written as the chain's config writes it\n"
	"                   (EVM: 0x + 40 hex digits, EIP-55 checked; Tron: T... or 41...)\n"
	"  --fix            also fix differing rows (no webhook events for fixes)\n"
	"  --json           print the summary as one JSON object on stdout\n"
	"\n"
	"Progress goes to stderr: a bar on a terminal, else a line every 5 s.\n"
	"Ctrl-C stops after the range in hand and reports the last block completed;\n"
	"resume with --from that block + 1.\n"
	"Exit codes: 0 the range (as clipped) was fully reconciled, 1 a failure or\n"
	"an interruption, 2 bad arguments or config.\n";

#define MAX_DIFF_REPORTS 1000 /* differing rows listed in the summary; all are counted */
#define REPLAY_BATCH 5000     /* payments per writer transaction, at most (ranges joined), as run's sink */
#define REPLAY_WRITERS 2      /* writer threads, each on its own connection (two Postgres backends) */
#define REPLAY_QUEUE 8        /* ranges not yet written, at most (then fetching waits) */

enum { JOB_QUEUED, JOB_TAKEN, JOB_DONE };

/* One range's writes, for a writer thread. Jobs stay in block order until
 * done: a range counts as completed once it and every range before it
 * are written (two writers commit out of order). */
typedef struct write_job {
	struct write_job *next;
	int state; /* JOB_QUEUED, JOB_TAKEN, JOB_DONE */
	uint64_t from, to;
	size_t n_logs, n_found;
	pw_payment *writes; /* inserts and reverts, one pg_sink_write_payments batch */
	size_t n_writes;
	pw_payment *fixes; /* --fix: rows set to the chain's values */
	size_t n_fixes;
	size_t n_fix_reverts; /* writes that are --fix reverts (not on chain), not reorg victims */
} write_job;

typedef struct replay_opts {
	const char *config_path, *chain, *merchant, *address;
	uint64_t from, to;
	bool have_from, have_to, dry_run, no_webhooks, fix, json, help;
	/* a rescan (replay_address): the address is the registry's, of this
	 * merchant; no signals, no summary printed, stopped by *stop */
	const char *rescan_merchant;
	atomic_bool *stop;
} replay_opts;

typedef struct diff_report {
	uint64_t block_number;
	uint32_t log_index;
	uint8_t block_hash[PW_HASH_LEN];
	char fields[160]; /* comma-separated column names, or "not on chain" */
	bool fixed;
} diff_report;

typedef struct replay {
	const pw_config *cfg;
	const replay_opts *o;
	size_t ci;
	const cfg_chain *chain;
	pg_sink *pg;
	matcher *m;
	const char *merchant; /* --merchant (or the rescan's), NULL: every merchant */
	bool have_address;
	pw_addr address;
	/* the node and the clip */
	uint64_t head;
	int64_t finalized;
	bool have_confirmed; /* false: nothing is confirmed yet (young chain) */
	uint64_t confirmed_height;
	uint64_t to; /* the last block to replay, after clipping */
	bool clipped;
	bool empty; /* nothing of the range is confirmed: nothing to replay */
	bool target_known;
	uint64_t last_done; /* the last block reconciled; from - 1 before any */
	bool any_done;
	/* counts */
	uint64_t blocks, logs, found, present, missing, inserted, reverted, already_reverted;
	uint64_t differing, fixed, unwatched, deliveries;
	uint64_t quarantined; /* entries Postgres refused, kept in payment_quarantine */
	diff_report *diffs;
	size_t n_diffs;
	/* progress */
	bool tty;
	int64_t start_ms, last_draw_ms;
	/* the node's head and finalized block, asked for once */
	uint64_t head_req, tag_req;
	pipeline_retry head_retry, tag_retry; /* after one failed: when to ask again */
	bool head_known, finalized_known;
	/* the writers: their own connections, the ranges in order, the first error */
	pg_sink *pg_w[REPLAY_WRITERS];
	pthread_t writer[REPLAY_WRITERS];
	size_t writers_started;
	pthread_mutex_t lock; /* the queue and every count above */
	pthread_cond_t cond;
	write_job *queue_head, *queue_tail;
	size_t queued;
	bool closing;
	int writer_error;
} replay;

static atomic_bool g_stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_stop, true);
}

/* A block number of --from or --to into *ret; 2 with the usage error. */
static int block_opt(const char *name, const char *v, uint64_t *ret)
{
	if (parse_u64(v, (uint64_t)INT64_MAX, ret) == 0)
		return 0;
	char what[64];
	snprintf(what, sizeof(what), "%s must be a block number, not \"%%s\"", name);
	return cli_usage(what, v, replay_help);
}

static int parse_opts(int argc, char **argv, replay_opts *o)
{
	const char *from = NULL, *to = NULL;
	const cli_option opts[] = { { "-c", &o->config_path, NULL },
				    { "--config", &o->config_path, NULL },
				    { "--chain", &o->chain, NULL },
				    { "--merchant", &o->merchant, NULL },
				    { "--address", &o->address, NULL },
				    { "--from", &from, NULL },
				    { "--to", &to, NULL },
				    { "--dry-run", NULL, &o->dry_run },
				    { "--no-webhooks", NULL, &o->no_webhooks },
				    { "--fix", NULL, &o->fix },
				    { "--json", NULL, &o->json },
				    { NULL, NULL, NULL } };
	size_t n;
	int rc = cli_parse(argc, argv, opts, NULL, 0, &n, &o->help, replay_help);
	if (rc || o->help)
		return rc;
	if ((from && (rc = block_opt("--from", from, &o->from)) != 0) ||
	    (to && (rc = block_opt("--to", to, &o->to)) != 0))
		return rc;
	o->have_from = from != NULL;
	o->have_to = to != NULL;
	if (!o->config_path)
		return cli_usage("%s", "missing -c FILE", replay_help);
	if (!o->chain)
		return cli_usage("%s", "missing --chain NAME", replay_help);
	if (!o->have_from || !o->have_to)
		return cli_usage("%s", "missing --from N or --to M", replay_help);
	if (o->from > o->to) {
		fprintf(stderr, "paywatch: --from %llu is above --to %llu\n", (unsigned long long)o->from,
			(unsigned long long)o->to);
		return 2;
	}
	return 0;
}

/* One address of the whole set (config and registry) into the replay's
 * own, when it is of the replay's chain and of the selected merchant and
 * address. */
typedef struct pick {
	replay *rp;
	const matcher *from;
} pick;

static int pick_entry(void *arg, uint32_t chain_index, const pw_addr *address, uint32_t merchant_index, long hd_index)
{
	pick *p = arg;
	replay *rp = p->rp;
	const char *id = matcher_merchant_id(p->from, merchant_index);
	if (chain_index != rp->ci || !id || (rp->merchant && strcmp(rp->merchant, id) != 0) ||
	    (rp->have_address && !pw_addr_eq(address, &rp->address)))
		return 0;
	uint32_t index;
	int r = matcher_merchant_index(rp->m, id, &index);
	return r < 0 ? r : matcher_add_hd(rp->m, chain_index, address, index, hd_index);
}

/* The merchant address set of the replay: the chain's addresses, the
 * config's and the registry's (as `run` matches them), only the selected
 * merchant's and/or address when asked. 0, 2 (usage: no such merchant,
 * or the address is none of theirs; said on stderr), or < 0 (said in the
 * log). */
static int build_matcher(replay *rp)
{
	int r = matcher_create(64, &rp->m);
	if (r < 0)
		return log_error(r, "replay: out of memory");
	if (rp->o->rescan_merchant) { /* one address of the registry */
		uint32_t index;
		if ((r = matcher_add_merchant(rp->m, rp->o->rescan_merchant, &index)) == 0)
			r = matcher_add(rp->m, (uint32_t)rp->ci, &rp->address, index);
		return r < 0 ? log_error(r, "replay: out of memory") : 0;
	}
	matcher *all = NULL;
	registry_load_stats st;
	char err[512] = "";
	uint32_t unused;
	/* the chain's registry rows alone: the other chains' are never held */
	if ((r = registry_build(rp->cfg, pg_sink_conn(rp->pg), rp->chain->name, &all, &st, err, sizeof(err))) < 0)
		return log_error(r, "postgres: cannot read the merchant registry: %s", *err ? err : pw_strerror(r));
	log_debug("replay: the registry's addresses of chain %s loaded (%zu rows of other chains not)", rp->chain->name,
		  st.other_chain);
	if (rp->merchant && !matcher_find_merchant(all, rp->merchant, &unused)) {
		fprintf(stderr,
			"paywatch: --merchant %s: no such merchant in %s, nor one with an address on chain %s in the "
			"registry\n",
			rp->merchant, rp->o->config_path, rp->chain->name);
		matcher_destroy(all);
		return 2;
	}
	pick p = { rp, all };
	r = matcher_each(all, pick_entry, &p);
	matcher_destroy(all);
	if (r < 0)
		return log_error(r, "replay: out of memory");
	if (rp->have_address && matcher_count(rp->m) == 0) {
		fprintf(stderr,
			"paywatch: --address %s is not a merchant address on chain %s%s%s in %s or the registry\n",
			rp->o->address, rp->chain->name, rp->merchant ? " of merchant " : "",
			rp->merchant ? rp->merchant : "", rp->o->config_path);
		return 2;
	}
	return 0;
}

/* ---- progress ---- */

static void format_duration(char *out, size_t n, double s)
{
	if (s < 0 || s > 359999)
		snprintf(out, n, "--:--");
	else if (s >= 3600)
		snprintf(out, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
	else
		snprintf(out, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

static void progress(replay *rp, bool force)
{
	int64_t now = pw_mono_ms();
	int64_t every = rp->tty ? 200 : 5000;
	if (!force && now - rp->last_draw_ms < every)
		return;
	rp->last_draw_ms = now;
	pthread_mutex_lock(&rp->lock); /* the writer counts too */
	uint64_t blocks = rp->blocks, found = rp->found, last_done = rp->last_done;
	bool any_done = rp->any_done;
	pthread_mutex_unlock(&rp->lock);
	uint64_t total = rp->target_known && !rp->empty ? rp->to - rp->o->from + 1 : 0;
	double secs = (double)(now - rp->start_ms) / 1000.0;
	double rate = secs > 0 ? (double)blocks / secs : 0;
	char eta[24];
	format_duration(eta, sizeof(eta), rate > 0 ? (double)(total - blocks) / rate : -1);
	char line[400];
	if (rp->tty) {
		char bar[31];
		size_t fill = total ? (size_t)(30 * blocks / total) : 0;
		for (size_t i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		snprintf(line, sizeof(line), "[%s] %3d%% %llu/%llu blocks  %.0f blocks/s  %llu payments found  ETA %s",
			 bar, total ? (int)(100 * blocks / total) : 0, (unsigned long long)blocks,
			 (unsigned long long)total, rate, (unsigned long long)found, eta);
		log_status(line);
	} else {
		log_emit(LOG_LEVEL_INFO, rp->chain->name, any_done ? (long long)last_done : -1,
			 "replay: %llu/%llu blocks, %.0f blocks/s, %llu payments found, ETA %s",
			 (unsigned long long)blocks, (unsigned long long)total, rate, (unsigned long long)found, eta);
	}
}

/* ---- the pipeline's hooks ---- */

/* The node's head (and, in finality mode, its finalized/safe block, -1
 * when it has none) are known: clip the range to the confirmed height.
 * *ret_to: the last block to replay. 1 when nothing of the range is
 * confirmed (the replay ends at once), else 0. */
static int clip_target(replay *rp, uint64_t head, int64_t finalized, uint64_t *ret_to)
{
	const cfg_chain *c = rp->chain;
	rp->head = head;
	rp->finalized = finalized;
	if (c->finality != CHAIN_FINALITY_CONFIRMATIONS) {
		rp->have_confirmed = finalized >= 0;
		rp->confirmed_height = finalized >= 0 ? (uint64_t)finalized : 0;
	} else {
		/* the tracker's rule: block b is confirmed once head - b + 1 >= confirmations */
		rp->have_confirmed = head + 1 >= c->confirmations;
		rp->confirmed_height = rp->have_confirmed ? head + 1 - c->confirmations : 0;
	}
	rp->to = rp->o->to;
	if (!rp->have_confirmed || rp->confirmed_height < rp->to) {
		rp->clipped = true;
		rp->empty = !rp->have_confirmed || rp->confirmed_height < rp->o->from;
		rp->to = rp->empty ? rp->o->from : rp->confirmed_height;
		char rule[64];
		if (c->finality != CHAIN_FINALITY_CONFIRMATIONS)
			snprintf(rule, sizeof(rule), "the node's %s block", chain_finality_tag(c->finality));
		else
			snprintf(rule, sizeof(rule), "head %llu, confirmations %u", (unsigned long long)head,
				 c->confirmations);
		if (!rp->have_confirmed)
			log_emit(LOG_LEVEL_WARN, c->name, -1,
				 "replay: no block is confirmed yet (%s): nothing to replay", rule);
		else if (rp->empty)
			log_emit(LOG_LEVEL_WARN, c->name, (long long)rp->confirmed_height,
				 "replay: the whole range %llu..%llu is above the confirmed height %llu (%s): range "
				 "clipped to nothing",
				 (unsigned long long)rp->o->from, (unsigned long long)rp->o->to,
				 (unsigned long long)rp->confirmed_height, rule);
		else
			log_emit(LOG_LEVEL_WARN, c->name, (long long)rp->confirmed_height,
				 "replay: blocks above the confirmed height %llu (%s) are not replayed: range clipped "
				 "from %llu..%llu to %llu..%llu",
				 (unsigned long long)rp->confirmed_height, rule, (unsigned long long)rp->o->from,
				 (unsigned long long)rp->o->to, (unsigned long long)rp->o->from,
				 (unsigned long long)rp->to);
	}
	rp->target_known = true;
	*ret_to = rp->to;
	return rp->empty ? 1 : 0;
}

/* Once the head (and the finalized block, in finality mode) are known,
 * fix the target for good: a replay does not follow the head. */
static int decide_target(replay *rp, pipeline *pl)
{
	bool finality = rp->chain->finality != CHAIN_FINALITY_CONFIRMATIONS;
	if (rp->target_known || !rp->head_known || (finality && !rp->finalized_known))
		return 0;
	uint64_t to = 0;
	if (clip_target(rp, rp->head, finality ? rp->finalized : -1, &to) > 0) {
		pipeline_stop(pl); /* nothing to fetch */
		return 0;
	}
	pipeline_set_target(pl, to);
	return 0;
}

static int on_connect(void *arg, pipeline *pl)
{
	replay *rp = arg;
	if (rp->target_known)
		return 0; /* fixed on an earlier connection */
	rp->head_known = rp->finalized_known = false;
	return pipeline_ops(pl)->request_head_number(pipeline_adapter(pl), &rp->head_req);
}

static void on_disconnect(void *arg, pipeline *pl)
{
	(void)pl;
	replay *rp = arg;
	rp->head_req = rp->tag_req = 0;
	rp->head_retry = rp->tag_retry = (pipeline_retry){ 0 };
}

/* A head or tagged block request that failed is asked again when its
 * wait is over (pipeline_retry_failed), never at once. */
static int on_tick(void *arg, pipeline *pl)
{
	replay *rp = arg;
	if (!rp->head_req && pipeline_retry_due(&rp->head_retry))
		return pipeline_ops(pl)->request_head_number(pipeline_adapter(pl), &rp->head_req);
	if (!rp->tag_req && pipeline_retry_due(&rp->tag_retry))
		return pipeline_ops(pl)->request_tag_number(pipeline_adapter(pl), rp->chain->finality, &rp->tag_req);
	return 0;
}

static int on_event(void *arg, pipeline *pl, chain_event *ev)
{
	replay *rp = arg;
	bool finality = rp->chain->finality != CHAIN_FINALITY_CONFIRMATIONS;
	if (ev->kind == CHAIN_EV_NUMBER && ev->req && ev->req == rp->head_req) {
		rp->head_req = 0;
		rp->head_retry = (pipeline_retry){ 0 };
		rp->head_known = true;
		rp->head = ev->number;
		if (finality) {
			int r = pipeline_ops(pl)->request_tag_number(pipeline_adapter(pl), rp->chain->finality,
								     &rp->tag_req);
			if (r < 0)
				return r;
		}
		return decide_target(rp, pl);
	}
	if (ev->kind == CHAIN_EV_NUMBER && ev->req && ev->req == rp->tag_req) {
		rp->tag_req = 0;
		rp->tag_retry = (pipeline_retry){ 0 };
		rp->finalized_known = true;
		rp->finalized = (int64_t)ev->number;
		return decide_target(rp, pl);
	}
	if (ev->kind != CHAIN_EV_ERROR || !ev->req || (ev->req != rp->head_req && ev->req != rp->tag_req))
		return 0; /* new heads: a replay's target is fixed */
	bool tag = ev->req == rp->tag_req;
	if (tag && ev->error == PW_ENOTFOUND) { /* no finalized block yet (young chain) */
		rp->tag_req = 0;
		rp->finalized_known = true;
		rp->finalized = -1;
		return decide_target(rp, pl);
	}
	rp->head_req = tag ? rp->head_req : 0;
	rp->tag_req = tag ? 0 : rp->tag_req;
	/* asked again in on_tick, never at once */
	return pipeline_retry_failed(pl, tag ? &rp->tag_retry : &rp->head_retry, ev,
				     tag ? chain_finality_tag(rp->chain->finality) : "head");
}

static int cmp_identity(const void *a, const void *b)
{
	const pw_payment *x = a, *y = b;
	if (x->block_number != y->block_number)
		return x->block_number < y->block_number ? -1 : 1;
	if (x->log_index != y->log_index)
		return x->log_index < y->log_index ? -1 : 1;
	return memcmp(x->block_hash, y->block_hash, PW_HASH_LEN);
}

typedef struct range_rows {
	pw_payment *rows; /* sorted by identity */
	size_t n;
	bool *matched; /* per row: a found payment has its identity */
} range_rows;

static void free_ctx(void *ctx)
{
	range_rows *rr = ctx;
	free(rr->rows);
	free(rr->matched);
	free(rr);
}

/* The Postgres rows of the range; the blocks of rows no found payment
 * explains need their canonical header (is the row's block still there?). */
static int on_logs(void *arg, uint64_t from, uint64_t to, uint64_t window_from, const pw_payment *found, size_t n,
		   void **ret_ctx, uint64_t **ret_numbers, size_t *ret_n)
{
	(void)window_from;
	replay *rp = arg;
	range_rows *rr = calloc(1, sizeof(*rr));
	if (!rr)
		return PW_ENOMEM;
	int r = pg_sink_read_payments(rp->pg, rp->chain->name, rp->chain->family->family, from, to, rp->merchant,
				      rp->have_address ? &rp->address : NULL, &rr->rows, &rr->n);
	if (r < 0) {
		free(rr);
		return log_error(r, "chain=%s: postgres: %s", rp->chain->name, pg_sink_error(rp->pg));
	}
	*ret_ctx = rr;
	if (rr->n == 0)
		return 0;
	qsort(rr->rows, rr->n, sizeof(pw_payment), cmp_identity);
	rr->matched = calloc(rr->n, sizeof(bool));
	uint64_t *numbers = malloc(rr->n * sizeof(*numbers));
	if (!rr->matched || !numbers) {
		free(numbers);
		return PW_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const pw_payment *row = bsearch(&found[i], rr->rows, rr->n, sizeof(pw_payment), cmp_identity);
		if (row)
			rr->matched[row - rr->rows] = true;
	}
	size_t k = 0;
	for (size_t i = 0; i < rr->n; i++) {
		uint64_t b = rr->rows[i].block_number;
		if (!rr->matched[i] && (k == 0 || numbers[k - 1] != b))
			numbers[k++] = b;
	}
	*ret_numbers = numbers;
	*ret_n = k;
	return 0;
}

/* Columns of row that differ from the chain's payment p ("" when equal). */
static void diff_fields(const pw_payment *row, const pw_payment *p, char *out, size_t n)
{
	out[0] = '\0';
	size_t len = 0;
#define DIFF(cond, name)                                                                                               \
	if (cond)                                                                                                      \
	len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%s", len ? "," : "", name)
	DIFF(strcmp(row->chain, p->chain) != 0, "chain");
	DIFF(row->block_number != p->block_number, "block_number");
	DIFF(row->block_time != p->block_time, "block_time");
	DIFF(row->tx_hash.len != p->tx_hash.len || memcmp(row->tx_hash.b, p->tx_hash.b, p->tx_hash.len) != 0,
	     "tx_hash");
	DIFF(!pw_addr_eq(&row->token, &p->token), "token_address");
	DIFF(strcmp(row->token_symbol, p->token_symbol) != 0, "token_symbol");
	DIFF(row->decimals != p->decimals, "decimals");
	DIFF(!pw_addr_eq(&row->from, &p->from), "from_address");
	DIFF(!pw_addr_eq(&row->to, &p->to), "to_address");
	DIFF(strcmp(row->merchant_id, p->merchant_id) != 0, "merchant_id");
	DIFF(memcmp(row->amount, p->amount, PW_U256_LEN) != 0, "amount_raw");
	DIFF(row->status != PW_STATUS_CONFIRMED, "status");
#undef DIFF
}

static void report_diff(replay *rp, const pw_payment *row, const char *fields, bool fixed)
{
	rp->differing++;
	char hash[PW_HASH_TEXT_MAX];
	pw_format_hash(rp->chain->family->family, row->block_hash, PW_HASH_LEN, hash);
	log_emit(LOG_LEVEL_WARN, rp->chain->name, (long long)row->block_number,
		 "replay: row (block %llu, log %u, block hash %s) differs from the chain: %s%s",
		 (unsigned long long)row->block_number, row->log_index, hash, fields, fixed ? " (fixed)" : "");
	if (rp->n_diffs == MAX_DIFF_REPORTS)
		return;
	if (rp->n_diffs == 0 && !(rp->diffs = malloc(MAX_DIFF_REPORTS * sizeof(diff_report))))
		return;
	diff_report *d = &rp->diffs[rp->n_diffs++];
	d->block_number = row->block_number;
	d->log_index = row->log_index;
	memcpy(d->block_hash, row->block_hash, PW_HASH_LEN);
	snprintf(d->fields, sizeof(d->fields), "%s", fields);
	d->fixed = fixed;
}

/* A range reconciled (its writes committed): the counts and the resume
 * point. Called with rp->lock held. */
static void range_done(replay *rp, uint64_t from, uint64_t to, size_t n_logs, size_t n_found)
{
	log_emit(LOG_LEVEL_DEBUG, rp->chain->name, (long long)to, "replayed [%llu, %llu]: %zu logs, %zu payments",
		 (unsigned long long)from, (unsigned long long)to, n_logs, n_found);
	rp->blocks += to - from + 1;
	rp->logs += n_logs;
	rp->found += n_found;
	rp->last_done = to;
	rp->any_done = true;
}

static const pw_block_ref *find_header(const pw_block_ref *h, size_t n, uint64_t number)
{
	for (size_t i = 0; i < n; i++)
		if (h[i].number == number)
			return &h[i];
	return NULL;
}

/* Is this row's payment one the replay watches (token configured on the
 * chain, address in the replay's set)? */
static bool watched(const replay *rp, const pw_payment *row)
{
	uint32_t mi;
	if (!matcher_lookup(rp->m, (uint32_t)rp->ci, &row->to, &mi))
		return false;
	for (size_t t = 0; t < rp->chain->n_tokens; t++)
		if (pw_addr_eq(&rp->chain->tokens[t].address, &row->token))
			return true;
	return false;
}

static int on_range(void *arg, pipeline *pl, pipeline_range *pr)
{
	(void)pl;
	replay *rp = arg;
	range_rows *rr = pr->ctx;
	pw_payment *found = pr->payments;
	size_t n = pr->n_payments, n_headers = pr->n_headers, n_logs = pr->n_logs;
	const pw_block_ref *headers = pr->headers;
	uint64_t from = pr->from, to = pr->to;
	int64_t now_ms = pw_wall_ms();
	/* at most one write per found payment and per row */
	size_t cap = n + (rr ? rr->n : 0);
	pw_payment *writes = cap ? malloc(cap * sizeof(*writes)) : NULL;
	pw_payment **fixes = cap ? malloc(cap * sizeof(*fixes)) : NULL;
	if (cap && (!writes || !fixes)) {
		free(writes);
		free(fixes);
		return PW_ENOMEM;
	}
	size_t n_writes = 0, n_fixes = 0, n_missing = 0, n_fix_reverts = 0;
	pthread_mutex_lock(&rp->lock); /* the counts are the writer's too */
	for (size_t i = 0; i < n; i++) {
		pw_payment *p = &found[i];
		p->status = PW_STATUS_CONFIRMED;
		uint64_t depth = rp->head - p->block_number + 1;
		p->confirmations =
			depth > (uint64_t)PW_CONFIRMATIONS_MAX ? (uint32_t)PW_CONFIRMATIONS_MAX : (uint32_t)depth;
		p->confirmed_at_ms = now_ms;
		const pw_payment *row =
			rr && rr->n ? bsearch(p, rr->rows, rr->n, sizeof(pw_payment), cmp_identity) : NULL;
		if (!row) {
			writes[n_writes++] = *p;
			n_missing++;
			continue;
		}
		char fields[160];
		diff_fields(row, p, fields, sizeof(fields));
		if (!fields[0]) {
			rp->present++;
			continue;
		}
		report_diff(rp, row, fields, rp->o->fix && !rp->o->dry_run);
		if (rp->o->fix)
			fixes[n_fixes++] = p;
	}
	for (size_t i = 0; rr && i < rr->n; i++) {
		if (rr->matched[i])
			continue;
		pw_payment *row = &rr->rows[i];
		const pw_block_ref *h = find_header(headers, n_headers, row->block_number);
		if (!h) { /* asked for in on_logs: its absence is a bug, not a chain state */
			pthread_mutex_unlock(&rp->lock);
			free(writes);
			free(fixes);
			return log_error(PW_EINVAL, "chain=%s: no header fetched for block %llu", rp->chain->name,
					 (unsigned long long)row->block_number);
		}
		bool canonical = memcmp(h->hash, row->block_hash, PW_HASH_LEN) == 0;
		if (!canonical && row->status == PW_STATUS_REVERTED) {
			rp->already_reverted++;
		} else if (!canonical) {
			char hash[PW_HASH_TEXT_MAX];
			pw_format_hash(rp->chain->family->family, row->block_hash, PW_HASH_LEN, hash);
			log_emit(
				LOG_LEVEL_WARN, rp->chain->name, (long long)row->block_number,
				"replay: row (block %llu, log %u) is of block hash %s, which is no longer canonical: %s",
				(unsigned long long)row->block_number, row->log_index, hash,
				rp->o->dry_run ? "would mark it reverted" : "marking it reverted");
			row->status = PW_STATUS_REVERTED;
			writes[n_writes++] = *row;
			if (rp->o->dry_run)
				rp->reverted++; /* a real run counts what Postgres changed, below */
		} else if (!watched(rp, row)) {
			rp->unwatched++; /* an address or token removed from the config: not ours to judge */
		} else if (row->status == PW_STATUS_REVERTED) {
			rp->already_reverted++; /* reverted by an operator or an earlier --fix: left alone */
		} else {
			bool fix = rp->o->fix && !rp->o->dry_run;
			report_diff(rp, row, "not on chain (no such transfer to a watched address in this block)", fix);
			if (rp->o->fix) {
				row->status = PW_STATUS_REVERTED;
				writes[n_writes++] = *row;
				n_fix_reverts++;
			}
		}
	}
	rp->missing += n_missing;
	int r = rp->writer_error;
	pthread_mutex_unlock(&rp->lock);
	if (r < 0) {
		free(writes);
		free(fixes);
		return r; /* the writer failed: stop fetching */
	}
	if (rp->o->dry_run) {
		free(writes);
		free(fixes);
		pthread_mutex_lock(&rp->lock);
		range_done(rp, from, to, n_logs, n);
		pthread_mutex_unlock(&rp->lock);
		progress(rp, false);
		return PIPELINE_APPLIED;
	}
	write_job *job = calloc(1, sizeof(*job));
	pw_payment *fix_copies = n_fixes ? malloc(n_fixes * sizeof(pw_payment)) : NULL;
	if (!job || (n_fixes && !fix_copies)) {
		free(job);
		free(fix_copies);
		free(writes);
		free(fixes);
		return PW_ENOMEM;
	}
	for (size_t i = 0; i < n_fixes; i++)
		fix_copies[i] = *fixes[i];
	free(fixes);
	*job = (write_job){ .from = from,
			    .to = to,
			    .n_logs = n_logs,
			    .n_found = n,
			    .writes = writes,
			    .n_writes = n_writes,
			    .fixes = fix_copies,
			    .n_fixes = n_fixes,
			    .n_fix_reverts = n_fix_reverts };
	pthread_mutex_lock(&rp->lock);
	while (rp->queued >= REPLAY_QUEUE && !rp->writer_error) /* backpressure: Postgres is the slower side */
		pthread_cond_wait(&rp->cond, &rp->lock);
	if (rp->queue_tail)
		rp->queue_tail->next = job;
	else
		rp->queue_head = job;
	rp->queue_tail = job;
	rp->queued++;
	pthread_cond_broadcast(&rp->cond);
	pthread_mutex_unlock(&rp->lock);
	progress(rp, false);
	return PIPELINE_APPLIED;
}

static void free_job(write_job *j)
{
	free(j->writes);
	free(j->fixes);
	free(j);
}

/* A writer thread: take the first run of queued ranges (up to
 * REPLAY_BATCH payments), write them in one transaction on its own
 * connection, apply their fixes, count what Postgres changed, and mark
 * them done; ranges leave the queue, counted as completed, in block order.
 * A failure is kept (the pipeline stops at its next range) and nothing
 * more is written: "last block completed" stays true (ranges after a
 * failed one are not counted even if the other writer wrote them; a
 * resumed replay finds them present). */
typedef struct writer_arg {
	replay *rp;
	pg_sink *pg;
} writer_arg;

static void *writer_main(void *arg)
{
	writer_arg *wa = arg;
	replay *rp = wa->rp;
	pg_sink *pg = wa->pg;
	pthread_mutex_lock(&rp->lock);
	for (;;) {
		write_job *first = NULL;
		for (;;) {
			first = rp->queue_head;
			while (first && first->state != JOB_QUEUED)
				first = first->next;
			if (first || rp->closing || rp->writer_error)
				break;
			pthread_cond_wait(&rp->cond, &rp->lock);
		}
		if (!first || rp->writer_error)
			break;
		/* take a run of queued ranges; their pointers are copied here, as
		 * the tail's next pointer may change once the lock is released */
		write_job *run[REPLAY_QUEUE];
		write_job *last = first;
		size_t total = first->n_writes, jobs = 1, with_writes = first->n_writes > 0;
		first->state = JOB_TAKEN;
		run[0] = first;
		while (jobs < REPLAY_QUEUE && last->next && last->next->state == JOB_QUEUED &&
		       total + last->next->n_writes <= REPLAY_BATCH) {
			last = last->next;
			last->state = JOB_TAKEN;
			run[jobs++] = last;
			total += last->n_writes;
			with_writes += last->n_writes > 0;
		}
		pthread_mutex_unlock(&rp->lock);

		pw_payment *batch = NULL;
		bool joined = with_writes > 1; /* batch is a copy of several ranges' writes, not a job's own array */
		size_t n_batch = 0, fix_reverts = 0, fixed = 0;
		int r = 0;
		if (joined && !(batch = malloc(total * sizeof(*batch))))
			r = PW_ENOMEM;
		for (size_t k = 0; r == 0 && k < jobs; k++) {
			const write_job *j = run[k];
			if (joined && j->n_writes)
				memcpy(batch + n_batch, j->writes, j->n_writes * sizeof(*batch));
			else if (j->n_writes)
				batch = j->writes;
			n_batch += j->n_writes;
		}
		pg_write_result res = { 0 };
		if (r == 0 && n_batch && (r = pg_sink_write_payments(pg, batch, n_batch, &res)) < 0)
			log_error(r, "chain=%s: postgres: %s", rp->chain->name, pg_sink_error(pg));
		if (joined)
			free(batch);
		for (size_t k = 0; r == 0 && k < jobs; k++) {
			const write_job *j = run[k];
			fix_reverts += j->n_fix_reverts;
			for (size_t i = 0; r == 0 && i < j->n_fixes; i++) {
				size_t updated = 0;
				if ((r = pg_sink_fix_payment(pg, &j->fixes[i], &updated)) < 0)
					log_error(r, "chain=%s: postgres: %s", rp->chain->name, pg_sink_error(pg));
				fixed += updated;
			}
		}
		if (res.quarantined)
			log_emit(LOG_LEVEL_ERROR, rp->chain->name, (long long)last->to,
				 "replay: %zu payment(s) refused by Postgres and kept in the quarantine "
				 "(`paywatch quarantine list`): %s",
				 res.quarantined, pg_sink_error(pg));

		pthread_mutex_lock(&rp->lock);
		if (r == 0) {
			/* a row inserted meanwhile (by `run`) counts as present */
			rp->inserted += res.inserted;
			rp->present += res.present;
			/* rows --fix reverted (not on chain) are fixes, not reorg victims */
			size_t counted_fix_reverts = res.reverted < fix_reverts ? res.reverted : fix_reverts;
			rp->reverted += res.reverted - counted_fix_reverts;
			rp->fixed += counted_fix_reverts + fixed;
			rp->deliveries += res.deliveries;
			rp->quarantined += res.quarantined;
			for (size_t k = 0; k < jobs; k++)
				run[k]->state = JOB_DONE;
			/* completed in block order */
			while (rp->queue_head && rp->queue_head->state == JOB_DONE) {
				write_job *d = rp->queue_head;
				rp->queue_head = d->next;
				if (!rp->queue_head)
					rp->queue_tail = NULL;
				rp->queued--;
				range_done(rp, d->from, d->to, d->n_logs, d->n_found);
				free_job(d);
			}
		} else if (!rp->writer_error) {
			rp->writer_error = r;
		}
		pthread_cond_broadcast(&rp->cond);
	}
	pthread_mutex_unlock(&rp->lock);
	return NULL;
}

/* ---- summary ---- */

static void print_json(const replay *rp, const char *outcome, int64_t elapsed_ms)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "chain", rp->chain->name);
	cJSON_AddStringToObject(o, "outcome", outcome);
	cJSON_AddNumberToObject(o, "requested_from", (double)rp->o->from);
	cJSON_AddNumberToObject(o, "requested_to", (double)rp->o->to);
	if (rp->target_known) {
		cJSON_AddNumberToObject(o, "head", (double)rp->head);
		if (rp->have_confirmed)
			cJSON_AddNumberToObject(o, "confirmed_height", (double)rp->confirmed_height);
		else
			cJSON_AddNullToObject(o, "confirmed_height");
		cJSON_AddBoolToObject(o, "clipped", rp->clipped);
		if (!rp->empty)
			cJSON_AddNumberToObject(o, "replay_to", (double)rp->to);
		else
			cJSON_AddNullToObject(o, "replay_to");
	}
	if (rp->any_done)
		cJSON_AddNumberToObject(o, "last_block_completed", (double)rp->last_done);
	else
		cJSON_AddNullToObject(o, "last_block_completed");
	cJSON_AddBoolToObject(o, "dry_run", rp->o->dry_run);
	cJSON_AddBoolToObject(o, "webhooks", !rp->o->no_webhooks);
	cJSON_AddNumberToObject(o, "blocks", (double)rp->blocks);
	cJSON_AddNumberToObject(o, "logs", (double)rp->logs);
	cJSON_AddNumberToObject(o, "payments_found", (double)rp->found);
	cJSON_AddNumberToObject(o, "present", (double)rp->present);
	cJSON_AddNumberToObject(o, "missing", (double)rp->missing);
	cJSON_AddNumberToObject(o, "inserted", (double)rp->inserted);
	cJSON_AddNumberToObject(o, "reverted", (double)rp->reverted);
	cJSON_AddNumberToObject(o, "already_reverted", (double)rp->already_reverted);
	cJSON_AddNumberToObject(o, "differing", (double)rp->differing);
	cJSON_AddNumberToObject(o, "fixed", (double)rp->fixed);
	cJSON_AddNumberToObject(o, "unwatched_rows", (double)rp->unwatched);
	cJSON_AddNumberToObject(o, "webhook_deliveries_queued", (double)rp->deliveries);
	cJSON_AddNumberToObject(o, "quarantined", (double)rp->quarantined);
	cJSON *arr = cJSON_AddArrayToObject(o, "differences");
	for (size_t i = 0; i < rp->n_diffs; i++) {
		const diff_report *d = &rp->diffs[i];
		char hash[PW_HASH_TEXT_MAX];
		pw_format_hash(rp->chain->family->family, d->block_hash, PW_HASH_LEN, hash);
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "block_number", (double)d->block_number);
		cJSON_AddNumberToObject(e, "log_index", d->log_index);
		cJSON_AddStringToObject(e, "block_hash", hash);
		cJSON_AddStringToObject(e, "fields", d->fields);
		cJSON_AddBoolToObject(e, "fixed", d->fixed);
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddNumberToObject(o, "elapsed_ms", (double)elapsed_ms);
	char *text = cJSON_PrintUnformatted(o);
	if (text)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(o);
}

static void print_table(const replay *rp, const char *outcome, int64_t elapsed_ms)
{
	const char *would = rp->o->dry_run ? " (dry run: nothing written)" : "";
	printf("replay of %s blocks %llu..%llu: %s%s\n", rp->chain->name, (unsigned long long)rp->o->from,
	       (unsigned long long)rp->o->to, outcome, would);
	if (rp->target_known && rp->clipped) {
		if (rp->have_confirmed)
			printf("  clipped at the confirmed height %llu (node head %llu): blocks %llu..%llu not replayed\n",
			       (unsigned long long)rp->confirmed_height, (unsigned long long)rp->head,
			       (unsigned long long)(rp->empty ? rp->o->from : rp->to + 1),
			       (unsigned long long)rp->o->to);
		else
			printf("  no block is confirmed yet (node head %llu): nothing replayed\n",
			       (unsigned long long)rp->head);
	}
	if (rp->any_done)
		printf("  last block completed         %llu\n", (unsigned long long)rp->last_done);
	else
		printf("  last block completed         none\n");
	printf("  blocks reconciled            %llu\n", (unsigned long long)rp->blocks);
	printf("  Transfer logs                %llu\n", (unsigned long long)rp->logs);
	printf("  payments found on chain      %llu\n", (unsigned long long)rp->found);
	printf("    already in Postgres        %llu\n", (unsigned long long)rp->present);
	printf("    missing                    %llu%s\n", (unsigned long long)rp->missing,
	       rp->o->dry_run ? " (would be inserted)" : "");
	if (!rp->o->dry_run)
		printf("    inserted                   %llu\n", (unsigned long long)rp->inserted);
	printf("  rows not canonical, reverted %llu%s\n", (unsigned long long)rp->reverted,
	       rp->o->dry_run ? " (would be)" : "");
	printf("  rows already reverted        %llu\n", (unsigned long long)rp->already_reverted);
	printf("  rows differing from chain    %llu (fixed %llu%s)\n", (unsigned long long)rp->differing,
	       (unsigned long long)rp->fixed, rp->o->fix ? "" : "; --fix fixes them");
	printf("  rows of unwatched addresses  %llu (left alone)\n", (unsigned long long)rp->unwatched);
	printf("  webhook deliveries queued    %llu%s\n", (unsigned long long)rp->deliveries,
	       rp->o->no_webhooks ? " (--no-webhooks)" : "");
	if (rp->quarantined)
		printf("  refused, in the quarantine   %llu (`paywatch quarantine list`)\n",
		       (unsigned long long)rp->quarantined);
	double secs = (double)elapsed_ms / 1000.0;
	printf("  elapsed                      %.1f s (%.0f blocks/s)\n", secs,
	       secs > 0 ? (double)rp->blocks / secs : 0);
	for (size_t i = 0; i < rp->n_diffs; i++) {
		char hash[PW_HASH_TEXT_MAX];
		pw_format_hash(rp->chain->family->family, rp->diffs[i].block_hash, PW_HASH_LEN, hash);
		printf("  differs: block %llu log %u hash %s: %s%s\n", (unsigned long long)rp->diffs[i].block_number,
		       rp->diffs[i].log_index, hash, rp->diffs[i].fields, rp->diffs[i].fixed ? " (fixed)" : "");
	}
	if (rp->differing > rp->n_diffs)
		printf("  ... and %llu more differing rows (see the log)\n",
		       (unsigned long long)(rp->differing - rp->n_diffs));
}

/* ---- setup ---- */

static int resolve_filters(replay *rp)
{
	const replay_opts *o = rp->o;
	rp->merchant = o->rescan_merchant ? o->rescan_merchant : o->merchant;
	if (o->merchant && !config_valid_id(o->merchant)) {
		fprintf(stderr, "paywatch: --merchant %s: not a merchant id (1..63 of A-Z a-z 0-9 . _ -)\n",
			o->merchant);
		return 2;
	}
	if (o->address) {
		char why[256];
		if (rp->chain->family->parse_address(o->address, &rp->address, why, sizeof(why)) < 0) {
			fprintf(stderr, "paywatch: --address %s: %s\n", o->address, why);
			return 2;
		}
		rp->have_address = true;
	}
	return 0;
}

static int open_postgres(replay *rp)
{
	char err[512];
	int r = pg_sink_connect(rp->cfg->pg_dsn, &rp->pg, err, sizeof(err));
	if (r < 0)
		return log_error(r, "postgres: cannot connect: %s", err);
	size_t missing = 0;
	if ((r = pg_sink_count_missing_migrations(rp->pg, schema_migrations, &missing)) < 0)
		return log_error(r, "postgres: %s", pg_sink_error(rp->pg));
	if (missing)
		return log_error(PW_ESCHEMA,
				 "postgres: %zu schema migration(s) not applied: run `paywatch migrate -c %s`"
				 " first",
				 missing, rp->o->config_path);
	if (rp->o->dry_run)
		return 0;
	/* newly added merchants, addresses and endpoints must exist for their
	 * events (a rescan's come from the registry: they do) */
	if (!rp->o->rescan_merchant && (r = merchants_mirror(rp->pg, rp->cfg)) < 0)
		return log_error(r, "postgres: cannot mirror the merchants: %s", pg_sink_error(rp->pg));
	/* the writers' connections: reads (this one) and writes run at once */
	for (size_t i = 0; i < REPLAY_WRITERS; i++) {
		if ((r = pg_sink_connect(rp->cfg->pg_dsn, &rp->pg_w[i], err, sizeof(err))) < 0)
			return log_error(r, "postgres: cannot connect: %s", err);
		if (rp->o->no_webhooks && (r = pg_sink_set_webhooks(rp->pg_w[i], false)) < 0)
			return log_error(r, "postgres: %s", pg_sink_error(rp->pg_w[i]));
	}
	return 0;
}

static int replay_run(const pw_config *cfg, const replay_opts *o, replay_result *result)
{
	replay rp;
	registry *reg = NULL;
	memset(&rp, 0, sizeof(rp));
	rp.cfg = cfg;
	rp.o = o;
	pthread_mutex_init(&rp.lock, NULL);
	pthread_cond_init(&rp.cond, NULL);
	int ci = config_find_chain(cfg, o->chain);
	if (ci < 0) {
		fprintf(stderr, "paywatch: --chain %s: no such chain in %s\n", o->chain, o->config_path);
		return 2;
	}
	rp.ci = (size_t)ci;
	rp.chain = &cfg->chains[ci];
	rp.last_done = o->from ? o->from - 1 : 0;
	int rc = resolve_filters(&rp);
	if (rc)
		goto out;
	rc = 1;
	if (open_postgres(&rp) < 0) {
		/* scripts reading --json get an answer too (the reason is in the log) */
		if (o->json)
			print_json(&rp, "failed", 0);
		else
			print_table(&rp, "failed (Postgres: see the log above)", 0);
		goto out;
	}
	if ((rc = build_matcher(&rp)) != 0) {
		if (rc < 0 && o->json)
			print_json(&rp, "failed", 0);
		else if (rc < 0)
			print_table(&rp, "failed (see the log above)", 0);
		rc = rc == 2 ? 2 : 1;
		goto out;
	}
	rc = 1;

	atomic_bool *stop = o->stop ? o->stop : &g_stop;
	if (!o->stop) {
		atomic_store(&g_stop, false);
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		rp.tty = isatty(STDERR_FILENO) == 1;
	}
	rp.start_ms = rp.last_draw_ms = pw_mono_ms();
	log_emit(LOG_LEVEL_INFO, rp.chain->name, (long long)o->from,
		 "replay: blocks %llu..%llu, %zu watched address(es)%s%s%s", (unsigned long long)o->from,
		 (unsigned long long)o->to, matcher_count(rp.m), o->dry_run ? ", dry run" : "",
		 o->no_webhooks ? ", no webhooks" : "", o->fix ? ", fixing differences" : "");

	if (registry_create(rp.m, &reg) < 0) { /* the registry owns the set from here */
		rp.m = NULL;
		rc = 1;
		goto out;
	}
	pipeline_params pp = {
		.cfg = cfg,
		.chain_index = rp.ci,
		.reg = reg,
		.stop = stop,
		.next_block = o->from,
		.window = 0, /* a replay reads below the confirmed height: no window */
		.stop_at_target = true,
		.max_connect_rounds = 3, /* an outage is waited out by `run`, reported by `replay` */
		.max_consecutive_errors = 30,
		.hooks = { .arg = &rp,
			   .on_connect = on_connect,
			   .on_disconnect = on_disconnect,
			   .on_event = on_event,
			   .on_logs = on_logs,
			   .on_range = on_range,
			   .free_ctx = free_ctx,
			   .on_tick = on_tick },
	};
	int r = 0;
	writer_arg wargs[REPLAY_WRITERS];
	for (size_t i = 0; !o->dry_run && i < REPLAY_WRITERS && r == 0; i++) {
		wargs[i] = (writer_arg){ .rp = &rp, .pg = rp.pg_w[i] };
		if (pthread_create(&rp.writer[i], NULL, writer_main, &wargs[i]) != 0)
			r = log_error(PW_ENOMEM, "replay: cannot start a writer thread");
		else
			rp.writers_started++;
	}
	if (r == 0)
		r = pipeline_run(&pp);
	if (rp.writers_started) { /* what was fetched is written before the summary */
		pthread_mutex_lock(&rp.lock);
		rp.closing = true;
		pthread_cond_broadcast(&rp.cond);
		pthread_mutex_unlock(&rp.lock);
		for (size_t i = 0; i < rp.writers_started; i++)
			pthread_join(rp.writer[i], NULL);
		if (r == 0 && rp.writer_error < 0)
			r = rp.writer_error;
	}
	for (write_job *j = rp.queue_head, *next; j; j = next) { /* not written: after a failure */
		next = j->next;
		free_job(j);
	}
	bool interrupted = atomic_load(stop);
	bool complete = r == 0 && !interrupted && rp.target_known;
	if (rp.tty) {
		progress(&rp, true);
		log_status(NULL);
		fputc('\n', stderr);
	}
	const char *outcome = complete ? "complete" : interrupted ? "interrupted" : "failed";
	if (!complete) {
		char last[32] = "none";
		if (rp.any_done)
			snprintf(last, sizeof(last), "%llu", (unsigned long long)rp.last_done);
		log_emit(LOG_LEVEL_WARN, rp.chain->name, rp.any_done ? (long long)rp.last_done : -1,
			 "replay %s; last block completed: %s; resume with --from %llu", outcome, last,
			 (unsigned long long)(rp.any_done ? rp.last_done + 1 : o->from));
	}
	int64_t elapsed = pw_mono_ms() - rp.start_ms;
	if (o->stop) { /* a rescan: the caller reports */
		if (result)
			*result = (replay_result){ .found = rp.found,
						   .inserted = rp.inserted,
						   .present = rp.present,
						   .last_done = rp.last_done,
						   .complete = complete };
	} else if (o->json)
		print_json(&rp, outcome, elapsed);
	else
		print_table(&rp, outcome, elapsed);
	rc = complete ? 0 : 1;
	if (!o->stop) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
	}
out:
	pg_sink_close(rp.pg);
	for (size_t i = 0; i < REPLAY_WRITERS; i++)
		pg_sink_close(rp.pg_w[i]);
	if (reg)
		registry_destroy(reg);
	else
		matcher_destroy(rp.m);
	free(rp.diffs);
	pthread_mutex_destroy(&rp.lock);
	pthread_cond_destroy(&rp.cond);
	return rc;
}

int replay_cli(int argc, char **argv)
{
	replay_opts o;
	memset(&o, 0, sizeof(o));
	int rc = parse_opts(argc, argv, &o);
	if (rc || o.help)
		return rc;
	pw_config *cfg;
	if ((rc = cli_load_config(o.config_path, &cfg)) != 0)
		return rc;
	rc = replay_run(cfg, &o, NULL);
	config_destroy(cfg);
	return rc;
}

int replay_address(const pw_config *cfg, const char *chain, const char *merchant_id, const char *address, uint64_t from,
		   uint64_t to, atomic_bool *stop, replay_result *ret)
{
	replay_opts o = { .config_path = "(the running config)",
			  .chain = chain,
			  .address = address,
			  .from = from,
			  .to = to,
			  .have_from = true,
			  .have_to = true,
			  .rescan_merchant = merchant_id,
			  .stop = stop };
	memset(ret, 0, sizeof(*ret));
	return replay_run(cfg, &o, ret);
}
