/* webhook.h: merchant webhook delivery (Standard Webhooks). Signing, the
 * target check that keeps webhooks off private networks, how an answer is
 * classified, and the dispatcher: it claims due deliveries from Postgres
 * with FOR UPDATE SKIP LOCKED and a lease (any number of dispatchers share
 * the queue), sends them with libcurl's multi interface (many in flight; a
 * slow endpoint holds only its own slots), records every attempt and
 * reschedules failures. Knows nothing of RocksDB or the indexer.
 * Endpoints are known to Postgres by (merchant id, endpoint id); their
 * URLs and secrets stay in the config / environment.
 * Thread safety: a dispatcher belongs to one thread; webhook_dispatcher_wake
 * may be called from any thread. */
#ifndef PW_WEBHOOK_H
#define PW_WEBHOOK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* webhook_sign: the webhook-signature header value for one message:
 * "v1," + base64(HMAC-SHA256(key, "<msg_id>.<timestamp>.<body>")) where key
 * is the base64-decoded part of secret ("whsec_..."), per Standard Webhooks.
 * out holds outlen bytes (>= 64). 0, or PW_EINVAL (bad secret). */
int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body, size_t body_len,
		 char *out, size_t outlen);

/* webhook_sign_all: the header value for several secrets (key rotation):
 * one "v1,<signature>" per secret, space-separated, in the order given
 * (Standard Webhooks: a receiver accepts the message if any signature
 * verifies). 0, or PW_EINVAL (a bad secret, n 0, or out too small). */
int webhook_sign_all(const char *const *secrets, size_t n, const char *msg_id, int64_t timestamp, const char *body,
		     size_t body_len, char *out, size_t outlen);

/* webhook_check_url: url is UTF-8 without control characters and an
 * http or https URL libcurl can parse. 0, or PW_EINVAL with the reason in
 * err (errlen bytes; it never quotes the URL). No DNS: the address is
 * checked when libcurl connects. */
int webhook_check_url(const char *url, char *err, size_t errlen);

/* webhook_address_allowed: may a webhook connect to sa (IPv4 or IPv6)?
 * Refused unless allow_private: IPv4 0/8, 10/8, 100.64/10 (CGNAT),
 * 127/8, 169.254/16, 172.16/12, 192.0.0/24, the TEST-NETs (192.0.2/24,
 * 198.51.100/24, 203.0.113/24), 198.18/15, 192.168/16, 224/4 and 240/4;
 * IPv6 ::, ::1, fc00::/7, fe80::/10, fec0::/10, ff00::/8, 2001:db8::/32,
 * 100::/64, the IPv4-compatible ::/96 and local-use NAT64 64:ff9b:1::/48;
 * and IPv4-mapped, IPv4-translated, NAT64 (64:ff9b::/96), 6to4
 * (2002::/16) and Teredo (2001::/32, server and client) forms of a refused
 * IPv4 address. The dispatcher applies it to every address libcurl
 * connects to (CURLOPT_OPENSOCKETFUNCTION), after libcurl's own
 * asynchronous DNS, so a DNS answer cannot change between the check and
 * the connection; through a proxy, to the target's addresses, resolved
 * by paywatch and pinned for the proxy's CONNECT. */
bool webhook_address_allowed(const struct sockaddr *sa, bool allow_private);

/* webhook_url_display: "scheme://host:port" of url (the port always
 * written) into out (outlen bytes): what logs, operator output and
 * Postgres show of an endpoint. User info, path, query and fragment may
 * carry credentials and are never shown. "(invalid URL)" when libcurl
 * cannot parse it. */
void webhook_url_display(const char *url, char *out, size_t outlen);

/* webhook_url_host: "host:port" of url (as webhook_url_display, without
 * the scheme). */
void webhook_url_host(const char *url, char *out, size_t outlen);

/* What a delivery attempt's outcome means (webhook_classify). */
typedef enum webhook_verdict {
	WEBHOOK_DELIVERED, /* a 2xx answer */
	WEBHOOK_RETRY,     /* try again after delay_s */
	WEBHOOK_FAILED,    /* the last attempt of the schedule failed: failed for good */
	WEBHOOK_GONE,      /* 410 Gone: the endpoint is disabled */
} webhook_verdict;

/* The longest delay an answer's Retry-After is taken for: a day (seconds). */
#define WEBHOOK_RETRY_AFTER_MAX_S 86400

/* webhook_classify: the verdict for attempt number `attempt` (1-based)
 * that ended with HTTP status (0: no answer, transport_error: a timeout, a
 * refused connection, a TLS error), on the retry schedule (delays before
 * attempts 1..n, seconds): 2xx delivered; 410 gone; anything else retried
 * after schedule[attempt] seconds +-10 % (jitter01 in [0, 1] picks where),
 * until the schedule ends: failed. A 429 or 503 with Retry-After
 * (retry_after_s >= 0, pw_retry_after_line) waits what it asks when that
 * is longer, at most WEBHOOK_RETRY_AFTER_MAX_S: an endpoint can ask for
 * more time, never for its retries sooner, so answers of "Retry-After: 0"
 * do not run the schedule (about three days by default) out in seconds.
 * *ret_delay_s for WEBHOOK_RETRY. */
webhook_verdict webhook_classify(long status, bool transport_error, int attempt, const uint32_t *schedule,
				 size_t n_schedule, long retry_after_s, double jitter01, double *ret_delay_s);

/* How many of a dispatcher loop's last requests its waiting window is
 * read from (webhook_pace). */
#define WEBHOOK_PACE_SAMPLES 64

/* A dispatcher loop's pace: how long its last WEBHOOK_PACE_SAMPLES
 * requests took to end (ms, each at most WEBHOOK_SLOW_AFTER_MS), as a
 * ring (next: the oldest once full) and in ascending order, n of them.
 * Zeroed: no request has ended yet. */
typedef struct webhook_pace {
	int32_t ring[WEBHOOK_PACE_SAMPLES], sorted[WEBHOOK_PACE_SAMPLES];
	size_t n, next;
} webhook_pace;

/* A request ending this long (ms) after it started, or timing out, marks
 * its endpoint slow; the waiting window is at most this. */
#define WEBHOOK_SLOW_AFTER_MS 1000
/* The waiting window: WEBHOOK_WAITING_FACTOR x the pace's median, within
 * WEBHOOK_WAITING_MIN_MS..WEBHOOK_SLOW_AFTER_MS. */
#define WEBHOOK_WAITING_MIN_MS 250
#define WEBHOOK_WAITING_FACTOR 10

/* webhook_pace_add: add took_ms (how long a request took to end,
 * milliseconds; below 0 counted 0, above WEBHOOK_SLOW_AFTER_MS counted
 * that: a request that hung for its timeout says no more than one
 * answered late) to p, the oldest sample giving way once there are
 * WEBHOOK_PACE_SAMPLES. The order is kept by one binary search and one
 * move for the sample out and for the sample in (no sort per answer).
 * Returns the waiting window, as webhook_pace_window. */
uint32_t webhook_pace_add(webhook_pace *p, int64_t took_ms);

/* webhook_pace_window: the waiting window p gives, milliseconds: a
 * request in flight longer waits on a slow endpoint and stops counting
 * against max_in_flight (webhook_options). WEBHOOK_WAITING_FACTOR x the
 * median of p's samples (the lower of the middle two), within
 * WEBHOOK_WAITING_MIN_MS..WEBHOOK_SLOW_AFTER_MS; WEBHOOK_SLOW_AFTER_MS
 * while p holds none. Among endpoints answering in 20 ms, 250 ms; where
 * they take 100 ms or more, 1 s (bench/webhook_bench.mjs --only-latency:
 * a slow endpoint among 50 answering in 20 ms, the others 0.99x of alone
 * against 0.93x with a window of 1 s always). */
uint32_t webhook_pace_window(const webhook_pace *p);

#include "secretbox.h"

/* One webhook endpoint, as the config has it (strings borrowed). */
typedef struct webhook_endpoint {
	const char *merchant_id;
	const char *id; /* stable endpoint id: Postgres knows the endpoint by (merchant_id, id) */
	const char *url;
	const char *const *secrets; /* signing secrets, newest first */
	size_t n_secrets;
} webhook_endpoint;

typedef struct webhook_options {
	const char *dsn;
	const webhook_endpoint *endpoints;
	size_t n_endpoints;
	const uint32_t *retry_schedule_s; /* delay before attempt k+1 after attempt k failed; [0] = first */
	size_t n_retry_schedule;
	uint32_t timeout_ms;
	/* requests in flight at once, not counting those unanswered after
	 * their waiting window (waiting on a slow endpoint: 10 x the median
	 * time the loop's last 64 requests took, within 250 ms..1 s; 1 s
	 * before any has ended) nor those to an endpoint known slow
	 * (its last request ended 1 s or more after it started), up to 4 x
	 * max_in_flight in all; a claim also leases up to max_in_flight / 4
	 * (at least 1) more, started as answers free slots */
	uint32_t max_in_flight;
	/* deliveries leased to one endpoint (in flight or claimed ahead), by every dispatcher */
	uint32_t max_per_endpoint;
	bool allow_private_targets;
	const char *proxy; /* an explicit HTTP proxy URL, or NULL: none (http_proxy and friends are ignored) */
	/* the keys endpoints added through the API or the CLI are sealed with
	 * (their URL and secret come from Postgres, opened per delivery);
	 * NULL: only the config's endpoints are delivered to */
	const secretbox_keys *keys;
	const char *name; /* for logs: "dispatcher" */
	/* count the deliveries due and failed per endpoint into the gauges
	 * (paywatch_webhook_deliveries_due, _failed): only where a process
	 * serves its metrics, since the count reads every pending and failed
	 * delivery (a backlog's worth) */
	bool gauges;
} webhook_options;

typedef struct webhook_dispatcher webhook_dispatcher;

/* webhook_gauges_interval_ms: milliseconds from the end of a count of the
 * deliveries due and failed (webhook_options.gauges) that took took_ms to
 * the next: 5,000, or 50 times took_ms once that is longer (a count over
 * a backlog of millions takes seconds, and the dispatcher's loop waits on
 * it: at most 1/50 of its time, whatever the backlog). Negative took_ms
 * counts as 0. */
int64_t webhook_gauges_interval_ms(int64_t took_ms);

/* webhook_dispatcher_create: 0 with *ret (free with _destroy), PW_ENOMEM. */
int webhook_dispatcher_create(const webhook_options *opts, webhook_dispatcher **ret);
void webhook_dispatcher_destroy(webhook_dispatcher *d);

/* webhook_dispatcher_run: deliver until *stop is set; reconnects to
 * Postgres with backoff. Logs attempts and failures. Returns 0. */
int webhook_dispatcher_run(webhook_dispatcher *d, atomic_bool *stop);

/* webhook_dispatcher_wake: make a waiting dispatcher look at the queue now. */
void webhook_dispatcher_wake(webhook_dispatcher *d);

/* webhook_send_once: POST body to ep signed as msg_id, synchronously (for
 * `paywatch webhooks test`), through proxy when not NULL. *ret_status gets
 * the HTTP status (0 when none); err gets the transport error. 0 when a
 * response came, PW_ECONN / PW_EINVAL otherwise. */
int webhook_send_once(const webhook_endpoint *ep, const char *msg_id, const char *body, bool allow_private,
		      const char *proxy, uint32_t timeout_ms, long *ret_status, char *err, size_t errlen);

#endif
