/* quarantine.c: `paywatch quarantine list|retry`: the outbox entries the
 * sink could not write (Postgres refused them for a data reason, or they
 * fail paywatch's own bounds) and kept aside in Postgres so that every
 * other payment went on. Lists them, and writes them again once the cause
 * is fixed (a constraint relaxed, a row repaired). */
#include "quarantine.h"
#include "cli_common.h"
#include "config.h"
#include "parse.h"
#include "postgres.h"
#include "pw_error.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char quarantine_help[] =
	"usage: paywatch quarantine list -c FILE [--chain NAME] [--limit N] [--json]\n"
	"       paywatch quarantine retry -c FILE (ID... | --all) [--chain NAME] [--json]\n"
	"\n"
	"An outbox entry Postgres refuses for a data reason (SQLSTATE class 21, 22 or\n"
	"23, e.g. a constraint added by hand) or that fails paywatch's own bounds is\n"
	"kept in the table payment_quarantine instead of holding up every payment\n"
	"behind it. Nothing is dropped; `paywatch status` counts the entries.\n"
	"\n"
	"list: the entries, oldest first (id, when, chain, block, log index, kind,\n"
	"      merchant, amount in base units, retries, the reason). --limit: at most\n"
	"      N (default 1000).\n"
	"retry: write the given entries (or --all, optionally of one chain) again, in\n"
	"      the order they were quarantined, as the sink writes any entry (with\n"
	"      their webhook events). An entry written leaves the quarantine; one\n"
	"      refused again stays, with its new reason.\n"
	"\n"
	"--json prints one JSON object on stdout. Exit codes: 0; 1 when Postgres\n"
	"cannot be read or written, or (retry) an entry was refused again; 2 bad\n"
	"arguments or config.\n";

static cJSON *entry_json(const pg_quarantined *q)
{
	uint64_t u = 0;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", (double)q->id);
	cJSON_AddStringToObject(o, "quarantined_at", q->quarantined_at);
	cJSON_AddStringToObject(o, "chain", q->chain);
	if (parse_u64(q->block_number, UINT64_MAX, &u) == 0)
		cJSON_AddNumberToObject(o, "block_number", (double)u);
	else
		cJSON_AddStringToObject(o, "block_number", q->block_number);
	cJSON_AddStringToObject(o, "block_hash", q->block_hash);
	cJSON_AddStringToObject(o, "tx_hash", q->tx_hash);
	if (parse_u64(q->log_index, UINT64_MAX, &u) == 0)
		cJSON_AddNumberToObject(o, "log_index", (double)u);
	cJSON_AddStringToObject(o, "kind", q->kind);
	cJSON_AddStringToObject(o, "merchant_id", q->merchant_id);
	cJSON_AddStringToObject(o, "amount_raw", q->amount_raw); /* a string: uint256 */
	cJSON_AddStringToObject(o, "reason", q->reason);
	if (q->sqlstate[0])
		cJSON_AddStringToObject(o, "sqlstate", q->sqlstate);
	else
		cJSON_AddNullToObject(o, "sqlstate");
	cJSON_AddNumberToObject(o, "retries", q->retries);
	if (q->last_retry_at[0])
		cJSON_AddStringToObject(o, "last_retry_at", q->last_retry_at);
	else
		cJSON_AddNullToObject(o, "last_retry_at");
	return o;
}

static void print_json(cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);
	if (text)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(o);
}

static int do_list(pg_sink *pg, const char *chain, size_t limit, bool json)
{
	pg_quarantined *rows = NULL;
	size_t n = 0;
	if (pg_sink_quarantine_list(pg, chain, limit, &rows, &n) < 0) {
		fprintf(stderr, "paywatch: postgres: %s\n", pg_sink_error(pg));
		return 1;
	}
	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "count", (double)n);
		cJSON *arr = cJSON_AddArrayToObject(o, "entries");
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, entry_json(&rows[i]));
		print_json(o);
	} else {
		if (n)
			printf("%-6s %-20s %-12s %10s %6s %-9s %-14s %24s %7s  %s\n", "ID", "QUARANTINED", "CHAIN",
			       "BLOCK", "LOG", "KIND", "MERCHANT", "AMOUNT (BASE UNITS)", "RETRIES", "REASON");
		for (size_t i = 0; i < n; i++) {
			const pg_quarantined *q = &rows[i];
			printf("%-6llu %-20s %-12s %10s %6s %-9s %-14s %24s %7u  %s\n", (unsigned long long)q->id,
			       q->quarantined_at, q->chain, q->block_number, q->log_index, q->kind, q->merchant_id,
			       q->amount_raw, q->retries, q->reason);
		}
		fprintf(stderr, "%zu quarantined entr%s%s\n", n, n == 1 ? "y" : "ies",
			n == limit ? " (the limit: more may be there)" : "");
	}
	free(rows);
	return 0;
}

static int do_retry(pg_sink *pg, const uint64_t *ids, size_t n_ids, bool all, const char *chain, bool json)
{
	size_t written = 0, refused = 0;
	int r = 0;
	for (size_t i = 0; r == 0 && i < (all ? 1 : n_ids); i++) {
		size_t w = 0, f = 0;
		r = pg_sink_quarantine_retry(pg, all ? 0 : ids[i], chain, &w, &f);
		if (r == 0 && !all && w + f == 0)
			fprintf(stderr, "paywatch: no quarantined entry %llu\n", (unsigned long long)ids[i]);
		written += w;
		refused += f;
	}
	if (r < 0)
		fprintf(stderr, "paywatch: postgres: %s\n", pg_sink_error(pg));
	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "outcome", r < 0 ? "failed" : refused ? "refused" : "written");
		cJSON_AddNumberToObject(o, "written", (double)written);
		cJSON_AddNumberToObject(o, "refused", (double)refused);
		print_json(o);
	} else {
		printf("%zu entr%s written, %zu refused again%s\n", written, written == 1 ? "y" : "ies", refused,
		       refused ? " (`paywatch quarantine list` shows why)" : "");
	}
	return r < 0 || refused ? 1 : 0;
}

int quarantine_cli(int argc, char **argv)
{
	const char *path = NULL, *chain = NULL, *limit_s = NULL;
	bool json = false, all = false, help = false;
	uint64_t limit = 1000;
	const char **pos = calloc((size_t)argc + 1, sizeof(*pos)); /* the subcommand, then entry ids */
	uint64_t *ids = calloc((size_t)argc + 1, sizeof(*ids));
	size_t n_pos = 0, n_ids = 0;
	int rc = 2;
	if (!pos || !ids) {
		rc = 1;
		goto out;
	}
	const cli_option opts[] = { { "-c", &path, NULL },       { "--config", &path, NULL },
				    { "--chain", &chain, NULL }, { "--limit", &limit_s, NULL },
				    { "--json", NULL, &json },   { "--all", NULL, &all },
				    { NULL, NULL, NULL } };
	if ((rc = cli_parse(argc, argv, opts, pos, (size_t)argc, &n_pos, &help, quarantine_help)) != 0 || help)
		goto out;
	rc = 2;
	if (limit_s && (parse_u64(limit_s, 1000000, &limit) < 0 || limit == 0)) {
		rc = cli_usage("--limit must be a number 1..1000000, not %s", limit_s, quarantine_help);
		goto out;
	}
	for (size_t k = 1; k < n_pos; k++) {
		if (parse_u64(pos[k], INT64_MAX, &ids[n_ids]) < 0 || ids[n_ids] == 0) {
			rc = cli_usage("not an entry id: %s", pos[k], quarantine_help);
			goto out;
		}
		n_ids++;
	}
	const char *sub = n_pos ? pos[0] : NULL;
	if (!sub || (strcmp(sub, "list") != 0 && strcmp(sub, "retry") != 0)) {
		rc = cli_usage("%s", sub ? "unknown subcommand (list or retry)" : "missing subcommand (list or retry)",
			       quarantine_help);
		goto out;
	}
	if (!path) {
		rc = cli_usage("%s", "missing -c FILE", quarantine_help);
		goto out;
	}
	bool retry = strcmp(sub, "retry") == 0;
	if (retry && (n_ids > 0) == all) {
		rc = cli_usage("%s", "retry takes entry ids or --all", quarantine_help);
		goto out;
	}
	if (!retry && (n_ids || all)) {
		rc = cli_usage("%s", "list takes no ids", quarantine_help);
		goto out;
	}
	pw_config *cfg;
	char err[1024];
	if ((rc = cli_load_config(path, &cfg)) != 0)
		goto out;
	pg_sink *pg = NULL;
	int r = pg_sink_connect_migrated(cfg->pg_dsn, &pg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "paywatch: postgres: %s%s\n", r == PW_ESCHEMA ? "" : "cannot connect: ", err);
		rc = 1;
	} else {
		rc = retry ? do_retry(pg, ids, n_ids, all, chain, json) : do_list(pg, chain, (size_t)limit, json);
	}
	pg_sink_close(pg);
	config_destroy(cfg);
out:
	free(pos);
	free(ids);
	return rc;
}
