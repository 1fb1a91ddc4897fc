/* pipeline.h: the range pipeline, shared by `run` (ingest.c) and `replay`
 * (program/replay.c). It connects to a chain's URLs in turn (backoff with
 * jitter, failover on a broken or lying connection), keeps several ranges
 * in flight (the family's transfers query, headers in JSON-RPC batches),
 * adapts the range size to the node's answers (density, "range too large",
 * oversize and timeouts halve it; a rate limit waits), matches each
 * range's transfers against the merchant set, fills block times from
 * headers, and hands completed ranges to its consumer in block order.
 * What a range's completion means (the tracker and the outbox for `run`;
 * reconciling Postgres for `replay`), how the target moves (following new
 * heads, or a fixed range) and what other answers mean (heads, block
 * numbers) is the consumer's, through pipeline_hooks.
 * Thread safety: a pipeline belongs to the thread that runs it. */
#ifndef PW_PIPELINE_H
#define PW_PIPELINE_H

#include "chain.h"
#include "config.h"
#include "hd_window.h"
#include "registry.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pipeline pipeline;

/* A completed range, handed to on_range: the matched payments (block_time
 * set from the logs or the headers), the headers fetched for it
 * (ascending: the window part, payment blocks, what on_logs asked for),
 * the number of transfer logs the node returned, and the consumer's
 * context from on_logs. The consumer may take payments (set it NULL). */
typedef struct pipeline_range {
	uint64_t from, to;    /* block numbers, inclusive */
	uint64_t window_from; /* first block of the window part; > to when none */
	pw_payment *payments;
	size_t n_payments;
	const pw_block_ref *headers;
	size_t n_headers;
	size_t n_logs;
	void *ctx;
} pipeline_range;

/* Return values of on_range besides errors. */
enum { PIPELINE_APPLIED = 0, PIPELINE_RESET = 1 };

typedef struct pipeline_hooks {
	void *arg;
	/* on_connect: a connection is up (its chain id verified). Typically
	 * asks for the head. 0 or an error (PW_ECONN: try the next URL). */
	int (*on_connect)(void *arg, pipeline *pl);
	/* on_disconnect: the connection is gone (requests in flight with it). */
	void (*on_disconnect)(void *arg, pipeline *pl);
	/* on_event: an event that answers no range: new heads, block numbers,
	 * headers and errors of the consumer's own requests. 0, PW_ECONN
	 * (leave this connection; resume on the next URL), or a fatal error. */
	int (*on_event)(void *arg, pipeline *pl, chain_event *ev);
	/* on_logs (may be NULL): a range's payments are known (block_time may
	 * be -1); may attach *ret_ctx (freed with free_ctx) and ask for the
	 * headers of *ret_n more blocks (*ret_numbers, malloc'd, freed by the
	 * pipeline). */
	int (*on_logs)(void *arg, uint64_t from, uint64_t to, uint64_t window_from, const pw_payment *found, size_t n,
		       void **ret_ctx, uint64_t **ret_numbers, size_t *ret_n);
	/* on_range: the front range is complete. PIPELINE_APPLIED (the
	 * pipeline moves past it), PIPELINE_RESET (the consumer called
	 * pipeline_reset: nothing more is applied in this turn), PW_ECONN, or a
	 * fatal error. */
	int (*on_range)(void *arg, pipeline *pl, pipeline_range *r);
	void (*free_ctx)(void *ctx);
	/* on_tick (may be NULL): called every turn of the loop (head timeouts). */
	int (*on_tick)(void *arg, pipeline *pl);
} pipeline_hooks;

typedef struct pipeline_params {
	const pw_config *cfg;
	size_t chain_index;
	registry *reg;         /* the merchant address set; each range is matched against the one current then */
	bool hd_windows;       /* grow xpub windows as payments reach them (hd_window.h) */
	hd_used_fn on_hd_used; /* told of each growth (may be NULL) */
	void *on_hd_used_arg;
	atomic_bool *stop;   /* set from another thread: the loop ends soon */
	uint64_t next_block; /* the first block to fetch */
	/* headers of the last `window` blocks below the target are fetched with each range; 0: none */
	uint32_t window;
	bool stop_at_target;         /* end once every block up to the target is applied (replay) */
	unsigned max_connect_rounds; /* give up after this many failed connects per URL; 0: never */
	int max_consecutive_errors;  /* give up after this many failed requests in a row; 0: never */
	pipeline_hooks hooks;
} pipeline_params;

/* pipeline_run: connect and run until *stop is set or pipeline_stop is
 * called (0), the target is reached with stop_at_target (0), or a fatal
 * error: PW_ECHAINID (the only URL serves another chain), PW_ECONN (no URL
 * reachable within max_connect_rounds), PW_ERPC (max_consecutive_errors),
 * or what a hook returned. */
int pipeline_run(const pipeline_params *p);

/* The target: the last block to fetch. Until it is set nothing is fetched. */
void pipeline_set_target(pipeline *pl, uint64_t target);
bool pipeline_target(const pipeline *pl, uint64_t *ret_target);

/* pipeline_clear_target: fetch no new range until a target is set again
 * (a new connection's node may be behind the last one). */
void pipeline_clear_target(pipeline *pl);

/* pipeline_next_block: the first block not yet applied. */
uint64_t pipeline_next_block(const pipeline *pl);

/* pipeline_reset: drop every range in flight and fetch again from
 * next_block (after a rewind). */
void pipeline_reset(pipeline *pl, uint64_t next_block);

/* pipeline_stop: end the loop after this turn (0 from pipeline_run). */
void pipeline_stop(pipeline *pl);

/* pipeline_adapter / pipeline_ops: the connection, for the consumer's own
 * requests (head number, tagged block, headers). */
chain_adapter *pipeline_adapter(pipeline *pl);
const chain_ops *pipeline_ops(const pipeline *pl);

/* pipeline_endpoint: the masked URL in use ("" when disconnected). */
const char *pipeline_endpoint(const pipeline *pl);

/* pipeline_has_other_urls: the chain lists more than one URL. */
bool pipeline_has_other_urls(const pipeline *pl);

/* pipeline_fetch_headers: the canonical headers of blocks lo..hi (at most
 * 32), waiting for the answer (new heads met meanwhile still raise the
 * target); *ret_n of them (a family whose numbers can be skipped leaves
 * some out). 0, PW_ESTOPPED, PW_EINVAL, or the request's error. */
int pipeline_fetch_headers(pipeline *pl, uint64_t lo, uint64_t hi, pw_block_ref *out, size_t *ret_n);

/* pipeline_count_bad_message: a malformed answer (for the log's count). */
uint64_t pipeline_count_bad_message(pipeline *pl);

/* pipeline_node_wait_ms: how long to hold a range's request back after
 * the node refused it. rate_limited: the node asked us to slow down (429,
 * a rate-limit error): *backoff_ms (0 at first) doubles from 250 up to
 * 30,000 ms and is waited. retry_after_s: what the answer asks to wait
 * (RFC 9110 10.2.3's Retry-After, or a rate-limit error's
 * backoff_seconds; 0 when none): at least that is waited, up to
 * CHAIN_RETRY_AFTER_WAIT_MAX_S; a Retry-After beyond that with other URLs
 * to try (other_urls) is -1: leave the endpoint for the next. Else the
 * wait in milliseconds (0: none asked). */
int64_t pipeline_node_wait_ms(bool rate_limited, uint32_t retry_after_s, bool other_urls, int64_t *backoff_ms);

/* A consumer's own request (the head's number, a tagged block's) asked
 * again after it failed: never at once, so that a node refusing it (a
 * rate limit above all) is not asked again thousands of times a second.
 * Zero it at connect and when the request is answered. */
typedef struct pipeline_retry {
	int64_t due_ms;     /* when to ask again (pw_mono_ms); 0: not scheduled */
	int64_t backoff_ms; /* pipeline_node_wait_ms's backoff: grows with each failure in a row */
	unsigned failures;  /* in a row, rate limits not counted */
} pipeline_retry;

/* The failures in a row of a consumer's own request (rate limits not
 * counted) after which the endpoint is left. */
#define PIPELINE_RETRY_MAX_FAILURES 8

/* pipeline_retry_failed: the request failed with ev (CHAIN_EV_ERROR):
 * schedule it again after pipeline_node_wait_ms's wait for any failure
 * (the backoff doubling from 250 ms to 30 s, and at least what the node
 * asked for, up to CHAIN_RETRY_AFTER_WAIT_MAX_S), and log the failure
 * ("<what> request failed at <endpoint>: ...; asking again in N ms";
 * what: "head", "finalized", ...). 0 with r->due_ms set; PW_ECONN (leave
 * the endpoint) for a timeout or a malformed answer, a longer pause asked
 * for with other URLs to try (logged), or failure
 * PIPELINE_RETRY_MAX_FAILURES in a row. */
int pipeline_retry_failed(pipeline *pl, pipeline_retry *r, const chain_event *ev, const char *what);

/* pipeline_retry_due: true once r's time has come (and r unscheduled):
 * ask again now. Called every turn of the loop (the on_tick hook). */
bool pipeline_retry_due(pipeline_retry *r);

#endif
