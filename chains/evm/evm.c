/* evm.c: the EVM chain adapter over JSON-RPC on a websocket or over HTTP:
 * eth_chainId check, new heads (eth_subscribe("newHeads") on a websocket;
 * over HTTP, eth_blockNumber every poll interval and the new head's
 * header), eth_getLogs filtered by the watched token contracts and the
 * Transfer topic, eth_getBlockByNumber in JSON-RPC batches. Each request
 * has a deadline; an overdue one is reported as PW_ETIMEDOUT and its late
 * answer ignored. java-tron's JSON-RPC is Ethereum's: the Tron family
 * (chains/tron/) uses this adapter over HTTP. */
#include "bip32.h"
#include "buf.h"
#include "chain.h"
#include "eip55.h"
#include "evm.h"
#include "evm_int.h"
#include "evm_decode.h"
#include "hex.h"
#include "jsonrpc.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "pw_error.h"
#include "uint256.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pending_req {
	uint64_t first_id; /* batches use ids [first_id, first_id + n_ids) */
	size_t n_ids;
	enum req_kind kind;
	int64_t deadline_ms;
	uint64_t from, to; /* REQ_TRANSFERS, for error detail */
	int64_t sent_ms;
} pending_req;

/* Token addresses per eth_getLogs filter: a chain with more watched
 * tokens asks for a range's logs with several filters in one JSON-RPC
 * batch (any number of tokens works; providers bound a filter's address
 * list, and paywatch's config bounds the tokens per chain). */
#define FILTER_ADDRESSES_PER_REQUEST 50

struct chain_adapter {
	rpc_client *rpc;
	char name[PW_NAME_MAX];
	char **filters; /* JSON array texts of token addresses, FILTER_ADDRESSES_PER_REQUEST at most each */
	size_t n_filters;
	uint32_t timeout_ms;
	pending_req *reqs;
	size_t n_reqs, cap_reqs;
	/* HTTP: the head, polled */
	bool http;
	uint32_t poll_ms; /* poll interval (grows while rate limited) */
	uint32_t poll_ms_config;
	int64_t next_poll_ms; /* monotonic time of the next eth_blockNumber */
	uint64_t poll_id;     /* eth_blockNumber in flight, 0 if none */
	uint64_t head_hdr_id; /* the new head's header in flight, 0 if none */
	uint64_t last_head;   /* the last head reported */
	bool have_head;
	int poll_failures; /* head polls failed in a row */
	char poll_error[200];
};

int evm_track(chain_adapter *a, uint64_t first_id, size_t n_ids, enum req_kind kind, uint64_t from, uint64_t to)
{
	if (a->n_reqs == a->cap_reqs) {
		size_t cap = a->cap_reqs ? a->cap_reqs * 2 : 16;
		pending_req *p = realloc(a->reqs, cap * sizeof(*p));
		if (!p)
			return PW_ENOMEM;
		a->reqs = p;
		a->cap_reqs = cap;
	}
	int64_t now = pw_mono_ms();
	a->reqs[a->n_reqs++] = (pending_req){ first_id, n_ids, kind, now + a->timeout_ms, from, to, now };
	return 0;
}

/* The JSON-RPC method of a request kind (the head's header and a tagged
 * block are eth_getBlockByNumber too). */
static const char *req_method(enum req_kind k)
{
	switch (k) {
	case REQ_TRANSFERS: return "eth_getLogs";
	case REQ_NUMBER:
	case REQ_HEAD_POLL: return "eth_blockNumber";
	default: return "eth_getBlockByNumber";
	}
}

/* A JSON-RPC error object's outcome for the request metric: a rate limit
 * (evm_error_kind) or any other error. */
static const char *error_outcome(const cJSON *error)
{
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
	enum evm_error_kind k = evm_error_kind(cJSON_IsNumber(code) ? code->valueint : 0,
					       cJSON_IsString(msg) ? msg->valuestring : "", 0);
	return k == EVM_ERR_RATE ? "rate_limited" : "error";
}

/* Count an answered (or timed-out) request into the metrics: method,
 * outcome (ok; rate_limited: HTTP 429, or a node's rate-limit error;
 * error: a transport error, another HTTP error status, or another node
 * error in the answer or in any answer of a batch; timeout) and latency. */
static void observe_req(const chain_adapter *a, const pending_req *p, const rpc_message *m)
{
	const char *outcome = "ok";
	if (!m) {
		outcome = "timeout";
	} else if (m->rate_limited) {
		outcome = "rate_limited";
	} else if (m->error) {
		outcome = "error";
	} else if (cJSON_IsArray(m->root)) {
		const cJSON *item;
		cJSON_ArrayForEach (item, m->root)
			if (cJSON_GetObjectItemCaseSensitive(item, "error"))
				outcome = error_outcome(cJSON_GetObjectItemCaseSensitive(item, "error"));
	} else if (cJSON_GetObjectItemCaseSensitive(m->root, "error")) {
		outcome = error_outcome(cJSON_GetObjectItemCaseSensitive(m->root, "error"));
	}
	char labels[200];
	metrics_labels(labels, sizeof(labels), "chain", a->name, "method", req_method(p->kind), "outcome", outcome,
		       NULL);
	metrics_add("paywatch_rpc_requests_total", labels, 1);
	metrics_labels(labels, sizeof(labels), "chain", a->name, "method", req_method(p->kind), NULL);
	metrics_observe("paywatch_rpc_request_duration_seconds", labels, (double)(pw_mono_ms() - p->sent_ms) / 1000.0);
}

static bool take_req(chain_adapter *a, uint64_t id, pending_req *ret)
{
	for (size_t i = 0; i < a->n_reqs; i++) {
		if (id >= a->reqs[i].first_id && id < a->reqs[i].first_id + a->reqs[i].n_ids) {
			*ret = a->reqs[i];
			a->reqs[i] = a->reqs[--a->n_reqs];
			return true;
		}
	}
	return false;
}

/* Wait for the answer to one request during connect (no other traffic yet
 * except subscription notifications, which are dropped here). */
static int await_result(chain_adapter *a, uint64_t id, int timeout_ms, cJSON **ret_root, char *err, size_t errlen)
{
	int64_t deadline = pw_mono_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - pw_mono_ms();
		if (left <= 0)
			return PW_ETIMEDOUT;
		rpc_message m;
		int r = rpc_poll(a->rpc, (int)left, &m);
		if (r < 0 && r == PW_ECONN && rpc_client_is_http(a->rpc)) {
			snprintf(err, errlen, "cannot connect to %s: %s", rpc_client_url_masked(a->rpc),
				 rpc_client_error(a->rpc));
			return r;
		}
		if (r < 0) {
			snprintf(err, errlen, "%s", r == PW_ECONN ? rpc_client_error(a->rpc) : pw_strerror(r));
			return r;
		}
		if (m.error == PW_ERPC && m.has_id && m.id == id) { /* HTTP: an error status without an answer */
			snprintf(err, errlen, "node answered %s", m.snippet);
			rpc_message_done(&m);
			return PW_ECONN;
		}
		if (m.error == 0 && m.has_id && m.id == id) {
			const cJSON *e = cJSON_GetObjectItemCaseSensitive(m.root, "error");
			if (e) {
				const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
				snprintf(err, errlen, "node error: %.200s",
					 cJSON_IsString(msg) ? msg->valuestring : "(no message)");
				rpc_message_done(&m);
				return PW_ERPC;
			}
			*ret_root = m.root;
			return 0;
		}
		rpc_message_done(&m);
	}
}

static bool scan_transfers_answer(void *arg, const char *data, size_t len, rpc_message *ret);

static void evm_close(chain_adapter *a)
{
	if (!a)
		return;
	rpc_client_destroy(a->rpc);
	for (size_t i = 0; i < a->n_filters; i++)
		free(a->filters[i]);
	free(a->filters);
	free(a->reqs);
	free(a);
}

static int evm_connect(const chain_params *params, int timeout_ms, chain_adapter **ret, char *err, size_t errlen)
{
	chain_adapter *a = calloc(1, sizeof(*a));
	if (!a)
		return PW_ENOMEM;
	snprintf(a->name, sizeof(a->name), "%s", params->name);
	a->timeout_ms = params->request_timeout_ms;
	a->n_filters = (params->n_tokens + FILTER_ADDRESSES_PER_REQUEST - 1) / FILTER_ADDRESSES_PER_REQUEST;
	if (a->n_filters == 0)
		a->n_filters = 1; /* no token: an empty filter (matches no log) */
	a->filters = calloc(a->n_filters, sizeof(char *));
	if (!a->filters) {
		free(a);
		return PW_ENOMEM;
	}
	for (size_t f = 0; f < a->n_filters; f++) {
		size_t first = f * FILTER_ADDRESSES_PER_REQUEST, o = 0;
		size_t count = params->n_tokens - first < FILTER_ADDRESSES_PER_REQUEST ? params->n_tokens - first
										       : FILTER_ADDRESSES_PER_REQUEST;
		if (params->n_tokens == 0)
			count = 0;
		char *text = malloc(count * 45 + 3);
		if (!text) {
			evm_close(a);
			return PW_ENOMEM;
		}
		text[o++] = '[';
		for (size_t i = 0; i < count; i++) {
			if (i)
				text[o++] = ',';
			text[o++] = '"';
			hex_encode(params->tokens[first + i].b, params->tokens[first + i].len, text + o);
			o += 42;
			text[o++] = '"';
		}
		text[o++] = ']';
		text[o] = '\0';
		a->filters[f] = text;
	}

	const char *lines[32];
	char *owned[32];
	size_t n_lines = params->n_headers < 32 ? params->n_headers : 32;
	for (size_t i = 0; i < n_lines; i++) {
		size_t len = strlen(params->headers[i].name) + strlen(params->headers[i].value) + 3;
		owned[i] = malloc(len);
		if (owned[i])
			snprintf(owned[i], len, "%s: %s", params->headers[i].name, params->headers[i].value);
		lines[i] = owned[i] ? owned[i] : "X-Paywatch-Dropped: 1";
	}
	rpc_options ro = { .url = params->url,
			   .max_message_bytes = params->max_message_bytes,
			   .headers = lines,
			   .n_headers = n_lines,
			   .max_connections = params->max_in_flight ? params->max_in_flight + 2 : 4,
			   .timeout_ms = params->request_timeout_ms,
			   .bulk_url = params->bulk_url };
	int r = rpc_client_create(&ro, &a->rpc);
	for (size_t i = 0; i < n_lines; i++) {
		if (owned[i])
			memset(owned[i], 0, strlen(owned[i])); /* a provider's key */
		free(owned[i]);
	}
	if (r < 0) {
		snprintf(err, errlen, "bad endpoint URL");
		evm_close(a);
		return r;
	}
	a->http = rpc_client_is_http(a->rpc);
	rpc_client_set_scanner(a->rpc, scan_transfers_answer, a);
	a->poll_ms = a->poll_ms_config = params->poll_interval_ms ? params->poll_interval_ms : 1000;
	cJSON *root = NULL;
	uint64_t id;
	if ((r = rpc_client_wait_connected(a->rpc, timeout_ms)) < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", rpc_client_url_masked(a->rpc),
			 r == PW_ETIMEDOUT ? "timed out" : rpc_client_error(a->rpc));
		goto out_close;
	}
	if ((r = rpc_send(a->rpc, "eth_chainId", "[]", &id)) < 0 ||
	    (r = await_result(a, id, timeout_ms, &root, err, errlen)) < 0)
		goto out_close;
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");
	uint64_t chain_id = 0;
	if (!cJSON_IsString(res) || hex_parse_quantity(res->valuestring, &chain_id) < 0) {
		snprintf(err, errlen, "eth_chainId: malformed result");
		r = PW_EPARSE;
		goto out_close;
	}
	if (chain_id != params->chain_id) {
		snprintf(err, errlen, "node at %s serves chain id %llu, config says %llu",
			 rpc_client_url_masked(a->rpc), (unsigned long long)chain_id,
			 (unsigned long long)params->chain_id);
		r = PW_ECHAINID;
		goto out_close;
	}
	cJSON_Delete(root);
	root = NULL;
	if (a->http) { /* no subscriptions over HTTP: the head is polled */
		a->next_poll_ms = pw_mono_ms();
		*ret = a;
		return 0;
	}
	if ((r = rpc_send(a->rpc, "eth_subscribe", "[\"newHeads\"]", &id)) < 0 ||
	    (r = await_result(a, id, timeout_ms, &root, err, errlen)) < 0)
		goto out_close;
	cJSON_Delete(root);
	*ret = a;
	return 0;
out_close:
	cJSON_Delete(root);
	evm_close(a);
	return r;
}

/* One eth_getLogs call of blocks [from, to] with filter f, as JSON. */
static int append_get_logs(pw_buf *b, const chain_adapter *a, size_t f, uint64_t id, uint64_t from, uint64_t to)
{
	return buf_appendf(
		b,
		"{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"eth_getLogs\",\"params\":[{\"fromBlock\":\"0x%llx\","
		"\"toBlock\":\"0x%llx\",\"address\":%s,\"topics\":"
		"[\"0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef\"]}]}",
		(unsigned long long)id, (unsigned long long)from, (unsigned long long)to, a->filters[f]);
}

/* One eth_getLogs per filter: one call, or a JSON-RPC batch of them with
 * ids [first, first + n_filters) answered as one event. */
static int evm_request_transfers(chain_adapter *a, uint64_t from, uint64_t to, uint64_t *ret_req)
{
	pw_buf b;
	buf_init(&b, (size_t)1 << 24);
	uint64_t first = rpc_next_id(a->rpc);
	for (size_t f = 1; f < a->n_filters; f++)
		rpc_next_id(a->rpc);
	int r = a->n_filters > 1 ? buf_append(&b, "[", 1) : 0;
	for (size_t f = 0; f < a->n_filters && r == 0; f++) {
		if (f && (r = buf_append(&b, ",", 1)) < 0)
			break;
		r = append_get_logs(&b, a, f, first + f, from, to);
	}
	if (r == 0 && a->n_filters > 1)
		r = buf_append(&b, "]", 1);
	if (r == 0)
		r = rpc_send_bulk(a->rpc, b.data, b.len); /* over HTTP beside a websocket given http_url */
	buf_done(&b);
	if (r < 0)
		return r;
	if ((r = evm_track(a, first, a->n_filters, REQ_TRANSFERS, from, to)) < 0)
		return r;
	*ret_req = first;
	return 0;
}

static int evm_request_headers(chain_adapter *a, const uint64_t *numbers, size_t n, uint64_t *ret_req)
{
	if (n == 0)
		return PW_EINVAL;
	size_t cap = n * 100 + 8;
	char *text = malloc(cap);
	if (!text)
		return PW_ENOMEM;
	uint64_t first = rpc_next_id(a->rpc);
	for (size_t i = 1; i < n; i++)
		rpc_next_id(a->rpc);
	size_t o = 0;
	text[o++] = '[';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(text + o, cap - o,
				      "%s{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"eth_getBlockByNumber\","
				      "\"params\":[\"0x%llx\",false]}",
				      i ? "," : "", (unsigned long long)(first + i), (unsigned long long)numbers[i]);
	text[o++] = ']';
	int r = rpc_send_raw(a->rpc, text, o);
	free(text);
	if (r < 0)
		return r;
	if ((r = evm_track(a, first, n, REQ_HEADERS, numbers[0], numbers[n - 1])) < 0)
		return r;
	*ret_req = first;
	return 0;
}

static int evm_request_head_number(chain_adapter *a, uint64_t *ret_req)
{
	uint64_t id;
	int r = rpc_send(a->rpc, "eth_blockNumber", "[]", &id);
	if (r < 0)
		return r;
	if ((r = evm_track(a, id, 1, REQ_NUMBER, 0, 0)) < 0)
		return r;
	*ret_req = id;
	return 0;
}

static int evm_request_tag_number(chain_adapter *a, enum chain_finality f, uint64_t *ret_req)
{
	if (f == CHAIN_FINALITY_CONFIRMATIONS)
		return PW_EINVAL;
	char params[64];
	snprintf(params, sizeof(params), "[\"%s\",false]", chain_finality_tag(f));
	uint64_t id;
	int r = rpc_send(a->rpc, "eth_getBlockByNumber", params, &id);
	if (r < 0)
		return r;
	if ((r = evm_track(a, id, 1, REQ_TAG, 0, 0)) < 0)
		return r;
	*ret_req = id;
	return 0;
}

static bool contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++) {
		size_t i = 0;
		while (i < n && hay[i] && tolower((unsigned char)hay[i]) == needle[i])
			i++;
		if (i == n)
			return true;
	}
	return false;
}

static bool contains_any(const char *text, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (contains_nocase(text, words[i]))
			return true;
	return false;
}

enum evm_error_kind evm_error_kind(int code, const char *text, long http_status)
{
	/* how providers and nodes word a query too wide (fixtures:
	 * provider_getLogs_errors.json; java-tron's LogFilterWrapper and
	 * LogBlockQuery): checked first, since Infura and java-tron send
	 * "query returned more than 10000 results" with -32005, the code of
	 * Infura's rate limits too */
	static const char *const range_words[] = { "more than",     "results",   "block range",
						   "blocks range",  "range",     "too many blocks",
						   "response size", "too large", "too big" };
	static const char *const rate_words[] = { "rate limit",
						  "rate-limit",
						  "ratelimit",
						  "too many requests",
						  "requests per second",
						  "request rate",
						  "exceeded the quota",
						  "capacity",
						  "throttl" };
	if (http_status == 413)
		return EVM_ERR_RANGE;
	if (http_status == 429 || code == 429 || code == -32029)
		return EVM_ERR_RATE;
	if (contains_any(text, range_words, sizeof(range_words) / sizeof(range_words[0])))
		return EVM_ERR_RANGE;
	if (contains_any(text, rate_words, sizeof(rate_words) / sizeof(rate_words[0])))
		return EVM_ERR_RATE;
	return EVM_ERR_OTHER;
}

uint32_t evm_error_backoff_s(const cJSON *error)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(error, "data");
	if (!cJSON_IsObject(data))
		return 0;
	const cJSON *rate = cJSON_GetObjectItemCaseSensitive(data, "rate");
	const cJSON *b = cJSON_IsObject(rate) ? cJSON_GetObjectItemCaseSensitive(rate, "backoff_seconds") : NULL;
	if (!b)
		b = cJSON_GetObjectItemCaseSensitive(data, "backoff_seconds");
	if (!cJSON_IsNumber(b) || !(b->valuedouble > 0))
		return 0;
	if (b->valuedouble >= RPC_RETRY_AFTER_MAX_S)
		return RPC_RETRY_AFTER_MAX_S;
	return (uint32_t)ceil(b->valuedouble);
}

static void set_rpc_error(chain_event *ev, const cJSON *error, const pending_req *p)
{
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
	const char *text = cJSON_IsString(msg) ? msg->valuestring : "(no message)";
	ev->kind = CHAIN_EV_ERROR;
	ev->error = PW_ERPC;
	snprintf(ev->detail, sizeof(ev->detail), "node error %d: %.200s", cJSON_IsNumber(code) ? code->valueint : 0,
		 text);
	/* For eth_getLogs every error but a rate limit is a reason to try a
	 * smaller range: providers word range limits many ways. */
	ev->rate_limited = evm_error_kind(cJSON_IsNumber(code) ? code->valueint : 0, text, 0) == EVM_ERR_RATE;
	ev->retry_after_s = ev->rate_limited ? evm_error_backoff_s(error) : 0;
	ev->range_too_large = !ev->rate_limited && p->kind == REQ_TRANSFERS && p->to > p->from;
}

static int cmp_by_id(const void *x, const void *y)
{
	const cJSON *const *a = x, *const *b = y;
	double ia = cJSON_GetObjectItemCaseSensitive(*a, "id")->valuedouble;
	double ib = cJSON_GetObjectItemCaseSensitive(*b, "id")->valuedouble;
	return ia < ib ? -1 : ia > ib;
}

static void set_parse_error(chain_event *ev, const char *fmt, const char *what)
{
	ev->kind = CHAIN_EV_ERROR;
	ev->error = PW_EPARSE;
	snprintf(ev->detail, sizeof(ev->detail), fmt, what);
}

/* The answers of a JSON-RPC batch with ids [first_id, first_id + n_ids),
 * in id order (a node may answer a batch in any order). 0 with *ret_items
 * (malloc'd, caller frees), or -1 with ev set to the error. */
static int sort_batch(const cJSON *root, const pending_req *p, const char *what, const cJSON ***ret_items,
		      chain_event *ev)
{
	size_t n = cJSON_IsArray(root) ? (size_t)cJSON_GetArraySize(root) : 0;
	if (n != p->n_ids) {
		ev->kind = CHAIN_EV_ERROR;
		ev->error = PW_EPARSE;
		snprintf(ev->detail, sizeof(ev->detail), "%s batch: %zu answers for %zu requests", what, n, p->n_ids);
		return -1;
	}
	const cJSON **items = malloc(n * sizeof(*items));
	if (!items) {
		ev->kind = CHAIN_EV_ERROR;
		ev->error = PW_ENOMEM;
		return -1;
	}
	size_t i = 0;
	const cJSON *it;
	cJSON_ArrayForEach (it, root) {
		const cJSON *id = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "id") : NULL;
		if (!cJSON_IsNumber(id) || id->valuedouble < (double)p->first_id ||
		    id->valuedouble >= (double)(p->first_id + p->n_ids)) {
			free(items);
			set_parse_error(ev, "%s batch: answer with an unknown id", what);
			return -1;
		}
		items[i++] = it;
	}
	qsort(items, n, sizeof(*items), cmp_by_id);
	for (i = 0; i < n; i++) {
		if ((uint64_t)cJSON_GetObjectItemCaseSensitive(items[i], "id")->valuedouble != p->first_id + i) {
			free(items);
			set_parse_error(ev, "%s batch: duplicate id", what);
			return -1;
		}
	}
	*ret_items = items;
	return 0;
}

static void decode_headers_answer(const cJSON *root, const pending_req *p, chain_event *ev)
{
	const cJSON **items = NULL;
	ev->kind = CHAIN_EV_HEADERS;
	if (sort_batch(root, p, "header", &items, ev) < 0)
		return;
	size_t n = p->n_ids;
	ev->headers = malloc(n * sizeof(pw_block_ref));
	if (!ev->headers) {
		ev->kind = CHAIN_EV_ERROR;
		ev->error = PW_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(items[i], "error");
		if (e) {
			set_rpc_error(ev, e, p);
			goto out;
		}
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(items[i], "result");
		if (cJSON_IsNull(res)) {
			ev->kind = CHAIN_EV_ERROR;
			ev->error = PW_ENOTFOUND;
			snprintf(ev->detail, sizeof(ev->detail), "node does not have a requested block yet");
			goto out;
		}
		char why[200];
		if (evm_decode_header(res, &ev->headers[i], why, sizeof(why)) < 0) {
			set_parse_error(ev, "header: %s", why);
			goto out;
		}
	}
	ev->n_headers = n;
out:
	free(items);
	if (ev->kind == CHAIN_EV_ERROR) {
		free(ev->headers);
		ev->headers = NULL;
	}
}

/* Every log must lie inside the range asked for: else ev becomes the
 * error (its transfers freed). */
static void check_in_range(const pending_req *p, chain_event *ev)
{
	for (size_t i = 0; ev->kind == CHAIN_EV_TRANSFERS && i < ev->n_transfers; i++) {
		uint64_t block = ev->transfers[i].block_number;
		if (block < p->from || block > p->to) {
			ev->kind = CHAIN_EV_ERROR;
			ev->error = PW_EPARSE;
			snprintf(ev->detail, sizeof(ev->detail),
				 "eth_getLogs [%llu, %llu]: log of block %llu outside the range",
				 (unsigned long long)p->from, (unsigned long long)p->to, (unsigned long long)block);
		}
	}
	if (ev->kind == CHAIN_EV_ERROR) {
		free(ev->transfers);
		ev->transfers = NULL;
		ev->n_transfers = 0;
	}
}

/* What the scanner made of an eth_getLogs answer (evm_scan_logs_answer). */
typedef struct scanned_logs {
	chain_transfer *transfers;
	size_t n, n_logs;
} scanned_logs;

static void scanned_free(void *x)
{
	scanned_logs *sc = x;
	free(sc->transfers);
	free(sc);
}

/* The client's scanner: the answer to a single-filter eth_getLogs request
 * in flight is read without a parse tree when it has the plain shape;
 * anything else is parsed by cJSON (rpc_scanner). */
static bool scan_transfers_answer(void *arg, const char *data, size_t len, rpc_message *ret)
{
	const chain_adapter *a = arg;
	uint64_t id = 0, scanned_id = 0;
	if (!rpc_scan_id(data, len, &id))
		return false;
	bool ours = false;
	for (size_t i = 0; i < a->n_reqs && !ours; i++)
		ours = a->reqs[i].first_id == id && a->reqs[i].n_ids == 1 && a->reqs[i].kind == REQ_TRANSFERS;
	scanned_logs *sc = ours ? calloc(1, sizeof(*sc)) : NULL;
	if (!sc)
		return false;
	if (evm_scan_logs_answer(data, len, &scanned_id, &sc->transfers, &sc->n, &sc->n_logs) < 0 || scanned_id != id) {
		scanned_free(sc);
		return false;
	}
	memset(ret, 0, sizeof(*ret));
	ret->has_id = true;
	ret->id = id;
	ret->scanned = sc;
	ret->scanned_free = scanned_free;
	return true;
}

/* The event of a scanned eth_getLogs answer: its transfers move to ev. */
static void scanned_transfers_answer(rpc_message *m, const pending_req *p, chain_event *ev)
{
	scanned_logs *sc = m->scanned;
	ev->kind = CHAIN_EV_TRANSFERS;
	ev->transfers = sc->transfers;
	ev->n_transfers = sc->n;
	ev->n_logs = sc->n_logs;
	sc->transfers = NULL;
	check_in_range(p, ev);
}

/* An eth_getLogs answer for blocks [p->from, p->to]: one result, or (many
 * tokens) a batch of one result per filter, joined into one event. Every
 * log must lie inside the range; the parts together obey
 * evm_check_transfers. */
static void decode_transfers_answer(const cJSON *root, const pending_req *p, chain_event *ev)
{
	const cJSON **items = NULL;
	char why[220];
	if (p->n_ids > 1 && sort_batch(root, p, "eth_getLogs", &items, ev) < 0)
		return;
	ev->kind = CHAIN_EV_TRANSFERS;
	for (size_t k = 0; k < p->n_ids && ev->kind == CHAIN_EV_TRANSFERS; k++) {
		const cJSON *answer = items ? items[k] : root;
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(answer, "error");
		if (e) {
			set_rpc_error(ev, e, p);
			break;
		}
		chain_transfer *part = NULL;
		size_t n_part = 0, n_logs = 0;
		int r = evm_decode_logs(cJSON_GetObjectItemCaseSensitive(answer, "result"), &part, &n_part, &n_logs,
					why, sizeof(why));
		if (r == 0 && n_part) {
			chain_transfer *grown = realloc(ev->transfers, (ev->n_transfers + n_part) * sizeof(*grown));
			if (!grown) {
				r = PW_ENOMEM;
				snprintf(why, sizeof(why), "out of memory");
			} else {
				ev->transfers = grown;
				memcpy(ev->transfers + ev->n_transfers, part, n_part * sizeof(*part));
				ev->n_transfers += n_part;
			}
		}
		free(part);
		ev->n_logs += n_logs;
		if (r < 0) {
			ev->kind = CHAIN_EV_ERROR;
			ev->error = r;
			snprintf(ev->detail, sizeof(ev->detail), "eth_getLogs [%llu, %llu]: %s",
				 (unsigned long long)p->from, (unsigned long long)p->to, why);
		}
	}
	if (ev->kind == CHAIN_EV_TRANSFERS && p->n_ids > 1) {
		int r = evm_check_transfers(ev->transfers, &ev->n_transfers, why, sizeof(why));
		if (r < 0) {
			ev->kind = CHAIN_EV_ERROR;
			ev->error = r;
			snprintf(ev->detail, sizeof(ev->detail), "eth_getLogs [%llu, %llu]: %s",
				 (unsigned long long)p->from, (unsigned long long)p->to, why);
		}
	}
	free(items);
	check_in_range(p, ev);
}

static bool on_own_answer(chain_adapter *a, rpc_message *m, const pending_req *p, chain_event *ev);

/* Turn one inbound message into an event; false if it answers nothing we track. */
static bool message_to_event(chain_adapter *a, rpc_message *m, chain_event *ev)
{
	pending_req p;
	memset(ev, 0, sizeof(*ev));
	if (m->has_id && a->http && (m->id == a->poll_id || m->id == a->head_hdr_id) && take_req(a, m->id, &p)) {
		observe_req(a, &p, m);
		return on_own_answer(a, m, &p, ev);
	}
	if (m->error) { /* oversized, unparsable, or an HTTP error status */
		ev->kind = CHAIN_EV_ERROR;
		ev->error = m->error;
		if (m->error == PW_ETOOBIG)
			snprintf(ev->detail, sizeof(ev->detail), "message larger than the configured cap");
		else if (m->error == PW_ERPC)
			snprintf(ev->detail, sizeof(ev->detail), "node answered %.120s", m->snippet);
		else if (m->too_dense)
			snprintf(ev->detail, sizeof(ev->detail),
				 "message holds %zu JSON values, more than one per 20 bytes: refused unparsed (%.60s)",
				 m->values, m->snippet);
		else if (m->nul_escape)
			snprintf(ev->detail, sizeof(ev->detail),
				 "a string holds \\u0000, which would be read cut short: refused unparsed (%.60s)",
				 m->snippet);
		else
			snprintf(ev->detail, sizeof(ev->detail), "invalid JSON: %.100s", m->snippet);
		if (m->has_id && take_req(a, m->id, &p)) {
			observe_req(a, &p, m);
			ev->req = p.first_id;
			ev->range_too_large = p.kind == REQ_TRANSFERS && p.to > p.from;
			return true;
		}
		if (m->error == PW_ERPC)
			return false; /* an HTTP error for nothing in flight (answered late) */
		ev->req = 0;          /* unattributable: the connection is no longer trustworthy */
		return true;
	}
	const cJSON *root = m->root;
	if (cJSON_IsObject(root) && !m->has_id) {
		const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
		const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
		if (!cJSON_IsString(method) || strcmp(method->valuestring, "eth_subscription") != 0)
			return false;
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(params, "result");
		ev->headers = malloc(sizeof(pw_block_ref));
		if (!ev->headers)
			return false;
		char why[200];
		if (evm_decode_header(res, ev->headers, why, sizeof(why)) < 0) {
			free(ev->headers);
			ev->headers = NULL;
			ev->kind = CHAIN_EV_ERROR;
			ev->error = PW_EPARSE;
			snprintf(ev->detail, sizeof(ev->detail), "newHeads notification: %s", why);
			return true;
		}
		ev->kind = CHAIN_EV_HEAD;
		ev->n_headers = 1;
		return true;
	}
	if (!m->has_id || !take_req(a, m->id, &p))
		return false;
	observe_req(a, &p, m);
	ev->req = p.first_id;
	if (p.kind == REQ_HEADERS) {
		decode_headers_answer(root, &p, ev);
		return true;
	}
	if (p.kind == REQ_TRANSFERS) {
		if (m->scanned)
			scanned_transfers_answer(m, &p, ev);
		else
			decode_transfers_answer(root, &p, ev);
		return true;
	}
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (e) {
		set_rpc_error(ev, e, &p);
		return true;
	}
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");
	char why[220];
	if (p.kind == REQ_TAG) {
		pw_block_ref h;
		if (cJSON_IsNull(res)) {
			ev->kind = CHAIN_EV_ERROR;
			ev->error = PW_ENOTFOUND;
			snprintf(ev->detail, sizeof(ev->detail), "the node has no such block yet");
		} else if (evm_decode_header(res, &h, why, sizeof(why)) < 0) {
			ev->kind = CHAIN_EV_ERROR;
			ev->error = PW_EPARSE;
			snprintf(ev->detail, sizeof(ev->detail), "tagged block: %s", why);
		} else {
			ev->kind = CHAIN_EV_NUMBER;
			ev->number = h.number;
		}
		return true;
	}
	if (p.kind == REQ_NUMBER) {
		if (!cJSON_IsString(res) || hex_parse_quantity(res->valuestring, &ev->number) < 0 ||
		    ev->number > (uint64_t)PW_BLOCK_MAX) {
			ev->kind = CHAIN_EV_ERROR;
			ev->error = PW_EPARSE;
			snprintf(ev->detail, sizeof(ev->detail),
				 "eth_blockNumber: malformed result (a block number up to 2^63-1)");
			return true;
		}
		ev->kind = CHAIN_EV_NUMBER;
		return true;
	}
	return false; /* every kind is handled above */
}

bool evm_message_to_event(chain_adapter *a, rpc_message *m, chain_event *ev)
{
	bool got = message_to_event(a, m, ev);
	if (got && ev->kind == CHAIN_EV_ERROR && m->http_status) {
		/* the HTTP status says what the body may not */
		enum evm_error_kind k = evm_error_kind(0, "", m->http_status);
		if (k == EVM_ERR_RATE || m->rate_limited) {
			ev->rate_limited = true;
			ev->range_too_large = false;
		}
		if (m->retry_after_s > ev->retry_after_s) /* Retry-After, or the body's backoff_seconds */
			ev->retry_after_s = m->retry_after_s;
	}
	return got;
}

/* ---- HTTP: the head, polled ---- */

/* One of the head poll's requests failed: wait longer when rate limited,
 * and at least what the answer asks (retry_after_s: its Retry-After or
 * its error's backoff_seconds, up to
 * CHAIN_RETRY_AFTER_WAIT_MAX_S); after three failures in a row, tell the
 * caller (an event for no request: the connection is not trusted
 * further). */
static bool own_failure(chain_adapter *a, bool rate_limited, uint32_t retry_after_s, const char *detail,
			chain_event *ev)
{
	a->poll_id = a->head_hdr_id = 0;
	if (rate_limited)
		a->poll_ms = a->poll_ms * 2 > 30000 ? 30000 : a->poll_ms * 2;
	int64_t asked_ms = chain_asked_wait_ms(retry_after_s);
	a->next_poll_ms = pw_mono_ms() + (asked_ms > a->poll_ms ? asked_ms : a->poll_ms);
	if (rate_limited) {
		if (asked_ms > a->poll_ms)
			log_emit(LOG_LEVEL_WARN, a->name, -1,
				 "head poll rate limited: the node asks to wait %u s; next poll in %lld ms",
				 retry_after_s, (long long)asked_ms);
		else
			log_emit(LOG_LEVEL_WARN, a->name, -1, "head poll rate limited: polling every %u ms",
				 a->poll_ms);
		return false;
	}
	snprintf(a->poll_error, sizeof(a->poll_error), "%s", detail);
	if (++a->poll_failures < 3) {
		log_emit(LOG_LEVEL_WARN, a->name, -1, "head poll failed (%d in a row): %s", a->poll_failures, detail);
		return false;
	}
	memset(ev, 0, sizeof(*ev));
	ev->kind = CHAIN_EV_ERROR;
	ev->error = PW_ERPC;
	snprintf(ev->detail, sizeof(ev->detail), "head polling failed %d times in a row: %.180s", a->poll_failures,
		 a->poll_error);
	a->poll_failures = 0;
	return true;
}

static int send_own_header_request(chain_adapter *a, uint64_t number)
{
	uint64_t id = rpc_next_id(a->rpc);
	char text[160];
	int n = snprintf(
		text, sizeof(text),
		"[{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"eth_getBlockByNumber\",\"params\":[\"0x%llx\",false]}]",
		(unsigned long long)id, (unsigned long long)number);
	int r = rpc_send_raw(a->rpc, text, (size_t)n);
	if (r == 0 && (r = evm_track(a, id, 1, REQ_HEAD_HEADER, number, number)) == 0)
		a->head_hdr_id = id;
	return r;
}

/* An answer to the head poll's eth_blockNumber or to the new head's
 * header: a new head becomes CHAIN_EV_HEAD (true); anything else false. */
static bool on_own_answer(chain_adapter *a, rpc_message *m, const pending_req *p, chain_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (m->error)
		return own_failure(a, m->rate_limited, m->retry_after_s,
				   m->error == PW_ERPC ? m->snippet : pw_strerror(m->error), ev);
	const cJSON *root = m->root;
	if (p->kind == REQ_HEAD_HEADER) {
		const cJSON *item = cJSON_IsArray(root) ? cJSON_GetArrayItem(root, 0) : root;
		root = item;
	}
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (e) {
		chain_event tmp;
		memset(&tmp, 0, sizeof(tmp));
		set_rpc_error(&tmp, e, p);
		return own_failure(a, tmp.rate_limited || m->rate_limited,
				   m->retry_after_s > tmp.retry_after_s ? m->retry_after_s : tmp.retry_after_s,
				   tmp.detail, ev);
	}
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");
	if (p->kind == REQ_HEAD_POLL) {
		a->poll_id = 0;
		uint64_t number = 0;
		if (!cJSON_IsString(res) || hex_parse_quantity(res->valuestring, &number) < 0 ||
		    number > (uint64_t)PW_BLOCK_MAX)
			return own_failure(a, false, 0, "eth_blockNumber: malformed result", ev);
		a->next_poll_ms = pw_mono_ms() + a->poll_ms;
		if (a->have_head && number == a->last_head)
			return false;
		if (send_own_header_request(a, number) < 0)
			return own_failure(a, false, 0, "cannot ask for the new head's header", ev);
		return false;
	}
	a->head_hdr_id = 0;
	if (cJSON_IsNull(res))
		return false; /* a load-balanced node behind the one that answered: the next poll asks again */
	char why[200];
	pw_block_ref h;
	if (evm_decode_header(res, &h, why, sizeof(why)) < 0 || h.number != p->from)
		return own_failure(a, false, 0, why[0] ? why : "new head: a header of another block", ev);
	ev->headers = malloc(sizeof(pw_block_ref));
	if (!ev->headers)
		return false;
	ev->headers[0] = h;
	ev->kind = CHAIN_EV_HEAD;
	ev->n_headers = 1;
	a->last_head = h.number;
	a->have_head = true;
	a->poll_failures = 0;
	a->poll_ms = a->poll_ms_config;
	return true;
}

/* HTTP: ask for the head when its poll interval has passed. */
static void poll_head(chain_adapter *a, int64_t now)
{
	if (!a->http || a->poll_id || a->head_hdr_id || now < a->next_poll_ms)
		return;
	uint64_t id;
	if (rpc_send(a->rpc, "eth_blockNumber", "[]", &id) == 0 && evm_track(a, id, 1, REQ_HEAD_POLL, 0, 0) == 0)
		a->poll_id = id;
	else
		a->next_poll_ms = now + a->poll_ms;
}

static int evm_poll(chain_adapter *a, int timeout_ms, chain_event *ret)
{
	int64_t deadline = pw_mono_ms() + timeout_ms;
	for (;;) {
		int64_t now = pw_mono_ms();
		for (size_t i = 0; i < a->n_reqs; i++) { /* overdue requests first */
			if (a->reqs[i].deadline_ms <= now)
				observe_req(a, &a->reqs[i], NULL);
			if (a->reqs[i].deadline_ms <= now &&
			    (a->reqs[i].kind == REQ_HEAD_POLL || a->reqs[i].kind == REQ_HEAD_HEADER)) {
				a->reqs[i] = a->reqs[--a->n_reqs];
				char detail[64];
				snprintf(detail, sizeof(detail), "no answer within %u ms", a->timeout_ms);
				if (own_failure(a, false, 0, detail, ret))
					return 0;
				i--;
				continue;
			}
			if (a->reqs[i].deadline_ms <= now) {
				memset(ret, 0, sizeof(*ret));
				ret->kind = CHAIN_EV_ERROR;
				ret->error = PW_ETIMEDOUT;
				ret->req = a->reqs[i].first_id;
				ret->range_too_large =
					a->reqs[i].kind == REQ_TRANSFERS && a->reqs[i].to > a->reqs[i].from;
				snprintf(ret->detail, sizeof(ret->detail), "no answer within %u ms", a->timeout_ms);
				a->reqs[i] = a->reqs[--a->n_reqs];
				return 0;
			}
		}
		poll_head(a, now);
		int64_t wait = deadline - now;
		for (size_t i = 0; i < a->n_reqs; i++)
			if (a->reqs[i].deadline_ms - now < wait)
				wait = a->reqs[i].deadline_ms - now;
		if (a->http && !a->poll_id && !a->head_hdr_id && a->next_poll_ms - now < wait)
			wait = a->next_poll_ms - now;
		if (wait < 0)
			wait = 0;
		rpc_message m;
		int r = rpc_poll(a->rpc, (int)wait, &m);
		if (r == PW_ETIMEDOUT) {
			if (pw_mono_ms() >= deadline)
				return PW_ETIMEDOUT;
			continue;
		}
		if (r == PW_ECONN) /* the pipeline leaves the endpoint: say why */
			log_emit(LOG_LEVEL_WARN, a->name, -1, "%s: %s", rpc_client_url_masked(a->rpc),
				 rpc_client_error(a->rpc));
		if (r < 0)
			return r == PW_ESTOPPED ? PW_ETIMEDOUT : r;
		bool got = evm_message_to_event(a, &m, ret);
		rpc_message_done(&m);
		if (got)
			return 0;
	}
}

chain_adapter *evm_adapter_create_detached(uint32_t timeout_ms)
{
	chain_adapter *a = calloc(1, sizeof(*a));
	if (a)
		a->timeout_ms = timeout_ms;
	return a;
}

static const char *evm_endpoint(const chain_adapter *a)
{
	return rpc_client_url_masked(a->rpc);
}

const chain_ops evm_chain_ops = {
	.kind = "evm",
	.connect = evm_connect,
	.close = evm_close,
	.request_transfers = evm_request_transfers,
	.request_headers = evm_request_headers,
	.request_head_number = evm_request_head_number,
	.request_tag_number = evm_request_tag_number,
	.poll = evm_poll,
	.endpoint = evm_endpoint,
};

/* Config input: "0x" + 40 hex digits; mixed case must carry a valid
 * EIP-55 checksum. */
static int evm_parse_address(const char *text, pw_addr *ret, char *err, size_t errlen)
{
	uint8_t raw[PW_ADDR_LEN];
	int r = eip55_parse(text, raw);
	if (r == PW_ECHECKSUM) {
		snprintf(err, errlen, "bad EIP-55 checksum in mixed-case address %s", text);
		return r;
	}
	if (r < 0) {
		snprintf(err, errlen, "must be a 0x-prefixed 20-byte hex address");
		return PW_EPARSE;
	}
	pw_addr_set(ret, raw, PW_ADDR_LEN);
	return 0;
}

static void evm_format_address_input(const pw_addr *a, char *out)
{
	eip55_format(a->b, out);
}

/* EIP-681 ("URL Format for Transaction Requests"), an ERC-20 transfer:
 * ethereum:<token>@<chain_id>/transfer?address=<to>&uint256=<amount>. */
static int evm_payment_uri(const pw_addr *token, uint64_t chain_id, const pw_addr *to, const uint8_t amount[32],
			   char *out, size_t outlen)
{
	char t[64], a[64], v[U256_DEC_MAX]; /* 0x + 40 EIP-55 digits */
	eip55_format(token->b, t);
	eip55_format(to->b, a);
	u256_to_dec(amount, v);
	int n = snprintf(out, outlen, "ethereum:%s@%llu/transfer?address=%s&uint256=%s", t,
			 (unsigned long long)chain_id, a, v);
	return n < 0 || (size_t)n >= outlen ? PW_ETOOBIG : 0;
}

const chain_family evm_chain_family = {
	.kind = "evm",
	.family = PW_FAMILY_EVM,
	.ops = &evm_chain_ops,
	.address_len = PW_ADDR_LEN,
	.has_safe = true,
	.has_websocket = true,
	.max_range = 0,
	.address_hint = "0x + 40 hex digits (EIP-55 when mixed case)",
	.parse_address = evm_parse_address,
	.format_address_input = evm_format_address_input,
	.address_of_key = bip32_key_address,
	.payment_uri = evm_payment_uri,
};
