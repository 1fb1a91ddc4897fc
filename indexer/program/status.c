/* status.c: `paywatch status`. Chain figures come from the RocksDB that
 * `paywatch run` writes (opened read-only: a consistent view as of the
 * open, taken beside the running writer) and the state record run keeps per
 * chain (head, finalized, endpoint, last reorg); webhook figures come from
 * Postgres. */
#include "status.h"
#include "chain_report.h"
#include "cli_common.h"
#include "clock.h"
#include "config.h"
#include "parse.h"
#include "postgres.h"
#include "pw_error.h"
#include "store.h"
#include "webhook.h"
#include "webhook_admin.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char status_help[] =
	"usage: paywatch status -c FILE [--json]\n"
	"\n"
	"Per chain (from data_dir's RocksDB, read-only, so `paywatch run` may be running):\n"
	"  node head and its time, finalized block (finality mode), checkpoint (last block\n"
	"  processed), confirmed height (payments up to it are confirmed), lag behind the\n"
	"  head in blocks and seconds, pending payments, outbox depth and the age of its\n"
	"  oldest entry (payments not yet in Postgres), entries in the quarantine (refused\n"
	"  by Postgres, kept aside: `paywatch quarantine`), last reorg (depth, time), the\n"
	"  endpoint in use, and how long ago `paywatch run` last recorded any of it.\n"
	"Per merchant webhook endpoint (from Postgres): deliveries due now, pending,\n"
	"failed for good, and the last error. Endpoints are shown by host only (paths\n"
	"may carry tokens).\n"
	"\n"
	"--json prints one JSON object on stdout (unknown values are null).\n"
	"Exit codes: 0, 1 when RocksDB or Postgres could not be read (the rest is still\n"
	"printed), 2 bad arguments or config.\n";

/* The chain's quarantine line (from Postgres), when Postgres answered. */
static void quarantine_text(const chain_report *cs)
{
	if (cs->quarantine_known && cs->quarantined)
		printf("  quarantine         %llu entr%s Postgres refused (`paywatch quarantine list`)\n",
		       (unsigned long long)cs->quarantined, cs->quarantined == 1 ? "y" : "ies");
	else if (cs->quarantine_known)
		printf("  quarantine         empty\n");
}

static void chain_text(const chain_report *cs, int64_t now_ms)
{
	chain_figures f = chain_report_figures(cs, now_ms);
	char buf[64];
	printf("chain %s (%s, chain id %llu, JSON-RPC over %s)\n", cs->c->name, cs->c->family->kind,
	       (unsigned long long)cs->c->chain_id, cs->c->transport == CHAIN_TRANSPORT_HTTP ? "HTTP" : "websocket");
	if (cs->error[0])
		printf("  error              %s\n", cs->error);
	if (cs->unread) { /* no figure is known: none is printed as if it were */
		printf("  figures            unknown: data_dir's RocksDB could not be read (why is above)\n");
		quarantine_text(cs);
		return;
	}
	if (!cs->have_state) {
		printf("  run state          none recorded (`paywatch run` has not run with this version)\n");
	} else {
		report_iso_time(cs->st.updated_ms, buf, sizeof(buf));
		printf("  endpoint in use    %s\n", cs->st.endpoint[0] ? cs->st.endpoint : "none (disconnected)");
		printf("  recorded           %s (%.1f s ago)\n", buf, f.state_age_s);
	}
	if (f.head_known) {
		if (cs->st.head_time >= 0)
			report_iso_time(cs->st.head_time * 1000, buf, sizeof(buf));
		printf("  node head          %llu%s%s%s\n", (unsigned long long)cs->st.head,
		       cs->st.head_time >= 0 ? " (" : "", cs->st.head_time >= 0 ? buf : "",
		       cs->st.head_time >= 0 ? ")" : "");
	} else {
		printf("  node head          unknown\n");
	}
	if (cs->c->finality != CHAIN_FINALITY_CONFIRMATIONS) {
		if (cs->have_state && cs->st.finalized >= 0)
			printf("  %-18s %lld\n", chain_finality_tag(cs->c->finality), (long long)cs->st.finalized);
		else
			printf("  %-18s unknown\n", chain_finality_tag(cs->c->finality));
	}
	if (cs->indexed)
		printf("  checkpoint         %llu\n", (unsigned long long)cs->checkpoint);
	else if (cs->c->start_at_head)
		printf("  checkpoint         none (not indexed yet; starts at the node's head)\n");
	else
		printf("  checkpoint         none (not indexed yet; starts at %llu)\n",
		       (unsigned long long)cs->c->start_block);
	if (cs->have_confirmed)
		printf("  confirmed height   %llu\n", (unsigned long long)cs->confirmed_height);
	else
		printf("  confirmed height   none\n");
	if (f.lag_known && f.lag_s_known)
		printf("  lag                %lld blocks, %lld s\n", (long long)f.lag_blocks, (long long)f.lag_s);
	else if (f.lag_known)
		printf("  lag                %lld blocks\n", (long long)f.lag_blocks);
	printf("  pending payments   %llu\n", (unsigned long long)cs->pending);
	if (cs->outbox_depth)
		printf("  outbox             %llu payment(s) not yet in Postgres, oldest %.1f s\n",
		       (unsigned long long)cs->outbox_depth, (double)(now_ms - cs->outbox_oldest_ms) / 1000.0);
	else
		printf("  outbox             empty\n");
	quarantine_text(cs);
	if (cs->have_state && cs->st.last_reorg_ms > 0) {
		report_iso_time(cs->st.last_reorg_ms, buf, sizeof(buf));
		printf("  last reorg         depth %llu at %s (%llu since run started)\n",
		       (unsigned long long)cs->st.last_reorg_depth, buf, (unsigned long long)cs->st.reorgs);
	} else {
		printf("  last reorg         none since run started\n");
	}
}

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

static int status_run(const pw_config *cfg, bool json)
{
	int rc = 0;
	int64_t now_ms = pw_wall_ms();
	char store_err[512] = "";
	store *s = NULL;
	struct stat sb;
	bool no_db = stat(cfg->data_dir, &sb) != 0 && errno == ENOENT;
	if (no_db)
		snprintf(store_err, sizeof(store_err), "no RocksDB at %s: `paywatch run` has not started yet",
			 cfg->data_dir);
	else if (store_open(cfg->data_dir, true, &s, store_err, sizeof(store_err)) < 0)
		rc = 1;
	chain_report *cs = calloc(cfg->n_chains, sizeof(*cs));
	if (!cs) {
		store_close(s);
		return 1;
	}
	if (s)
		chain_report_read_all(s, cfg, cs);
	for (size_t i = 0; i < cfg->n_chains; i++) {
		if (s) {
			rc |= cs[i].error[0] != 0;
		} else {
			cs[i].c = &cfg->chains[i];
			cs[i].checkpoint_time = -1;
			cs[i].unread = !no_db; /* no data_dir: nothing indexed yet, which is known */
		}
	}
	store_close(s);
	webhook_endpoint_view *eps = NULL;
	size_t n_eps = 0;
	char pg_err[700] = "", why[600];
	if (webhook_admin_endpoints(cfg->pg_dsn, &eps, &n_eps, why, sizeof(why)) < 0) {
		snprintf(pg_err, sizeof(pg_err), "postgres: %s", why);
		rc = 1;
	}
	trim(pg_err);
	/* the quarantine: entries Postgres refused, kept aside */
	uint64_t q_total = 0;
	char q_oldest[32] = "";
	bool q_known = false;
	pg_sink *pg = NULL;
	char q_err[512];
	if (!pg_err[0] && pg_sink_connect(cfg->pg_dsn, &pg, q_err, sizeof(q_err)) == 0) {
		q_known = pg_sink_quarantine_summary(pg, NULL, &q_total, q_oldest, sizeof(q_oldest)) == 0;
		for (size_t i = 0; q_known && i < cfg->n_chains; i++) {
			char unused[32];
			cs[i].quarantine_known = pg_sink_quarantine_summary(pg, cfg->chains[i].name, &cs[i].quarantined,
									    unused, sizeof(unused)) == 0;
		}
		if (!q_known) {
			snprintf(pg_err, sizeof(pg_err), "postgres: %s", pg_sink_error(pg));
			rc = 1;
		}
	}
	pg_sink_close(pg);

	if (json) {
		cJSON *o = cJSON_CreateObject();
		report_json_time(o, "at", true, now_ms);
		cJSON *chains = cJSON_AddArrayToObject(o, "chains");
		for (size_t i = 0; i < cfg->n_chains; i++)
			cJSON_AddItemToArray(chains, chain_report_json(&cs[i], now_ms));
		cJSON *arr = cJSON_AddArrayToObject(o, "webhook_endpoints");
		for (size_t i = 0; i < n_eps; i++) {
			const webhook_endpoint_view *v = &eps[i];
			char host[256];
			webhook_url_host(v->url, host, sizeof(host));
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "merchant_id", v->merchant_id);
			cJSON_AddStringToObject(e, "id", v->id);
			cJSON_AddStringToObject(e, "url", v->url); /* scheme://host:port: Postgres holds no more */
			cJSON_AddStringToObject(e, "host", host);
			cJSON_AddBoolToObject(e, "active", v->active);
			cJSON_AddBoolToObject(e, "disabled", v->disabled);
			if (v->disabled)
				cJSON_AddStringToObject(e, "disabled_reason", v->disabled_reason);
			cJSON_AddNumberToObject(e, "due", (double)v->due);
			cJSON_AddNumberToObject(e, "pending", (double)v->pending);
			cJSON_AddNumberToObject(e, "failed", (double)v->failed);
			cJSON_AddNumberToObject(e, "delivered", (double)v->delivered);
			if (!v->has_error) {
				cJSON_AddNullToObject(e, "last_error");
				cJSON_AddNullToObject(e, "last_error_at");
			} else {
				cJSON_AddStringToObject(e, "last_error", v->last_error);
				cJSON_AddStringToObject(e, "last_error_at", v->last_error_at);
			}
			cJSON_AddItemToArray(arr, e);
		}
		cJSON *qo = cJSON_AddObjectToObject(o, "quarantine");
		report_json_num(qo, "count", q_known, (double)q_total);
		if (q_oldest[0])
			cJSON_AddStringToObject(qo, "oldest_at", q_oldest);
		else
			cJSON_AddNullToObject(qo, "oldest_at");
		cJSON *errs = cJSON_AddArrayToObject(o, "errors");
		if (store_err[0])
			cJSON_AddItemToArray(errs, cJSON_CreateString(store_err));
		if (pg_err[0])
			cJSON_AddItemToArray(errs, cJSON_CreateString(pg_err));
		char *text = cJSON_PrintUnformatted(o);
		if (text)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
	} else {
		if (store_err[0]) /* each reason names RocksDB or data_dir itself */
			printf("%s\n", store_err);
		for (size_t i = 0; i < cfg->n_chains; i++)
			chain_text(&cs[i], now_ms);
		if (q_known && q_total)
			printf("quarantine: %llu entr%s Postgres refused, the oldest at %s: see `paywatch quarantine list`\n",
			       (unsigned long long)q_total, q_total == 1 ? "y" : "ies", q_oldest);
		printf("webhook endpoints\n");
		if (pg_err[0])
			printf("  %s\n", pg_err);
		else if (n_eps == 0)
			printf("  none\n");
		else
			printf("  %-16s %-12s %-28s %-9s %6s %8s %7s %10s  %s\n", "MERCHANT", "ENDPOINT", "HOST",
			       "STATE", "DUE", "PENDING", "FAILED", "DELIVERED", "LAST ERROR");
		for (size_t i = 0; i < n_eps; i++) {
			const webhook_endpoint_view *v = &eps[i];
			char host[256], last[700];
			webhook_url_host(v->url, host, sizeof(host));
			const char *state = v->disabled ? "disabled" : v->active ? "active" : "removed";
			if (!v->has_error)
				snprintf(last, sizeof(last), "-");
			else
				snprintf(last, sizeof(last), "%s (%s)", v->last_error, v->last_error_at);
			printf("  %-16s %-12s %-28s %-9s %6llu %8llu %7llu %10llu  %s\n", v->merchant_id, v->id, host,
			       state, (unsigned long long)v->due, (unsigned long long)v->pending,
			       (unsigned long long)v->failed, (unsigned long long)v->delivered, last);
		}
	}
	free(eps);
	free(cs);
	return rc;
}

int status_cli(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false, help = false;
	const cli_option opts[] = {
		{ "-c", &path, NULL }, { "--config", &path, NULL }, { "--json", NULL, &json }, { NULL, NULL, NULL }
	};
	size_t n;
	int rc = cli_parse(argc, argv, opts, NULL, 0, &n, &help, status_help);
	if (rc || help)
		return rc;
	if (!path)
		return cli_usage("%s", "missing -c FILE", status_help);
	pw_config *cfg;
	if ((rc = cli_load_config(path, &cfg)) != 0)
		return rc;
	rc = status_run(cfg, json);
	config_destroy(cfg);
	return rc;
}
