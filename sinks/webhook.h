/* webhook.h: merchant webhook delivery (Standard Webhooks). Signing, the
 * target check that keeps webhooks off private networks, and the
 * dispatcher: it claims due deliveries from Postgres with FOR UPDATE SKIP
 * LOCKED and a lease (any number of dispatchers share the queue), sends
 * them with libcurl's multi interface (many in flight; a slow endpoint
 * holds only its own slots), records every attempt and reschedules
 * failures. Knows nothing of RocksDB or the indexer.
 * Thread safety: a dispatcher belongs to one thread; webhook_dispatcher_wake
 * may be called from any thread. */
#ifndef PW_WEBHOOK_H
#define PW_WEBHOOK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* webhook_sign: the webhook-signature header value for one message:
 * "v1," + base64(HMAC-SHA256(key, "<msg_id>.<timestamp>.<body>")) where key
 * is the base64-decoded part of secret ("whsec_..."), per Standard Webhooks.
 * out holds outlen bytes (>= 64). 0, or PW_EINVAL (bad secret). */
int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body, size_t body_len,
		 char *out, size_t outlen);

/* webhook_check_url: url is an http or https URL libcurl can parse.
 * 0, or PW_EINVAL with the reason in err (errlen bytes). No DNS: the
 * address is checked when libcurl connects (webhook_address_allowed). */
int webhook_check_url(const char *url, char *err, size_t errlen);

/* webhook_address_allowed: may a webhook connect to sa (IPv4 or IPv6)?
 * Loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast,
 * unspecified and reserved addresses only when allow_private. The
 * dispatcher applies it to every address libcurl connects to (its
 * CURLOPT_OPENSOCKETFUNCTION), after libcurl's own asynchronous DNS, so a
 * slow resolver delays only its own delivery and a DNS answer cannot
 * change between the check and the connection. */
bool webhook_address_allowed(const struct sockaddr *sa, bool allow_private);

/* webhook_url_host: the host[:port] part of url into out (outlen bytes),
 * for logs and operator output: paths and queries may carry tokens. */
void webhook_url_host(const char *url, char *out, size_t outlen);

/* One endpoint's secret, by (merchant id, url): secrets stay in the
 * config / environment, never in Postgres. */
typedef struct webhook_secret {
	const char *merchant_id;
	const char *url;
	const char *secret;
} webhook_secret;

typedef struct webhook_options {
	const char *dsn;
	const webhook_secret *secrets;
	size_t n_secrets;
	const uint32_t *retry_schedule_s; /* delay before attempt k+1 after attempt k failed; [0] = first */
	size_t n_retry_schedule;
	uint32_t timeout_ms;
	uint32_t max_in_flight;
	uint32_t max_per_endpoint;
	bool allow_private_targets;
	const char *name; /* for logs: "dispatcher" */
} webhook_options;

typedef struct webhook_dispatcher webhook_dispatcher;

/* webhook_dispatcher_create: 0 with *ret (free with _destroy), PW_ENOMEM. */
int webhook_dispatcher_create(const webhook_options *opts, webhook_dispatcher **ret);
void webhook_dispatcher_destroy(webhook_dispatcher *d);

/* webhook_dispatcher_run: deliver until *stop is set; reconnects to
 * Postgres with backoff. Logs attempts and failures. Returns 0. */
int webhook_dispatcher_run(webhook_dispatcher *d, atomic_bool *stop);

/* webhook_dispatcher_wake: make a waiting dispatcher look at the queue now. */
void webhook_dispatcher_wake(webhook_dispatcher *d);

/* webhook_send_once: POST body to url signed as msg_id with secret,
 * synchronously (for `paywatch webhooks test`). *ret_status gets the HTTP
 * status (0 when none); err gets the transport error. 0 when a response
 * came, PW_ECONN / PW_EINVAL otherwise. */
int webhook_send_once(const char *url, const char *secret, const char *msg_id, const char *body, bool allow_private,
		      uint32_t timeout_ms, long *ret_status, char *err, size_t errlen);

#endif
