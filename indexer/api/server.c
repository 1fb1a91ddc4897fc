/* server.c: the HTTP API (server.h) on libmicrohttpd. libmicrohttpd rather
 * than libwebsockets' server: it is an HTTP/1.1 server library first
 * (keep-alive, pipelining, a per-connection memory pool that bounds the
 * request line and headers, connection limits, idle timeouts, a thread
 * pool), where libwebsockets' HTTP serving is a side of a websocket
 * library. */
#include "server.h"
#include "api_pg.h"
#include "longpoll.h"
#include "routes.h"
#include "b64url.h"
#include "clock.h"
#include "idfmt.h"
#include "log.h"
#include "metrics.h"
#include "parse.h"
#include "pw_error.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Request line and headers, and the response headers, share one pool per
 * connection: 8 KiB of request plus room for the answer's headers. */
#define API_CONN_MEMORY (16 * 1024)
#define API_IDLE_TIMEOUT_S 10
#define API_REQUEST_DEADLINE_S 10
#define API_BODY_MAX (64 * 1024)
#define API_HEAD_MAX (8 * 1024) /* the request line and headers */

typedef struct bucket {
	double tokens;
	int64_t last_ms;
} bucket;

/* One request, from its headers to its completion (freed by
 * request_completed): a long-poll keeps its query here while parked. */
typedef struct api_request {
	const char *route;  /* the route's template, for the metrics */
	unsigned status;    /* the status of the answer queued */
	int64_t started_ms;
	size_t body_bytes;
	bool feed_started;
	bool parked;        /* suspended by a long-poll (resumed: try the watcher's events first) */
	api_event_query feed;
	char merchant[PW_NAME_MAX];
	int64_t deadline_ms;
} api_request;

struct conn_watch;

struct api_server {
	const pw_config *cfg;
	const cfg_api *api;
	bool metrics_only; /* `dispatch`: /metrics and /healthz only */
	char *cert_pem, *key_pem; /* TLS (api.tls), read at start */
	struct conn_watch *conns; /* every open connection, under lock */
	pthread_t reaper;   /* drops connections past their request deadline */
	bool reaper_started;
	atomic_bool stopping;
	uint64_t reaped;
	struct MHD_Daemon *d;
	api_longpoll *lp; /* the parked long-polls of /v1/events */
	pthread_mutex_t lock;
	api_pg_pool *pg;  /* the API's own connections */
	bucket *buckets;  /* per key, under lock */
};

/* ---- slow clients ---- */

/* Per connection (MHD's socket context): the time by which its request
 * must be in whole. MHD's idle timeout restarts with every byte, so a
 * client that sends one byte a second would hold a connection forever;
 * the reaper shuts down a connection whose request line, headers and body
 * have not all arrived API_REQUEST_DEADLINE_S after the connection opened
 * or its previous request ended. */
typedef struct conn_watch {
	int fd;
	int64_t deadline_ms; /* 0: a request is being handled (or parked) */
	struct conn_watch *prev, *next;
} conn_watch;

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	api_server *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		conn_watch *w = calloc(1, sizeof(*w));
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!w || !ci) {
			free(w);
			return;
		}
		w->fd = ci->connect_fd;
		w->deadline_ms = pw_mono_ms() + API_REQUEST_DEADLINE_S * 1000;
		pthread_mutex_lock(&s->lock);
		w->next = s->conns;
		if (s->conns)
			s->conns->prev = w;
		s->conns = w;
		pthread_mutex_unlock(&s->lock);
		*socket_context = w;
		return;
	}
	conn_watch *w = *socket_context;
	if (!w)
		return;
	pthread_mutex_lock(&s->lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		s->conns = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&s->lock);
	free(w);
	*socket_context = NULL;
}

/* Set conn's deadline (0: none while its request is handled). */
static void watch_deadline(api_server *s, struct MHD_Connection *conn, int64_t deadline_ms)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	conn_watch *w = ci ? ci->socket_context : NULL;
	if (!w)
		return;
	pthread_mutex_lock(&s->lock);
	w->deadline_ms = deadline_ms;
	pthread_mutex_unlock(&s->lock);
}

static void *reaper_main(void *arg)
{
	api_server *s = arg;
	while (!atomic_load(&s->stopping)) {
		int64_t now = pw_mono_ms();
		pthread_mutex_lock(&s->lock);
		for (conn_watch *w = s->conns; w; w = w->next)
			if (w->deadline_ms && now >= w->deadline_ms) {
				shutdown(w->fd, SHUT_RDWR); /* MHD sees the end and closes it */
				w->deadline_ms = 0;
				s->reaped++;
			}
		pthread_mutex_unlock(&s->lock);
		nanosleep(&(struct timespec){ .tv_nsec = 250 * 1000000L }, NULL);
	}
	return NULL;
}

/* The OpenAPI document as JSON (api/openapi.yaml, built in by
 * cmake/openapi_to_c.py). */
extern const char api_openapi_json[];

/* ---- responses ---- */

/* The request an MHD thread is handling (set by on_request), so that the
 * status of the answer it queues is recorded for the metrics. */
static _Thread_local api_request *current;

/* Queue body (malloc'd, NUL-terminated: freed here) with its content type
 * and an optional extra header. */
static enum MHD_Result send_body(struct MHD_Connection *conn, unsigned status, char *body, const char *content_type,
				 const char *extra_name, const char *extra_value)
{
	struct MHD_Response *res = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!res) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(res, "Content-Type", content_type);
	MHD_add_response_header(res, "Cache-Control", "no-store");
	if (extra_name)
		MHD_add_response_header(res, extra_name, extra_value);
	enum MHD_Result r = MHD_queue_response(conn, status, res);
	MHD_destroy_response(res);
	if (current)
		current->status = status;
	return r;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, char *body, const char *extra_name,
				 const char *extra_value)
{
	return send_body(conn, status, body, "application/json", extra_name, extra_value);
}

/* {"error": {"code", "message", "param"}}; param NULL: none. */
static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *param,
				  const char *extra_name, const char *extra_value, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *param,
				  const char *extra_name, const char *extra_value, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	if (param)
		cJSON_AddStringToObject(e, "param", param);
	else
		cJSON_AddNullToObject(e, "param");
	char *body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!body)
		return MHD_NO;
	return send_json(conn, status, body, extra_name, extra_value);
}

#define BAD_PARAM(conn, param, ...) send_error(conn, 400, "invalid_parameter", param, NULL, NULL, __VA_ARGS__)

/* ---- keys and limits ---- */

int api_key_new(char *key, size_t keylen, char sha256_hex[65])
{
	unsigned char raw[32];
	if (RAND_bytes(raw, sizeof(raw)) != 1 || keylen < 64)
		return PW_EIO;
	char b64[48];
	b64url_encode(raw, sizeof(raw), b64, sizeof(b64));
	snprintf(key, keylen, "pwk_%s", b64);
	OPENSSL_cleanse(raw, sizeof(raw));
	unsigned char digest[32];
	unsigned int dlen = 0;
	if (EVP_Digest(key, strlen(key), digest, &dlen, EVP_sha256(), NULL) != 1)
		return PW_EIO;
	static const char hexd[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		sha256_hex[2 * i] = hexd[digest[i] >> 4];
		sha256_hex[2 * i + 1] = hexd[digest[i] & 15];
	}
	sha256_hex[64] = '\0';
	return 0;
}

/* The configured key whose SHA-256 matches `Authorization: Bearer KEY`,
 * or NULL. Every key is compared, in constant time, whatever matched. */
static const cfg_api_key *authenticate(api_server *s, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncmp(h, "Bearer ", 7) != 0)
		return NULL;
	const char *key = h + 7;
	size_t n = strlen(key);
	if (n == 0 || n > 256)
		return NULL;
	unsigned char digest[32];
	unsigned int dlen = 0;
	if (EVP_Digest(key, n, digest, &dlen, EVP_sha256(), NULL) != 1)
		return NULL;
	const cfg_api_key *found = NULL;
	for (size_t i = 0; i < s->api->n_keys; i++)
		if (CRYPTO_memcmp(digest, s->api->keys[i].sha256, 32) == 0)
			found = &s->api->keys[i];
	return found;
}

/* Token bucket of key k: true to go on; false with *retry_s to wait. */
static bool take_token(api_server *s, size_t k, unsigned *retry_s)
{
	int64_t now = pw_mono_ms();
	pthread_mutex_lock(&s->lock);
	bucket *b = &s->buckets[k];
	double rate = s->api->rate_per_s, burst = s->api->burst;
	b->tokens += (double)(now - b->last_ms) * rate / 1000.0;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_ms = now;
	bool ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	else
		*retry_s = (unsigned)((1.0 - b->tokens) / rate) + 1;
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* Answer a query that failed: 503 with Retry-After; the reason (already
 * scrubbed of the DSN's password) goes to the log only. */
static enum MHD_Result query_failed(struct MHD_Connection *conn, const char *what, const char *err)
{
	log_emit(LOG_LEVEL_WARN, "api", -1, "%s: postgres: %s", what, err);
	return send_error(conn, 503, "unavailable", NULL, "Retry-After", "1", "the database did not answer: try again");
}

/* ---- query parameters ---- */

typedef struct args_check {
	const char *const *allowed;
	const char *bad;      /* the first parameter not allowed */
	bool repeated;
	char seen[16][24];
	size_t n_seen;
} args_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	(void)value;
	args_check *a = cls;
	bool ok = false;
	for (const char *const *p = a->allowed; *p && !ok; p++)
		ok = strcmp(*p, key) == 0;
	for (size_t i = 0; ok && i < a->n_seen; i++)
		if (strcmp(a->seen[i], key) == 0) {
			a->repeated = true;
			ok = false;
		}
	if (!ok) {
		a->bad = key;
		return MHD_NO;
	}
	if (a->n_seen < 16)
		snprintf(a->seen[a->n_seen++], sizeof(a->seen[0]), "%s", key);
	return MHD_YES;
}

/* A request whose parameters are not all in allowed (or one given twice)
 * was answered 400 naming it: true. */
static bool refuse_args(struct MHD_Connection *conn, const char *const *allowed, enum MHD_Result *ret)
{
	args_check a = { .allowed = allowed };
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, check_arg, &a);
	if (!a.bad)
		return false;
	*ret = BAD_PARAM(conn, a.bad, "%s: %s", a.bad, a.repeated ? "given twice" : "not a parameter of this route");
	return true;
}


/* A hash or transaction id in any family's form, as the table stores it. */
static bool normalize_hash(const api_server *s, const char *text, char *out)
{
	for (size_t i = 0; i < s->cfg->n_chains; i++) {
		uint8_t fam = s->cfg->chains[i].family->family;
		char lower[PW_HASH_TEXT_MAX];
		size_t n = strlen(text);
		if (n >= sizeof(lower))
			return false;
		for (size_t k = 0; k <= n; k++)
			lower[k] = (char)(text[k] >= 'A' && text[k] <= 'F' ? text[k] + 32 : text[k]);
		if (lower[0] == '0' && lower[1] == 'X')
			lower[1] = 'x';
		uint8_t bytes[32];
		if (pw_parse_hash(fam, lower, bytes, 32) == 0) {
			pw_format_hash(fam, bytes, 32, out);
			return true;
		}
	}
	return false;
}

/* An address as a config may write it (any letter case for EVM, T... for
 * Tron), in the stored form; chain NULL: any configured chain's family. */
static bool normalize_address(const api_server *s, const char *chain, const char *text, char *out)
{
	for (size_t i = 0; i < s->cfg->n_chains; i++) {
		const cfg_chain *c = &s->cfg->chains[i];
		if (chain && strcmp(c->name, chain) != 0)
			continue;
		pw_addr a;
		char why[200];
		if (c->family->parse_address(text, &a, why, sizeof(why)) == 0) {
			pw_format_address(c->family->family, &a, out);
			return true;
		}
	}
	return false;
}

/* ---- routes ---- */

/* The merchant a request reads, into *ret: a merchant key's own (asking
 * for another with merchant_id= is 403), or an admin key's merchant_id=
 * (NULL: every merchant). false when answered (403, 400). */
static bool scope_merchant(struct MHD_Connection *conn, const cfg_api_key *key, const char **ret, enum MHD_Result *answered)
{
	const char *m = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "merchant_id");
	if (key->merchant_id[0]) {
		if (m && strcmp(m, key->merchant_id) != 0) {
			*answered = send_error(conn, 403, "forbidden", "merchant_id", NULL, NULL,
					       "merchant_id: this key may read merchant %s only", key->merchant_id);
			return false;
		}
		m = key->merchant_id;
	} else if (m && !config_valid_id(m)) {
		*answered = BAD_PARAM(conn, "merchant_id", "merchant_id: not a merchant id (1..63 of A-Z a-z 0-9 . _ -)");
		return false;
	}
	*ret = m;
	return true;
}

static enum MHD_Result list_payments(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key)
{
	enum MHD_Result refused;
	api_payment_query q = { .limit = 100 };
	const char *v;
#define ARG(name) MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name)
	if (!scope_merchant(conn, key, &q.merchant_id, &refused))
		return refused;
	if ((q.chain = ARG("chain")) != NULL) {
		bool known = false;
		for (size_t i = 0; i < s->cfg->n_chains && !known; i++)
			known = strcmp(s->cfg->chains[i].name, q.chain) == 0;
		if (!known)
			return BAD_PARAM(conn, "chain", "chain: no chain named \"%.64s\"", q.chain);
	}
	if ((q.status = ARG("status")) != NULL && strcmp(q.status, "confirmed") != 0 && strcmp(q.status, "reverted") != 0)
		return BAD_PARAM(conn, "status", "status: must be confirmed or reverted");
	char tx[PW_HASH_TEXT_MAX], to[PW_ADDR_TEXT_MAX], from[PW_ADDR_TEXT_MAX];
	if ((v = ARG("tx_hash")) != NULL) {
		if (!normalize_hash(s, v, tx))
			return BAD_PARAM(conn, "tx_hash", "tx_hash: not a transaction hash (0x + 64 hex digits, or 64 hex digits on Tron)");
		q.tx_hash = tx;
	}
	if ((v = ARG("to")) != NULL) {
		if (!normalize_address(s, q.chain, v, to))
			return BAD_PARAM(conn, "to", "to: not an address of %s", q.chain ? q.chain : "any configured chain");
		q.to_address = to;
	}
	if ((v = ARG("from")) != NULL) {
		if (!normalize_address(s, q.chain, v, from))
			return BAD_PARAM(conn, "from", "from: not an address of %s", q.chain ? q.chain : "any configured chain");
		q.from_address = from;
	}
	char token[PW_ADDR_TEXT_MAX];
	if ((v = ARG("token")) != NULL) {
		/* a configured token's symbol, or an address (stored form) */
		bool symbol = false;
		for (size_t i = 0; i < s->cfg->n_chains && !symbol; i++)
			for (size_t k = 0; k < s->cfg->chains[i].n_tokens && !symbol; k++)
				symbol = strcmp(s->cfg->chains[i].tokens[k].symbol, v) == 0;
		if (symbol)
			q.token = v;
		else if (normalize_address(s, q.chain, v, token))
			q.token = token;
		else
			return BAD_PARAM(conn, "token", "token: neither a configured token's symbol nor an address");
	}
	static const char *const amounts[2] = { "min_amount", "max_amount" };
	for (int k = 0; k < 2; k++) {
		if ((v = ARG(amounts[k])) != NULL && !api_decimal_ok(v))
			return BAD_PARAM(conn, amounts[k], "%s: not a decimal number (digits, optionally . and digits; token units)",
					 amounts[k]);
		*(k ? &q.max_amount : &q.min_amount) = v;
	}
	static const char *const times[2] = { "since", "until" };
	for (int k = 0; k < 2; k++) {
		if ((v = ARG(times[k])) != NULL && !api_time_ok(v))
			return BAD_PARAM(conn, times[k], "%s: not an RFC 3339 time (2026-11-29T20:51:17Z)", times[k]);
		*(k ? &q.until : &q.since) = v;
	}
	if ((v = ARG("limit")) != NULL) {
		uint64_t n;
		if (parse_u64(v, API_PAGE_MAX, &n) < 0 || n == 0)
			return BAD_PARAM(conn, "limit", "limit: must be an integer 1..%d", API_PAGE_MAX);
		q.limit = (unsigned)n;
	}
	if ((v = ARG("order")) != NULL) {
		if (strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0)
			return BAD_PARAM(conn, "order", "order: must be asc or desc");
		q.ascending = strcmp(v, "asc") == 0;
	}
	if ((v = ARG("cursor")) != NULL) {
		if (api_cursor_decode(v, &q.cursor) < 0)
			return BAD_PARAM(conn, "cursor", "cursor: not a cursor this API gave out");
		q.has_cursor = true;
	}
#undef ARG
	char err[420] = "";
	char *json = NULL;
	if (api_pg_list_payments(s->pg, &q, &json, err, sizeof(err)) < 0)
		return query_failed(conn, "GET /v1/payments", err);
	return send_json(conn, 200, json, NULL, NULL);
}

static enum MHD_Result get_payment(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, const char *idtext)
{
	uint64_t id;
	if (parse_u64(idtext, INT64_MAX, &id) < 0)
		return send_error(conn, 404, "not_found", NULL, NULL, NULL, "no payment %.40s", idtext);
	char err[420] = "";
	char *json = NULL;
	int r = api_pg_get_payment(s->pg, (int64_t)id, key->merchant_id[0] ? key->merchant_id : NULL, &json, err,
				   sizeof(err));
	if (r == PW_ENOTFOUND) /* another merchant's payment is not found either: its existence is not told */
		return send_error(conn, 404, "not_found", NULL, NULL, NULL, "no payment %llu", (unsigned long long)id);
	if (r < 0)
		return query_failed(conn, "GET /v1/payments/{id}", err);
	return send_json(conn, 200, json, NULL, NULL);
}

/* GET /v1/webhooks/deliveries?status=&merchant_id=&limit=&cursor= */
static enum MHD_Result list_deliveries(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key)
{
	enum MHD_Result refused;
	api_delivery_query q = { .limit = 100 };
	if (!scope_merchant(conn, key, &q.merchant_id, &refused))
		return refused;
	const char *v;
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "status")) != NULL) {
		if (strcmp(v, "pending") != 0 && strcmp(v, "delivered") != 0 && strcmp(v, "failed") != 0)
			return BAD_PARAM(conn, "status", "status: must be pending, delivered or failed");
		q.status = v;
	}
	uint64_t n;
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit")) != NULL) {
		if (parse_u64(v, API_PAGE_MAX, &n) < 0 || n == 0)
			return BAD_PARAM(conn, "limit", "limit: must be an integer 1..%d", API_PAGE_MAX);
		q.limit = (unsigned)n;
	}
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "cursor")) != NULL) {
		if (api_delivery_cursor_decode(v, &q.before_id) < 0)
			return BAD_PARAM(conn, "cursor", "cursor: not a cursor this API gave out");
		q.has_cursor = true;
	}
	char err[420] = "";
	char *json = NULL;
	if (api_pg_list_deliveries(s->pg, &q, &json, err, sizeof(err)) < 0)
		return query_failed(conn, "GET /v1/webhooks/deliveries", err);
	return send_json(conn, 200, json, NULL, NULL);
}

/* POST /v1/webhooks/deliveries/{id}/redeliver */
static enum MHD_Result redeliver(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, const char *idtext)
{
	uint64_t id;
	if (parse_u64(idtext, INT64_MAX, &id) < 0)
		return send_error(conn, 404, "not_found", NULL, NULL, NULL, "no delivery %.40s", idtext);
	char err[420] = "";
	char *json = NULL;
	int r = api_pg_redeliver(s->pg, (int64_t)id, key->merchant_id[0] ? key->merchant_id : NULL, &json, err,
				 sizeof(err));
	if (r == PW_ENOTFOUND)
		return send_error(conn, 404, "not_found", NULL, NULL, NULL, "no delivery %llu", (unsigned long long)id);
	if (r == PW_EREFUSED)
		return send_error(conn, 409, "conflict", NULL, NULL, NULL,
				  "delivery %llu is pending already: it will be sent", (unsigned long long)id);
	if (r < 0)
		return query_failed(conn, "POST /v1/webhooks/deliveries/{id}/redeliver", err);
	return send_json(conn, 200, json, NULL, NULL);
}

#define FEED_WAIT_MAX_S 60

/* GET /v1/events?after=&limit=&wait=&merchant_id=: a page of the feed; with
 * wait, an empty page parks the request (longpoll.h) until an event may be
 * there or the wait is over. Called again when resumed. */
static enum MHD_Result list_events(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, api_request *rq)
{
	if (!rq->feed_started) {
		enum MHD_Result refused;
		const char *m = NULL, *v;
		if (!scope_merchant(conn, key, &m, &refused))
			return refused;
		rq->feed = (api_event_query){ .limit = 100 };
		if (m) {
			snprintf(rq->merchant, sizeof(rq->merchant), "%s", m);
			rq->feed.merchant_id = rq->merchant;
		}
		if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after")) != NULL) {
			if (strcmp(v, "now") == 0)
				rq->feed.after_now = true;
			else if (api_feed_cursor_decode(v, &rq->feed.after) < 0)
				return BAD_PARAM(conn, "after", "after: not a cursor this API gave out (or \"now\")");
		}
		uint64_t n = 100, wait = 0;
		if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit")) != NULL &&
		    (parse_u64(v, API_PAGE_MAX, &n) < 0 || n == 0))
			return BAD_PARAM(conn, "limit", "limit: must be an integer 1..%d", API_PAGE_MAX);
		if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "wait")) != NULL &&
		    parse_u64(v, FEED_WAIT_MAX_S, &wait) < 0)
			return BAD_PARAM(conn, "wait", "wait: must be an integer 0..%d (seconds)", FEED_WAIT_MAX_S);
		rq->feed.limit = (unsigned)n;
		rq->deadline_ms = pw_mono_ms() + (int64_t)wait * 1000;
		rq->feed_started = true;
	}
	char err[420] = "";
	for (int round = 0;; round++) {
		char *json = NULL;
		unsigned got = 0;
		api_feed_cursor next;
		/* resumed: the events the watcher read for every parked request */
		bool answered = rq->parked && api_longpoll_answer(s->lp, &rq->feed, &json, &got, &next);
		if (rq->parked)
			metrics_add("paywatch_api_longpoll_wakeups_total", answered ? "source=\"shared\"" : "source=\"query\"", 1);
		rq->parked = false;
		if (!answered && api_pg_list_events(s->pg, &rq->feed, &got, &next, &json, err, sizeof(err)) < 0)
			return query_failed(conn, "GET /v1/events", err);
		/* an empty page within the wait: from here on, after its cursor
		 * (after=now is resolved once, by the first query) */
		if (got > 0 || pw_mono_ms() >= rq->deadline_ms || round == 3)
			return send_json(conn, 200, json, NULL, NULL);
		free(json);
		rq->feed.after = next;
		rq->feed.after_now = false;
		rq->parked = true; /* (this thread handles the resumed call: after this one returns) */
		if (api_longpoll_park(s->lp, conn, &next, rq->deadline_ms))
			return MHD_YES; /* suspended: answered when resumed */
		rq->parked = false;
		/* the head has passed the cursor already: query again */
	}
}

/* "host:port" of a masked endpoint URL (scheme, host, port, then a masked path). */
static void endpoint_host(const char *url, char *out, size_t n)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t len = strcspn(p, "/?#");
	snprintf(out, n, "%.*s", (int)len, p);
}

static void copy_number(cJSON *to, const char *key, const cJSON *report, const char *from)
{
	const cJSON *v = report ? cJSON_GetObjectItemCaseSensitive(report, from) : NULL;
	if (cJSON_IsNumber(v))
		cJSON_AddNumberToObject(to, key, v->valuedouble);
	else
		cJSON_AddNullToObject(to, key);
}

/* GET /v1/chains: per configured chain, what run last published. */
static enum MHD_Result list_chains(api_server *s, struct MHD_Connection *conn)
{
	char err[420] = "";
	char *json = NULL;
	if (api_pg_chain_reports(s->pg, &json, err, sizeof(err)) < 0)
		return query_failed(conn, "GET /v1/chains", err);
	cJSON *reports = cJSON_Parse(json);
	free(json);
	cJSON *out = cJSON_CreateObject();
	cJSON *data = cJSON_AddArrayToObject(out, "data");
	for (size_t i = 0; i < s->cfg->n_chains; i++) {
		const cfg_chain *c = &s->cfg->chains[i];
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(reports, c->name);
		const cJSON *rp = cJSON_GetObjectItemCaseSensitive(e, "report");
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", c->name);
		cJSON_AddStringToObject(o, "kind", c->family->kind);
		cJSON_AddNumberToObject(o, "chain_id", (double)c->chain_id);
		copy_number(o, "head", rp, "head");
		copy_number(o, "checkpoint", rp, "checkpoint");
		copy_number(o, "confirmed_height", rp, "confirmed_height");
		copy_number(o, "lag_blocks", rp, "lag_blocks");
		copy_number(o, "lag_seconds", rp, "lag_seconds");
		const cJSON *ep = cJSON_GetObjectItemCaseSensitive(rp, "endpoint");
		if (cJSON_IsString(ep)) {
			char host[256];
			endpoint_host(ep->valuestring, host, sizeof(host));
			cJSON_AddStringToObject(o, "endpoint", host);
		} else {
			cJSON_AddNullToObject(o, "endpoint");
		}
		const cJSON *rg = cJSON_GetObjectItemCaseSensitive(rp, "last_reorg");
		if (cJSON_IsObject(rg)) {
			cJSON *r2 = cJSON_AddObjectToObject(o, "last_reorg");
			copy_number(r2, "depth", rg, "depth");
			const cJSON *at = cJSON_GetObjectItemCaseSensitive(rg, "at");
			cJSON_AddStringToObject(r2, "at", cJSON_IsString(at) ? at->valuestring : "");
		} else {
			cJSON_AddNullToObject(o, "last_reorg");
		}
		copy_number(o, "report_age_s", e, "age_s");
		cJSON_AddItemToArray(data, o);
	}
	cJSON_Delete(reports);
	char *body = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	return body ? send_json(conn, 200, body, NULL, NULL) : MHD_NO;
}

/* GET /readyz: 200 when Postgres answers and every chain is published
 * fresh, within max_lag_blocks of its head, with an outbox younger than
 * max_outbox_age_s; otherwise 503 with the reasons. */
static enum MHD_Result readyz(api_server *s, struct MHD_Connection *conn)
{
	char err[420] = "";
	char *json = NULL;
	cJSON *out = cJSON_CreateObject();
	cJSON *reasons = cJSON_CreateArray();
	char why[300];
	if (api_pg_chain_reports(s->pg, &json, err, sizeof(err)) < 0) {
		log_emit(LOG_LEVEL_WARN, "api", -1, "GET /readyz: postgres: %s", err);
		cJSON_AddItemToArray(reasons, cJSON_CreateString("postgres: not answering"));
	} else {
		cJSON *reports = cJSON_Parse(json);
		free(json);
		for (size_t i = 0; i < s->cfg->n_chains; i++) {
			const cfg_chain *c = &s->cfg->chains[i];
			const cJSON *e = cJSON_GetObjectItemCaseSensitive(reports, c->name);
			const cJSON *rp = cJSON_GetObjectItemCaseSensitive(e, "report");
			const cJSON *age = cJSON_GetObjectItemCaseSensitive(e, "age_s");
			const cJSON *lag = cJSON_GetObjectItemCaseSensitive(rp, "lag_blocks");
			const cJSON *ob = cJSON_GetObjectItemCaseSensitive(rp, "outbox_oldest_age_s");
			why[0] = '\0';
			if (!rp)
				snprintf(why, sizeof(why), "chain %s: no report from `paywatch run` yet", c->name);
			else if (cJSON_IsNumber(age) && age->valuedouble > s->api->max_report_age_s)
				snprintf(why, sizeof(why), "chain %s: last report %.0f s ago (is `paywatch run` running?)", c->name,
					 age->valuedouble);
			else if (!cJSON_IsNumber(lag))
				snprintf(why, sizeof(why), "chain %s: head or checkpoint not known yet", c->name);
			else if (lag->valuedouble > c->max_lag_blocks)
				snprintf(why, sizeof(why), "chain %s: %.0f blocks behind the head (max_lag_blocks %u)", c->name,
					 lag->valuedouble, c->max_lag_blocks);
			else if (cJSON_IsNumber(ob) && ob->valuedouble > s->api->max_outbox_age_s)
				snprintf(why, sizeof(why), "chain %s: the outbox's oldest entry is %.0f s old (max_outbox_age_s %u)",
					 c->name, ob->valuedouble, s->api->max_outbox_age_s);
			if (why[0])
				cJSON_AddItemToArray(reasons, cJSON_CreateString(why));
		}
		cJSON_Delete(reports);
	}
	bool ready = cJSON_GetArraySize(reasons) == 0;
	cJSON_AddStringToObject(out, "status", ready ? "ready" : "not_ready");
	cJSON_AddItemToObject(out, "reasons", reasons);
	char *body = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	return body ? send_json(conn, ready ? 200 : 503, body, NULL, NULL) : MHD_NO;
}

/* A request is over: count it (route, status; latency from its headers
 * to its end) and free it. A request that got no answer (the client left,
 * or the server closed it) counts with status 0. */
static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	(void)toe;
	api_server *s = cls;
	watch_deadline(s, conn, pw_mono_ms() + API_REQUEST_DEADLINE_S * 1000); /* the next request's, on keep-alive */
	api_request *rq = *con_cls;
	if (rq) {
		char labels[160], code[8];
		snprintf(code, sizeof(code), "%u", rq->status);
		metrics_labels(labels, sizeof(labels), "route", rq->route ? rq->route : "unmatched", "status", code, NULL);
		metrics_add("paywatch_api_requests_total", labels, 1);
		metrics_labels(labels, sizeof(labels), "route", rq->route ? rq->route : "unmatched", NULL);
		metrics_observe("paywatch_api_request_duration_seconds", labels, (double)(pw_mono_ms() - rq->started_ms) / 1000.0);
	}
	free(rq);
	*con_cls = NULL;
}

/* GET /metrics: the process's metrics (metrics.h), no key. */
static enum MHD_Result send_metrics(api_server *s, struct MHD_Connection *conn)
{
	if (s->lp)
		metrics_set("paywatch_api_longpolls_waiting", "", (double)api_longpoll_waiting(s->lp));
	char *text = metrics_render();
	return text ? send_body(conn, 200, text, "text/plain; version=0.0.4; charset=utf-8", NULL, NULL) : MHD_NO;
}


static enum MHD_Result route(api_server *s, struct MHD_Connection *conn, const char *url, const char *method,
			     size_t *upload_size, api_request *rq);

/* Adds a header's (or query argument's) size to *(size_t *)cls: name,
 * ": " or "=", value, and its line end. */
static enum MHD_Result add_size(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	*(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)version;
	(void)upload_data;
	api_server *s = cls;
	if (!*con_cls) { /* the headers are in; the body (if any) follows */
		api_request *rq = calloc(1, sizeof(api_request));
		if (!rq)
			return MHD_NO;
		char id[24];
		enum api_route_id rid = api_route_match(url, id, sizeof(id));
		rq->route = rid == API_N_ROUTES ? "unmatched" : api_routes[rid].path; /* a template: never an id */
		rq->started_ms = pw_mono_ms();
		*con_cls = rq;
		/* the request line and headers past 8 KiB (the connection's pool
		 * refuses 16 KiB and more itself: 431 from libmicrohttpd) */
		size_t head = strlen(method) + strlen(url) + strlen(version) + 4;
		MHD_get_connection_values(conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, add_size, &head);
		if (head > API_HEAD_MAX) {
			current = rq;
			enum MHD_Result r = send_error(conn, 431, "too_large", NULL, "Connection", "close",
						       "the request line and headers are at most %d bytes", API_HEAD_MAX);
			current = NULL;
			return r;
		}
		const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t n = 0;
		if (len && parse_u64(len, API_BODY_MAX, &n) < 0) { /* answered before the body is read; then closed */
			current = rq;
			enum MHD_Result r = send_error(conn, 413, "too_large", NULL, NULL, NULL,
						       "a request body is at most %d bytes", API_BODY_MAX);
			current = NULL;
			return r;
		}
		return MHD_YES;
	}
	api_request *rq = *con_cls;
	current = rq;
	enum MHD_Result r = route(s, conn, url, method, upload_size, rq);
	current = NULL;
	return r;
}

/* Route one call of a request (on_request). */
static enum MHD_Result route(api_server *s, struct MHD_Connection *conn, const char *url, const char *method,
			     size_t *upload_size, api_request *rq)
{
	if (*upload_size) { /* no route reads a body yet: counted and dropped */
		rq->body_bytes += *upload_size;
		*upload_size = 0;
		return rq->body_bytes > API_BODY_MAX ? MHD_NO : MHD_YES; /* chunked past the bound: closed */
	}
	watch_deadline(s, conn, 0); /* the request is in whole */
	char id[24] = "";
	enum api_route_id rid = api_route_match(url, id, sizeof(id));
	if (rid == API_N_ROUTES || (s->metrics_only && rid != API_HEALTHZ && rid != API_METRICS))
		return send_error(conn, 404, "not_found", NULL, NULL, NULL, "no route %.100s", url);
	const api_route *rt = &api_routes[rid];
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	if (strcmp(rt->method, "POST") == 0 ? !post : !get) {
		bool is_post = strcmp(rt->method, "POST") == 0;
		return send_error(conn, 405, "method_not_allowed", NULL, "Allow", is_post ? "POST" : "GET, HEAD",
				  "%.100s: use %s", url, rt->method);
	}
	switch (rid) {
	case API_HEALTHZ: {
		char *body = strdup("{\"status\":\"ok\"}");
		return body ? send_json(conn, 200, body, NULL, NULL) : MHD_NO;
	}
	case API_METRICS:
		return send_metrics(s, conn);
	case API_READYZ:
		return readyz(s, conn);
	case API_OPENAPI: {
		char *body = strdup(api_openapi_json);
		return body ? send_json(conn, 200, body, NULL, NULL) : MHD_NO;
	}
	default:
		break;
	}
	const cfg_api_key *key = authenticate(s, conn);
	if (rid == API_EVENTS && rq->feed_started && key) /* a long-poll resumed: authorized and counted already */
		return list_events(s, conn, key, rq);
	if (!key)
		return send_error(conn, 401, "unauthorized", NULL, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer",
				  "a valid API key is required: Authorization: Bearer KEY");
	unsigned retry = 1;
	if (!take_token(s, (size_t)(key - s->api->keys), &retry)) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", retry);
		return send_error(conn, 429, "rate_limited", NULL, "Retry-After", ra, "too many requests for key %s",
				  key->id);
	}
	enum MHD_Result refused;
	if (refuse_args(conn, rt->params, &refused))
		return refused;
	switch (rid) {
	case API_PAYMENTS:
		return list_payments(s, conn, key);
	case API_PAYMENT:
		return get_payment(s, conn, key, id);
	case API_EVENTS:
		return list_events(s, conn, key, rq);
	case API_CHAINS:
		return list_chains(s, conn);
	case API_DELIVERIES:
		return list_deliveries(s, conn, key);
	case API_REDELIVER:
		return redeliver(s, conn, key, id);
	default:
		return send_error(conn, 404, "not_found", NULL, NULL, NULL, "no route %.100s", url);
	}
}

/* ---- starting ---- */

/* A PEM file into memory (at most 1 MiB). malloc'd, NUL-terminated; NULL
 * with err set. */
static char *read_pem(const char *path, const char *what, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "api.tls.%s: cannot open %s", what, path);
		return NULL;
	}
	char *buf = malloc((1 << 20) + 1);
	size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
	bool more = buf && fgetc(f) != EOF;
	fclose(f);
	if (!buf || n == 0 || more) {
		free(buf);
		snprintf(err, errlen, "api.tls.%s: %s is empty or larger than 1 MiB", what, path);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Listen on host:port with the request handler; threads MHD threads,
 * max_conn connections. TLS when cert_pem and key_pem are set. */
static int start_daemon(api_server *s, const char *host, uint16_t port, unsigned threads, unsigned max_conn,
			char *err, size_t errlen)
{
	struct sockaddr_storage addr;
	memset(&addr, 0, sizeof(addr));
	bool v6 = strchr(host, ':') != NULL;
	if (v6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		inet_pton(AF_INET6, host, &a6->sin6_addr);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		inet_pton(AF_INET, host, &a4->sin_addr);
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (s->cert_pem) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, errlen, "api.tls: this libmicrohttpd has no TLS support");
			return PW_EIO;
		}
		flags |= MHD_USE_TLS;
	}
	s->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &addr,
				MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, max_conn,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				(size_t)API_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, request_completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				s->cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->cert_pem,
				MHD_OPTION_HTTPS_MEM_KEY, s->key_pem, MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, errlen, "cannot listen on %s port %u (in use, not an address of this host%s)", host, port,
			 s->cert_pem ? ", or a certificate and key MHD cannot load" : "");
		return PW_EIO;
	}
	atomic_init(&s->stopping, false);
	if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		return PW_EIO;
	}
	s->reaper_started = true;
	return 0;
}

/* A server of cfg, not started; NULL on out of memory. */
static api_server *server_new(const pw_config *cfg)
{
	api_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = cfg;
	s->api = &cfg->api;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

int api_server_start(const pw_config *cfg, api_server **ret, char *err, size_t errlen)
{
	api_server *s = server_new(cfg);
	if (!s)
		return PW_ENOMEM;
	s->buckets = calloc(cfg->api.n_keys ? cfg->api.n_keys : 1, sizeof(bucket));
	if (!s->buckets || api_pg_pool_create(cfg->pg_dsn, cfg->api.pg_connections, cfg->api.statement_timeout_ms, &s->pg) < 0) {
		api_server_stop(s);
		return PW_ENOMEM;
	}
	int64_t now = pw_mono_ms();
	for (size_t i = 0; i < cfg->api.n_keys; i++)
		s->buckets[i] = (bucket){ .tokens = cfg->api.burst, .last_ms = now };
	if (cfg->api.tls_cert &&
	    (!(s->cert_pem = read_pem(cfg->api.tls_cert, "cert", err, errlen)) ||
	     !(s->key_pem = read_pem(cfg->api.tls_key, "key", err, errlen)))) {
		api_server_stop(s);
		return PW_EIO;
	}
	if (api_longpoll_start(cfg->pg_dsn, &s->lp) < 0) {
		snprintf(err, errlen, "cannot start the event feed's watch thread");
		api_server_stop(s);
		return PW_EIO;
	}
	int r = start_daemon(s, cfg->api.host, cfg->api.port, cfg->api.pg_connections, cfg->api.max_connections, err, errlen);
	if (r < 0) {
		api_server_stop(s);
		return r;
	}
	*ret = s;
	return 0;
}

int api_server_start_metrics(const pw_config *cfg, api_server **ret, char *err, size_t errlen)
{
	api_server *s = server_new(cfg);
	if (!s)
		return PW_ENOMEM;
	s->metrics_only = true;
	int r = start_daemon(s, cfg->metrics_host, cfg->metrics_port, 2, 64, err, errlen);
	if (r < 0) {
		api_server_stop(s);
		return r;
	}
	*ret = s;
	return 0;
}

void api_server_stop(api_server *s)
{
	if (!s)
		return;
	api_longpoll_stop(s->lp); /* parked requests answer before the daemon goes */
	if (s->reaper_started) {
		atomic_store(&s->stopping, true);
		pthread_join(s->reaper, NULL);
	}
	if (s->d)
		MHD_stop_daemon(s->d);
	if (s->key_pem) {
		OPENSSL_cleanse(s->key_pem, strlen(s->key_pem));
		free(s->key_pem);
	}
	free(s->cert_pem);
	api_pg_pool_destroy(s->pg);
	free(s->buckets);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
