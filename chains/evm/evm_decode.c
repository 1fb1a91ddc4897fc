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

static int fixed_field(const cJSON *o, const char *key, uint8_t *out, size_t n, char *err, size_t errlen)
{
	const char *s = str_field(o, key);
	if (!s || hex_decode_fixed(s, strlen(s), out, n) < 0) {
		snprintf(err, errlen, "field %s: expected %zu-byte hex DATA", key, n);
		return PW_EPARSE;
	}
	return 0;
}

static int quantity_field(const cJSON *o, const char *key, uint64_t *out, char *err, size_t errlen)
{
	const char *s = str_field(o, key);
	if (!s || hex_parse_quantity(s, out) < 0) {
		snprintf(err, errlen, "field %s: expected hex QUANTITY", key);
		return PW_EPARSE;
	}
	return 0;
}

/* A topic is a 32-byte word; an address topic has 12 zero bytes first. */
static int address_word(const uint8_t word[32], uint8_t out[20])
{
	for (int i = 0; i < 12; i++)
		if (word[i])
			return PW_EPARSE;
	memcpy(out, word + 12, 20);
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
	if ((r = fixed_field(log, "address", t.token, 20, err, errlen)) < 0 ||
	    (r = fixed_field(log, "blockHash", t.block_hash, 32, err, errlen)) < 0 ||
	    (r = fixed_field(log, "transactionHash", t.tx_hash, 32, err, errlen)) < 0 ||
	    (r = quantity_field(log, "blockNumber", &t.block_number, err, errlen)) < 0 ||
	    (r = quantity_field(log, "logIndex", &v, err, errlen)) < 0)
		return r;
	if (v > UINT32_MAX || t.block_number > INT64_MAX) {
		snprintf(err, errlen, "field logIndex or blockNumber out of range");
		return PW_EPARSE;
	}
	t.log_index = (uint32_t)v;
	t.block_time = -1;
	if (cJSON_GetObjectItemCaseSensitive(log, "blockTimestamp")) {
		if ((r = quantity_field(log, "blockTimestamp", &v, err, errlen)) < 0)
			return r;
		t.block_time = v > INT64_MAX ? -1 : (int64_t)v;
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
	if (address_word(words[1], t.from) < 0 || address_word(words[2], t.to) < 0)
		return PW_ENOTFOUND; /* not an address-typed Transfer: not ERC-20's */
	*ret = t;
	return 0;
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
	if ((r = quantity_field(block, "number", &h.number, err, errlen)) < 0 ||
	    (r = fixed_field(block, "hash", h.hash, 32, err, errlen)) < 0 ||
	    (r = fixed_field(block, "parentHash", h.parent_hash, 32, err, errlen)) < 0 ||
	    (r = quantity_field(block, "timestamp", &t, err, errlen)) < 0)
		return r;
	if (h.number > INT64_MAX || t > INT64_MAX) {
		snprintf(err, errlen, "block number or timestamp out of range");
		return PW_EPARSE;
	}
	h.time = (int64_t)t;
	*ret = h;
	return 0;
}
