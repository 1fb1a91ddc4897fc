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
		snprintf(err, errlen, "field %s: expected %zu-byte hex DATA, got %s", key, n, value_snippet(o, key, v, sizeof(v)));
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
		snprintf(err, errlen, "field %s: expected hex QUANTITY, got %s", key, value_snippet(o, key, snippet, sizeof(snippet)));
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
	cJSON_ArrayForEach(tp, topics)
	{
		if (!cJSON_IsString(tp) || hex_decode_fixed(tp->valuestring, strlen(tp->valuestring),
							     words[n_topics < 4 ? n_topics : 3], 32) < 0) {
			snprintf(err, errlen, "field topics[%d]: expected 32-byte hex DATA", n_topics);
			return PW_EPARSE;
		}
		n_topics++;
	}
	const char *data = str_field(log, "data");
	if (!data || strncmp(data, "0x", 2) != 0 || strlen(data) % 2 != 0) {
		snprintf(err, errlen, "field data: expected hex DATA");
		return PW_EPARSE;
	}
	size_t data_len = (strlen(data) - 2) / 2;
	if (data_len == 32) {
		if (hex_decode_fixed(data, strlen(data), t.amount, 32) < 0) {
			snprintf(err, errlen, "field data: not hex");
			return PW_EPARSE;
		}
	} else {
		for (const char *p = data + 2; *p; p++)
			if (hex_digit_value(*p) < 0) {
				snprintf(err, errlen, "field data: not hex");
				return PW_EPARSE;
			}
	}
	/* Well-formed from here: is it an ERC-20 Transfer? */
	if (cJSON_IsTrue(removed) || n_topics != 3 || data_len != 32 ||
	    memcmp(words[0], evm_transfer_topic, 32) != 0)
		return PW_ENOTFOUND;
	if (address_word(words[1], &t.from) < 0 || address_word(words[2], &t.to) < 0)
		return PW_ENOTFOUND; /* not an address-typed Transfer: not ERC-20's */
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
			snprintf(err, errlen, "block %llu has two block hashes in one answer", (unsigned long long)a->block_number);
			r = PW_EPARSE;
		} else if (a->block_time != b->block_time) {
			snprintf(err, errlen, "block %llu has two blockTimestamps in one answer (%lld, %lld)",
				 (unsigned long long)a->block_number, (long long)a->block_time, (long long)b->block_time);
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

int evm_decode_logs(const cJSON *result, chain_transfer **ret, size_t *ret_n, size_t *ret_logs,
		    char *err, size_t errlen)
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
	cJSON_ArrayForEach(log, result)
	{
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
