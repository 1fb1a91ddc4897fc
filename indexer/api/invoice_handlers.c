/* invoice_handlers.c: invoices over HTTP (api_int.h): POST /v1/invoices,
 * GET /v1/invoices[/{id}], POST /v1/invoices/{id}/cancel. A merchant key
 * creates and sees its own merchant's invoices (merchant_id may be
 * omitted); an admin key names the merchant. Creation: invoices.h. */
#include "api_int.h"
#include "invoice_pg.h"
#include "invoices.h"
#include "pw_error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct inv_call {
	enum api_route_id rid;
	const pw_config *cfg;
	invoice_request req;
	invoice_query list;
	const char *id, *merchant; /* get, cancel: merchant NULL for an admin key */
	int created;
} inv_call;

static int run_call(PGconn *c, const void *arg, char **json, char *err, size_t errlen)
{
	inv_call *q = (inv_call *)arg;
	switch (q->rid) {
	case API_INVOICE_CREATE: return invoice_create(c, q->cfg, &q->req, &q->created, json, err, errlen);
	case API_INVOICES: return invoice_pg_list(c, &q->list, json, err, errlen);
	case API_INVOICE: return invoice_pg_get(c, q->id, q->merchant, json, err, errlen);
	case API_INVOICE_CANCEL: return invoice_pg_cancel(c, q->id, q->merchant, json, err, errlen);
	default: return PW_EINVAL;
	}
}

static enum MHD_Result answer(api_server *s, struct MHD_Connection *conn, inv_call *q)
{
	char err[512] = "";
	char *json = NULL;
	int r = api_pg_call(s->pg, run_call, q, &json, err, sizeof(err));
	return api_answer_call(conn, r, json, q->created, err, q->rid == API_INVOICE_CREATE ? "merchant" : "invoice");
}

/* POST /v1/invoices: the body checked field by field. */
static enum MHD_Result create(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, const char *body,
			      size_t len)
{
	static const char *const fields[] = { "merchant_id", "chain",     "token",    "amount", "expires_in_s",
					      "expires_at",  "reference", "metadata", NULL };
	enum MHD_Result r = MHD_NO;
	cJSON *o = api_body_object(conn, body, len, fields, "an invoice", &r);
	if (!o)
		return r;
	char *meta = NULL;
	inv_call q = { .rid = API_INVOICE_CREATE, .cfg = s->cfg };
	q.req.expires_in_s = -1;
	const char *names[5] = { "merchant_id", "chain", "token", "amount", "reference" };
	const char **slots[5] = { &q.req.merchant_id, &q.req.chain, &q.req.token, &q.req.amount, &q.req.reference };
	for (int k = 0; k < 5; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, names[k]);
		if (!v && k == 0)
			continue;
		if (!cJSON_IsString(v) || !v->valuestring[0]) {
			r = API_BAD_PARAM(conn, names[k], "%s: %s", names[k],
					  v ? "must be a non-empty string" : "required: a string");
			goto out;
		}
		*slots[k] = v->valuestring;
	}
	/* the merchant: a merchant key's own; an admin key names it */
	if (key->merchant_id[0]) {
		if (q.req.merchant_id && strcmp(q.req.merchant_id, key->merchant_id) != 0) {
			r = api_send_error(conn, 403, "forbidden", "merchant_id", NULL, NULL,
					   "merchant_id: this key may create invoices of merchant %s only",
					   key->merchant_id);
			goto out;
		}
		q.req.merchant_id = key->merchant_id;
	} else if (!q.req.merchant_id || !config_valid_id(q.req.merchant_id)) {
		r = API_BAD_PARAM(conn, "merchant_id", "merchant_id: required with an admin key: a merchant id");
		goto out;
	}
	const cJSON *ein = cJSON_GetObjectItemCaseSensitive(o, "expires_in_s"),
		    *eat = cJSON_GetObjectItemCaseSensitive(o, "expires_at"),
		    *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	if (ein && eat) {
		r = API_BAD_PARAM(conn, "expires_at", "expires_at: give expires_in_s or expires_at, not both");
		goto out;
	}
	if (ein) {
		/* bounded before the cast: a double past int64's range cast to it
		 * is undefined (1e300 in a body) */
		if (!cJSON_IsNumber(ein) || ein->valuedouble < 0 || ein->valuedouble > 1e9 ||
		    ein->valuedouble != (double)(int64_t)ein->valuedouble) {
			r = API_BAD_PARAM(conn, "expires_in_s", "expires_in_s: must be an integer number of seconds");
			goto out;
		}
		q.req.expires_in_s = (int64_t)ein->valuedouble;
	}
	if (eat) {
		if (!cJSON_IsString(eat) || !api_time_ok(eat->valuestring)) {
			r = API_BAD_PARAM(
				conn, "expires_at",
				"expires_at: must be an RFC 3339 time Postgres holds (2026-12-01T12:00:00Z: a "
				"day its month has, an offset within 15:59)");
			goto out;
		}
		q.req.expires_at = eat->valuestring;
	}
	if (md) {
		if (!cJSON_IsObject(md) || !(meta = cJSON_PrintUnformatted(md))) {
			r = API_BAD_PARAM(conn, "metadata", "metadata: must be a JSON object");
			goto out;
		}
		q.req.metadata = meta;
	}
	q.req.body = body;
	q.req.body_len = len;
	r = answer(s, conn, &q);
out:
	free(meta);
	cJSON_Delete(o);
	return r;
}

enum MHD_Result api_invoices(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, enum api_route_id rid,
			     const api_path_params *pp, const char *body, size_t body_len)
{
	const char *own = key->merchant_id[0] ? key->merchant_id : NULL;
	inv_call q = { .rid = rid, .cfg = s->cfg, .merchant = own };
	switch (rid) {
	case API_INVOICE_CREATE: return create(s, conn, key, body, body_len);
	case API_INVOICES: {
#define ARG(name) MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name)
		enum MHD_Result refused;
		q.list.limit = 100;
		q.list.merchant_id = ARG("merchant_id");
		if (own && q.list.merchant_id && strcmp(q.list.merchant_id, own) != 0)
			return api_send_error(conn, 403, "forbidden", "merchant_id", NULL, NULL,
					      "merchant_id: this key may read merchant %s only", own);
		if (own)
			q.list.merchant_id = own;
		q.list.status = ARG("status");
		if (q.list.status && strcmp(q.list.status, "new") != 0 && strcmp(q.list.status, "processing") != 0 &&
		    strcmp(q.list.status, "paid") != 0 && strcmp(q.list.status, "expired") != 0 &&
		    strcmp(q.list.status, "cancelled") != 0)
			return API_BAD_PARAM(conn, "status", "status: new, processing, paid, expired or cancelled");
		q.list.reference = ARG("reference");
		if (q.list.reference && !invoice_reference_ok(q.list.reference))
			return API_BAD_PARAM(conn, "reference",
					     "reference: 1..128 bytes of UTF-8 without control characters");
		q.list.cursor = ARG("cursor");
		if (!api_page_limit(conn, &q.list.limit, &refused))
			return refused;
#undef ARG
		return answer(s, conn, &q);
	}
	case API_INVOICE:
	case API_INVOICE_CANCEL:
		if (!invoice_id_ok(pp->v[0]))
			return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no such invoice");
		q.id = pp->v[0];
		return answer(s, conn, &q);
	default: return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no route");
	}
}
