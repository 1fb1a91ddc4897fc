/* ingest.c: the per-chain converge loop. Slots are block ranges in flight,
 * kept in block order; a slot completes when its logs and the headers it
 * needs (window headers near the head, timestamps of payment blocks whose
 * logs lack blockTimestamp) have arrived. Completed slots at the front are
 * applied in order, each in one store batch. */
#include "ingest.h"
#include "hex.h"
#include "log.h"
#include "clock.h"
#include "pw_error.h"
#include "random.h"
#include "tracker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TARGET_LOGS_PER_RANGE 2500 /* ~1.6 MB of log JSON per eth_getLogs answer */
#define INITIAL_RANGE 10 /* blocks; doubles per answer up to the density target, so sparse history grows fast */
#define HEADER_BATCH 100   /* headers per JSON-RPC batch: providers cap batch sizes */
#define MAX_HEADER_REQS 48 /* a slot spans <= max_range (2000) blocks: window + payment headers fit */

typedef struct slot {
	uint64_t from, to;
	uint64_t logs_req;
	bool logs_done;
	uint64_t hdr_reqs[MAX_HEADER_REQS];
	size_t n_hdr_reqs;
	uint64_t window_from; /* headers of [window_from, to] are the window part; > to if none */
	pw_payment *payments;
	size_t n_payments;
	pw_block_ref *headers;
	size_t n_headers;
	size_t n_logs;
	void *ctx; /* replay mode: the caller's data for this range */
} slot;

typedef struct ingest {
	const ingest_params *p;
	const ingest_replay *replay; /* NULL for `run` */
	const cfg_chain *chain;
	const chain_ops *ops;        /* the chain family's adapter */
	const char *name;
	tracker *tr;                 /* NULL in replay mode */
	uint64_t replay_next;        /* replay mode: the first block not yet reconciled */
	bool head_known;             /* replay mode: the head number arrived */
	bool finalized_known;        /* replay mode: the finalized/safe number (or its absence) arrived */
	bool replay_empty;           /* replay mode: nothing to fetch (the range is above the confirmed height) */
	store_chain_state state;     /* run mode: what `paywatch status` reads */
	chain_adapter *ad;
	size_t url_index;
	slot *slots;
	size_t n_slots, cap_slots;
	uint64_t next_from; /* first block not covered by a slot */
	uint64_t target;    /* the node's head as last heard */
	bool have_target;
	uint64_t head_req;  /* pending eth_blockNumber, 0 if none */
	uint64_t head_hdr_req; /* pending header of a head learnt without its time (for status), 0 if none */
	uint64_t probe_req; /* eth_blockNumber sent because no head came for head_timeout */
	uint64_t tag_req;   /* pending finalized/safe block request */
	uint64_t range;     /* current range size in blocks */
	int consecutive_errors;
	int64_t last_head_ms;    /* monotonic time of the last new head (or connect) */
	int64_t last_probe_ms;   /* monotonic time of the last eth_blockNumber probe */
	int64_t rate_backoff_ms; /* grows while the node rate-limits us */
	uint64_t bad_messages;   /* malformed or oversized messages from nodes */
	uint64_t reorgs;
	int64_t cut_ms;          /* when the last connection was lost (to log the time to resume) */
	char store_error[512];   /* the store's last RocksDB message, for a log line */
	/* progress */
	int64_t last_progress_ms;
	uint64_t progress_blocks, progress_payments, progress_logs;
} ingest;

/* RocksDB's message for the store's last failure (a full disk says so). */
static const char *store_msg(ingest *g)
{
	if (!g->p->st)
		return "no store";
	store_error(g->p->st, g->store_error, sizeof(g->store_error));
	return g->store_error;
}

static void slot_free(const ingest *g, slot *s)
{
	free(s->payments);
	free(s->headers);
	if (s->ctx && g->replay)
		g->replay->free_ctx(s->ctx);
	memset(s, 0, sizeof(*s));
}

/* The first block not yet applied (run) or reconciled (replay). */
static uint64_t next_block(const ingest *g)
{
	return g->replay ? g->replay_next : tracker_next_block(g->tr);
}

static void drop_slots(ingest *g)
{
	for (size_t i = 0; i < g->n_slots; i++)
		slot_free(g, &g->slots[i]);
	g->n_slots = 0;
	g->next_from = next_block(g);
}

/* Run mode: record what `paywatch status` shows. A failed write is only
 * logged: status is informational, indexing goes on. */
static void save_state(ingest *g)
{
	if (g->replay)
		return;
	g->state.updated_ms = pw_wall_ms();
	if (store_put_state(g->p->st, g->name, &g->state) < 0)
		log_emit(LOG_LEVEL_WARN, g->name, -1, "cannot record the chain state for `paywatch status`: %s",
			 store_msg(g));
}

static void disconnect(ingest *g)
{
	g->ops->close(g->ad);
	g->ad = NULL;
	g->head_req = g->probe_req = g->tag_req = g->head_hdr_req = 0;
	drop_slots(g);
	g->state.endpoint[0] = '\0';
	save_state(g);
}

/* The first block whose header is kept in the window; none in replay mode
 * (a replay keeps no window: it reads the chain below the confirmed height). */
static uint64_t window_start(const ingest *g)
{
	if (g->replay)
		return UINT64_MAX;
	uint64_t w = g->chain->reorg_window;
	return g->target + 1 > w ? g->target + 1 - w : 0;
}

/* Ask for the headers of n block numbers in batches of HEADER_BATCH. */
static int request_header_batches(ingest *g, slot *s, const uint64_t *numbers, size_t n)
{
	for (size_t i = 0; i < n; i += HEADER_BATCH) {
		if (s->n_hdr_reqs == MAX_HEADER_REQS)
			return PW_EINVAL;
		size_t k = n - i < HEADER_BATCH ? n - i : HEADER_BATCH;
		int r = g->ops->request_headers(g->ad, numbers + i, k, &s->hdr_reqs[s->n_hdr_reqs]);
		if (r < 0)
			return r;
		s->n_hdr_reqs++;
	}
	return 0;
}

/* Send the requests of slot s: logs, and window headers if any. */
static int slot_request(ingest *g, slot *s)
{
	int r = g->ops->request_transfers(g->ad, s->from, s->to, &s->logs_req);
	if (r < 0)
		return r;
	uint64_t ws = window_start(g);
	s->window_from = ws > s->from ? ws : s->from;
	if (s->window_from <= s->to) {
		size_t n = (size_t)(s->to - s->window_from + 1);
		uint64_t *numbers = malloc(n * sizeof(*numbers));
		if (!numbers)
			return PW_ENOMEM;
		for (size_t i = 0; i < n; i++)
			numbers[i] = s->window_from + i;
		r = request_header_batches(g, s, numbers, n);
		free(numbers);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_slot(ingest *g, uint64_t from, uint64_t to, size_t at)
{
	if (g->n_slots == g->cap_slots) {
		size_t cap = g->cap_slots ? g->cap_slots * 2 : 16;
		slot *n = realloc(g->slots, cap * sizeof(*n));
		if (!n)
			return PW_ENOMEM;
		g->slots = n;
		g->cap_slots = cap;
	}
	memmove(&g->slots[at + 1], &g->slots[at], (g->n_slots - at) * sizeof(slot));
	g->n_slots++;
	slot *s = &g->slots[at];
	memset(s, 0, sizeof(*s));
	s->from = from;
	s->to = to;
	return slot_request(g, s);
}

/* Restart slot i, splitting it in two when split is set and it spans > 1 block. */
static int retry_slot(ingest *g, size_t i, bool split)
{
	slot *s = &g->slots[i];
	uint64_t from = s->from, to = s->to;
	slot_free(g, s);
	s->from = from;
	s->to = to;
	if (split && to > from) {
		uint64_t mid = from + (to - from) / 2;
		s->to = mid;
		int r = slot_request(g, s);
		if (r < 0)
			return r;
		return add_slot(g, mid + 1, to, i + 1);
	}
	return slot_request(g, s);
}

static int fill_pipeline(ingest *g)
{
	while (g->have_target && g->n_slots < g->chain->max_in_flight && g->next_from <= g->target) {
		uint64_t to = g->next_from + g->range - 1;
		if (to > g->target)
			to = g->target;
		int r = add_slot(g, g->next_from, to, g->n_slots);
		if (r < 0)
			return r;
		g->next_from = to + 1;
	}
	return 0;
}

static bool slot_complete(const slot *s)
{
	return s->logs_done && s->n_hdr_reqs == 0;
}

static slot *find_slot(ingest *g, uint64_t req, bool *ret_is_header, size_t *ret_index)
{
	for (size_t i = 0; i < g->n_slots; i++) {
		slot *s = &g->slots[i];
		if (!s->logs_done && s->logs_req == req) {
			*ret_is_header = false;
			*ret_index = i;
			return s;
		}
		for (size_t k = 0; k < s->n_hdr_reqs; k++)
			if (s->hdr_reqs[k] == req) {
				*ret_is_header = true;
				*ret_index = i;
				s->hdr_reqs[k] = s->hdr_reqs[--s->n_hdr_reqs];
				return s;
			}
	}
	return NULL;
}

static const pw_block_ref *slot_header(const slot *s, uint64_t number)
{
	for (size_t i = 0; i < s->n_headers; i++)
		if (s->headers[i].number == number)
			return &s->headers[i];
	return NULL;
}

static int on_transfers(ingest *g, slot *s, chain_event *ev)
{
	s->logs_done = true;
	s->n_logs = ev->n_logs;
	if (ev->n_transfers) {
		s->payments = malloc(ev->n_transfers * sizeof(pw_payment));
		if (!s->payments)
			return PW_ENOMEM;
		s->n_payments = matcher_match_transfers(g->p->m, g->p->cfg, g->p->chain_index, ev->transfers,
							ev->n_transfers, s->payments);
	}
	/* adapt the range to the density of logs seen */
	uint64_t blocks = s->to - s->from + 1;
	uint64_t want = g->range * 2;
	if (ev->n_logs > 0) {
		uint64_t by_density = (uint64_t)TARGET_LOGS_PER_RANGE * blocks / ev->n_logs;
		if (by_density < want)
			want = by_density;
	}
	if (want < 1)
		want = 1;
	g->range = want > g->chain->max_range ? g->chain->max_range : want;

	/* payment blocks outside the window whose logs carried no timestamp */
	uint64_t *numbers = NULL;
	size_t n = 0;
	int r;
	if (g->replay) {
		uint64_t *extra = NULL;
		size_t n_extra = 0;
		if ((r = g->replay->on_logs(g->replay->arg, s->from, s->to, s->payments, s->n_payments, &s->ctx, &extra,
					    &n_extra)) < 0)
			return r;
		r = n_extra ? request_header_batches(g, s, extra, n_extra) : 0;
		free(extra);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < s->n_payments; i++) {
		uint64_t b = s->payments[i].block_number;
		if (s->payments[i].block_time >= 0 || b >= s->window_from || (n && numbers[n - 1] == b))
			continue;
		uint64_t *grown = realloc(numbers, (n + 1) * sizeof(*numbers));
		if (!grown) {
			free(numbers);
			return PW_ENOMEM;
		}
		numbers = grown;
		numbers[n++] = b;
	}
	/* run mode: the range's last block, for `paywatch status` to show the
	 * lag in seconds (near the head the window has it). Part of the range's
	 * requests: measured, it does not slow a backfill (the pipeline hides
	 * the round trip), and a request on the side would be stale by the time
	 * it is answered. */
	if (!g->replay && s->to < s->window_from && (n == 0 || numbers[n - 1] != s->to)) {
		uint64_t *grown = realloc(numbers, (n + 1) * sizeof(*numbers));
		if (!grown) {
			free(numbers);
			return PW_ENOMEM;
		}
		numbers = grown;
		numbers[n++] = s->to;
	}
	r = n ? request_header_batches(g, s, numbers, n) : 0;
	free(numbers);
	return r;
}

static int on_headers(slot *s, chain_event *ev)
{
	pw_block_ref *grown = realloc(s->headers, (s->n_headers + ev->n_headers) * sizeof(pw_block_ref));
	if (!grown)
		return PW_ENOMEM;
	s->headers = grown;
	memcpy(s->headers + s->n_headers, ev->headers, ev->n_headers * sizeof(pw_block_ref));
	s->n_headers += ev->n_headers;
	return 0;
}

static int cmp_header(const void *a, const void *b)
{
	const pw_block_ref *x = a, *y = b;
	return x->number < y->number ? -1 : x->number > y->number;
}

static void notify_sink(ingest *g, size_t confirmed)
{
	if (confirmed && g->p->on_confirmed)
		g->p->on_confirmed(g->p->on_confirmed_arg);
}

static int64_t checkpoint_of(const ingest *g)
{
	uint64_t next = next_block(g);
	if (g->replay)
		return (int64_t)next - 1;
	return tracker_has_checkpoint(g->tr) ? (int64_t)next - 1 : -1;
}

/* Request the headers of blocks lo..hi and wait for their answer (*ret_n
 * of them: a family whose numbers can be skipped leaves some out),
 * ignoring other traffic (the slots were dropped, so stray answers match
 * nothing). New heads still move the target. */
static int await_headers(ingest *g, uint64_t lo, uint64_t hi, pw_block_ref *out, size_t *ret_n)
{
	*ret_n = 0;
	uint64_t numbers[32], req;
	if (hi < lo || hi - lo >= 32)
		return PW_EINVAL;
	size_t n = (size_t)(hi - lo + 1);
	for (size_t i = 0; i < n; i++)
		numbers[i] = lo + i;
	int r = g->ops->request_headers(g->ad, numbers, n, &req);
	if (r < 0)
		return r;
	for (;;) {
		if (atomic_load(g->p->stop))
			return PW_ESTOPPED;
		chain_event ev;
		r = g->ops->poll(g->ad, 200, &ev);
		if (r == PW_ETIMEDOUT)
			continue;
		if (r < 0)
			return r;
		if (ev.kind == CHAIN_EV_HEAD && ev.headers[0].number > g->target)
			g->target = ev.headers[0].number;
		bool mine = ev.req == req && (ev.kind == CHAIN_EV_HEADERS || ev.kind == CHAIN_EV_ERROR);
		if (mine && ev.kind == CHAIN_EV_HEADERS) {
			*ret_n = ev.n_headers <= n ? ev.n_headers : n;
			memcpy(out, ev.headers, *ret_n * sizeof(pw_block_ref));
		}
		int err = mine && ev.kind == CHAIN_EV_ERROR ? (ev.error ? ev.error : PW_ERPC) : 0;
		chain_event_done(&ev);
		if (mine)
			return err;
	}
}

/* The chain reorganised at or below block `top`: find the common ancestor
 * by walking back through the stored window (fetching canonical headers 16
 * at a time), then rewind the tracker to it. A reorg below the window stops
 * the chain: it is never followed unverified. */
static int handle_reorg(ingest *g, uint64_t top)
{
	int64_t ckpt = checkpoint_of(g);
	if (ckpt < 0)
		return 0;
	if (top > (uint64_t)ckpt)
		top = (uint64_t)ckpt;
	drop_slots(g);
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
		if ((r = await_headers(g, lo, n, canon, &n_canon)) < 0) {
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
		return log_error(PW_EREORGDEEP,
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
			return log_error(r, "chain=%s: cannot rewind to block %llu: %s", g->name, (unsigned long long)ancestor,
					 store_msg(g));
	}
	g->reorgs++;
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
	g->next_from = tracker_next_block(g->tr);
	/* the head may have moved down with the reorg: ask again */
	g->have_target = false;
	return g->ops->request_head_number(g->ad, &g->head_req);
}

/* Run mode: record the new checkpoint and its block's time (the range
 * asked for that header) for `paywatch status`'s lag in seconds. */
static void record_checkpoint(ingest *g, const slot *s)
{
	const pw_block_ref *last = slot_header(s, s->to);
	g->state.checkpoint = s->to;
	g->state.checkpoint_time = last ? last->time : -1;
	save_state(g);
}

/* The front slot was applied: drop it; the node answers again, so the
 * error and rate-limit counters start over. */
static void pop_applied(ingest *g)
{
	g->consecutive_errors = 0;
	g->rate_backoff_ms = 0;
	slot_free(g, &g->slots[0]);
	memmove(&g->slots[0], &g->slots[1], (g->n_slots - 1) * sizeof(slot));
	g->n_slots--;
}

/* Apply completed slots at the front, in order. */
static int apply_ready(ingest *g)
{
	while (g->n_slots && slot_complete(&g->slots[0])) {
		slot *s = &g->slots[0];
		if (s->n_headers > 1)
			qsort(s->headers, s->n_headers, sizeof(pw_block_ref), cmp_header);
		/* block_time and blockHash consistency from headers we hold */
		bool stale = false;
		for (size_t i = 0; i < s->n_payments; i++) {
			pw_payment *p = &s->payments[i];
			const pw_block_ref *h = slot_header(s, p->block_number);
			if (h && memcmp(h->hash, p->block_hash, PW_HASH_LEN) != 0) {
				stale = true;
			} else if (h && p->block_time >= 0 && p->block_time != h->time) {
				/* the same block, two times: the node's answer is not to be trusted */
				g->bad_messages++;
				log_emit(LOG_LEVEL_WARN, g->name, (long long)p->block_number,
					 "bad message from %s: eth_getLogs [%llu, %llu]: a log of block %llu carries "
					 "blockTimestamp %lld but the block's header says %lld; %llu bad message(s) so far",
					 g->ops->endpoint(g->ad), (unsigned long long)s->from, (unsigned long long)s->to,
					 (unsigned long long)p->block_number, (long long)p->block_time, (long long)h->time,
					 (unsigned long long)g->bad_messages);
				return PW_ECONN; /* retried from the checkpoint, on the next endpoint */
			} else if (h) {
				p->block_time = h->time;
			}
			if (p->block_time < 0)
				stale = true;
		}
		if (stale) {
			/* the node reorganised between our requests: fetch the range again */
			log_emit(LOG_LEVEL_WARN, g->name, (long long)s->from,
				 "logs and headers of [%llu, %llu] disagree (node reorganised between requests); refetching",
				 (unsigned long long)s->from, (unsigned long long)s->to);
			return retry_slot(g, 0, false);
		}
		if (g->replay) {
			int r = g->replay->on_range(g->replay->arg, s->ctx, s->from, s->to, s->payments, s->n_payments,
						    s->headers, s->n_headers, s->n_logs);
			if (r < 0)
				return r;
			g->replay_next = s->to + 1;
			pop_applied(g);
			continue;
		}
		/* the window part: headers of [window_from, to] */
		size_t first = 0;
		while (first < s->n_headers && s->headers[first].number < s->window_from)
			first++;
		size_t n_window = s->n_headers - first;
		size_t confirmed = 0;
		uint64_t at = s->from;
		int r = tracker_apply_range(g->tr, s->from, s->to, s->window_from, n_window ? s->headers + first : NULL,
					    n_window, s->payments, s->n_payments, pw_wall_ms(), &confirmed, &at);
		if (r == PW_EREORG) {
			log_emit(LOG_LEVEL_WARN, g->name, (long long)at,
				 "block %llu does not link to the block before it (its parent hash differs): reorg",
				 (unsigned long long)at);
			return handle_reorg(g, at ? at - 1 : 0);
		}
		if (r < 0)
			return log_error(r, "chain=%s block=%llu: cannot commit range: %s", g->name,
					 (unsigned long long)s->to, r == PW_ESTORE ? store_msg(g) : pw_strerror(r));
		log_emit(LOG_LEVEL_DEBUG, g->name, (long long)s->to, "applied [%llu, %llu]: %zu logs, %zu payments",
			 (unsigned long long)s->from, (unsigned long long)s->to, s->n_logs, s->n_payments);
		record_checkpoint(g, s);
		g->progress_blocks += s->to - s->from + 1;
		g->progress_payments += s->n_payments;
		g->progress_logs += s->n_logs;
		if (confirmed)
			log_emit(LOG_LEVEL_INFO, g->name, (long long)s->to, "%zu payment(s) confirmed", confirmed);
		notify_sink(g, confirmed);
		pop_applied(g);
	}
	return 0;
}

static void log_progress(ingest *g, bool force)
{
	int64_t now = pw_mono_ms();
	if (!force && now - g->last_progress_ms < 5000)
		return;
	if (g->progress_blocks) {
		int64_t ckpt = checkpoint_of(g);
		log_emit(LOG_LEVEL_INFO, g->name, (long long)ckpt,
			 "checkpoint %lld, head %llu (%lld behind): %llu blocks, %llu logs, %llu payments since last report",
			 (long long)ckpt, (unsigned long long)g->target, (long long)g->target - (long long)ckpt,
			 (unsigned long long)g->progress_blocks, (unsigned long long)g->progress_logs,
			 (unsigned long long)g->progress_payments);
	}
	g->progress_blocks = g->progress_payments = g->progress_logs = 0;
	g->last_progress_ms = now;
}

static int connect_next(ingest *g)
{
	const cfg_chain *c = g->chain;
	pw_addr *tokens = malloc(c->n_tokens * sizeof(*tokens));
	if (!tokens)
		return PW_ENOMEM;
	chain_params params = config_chain_params(c, g->url_index, tokens);
	char err[512] = "";
	int r = g->ops->connect(&params, (int)c->request_timeout_ms, &g->ad, err, sizeof(err));
	free(tokens);
	if (r < 0) {
		log_emit(LOG_LEVEL_WARN, g->name, -1, "endpoint %zu: %s", g->url_index % c->n_urls, err);
		g->url_index++;
		return r;
	}
	if (g->cut_ms)
		log_emit(LOG_LEVEL_INFO, g->name, -1, "connected to %s (endpoint %zu) %lld ms after the connection was lost",
			 g->ops->endpoint(g->ad), g->url_index % c->n_urls, (long long)(pw_mono_ms() - g->cut_ms));
	else
		log_emit(LOG_LEVEL_INFO, g->name, -1, "connected to %s (chain id %llu verified, newHeads subscribed)",
			 g->ops->endpoint(g->ad), (unsigned long long)c->chain_id);
	g->cut_ms = 0;
	g->next_from = next_block(g);
	g->last_head_ms = pw_mono_ms();
	snprintf(g->state.endpoint, sizeof(g->state.endpoint), "%s", g->ops->endpoint(g->ad));
	save_state(g);
	if (g->replay && g->have_target)
		return 0; /* a replay's target was fixed on its first connection */
	g->have_target = false;
	return g->ops->request_head_number(g->ad, &g->head_req);
}

static void sleep_ms_unless_stopped(const ingest *g, int64_t ms)
{
	int64_t end = pw_mono_ms() + ms;
	while (!atomic_load(g->p->stop) && pw_mono_ms() < end) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static int request_finality(ingest *g)
{
	if (g->chain->finality == CHAIN_FINALITY_CONFIRMATIONS || g->tag_req)
		return 0;
	return g->ops->request_tag_number(g->ad, g->chain->finality, &g->tag_req);
}

/* Replay mode: once the head (and the finalized block, in finality mode)
 * is known, ask the caller where to stop. */
static int replay_target(ingest *g)
{
	bool finality = g->chain->finality != CHAIN_FINALITY_CONFIRMATIONS;
	if (g->have_target || g->replay_empty || !g->head_known || (finality && !g->finalized_known))
		return 0;
	uint64_t to = 0;
	int r = g->replay->on_target(g->replay->arg, g->target, finality ? g->state.finalized : -1, &to);
	if (r < 0)
		return r;
	g->replay_empty = r > 0;
	g->target = to;
	g->have_target = !g->replay_empty;
	return 0;
}

/* Record the head for `paywatch status`; a head learnt from eth_blockNumber
 * has no time: its header is asked for (answered in handle_event). */
static void record_head(ingest *g, uint64_t number, int64_t time)
{
	if (number == g->state.head && (time < 0 || time == g->state.head_time))
		return;
	g->state.head = number;
	g->state.head_time = time;
	save_state(g);
	if (time < 0 && !g->head_hdr_req && g->ops->request_headers(g->ad, &number, 1, &g->head_hdr_req) < 0)
		g->head_hdr_req = 0; /* only status misses it */
}

static int on_new_head(ingest *g, const pw_block_ref *h)
{
	if (g->replay)
		return 0; /* a replay's target is fixed */
	record_head(g, h->number, h->time);
	g->last_head_ms = pw_mono_ms();
	int64_t ckpt = checkpoint_of(g);
	if (ckpt >= 0 && h->number <= (uint64_t)ckpt) {
		pw_block_ref stored;
		if (store_get_header(g->p->st, g->name, h->number, &stored) == 0 &&
		    memcmp(stored.hash, h->hash, PW_HASH_LEN) != 0) {
			log_emit(LOG_LEVEL_WARN, g->name, (long long)h->number,
				 "new head %llu differs from the block indexed at that height: reorg",
				 (unsigned long long)h->number);
			return handle_reorg(g, h->number);
		}
	}
	if (!g->have_target || h->number > g->target) {
		g->target = h->number;
		g->have_target = true;
	}
	return request_finality(g);
}

static int on_number(ingest *g, chain_event *ev)
{
	int r0;
	int64_t ckpt = checkpoint_of(g);
	if (g->replay) {
		if (ev->req == g->head_req) {
			g->head_req = 0;
			g->head_known = true;
			g->target = ev->number;
			if (g->chain->finality != CHAIN_FINALITY_CONFIRMATIONS && (r0 = request_finality(g)) < 0)
				return r0;
		} else if (ev->req == g->tag_req) {
			g->tag_req = 0;
			g->finalized_known = true;
			g->state.finalized = (int64_t)ev->number;
		}
		return replay_target(g);
	}
	if (ev->req == g->tag_req) {
		g->tag_req = 0;
		if (g->state.finalized != (int64_t)ev->number) {
			g->state.finalized = (int64_t)ev->number;
			save_state(g);
		}
		tracker_set_finalized(g->tr, ev->number);
		size_t confirmed = 0;
		int r = tracker_confirm(g->tr, pw_wall_ms(), &confirmed);
		if (r < 0)
			return log_error(r, "chain=%s: cannot commit confirmations: %s", g->name, store_msg(g));
		if (confirmed)
			log_emit(LOG_LEVEL_INFO, g->name, (long long)ev->number, "%zu payment(s) confirmed (%s block %llu)",
				 confirmed, chain_finality_tag(g->chain->finality), (unsigned long long)ev->number);
		notify_sink(g, confirmed);
		return 0;
	}
	bool probe = ev->req == g->probe_req;
	if (ev->req != g->head_req && !probe)
		return 0;
	if (probe) {
		g->probe_req = 0;
		log_emit(LOG_LEVEL_DEBUG, g->name, (long long)ev->number, "head probe: node at %llu, heard of %llu",
			 (unsigned long long)ev->number, (unsigned long long)g->target);
		bool silent_too_long = pw_mono_ms() - g->last_head_ms >= (int64_t)g->chain->head_timeout_ms;
		if (ev->number > g->target && silent_too_long) {
			log_emit(LOG_LEVEL_WARN, g->name, (long long)ev->number,
				 "no new head for %u ms although the node is at block %llu (we heard of %llu): "
				 "subscription stalled",
				 g->chain->head_timeout_ms, (unsigned long long)ev->number, (unsigned long long)g->target);
			return PW_ECONN;
		}
		if (ev->number > g->target) { /* notifications were lost: catch up by polling */
			log_emit(LOG_LEVEL_WARN, g->name, (long long)ev->number,
				 "missed new heads: the node is at block %llu, the last head heard was %llu; catching up",
				 (unsigned long long)ev->number, (unsigned long long)g->target);
			g->target = ev->number;
			g->have_target = true;
			record_head(g, ev->number, -1);
			return request_finality(g);
		}
		if (ckpt >= 0 && ev->number < (uint64_t)ckpt && silent_too_long && g->chain->n_urls > 1) {
			log_emit(LOG_LEVEL_WARN, g->name, (long long)ev->number,
				 "node stays at block %llu, behind the checkpoint %lld: trying another endpoint",
				 (unsigned long long)ev->number, (long long)ckpt);
			return PW_ECONN;
		}
		if (silent_too_long)
			g->last_head_ms = pw_mono_ms(); /* a quiet chain, not a stalled subscription */
		return 0;
	}
	g->head_req = 0;
	if (!g->have_target || ev->number > g->target)
		g->target = ev->number;
	g->have_target = true;
	record_head(g, g->target, -1);
	if (ckpt >= 0 && ev->number < (uint64_t)ckpt)
		log_emit(LOG_LEVEL_WARN, g->name, (long long)ev->number,
			 "node head %llu is behind the checkpoint %lld (a lagging node, not a reorg): waiting",
			 (unsigned long long)ev->number, (long long)ckpt);
	else
		log_emit(LOG_LEVEL_INFO, g->name, (long long)g->target, "node head %llu; next block to process %llu",
			 (unsigned long long)g->target, (unsigned long long)tracker_next_block(g->tr));
	return request_finality(g);
}

static int on_error(ingest *g, chain_event *ev)
{
	bool is_header;
	size_t idx;
	slot *s;
	if (ev->req && ev->req == g->head_hdr_req) {
		g->head_hdr_req = 0; /* only status misses the head's time */
		return 0;
	}
	g->consecutive_errors++;
	if (ev->error == PW_EPARSE || ev->error == PW_ETOOBIG)
		g->bad_messages++;
	if (ev->req == 0) {
		log_emit(LOG_LEVEL_WARN, g->name, -1, "bad message from %s: %s (%s); %llu bad message(s) so far",
			 g->ops->endpoint(g->ad), ev->detail, pw_strerror(ev->error),
			 (unsigned long long)g->bad_messages);
		return PW_ECONN; /* a connection that sends garbage is not trusted further */
	}
	if (ev->req == g->head_req || ev->req == g->probe_req || ev->req == g->tag_req) {
		bool tag = ev->req == g->tag_req;
		g->head_req = ev->req == g->head_req ? 0 : g->head_req;
		g->probe_req = ev->req == g->probe_req ? 0 : g->probe_req;
		g->tag_req = tag ? 0 : g->tag_req;
		if (tag && ev->error == PW_ENOTFOUND) { /* no finalized block yet (young chain) */
			if (g->replay) {
				g->finalized_known = true;
				g->state.finalized = -1;
				return replay_target(g);
			}
			return 0;
		}
		log_emit(LOG_LEVEL_WARN, g->name, -1, "%s request failed at %s: %s (%s)", tag ? chain_finality_tag(g->chain->finality) : "head",
			 g->ops->endpoint(g->ad), ev->detail, pw_strerror(ev->error));
		if (ev->error == PW_ETIMEDOUT || ev->error == PW_EPARSE)
			return PW_ECONN;
		if (!tag && !g->have_target)
			return g->ops->request_head_number(g->ad, &g->head_req);
		return 0;
	}
	if (!(s = find_slot(g, ev->req, &is_header, &idx)))
		return 0;
	log_emit(LOG_LEVEL_WARN, g->name, (long long)s->from, "request for [%llu, %llu] failed at %s: %s (%s)",
		 (unsigned long long)s->from, (unsigned long long)s->to, g->ops->endpoint(g->ad), ev->detail,
		 pw_strerror(ev->error));
	if (ev->rate_limited) {
		g->rate_backoff_ms = g->rate_backoff_ms ? g->rate_backoff_ms * 2 : 250;
		if (g->rate_backoff_ms > 30000)
			g->rate_backoff_ms = 30000;
		log_emit(LOG_LEVEL_WARN, g->name, -1, "rate limited: slowing down, next request in %lld ms",
			 (long long)g->rate_backoff_ms);
		sleep_ms_unless_stopped(g, g->rate_backoff_ms);
		g->consecutive_errors--; /* being told to slow down is not a failure */
		return retry_slot(g, idx, false);
	}
	bool smaller = ev->range_too_large || ev->error == PW_ETOOBIG || ev->error == PW_ETIMEDOUT;
	if (smaller) {
		uint64_t half = (s->to - s->from + 1) / 2;
		g->range = half ? half : 1;
	}
	if (ev->error == PW_ETIMEDOUT || ev->error == PW_EPARSE || g->consecutive_errors > 8)
		return PW_ECONN; /* retried from the checkpoint, on the next endpoint */
	if (ev->error == PW_ENOTFOUND) /* a lagging node: give it a moment */
		sleep_ms_unless_stopped(g, 200);
	return retry_slot(g, idx, smaller);
}

static int handle_event(ingest *g, chain_event *ev)
{
	bool is_header;
	size_t idx;
	slot *s;
	switch (ev->kind) {
	case CHAIN_EV_HEAD:
		return on_new_head(g, &ev->headers[0]);
	case CHAIN_EV_NUMBER:
		return on_number(g, ev);
	case CHAIN_EV_TRANSFERS:
		if (!(s = find_slot(g, ev->req, &is_header, &idx)))
			return 0;
		return on_transfers(g, s, ev);
	case CHAIN_EV_HEADERS:
		if (ev->req && ev->req == g->head_hdr_req) {
			g->head_hdr_req = 0;
			if (ev->n_headers == 1 && ev->headers[0].number == g->state.head) /* not overtaken by a newer head */
				record_head(g, ev->headers[0].number, ev->headers[0].time);
			return 0;
		}
		if (!(s = find_slot(g, ev->req, &is_header, &idx)))
			return 0;
		return on_headers(s, ev);
	case CHAIN_EV_ERROR:
		return on_error(g, ev);
	}
	return 0;
}

/* No new head for a while: ask the node where it is. Every HEAD_POLL_MS
 * this catches up on lost notifications; after head_timeout it also tells
 * a stalled subscription from a quiet chain (on_number decides). */
#define HEAD_POLL_MS 5000

static int check_head_timeout(ingest *g)
{
	int64_t now = pw_mono_ms();
	if (g->replay)
		return 0; /* a replay does not follow the head */
	int64_t poll = g->chain->head_timeout_ms < HEAD_POLL_MS ? g->chain->head_timeout_ms : HEAD_POLL_MS;
	if (g->probe_req || now - g->last_head_ms < poll || now - g->last_probe_ms < poll)
		return 0;
	g->last_probe_ms = now;
	log_emit(LOG_LEVEL_DEBUG, g->name, -1, "no new head for %lld ms: asking the node for its head",
		 (long long)(now - g->last_head_ms));
	return g->ops->request_head_number(g->ad, &g->probe_req);
}

/* The converge loop, shared by run and replay: connect (rotating through
 * ws_urls with backoff), keep ranges in flight, apply completed ones in
 * order; a broken connection resumes from the last applied block on the
 * next endpoint. A replay gives up after every endpoint failed to connect
 * three times (an outage is waited out by `run`, reported by `replay`). */
static int run_loop(ingest *g)
{
	int r = 0;
	int64_t backoff = 500;
	unsigned connect_failures = 0;
	g->last_progress_ms = pw_mono_ms();
	while (!atomic_load(g->p->stop)) {
		if (!g->ad) {
			r = connect_next(g);
			if (r == PW_ECHAINID) {
				log_error(r, "chain=%s: refusing to index this endpoint", g->name);
				if (g->chain->n_urls == 1)
					break; /* nothing else to try: a config error, not an outage */
			}
			if (r < 0) {
				if (g->ad)
					disconnect(g);
				if (g->replay && ++connect_failures >= 3 * g->chain->n_urls) {
					log_emit(LOG_LEVEL_ERROR, g->name, -1, "no endpoint reachable after %u attempts",
						 connect_failures);
					break;
				}
				/* exponential backoff with jitter, capped at 30 s */
				int64_t jitter = (int64_t)pw_random_below((uint64_t)backoff / 2 + 1);
				sleep_ms_unless_stopped(g, backoff + jitter);
				backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
				continue;
			}
			backoff = 500;
			connect_failures = 0;
		}
		chain_event ev;
		r = fill_pipeline(g);
		if (r == 0)
			r = check_head_timeout(g);
		if (r == 0) {
			r = g->ops->poll(g->ad, 200, &ev);
			if (r == 0) {
				r = handle_event(g, &ev);
				chain_event_done(&ev);
				if (r == 0)
					r = apply_ready(g);
			} else if (r == PW_ETIMEDOUT) {
				r = 0;
			}
		}
		if (r == PW_ECONN && g->replay && g->consecutive_errors > 30) {
			log_emit(LOG_LEVEL_ERROR, g->name, (long long)g->replay_next,
				 "%d requests failed in a row: giving up", g->consecutive_errors);
			r = PW_ERPC;
			break;
		}
		if (r == PW_ECONN) {
			log_emit(LOG_LEVEL_WARN, g->name, -1, "leaving %s; resuming from checkpoint %lld on the next endpoint",
				 g->ops->endpoint(g->ad), (long long)checkpoint_of(g));
			g->url_index++;
			g->cut_ms = pw_mono_ms();
			disconnect(g);
			continue;
		}
		if (r < 0)
			break;
		if (g->replay && (g->replay_empty || (g->have_target && g->n_slots == 0 && g->next_from > g->target)))
			break; /* the whole range is reconciled */
		log_progress(g, false);
	}
	log_progress(g, true);
	if (g->ad)
		disconnect(g);
	else
		drop_slots(g);
	free(g->slots);
	return atomic_load(g->p->stop) && r >= 0 ? 0 : r;
}

int ingest_run(const ingest_params *p)
{
	ingest g;
	memset(&g, 0, sizeof(g));
	g.p = p;
	g.replay = p->replay;
	g.chain = &p->cfg->chains[p->chain_index];
	g.ops = g.chain->family->ops;
	g.name = g.chain->name;
	g.range = g.chain->max_range < INITIAL_RANGE ? g.chain->max_range : INITIAL_RANGE;
	g.state.head_time = -1;
	g.state.finalized = -1;
	g.state.checkpoint_time = -1;
	if (g.replay) {
		g.replay_next = g.replay->from;
		return run_loop(&g);
	}
	bool pending_wanted = false;
	for (size_t i = 0; i < p->cfg->n_merchants; i++)
		pending_wanted |= (p->cfg->merchants[i].events & CFG_EVENT_PENDING) && p->cfg->merchants[i].n_endpoints;
	tracker_options topts = { .confirmations = g.chain->confirmations, .window = g.chain->reorg_window,
				  .start_block = g.chain->start_block, .finality = g.chain->finality != CHAIN_FINALITY_CONFIRMATIONS,
				  .emit_pending = pending_wanted };
	int r = tracker_create(p->st, g.name, &topts, &g.tr);
	if (r < 0)
		return log_error(r, "chain=%s: cannot load checkpoint: %s", g.name, store_msg(&g));
	char rule[48];
	if (g.chain->finality != CHAIN_FINALITY_CONFIRMATIONS)
		snprintf(rule, sizeof(rule), "finality %s", chain_finality_tag(g.chain->finality));
	else
		snprintf(rule, sizeof(rule), "confirmations %u", g.chain->confirmations);
	log_emit(LOG_LEVEL_INFO, g.name, -1, "%s from block %llu (%s)",
		 tracker_has_checkpoint(g.tr) ? "resuming" : "starting", (unsigned long long)tracker_next_block(g.tr), rule);
	r = run_loop(&g);
	tracker_destroy(g.tr);
	return r;
}
