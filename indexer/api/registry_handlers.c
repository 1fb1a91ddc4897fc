/* registry_handlers.c: the merchant registry over HTTP (api_int.h):
 * /v1/merchants, their addresses and webhook endpoints. Admin keys manage
 * every merchant; a merchant key manages its own merchant's addresses and
 * endpoints (403 for another's id), and may not create or remove
 * merchants. Bodies are JSON objects, checked field by field (an unknown
 * field is a 400 naming it); the checks and SQL are the CLI's
 * (registry_admin.h, registry_pg.h). */
#include "api_int.h"
#include "log.h"
#include "pw_error.h"
#include "registry_admin.h"
#include "registry_pg.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the queries, as api_pg_call runs them ---- */

typedef struct reg_call {
	enum api_route_id rid;
	const char *merchant_id;
	const char *only_id; /* GET /v1/merchants with a merchant key */
	const char *chain, *family, *address, *endpoint_id, *url, *events, *cursor;
	int64_t from_block;
	unsigned limit;
	const secretbox_keys *keys;
	const pw_config *cfg;
	/* an xpub to set with the merchant (xpub_key NULL: none) */
	const char *xpub_key, *xpub_path;
	const char *xpub_chains[CFG_XPUB_CHAINS_MAX];
	size_t n_xpub_chains;
	uint32_t gap_limit;
	int created; /* out: the row was created (201) */
} reg_call;

static int run_call(PGconn *c, const void *arg, char **json, char *err, size_t errlen)
{
	reg_call *q = (reg_call *)arg; /* the call's own: created is written back */
	switch (q->rid) {
	case API_MERCHANTS: {
		if (!q->only_id)
			return registry_pg_merchants(c, NULL, json, err, errlen);
		char *one = NULL; /* a merchant key: its own merchant, as a list */
		int r = registry_pg_merchants(c, q->only_id, &one, err, errlen);
		if (r < 0 && r != PW_ENOTFOUND)
			return r;
		size_t n = (one ? strlen(one) : 0) + 16;
		*json = malloc(n);
		if (*json)
			snprintf(*json, n, "{\"data\":[%s]}", one ? one : "");
		free(one);
		return *json ? 0 : PW_ENOMEM;
	}
	case API_MERCHANT_CREATE: {
		int r = registry_pg_merchant_add(c, q->merchant_id, &q->created, json, err, errlen);
		if (r < 0 || !q->xpub_key)
			return r;
		free(*json);
		*json = NULL;
		r = registry_xpub_set(c, q->cfg, q->merchant_id, q->xpub_key, q->xpub_path, q->xpub_chains,
				      q->n_xpub_chains, q->gap_limit, "registry", false, err, errlen);
		return r < 0 ? r : registry_pg_merchants(c, q->merchant_id, json, err, errlen);
	}
	case API_DEPOSIT_ADDRESS: {
		long index = -1;
		char path[64], address[PW_ADDR_TEXT_MAX];
		int r = registry_window_grow(c, q->cfg, q->merchant_id, q->chain, -1, true, &index, path, address, err,
					     errlen);
		if (r < 0)
			return r == PW_ENOTFOUND ? PW_EREFUSED : r; /* no xpub for it: a conflict with its state */
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "index", (double)index);
		cJSON_AddStringToObject(o, "path", path);
		cJSON_AddStringToObject(o, "address", address);
		cJSON_AddStringToObject(o, "chain", q->chain);
		*json = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		q->created = 1;
		return *json ? 0 : PW_ENOMEM;
	}
	case API_MERCHANT: return registry_pg_merchants(c, q->merchant_id, json, err, errlen);
	case API_MERCHANT_DELETE:
	case API_ADDRESS_DELETE:
	case API_WEBHOOK_DELETE: {
		int r = q->rid == API_MERCHANT_DELETE ? registry_pg_merchant_remove(c, q->merchant_id, err, errlen)
			: q->rid == API_ADDRESS_DELETE
				? registry_pg_address_remove(c, q->merchant_id, q->chain, q->address, err, errlen)
				: registry_pg_endpoint_remove(c, q->merchant_id, q->endpoint_id, err, errlen);
		if (r < 0)
			return r;
		*json = strdup("{\"removed\":true}");
		return *json ? 0 : PW_ENOMEM;
	}
	case API_ADDRESSES:
		return registry_pg_addresses(c, q->merchant_id, q->chain, q->limit, q->cursor, json, err, errlen);
	case API_ADDRESS_ADD: {
		registry_address a = { q->merchant_id, q->chain, q->family, q->address, q->from_block };
		return registry_pg_address_add(c, &a, &q->created, json, err, errlen);
	}
	case API_WEBHOOKS: return registry_pg_endpoints(c, q->merchant_id, json, err, errlen);
	case API_WEBHOOK_ADD:
		q->created = 1;
		return registry_endpoint_create(c, q->keys, q->merchant_id, q->endpoint_id, q->url, q->events, json,
						err, errlen);
	default: return PW_EINVAL;
	}
}

/* ---- bodies ---- */

/* A string field: its value, NULL when absent; false when answered (400:
 * present but not a string of 1..max bytes). */
static bool string_field(struct MHD_Connection *conn, const cJSON *o, const char *name, size_t max, bool required,
			 const char **ret, enum MHD_Result *answered)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	*ret = NULL;
	if (!v && !required)
		return true;
	if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > max) {
		*answered = API_BAD_PARAM(conn, name, "%s: %s a string of 1..%zu characters", name,
					  v ? "must be" : "required:", max);
		return false;
	}
	*ret = v->valuestring;
	return true;
}

/* "xpub": {"key", "path", "chains", "gap_limit"} into q (absent: none).
 * false when answered (400). The key itself is checked by
 * registry_xpub_set (400 naming xpub.key, never quoting it). */
static bool xpub_fields(api_server *s, struct MHD_Connection *conn, const cJSON *x, reg_call *q,
			enum MHD_Result *answered)
{
	static const char *const fields[] = { "key", "path", "chains", "gap_limit", NULL };
	if (!x)
		return true;
	if (!cJSON_IsObject(x)) {
		*answered = API_BAD_PARAM(conn, "xpub", "xpub: must be an object {key, path, chains, gap_limit}");
		return false;
	}
	const char *stranger = api_field_not_in(x, fields);
	if (stranger) {
		*answered = API_BAD_PARAM(conn, "xpub", "xpub.%.40s: not a field of xpub", stranger);
		return false;
	}
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(x, "key"),
		    *path = cJSON_GetObjectItemCaseSensitive(x, "path"),
		    *chains = cJSON_GetObjectItemCaseSensitive(x, "chains"),
		    *gap = cJSON_GetObjectItemCaseSensitive(x, "gap_limit");
	if (!cJSON_IsString(key)) {
		*answered = API_BAD_PARAM(conn, "xpub.key",
					  "xpub.key: required: an extended public key (xpub..., tpub...)");
		return false;
	}
	if (path && !cJSON_IsString(path)) {
		*answered = API_BAD_PARAM(conn, "xpub.path", "xpub.path: must be a string such as \"0/*\"");
		return false;
	}
	if (gap && (!cJSON_IsNumber(gap) || gap->valuedouble < 1 || gap->valuedouble > 1000 ||
		    gap->valuedouble != (double)(int)gap->valuedouble)) {
		*answered = API_BAD_PARAM(conn, "xpub.gap_limit", "xpub.gap_limit: must be an integer 1..1000");
		return false;
	}
	bip32_pub parsed;
	bip32_path tpl;
	char why[200];
	if (strlen(key->valuestring) >= BIP32_TEXT_MAX ||
	    bip32_parse_xpub(key->valuestring, &parsed, why, sizeof(why)) < 0) {
		*answered =
			API_BAD_PARAM(conn, "xpub.key", "xpub.key: %s",
				      strlen(key->valuestring) >= BIP32_TEXT_MAX ? "not an extended public key" : why);
		return false;
	}
	if (path &&
	    (strlen(path->valuestring) >= 64 || bip32_parse_path(path->valuestring, &tpl, why, sizeof(why)) < 0)) {
		*answered = API_BAD_PARAM(conn, "xpub.path", "xpub.path: %s",
					  strlen(path->valuestring) >= 64 ? "longer than 63 characters" : why);
		return false;
	}
	q->xpub_key = key->valuestring;
	q->xpub_path = path ? path->valuestring : "0/*";
	q->gap_limit = gap ? (uint32_t)gap->valuedouble : 20;
	if (chains) {
		const cJSON *ch;
		if (!cJSON_IsArray(chains) || cJSON_GetArraySize(chains) < 1 ||
		    cJSON_GetArraySize(chains) > CFG_XPUB_CHAINS_MAX) {
			*answered =
				API_BAD_PARAM(conn, "xpub.chains", "xpub.chains: must be a list of 1..%d chain names",
					      CFG_XPUB_CHAINS_MAX);
			return false;
		}
		cJSON_ArrayForEach (ch, chains) {
			if (!cJSON_IsString(ch)) {
				*answered = API_BAD_PARAM(conn, "xpub.chains",
							  "xpub.chains: must be a list of chain names");
				return false;
			}
			q->xpub_chains[q->n_xpub_chains++] = ch->valuestring;
		}
	} else /* every chain whose addresses are derived from secp256k1 keys */
		for (size_t i = 0; i < s->cfg->n_chains && q->n_xpub_chains < CFG_XPUB_CHAINS_MAX; i++)
			if (s->cfg->chains[i].family->address_of_key)
				q->xpub_chains[q->n_xpub_chains++] = s->cfg->chains[i].name;
	return true;
}

/* ---- the answer of a call ---- */

static enum MHD_Result answer(api_server *s, struct MHD_Connection *conn, reg_call *q, const char *what)
{
	char err[512] = "";
	char *json = NULL;
	int r = api_pg_call(s->pg, run_call, q, &json, err, sizeof(err));
	return api_answer_call(conn, r, json, q->created, err, what);
}

enum MHD_Result api_registry(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, enum api_route_id rid,
			     const api_path_params *pp, const char *body, size_t body_len)
{
	enum MHD_Result refused;
	bool admin = key->merchant_id[0] == '\0';
	reg_call q = { .rid = rid, .from_block = -1, .limit = 100, .keys = &s->keys, .cfg = s->cfg };
	if (rid == API_MERCHANTS) {
		q.only_id = admin ? NULL : key->merchant_id;
		return answer(s, conn, &q, "merchant");
	}
	if (rid == API_MERCHANT_CREATE) {
		if (!admin)
			return api_send_error(conn, 403, "forbidden", NULL, NULL, NULL,
					      "only an admin key creates merchants");
		static const char *const fields[] = { "id", "xpub", NULL };
		cJSON *o = api_body_object(conn, body, body_len, fields, "this request", &refused);
		if (!o)
			return refused;
		const char *id;
		enum MHD_Result r;
		if (!string_field(conn, o, "id", PW_NAME_MAX - 1, true, &id, &refused))
			r = refused;
		else if (!config_valid_id(id))
			r = API_BAD_PARAM(conn, "id", "id: not a merchant id (1..63 of A-Z a-z 0-9 . _ -)");
		else if (!xpub_fields(s, conn, cJSON_GetObjectItemCaseSensitive(o, "xpub"), &q, &refused))
			r = refused;
		else {
			q.merchant_id = id;
			r = answer(s, conn, &q, "merchant");
		}
		cJSON_Delete(o);
		return r;
	}
	/* /v1/merchants/{id}...: the merchant key's own only */
	q.merchant_id = pp->v[0];
	if (!config_valid_id(q.merchant_id))
		return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no such merchant");
	if (!admin && strcmp(q.merchant_id, key->merchant_id) != 0)
		return api_send_error(conn, 403, "forbidden", "id", NULL, NULL, "this key may manage merchant %s only",
				      key->merchant_id);
	switch (rid) {
	case API_MERCHANT: return answer(s, conn, &q, "merchant");
	case API_MERCHANT_DELETE:
		if (!admin)
			return api_send_error(conn, 403, "forbidden", NULL, NULL, NULL,
					      "only an admin key removes merchants");
		return answer(s, conn, &q, "merchant");
	case API_ADDRESSES: {
		q.chain = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "chain");
		if (q.chain && config_find_chain(s->cfg, q.chain) < 0)
			return API_BAD_PARAM(conn, "chain", "chain: no chain \"%.64s\" in this config", q.chain);
		q.cursor = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "cursor");
		if (!api_page_limit(conn, &q.limit, &refused))
			return refused;
		return answer(s, conn, &q, "merchant");
	}
	case API_ADDRESS_DELETE: {
		char stored[PW_ADDR_TEXT_MAX], err[300];
		const char *family;
		int r = registry_normalize_address(s->cfg, pp->v[1], pp->v[2], stored, &family, err, sizeof(err));
		if (r < 0) /* no such chain, or not an address: the merchant has no such address */
			return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no such address: %s", err);
		q.chain = pp->v[1];
		q.address = stored;
		return answer(s, conn, &q, "address of this merchant");
	}
	case API_ADDRESS_ADD: {
		static const char *const fields[] = { "chain", "address", "from_block", NULL };
		cJSON *o = api_body_object(conn, body, body_len, fields, "this request", &refused);
		if (!o)
			return refused;
		const char *chain, *text, *family;
		char stored[PW_ADDR_TEXT_MAX], err[300];
		enum MHD_Result r;
		const cJSON *fb = cJSON_GetObjectItemCaseSensitive(o, "from_block");
		if (!string_field(conn, o, "chain", PW_NAME_MAX - 1, true, &chain, &refused) ||
		    !string_field(conn, o, "address", 128, true, &text, &refused))
			r = refused;
		else if (fb && !cJSON_IsNull(fb) &&
			 (!cJSON_IsNumber(fb) || fb->valuedouble < 0 || fb->valuedouble > 9007199254740991.0 ||
			  fb->valuedouble != (double)(int64_t)fb->valuedouble))
			r = API_BAD_PARAM(conn, "from_block", "from_block: must be a block number (an integer >= 0)");
		else if (registry_normalize_address(s->cfg, chain, text, stored, &family, err, sizeof(err)) < 0)
			r = API_BAD_PARAM(conn, strncmp(err, "chain", 5) == 0 ? "chain" : "address", "%s", err);
		else {
			q.chain = chain;
			q.address = stored;
			q.family = family;
			q.from_block = fb && cJSON_IsNumber(fb) ? (int64_t)fb->valuedouble : -1;
			r = answer(s, conn, &q, "merchant");
		}
		cJSON_Delete(o);
		return r;
	}
	case API_WEBHOOKS: return answer(s, conn, &q, "merchant");
	case API_DEPOSIT_ADDRESS: {
		static const char *const fields[] = { "chain", NULL };
		cJSON *o = api_body_object(conn, body, body_len, fields, "this request", &refused);
		if (!o)
			return refused;
		enum MHD_Result r;
		if (!string_field(conn, o, "chain", PW_NAME_MAX - 1, true, &q.chain, &refused))
			r = refused;
		else if (config_find_chain(s->cfg, q.chain) < 0)
			r = API_BAD_PARAM(conn, "chain", "chain: no chain \"%.64s\" in this config", q.chain);
		else
			r = answer(s, conn, &q, "merchant");
		cJSON_Delete(o);
		return r;
	}
	case API_WEBHOOK_DELETE:
		if (!config_valid_id(pp->v[1])) /* no endpoint has such an id */
			return api_send_error(conn, 404, "not_found", NULL, NULL, NULL,
					      "no such active endpoint of this merchant");
		q.endpoint_id = pp->v[1];
		return answer(s, conn, &q, "active endpoint of this merchant");
	case API_WEBHOOK_ADD: {
		static const char *const fields[] = { "id", "url", "events", NULL };
		cJSON *o = api_body_object(conn, body, body_len, fields, "this request", &refused);
		if (!o)
			return refused;
		const char *id, *url, *types[32]; /* at most cfg_n_event_types: a type is a bit of an unsigned */
		size_t n = 0;
		char literal[256], err[300];
		enum MHD_Result r = MHD_YES;
		bool ok = string_field(conn, o, "id", PW_NAME_MAX - 1, false, &id, &refused) &&
			  string_field(conn, o, "url", 2048, true, &url, &refused);
		const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "events"), *t;
		if (!ok)
			r = refused;
		else if (ev && (!cJSON_IsArray(ev) || cJSON_GetArraySize(ev) < 1 ||
				(size_t)cJSON_GetArraySize(ev) > cfg_n_event_types)) {
			r = API_BAD_PARAM(conn, "events", "events: must be a list of 1..%zu event types",
					  cfg_n_event_types);
			ok = false;
		} else
			cJSON_ArrayForEach (t, ev) {
				if (!cJSON_IsString(t)) {
					r = API_BAD_PARAM(conn, "events", "events: must be a list of event type names");
					ok = false;
					break;
				}
				types[n++] = t->valuestring;
			}
		if (ok && registry_events_literal(types, n, literal, sizeof(literal), err, sizeof(err)) < 0) {
			r = API_BAD_PARAM(conn, "events", "%s", err);
			ok = false;
		}
		if (ok) {
			q.endpoint_id = id;
			q.url = url;
			q.events = literal;
			r = answer(s, conn, &q, "merchant");
		}
		cJSON_Delete(o);
		return r;
	}
	default: return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no route");
	}
}
