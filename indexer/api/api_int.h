/* api_int.h: what the API's server (server.c: connections, bounds, keys,
 * routing, metrics) and its route handlers (handlers.c) share; not for
 * use outside indexer/api/. */
#ifndef PW_API_INT_H
#define PW_API_INT_H

#include "api_pg.h"
#include "client_limits.h"
#include "config.h"
#include "longpoll.h"
#include "routes.h"
#include "secretbox.h"
#include "server.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Request line and headers, and the response headers, share one pool per
 * connection: 8 KiB of request plus room for the answer's headers. */
#define API_CONN_MEMORY (16 * 1024)
#define API_IDLE_TIMEOUT_S 10
#define API_REQUEST_DEADLINE_S 10
#define API_BODY_MAX (64 * 1024)
#define API_HEAD_MAX (8 * 1024) /* the request line and headers */

/* One request, from its headers to its completion (freed by
 * request_completed): a long-poll keeps its query here while parked. */
typedef struct api_request {
	const char *route; /* the route's template, for the metrics */
	unsigned status;   /* the status of the answer queued */
	int64_t started_ms;
	size_t body_bytes;
	char *body; /* the request body so far (NUL-terminated), at most API_BODY_MAX */
	bool feed_started;
	bool parked; /* suspended by a long-poll (resumed: try the watcher's events first) */
	api_event_query feed;
	char merchant[PW_NAME_MAX];
	int64_t deadline_ms;
} api_request;

struct conn_watch;

struct api_server {
	const pw_config *cfg;
	const cfg_api *api;
	bool metrics_only;        /* `dispatch`: /metrics and /healthz only */
	char *cert_pem, *key_pem; /* TLS (api.tls), read at start */
	struct conn_watch *conns; /* every open connection, under lock */
	pthread_t reaper;         /* drops connections past their request deadline */
	bool reaper_started;
	atomic_bool stopping;
	struct MHD_Daemon *d;
	api_longpoll *lp; /* the parked long-polls of /v1/events */
	pthread_mutex_t lock;
	api_pg_pool *pg;      /* the API's own connections */
	bucket *buckets;      /* per key, under lock */
	client_limits *pages; /* the checkout pages' buckets, per client address (client_limits.h) */
	secretbox_keys keys; /* PAYWATCH_SECRET_KEY(_OLD): webhook secrets created through the API are sealed with it */
};

/* ---- answers (answer.c) ---- */

/* api_answering: the request this thread handles now (NULL: none): the
 * status of what it queues is recorded in rq->status. */
void api_answering(api_request *rq);

/* api_send_body: queue body (malloc'd, NUL-terminated: freed here) with
 * status, its content type, Cache-Control: no-store and an optional extra
 * header (name NULL: none). */
enum MHD_Result api_send_body(struct MHD_Connection *conn, unsigned status, char *body, const char *content_type,
			      const char *extra_name, const char *extra_value);

/* api_send_json: queue body (malloc'd JSON text, freed here) with status
 * and an optional extra header (name NULL: none). */
enum MHD_Result api_send_json(struct MHD_Connection *conn, unsigned status, char *body, const char *extra_name,
			      const char *extra_value);

/* api_send_error: queue {"error": {"code", "message", "param"}} (param
 * NULL: null) with status and an optional extra header. */
enum MHD_Result api_send_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *param,
			       const char *extra_name, const char *extra_value, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

#define API_BAD_PARAM(conn, param, ...) api_send_error(conn, 400, "invalid_parameter", param, NULL, NULL, __VA_ARGS__)

/* api_field_not_in: the name of the first field of object o that allowed
 * (NULL-terminated) does not name (borrowed from o), or NULL. */
const char *api_field_not_in(const cJSON *o, const char *const *allowed);

/* api_body_object: a request body (len bytes) read as a JSON object
 * (RFC 8259) whose fields are all named in allowed (NULL-terminated);
 * what names the request in the error ("an invoice"). The object (caller
 * frees with cJSON_Delete), or NULL when answered with a 400 in
 * *answered: not a JSON object, a field it does not allow (named as the
 * param), or JSON that json_check_strict refuses (named by its path where
 * it has one): a key twice, \u0000 or a lone surrogate in a string (cJSON
 * would end the string at \u0000: "a\u0000b" read as "a"), bytes that
 * are not UTF-8, a number of 2^53 or more, nesting past 64. */
cJSON *api_body_object(struct MHD_Connection *conn, const char *body, size_t len, const char *const *allowed,
		       const char *what, enum MHD_Result *answered);

/* api_query_failed: a query that failed: 503 with Retry-After; the reason
 * (already scrubbed of the DSN's password) goes to the log only. */
enum MHD_Result api_query_failed(struct MHD_Connection *conn, int r, const char *what, const char *err);

/* api_page_limit: limit= (1..API_PAGE_MAX) into *ret when given (else
 * *ret keeps the default). false when answered (400). */
bool api_page_limit(struct MHD_Connection *conn, unsigned *ret, enum MHD_Result *answered);

/* api_answer_call: the answer of a query's result r (sinks' codes): 0:
 * json (malloc'd, freed here; 201 when created, else 200); PW_ENOTFOUND:
 * 404 "no such <what>"; PW_EREFUSED: 409 with err; PW_EINVAL: 400 naming
 * the field err starts with ("field: reason"); PW_EPARSE: 400 cursor;
 * PW_ECONFIG: 503 not_configured (err to the log); PW_EDB: 503 (err to the
 * log); anything else: 500. */
enum MHD_Result api_answer_call(struct MHD_Connection *conn, int r, char *json, bool created, const char *err,
				const char *what);

/* ---- the routes' handlers (handlers.c): key checked, rate limit taken,
 * unknown parameters refused before they are called ---- */

enum MHD_Result api_list_payments(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key);
enum MHD_Result api_get_payment(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, const char *idtext);
enum MHD_Result api_list_deliveries(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key);
enum MHD_Result api_redeliver(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, const char *idtext);
/* GET /v1/events: called again when a parked long-poll is resumed (rq
 * keeps its query) */
enum MHD_Result api_list_events(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, api_request *rq);
enum MHD_Result api_list_chains(api_server *s, struct MHD_Connection *conn);
/* the merchant registry's routes (registry_handlers.c): rid one of
 * API_MERCHANTS ... API_WEBHOOK_DELETE, body the request's (NULL: none) */
enum MHD_Result api_registry(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, enum api_route_id rid,
			     const api_path_params *pp, const char *body, size_t body_len);
/* invoices (invoice_handlers.c): rid one of API_INVOICES ...
 * API_INVOICE_CANCEL */
enum MHD_Result api_invoices(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, enum api_route_id rid,
			     const api_path_params *pp, const char *body, size_t body_len);
/* reports (report_handlers.c): rid API_REPORT_SETTLEMENT or
 * API_REPORT_PAYMENTS */
enum MHD_Result api_report(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, enum api_route_id rid);
/* the checkout page (checkout.c; no key): rid API_CHECKOUT_PAGE ...
 * API_CHECKOUT_ICON */
enum MHD_Result api_checkout(api_server *s, struct MHD_Connection *conn, enum api_route_id rid,
			     const api_path_params *pp);
/* GET /readyz (no key) */
enum MHD_Result api_readyz(api_server *s, struct MHD_Connection *conn);

#endif
