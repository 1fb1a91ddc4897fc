/* server.c: the HTTP API (server.h) on libmicrohttpd. libmicrohttpd rather
 * than libwebsockets' server: it is an HTTP/1.1 server library first
 * (keep-alive, pipelining, a per-connection memory pool that bounds the
 * request line and headers, connection limits, idle timeouts, a thread
 * pool), where libwebsockets' HTTP serving is a side of a websocket
 * library. */
#include "server.h"
#include "api_int.h"
#include "api_pg.h"
#include "client_limits.h"
#include "longpoll.h"
#include "routes.h"
#include "b64url.h"
#include "buf.h"
#include "clock.h"
#include "forwarded.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "parse.h"
#include "pw_error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

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
			}
		pthread_mutex_unlock(&s->lock);
		nanosleep(&(struct timespec){ .tv_nsec = 250 * 1000000L }, NULL);
	}
	return NULL;
}

/* The OpenAPI document as JSON (api/openapi.yaml, built in by
 * cmake/openapi_to_c.py). */
extern const char api_openapi_json[];

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

/* The URL's path and query unescaped by MHD (MHD_http_unescape, RFC 3986
 * percent-decoding), with each decoded U+0000 (%00) made the byte 0xFF.
 * The handlers read C strings, which would end at a NUL: "acme%00x" would
 * be read as "acme", "limit=1%002" as 1. As 0xFF, which no UTF-8 text
 * holds, every value with one is refused (400) by the checks any value
 * from outside already passes. Returns the decoded length. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	size_t n = MHD_http_unescape(s);
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0')
			s[i] = (char)0xff;
	return n;
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

/* Token bucket of key k (bucket_take): true to go on; false with *retry_s to wait. */
static bool take_token(api_server *s, size_t k, unsigned *retry_s)
{
	pthread_mutex_lock(&s->lock);
	bool ok = bucket_take(&s->buckets[k], s->api->rate_per_s, s->api->burst, pw_mono_ms(), retry_s);
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* The connection's peer as an address; false when MHD knows none or it
 * is neither IPv4 nor IPv6. */
static bool peer_address(struct MHD_Connection *conn, pw_ipnet *ret)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *a = ci ? ci->client_addr : NULL;
	if (a && a->sa_family == AF_INET)
		*ret = pw_ipnet_from_bytes(4, (const uint8_t *)&((const struct sockaddr_in *)a)->sin_addr);
	else if (a && a->sa_family == AF_INET6)
		*ret = pw_ipnet_from_bytes(6, ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr);
	else
		return false;
	return true;
}

static bool trusted_proxy(const cfg_api *api, const pw_ipnet *a)
{
	for (size_t i = 0; i < api->n_trusted_proxies; i++)
		if (pw_ipnet_contains(&api->trusted_proxies[i], a))
			return true;
	return false;
}

/* The header the trusted proxies write the client in, read into b: every
 * X-Forwarded-For line's entries in the order received, joined by
 * commas; or, with rfc7239, every Forwarded line's for nodes
 * (forwarded.h), each line read on its own, joined the same way. A
 * bounded copy: the request's headers are at most API_HEAD_MAX bytes. */
typedef struct forwarded_read {
	pw_buf *b;
	bool rfc7239;
} forwarded_read;

static enum MHD_Result add_forwarded(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	forwarded_read *f = cls;
	(void)kind;
	if (!value)
		return MHD_YES;
	if (!f->rfc7239 && strcasecmp(key, "X-Forwarded-For") == 0)
		(void)(buf_appendf(f->b, "%s%s", f->b->len ? "," : "", value));
	else if (f->rfc7239 && strcasecmp(key, "Forwarded") == 0)
		(void)pw_forwarded_nodes(value, strlen(value), f->b);
	return MHD_YES;
}

/* The client a request comes from, for the pages' rate limit: the peer,
 * or, when the peer is a trusted proxy (api.trusted_proxies), the nearest
 * address X-Forwarded-For (or Forwarded's for nodes: api.forwarded_header)
 * names that is not one (read from the right: each proxy appends the
 * address it was reached from, and what a client wrote itself stands to
 * the left of its own address, never read). An entry that is not an
 * address stops the walk at the last address read. false when the peer
 * is no IP address. */
static bool client_of(api_server *s, struct MHD_Connection *conn, pw_ipnet *ret)
{
	pw_ipnet at;
	if (!peer_address(conn, &at))
		return false;
	if (!trusted_proxy(s->api, &at)) {
		*ret = at;
		return true;
	}
	pw_buf fwd;
	buf_init(&fwd, API_HEAD_MAX);
	forwarded_read f = { &fwd, s->api->forwarded_rfc7239 };
	MHD_get_connection_values(conn, MHD_HEADER_KIND, add_forwarded, &f);
	size_t end = fwd.len; /* the entries not read yet: fwd.data[0..end) */
	while (end > 0 && trusted_proxy(s->api, &at)) {
		size_t start = end;
		while (start > 0 && fwd.data[start - 1] != ',')
			start--;
		pw_ipnet next;
		if (pw_ipaddr_parse(fwd.data + start, end - start, true, &next) < 0)
			break;
		at = next;
		end = start ? start - 1 : 0;
	}
	buf_done(&fwd);
	*ret = at;
	return true;
}

/* ---- query parameters ---- */

typedef struct args_check {
	const char *const *allowed;
	const char *bad; /* the first parameter not allowed */
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
	*ret = API_BAD_PARAM(conn, a.bad, "%s: %s", a.bad,
			     a.repeated ? "given twice" : "not a parameter of this route");
	return true;
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
		metrics_labels(labels, sizeof(labels), "route", rq->route ? rq->route : "unmatched", "status", code,
			       NULL);
		metrics_add("paywatch_api_requests_total", labels, 1);
		metrics_labels(labels, sizeof(labels), "route", rq->route ? rq->route : "unmatched", NULL);
		metrics_observe("paywatch_api_request_duration_seconds", labels,
				(double)(pw_mono_ms() - rq->started_ms) / 1000.0);
	}
	if (rq)
		free(rq->body);
	free(rq);
	*con_cls = NULL;
}

/* GET /metrics: the process's metrics (metrics.h), no key. */
static enum MHD_Result send_metrics(api_server *s, struct MHD_Connection *conn)
{
	if (s->lp)
		metrics_set("paywatch_api_longpolls_waiting", "", (double)api_longpoll_waiting(s->lp));
	char *text = metrics_render();
	return text ? api_send_body(conn, 200, text, "text/plain; version=0.0.4; charset=utf-8", NULL, NULL) : MHD_NO;
}

static enum MHD_Result route(api_server *s, struct MHD_Connection *conn, const char *url, const char *method,
			     const char *upload_data, size_t *upload_size, api_request *rq);

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
	api_server *s = cls;
	if (!*con_cls) { /* the headers are in; the body (if any) follows */
		api_request *rq = calloc(1, sizeof(api_request));
		if (!rq)
			return MHD_NO;
		api_path_params pp;
		enum api_route_id rid = api_route_match(url, method, &pp, NULL, 0);
		rq->route = rid == API_N_ROUTES ? "unmatched" : api_routes[rid].path; /* a template: never an id */
		rq->started_ms = pw_mono_ms();
		*con_cls = rq;
		/* the request line and headers past 8 KiB (the connection's pool
		 * refuses 16 KiB and more itself: 431 from libmicrohttpd) */
		size_t head = strlen(method) + strlen(url) + strlen(version) + 4;
		MHD_get_connection_values(conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, add_size, &head);
		if (head > API_HEAD_MAX) {
			api_answering(rq);
			enum MHD_Result r =
				api_send_error(conn, 431, "too_large", NULL, "Connection", "close",
					       "the request line and headers are at most %d bytes", API_HEAD_MAX);
			api_answering(NULL);
			return r;
		}
		const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t n = 0;
		if (len && parse_u64(len, API_BODY_MAX, &n) < 0) { /* answered before the body is read; then closed */
			api_answering(rq);
			enum MHD_Result r = api_send_error(conn, 413, "too_large", NULL, NULL, NULL,
							   "a request body is at most %d bytes", API_BODY_MAX);
			api_answering(NULL);
			return r;
		}
		return MHD_YES;
	}
	api_request *rq = *con_cls;
	api_answering(rq);
	enum MHD_Result r = route(s, conn, url, method, upload_data, upload_size, rq);
	api_answering(NULL);
	return r;
}

/* Route one call of a request (on_request). */
static enum MHD_Result route(api_server *s, struct MHD_Connection *conn, const char *url, const char *method,
			     const char *upload_data, size_t *upload_size, api_request *rq)
{
	if (*upload_size) { /* the body, kept up to the bound (a route reads it whole) */
		size_t n = *upload_size;
		*upload_size = 0;
		if (rq->body_bytes + n > API_BODY_MAX)
			return MHD_NO; /* chunked past the bound: closed */
		char *grown = realloc(rq->body, rq->body_bytes + n + 1);
		if (!grown)
			return MHD_NO;
		memcpy(grown + rq->body_bytes, upload_data, n);
		rq->body = grown;
		rq->body_bytes += n;
		rq->body[rq->body_bytes] = '\0';
		return MHD_YES;
	}
	watch_deadline(s, conn, 0); /* the request is in whole */
	char allow[64];
	api_path_params pp;
	enum api_route_id rid = api_route_match(url, method, &pp, allow, sizeof(allow));
	if (s->metrics_only && rid != API_HEALTHZ && rid != API_METRICS)
		return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no route %.100s", url);
	if (rid == API_N_ROUTES && allow[0])
		return api_send_error(conn, 405, "method_not_allowed", NULL, "Allow", allow, "%.100s: use %s", url,
				      allow);
	if (rid == API_N_ROUTES)
		return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no route %.100s", url);
	const api_route *rt = &api_routes[rid];
	const char *id = pp.v[0];
	switch (rid) {
	case API_HEALTHZ: {
		char *body = strdup("{\"status\":\"ok\"}");
		return body ? api_send_json(conn, 200, body, NULL, NULL) : MHD_NO;
	}
	case API_METRICS: return send_metrics(s, conn);
	case API_READYZ: return api_readyz(s, conn);
	case API_OPENAPI: {
		char *body = strdup(api_openapi_json);
		return body ? api_send_json(conn, 200, body, NULL, NULL) : MHD_NO;
	}
	case API_CHECKOUT_PAGE:
	case API_CHECKOUT_STATUS:
	case API_CHECKOUT_JS:
	case API_CHECKOUT_CSS:
	case API_CHECKOUT_ICON: {
		/* no key: a bucket per client address (client_limits.h) */
		unsigned retry = 1;
		enum MHD_Result refused;
		if (refuse_args(conn, rt->params, &refused))
			return refused;
		pw_ipnet from;
		bool known = client_of(s, conn, &from);
		if (!client_limits_take(s->pages, known ? &from : NULL, pw_mono_ms(), &retry)) {
			char ra[16];
			snprintf(ra, sizeof(ra), "%u", retry);
			return api_send_error(conn, 429, "rate_limited", NULL, "Retry-After", ra, "too many requests");
		}
		return api_checkout(s, conn, rid, &pp);
	}
	default: break;
	}
	const cfg_api_key *key = authenticate(s, conn);
	if (rid == API_EVENTS && rq->feed_started && key) /* a long-poll resumed: authorized and counted already */
		return api_list_events(s, conn, key, rq);
	if (!key)
		return api_send_error(conn, 401, "unauthorized", NULL, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer",
				      "a valid API key is required: Authorization: Bearer KEY");
	unsigned retry = 1;
	if (!take_token(s, (size_t)(key - s->api->keys), &retry)) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", retry);
		return api_send_error(conn, 429, "rate_limited", NULL, "Retry-After", ra,
				      "too many requests for key %s", key->id);
	}
	enum MHD_Result refused;
	if (refuse_args(conn, rt->params, &refused))
		return refused;
	switch (rid) {
	case API_PAYMENTS: return api_list_payments(s, conn, key);
	case API_PAYMENT: return api_get_payment(s, conn, key, id);
	case API_EVENTS: return api_list_events(s, conn, key, rq);
	case API_CHAINS: return api_list_chains(s, conn);
	case API_DELIVERIES: return api_list_deliveries(s, conn, key);
	case API_REDELIVER: return api_redeliver(s, conn, key, id);
	case API_MERCHANTS:
	case API_MERCHANT_CREATE:
	case API_MERCHANT:
	case API_MERCHANT_DELETE:
	case API_ADDRESSES:
	case API_ADDRESS_ADD:
	case API_ADDRESS_DELETE:
	case API_WEBHOOKS:
	case API_WEBHOOK_ADD:
	case API_WEBHOOK_DELETE:
	case API_DEPOSIT_ADDRESS: return api_registry(s, conn, key, rid, &pp, rq->body, rq->body_bytes);
	case API_INVOICES:
	case API_INVOICE_CREATE:
	case API_INVOICE:
	case API_INVOICE_CANCEL: return api_invoices(s, conn, key, rid, &pp, rq->body, rq->body_bytes);
	case API_REPORT_SETTLEMENT:
	case API_REPORT_PAYMENTS: return api_report(s, conn, key, rid);
	default: return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no route %.100s", url);
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
static int start_daemon(api_server *s, const char *host, uint16_t port, unsigned threads, unsigned max_conn, char *err,
			size_t errlen)
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
	/* the TLS options come last: without TLS, MHD_OPTION_END stands in the first one's place */
	s->d = MHD_start_daemon(
		flags, port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE,
		threads, MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)API_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONN_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, s->cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
		s->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, s->key_pem, MHD_OPTION_END);
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
	if (!s->buckets || client_limits_create(cfg->api.rate_per_s, cfg->api.burst, &s->pages) < 0 ||
	    api_pg_pool_create(cfg->pg_dsn, cfg->api.pg_connections, cfg->api.statement_timeout_ms, &s->pg) < 0) {
		api_server_stop(s);
		return PW_ENOMEM;
	}
	int64_t now = pw_mono_ms();
	for (size_t i = 0; i < cfg->api.n_keys; i++)
		s->buckets[i] = (bucket){ .tokens = cfg->api.burst, .last_ms = now };
	char kerr[200];
	if (secretbox_keys_from_env(&s->keys, kerr, sizeof(kerr)) < 0)
		log_warn("api: %s; webhook endpoints cannot be added through the API", kerr);
	if (cfg->api.tls_cert && (!(s->cert_pem = read_pem(cfg->api.tls_cert, "cert", err, errlen)) ||
				  !(s->key_pem = read_pem(cfg->api.tls_key, "key", err, errlen)))) {
		api_server_stop(s);
		return PW_EIO;
	}
	if (api_longpoll_start(cfg->pg_dsn, &s->lp) < 0) {
		snprintf(err, errlen, "cannot start the event feed's watch thread");
		api_server_stop(s);
		return PW_EIO;
	}
	int r = start_daemon(s, cfg->api.host, cfg->api.port, cfg->api.pg_connections, cfg->api.max_connections, err,
			     errlen);
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
	client_limits_destroy(s->pages);
	pthread_mutex_destroy(&s->lock);
	OPENSSL_cleanse(&s->keys, sizeof(s->keys));
	free(s);
}
