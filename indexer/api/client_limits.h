/* client_limits.h: token buckets per client address, for what the API
 * serves without a key (the checkout pages): a visitor who floods the
 * pages runs out of its own bucket, not of every payer's. One bucket per
 * IPv4 address, per IPv6 /64 (the block one subscriber is usually given,
 * so an address of its own each request buys nothing), and one for
 * clients whose address is not known. The table has CLIENT_LIMITS_SLOTS buckets, found
 * by a keyed hash (a random key per table, so no one can aim addresses at
 * one slot) and CLIENT_LIMITS_PROBES slots probed; past that, the least
 * recently used of the probed buckets gives way, and the address it held
 * starts again from a full bucket (more than it had: never less). Memory
 * is bounded whatever the number of addresses; a client that holds more
 * addresses than the table gets a fresh bucket for each, which is the
 * limit of limiting by address. Which address a request comes from is
 * the server's to say (behind a trusted reverse proxy, X-Forwarded-For's).
 * Thread safety: every function may be called from any thread. */
#ifndef PW_API_CLIENT_LIMITS_H
#define PW_API_CLIENT_LIMITS_H

#include "netaddr.h"

#include <stdbool.h>
#include <stdint.h>

/* A token bucket: tokens, refilled at a rate up to a burst, last
 * refilled at last_ms (monotonic milliseconds). */
typedef struct bucket {
	double tokens;
	int64_t last_ms;
} bucket;

/* bucket_take: refill b for the time since its last_ms (rate_per_s tokens
 * a second, > 0, up to burst), then take a token. true to go on; false
 * when it holds less than one, with *ret_retry_s the seconds to wait (the
 * time until it holds one, rounded down, plus one: never too early), as a
 * Retry-After. The caller serializes calls on one bucket. */
bool bucket_take(bucket *b, double rate_per_s, double burst, int64_t now_ms, unsigned *ret_retry_s);

#define CLIENT_LIMITS_SLOTS 4096
#define CLIENT_LIMITS_PROBES 8

typedef struct client_limits client_limits;

/* client_limits_create: a table whose buckets refill rate_per_s tokens a
 * second (> 0) up to burst (>= 1), each starting full. 0 with *ret (free
 * with _destroy), or PW_EINVAL (a rate or burst out of range) / PW_ENOMEM. */
int client_limits_create(double rate_per_s, double burst, client_limits **ret);

/* client_limits_destroy: free l (NULL: nothing). */
void client_limits_destroy(client_limits *l);

/* client_limits_take: take a token from the bucket of client (an address:
 * an IPv4 one's bucket, an IPv6 one's /64's; NULL, an unknown client: the
 * one bucket of those) at now_ms (monotonic milliseconds, pw_mono_ms).
 * true to go on; false when the bucket is empty, with *ret_retry_s the
 * seconds to wait (the time until it holds a token again, rounded down,
 * plus one: never too early), as a Retry-After. */
bool client_limits_take(client_limits *l, const pw_ipnet *client, int64_t now_ms, unsigned *ret_retry_s);

#endif
