/* webhook_admin.h: what operators read and change of the webhook queue in
 * Postgres: deliveries (list, redeliver) and per-endpoint figures. The
 * SQL of the webhook tables lives in the webhook sink (here and in
 * webhook.c); the program only prints. Endpoints show as their config id
 * and scheme://host:port: Postgres holds no more of a URL.
 * Thread safety: each call opens and closes its own connection. */
#ifndef PW_WEBHOOK_ADMIN_H
#define PW_WEBHOOK_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One delivery, as `paywatch webhooks list` shows it. */
typedef struct webhook_delivery_view {
	char event_id[64], type[32], merchant_id[128];
	char endpoint_id[128];  /* the endpoint's id in its merchant's list, "" when unknown */
	char endpoint_url[300]; /* scheme://host:port: Postgres holds no more of a URL */
	char status[16];        /* pending, delivered, failed */
	uint32_t attempts;
	char last_status[16];      /* the last HTTP status, "" when none */
	char last_error[512];      /* "" when none */
	char next_attempt[32];     /* "YYYY-MM-DD HH:MM:SS" (UTC) while pending, else "" */
	bool endpoint_disabled;    /* the endpoint is disabled (410 Gone, or by an operator) */
	char disabled_reason[200]; /* why, when endpoint_disabled */
} webhook_delivery_view;

/* webhook_admin_list: deliveries, newest first, at most limit, optionally
 * of one merchant, of one status, created since a time Postgres reads as a
 * timestamptz. 0 with *ret (calloc'd, caller frees; NULL when none) and
 * *ret_n; PW_EINVAL when Postgres reads no time in since; or PW_EDB /
 * PW_ENOMEM / PW_ESCHEMA (the database one `migrate` behind this build:
 * pg_open_migrated) with the reason in err (errlen bytes, the DSN's
 * password scrubbed). */
int webhook_admin_list(const char *dsn, const char *merchant, const char *status, const char *since, size_t limit,
		       webhook_delivery_view **ret, size_t *ret_n, char *err, size_t errlen);

/* webhook_admin_redeliver: queue deliveries again (attempts reset, due
 * now, the same webhook-id): of each of the n event ids (ret_counts[i]
 * gets how many deliveries of event i were queued: 0 when it has none
 * delivered or failed), or with ids NULL every failed delivery
 * (optionally of one merchant; ret_counts[0]). Wakes the dispatchers.
 * 0, or PW_EDB / PW_ESCHEMA with err set (what was queued before stays
 * queued). */
int webhook_admin_redeliver(const char *dsn, const char *const *ids, size_t n, const char *merchant, size_t *ret_counts,
			    char *err, size_t errlen);

/* One endpoint's figures, as `paywatch status` shows them. */
typedef struct webhook_endpoint_view {
	char merchant_id[128], id[128];
	char url[300]; /* scheme://host:port */
	bool active, disabled;
	char disabled_reason[200];
	uint64_t due, pending, failed, delivered;
	bool has_error;
	char last_error[600], last_error_at[32]; /* RFC 3339 UTC */
} webhook_endpoint_view;

/* webhook_admin_endpoints: every endpoint with its delivery counts and
 * last error, by merchant. 0 with *ret (calloc'd, caller frees) and
 * *ret_n, or PW_EDB / PW_ENOMEM / PW_ESCHEMA with err set. */
int webhook_admin_endpoints(const char *dsn, webhook_endpoint_view **ret, size_t *ret_n, char *err, size_t errlen);

#endif
