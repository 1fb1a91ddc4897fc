/* routes.h: the HTTP API's routes: path templates, methods, whether a key
 * is needed, and the query parameters each takes. The server routes and
 * refuses unknown parameters by this table, and `paywatch serve --routes`
 * prints it, so the contract test (tests/e2e/test_openapi.mjs) compares
 * what the server serves with api/openapi.yaml, both ways. */
#ifndef PW_API_ROUTES_H
#define PW_API_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

enum api_route_id {
	API_HEALTHZ,
	API_READYZ,
	API_METRICS,
	API_OPENAPI,
	API_PAYMENTS,
	API_PAYMENT,
	API_EVENTS,
	API_CHAINS,
	API_DELIVERIES,
	API_REDELIVER,
	API_MERCHANTS,
	API_MERCHANT_CREATE,
	API_MERCHANT,
	API_MERCHANT_DELETE,
	API_ADDRESSES,
	API_ADDRESS_ADD,
	API_ADDRESS_DELETE,
	API_WEBHOOKS,
	API_WEBHOOK_ADD,
	API_WEBHOOK_DELETE,
	API_DEPOSIT_ADDRESS,
	API_INVOICES,
	API_INVOICE_CREATE,
	API_INVOICE,
	API_INVOICE_CANCEL,
	API_REPORT_SETTLEMENT,
	API_REPORT_PAYMENTS,
	API_CHECKOUT_PAGE,
	API_CHECKOUT_STATUS,
	API_CHECKOUT_JS,
	API_CHECKOUT_CSS,
	API_CHECKOUT_ICON,
	API_N_ROUTES
};

typedef struct api_route {
	const char *path;          /* the template, as in api/openapi.yaml: "/v1/payments/{id}" */
	const char *method;        /* "GET" (HEAD too), "POST" or "DELETE" */
	bool keyed;                /* needs Authorization: Bearer KEY */
	const char *const *params; /* the query parameters it takes, NULL-terminated */
} api_route;

extern const api_route api_routes[API_N_ROUTES];

/* The values of a URL's path parameters ({id}, {chain}, ...), in the
 * template's order. */
#define API_PATH_PARAMS 3
#define API_PATH_PARAM_MAX 128
typedef struct api_path_params {
	char v[API_PATH_PARAMS][API_PATH_PARAM_MAX];
	int n;
} api_path_params;

/* api_route_match: the route of method (HEAD counts as GET) on url, or
 * API_N_ROUTES. Its path parameters into *ret (a segment of
 * API_PATH_PARAM_MAX bytes or more matches nothing). When no route has
 * that method but some have the path, allow (allow_len bytes) gets their
 * methods ("GET, HEAD, POST"); otherwise it is "". */
enum api_route_id api_route_match(const char *url, const char *method, api_path_params *ret, char *allow,
				  size_t allow_len);

/* api_routes_json: the table as JSON text [{"method", "path", "params":
 * [...]}], malloc'd (caller frees); NULL on out of memory. */
char *api_routes_json(void);

#endif
