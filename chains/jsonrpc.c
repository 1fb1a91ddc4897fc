/* jsonrpc.c: JSON-RPC over a libwebsockets client connection, or over HTTP
 * (rpc_http.c). Websocket: outgoing messages wait in a FIFO until the
 * socket is writeable; inbound fragments are appended (up to the cap)
 * until lws_is_final_fragment() and no payload remains, then parsed once
 * and queued for rpc_poll. HTTP: each answer body is one message. */
#include "jsonrpc.h"
#include "buf.h"
#include "rpc_bulk.h"
#include "rpc_http.h"
#include "clock.h"
#include "pw_error.h"
#include "url.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct out_msg {
	struct out_msg *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE bytes of headroom, then the message */
} out_msg;

/* A received message, kept raw until rpc_poll takes it: one parse tree
 * exists at a time, however many answers arrive in one service call. */
typedef struct in_msg {
	struct in_msg *next;
	char *data; /* the message (NUL-terminated), NULL when it passed the cap */
	size_t len;
	bool has_id; /* an oversized message: the id found in its first bytes */
	uint64_t id;
} in_msg;

struct rpc_client {
	rpc_http *http; /* the HTTP transport; NULL for a websocket */
	struct lws_context *ctx;
	struct lws *wsi;
	char url_masked[PW_URL_HOST_MAX + 32];
	char host[PW_URL_HOST_MAX];
	char path[PW_URL_PATH_MAX];
	int port;
	bool tls;
	bool connected;
	bool closed;
	bool timer_fired;
	atomic_bool woken;
	char error[256];
	uint64_t next_id;
	out_msg *out_head, *out_tail;
	in_msg *in_head, *in_tail;
	pw_buf rx;           /* message being received */
	bool rx_oversize;    /* current message passed the cap: drop the rest */
	char rx_prefix[128]; /* first bytes of an oversized message, to find its id */
	size_t rx_prefix_len;
	size_t max_message_bytes;
	lws_sorted_usec_list_t timer;
	rpc_bulk *bulk;      /* websocket with a bulk_url: rpc_send_bulk's HTTP thread */
	rpc_scanner scanner; /* offered each message first (rpc_client_set_scanner) */
	void *scanner_arg;
};

/* The ticker: lws 4.1's lws_service() can block on a silent connection
 * until one of its internal 30 s timers although a shorter wait was asked
 * for (seen under load: a stalled-subscription probe ran 28 s late). Every
 * 100 ms this thread calls lws_cancel_service() -- documented as safe from
 * any thread -- on each live client context, so no wait outlasts its
 * deadline by more than that. Contexts are registered while they exist. */
#define TICK_MS 100
static pthread_mutex_t ticker_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lws_context **ticker_ctxs;
static size_t ticker_n, ticker_cap;
static pthread_once_t ticker_once = PTHREAD_ONCE_INIT;

static void *ticker_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = { 0, TICK_MS * 1000000L };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&ticker_lock);
		for (size_t i = 0; i < ticker_n; i++)
			lws_cancel_service(ticker_ctxs[i]);
		pthread_mutex_unlock(&ticker_lock);
	}
	return NULL;
}

static void ticker_start(void)
{
	pthread_t t;
	sigset_t all, old;
	sigfillset(&all); /* signals stay with the threads that wait for them */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&t, NULL, ticker_main, NULL) == 0)
		pthread_detach(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int ticker_add(struct lws_context *ctx)
{
	pthread_once(&ticker_once, ticker_start);
	pthread_mutex_lock(&ticker_lock);
	if (ticker_n == ticker_cap) {
		size_t cap = ticker_cap ? ticker_cap * 2 : 8;
		struct lws_context **n = realloc(ticker_ctxs, cap * sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&ticker_lock);
			return PW_ENOMEM;
		}
		ticker_ctxs = n;
		ticker_cap = cap;
	}
	ticker_ctxs[ticker_n++] = ctx;
	pthread_mutex_unlock(&ticker_lock);
	return 0;
}

static void ticker_remove(struct lws_context *ctx)
{
	pthread_mutex_lock(&ticker_lock);
	for (size_t i = 0; i < ticker_n; i++)
		if (ticker_ctxs[i] == ctx) {
			ticker_ctxs[i] = ticker_ctxs[--ticker_n];
			break;
		}
	pthread_mutex_unlock(&ticker_lock);
}

static void lws_log_to_debug(int level, const char *line)
{
	(void)level;
	(void)line; /* lws's own chatter stays out of paywatch's log; errors surface as codes */
}

static void queue_in(rpc_client *c, in_msg *m)
{
	m->next = NULL;
	if (c->in_tail)
		c->in_tail->next = m;
	else
		c->in_head = m;
	c->in_tail = m;
}

bool rpc_scan_id(const char *s, size_t n, uint64_t *ret)
{
	for (size_t i = 0; i + 5 < n; i++) {
		if (memcmp(s + i, "\"id\"", 4) != 0)
			continue;
		size_t j = i + 4;
		while (j < n && (s[j] == ' ' || s[j] == ':'))
			j++;
		uint64_t v = 0;
		size_t digits = 0;
		while (j < n && s[j] >= '0' && s[j] <= '9' && digits < 19)
			v = v * 10 + (uint64_t)(s[j++] - '0'), digits++;
		if (digits) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* What a parse tree costs: cJSON allocates a node (64 bytes, plus the
 * allocator's header and an object member's key) per value. A message may
 * hold at most one value per RPC_BYTES_PER_VALUE bytes (real answers: ~45
 * bytes a value; eth_getLogs, headers): so a tree costs at most ~6 times
 * its text, and a 20 MB answer of [0,0,0,...] (10 M values, ~800 MB as a
 * tree) is refused before it is parsed. */
#define RPC_BYTES_PER_VALUE 20
#define RPC_VALUES_SLACK 4096

size_t rpc_count_values(const char *data, size_t len)
{
	size_t values = 1;
	const char *p = data, *end = data + len;
	while (p < end) {
		char ch = *p++;
		if (ch == ',' || ch == '[' || ch == '{') {
			values++;
		} else if (ch == '"') {
			/* a string: its closing quote is the next one not escaped,
			 * i.e. after an even run of backslashes (found with memchr:
			 * most of an answer's bytes are inside hex strings) */
			const char *start = p;
			for (;;) {
				const char *q = memchr(p, '"', (size_t)(end - p));
				if (!q)
					return values; /* unterminated: nothing more to count */
				const char *b = q;
				while (b > start && b[-1] == '\\')
					b--;
				p = q + 1;
				if (((size_t)(q - b) & 1) == 0)
					break;
			}
		}
	}
	return values;
}

static void set_snippet(rpc_message *ret, const char *data, size_t len)
{
	size_t n = len < sizeof(ret->snippet) - 1 ? len : sizeof(ret->snippet) - 1;
	memcpy(ret->snippet, data, n);
	ret->snippet[n] = '\0';
	for (size_t i = 0; i < n; i++) /* keep log lines printable */
		if ((unsigned char)ret->snippet[i] < 0x20 || (unsigned char)ret->snippet[i] == 0x7f)
			ret->snippet[i] = '?';
}

/* Does a string of the text hold the escape \u0000? cJSON ends a string
 * there, so "0x1\u00002" would be read as "0x1": a value read as another.
 * The backslash before "u0000" must start an escape: after an even run of
 * backslashes ("\\u0000" is a backslash and the letters u0000). No
 * answer of a node holds one (every value paywatch reads is hex, a number
 * or base58). */
static bool holds_nul_escape(const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		const char *run = p;
		while (p < end && *p == '\\')
			p++;
		if (((size_t)(p - run) & 1) && end - p >= 5 && memcmp(p, "u0000", 5) == 0)
			return true;
	}
	return false;
}

/* rpc_parse_message, with the client's scanner offered the message once
 * it passed the density check (c NULL: no scanner). */
static void parse_message(const rpc_client *c, const char *data, size_t len, rpc_message *ret)
{
	memset(ret, 0, sizeof(*ret));
	size_t values = rpc_count_values(data, len);
	if (values > len / RPC_BYTES_PER_VALUE + RPC_VALUES_SLACK) {
		ret->error = PW_EPARSE;
		ret->too_dense = true;
		ret->values = values;
		set_snippet(ret, data, len);
		ret->has_id = rpc_scan_id(data, len, &ret->id);
		return;
	}
	if (c && c->scanner && c->scanner(c->scanner_arg, data, len, ret))
		return;
	memset(ret, 0, sizeof(*ret));
	if (holds_nul_escape(data, len)) {
		ret->error = PW_EPARSE;
		ret->nul_escape = true;
		set_snippet(ret, data, len);
		ret->has_id = rpc_scan_id(data, len, &ret->id);
		return;
	}
	ret->root = cJSON_ParseWithLength(data, len);
	if (!ret->root) {
		ret->error = PW_EPARSE;
		set_snippet(ret, data, len);
		ret->has_id = rpc_scan_id(data, len, &ret->id);
		return;
	}
	const cJSON *id = cJSON_IsObject(ret->root) ? cJSON_GetObjectItemCaseSensitive(ret->root, "id") : NULL;
	if (cJSON_IsArray(ret->root)) { /* batch: attributed by its first id */
		const cJSON *first = cJSON_GetArrayItem(ret->root, 0);
		id = cJSON_IsObject(first) ? cJSON_GetObjectItemCaseSensitive(first, "id") : NULL;
	}
	if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < 9007199254740992.0) {
		ret->has_id = true;
		ret->id = (uint64_t)id->valuedouble;
	}
}

void rpc_parse_message(const char *data, size_t len, rpc_message *ret)
{
	parse_message(NULL, data, len, ret);
}

void rpc_client_set_scanner(rpc_client *c, rpc_scanner fn, void *arg)
{
	c->scanner = fn;
	c->scanner_arg = arg;
}

static void finish_message(rpc_client *c)
{
	in_msg *m = calloc(1, sizeof(*m));
	if (!m) {
		buf_reset(&c->rx);
		return;
	}
	if (c->rx_oversize) {
		m->has_id = rpc_scan_id(c->rx_prefix, c->rx_prefix_len, &m->id);
	} else {
		/* the buffer moves to the queue: no copy of a large answer */
		m->data = c->rx.data ? c->rx.data : strdup("");
		m->len = c->rx.len;
		buf_init(&c->rx, c->max_message_bytes);
	}
	queue_in(c, m);
	buf_reset(&c->rx);
	c->rx_oversize = false;
	c->rx_prefix_len = 0;
}

static int rpc_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	(void)user;
	rpc_client *c = lws_context_user(lws_get_context(wsi));
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->connected = true;
		if (c->out_head)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c->tls && in && strstr((const char *)in, "SSL"))
			snprintf(c->error, sizeof(c->error),
				 "TLS handshake failed (server certificate not trusted, expired, or not for this "
				 "host): %s",
				 (const char *)in);
		else
			snprintf(c->error, sizeof(c->error), "connection error: %s",
				 in ? (const char *)in : "(no detail)");
		c->closed = true;
		c->wsi = NULL;
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		if (!c->rx_oversize && buf_append(&c->rx, in, len) < 0) {
			c->rx_oversize = true;
			size_t keep = c->rx.len < sizeof(c->rx_prefix) ? c->rx.len : sizeof(c->rx_prefix);
			memcpy(c->rx_prefix, c->rx.data ? c->rx.data : "", keep);
			c->rx_prefix_len = keep;
			if (keep < sizeof(c->rx_prefix)) {
				size_t more = sizeof(c->rx_prefix) - keep < len ? sizeof(c->rx_prefix) - keep : len;
				memcpy(c->rx_prefix + keep, in, more);
				c->rx_prefix_len += more;
			}
			buf_done(&c->rx);
			buf_init(&c->rx, c->max_message_bytes);
		}
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi))
			finish_message(c);
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		out_msg *m = c->out_head;
		if (!m)
			break;
		int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
		if (n < (int)m->len) {
			snprintf(c->error, sizeof(c->error), "websocket write failed");
			return -1;
		}
		c->out_head = m->next;
		if (!c->out_head)
			c->out_tail = NULL;
		free(m);
		if (c->out_head)
			lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (!c->error[0])
			snprintf(c->error, sizeof(c->error), "connection closed by peer");
		c->closed = true;
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		c->closed = true;
		c->wsi = NULL;
		break;
	default: break;
	}
	return 0;
}

/* Bytes one read from the socket takes at most (the context's service
 * buffer, lws's pt_serv_buf_size; 4 KiB by default). A backfill's 63 MB
 * of eth_getLogs answers over the websocket took 15,414 recvfrom() calls
 * at 4 KiB, and as many turns of the service loop; 946 at 64 KiB (strace
 * of one bench round). paywatch's CPU 0.95x in a backfill, the time
 * unchanged (A twenty-eighth session, bench/HISTORY.md). e2e_ws_reads
 * shows the reads under strace. */
#define RPC_READ_BYTES (64u * 1024u)

static const struct lws_protocols rpc_protocols[] = {
	{ "paywatch-jsonrpc", rpc_callback, 0, 256 * 1024, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }, /* terminator */
};

static int parse_url(rpc_client *c, const char *url, bool *ret_http)
{
	pw_url u;
	char why[160];
	if (pw_url_parse(url, &u, why, sizeof(why)) < 0)
		return PW_EINVAL;
	*ret_http = u.http;
	c->tls = u.tls;
	c->port = u.port;
	memcpy(c->host, u.host, sizeof(c->host));
	memcpy(c->path, u.path, sizeof(c->path));
	/* the path often carries an API key: never log it */
	snprintf(c->url_masked, sizeof(c->url_masked), "%s://%s:%d%s",
		 u.http ? (u.tls ? "https" : "http") : (u.tls ? "wss" : "ws"), c->host, c->port,
		 strlen(c->path) > 1 ? "/****" : "/");
	return 0;
}

/* The bulk thread has an answer (or failed): end the client's lws wait
 * (documented as safe from any thread). */
static void bulk_wake(void *arg)
{
	rpc_client *c = arg;
	lws_cancel_service(c->ctx);
}

int rpc_client_create(const rpc_options *o, rpc_client **ret)
{
	rpc_client *c = calloc(1, sizeof(*c));
	if (!c)
		return PW_ENOMEM;
	bool http = false;
	int r = parse_url(c, o->url, &http);
	if (r < 0) {
		free(c);
		return r;
	}
	size_t max_message_bytes = o->max_message_bytes;
	c->max_message_bytes = max_message_bytes;
	c->next_id = 1;
	if (http) {
		r = rpc_http_create(o->url, o->headers, o->n_headers, o->max_connections, max_message_bytes,
				    o->timeout_ms ? o->timeout_ms : 15000, &c->http);
		if (r < 0) {
			free(c);
			return r;
		}
		*ret = c;
		return 0;
	}
	buf_init(&c->rx, max_message_bytes);
	lws_set_log_level(LLL_ERR, lws_log_to_debug);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = rpc_protocols;
	info.gid = -1;
	info.uid = -1;
	info.user = c;
	info.pt_serv_buf_size = RPC_READ_BYTES;
	/* TLS (and its CA store) only for wss:// endpoints */
	info.options = c->tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	c->ctx = lws_create_context(&info);
	if (!c->ctx || ticker_add(c->ctx) < 0) {
		if (c->ctx)
			lws_context_destroy(c->ctx);
		free(c);
		return PW_ENOMEM;
	}

	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.context = c->ctx;
	ci.address = c->host;
	ci.port = c->port;
	ci.path = c->path;
	ci.host = c->host;
	ci.origin = c->host;
	ci.ssl_connection = c->tls ? LCCSCF_USE_SSL : 0;
	ci.pwsi = &c->wsi;
	if (!lws_client_connect_via_info(&ci) && !c->closed) {
		snprintf(c->error, sizeof(c->error), "cannot start connection");
		c->closed = true;
	}
	if (o->bulk_url &&
	    (r = rpc_bulk_start(o->bulk_url, o->headers, o->n_headers, o->max_connections, max_message_bytes,
				o->timeout_ms ? o->timeout_ms : 15000, bulk_wake, c, &c->bulk)) < 0) {
		rpc_client_destroy(c);
		return r;
	}
	*ret = c;
	return 0;
}

void rpc_client_destroy(rpc_client *c)
{
	if (!c)
		return;
	rpc_bulk_stop(c->bulk); /* first: its thread wakes the lws context */
	rpc_http_destroy(c->http);
	if (c->ctx) {
		ticker_remove(c->ctx); /* before the context goes away */
		lws_context_destroy(c->ctx);
	}
	for (out_msg *m = c->out_head, *next; m; m = next) {
		next = m->next;
		free(m);
	}
	for (in_msg *m = c->in_head, *next; m; m = next) {
		next = m->next;
		free(m->data);
		free(m);
	}
	buf_done(&c->rx);
	free(c);
}

static void timer_cb(lws_sorted_usec_list_t *sul)
{
	rpc_client *c = lws_container_of(sul, rpc_client, timer);
	c->timer_fired = true;
}

/* Run the lws loop until done(c) or timeout. */
static int service_until(rpc_client *c, int timeout_ms, bool (*done)(const rpc_client *))
{
	int64_t deadline_ms = pw_mono_ms() + timeout_ms;
	c->timer_fired = false;
	lws_sul_schedule(c->ctx, 0, &c->timer, timer_cb, (lws_usec_t)timeout_ms * LWS_US_PER_MS);
	int r = PW_ETIMEDOUT;
	while (!done(c)) {
		if (atomic_exchange(&c->woken, false)) {
			r = PW_ESTOPPED;
			break;
		}
		if (c->closed) {
			r = PW_ECONN;
			break;
		}
		if (c->timer_fired)
			break;
		/* lws 4.1 bounds its poll by the timeout given here; the timer
		 * above is a backstop for builds that only honour scheduled events */
		int64_t left_ms = deadline_ms - pw_mono_ms();
		if (left_ms <= 0)
			break;
		if (lws_service(c->ctx, (int)left_ms) < 0) {
			c->closed = true;
			r = PW_ECONN;
			break;
		}
	}
	lws_sul_cancel(&c->timer);
	return done(c) ? 0 : r;
}

static bool is_connected(const rpc_client *c)
{
	return c->connected && !c->closed;
}

static bool has_inbound(const rpc_client *c)
{
	return c->in_head != NULL || (c->bulk && rpc_bulk_ready(c->bulk));
}

bool rpc_client_is_http(const rpc_client *c)
{
	return c->http != NULL;
}

int rpc_client_wait_connected(rpc_client *c, int timeout_ms)
{
	if (c->http)
		return 0;
	if (c->closed)
		return PW_ECONN;
	return service_until(c, timeout_ms, is_connected);
}

uint64_t rpc_next_id(rpc_client *c)
{
	return c->next_id++;
}

int rpc_send_raw(rpc_client *c, const char *json, size_t len)
{
	if (c->http) {
		uint64_t first_id = 0;
		bool has_id = rpc_scan_id(json, len, &first_id);
		return rpc_http_send(c->http, json, len, has_id, first_id);
	}
	if (c->closed)
		return PW_ECONN;
	out_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return PW_ENOMEM;
	m->next = NULL;
	m->len = len;
	memcpy(m->data + LWS_PRE, json, len);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	if (c->connected && c->wsi)
		lws_callback_on_writable(c->wsi);
	return 0;
}

int rpc_send_bulk(rpc_client *c, const char *json, size_t len)
{
	if (!c->bulk)
		return rpc_send_raw(c, json, len);
	uint64_t first_id = 0;
	bool has_id = rpc_scan_id(json, len, &first_id);
	return rpc_bulk_send(c->bulk, json, len, has_id, first_id);
}

int rpc_send(rpc_client *c, const char *method, const char *params_json, uint64_t *ret_id)
{
	uint64_t id = c->next_id;
	size_t cap = strlen(method) + strlen(params_json) + 96;
	char *text = malloc(cap);
	if (!text)
		return PW_ENOMEM;
	int n = snprintf(text, cap, "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"%s\",\"params\":%s}",
			 (unsigned long long)id, method, params_json);
	int r = rpc_send_raw(c, text, (size_t)n);
	free(text);
	if (r < 0)
		return r;
	c->next_id++;
	*ret_id = id;
	return 0;
}

/* An HTTP answer as a message: the body parsed as any message; a non-2xx
 * response without a JSON-RPC answer in it is an error for its request. */
static void http_message(const rpc_client *c, const rpc_http_answer *a, rpc_message *ret)
{
	if (a->too_big) {
		memset(ret, 0, sizeof(*ret));
		ret->error = PW_ETOOBIG;
		ret->has_id = a->has_id;
		ret->id = a->first_id;
		ret->http_status = a->status;
		return;
	}
	parse_message(a->status >= 200 && a->status < 300 ? c : NULL, a->body, a->len, ret);
	ret->http_status = a->status;
	if (a->status >= 200 && a->status < 300)
		return;
	bool answer = ret->error == 0 && ret->has_id &&
		      (cJSON_IsArray(ret->root) || cJSON_GetObjectItemCaseSensitive(ret->root, "error") ||
		       cJSON_GetObjectItemCaseSensitive(ret->root, "result"));
	ret->rate_limited = a->status == 429;
	ret->retry_after_s = a->status == 429 || a->status == 503 ? a->retry_after_s : 0;
	if (answer)
		return; /* a node error sent with an HTTP error status: read as one */
	rpc_message_done(ret);
	ret->error = PW_ERPC;
	ret->too_dense = false;
	ret->has_id = a->has_id;
	ret->id = a->first_id;
	char text[96];
	size_t n = a->len < sizeof(text) - 1 ? a->len : sizeof(text) - 1;
	memcpy(text, a->body ? a->body : "", n);
	text[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] == 0x7f)
			text[i] = ' ';
	snprintf(ret->snippet, sizeof(ret->snippet), "HTTP %ld: %s", a->status, text);
}

int rpc_poll(rpc_client *c, int timeout_ms, rpc_message *ret)
{
	if (c->http) {
		rpc_http_answer a;
		int rh = rpc_http_poll(c->http, timeout_ms, &a);
		if (rh < 0)
			return rh;
		http_message(c, &a, ret);
		free(a.body);
		return 0;
	}
	int r = 0;
	if (!has_inbound(c))
		r = service_until(c, timeout_ms, has_inbound);
	if (!c->in_head && c->bulk) { /* an answer of the bulk thread, or its failure */
		rpc_http_answer a;
		int rb = rpc_bulk_take(c->bulk, &a);
		if (rb == 0) {
			http_message(c, &a, ret);
			free(a.body);
			return 0;
		}
		if (rb == PW_ECONN) {
			snprintf(c->error, sizeof(c->error), "bulk requests over HTTP: %s", rpc_bulk_error(c->bulk));
			return PW_ECONN;
		}
	}
	if (r < 0 && !c->in_head)
		return r;
	if (!c->in_head)
		return PW_ETIMEDOUT;
	in_msg *m = c->in_head;
	c->in_head = m->next;
	if (!c->in_head)
		c->in_tail = NULL;
	if (m->data) {
		parse_message(c, m->data, m->len, ret);
	} else {
		memset(ret, 0, sizeof(*ret));
		ret->error = PW_ETOOBIG;
		ret->has_id = m->has_id;
		ret->id = m->id;
	}
	free(m->data);
	free(m);
	return 0;
}

void rpc_message_done(rpc_message *m)
{
	if (m && m->root) {
		cJSON_Delete(m->root);
		m->root = NULL;
	}
	if (m && m->scanned) {
		m->scanned_free(m->scanned);
		m->scanned = NULL;
	}
}

void rpc_client_wake(rpc_client *c)
{
	if (c->http) {
		rpc_http_wake(c->http);
		return;
	}
	atomic_store(&c->woken, true);
	if (c->ctx)
		lws_cancel_service(c->ctx);
}

const char *rpc_client_error(const rpc_client *c)
{
	if (c->http)
		return rpc_http_error(c->http);
	return c->error;
}

const char *rpc_client_url_masked(const rpc_client *c)
{
	return c->url_masked;
}
