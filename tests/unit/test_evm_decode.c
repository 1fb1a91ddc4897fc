/* test_evm_decode.c: real mainnet eth_getLogs output (Erigon rpc-tests,
 * blocks 16000000-16000003, Transfer topic) through the same decoding and
 * matching code `paywatch run` uses (evm_decode_logs +
 * matcher_match_transfers), with USDC and USDT as tokens and merchants
 * chosen here; the expectation is computed independently from the raw
 * JSON strings. Also geth's log unmarshalling cases and malformed logs. */
#include "config.h"
#include "evm_decode.h"
#include "evm_int.h"
#include "hex.h"
#include "jsonrpc.h"
#include "matcher.h"
#include "pw_error.h"
#include "test.h"
#include "uint256.h"
#include "../fuzz/scan_check.h"

#include <ctype.h>
#include <stdlib.h>

#define USDC "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
#define USDT "0xdac17f958d2ee523a2206206994597c13d831ec7"

typedef struct expect {
	const char *tx_hash, *block_hash, *token, *from, *to;
	char amount_dec[U256_DEC_MAX];
	uint64_t block;
	uint32_t log_index;
	const char *merchant;
} expect;

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* How node errors are read, against the real provider bodies of
 * jsonrpc_edge_cases/provider_getLogs_errors.json: every range refusal
 * (Infura's -32005 "query returned more than 10000 results" too) is a
 * smaller range, never a rate limit; the timeout is neither; then
 * java-tron's own messages (LogFilterWrapper, LogBlockQuery) and rate
 * limits by code, status and wording. */
static void test_error_kinds(const char *fixtures)
{
	char *text = test_read_file(fixtures, "jsonrpc_edge_cases/provider_getLogs_errors.json", NULL);
	cJSON *root = cJSON_Parse(text);
	free(text);
	int ranges = 0;
	const cJSON *c;
	cJSON_ArrayForEach (c, cJSON_GetObjectItem(root, "cases")) {
		const cJSON *body = cJSON_GetObjectItem(c, "body");
		const cJSON *err = cJSON_GetObjectItem(c, "body_error_only");
		if (cJSON_IsArray(body))
			body = cJSON_GetArrayItem(body, 0);
		if (!err)
			err = cJSON_GetObjectItem(cJSON_IsObject(body) ? body : cJSON_GetObjectItem(c, "body_partial"),
						  "error");
		const cJSON *msg = err ? cJSON_GetObjectItem(err, "message") : cJSON_GetObjectItem(c, "message");
		const cJSON *code = err ? cJSON_GetObjectItem(err, "code") : NULL;
		const cJSON *status = cJSON_GetObjectItem(c, "http_status");
		CHECK(cJSON_IsString(msg));
		if (!cJSON_IsString(msg))
			continue;
		enum evm_error_kind k = evm_error_kind(cJSON_IsNumber(code) ? code->valueint : 0, msg->valuestring,
						       cJSON_IsNumber(status) ? (long)status->valueint : 0);
		bool timeout = strstr(msg->valuestring, "timed out") != NULL;
		if (k != (timeout ? EVM_ERR_OTHER : EVM_ERR_RANGE)) {
			test_failures++;
			fprintf(stderr, "provider error read as %d: %s\n", (int)k, msg->valuestring);
		}
		test_checks++;
		ranges += !timeout;
	}
	cJSON_Delete(root);
	ASSERT_EQ_INT(15, ranges);
	ASSERT_EQ_INT(EVM_ERR_RANGE, evm_error_kind(-32602, "exceed max block range: 5000", 0));
	ASSERT_EQ_INT(EVM_ERR_RANGE, evm_error_kind(-32005, "query returned more than 10000 results", 0));
	ASSERT_EQ_INT(EVM_ERR_RATE, evm_error_kind(-32005, "project ID request rate exceeded", 0));
	ASSERT_EQ_INT(EVM_ERR_RATE, evm_error_kind(-32005, "daily request count exceeded, request rate limited", 0));
	ASSERT_EQ_INT(EVM_ERR_RATE, evm_error_kind(0, "", 429));
	ASSERT_EQ_INT(EVM_ERR_RATE, evm_error_kind(-32029, "", 0));
	ASSERT_EQ_INT(EVM_ERR_RANGE, evm_error_kind(-32614, "", 413));
	ASSERT_EQ_INT(EVM_ERR_OTHER, evm_error_kind(-32000, "header not found", 0));

	/* the wait a rate-limit error asks for in its data: Infura's bodies
	 * as quoted in ethers-rs #1711 and status-go #4807 (data.rate), in
	 * ethers.js #640 (data, its older form), and INFURA/infura#201
	 * (backoff_seconds 0); then what a hostile node might send */
	static const struct {
		const char *error;
		uint32_t want;
	} backoffs[] = {
		{ "{\"code\":-32005,\"message\":\"daily request count exceeded, request rate limited\",\"data\":"
		  "{\"rate\":{\"allowed_rps\":1,\"backoff_seconds\":30,\"current_rps\":1.0666666666666669},"
		  "\"see\":\"https://infura.io/dashboard\"}}",
		  30 },
		{ "{\"code\":-32005,\"message\":\"exceeded project rate limit\",\"data\":{\"rate\":{\"allowed_rps\":5,"
		  "\"backoff_seconds\":30,\"current_rps\":5.233333333333333},\"see\":\"https://infura.io/dashboard\"}}",
		  30 },
		{ "{\"code\":-32005,\"message\":\"project ID request rate exceeded\",\"data\":{\"see\":"
		  "\"https://infura.io/docs/ethereum/jsonrpc/ratelimits\",\"current_rps\":13.333,\"allowed_rps\":10.0,"
		  "\"backoff_seconds\":30.0}}",
		  30 },
		{ "{\"code\":-32005,\"message\":\"project ID request rate exceeded\",\"data\":{\"rate\":{\"allowed_rps\":50,"
		  "\"backoff_seconds\":0,\"current_rps\":52.3},\"see\":\"https://infura.io/docs/ethereum/json-rpc/ratelimits\"}}",
		  0 },
		{ "{\"code\":-32005,\"message\":\"rate limit exceeded\"}", 0 },
		{ "{\"code\":-32005,\"data\":{\"rate\":{\"backoff_seconds\":0.2}}}", 1 }, /* rounded up */
		{ "{\"code\":-32005,\"data\":{\"rate\":{\"backoff_seconds\":2.5}}}", 3 },
		{ "{\"code\":-32005,\"data\":{\"rate\":{},\"backoff_seconds\":4}}", 4 },
		{ "{\"code\":-32005,\"data\":{\"rate\":{\"backoff_seconds\":86400}}}", RPC_RETRY_AFTER_MAX_S },
		{ "{\"code\":-32005,\"data\":{\"rate\":{\"backoff_seconds\":1e999}}}", RPC_RETRY_AFTER_MAX_S },
		{ "{\"code\":-32005,\"data\":{\"rate\":{\"backoff_seconds\":-5}}}", 0 },
		{ "{\"code\":-32005,\"data\":{\"rate\":{\"backoff_seconds\":\"30\"}}}", 0 },
		{ "{\"code\":-32005,\"data\":{\"rate\":{\"backoff_seconds\":null}}}", 0 },
		{ "{\"code\":-32005,\"data\":[30]}", 0 },
		{ "{\"code\":-32005,\"data\":\"backoff_seconds: 30\"}", 0 },
	};
	for (size_t i = 0; i < sizeof(backoffs) / sizeof(backoffs[0]); i++) {
		cJSON *e = cJSON_Parse(backoffs[i].error);
		CHECK(e != NULL);
		uint32_t got = evm_error_backoff_s(e);
		if (got != backoffs[i].want)
			fprintf(stderr, "backoff of %s: %u\n", backoffs[i].error, got);
		ASSERT_EQ_INT(backoffs[i].want, got);
		cJSON_Delete(e);
	}
}

/* The JSON values of a message counted byte by byte (the definition
 * rpc_count_values implements with memchr inside strings). */
static size_t count_values_reference(const char *data, size_t len)
{
	size_t values = 1;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char ch = data[i];
		if (in_string) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
		} else if (ch == '"') {
			in_string = true;
		} else if (ch == ',' || ch == '[' || ch == '{') {
			values++;
		}
	}
	return values;
}

/* rpc_count_values against the reference on 200,000 random texts of the
 * bytes that matter (quotes, backslash runs, the counted punctuation),
 * and on a real answer. */
static void test_count_values(const char *fixtures)
{
	static const char alphabet[] = "\"\\,[{a}]0";
	unsigned seed = 12345;
	int wrong = 0;
	char text[96];
	for (int k = 0; k < 200000; k++) {
		seed = seed * 1103515245u + 12345u;
		size_t n = (seed >> 16) % sizeof(text);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			text[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		if (rpc_count_values(text, n) != count_values_reference(text, n) && wrong++ < 3)
			fprintf(stderr, "count differs on %.*s\n", (int)n, text);
	}
	ASSERT_EQ_INT(0, wrong);
	/* [1,"a\",b",{}]: the comma after the escaped quote is inside the string */
	ASSERT_EQ_INT(5, rpc_count_values("[1,\"a\\\",b\",{}]", 14));
	/* a real answer: 431 logs of mainnet blocks 16000000-16000003 */
	size_t n = 0;
	char *body =
		test_read_file(fixtures, "eth/erigon-rpc-tests/eth_getLogs_transfer-topic_16000000-16000003.json", &n);
	CHECK(body != NULL && n > 100000);
	if (body)
		ASSERT_EQ_INT(count_values_reference(body, n), rpc_count_values(body, n));
	free(body);
}

/* scan_check of text (len bytes) with piece (n bytes) inserted at byte
 * at, built in buf (len + n bytes). */
static int scan_inserted(char *buf, const char *text, size_t len, size_t at, const char *piece, size_t n)
{
	memcpy(buf, text, at);
	memcpy(buf + at, piece, n);
	memcpy(buf + at + n, text + at, len - at);
	return scan_check(buf, len + n);
}

/* The scanner (evm_scan_logs_answer) against the strict path: a real
 * answer compact and pretty-printed (read by the scanner, the same
 * transfers), then 50,000 mutations of a smaller real answer (a byte
 * changed, dropped or added, a slice repeated): whatever the scanner
 * reads, the strict path reads the same; what it declines goes there. */
static void test_scan(const cJSON *response)
{
	char *compact = cJSON_PrintUnformatted(response), *pretty = cJSON_Print(response);
	CHECK(compact && pretty);
	if (!compact || !pretty)
		return;
	ASSERT_EQ_INT(1, scan_check(compact, strlen(compact)));
	ASSERT_EQ_INT(1, scan_check(pretty, strlen(pretty)));
	/* an error member, a batch, an escape: declined; an empty result read */
	static const char *const plain[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32005,\"message\":\"x\"}}",
		"[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[]}]",
		"{\"jsonrpc\":\"2\\u002e0\",\"id\":1,\"result\":[]}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[]}",
	};
	for (size_t i = 0; i < 4; i++)
		ASSERT_EQ_INT(i == 3 ? 1 : 0, scan_check(plain[i], strlen(plain[i])));

	/* one log changed in the ways a mutation rarely reaches: values above
	 * what paywatch stores, a removed log, a NUL in a key (cJSON compares
	 * keys up to it), null where a boolean or a string belongs */
	static const struct {
		const char *key, *value; /* a JSON value text; NULL: the member goes */
		int want;                /* 1: read (as the strict path), 0: declined */
	} one[] = {
		{ "logIndex", "\"0x80000000\"", 0 },
		{ "logIndex", "\"0x7fffffff\"", 1 },
		{ "blockTimestamp", "\"0x100000000000\"", 0 },
		{ "blockNumber", "\"0x8000000000000000\"", 0 },
		{ "removed", "true", 1 },
		{ "removed", "null", 0 },
		{ "data", "\"0X00\"", 0 },
		{ "data", "\"0x00\"", 1 },
		{ "topics", "[]", 1 },
		{ "address", "null", 0 },
		{ "blockTimestamp", NULL, 1 },
		{ "transactionHash", NULL, 0 },
		{ "transactionIndex", "7", 0 },
		{ "transactionIndex", "{}", 0 },
	};
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		cJSON *r1 = cJSON_Duplicate(response, true), *logs = cJSON_GetObjectItemCaseSensitive(r1, "result");
		while (cJSON_GetArraySize(logs) > 1)
			cJSON_DeleteItemFromArray(logs, 1);
		cJSON *log = cJSON_GetArrayItem(logs, 0);
		cJSON_DeleteItemFromObjectCaseSensitive(log, one[i].key);
		if (one[i].value)
			cJSON_AddItemToObject(log, one[i].key, cJSON_Parse(one[i].value));
		char *text = cJSON_PrintUnformatted(r1);
		int v = text ? scan_check(text, strlen(text)) : -1;
		if (v != one[i].want)
			fprintf(stderr, "%s = %s: scanner %d, expected %d\n", one[i].key,
				one[i].value ? one[i].value : "(none)", v, one[i].want);
		ASSERT_EQ_INT(one[i].want, v);
		/* the key "address" again with a NUL in it, before the real one: declined */
		char *at = text ? strstr(text, "\"address\"") : NULL;
		if (at && i == 1) { /* a log the scanner reads */
			size_t len = strlen(text), off = (size_t)(at - text);
			char *nul = malloc(len + 32);
			static const char member[] = "\"address\0x\":\"0x00\",";
			ASSERT_EQ_INT(0, scan_inserted(nul, text, len, off, member, sizeof(member) - 1));
			/* an unknown member's string that the scanner cannot take
			 * (a control byte, or no closing quote) but that begins
			 * with a word: declined, not read as the word (cJSON reads
			 * a string there, and then refuses the text) */
			static const char tab[] = "\"memo\":\"true,\t";
			ASSERT_EQ_INT(0, scan_inserted(nul, text, len, off, tab, sizeof(tab) - 1));
			char *close = strrchr(text, '}') - 2;      /* the last log's closing brace */
			CHECK(close[0] == '}' && close[1] == ']'); /* "result" printed last */
			size_t at_close = (size_t)(close - text);
			static const char open_end[] = ",\"memo\":\"null";
			ASSERT_EQ_INT(0, scan_inserted(nul, text, len, at_close, open_end, sizeof(open_end) - 1));
			free(nul);
		}
		free(text);
		cJSON_Delete(r1);
	}

	cJSON *small = cJSON_Duplicate(response, true);
	cJSON *result = cJSON_GetObjectItemCaseSensitive(small, "result");
	while (cJSON_GetArraySize(result) > 6)
		cJSON_DeleteItemFromArray(result, cJSON_GetArraySize(result) - 1);
	char *base = cJSON_PrintUnformatted(small);
	cJSON_Delete(small);
	size_t n = strlen(base);
	/* before every key of a smaller real answer (6 logs), a member whose
	 * string begins with a word and holds a whitespace control byte
	 * (the scanner declines the string; cJSON reads on to the next key's
	 * quote and then refuses the text): whatever the scanner reads
	 * there, the strict path reads the same */
	{
		static const char *const words[] = { "\"x\":\"true,\t", "\"x\":\"null,\n", "\"x\":\"false,\r" };
		size_t len = strlen(base);
		char *w = malloc(len + 16);
		int wrong_at = 0;
		for (size_t i = 1; w && i < len; i++) {
			if (base[i] != '"' || (base[i - 1] != '{' && base[i - 1] != ','))
				continue;
			for (size_t k = 0; k < 3; k++)
				wrong_at += scan_inserted(w, base, len, i, words[k], strlen(words[k])) < 0;
		}
		ASSERT_EQ_INT(0, wrong_at);
		free(w);
	}

	static const char bytes[] = "\"\\,:{}[] 0afxXFzeE19-.\n\ttrunl\x01\xc3";
	char *m = malloc(n + 200);
	unsigned seed = 99;
	int read = 0, declined = 0, wrong = 0;
	for (int k = 0; k < 50000 && m; k++) {
		memcpy(m, base, n);
		size_t len = n;
#define RAND(limit) ((seed = seed * 1103515245u + 12345u), (size_t)((seed >> 8) % (limit)))
		for (int edits = RAND(4) ? 1 : 2; edits > 0; edits--) {
			size_t at = RAND(len), op = RAND(4);
			char c = op == 3 ? 0 : bytes[RAND(sizeof(bytes) - 1)];
			if (op == 0) {
				m[at] = c;
			} else if (op == 1 && len > 1) {
				memmove(m + at, m + at + 1, len - at - 1);
				len--;
			} else if (op == 2) {
				memmove(m + at + 1, m + at, len - at);
				m[at] = c;
				len++;
			} else if (len + 80 < n + 200) {
				size_t from = RAND(len), k2 = 1 + RAND(80);
				if (from + k2 > len)
					k2 = len - from;
				memmove(m + at + k2, m + at, len - at);
				memmove(m + at, m + from + (from >= at ? k2 : 0), k2);
				len += k2;
			}
		}
#undef RAND
		int v = scan_check(m, len);
		read += v == 1;
		declined += v == 0;
		wrong += v < 0;
	}
	fprintf(stderr, "scanner on 50000 mutated answers: %d read (as the strict path), %d declined, %d wrong\n", read,
		declined, wrong);
	ASSERT_EQ_INT(0, wrong);
	CHECK(read > 1000 && declined > 1000);
	free(m);
	free(base);
	free(compact);
	free(pretty);
}

/* rpc_parse_message on one text: its error (0 when parsed) and nul_escape;
 * the id it attributed the text to. */
static int parse_error(const char *text, bool *nul_escape, uint64_t *id)
{
	rpc_message m;
	rpc_parse_message(text, strlen(text), &m);
	int error = m.error;
	*nul_escape = m.nul_escape;
	*id = m.has_id ? m.id : 0;
	rpc_message_done(&m);
	return error;
}

/* An answer whose string holds the escape \u0000 is refused unparsed:
 * cJSON ends a string there, so the head 0x1\u00002 (0x12 to a reader
 * that keeps every byte) would be block 1. A backslash escaped before
 * "u0000" is no such escape; a real answer of 431 logs is parsed. */
static void test_nul_escape(const char *fixtures)
{
	bool nul;
	uint64_t id;
	/* what the check guards against: cJSON's reading */
	cJSON *cut = cJSON_Parse("{\"result\":\"0x1\\u00002\"}");
	ASSERT_EQ_STR("0x1", cJSON_GetObjectItem(cut, "result")->valuestring);
	cJSON_Delete(cut);
	ASSERT_EQ_INT(PW_EPARSE, parse_error("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x1\\u00002\"}", &nul, &id));
	CHECK(nul);
	ASSERT_EQ_INT(7, (int)id); /* attributed: the request is failed, not left waiting */
	/* three backslashes: an escaped one, then the escape */
	ASSERT_EQ_INT(PW_EPARSE, parse_error("{\"id\":8,\"result\":{\"extraData\":\"\\\\\\u0000\"}}", &nul, &id));
	CHECK(nul);
	ASSERT_EQ_INT(PW_EPARSE, parse_error("{\"id\":9,\"result\":[\"\\u0000\"]}", &nul, &id));
	CHECK(nul);
	/* two backslashes: an escaped backslash and the letters u0000 */
	ASSERT_EQ_INT(0, parse_error("{\"id\":10,\"result\":\"a\\\\u0000\"}", &nul, &id));
	CHECK(!nul);
	/* other escapes, and \u0001 */
	ASSERT_EQ_INT(0, parse_error("{\"id\":11,\"result\":\"\\u0001\\n\\u00e9\"}", &nul, &id));
	ASSERT_EQ_INT(0, parse_error("{\"id\":12,\"result\":\"0x\\u0030\"}", &nul, &id));
	/* a real answer, pretty-printed with its escapes: parsed */
	size_t n = 0;
	char *body = test_read_file(fixtures, "eth/erigon-rpc-tests/eth_getBlockByNumber_16000000_fulltx.json", &n);
	CHECK(body != NULL);
	if (body) {
		rpc_message m;
		rpc_parse_message(body, n, &m);
		ASSERT_EQ_INT(0, m.error);
		rpc_message_done(&m);
	}
	free(body);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	test_error_kinds(argv[1]);
	test_count_values(argv[1]);
	test_nul_escape(argv[1]);
	char *text =
		test_read_file(argv[1], "eth/erigon-rpc-tests/eth_getLogs_transfer-topic_16000000-16000003.json", NULL);
	cJSON *root = cJSON_Parse(text);
	CHECK(root != NULL);
	const cJSON *result =
		cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(root, 0), "response"), "result");
	ASSERT_EQ_INT(431, cJSON_GetArraySize(result));
	test_scan(cJSON_GetObjectItem(cJSON_GetArrayItem(root, 0), "response"));

	/* Merchants: every 3rd distinct recipient of a 3-topic Transfer (of any
	 * contract, so some merchants also receive unwatched tokens), split
	 * between two merchants by parity. */
	char recipients[512][43];
	int n_recipients = 0, three_topic = 0, four_topic = 0;
	const cJSON *log;
	cJSON_ArrayForEach (log, result) {
		const cJSON *topics = cJSON_GetObjectItem(log, "topics");
		int nt = cJSON_GetArraySize(topics);
		three_topic += nt == 3;
		four_topic += nt == 4;
		if (nt != 3)
			continue;
		char to[43] = "0x";
		memcpy(to + 2, cJSON_GetArrayItem(topics, 2)->valuestring + 26, 40);
		to[42] = '\0';
		lower(to);
		bool seen = false;
		for (int i = 0; i < n_recipients && !seen; i++)
			seen = strcmp(recipients[i], to) == 0;
		if (!seen && n_recipients < 512)
			memcpy(recipients[n_recipients++], to, 43);
	}
	ASSERT_EQ_INT(325, three_topic); /* SOURCES.txt: 325 ERC-20-shaped, 106 ERC-721-shaped */
	ASSERT_EQ_INT(106, four_topic);

	/* build the config the way users write it */
	char *cfg_text = malloc(1 << 20);
	size_t o = (size_t)snprintf(
		cfg_text, 1 << 20,
		"{\"data_dir\":\"/tmp/x\",\"postgres\":{\"dsn\":\"postgresql://x\"},\"chains\":[{\"name\":\"mainnet\","
		"\"kind\":\"evm\",\"chain_id\":1,\"ws_url\":\"ws://127.0.0.1:1\",\"confirmations\":12,\"tokens\":["
		"{\"symbol\":\"USDC\",\"address\":\"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\",\"decimals\":6},"
		"{\"symbol\":\"USDT\",\"address\":\"0xdAC17F958D2ee523a2206206994597C13D831ec7\",\"decimals\":6}]}],"
		"\"merchants\":[");
	for (int m = 0; m < 2; m++) {
		o += (size_t)snprintf(cfg_text + o, (1 << 20) - o, "%s{\"id\":\"%s\",\"addresses\":{\"mainnet\":[",
				      m ? "," : "", m ? "globex" : "acme");
		bool first = true;
		for (int i = 0; i < n_recipients; i += 3) {
			if ((i / 3) % 2 != m)
				continue;
			o += (size_t)snprintf(cfg_text + o, (1 << 20) - o, "%s\"%s\"", first ? "" : ",", recipients[i]);
			first = false;
		}
		o += (size_t)snprintf(cfg_text + o, (1 << 20) - o, "]}}");
	}
	snprintf(cfg_text + o, (1 << 20) - o, "]}");
	pw_config *cfg = NULL;
	char err[512];
	ASSERT_EQ_INT(0, config_parse(cfg_text, strlen(cfg_text), &cfg, err, sizeof(err)));
	if (!cfg) {
		fprintf(stderr, "config: %s\n", err);
		return 1;
	}
	matcher *m = NULL;
	ASSERT_EQ_INT(0, matcher_from_config(cfg, &m));

	/* independent expectation from the raw strings */
	expect *want = calloc(500, sizeof(*want));
	int n_want = 0, usdc_transfers = 0, usdt_transfers = 0;
	cJSON_ArrayForEach (log, result) {
		const cJSON *topics = cJSON_GetObjectItem(log, "topics");
		char addr[43];
		snprintf(addr, sizeof(addr), "%s", cJSON_GetObjectItem(log, "address")->valuestring);
		lower(addr);
		const char *data = cJSON_GetObjectItem(log, "data")->valuestring;
		bool watched = strcmp(addr, USDC) == 0 || strcmp(addr, USDT) == 0;
		if (cJSON_GetArraySize(topics) != 3 || strlen(data) != 66 || !watched)
			continue;
		usdc_transfers += strcmp(addr, USDC) == 0;
		usdt_transfers += strcmp(addr, USDT) == 0;
		char to[43] = "0x";
		memcpy(to + 2, cJSON_GetArrayItem(topics, 2)->valuestring + 26, 40);
		to[42] = '\0';
		lower(to);
		int idx = -1;
		for (int i = 0; i < n_recipients; i += 3)
			if (strcmp(recipients[i], to) == 0)
				idx = i;
		if (idx < 0 || strspn(data + 2, "0") == 64)
			continue;
		expect *e = &want[n_want++];
		e->tx_hash = cJSON_GetObjectItem(log, "transactionHash")->valuestring;
		e->block_hash = cJSON_GetObjectItem(log, "blockHash")->valuestring;
		e->token = strcmp(addr, USDC) == 0 ? USDC : USDT;
		e->merchant = (idx / 3) % 2 ? "globex" : "acme";
		e->block = strtoull(cJSON_GetObjectItem(log, "blockNumber")->valuestring + 2, NULL, 16);
		e->log_index = (uint32_t)strtoul(cJSON_GetObjectItem(log, "logIndex")->valuestring + 2, NULL, 16);
		/* decimal by long division over the hex digits, independent of uint256.c */
		unsigned digits[80] = { 0 };
		int nd = 1;
		for (const char *p = data + 2; *p; p++) {
			unsigned carry = (unsigned)(isdigit((unsigned char)*p) ? *p - '0'
									       : tolower((unsigned char)*p) - 'a' + 10);
			for (int k = 0; k < nd; k++) {
				unsigned v = digits[k] * 16 + carry;
				digits[k] = v % 10;
				carry = v / 10;
			}
			while (carry) {
				digits[nd++] = carry % 10;
				carry /= 10;
			}
		}
		while (nd > 1 && digits[nd - 1] == 0)
			nd--;
		for (int k = 0; k < nd; k++)
			e->amount_dec[k] = (char)('0' + digits[nd - 1 - k]);
		e->amount_dec[nd] = '\0';
		static char from_buf[500][43];
		snprintf(from_buf[n_want - 1], 43, "0x%s", cJSON_GetArrayItem(topics, 1)->valuestring + 26);
		lower(from_buf[n_want - 1]);
		e->from = from_buf[n_want - 1];
		static char to_buf[500][43];
		memcpy(to_buf[n_want - 1], to, 43);
		e->to = to_buf[n_want - 1];
	}
	ASSERT_EQ_INT(35, usdc_transfers); /* SOURCES.txt: USDC 35, USDT 46 */
	ASSERT_EQ_INT(46, usdt_transfers);
	CHECK(n_want >= 10);

	/* the code under test */
	chain_transfer *transfers = NULL;
	size_t n_transfers = 0, n_logs = 0;
	ASSERT_EQ_INT(0, evm_decode_logs(result, &transfers, &n_transfers, &n_logs, err, sizeof(err)));
	ASSERT_EQ_INT(431, n_logs);
	ASSERT_EQ_INT(325, n_transfers); /* every 3-topic log here is address-typed with 32-byte data */
	pw_payment *got = calloc(n_transfers, sizeof(pw_payment));
	size_t n_got = matcher_match_transfers(m, cfg, 0, transfers, n_transfers, got);
	ASSERT_EQ_INT(n_want, n_got);
	for (size_t i = 0; i < n_got && (int)i < n_want; i++) {
		const pw_payment *p = &got[i];
		const expect *e = &want[i];
		char h[67], a[43], dec[U256_DEC_MAX];
		ASSERT_EQ_INT(PW_FAMILY_EVM, p->family);
		ASSERT_EQ_INT(32, p->tx_hash.len);
		hex_encode(p->tx_hash.b, 32, h);
		ASSERT_EQ_STR(e->tx_hash, h);
		hex_encode(p->block_hash, 32, h);
		ASSERT_EQ_STR(e->block_hash, h);
		hex_encode(p->token.b, 20, a);
		ASSERT_EQ_STR(e->token, a);
		hex_encode(p->from.b, 20, a);
		ASSERT_EQ_STR(e->from, a);
		hex_encode(p->to.b, 20, a);
		ASSERT_EQ_STR(e->to, a);
		u256_to_dec(p->amount, dec);
		ASSERT_EQ_STR(e->amount_dec, dec);
		ASSERT_EQ_INT(e->block, p->block_number);
		ASSERT_EQ_INT(e->log_index, p->log_index);
		ASSERT_EQ_STR(e->merchant, p->merchant_id);
		ASSERT_EQ_STR(strcmp(e->token, USDC) == 0 ? "USDC" : "USDT", p->token_symbol);
		ASSERT_EQ_INT(6, p->decimals);
		ASSERT_EQ_INT(1, p->chain_id);
		CHECK(p->block_time > 1668000000); /* Erigon logs carry blockTimestamp (Nov 2022) */
	}
	printf("fixture: %d payments to %d merchant addresses among 431 logs\n", n_want, (n_recipients + 2) / 3);
	free(got);
	free(transfers);
	free(want);

	/* geth's log unmarshalling table (core/types/log_test.go) */
	char *geth = test_read_file(argv[1], "jsonrpc_edge_cases/geth_log_unmarshal_cases.json", NULL);
	cJSON *geth_root = cJSON_Parse(geth);
	cJSON *cases = cJSON_GetObjectItem(geth_root, "cases");
	const cJSON *c;
	int seen = 0;
	cJSON_ArrayForEach (c, cases) {
		const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
		chain_transfer t;
		int r = evm_decode_transfer(cJSON_GetObjectItem(c, "input"), &t, err, sizeof(err));
		int expected = PW_ENOTFOUND; /* 2 topics, empty data, removed: well-formed, not payments */
		if (strstr(name, "missing"))
			expected = PW_EPARSE; /* pending logs (no block) and missing data are unusable */
		if (r != expected)
			fprintf(stderr, "geth case \"%s\": %s\n", name, err);
		ASSERT_EQ_INT(expected, r);
		seen++;
	}
	ASSERT_EQ_INT(5, seen);
	cJSON_Delete(geth_root);
	free(geth);

	/* malformed logs: clear errors, never a payment */
	static const char *const bad[] = {
		"{\"address\":\"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48\",\"blockHash\":\"0x3dc4\",\"blockNumber\":\"0x1\","
		"\"data\":\"0x00\",\"logIndex\":\"0x0\",\"topics\":[],\"transactionHash\":\"0x00\"}",
		"{\"address\":\"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48\",\"blockHash\":\"0x3dc4ef568ae2635db1419c5fec55c4a9322c05302ae527cd40bff380c1d465dd\","
		"\"blockNumber\":\"0x1\",\"data\":\"0x00000000000000000000000000000000000000000000000000000000072zze00\",\"logIndex\":\"0x0\","
		"\"topics\":[\"0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef\","
		"\"0x000000000000000000000000ffec0067f5a79cff07527f63d83dd5462ccf8ba4\",\"0x000000000000000000000000e47872c80e3af63bd237b82c065e441fa75c4dea\"],"
		"\"transactionHash\":\"0xdf9e5e3b41cb2ae0622e64fd96d10f11324017b8c1dd3c4d5a1c4f4f0e52e6a0\"}",
		"{\"address\":7}",
		"[]",
		"{\"address\":\"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48\",\"blockHash\":\"0x3dc4ef568ae2635db1419c5fec55c4a9322c05302ae527cd40bff380c1d465dd\","
		"\"blockNumber\":\"0x1\",\"data\":\"0x\",\"logIndex\":\"0x0\",\"removed\":\"yes\",\"topics\":[],"
		"\"transactionHash\":\"0xdf9e5e3b41cb2ae0622e64fd96d10f11324017b8c1dd3c4d5a1c4f4f0e52e6a0\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *j = cJSON_Parse(bad[i]);
		chain_transfer t;
		ASSERT_EQ_INT(PW_EPARSE, evm_decode_transfer(j, &t, err, sizeof(err)));
		CHECK(err[0] != '\0');
		cJSON_Delete(j);
	}
	/* a result of the wrong type */
	cJSON *obj = cJSON_Parse("{\"x\":1}");
	ASSERT_EQ_INT(PW_EPARSE, evm_decode_logs(obj, &transfers, &n_transfers, &n_logs, err, sizeof(err)));
	cJSON_Delete(obj);
	/* a header */
	cJSON *hdr = cJSON_Parse(
		"{\"number\":\"0xf42400\",\"hash\":\"0x3dc4ef568ae2635db1419c5fec55c4a9322c05302ae527cd40bff380c1d465dd\","
		"\"parentHash\":\"0x3dc4ef568ae2635db1419c5fec55c4a9322c05302ae527cd40bff380c1d465de\",\"timestamp\":\"0x63780c83\"}");
	pw_block_ref h;
	ASSERT_EQ_INT(0, evm_decode_header(hdr, &h, err, sizeof(err)));
	ASSERT_EQ_INT(16000000, h.number);
	ASSERT_EQ_INT(0x63780c83, h.time);
	cJSON_Delete(hdr);

	/* values a node may send that the pipeline and schema cannot hold are
	 * malformed at decode (payment.h bounds), one below is accepted */
	const cJSON *first = NULL;
	cJSON_ArrayForEach (log, result) {
		char addr[43];
		snprintf(addr, sizeof(addr), "%s", cJSON_GetObjectItem(log, "address")->valuestring);
		lower(addr);
		const cJSON *topics = cJSON_GetObjectItem(log, "topics");
		uint8_t word[32];
		uint32_t owner;
		pw_addr to = { 0 };
		const cJSON *topic2 = cJSON_GetArrayItem(topics, 2);
		if (cJSON_IsString(topic2) &&
		    hex_decode_fixed(topic2->valuestring, strlen(topic2->valuestring), word, 32) == 0)
			pw_addr_set(&to, word + 12, PW_ADDR_LEN);
		if (!first && strcmp(addr, USDC) == 0 && cJSON_GetArraySize(topics) == 3 && to.len &&
		    matcher_lookup(m, 0, &to, &owner))
			first = log; /* a USDC payment to a merchant */
	}
	CHECK(first != NULL);
	static const struct {
		const char *field, *value;
		int want;
	} bounds[] = {
		{ "logIndex", "0x7fffffff", 0 },
		{ "logIndex", "0x80000000", PW_EPARSE }, /* Postgres int */
		{ "logIndex", "0xffffffff", PW_EPARSE },
		{ "blockNumber", "0x7fffffffffffffff", 0 },
		{ "blockNumber", "0x8000000000000000", PW_EPARSE }, /* Postgres bigint */
		{ "blockTimestamp", "0x3afff4417f", 0 },            /* 9999-12-31T23:59:59Z */
		{ "blockTimestamp", "0x3afff44180", PW_EPARSE },
		{ "blockTimestamp", "0x100000000000", PW_EPARSE },     /* 2^44: "timestamp out of range" in Postgres */
		{ "blockTimestamp", "0x7fffffffffffffff", PW_EPARSE }, /* 2^63-1: overflowed *1000 in the sink */
	};
	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		cJSON *l = cJSON_Duplicate(first, 1);
		cJSON_ReplaceItemInObject(l, bounds[i].field, cJSON_CreateString(bounds[i].value));
		chain_transfer t;
		err[0] = '\0';
		int r = evm_decode_transfer(l, &t, err, sizeof(err));
		if (r != bounds[i].want)
			fprintf(stderr, "bound %s = %s: %s\n", bounds[i].field, bounds[i].value, err);
		ASSERT_EQ_INT(bounds[i].want, r);
		if (bounds[i].want)
			/* names field and value */
			CHECK(strstr(err, bounds[i].field) != NULL && strstr(err, bounds[i].value) != NULL);
		cJSON_Delete(l);
	}
	/* a Transfer topic with 4 topics and 32 bytes of data is no ERC-20 Transfer */
	{
		cJSON *l = cJSON_Duplicate(first, 1);
		cJSON_AddItemToArray(
			cJSON_GetObjectItem(l, "topics"),
			cJSON_CreateString("0x0000000000000000000000000000000000000000000000000000000000000007"));
		chain_transfer t;
		ASSERT_EQ_INT(PW_ENOTFOUND, evm_decode_transfer(l, &t, err, sizeof(err)));
		cJSON_Delete(l);
	}
	/* one answer: a log repeated whole is one transfer; two different logs
	 * under one identity, or a block with two hashes or two timestamps, are
	 * malformed */
	{
		cJSON *twice = cJSON_CreateArray();
		cJSON_AddItemToArray(twice, cJSON_Duplicate(first, 1));
		cJSON_AddItemToArray(twice, cJSON_Duplicate(first, 1));
		cJSON_AddItemToArray(twice, cJSON_Duplicate(first, 1));
		ASSERT_EQ_INT(0, evm_decode_logs(twice, &transfers, &n_transfers, &n_logs, err, sizeof(err)));
		ASSERT_EQ_INT(1, n_transfers);
		ASSERT_EQ_INT(3, n_logs);
		free(transfers);
		static const struct {
			const char *field, *value, *why;
		} clash[] = {
			{ "data", "0x0000000000000000000000000000000000000000000000000000000000000007",
			  "two different logs" },
			{ "blockHash", "0x1111111111111111111111111111111111111111111111111111111111111111",
			  "two block hashes" },
			{ "blockTimestamp", "0x1", "two blockTimestamps" },
		};
		for (size_t i = 0; i < sizeof(clash) / sizeof(clash[0]); i++) {
			cJSON *arr = cJSON_CreateArray();
			cJSON *other = cJSON_Duplicate(first, 1);
			cJSON_ReplaceItemInObject(other, clash[i].field, cJSON_CreateString(clash[i].value));
			if (strcmp(clash[i].field, "data") != 0) /* another log of the same block */
				cJSON_ReplaceItemInObject(other, "logIndex", cJSON_CreateString("0x7ffffff0"));
			cJSON_AddItemToArray(arr, cJSON_Duplicate(first, 1));
			cJSON_AddItemToArray(arr, other);
			err[0] = '\0';
			ASSERT_EQ_INT(PW_EPARSE,
				      evm_decode_logs(arr, &transfers, &n_transfers, &n_logs, err, sizeof(err)));
			if (!strstr(err, clash[i].why))
				fprintf(stderr, "clash %s: %s\n", clash[i].field, err);
			CHECK(strstr(err, clash[i].why) != NULL);
			cJSON_Delete(arr);
		}
		cJSON_Delete(twice);
	}
	/* a zero-value transfer (address poisoning) is decoded but never matched */
	{
		cJSON *l = cJSON_Duplicate(first, 1);
		cJSON_ReplaceItemInObject(
			l, "data",
			cJSON_CreateString("0x0000000000000000000000000000000000000000000000000000000000000000"));
		chain_transfer t;
		ASSERT_EQ_INT(0, evm_decode_transfer(l, &t, err, sizeof(err)));
		pw_payment out[1];
		ASSERT_EQ_INT(0, matcher_match_transfers(m, cfg, 0, &t, 1, out));
		t.amount[31] = 1; /* the same log with 1 base unit is a payment */
		ASSERT_EQ_INT(1, matcher_match_transfers(m, cfg, 0, &t, 1, out));
		cJSON_Delete(l);
	}
	/* headers: the same bounds */
	{
		cJSON *hb = cJSON_Parse(
			"{\"number\":\"0x8000000000000000\",\"hash\":\"0x3dc4ef568ae2635db1419c5fec55c4a9322c05302ae527cd40bff380c1d465dd\","
			"\"parentHash\":\"0x3dc4ef568ae2635db1419c5fec55c4a9322c05302ae527cd40bff380c1d465de\",\"timestamp\":\"0x1\"}");
		ASSERT_EQ_INT(PW_EPARSE, evm_decode_header(hb, &h, err, sizeof(err)));
		cJSON_ReplaceItemInObject(hb, "number", cJSON_CreateString("0x1"));
		cJSON_ReplaceItemInObject(hb, "timestamp", cJSON_CreateString("0x100000000000"));
		ASSERT_EQ_INT(PW_EPARSE, evm_decode_header(hb, &h, err, sizeof(err)));
		cJSON_Delete(hb);
	}

	matcher_destroy(m);
	config_destroy(cfg);
	free(cfg_text);
	cJSON_Delete(root);
	free(text);
	return test_finish("test_evm_decode");
}
