/* config.c: paywatch.json parsing, ${ENV} substitution and validation. Every
 * rule reports the JSON path of the field it rejects. Unknown fields are
 * errors too: a typo in a payment watcher's config must not pass silently. */
#include "config.h"
#include "buf.h"
#include "hex.h"
#include "idfmt.h"
#include "json_check.h"
#include "parse.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "text.h"
#include "url.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct cfg_ctx {
	char *err;
	size_t errlen;
	pw_config *cfg;
} cfg_ctx;

static int fail(cfg_ctx *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(cfg_ctx *c, const char *path, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s", path, reason);
	return PW_ECONFIG;
}

/* Replace every ${NAME} in s with getenv(NAME), a value of UTF-8 text
 * without control characters. Returns a malloc'd string. */
static int resolve_env(cfg_ctx *c, const char *path, const char *s, char **ret)
{
	pw_buf b;
	buf_init(&b, CONFIG_MAX_BYTES);
	while (*s) {
		const char *start = strstr(s, "${");
		if (!start) {
			if (buf_append(&b, s, strlen(s)) < 0)
				goto out_nomem;
			break;
		}
		if (buf_append(&b, s, (size_t)(start - s)) < 0)
			goto out_nomem;
		const char *end = strchr(start + 2, '}');
		if (!end) {
			buf_done(&b);
			return fail(c, path, "unterminated ${ in value");
		}
		char name[128];
		size_t n = (size_t)(end - start - 2);
		if (n == 0 || n >= sizeof(name)) {
			buf_done(&b);
			return fail(c, path, "bad environment variable reference");
		}
		memcpy(name, start + 2, n);
		name[n] = '\0';
		for (size_t i = 0; i < n; i++) {
			char ch = name[i];
			if (!(ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			      (i > 0 && ch >= '0' && ch <= '9'))) {
				buf_done(&b);
				return fail(c, path, "bad environment variable name in ${...}");
			}
		}
		const char *val = getenv(name);
		if (!val) {
			buf_done(&b);
			return fail(c, path, "environment variable %s is not set", name);
		}
		/* the file was read strictly (json_check_strict); a value from the
		 * environment comes as bytes: held to the same text (its value never
		 * shown: it may be a secret) */
		if (!text_is_clean_utf8(val, strlen(val))) {
			buf_done(&b);
			return fail(c, path, "environment variable %s is not UTF-8 text without control characters",
				    name);
		}
		if (buf_append(&b, val, strlen(val)) < 0)
			goto out_nomem;
		s = end + 1;
	}
	if (!b.data && buf_append(&b, "", 0) < 0)
		goto out_nomem;
	*ret = b.data;
	return 0;
out_nomem:
	buf_done(&b);
	return PW_ENOMEM;
}

static int check_fields(cfg_ctx *c, const char *path, const cJSON *obj, const char *const *allowed)
{
	const cJSON *it;
	cJSON_ArrayForEach (it, obj) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(*a, it->string) == 0;
		if (!ok) {
			char p[512];
			snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", it->string);
			return fail(c, p, "unknown field");
		}
	}
	return 0;
}

/* A string field (after ${ENV} resolution). required=false: *ret stays NULL if absent. */
static int get_string(cfg_ctx *c, const char *path, const cJSON *obj, const char *key, bool required, char **ret)
{
	char p[512];
	snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", key);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v) {
		if (required)
			return fail(c, p, "required field is missing");
		return 0;
	}
	if (!cJSON_IsString(v))
		return fail(c, p, "must be a string");
	return resolve_env(c, p, v->valuestring, ret);
}

static int get_uint(cfg_ctx *c, const char *path, const cJSON *obj, const char *key, bool required, uint64_t min,
		    uint64_t max, uint64_t dflt, uint64_t *ret)
{
	char p[512];
	snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", key);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v) {
		if (required)
			return fail(c, p, "required field is missing");
		*ret = dflt;
		return 0;
	}
	double d = v->valuedouble;
	if (!cJSON_IsNumber(v) || d != floor(d) || d < (double)min || d > (double)max || d > 9007199254740992.0)
		return fail(c, p, "must be an integer %llu..%llu", (unsigned long long)min, (unsigned long long)max);
	*ret = (uint64_t)d;
	return 0;
}

/* start_block: an integer, or a string of 1..19 decimal digits so that
 * an example config can take it from the environment ("${START_BLOCK}":
 * the block a merchant's first address was handed out at). 0..2^63-1.
 * Or the string "head" (from the environment too): *ret_head, *ret 0. */
static int get_start_block(cfg_ctx *c, const char *path, const cJSON *obj, uint64_t *ret, bool *ret_head)
{
	*ret_head = false;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "start_block");
	if (!cJSON_IsString(v))
		return get_uint(c, path, obj, "start_block", false, 0, INT64_MAX, 0, ret);
	char p[512];
	snprintf(p, sizeof(p), "%s%sstart_block", path, *path ? "." : "");
	char *s = NULL;
	int r = resolve_env(c, p, v->valuestring, &s);
	if (r < 0)
		return r;
	if (strcmp(s, "head") == 0) {
		free(s);
		*ret = 0;
		*ret_head = true;
		return 0;
	}
	size_t n = strlen(s);
	uint64_t x = 0;
	bool ok = n >= 1 && n <= 19;
	for (size_t i = 0; ok && i < n; i++) {
		ok = s[i] >= '0' && s[i] <= '9';
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	free(s);
	if (!ok || x > (uint64_t)INT64_MAX)
		return fail(c, p,
			    "must be a block number 0..%lld (an integer, or a string of its decimal digits), or "
			    "\"head\" (begin at the node's head the first time)",
			    (long long)INT64_MAX);
	*ret = x;
	return 0;
}

static bool valid_name(const char *s, bool allow_upper_dot)
{
	size_t n = strlen(s);
	if (n == 0 || n >= PW_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
		if (allow_upper_dot)
			ok |= (ch >= 'A' && ch <= 'Z') || ch == '.';
		if (!ok)
			return false;
	}
	return true;
}

bool config_valid_id(const char *s)
{
	return valid_name(s, true);
}

static bool chain_name_ok(const char *s)
{
	return valid_name(s, false);
}

static bool merchant_id_ok(const char *s)
{
	return valid_name(s, true);
}

/* 1..15 bytes of UTF-8 without control characters ("USDC", "USD₮0"):
 * the symbol goes into Postgres text and webhook JSON as it is */
static bool symbol_ok(const char *s)
{
	return strlen(s) >= 1 && strlen(s) <= 15 && text_is_clean_utf8(s, strlen(s));
}

/* A required string field, accepted by ok(), copied into out (outlen
 * bytes); `rule` is the error text when ok() refuses it. */
static int get_name(cfg_ctx *c, const char *path, const cJSON *obj, const char *key, bool (*ok)(const char *),
		    const char *rule, char *out, size_t outlen)
{
	char *s = NULL;
	int r = get_string(c, path, obj, key, true, &s);
	if (r < 0)
		return r;
	bool good = ok(s);
	if (good)
		snprintf(out, outlen, "%s", s);
	free(s);
	if (!good) {
		char p[512];
		snprintf(p, sizeof(p), "%s.%s", path, key);
		return fail(c, p, "%s", rule);
	}
	return 0;
}

/* An address of chain c, in any form its family accepts on input. */
static int parse_address(cfg_ctx *c, const char *path, const cJSON *v, const cfg_chain *chain, pw_addr *out)
{
	if (!cJSON_IsString(v))
		return fail(c, path, "must be a string");
	char why[256];
	char *resolved = NULL;
	if (strstr(v->valuestring, "${")) { /* ${ENV} like any string (a million plain ones skip this) */
		int r = resolve_env(c, path, v->valuestring, &resolved);
		if (r < 0)
			return r;
	}
	int r = chain->family->parse_address(resolved ? resolved : v->valuestring, out, why, sizeof(why));
	free(resolved);
	if (r < 0)
		return fail(c, path, "%s", why);
	return 0;
}

static int parse_token(cfg_ctx *c, const char *path, const cJSON *t, const cfg_chain *chain, cfg_token *tok)
{
	static const char *const fields[] = { "symbol", "address", "decimals", NULL };
	char p[512];
	uint64_t u;
	int r;
	if (!cJSON_IsObject(t))
		return fail(c, path, "must be an object");
	if ((r = check_fields(c, path, t, fields)) < 0)
		return r;
	if ((r = get_name(c, path, t, "symbol", symbol_ok, "must be 1..15 bytes of UTF-8 without control characters",
			  tok->symbol, sizeof(tok->symbol))) < 0)
		return r;
	snprintf(p, sizeof(p), "%s.address", path);
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "address");
	if (!a)
		return fail(c, p, "required field is missing");
	if ((r = parse_address(c, p, a, chain, &tok->address)) < 0)
		return r;
	if ((r = get_uint(c, path, t, "decimals", true, 0, 77, 0, &u)) < 0)
		return r;
	tok->decimals = (unsigned)u;
	return 0;
}

/* One node URL: ws:// or wss:// (transport CHAIN_TRANSPORT_WS) or http://
 * or https:// (CHAIN_TRANSPORT_HTTP), without user info (a provider's key
 * goes in the path or, over HTTP, in http_headers), read as the client
 * reads it (pw_url_parse: host, port 1..65535, no fragment, ASCII). */
static int parse_node_url(cfg_ctx *c, const char *path, const cJSON *v, enum chain_transport transport, char **ret)
{
	if (!cJSON_IsString(v))
		return fail(c, path, "must be a string");
	char *url = NULL;
	int r = resolve_env(c, path, v->valuestring, &url);
	if (r < 0)
		return r;
	bool ws = strncmp(url, "ws://", 5) == 0 || strncmp(url, "wss://", 6) == 0;
	bool http = strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
	const char *want = transport == CHAIN_TRANSPORT_WS ? "a ws:// or wss:// URL" : "an http:// or https:// URL";
	if (!(transport == CHAIN_TRANSPORT_WS ? ws : http) || strstr(url, "://")[3] == '\0' ||
	    strchr("/?#:", strstr(url, "://")[3])) {
		free(url);
		return fail(c, path, "must be %s", want);
	}
	const char *auth = strstr(url, "://") + 3;
	if (memchr(auth, '@', strcspn(auth, "/?#"))) {
		free(url);
		return fail(c, path, "must not carry a user name or password (a provider's key goes in the path%s)",
			    transport == CHAIN_TRANSPORT_HTTP ? " or in http_headers" : "");
	}
	pw_url parts; /* the JSON-RPC client's own reader: a URL taken here is one it connects to as written */
	char why[160];
	if (pw_url_parse(url, &parts, why, sizeof(why)) < 0) {
		free(url);
		return fail(c, path, "%s", why);
	}
	*ret = url;
	return 0;
}

/* One kind of node URL: "<kind>_url" and/or "<kind>_urls" (keys[0],
 * keys[1]) into *ret (n_urls of them). */
static int parse_url_list(cfg_ctx *c, const char *path, const cJSON *ch, enum chain_transport transport,
			  const char *const keys[2], char ***ret, size_t *ret_n)
{
	char p[512];
	int r;
	const cJSON *one = cJSON_GetObjectItemCaseSensitive(ch, keys[0]);
	const cJSON *many = cJSON_GetObjectItemCaseSensitive(ch, keys[1]);
	if (many && (!cJSON_IsArray(many) || cJSON_GetArraySize(many) == 0)) {
		snprintf(p, sizeof(p), "%s.%s", path, keys[1]);
		return fail(c, p, "must be a non-empty array of %s URLs",
			    transport == CHAIN_TRANSPORT_WS ? "ws:// or wss://" : "http:// or https://");
	}
	size_t n_urls = (one ? 1 : 0) + (many ? (size_t)cJSON_GetArraySize(many) : 0);
	if (n_urls > CFG_MAX_URLS) {
		snprintf(p, sizeof(p), "%s.%s", path, keys[1]);
		return fail(c, p, "at most %d URLs per chain", CFG_MAX_URLS);
	}
	char **urls = calloc(n_urls, sizeof(char *));
	if (!urls)
		return PW_ENOMEM;
	*ret = urls; /* the config owns them from here, parsed or not */
	*ret_n = 0;
	if (one) {
		snprintf(p, sizeof(p), "%s.%s", path, keys[0]);
		if ((r = parse_node_url(c, p, one, transport, &urls[*ret_n])) < 0)
			return r;
		(*ret_n)++;
	}
	if (many) {
		int i = 0;
		const cJSON *it;
		cJSON_ArrayForEach (it, many) {
			snprintf(p, sizeof(p), "%s.%s[%d]", path, keys[1], i++);
			if ((r = parse_node_url(c, p, it, transport, &urls[*ret_n])) < 0)
				return r;
			(*ret_n)++;
		}
	}
	return 0;
}

/* The node URLs: "ws_url" / "ws_urls" or "http_url" / "http_urls"; sets
 * chain->transport. A chain of a family with websockets (EVM) may give
 * both, as many of each: new heads on the websocket, eth_getLogs over
 * HTTP (bulk_urls, the k-th beside the k-th websocket URL). */
static int parse_node_urls(cfg_ctx *c, const char *path, const cJSON *ch, cfg_chain *chain)
{
	static const char *const keys[2][2] = { { "ws_url", "ws_urls" }, { "http_url", "http_urls" } };
	char p[512];
	int r;
	bool has[2];
	for (int t = 0; t < 2; t++)
		has[t] = cJSON_GetObjectItemCaseSensitive(ch, keys[t][0]) ||
			 cJSON_GetObjectItemCaseSensitive(ch, keys[t][1]);
	if (!has[0] && !has[1]) {
		snprintf(p, sizeof(p), "%s.%s", path, chain->family->has_websocket ? "ws_url" : "http_url");
		return fail(c, p, "required field is missing (%s)",
			    chain->family->has_websocket ? "ws_url(s) or http_url(s)" : "http_url or http_urls");
	}
	enum chain_transport transport = has[0] ? CHAIN_TRANSPORT_WS : CHAIN_TRANSPORT_HTTP;
	chain->transport = transport;
	if (transport == CHAIN_TRANSPORT_WS && !chain->family->has_websocket) {
		snprintf(p, sizeof(p), "%s.%s", path,
			 cJSON_GetObjectItemCaseSensitive(ch, keys[0][0]) ? keys[0][0] : keys[0][1]);
		return fail(c, p, "%s nodes serve JSON-RPC over HTTP only: give http_url or http_urls",
			    chain->family->kind);
	}
	if ((r = parse_url_list(c, path, ch, transport, keys[transport], &chain->urls, &chain->n_urls)) < 0)
		return r;
	if (!has[0] || !has[1])
		return 0;
	/* both: eth_getLogs over HTTP, beside each websocket */
	if ((r = parse_url_list(c, path, ch, CHAIN_TRANSPORT_HTTP, keys[1], &chain->bulk_urls, &chain->n_bulk_urls)) <
	    0)
		return r;
	if (chain->n_bulk_urls != chain->n_urls) {
		snprintf(p, sizeof(p), "%s.%s", path,
			 cJSON_GetObjectItemCaseSensitive(ch, "http_urls") ? "http_urls" : "http_url");
		return fail(c, p,
			    "with ws_url(s), give one HTTP URL per websocket URL (%zu websocket, %zu HTTP): the k-th "
			    "serves the eth_getLogs of the k-th",
			    chain->n_urls, chain->n_bulk_urls);
	}
	return 0;
}

/* An HTTP header name (RFC 9110 token) other than those libcurl and the
 * transport set themselves. */
static bool header_name_ok(const char *s)
{
	static const char *const reserved[] = { "host",       "content-type", "content-length",  "transfer-encoding",
						"connection", "expect",       "accept-encoding", NULL };
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", s[i])))
			return false;
	for (const char *const *r = reserved; *r; r++)
		if (strcasecmp(s, *r) == 0)
			return false;
	return true;
}

/* "http_headers": {"x-api-key": "${KEY}"}: sent with every request of an
 * HTTP chain; the values are secrets. */
static int parse_http_headers(cfg_ctx *c, const char *path, const cJSON *ch, cfg_chain *chain)
{
	char p[512];
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(ch, "http_headers");
	if (!h)
		return 0;
	snprintf(p, sizeof(p), "%s.http_headers", path);
	if (chain->transport != CHAIN_TRANSPORT_HTTP && chain->n_bulk_urls == 0)
		return fail(c, p, "only for a chain with http_url(s)");
	if (!cJSON_IsObject(h))
		return fail(c, p, "must be an object of header name -> value");
	size_t n = (size_t)cJSON_GetArraySize(h);
	if (n > CFG_MAX_HTTP_HEADERS)
		return fail(c, p, "at most %d headers", CFG_MAX_HTTP_HEADERS);
	chain->http_headers = calloc(n ? n : 1, sizeof(chain_header));
	if (!chain->http_headers)
		return PW_ENOMEM;
	const cJSON *it;
	cJSON_ArrayForEach (it, h) {
		snprintf(p, sizeof(p), "%s.http_headers.%.64s", path, it->string);
		if (!header_name_ok(it->string))
			return fail(
				c, p,
				"not a header name paywatch may set (a token of letters, digits and !#$%%&'*+-.^_`|~; "
				"not Host, Content-Type, Content-Length, Transfer-Encoding, Connection, Expect, Accept-Encoding)");
		if (!cJSON_IsString(it))
			return fail(c, p, "must be a string");
		char *value = NULL;
		int r = resolve_env(c, p, it->valuestring, &value);
		if (r < 0)
			return r;
		bool ok = strlen(value) <= 4096;
		for (const char *q = value; *q && ok; q++)
			ok = (unsigned char)*q >= 0x20 && *q != 0x7f;
		chain_header *dst = &chain->http_headers[chain->n_http_headers++];
		dst->value = value;
		if (!(dst->name = strdup(it->string)))
			return PW_ENOMEM;
		if (!ok)
			return fail(c, p,
				    "must be at most 4096 bytes without control characters (the value is not shown)");
		for (size_t k = 0; k + 1 < chain->n_http_headers; k++)
			if (strcasecmp(chain->http_headers[k].name, dst->name) == 0)
				return fail(c, p, "header given twice (names are case-insensitive)");
	}
	return 0;
}

static int parse_chain(cfg_ctx *c, const char *path, const cJSON *ch, cfg_chain *chain)
{
	static const char *const fields[] = { "name",
					      "kind",
					      "chain_id",
					      "ws_url",
					      "ws_urls",
					      "http_url",
					      "http_urls",
					      "http_headers",
					      "poll_interval_ms",
					      "confirmations",
					      "start_block",
					      "tokens",
					      "reorg_window",
					      "max_range",
					      "max_in_flight",
					      "logs_per_request",
					      "max_message_bytes",
					      "request_timeout_ms",
					      "finality",
					      "head_timeout_ms",
					      "max_lag_blocks",
					      NULL };
	char p[512], *s = NULL;
	uint64_t u;
	int r;
	if (!cJSON_IsObject(ch))
		return fail(c, path, "must be an object");
	if ((r = check_fields(c, path, ch, fields)) < 0)
		return r;
	if ((r = get_name(c, path, ch, "name", chain_name_ok, "must be 1..63 characters of a-z, 0-9, _ and -",
			  chain->name, sizeof(chain->name))) < 0)
		return r;
	if ((r = get_string(c, path, ch, "kind", true, &s)) < 0)
		return r;
	chain->family = chain_family_find(s);
	free(s);
	s = NULL;
	if (!chain->family) {
		snprintf(p, sizeof(p), "%s.kind", path);
		return fail(c, p, "unsupported chain kind (supported: %s)", chain_family_kinds());
	}
	if ((r = get_uint(c, path, ch, "chain_id", true, 1, UINT64_MAX, 0, &chain->chain_id)) < 0)
		return r;
	if ((r = parse_node_urls(c, path, ch, chain)) < 0 || (r = parse_http_headers(c, path, ch, chain)) < 0)
		return r;
	if ((r = get_uint(c, path, ch, "poll_interval_ms", false, 100, 600000, 1000, &u)) < 0)
		return r;
	chain->poll_interval_ms = (uint32_t)u;
	if (cJSON_GetObjectItemCaseSensitive(ch, "poll_interval_ms") && chain->transport != CHAIN_TRANSPORT_HTTP) {
		snprintf(p, sizeof(p), "%s.poll_interval_ms", path);
		return fail(c, p,
			    "only for a chain of http_url(s) alone (a chain with ws_url(s) is told of new heads)");
	}

	if ((r = get_uint(c, path, ch, "confirmations", false, 1, 100000, 12, &u)) < 0)
		return r;
	chain->confirmations = (uint32_t)u;
	s = NULL; /* get_string leaves it untouched when the field is absent */
	if ((r = get_string(c, path, ch, "finality", false, &s)) < 0)
		return r;
	if (s) {
		bool safe = strcmp(s, "safe") == 0, finalized = strcmp(s, "finalized") == 0;
		free(s);
		snprintf(p, sizeof(p), "%s.finality", path);
		if (!safe && !finalized)
			return fail(c, p,
				    chain->family->has_safe ? "must be \"finalized\" or \"safe\""
							    : "must be \"finalized\"");
		if (safe && !chain->family->has_safe)
			return fail(c, p, "%s nodes have no \"safe\" block: use \"finalized\" or confirmations",
				    chain->family->kind);
		if (cJSON_GetObjectItemCaseSensitive(ch, "confirmations"))
			return fail(c, p, "give either confirmations or finality, not both");
		chain->finality = safe ? CHAIN_FINALITY_SAFE : CHAIN_FINALITY_FINALIZED;
	}
	bool by_tag = chain->finality != CHAIN_FINALITY_CONFIRMATIONS;
	if ((r = get_uint(c, path, ch, "head_timeout_ms", false, 1000, 3600000, 60000, &u)) < 0)
		return r;
	chain->head_timeout_ms = (uint32_t)u;
	if ((r = get_uint(c, path, ch, "max_lag_blocks", false, 1, 100000000, 100, &u)) < 0)
		return r;
	chain->max_lag_blocks = (uint32_t)u;
	if ((r = get_start_block(c, path, ch, &chain->start_block, &chain->start_at_head)) < 0)
		return r;
	uint64_t dflt_window = by_tag ? 256 : (chain->confirmations > 64 ? chain->confirmations : 64) + 64;
	if ((r = get_uint(c, path, ch, "reorg_window", false, 2, 1000000, dflt_window, &u)) < 0)
		return r;
	chain->reorg_window = (uint32_t)u;
	if (!by_tag && chain->reorg_window <= chain->confirmations) {
		snprintf(p, sizeof(p), "%s.reorg_window", path);
		return fail(c, p, "must be larger than confirmations (%u)", chain->confirmations);
	}
	/* a family's nodes refuse wider log queries: its limit is the ceiling
	 * (java-tron: to - from <= 5000, so 5001 blocks) */
	uint64_t range_cap = chain->family->max_range ? chain->family->max_range + 1 : 1000000;
	if ((r = get_uint(c, path, ch, "max_range", false, 1, range_cap, 2000, &chain->max_range)) < 0)
		return r;
	if ((r = get_uint(c, path, ch, "max_in_flight", false, 1, 64, 4, &u)) < 0)
		return r;
	chain->max_in_flight = (uint32_t)u;
	if ((r = get_uint(c, path, ch, "logs_per_request", false, 100, 10000, CFG_LOGS_PER_REQUEST, &u)) < 0)
		return r;
	chain->logs_per_request = (uint32_t)u;
	if ((r = get_uint(c, path, ch, "max_message_bytes", false, 1024, 1ull << 30, PW_DEFAULT_MAX_MESSAGE_BYTES,
			  &chain->max_message_bytes)) < 0)
		return r;
	if ((r = get_uint(c, path, ch, "request_timeout_ms", false, 100, 600000, 15000, &u)) < 0)
		return r;
	chain->request_timeout_ms = (uint32_t)u;

	const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(ch, "tokens");
	snprintf(p, sizeof(p), "%s.tokens", path);
	if (!tokens)
		return fail(c, p, "required field is missing");
	if (!cJSON_IsArray(tokens) || cJSON_GetArraySize(tokens) == 0)
		return fail(c, p, "must be a non-empty array");
	if (cJSON_GetArraySize(tokens) > CFG_MAX_TOKENS)
		return fail(c, p,
			    "at most %d tokens per chain (each range is asked for with one eth_getLogs filter per "
			    "50 tokens, in one JSON-RPC batch)",
			    CFG_MAX_TOKENS);
	chain->tokens = calloc((size_t)cJSON_GetArraySize(tokens), sizeof(cfg_token));
	if (!chain->tokens)
		return PW_ENOMEM;
	const cJSON *t;
	cJSON_ArrayForEach (t, tokens) {
		snprintf(p, sizeof(p), "%s.tokens[%zu]", path, chain->n_tokens);
		cfg_token *tok = &chain->tokens[chain->n_tokens];
		if ((r = parse_token(c, p, t, chain, tok)) < 0)
			return r;
		for (size_t k = 0; k < chain->n_tokens; k++)
			if (pw_addr_eq(&chain->tokens[k].address, &tok->address)) {
				snprintf(p, sizeof(p), "%s.tokens[%zu].address", path, chain->n_tokens);
				return fail(c, p, "token listed twice");
			}
		chain->n_tokens++;
	}
	return 0;
}

/* A Standard Webhooks secret: "whsec_" + base64 of 24..64 bytes (the
 * spec's bounds for a signing key). */
static bool secret_ok(const char *s)
{
	unsigned char key[256];
	size_t n = strlen(s);
	if (strncmp(s, "whsec_", 6) != 0 || n - 6 < 32 || n - 6 > 88 || (n - 6) % 4 != 0)
		return false;
	int len = EVP_DecodeBlock(key, (const unsigned char *)s + 6, (int)(n - 6));
	if (len < 0)
		return false;
	len -= (s[n - 1] == '=') + (s[n - 2] == '='); /* EVP_DecodeBlock counts padding */
	OPENSSL_cleanse(key, sizeof(key));
	return len >= 24 && len <= 64;
}

static bool endpoint_id_ok(const char *s)
{
	return valid_name(s, true);
}

/* One endpoint: {"id", "url", "secret"} or {"id", "url", "secrets": [new,
 * old]} (key rotation: a signature per secret). default_id when "id" is
 * absent. */
static int parse_endpoint(cfg_ctx *c, const char *path, const cJSON *w, const char *default_id, cfg_endpoint *e)
{
	static const char *const fields[] = { "id", "url", "secret", "secrets", NULL };
	char p[512];
	int r;
	if (!cJSON_IsObject(w))
		return fail(c, path, "must be an object");
	if ((r = check_fields(c, path, w, fields)) < 0)
		return r;
	if (cJSON_GetObjectItemCaseSensitive(w, "id")) {
		if ((r = get_name(c, path, w, "id", endpoint_id_ok,
				  "must be 1..63 characters of A-Z, a-z, 0-9, _, - and .", e->id, sizeof(e->id))) < 0)
			return r;
	} else {
		snprintf(e->id, sizeof(e->id), "%s", default_id);
	}
	if ((r = get_string(c, path, w, "url", true, &e->url)) < 0)
		return r;
	snprintf(p, sizeof(p), "%s.url", path);
	char why[160] = "";
	if (strlen(e->url) > 2048)
		snprintf(why, sizeof(why), "longer than 2048");
	else if (strpbrk(e->url, " \t\r\n"))
		snprintf(why, sizeof(why), "it holds white space");
	if (why[0] || webhook_check_url(e->url, why, sizeof(why)) < 0)
		return fail(c, p, "must be an http:// or https:// URL (%s)", why);
	const cJSON *one = cJSON_GetObjectItemCaseSensitive(w, "secret");
	const cJSON *many = cJSON_GetObjectItemCaseSensitive(w, "secrets");
	if (!one == !many) {
		snprintf(p, sizeof(p), "%s.secret", path);
		return fail(c, p,
			    one ? "give either secret or secrets, not both"
				: "required field is missing (secret or secrets)");
	}
	size_t n = one ? 1 : (cJSON_IsArray(many) ? (size_t)cJSON_GetArraySize(many) : 0);
	if (many && (n == 0 || n > 10)) {
		snprintf(p, sizeof(p), "%s.secrets", path);
		return fail(c, p, "must be an array of 1..10 secrets (the new one first while rotating)");
	}
	if (!(e->secrets = calloc(n, sizeof(char *))))
		return PW_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const cJSON *v = one ? one : cJSON_GetArrayItem(many, (int)i);
		if (one)
			snprintf(p, sizeof(p), "%s.secret", path);
		else
			snprintf(p, sizeof(p), "%s.secrets[%zu]", path, i);
		if (!cJSON_IsString(v))
			return fail(c, p, "must be a string");
		if ((r = resolve_env(c, p, v->valuestring, &e->secrets[i])) < 0)
			return r;
		e->n_secrets++;
		if (!secret_ok(e->secrets[i]))
			return fail(c, p,
				    "must be \"whsec_\" followed by base64 of 24 to 64 bytes (Standard Webhooks)");
	}
	return 0;
}

/* "webhook": {...} (one endpoint, id "default" unless given) or
 * "webhooks": [{...}, ...] (several, ids "1", "2", ... unless given). */
static int parse_endpoints(cfg_ctx *c, const char *path, const cJSON *mj, cfg_merchant *m)
{
	const cJSON *one = cJSON_GetObjectItemCaseSensitive(mj, "webhook");
	const cJSON *many = cJSON_GetObjectItemCaseSensitive(mj, "webhooks");
	char p[512];
	if (many && !cJSON_IsArray(many)) {
		snprintf(p, sizeof(p), "%s.webhooks", path);
		return fail(c, p, "must be an array of {\"id\", \"url\", \"secret\"}");
	}
	size_t n = (one ? 1 : 0) + (many ? (size_t)cJSON_GetArraySize(many) : 0);
	if (!n)
		return 0;
	if (n > 100) {
		snprintf(p, sizeof(p), "%s.webhooks", path);
		return fail(c, p, "at most 100 endpoints per merchant");
	}
	m->endpoints = calloc(n, sizeof(cfg_endpoint));
	if (!m->endpoints)
		return PW_ENOMEM;
	int r;
	if (one) {
		snprintf(p, sizeof(p), "%s.webhook", path);
		if ((r = parse_endpoint(c, p, one, "default", &m->endpoints[m->n_endpoints++])) < 0)
			return r;
	}
	const cJSON *w;
	size_t i = 0;
	cJSON_ArrayForEach (w, many) {
		char dflt[24];
		snprintf(dflt, sizeof(dflt), "%zu", i + 1);
		snprintf(p, sizeof(p), "%s.webhooks[%zu]", path, i++);
		if ((r = parse_endpoint(c, p, w, dflt, &m->endpoints[m->n_endpoints++])) < 0)
			return r;
	}
	for (size_t a = 0; a < m->n_endpoints; a++)
		for (size_t b = a + 1; b < m->n_endpoints; b++) {
			bool same_id = strcmp(m->endpoints[a].id, m->endpoints[b].id) == 0;
			if (same_id || strcmp(m->endpoints[a].url, m->endpoints[b].url) == 0) {
				char shown[300];
				webhook_url_display(m->endpoints[b].url, shown, sizeof(shown));
				snprintf(p, sizeof(p), "%s.webhooks", path);
				return same_id ? fail(c, p, "endpoint id \"%s\" is used twice", m->endpoints[b].id)
					       : fail(c, p, "endpoint %s (id \"%s\") is listed twice", shown,
						      m->endpoints[b].id);
			}
		}
	return 0;
}

const cfg_event_type cfg_event_types[] = {
	{ "payment.confirmed", CFG_EVENT_CONFIRMED },
	{ "payment.reverted", CFG_EVENT_REVERTED },
	{ "payment.pending", CFG_EVENT_PENDING },
	{ "invoice.processing", CFG_EVENT_INVOICE_PROCESSING },
	{ "invoice.paid", CFG_EVENT_INVOICE_PAID },
	{ "invoice.expired", CFG_EVENT_INVOICE_EXPIRED },
	{ "invoice.payment_late", CFG_EVENT_INVOICE_PAYMENT_LATE },
	{ "invoice.reverted", CFG_EVENT_INVOICE_REVERTED },
	{ "invoice.cancelled", CFG_EVENT_INVOICE_CANCELLED },
};
const size_t cfg_n_event_types = sizeof(cfg_event_types) / sizeof(cfg_event_types[0]);

unsigned cfg_event_bit(const char *name)
{
	for (size_t k = 0; k < cfg_n_event_types; k++)
		if (strcmp(name, cfg_event_types[k].name) == 0)
			return cfg_event_types[k].bit;
	return 0;
}

void cfg_events_literal(unsigned mask, char *out, size_t outlen)
{
	size_t len = (size_t)snprintf(out, outlen, "{");
	for (size_t k = 0; k < cfg_n_event_types; k++)
		if (mask & cfg_event_types[k].bit)
			len += (size_t)snprintf(out + len, len < outlen ? outlen - len : 0, "%s%s", len > 1 ? "," : "",
						cfg_event_types[k].name);
	snprintf(out + len, len < outlen ? outlen - len : 0, "}");
}

static int parse_events(cfg_ctx *c, const char *path, const cJSON *mj, cfg_merchant *m)
{
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(mj, "events");
	char p[512];
	m->events = CFG_EVENTS_DEFAULT;
	if (!ev)
		return 0;
	snprintf(p, sizeof(p), "%s.events", path);
	if (!cJSON_IsArray(ev))
		return fail(c, p, "must be an array of event types");
	m->events = 0;
	const cJSON *it;
	size_t i = 0;
	cJSON_ArrayForEach (it, ev) {
		unsigned bit = cJSON_IsString(it) ? cfg_event_bit(it->valuestring) : 0;
		if (!bit) {
			snprintf(p, sizeof(p), "%s.events[%zu]", path, i);
			return fail(c, p, "must be one of " CFG_EVENT_NAMES);
		}
		m->events |= bit;
		i++;
	}
	return 0;
}

/* "listen": "HOST:PORT" with HOST an IPv4 literal or a bracketed IPv6
 * literal ("[::1]:8080"), PORT 1..65535. */
static int parse_listen(cfg_ctx *c, const char *path, const char *s, char *ret_host, size_t hostlen, uint16_t *ret_port)
{
	const char *colon = strrchr(s, ':');
	size_t hlen = colon ? (size_t)(colon - s) : 0;
	const char *host = s;
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		host = s + 1;
		hlen -= 2;
	}
	char h[64];
	uint64_t port = 0;
	bool ok = colon && hlen > 0 && hlen < sizeof(h) && parse_u64(colon + 1, 65535, &port) == 0 && port >= 1;
	if (ok) {
		memcpy(h, host, hlen);
		h[hlen] = '\0';
		unsigned char buf[16];
		ok = inet_pton(host == s ? AF_INET : AF_INET6, h, buf) == 1;
	}
	if (!ok)
		return fail(
			c, path,
			"must be \"IP:PORT\" (\"127.0.0.1:8080\", \"[::1]:8080\"), an address literal and a port 1..65535");
	snprintf(ret_host, hostlen, "%s", h);
	*ret_port = (uint16_t)port;
	return 0;
}

static int parse_api_key(cfg_ctx *c, const char *path, const cJSON *k, cfg_api_key *key)
{
	static const char *const fields[] = { "id", "sha256", "merchant_id", NULL };
	char p[512];
	int r;
	if (!cJSON_IsObject(k))
		return fail(c, path, "must be an object {\"id\", \"sha256\", \"merchant_id\"}");
	if ((r = check_fields(c, path, k, fields)) < 0)
		return r;
	char *id = NULL, *hash = NULL, *merchant = NULL;
	if ((r = get_string(c, path, k, "id", true, &id)) < 0)
		goto out;
	snprintf(p, sizeof(p), "%s.id", path);
	if (!valid_name(id, true)) {
		r = fail(c, p, "must be 1..%d characters of A-Z a-z 0-9 _ - .", PW_NAME_MAX - 1);
		goto out;
	}
	snprintf(key->id, sizeof(key->id), "%s", id);
	if ((r = get_string(c, path, k, "sha256", true, &hash)) < 0)
		goto out;
	snprintf(p, sizeof(p), "%s.sha256", path);
	char prefixed[70];
	snprintf(prefixed, sizeof(prefixed), "0x%.66s", hash);
	if (strlen(hash) != 64 || hex_decode_fixed(prefixed, 66, key->sha256, 32) < 0) {
		r = fail(c, p, "must be 64 hex digits: the SHA-256 of the key (`paywatch api-key new` prints it)");
		goto out;
	}
	if ((r = get_string(c, path, k, "merchant_id", false, &merchant)) < 0)
		goto out;
	if (merchant) {
		/* the merchant may be the config's or one of the registry's
		 * (added through the API or the CLI, now or later) */
		snprintf(p, sizeof(p), "%s.merchant_id", path);
		if (!config_valid_id(merchant)) {
			r = fail(c, p, "not a merchant id (1..63 of A-Z a-z 0-9 . _ -)");
			goto out;
		}
		snprintf(key->merchant_id, sizeof(key->merchant_id), "%s", merchant);
	}
	r = 0;
out:
	free(id);
	free(hash);
	free(merchant);
	return r;
}

/* "api.trusted_proxies": ["10.0.0.0/8", "2001:db8::1", ...]: addresses or
 * CIDR blocks (netaddr.h), at most CFG_MAX_TRUSTED_PROXIES. */
static int parse_trusted_proxies(cfg_ctx *c, const cJSON *a, cfg_api *api)
{
	const cJSON *tp = cJSON_GetObjectItemCaseSensitive(a, "trusted_proxies");
	if (!tp)
		return 0;
	if (!cJSON_IsArray(tp) || cJSON_GetArraySize(tp) > CFG_MAX_TRUSTED_PROXIES)
		return fail(c, "api.trusted_proxies", "must be an array of at most %d addresses or CIDR blocks",
			    CFG_MAX_TRUSTED_PROXIES);
	const cJSON *e;
	cJSON_ArrayForEach (e, tp) {
		char p[48];
		snprintf(p, sizeof(p), "api.trusted_proxies[%zu]", api->n_trusted_proxies);
		if (!cJSON_IsString(e) ||
		    pw_ipnet_parse(e->valuestring, &api->trusted_proxies[api->n_trusted_proxies]) < 0)
			return fail(
				c, p,
				"must be an IP address or a CIDR block (\"10.0.0.0/8\", \"2001:db8::/32\"), its bits past "
				"the prefix zero");
		api->n_trusted_proxies++;
	}
	return 0;
}

/* "api.forwarded_header": "X-Forwarded-For" (default) or "Forwarded",
 * the header the trusted proxies write the client in. */
static int parse_forwarded_header(cfg_ctx *c, const cJSON *a, cfg_api *api)
{
	const cJSON *fh = cJSON_GetObjectItemCaseSensitive(a, "forwarded_header");
	if (!fh)
		return 0;
	if (cJSON_IsString(fh) && strcasecmp(fh->valuestring, "X-Forwarded-For") == 0)
		api->forwarded_rfc7239 = false;
	else if (cJSON_IsString(fh) && strcasecmp(fh->valuestring, "Forwarded") == 0)
		api->forwarded_rfc7239 = true;
	else
		return fail(c, "api.forwarded_header",
			    "must be \"X-Forwarded-For\" or \"Forwarded\" (RFC 7239): the header the trusted proxies "
			    "write the client in");
	return 0;
}

static int parse_api(cfg_ctx *c, const cJSON *root)
{
	static const char *const fields[] = { "listen",
					      "keys",
					      "rate_limit",
					      "max_connections",
					      "statement_timeout_ms",
					      "pg_connections",
					      "max_outbox_age_s",
					      "max_report_age_s",
					      "tls",
					      "trusted_proxies",
					      "forwarded_header",
					      NULL };
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "api");
	cfg_api *api = &c->cfg->api;
	if (!a)
		return 0;
	if (!cJSON_IsObject(a))
		return fail(c, "api", "must be an object");
	int r;
	if ((r = check_fields(c, "api", a, fields)) < 0)
		return r;
	char *listen = NULL;
	if ((r = get_string(c, "api", a, "listen", true, &listen)) < 0)
		return r;
	r = parse_listen(c, "api.listen", listen, api->host, sizeof(api->host), &api->port);
	free(listen);
	if (r < 0)
		return r;
	const cJSON *tls = cJSON_GetObjectItemCaseSensitive(a, "tls");
	if (tls) {
		static const char *const tls_fields[] = { "cert", "key", NULL };
		if (!cJSON_IsObject(tls))
			return fail(c, "api.tls", "must be an object {\"cert\": FILE, \"key\": FILE} (PEM files)");
		if ((r = check_fields(c, "api.tls", tls, tls_fields)) < 0 ||
		    (r = get_string(c, "api.tls", tls, "cert", true, &api->tls_cert)) < 0 ||
		    (r = get_string(c, "api.tls", tls, "key", true, &api->tls_key)) < 0)
			return r;
	}
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(a, "keys");
	if (!cJSON_IsArray(keys) || cJSON_GetArraySize(keys) == 0)
		return fail(c, "api.keys", "must be a non-empty array of {\"id\", \"sha256\", \"merchant_id\"}");
	if (cJSON_GetArraySize(keys) > CFG_MAX_API_KEYS)
		return fail(c, "api.keys", "at most %d keys", CFG_MAX_API_KEYS);
	api->keys = calloc((size_t)cJSON_GetArraySize(keys), sizeof(cfg_api_key));
	if (!api->keys)
		return PW_ENOMEM;
	const cJSON *k;
	cJSON_ArrayForEach (k, keys) {
		char p[64];
		snprintf(p, sizeof(p), "api.keys[%zu]", api->n_keys);
		cfg_api_key *key = &api->keys[api->n_keys++];
		if ((r = parse_api_key(c, p, k, key)) < 0)
			return r;
		for (size_t i = 0; i + 1 < api->n_keys; i++) {
			if (strcmp(api->keys[i].id, key->id) == 0)
				return fail(c, p, "key id \"%s\" is used twice", key->id);
			if (memcmp(api->keys[i].sha256, key->sha256, 32) == 0)
				return fail(c, p, "the same key as api.keys[%zu]", i);
		}
	}
	const cJSON *rl = cJSON_GetObjectItemCaseSensitive(a, "rate_limit");
	static const char *const rl_fields[] = { "per_second", "burst", NULL };
	uint64_t u;
	if (rl && (!cJSON_IsObject(rl) || (r = check_fields(c, "api.rate_limit", rl, rl_fields)) < 0))
		return cJSON_IsObject(rl) ? r
					  : fail(c, "api.rate_limit", "must be an object {\"per_second\", \"burst\"}");
	if ((r = get_uint(c, "api.rate_limit", rl, "per_second", false, 1, 100000, 50, &u)) < 0)
		return r;
	api->rate_per_s = (uint32_t)u;
	if ((r = get_uint(c, "api.rate_limit", rl, "burst", false, 1, 1000000, 100, &u)) < 0)
		return r;
	api->burst = (uint32_t)u;
	if ((r = get_uint(c, "api", a, "max_connections", false, 1, 65536, 256, &u)) < 0)
		return r;
	api->max_connections = (uint32_t)u;
	if ((r = get_uint(c, "api", a, "statement_timeout_ms", false, 10, 600000, 5000, &u)) < 0)
		return r;
	api->statement_timeout_ms = (uint32_t)u;
	if ((r = get_uint(c, "api", a, "pg_connections", false, 1, 64, 4, &u)) < 0)
		return r;
	api->pg_connections = (uint32_t)u;
	if ((r = get_uint(c, "api", a, "max_outbox_age_s", false, 1, 86400, 60, &u)) < 0)
		return r;
	api->max_outbox_age_s = (uint32_t)u;
	if ((r = get_uint(c, "api", a, "max_report_age_s", false, 2, 3600, 30, &u)) < 0)
		return r;
	api->max_report_age_s = (uint32_t)u;
	if ((r = parse_trusted_proxies(c, a, api)) < 0 || (r = parse_forwarded_header(c, a, api)) < 0)
		return r;
	api->enabled = true;
	return 0;
}

/* "metrics": {"listen": "IP:PORT"}: where `paywatch dispatch` serves
 * /metrics and /healthz (run and serve serve them on api.listen). */
static int parse_metrics(cfg_ctx *c, const cJSON *root)
{
	static const char *const fields[] = { "listen", NULL };
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "metrics");
	if (!m)
		return 0;
	if (!cJSON_IsObject(m))
		return fail(c, "metrics", "must be an object {\"listen\": \"IP:PORT\"}");
	int r;
	char *listen = NULL;
	if ((r = check_fields(c, "metrics", m, fields)) < 0 ||
	    (r = get_string(c, "metrics", m, "listen", true, &listen)) < 0)
		return r;
	pw_config *cfg = c->cfg;
	r = parse_listen(c, "metrics.listen", listen, cfg->metrics_host, sizeof(cfg->metrics_host), &cfg->metrics_port);
	free(listen);
	if (r == 0)
		cfg->metrics_enabled = true;
	return r;
}

static int parse_webhooks_settings(cfg_ctx *c, const cJSON *root)
{
	static const char *const fields[] = { "allow_private_targets",
					      "retry_schedule_s",
					      "timeout_ms",
					      "max_in_flight",
					      "max_per_endpoint",
					      "proxy",
					      "in_run",
					      "threads",
					      NULL };
	static const uint32_t default_schedule[] = { 0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400 };
	cfg_webhooks *w = &c->cfg->webhooks;
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "webhooks");
	uint64_t u;
	int r;
	if (o && !cJSON_IsObject(o))
		return fail(c, "webhooks", "must be an object");
	if (o && (r = check_fields(c, "webhooks", o, fields)) < 0)
		return r;
	const cJSON *allow = o ? cJSON_GetObjectItemCaseSensitive(o, "allow_private_targets") : NULL;
	if (allow && !cJSON_IsBool(allow))
		return fail(c, "webhooks.allow_private_targets", "must be true or false");
	w->allow_private_targets = cJSON_IsTrue(allow);
	const cJSON *in_run = o ? cJSON_GetObjectItemCaseSensitive(o, "in_run") : NULL;
	if (in_run && !cJSON_IsBool(in_run))
		return fail(c, "webhooks.in_run", "must be true or false");
	w->in_run = !in_run || cJSON_IsTrue(in_run);
	if ((r = get_uint(c, "webhooks", o, "timeout_ms", false, 100, 120000, 15000, &u)) < 0)
		return r;
	w->timeout_ms = (uint32_t)u;
	if ((r = get_uint(c, "webhooks", o, "max_in_flight", false, 1, 10000, 64, &u)) < 0)
		return r;
	w->max_in_flight = (uint32_t)u;
	if ((r = get_uint(c, "webhooks", o, "max_per_endpoint", false, 1, 1000, 4, &u)) < 0)
		return r;
	w->max_per_endpoint = (uint32_t)u;
	if ((r = get_uint(c, "webhooks", o, "threads", false, 1, 16, 2, &u)) < 0)
		return r;
	w->threads = (uint32_t)u;
	if (o && (r = get_string(c, "webhooks", o, "proxy", false, &w->proxy)) < 0)
		return r;
	char why[160];
	if (w->proxy && (strncmp(w->proxy, "http://", 7) != 0 || webhook_check_url(w->proxy, why, sizeof(why)) < 0))
		return fail(c, "webhooks.proxy", "must be an http:// proxy URL (host:port, credentials allowed)");
	const cJSON *sched = o ? cJSON_GetObjectItemCaseSensitive(o, "retry_schedule_s") : NULL;
	size_t n = sched ? (size_t)cJSON_GetArraySize(sched) : sizeof(default_schedule) / sizeof(default_schedule[0]);
	if (sched && (!cJSON_IsArray(sched) || n == 0 || n > 100))
		return fail(c, "webhooks.retry_schedule_s", "must be an array of 1..100 delays in seconds");
	w->retry_schedule_s = calloc(n, sizeof(uint32_t));
	if (!w->retry_schedule_s)
		return PW_ENOMEM;
	w->n_retry_schedule = n;
	for (size_t i = 0; i < n; i++) {
		if (!sched) {
			w->retry_schedule_s[i] = default_schedule[i];
			continue;
		}
		const cJSON *d = cJSON_GetArrayItem(sched, (int)i);
		if (!cJSON_IsNumber(d) || d->valuedouble != floor(d->valuedouble) || d->valuedouble < 0 ||
		    d->valuedouble > 7 * 86400) {
			char p[64];
			snprintf(p, sizeof(p), "webhooks.retry_schedule_s[%zu]", i);
			return fail(c, p, "must be an integer 0..604800 (seconds)");
		}
		w->retry_schedule_s[i] = (uint32_t)d->valuedouble;
	}
	return 0;
}

/* "xpub": {"key", "path", "chains", "gap_limit"} (cfg_xpub). */
static int parse_xpub(cfg_ctx *c, const char *path, const cJSON *mj, cfg_merchant *m)
{
	static const char *const fields[] = { "key", "path", "chains", "gap_limit", NULL };
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(mj, "xpub");
	char p[512], why[256] = "";
	int r;
	if (!x)
		return 0;
	snprintf(p, sizeof(p), "%s.xpub", path);
	if (!cJSON_IsObject(x))
		return fail(c, p, "must be an object {\"key\", \"path\", \"chains\", \"gap_limit\"}");
	if ((r = check_fields(c, p, x, fields)) < 0)
		return r;
	char *key = NULL, *tpl = NULL;
	char kp[540];
	snprintf(kp, sizeof(kp), "%s.key", p);
	if ((r = get_string(c, p, x, "key", true, &key)) < 0)
		return r;
	bip32_pub parsed;
	if (strlen(key) < BIP32_TEXT_MAX)
		r = bip32_parse_xpub(key, &parsed, why, sizeof(why));
	else { /* the reason is the length: the key is not read (nor quoted) */
		snprintf(why, sizeof(why), "too long: an extended public key is 111 characters");
		r = PW_EPARSE;
	}
	if (r == 0) {
		snprintf(m->xpub.key, sizeof(m->xpub.key), "%s", key);
		bip32_fingerprint(&parsed, m->xpub.fingerprint);
	}
	memset(key, 0, strlen(key));
	free(key);
	if (r < 0)
		return fail(c, kp, "%s", strlen(why) ? why : "not an extended public key");
	if ((r = get_string(c, p, x, "path", false, &tpl)) < 0)
		return r;
	bip32_path bp;
	snprintf(kp, sizeof(kp), "%s.path", p);
	if (!tpl || strlen(tpl) < sizeof(m->xpub.path))
		r = bip32_parse_path(tpl ? tpl : "0/*", &bp, why, sizeof(why));
	else {
		snprintf(why, sizeof(why), "too long: at most %zu characters", sizeof(m->xpub.path) - 1);
		r = PW_EPARSE;
	}
	snprintf(m->xpub.path, sizeof(m->xpub.path), "%s", tpl ? tpl : "0/*");
	free(tpl);
	if (r < 0)
		return fail(c, kp, "%s", why);
	uint64_t gap;
	if ((r = get_uint(c, p, x, "gap_limit", false, 1, 1000, 20, &gap)) < 0)
		return r;
	m->xpub.gap_limit = (uint32_t)gap;
	const cJSON *chains = cJSON_GetObjectItemCaseSensitive(x, "chains");
	snprintf(kp, sizeof(kp), "%s.chains", p);
	if (chains && (!cJSON_IsArray(chains) || cJSON_GetArraySize(chains) < 1 ||
		       cJSON_GetArraySize(chains) > CFG_XPUB_CHAINS_MAX))
		return fail(c, kp, "must be a list of 1..%d chain names", CFG_XPUB_CHAINS_MAX);
	if (chains) {
		const cJSON *ch;
		cJSON_ArrayForEach (ch, chains) {
			int ci = cJSON_IsString(ch) ? config_find_chain(c->cfg, ch->valuestring) : -1;
			if (ci < 0)
				return fail(c, kp, "no chain named \"%.64s\"",
					    cJSON_IsString(ch) ? ch->valuestring : "?");
			if (!c->cfg->chains[ci].family->address_of_key)
				return fail(c, kp, "chain %s: its addresses are not derived from secp256k1 keys",
					    c->cfg->chains[ci].name);
			for (size_t k = 0; k < m->xpub.n_chains; k++)
				if (m->xpub.chains[k] == (size_t)ci)
					return fail(c, kp, "chain %s is named twice", c->cfg->chains[ci].name);
			m->xpub.chains[m->xpub.n_chains++] = (size_t)ci;
		}
	} else
		for (size_t i = 0; i < c->cfg->n_chains && m->xpub.n_chains < CFG_XPUB_CHAINS_MAX; i++)
			if (c->cfg->chains[i].family->address_of_key)
				m->xpub.chains[m->xpub.n_chains++] = i;
	m->xpub.set = true;
	return 0;
}

static int parse_merchant(cfg_ctx *c, const char *path, const cJSON *mj, cfg_merchant *m)
{
	static const char *const fields[] = { "id", "addresses", "xpub", "webhook", "webhooks", "events", NULL };
	char p[512];
	int r;
	if (!cJSON_IsObject(mj))
		return fail(c, path, "must be an object");
	if ((r = check_fields(c, path, mj, fields)) < 0)
		return r;
	if ((r = get_name(c, path, mj, "id", merchant_id_ok, "must be 1..63 characters of A-Z, a-z, 0-9, _, - and .",
			  m->id, sizeof(m->id))) < 0)
		return r;

	if ((r = parse_xpub(c, path, mj, m)) < 0)
		return r;
	const cJSON *addrs = cJSON_GetObjectItemCaseSensitive(mj, "addresses");
	snprintf(p, sizeof(p), "%s.addresses", path);
	if (!addrs && m->xpub.set) { /* its addresses are derived */
		if (!(m->addresses = calloc(1, sizeof(cfg_address))))
			return PW_ENOMEM;
		if ((r = parse_endpoints(c, path, mj, m)) < 0)
			return r;
		return parse_events(c, path, mj, m);
	}
	if (!addrs)
		return fail(c, p, "required field is missing (or an \"xpub\" to derive them from)");
	if (!cJSON_IsObject(addrs))
		return fail(c, p, "must be an object of chain name -> array of addresses");
	size_t total = 0;
	const cJSON *per_chain;
	cJSON_ArrayForEach (per_chain, addrs) {
		snprintf(p, sizeof(p), "%s.addresses.%s", path, per_chain->string);
		if (config_find_chain(c->cfg, per_chain->string) < 0)
			return fail(c, p, "no chain named \"%s\"", per_chain->string);
		if (!cJSON_IsArray(per_chain))
			return fail(c, p, "must be an array of addresses");
		total += (size_t)cJSON_GetArraySize(per_chain);
	}
	m->addresses = calloc(total ? total : 1, sizeof(cfg_address));
	if (!m->addresses)
		return PW_ENOMEM;
	cJSON_ArrayForEach (per_chain, addrs) {
		int chain_index = config_find_chain(c->cfg, per_chain->string);
		int i = 0;
		const cJSON *a;
		cJSON_ArrayForEach (a, per_chain) {
			snprintf(p, sizeof(p), "%s.addresses.%s[%d]", path, per_chain->string, i++);
			cfg_address *ca = &m->addresses[m->n_addresses];
			ca->chain_index = (size_t)chain_index;
			if ((r = parse_address(c, p, a, &c->cfg->chains[chain_index], &ca->address)) < 0)
				return r;
			m->n_addresses++;
		}
	}
	if ((r = parse_endpoints(c, path, mj, m)) < 0)
		return r;
	return parse_events(c, path, mj, m);
}

/* Each (chain, address) may belong to one merchant only: a payment must have
 * exactly one owner. O(n log n) by sorting a flat copy. */
typedef struct addr_owner {
	size_t chain_index;
	pw_addr address;
	size_t merchant, slot;
} addr_owner;

static int cmp_owner(const void *a, const void *b)
{
	const addr_owner *x = a, *y = b;
	if (x->chain_index != y->chain_index)
		return x->chain_index < y->chain_index ? -1 : 1;
	if (x->address.len != y->address.len)
		return x->address.len < y->address.len ? -1 : 1;
	int r = memcmp(x->address.b, y->address.b, x->address.len);
	if (r)
		return r;
	if (x->merchant != y->merchant)
		return x->merchant < y->merchant ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int check_unique_addresses(cfg_ctx *c)
{
	pw_config *cfg = c->cfg;
	size_t total = 0, k = 0;
	for (size_t i = 0; i < cfg->n_merchants; i++)
		total += cfg->merchants[i].n_addresses;
	if (total < 2)
		return 0;
	addr_owner *all = malloc(total * sizeof(*all));
	if (!all)
		return PW_ENOMEM;
	for (size_t i = 0; i < cfg->n_merchants; i++)
		for (size_t j = 0; j < cfg->merchants[i].n_addresses; j++, k++) {
			all[k].chain_index = cfg->merchants[i].addresses[j].chain_index;
			all[k].address = cfg->merchants[i].addresses[j].address;
			all[k].merchant = i;
			all[k].slot = j;
		}
	qsort(all, total, sizeof(*all), cmp_owner);
	int r = 0;
	for (k = 1; k < total; k++) {
		if (all[k].chain_index == all[k - 1].chain_index && pw_addr_eq(&all[k].address, &all[k - 1].address)) {
			char p[256], text[PW_ADDR_TEXT_MAX];
			cfg->chains[all[k].chain_index].family->format_address_input(&all[k].address, text);
			snprintf(p, sizeof(p), "merchants[%zu].addresses.%s", all[k].merchant,
				 cfg->chains[all[k].chain_index].name);
			r = fail(c, p, "address %s is listed twice on this chain (merchant %s)", text,
				 cfg->merchants[all[k - 1].merchant].id);
			break;
		}
	}
	free(all);
	return r;
}

static int cmp_merchant_at(const void *a, const void *b)
{
	const cfg_merchant *x = *(const cfg_merchant *const *)a, *y = *(const cfg_merchant *const *)b;
	int r = strcmp(x->id, y->id);
	return r ? r : (x < y ? -1 : x > y);
}

/* Merchant ids are unique: O(n log n) by sorting pointers (a loop over
 * the earlier ids took 39 s for 150,000 merchants). The error names the
 * later of the two. */
static int check_unique_merchants(cfg_ctx *c)
{
	pw_config *cfg = c->cfg;
	if (cfg->n_merchants < 2)
		return 0;
	const cfg_merchant **order = malloc(cfg->n_merchants * sizeof(*order));
	if (!order)
		return PW_ENOMEM;
	for (size_t i = 0; i < cfg->n_merchants; i++)
		order[i] = &cfg->merchants[i];
	qsort(order, cfg->n_merchants, sizeof(*order), cmp_merchant_at);
	int r = 0;
	for (size_t k = 1; k < cfg->n_merchants && r == 0; k++)
		if (strcmp(order[k - 1]->id, order[k]->id) == 0) {
			char p[64];
			snprintf(p, sizeof(p), "merchants[%zu].id", (size_t)(order[k] - cfg->merchants));
			r = fail(c, p, "merchant id \"%s\" is used twice", order[k]->id);
		}
	free(order);
	return r;
}

int config_find_chain(const pw_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_chains; i++)
		if (strcmp(cfg->chains[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int config_from_json(cfg_ctx *c, const cJSON *root)
{
	static const char *const fields[] = { "data_dir", "postgres", "chains",  "merchants",
					      "webhooks", "api",      "metrics", NULL };
	static const char *const pg_fields[] = { "dsn", NULL };
	pw_config *cfg = c->cfg;
	char p[256];
	int r;
	if (!cJSON_IsObject(root))
		return fail(c, "$", "the config must be a JSON object");
	if ((r = check_fields(c, "", root, fields)) < 0)
		return r;
	if ((r = get_string(c, "", root, "data_dir", false, &cfg->data_dir)) < 0)
		return r;
	if (!cfg->data_dir && !(cfg->data_dir = strdup("./data")))
		return PW_ENOMEM;
	if (!*cfg->data_dir)
		return fail(c, "data_dir", "must not be empty");
	const cJSON *pg = cJSON_GetObjectItemCaseSensitive(root, "postgres");
	if (!pg)
		return fail(c, "postgres", "required field is missing");
	if (!cJSON_IsObject(pg))
		return fail(c, "postgres", "must be an object");
	if ((r = check_fields(c, "postgres", pg, pg_fields)) < 0)
		return r;
	if ((r = get_string(c, "postgres", pg, "dsn", true, &cfg->pg_dsn)) < 0)
		return r;
	if (!*cfg->pg_dsn)
		return fail(c, "postgres.dsn", "must not be empty");
	char dsn_why[512];
	if (pg_dsn_check(cfg->pg_dsn, dsn_why, sizeof(dsn_why)) < 0)
		return fail(c, "postgres.dsn", "%s", dsn_why);

	const cJSON *chains = cJSON_GetObjectItemCaseSensitive(root, "chains");
	if (!chains)
		return fail(c, "chains", "required field is missing");
	if (!cJSON_IsArray(chains) || cJSON_GetArraySize(chains) == 0)
		return fail(c, "chains", "must be a non-empty array");
	cfg->chains = calloc((size_t)cJSON_GetArraySize(chains), sizeof(cfg_chain));
	if (!cfg->chains)
		return PW_ENOMEM;
	const cJSON *ch;
	cJSON_ArrayForEach (ch, chains) {
		snprintf(p, sizeof(p), "chains[%zu]", cfg->n_chains);
		cfg_chain *chain = &cfg->chains[cfg->n_chains++];
		if ((r = parse_chain(c, p, ch, chain)) < 0)
			return r;
		for (size_t k = 0; k + 1 < cfg->n_chains; k++) {
			if (strcmp(cfg->chains[k].name, chain->name) == 0) {
				snprintf(p, sizeof(p), "chains[%zu].name", cfg->n_chains - 1);
				return fail(c, p, "chain name \"%s\" is used twice", chain->name);
			}
		}
	}

	const cJSON *merchants = cJSON_GetObjectItemCaseSensitive(root, "merchants");
	if (!merchants)
		return fail(c, "merchants", "required field is missing");
	if (!cJSON_IsArray(merchants))
		return fail(c, "merchants", "must be an array");
	cfg->merchants = calloc((size_t)cJSON_GetArraySize(merchants) + 1, sizeof(cfg_merchant));
	if (!cfg->merchants)
		return PW_ENOMEM;
	const cJSON *mj;
	cJSON_ArrayForEach (mj, merchants) {
		snprintf(p, sizeof(p), "merchants[%zu]", cfg->n_merchants);
		cfg_merchant *m = &cfg->merchants[cfg->n_merchants++];
		if ((r = parse_merchant(c, p, mj, m)) < 0)
			return r;
	}
	if ((r = check_unique_merchants(c)) < 0)
		return r;
	if ((r = check_unique_addresses(c)) < 0)
		return r;
	if ((r = parse_webhooks_settings(c, root)) < 0)
		return r;
	if ((r = parse_metrics(c, root)) < 0)
		return r;
	return parse_api(c, root);
}

int config_parse(const char *text, size_t len, pw_config **ret, char *err, size_t errlen)
{
	cfg_ctx c = { .err = err, .errlen = errlen };
	if (len > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "$: config larger than %u bytes", CONFIG_MAX_BYTES);
		return PW_ECONFIG;
	}
	/* duplicate keys, text after the value, \u0000, integers past 2^53:
	 * errors here (cJSON would take the first key, ignore the rest, cut
	 * the string, round the number) */
	int r0 = json_check_strict(text, len, err, errlen);
	if (r0 < 0)
		return r0 == PW_ENOMEM ? r0 : PW_ECONFIG;
	cJSON *root = cJSON_ParseWithLength(text, len);
	if (!root) {
		snprintf(err, errlen, "$: invalid JSON");
		return PW_ECONFIG;
	}
	c.cfg = calloc(1, sizeof(pw_config));
	if (!c.cfg) {
		cJSON_Delete(root);
		return PW_ENOMEM;
	}
	int r = config_from_json(&c, root);
	cJSON_Delete(root);
	if (r < 0) {
		if (r == PW_ENOMEM)
			snprintf(err, errlen, "$: out of memory");
		config_destroy(c.cfg);
		return r;
	}
	*ret = c.cfg;
	return 0;
}

int config_load(const char *path, pw_config **ret, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return PW_ECONFIG;
	}
	pw_buf b;
	buf_init(&b, CONFIG_MAX_BYTES);
	char chunk[8192];
	size_t n;
	int r = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((r = buf_append(&b, chunk, n)) < 0)
			break;
	bool read_error = ferror(f);
	fclose(f);
	if (r < 0 || read_error) {
		buf_done(&b);
		snprintf(err, errlen, "%s: %s", path, r == PW_ETOOBIG ? "config file too large" : "cannot read");
		return PW_ECONFIG;
	}
	r = config_parse(b.data ? b.data : "", b.len, ret, err, errlen);
	buf_done(&b);
	return r;
}

void config_destroy(pw_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->api.keys);
	free(cfg->api.tls_cert);
	free(cfg->api.tls_key);
	for (size_t i = 0; i < cfg->n_chains; i++) {
		for (size_t k = 0; k < cfg->chains[i].n_urls; k++)
			free(cfg->chains[i].urls[k]);
		free(cfg->chains[i].urls);
		for (size_t k = 0; k < cfg->chains[i].n_bulk_urls; k++)
			free(cfg->chains[i].bulk_urls[k]);
		free(cfg->chains[i].bulk_urls);
		for (size_t k = 0; k < cfg->chains[i].n_http_headers; k++) {
			chain_header *h = &cfg->chains[i].http_headers[k];
			if (h->value)
				OPENSSL_cleanse(h->value, strlen(h->value));
			free(h->value);
			free(h->name);
		}
		free(cfg->chains[i].http_headers);
		free(cfg->chains[i].tokens);
	}
	for (size_t i = 0; i < cfg->n_merchants; i++) {
		free(cfg->merchants[i].addresses);
		for (size_t k = 0; k < cfg->merchants[i].n_endpoints; k++) {
			cfg_endpoint *e = &cfg->merchants[i].endpoints[k];
			free(e->url);
			for (size_t j = 0; j < e->n_secrets; j++) {
				if (e->secrets[j])
					OPENSSL_cleanse(e->secrets[j], strlen(e->secrets[j]));
				free(e->secrets[j]);
			}
			free(e->secrets);
		}
		free(cfg->merchants[i].endpoints);
	}
	free(cfg->chains);
	free(cfg->merchants);
	free(cfg->webhooks.retry_schedule_s);
	free(cfg->webhooks.proxy);
	free(cfg->data_dir);
	free(cfg->pg_dsn);
	free(cfg);
}

void config_mask_dsn(const char *dsn, char *out, size_t outlen)
{
	pg_dsn_mask(dsn, out, outlen);
}

void config_mask_node_url(const char *url, char *out, size_t outlen)
{
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	size_t scheme_len = (size_t)(host - url), host_len = strcspn(host, "/?#");
	const char *at = memchr(host, '@', host_len); /* refused by the config; never shown */
	if (at) {
		host_len -= (size_t)(at + 1 - host);
		host = at + 1;
	}
	bool more = host[host_len] && strcmp(host + host_len, "/") != 0;
	snprintf(out, outlen, "%.*s%.*s%s", (int)scheme_len, url, (int)host_len, host, more ? "/****" : "");
}

char *config_dump_masked(const pw_config *cfg)
{
	char masked[4096], text[PW_ADDR_TEXT_MAX];
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "data_dir", cfg->data_dir);
	config_mask_dsn(cfg->pg_dsn, masked, sizeof(masked));
	cJSON *pg = cJSON_AddObjectToObject(root, "postgres");
	cJSON_AddStringToObject(pg, "dsn", masked);
	cJSON *chains = cJSON_AddArrayToObject(root, "chains");
	for (size_t i = 0; i < cfg->n_chains; i++) {
		const cfg_chain *ch = &cfg->chains[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(chains, o);
		cJSON_AddStringToObject(o, "name", ch->name);
		cJSON_AddStringToObject(o, "kind", ch->family->kind);
		cJSON_AddNumberToObject(o, "chain_id", (double)ch->chain_id);
		bool http = ch->transport == CHAIN_TRANSPORT_HTTP;
		cJSON *urls = cJSON_AddArrayToObject(o, http ? "http_urls" : "ws_urls");
		for (size_t k = 0; k < ch->n_urls; k++) {
			/* endpoint URLs often embed an API key in the path or query */
			char u[1024];
			config_mask_node_url(ch->urls[k], u, sizeof(u));
			cJSON_AddItemToArray(urls, cJSON_CreateString(u));
		}
		if (ch->n_bulk_urls) { /* beside the websockets: eth_getLogs */
			cJSON *bulk = cJSON_AddArrayToObject(o, "http_urls");
			for (size_t k = 0; k < ch->n_bulk_urls; k++) {
				char u[1024];
				config_mask_node_url(ch->bulk_urls[k], u, sizeof(u));
				cJSON_AddItemToArray(bulk, cJSON_CreateString(u));
			}
		}
		if (http || ch->n_bulk_urls) {
			cJSON *hs = cJSON_AddObjectToObject(o, "http_headers");
			for (size_t k = 0; k < ch->n_http_headers; k++)
				cJSON_AddStringToObject(hs, ch->http_headers[k].name, "****");
			if (http)
				cJSON_AddNumberToObject(o, "poll_interval_ms", ch->poll_interval_ms);
		}
		if (ch->finality != CHAIN_FINALITY_CONFIRMATIONS)
			cJSON_AddStringToObject(o, "finality", chain_finality_tag(ch->finality));
		else
			cJSON_AddNumberToObject(o, "confirmations", ch->confirmations);
		cJSON_AddNumberToObject(o, "head_timeout_ms", ch->head_timeout_ms);
		cJSON_AddNumberToObject(o, "max_lag_blocks", ch->max_lag_blocks);
		if (ch->start_at_head)
			cJSON_AddStringToObject(o, "start_block", "head");
		else
			cJSON_AddNumberToObject(o, "start_block", (double)ch->start_block);
		cJSON_AddNumberToObject(o, "reorg_window", ch->reorg_window);
		cJSON_AddNumberToObject(o, "max_range", (double)ch->max_range);
		cJSON_AddNumberToObject(o, "max_in_flight", ch->max_in_flight);
		cJSON_AddNumberToObject(o, "logs_per_request", ch->logs_per_request);
		cJSON_AddNumberToObject(o, "max_message_bytes", (double)ch->max_message_bytes);
		cJSON_AddNumberToObject(o, "request_timeout_ms", ch->request_timeout_ms);
		cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
		for (size_t k = 0; k < ch->n_tokens; k++) {
			cJSON *t = cJSON_CreateObject();
			cJSON_AddItemToArray(toks, t);
			cJSON_AddStringToObject(t, "symbol", ch->tokens[k].symbol);
			ch->family->format_address_input(&ch->tokens[k].address, text);
			cJSON_AddStringToObject(t, "address", text);
			cJSON_AddNumberToObject(t, "decimals", ch->tokens[k].decimals);
		}
	}
	cJSON *ms = cJSON_AddArrayToObject(root, "merchants");
	for (size_t i = 0; i < cfg->n_merchants; i++) {
		const cfg_merchant *m = &cfg->merchants[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(ms, o);
		cJSON_AddStringToObject(o, "id", m->id);
		cJSON *addrs = cJSON_AddObjectToObject(o, "addresses");
		for (size_t c = 0; c < cfg->n_chains; c++) {
			cJSON *arr = NULL;
			for (size_t k = 0; k < m->n_addresses; k++) {
				if (m->addresses[k].chain_index != c)
					continue;
				if (!arr)
					arr = cJSON_AddArrayToObject(addrs, cfg->chains[c].name);
				cfg->chains[c].family->format_address_input(&m->addresses[k].address, text);
				cJSON_AddItemToArray(arr, cJSON_CreateString(text));
			}
		}
		if (m->n_endpoints) {
			cJSON *ws = cJSON_AddArrayToObject(o, "webhooks");
			for (size_t k = 0; k < m->n_endpoints; k++) {
				char shown[300];
				cJSON *w = cJSON_CreateObject();
				cJSON_AddItemToArray(ws, w);
				cJSON_AddStringToObject(w, "id", m->endpoints[k].id);
				webhook_url_display(m->endpoints[k].url, shown, sizeof(shown));
				/* path, query and user info may carry tokens */
				cJSON_AddStringToObject(w, "url", shown);
				cJSON *sec = cJSON_AddArrayToObject(w, "secrets");
				for (size_t j = 0; j < m->endpoints[k].n_secrets; j++)
					cJSON_AddItemToArray(sec, cJSON_CreateString("whsec_****"));
			}
		}
		if (m->xpub.set) { /* the key by its fingerprint: it tells every address of the merchant */
			cJSON *x = cJSON_AddObjectToObject(o, "xpub");
			char shown[40];
			snprintf(shown, sizeof(shown), "%.4s**** (fingerprint %s)", m->xpub.key, m->xpub.fingerprint);
			cJSON_AddStringToObject(x, "key", shown);
			cJSON_AddStringToObject(x, "path", m->xpub.path);
			cJSON *cs = cJSON_AddArrayToObject(x, "chains");
			for (size_t k = 0; k < m->xpub.n_chains; k++)
				cJSON_AddItemToArray(cs, cJSON_CreateString(cfg->chains[m->xpub.chains[k]].name));
			cJSON_AddNumberToObject(x, "gap_limit", m->xpub.gap_limit);
		}
		cJSON *evs = cJSON_AddArrayToObject(o, "events");
		for (size_t k = 0; k < cfg_n_event_types; k++)
			if (m->events & cfg_event_types[k].bit)
				cJSON_AddItemToArray(evs, cJSON_CreateString(cfg_event_types[k].name));
	}
	cJSON *wh = cJSON_AddObjectToObject(root, "webhooks");
	cJSON_AddBoolToObject(wh, "allow_private_targets", cfg->webhooks.allow_private_targets);
	cJSON_AddBoolToObject(wh, "in_run", cfg->webhooks.in_run);
	cJSON *sched = cJSON_AddArrayToObject(wh, "retry_schedule_s");
	for (size_t k = 0; k < cfg->webhooks.n_retry_schedule; k++)
		cJSON_AddItemToArray(sched, cJSON_CreateNumber(cfg->webhooks.retry_schedule_s[k]));
	cJSON_AddNumberToObject(wh, "timeout_ms", cfg->webhooks.timeout_ms);
	cJSON_AddNumberToObject(wh, "max_in_flight", cfg->webhooks.max_in_flight);
	cJSON_AddNumberToObject(wh, "max_per_endpoint", cfg->webhooks.max_per_endpoint);
	cJSON_AddNumberToObject(wh, "threads", cfg->webhooks.threads);
	if (cfg->webhooks.proxy) {
		char shown[300];
		webhook_url_display(cfg->webhooks.proxy, shown, sizeof(shown));
		cJSON_AddStringToObject(wh, "proxy", shown);
	}
	if (cfg->api.enabled) {
		cJSON *api = cJSON_AddObjectToObject(root, "api");
		char listen[80];
		bool v6 = strchr(cfg->api.host, ':') != NULL;
		snprintf(listen, sizeof(listen), "%s%s%s:%u", v6 ? "[" : "", cfg->api.host, v6 ? "]" : "",
			 cfg->api.port);
		cJSON_AddStringToObject(api, "listen", listen);
		cJSON *keys = cJSON_AddArrayToObject(api, "keys");
		for (size_t k = 0; k < cfg->api.n_keys; k++) {
			const cfg_api_key *key = &cfg->api.keys[k];
			cJSON *o = cJSON_CreateObject();
			char hex[67];
			hex_encode(key->sha256, 32, hex);
			cJSON_AddStringToObject(o, "id", key->id);
			cJSON_AddStringToObject(o, "sha256", hex + 2); /* a hash of the key, not the key */
			if (key->merchant_id[0])
				cJSON_AddStringToObject(o, "merchant_id", key->merchant_id);
			cJSON_AddItemToArray(keys, o);
		}
		cJSON *rl = cJSON_AddObjectToObject(api, "rate_limit");
		cJSON_AddNumberToObject(rl, "per_second", cfg->api.rate_per_s);
		cJSON_AddNumberToObject(rl, "burst", cfg->api.burst);
		cJSON_AddNumberToObject(api, "max_connections", cfg->api.max_connections);
		cJSON_AddNumberToObject(api, "statement_timeout_ms", cfg->api.statement_timeout_ms);
		cJSON_AddNumberToObject(api, "pg_connections", cfg->api.pg_connections);
		cJSON_AddNumberToObject(api, "max_outbox_age_s", cfg->api.max_outbox_age_s);
		cJSON_AddNumberToObject(api, "max_report_age_s", cfg->api.max_report_age_s);
		if (cfg->api.tls_cert) { /* file names: the key's content is never read here */
			cJSON *tls = cJSON_AddObjectToObject(api, "tls");
			cJSON_AddStringToObject(tls, "cert", cfg->api.tls_cert);
			cJSON_AddStringToObject(tls, "key", cfg->api.tls_key);
		}
		if (cfg->api.n_trusted_proxies) {
			cJSON *tp = cJSON_AddArrayToObject(api, "trusted_proxies");
			for (size_t k = 0; k < cfg->api.n_trusted_proxies; k++) {
				const pw_ipnet *n = &cfg->api.trusted_proxies[k];
				char text[INET6_ADDRSTRLEN + 8];
				if (!inet_ntop(n->family == 4 ? AF_INET : AF_INET6, n->addr, text, INET6_ADDRSTRLEN))
					snprintf(text, sizeof(text), "?");
				snprintf(text + strlen(text), sizeof(text) - strlen(text), "/%u", (unsigned)n->prefix);
				cJSON_AddItemToArray(tp, cJSON_CreateString(text));
			}
		}
		cJSON_AddStringToObject(api, "forwarded_header",
					cfg->api.forwarded_rfc7239 ? "Forwarded" : "X-Forwarded-For");
	}
	if (cfg->metrics_enabled) {
		cJSON *m = cJSON_AddObjectToObject(root, "metrics");
		char listen[80];
		bool v6 = strchr(cfg->metrics_host, ':') != NULL;
		snprintf(listen, sizeof(listen), "%s%s%s:%u", v6 ? "[" : "", cfg->metrics_host, v6 ? "]" : "",
			 cfg->metrics_port);
		cJSON_AddStringToObject(m, "listen", listen);
	}
	char *out = cJSON_Print(root);
	cJSON_Delete(root);
	return out;
}

chain_params config_chain_params(const cfg_chain *c, size_t url_index, pw_addr *tokens)
{
	for (size_t i = 0; i < c->n_tokens; i++)
		tokens[i] = c->tokens[i].address;
	return (chain_params){
		.name = c->name,
		.url = c->urls[url_index % c->n_urls],
		.bulk_url = c->n_bulk_urls ? c->bulk_urls[url_index % c->n_bulk_urls] : NULL,
		.chain_id = c->chain_id,
		.tokens = tokens,
		.n_tokens = c->n_tokens,
		.max_message_bytes = (size_t)c->max_message_bytes,
		.request_timeout_ms = c->request_timeout_ms,
		.headers = c->http_headers,
		.n_headers = c->n_http_headers,
		.poll_interval_ms = c->poll_interval_ms,
		.max_in_flight = c->max_in_flight,
	};
}
