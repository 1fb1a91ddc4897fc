/* fuzz_inputs.c: libFuzzer target for what operators, API callers and
 * webhook endpoints write, as paywatch reads it: a config (config_parse,
 * then config_dump_masked), amounts in base units and in token units
 * (uint256, invoice_parse_amount, u256_format_units), Base58 and
 * Base58Check, xpubs and path templates (BIP-32), the canonical
 * addresses and hashes of each family, an address as a merchant writes it
 * (registry_normalize_address), base64url (API keys, page cursors),
 * decimal integers, the sealing key, the API's times, decimals and page
 * cursors (each against a reading written apart here: a time the API
 * takes must be one PostgreSQL's timestamptz takes), a webhook
 * answer's Retry-After, and the addresses of X-Forwarded-For and of the
 * API's trusted proxies. The first input byte picks the reader, the rest
 * is its text (or, where a reader takes a number too, the second byte
 * that number). Any input must be read or refused: no
 * crash, no leak, no undefined behaviour; and what is read must read back:
 * each writer's text of a value parses to the same value, an amount
 * formatted in token units parses to the same base units, and no secret
 * of a config (a DSN password, a webhook secret or URL, a node URL's
 * path, query or user info, an HTTP header value, an xpub) is ever in an
 * error or in the masked dump. A property broken aborts with what broke. */
#include "api_pg.h"
#include "b64url.h"
#include "base58.h"
#include "bip32.h"
#include "config.h"
#include "forwarded.h"
#include "idfmt.h"
#include "invoices.h"
#include "jsonrpc.h"
#include "netaddr.h"
#include "parse.h"
#include "pw_error.h"
#include "registry_admin.h"
#include "retry_after.h"
#include "secretbox.h"
#include "uint256.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum reader {
	R_CONFIG,
	R_DEC,
	R_HEX,
	R_UNITS,
	R_AMOUNT,
	R_BASE58,
	R_XPUB,
	R_PATH,
	R_ADDRESS,
	R_HASH,
	R_NORMALIZE,
	R_B64URL,
	R_INTEGER,
	R_SEALING_KEY,
	R_API_TIME,
	R_API_DECIMAL,
	R_API_CURSOR,
	R_RETRY_AFTER,
	R_IPADDR,
	R_FORWARDED,
	R_COUNT
};

static void broken(const char *what, const char *text)
{
	fprintf(stderr, "fuzz_inputs: %s (input \"%s\")\n", what, text);
	abort();
}

/* The texts are read as C strings: up to the first NUL. */
static char *text_of(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A config of one EVM and one Tron chain, for the merchant's addresses. */
static const char normalize_config[] =
	"{\"data_dir\":\"/tmp/unused\",\"postgres\":{\"dsn\":\"postgresql://x@127.0.0.1/x\"},\"chains\":[{\"name\":"
	"\"mainnet\",\"kind\":\"evm\",\"chain_id\":1,\"ws_url\":\"ws://127.0.0.1:1\",\"tokens\":["
	"{\"symbol\":\"USDC\",\"address\":\"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\",\"decimals\":6}]},"
	"{\"name\":\"tron\",\"kind\":\"tron\",\"chain_id\":728126428,\"http_url\":\"http://127.0.0.1:1\","
	"\"tokens\":[{\"symbol\":\"USDT\",\"address\":\"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t\",\"decimals\":6}]}],"
	"\"merchants\":[{\"id\":\"acme\",\"addresses\":{}}]}";

static pw_config *normalize_cfg(void)
{
	static pw_config *cfg;
	char err[512];
	if (!cfg && config_parse(normalize_config, sizeof(normalize_config) - 1, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz config: %s\n", err);
		abort();
	}
	return cfg;
}

/* ---- the config's secrets ---- */

typedef struct secrets {
	const char *v[64];
	char *owned[64];
	size_t n, n_owned;
} secrets;

static void keep(secrets *s, const char *v)
{
	if (v && s->n < 64)
		s->v[s->n++] = v;
}

static void keep_copy(secrets *s, const char *v, size_t len)
{
	if (s->n_owned >= 64 || s->n >= 64)
		return;
	char *c = malloc(len + 1);
	if (!c)
		abort();
	memcpy(c, v, len);
	c[len] = '\0';
	s->owned[s->n_owned++] = c;
	s->v[s->n++] = c;
}

/* A URL's secrets: the password of its user info, and (path_too) its
 * path and query. */
static void keep_url(secrets *s, const char *url, bool path_too)
{
	const char *host = strstr(url, "://");
	if (!host)
		return;
	host += 3;
	size_t host_len = strcspn(host, "/?#");
	const char *at = NULL;
	for (const char *p = host; p < host + host_len; p++)
		if (*p == '@')
			at = p;
	if (at) {
		const char *colon = memchr(host, ':', (size_t)(at - host));
		if (colon)
			keep_copy(s, colon + 1, (size_t)(at - colon - 1));
	}
	if (path_too && host[host_len] && strcmp(host + host_len, "/") != 0)
		keep_copy(s, host + host_len, strlen(host + host_len));
}

/* A DSN's password: in a URL's user info, or password=... (its path is
 * the database's name, shown) */
static void keep_dsn(secrets *s, const char *dsn)
{
	keep_url(s, dsn, false);
	const char *p = strstr(dsn, "password=");
	if (p) {
		p += 9;
		keep_copy(s, p, strcspn(p, " "));
	}
}

/* Walk the config as JSON and keep every value a secret may be in. */
static void collect(secrets *s, const cJSON *node, const char *key, const char *parent)
{
	if (cJSON_IsString(node) && node->valuestring) {
		const char *v = node->valuestring;
		bool url_key = key && (strcmp(key, "url") == 0 || strcmp(key, "ws_url") == 0 ||
				       strcmp(key, "http_url") == 0 || strcmp(key, "proxy") == 0 ||
				       strcmp(key, "ws_urls") == 0 || strcmp(key, "http_urls") == 0);
		if (key && strcmp(key, "dsn") == 0)
			keep_dsn(s, v);
		else if (key && (strcmp(key, "secret") == 0 || strcmp(key, "secrets") == 0 ||
				 strcmp(key, "http_headers") == 0))
			keep(s, v);
		else if (key && strcmp(key, "key") == 0 && parent && strcmp(parent, "xpub") == 0)
			keep(s, v);
		else if (url_key)
			keep_url(s, v, true);
		return;
	}
	const cJSON *child;
	cJSON_ArrayForEach (child, node) {
		/* an array's items take the array's key */
		const char *k = cJSON_IsArray(node) ? key : child->string;
		const char *pk = cJSON_IsArray(node) ? parent : key;
		collect(s, child, cJSON_IsObject(node) && key && strcmp(key, "http_headers") == 0 ? "http_headers" : k,
			pk);
	}
}

static size_t occurrences(const char *hay, const char *needle)
{
	size_t n = 0, len = strlen(needle);
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += len ? len : 1)
		n++;
	return n;
}

/* What a config shows: its error when refused, else its masked dump
 * (malloc'd; the caller frees). */
static char *config_shown(const char *text, size_t len)
{
	pw_config *cfg = NULL;
	char err[1024] = "";
	if (config_parse(text, len, &cfg, err, sizeof(err)) < 0)
		return strdup(err);
	char *dump = config_dump_masked(cfg);
	config_destroy(cfg);
	return dump ? dump : strdup("");
}

/* No secret that stands once in the input text (so that nothing else of
 * the config, shown rightly, holds it) and has 8 bytes or more may be in
 * out. A secret found there is checked once more against the config with
 * that secret replaced (by as many bytes of another letter): text the
 * config shows whatever the secret is (a word of a message, a default
 * event type) is no leak. */
static void check_secrets(const secrets *s, const char *input, const char *out, const char *what)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *v = s->v[i];
		size_t vlen = strlen(v);
		if (vlen < 8 || strstr(v, "****") || strstr(v, "${") || occurrences(input, v) != 1 || !strstr(out, v))
			continue;
		size_t n = strlen(input);
		char *other = malloc(n + 1);
		if (!other)
			abort();
		memcpy(other, input, n + 1);
		char *at = strstr(other, v);
		memset(at, strchr(v, 'Q') ? 'R' : 'Q', vlen);
		char *shown = config_shown(other, n);
		bool leak = shown && !strstr(shown, v);
		free(shown);
		free(other);
		if (leak) {
			fprintf(stderr, "fuzz_inputs: a config secret \"%s\" in %s: %s\n", v, what, out);
			abort();
		}
	}
}

static void read_config(const char *text, size_t len)
{
	pw_config *cfg = NULL;
	char err[1024] = "";
	int r = config_parse(text, len, &cfg, err, sizeof(err));
	if (strnlen(err, sizeof(err)) == sizeof(err))
		broken("config error not NUL-terminated", text);
	secrets s = { 0 };
	cJSON *root = cJSON_ParseWithLength(text, len);
	if (root)
		collect(&s, root, NULL, NULL);
	if (r < 0) {
		if (cfg)
			broken("config refused but returned", text);
		if (!err[0])
			broken("config refused without a reason", text);
		check_secrets(&s, text, err, "the error");
	} else {
		if (!cfg || cfg->n_chains == 0)
			broken("config read without a chain", text);
		for (size_t i = 0; i < cfg->n_chains; i++) {
			const cfg_chain *c = &cfg->chains[i];
			if (!c->name[0] || !c->family || c->n_urls == 0 || c->n_urls > CFG_MAX_URLS || c->n_tokens == 0)
				broken("config chain out of its bounds", text);
			for (size_t k = 0; k < c->n_tokens; k++)
				if (c->tokens[k].decimals > 77)
					broken("config token decimals above 77", text);
		}
		char *dump = config_dump_masked(cfg);
		if (dump)
			check_secrets(&s, text, dump, "the masked dump");
		free(dump);
		config_destroy(cfg);
	}
	cJSON_Delete(root);
	for (size_t i = 0; i < s.n_owned; i++)
		free(s.owned[i]);
}

/* ---- amounts ---- */

/* text without leading zeros ("0" for zeros only) */
static const char *without_leading_zeros(const char *text)
{
	while (text[0] == '0' && text[1])
		text++;
	return text;
}

static void read_dec(const char *text)
{
	uint8_t v[32], again[32];
	char out[U256_DEC_MAX];
	if (u256_from_dec(text, v) < 0)
		return;
	u256_to_dec(v, out);
	if (strcmp(out, without_leading_zeros(text)) != 0)
		broken("a decimal read back otherwise", text);
	if (u256_from_dec(out, again) < 0 || memcmp(v, again, 32) != 0)
		broken("a decimal's text read to another value", text);
}

static void read_hex(const char *text)
{
	uint8_t v[32], again[32];
	char out[U256_DEC_MAX], hex[67] = "0x";
	if (u256_from_hex(text, v) < 0)
		return;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 + 2 * i, 3, "%02x", v[i]);
	if (u256_from_hex(hex, again) < 0 || memcmp(v, again, 32) != 0)
		broken("a hex quantity read back otherwise", text);
	u256_to_dec(v, out);
	if (u256_from_dec(out, again) < 0 || memcmp(v, again, 32) != 0)
		broken("a hex quantity's decimal read to another value", text);
}

/* u256_format_units of 32 bytes with a decimals byte: the text must be
 * the shortest ("12.5", no trailing zero or point) and
 * invoice_parse_amount must read it to the same base units. */
static void read_units(const uint8_t *data, size_t size)
{
	uint8_t v[32] = { 0 }, back[32];
	unsigned decimals = size ? data[0] % 78 : 0;
	if (size > 1)
		memcpy(v + 32 - (size - 1 < 32 ? size - 1 : 32), data + 1, size - 1 < 32 ? size - 1 : 32);
	char out[U256_DEC_MAX], err[200];
	if (u256_format_units(v, decimals, out) < 0)
		broken("u256_format_units refused decimals 0..77", "(bytes)");
	size_t n = strlen(out);
	if (n == 0 || out[n - 1] == '.' || (strchr(out, '.') && out[n - 1] == '0'))
		broken("an amount not in its shortest form", out);
	if (u256_is_zero(v)) {
		if (strcmp(out, "0") != 0)
			broken("zero base units not shown as 0", out);
		return;
	}
	if (invoice_parse_amount(out, decimals, back, err, sizeof(err)) < 0)
		broken(err, out);
	if (memcmp(v, back, 32) != 0)
		broken("an amount in token units read to other base units", out);
}

/* The text in its shortest form: integer part without leading zeros, the
 * fraction without trailing zeros (and without its point when empty). */
static void shortest(const char *text, char *out, size_t outlen)
{
	const char *point = strchr(text, '.');
	size_t ip = point ? (size_t)(point - text) : strlen(text);
	size_t lead = 0;
	while (lead + 1 < ip && text[lead] == '0')
		lead++;
	size_t fp = point ? strlen(point + 1) : 0;
	while (fp && point[fp] == '0')
		fp--;
	snprintf(out, outlen, "%.*s%s%.*s", (int)(ip - lead), text + lead, fp ? "." : "", (int)fp,
		 point ? point + 1 : "");
}

/* invoice_parse_amount with a decimals byte: what it reads, formatted in
 * token units, is the text in its shortest form, and reads to the same
 * base units again. */
static void read_amount(unsigned decimals, const char *text)
{
	uint8_t raw[32], back[32];
	char err[200], out[U256_DEC_MAX], want[256];
	if (invoice_parse_amount(text, decimals, raw, err, sizeof(err)) < 0) {
		if (strncmp(err, "amount: ", 8) != 0)
			broken("an amount refused without naming the field", text);
		return;
	}
	if (u256_format_units(raw, decimals, out) < 0)
		broken("an amount read that cannot be formatted", text);
	shortest(text, want, sizeof(want));
	if (strcmp(out, want) != 0)
		broken("an amount read to another value", text);
	if (invoice_parse_amount(out, decimals, back, err, sizeof(err)) < 0 || memcmp(raw, back, 32) != 0)
		broken("an amount's shortest form read to other base units", text);
}

/* ---- codecs ---- */

static void read_base58(const char *text)
{
	uint8_t buf[256];
	char out[512];
	size_t n = 0;
	if (base58_decode(text, buf, sizeof(buf), &n) == 0 && n <= 128) {
		if (base58_encode(buf, n, out, sizeof(out)) == 0 || strcmp(out, text) != 0)
			broken("Base58 read back otherwise", text);
	}
	if (base58check_decode(text, buf, sizeof(buf), &n) == 0 && n <= 124) {
		if (base58check_encode(buf, n, out, sizeof(out)) == 0 || strcmp(out, text) != 0)
			broken("Base58Check read back otherwise", text);
	}
}

/* No error of a reader of secrets quotes its input: 24 bytes or more
 * without a space, longer than any word of the messages (an input is
 * found in a message only inside one word; "paywatch", a word of the
 * sealing key's message, was taken for a quote at 8). The secrets are
 * longer: a key 44 or 64 characters, an xpub 111. */
static void check_unquoted(const char *text, const char *err)
{
	if (strlen(text) >= 24 && !strchr(text, ' ') && strstr(err, text))
		broken("an error quotes the secret it refused", text);
}

static bool same_key(const bip32_pub *a, const bip32_pub *b)
{
	return a->version == b->version && a->depth == b->depth && a->child_number == b->child_number &&
	       memcmp(a->parent_fingerprint, b->parent_fingerprint, 4) == 0 &&
	       memcmp(a->chain_code, b->chain_code, 32) == 0 && memcmp(a->key, b->key, 33) == 0;
}

static void read_xpub(const char *text, uint32_t index)
{
	bip32_pub k, again, child;
	char err[300] = "", out[BIP32_TEXT_MAX];
	if (bip32_parse_xpub(text, &k, err, sizeof(err)) < 0) {
		check_unquoted(text, err);
		return;
	}
	bip32_format_xpub(&k, out);
	if (strcmp(out, text) != 0)
		broken("an xpub read back otherwise", text);
	if (bip32_parse_xpub(out, &again, err, sizeof(err)) < 0 || !same_key(&k, &again))
		broken("an xpub's text read to another key", text);
	int r = bip32_derive_child(&k, index & 0x7fffffffu, &child);
	if (r == 0) {
		pw_addr a;
		if (bip32_key_address(child.key, &a) < 0 || a.len != 20)
			broken("a derived key without an address", text);
	} else if (r != PW_ERANGE)
		broken("a public child refused", text);
	if (bip32_derive_child(&k, index | BIP32_HARDENED, &child) != PW_EINVAL)
		broken("a hardened child derived from an xpub", text);
}

static void read_path(const char *text)
{
	bip32_path p;
	char err[300];
	if (bip32_parse_path(text, &p, err, sizeof(err)) < 0)
		return;
	if (p.n == 0 || p.n > BIP32_PATH_MAX || p.star >= p.n)
		broken("a path template out of its bounds", text);
	for (size_t i = 0; i < p.n; i++)
		if (i != p.star && p.fixed[i] >= BIP32_HARDENED)
			broken("a path template with a hardened component", text);
	char out[200];
	bip32_format_path(&p, 17, out, sizeof(out));
	if (!out[0])
		broken("a path template formatted empty", text);
}

static void read_address(uint8_t family, const char *text)
{
	pw_addr a, again;
	char out[PW_ADDR_TEXT_MAX];
	if (pw_parse_address(family, text, &a) < 0)
		return;
	pw_format_address(family, &a, out);
	if (strcmp(out, text) != 0)
		broken("an address read back otherwise", text);
	if (pw_parse_address(family, out, &again) < 0 || again.len != a.len || memcmp(again.b, a.b, a.len) != 0)
		broken("an address's text read to another address", text);
}

static void read_hash(uint8_t family, const char *text)
{
	uint8_t h[32];
	char out[PW_HASH_TEXT_MAX];
	if (pw_parse_hash(family, text, h, sizeof(h)) < 0)
		return;
	pw_format_hash(family, h, sizeof(h), out);
	if (strcmp(out, text) != 0)
		broken("a hash read back otherwise", text);
}

static void read_normalize(uint8_t which, const char *text)
{
	const char *chain = which & 1 ? "tron" : "mainnet";
	char out[PW_ADDR_TEXT_MAX], err[300];
	const char *family = NULL;
	pw_addr a;
	if (registry_normalize_address(normalize_cfg(), chain, text, out, &family, err, sizeof(err)) < 0)
		return;
	uint8_t f = family && strcmp(family, "tron") == 0 ? PW_FAMILY_TRON : PW_FAMILY_EVM;
	if (!family || strcmp(family, which & 1 ? "tron" : "evm") != 0)
		broken("an address normalized in another family", text);
	if (pw_parse_address(f, out, &a) < 0)
		broken("a normalized address not in its canonical form", text);
}

static void read_b64url(const char *text)
{
	uint8_t buf[96], again[96];
	char out[200];
	size_t n = 0, m = 0;
	if (b64url_decode(text, buf, sizeof(buf), &n) < 0)
		return;
	b64url_encode(buf, n, out, sizeof(out));
	if (b64url_decode(out, again, sizeof(again), &m) < 0 || m != n || memcmp(buf, again, n) != 0)
		broken("base64url read back otherwise", text);
}

static void read_integer(const char *text)
{
	uint64_t u, u2;
	int64_t i, i2;
	char out[32];
	if (parse_u64(text, UINT64_MAX, &u) == 0) {
		snprintf(out, sizeof(out), "%" PRIu64, u);
		if (strcmp(out, without_leading_zeros(text)) != 0 || parse_u64(out, UINT64_MAX, &u2) < 0 || u2 != u)
			broken("an integer read back otherwise", text);
	}
	if (parse_i64(text, -1000, 1000, &i) == 0) {
		if (i < -1000 || i > 1000)
			broken("an integer read outside its bounds", text);
		snprintf(out, sizeof(out), "%" PRId64, i);
		if (parse_i64(out, -1000, 1000, &i2) < 0 || i2 != i)
			broken("a signed integer read back otherwise", text);
	}
}

static void read_sealing_key(const char *text)
{
	secretbox_key k;
	char err[300] = "";
	if (secretbox_key_parse(text, &k, err, sizeof(err)) < 0)
		check_unquoted(text, err);
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* What PostgreSQL 15's timestamptz takes of RFC 3339's shape, read apart
 * from api_time_ok: the day checked by timegm's own calendar. */
static bool time_reference(const char *s)
{
	size_t n = strlen(s);
	if (n < 20 || !all_digits(s, 4) || s[4] != '-' || !all_digits(s + 5, 2) || s[7] != '-' ||
	    !all_digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !all_digits(s + 11, 2) || s[13] != ':' ||
	    !all_digits(s + 14, 2) || s[16] != ':' || !all_digits(s + 17, 2))
		return false;
	int year = atoi(s), mon = atoi(s + 5), day = atoi(s + 8), hour = atoi(s + 11), min = atoi(s + 14),
	    sec = atoi(s + 17);
	size_t i = 19, frac = 0;
	bool zero_frac = true;
	if (s[i] == '.') {
		while (i + 1 + frac < n && s[i + 1 + frac] >= '0' && s[i + 1 + frac] <= '9') {
			zero_frac = zero_frac && s[i + 1 + frac] == '0';
			frac++;
		}
		if (frac == 0 || frac > 9)
			return false;
		i += 1 + frac;
	}
	bool zone = (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) ||
		    (i + 6 == n && (s[i] == '+' || s[i] == '-') && all_digits(s + i + 1, 2) && s[i + 3] == ':' &&
		     all_digits(s + i + 4, 2) && atoi(s + i + 1) <= 15 && atoi(s + i + 4) <= 59);
	if (!zone || year < 1 || mon < 1 || mon > 12 || hour > 23 || min > 59 || sec > 60 || (sec == 60 && !zero_frac))
		return false;
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = 12 };
	if (day < 1 || day > 31 || timegm(&tm) == (time_t)-1)
		return false;
	return tm.tm_mday == day && tm.tm_mon == mon - 1;
}

static void read_api_time(const char *text)
{
	if (api_time_ok(text) != time_reference(text))
		broken(api_time_ok(text) ? "api_time_ok took a time Postgres refuses" : "api_time_ok refused a time",
		       text);
}

static void read_api_decimal(const char *text)
{
	size_t n = strlen(text), ip = strspn(text, "0123456789");
	size_t fp = text[ip] == '.' ? strspn(text + ip + 1, "0123456789") : 0;
	bool want = ip > 0 && ip + fp <= 78 && (text[ip] == '\0' || (text[ip] == '.' && fp > 0 && ip + 1 + fp == n));
	if (api_decimal_ok(text) != want)
		broken("api_decimal_ok and the decimal grammar disagree", text);
}

static void read_api_cursor(const char *text)
{
	api_cursor c, again;
	char out[128];
	if (api_cursor_decode(text, &c) < 0)
		return;
	if (!api_time_ok(c.at))
		broken("a page cursor's time Postgres refuses", text);
	api_cursor_encode(&c, out, sizeof(out));
	if (api_cursor_decode(out, &again) < 0 || strcmp(again.at, c.at) != 0 || again.id != c.id)
		broken("a page cursor read back otherwise", text);
}

/* before, len bytes of text and after, in one malloc'd buffer (not
 * terminated; *ret_len bytes; the caller frees), or NULL. */
static char *wrapped(const char *before, const char *text, size_t len, const char *after, size_t *ret_len)
{
	size_t b = strlen(before), a = strlen(after);
	char *out = malloc(b + len + a);
	if (!out)
		return NULL;
	memcpy(out, before, b);
	memcpy(out + b, text, len);
	memcpy(out + b + len, after, a);
	*ret_len = b + len + a;
	return out;
}

/* An answer's Retry-After value (a webhook receiver's or a node's): a
 * delay within 0..the cap or none, the same with white space around it,
 * digits read as their number; as a header line under a node's cap, the
 * same value capped. */
static void read_retry_after(const char *text)
{
	const time_t now = 1700000000;
	size_t len = strlen(text);
	long secs = pw_retry_after_s(text, len, now, WEBHOOK_RETRY_AFTER_MAX_S);
	if (secs < -1 || secs > WEBHOOK_RETRY_AFTER_MAX_S)
		broken("a Retry-After delay out of its bounds", text);
	size_t n_padded, n_line;
	char *padded = wrapped(" \t", text, len, " \r\n", &n_padded);
	if (padded && pw_retry_after_s(padded, n_padded, now, WEBHOOK_RETRY_AFTER_MAX_S) != secs)
		broken("a Retry-After read otherwise with white space around it", text);
	free(padded);
	char *line = wrapped("retry-AFTER:", text, len, "\r\n", &n_line);
	long node_s = -2;
	bool read = line && pw_retry_after_line(line, n_line, now, RPC_RETRY_AFTER_MAX_S, &node_s);
	if (line && (read != (secs >= 0) ||
		     (read && node_s != (secs < RPC_RETRY_AFTER_MAX_S ? secs : (long)RPC_RETRY_AFTER_MAX_S))))
		broken("a Retry-After header line read otherwise than its value under a node's cap", text);
	free(line);
	uint64_t n;
	if (len <= 18 && parse_u64(text, UINT64_MAX, &n) == 0 &&
	    secs != (long)(n < WEBHOOK_RETRY_AFTER_MAX_S ? n : WEBHOOK_RETRY_AFTER_MAX_S))
		broken("a Retry-After's delay-seconds read as another number", text);
}

/* An X-Forwarded-For entry and a trusted proxy's block (netaddr.h): an
 * address read writes back (inet_ntop) to one read as the same; a block
 * holds its own address, its bits past the prefix zero. */
static void read_ipaddr(const char *text)
{
	pw_ipnet a, again, net;
	for (int with_port = 0; with_port < 2; with_port++) {
		if (pw_ipaddr_parse(text, strlen(text), with_port, &a) < 0)
			continue;
		char out[INET6_ADDRSTRLEN];
		if ((a.family != 4 && a.family != 6) || a.prefix != (a.family == 4 ? 32 : 128) ||
		    !inet_ntop(a.family == 4 ? AF_INET : AF_INET6, a.addr, out, sizeof(out)) ||
		    pw_ipaddr_parse(out, strlen(out), false, &again) < 0 || memcmp(&a, &again, sizeof(a)) != 0)
			broken("an address read back otherwise", text);
		if (!pw_ipnet_contains(&a, &again))
			broken("an address outside its own block", text);
	}
	if (pw_ipnet_parse(text, &net) == 0) {
		if (net.prefix > (net.family == 4 ? 32 : 128))
			broken("a block's prefix past its family's bits", text);
		if (!pw_ipnet_contains(&net, &net))
			broken("a block without its own address", text);
	}
}

/* A Forwarded header's value (forwarded.h), len bytes with any NULs: one
 * entry per element at most (no more entries than commas plus one),
 * each "?" or at most 63 bytes of the characters a node is written with,
 * none empty; at a small cap an error, never a write past it. */
static void read_forwarded(const char *text, size_t len)
{
	pw_buf b;
	buf_init(&b, 1 << 20);
	if (pw_forwarded_nodes(text, len, &b) < 0)
		broken("a Forwarded value not read into a buffer large enough", text);
	size_t commas = 0, entries = 0;
	for (size_t i = 0; i < len; i++)
		commas += text[i] == ',';
	for (size_t at = 0; at < b.len;) {
		size_t end = at;
		while (end < b.len && b.data[end] != ',')
			end++;
		bool unread = end - at == 1 && b.data[at] == '?';
		if (end == at || end - at > 63)
			broken("a Forwarded entry empty or longer than a node", text);
		for (size_t i = at; !unread && i < end; i++) {
			char c = b.data[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
			      c == ':' || c == '[' || c == ']' || c == '_' || c == '-'))
				broken("a Forwarded entry holding a byte no node is written with", text);
		}
		entries++;
		at = end + 1;
	}
	if (entries > commas + 1 || (b.len && b.data[b.len - 1] == ','))
		broken("a Forwarded value read as more entries than it has elements", text);
	buf_done(&b);
	buf_init(&b, 16);
	(void)pw_forwarded_nodes(text, len, &b);
	if (b.len > 16)
		broken("a Forwarded value read past the buffer's cap", text);
	buf_done(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	enum reader which = (enum reader)(data[0] % R_COUNT);
	data++, size--;
	if (which == R_CONFIG) {
		char *text = text_of(data, size);
		read_config(text, strlen(text));
		free(text);
		return 0;
	}
	if (which == R_UNITS) {
		read_units(data, size);
		return 0;
	}
	/* the readers that take a number: it is the next byte */
	uint8_t arg = 0;
	if (which == R_AMOUNT || which == R_XPUB || which == R_ADDRESS || which == R_HASH || which == R_NORMALIZE) {
		if (size == 0)
			return 0;
		arg = data[0];
		data++, size--;
	}
	char *text = text_of(data, size);
	switch (which) {
	case R_DEC: read_dec(text); break;
	case R_HEX: read_hex(text); break;
	case R_AMOUNT: read_amount(arg % 78, text); break;
	case R_BASE58: read_base58(text); break;
	case R_XPUB: read_xpub(text, (uint32_t)arg * 2654435761u); break;
	case R_PATH: read_path(text); break;
	case R_ADDRESS: read_address(arg & 1, text); break;
	case R_HASH: read_hash(arg & 1, text); break;
	case R_NORMALIZE: read_normalize(arg, text); break;
	case R_B64URL: read_b64url(text); break;
	case R_INTEGER: read_integer(text); break;
	case R_SEALING_KEY: read_sealing_key(text); break;
	case R_API_TIME: read_api_time(text); break;
	case R_API_DECIMAL: read_api_decimal(text); break;
	case R_API_CURSOR: read_api_cursor(text); break;
	case R_RETRY_AFTER: read_retry_after(text); break;
	case R_IPADDR: read_ipaddr(text); break;
	case R_FORWARDED: read_forwarded(text, size); break;
	default: break;
	}
	free(text);
	return 0;
}
