/* pipeline.c: the range pipeline. Slots are block ranges in flight, kept in
 * block order; a slot completes when its logs and the headers it needs
 * (window headers near the head, times of payment blocks whose logs lack
 * them, what the consumer asked for) have arrived. Completed slots at the
 * front go to the consumer in order. */
#include "pipeline.h"
#include "hd_window.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "pw_error.h"
#include "random.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INITIAL_RANGE 10   /* blocks; doubles per answer up to the density target, so sparse history grows fast */
#define HEADER_BATCH 100   /* headers per JSON-RPC batch: providers cap batch sizes */
#define MAX_HEADER_REQS 48 /* a slot spans <= max_range blocks: window + payment headers fit */

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
	void *ctx;       /* the consumer's data for this range */
	uint64_t hd_gen; /* the pipeline's window growths when it was matched */
	bool held;       /* not asked for yet: the node asked us to wait (the pipeline's hold_until_ms) */
} slot;

/* A window growth: which one, and the first block of the range whose
 * payment grew it. A range after it that was matched before it is fetched
 * again before it is applied (its transfers may reach the grown window). */
#define HD_GROWTHS 64
typedef struct hd_growth {
	uint64_t gen, block;
} hd_growth;

struct pipeline {
	const pipeline_params *p;
	const pipeline_hooks *h;
	const cfg_chain *chain;
	const chain_ops *ops;
	const char *name;
	chain_adapter *ad;
	size_t url_index;
	slot *slots;
	size_t n_slots, cap_slots;
	uint64_t next_block; /* the first block not yet applied */
	uint64_t next_from;  /* the first block not covered by a slot */
	uint64_t target;     /* the last block to fetch */
	bool have_target;
	bool stopped;
	uint64_t range;                /* current range size in blocks */
	hd_window *hd;                 /* xpub windows grown while matching (NULL: the set alone) */
	uint64_t hd_gen;               /* growths so far */
	hd_growth growths[HD_GROWTHS]; /* the last ones, a ring by gen */
	int consecutive_errors;
	int64_t rate_backoff_ms; /* grows while the node rate-limits us */
	/* no range is asked for before this (pw_mono_ms; 0: no hold): the
	 * node asked us to wait. Answers to requests in flight are still read
	 * meanwhile (a sleep left them unread past their deadline: a spurious
	 * timeout, and the endpoint left), and so are new heads. */
	int64_t hold_until_ms;
	uint64_t bad_messages; /* malformed or oversized messages from nodes */
	int64_t cut_ms;        /* when the last connection was lost (to log the time to resume) */
	pw_block_ref head;     /* the last new head's header (newHeads or the head poll), when have_head */
	bool have_head;
};

static void slot_free(const pipeline *pl, slot *s)
{
	free(s->payments);
	free(s->headers);
	if (s->ctx && pl->h->free_ctx)
		pl->h->free_ctx(s->ctx);
	memset(s, 0, sizeof(*s));
}

static void drop_slots(pipeline *pl)
{
	for (size_t i = 0; i < pl->n_slots; i++)
		slot_free(pl, &pl->slots[i]);
	pl->n_slots = 0;
	pl->next_from = pl->next_block;
}

static void disconnect(pipeline *pl)
{
	pl->ops->close(pl->ad);
	pl->ad = NULL;
	pl->have_head = false;
	pl->hold_until_ms = 0; /* the next endpoint asked for no wait */
	drop_slots(pl);
	if (pl->h->on_disconnect)
		pl->h->on_disconnect(pl->h->arg, pl);
}

/* The first block whose header is fetched with its range (none without a
 * window). */
static uint64_t window_start(const pipeline *pl)
{
	uint64_t w = pl->p->window;
	if (w == 0)
		return UINT64_MAX;
	return pl->target + 1 > w ? pl->target + 1 - w : 0;
}

/* Ask for the headers of n block numbers in batches of HEADER_BATCH. */
static int request_header_batches(pipeline *pl, slot *s, const uint64_t *numbers, size_t n)
{
	for (size_t i = 0; i < n; i += HEADER_BATCH) {
		if (s->n_hdr_reqs == MAX_HEADER_REQS)
			return PW_EINVAL;
		size_t k = n - i < HEADER_BATCH ? n - i : HEADER_BATCH;
		int r = pl->ops->request_headers(pl->ad, numbers + i, k, &s->hdr_reqs[s->n_hdr_reqs]);
		if (r < 0)
			return r;
		s->n_hdr_reqs++;
	}
	return 0;
}

/* Send the requests of slot s: logs, and window headers if any. The
 * header of the new head the node announced is taken as it came, not asked
 * for again: live, a range is that one block, and its one request is the
 * logs. (A second request answered right after the first is held by a
 * node that does not set TCP_NODELAY until our delayed ACK, 40 ms on
 * Linux: anvil's were the tail of the live latency.) Logs that disagree
 * with it (the node reorganised in between) make apply_ready fetch the
 * range again, headers included, with the head forgotten. */
static int slot_request(pipeline *pl, slot *s)
{
	int r = pl->ops->request_transfers(pl->ad, s->from, s->to, &s->logs_req);
	if (r < 0)
		return r;
	uint64_t ws = window_start(pl);
	s->window_from = ws > s->from ? ws : s->from;
	bool ask = s->window_from <= s->to;
	uint64_t last = s->to; /* the last window header to ask for */
	if (ask && pl->have_head && pl->head.number == s->to) {
		if (!(s->headers = malloc(sizeof(pw_block_ref))))
			return PW_ENOMEM;
		s->headers[0] = pl->head;
		s->n_headers = 1;
		ask = s->window_from < s->to;
		last = s->to - 1;
	}
	if (ask) {
		size_t n = (size_t)(last - s->window_from + 1);
		uint64_t *numbers = malloc(n * sizeof(*numbers));
		if (!numbers)
			return PW_ENOMEM;
		for (size_t i = 0; i < n; i++)
			numbers[i] = s->window_from + i;
		r = request_header_batches(pl, s, numbers, n);
		free(numbers);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Ask for slot s's range now, or, while the pipeline holds its requests
 * back, mark it held: fill() asks for it when the hold ends. */
static int slot_send(pipeline *pl, slot *s)
{
	if (pl->hold_until_ms) {
		s->held = true;
		return 0;
	}
	return slot_request(pl, s);
}

/* Hold every range's requests back for wait_ms milliseconds from now (a
 * hold already longer stands). */
static void hold_requests(pipeline *pl, int64_t wait_ms)
{
	int64_t until = pw_mono_ms() + wait_ms;
	if (until > pl->hold_until_ms)
		pl->hold_until_ms = until;
}

/* The hold is over: ask for every held slot's range. 1 while it lasts,
 * 0, or a request's error. */
static int release_held(pipeline *pl)
{
	if (!pl->hold_until_ms)
		return 0;
	if (pw_mono_ms() < pl->hold_until_ms)
		return 1;
	pl->hold_until_ms = 0;
	for (size_t i = 0; i < pl->n_slots; i++) {
		if (!pl->slots[i].held)
			continue;
		pl->slots[i].held = false;
		int r = slot_request(pl, &pl->slots[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_slot(pipeline *pl, uint64_t from, uint64_t to, size_t at)
{
	if (pl->n_slots == pl->cap_slots) {
		size_t cap = pl->cap_slots ? pl->cap_slots * 2 : 16;
		slot *n = realloc(pl->slots, cap * sizeof(*n));
		if (!n)
			return PW_ENOMEM;
		pl->slots = n;
		pl->cap_slots = cap;
	}
	memmove(&pl->slots[at + 1], &pl->slots[at], (pl->n_slots - at) * sizeof(slot));
	pl->n_slots++;
	slot *s = &pl->slots[at];
	memset(s, 0, sizeof(*s));
	s->from = from;
	s->to = to;
	return slot_send(pl, s);
}

/* Restart slot i, splitting it in two when split is set and it spans > 1 block. */
static int retry_slot(pipeline *pl, size_t i, bool split)
{
	slot *s = &pl->slots[i];
	uint64_t from = s->from, to = s->to;
	slot_free(pl, s);
	s->from = from;
	s->to = to;
	if (split && to > from) {
		uint64_t mid = from + (to - from) / 2;
		s->to = mid;
		int r = slot_send(pl, s);
		if (r < 0)
			return r;
		return add_slot(pl, mid + 1, to, i + 1);
	}
	return slot_send(pl, s);
}

/* Ask for the ranges up to the target, at most max_in_flight at a time;
 * none while the node's wait lasts. */
static int fill(pipeline *pl)
{
	int held = release_held(pl);
	if (held != 0)
		return held < 0 ? held : 0;
	while (pl->have_target && pl->n_slots < pl->chain->max_in_flight && pl->next_from <= pl->target) {
		uint64_t to = pl->next_from + pl->range - 1;
		if (to > pl->target)
			to = pl->target;
		int r = add_slot(pl, pl->next_from, to, pl->n_slots);
		if (r < 0)
			return r;
		pl->next_from = to + 1;
	}
	return 0;
}

static bool slot_complete(const slot *s)
{
	return s->logs_done && s->n_hdr_reqs == 0;
}

static slot *find_slot(pipeline *pl, uint64_t req, size_t *ret_index)
{
	for (size_t i = 0; i < pl->n_slots; i++) {
		slot *s = &pl->slots[i];
		if (!s->logs_done && s->logs_req == req) {
			*ret_index = i;
			return s;
		}
		for (size_t k = 0; k < s->n_hdr_reqs; k++)
			if (s->hdr_reqs[k] == req) {
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

static int append_number(uint64_t **numbers, size_t *n, uint64_t b)
{
	uint64_t *grown = realloc(*numbers, (*n + 1) * sizeof(**numbers));
	if (!grown)
		return PW_ENOMEM;
	*numbers = grown;
	grown[(*n)++] = b;
	return 0;
}

static int on_transfers(pipeline *pl, slot *s, chain_event *ev)
{
	/* a held registry (run: no set loaded from Postgres yet, none kept):
	 * wait for one, the range not done meanwhile; stopped first:
	 * PW_ESTOPPED */
	if (ev->n_transfers && !registry_wait_open(pl->p->reg, pl->p->stop))
		return PW_ESTOPPED;
	s->logs_done = true;
	s->n_logs = ev->n_logs;
	if (ev->n_transfers) {
		s->payments = malloc(ev->n_transfers * sizeof(pw_payment));
		if (!s->payments)
			return PW_ENOMEM;
		const matcher *m = registry_acquire(pl->p->reg);
		if (pl->hd) {
			size_t before = hd_window_growths(pl->hd);
			s->n_payments = hd_window_match(pl->hd, m, ev->transfers, ev->n_transfers, s->payments);
			if (hd_window_growths(pl->hd) != before) {
				pl->hd_gen++;
				pl->growths[pl->hd_gen % HD_GROWTHS] = (hd_growth){ pl->hd_gen, s->from };
			}
		} else
			s->n_payments = matcher_match_transfers(m, pl->p->cfg, pl->p->chain_index, ev->transfers,
								ev->n_transfers, s->payments);
		registry_release(pl->p->reg, m);
	}
	s->hd_gen = pl->hd_gen;
	/* adapt the range to the density of logs seen: toward the chain's
	 * logs_per_request per answer */
	uint64_t blocks = s->to - s->from + 1;
	uint64_t want = pl->range * 2;
	if (ev->n_logs > 0) {
		uint64_t by_density = (uint64_t)pl->chain->logs_per_request * blocks / ev->n_logs;
		if (by_density < want)
			want = by_density;
	}
	if (want < 1)
		want = 1;
	pl->range = want > pl->chain->max_range ? pl->chain->max_range : want;

	/* what the consumer needs, then payment blocks outside the window whose
	 * logs carried no time */
	uint64_t *numbers = NULL;
	size_t n = 0;
	int r = 0;
	if (pl->h->on_logs && (r = pl->h->on_logs(pl->h->arg, s->from, s->to, s->window_from, s->payments,
						  s->n_payments, &s->ctx, &numbers, &n)) < 0) {
		free(numbers);
		return r;
	}
	size_t asked = n;
	for (size_t i = 0; i < s->n_payments && r == 0; i++) {
		uint64_t b = s->payments[i].block_number;
		if (s->payments[i].block_time >= 0 || b >= s->window_from || (n > asked && numbers[n - 1] == b))
			continue;
		r = append_number(&numbers, &n, b);
	}
	if (r == 0 && n)
		r = request_header_batches(pl, s, numbers, n);
	free(numbers);
	return r;
}

static int on_headers(slot *s, chain_event *ev)
{
	if (ev->n_headers == 0) /* every block asked for was skipped (a family with skippable numbers) */
		return 0;
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

/* The front slot was applied: drop it; the node answers again, so the
 * error and rate-limit counters start over. */
static void pop_applied(pipeline *pl)
{
	pl->consecutive_errors = 0;
	pl->rate_backoff_ms = 0;
	pl->next_block = pl->slots[0].to + 1;
	slot_free(pl, &pl->slots[0]);
	memmove(&pl->slots[0], &pl->slots[1], (pl->n_slots - 1) * sizeof(slot));
	pl->n_slots--;
}

/* Did a window grow, after s was matched, in a range before s? */
static bool grown_before(const pipeline *pl, const slot *s)
{
	if (s->hd_gen == pl->hd_gen)
		return false;
	if (pl->hd_gen - s->hd_gen > HD_GROWTHS)
		return true; /* older than the ring: fetch again to be sure */
	for (uint64_t g = s->hd_gen + 1; g <= pl->hd_gen; g++)
		if (pl->growths[g % HD_GROWTHS].block < s->from)
			return true;
	return false;
}

/* Hand completed slots at the front to the consumer, in order. */
static int apply_ready(pipeline *pl)
{
	while (pl->n_slots && slot_complete(&pl->slots[0])) {
		slot *s = &pl->slots[0];
		if (pl->hd && grown_before(pl, s)) {
			log_emit(
				LOG_LEVEL_DEBUG, pl->name, (long long)s->from,
				"[%llu, %llu] was matched before an earlier range grew an xpub window: fetching it again",
				(unsigned long long)s->from, (unsigned long long)s->to);
			return retry_slot(pl, 0, false);
		}
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
				pl->bad_messages++;
				log_emit(
					LOG_LEVEL_WARN, pl->name, (long long)p->block_number,
					"bad message from %s: eth_getLogs [%llu, %llu]: a log of block %llu carries "
					"blockTimestamp %lld but the block's header says %lld; %llu bad message(s) so far",
					pl->ops->endpoint(pl->ad), (unsigned long long)s->from,
					(unsigned long long)s->to, (unsigned long long)p->block_number,
					(long long)p->block_time, (long long)h->time,
					(unsigned long long)pl->bad_messages);
				return PW_ECONN; /* retried from the checkpoint, on the next endpoint */
			} else if (h) {
				p->block_time = h->time;
			}
			if (p->block_time < 0)
				stale = true;
		}
		if (stale) {
			/* the node reorganised between our requests: fetch the range
			 * again, the head's header too */
			pl->have_head = false;
			log_emit(
				LOG_LEVEL_WARN, pl->name, (long long)s->from,
				"logs and headers of [%llu, %llu] disagree (node reorganised between requests); refetching",
				(unsigned long long)s->from, (unsigned long long)s->to);
			return retry_slot(pl, 0, false);
		}
		pipeline_range r = { .from = s->from,
				     .to = s->to,
				     .window_from = s->window_from,
				     .payments = s->payments,
				     .n_payments = s->n_payments,
				     .headers = s->headers,
				     .n_headers = s->n_headers,
				     .n_logs = s->n_logs,
				     .ctx = s->ctx };
		int rc = pl->h->on_range(pl->h->arg, pl, &r);
		if (rc == PIPELINE_RESET)
			return 0;
		if (rc < 0)
			return rc;
		s->payments = r.payments; /* the consumer may have taken them */
		pop_applied(pl);
	}
	return 0;
}

/* Move on to the chain's next node URL (failover; with one URL, the same
 * one again), counted in paywatch_rpc_endpoint_switches_total. */
static void next_endpoint(pipeline *pl)
{
	pl->url_index++;
	char labels[100];
	metrics_labels(labels, sizeof(labels), "chain", pl->name, NULL);
	metrics_add("paywatch_rpc_endpoint_switches_total", labels, 1);
}

/* The node asked for a pause longer than CHAIN_RETRY_AFTER_WAIT_MAX_S and
 * another endpoint can serve meanwhile: say so before leaving. */
static void log_long_pause(const pipeline *pl, const chain_event *ev)
{
	log_emit(LOG_LEVEL_WARN, pl->name, -1, "%s asks for a pause of %u s, more than %d s: trying the next endpoint",
		 pl->ops->endpoint(pl->ad), ev->retry_after_s, CHAIN_RETRY_AFTER_WAIT_MAX_S);
}

/* A range's request failed: wait out a rate limit or a Retry-After (the
 * requests held back, not the thread), halve a range the node found too
 * large (or too slow), or try again; malformed answers, repeated failures
 * and a pause longer than CHAIN_RETRY_AFTER_WAIT_MAX_S with another
 * endpoint to try leave the connection. */
static int on_slot_error(pipeline *pl, size_t idx, chain_event *ev)
{
	slot *s = &pl->slots[idx];
	log_emit(LOG_LEVEL_WARN, pl->name, (long long)s->from, "request for [%llu, %llu] failed at %s: %s (%s)",
		 (unsigned long long)s->from, (unsigned long long)s->to, pl->ops->endpoint(pl->ad), ev->detail,
		 pw_strerror(ev->error));
	int64_t wait_ms = pipeline_node_wait_ms(ev->rate_limited, ev->retry_after_s, pipeline_has_other_urls(pl),
						&pl->rate_backoff_ms);
	if (wait_ms < 0) {
		log_long_pause(pl, ev);
		pl->consecutive_errors--; /* being told to wait is not a failure */
		return PW_ECONN;
	}
	if (ev->rate_limited) {
		if (ev->retry_after_s)
			log_emit(LOG_LEVEL_WARN, pl->name, -1,
				 "rate limited: slowing down, the node asks to wait %u s; next request in %lld ms",
				 ev->retry_after_s, (long long)wait_ms);
		else
			log_emit(LOG_LEVEL_WARN, pl->name, -1, "rate limited: slowing down, next request in %lld ms",
				 (long long)wait_ms);
		hold_requests(pl, wait_ms);
		pl->consecutive_errors--; /* being told to slow down is not a failure */
		return retry_slot(pl, idx, false);
	}
	if (wait_ms > 0) /* unavailable (503) for as long as it says */
		log_emit(LOG_LEVEL_WARN, pl->name, -1, "the node asks to wait %u s; next request in %lld ms",
			 ev->retry_after_s, (long long)wait_ms);
	bool smaller = ev->range_too_large || ev->error == PW_ETOOBIG || ev->error == PW_ETIMEDOUT;
	if (smaller) {
		uint64_t half = (s->to - s->from + 1) / 2;
		pl->range = half ? half : 1;
	}
	if (ev->error == PW_ETIMEDOUT || ev->error == PW_EPARSE || pl->consecutive_errors > 8)
		return PW_ECONN;                        /* retried from the checkpoint, on the next endpoint */
	if (ev->error == PW_ENOTFOUND && wait_ms < 200) /* a lagging node: give it a moment */
		wait_ms = 200;
	if (wait_ms > 0)
		hold_requests(pl, wait_ms);
	return retry_slot(pl, idx, smaller);
}

int64_t pipeline_node_wait_ms(bool rate_limited, uint32_t retry_after_s, bool other_urls, int64_t *backoff_ms)
{
	if (retry_after_s > CHAIN_RETRY_AFTER_WAIT_MAX_S && other_urls)
		return -1;
	int64_t wait_ms = 0;
	if (rate_limited) {
		*backoff_ms = *backoff_ms ? *backoff_ms * 2 : 250;
		if (*backoff_ms > 30000)
			*backoff_ms = 30000;
		wait_ms = *backoff_ms;
	}
	int64_t asked_ms = chain_asked_wait_ms(retry_after_s);
	return asked_ms > wait_ms ? asked_ms : wait_ms;
}

int pipeline_retry_failed(pipeline *pl, pipeline_retry *r, const chain_event *ev, const char *what)
{
	int64_t wait_ms = -1;
	bool leave = ev->error == PW_ETIMEDOUT || ev->error == PW_EPARSE ||
		     (!ev->rate_limited && ++r->failures >= PIPELINE_RETRY_MAX_FAILURES);
	if (!leave)
		wait_ms = pipeline_node_wait_ms(true, ev->retry_after_s, pipeline_has_other_urls(pl), &r->backoff_ms);
	char again[48] = "";
	if (wait_ms >= 0)
		snprintf(again, sizeof(again), "; asking again in %lld ms", (long long)wait_ms);
	log_emit(LOG_LEVEL_WARN, pl->name, -1, "%s request failed at %s: %s (%s)%s", what, pl->ops->endpoint(pl->ad),
		 ev->detail, pw_strerror(ev->error), again);
	if (leave)
		return PW_ECONN;
	if (wait_ms < 0) {
		log_long_pause(pl, ev);
		return PW_ECONN;
	}
	r->due_ms = pw_mono_ms() + wait_ms;
	return 0;
}

bool pipeline_retry_due(pipeline_retry *r)
{
	if (!r->due_ms || pw_mono_ms() < r->due_ms)
		return false;
	r->due_ms = 0;
	return true;
}

static void remember_head(pipeline *pl, const pw_block_ref *h)
{
	pl->head = *h;
	pl->have_head = true;
}

static int handle_event(pipeline *pl, chain_event *ev)
{
	size_t idx;
	slot *s;
	if (ev->kind == CHAIN_EV_ERROR && ev->req) {
		if (!(s = find_slot(pl, ev->req, &idx)))
			return pl->h->on_event(pl->h->arg, pl, ev);
		pl->consecutive_errors++;
		if (ev->error == PW_EPARSE || ev->error == PW_ETOOBIG)
			pl->bad_messages++;
		return on_slot_error(pl, idx, ev);
	}
	if (ev->kind == CHAIN_EV_ERROR) { /* for no request: the connection is no longer trustworthy */
		pl->bad_messages++;
		log_emit(LOG_LEVEL_WARN, pl->name, -1, "bad message from %s: %s (%s); %llu bad message(s) so far",
			 pl->ops->endpoint(pl->ad), ev->detail, pw_strerror(ev->error),
			 (unsigned long long)pl->bad_messages);
		return PW_ECONN;
	}
	if (ev->kind == CHAIN_EV_TRANSFERS) {
		s = find_slot(pl, ev->req, &idx);
		return s ? on_transfers(pl, s, ev) : 0;
	}
	if (ev->kind == CHAIN_EV_HEADERS && (s = find_slot(pl, ev->req, &idx)) != NULL)
		return on_headers(s, ev);
	if (ev->kind == CHAIN_EV_HEAD && ev->n_headers)
		remember_head(pl, &ev->headers[0]);
	return pl->h->on_event(pl->h->arg, pl, ev);
}

static int connect_next(pipeline *pl)
{
	const cfg_chain *c = pl->chain;
	pw_addr *tokens = malloc((c->n_tokens ? c->n_tokens : 1) * sizeof(*tokens));
	if (!tokens)
		return PW_ENOMEM;
	chain_params params = config_chain_params(c, pl->url_index, tokens);
	char err[512] = "";
	int r = pl->ops->connect(&params, (int)c->request_timeout_ms, &pl->ad, err, sizeof(err));
	free(tokens);
	if (r < 0) {
		pl->ad = NULL;
		log_emit(LOG_LEVEL_WARN, pl->name, -1, "endpoint %zu: %s", pl->url_index % c->n_urls, err);
		next_endpoint(pl);
		return r;
	}
	if (pl->cut_ms)
		log_emit(LOG_LEVEL_INFO, pl->name, -1,
			 "connected to %s (endpoint %zu) %lld ms after the connection was lost",
			 pl->ops->endpoint(pl->ad), pl->url_index % c->n_urls, (long long)(pw_mono_ms() - pl->cut_ms));
	else if (params.bulk_url) {
		char bulk[1024];
		config_mask_node_url(params.bulk_url, bulk, sizeof(bulk));
		log_emit(LOG_LEVEL_INFO, pl->name, -1,
			 "connected to %s (chain id %llu verified, newHeads subscribed; eth_getLogs over %s)",
			 pl->ops->endpoint(pl->ad), (unsigned long long)c->chain_id, bulk);
	} else
		log_emit(LOG_LEVEL_INFO, pl->name, -1, "connected to %s (chain id %llu verified, %s)",
			 pl->ops->endpoint(pl->ad), (unsigned long long)c->chain_id,
			 c->transport == CHAIN_TRANSPORT_HTTP ? "head polled over HTTP" : "newHeads subscribed");
	pl->cut_ms = 0;
	pl->next_from = pl->next_block;
	return pl->h->on_connect(pl->h->arg, pl);
}

/* After a failed connect, or a connection lost before it served logs:
 * sleep *backoff plus jitter (exponential, capped at 30 s) and count the
 * failure; false (logged) once max_connect_rounds rounds of the
 * endpoints failed: the caller gives up. what: "reachable", "served logs". */
static bool back_off(pipeline *pl, int64_t *backoff, unsigned *failures, const char *what)
{
	if (pl->p->max_connect_rounds && ++*failures >= pl->p->max_connect_rounds * pl->chain->n_urls) {
		log_emit(LOG_LEVEL_ERROR, pl->name, -1, "no endpoint %s after %u attempts", what, *failures);
		return false;
	}
	int64_t jitter = (int64_t)pw_random_below((uint64_t)*backoff / 2 + 1);
	pw_sleep_unless_stopped(pl->p->stop, *backoff + jitter, 20);
	*backoff = *backoff * 2 > 30000 ? 30000 : *backoff * 2;
	return true;
}

int pipeline_run(const pipeline_params *p)
{
	pipeline pl_;
	pipeline *pl = &pl_;
	memset(pl, 0, sizeof(*pl));
	pl->p = p;
	pl->h = &p->hooks;
	pl->chain = &p->cfg->chains[p->chain_index];
	pl->ops = pl->chain->family->ops;
	pl->name = pl->chain->name;
	pl->next_block = pl->next_from = p->next_block;
	pl->range = pl->chain->max_range < INITIAL_RANGE ? pl->chain->max_range : INITIAL_RANGE;
	if (p->hd_windows && hd_window_create(p->cfg, p->chain_index, p->on_hd_used, p->on_hd_used_arg, &pl->hd) < 0)
		return PW_ENOMEM;
	int r = 0;
	int64_t backoff = 500;
	unsigned connect_failures = 0;
	bool proven = false; /* the connection served logs: a later loss reconnects at once */
	while (!atomic_load(p->stop) && !pl->stopped) {
		if (!pl->ad) {
			r = connect_next(pl);
			if (r == PW_ECHAINID) {
				log_error(r, "chain=%s: refusing to index this endpoint", pl->name);
				if (pl->chain->n_urls == 1) {
					if (pl->ad)
						disconnect(pl);
					break; /* nothing else to try: a config error, not an outage */
				}
			}
			if (r < 0) {
				if (pl->ad)
					disconnect(pl);
				if (!back_off(pl, &backoff, &connect_failures, "reachable")) {
					r = PW_ECONN;
					break;
				}
				r = 0;
				continue;
			}
			proven = false;
		}
		chain_event ev;
		r = fill(pl);
		if (r == 0 && pl->h->on_tick)
			r = pl->h->on_tick(pl->h->arg, pl);
		if (r == 0) {
			r = pl->ops->poll(pl->ad, 200, &ev);
			if (r == 0) {
				if (!proven && ev.kind == CHAIN_EV_TRANSFERS) {
					proven = true;
					backoff = 500;
					connect_failures = 0;
				}
				r = handle_event(pl, &ev);
				chain_event_done(&ev);
				if (r == 0)
					r = apply_ready(pl);
			} else if (r == PW_ETIMEDOUT) {
				r = 0;
			}
		}
		if (r == PW_ECONN && p->max_consecutive_errors && pl->consecutive_errors > p->max_consecutive_errors) {
			log_emit(LOG_LEVEL_ERROR, pl->name, (long long)pl->next_block,
				 "%d requests failed in a row: giving up", pl->consecutive_errors);
			r = PW_ERPC;
			break;
		}
		if (r == PW_ECONN) {
			log_emit(LOG_LEVEL_WARN, pl->name, -1,
				 "leaving %s; resuming from block %llu on the next endpoint", pl->ops->endpoint(pl->ad),
				 (unsigned long long)pl->next_block);
			next_endpoint(pl);
			pl->cut_ms = pw_mono_ms();
			disconnect(pl);
			r = 0;
			/* lost before it served logs (its websocket up, its HTTP side
			 * down, say): back off as for a failed connect */
			if (!proven && !back_off(pl, &backoff, &connect_failures, "served logs")) {
				r = PW_ECONN;
				break;
			}
			continue;
		}
		if (r < 0)
			break;
		if (p->stop_at_target && pl->have_target && pl->n_slots == 0 && pl->next_from > pl->target)
			break; /* every block up to the target is applied */
	}
	if (pl->ad)
		disconnect(pl);
	else
		drop_slots(pl);
	free(pl->slots);
	hd_window_destroy(pl->hd);
	return r;
}

void pipeline_set_target(pipeline *pl, uint64_t target)
{
	pl->target = target;
	pl->have_target = true;
}

void pipeline_clear_target(pipeline *pl)
{
	pl->have_target = false;
}

bool pipeline_target(const pipeline *pl, uint64_t *ret_target)
{
	if (pl->have_target)
		*ret_target = pl->target;
	return pl->have_target;
}

uint64_t pipeline_next_block(const pipeline *pl)
{
	return pl->next_block;
}

void pipeline_reset(pipeline *pl, uint64_t next_block)
{
	pl->next_block = next_block;
	drop_slots(pl);
}

void pipeline_stop(pipeline *pl)
{
	pl->stopped = true;
}

chain_adapter *pipeline_adapter(pipeline *pl)
{
	return pl->ad;
}

const chain_ops *pipeline_ops(const pipeline *pl)
{
	return pl->ops;
}

const char *pipeline_endpoint(const pipeline *pl)
{
	return pl->ad ? pl->ops->endpoint(pl->ad) : "";
}

bool pipeline_has_other_urls(const pipeline *pl)
{
	return pl->chain->n_urls > 1;
}

uint64_t pipeline_count_bad_message(pipeline *pl)
{
	return ++pl->bad_messages;
}

int pipeline_fetch_headers(pipeline *pl, uint64_t lo, uint64_t hi, pw_block_ref *out, size_t *ret_n)
{
	uint64_t numbers[32], req;
	*ret_n = 0;
	if (hi < lo || hi - lo >= 32)
		return PW_EINVAL;
	size_t n = (size_t)(hi - lo + 1);
	for (size_t i = 0; i < n; i++)
		numbers[i] = lo + i;
	int r = pl->ops->request_headers(pl->ad, numbers, n, &req);
	if (r < 0)
		return r;
	for (;;) {
		if (atomic_load(pl->p->stop))
			return PW_ESTOPPED;
		chain_event ev;
		r = pl->ops->poll(pl->ad, 200, &ev);
		if (r == PW_ETIMEDOUT)
			continue;
		if (r < 0)
			return r;
		if (ev.kind == CHAIN_EV_HEAD && ev.n_headers)
			remember_head(pl, &ev.headers[0]);
		if (ev.kind == CHAIN_EV_HEAD && pl->have_target && ev.headers[0].number > pl->target)
			pl->target = ev.headers[0].number;
		bool mine = ev.req == req && (ev.kind == CHAIN_EV_HEADERS || ev.kind == CHAIN_EV_ERROR);
		if (mine && ev.kind == CHAIN_EV_HEADERS) {
			*ret_n = ev.n_headers <= n ? ev.n_headers : n;
			if (*ret_n)
				memcpy(out, ev.headers, *ret_n * sizeof(pw_block_ref));
		}
		int err = mine && ev.kind == CHAIN_EV_ERROR ? (ev.error ? ev.error : PW_ERPC) : 0;
		chain_event_done(&ev);
		if (mine)
			return err;
	}
}
