/* evm_decode.c: strict decoding of eth_getLogs logs and block headers. */
#include "evm_decode.h"
#include "hex.h"
#include "pw_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t evm_transfer_topic[32] = { 0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0,
					 0x68, 0xfc, 0x37, 0x8d, 0xaa, 0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4,
					 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef };

static const char *str_field(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The start of a field's value for an error message (the log escapes it). */
static const char *value_snippet(const cJSON *o, const char *key, char *out, size_t outlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v)
		snprintf(out, outlen, "missing");
	else if (cJSON_IsString(v))
		snprintf(out, outlen, "\"%.40s%s\"", v->valuestring, strlen(v->valuestring) > 40 ? "..." : "");
	else
		snprintf(out, outlen, "%s", cJSON_IsNumber(v) ? "a number" : cJSON_IsNull(v) ? "null" : "not a string");
	return out;
}

static int fixed_field(const cJSON *o, const char *key, uint8_t *out, size_t n, char *err, size_t errlen)
{
	const char *s = str_field(o, key);
	if (!s || hex_decode_fixed(s, strlen(s), out, n) < 0) {
		char v[64];
		snprintf(err, errlen, "field %s: expected %zu-byte hex DATA, got %s", key, n,
			 value_snippet(o, key, v, sizeof(v)));
		return PW_EPARSE;
	}
	return 0;
}

/* A QUANTITY field bounded to max (what the pipeline and the schema hold:
 * payment.h); a value above it makes the answer malformed. */
static int quantity_field(const cJSON *o, const char *key, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const char *s = str_field(o, key);
	uint64_t v = 0;
	char snippet[64];
	if (!s || hex_parse_quantity(s, &v) < 0) {
		snprintf(err, errlen, "field %s: expected hex QUANTITY, got %s", key,
			 value_snippet(o, key, snippet, sizeof(snippet)));
		return PW_EPARSE;
	}
	if (v > max) {
		snprintf(err, errlen, "field %s: %s is above %llu, the largest value paywatch stores", key,
			 value_snippet(o, key, snippet, sizeof(snippet)), (unsigned long long)max);
		return PW_EPARSE;
	}
	*out = v;
	return 0;
}

/* A topic is a 32-byte word; an address topic has 12 zero bytes first. */
static int address_word(const uint8_t word[32], pw_addr *out)
{
	for (int i = 0; i < 12; i++)
		if (word[i])
			return PW_EPARSE;
	pw_addr_set(out, word + 12, PW_ADDR_LEN);
	return 0;
}

/* A log's data, n bytes of text (not NUL-terminated): "0x" and an even
 * number of hex digits. 0 with *ret_len (bytes) and, for 32 bytes, the
 * amount decoded into amount; PW_EINVAL (no "0x" or an odd length);
 * PW_EPARSE (a digit that is not hex). */
static int data_field(const char *v, size_t n, uint8_t amount[32], size_t *ret_len)
{
	if (n < 2 || v[0] != '0' || v[1] != 'x' || n % 2 != 0)
		return PW_EINVAL;
	size_t len = (n - 2) / 2;
	if (len == 32 && hex_decode_fixed(v, n, amount, 32) < 0)
		return PW_EPARSE;
	for (size_t i = 2; len != 32 && i < n; i++)
		if (hex_digit_value(v[i]) < 0)
			return PW_EPARSE;
	*ret_len = len;
	return 0;
}

/* A well-formed log (topics decoded into words, n_topics of them; the
 * data data_len bytes): is it an ERC-20 Transfer? Not removed, topic0 the
 * Transfer topic, exactly 3 topics, both address-typed, 32 bytes of data.
 * 0 with t->from and t->to set, or PW_ENOTFOUND. */
static int erc20_transfer(bool removed, int n_topics, size_t data_len, uint8_t words[][32], chain_transfer *t)
{
	if (removed || n_topics != 3 || data_len != 32 || memcmp(words[0], evm_transfer_topic, 32) != 0)
		return PW_ENOTFOUND;
	if (address_word(words[1], &t->from) < 0 || address_word(words[2], &t->to) < 0)
		return PW_ENOTFOUND; /* not an address-typed Transfer: not ERC-20's */
	return 0;
}

int evm_decode_transfer(const cJSON *log, chain_transfer *ret, char *err, size_t errlen)
{
	chain_transfer t;
	uint64_t v;
	int r;
	if (!cJSON_IsObject(log)) {
		snprintf(err, errlen, "log is not an object");
		return PW_EPARSE;
	}
	memset(&t, 0, sizeof(t));
	const cJSON *removed = cJSON_GetObjectItemCaseSensitive(log, "removed");
	if (removed && !cJSON_IsBool(removed)) {
		snprintf(err, errlen, "field removed: expected a boolean");
		return PW_EPARSE;
	}
	t.token.len = PW_ADDR_LEN;
	t.tx_hash.len = PW_HASH_LEN;
	if ((r = fixed_field(log, "address", t.token.b, PW_ADDR_LEN, err, errlen)) < 0 ||
	    (r = fixed_field(log, "blockHash", t.block_hash, 32, err, errlen)) < 0 ||
	    (r = fixed_field(log, "transactionHash", t.tx_hash.b, PW_HASH_LEN, err, errlen)) < 0 ||
	    (r = quantity_field(log, "blockNumber", PW_BLOCK_MAX, &t.block_number, err, errlen)) < 0 ||
	    (r = quantity_field(log, "logIndex", PW_LOG_INDEX_MAX, &v, err, errlen)) < 0)
		return r;
	t.log_index = (uint32_t)v;
	t.block_time = -1;
	if (cJSON_GetObjectItemCaseSensitive(log, "blockTimestamp")) {
		if ((r = quantity_field(log, "blockTimestamp", (uint64_t)PW_TIME_MAX_S, &v, err, errlen)) < 0)
			return r;
		t.block_time = (int64_t)v;
	}
	const cJSON *topics = cJSON_GetObjectItemCaseSensitive(log, "topics");
	if (!cJSON_IsArray(topics)) {
		snprintf(err, errlen, "field topics: expected an array");
		return PW_EPARSE;
	}
	uint8_t words[4][32];
	int n_topics = 0;
	const cJSON *tp;
	cJSON_ArrayForEach (tp, topics) {
		if (!cJSON_IsString(tp) || hex_decode_fixed(tp->valuestring, strlen(tp->valuestring),
							    words[n_topics < 4 ? n_topics : 3], 32) < 0) {
			snprintf(err, errlen, "field topics[%d]: expected 32-byte hex DATA", n_topics);
			return PW_EPARSE;
		}
		n_topics++;
	}
	const char *data = str_field(log, "data");
	size_t data_len = 0;
	r = data ? data_field(data, strlen(data), t.amount, &data_len) : PW_EINVAL;
	if (r < 0) {
		snprintf(err, errlen, "field data: %s", r == PW_EINVAL ? "expected hex DATA" : "not hex");
		return PW_EPARSE;
	}
	/* Well-formed from here: is it an ERC-20 Transfer? */
	if ((r = erc20_transfer(cJSON_IsTrue(removed), n_topics, data_len, words, &t)) < 0)
		return r;
	*ret = t;
	return 0;
}

/* Sort order for the consistency checks: block, block hash, log index. */
static int cmp_transfer_at(const void *a, const void *b)
{
	const chain_transfer *x = *(const chain_transfer *const *)a, *y = *(const chain_transfer *const *)b;
	if (x->block_number != y->block_number)
		return x->block_number < y->block_number ? -1 : 1;
	int r = memcmp(x->block_hash, y->block_hash, PW_HASH_LEN);
	if (r)
		return r;
	if (x->log_index != y->log_index)
		return x->log_index < y->log_index ? -1 : 1;
	return x < y ? -1 : x > y; /* by position: the first of a repeat stays first */
}

int evm_check_transfers(chain_transfer *t, size_t *ret_n, char *err, size_t errlen)
{
	size_t n = *ret_n;
	if (n < 2)
		return 0;
	chain_transfer **order = malloc(n * sizeof(*order));
	bool *drop = calloc(n, sizeof(*drop));
	if (!order || !drop) {
		free(order);
		free(drop);
		return PW_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = &t[i];
	qsort(order, n, sizeof(*order), cmp_transfer_at);
	int r = 0;
	for (size_t k = 1; k < n && r == 0; k++) {
		const chain_transfer *a = order[k - 1], *b = order[k];
		if (a->block_number != b->block_number)
			continue;
		if (memcmp(a->block_hash, b->block_hash, PW_HASH_LEN) != 0) {
			snprintf(err, errlen, "block %llu has two block hashes in one answer",
				 (unsigned long long)a->block_number);
			r = PW_EPARSE;
		} else if (a->block_time != b->block_time) {
			snprintf(err, errlen, "block %llu has two blockTimestamps in one answer (%lld, %lld)",
				 (unsigned long long)a->block_number, (long long)a->block_time,
				 (long long)b->block_time);
			r = PW_EPARSE;
		} else if (a->log_index == b->log_index) {
			if (!chain_transfer_equal(a, b)) {
				snprintf(err, errlen, "two different logs of block %llu with logIndex %u",
					 (unsigned long long)a->block_number, a->log_index);
				r = PW_EPARSE;
			}
			drop[order[k] - t] = true; /* the same log twice: one transfer */
		}
	}
	if (r == 0) {
		size_t o = 0;
		for (size_t i = 0; i < n; i++)
			if (!drop[i])
				t[o++] = t[i];
		*ret_n = o;
	}
	free(order);
	free(drop);
	return r;
}

int evm_decode_logs(const cJSON *result, chain_transfer **ret, size_t *ret_n, size_t *ret_logs, char *err,
		    size_t errlen)
{
	if (!cJSON_IsArray(result)) {
		snprintf(err, errlen, "eth_getLogs result is not an array");
		return PW_EPARSE;
	}
	size_t n_logs = (size_t)cJSON_GetArraySize(result), n = 0, i = 0;
	chain_transfer *out = NULL;
	if (n_logs) {
		out = malloc(n_logs * sizeof(*out));
		if (!out)
			return PW_ENOMEM;
	}
	const cJSON *log;
	cJSON_ArrayForEach (log, result) {
		char why[200];
		int r = evm_decode_transfer(log, &out[n], why, sizeof(why));
		if (r == 0)
			n++;
		else if (r != PW_ENOTFOUND) {
			snprintf(err, errlen, "log %zu: %s", i, why);
			free(out);
			return r;
		}
		i++;
	}
	int r = evm_check_transfers(out, &n, err, errlen);
	if (r < 0) {
		free(out);
		return r;
	}
	if (n == 0) {
		free(out);
		out = NULL;
	}
	*ret = out;
	*ret_n = n;
	*ret_logs = n_logs;
	return 0;
}

int evm_decode_header(const cJSON *block, pw_block_ref *ret, char *err, size_t errlen)
{
	pw_block_ref h;
	uint64_t t;
	int r;
	if (!cJSON_IsObject(block)) {
		snprintf(err, errlen, "block is not an object");
		return PW_EPARSE;
	}
	if ((r = quantity_field(block, "number", PW_BLOCK_MAX, &h.number, err, errlen)) < 0 ||
	    (r = fixed_field(block, "hash", h.hash, 32, err, errlen)) < 0 ||
	    (r = fixed_field(block, "parentHash", h.parent_hash, 32, err, errlen)) < 0 ||
	    (r = quantity_field(block, "timestamp", (uint64_t)PW_TIME_MAX_S, &t, err, errlen)) < 0)
		return r;
	h.time = (int64_t)t;
	*ret = h;
	return 0;
}

/* ---- the fast path: an eth_getLogs answer read without a parse tree ----
 *
 * Only what cJSON and evm_decode_logs would read the same way is taken;
 * anything else declines (PW_EAGAIN) and the caller parses the message
 * with cJSON, the strict path that says what is wrong. Stricter than
 * cJSON, never looser: whitespace is the four of JSON only; a string
 * with an escape or a control byte declines (cJSON would unescape it,
 * and keys compare up to a NUL); a known key twice declines (cJSON reads
 * the first); an unknown member is a string, true, false or null; the
 * id is 1-15 plain digits; nothing but whitespace follows the object. */

typedef struct scanner {
	const char *p, *end;
} scanner;

static void scan_ws(scanner *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

/* The next token is the byte c: consumed. */
static bool scan_byte(scanner *s, char c)
{
	scan_ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

/* A string: *ret points at its bytes in the text (n of them). Declines
 * (false) on an escape, a control byte (cJSON would read those
 * differently from the bytes) or no closing quote, and then consumes
 * nothing but whitespace: the caller may try another kind of value at
 * the same place, and a word inside a string it declined must not be
 * read as a value. */
static bool scan_string(scanner *s, const char **ret, size_t *n)
{
	scan_ws(s);
	if (s->p == s->end || *s->p != '"')
		return false;
	const char *start = s->p + 1, *q = memchr(start, '"', (size_t)(s->end - start));
	if (!q)
		return false;
	for (const char *c = start; c < q; c++)
		if ((unsigned char)*c < 0x20 || *c == '\\')
			return false;
	s->p = q + 1;
	*ret = start;
	*n = (size_t)(q - start);
	return true;
}

/* A word (true, false, null) at p. */
static bool scan_word(scanner *s, const char *w)
{
	size_t n = strlen(w);
	scan_ws(s);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return false;
	s->p += n;
	return true;
}

/* A QUANTITY of a string's bytes, as quantity_field reads it. */
static bool scan_quantity(const char *v, size_t n, uint64_t max, uint64_t *ret)
{
	char text[72];
	if (n >= sizeof(text))
		return false;
	memcpy(text, v, n);
	text[n] = '\0';
	return hex_parse_quantity(text, ret) == 0 && *ret <= max;
}

enum {
	LOG_ADDRESS = 1 << 0,
	LOG_BLOCK_HASH = 1 << 1,
	LOG_BLOCK_NUMBER = 1 << 2,
	LOG_BLOCK_TIME = 1 << 3,
	LOG_DATA = 1 << 4,
	LOG_INDEX = 1 << 5,
	LOG_REMOVED = 1 << 6,
	LOG_TOPICS = 1 << 7,
	LOG_TX_HASH = 1 << 8,
	LOG_REQUIRED =
		LOG_ADDRESS | LOG_BLOCK_HASH | LOG_BLOCK_NUMBER | LOG_DATA | LOG_INDEX | LOG_TOPICS | LOG_TX_HASH,
};

/* The bit of a log's key that decode reads; 0 for any other key. */
static int log_key(const char *k, size_t n)
{
#define KEY_IS(name) (n == sizeof(name) - 1 && memcmp(k, name, n) == 0)
	switch (n) {
	case 4: return KEY_IS("data") ? LOG_DATA : 0;
	case 6: return KEY_IS("topics") ? LOG_TOPICS : 0;
	case 7: return KEY_IS("address") ? LOG_ADDRESS : KEY_IS("removed") ? LOG_REMOVED : 0;
	case 8: return KEY_IS("logIndex") ? LOG_INDEX : 0;
	case 9: return KEY_IS("blockHash") ? LOG_BLOCK_HASH : 0;
	case 11: return KEY_IS("blockNumber") ? LOG_BLOCK_NUMBER : 0;
	case 14: return KEY_IS("blockTimestamp") ? LOG_BLOCK_TIME : 0;
	case 15: return KEY_IS("transactionHash") ? LOG_TX_HASH : 0;
	default: return 0;
	}
#undef KEY_IS
}

/* One log object, as evm_decode_transfer reads it: 0 (a transfer in
 * *ret), PW_ENOTFOUND (well formed, no ERC-20 Transfer) or PW_EAGAIN. */
static int scan_log(scanner *s, chain_transfer *ret)
{
	chain_transfer t;
	memset(&t, 0, sizeof(t));
	t.token.len = PW_ADDR_LEN;
	t.tx_hash.len = PW_HASH_LEN;
	t.block_time = -1;
	uint8_t words[4][32];
	int seen = 0, n_topics = 0;
	bool removed = false;
	size_t data_len = 0;
	if (!scan_byte(s, '{'))
		return PW_EAGAIN;
	if (scan_byte(s, '}'))
		return PW_EAGAIN; /* no fields: malformed, the strict path says so */
	do {
		const char *k, *v;
		size_t kn, vn;
		uint64_t q;
		if (!scan_string(s, &k, &kn) || !scan_byte(s, ':'))
			return PW_EAGAIN;
		int bit = log_key(k, kn);
		if (bit & seen)
			return PW_EAGAIN;
		seen |= bit;
		if (bit == LOG_REMOVED) {
			if (scan_word(s, "true"))
				removed = true;
			else if (!scan_word(s, "false"))
				return PW_EAGAIN;
			continue;
		}
		if (bit == LOG_TOPICS) {
			if (!scan_byte(s, '['))
				return PW_EAGAIN;
			if (!scan_byte(s, ']')) {
				do {
					if (!scan_string(s, &v, &vn) ||
					    hex_decode_fixed(v, vn, words[n_topics < 4 ? n_topics : 3], 32) < 0)
						return PW_EAGAIN;
					n_topics++;
				} while (scan_byte(s, ','));
				if (!scan_byte(s, ']'))
					return PW_EAGAIN;
			}
			continue;
		}
		if (bit == 0) { /* a member decode does not read */
			if (!scan_string(s, &v, &vn) && !scan_word(s, "true") && !scan_word(s, "false") &&
			    !scan_word(s, "null"))
				return PW_EAGAIN;
			continue;
		}
		if (!scan_string(s, &v, &vn))
			return PW_EAGAIN;
		bool ok = true;
		switch (bit) {
		case LOG_ADDRESS: ok = hex_decode_fixed(v, vn, t.token.b, PW_ADDR_LEN) == 0; break;
		case LOG_BLOCK_HASH: ok = hex_decode_fixed(v, vn, t.block_hash, 32) == 0; break;
		case LOG_TX_HASH: ok = hex_decode_fixed(v, vn, t.tx_hash.b, PW_HASH_LEN) == 0; break;
		case LOG_BLOCK_NUMBER: ok = scan_quantity(v, vn, PW_BLOCK_MAX, &t.block_number); break;
		case LOG_INDEX:
			ok = scan_quantity(v, vn, PW_LOG_INDEX_MAX, &q);
			t.log_index = (uint32_t)q;
			break;
		case LOG_BLOCK_TIME:
			ok = scan_quantity(v, vn, (uint64_t)PW_TIME_MAX_S, &q);
			t.block_time = (int64_t)q;
			break;
		case LOG_DATA: ok = data_field(v, vn, t.amount, &data_len) == 0; break;
		default: break;
		}
		if (!ok)
			return PW_EAGAIN;
	} while (scan_byte(s, ','));
	if (!scan_byte(s, '}') || (seen & LOG_REQUIRED) != LOG_REQUIRED)
		return PW_EAGAIN;
	int r = erc20_transfer(removed, n_topics, data_len, words, &t);
	if (r == 0)
		*ret = t;
	return r;
}

/* The result array: its transfers, grown as they come. */
static int scan_result(scanner *s, chain_transfer **ret, size_t *ret_n, size_t *ret_logs)
{
	chain_transfer *out = NULL;
	size_t n = 0, cap = 0, logs = 0;
	int r = 0;
	if (!scan_byte(s, '['))
		return PW_EAGAIN;
	if (!scan_byte(s, ']')) {
		do {
			if (n == cap) {
				size_t grown_cap = cap ? cap * 2 : 256;
				chain_transfer *grown = realloc(out, grown_cap * sizeof(*grown));
				if (!grown) {
					r = PW_ENOMEM;
					break;
				}
				out = grown;
				cap = grown_cap;
			}
			r = scan_log(s, &out[n]);
			if (r == PW_ENOTFOUND)
				r = 0;
			else if (r == 0)
				n++;
			logs++;
		} while (r == 0 && scan_byte(s, ','));
		if (r == 0 && !scan_byte(s, ']'))
			r = PW_EAGAIN;
	}
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_n = n;
	*ret_logs = logs;
	return 0;
}

int evm_scan_logs_answer(const char *text, size_t len, uint64_t *ret_id, chain_transfer **ret, size_t *ret_n,
			 size_t *ret_logs)
{
	scanner s = { text, text + len };
	enum { TOP_JSONRPC = 1, TOP_ID = 2, TOP_RESULT = 4 };
	int seen = 0;
	uint64_t id = 0;
	chain_transfer *out = NULL;
	size_t n = 0, logs = 0;
	int r = PW_EAGAIN;
	if (!scan_byte(&s, '{'))
		return PW_EAGAIN;
	do {
		const char *k, *v;
		size_t kn, vn;
		if (!scan_string(&s, &k, &kn) || !scan_byte(&s, ':'))
			goto decline;
		int bit = kn == 7 && memcmp(k, "jsonrpc", 7) == 0  ? TOP_JSONRPC
			  : kn == 2 && memcmp(k, "id", 2) == 0     ? TOP_ID
			  : kn == 6 && memcmp(k, "result", 6) == 0 ? TOP_RESULT
								   : 0;
		if (bit == 0 || (bit & seen)) /* "error", or anything else: the strict path */
			goto decline;
		seen |= bit;
		if (bit == TOP_JSONRPC) {
			if (!scan_string(&s, &v, &vn))
				goto decline;
		} else if (bit == TOP_ID) {
			scan_ws(&s);
			size_t digits = 0;
			while (s.p < s.end && *s.p >= '0' && *s.p <= '9' && digits < 16) {
				id = id * 10 + (uint64_t)(*s.p++ - '0');
				digits++;
			}
			if (digits == 0 || digits > 15 || (s.p < s.end && (*s.p == '.' || *s.p == 'e' || *s.p == 'E')))
				goto decline;
		} else if ((r = scan_result(&s, &out, &n, &logs)) < 0) {
			goto decline;
		}
	} while (scan_byte(&s, ','));
	r = PW_EAGAIN;
	if (!scan_byte(&s, '}') || (seen & (TOP_ID | TOP_RESULT)) != (TOP_ID | TOP_RESULT))
		goto decline;
	scan_ws(&s);
	if (s.p != s.end)
		goto decline;
	char why[200];
	if ((r = evm_check_transfers(out, &n, why, sizeof(why))) < 0) {
		r = r == PW_ENOMEM ? r : PW_EAGAIN; /* the strict path reports it */
		goto decline;
	}
	if (n == 0) {
		free(out);
		out = NULL;
	}
	*ret_id = id;
	*ret = out;
	*ret_n = n;
	*ret_logs = logs;
	return 0;
decline:
	free(out);
	return r == PW_ENOMEM ? PW_ENOMEM : PW_EAGAIN;
}
