/* handlers.c: the HTTP API's route handlers (api_int.h): parameters
 * checked and put in the stored form, the merchant scope, the queries
 * (sinks/api_pg.c) and their answers. */
#include "api_int.h"
#include "clock.h"
#include "idfmt.h"
#include "log.h"
#include "metrics.h"
#include "parse.h"
#include "pw_error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A hash or transaction id in any family's form, as the table stores it. */
static bool normalize_hash(const api_server *s, const char *text, char *out)
{
	for (size_t i = 0; i < s->cfg->n_chains; i++) {
		uint8_t fam = s->cfg->chains[i].family->family;
		char lower[PW_HASH_TEXT_MAX];
		size_t n = strlen(text);
		if (n >= sizeof(lower))
			return false;
		for (size_t k = 0; k <= n; k++)
			lower[k] = (char)(text[k] >= 'A' && text[k] <= 'F' ? text[k] + 32 : text[k]);
		if (lower[0] == '0' && lower[1] == 'X')
			lower[1] = 'x';
		uint8_t bytes[32];
		if (pw_parse_hash(fam, lower, bytes, 32) == 0) {
			pw_format_hash(fam, bytes, 32, out);
			return true;
		}
	}
	return false;
}

/* An address as a config may write it (any letter case for EVM, T... for
 * Tron), in the stored form; chain NULL: any configured chain's family. */
static bool normalize_address(const api_server *s, const char *chain, const char *text, char *out)
{
	for (size_t i = 0; i < s->cfg->n_chains; i++) {
		const cfg_chain *c = &s->cfg->chains[i];
		if (chain && strcmp(c->name, chain) != 0)
			continue;
		pw_addr a;
		char why[200];
		if (c->family->parse_address(text, &a, why, sizeof(why)) == 0) {
			pw_format_address(c->family->family, &a, out);
			return true;
		}
	}
	return false;
}

/* The merchant a request reads, into *ret: a merchant key's own (asking
 * for another with merchant_id= is 403), or an admin key's merchant_id=
 * (NULL: every merchant). false when answered (403, 400). */
static bool scope_merchant(struct MHD_Connection *conn, const cfg_api_key *key, const char **ret,
			   enum MHD_Result *answered)
{
	const char *m = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "merchant_id");
	if (key->merchant_id[0]) {
		if (m && strcmp(m, key->merchant_id) != 0) {
			*answered = api_send_error(conn, 403, "forbidden", "merchant_id", NULL, NULL,
						   "merchant_id: this key may read merchant %s only", key->merchant_id);
			return false;
		}
		m = key->merchant_id;
	} else if (m && !config_valid_id(m)) {
		*answered = API_BAD_PARAM(conn, "merchant_id",
					  "merchant_id: not a merchant id (1..63 of A-Z a-z 0-9 . _ -)");
		return false;
	}
	*ret = m;
	return true;
}

/* limit= (1..API_PAGE_MAX) into *ret when given (else *ret is kept: the
 * default). false when answered (400). */
bool api_page_limit(struct MHD_Connection *conn, unsigned *ret, enum MHD_Result *answered)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	uint64_t n;
	if (!v)
		return true;
	if (parse_u64(v, API_PAGE_MAX, &n) < 0 || n == 0) {
		*answered = API_BAD_PARAM(conn, "limit", "limit: must be an integer 1..%d", API_PAGE_MAX);
		return false;
	}
	*ret = (unsigned)n;
	return true;
}

enum MHD_Result api_list_payments(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key)
{
	enum MHD_Result refused;
	api_payment_query q = { .limit = 100 };
	const char *v;
#define ARG(name) MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name)
	if (!scope_merchant(conn, key, &q.merchant_id, &refused))
		return refused;
	if ((q.chain = ARG("chain")) != NULL) {
		bool known = false;
		for (size_t i = 0; i < s->cfg->n_chains && !known; i++)
			known = strcmp(s->cfg->chains[i].name, q.chain) == 0;
		if (!known)
			return API_BAD_PARAM(conn, "chain", "chain: no chain named \"%.64s\"", q.chain);
	}
	if ((q.status = ARG("status")) != NULL && strcmp(q.status, "confirmed") != 0 &&
	    strcmp(q.status, "reverted") != 0)
		return API_BAD_PARAM(conn, "status", "status: must be confirmed or reverted");
	char tx[PW_HASH_TEXT_MAX], to[PW_ADDR_TEXT_MAX], from[PW_ADDR_TEXT_MAX];
	if ((v = ARG("tx_hash")) != NULL) {
		if (!normalize_hash(s, v, tx))
			return API_BAD_PARAM(
				conn, "tx_hash",
				"tx_hash: not a transaction hash (0x + 64 hex digits, or 64 hex digits on Tron)");
		q.tx_hash = tx;
	}
	if ((v = ARG("to")) != NULL) {
		if (!normalize_address(s, q.chain, v, to))
			return API_BAD_PARAM(conn, "to", "to: not an address of %s",
					     q.chain ? q.chain : "any configured chain");
		q.to_address = to;
	}
	if ((v = ARG("from")) != NULL) {
		if (!normalize_address(s, q.chain, v, from))
			return API_BAD_PARAM(conn, "from", "from: not an address of %s",
					     q.chain ? q.chain : "any configured chain");
		q.from_address = from;
	}
	char token[PW_ADDR_TEXT_MAX];
	if ((v = ARG("token")) != NULL) {
		/* a configured token's symbol, or an address (stored form) */
		bool symbol = false;
		for (size_t i = 0; i < s->cfg->n_chains && !symbol; i++)
			for (size_t k = 0; k < s->cfg->chains[i].n_tokens && !symbol; k++)
				symbol = strcmp(s->cfg->chains[i].tokens[k].symbol, v) == 0;
		if (symbol)
			q.token = v;
		else if (normalize_address(s, q.chain, v, token))
			q.token = token;
		else
			return API_BAD_PARAM(conn, "token",
					     "token: neither a configured token's symbol nor an address");
	}
	static const char *const amounts[2] = { "min_amount", "max_amount" };
	for (int k = 0; k < 2; k++) {
		if ((v = ARG(amounts[k])) != NULL && !api_decimal_ok(v))
			return API_BAD_PARAM(conn, amounts[k],
					     "%s: not a decimal number (digits, optionally . and digits; token units)",
					     amounts[k]);
		*(k ? &q.max_amount : &q.min_amount) = v;
	}
	static const char *const times[2] = { "since", "until" };
	for (int k = 0; k < 2; k++) {
		if ((v = ARG(times[k])) != NULL && !api_time_ok(v))
			return API_BAD_PARAM(conn, times[k],
					     "%s: not an RFC 3339 time Postgres holds (2026-11-29T20:51:17Z: a day its "
					     "month has, year 0001 on, an offset within 15:59)",
					     times[k]);
		*(k ? &q.until : &q.since) = v;
	}
	if (!api_page_limit(conn, &q.limit, &refused))
		return refused;
	if ((v = ARG("order")) != NULL) {
		if (strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0)
			return API_BAD_PARAM(conn, "order", "order: must be asc or desc");
		q.ascending = strcmp(v, "asc") == 0;
	}
	if ((v = ARG("cursor")) != NULL) {
		if (api_cursor_decode(v, &q.cursor) < 0)
			return API_BAD_PARAM(conn, "cursor", "cursor: not a cursor this API gave out");
		q.has_cursor = true;
	}
#undef ARG
	char err[420] = "";
	char *json = NULL;
	int r = api_pg_list_payments(s->pg, &q, &json, err, sizeof(err));
	if (r < 0)
		return api_query_failed(conn, r, "GET /v1/payments", err);
	return api_send_json(conn, 200, json, NULL, NULL);
}

enum MHD_Result api_get_payment(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, const char *idtext)
{
	uint64_t id;
	if (parse_u64(idtext, INT64_MAX, &id) < 0)
		return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no payment %.40s", idtext);
	char err[420] = "";
	char *json = NULL;
	int r = api_pg_get_payment(s->pg, (int64_t)id, key->merchant_id[0] ? key->merchant_id : NULL, &json, err,
				   sizeof(err));
	if (r == PW_ENOTFOUND) /* another merchant's payment is not found either: its existence is not told */
		return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no payment %llu",
				      (unsigned long long)id);
	if (r < 0)
		return api_query_failed(conn, r, "GET /v1/payments/{id}", err);
	return api_send_json(conn, 200, json, NULL, NULL);
}

/* GET /v1/webhooks/deliveries?status=&merchant_id=&limit=&cursor= */
enum MHD_Result api_list_deliveries(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key)
{
	enum MHD_Result refused;
	api_delivery_query q = { .limit = 100 };
	if (!scope_merchant(conn, key, &q.merchant_id, &refused))
		return refused;
	const char *v;
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "status")) != NULL) {
		if (strcmp(v, "pending") != 0 && strcmp(v, "delivered") != 0 && strcmp(v, "failed") != 0)
			return API_BAD_PARAM(conn, "status", "status: must be pending, delivered or failed");
		q.status = v;
	}
	if (!api_page_limit(conn, &q.limit, &refused))
		return refused;
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "cursor")) != NULL) {
		if (api_delivery_cursor_decode(v, &q.before_id) < 0)
			return API_BAD_PARAM(conn, "cursor", "cursor: not a cursor this API gave out");
		q.has_cursor = true;
	}
	char err[420] = "";
	char *json = NULL;
	int r = api_pg_list_deliveries(s->pg, &q, &json, err, sizeof(err));
	if (r < 0)
		return api_query_failed(conn, r, "GET /v1/webhooks/deliveries", err);
	return api_send_json(conn, 200, json, NULL, NULL);
}

/* POST /v1/webhooks/deliveries/{id}/redeliver */
enum MHD_Result api_redeliver(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, const char *idtext)
{
	uint64_t id;
	if (parse_u64(idtext, INT64_MAX, &id) < 0)
		return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no delivery %.40s", idtext);
	char err[420] = "";
	char *json = NULL;
	int r = api_pg_redeliver(s->pg, (int64_t)id, key->merchant_id[0] ? key->merchant_id : NULL, &json, err,
				 sizeof(err));
	if (r == PW_ENOTFOUND)
		return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no delivery %llu",
				      (unsigned long long)id);
	if (r == PW_EREFUSED)
		return api_send_error(conn, 409, "conflict", NULL, NULL, NULL,
				      "delivery %llu is pending already: it will be sent", (unsigned long long)id);
	if (r < 0)
		return api_query_failed(conn, r, "POST /v1/webhooks/deliveries/{id}/redeliver", err);
	return api_send_json(conn, 200, json, NULL, NULL);
}

#define FEED_WAIT_MAX_S 60

/* GET /v1/events?after=&limit=&wait=&merchant_id=: a page of the feed; with
 * wait, an empty page parks the request (longpoll.h) until an event may be
 * there or the wait is over. Called again when resumed. */
enum MHD_Result api_list_events(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, api_request *rq)
{
	if (!rq->feed_started) {
		enum MHD_Result refused;
		const char *m = NULL, *v;
		if (!scope_merchant(conn, key, &m, &refused))
			return refused;
		rq->feed = (api_event_query){ .limit = 100 };
		if (m) {
			snprintf(rq->merchant, sizeof(rq->merchant), "%s", m);
			rq->feed.merchant_id = rq->merchant;
		}
		if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after")) != NULL) {
			if (strcmp(v, "now") == 0)
				rq->feed.after_now = true;
			else if (api_feed_cursor_decode(v, &rq->feed.after) < 0)
				return API_BAD_PARAM(conn, "after",
						     "after: not a cursor this API gave out (or \"now\")");
		}
		uint64_t wait = 0;
		if (!api_page_limit(conn, &rq->feed.limit, &refused))
			return refused;
		if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "wait")) != NULL &&
		    parse_u64(v, FEED_WAIT_MAX_S, &wait) < 0)
			return API_BAD_PARAM(conn, "wait", "wait: must be an integer 0..%d (seconds)", FEED_WAIT_MAX_S);
		rq->deadline_ms = pw_mono_ms() + (int64_t)wait * 1000;
		rq->feed_started = true;
	}
	char err[420] = "";
	for (int round = 0;; round++) {
		char *json = NULL;
		unsigned got = 0;
		api_feed_cursor next;
		/* resumed: the events the watcher read for every parked request */
		bool answered = rq->parked && api_longpoll_answer(s->lp, &rq->feed, &json, &got, &next);
		if (rq->parked)
			metrics_add("paywatch_api_longpoll_wakeups_total",
				    answered ? "source=\"shared\"" : "source=\"query\"", 1);
		rq->parked = false;
		int r = answered ? 0 : api_pg_list_events(s->pg, &rq->feed, &got, &next, &json, err, sizeof(err));
		if (r < 0)
			return api_query_failed(conn, r, "GET /v1/events", err);
		/* an empty page within the wait: from here on, after its cursor
		 * (after=now is resolved once, by the first query) */
		if (got > 0 || pw_mono_ms() >= rq->deadline_ms || round == 3)
			return api_send_json(conn, 200, json, NULL, NULL);
		free(json);
		rq->feed.after = next;
		rq->feed.after_now = false;
		rq->parked = true; /* (this thread handles the resumed call: after this one returns) */
		if (api_longpoll_park(s->lp, conn, &next, rq->deadline_ms))
			return MHD_YES; /* suspended: answered when resumed */
		rq->parked = false;
		/* the head has passed the cursor already: query again */
	}
}

/* "host:port" of a masked endpoint URL (scheme, host, port, then a masked path). */
static void endpoint_host(const char *url, char *out, size_t n)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t len = strcspn(p, "/?#");
	snprintf(out, n, "%.*s", (int)len, p);
}

static void copy_number(cJSON *to, const char *key, const cJSON *report, const char *from)
{
	const cJSON *v = report ? cJSON_GetObjectItemCaseSensitive(report, from) : NULL;
	if (cJSON_IsNumber(v))
		cJSON_AddNumberToObject(to, key, v->valuedouble);
	else
		cJSON_AddNullToObject(to, key);
}

/* GET /v1/chains: per configured chain, what run last published. */
enum MHD_Result api_list_chains(api_server *s, struct MHD_Connection *conn)
{
	char err[420] = "";
	char *json = NULL;
	int r = api_pg_chain_reports(s->pg, &json, err, sizeof(err));
	if (r < 0)
		return api_query_failed(conn, r, "GET /v1/chains", err);
	cJSON *reports = cJSON_Parse(json);
	free(json);
	cJSON *out = cJSON_CreateObject();
	cJSON *data = cJSON_AddArrayToObject(out, "data");
	for (size_t i = 0; i < s->cfg->n_chains; i++) {
		const cfg_chain *c = &s->cfg->chains[i];
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(reports, c->name);
		const cJSON *rp = cJSON_GetObjectItemCaseSensitive(e, "report");
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", c->name);
		cJSON_AddStringToObject(o, "kind", c->family->kind);
		cJSON_AddNumberToObject(o, "chain_id", (double)c->chain_id);
		copy_number(o, "head", rp, "head");
		copy_number(o, "checkpoint", rp, "checkpoint");
		copy_number(o, "confirmed_height", rp, "confirmed_height");
		copy_number(o, "lag_blocks", rp, "lag_blocks");
		copy_number(o, "lag_seconds", rp, "lag_seconds");
		const cJSON *ep = cJSON_GetObjectItemCaseSensitive(rp, "endpoint");
		if (cJSON_IsString(ep)) {
			char host[256];
			endpoint_host(ep->valuestring, host, sizeof(host));
			cJSON_AddStringToObject(o, "endpoint", host);
		} else {
			cJSON_AddNullToObject(o, "endpoint");
		}
		const cJSON *rg = cJSON_GetObjectItemCaseSensitive(rp, "last_reorg");
		if (cJSON_IsObject(rg)) {
			cJSON *r2 = cJSON_AddObjectToObject(o, "last_reorg");
			copy_number(r2, "depth", rg, "depth");
			const cJSON *at = cJSON_GetObjectItemCaseSensitive(rg, "at");
			cJSON_AddStringToObject(r2, "at", cJSON_IsString(at) ? at->valuestring : "");
		} else {
			cJSON_AddNullToObject(o, "last_reorg");
		}
		copy_number(o, "report_age_s", e, "age_s");
		cJSON_AddItemToArray(data, o);
	}
	cJSON_Delete(reports);
	char *body = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	return body ? api_send_json(conn, 200, body, NULL, NULL) : MHD_NO;
}

/* GET /readyz: 200 when Postgres answers (its schema holding every
 * migration of this build) and every chain is published fresh, within
 * max_lag_blocks of its head, with an outbox younger than
 * max_outbox_age_s; otherwise 503 with the reasons. */
enum MHD_Result api_readyz(api_server *s, struct MHD_Connection *conn)
{
	char err[420] = "";
	char *json = NULL;
	cJSON *out = cJSON_CreateObject();
	cJSON *reasons = cJSON_CreateArray();
	char why[300];
	int r = api_pg_chain_reports(s->pg, &json, err, sizeof(err));
	if (r < 0) {
		log_emit(LOG_LEVEL_WARN, "api", -1, "GET /readyz: postgres: %s", err);
		/* a schema behind the build is told as the log has it (a count of
		 * migrations: no secret); any other failure only as "not answering" */
		snprintf(why, sizeof(why), "postgres: %s", r == PW_ESCHEMA ? err : "not answering");
		cJSON_AddItemToArray(reasons, cJSON_CreateString(why));
	} else {
		cJSON *reports = cJSON_Parse(json);
		free(json);
		for (size_t i = 0; i < s->cfg->n_chains; i++) {
			const cfg_chain *c = &s->cfg->chains[i];
			const cJSON *e = cJSON_GetObjectItemCaseSensitive(reports, c->name);
			const cJSON *rp = cJSON_GetObjectItemCaseSensitive(e, "report");
			const cJSON *age = cJSON_GetObjectItemCaseSensitive(e, "age_s");
			const cJSON *lag = cJSON_GetObjectItemCaseSensitive(rp, "lag_blocks");
			const cJSON *ob = cJSON_GetObjectItemCaseSensitive(rp, "outbox_oldest_age_s");
			why[0] = '\0';
			if (!rp)
				snprintf(why, sizeof(why), "chain %s: no report from `paywatch run` yet", c->name);
			else if (cJSON_IsNumber(age) && age->valuedouble > s->api->max_report_age_s)
				snprintf(why, sizeof(why),
					 "chain %s: last report %.0f s ago (is `paywatch run` running?)", c->name,
					 age->valuedouble);
			else if (!cJSON_IsNumber(lag))
				snprintf(why, sizeof(why), "chain %s: head or checkpoint not known yet", c->name);
			else if (lag->valuedouble > c->max_lag_blocks)
				snprintf(why, sizeof(why), "chain %s: %.0f blocks behind the head (max_lag_blocks %u)",
					 c->name, lag->valuedouble, c->max_lag_blocks);
			else if (cJSON_IsNumber(ob) && ob->valuedouble > s->api->max_outbox_age_s)
				snprintf(why, sizeof(why),
					 "chain %s: the outbox's oldest entry is %.0f s old (max_outbox_age_s %u)",
					 c->name, ob->valuedouble, s->api->max_outbox_age_s);
			if (why[0])
				cJSON_AddItemToArray(reasons, cJSON_CreateString(why));
		}
		cJSON_Delete(reports);
	}
	bool ready = cJSON_GetArraySize(reasons) == 0;
	cJSON_AddStringToObject(out, "status", ready ? "ready" : "not_ready");
	cJSON_AddItemToObject(out, "reasons", reasons);
	char *body = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	return body ? api_send_json(conn, ready ? 200 : 503, body, NULL, NULL) : MHD_NO;
}
