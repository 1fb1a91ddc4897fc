/* rpc_http.c: JSON-RPC POSTs over libcurl's multi interface. Connections
 * stay open between POSTs (the multi handle's connection cache, at most
 * max_connections to the node); a finished POST becomes one answer. A
 * failure below HTTP (refused, reset, DNS, TLS) fails the transport as a
 * closed websocket does: the caller reconnects, on the next URL. */
#include "rpc_http.h"
#include "buf.h"
#include "clock.h"
#include "jsonrpc.h"
#include "pw_error.h"
#include "retry_after.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct transfer {
	struct transfer *next; /* in flight, or finished and queued */
	CURL *easy;
	char *body; /* the request */
	pw_buf rx;  /* the response, capped */
	bool too_big;
	bool has_id;
	uint64_t first_id;
	rpc_http_answer answer; /* set when finished */
	char error[CURL_ERROR_SIZE];
} transfer;

struct rpc_http {
	CURLM *multi;
	struct curl_slist *headers;
	char *url;
	size_t max_message_bytes;
	uint32_t timeout_ms;
	transfer *flying;                /* POSTs in flight */
	transfer *done_head, *done_tail; /* finished, not yet taken */
	bool failed;
	atomic_bool woken;
	char error[320];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void transfer_free(transfer *t)
{
	if (!t)
		return;
	if (t->easy)
		curl_easy_cleanup(t->easy);
	free(t->body);
	buf_done(&t->rx);
	free(t->answer.body);
	free(t);
}

int rpc_http_create(const char *url, const char *const *headers, size_t n, size_t max_connections,
		    size_t max_message_bytes, uint32_t timeout_ms, rpc_http **ret)
{
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return PW_EINVAL;
	pthread_once(&curl_once, curl_init_once);
	rpc_http *h = calloc(1, sizeof(*h));
	if (!h)
		return PW_ENOMEM;
	h->max_message_bytes = max_message_bytes;
	h->timeout_ms = timeout_ms;
	h->url = strdup(url);
	h->multi = curl_multi_init();
	static const char *const fixed[] = { "Content-Type: application/json", "Accept: application/json",
					     "Expect:" /* no 100-continue round trip before a large batch */ };
	bool ok = h->url && h->multi;
	for (size_t i = 0; ok && i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		struct curl_slist *l = curl_slist_append(h->headers, fixed[i]);
		ok = l != NULL;
		h->headers = l ? l : h->headers;
	}
	for (size_t i = 0; ok && i < n; i++) {
		struct curl_slist *l = curl_slist_append(h->headers, headers[i]);
		ok = l != NULL;
		h->headers = l ? l : h->headers;
	}
	if (!ok) {
		rpc_http_destroy(h);
		return PW_ENOMEM;
	}
	long conns = max_connections ? (long)max_connections : 1;
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, conns);
	*ret = h;
	return 0;
}

void rpc_http_destroy(rpc_http *h)
{
	if (!h)
		return;
	for (transfer *t = h->flying, *next; t; t = next) {
		next = t->next;
		curl_multi_remove_handle(h->multi, t->easy);
		transfer_free(t);
	}
	for (transfer *t = h->done_head, *next; t; t = next) {
		next = t->next;
		transfer_free(t);
	}
	if (h->multi)
		curl_multi_cleanup(h->multi);
	curl_slist_free_all(h->headers);
	free(h->url);
	free(h);
}

/* A header line of the answer: Retry-After is kept (pw_retry_after_line). */
static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
	transfer *t = arg;
	size_t n = size * nitems;
	long secs;
	if (pw_retry_after_line(line, n, time(NULL), RPC_RETRY_AFTER_MAX_S, &secs))
		t->answer.retry_after_s = (uint32_t)secs;
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	transfer *t = arg;
	size_t n = size * nmemb;
	if (buf_append(&t->rx, data, n) < 0) {
		t->too_big = true;
		return 0; /* abort: the answer is refused, not buffered */
	}
	return n;
}

int rpc_http_send(rpc_http *h, const char *json, size_t len, bool has_id, uint64_t first_id)
{
	if (h->failed)
		return PW_ECONN;
	transfer *t = calloc(1, sizeof(*t));
	if (!t)
		return PW_ENOMEM;
	buf_init(&t->rx, h->max_message_bytes);
	t->body = malloc(len + 1);
	t->easy = curl_easy_init();
	if (!t->body || !t->easy) {
		transfer_free(t);
		return PW_ENOMEM;
	}
	memcpy(t->body, json, len);
	t->body[len] = '\0';
	t->has_id = has_id;
	t->first_id = first_id;
	CURL *e = t->easy;
	curl_easy_setopt(e, CURLOPT_URL, h->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	/* the adapter's own deadline (timeout_ms) reports a slow answer first;
	 * this bounds what is left behind */
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms + 5000L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)h->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a node that redirects is answered as an error */
	curl_easy_setopt(e, CURLOPT_PROXY, "");          /* direct, as websockets are: *_proxy variables ignored */
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* gzip answers; the cap counts decoded bytes */
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		transfer_free(t);
		return PW_ENOMEM;
	}
	t->next = h->flying;
	h->flying = t;
	return 0;
}

static void unlink_flying(rpc_http *h, transfer *t)
{
	for (transfer **p = &h->flying; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	t->next = NULL;
}

/* A transfer finished with code rc: queue its answer, or fail the
 * transport on a failure below HTTP. */
static void finish(rpc_http *h, transfer *t, CURLcode rc)
{
	curl_multi_remove_handle(h->multi, t->easy);
	unlink_flying(h, t);
	long status = 0;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	bool cut = rc == CURLE_WRITE_ERROR && t->too_big;
	if (rc != CURLE_OK && !cut) {
		if (!h->failed) {
			h->failed = true;
			snprintf(h->error, sizeof(h->error), "%s: %s", curl_easy_strerror(rc),
				 t->error[0] ? t->error : "(no detail)");
		}
		transfer_free(t);
		return;
	}
	t->answer.status = status;
	t->answer.too_big = cut;
	t->answer.has_id = t->has_id;
	t->answer.first_id = t->first_id;
	if (!cut) {
		if (!t->rx.data && buf_append(&t->rx, "", 0) < 0) {
			t->answer.too_big = true;
		} else {
			t->answer.body = t->rx.data; /* moves to the answer */
			t->answer.len = t->rx.len;
			buf_init(&t->rx, 0);
		}
	}
	curl_easy_cleanup(t->easy);
	t->easy = NULL;
	if (h->done_tail)
		h->done_tail->next = t;
	else
		h->done_head = t;
	h->done_tail = t;
}

static void collect(rpc_http *h)
{
	int running = 0, left = 0;
	curl_multi_perform(h->multi, &running);
	CURLMsg *msg;
	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		transfer *t = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (t)
			finish(h, t, msg->data.result);
	}
}

int rpc_http_poll(rpc_http *h, int timeout_ms, rpc_http_answer *ret)
{
	int64_t deadline = pw_mono_ms() + timeout_ms;
	for (;;) {
		if (!h->done_head)
			collect(h);
		if (h->done_head) {
			transfer *t = h->done_head;
			h->done_head = t->next;
			if (!h->done_head)
				h->done_tail = NULL;
			*ret = t->answer;
			t->answer.body = NULL; /* the caller owns it now */
			transfer_free(t);
			return 0;
		}
		if (h->failed)
			return PW_ECONN;
		if (atomic_exchange(&h->woken, false))
			return PW_ESTOPPED;
		int64_t left = deadline - pw_mono_ms();
		if (left <= 0)
			return PW_ETIMEDOUT;
		curl_multi_poll(h->multi, NULL, 0, (int)(left < 1000 ? left : 1000), NULL);
	}
}

void rpc_http_wake(rpc_http *h)
{
	atomic_store(&h->woken, true);
	curl_multi_wakeup(h->multi);
}

const char *rpc_http_error(const rpc_http *h)
{
	return h->error;
}
