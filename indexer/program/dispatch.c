/* dispatch.c: webhook dispatcher threads and the webhooks operator
 * commands, on top of sinks/webhook.c. */
#include "dispatch.h"
#include "cli_common.h"
#include "log.h"
#include "server.h"
#include "parse.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "registry_admin.h"
#include "secretbox.h"
#include "webhook.h"
#include "webhook_admin.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One dispatcher loop on a thread of its own. */
typedef struct dispatch_worker {
	webhook_dispatcher *d;
	atomic_bool *stop;
	char name[32]; /* for logs: "webhooks", or "webhooks[2]" among several */
	pthread_t thread;
	bool running;
} dispatch_worker;

struct dispatch_threads {
	webhook_endpoint *endpoints; /* shared by the workers, read only */
	secretbox_keys keys;         /* the same */
	size_t n;                    /* workers made */
	size_t n_running;            /* of them, started (the first n_running) */
	dispatch_worker workers[];
};

/* The config's endpoints as the dispatcher takes them (strings borrowed
 * from cfg). *ret_endpoints: caller frees. 0 or PW_ENOMEM. */
static int options_from_config(const pw_config *cfg, webhook_options *o, webhook_endpoint **ret_endpoints)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->n_merchants; i++)
		n += cfg->merchants[i].n_endpoints;
	webhook_endpoint *eps = calloc(n + 1, sizeof(*eps));
	if (!eps)
		return PW_ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < cfg->n_merchants; i++)
		for (size_t j = 0; j < cfg->merchants[i].n_endpoints; j++, k++) {
			const cfg_endpoint *e = &cfg->merchants[i].endpoints[j];
			eps[k] = (webhook_endpoint){ cfg->merchants[i].id, e->id, e->url,
						     (const char *const *)e->secrets, e->n_secrets };
		}
	*o = (webhook_options){
		.dsn = cfg->pg_dsn,
		.endpoints = eps,
		.n_endpoints = n,
		.retry_schedule_s = cfg->webhooks.retry_schedule_s,
		.n_retry_schedule = cfg->webhooks.n_retry_schedule,
		.timeout_ms = cfg->webhooks.timeout_ms,
		.max_in_flight = cfg->webhooks.max_in_flight,
		.max_per_endpoint = cfg->webhooks.max_per_endpoint,
		.allow_private_targets = cfg->webhooks.allow_private_targets,
		.proxy = cfg->webhooks.proxy,
	};
	*ret_endpoints = eps;
	return 0;
}

static void *dispatch_thread_main(void *arg)
{
	dispatch_worker *w = arg;
	webhook_dispatcher_run(w->d, w->stop);
	return NULL;
}

int dispatch_threads_start(const pw_config *cfg, atomic_bool *stop, bool gauges, uint32_t threads,
			   dispatch_threads **ret)
{
	uint32_t slots = cfg->webhooks.max_in_flight ? cfg->webhooks.max_in_flight : 1;
	size_t n = threads < 1 ? 1 : threads > slots ? slots : threads; /* each worker at least one slot */
	dispatch_threads *t = calloc(1, sizeof(*t) + n * sizeof(t->workers[0]));
	if (!t)
		return PW_ENOMEM;
	t->n = n;
	webhook_options o;
	int r = options_from_config(cfg, &o, &t->endpoints);
	char err[300];
	if (secretbox_keys_from_env(&t->keys, err, sizeof(err)) < 0)
		log_error(PW_ECONFIG, "webhooks: %s; endpoints added through the API or the CLI get no deliveries",
			  err);
	o.keys = t->keys.have_current || t->keys.have_old ? &t->keys : NULL;
	for (size_t k = 0; r == 0 && k < n; k++) {
		dispatch_worker *w = &t->workers[k];
		if (n == 1)
			snprintf(w->name, sizeof(w->name), "webhooks");
		else
			snprintf(w->name, sizeof(w->name), "webhooks[%zu]", k + 1);
		webhook_options wo = o;
		wo.name = w->name;
		/* the slots shared out: max_in_flight in all, not per thread */
		wo.max_in_flight = (uint32_t)(slots / n + (k < slots % n));
		wo.gauges = gauges && k == 0; /* one count serves the process's gauges */
		w->stop = stop;
		r = webhook_dispatcher_create(&wo, &w->d);
	}
	for (size_t k = 0; r == 0 && k < n; k++) {
		dispatch_worker *w = &t->workers[k];
		w->running = pthread_create(&w->thread, NULL, dispatch_thread_main, w) == 0;
		if (w->running) {
			t->n_running++;
		} else if (k == 0) {
			r = PW_ENOMEM;
		} else { /* fewer loops, each at its share of the slots: the others' go unused */
			log_warn("webhooks: cannot start dispatcher thread %zu of %zu; delivering on %zu", k + 1, n, k);
			break;
		}
	}
	if (r < 0) {
		dispatch_threads_join(t);
		return r;
	}
	*ret = t;
	return 0;
}

void dispatch_threads_join(dispatch_threads *t)
{
	if (!t)
		return;
	for (size_t k = 0; k < t->n; k++)
		if (t->workers[k].running)
			webhook_dispatcher_wake(t->workers[k].d);
	for (size_t k = 0; k < t->n; k++) {
		if (t->workers[k].running)
			pthread_join(t->workers[k].thread, NULL);
		webhook_dispatcher_destroy(t->workers[k].d);
	}
	free(t->endpoints);
	OPENSSL_cleanse(&t->keys, sizeof(t->keys));
	free(t);
}

int dispatch_main(const pw_config *cfg)
{
	atomic_bool stop;
	atomic_init(&stop, false);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	api_server *metrics = NULL;
	char err[300];
	if (cfg->metrics_enabled) {
		if (api_server_start_metrics(cfg, &metrics, err, sizeof(err)) < 0)
			return log_error(PW_EIO, "metrics: %s", err), 1;
		log_info("metrics: /metrics and /healthz on %s port %u", cfg->metrics_host, cfg->metrics_port);
	}
	dispatch_threads *t;
	if (dispatch_threads_start(cfg, &stop, metrics != NULL, cfg->webhooks.threads, &t) < 0) {
		api_server_stop(metrics);
		return log_error(PW_ENOMEM, "cannot start the dispatcher"), 1;
	}
	log_info(
		"dispatcher running (%zu merchant(s), %zu thread(s) sharing %u requests in flight); SIGINT/SIGTERM stop it",
		cfg->n_merchants, t->n_running, cfg->webhooks.max_in_flight);
	int sig = 0;
	sigwait(&sigs, &sig);
	log_info("received %s: stopping; deliveries in flight are released for the next dispatcher",
		 sig == SIGINT ? "SIGINT" : "SIGTERM");
	atomic_store(&stop, true);
	dispatch_threads_join(t);
	api_server_stop(metrics);
	return 0;
}

static const char dispatch_webhooks_help[] =
	"usage: paywatch webhooks list -c FILE [--merchant M] [--status failed|pending|delivered] [--since TIME]\n"
	"                              [--json]\n"
	"       paywatch webhooks redeliver -c FILE EVENT_ID...\n"
	"       paywatch webhooks redeliver -c FILE --failed [--merchant M]\n"
	"       paywatch webhooks test -c FILE --merchant M\n"
	"\n"
	"list: deliveries, newest first (event id, type, merchant, endpoint host, status,\n"
	"      attempts, last HTTP status or error, next attempt). TIME is anything\n"
	"      Postgres reads as a timestamptz (\"2026-11-22 10:00Z\", \"today\"). At most\n"
	"      1,000. --json prints one object: {\"data\": [...], \"limit\": 1000, \"more\":\n"
	"      true when the limit was reached}, each delivery with event_id, type,\n"
	"      merchant_id, endpoint_id, endpoint_url, status, attempts, last_status,\n"
	"      last_error, next_attempt_at (RFC 3339 UTC), endpoint_disabled_reason\n"
	"      (null where none).\n"
	"redeliver: new attempts of the same event ids (receivers see the same\n"
	"      webhook-id); --failed takes every failed delivery.\n"
	"test: sends a signed `ping` event to each endpoint of merchant M, the config's\n"
	"      and the registry's (opened with PAYWATCH_SECRET_KEY), and prints each\n"
	"      answer; exit 1 when one is not a 2xx or an endpoint cannot be opened.\n";

#define WEBHOOKS_LIST_MAX 1000

/* A string member, or null when empty. false when out of memory. */
static bool add_text_or_null(cJSON *o, const char *name, const char *v)
{
	return (*v ? cJSON_AddStringToObject(o, name, v) : cJSON_AddNullToObject(o, name)) != NULL;
}

/* The deliveries as one JSON object on stdout (the help gives its
 * shape). 0, or 1 when out of memory (said on stderr). */
static int webhooks_list_json(const webhook_delivery_view *rows, size_t n)
{
	cJSON *o = cJSON_CreateObject(), *data = o ? cJSON_AddArrayToObject(o, "data") : NULL;
	bool ok = data != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		const webhook_delivery_view *v = &rows[i];
		cJSON *e = cJSON_CreateObject();
		char next[40] = "";
		if (v->next_attempt[0]) { /* "YYYY-MM-DD HH:MM:SS" as RFC 3339 */
			snprintf(next, sizeof(next), "%.10sT%.8sZ", v->next_attempt,
				 strlen(v->next_attempt) > 11 ? v->next_attempt + 11 : "");
		}
		uint64_t http = 0;
		ok = e && cJSON_AddItemToArray(data, e) && cJSON_AddStringToObject(e, "event_id", v->event_id) &&
		     cJSON_AddStringToObject(e, "type", v->type) &&
		     cJSON_AddStringToObject(e, "merchant_id", v->merchant_id) &&
		     add_text_or_null(e, "endpoint_id", v->endpoint_id) &&
		     cJSON_AddStringToObject(e, "endpoint_url", v->endpoint_url) &&
		     cJSON_AddStringToObject(e, "status", v->status) &&
		     cJSON_AddNumberToObject(e, "attempts", v->attempts) &&
		     (parse_u64(v->last_status, 999, &http) == 0
			      ? cJSON_AddNumberToObject(e, "last_status", (double)http)
			      : cJSON_AddNullToObject(e, "last_status")) &&
		     add_text_or_null(e, "last_error", v->last_error) && add_text_or_null(e, "next_attempt_at", next) &&
		     add_text_or_null(e, "endpoint_disabled_reason",
				      v->endpoint_disabled ? (*v->disabled_reason ? v->disabled_reason : "disabled")
							   : "");
	}
	ok = ok && cJSON_AddNumberToObject(o, "limit", WEBHOOKS_LIST_MAX) &&
	     cJSON_AddBoolToObject(o, "more", n >= WEBHOOKS_LIST_MAX);
	char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!text) {
		fprintf(stderr, "paywatch: out of memory\n");
		return 1;
	}
	printf("%s\n", text);
	cJSON_free(text);
	return 0;
}

static int webhooks_list(const pw_config *cfg, const char *merchant, const char *status, const char *since, bool json)
{
	webhook_delivery_view *rows = NULL;
	size_t n = 0;
	char err[600];
	int r = webhook_admin_list(cfg->pg_dsn, merchant, status, since, WEBHOOKS_LIST_MAX, &rows, &n, err,
				   sizeof(err));
	if (r == PW_EINVAL) {
		fprintf(stderr, "paywatch: --since %s: not a time (\"2026-11-22 10:00Z\", \"today\")\n", since);
		return 2;
	}
	if (r < 0) {
		fprintf(stderr, "paywatch: postgres: %s\n", err);
		return 1;
	}
	if (json) {
		r = webhooks_list_json(rows, n);
		free(rows);
		return r;
	}
	printf("%-28s %-18s %-14s %-40s %-9s %8s  %s\n", "EVENT", "TYPE", "MERCHANT", "ENDPOINT", "STATUS", "ATTEMPTS",
	       "LAST RESULT / NEXT ATTEMPT");
	for (size_t i = 0; i < n; i++) {
		const webhook_delivery_view *v = &rows[i];
		char endpoint[440], last[1024];
		snprintf(endpoint, sizeof(endpoint), "%s %s", v->endpoint_id[0] ? v->endpoint_id : "(id unknown)",
			 v->endpoint_url);
		int k = snprintf(last, sizeof(last), "%s%s%s", v->last_status, v->last_error[0] ? " " : "",
				 v->last_error);
		if (v->next_attempt[0] && k >= 0 && (size_t)k < sizeof(last))
			k += snprintf(last + k, sizeof(last) - (size_t)k, "%snext %s", k ? "; " : "", v->next_attempt);
		if (v->endpoint_disabled && k >= 0 && (size_t)k < sizeof(last))
			snprintf(last + k, sizeof(last) - (size_t)k, "%sendpoint disabled: %s", k ? "; " : "",
				 v->disabled_reason);
		printf("%-28s %-18s %-14s %-40s %-9s %8u  %s\n", v->event_id, v->type, v->merchant_id, endpoint,
		       v->status, v->attempts, last);
	}
	fprintf(stderr, "%zu deliver%s%s\n", n, n == 1 ? "y" : "ies",
		n >= WEBHOOKS_LIST_MAX ? " (the newest 1000: narrow with --merchant, --status or --since)" : "");
	free(rows);
	return 0;
}

static int webhooks_redeliver(const pw_config *cfg, const char *const *ids, size_t n_ids, bool failed,
			      const char *merchant)
{
	size_t n = failed ? 1 : n_ids, total = 0;
	size_t *counts = calloc(n + 1, sizeof(*counts));
	char err[600];
	if (!counts)
		return 1;
	int rc = webhook_admin_redeliver(cfg->pg_dsn, failed ? NULL : ids, n, merchant, counts, err, sizeof(err)) < 0;
	if (rc)
		fprintf(stderr, "paywatch: postgres: %s\n", err);
	for (size_t i = 0; i < n; i++) {
		total += counts[i];
		if (!failed && !rc && counts[i] == 0)
			fprintf(stderr, "paywatch: no delivered or failed delivery of event %s\n", ids[i]);
	}
	printf("%zu deliver%s queued again\n", total, total == 1 ? "y" : "ies");
	free(counts);
	return rc;
}

/* A signed ping to one endpoint, its answer printed. 0 on a 2xx, else 1. */
static int ping(const pw_config *cfg, const char *merchant, const char *id, const char *url, const char *const *secrets,
		size_t n_secrets)
{
	char msg_id[64], body[512], ts[32], err[600] = "", shown[300];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(msg_id, sizeof(msg_id), "evt_ping_%lld%06ld", (long long)now.tv_sec, now.tv_nsec / 1000);
	snprintf(body, sizeof(body), "{\"type\":\"ping\",\"timestamp\":\"%s\",\"data\":{\"merchant_id\":\"%s\"}}", ts,
		 merchant);
	long status = 0;
	webhook_endpoint ep = { merchant, id, url, secrets, n_secrets };
	int r = webhook_send_once(&ep, msg_id, body, cfg->webhooks.allow_private_targets, cfg->webhooks.proxy,
				  cfg->webhooks.timeout_ms, &status, err, sizeof(err));
	webhook_url_display(url, shown, sizeof(shown));
	if (r < 0) {
		printf("endpoint %s (%s): no answer: %s\n", id, shown, err);
		return 1;
	}
	printf("endpoint %s (%s): HTTP %ld%s\n", id, shown, status, status >= 200 && status < 300 ? " (ok)" : "");
	return !(status >= 200 && status < 300);
}

/* The registry's endpoints of merchant, pinged; *ret_n counts them (those
 * that did not open too). 0; 1 (a ping was not a 2xx, or an endpoint did
 * not open: err says how many); -1 (the registry could not be read: err
 * says why). */
static int ping_registry(const pw_config *cfg, const char *merchant, size_t *ret_n, char *err, size_t errlen)
{
	PGconn *pg = NULL;
	secretbox_keys keys = { 0 };
	registry_opened *eps = NULL;
	size_t n = 0, unopened = 0;
	*ret_n = 0;
	int r = pg_open_migrated(cfg->pg_dsn, "paywatch cli", &pg, err, errlen);
	if (r == 0)
		r = secretbox_keys_from_env(&keys, err, errlen);
	if (r == 0)
		r = registry_endpoints_open(pg, &keys, merchant, &eps, &n, &unopened, err, errlen);
	PQfinish(pg);
	OPENSSL_cleanse(&keys, sizeof(keys));
	if (r < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *secrets[1] = { eps[i].secret };
		rc |= ping(cfg, merchant, eps[i].id, eps[i].url, secrets, 1);
	}
	registry_opened_free(eps, n);
	if (unopened)
		snprintf(err, errlen, "%zu endpoint(s) of the registry not opened: see above", unopened);
	*ret_n = n + unopened;
	return rc || unopened;
}

/* webhooks test: a signed ping to each endpoint of merchant, the config's
 * (no Postgres needed) and the registry's (opened with
 * PAYWATCH_SECRET_KEY). */
static int webhooks_test(const pw_config *cfg, const char *merchant)
{
	if (!config_valid_id(merchant)) {
		fprintf(stderr, "paywatch: --merchant %s: not a merchant id (1..63 of A-Z a-z 0-9 . _ -)\n", merchant);
		return 2;
	}
	const cfg_merchant *m = NULL;
	for (size_t i = 0; i < cfg->n_merchants; i++)
		if (strcmp(cfg->merchants[i].id, merchant) == 0)
			m = &cfg->merchants[i];
	size_t n_config = m ? m->n_endpoints : 0, n_registry = 0;
	int rc = 0;
	for (size_t i = 0; i < n_config; i++) {
		const cfg_endpoint *e = &m->endpoints[i];
		rc |= ping(cfg, m->id, e->id, e->url, (const char *const *)e->secrets, e->n_secrets);
	}
	char err[600] = "";
	int rr = ping_registry(cfg, merchant, &n_registry, err, sizeof(err));
	if (*err)
		fprintf(stderr, "paywatch: the registry's endpoints of %s: %s\n", merchant, err);
	if (rr < 0) /* unread, said above: a failure unless the config's endpoints were pinged */
		return n_config ? rc : 1;
	if (!n_config && !n_registry) {
		fprintf(stderr, "paywatch: merchant %s has no webhook endpoint (in the config or the registry)\n",
			merchant);
		return 1;
	}
	return rc | rr;
}

int dispatch_webhooks_cli(int argc, char **argv)
{
	const char *path = NULL, *merchant = NULL, *status = NULL, *since = NULL;
	bool failed = false, help = false, json = false;
	const char **pos = calloc((size_t)argc + 1, sizeof(char *)); /* the subcommand, then event ids */
	size_t n_pos = 0;
	if (!pos)
		return 1;
	const cli_option opts[] = {
		{ "-c", &path, NULL },         { "--config", &path, NULL }, { "--merchant", &merchant, NULL },
		{ "--status", &status, NULL }, { "--since", &since, NULL }, { "--failed", NULL, &failed },
		{ "--json", NULL, &json },     { NULL, NULL, NULL }
	};
	int rc = cli_parse(argc, argv, opts, pos, (size_t)argc, &n_pos, &help, dispatch_webhooks_help);
	const char *sub = n_pos ? pos[0] : NULL;
	const char *const *ids = pos + 1;
	size_t n_ids = n_pos ? n_pos - 1 : 0;
	if (rc || help)
		goto out;
	rc = 2;
	if (!sub) {
		rc = cli_usage("%s", "missing list, redeliver or test", dispatch_webhooks_help);
		goto out;
	}
	if (!path) {
		rc = cli_usage("%s", "missing -c FILE", dispatch_webhooks_help);
		goto out;
	}
	if (since && strlen(since) > 64) {
		fprintf(stderr, "paywatch: --since: a time of at most 64 bytes\n");
		goto out;
	}
	if (status && strcmp(status, "failed") && strcmp(status, "pending") && strcmp(status, "delivered")) {
		fprintf(stderr, "paywatch: --status must be failed, pending or delivered\n");
		goto out;
	}
	bool list = strcmp(sub, "list") == 0 && !n_ids && !failed;
	bool redeliver = strcmp(sub, "redeliver") == 0 && (n_ids > 0) != failed && !json;
	bool test = strcmp(sub, "test") == 0 && merchant && !n_ids && !json;
	if (!list && !redeliver && !test) {
		rc = cli_usage("%s",
			       "list takes no ids; redeliver takes event ids or --failed; test takes --merchant;"
			       " --json is list's",
			       dispatch_webhooks_help);
		goto out;
	}
	pw_config *cfg;
	if ((rc = cli_load_config(path, &cfg)) != 0)
		goto out;
	rc = list        ? webhooks_list(cfg, merchant, status, since, json)
	     : redeliver ? webhooks_redeliver(cfg, ids, n_ids, failed, merchant)
			 : webhooks_test(cfg, merchant);
	config_destroy(cfg);
out:
	free(pos);
	return rc;
}
