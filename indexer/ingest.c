/* ingest.c: the per-chain converge loop. Slots are block ranges in flight,
 * kept in block order; a slot completes when its logs and the headers it
 * needs (window headers near the head, timestamps of payment blocks whose
 * logs lack blockTimestamp) have arrived. Completed slots at the front are
 * applied in order, each in one store batch. */
#include "ingest.h"
#include "hex.h"
#include "log.h"
#include "pw_error.h"
#include "tracker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TARGET_LOGS_PER_RANGE 2500 /* ~1.6 MB of log JSON per eth_getLogs answer */
#define INITIAL_RANGE 10 /* blocks; doubles per answer up to the density target, so sparse history grows fast */
#define MAX_HEADER_REQS 4

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
} slot;

typedef struct ingest {
	const ingest_params *p;
	const cfg_chain *chain;
	const char *name;
	tracker *tr;
	chain_adapter *ad;
	size_t url_index;
	slot *slots;
	size_t n_slots, cap_slots;
	uint64_t next_from; /* first block not covered by a slot */
	uint64_t target;    /* the node's head as last heard */
	bool have_target;
	uint64_t head_req;  /* pending eth_blockNumber, 0 if none */
	uint64_t range;     /* current range size in blocks */
	int consecutive_errors;
	/* progress */
	int64_t last_progress_ms;
	uint64_t progress_blocks, progress_payments, progress_logs;
} ingest;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void slot_free(slot *s)
{
	free(s->payments);
	free(s->headers);
	memset(s, 0, sizeof(*s));
}

static void drop_slots(ingest *g)
{
	for (size_t i = 0; i < g->n_slots; i++)
		slot_free(&g->slots[i]);
	g->n_slots = 0;
	g->next_from = tracker_next_block(g->tr);
}

static void disconnect(ingest *g)
{
	g->p->ops->close(g->ad);
	g->ad = NULL;
	g->head_req = 0;
	drop_slots(g);
}

static uint64_t window_start(const ingest *g)
{
	uint64_t w = g->chain->reorg_window;
	return g->target + 1 > w ? g->target + 1 - w : 0;
}

/* Send the requests of slot s: logs, and window headers if any. */
static int slot_request(ingest *g, slot *s)
{
	int r = g->p->ops->request_transfers(g->ad, s->from, s->to, &s->logs_req);
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
		r = g->p->ops->request_headers(g->ad, numbers, n, &s->hdr_reqs[s->n_hdr_reqs]);
		free(numbers);
		if (r < 0)
			return r;
		s->n_hdr_reqs++;
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
	slot_free(s);
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
	int r = 0;
	if (n) {
		if (s->n_hdr_reqs < MAX_HEADER_REQS)
			r = g->p->ops->request_headers(g->ad, numbers, n, &s->hdr_reqs[s->n_hdr_reqs++]);
		else
			r = PW_EINVAL;
	}
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

/* Apply completed slots at the front, in order. */
static int apply_ready(ingest *g)
{
	while (g->n_slots && slot_complete(&g->slots[0])) {
		slot *s = &g->slots[0];
		qsort(s->headers, s->n_headers, sizeof(pw_block_ref), cmp_header);
		/* block_time and blockHash consistency from headers we hold */
		bool stale = false;
		for (size_t i = 0; i < s->n_payments; i++) {
			pw_payment *p = &s->payments[i];
			const pw_block_ref *h = slot_header(s, p->block_number);
			if (h) {
				if (memcmp(h->hash, p->block_hash, PW_HASH_LEN) != 0)
					stale = true;
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
		/* the window part: headers of [window_from, to], contiguous */
		size_t first = 0;
		while (first < s->n_headers && s->headers[first].number < s->window_from)
			first++;
		size_t n_window = s->n_headers - first;
		size_t confirmed = 0;
		int r = tracker_apply_range(g->tr, s->from, s->to, s->headers + first, n_window, s->payments,
					    s->n_payments, wall_ms(), &confirmed);
		if (r == PW_EREORG) {
			return log_error(r, "chain=%s block=%llu: a new header does not link to the stored window "
					    "(reorg); reorg handling is not implemented yet: stopping this chain. "
					    "Operator: replay from block %llu once it is",
					    g->name, (unsigned long long)s->from,
					    (unsigned long long)(s->from > g->chain->reorg_window ? s->from - g->chain->reorg_window : 0));
		}
		if (r < 0)
			return log_error(r, "chain=%s block=%llu: cannot commit range", g->name,
					 (unsigned long long)s->to);
		g->progress_blocks += s->to - s->from + 1;
		g->progress_payments += s->n_payments;
		g->progress_logs += s->n_logs;
		if (confirmed) {
			log_emit(LOG_LEVEL_INFO, g->name, (long long)s->to, "%zu payment(s) confirmed", confirmed);
			if (g->p->on_confirmed)
				g->p->on_confirmed(g->p->on_confirmed_arg);
		}
		g->consecutive_errors = 0;
		slot_free(s);
		memmove(&g->slots[0], &g->slots[1], (g->n_slots - 1) * sizeof(slot));
		g->n_slots--;
	}
	return 0;
}

static void log_progress(ingest *g, bool force)
{
	int64_t now = mono_ms();
	if (!force && now - g->last_progress_ms < 5000)
		return;
	if (g->progress_blocks) {
		uint64_t next = tracker_next_block(g->tr);
		log_emit(LOG_LEVEL_INFO, g->name, (long long)(next ? next - 1 : 0),
			 "checkpoint %llu, head %llu (%llu behind): %llu blocks, %llu logs, %llu payments since last report",
			 (unsigned long long)(next ? next - 1 : 0), (unsigned long long)g->target,
			 (unsigned long long)(g->target >= next ? g->target - next + 1 : 0),
			 (unsigned long long)g->progress_blocks, (unsigned long long)g->progress_logs,
			 (unsigned long long)g->progress_payments);
	}
	g->progress_blocks = g->progress_payments = g->progress_logs = 0;
	g->last_progress_ms = now;
}

static int connect_next(ingest *g)
{
	const cfg_chain *c = g->chain;
	uint8_t(*tokens)[PW_ADDR_LEN] = malloc(c->n_tokens * PW_ADDR_LEN);
	if (!tokens)
		return PW_ENOMEM;
	for (size_t i = 0; i < c->n_tokens; i++)
		memcpy(tokens[i], c->tokens[i].address, PW_ADDR_LEN);
	chain_params params = {
		.name = c->name,
		.url = c->ws_urls[g->url_index % c->n_ws_urls],
		.chain_id = c->chain_id,
		.tokens = (const uint8_t(*)[PW_ADDR_LEN])tokens,
		.n_tokens = c->n_tokens,
		.max_message_bytes = (size_t)c->max_message_bytes,
		.request_timeout_ms = c->request_timeout_ms,
	};
	char err[512] = "";
	int r = g->p->ops->connect(&params, (int)c->request_timeout_ms, &g->ad, err, sizeof(err));
	free(tokens);
	if (r < 0) {
		log_emit(LOG_LEVEL_WARN, g->name, -1, "endpoint %zu: %s", g->url_index % c->n_ws_urls, err);
		g->url_index++;
		return r;
	}
	log_emit(LOG_LEVEL_INFO, g->name, -1, "connected to %s (chain id %llu verified, newHeads subscribed)",
		 g->p->ops->endpoint(g->ad), (unsigned long long)c->chain_id);
	g->next_from = tracker_next_block(g->tr);
	g->have_target = false;
	return g->p->ops->request_head_number(g->ad, &g->head_req);
}

static void sleep_ms_unless_stopped(const ingest *g, int64_t ms)
{
	int64_t end = mono_ms() + ms;
	while (!atomic_load(g->p->stop) && mono_ms() < end) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static int handle_event(ingest *g, chain_event *ev)
{
	bool is_header;
	size_t idx;
	slot *s;
	switch (ev->kind) {
	case CHAIN_EV_HEAD:
		if (!g->have_target || ev->headers[0].number > g->target) {
			g->target = ev->headers[0].number;
			g->have_target = true;
		}
		return 0;
	case CHAIN_EV_NUMBER:
		if (ev->req == g->head_req) {
			g->head_req = 0;
			if (!g->have_target || ev->number > g->target)
				g->target = ev->number;
			g->have_target = true;
			uint64_t next = tracker_next_block(g->tr);
			log_emit(LOG_LEVEL_INFO, g->name, (long long)g->target, "node head %llu; next block to process %llu",
				 (unsigned long long)g->target, (unsigned long long)next);
		}
		return 0;
	case CHAIN_EV_TRANSFERS:
		if (!(s = find_slot(g, ev->req, &is_header, &idx)))
			return 0;
		return on_transfers(g, s, ev);
	case CHAIN_EV_HEADERS:
		if (!(s = find_slot(g, ev->req, &is_header, &idx)))
			return 0;
		return on_headers(s, ev);
	case CHAIN_EV_ERROR:
		g->consecutive_errors++;
		if (ev->req == g->head_req && ev->req) {
			g->head_req = 0;
			log_emit(LOG_LEVEL_WARN, g->name, -1, "eth_blockNumber failed: %s", ev->detail);
			return g->p->ops->request_head_number(g->ad, &g->head_req);
		}
		if (ev->req == 0 || !(s = find_slot(g, ev->req, &is_header, &idx))) {
			log_emit(LOG_LEVEL_WARN, g->name, -1, "bad message from %s: %s (%s)",
				 g->p->ops->endpoint(g->ad), ev->detail, pw_strerror(ev->error));
			return ev->req == 0 ? PW_ECONN : 0;
		}
		log_emit(LOG_LEVEL_WARN, g->name, (long long)s->from, "request for [%llu, %llu] failed: %s (%s)%s",
			 (unsigned long long)s->from, (unsigned long long)s->to, ev->detail,
			 pw_strerror(ev->error), ev->range_too_large ? "; halving the range" : "");
		if (ev->range_too_large || ev->error == PW_ETOOBIG) {
			uint64_t half = (s->to - s->from + 1) / 2;
			g->range = half ? half : 1;
		}
		if (g->consecutive_errors > 8)
			return PW_ECONN; /* this endpoint keeps failing: try the next */
		if (ev->error == PW_ENOTFOUND) /* a lagging node: give it a moment */
			sleep_ms_unless_stopped(g, 200);
		return retry_slot(g, idx, ev->range_too_large || ev->error == PW_ETOOBIG);
	}
	return 0;
}

int ingest_run(const ingest_params *p)
{
	ingest g;
	memset(&g, 0, sizeof(g));
	g.p = p;
	g.chain = &p->cfg->chains[p->chain_index];
	g.name = g.chain->name;
	g.range = g.chain->max_range < INITIAL_RANGE ? g.chain->max_range : INITIAL_RANGE;
	int r = tracker_create(p->st, g.name, g.chain->confirmations, g.chain->reorg_window,
			       g.chain->start_block, &g.tr);
	if (r < 0)
		return log_error(r, "chain=%s: cannot load checkpoint", g.name);
	log_emit(LOG_LEVEL_INFO, g.name, -1, "%s from block %llu (confirmations %u)",
		 tracker_has_checkpoint(g.tr) ? "resuming" : "starting",
		 (unsigned long long)tracker_next_block(g.tr), g.chain->confirmations);
	int64_t backoff = 500;
	g.last_progress_ms = mono_ms();
	while (!atomic_load(p->stop)) {
		if (!g.ad) {
			r = connect_next(&g);
			if (r == PW_ECHAINID) {
				log_error(r, "chain=%s: refusing to index this endpoint", g.name);
				if (g.chain->n_ws_urls == 1)
					break; /* nothing else to try: a config error, not an outage */
			}
			if (r < 0) {
				if (g.ad)
					disconnect(&g);
				int64_t jitter = rand() % (backoff / 2 + 1);
				sleep_ms_unless_stopped(&g, backoff + jitter);
				backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
				continue;
			}
			backoff = 500;
		}
		if ((r = fill_pipeline(&g)) < 0) {
			if (r == PW_ECONN) {
				disconnect(&g);
				continue;
			}
			break;
		}
		chain_event ev;
		r = p->ops->poll(g.ad, 200, &ev);
		if (r == 0) {
			r = handle_event(&g, &ev);
			chain_event_done(&ev);
			if (r == 0)
				r = apply_ready(&g);
			if (r == PW_ECONN) {
				log_emit(LOG_LEVEL_WARN, g.name, -1, "dropping connection to %s; resuming from the checkpoint",
					 p->ops->endpoint(g.ad));
				g.url_index++;
				disconnect(&g);
				continue;
			}
			if (r < 0)
				break;
		} else if (r == PW_ECONN) {
			log_emit(LOG_LEVEL_WARN, g.name, -1, "connection to %s lost; resuming from the checkpoint",
				 p->ops->endpoint(g.ad));
			g.url_index++;
			disconnect(&g);
			continue;
		}
		r = 0;
		log_progress(&g, false);
	}
	log_progress(&g, true);
	if (g.ad)
		disconnect(&g);
	else
		drop_slots(&g);
	free(g.slots);
	tracker_destroy(g.tr);
	return atomic_load(p->stop) && (r == 0 || r == PW_ETIMEDOUT) ? 0 : r;
}
