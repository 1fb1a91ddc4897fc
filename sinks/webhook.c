/* webhook.c: Standard Webhooks signing, the target address policy, and the dispatcher
 * (Postgres queue + libcurl multi). */
#include "webhook.h"
#include "log.h"
#include "clock.h"
#include "parse.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "text.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define USER_AGENT "paywatch/" PAYWATCH_VERSION " (webhooks)"
#define RESPONSE_CAP 4096 /* response bodies are read and dropped, up to this much */

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
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_construct_end() };
	size_t len = 0;
	int ok = ctx && EVP_MAC_init(ctx, key, (size_t)key_len, params) &&
		 EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) &&
		 EVP_MAC_update(ctx, (const unsigned char *)body, body_len) && EVP_MAC_final(ctx, mac, &len, sizeof(mac));
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

/* Loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast,
 * unspecified and reserved addresses: where webhooks must not go. */
static bool address_is_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 || (a >> 16) == 0xa9fe ||
		       (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 || (a >> 22) == (100u << 2 | 1) || (a >> 28) >= 0xe;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t zero[16], mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(b, mapped, 12) == 0) {
			struct sockaddr_in v4 = { .sin_family = AF_INET };
			memcpy(&v4.sin_addr, b + 12, 4);
			return address_is_private((const struct sockaddr *)&v4);
		}
		bool loopback = memcmp(b, zero, 15) == 0 && (b[15] == 1 || b[15] == 0);
		return loopback || (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || b[0] == 0xff;
	}
	return true;
}

bool webhook_address_allowed(const struct sockaddr *sa, bool allow_private)
{
	return allow_private || !address_is_private(sa);
}

int webhook_check_url(const char *url, char *err, size_t errlen)
{
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

void webhook_url_host(const char *url, char *out, size_t outlen)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	size_t n = strcspn(h, "/?#");
	snprintf(out, outlen, "%.*s", (int)(n < outlen - 1 ? n : outlen - 1), h);
}

typedef struct job {
	uint64_t delivery_id, endpoint_id;
	int attempts; /* before this one */
	char event_id[64];
	char merchant_id[128];
	char host[256];
	char *payload;
	CURL *easy;
	struct curl_slist *headers;
	bool allow_private;
	bool refused; /* a connection to a loopback/private address was refused */
	int64_t start_ms;
	long retry_after_s; /* -1 when absent */
	size_t received;
	char error[CURL_ERROR_SIZE];
} job;

struct webhook_dispatcher {
	webhook_options opts;
	PGconn *pg;
	CURLM *multi;
	job **jobs;
	size_t n_jobs;
};

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	job *j = userdata;
	(void)ptr;
	j->received += size * nmemb;
	return j->received > RESPONSE_CAP ? 0 : size * nmemb; /* stop reading a huge answer */
}

/* Retry-After: delay-seconds or an HTTP-date. */
static size_t read_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	job *j = userdata;
	size_t n = size * nitems;
	if (n > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
		char v[128];
		size_t len = n - 12 < sizeof(v) - 1 ? n - 12 : sizeof(v) - 1;
		memcpy(v, buf + 12, len);
		v[len] = '\0';
		char *s = v + strspn(v, " \t");
		s[strcspn(s, "\r\n")] = '\0';
		uint64_t secs = 0;
		int r = parse_u64(s, UINT64_MAX, &secs);
		if (r == 0 || r == PW_ERANGE) { /* delay-seconds; a huge one is capped where it is used */
			j->retry_after_s = r == 0 && secs < 86400 * 365 ? (long)secs : 86400 * 365;
		} else {
			time_t when = curl_getdate(s, NULL);
			if (when > 0)
				j->retry_after_s = when > time(NULL) ? (long)(when - time(NULL)) : 0;
		}
	}
	return n;
}

static const char *find_secret(const webhook_dispatcher *d, const char *merchant_id, const char *url)
{
	for (size_t i = 0; i < d->opts.n_secrets; i++)
		if (strcmp(d->opts.secrets[i].merchant_id, merchant_id) == 0 && strcmp(d->opts.secrets[i].url, url) == 0)
			return d->opts.secrets[i].secret;
	return NULL;
}

/* libcurl's socket for each address it connects to (after its own,
 * asynchronous resolution): refused for a loopback, private or link-local
 * address unless allowed. The address checked is the one connected to, so
 * a DNS answer cannot change between the check and the connection. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	job *j = arg;
	if (purpose != CURLSOCKTYPE_IPCXN || !webhook_address_allowed(&a->addr, j->allow_private)) {
		j->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* Why an attempt that ended with curl's code c failed. */
static void attempt_error(const job *j, CURLcode c, char *out, size_t outlen)
{
	if (j->refused && c != CURLE_OK)
		snprintf(out, outlen, "host %s resolves to a loopback, private or link-local address (set "
				      "webhooks.allow_private_targets to allow it)", j->host);
	else
		snprintf(out, outlen, "%s", j->error[0] ? j->error : curl_easy_strerror(c));
}

/* Build the signed request. 0, or a negative code with j->error set. */
static int prepare_request(job *j, const char *url, const char *secret, bool allow_private, uint32_t timeout_ms)
{
	char sig[128], line[256];
	int r = webhook_check_url(url, j->error, sizeof(j->error));
	if (r < 0)
		return r;
	j->allow_private = allow_private;
	int64_t ts = (int64_t)time(NULL);
	if ((r = webhook_sign(secret, j->event_id, ts, j->payload, strlen(j->payload), sig, sizeof(sig))) < 0) {
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
	j->easy = curl_easy_init();
	if (!j->easy)
		return PW_ENOMEM;
	curl_easy_setopt(j->easy, CURLOPT_URL, url);
	curl_easy_setopt(j->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(j->easy, CURLOPT_OPENSOCKETDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->headers);
	curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->payload);
	curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(j->payload));
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* a new connection per attempt: on a reused connection the server
	 * closed, libcurl would silently send the request again, and one
	 * recorded attempt would reach the merchant twice */
	curl_easy_setopt(j->easy, CURLOPT_FORBID_REUSE, 1L);
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

static void job_free(job *j)
{
	if (!j)
		return;
	if (j->easy)
		curl_easy_cleanup(j->easy);
	curl_slist_free_all(j->headers);
	free(j->payload);
	free(j);
}

int webhook_dispatcher_create(const webhook_options *opts, webhook_dispatcher **ret)
{
	webhook_dispatcher *d = calloc(1, sizeof(*d));
	if (!d)
		return PW_ENOMEM;
	d->opts = *opts;
	d->multi = curl_multi_init();
	d->jobs = calloc(opts->max_in_flight ? opts->max_in_flight : 1, sizeof(job *));
	if (!d->multi || !d->jobs) {
		curl_multi_cleanup(d->multi);
		free(d->jobs);
		free(d);
		return PW_ENOMEM;
	}
	*ret = d;
	return 0;
}

static void release_all(webhook_dispatcher *d);

void webhook_dispatcher_destroy(webhook_dispatcher *d)
{
	if (!d)
		return;
	release_all(d);
	PQfinish(d->pg);
	curl_multi_cleanup(d->multi);
	free(d->jobs);
	free(d);
}

void webhook_dispatcher_wake(webhook_dispatcher *d)
{
	curl_multi_wakeup(d->multi);
}

static bool exec_params(webhook_dispatcher *d, const char *sql, int n, const char *const *params, PGresult **ret)
{
	PGresult *res = PQexecParams(d->pg, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		text_one_line(msg);
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

static const char claim_sql[] =
	"WITH c AS ("
	" SELECT x.id, x.next_attempt_at FROM webhook_endpoints e CROSS JOIN LATERAL ("
	"  SELECT d.id, d.next_attempt_at FROM webhook_deliveries d"
	"  WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()"
	"  AND (d.locked_until IS NULL OR d.locked_until < now())"
	"  ORDER BY d.next_attempt_at"
	"  LIMIT greatest(0, $1::int - (SELECT count(*) FROM webhook_deliveries l WHERE l.endpoint_id = e.id"
	"   AND l.status = 'pending' AND l.locked_until >= now()))"
	"  FOR UPDATE OF d SKIP LOCKED) x"
	" WHERE e.active AND e.disabled_at IS NULL ORDER BY x.next_attempt_at LIMIT $2::int)"
	" UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => $3::int)"
	" FROM c, webhook_endpoints e, webhook_events ev"
	" WHERE d.id = c.id AND e.id = d.endpoint_id AND ev.id = d.event_id"
	" RETURNING d.id, d.attempts, e.id, e.merchant_id, e.url, ev.id, ev.payload";

static void release_lease(webhook_dispatcher *d, uint64_t delivery_id)
{
	char id[24];
	snprintf(id, sizeof(id), "%llu", (unsigned long long)delivery_id);
	const char *params[1] = { id };
	if (d->pg)
		exec_params(d, "UPDATE webhook_deliveries SET locked_until = NULL WHERE id = $1", 1, params, NULL);
}

static void finish_failed_start(webhook_dispatcher *d, job *j);

/* Claim due deliveries and start them. */
static void claim(webhook_dispatcher *d)
{
	size_t room = d->opts.max_in_flight - d->n_jobs;
	if (!room)
		return;
	char per[16], lim[16], lease[16];
	snprintf(per, sizeof(per), "%u", d->opts.max_per_endpoint);
	snprintf(lim, sizeof(lim), "%zu", room);
	snprintf(lease, sizeof(lease), "%u", d->opts.timeout_ms / 1000 + 2); /* outlives the request */
	const char *params[3] = { per, lim, lease };
	PGresult *res;
	if (!exec_params(d, claim_sql, 3, params, &res))
		return;
	for (int i = 0; i < PQntuples(res); i++) {
		job *j = calloc(1, sizeof(*j));
		if (!j)
			break;
		uint64_t attempts = 0;
		if (parse_u64(PQgetvalue(res, i, 0), UINT64_MAX, &j->delivery_id) < 0 ||
		    parse_u64(PQgetvalue(res, i, 1), INT32_MAX, &attempts) < 0 ||
		    parse_u64(PQgetvalue(res, i, 2), UINT64_MAX, &j->endpoint_id) < 0) {
			log_error(PW_EDB, "%s: a claimed delivery has unreadable ids; its lease expires", d->opts.name);
			job_free(j);
			continue;
		}
		j->attempts = (int)attempts;
		snprintf(j->merchant_id, sizeof(j->merchant_id), "%s", PQgetvalue(res, i, 3));
		const char *url = PQgetvalue(res, i, 4);
		webhook_url_host(url, j->host, sizeof(j->host));
		snprintf(j->event_id, sizeof(j->event_id), "%s", PQgetvalue(res, i, 5));
		j->payload = strdup(PQgetvalue(res, i, 6));
		j->retry_after_s = -1;
		const char *secret = find_secret(d, j->merchant_id, url);
		if (!secret || !j->payload) {
			log_error(PW_ECONFIG, "%s: no secret for merchant %s endpoint %s in this config; leaving it",
				  d->opts.name, j->merchant_id, j->host);
			release_lease(d, j->delivery_id);
			job_free(j);
			continue;
		}
		j->start_ms = pw_mono_ms();
		int r = prepare_request(j, url, secret, d->opts.allow_private_targets, d->opts.timeout_ms);
		if (r < 0 || curl_multi_add_handle(d->multi, j->easy) != CURLM_OK) {
			/* recorded as a failed attempt, rescheduled like any other */
			finish_failed_start(d, j);
			continue;
		}
		d->jobs[d->n_jobs++] = j;
	}
	PQclear(res);
}

/* Record the attempt and move the delivery on, in one transaction. */
static void finish(webhook_dispatcher *d, job *j, long status, const char *error)
{
	char id[24], ep[24], st[16], lat[16], delay[32];
	snprintf(id, sizeof(id), "%llu", (unsigned long long)j->delivery_id);
	snprintf(ep, sizeof(ep), "%llu", (unsigned long long)j->endpoint_id);
	snprintf(st, sizeof(st), "%ld", status);
	snprintf(lat, sizeof(lat), "%lld", (long long)(pw_mono_ms() - j->start_ms));
	int attempt = j->attempts + 1;
	bool ok = status >= 200 && status < 300 && !error;
	if (!d->pg)
		return;
	exec_params(d, "BEGIN", 0, NULL, NULL);
	const char *ap[4] = { id, status ? st : NULL, lat, ok ? NULL : error };
	exec_params(d, "INSERT INTO webhook_attempts (delivery_id, http_status, latency_ms, error) VALUES ($1, $2, $3, $4)", 4,
		    ap, NULL);
	if (ok) {
		const char *p[2] = { id, st };
		exec_params(d, "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = now(),"
			       " locked_until = NULL, last_status = $2, last_error = NULL WHERE id = $1", 2, p, NULL);
		log_emit(LOG_LEVEL_INFO, NULL, -1, "%s: %s delivered to %s (merchant %s, attempt %d, HTTP %ld, %s ms)",
			 d->opts.name, j->event_id, j->host, j->merchant_id, attempt, status, lat);
	} else if (status == 410) {
		const char *p1[1] = { ep };
		exec_params(d, "UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = '410 Gone' WHERE id = $1", 1,
			    p1, NULL);
		const char *p2[2] = { id, error };
		exec_params(d, "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1, locked_until = NULL,"
			       " last_status = 410, last_error = $2 WHERE id = $1", 2, p2, NULL);
		log_emit(LOG_LEVEL_ERROR, NULL, -1, "%s: endpoint %s of merchant %s answered 410 Gone: disabled", d->opts.name,
			 j->host, j->merchant_id);
	} else if ((size_t)attempt >= d->opts.n_retry_schedule) {
		const char *p[3] = { id, status ? st : NULL, error };
		exec_params(d, "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1, locked_until = NULL,"
			       " last_status = $2, last_error = $3 WHERE id = $1", 3, p, NULL);
		log_emit(LOG_LEVEL_ERROR, NULL, -1, "%s: %s to %s (merchant %s) failed for good after %d attempts: %s",
			 d->opts.name, j->event_id, j->host, j->merchant_id, attempt, error);
	} else {
		double secs = d->opts.retry_schedule_s[attempt];
		if (secs > 0) /* jitter, +-10 % */
			secs *= 0.9 + 0.2 * ((double)rand() / RAND_MAX);
		if ((status == 429 || status == 503) && j->retry_after_s >= 0)
			secs = j->retry_after_s > 86400 ? 86400 : (double)j->retry_after_s;
		snprintf(delay, sizeof(delay), "%.3f", secs);
		const char *p[4] = { id, status ? st : NULL, error, delay };
		exec_params(d, "UPDATE webhook_deliveries SET attempts = attempts + 1, locked_until = NULL, last_status = $2,"
			       " last_error = $3, next_attempt_at = now() + make_interval(secs => $4::double precision)"
			       " WHERE id = $1", 4, p, NULL);
		log_warn("%s: %s to %s (merchant %s) attempt %d failed: %s; next attempt in %.1f s", d->opts.name,
			 j->event_id, j->host, j->merchant_id, attempt, error, secs);
	}
	exec_params(d, "COMMIT", 0, NULL, NULL);
}

static void finish_failed_start(webhook_dispatcher *d, job *j)
{
	finish(d, j, 0, j->error[0] ? j->error : "cannot start the request");
	job_free(j);
}

static void collect_done(webhook_dispatcher *d)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		job *j = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		long status = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		char why[CURL_ERROR_SIZE + 64];
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
		finish(d, j, status, error);
		for (size_t i = 0; i < d->n_jobs; i++)
			if (d->jobs[i] == j) {
				d->jobs[i] = d->jobs[--d->n_jobs];
				break;
			}
		job_free(j);
	}
}

/* Give back what is in flight (shutdown, lost connection): the leases are
 * released so another dispatcher (or the next start) sends them again. */
static void release_all(webhook_dispatcher *d)
{
	for (size_t i = 0; i < d->n_jobs; i++) {
		curl_multi_remove_handle(d->multi, d->jobs[i]->easy);
		release_lease(d, d->jobs[i]->delivery_id);
		job_free(d->jobs[i]);
	}
	d->n_jobs = 0;
}

static bool connect_pg(webhook_dispatcher *d)
{
	char msg[512];
	d->pg = pg_open(d->opts.dsn, "paywatch-dispatcher", msg, sizeof(msg));
	if (!d->pg) {
		log_warn("%s: postgres: cannot connect: %s", d->opts.name, msg);
		return false;
	}
	PGresult *res = PQexec(d->pg, "LISTEN paywatch_webhooks");
	PQclear(res);
	return true;
}

int webhook_dispatcher_run(webhook_dispatcher *d, atomic_bool *stop)
{
	int backoff_ms = 500;
	while (!atomic_load(stop)) {
		if (!d->pg && !connect_pg(d)) {
			curl_multi_poll(d->multi, NULL, 0, backoff_ms, NULL);
			backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
			continue;
		}
		backoff_ms = 500;
		claim(d);
		int running = 0;
		curl_multi_perform(d->multi, &running);
		collect_done(d);
		struct curl_waitfd pgfd = { .fd = PQsocket(d->pg), .events = CURL_WAIT_POLLIN };
		curl_multi_poll(d->multi, &pgfd, pgfd.fd >= 0 ? 1 : 0, d->n_jobs ? 50 : 500, NULL);
		curl_multi_perform(d->multi, &running);
		collect_done(d);
		if (!PQconsumeInput(d->pg) || PQstatus(d->pg) != CONNECTION_OK) {
			log_warn("%s: postgres connection lost; reconnecting", d->opts.name);
			PQfinish(d->pg);
			d->pg = NULL;
			release_all(d);
			continue;
		}
		PGnotify *n;
		while ((n = PQnotifies(d->pg)) != NULL)
			PQfreemem(n); /* only a wake-up */
	}
	release_all(d);
	return 0;
}

int webhook_send_once(const char *url, const char *secret, const char *msg_id, const char *body, bool allow_private,
		      uint32_t timeout_ms, long *ret_status, char *err, size_t errlen)
{
	job *j = calloc(1, sizeof(*j));
	if (!j)
		return PW_ENOMEM;
	snprintf(j->event_id, sizeof(j->event_id), "%s", msg_id);
	webhook_url_host(url, j->host, sizeof(j->host));
	j->payload = strdup(body);
	j->retry_after_s = -1;
	int r = j->payload ? prepare_request(j, url, secret, allow_private, timeout_ms) : PW_ENOMEM;
	if (r == 0) {
		CURLcode c = curl_easy_perform(j->easy);
		long status = 0;
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
		*ret_status = status;
		if (c != CURLE_OK && !status) {
			attempt_error(j, c, err, errlen);
			r = PW_ECONN;
		}
	} else {
		snprintf(err, errlen, "%s", j->error);
	}
	job_free(j);
	return r;
}
