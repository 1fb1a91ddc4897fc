/* ingest.c: `run`'s consumer of the range pipeline. Each complete range is
 * one tracker batch; heads move the target; a header that does not link,
 * or a head that differs from the block indexed at its height, starts the
 * search for the common ancestor. */
#include "ingest.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "pw_error.h"
#include "tracker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ingest {
	const ingest_params *p;
	const cfg_chain *chain;
	const char *name;
	tracker *tr;
	store_chain_state state;   /* what `paywatch status` reads */
	uint64_t head_req;         /* pending eth_blockNumber, 0 if none */
	pipeline_retry head_retry; /* after head_req failed: when to ask again */
	uint64_t head_hdr_req;     /* pending header of a head learnt without its time (for status), 0 if none */
	uint64_t probe_req;        /* eth_blockNumber sent because no head came for head_timeout */
	uint64_t tag_req;          /* pending finalized/safe block request */
	int64_t last_head_ms;      /* monotonic time of the last new head (or connect) */
	int64_t last_probe_ms;     /* monotonic time of the last eth_blockNumber probe */
	uint64_t reorgs;
	bool began_at_head;    /* start_block "head": the starting block chosen (begin_at_head) */
	char store_error[512]; /* the store's last RocksDB message, for a log line */
	int64_t last_progress_ms;
	uint64_t progress_blocks, progress_payments, progress_logs;
} ingest;

/* RocksDB's message for the store's last failure (a full disk says so). */
static const char *store_msg(ingest *g)
{
	store_error(g->p->st, g->store_error, sizeof(g->store_error));
	return g->store_error;
}

/* Record what `paywatch status` shows. A failed write is only logged:
 * status is informational, indexing goes on. */
static void save_state(ingest *g)
{
	g->state.updated_ms = pw_wall_ms();
	if (store_put_state(g->p->st, g->name, &g->state) < 0)
		log_emit(LOG_LEVEL_WARN, g->name, -1, "cannot record the chain state for `paywatch status`: %s",
			 store_msg(g));
}

static int64_t checkpoint_of(const ingest *g)
{
	return tracker_has_checkpoint(g->tr) ? (int64_t)tracker_next_block(g->tr) - 1 : -1;
}

/* Count n into the chain's series of a counter family; extra label pair
 * (state) when k is non-NULL. */
static void count(const ingest *g, const char *family, const char *k, const char *v, double n)
{
	if (n <= 0)
		return;
	char labels[160];
	if (k)
		metrics_labels(labels, sizeof(labels), "chain", g->name, k, v, NULL);
	else
		metrics_labels(labels, sizeof(labels), "chain", g->name, NULL);
	metrics_add(family, labels, n);
}

static void notify_sink(ingest *g, size_t confirmed)
{
	if (confirmed && g->p->on_confirmed)
		g->p->on_confirmed(g->p->on_confirmed_arg);
}

static int request_finality(ingest *g, pipeline *pl)
{
	if (g->chain->finality == CHAIN_FINALITY_CONFIRMATIONS || g->tag_req)
		return 0;
	return pipeline_ops(pl)->request_tag_number(pipeline_adapter(pl), g->chain->finality, &g->tag_req);
}

static int request_head(pipeline *pl, uint64_t *req)
{
	return pipeline_ops(pl)->request_head_number(pipeline_adapter(pl), req);
}

/* Record the head for `paywatch status`; a head learnt from eth_blockNumber
 * has no time: its header is asked for (answered in on_event). */
static void record_head(ingest *g, pipeline *pl, uint64_t number, int64_t time)
{
	if (number == g->state.head && (time < 0 || time == g->state.head_time))
		return;
	g->state.head = number;
	g->state.head_time = time;
	save_state(g);
	if (time < 0 && !g->head_hdr_req &&
	    pipeline_ops(pl)->request_headers(pipeline_adapter(pl), &number, 1, &g->head_hdr_req) < 0)
		g->head_hdr_req = 0; /* only status misses it */
}

static void log_progress(ingest *g, pipeline *pl, bool force)
{
	int64_t now = pw_mono_ms();
	if (!force && now - g->last_progress_ms < 5000)
		return;
	uint64_t target = 0;
	if (g->progress_blocks && pipeline_target(pl, &target)) {
		int64_t ckpt = checkpoint_of(g);
		log_emit(
			LOG_LEVEL_INFO, g->name, (long long)ckpt,
			"checkpoint %lld, head %llu (%lld behind): %llu blocks, %llu logs, %llu payments since last report",
			(long long)ckpt, (unsigned long long)target, (long long)target - (long long)ckpt,
			(unsigned long long)g->progress_blocks, (unsigned long long)g->progress_logs,
			(unsigned long long)g->progress_payments);
	}
	g->progress_blocks = g->progress_payments = g->progress_logs = 0;
	g->last_progress_ms = now;
}

/* The chain reorganised at or below block `top`: find the common ancestor
 * by walking back through the stored window (fetching canonical headers 16
 * at a time), then rewind the tracker to it. A reorg below the window stops
 * the chain: it is never followed unverified. */
static int handle_reorg(ingest *g, pipeline *pl, uint64_t top)
{
	int64_t ckpt = checkpoint_of(g);
	if (ckpt < 0)
		return 0;
	if (top > (uint64_t)ckpt)
		top = (uint64_t)ckpt;
	pipeline_reset(pl, tracker_next_block(g->tr));
	uint64_t lowest;
	int r = store_lowest_header(g->p->st, g->name, &lowest);
	if (r < 0 && r != PW_ENOTFOUND)
		return log_error(r, "chain=%s: cannot read the header window: %s", g->name, store_msg(g));
	bool found = false;
	uint64_t ancestor = 0;
	if (r == 0 && top < lowest)
		r = PW_ENOTFOUND; /* nothing stored to compare with: as deep as the window */
	for (uint64_t n = top; r == 0 && !found;) {
		uint64_t lo = n >= lowest + 15 ? n - 15 : lowest;
		pw_block_ref canon[16];
		size_t n_canon = 0;
		if ((r = pipeline_fetch_headers(pl, lo, n, canon, &n_canon)) < 0) {
			if (r == PW_ESTOPPED)
				return 0;
			log_emit(LOG_LEVEL_WARN, g->name, (long long)n, "reorg: cannot fetch headers [%llu, %llu]: %s",
				 (unsigned long long)lo, (unsigned long long)n, pw_strerror(r));
			return PW_ECONN; /* try again from another connection */
		}
		/* the highest stored block the node still has (by number: the
		 * answer may leave skipped numbers out) */
		for (size_t i = n_canon; i-- > 0 && !found;) {
			pw_block_ref stored;
			if (store_get_header(g->p->st, g->name, canon[i].number, &stored) == 0 &&
			    memcmp(stored.hash, canon[i].hash, PW_HASH_LEN) == 0) {
				found = true;
				ancestor = canon[i].number;
			}
		}
		if (lo == lowest)
			break;
		n = lo - 1;
	}
	if (!found) {
		uint64_t from = r == 0 ? lowest : (uint64_t)ckpt;
		return log_error(
			PW_EREORGDEEP,
			"chain=%s: the node's chain differs from the one indexed at every block of the "
			"header window (blocks %llu..%lld, reorg_window %u): a reorg deeper than the window. "
			"Stopping this chain rather than continue on an unverified chain; nothing was written. "
			"Operator: check the node; then replay blocks %llu..%lld and raise reorg_window if such "
			"reorgs are expected",
			g->name, (unsigned long long)from, (long long)ckpt, g->chain->reorg_window,
			(unsigned long long)from, (long long)ckpt);
	}
	size_t dropped = 0, reverted = 0;
	if (ancestor < (uint64_t)ckpt) {
		if ((r = tracker_rewind(g->tr, ancestor, pw_wall_ms(), &dropped, &reverted)) < 0)
			return log_error(r, "chain=%s: cannot rewind to block %llu: %s", g->name,
					 (unsigned long long)ancestor, store_msg(g));
	}
	g->reorgs++;
	char labels[100];
	metrics_labels(labels, sizeof(labels), "chain", g->name, NULL);
	metrics_observe("paywatch_chain_reorg_depth_blocks", labels, (double)((uint64_t)ckpt - ancestor));
	count(g, "paywatch_payments_total", "state", "reverted", (double)reverted);
	g->state.reorgs = g->reorgs;
	g->state.last_reorg_depth = (uint64_t)ckpt - ancestor;
	g->state.last_reorg_ms = pw_wall_ms();
	save_state(g);
	log_emit(LOG_LEVEL_WARN, g->name, (long long)ancestor,
		 "reorg: common ancestor %llu, depth %lld; %zu pending payment(s) dropped, %zu confirmed payment(s) "
		 "reverted; refetching from %llu",
		 (unsigned long long)ancestor, (long long)ckpt - (long long)ancestor, dropped, reverted,
		 (unsigned long long)ancestor + 1);
	notify_sink(g, reverted);
	pipeline_reset(pl, tracker_next_block(g->tr));
	/* the head may have moved down with the reorg: ask again */
	pipeline_clear_target(pl);
	return request_head(pl, &g->head_req);
}

/* ---- the pipeline's hooks ---- */

static int on_connect(void *arg, pipeline *pl)
{
	ingest *g = arg;
	g->last_head_ms = pw_mono_ms();
	g->head_retry = (pipeline_retry){ 0 };
	snprintf(g->state.endpoint, sizeof(g->state.endpoint), "%s", pipeline_endpoint(pl));
	save_state(g);
	pipeline_clear_target(pl); /* the new node's head, not the last one's */
	return request_head(pl, &g->head_req);
}

static void on_disconnect(void *arg, pipeline *pl)
{
	(void)pl;
	ingest *g = arg;
	g->head_req = g->probe_req = g->tag_req = g->head_hdr_req = 0;
	g->head_retry = (pipeline_retry){ 0 };
	g->state.endpoint[0] = '\0';
	save_state(g);
}

/* start_block "head": the first head a chain without a checkpoint hears
 * (any of the three ways a head is heard: a new head, the head request,
 * a probe) is where indexing begins, before any range is asked for
 * (ranges wait for a target, which the caller sets after this).
 * tracker_begin_at commits it: a restart resumes there. 0, or
 * PW_ESTORE / PW_ENOMEM (logged). */
static int begin_at_head(ingest *g, pipeline *pl, uint64_t number)
{
	if (!g->chain->start_at_head || g->began_at_head || tracker_has_checkpoint(g->tr))
		return 0;
	int r = tracker_begin_at(g->tr, number);
	if (r < 0)
		return log_error(r, "chain=%s: cannot commit the starting block: %s", g->name, store_msg(g));
	g->began_at_head = true;
	pipeline_reset(pl, number);
	log_emit(LOG_LEVEL_INFO, g->name, (long long)number,
		 "starting at the node's head, block %llu (start_block \"head\"): earlier blocks are not read",
		 (unsigned long long)number);
	return 0;
}

static int on_new_head(ingest *g, pipeline *pl, const pw_block_ref *h)
{
	record_head(g, pl, h->number, h->time);
	g->last_head_ms = pw_mono_ms();
	int64_t ckpt = checkpoint_of(g);
	if (ckpt >= 0 && h->number <= (uint64_t)ckpt) {
		pw_block_ref stored;
		if (store_get_header(g->p->st, g->name, h->number, &stored) == 0 &&
		    memcmp(stored.hash, h->hash, PW_HASH_LEN) != 0) {
			log_emit(LOG_LEVEL_WARN, g->name, (long long)h->number,
				 "new head %llu differs from the block indexed at that height: reorg",
				 (unsigned long long)h->number);
			return handle_reorg(g, pl, h->number);
		}
	}
	int r = begin_at_head(g, pl, h->number);
	if (r < 0)
		return r;
	uint64_t target;
	if (!pipeline_target(pl, &target) || h->number > target)
		pipeline_set_target(pl, h->number);
	return request_finality(g, pl);
}

static int on_tag_number(ingest *g, pipeline *pl, uint64_t number)
{
	(void)pl;
	g->tag_req = 0;
	if (g->state.finalized != (int64_t)number) {
		g->state.finalized = (int64_t)number;
		save_state(g);
	}
	tracker_set_finalized(g->tr, number);
	size_t confirmed = 0;
	int r = tracker_confirm(g->tr, pw_wall_ms(), &confirmed);
	if (r < 0)
		return log_error(r, "chain=%s: cannot commit confirmations: %s", g->name, store_msg(g));
	count(g, "paywatch_payments_total", "state", "confirmed", (double)confirmed);
	if (confirmed)
		log_emit(LOG_LEVEL_INFO, g->name, (long long)number, "%zu payment(s) confirmed (%s block %llu)",
			 confirmed, chain_finality_tag(g->chain->finality), (unsigned long long)number);
	notify_sink(g, confirmed);
	return 0;
}

/* An answer to a head probe: a stalled subscription, missed heads, a node
 * left behind, or a quiet chain. */
static int on_probe(ingest *g, pipeline *pl, uint64_t number)
{
	g->probe_req = 0;
	uint64_t target = 0;
	bool have = pipeline_target(pl, &target);
	int64_t ckpt = checkpoint_of(g);
	log_emit(LOG_LEVEL_DEBUG, g->name, (long long)number, "head probe: node at %llu, heard of %llu",
		 (unsigned long long)number, (unsigned long long)target);
	bool silent_too_long = pw_mono_ms() - g->last_head_ms >= (int64_t)g->chain->head_timeout_ms;
	if (have && number > target && silent_too_long) {
		log_emit(LOG_LEVEL_WARN, g->name, (long long)number,
			 "no new head for %u ms although the node is at block %llu (we heard of %llu): "
			 "subscription stalled",
			 g->chain->head_timeout_ms, (unsigned long long)number, (unsigned long long)target);
		return PW_ECONN;
	}
	if (!have || number > target) { /* notifications were lost: catch up by polling */
		int r = begin_at_head(g, pl, number);
		if (r < 0)
			return r;
		if (have)
			log_emit(
				LOG_LEVEL_WARN, g->name, (long long)number,
				"missed new heads: the node is at block %llu, the last head heard was %llu; catching up",
				(unsigned long long)number, (unsigned long long)target);
		pipeline_set_target(pl, number);
		record_head(g, pl, number, -1);
		return request_finality(g, pl);
	}
	if (ckpt >= 0 && number < (uint64_t)ckpt && silent_too_long && pipeline_has_other_urls(pl)) {
		log_emit(LOG_LEVEL_WARN, g->name, (long long)number,
			 "node stays at block %llu, behind the checkpoint %lld: trying another endpoint",
			 (unsigned long long)number, (long long)ckpt);
		return PW_ECONN;
	}
	if (silent_too_long)
		g->last_head_ms = pw_mono_ms(); /* a quiet chain, not a stalled subscription */
	return 0;
}

static int on_head_number(ingest *g, pipeline *pl, uint64_t number)
{
	g->head_req = 0;
	g->head_retry = (pipeline_retry){ 0 };
	int r = begin_at_head(g, pl, number);
	if (r < 0)
		return r;
	uint64_t target = 0;
	if (!pipeline_target(pl, &target) || number > target)
		target = number;
	pipeline_set_target(pl, target);
	record_head(g, pl, target, -1);
	int64_t ckpt = checkpoint_of(g);
	if (ckpt >= 0 && number < (uint64_t)ckpt)
		log_emit(LOG_LEVEL_WARN, g->name, (long long)number,
			 "node head %llu is behind the checkpoint %lld (a lagging node, not a reorg): waiting",
			 (unsigned long long)number, (long long)ckpt);
	else
		log_emit(LOG_LEVEL_INFO, g->name, (long long)target, "node head %llu; next block to process %llu",
			 (unsigned long long)target, (unsigned long long)tracker_next_block(g->tr));
	return request_finality(g, pl);
}

/* A request of ours failed (head, probe, tagged block, a head's header). */
static int on_own_error(ingest *g, pipeline *pl, const chain_event *ev)
{
	if (ev->req == g->head_hdr_req) {
		g->head_hdr_req = 0; /* only status misses the head's time */
		return 0;
	}
	if (ev->req != g->head_req && ev->req != g->probe_req && ev->req != g->tag_req)
		return 0; /* an answer to a request no longer wanted */
	bool tag = ev->req == g->tag_req;
	g->head_req = ev->req == g->head_req ? 0 : g->head_req;
	g->probe_req = ev->req == g->probe_req ? 0 : g->probe_req;
	g->tag_req = tag ? 0 : g->tag_req;
	if (tag && ev->error == PW_ENOTFOUND) /* no finalized block yet (young chain) */
		return 0;
	uint64_t target;
	if (!tag && !pipeline_target(pl, &target)) /* the head is needed: asked again, never at once */
		return pipeline_retry_failed(pl, &g->head_retry, ev, "head");
	log_emit(LOG_LEVEL_WARN, g->name, -1, "%s request failed at %s: %s (%s)",
		 tag ? chain_finality_tag(g->chain->finality) : "head", pipeline_endpoint(pl), ev->detail,
		 pw_strerror(ev->error));
	if (ev->error == PW_ETIMEDOUT || ev->error == PW_EPARSE)
		return PW_ECONN;
	return 0;
}

static int on_event(void *arg, pipeline *pl, chain_event *ev)
{
	ingest *g = arg;
	switch (ev->kind) {
	case CHAIN_EV_HEAD: return on_new_head(g, pl, &ev->headers[0]);
	case CHAIN_EV_NUMBER:
		if (ev->req == g->tag_req)
			return on_tag_number(g, pl, ev->number);
		if (ev->req == g->probe_req)
			return on_probe(g, pl, ev->number);
		if (ev->req == g->head_req)
			return on_head_number(g, pl, ev->number);
		return 0;
	case CHAIN_EV_HEADERS:
		if (ev->req && ev->req == g->head_hdr_req) {
			g->head_hdr_req = 0;
			/* not overtaken by a newer head */
			if (ev->n_headers == 1 && ev->headers[0].number == g->state.head)
				record_head(g, pl, ev->headers[0].number, ev->headers[0].time);
		}
		return 0;
	case CHAIN_EV_ERROR: return on_own_error(g, pl, ev);
	case CHAIN_EV_TRANSFERS: return 0; /* a range dropped with a reset */
	}
	return 0;
}

/* The range's last block, for `paywatch status` to show the lag in seconds
 * (near the head the window has it). Part of the range's requests:
 * measured, it does not slow a backfill (the pipeline hides the round
 * trip), and a request on the side would be stale by the time it is
 * answered. */
static int on_logs(void *arg, uint64_t from, uint64_t to, uint64_t window_from, const pw_payment *found, size_t n,
		   void **ret_ctx, uint64_t **ret_numbers, size_t *ret_n)
{
	(void)arg, (void)from, (void)found, (void)n, (void)ret_ctx;
	if (to >= window_from)
		return 0;
	if (!(*ret_numbers = malloc(sizeof(uint64_t))))
		return PW_ENOMEM;
	(*ret_numbers)[0] = to;
	*ret_n = 1;
	return 0;
}

/* Record the new checkpoint and its block's time for `paywatch status`'s
 * lag in seconds. */
static void record_checkpoint(ingest *g, const pipeline_range *r)
{
	g->state.checkpoint = r->to;
	g->state.checkpoint_time = -1;
	for (size_t i = 0; i < r->n_headers; i++)
		if (r->headers[i].number == r->to)
			g->state.checkpoint_time = r->headers[i].time;
	save_state(g);
}

static int on_range(void *arg, pipeline *pl, pipeline_range *r)
{
	ingest *g = arg;
	/* the window part: headers of [window_from, to] */
	size_t first = 0;
	while (first < r->n_headers && r->headers[first].number < r->window_from)
		first++;
	size_t n_window = r->n_headers - first;
	size_t confirmed = 0;
	uint64_t at = r->from;
	int rc = tracker_apply_range(g->tr, r->from, r->to, r->window_from, n_window ? r->headers + first : NULL,
				     n_window, r->payments, r->n_payments, pw_wall_ms(), &confirmed, &at);
	if (rc == PW_EREORG) {
		log_emit(LOG_LEVEL_WARN, g->name, (long long)at,
			 "block %llu does not link to the block before it (its parent hash differs): reorg",
			 (unsigned long long)at);
		rc = handle_reorg(g, pl, at ? at - 1 : 0);
		return rc < 0 ? rc : PIPELINE_RESET;
	}
	if (rc < 0)
		return log_error(rc, "chain=%s block=%llu: cannot commit range: %s", g->name, (unsigned long long)r->to,
				 rc == PW_ESTORE ? store_msg(g) : pw_strerror(rc));
	log_emit(LOG_LEVEL_DEBUG, g->name, (long long)r->to, "applied [%llu, %llu]: %zu logs, %zu payments",
		 (unsigned long long)r->from, (unsigned long long)r->to, r->n_logs, r->n_payments);
	record_checkpoint(g, r);
	g->progress_blocks += r->to - r->from + 1;
	g->progress_payments += r->n_payments;
	g->progress_logs += r->n_logs;
	count(g, "paywatch_chain_blocks_processed_total", NULL, NULL, (double)(r->to - r->from + 1));
	count(g, "paywatch_chain_logs_scanned_total", NULL, NULL, (double)r->n_logs);
	count(g, "paywatch_payments_total", "state", "pending", (double)r->n_payments);
	count(g, "paywatch_payments_total", "state", "confirmed", (double)confirmed);
	if (confirmed)
		log_emit(LOG_LEVEL_INFO, g->name, (long long)r->to, "%zu payment(s) confirmed", confirmed);
	notify_sink(g, confirmed);
	return PIPELINE_APPLIED;
}

/* No new head for a while: ask the node where it is. Every HEAD_POLL_MS
 * this catches up on lost notifications; after head_timeout it also tells
 * a stalled subscription from a quiet chain (on_probe decides). */
#define HEAD_POLL_MS 5000

static int on_tick(void *arg, pipeline *pl)
{
	ingest *g = arg;
	log_progress(g, pl, false);
	if (!g->head_req && pipeline_retry_due(&g->head_retry))
		return request_head(pl, &g->head_req);
	int64_t now = pw_mono_ms();
	int64_t poll = g->chain->head_timeout_ms < HEAD_POLL_MS ? g->chain->head_timeout_ms : HEAD_POLL_MS;
	if (g->probe_req || now - g->last_head_ms < poll || now - g->last_probe_ms < poll)
		return 0;
	g->last_probe_ms = now;
	log_emit(LOG_LEVEL_DEBUG, g->name, -1, "no new head for %lld ms: asking the node for its head",
		 (long long)(now - g->last_head_ms));
	return request_head(pl, &g->probe_req);
}

int ingest_run(const ingest_params *p)
{
	ingest g;
	memset(&g, 0, sizeof(g));
	g.p = p;
	g.chain = &p->cfg->chains[p->chain_index];
	g.name = g.chain->name;
	g.state.head_time = -1;
	g.state.finalized = -1;
	g.state.checkpoint_time = -1;
	g.last_progress_ms = pw_mono_ms();
	tracker_options topts = { .confirmations = g.chain->confirmations,
				  .window = g.chain->reorg_window,
				  .start_block = g.chain->start_block,
				  .finality = g.chain->finality != CHAIN_FINALITY_CONFIRMATIONS,
				  .emit_pending = true /* invoices count payments seen */ };
	int r = tracker_create(p->st, g.name, &topts, &g.tr);
	if (r < 0)
		return log_error(r, "chain=%s: cannot load checkpoint: %s", g.name, store_msg(&g));
	char rule[48];
	if (g.chain->finality != CHAIN_FINALITY_CONFIRMATIONS)
		snprintf(rule, sizeof(rule), "finality %s", chain_finality_tag(g.chain->finality));
	else
		snprintf(rule, sizeof(rule), "confirmations %u", g.chain->confirmations);
	if (g.chain->start_at_head && !tracker_has_checkpoint(g.tr))
		log_emit(LOG_LEVEL_INFO, g.name, -1, "starting at the node's head (start_block \"head\"; %s)", rule);
	else
		log_emit(LOG_LEVEL_INFO, g.name, -1, "%s from block %llu (%s)",
			 tracker_has_checkpoint(g.tr) ? "resuming" : "starting",
			 (unsigned long long)tracker_next_block(g.tr), rule);
	pipeline_params pp = {
		.cfg = p->cfg,
		.chain_index = p->chain_index,
		.reg = p->reg,
		.hd_windows = true,
		.on_hd_used = p->on_hd_used,
		.on_hd_used_arg = p->on_hd_used_arg,
		.stop = p->stop,
		.next_block = tracker_next_block(g.tr),
		.window = g.chain->reorg_window,
		.hooks = { .arg = &g,
			   .on_connect = on_connect,
			   .on_disconnect = on_disconnect,
			   .on_event = on_event,
			   .on_logs = on_logs,
			   .on_range = on_range,
			   .on_tick = on_tick },
	};
	r = pipeline_run(&pp);
	if (g.progress_blocks)
		log_emit(LOG_LEVEL_INFO, g.name, checkpoint_of(&g),
			 "checkpoint %lld: %llu blocks, %llu logs, %llu payments since last report",
			 (long long)checkpoint_of(&g), (unsigned long long)g.progress_blocks,
			 (unsigned long long)g.progress_logs, (unsigned long long)g.progress_payments);
	tracker_destroy(g.tr);
	return atomic_load(p->stop) && (r >= 0 || r == PW_ESTOPPED) ? 0 : r;
}
