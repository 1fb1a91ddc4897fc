/* routes.c: the HTTP API's route table (routes.h). */
#include "routes.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *const none[] = { NULL };
static const char *const payments[] = { "merchant_id", "chain", "status",     "tx_hash",    "to",
					"from",        "token", "min_amount", "max_amount", "since",
					"until",       "limit", "order",      "cursor",     NULL };
static const char *const events[] = { "after", "limit", "wait", "merchant_id", NULL };
static const char *const deliveries[] = { "status", "merchant_id", "limit", "cursor", NULL };
static const char *const addresses[] = { "chain", "limit", "cursor", NULL };
static const char *const invoices[] = { "status", "merchant_id", "reference", "limit", "cursor", NULL };
static const char *const reports[] = { "merchant_id", "from", "to", "format", NULL };

const api_route api_routes[API_N_ROUTES] = {
	[API_HEALTHZ] = { "/healthz", "GET", false, none },
	[API_READYZ] = { "/readyz", "GET", false, none },
	[API_METRICS] = { "/metrics", "GET", false, none },
	[API_OPENAPI] = { "/v1/openapi.json", "GET", false, none },
	[API_PAYMENTS] = { "/v1/payments", "GET", true, payments },
	[API_PAYMENT] = { "/v1/payments/{id}", "GET", true, none },
	[API_EVENTS] = { "/v1/events", "GET", true, events },
	[API_CHAINS] = { "/v1/chains", "GET", true, none },
	[API_DELIVERIES] = { "/v1/webhooks/deliveries", "GET", true, deliveries },
	[API_REDELIVER] = { "/v1/webhooks/deliveries/{id}/redeliver", "POST", true, none },
	[API_MERCHANTS] = { "/v1/merchants", "GET", true, none },
	[API_MERCHANT_CREATE] = { "/v1/merchants", "POST", true, none },
	[API_MERCHANT] = { "/v1/merchants/{id}", "GET", true, none },
	[API_MERCHANT_DELETE] = { "/v1/merchants/{id}", "DELETE", true, none },
	[API_ADDRESSES] = { "/v1/merchants/{id}/addresses", "GET", true, addresses },
	[API_ADDRESS_ADD] = { "/v1/merchants/{id}/addresses", "POST", true, none },
	[API_ADDRESS_DELETE] = { "/v1/merchants/{id}/addresses/{chain}/{address}", "DELETE", true, none },
	[API_WEBHOOKS] = { "/v1/merchants/{id}/webhooks", "GET", true, none },
	[API_WEBHOOK_ADD] = { "/v1/merchants/{id}/webhooks", "POST", true, none },
	[API_WEBHOOK_DELETE] = { "/v1/merchants/{id}/webhooks/{endpoint_id}", "DELETE", true, none },
	[API_DEPOSIT_ADDRESS] = { "/v1/merchants/{id}/deposit-addresses", "POST", true, none },
	[API_INVOICES] = { "/v1/invoices", "GET", true, invoices },
	[API_INVOICE_CREATE] = { "/v1/invoices", "POST", true, none },
	[API_INVOICE] = { "/v1/invoices/{id}", "GET", true, none },
	[API_INVOICE_CANCEL] = { "/v1/invoices/{id}/cancel", "POST", true, none },
	[API_REPORT_SETTLEMENT] = { "/v1/reports/settlement", "GET", true, reports },
	[API_REPORT_PAYMENTS] = { "/v1/reports/payments", "GET", true, reports },
	[API_CHECKOUT_PAGE] = { "/pay/{id}", "GET", false, none },
	[API_CHECKOUT_STATUS] = { "/pay/{id}/status", "GET", false, none },
	[API_CHECKOUT_JS] = { "/assets/checkout.js", "GET", false, none },
	[API_CHECKOUT_CSS] = { "/assets/checkout.css", "GET", false, none },
	[API_CHECKOUT_ICON] = { "/assets/checkout.svg", "GET", false, none },
};

/* Does url match template t? Each {name} segment's value into ret. */
static bool matches(const char *t, const char *url, api_path_params *ret)
{
	ret->n = 0;
	while (*t && *url) {
		if (*t == '{') {
			size_t len = strcspn(url, "/");
			if (len == 0 || len >= API_PATH_PARAM_MAX || ret->n == API_PATH_PARAMS)
				return false;
			memcpy(ret->v[ret->n], url, len);
			ret->v[ret->n++][len] = '\0';
			t = strchr(t, '}') + 1;
			url += len;
			continue;
		}
		if (*t++ != *url++)
			return false;
	}
	return *t == '\0' && *url == '\0';
}

enum api_route_id api_route_match(const char *url, const char *method, api_path_params *ret, char *allow,
				  size_t allow_len)
{
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
	size_t used = 0;
	if (allow_len)
		allow[0] = '\0';
	for (int i = 0; i < API_N_ROUTES; i++) {
		api_path_params p;
		if (!matches(api_routes[i].path, url, &p))
			continue;
		if (strcmp(api_routes[i].method, m) == 0) {
			*ret = p;
			if (allow_len)
				allow[0] = '\0';
			return (enum api_route_id)i;
		}
		const char *name = strcmp(api_routes[i].method, "GET") == 0 ? "GET, HEAD" : api_routes[i].method;
		if (used < allow_len)
			used += (size_t)snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", name);
	}
	return API_N_ROUTES;
}

char *api_routes_json(void)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < API_N_ROUTES; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "method", api_routes[i].method);
		cJSON_AddStringToObject(o, "path", api_routes[i].path);
		cJSON_AddBoolToObject(o, "keyed", api_routes[i].keyed);
		cJSON *p = cJSON_AddArrayToObject(o, "params");
		for (const char *const *q = api_routes[i].params; *q; q++)
			cJSON_AddItemToArray(p, cJSON_CreateString(*q));
		cJSON_AddItemToArray(a, o);
	}
	char *text = a ? cJSON_Print(a) : NULL;
	cJSON_Delete(a);
	return text;
}
