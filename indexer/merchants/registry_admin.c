/* registry_admin.c: checked changes to the merchant registry
 * (registry_admin.h). */
#include "registry_admin.h"
#include "log.h"
#include "pw_error.h"
#include "registry_pg.h"
#include "webhook.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int registry_normalize_address(const pw_config *cfg, const char *chain, const char *text,
			       char out[PW_ADDR_TEXT_MAX], const char **ret_family, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->n_chains; i++) {
		const cfg_chain *c = &cfg->chains[i];
		if (strcmp(c->name, chain) != 0)
			continue;
		pw_addr a;
		char why[200];
		if (strlen(text) > 128 || c->family->parse_address(text, &a, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "address: not a %s address on chain %s%s%s", pw_family_name(c->family->family),
				 chain, strlen(text) > 128 ? "" : ": ", strlen(text) > 128 ? "" : why);
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
	static const char *const known[3] = { "payment.confirmed", "payment.reverted", "payment.pending" };
	bool want[3] = { n == 0, n == 0, false };
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < 3 && strcmp(types[i], known[k]) != 0)
			k++;
		if (k == 3) {
			snprintf(err, errlen, "events: \"%.40s\" is not payment.confirmed, payment.reverted or payment.pending",
				 types[i]);
			return PW_EINVAL;
		}
		want[k] = true;
	}
	size_t len = (size_t)snprintf(out, outlen, "{");
	for (size_t k = 0; k < 3; k++)
		if (want[k])
			len += (size_t)snprintf(out + len, len < outlen ? outlen - len : 0, "%s%s", len > 1 ? "," : "",
						known[k]);
	snprintf(out + len, len < outlen ? outlen - len : 0, "}");
	return 0;
}

int registry_endpoint_create(PGconn *c, const secretbox_keys *keys, const char *merchant_id, const char *id,
			     const char *url, const char *events, char **ret_json, char *err, size_t errlen)
{
	if (!keys->have_current) {
		snprintf(err, errlen, "PAYWATCH_SECRET_KEY is not set: a webhook secret is stored only sealed "
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
	int r = registry_pg_sealed_not_under(c, keys->current.id, &rows, &n, err, errlen);
	for (size_t i = 0; r == 0 && i < n; i++) {
		char ctx_url[200], ctx_secret[200];
		secretbox_endpoint_context(rows[i].merchant_id, rows[i].id, "url", ctx_url, sizeof(ctx_url));
		secretbox_endpoint_context(rows[i].merchant_id, rows[i].id, "secret", ctx_secret, sizeof(ctx_secret));
		char *url = NULL, *secret = NULL, *url_sealed = NULL, *secret_sealed = NULL;
		int o = secretbox_open(keys, ctx_url, rows[i].url_sealed, &url);
		if (o == 0)
			o = secretbox_open(keys, ctx_secret, rows[i].secret_sealed, &secret);
		if (o < 0) {
			char kid[SECRETBOX_KEY_ID_LEN + 1] = "?";
			secretbox_key_id_of(rows[i].secret_sealed, kid, sizeof(kid));
			log_warn("secrets: endpoint %s of merchant %s: cannot open (sealed under key %s: %s); "
				 "set PAYWATCH_SECRET_KEY_OLD to that key",
				 rows[i].id, rows[i].merchant_id, kid,
				 o == PW_ENOTFOUND ? "that key is not held" : pw_strerror(o));
			(*ret_failed)++;
		} else {
			r = secretbox_seal(&keys->current, ctx_url, (const uint8_t *)url, strlen(url), &url_sealed);
			if (r == 0)
				r = secretbox_seal(&keys->current, ctx_secret, (const uint8_t *)secret, strlen(secret),
						   &secret_sealed);
			if (r == 0) {
				int w = registry_pg_reseal(c, rows[i].row, rows[i].secret_sealed, url_sealed, secret_sealed,
							   keys->current.id, err, errlen);
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
