/* registry_admin.c: checked changes to the merchant registry
 * (registry_admin.h). */
#include "registry_admin.h"
#include "bip32.h"
#include "log.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "registry_pg.h"
#include "webhook.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int registry_normalize_address(const pw_config *cfg, const char *chain, const char *text, char out[PW_ADDR_TEXT_MAX],
			       const char **ret_family, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->n_chains; i++) {
		const cfg_chain *c = &cfg->chains[i];
		if (strcmp(c->name, chain) != 0)
			continue;
		pw_addr a;
		char why[200];
		if (strlen(text) > 128 || c->family->parse_address(text, &a, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "address: not a %s address on chain %s%s%s",
				 pw_family_name(c->family->family), chain, strlen(text) > 128 ? "" : ": ",
				 strlen(text) > 128 ? "" : why);
			return PW_EINVAL;
		}
		pw_format_address(c->family->family, &a, out);
		*ret_family = pw_family_name(c->family->family);
		return 0;
	}
	snprintf(err, errlen, "chain: no chain \"%.64s\" in this config", chain);
	return PW_ENOTFOUND;
}

int registry_events_literal(const char *const *types, size_t n, char *out, size_t outlen, char *err, size_t errlen)
{
	unsigned mask = n == 0 ? CFG_EVENTS_DEFAULT : 0;
	for (size_t i = 0; i < n; i++) {
		unsigned bit = cfg_event_bit(types[i]);
		if (!bit) {
			snprintf(err, errlen, "events: \"%.40s\" is not one of " CFG_EVENT_NAMES, types[i]);
			return PW_EINVAL;
		}
		mask |= bit;
	}
	cfg_events_literal(mask, out, outlen);
	return 0;
}

int registry_endpoint_create(PGconn *c, const secretbox_keys *keys, const char *merchant_id, const char *id,
			     const char *url, const char *events, char **ret_json, char *err, size_t errlen)
{
	if (!keys->have_current) {
		snprintf(err, errlen,
			 "PAYWATCH_SECRET_KEY is not set: a webhook secret is stored only sealed "
			 "(`paywatch secrets new-key` prints a key)");
		return PW_ECONFIG;
	}
	char fresh_id[16];
	if (!id) {
		uint8_t b[6];
		if (RAND_bytes(b, sizeof(b)) != 1)
			return PW_EIO;
		snprintf(fresh_id, sizeof(fresh_id), "ep_%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
		id = fresh_id;
	} else if (!config_valid_id(id)) {
		snprintf(err, errlen, "id: not an endpoint id (1..63 of A-Z a-z 0-9 . _ -)");
		return PW_EINVAL;
	}
	char why[200];
	if (strlen(url) > 2048 || webhook_check_url(url, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "url: %s", strlen(url) > 2048 ? "longer than 2048 characters" : why);
		return PW_EINVAL;
	}
	char secret[64], ctx_url[200], ctx_secret[200], shown[300];
	char *url_sealed = NULL, *secret_sealed = NULL;
	int r = secretbox_new_webhook_secret(secret, sizeof(secret));
	secretbox_endpoint_context(merchant_id, id, "url", ctx_url, sizeof(ctx_url));
	secretbox_endpoint_context(merchant_id, id, "secret", ctx_secret, sizeof(ctx_secret));
	if (r == 0)
		r = secretbox_seal(&keys->current, ctx_url, (const uint8_t *)url, strlen(url), &url_sealed);
	if (r == 0)
		r = secretbox_seal(&keys->current, ctx_secret, (const uint8_t *)secret, strlen(secret), &secret_sealed);
	webhook_url_display(url, shown, sizeof(shown));
	char *json = NULL;
	if (r == 0) {
		registry_endpoint e = { merchant_id, id, shown, url_sealed, secret_sealed, keys->current.id, events };
		r = registry_pg_endpoint_add(c, &e, &json, err, errlen);
	}
	free(url_sealed);
	free(secret_sealed);
	if (r == 0) { /* the secret, this once */
		cJSON *o = cJSON_Parse(json);
		free(json);
		json = NULL;
		if (o && cJSON_AddStringToObject(o, "secret", secret))
			json = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		r = json ? 0 : PW_ENOMEM;
	}
	memset(secret, 0, sizeof(secret));
	*ret_json = json;
	return r;
}

/* Open row's URL and secret (bound to its merchant and id) with keys: 0,
 * or what secretbox_open said, logged by endpoint and key id. */
static int open_row(const secretbox_keys *keys, const registry_sealed *row, char **url, char **secret)
{
	char ctx_url[200], ctx_secret[200];
	secretbox_endpoint_context(row->merchant_id, row->id, "url", ctx_url, sizeof(ctx_url));
	secretbox_endpoint_context(row->merchant_id, row->id, "secret", ctx_secret, sizeof(ctx_secret));
	int o = secretbox_open(keys, ctx_url, row->url_sealed, url);
	if (o == 0)
		o = secretbox_open(keys, ctx_secret, row->secret_sealed, secret);
	if (o < 0) {
		char kid[SECRETBOX_KEY_ID_LEN + 1] = "?";
		secretbox_key_id_of(row->secret_sealed, kid, sizeof(kid));
		log_warn(
			"secrets: endpoint %s of merchant %s: cannot open (sealed under key %s: %s); "
			"set PAYWATCH_SECRET_KEY_OLD to that key",
			row->id, row->merchant_id, kid, o == PW_ENOTFOUND ? "that key is not held" : pw_strerror(o));
		secretbox_free(*url);
		*url = NULL;
	}
	return o;
}

int registry_endpoints_open(PGconn *c, const secretbox_keys *keys, const char *merchant_id, registry_opened **ret,
			    size_t *ret_n, size_t *ret_unopened, char *err, size_t errlen)
{
	registry_sealed *rows = NULL;
	size_t n = 0;
	*ret = NULL;
	*ret_n = *ret_unopened = 0;
	int r = registry_pg_sealed(c, NULL, merchant_id, &rows, &n, err, errlen);
	registry_opened *out = r == 0 ? calloc(n + 1, sizeof(*out)) : NULL;
	if (r == 0 && !out)
		r = PW_ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		registry_opened *e = &out[*ret_n];
		if (open_row(keys, &rows[i], &e->url, &e->secret) < 0) {
			(*ret_unopened)++;
			continue;
		}
		snprintf(e->id, sizeof(e->id), "%s", rows[i].id);
		(*ret_n)++;
	}
	registry_sealed_free(rows, n);
	if (r < 0) {
		registry_opened_free(out, *ret_n);
		*ret_n = 0;
		return r;
	}
	*ret = out;
	return 0;
}

void registry_opened_free(registry_opened *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++) {
		secretbox_free(e[i].url);
		secretbox_free(e[i].secret);
	}
	free(e);
}

int registry_rotate_key(PGconn *c, const secretbox_keys *keys, size_t *ret_done, size_t *ret_failed, char *err,
			size_t errlen)
{
	*ret_done = *ret_failed = 0;
	if (!keys->have_current) {
		snprintf(err, errlen, "PAYWATCH_SECRET_KEY (the new key) is not set");
		return PW_ECONFIG;
	}
	registry_sealed *rows = NULL;
	size_t n = 0;
	int r = registry_pg_sealed(c, keys->current.id, NULL, &rows, &n, err, errlen);
	for (size_t i = 0; r == 0 && i < n; i++) {
		char ctx_url[200], ctx_secret[200];
		secretbox_endpoint_context(rows[i].merchant_id, rows[i].id, "url", ctx_url, sizeof(ctx_url));
		secretbox_endpoint_context(rows[i].merchant_id, rows[i].id, "secret", ctx_secret, sizeof(ctx_secret));
		char *url = NULL, *secret = NULL, *url_sealed = NULL, *secret_sealed = NULL;
		if (open_row(keys, &rows[i], &url, &secret) < 0) {
			(*ret_failed)++;
		} else {
			r = secretbox_seal(&keys->current, ctx_url, (const uint8_t *)url, strlen(url), &url_sealed);
			if (r == 0)
				r = secretbox_seal(&keys->current, ctx_secret, (const uint8_t *)secret, strlen(secret),
						   &secret_sealed);
			if (r == 0) {
				int w = registry_pg_reseal(c, rows[i].row, rows[i].secret_sealed, url_sealed,
							   secret_sealed, keys->current.id, err, errlen);
				if (w == 0)
					(*ret_done)++;
				else if (w != PW_ENOTFOUND) /* changed meanwhile: sealed under the new key already */
					r = w;
			}
		}
		secretbox_free(url);
		secretbox_free(secret);
		free(url_sealed);
		free(secret_sealed);
	}
	registry_sealed_free(rows, n);
	return r;
}

int registry_window_grow(PGconn *c, const pw_config *cfg, const char *merchant_id, const char *chain, long used,
			 bool handout, long *ret_index, char path[64], char address[PW_ADDR_TEXT_MAX], char *err,
			 size_t errlen)
{
	int ci = config_find_chain(cfg, chain);
	const chain_family *fam = ci >= 0 ? cfg->chains[ci].family : NULL;
	if (!fam || !fam->address_of_key) {
		snprintf(err, errlen, "chain: no chain \"%.64s\" with derived addresses in this config", chain);
		return PW_ENOTFOUND;
	}
	registry_window w;
	bip32_pub key;
	bip32_path tpl;
	char why[200];
	int r = pg_begin(c, err, errlen);
	if (r == 0 && (r = registry_pg_window_lock(c, merchant_id, chain, &w, err, errlen)) == PW_ENOTFOUND)
		snprintf(err, errlen, "merchant %s has no xpub for chain %s", merchant_id, chain);
	if (r == 0 && (bip32_parse_xpub(w.xpub, &key, why, sizeof(why)) < 0 ||
		       bip32_parse_path(w.path, &tpl, why, sizeof(why)) < 0)) {
		snprintf(err, errlen, "merchant %s: its stored xpub or path is unreadable (%s)", merchant_id, why);
		r = PW_EPARSE;
	}
	if (r < 0) { /* no window read (no xpub, a lock or statement timeout, Postgres away): nothing to size */
		memset(&key, 0, sizeof(key));
		return pg_end(c, r, err, errlen);
	}
	long high = w.highest_used > used ? w.highest_used : used;
	long next = w.next_index;
	if (handout) {
		/* the next index never handed out whose key is valid (BIP-32: an
		 * invalid child, p < 2^-127, is skipped, and never handed out) */
		r = PW_EREFUSED;
		for (; r == PW_EREFUSED && next < (long)BIP32_HARDENED; next++) {
			bip32_pub child;
			pw_addr a;
			if (bip32_derive_path(&key, &tpl, (uint32_t)next, &child) < 0 ||
			    fam->address_of_key(child.key, &a) < 0)
				continue;
			*ret_index = next;
			bip32_format_path(&tpl, (uint32_t)next, path, 64);
			fam->format_address_input(&a, address); /* as a payer writes it (EIP-55 on EVM) */
			r = 0;
		}
		if (r)
			snprintf(err, errlen, "merchant %s: every index of the xpub is handed out", merchant_id);
	}
	long want = high + (long)w.gap_limit;
	if (next - 1 > want)
		want = next - 1;
	if (want >= (long)BIP32_HARDENED)
		want = (long)BIP32_HARDENED - 1;
	size_t n = want > w.derived_high ? (size_t)(want - w.derived_high) : 0;
	registry_hd_address *rows = n ? calloc(n, sizeof(*rows)) : NULL;
	if (r == 0 && n && !rows)
		r = PW_ENOMEM;
	size_t k = 0;
	for (long i = w.derived_high + 1; r == 0 && i <= want; i++) {
		bip32_pub child;
		pw_addr a;
		if (bip32_derive_path(&key, &tpl, (uint32_t)i, &child) < 0 || fam->address_of_key(child.key, &a) < 0)
			continue; /* BIP-32: an invalid child (p < 2^-127): that index is skipped */
		rows[k].index = i;
		pw_format_address(fam->family, &a, rows[k++].address);
	}
	size_t inserted = 0;
	if (r == 0 && k)
		r = registry_pg_hd_insert(c, merchant_id, chain, pw_family_name(fam->family), rows, k, &inserted, err,
					  errlen);
	if (r == 0 && (high > w.highest_used || next > w.next_index))
		r = registry_pg_window_update(c, merchant_id, chain, high, next, err, errlen);
	free(rows);
	memset(&key, 0, sizeof(key));
	return pg_end(c, r, err, errlen);
}

int registry_xpub_set(PGconn *c, const pw_config *cfg, const char *merchant_id, const char *key, const char *path,
		      const char *const *chains, size_t n_chains, uint32_t gap_limit, const char *origin, bool replace,
		      char *err, size_t errlen)
{
	bip32_pub parsed;
	bip32_path tpl;
	char why[200], fp[9], list[16 * 70] = "{";
	if (strlen(key) >= BIP32_TEXT_MAX || bip32_parse_xpub(key, &parsed, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "xpub.key: %s",
			 strlen(key) >= BIP32_TEXT_MAX ? "not an extended public key" : why);
		return PW_EINVAL;
	}
	if (strlen(path) >= 64 || bip32_parse_path(path, &tpl, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "xpub.path: %s", strlen(path) >= 64 ? "longer than 63 characters" : why);
		return PW_EINVAL;
	}
	if (gap_limit < 1 || gap_limit > 1000) {
		snprintf(err, errlen, "xpub.gap_limit: must be an integer 1..1000");
		return PW_EINVAL;
	}
	if (n_chains < 1 || n_chains > 16) {
		snprintf(err, errlen, "xpub.chains: must name 1..16 chains");
		return PW_EINVAL;
	}
	for (size_t i = 0; i < n_chains; i++) {
		int ci = config_find_chain(cfg, chains[i]);
		if (ci < 0 || !cfg->chains[ci].family->address_of_key) {
			snprintf(err, errlen, "xpub.chains: %s \"%.64s\"",
				 ci < 0 ? "no chain" : "addresses are not derived from secp256k1 keys on chain",
				 chains[i]);
			return PW_EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(chains[j], chains[i]) == 0) {
				snprintf(err, errlen, "xpub.chains: %s is named twice", chains[i]);
				return PW_EINVAL;
			}
		size_t len = strlen(list);
		snprintf(list + len, sizeof(list) - len, "%s%s", i ? "," : "", chains[i]);
	}
	size_t len = strlen(list);
	snprintf(list + len, sizeof(list) - len, "}");
	bip32_fingerprint(&parsed, fp);
	registry_xpub_row x = { merchant_id, key, fp, path, list, gap_limit, origin, replace };
	int r = registry_pg_xpub_set(c, &x, err, errlen);
	for (size_t i = 0; r == 0 && i < n_chains; i++)
		r = registry_window_grow(c, cfg, merchant_id, chains[i], -1, false, NULL, NULL, NULL, err, errlen);
	return r;
}
