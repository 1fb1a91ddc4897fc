/* invoices.c: creating an invoice (invoices.h). */
#include "invoices.h"
#include "b64url.h"
#include "idfmt.h"
#include "invoice_pg.h"
#include "pw_error.h"
#include "registry_admin.h"
#include "text.h"
#include "uint256.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Does cfg give merchant_id an xpub on the chain named chain? */
static bool config_xpub_on(const pw_config *cfg, const char *merchant_id, const char *chain)
{
	int ci = config_find_chain(cfg, chain);
	for (size_t i = 0; ci >= 0 && i < cfg->n_merchants; i++) {
		const cfg_merchant *m = &cfg->merchants[i];
		if (strcmp(m->id, merchant_id) != 0 || !m->xpub.set)
			continue;
		for (size_t k = 0; k < m->xpub.n_chains; k++)
			if (m->xpub.chains[k] == (size_t)ci)
				return true;
	}
	return false;
}

bool invoice_reference_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 128 && text_is_clean_utf8(s, n);
}

int invoice_parse_amount(const char *text, unsigned decimals, uint8_t raw[32], char *err, size_t errlen)
{
	size_t n = strlen(text), ip = strspn(text, "0123456789");
	const char *frac = text[ip] == '.' ? text + ip + 1 : NULL;
	size_t fp = frac ? strspn(frac, "0123456789") : 0;
	if (n == 0 || n > 100 || ip == 0 || (frac ? frac[fp] != '\0' || fp == 0 : text[ip] != '\0')) {
		snprintf(err, errlen,
			 "amount: must be a decimal string such as \"12.5\" (digits, an optional point and digits)");
		return PW_EINVAL;
	}
	if (fp > decimals) {
		snprintf(err, errlen, "amount: the token has %u decimals: at most %u digits after the point", decimals,
			 decimals);
		return PW_EINVAL;
	}
	char digits[200];
	snprintf(digits, sizeof(digits), "%.*s%.*s", (int)ip, text, (int)fp, frac ? frac : "");
	size_t len = strlen(digits);
	for (size_t k = fp; k < decimals && len + 1 < sizeof(digits); k++)
		digits[len++] = '0';
	digits[len] = '\0';
	int r = u256_from_dec(digits, raw);
	if (r < 0 || u256_is_zero(raw)) {
		snprintf(err, errlen, "amount: %s", r < 0 ? "more than 2^256 - 1 base units" : "must be above 0");
		return PW_EINVAL;
	}
	return 0;
}

int invoice_create(PGconn *c, const pw_config *cfg, const invoice_request *q, int *ret_created, char **ret_json,
		   char *err, size_t errlen)
{
	*ret_created = 0;
	int ci = config_find_chain(cfg, q->chain);
	if (ci < 0) {
		snprintf(err, errlen, "chain: no chain \"%.64s\" in this config", q->chain);
		return PW_EINVAL;
	}
	const cfg_chain *chain = &cfg->chains[ci];
	const cfg_token *token = NULL;
	for (size_t k = 0; k < chain->n_tokens && !token; k++)
		if (strcmp(chain->tokens[k].symbol, q->token) == 0)
			token = &chain->tokens[k];
	if (!token) {
		snprintf(err, errlen, "token: no token \"%.32s\" on chain %s", q->token, chain->name);
		return PW_EINVAL;
	}
	if (!invoice_reference_ok(q->reference)) {
		snprintf(err, errlen, "reference: must be 1..128 bytes of UTF-8 without control characters");
		return PW_EINVAL;
	}
	/* the text is stored as it is (Postgres refuses bytes that are not
	 * UTF-8: a failed insert, not a bad request) */
	if (q->metadata && strlen(q->metadata) > INVOICE_METADATA_MAX) {
		snprintf(err, errlen, "metadata: at most %d bytes of JSON", INVOICE_METADATA_MAX);
		return PW_EINVAL;
	}
	if (q->metadata && !text_utf8_valid(q->metadata, strlen(q->metadata))) {
		snprintf(err, errlen, "metadata: its strings must be UTF-8");
		return PW_EINVAL;
	}
	if (q->expires_in_s >= 0 && (q->expires_in_s < 60 || q->expires_in_s > INVOICE_EXPIRES_MAX_S)) {
		snprintf(err, errlen, "expires_in_s: must be 60..%d seconds", INVOICE_EXPIRES_MAX_S);
		return PW_EINVAL;
	}
	uint8_t raw[32];
	int r = invoice_parse_amount(q->amount, (unsigned)token->decimals, raw, err, errlen);
	if (r < 0)
		return r;
	/* idempotency: the body's SHA-256 */
	uint8_t digest[SHA256_DIGEST_LENGTH];
	char sha[65], stored_sha[65] = "";
	SHA256(q->body, q->body_len, digest);
	for (int k = 0; k < SHA256_DIGEST_LENGTH; k++)
		snprintf(sha + 2 * k, 3, "%02x", digest[k]);
	char *existing = NULL;
	r = invoice_pg_by_reference(c, q->merchant_id, q->reference, stored_sha, &existing, err, errlen);
	if (r == 0) {
		if (strcmp(stored_sha, sha) == 0) {
			*ret_json = existing;
			return 0;
		}
		free(existing);
		snprintf(err, errlen, "reference %.128s was used for another invoice (another body)", q->reference);
		return PW_EREFUSED;
	}
	if (r != PW_ENOTFOUND)
		return r;
	/* the address: the next index never handed out */
	long index = -1;
	char path[64], shown[PW_ADDR_TEXT_MAX];
	r = registry_window_grow(c, cfg, q->merchant_id, chain->name, -1, true, &index, path, shown, err, errlen);
	if (r == PW_ENOTFOUND && config_xpub_on(cfg, q->merchant_id, chain->name)) {
		/* the config names it, and a `run` is writing it to Postgres (its
		 * start): a moment away */
		snprintf(err, errlen,
			 "merchant %s's xpub for chain %s is not in Postgres yet (a run is seeding the config)",
			 q->merchant_id, chain->name);
		return PW_EDB;
	}
	if (r == PW_ENOTFOUND) { /* no xpub for it (or no such merchant: it has none either) */
		snprintf(err, errlen, "merchant %s has no xpub for chain %s: an invoice needs its own deposit address",
			 q->merchant_id, chain->name);
		return PW_EREFUSED;
	}
	if (r < 0)
		return r;
	pw_addr to;
	char why[160], stored[PW_ADDR_TEXT_MAX], token_text[PW_ADDR_TEXT_MAX], uri[512], amount[U256_DEC_MAX],
		amount_raw[U256_DEC_MAX];
	if (chain->family->parse_address(shown, &to, why, sizeof(why)) < 0)
		return PW_EINVAL;
	pw_format_address(chain->family->family, &to, stored);
	pw_format_address(chain->family->family, &token->address, token_text);
	bool have_uri = chain->family->payment_uri &&
			chain->family->payment_uri(&token->address, chain->chain_id, &to, raw, uri, sizeof(uri)) == 0;
	u256_format_units(raw, (unsigned)token->decimals, amount);
	u256_to_dec(raw, amount_raw);
	uint8_t rnd[16];
	char id[40] = "inv_";
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return PW_EIO;
	b64url_encode(rnd, sizeof(rnd), id + 4, sizeof(id) - 4);
	invoice_row row = { .id = id,
			    .merchant_id = q->merchant_id,
			    .reference = q->reference,
			    .request_sha256 = sha,
			    .chain = chain->name,
			    .family = pw_family_name(chain->family->family),
			    .token_address = token_text,
			    .token_symbol = token->symbol,
			    .decimals = token->decimals,
			    .amount_raw = amount_raw,
			    .amount = amount,
			    .address = stored,
			    .address_shown = shown,
			    .hd_path = path,
			    .hd_index = index,
			    .payment_uri = have_uri ? uri : NULL,
			    .metadata = q->metadata ? q->metadata : "{}",
			    .expires_in_s = q->expires_at          ? -1
					    : q->expires_in_s >= 0 ? q->expires_in_s
								   : INVOICE_EXPIRES_DEFAULT_S,
			    .expires_at = q->expires_at };
	r = invoice_pg_insert(c, &row, ret_json, err, errlen);
	if (r == PW_EREFUSED) { /* the same reference at the same time: the first one wins */
		r = invoice_pg_by_reference(c, q->merchant_id, q->reference, stored_sha, ret_json, err, errlen);
		if (r == 0 && strcmp(stored_sha, sha) != 0) {
			free(*ret_json);
			*ret_json = NULL;
			snprintf(err, errlen, "reference %.128s was used for another invoice (another body)",
				 q->reference);
			return PW_EREFUSED;
		}
		return r;
	}
	if (r == 0)
		*ret_created = 1;
	return r;
}
