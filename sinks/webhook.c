/* webhook.c: Standard Webhooks signing, the target address policy, the
 * classification of answers, and the dispatcher (Postgres queue + libcurl
 * multi). Through an explicit proxy, a target's host is resolved here
 * (getaddrinfo_a, asynchronous: a slow resolver delays only its own
 * delivery), every address checked, and the proxy asked to CONNECT to the
 * checked address (CURLOPT_CONNECT_TO): the proxy never resolves a name
 * itself, so a DNS answer cannot change between check and connection. */
#define _GNU_SOURCE /* getaddrinfo_a */
#include "webhook.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "parse.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "random.h"
#include "retry_after.h"
#include "text.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <signal.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define USER_AGENT "paywatch/" PAYWATCH_VERSION " (webhooks)"
#define RESPONSE_CAP 4096 /* response bodies are read and dropped, up to this much */
#define CONN_MAX_IDLE_S 2 /* a kept connection idle longer is not reused */

int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body, size_t body_len,
		 char *out, size_t outlen)
{
	unsigned char key[256], mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (!secret || strncmp(secret, "whsec_", 6) != 0 || outlen < 64)
		return PW_EINVAL;
	const char *b64 = secret + 6;
	size_t n = strlen(b64);
	if (n == 0 || n % 4 != 0 || n > 340)
		return PW_EINVAL;
	int key_len = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)n);
	if (key_len <= 0)
		return PW_EINVAL;
	key_len -= (b64[n - 1] == '=') + (b64[n - 2] == '='); /* EVP_DecodeBlock counts padding */
	char prefix[160];
	int plen = snprintf(prefix, sizeof(prefix), "%s.%lld.", msg_id, (long long)timestamp);
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
				OSSL_PARAM_construct_end() };
	size_t len = 0;
	int ok = ctx && EVP_MAC_init(ctx, key, (size_t)key_len, params) &&
		 EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) &&
		 EVP_MAC_update(ctx, (const unsigned char *)body, body_len) &&
		 EVP_MAC_final(ctx, mac, &len, sizeof(mac));
	mac_len = (unsigned int)len;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(hmac);
	OPENSSL_cleanse(key, sizeof(key));
	if (!ok)
		return PW_EINVAL;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mac_len);
	return 0;
}

int webhook_sign_all(const char *const *secrets, size_t n, const char *msg_id, int64_t timestamp, const char *body,
		     size_t body_len, char *out, size_t outlen)
{
	size_t o = 0;
	if (n == 0 || outlen == 0)
		return PW_EINVAL;
	for (size_t i = 0; i < n; i++) {
		char sig[128];
		int r = webhook_sign(secrets[i], msg_id, timestamp, body, body_len, sig, sizeof(sig));
		if (r < 0)
			return r;
		size_t len = strlen(sig);
		if (o + (i ? 1 : 0) + len + 1 > outlen)
			return PW_EINVAL;
		if (i)
			out[o++] = ' ';
		memcpy(out + o, sig, len);
		o += len;
	}
	out[o] = '\0';
	return 0;
}

/* ---- where webhooks must not go ---- */

static uint32_t be32_at(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* An IPv4 address (host order) that is not a public unicast one. */
static bool v4_private(uint32_t a)
{
	return (a >> 24) == 0 ||               /* 0/8 "this network" */
	       (a >> 24) == 10 ||              /* 10/8 */
	       (a >> 22) == (100u << 2 | 1) || /* 100.64/10 CGNAT */
	       (a >> 24) == 127 ||             /* 127/8 loopback */
	       (a >> 16) == 0xa9fe ||          /* 169.254/16 link-local, cloud metadata */
	       (a >> 20) == 0xac1 ||           /* 172.16/12 */
	       (a >> 8) == 0xc00000 ||         /* 192.0.0/24 IETF protocol assignments */
	       (a >> 8) == 0xc00002 ||         /* 192.0.2/24 TEST-NET-1 */
	       (a >> 16) == 0xc0a8 ||          /* 192.168/16 */
	       (a >> 17) == (0xc612u >> 1) ||  /* 198.18/15 benchmarking */
	       (a >> 8) == 0xc63364 ||         /* 198.51.100/24 TEST-NET-2 */
	       (a >> 8) == 0xcb0071 ||         /* 203.0.113/24 TEST-NET-3 */
	       (a >> 28) >= 0xe;               /* 224/4 multicast, 240/4 reserved, broadcast */
}

/* An IPv6 address that is not a public unicast one, or embeds an IPv4
 * address that is not. */
static bool v6_private(const uint8_t b[16])
{
	static const uint8_t zero[16];
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	if (memcmp(b, zero, 12) == 0) /* ::, ::1, IPv4-compatible ::a.b.c.d (deprecated) */
		return true;
	if (memcmp(b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff) /* IPv4-mapped ::ffff:a.b.c.d */
		return v4_private(be32_at(b + 12));
	if (memcmp(b, zero, 8) == 0 && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) /* IPv4-translated */
		return v4_private(be32_at(b + 12));
	if (memcmp(b, nat64, 12) == 0) /* NAT64 well-known prefix 64:ff9b::/96 */
		return v4_private(be32_at(b + 12));
	if (memcmp(b, nat64, 4) == 0 && b[4] == 0 && b[5] == 1) /* local-use NAT64 64:ff9b:1::/48: any mapping */
		return true;
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 2002:a.b.c.d::/48 */
		return v4_private(be32_at(b + 2));
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) /* Teredo: server, then obfuscated client */
		return v4_private(be32_at(b + 4)) || v4_private(~be32_at(b + 12));
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* 2001:db8::/32 documentation */
		return true;
	if (b[0] == 0x01 && memcmp(b + 1, zero, 7) == 0) /* 100::/64 discard */
		return true;
	return (b[0] & 0xfe) == 0xfc ||                   /* fc00::/7 unique local */
	       (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 link-local */
	       (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) || /* fec0::/10 site-local (deprecated) */
	       b[0] == 0xff;                              /* ff00::/8 multicast */
}

static bool address_is_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_private(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return v6_private(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
	return true;
}

bool webhook_address_allowed(const struct sockaddr *sa, bool allow_private)
{
	return allow_private || !address_is_private(sa);
}

/* ---- URLs ---- */

int webhook_check_url(const char *url, char *err, size_t errlen)
{
	/* the display of a URL (scheme://host:port) is stored as text: bytes
	 * that are not UTF-8 would fail that insert */
	if (!text_is_clean_utf8(url, strlen(url))) {
		snprintf(err, errlen, "not UTF-8 text without control characters");
		return PW_EINVAL;
	}
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *scheme = NULL;
	int r = PW_EINVAL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		snprintf(err, errlen, "not a valid URL");
	} else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "scheme %s: only http and https", scheme);
	} else if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		snprintf(err, errlen, "no port for scheme %s", scheme);
	} else {
		r = 0;
	}
	curl_free(host);
	curl_free(port);
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

/* scheme, host and port of url (curl_free each); false when unparsable */
static bool url_parts(const char *url, char **ret_scheme, char **ret_host, char **ret_port)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
	curl_url_cleanup(u);
	if (!ok) {
		curl_free(scheme);
		curl_free(host);
		curl_free(port);
		return false;
	}
	*ret_scheme = scheme;
	*ret_host = host;
	*ret_port = port;
	return true;
}

static void url_show(const char *url, bool with_scheme, char *out, size_t outlen)
{
	char *scheme, *host, *port;
	if (!url_parts(url, &scheme, &host, &port)) {
		snprintf(out, outlen, "(invalid URL)");
		return;
	}
	snprintf(out, outlen, "%s%s%s:%s", with_scheme ? scheme : "", with_scheme ? "://" : "", host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
}

void webhook_url_display(const char *url, char *out, size_t outlen)
{
	url_show(url, true, out, outlen);
}

void webhook_url_host(const char *url, char *out, size_t outlen)
{
	url_show(url, false, out, outlen);
}

/* ---- what an answer means ---- */

webhook_verdict webhook_classify(long status, bool transport_error, int attempt, const uint32_t *schedule,
				 size_t n_schedule, long retry_after_s, double jitter01, double *ret_delay_s)
{
	if (!transport_error && status >= 200 && status < 300)
		return WEBHOOK_DELIVERED;
	if (!transport_error && status == 410)
		return WEBHOOK_GONE;
	if (attempt < 1 || (size_t)attempt >= n_schedule)
		return WEBHOOK_FAILED;
	double secs = schedule[attempt];
	if (secs > 0) /* jitter, +-10 % */
		secs *= 0.9 + 0.2 * (jitter01 < 0 ? 0 : jitter01 > 1 ? 1 : jitter01);
	if (!transport_error && (status == 429 || status == 503) && retry_after_s >= 0) {
		double asked =
			retry_after_s > WEBHOOK_RETRY_AFTER_MAX_S ? WEBHOOK_RETRY_AFTER_MAX_S : (double)retry_after_s;
		if (asked > secs)
			secs = asked;
	}
	*ret_delay_s = secs;
	return WEBHOOK_RETRY;
}

/* ---- the dispatcher ---- */

typedef struct job {
	uint64_t delivery_id, endpoint_row;
	int attempts;   /* before this one */
	char lease[48]; /* the delivery's locked_until as the claim set it (timestamptz text): the lease's owner */
	char event_id[64];
	char merchant_id[128];
	char endpoint_id[128];
	char shown[300]; /* scheme://host:port, for logs */
	char *payload;
	size_t payload_len;
	bool sent;           /* libcurl began to send the request (pre_request); a second send is refused */
	bool resend_refused; /* libcurl's silent resend on a fresh connection was refused */
	const webhook_endpoint *ep;
	const char *ep_shown; /* a config endpoint's URL checked and shown once (d->shown); NULL: each time */
	webhook_endpoint own; /* an endpoint of the registry: its URL and secret opened for this delivery */
	char *own_url, *own_secret;
	CURL *easy;
	struct curl_slist *headers;
	struct curl_slist *connect_to;
	bool allow_private;
	bool via_proxy;
	bool refused;   /* a connection to a loopback/private address was refused */
	bool resolving; /* through a proxy: the target's name is being resolved */
	struct gaicb gai;
	struct gaicb *gai_list[1];
	char gai_host[256], gai_port[8];
	int64_t start_ms;
	/* when its claim returned it (pw_mono_ms): a job claimed ahead waits at most READY_MAX_MS */
	int64_t claimed_ms;
	/* its endpoint was known slow when it started (slow_marked): it never
	 * counts against max_in_flight, only against jobs_cap */
	bool known_slow;
	long retry_after_s; /* -1 when absent */
	size_t received;
	char error[CURL_ERROR_SIZE];
} job;

/* The outcomes of finished attempts not yet written: Postgres array
 * literals, one element per attempt (finish_flush writes them all in one
 * statement). While Postgres is away they are kept: no claim runs then,
 * so they number at most the requests that were in flight (jobs_cap)
 * plus the batch whose write the loss cut. */
typedef struct outcomes {
	pw_buf ids, endpoints, statuses, latencies, errors, verdicts, delays, leases;
	size_t n;
	bool kept; /* held over a lost connection (said once) */
} outcomes;

#define N_OUTCOME_BUFS 8

/* An endpoint row known slow and when it was marked (pw_mono_ms). */
typedef struct slow_mark {
	uint64_t endpoint_row;
	int64_t at_ms;
} slow_mark;

struct webhook_dispatcher {
	webhook_options opts;
	const webhook_endpoint **sorted; /* endpoints by (merchant_id, id), for the claim's lookups */
	/* sorted[i]'s URL as logs show it (webhook_url_display), made once;
	 * NULL where the URL fails webhook_check_url, which then runs (and
	 * fails the attempt) per request as for a registry endpoint */
	char **shown;
	/* libcurl handles of finished jobs, reset (curl_easy_reset), for the
	 * next jobs: at most max_in_flight. A handle made and freed per
	 * request cost ~7 % of a drain's dispatcher CPU (perf, DWARF) */
	CURL **spare;
	size_t n_spare;
	PGconn *pg;
	CURLM *multi;
	job **jobs;
	size_t n_jobs;
	/* deliveries claimed and opened, not started yet, oldest first: a
	 * claim takes up to ready_ahead() more than it can start, so that an
	 * answer's slot starts the next request at once (start_ready), not
	 * after the outcome's write and the next claim's round trip. With
	 * d->jobs, at most jobs_cap in all. */
	job **ready;
	size_t n_ready;
	outcomes out;
	uint64_t cursor; /* the endpoint row the last claim ended at: the next starts after it */
	/* endpoint rows this process cannot deliver to (not in its config, or
	 * sealed under a key it does not hold): the claim passes them over, so
	 * their deliveries stay for a dispatcher that can, until a restart */
	uint64_t *unserved;
	size_t n_unserved, cap_unserved;
	pw_buf unserved_sql; /* the same, as the claim's $5 (an array literal), made when one is added */
	int64_t cap_said_ms; /* when the limit (jobs_cap) was last said, at most once a minute; 0: never */
	/* endpoints known slow: their last request ended (answered, failed or
	 * timed out) WEBHOOK_SLOW_AFTER_MS or more after it started, by endpoint
	 * row, ascending; at most jobs_cap of them (the oldest mark makes
	 * room). A request of theirs takes none of max_in_flight's slots from
	 * its start, rather than from the end of its waiting window. */
	slow_mark *slow;
	size_t n_slow;
	/* how long the loop's last requests to endpoints not known slow took
	 * to end, and the waiting window they give (webhook_pace_window): a
	 * request in flight longer stops counting against max_in_flight */
	webhook_pace pace;
	/* outcomes since the last summary line (tally_say), by verdict
	 * (webhook_verdict), and when that line was said */
	uint64_t tally[WEBHOOK_GONE + 1];
	int64_t tally_at_ms;
};

/* max_in_flight, at least 1: the dispatcher's request slots. As many
 * finished jobs' handles are kept (d->spare). */
static size_t slots(const webhook_dispatcher *d)
{
	return d->opts.max_in_flight ? d->opts.max_in_flight : 1;
}

/* A request in flight longer than its waiting window (webhook_pace_window:
 * ten times the loop's median answer time, within 250 ms..1 s) waits on a
 * slow endpoint: it stops counting against max_in_flight, so that
 * endpoints that answer go on at full concurrency beside endpoints that
 * hang (each of those holds up to max_per_endpoint requests until its
 * timeout). An endpoint whose request ended WEBHOOK_SLOW_AFTER_MS or more after it
 * started is known slow (note_pace). In all, at most JOBS_PER_SLOT x
 * max_in_flight requests (and sockets) are in flight. */
#define JOBS_PER_SLOT 4

/* A delivery claimed ahead that has waited this long for a slot is given
 * back rather than started: the claim's lease is this much longer than
 * a request and its target's resolution need, so a request never starts
 * late in its lease. */
#define READY_MAX_MS 2000

/* How many jobs a dispatcher holds in flight at most (d->jobs). */
static size_t jobs_cap(const webhook_dispatcher *d)
{
	return JOBS_PER_SLOT * slots(d);
}

/* How many deliveries a claim takes beyond those it can start at once:
 * a quarter of the slots, at least one. An endpoint's own limit
 * (max_per_endpoint) counts them as in flight. */
static size_t ready_ahead(const webhook_dispatcher *d)
{
	size_t n = slots(d) / 4;
	return n ? n : 1;
}

/* The index in d->slow where endpoint row e is, or would be inserted
 * (d->slow is ascending). */
static size_t slow_at(const webhook_dispatcher *d, uint64_t e)
{
	size_t lo = 0, hi = d->n_slow;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->slow[mid].endpoint_row < e)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether endpoint row e is known slow (its last request ended
 * WEBHOOK_SLOW_AFTER_MS or more after it started). */
static bool slow_marked(const webhook_dispatcher *d, uint64_t e)
{
	size_t i = slow_at(d, e);
	return i < d->n_slow && d->slow[i].endpoint_row == e;
}

/* The index in sorted (n values, ascending) of the first value >= v. */
static size_t pace_at(const int32_t *sorted, size_t n, int32_t v)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sorted[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t webhook_pace_add(webhook_pace *p, int64_t took_ms)
{
	int32_t v = (int32_t)(took_ms < 0 ? 0 : took_ms < WEBHOOK_SLOW_AFTER_MS ? took_ms : WEBHOOK_SLOW_AFTER_MS);
	size_t n = p->n;
	if (n == WEBHOOK_PACE_SAMPLES) { /* full: the oldest, at next, gives way */
		size_t k = pace_at(p->sorted, n, p->ring[p->next]);
		memmove(&p->sorted[k], &p->sorted[k + 1], (n - k - 1) * sizeof(*p->sorted));
		n--;
	}
	p->ring[p->next] = v;
	p->next = (p->next + 1) % WEBHOOK_PACE_SAMPLES;
	size_t k = pace_at(p->sorted, n, v);
	memmove(&p->sorted[k + 1], &p->sorted[k], (n - k) * sizeof(*p->sorted));
	p->sorted[k] = v;
	p->n = n + 1;
	return webhook_pace_window(p);
}

uint32_t webhook_pace_window(const webhook_pace *p)
{
	if (!p->n)
		return WEBHOOK_SLOW_AFTER_MS;
	int64_t w = (int64_t)WEBHOOK_WAITING_FACTOR * p->sorted[(p->n - 1) / 2];
	return (uint32_t)(w < WEBHOOK_WAITING_MIN_MS  ? WEBHOOK_WAITING_MIN_MS
			  : w > WEBHOOK_SLOW_AFTER_MS ? WEBHOOK_SLOW_AFTER_MS
						      : w);
}

/* Note how long j's request took to end, took_ms (timed_out: libcurl gave
 * up at timeout_ms). Unless its endpoint was known slow when it started,
 * the time is a sample of the loop's pace (webhook_pace_add). Slow
 * (WEBHOOK_SLOW_AFTER_MS or more, or timed out): its endpoint is marked, so that
 * its next requests take none of max_in_flight's slots; with d->slow
 * full, the oldest mark is dropped for it. Quicker: its mark, if any, is
 * taken off. Each change is logged. Only requests libcurl ended are
 * noted: a stop or a request that could not start says nothing of the
 * endpoint's pace. */
static void note_pace(webhook_dispatcher *d, const job *j, int64_t took_ms, bool timed_out)
{
	size_t i = slow_at(d, j->endpoint_row);
	bool marked = i < d->n_slow && d->slow[i].endpoint_row == j->endpoint_row;
	int64_t now = pw_mono_ms();
	if (!j->known_slow) /* a sample of the loop's pace: its waiting window follows */
		webhook_pace_add(&d->pace, timed_out ? WEBHOOK_SLOW_AFTER_MS : took_ms);
	if (took_ms < WEBHOOK_SLOW_AFTER_MS && !timed_out) {
		if (!marked)
			return;
		memmove(&d->slow[i], &d->slow[i + 1], (d->n_slow - i - 1) * sizeof(*d->slow));
		d->n_slow--;
		log_info(
			"%s: endpoint %s/%s at %s answered within %d ms again (%lld ms): its requests count against"
			" webhooks.max_in_flight again",
			d->opts.name, j->merchant_id, j->endpoint_id, j->shown, WEBHOOK_SLOW_AFTER_MS,
			(long long)took_ms);
		return;
	}
	if (marked) {
		d->slow[i].at_ms = now;
		return;
	}
	if (d->n_slow == jobs_cap(d)) { /* the oldest mark makes room */
		size_t old = 0;
		for (size_t k = 1; k < d->n_slow; k++)
			if (d->slow[k].at_ms < d->slow[old].at_ms)
				old = k;
		memmove(&d->slow[old], &d->slow[old + 1], (d->n_slow - old - 1) * sizeof(*d->slow));
		d->n_slow--;
		i = slow_at(d, j->endpoint_row);
	}
	memmove(&d->slow[i + 1], &d->slow[i], (d->n_slow - i) * sizeof(*d->slow));
	d->slow[i] = (slow_mark){ j->endpoint_row, now };
	d->n_slow++;
	log_info(
		"%s: endpoint %s/%s at %s is slow (its request %s after %lld ms): its next requests take none of"
		" webhooks.max_in_flight's slots, until one is answered within %d ms",
		d->opts.name, j->merchant_id, j->endpoint_id, j->shown, timed_out ? "timed out" : "ended",
		(long long)took_ms, WEBHOOK_SLOW_AFTER_MS);
}

#define OUTCOME_BUFS(o)                                                                                                \
	{                                                                                                              \
		&(o)->ids, &(o)->endpoints, &(o)->statuses, &(o)->latencies, &(o)->errors, &(o)->verdicts,             \
			&(o)->delays, &(o)->leases                                                                     \
	}

/* Called by libcurl right before it sends the request on a connection,
 * new or reused (CURLOPT_PREREQFUNCTION, libcurl >= 7.80). The first call
 * marks the request as sent (it may reach the merchant from now on). A
 * second is libcurl sending it again on a fresh connection because a
 * reused one died before any answer ("Connection died, retrying a fresh
 * connect"): refused, so the attempt fails (CURLE_ABORTED_BY_CALLBACK), is
 * recorded, and is retried on the schedule. Every request that may have
 * reached the merchant is one recorded attempt. The body is given as
 * CURLOPT_POSTFIELDS, which libcurl writes with the headers in one send
 * (a read callback made it a second write, and a second wake-up of the
 * receiver, per request). */
static int pre_request(void *clientp, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	job *j = clientp;
	(void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
	if (j->sent) {
		j->resend_refused = true;
		return CURL_PREREQFUNC_ABORT;
	}
	j->sent = true;
	return CURL_PREREQFUNC_OK;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	job *j = userdata;
	(void)ptr;
	j->received += size * nmemb;
	return j->received > RESPONSE_CAP ? 0 : size * nmemb; /* stop reading a huge answer */
}

/* A header line of the answer (libcurl gives one at a time, its CRLF
 * included): Retry-After is kept (pw_retry_after_line). */
static size_t read_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	job *j = userdata;
	size_t n = size * nitems;
	long secs;
	if (pw_retry_after_line(buf, n, time(NULL), WEBHOOK_RETRY_AFTER_MAX_S, &secs))
		j->retry_after_s = secs;
	return n;
}

static int cmp_endpoint(const void *a, const void *b)
{
	const webhook_endpoint *x = *(const webhook_endpoint *const *)a, *y = *(const webhook_endpoint *const *)b;
	int r = strcmp(x->merchant_id, y->merchant_id);
	return r ? r : strcmp(x->id, y->id);
}

/* The config endpoint (merchant_id, id), or NULL; *shown gets its URL as
 * shown (d->shown: NULL when it failed the check, or is not found). */
static const webhook_endpoint *find_endpoint(const webhook_dispatcher *d, const char *merchant_id, const char *id,
					     const char **shown)
{
	webhook_endpoint key = { .merchant_id = merchant_id, .id = id };
	const webhook_endpoint *kp = &key;
	const webhook_endpoint **hit = bsearch(&kp, d->sorted, d->opts.n_endpoints, sizeof(*d->sorted), cmp_endpoint);
	*shown = hit && d->shown ? d->shown[hit - d->sorted] : NULL;
	return hit ? *hit : NULL;
}

/* libcurl's socket for each address it connects to (after its own,
 * asynchronous resolution): refused for a loopback, private or link-local
 * address unless allowed. The address checked is the one connected to, so
 * a DNS answer cannot change between the check and the connection.
 * Through a proxy, the connection is to the proxy (trusted: configured
 * explicitly); the target was checked when it was resolved. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	job *j = arg;
	if (purpose != CURLSOCKTYPE_IPCXN || (!j->via_proxy && !webhook_address_allowed(&a->addr, j->allow_private))) {
		j->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* Why an attempt that ended with curl's code c failed. */
static void attempt_error(const job *j, CURLcode c, char *out, size_t outlen)
{
	if (j->refused && c != CURLE_OK)
		snprintf(out, outlen,
			 "host %s resolves to a loopback, private or link-local address (set "
			 "webhooks.allow_private_targets to allow it)",
			 j->shown);
	else if (j->resend_refused) /* pre_request: a kept connection died, not sent again at once */
		snprintf(out, outlen,
			 "the connection closed before any answer (a kept connection: the request may have "
			 "arrived); sent again on the retry schedule");
	else
		snprintf(out, outlen, "%s", j->error[0] ? j->error : curl_easy_strerror(c));
}

/* Build the signed request. 0, or a negative code with j->error set. */
static int prepare_request(job *j, const webhook_endpoint *ep, bool allow_private, const char *proxy,
			   uint32_t timeout_ms)
{
	char sig[1400], line[1500];
	int r = j->ep_shown ? 0 : webhook_check_url(ep->url, j->error, sizeof(j->error));
	if (r < 0)
		return r;
	j->ep = ep;
	j->allow_private = allow_private;
	j->via_proxy = proxy != NULL;
	if (j->ep_shown)
		snprintf(j->shown, sizeof(j->shown), "%s", j->ep_shown);
	else
		webhook_url_display(ep->url, j->shown, sizeof(j->shown));
	int64_t ts = (int64_t)time(NULL);
	if ((r = webhook_sign_all(ep->secrets, ep->n_secrets, j->event_id, ts, j->payload, strlen(j->payload), sig,
				  sizeof(sig))) < 0) {
		snprintf(j->error, sizeof(j->error), "cannot sign: bad secret");
		return r;
	}
	snprintf(line, sizeof(line), "webhook-id: %s", j->event_id);
	j->headers = curl_slist_append(j->headers, line);
	snprintf(line, sizeof(line), "webhook-timestamp: %lld", (long long)ts);
	j->headers = curl_slist_append(j->headers, line);
	snprintf(line, sizeof(line), "webhook-signature: %s", sig);
	j->headers = curl_slist_append(j->headers, line);
	j->headers = curl_slist_append(j->headers, "content-type: application/json");
	j->headers = curl_slist_append(j->headers, "user-agent: " USER_AGENT);
	j->headers = curl_slist_append(j->headers, "expect:"); /* no 100-continue round trip */
	/* else a finished job's handle, reset (start_job) */
	if (!j->easy)
		j->easy = curl_easy_init();
	if (!j->easy)
		return PW_ENOMEM;
	curl_easy_setopt(j->easy, CURLOPT_URL, ep->url);
	curl_easy_setopt(j->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(j->easy, CURLOPT_OPENSOCKETDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->headers);
	j->payload_len = strlen(j->payload);
	j->sent = false;
	j->resend_refused = false;
	curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->payload_len);
	curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->payload); /* not copied: the job holds it until done */
	curl_easy_setopt(j->easy, CURLOPT_PREREQFUNCTION, pre_request);
	curl_easy_setopt(j->easy, CURLOPT_PREREQDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* proxies only by explicit config: "" turns off http_proxy, https_proxy
	 * and all_proxy from the environment (they would see the proxy, not the
	 * target, past the address check). A configured proxy is used as a
	 * tunnel (CONNECT) to the address checked at resolution. */
	curl_easy_setopt(j->easy, CURLOPT_PROXY, proxy ? proxy : "");
	if (proxy) {
		curl_easy_setopt(j->easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
		curl_easy_setopt(j->easy, CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
	}
	/* connections are kept and reused (no TCP or TLS handshake per
	 * delivery), but not once idle for CONN_MAX_IDLE_S: most servers close
	 * theirs after 5 s or more, and a connection the server is closing as
	 * it is reused fails the attempt (pre_request: never sent twice) */
	curl_easy_setopt(j->easy, CURLOPT_MAXAGE_CONN, (long)CONN_MAX_IDLE_S);
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_HEADERFUNCTION, read_header);
	curl_easy_setopt(j->easy, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->error);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	return 0;
}

/* Through a proxy: start resolving the target's host (the URL's, as
 * libcurl sees it). 0 or a negative code with j->error set. */
static int start_resolving(job *j)
{
	char *scheme, *host, *port;
	if (!url_parts(j->ep->url, &scheme, &host, &port)) {
		snprintf(j->error, sizeof(j->error), "not a valid URL");
		return PW_EINVAL;
	}
	snprintf(j->gai_host, sizeof(j->gai_host), "%s", host);
	snprintf(j->gai_port, sizeof(j->gai_port), "%s", port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	/* an IPv6 literal comes bracketed from libcurl */
	char name[256];
	size_t len = strlen(j->gai_host);
	if (len > 2 && j->gai_host[0] == '[' && j->gai_host[len - 1] == ']')
		snprintf(name, sizeof(name), "%.*s", (int)len - 2, j->gai_host + 1);
	else
		snprintf(name, sizeof(name), "%s", j->gai_host);
	static const struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	memset(&j->gai, 0, sizeof(j->gai));
	j->gai.ar_name = strdup(name);
	j->gai.ar_service = j->gai_port;
	j->gai.ar_request = &hints;
	j->gai_list[0] = &j->gai;
	struct sigevent none = { .sigev_notify = SIGEV_NONE };
	if (!j->gai.ar_name || getaddrinfo_a(GAI_NOWAIT, j->gai_list, 1, &none) != 0) {
		free((char *)j->gai.ar_name);
		j->gai.ar_name = NULL;
		snprintf(j->error, sizeof(j->error), "cannot start resolving %s", j->shown);
		return PW_ENOMEM;
	}
	j->resolving = true;
	return 0;
}

/* The target resolved: refuse it if any address is refused (a name that
 * resolves to one private address among public ones is refused whole),
 * else pin the first address for the proxy's CONNECT. 0, or PW_ECONN with
 * j->error set. */
static int pin_target(job *j, int gai_status)
{
	struct addrinfo *res = j->gai.ar_result;
	int r = 0;
	if (gai_status != 0 || !res) {
		snprintf(j->error, sizeof(j->error), "cannot resolve host %s: %s", j->shown,
			 gai_status ? gai_strerror(gai_status) : "no address");
		r = PW_ECONN;
	}
	for (struct addrinfo *a = res; r == 0 && a; a = a->ai_next)
		if (!webhook_address_allowed(a->ai_addr, j->allow_private)) {
			j->refused = true;
			snprintf(j->error, sizeof(j->error),
				 "host %s resolves to a loopback, private or link-local address (set "
				 "webhooks.allow_private_targets to allow it)",
				 j->shown);
			r = PW_ECONN;
		}
	if (r == 0) {
		char ip[INET6_ADDRSTRLEN], line[600];
		const void *addr = res->ai_family == AF_INET6
					   ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
					   : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
		inet_ntop(res->ai_family, addr, ip, sizeof(ip));
		snprintf(line, sizeof(line), res->ai_family == AF_INET6 ? "%s:%s:[%s]:%s" : "%s:%s:%s:%s", j->gai_host,
			 j->gai_port, ip, j->gai_port);
		j->connect_to = curl_slist_append(NULL, line);
		curl_easy_setopt(j->easy, CURLOPT_CONNECT_TO, j->connect_to);
	}
	freeaddrinfo(res);
	j->gai.ar_result = NULL;
	free((char *)j->gai.ar_name);
	j->gai.ar_name = NULL;
	j->resolving = false;
	return r;
}

/* Wait for a resolution in flight to end (it writes into j). */
static void stop_resolving(job *j)
{
	if (!j->resolving)
		return;
	if (gai_cancel(&j->gai) != EAI_CANCELED) {
		const struct gaicb *list[1] = { &j->gai };
		while (gai_error(&j->gai) == EAI_INPROGRESS)
			gai_suspend(list, 1, NULL);
	}
	if (j->gai.ar_result)
		freeaddrinfo(j->gai.ar_result);
	free((char *)j->gai.ar_name);
	j->resolving = false;
}

static void job_free(job *j)
{
	if (!j)
		return;
	stop_resolving(j);
	if (j->easy)
		curl_easy_cleanup(j->easy);
	curl_slist_free_all(j->headers);
	curl_slist_free_all(j->connect_to);
	free(j->payload);
	secretbox_free(j->own_url);
	secretbox_free(j->own_secret);
	free(j);
}

int webhook_dispatcher_create(const webhook_options *opts, webhook_dispatcher **ret)
{
	webhook_dispatcher *d = calloc(1, sizeof(*d));
	if (!d)
		return PW_ENOMEM;
	d->opts = *opts;
	d->multi = curl_multi_init();
	d->jobs = calloc(jobs_cap(d), sizeof(job *));
	d->ready = calloc(jobs_cap(d), sizeof(job *));
	d->slow = calloc(jobs_cap(d), sizeof(*d->slow));
	d->sorted = calloc(opts->n_endpoints + 1, sizeof(*d->sorted));
	buf_init(&d->unserved_sql, SIZE_MAX);
	pw_buf *bufs[N_OUTCOME_BUFS] = OUTCOME_BUFS(&d->out);
	for (size_t k = 0; k < N_OUTCOME_BUFS; k++)
		buf_init(bufs[k], (size_t)64 << 20); /* a batch of outcomes: at most jobs_cap of them */
	if (!d->multi || !d->jobs || !d->ready || !d->slow || !d->sorted) {
		curl_multi_cleanup(d->multi);
		free(d->jobs);
		free(d->ready);
		free(d->slow);
		free(d->sorted);
		free(d);
		return PW_ENOMEM;
	}
	for (size_t i = 0; i < opts->n_endpoints; i++)
		d->sorted[i] = &opts->endpoints[i];
	qsort(d->sorted, opts->n_endpoints, sizeof(*d->sorted), cmp_endpoint);
	d->shown = calloc(opts->n_endpoints + 1, sizeof(*d->shown));
	d->spare = calloc(slots(d), sizeof(*d->spare));
	for (size_t i = 0; d->shown && i < opts->n_endpoints; i++) {
		char why[256], shown[300];
		if (webhook_check_url(d->sorted[i]->url, why, sizeof(why)) == 0) {
			webhook_url_display(d->sorted[i]->url, shown, sizeof(shown));
			d->shown[i] = strdup(shown);
		}
	}
	*ret = d;
	return 0;
}

static void release_all(webhook_dispatcher *d);
static void unwritten(const webhook_dispatcher *d, size_t n);

void webhook_dispatcher_destroy(webhook_dispatcher *d)
{
	if (!d)
		return;
	release_all(d);
	if (d->out.n) /* kept for a Postgres that did not come back */
		unwritten(d, d->out.n);
	PQfinish(d->pg);
	curl_multi_cleanup(d->multi);
	pw_buf *bufs[N_OUTCOME_BUFS] = OUTCOME_BUFS(&d->out);
	for (size_t k = 0; k < N_OUTCOME_BUFS; k++)
		buf_done(bufs[k]);
	free(d->jobs);
	free(d->ready);
	free(d->slow);
	for (size_t i = 0; d->shown && i < d->opts.n_endpoints; i++)
		free(d->shown[i]);
	free(d->shown);
	for (size_t i = 0; i < d->n_spare; i++)
		curl_easy_cleanup(d->spare[i]);
	free(d->spare);
	free(d->sorted);
	free(d->unserved);
	buf_done(&d->unserved_sql);
	free(d);
}

void webhook_dispatcher_wake(webhook_dispatcher *d)
{
	curl_multi_wakeup(d->multi);
}

/* Run a statement: sql, or (name non-NULL) the statement prepared under
 * that name when the connection opened (connect_pg). */
static bool exec_stmt(webhook_dispatcher *d, const char *name, const char *sql, int n, const char *const *params,
		      PGresult **ret)
{
	PGresult *res = name ? PQexecPrepared(d->pg, name, n, params, NULL, NULL, 0)
			     : PQexecParams(d->pg, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		text_one_line(msg);
		if (!msg[0]) /* libpq names no error for a statement on a connection already lost */
			snprintf(msg, sizeof(msg), "%s",
				 PQstatus(d->pg) == CONNECTION_OK ? "no answer" : "the connection is lost");
		log_warn("%s: postgres: %s", d->opts.name, msg);
		PQclear(res);
		return false;
	}
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return true;
}

static bool exec_params(webhook_dispatcher *d, const char *sql, int n, const char *const *params, PGresult **ret)
{
	return exec_stmt(d, NULL, sql, n, params, ret);
}

/* The claim visits active endpoints in id order from just after the one
 * the last claim ended at (round robin, so no endpoint waits behind
 * another's backlog) and stops as soon as it holds $2 deliveries: its cost
 * follows what it claims, not the number of endpoints. The two ranges
 * (after the cursor, then up to it) are read in order from the primary
 * key, so nothing is sorted. Each endpoint gives its due deliveries,
 * oldest first, up to $1 in flight. Its deliveries in flight are counted
 * among its $1 oldest due ones: deliveries are leased oldest first, so
 * those in flight lead that order, and the count reads $1 rows whatever
 * the endpoint's backlog (no index holds locked_until, so a lease is a HOT
 * update: 016_deliveries_fillfactor.sql). The claimed rows are updated by
 * primary key (= ANY of an array) and joined to their endpoint and event
 * after: a prepared statement's generic plan cannot know how few they
 * are, and would scan whole tables to join them. $5 lists the endpoint
 * rows this dispatcher cannot serve (d->unserved), passed over. */
static const char claim_sql[] =
	"WITH c AS ("
	" SELECT x.id FROM ("
	"  (SELECT id FROM webhook_endpoints WHERE id > $4::bigint AND active AND disabled_at IS NULL AND key IS NOT NULL"
	"   AND id <> ALL ($5::bigint[]) ORDER BY id)"
	"  UNION ALL"
	"  (SELECT id FROM webhook_endpoints WHERE id <= $4::bigint AND active AND disabled_at IS NULL AND key IS NOT NULL"
	"   AND id <> ALL ($5::bigint[]) ORDER BY id)) e"
	" CROSS JOIN LATERAL ("
	"  SELECT d.id FROM webhook_deliveries d"
	"  WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()"
	"  AND (d.locked_until IS NULL OR d.locked_until < now())"
	"  ORDER BY d.next_attempt_at"
	"  LIMIT greatest(0, $1::int - (SELECT count(*) FROM (SELECT l.locked_until FROM webhook_deliveries l"
	"   WHERE l.endpoint_id = e.id AND l.status = 'pending' AND l.next_attempt_at <= now()"
	"   ORDER BY l.next_attempt_at LIMIT $1::int) w WHERE w.locked_until >= now()))"
	"  FOR UPDATE OF d SKIP LOCKED) x"
	" LIMIT $2::int)"
	" , u AS (UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => $3::int)"
	"  WHERE d.id = ANY (ARRAY(SELECT id FROM c)) RETURNING d.id, d.attempts, d.endpoint_id, d.event_id, d.locked_until)"
	" SELECT u.id, u.attempts, e.id, e.merchant_id, e.key, ev.id, ev.payload, e.url_sealed, e.secret_sealed,"
	" u.locked_until::text"
	" FROM u JOIN webhook_endpoints e ON e.id = u.endpoint_id JOIN webhook_events ev ON ev.id = u.event_id";

/* One element of a Postgres array literal: NULL, a number, or (quoted)
 * text with " and \\ escaped. */
static int array_add(pw_buf *b, const char *v, bool quoted)
{
	int r = buf_append(b, b->len ? "," : "{", 1);
	if (r == 0 && !v)
		return buf_append(b, "NULL", 4);
	if (r == 0 && quoted)
		r = buf_append(b, "\"", 1);
	for (const char *p = v; r == 0 && *p; p++)
		r = quoted && (*p == '"' || *p == '\\') ? buf_appendf(b, "\\%c", *p) : buf_append(b, p, 1);
	return r == 0 && quoted ? buf_append(b, "\"", 1) : r;
}

/* Give back the leases of deliveries this dispatcher will not send (ids
 * and leases: array literals, the leases as the claim returned them) and
 * wake the other dispatchers, which may serve them: one statement, so the
 * NOTIFY goes out only with the release. A lease no longer this
 * dispatcher's (another claim took it) is left to its owner. true when
 * Postgres ran it; false without a connection or when it failed (said by
 * exec_params): the leases then expire on their own. */
static bool release_unserved(webhook_dispatcher *d, const char *ids, const char *leases)
{
	const char *params[2] = { ids, leases };
	return d->pg &&
	       exec_params(
		       d,
		       "WITH r AS (UPDATE webhook_deliveries d SET locked_until = NULL FROM unnest($1::bigint[],"
		       " $2::timestamptz[]) AS x(id, lease) WHERE d.id = x.id AND d.locked_until = x.lease RETURNING 1)"
		       " SELECT pg_notify('paywatch_webhooks', '') WHERE EXISTS (SELECT 1 FROM r)",
		       2, params, NULL);
}

/* Add job j's delivery id and lease to lists (two Postgres array
 * literals, as give_back sends them). 0, or PW_ENOMEM with both lists as
 * they were (that lease then expires on its own). */
static int give_back_add(pw_buf lists[2], const job *j)
{
	char id[24];
	snprintf(id, sizeof(id), "%llu", (unsigned long long)j->delivery_id);
	size_t lens[2] = { lists[0].len, lists[1].len };
	if (array_add(&lists[0], id, false) == 0 && array_add(&lists[1], j->lease, true) == 0)
		return 0;
	for (int k = 0; k < 2; k++) /* both lists back to where they were */
		buf_truncate(&lists[k], lens[k]);
	return PW_ENOMEM;
}

/* Give back what give_back_add listed (release_unserved: one statement,
 * nothing when the lists are empty) and free the lists. true when none
 * was listed or Postgres ran it. */
static bool give_back(webhook_dispatcher *d, pw_buf lists[2])
{
	bool given = !lists[0].len || (buf_append(&lists[0], "}", 1) == 0 && buf_append(&lists[1], "}", 1) == 0 &&
				       release_unserved(d, lists[0].data, lists[1].data));
	buf_done(&lists[0]);
	buf_done(&lists[1]);
	return given;
}

/* Note endpoint row e as one this dispatcher cannot serve, and make the
 * claim's list of them again (rare: once per such endpoint). false when
 * it was already noted, or there is no memory to note it (its deliveries
 * are then claimed and given back again, as before). */
static bool note_unserved(webhook_dispatcher *d, uint64_t e)
{
	for (size_t i = 0; i < d->n_unserved; i++)
		if (d->unserved[i] == e)
			return false;
	if (d->n_unserved == d->cap_unserved) {
		size_t cap = d->cap_unserved ? 2 * d->cap_unserved : 16;
		uint64_t *grown = realloc(d->unserved, cap * sizeof(*grown));
		if (!grown)
			return false;
		d->unserved = grown;
		d->cap_unserved = cap;
	}
	d->unserved[d->n_unserved++] = e;
	pw_buf list; /* made whole before it replaces the one in use */
	buf_init(&list, SIZE_MAX);
	int r = 0;
	for (size_t i = 0; r == 0 && i < d->n_unserved; i++) {
		char id[24];
		snprintf(id, sizeof(id), "%llu", (unsigned long long)d->unserved[i]);
		r = array_add(&list, id, false);
	}
	if (r == 0)
		r = buf_append(&list, "}", 1);
	if (r < 0) {
		buf_done(&list);
		d->n_unserved--;
		return false;
	}
	buf_done(&d->unserved_sql);
	d->unserved_sql = list;
	return true;
}

static void finish_failed_start(webhook_dispatcher *d, job *j);

/* Start a prepared job: straight into libcurl, or (through a proxy)
 * after its target is resolved and checked. false when it could not start
 * (recorded as a failed attempt and freed). */
static bool start_job(webhook_dispatcher *d, job *j)
{
	j->start_ms = pw_mono_ms();
	j->known_slow = slow_marked(d, j->endpoint_row);
	if (!j->easy && d->n_spare)
		j->easy = d->spare[--d->n_spare];
	int r = prepare_request(j, j->ep, d->opts.allow_private_targets, d->opts.proxy, d->opts.timeout_ms);
	if (r == 0 && d->opts.proxy)
		r = start_resolving(j);
	else if (r == 0 && curl_multi_add_handle(d->multi, j->easy) != CURLM_OK)
		r = PW_ENOMEM;
	if (r < 0) {
		finish_failed_start(d, j); /* recorded as a failed attempt, rescheduled like any other */
		return false;
	}
	d->jobs[d->n_jobs++] = j;
	return true;
}

/* The URL and secret of a registry endpoint, opened into j->own. 0, or
 * what secretbox_open returned (PW_ENOTFOUND: no key with that id). */
static int open_sealed(webhook_dispatcher *d, job *j, const char *url_sealed, const char *secret_sealed)
{
	if (!d->opts.keys)
		return PW_ENOTFOUND;
	char ctx[200];
	secretbox_endpoint_context(j->merchant_id, j->endpoint_id, "url", ctx, sizeof(ctx));
	int r = secretbox_open(d->opts.keys, ctx, url_sealed, &j->own_url);
	secretbox_endpoint_context(j->merchant_id, j->endpoint_id, "secret", ctx, sizeof(ctx));
	if (r == 0)
		r = secretbox_open(d->opts.keys, ctx, secret_sealed, &j->own_secret);
	if (r < 0)
		return r;
	j->own = (webhook_endpoint){ j->merchant_id, j->endpoint_id, j->own_url, (const char *const *)&j->own_secret,
				     1 };
	j->ep = &j->own;
	return 0;
}

/* A claimed delivery this dispatcher cannot send, for lack of its
 * endpoint (why: the reason logged). Its endpoint row is noted as unserved
 * (logged once per endpoint) and its id and lease added to release
 * (give_back_add) to be given back at once. */
static void pass_over(webhook_dispatcher *d, job *j, const char *why, pw_buf release[2])
{
	char id[24];
	snprintf(id, sizeof(id), "%llu", (unsigned long long)j->delivery_id);
	if (note_unserved(d, j->endpoint_row))
		log_error(PW_ECONFIG,
			  "%s: endpoint \"%s\" of merchant %s: %s; this dispatcher leaves its deliveries to one"
			  " that has it, until restarted",
			  d->opts.name, j->endpoint_id, j->merchant_id, why);
	if (give_back_add(release, j) < 0) /* not given back: its lease expires */
		log_error(PW_ENOMEM, "%s: delivery %s: cannot list it to give back; its lease expires", d->opts.name,
			  id);
}

/* How many deliveries a claim may take now: max_in_flight less the
 * requests in flight that are still within the waiting window (read now
 * from d->pace: webhook_pace_window) and whose endpoint was not known
 * slow when they started, within jobs_cap in all. At jobs_cap with room
 * left in max_in_flight (requests waiting on slow endpoints fill it),
 * says so, at most once a minute. */
static size_t claim_room(webhook_dispatcher *d)
{
	int64_t now = pw_mono_ms(), window = webhook_pace_window(&d->pace);
	size_t fresh = 0;
	for (size_t i = 0; i < d->n_jobs; i++)
		fresh += !d->jobs[i]->known_slow && now - d->jobs[i]->start_ms < window;
	size_t room = fresh < d->opts.max_in_flight ? d->opts.max_in_flight - fresh : 0;
	size_t left = jobs_cap(d) - d->n_jobs;
	if (room && !left && (!d->cap_said_ms || now - d->cap_said_ms >= 60000)) {
		d->cap_said_ms = now;
		log_warn(
			"%s: %zu requests in flight, %zu of them waiting over %d ms or on endpoints known slow: at"
			" the limit of %d x webhooks.max_in_flight; no new request until one ends (raise"
			" max_in_flight, or lower timeout_ms)",
			d->opts.name, d->n_jobs, d->n_jobs - fresh, (int)window, JOBS_PER_SLOT);
	}
	return room < left ? room : left;
}

/* Start the deliveries claimed ahead, oldest first, as far as claim_room
 * allows. One that has waited READY_MAX_MS is given back instead (with
 * any others as old, in one statement, which wakes the other
 * dispatchers). Without Postgres none starts (its outcome could not be
 * written): release_all gives them back. Returns the room left. */
static size_t start_ready(webhook_dispatcher *d)
{
	size_t room = d->pg ? claim_room(d) : 0;
	int64_t now = pw_mono_ms();
	pw_buf back[2]; /* give_back_add's lists: the deliveries given back, their leases */
	buf_init(&back[0], SIZE_MAX);
	buf_init(&back[1], SIZE_MAX);
	size_t kept = 0, old = 0, unlisted = 0;
	for (size_t i = 0; i < d->n_ready; i++) {
		job *j = d->ready[i];
		if (now - j->claimed_ms >= READY_MAX_MS) {
			unlisted += give_back_add(back, j) < 0;
			old++;
			job_free(j);
		} else if (room) {
			/* a request that cannot start is a failed attempt: its slot stays free */
			room -= start_job(d, j);
		} else {
			d->ready[kept++] = j;
		}
	}
	d->n_ready = kept;
	bool given = give_back(d, back) && !unlisted;
	if (old)
		log_info("%s: %zu deliver%s claimed ahead waited %d ms for a request slot: %s", d->opts.name, old,
			 old == 1 ? "y" : "ies", READY_MAX_MS,
			 given ? (old == 1 ? "its lease given back" : "their leases given back")
			       : "not started, and sent again when the lease ends (it could not be given back)");
	return room;
}

/* Claim due deliveries: as many as can start now, and up to ready_ahead()
 * more to start as answers free slots; start what can start. */
static void claim(webhook_dispatcher *d)
{
	size_t room = start_ready(d);
	if (!room && d->n_ready) /* every slot busy, and deliveries wait for one already */
		return;
	size_t held = d->n_jobs + d->n_ready;
	size_t ahead = d->n_ready < ready_ahead(d) ? ready_ahead(d) - d->n_ready : 0;
	size_t limit = held < jobs_cap(d) ? jobs_cap(d) - held : 0;
	if (room + ahead < limit)
		limit = room + ahead;
	if (!limit)
		return;
	int64_t now = pw_mono_ms();
	char per[16], lim[16], lease[16], cursor[24];
	snprintf(per, sizeof(per), "%u", d->opts.max_per_endpoint);
	snprintf(cursor, sizeof(cursor), "%llu", (unsigned long long)d->cursor);
	snprintf(lim, sizeof(lim), "%zu", limit);
	/* outlives the request, a target's resolution before it, and the wait of one claimed ahead */
	snprintf(lease, sizeof(lease), "%u", 2 * (d->opts.timeout_ms / 1000) + 2 + READY_MAX_MS / 1000);
	const char *params[5] = { per, lim, lease, cursor, d->n_unserved ? d->unserved_sql.data : "{}" };
	PGresult *res;
	if (!exec_stmt(d, "claim", NULL, 5, params, &res))
		return;
	pw_buf release[2]; /* give_back_add's lists: deliveries given back, their leases */
	buf_init(&release[0], SIZE_MAX);
	buf_init(&release[1], SIZE_MAX);
	/* where the round ended: endpoints after the cursor are visited first,
	 * then (it wrapped) those up to it: the highest of the wrapped, else
	 * the highest of the rest */
	uint64_t after = 0, wrapped = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		uint64_t e = 0;
		if (parse_u64(PQgetvalue(res, i, 2), UINT64_MAX, &e) < 0)
			continue;
		if (e > d->cursor && e > after)
			after = e;
		if (e <= d->cursor && e > wrapped)
			wrapped = e;
	}
	if (after || wrapped)
		d->cursor = wrapped ? wrapped : after;
	for (int i = 0; i < PQntuples(res); i++) {
		job *j = calloc(1, sizeof(*j));
		if (!j)
			break;
		uint64_t attempts = 0;
		if (parse_u64(PQgetvalue(res, i, 0), UINT64_MAX, &j->delivery_id) < 0 ||
		    parse_u64(PQgetvalue(res, i, 1), INT32_MAX, &attempts) < 0 ||
		    parse_u64(PQgetvalue(res, i, 2), UINT64_MAX, &j->endpoint_row) < 0 ||
		    (size_t)PQgetlength(res, i, 9) >= sizeof(j->lease)) {
			log_error(PW_EDB, "%s: a claimed delivery has unreadable ids or lease; its lease expires",
				  d->opts.name);
			job_free(j);
			continue;
		}
		j->attempts = (int)attempts;
		snprintf(j->lease, sizeof(j->lease), "%s", PQgetvalue(res, i, 9));
		snprintf(j->merchant_id, sizeof(j->merchant_id), "%s", PQgetvalue(res, i, 3));
		snprintf(j->endpoint_id, sizeof(j->endpoint_id), "%s", PQgetvalue(res, i, 4));
		snprintf(j->event_id, sizeof(j->event_id), "%s", PQgetvalue(res, i, 5));
		j->payload = strdup(PQgetvalue(res, i, 6));
		j->retry_after_s = -1;
		if (!j->payload) { /* not released: retried when the lease ends */
			log_error(PW_ENOMEM, "%s: delivery of event %s: cannot hold its payload; its lease expires",
				  d->opts.name, j->event_id);
			job_free(j);
			continue;
		}
		if (!PQgetisnull(res, i, 4)) /* else j->ep stays NULL (calloc) */
			j->ep = find_endpoint(d, j->merchant_id, j->endpoint_id, &j->ep_shown);
		if (!j->ep && !PQgetisnull(res, i, 4) && !PQgetisnull(res, i, 8)) {
			int o = open_sealed(d, j, PQgetvalue(res, i, 7), PQgetvalue(res, i, 8));
			if (o == PW_ENOTFOUND) {
				pass_over(d, j,
					  "its URL and secret are sealed under a key this process does not hold (check "
					  "PAYWATCH_SECRET_KEY / PAYWATCH_SECRET_KEY_OLD)",
					  release);
				job_free(j);
				continue;
			}
			if (o < 0) { /* not released: retried when the lease ends, not in a loop */
				log_error(
					o,
					"%s: endpoint \"%s\" of merchant %s: cannot open its sealed URL and secret (%s);"
					" leaving its delivery",
					d->opts.name, j->endpoint_id, j->merchant_id, pw_strerror(o));
				job_free(j);
				continue;
			}
		}
		if (!j->ep) {
			pass_over(d, j, "not in this config", release);
			job_free(j);
			continue;
		}
		j->claimed_ms = now;
		d->ready[d->n_ready++] = j; /* within jobs_cap: limit */
	}
	PQclear(res);
	give_back(d, release);
	start_ready(d);
}

/* Keep one attempt's outcome for finish_flush. 0 or PW_ENOMEM (nothing kept). */
static int outcome_add(outcomes *o, const char *id, const char *endpoint, const char *status, const char *latency,
		       const char *error, const char *verdict, const char *delay, const char *lease)
{
	pw_buf *bufs[N_OUTCOME_BUFS] = OUTCOME_BUFS(o);
	size_t lens[N_OUTCOME_BUFS];
	for (size_t k = 0; k < N_OUTCOME_BUFS; k++)
		lens[k] = bufs[k]->len;
	const char *vals[N_OUTCOME_BUFS] = { id, endpoint, status, latency, error, verdict, delay, lease };
	int r = 0;
	for (size_t k = 0; k < N_OUTCOME_BUFS && r == 0; k++)
		r = array_add(bufs[k], vals[k], k == 4 || k == 5 || k == 7);
	if (r < 0) { /* back to where they were */
		for (size_t k = 0; k < N_OUTCOME_BUFS; k++)
			buf_truncate(bufs[k], lens[k]);
		return PW_ENOMEM;
	}
	o->n++;
	return 0;
}

/* Write every kept outcome in one statement (one transaction): each an
 * attempt row under its lease (020_attempt_leases.sql); its delivery
 * delivered, failed (a 410 also disables the endpoint) or due again after
 * its delay, its lease released, where the lease is still the one this
 * dispatcher's claim set: an outcome written late (kept while Postgres was
 * away) whose lease ended and was taken by another claim is recorded as an
 * attempt and leaves the delivery to its new owner. Outcomes Postgres
 * refuses are dropped (named in a warning): their leases expire and they
 * are sent again (at-least-once, as after a crash); outcomes whose write a
 * lost connection cut are kept and written once it is back
 * (flush_kept_sql). */
#define FLUSH_OUTCOMES                                                                                                 \
	"WITH f AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[], $5::text[], $6::text[],"    \
	" $7::float8[], $8::timestamptz[]) AS f(id, endpoint_id, http_status, latency_ms, error, verdict, delay_s, lease)),"
#define FLUSH_DELIVERIES                                                                                               \
	" UPDATE webhook_deliveries d SET"                                                                             \
	" status = CASE f.verdict WHEN 'delivered' THEN 'delivered' WHEN 'retry' THEN d.status ELSE 'failed' END,"     \
	" attempts = d.attempts + 1, locked_until = NULL,"                                                             \
	" delivered_at = CASE WHEN f.verdict = 'delivered' THEN now() ELSE d.delivered_at END,"                        \
	" last_status = CASE WHEN f.verdict = 'gone' THEN 410 ELSE f.http_status END,"                                 \
	" last_error = f.error,"                                                                                       \
	" next_attempt_at = CASE WHEN f.verdict = 'retry' THEN now() + make_interval(secs => f.delay_s)"               \
	" ELSE d.next_attempt_at END"                                                                                  \
	" FROM f WHERE d.id = f.id AND d.locked_until = f.lease"
static const char flush_sql[] = FLUSH_OUTCOMES
	" att AS (INSERT INTO webhook_attempts (delivery_id, http_status, latency_ms, error, lease)"
	" SELECT id, http_status, latency_ms, error, lease FROM f),"
	" gone AS (UPDATE webhook_endpoints e SET disabled_at = now(), disabled_reason = '410 Gone'"
	" FROM f WHERE f.verdict = 'gone' AND e.id = f.endpoint_id)" FLUSH_DELIVERIES;

/* The same for outcomes kept over a lost connection. Postgres may have
 * committed their write and lost only its answer: an outcome whose attempt
 * is already recorded under its lease is left alone (its delivery moved on
 * then, its lease released, so the update passes it over too; a 410 does
 * not disable the endpoint again). Returns how many attempts it recorded.
 * Run once per reconnect at most: not prepared. */
static const char flush_kept_sql[] = FLUSH_OUTCOMES
	" att AS (INSERT INTO webhook_attempts (delivery_id, http_status, latency_ms, error, lease)"
	" SELECT id, http_status, latency_ms, error, lease FROM f WHERE NOT EXISTS (SELECT 1 FROM webhook_attempts a"
	" WHERE a.delivery_id = f.id AND a.lease = f.lease) RETURNING delivery_id),"
	" gone AS (UPDATE webhook_endpoints e SET disabled_at = now(), disabled_reason = '410 Gone'"
	" FROM f JOIN att ON att.delivery_id = f.id WHERE f.verdict = 'gone' AND e.id = f.endpoint_id),"
	" upd AS (" FLUSH_DELIVERIES
	" RETURNING 1)"
	" SELECT count(*) FROM att";

/* Say that n outcomes were not written (never dropped silently). */
static void unwritten(const webhook_dispatcher *d, size_t n)
{
	bool one = n == 1;
	log_warn("%s: %zu outcome%s not written to postgres; %s and %s sent again", d->opts.name, n, one ? "" : "s",
		 one ? "its lease expires" : "their leases expire", one ? "it is" : "they are");
}

/* Write the kept outcomes (flush_sql; flush_kept_sql for those kept over a
 * lost connection). Refused, or out of memory: dropped and named. Without a
 * connection (never made, or lost during the write): kept, to be written
 * by the first call after the reconnect. */
static void finish_flush(webhook_dispatcher *d)
{
	outcomes *o = &d->out;
	if (!o->n)
		return;
	pw_buf *bufs[N_OUTCOME_BUFS] = OUTCOME_BUFS(o);
	const char *params[N_OUTCOME_BUFS];
	size_t lens[N_OUTCOME_BUFS];
	int r = 0;
	for (size_t k = 0; k < N_OUTCOME_BUFS && r == 0; k++) {
		lens[k] = bufs[k]->len;
		r = buf_append(bufs[k], "}", 1);
		params[k] = bufs[k]->data;
	}
	if (r < 0)
		log_error(r, "%s: cannot list %zu outcomes for postgres", d->opts.name, o->n);
	PGresult *res = NULL;
	bool written = r == 0 && d->pg &&
		       (o->kept ? exec_params(d, flush_kept_sql, N_OUTCOME_BUFS, params, &res)
				: exec_stmt(d, "flush", NULL, N_OUTCOME_BUFS, params, NULL));
	if (!written && r == 0 && (!d->pg || PQstatus(d->pg) != CONNECTION_OK)) {
		for (size_t k = 0; k < N_OUTCOME_BUFS; k++) /* the arrays open again, as they were */
			buf_truncate(bufs[k], lens[k]);
		if (!o->kept)
			log_warn("%s: %zu outcome%s kept until postgres is back (%s)", d->opts.name, o->n,
				 o->n == 1 ? "" : "s",
				 o->n == 1 ? "its lease holds it meanwhile" : "their leases hold them meanwhile");
		o->kept = true;
		return;
	}
	if (!written) {
		unwritten(d, o->n);
	} else if (o->kept) {
		uint64_t now_written = o->n;
		if (res && PQntuples(res) == 1)
			(void)parse_u64(PQgetvalue(res, 0, 0), UINT64_MAX, &now_written);
		if (now_written < o->n) /* the write the loss cut had been committed: its answer alone was lost */
			log_info(
				"%s: %zu outcome%s kept while postgres was away written; %llu of them had been written"
				" already (only the answer was lost): recorded once",
				d->opts.name, o->n, o->n == 1 ? "" : "s", (unsigned long long)(o->n - now_written));
		else
			log_info("%s: %zu outcome%s kept while postgres was away written", d->opts.name, o->n,
				 o->n == 1 ? "" : "s");
	}
	PQclear(res);
	for (size_t k = 0; k < N_OUTCOME_BUFS; k++)
		buf_reset(bufs[k]);
	o->n = 0;
	o->kept = false;
}

/* Record the attempt and move the delivery on (kept for finish_flush). */
static void finish(webhook_dispatcher *d, job *j, long status, const char *error)
{
	char id[24], ep[24], st[16], lat[16], delay[32];
	snprintf(id, sizeof(id), "%llu", (unsigned long long)j->delivery_id);
	snprintf(ep, sizeof(ep), "%llu", (unsigned long long)j->endpoint_row);
	snprintf(st, sizeof(st), "%ld", status);
	snprintf(lat, sizeof(lat), "%lld", (long long)(pw_mono_ms() - j->start_ms));
	int attempt = j->attempts + 1;
	double secs = 0;
	webhook_verdict v = webhook_classify(status, error && !status, attempt, d->opts.retry_schedule_s,
					     d->opts.n_retry_schedule, j->retry_after_s, pw_random_unit(), &secs);
	if (v == WEBHOOK_DELIVERED && error)
		v = WEBHOOK_RETRY; /* a 2xx status with a transport error after it: not delivered */
	char labels[40];
	metrics_labels(labels, sizeof(labels), "outcome",
		       v == WEBHOOK_DELIVERED ? "delivered"
		       : v == WEBHOOK_GONE    ? "gone"
		       : v == WEBHOOK_FAILED  ? "failed"
					      : "retry",
		       NULL);
	metrics_add("paywatch_webhook_deliveries_total", labels, 1);
	metrics_observe("paywatch_webhook_delivery_duration_seconds", "",
			(double)(pw_mono_ms() - j->start_ms) / 1000.0);
	const char *verdict = v == WEBHOOK_DELIVERED ? "delivered"
			      : v == WEBHOOK_GONE    ? "gone"
			      : v == WEBHOOK_FAILED  ? "failed"
						     : "retry";
	snprintf(delay, sizeof(delay), "%.3f", v == WEBHOOK_RETRY ? secs : 0.0);
	if (outcome_add(&d->out, id, ep, status ? st : NULL, lat, v == WEBHOOK_DELIVERED ? NULL : error, verdict, delay,
			j->lease) < 0) {
		log_error(PW_ENOMEM, "%s: cannot keep the outcome of %s; its lease expires and it is sent again",
			  d->opts.name, j->event_id);
		return;
	}
	d->tally[v]++;
	if (v == WEBHOOK_DELIVERED) /* at info, only in tally_say's summary */
		log_emit(LOG_LEVEL_DEBUG, NULL, -1, "%s: %s delivered to %s/%s at %s (attempt %d, HTTP %ld, %s ms)",
			 d->opts.name, j->event_id, j->merchant_id, j->endpoint_id, j->shown, attempt, status, lat);
	else if (v == WEBHOOK_GONE)
		log_emit(LOG_LEVEL_ERROR, NULL, -1, "%s: endpoint %s/%s at %s answered 410 Gone: disabled",
			 d->opts.name, j->merchant_id, j->endpoint_id, j->shown);
	else if (v == WEBHOOK_FAILED)
		log_emit(LOG_LEVEL_ERROR, NULL, -1, "%s: %s to %s/%s at %s failed for good after %d attempts: %s",
			 d->opts.name, j->event_id, j->merchant_id, j->endpoint_id, j->shown, attempt, error);
	else
		log_warn("%s: %s to %s/%s at %s attempt %d failed: %s; next attempt in %.1f s", d->opts.name,
			 j->event_id, j->merchant_id, j->endpoint_id, j->shown, attempt, error, secs);
}

static void finish_failed_start(webhook_dispatcher *d, job *j)
{
	finish(d, j, 0, j->error[0] ? j->error : "cannot start the request");
	job_free(j);
}

/* Take j off the jobs in flight (its handle already out of the multi
 * handle) and free it; its handle is kept for a next job. */
static void drop_job(webhook_dispatcher *d, job *j)
{
	for (size_t i = 0; i < d->n_jobs; i++)
		if (d->jobs[i] == j) {
			d->jobs[i] = d->jobs[--d->n_jobs];
			break;
		}
	if (j->easy && d->spare && d->n_spare < slots(d)) { /* out of the multi handle: reset, kept */
		curl_easy_reset(j->easy);
		d->spare[d->n_spare++] = j->easy;
		j->easy = NULL;
	}
	job_free(j);
}

/* Through a proxy: jobs whose target resolved are checked, pinned and
 * started (or fail their attempt). */
static void collect_resolved(webhook_dispatcher *d)
{
	for (size_t i = 0; i < d->n_jobs;) {
		job *j = d->jobs[i];
		int status = j->resolving ? gai_error(&j->gai) : 0;
		if (!j->resolving || status == EAI_INPROGRESS) {
			i++;
			continue;
		}
		if (pin_target(j, status) < 0 || curl_multi_add_handle(d->multi, j->easy) != CURLM_OK) {
			finish(d, j, 0, j->error[0] ? j->error : "cannot start the request");
			drop_job(d, j);
			continue; /* the slot now holds another job */
		}
		i++;
	}
}

static bool any_resolving(const webhook_dispatcher *d)
{
	for (size_t i = 0; i < d->n_jobs; i++)
		if (d->jobs[i]->resolving)
			return true;
	return false;
}

/* Finish the attempts libcurl completed; how many. */
static size_t collect_done(webhook_dispatcher *d)
{
	CURLMsg *msg;
	int left;
	size_t done = 0;
	while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		job *j = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		long status = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		char why[CURL_ERROR_SIZE + 300];
		const char *error = NULL;
		if (msg->data.result != CURLE_OK && !(msg->data.result == CURLE_WRITE_ERROR && status)) {
			attempt_error(j, msg->data.result, why, sizeof(why));
			error = why;
			status = 0;
		} else if (status < 200 || status >= 300) {
			snprintf(why, sizeof(why), "HTTP %ld", status);
			error = why;
		}
		curl_multi_remove_handle(d->multi, msg->easy_handle);
		note_pace(d, j, pw_mono_ms() - j->start_ms, msg->data.result == CURLE_OPERATION_TIMEDOUT);
		finish(d, j, status, error);
		drop_job(d, j);
		done++;
	}
	return done;
}

/* Stop every job in flight (shutdown, lost connection) and give back its
 * lease, in one statement that also wakes the other dispatchers (NOTIFY),
 * so another dispatcher (or the next start) sends it again at once. A job
 * whose request went out (libcurl began to send it: pre_request) may
 * have reached the merchant: it is recorded as an attempt with no answer,
 * and counted.
 * Only a lease still this dispatcher's (the claim's, $5) is given back: one
 * another claim took meanwhile (a request that outlived its lease) stays
 * with its new owner, the attempt recorded. Without Postgres (a lost connection), such a job's attempt is kept as a
 * failed one (finish: due again on the retry schedule), written with the
 * other kept outcomes once the connection is back, if its lease is still
 * this dispatcher's; a job whose request had not gone out keeps its lease
 * until it ends. Without memory for the lists, nothing is written: the
 * leases expire on their own, which a warning says with their count. */
static const char release_sql[] =
	"WITH t AS (INSERT INTO webhook_attempts (delivery_id, latency_ms, error, lease)"
	" SELECT t.id, t.latency_ms, $3, i.lease FROM unnest($2::bigint[], $4::int[]) AS t(id, latency_ms)"
	" JOIN unnest($1::bigint[], $5::timestamptz[]) AS i(id, lease) ON i.id = t.id RETURNING delivery_id)"
	" , u AS (UPDATE webhook_deliveries d SET locked_until = NULL, attempts = d.attempts + x.tried::int,"
	" last_status = CASE WHEN x.tried THEN NULL ELSE d.last_status END,"
	" last_error = CASE WHEN x.tried THEN $3 ELSE d.last_error END"
	" FROM (SELECT i.id, i.lease, EXISTS (SELECT 1 FROM t WHERE t.delivery_id = i.id) AS tried"
	" FROM unnest($1::bigint[], $5::timestamptz[]) AS i(id, lease)) x WHERE d.id = x.id AND d.locked_until = x.lease"
	" RETURNING 1)"
	" SELECT pg_notify('paywatch_webhooks', '') WHERE EXISTS (SELECT 1 FROM u)";

static void release_all(webhook_dispatcher *d)
{
	finish_flush(d);                 /* what finished is written first */
	pw_buf ids, tried, lats, leases; /* Postgres array literals (array_add) */
	pw_buf *bufs[4] = { &ids, &tried, &lats, &leases };
	for (int k = 0; k < 4; k++)
		buf_init(bufs[k], SIZE_MAX);
	int r = 0;
	size_t sent = 0;
	int64_t now = pw_mono_ms();
	for (size_t i = 0; i < d->n_jobs; i++) {
		job *j = d->jobs[i];
		sent += j->sent;
		char id[24], lat[24];
		snprintf(id, sizeof(id), "%llu", (unsigned long long)j->delivery_id);
		snprintf(lat, sizeof(lat), "%lld", (long long)(now - j->start_ms));
		if (!j->resolving)
			curl_multi_remove_handle(d->multi, j->easy);
		if (!d->pg) {
			if (j->sent)
				finish(d, j, 0,
				       "the connection to postgres was lost with the request in flight; no answer was read "
				       "(the request may have arrived)");
			job_free(j);
			continue;
		}
		if (r == 0)
			r = array_add(&ids, id, false);
		if (r == 0)
			r = array_add(&leases, j->lease, true);
		if (r == 0 && j->sent && (r = array_add(&tried, id, false)) == 0)
			r = array_add(&lats, lat, false);
		job_free(j);
	}
	size_t ahead = d->n_ready; /* claimed ahead, never started: given back (or, without postgres, left to expire) */
	for (size_t i = 0; i < d->n_ready; i++) {
		job *j = d->ready[i];
		char id[24];
		snprintf(id, sizeof(id), "%llu", (unsigned long long)j->delivery_id);
		if (d->pg && r == 0 && (r = array_add(&ids, id, false)) == 0)
			r = array_add(&leases, j->lease, true);
		job_free(j);
	}
	d->n_ready = 0;
	if (!d->pg && d->out.n)
		d->out.kept = true;
	for (int k = 0; k < 4 && r == 0; k++) /* closed, or "{}" when empty */
		r = bufs[k]->len ? buf_append(bufs[k], "}", 1) : buf_append(bufs[k], "{}", 2);
	bool given = false; /* the leases given back */
	if (r < 0)
		log_error(r, "%s: cannot list the %zu leases to give back; they expire on their own", d->opts.name,
			  d->n_jobs + ahead);
	else if (!d->pg && d->n_jobs)
		log_warn(
			"%s: %zu request%s in flight stopped without postgres, %zu of them sent (kept as failed attempts,"
			" written when postgres is back: the merchant may have them); the deliveries are sent again on the"
			" retry schedule, or when their leases end",
			d->opts.name, d->n_jobs, d->n_jobs == 1 ? "" : "s", sent);
	else if (d->pg && (d->n_jobs || ahead)) {
		const char *params[5] = { ids.data, tried.data,
					  "the dispatcher stopped before any answer (the request may "
					  "have arrived); sent again at once",
					  lats.data, leases.data };
		given = exec_params(d, release_sql, 5, params, NULL);
		if (!given)
			log_warn(
				"%s: giving back %zu lease%s failed (%zu request%s had gone out): unless postgres committed it"
				" before the failure, the deliveries are sent again when the leases expire, and the requests"
				" that went out have no attempt row",
				d->opts.name, d->n_jobs + ahead, d->n_jobs + ahead == 1 ? "" : "s", sent,
				sent == 1 ? "" : "s");
		else if (d->n_jobs) /* beside tally_say's summary, which counts only answered (or failed) attempts */
			log_info(
				"%s: %zu request%s in flight at the stop, %zu of them sent (recorded as attempts with no answer:"
				" the merchant may have them); their leases given back where still this dispatcher's, so"
				" they are sent again at once",
				d->opts.name, d->n_jobs, d->n_jobs == 1 ? "" : "s", sent);
	}
	if (r == 0 && ahead)
		log_info("%s: %zu deliver%s claimed ahead and not started at the stop: %s", d->opts.name, ahead,
			 ahead == 1 ? "y" : "ies",
			 given ? "leases given back, sent again at once" : "sent again when their leases end");
	for (int k = 0; k < 4; k++)
		buf_done(bufs[k]);
	d->n_jobs = 0;
}

static bool connect_pg(webhook_dispatcher *d)
{
	char msg[512];
	/* the statements below need every migration this build knows (the
	 * attempts' leases, 020): without them, no claim */
	int r = pg_open_migrated(d->opts.dsn, "paywatch-dispatcher", &d->pg, msg, sizeof(msg));
	if (r == PW_ESCHEMA)
		log_error(PW_EDB, "%s: postgres: %s; no deliveries until then (trying again)", d->opts.name, msg);
	else if (r < 0)
		log_warn("%s: postgres: cannot connect: %s", d->opts.name, msg);
	if (r < 0)
		return false;
	PGresult *res = PQexec(d->pg, "LISTEN paywatch_webhooks");
	PQclear(res);
	/* the claim and the flush run in every loop: parsed once here */
	static const struct {
		const char *name, *sql;
		int n;
	} stmts[] = { { "claim", claim_sql, 5 }, { "flush", flush_sql, N_OUTCOME_BUFS } };
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		res = PQprepare(d->pg, stmts[i].name, stmts[i].sql, stmts[i].n, NULL);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok) {
			snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
			text_one_line(msg);
			log_warn("%s: postgres: cannot prepare the %s statement: %s", d->opts.name, stmts[i].name, msg);
		}
		PQclear(res);
		if (!ok) {
			PQfinish(d->pg);
			d->pg = NULL;
			return false;
		}
	}
	return true;
}

/* The gauges' counts per active endpoint: its deliveries due now, through
 * webhook_deliveries_due (pending ones only), and failed for good, through
 * webhook_deliveries_failed (failed ones only, 023_deliveries_failed_index.sql):
 * two index-only counts each, never a read of the delivered ones, which
 * are most of the table; summed per (merchant, config id), the gauges'
 * labels. (One join with status IN ('pending', 'failed') matches neither
 * partial index and reads the whole table: e2e_webhook_plans.) */
static const char gauges_sql[] =
	"SELECT e.merchant_id, coalesce(e.key, ''),"
	" sum((SELECT count(*) FROM webhook_deliveries x WHERE x.endpoint_id = e.id AND x.status = 'pending'"
	"  AND x.next_attempt_at <= now())),"
	" sum((SELECT count(*) FROM webhook_deliveries x WHERE x.endpoint_id = e.id AND x.status = 'failed'))"
	" FROM webhook_endpoints e WHERE e.active GROUP BY 1, 2";

/* Deliveries due now and failed for good, per endpoint (merchant and
 * config id), into the gauges (gauges_sql). The count reads every pending
 * and failed delivery, and the loop waits on it: webhook_gauges_interval_ms
 * spaces the counts by what the last one took. */
static void endpoint_gauges(webhook_dispatcher *d)
{
	PGresult *res = NULL;
	if (!exec_params(d, gauges_sql, 0, NULL, &res))
		return;
	for (int i = 0; i < PQntuples(res); i++) {
		char labels[300];
		metrics_labels(labels, sizeof(labels), "merchant_id", PQgetvalue(res, i, 0), "endpoint",
			       PQgetvalue(res, i, 1), NULL);
		metrics_set("paywatch_webhook_deliveries_due", labels, strtod(PQgetvalue(res, i, 2), NULL));
		metrics_set("paywatch_webhook_deliveries_failed", labels, strtod(PQgetvalue(res, i, 3), NULL));
	}
	PQclear(res);
}

#define GAUGES_EVERY_MS 5000
#define GAUGES_SHARE 50 /* a count at most 1/50 of the dispatcher's time */

int64_t webhook_gauges_interval_ms(int64_t took_ms)
{
	if (took_ms < 0)
		took_ms = 0;
	return took_ms > GAUGES_EVERY_MS / GAUGES_SHARE ? took_ms * GAUGES_SHARE : GAUGES_EVERY_MS;
}

/* How often the outcomes are summed up in one info line (tally_say). */
#define TALLY_EVERY_MS 10000

/* One info line summing up the outcomes since the last (d->tally), once
 * TALLY_EVERY_MS has passed, or at once with now; none if there were none.
 * A delivered attempt has no line of its own at info (one per delivery
 * cost 7-8 % of the dispatcher's CPU per delivery, webhook_bench.mjs;
 * HISTORY.md, a twenty-fifth session): each attempt is a row of
 * webhook_attempts (`paywatch webhooks list`), counted in
 * paywatch_webhook_deliveries_total, and logged at --log-level debug; a
 * failed one keeps its own line at warn or error (finish). */
static void tally_say(webhook_dispatcher *d, bool now)
{
	int64_t t = pw_mono_ms();
	if (!now && t - d->tally_at_ms < TALLY_EVERY_MS)
		return;
	const uint64_t *n = d->tally;
	if (n[WEBHOOK_DELIVERED] || n[WEBHOOK_RETRY] || n[WEBHOOK_FAILED] || n[WEBHOOK_GONE])
		log_info(
			"%s: in the last %.1f s, %llu delivered, %llu to retry, %llu failed for good, %llu answered 410 Gone"
			" (each attempt: `paywatch webhooks list`; a line per delivery at --log-level debug)",
			d->opts.name, (double)(t - d->tally_at_ms) / 1000.0, (unsigned long long)n[WEBHOOK_DELIVERED],
			(unsigned long long)n[WEBHOOK_RETRY], (unsigned long long)n[WEBHOOK_FAILED],
			(unsigned long long)n[WEBHOOK_GONE]);
	memset(d->tally, 0, sizeof(d->tally));
	d->tally_at_ms = t;
}

/* Drive libcurl: the targets resolved start, the attempts completed
 * finish, and the deliveries claimed ahead take the slots they freed and
 * go out (a second perform) before the caller waits on Postgres to write
 * the outcomes. How many attempts finished. */
static size_t drive(webhook_dispatcher *d)
{
	int running = 0;
	collect_resolved(d);
	curl_multi_perform(d->multi, &running);
	size_t finished = collect_done(d);
	size_t ready = d->n_ready;
	if (finished && ready) {
		start_ready(d);
		if (d->n_ready < ready)
			curl_multi_perform(d->multi, &running);
	}
	return finished;
}

int webhook_dispatcher_run(webhook_dispatcher *d, atomic_bool *stop)
{
	d->tally_at_ms = pw_mono_ms();
	int backoff_ms = 500;
	int64_t gauges_at = 0;
	while (!atomic_load(stop)) {
		if (!d->pg && !connect_pg(d)) {
			curl_multi_poll(d->multi, NULL, 0, backoff_ms, NULL);
			backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
			continue;
		}
		backoff_ms = 500;
		finish_flush(d); /* outcomes kept while postgres was away, first */
		if (d->opts.gauges && pw_mono_ms() >= gauges_at) {
			int64_t t0 = pw_mono_ms();
			endpoint_gauges(d);
			int64_t t1 = pw_mono_ms();
			gauges_at = t1 + webhook_gauges_interval_ms(t1 - t0);
		}
		claim(d);
		finish_flush(d); /* requests that could not start */
		size_t finished = drive(d);
		finish_flush(d);
		struct curl_waitfd pgfd = { .fd = PQsocket(d->pg), .events = CURL_WAIT_POLLIN };
		/* a finished attempt makes room (an endpoint's own limit too):
		 * claim again at once rather than idle */
		int wait_ms = finished ? 0 : any_resolving(d) ? 10 : d->n_jobs ? 50 : 500;
		curl_multi_poll(d->multi, &pgfd, pgfd.fd >= 0 ? 1 : 0, wait_ms, NULL);
		drive(d);
		finish_flush(d);
		if (!PQconsumeInput(d->pg) || PQstatus(d->pg) != CONNECTION_OK) {
			log_warn("%s: postgres connection lost; reconnecting", d->opts.name);
			PQfinish(d->pg);
			d->pg = NULL;
			/* answers already received are outcomes (kept), not requests stopped */
			int running = 0;
			curl_multi_perform(d->multi, &running);
			collect_done(d);
			release_all(d);
			continue;
		}
		PGnotify *n;
		while ((n = PQnotifies(d->pg)) != NULL)
			PQfreemem(n); /* only a wake-up */
		tally_say(d, false);
	}
	release_all(d);
	tally_say(d, true);
	return 0;
}

int webhook_send_once(const webhook_endpoint *ep, const char *msg_id, const char *body, bool allow_private,
		      const char *proxy, uint32_t timeout_ms, long *ret_status, char *err, size_t errlen)
{
	job *j = calloc(1, sizeof(*j));
	if (!j)
		return PW_ENOMEM;
	snprintf(j->event_id, sizeof(j->event_id), "%s", msg_id);
	webhook_url_display(ep->url, j->shown, sizeof(j->shown));
	j->payload = strdup(body);
	j->retry_after_s = -1;
	int r = j->payload ? prepare_request(j, ep, allow_private, proxy, timeout_ms) : PW_ENOMEM;
	if (r == 0 && proxy) { /* resolve and check the target here, as the dispatcher does */
		r = start_resolving(j);
		if (r == 0) {
			const struct gaicb *list[1] = { &j->gai };
			while (gai_error(&j->gai) == EAI_INPROGRESS)
				gai_suspend(list, 1, NULL);
			r = pin_target(j, gai_error(&j->gai));
		}
		if (r < 0)
			snprintf(err, errlen, "%s", j->error);
	} else if (r < 0) {
		snprintf(err, errlen, "%s", j->error);
	}
	if (r == 0) {
		CURLcode c = curl_easy_perform(j->easy);
		long status = 0;
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
		*ret_status = status;
		if (c != CURLE_OK && !status) {
			attempt_error(j, c, err, errlen);
			r = PW_ECONN;
		}
	}
	job_free(j);
	return r < 0 && r != PW_ECONN && r != PW_EINVAL ? PW_ECONN : r;
}
