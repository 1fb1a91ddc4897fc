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
	API_N_ROUTES
};

typedef struct api_route {
	const char *path;          /* the template, as in api/openapi.yaml: "/v1/payments/{id}" */
	const char *method;        /* "GET" (HEAD too) or "POST" */
	bool keyed;                /* needs Authorization: Bearer KEY */
	const char *const *params; /* the query parameters it takes, NULL-terminated */
} api_route;

extern const api_route api_routes[API_N_ROUTES];

/* api_route_match: the route whose template url matches, or API_N_ROUTES;
 * the {id} segment, if the template has one, is copied into segment (n
 * bytes; a longer segment matches nothing). */
enum api_route_id api_route_match(const char *url, char *segment, size_t n);

/* api_routes_json: the table as JSON text [{"method", "path", "params":
 * [...]}], malloc'd (caller frees); NULL on out of memory. */
char *api_routes_json(void);

#endif
