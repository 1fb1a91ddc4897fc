/* routes.c: the HTTP API's route table (routes.h). */
#include "routes.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char *const none[] = { NULL };
static const char *const payments[] = { "merchant_id", "chain", "status", "tx_hash", "to", "from", "token",
					"min_amount", "max_amount", "since", "until", "limit", "order", "cursor", NULL };
static const char *const events[] = { "after", "limit", "wait", "merchant_id", NULL };
static const char *const deliveries[] = { "status", "merchant_id", "limit", "cursor", NULL };

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
};

/* Does url match template t? The {id} segment into segment. */
static bool matches(const char *t, const char *url, char *segment, size_t n)
{
	while (*t && *url) {
		if (strncmp(t, "{id}", 4) == 0) {
			size_t len = strcspn(url, "/");
			if (len == 0 || len >= n)
				return false;
			memcpy(segment, url, len);
			segment[len] = '\0';
			t += 4;
			url += len;
			continue;
		}
		if (*t++ != *url++)
			return false;
	}
	return *t == '\0' && *url == '\0';
}

enum api_route_id api_route_match(const char *url, char *segment, size_t n)
{
	for (int i = 0; i < API_N_ROUTES; i++)
		if (matches(api_routes[i].path, url, segment, n))
			return (enum api_route_id)i;
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
