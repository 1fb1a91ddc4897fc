/* invoice_cli.c: `paywatch invoices ...` (invoice_cli.h). */
#include "invoice_cli.h"
#include "cli_common.h"
#include "config.h"
#include "invoice_pg.h"
#include "invoices.h"
#include "json_check.h"
#include "parse.h"
#include "pg_conn.h"
#include "pw_error.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char invoices_help[] =
	"usage: paywatch invoices create --merchant M --chain C --token SYMBOL --amount A --reference R\n"
	"                                [--expires-in SECONDS] [--metadata JSON] -c FILE [--json]\n"
	"       paywatch invoices show ID -c FILE [--json]\n"
	"       paywatch invoices list [--merchant M] [--status S] [--reference R] -c FILE [--json]\n"
	"       paywatch invoices cancel ID -c FILE [--json]\n"
	"\n"
	"Invoices: an order of a merchant with its own deposit address (the next index of\n"
	"the merchant's xpub on the chain, never handed out before), an exact amount in\n"
	"token units (12.5), an expiry (default 900 s) and the merchant's reference (unique\n"
	"per merchant: the same values again answer the same invoice; other values, exit\n"
	"1). EVM invoices carry an EIP-681 payment URI. `cancel`: a new invoice only; it\n"
	"writes the invoice.cancelled event (the feed, and the webhooks that take it).\n"
	"list prints the newest 100 (--json: {\"data\": [INVOICE, ...], \"next_cursor\"}).\n";

typedef struct args {
	const char *sub, *config, *merchant, *chain, *token, *amount, *reference, *expires_in, *metadata, *status, *id;
	bool json, help;
} args;

static int parse(int argc, char **argv, args *a)
{
	memset(a, 0, sizeof(*a));
	const cli_option opts[] = { { "-c", &a->config, NULL },
				    { "--config", &a->config, NULL },
				    { "--merchant", &a->merchant, NULL },
				    { "--chain", &a->chain, NULL },
				    { "--token", &a->token, NULL },
				    { "--amount", &a->amount, NULL },
				    { "--reference", &a->reference, NULL },
				    { "--expires-in", &a->expires_in, NULL },
				    { "--metadata", &a->metadata, NULL },
				    { "--status", &a->status, NULL },
				    { "--json", NULL, &a->json },
				    { NULL, NULL, NULL } };
	const char *pos[2] = { NULL, NULL };
	size_t n = 0;
	int rc = cli_parse(argc, argv, opts, pos, 2, &n, &a->help, invoices_help);
	a->sub = pos[0];
	a->id = pos[1];
	if (rc || a->help)
		return rc;
	if (!a->sub)
		return cli_usage("%s", "missing what to do (see the usage)", invoices_help);
	return 0;
}

/* One invoice as a few lines. */
static void show(const char *json)
{
	cJSON *o = cJSON_Parse(json);
	const char *keys[] = { "id",          "merchant_id", "reference", "status",      "chain",     "amount",
			       "amount_paid", "address",     "path",      "payment_uri", "expires_at" };
	for (size_t k = 0; o && k < sizeof(keys) / sizeof(keys[0]); k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[k]);
		if (cJSON_IsString(v))
			printf("%-12s %s\n", keys[k], v->valuestring);
	}
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "token"), "symbol");
	if (cJSON_IsString(t))
		printf("%-12s %s\n", "token", t->valuestring);
	cJSON_Delete(o);
}

static int failed(const char *what, int r, const char *err)
{
	fprintf(stderr, "paywatch: invoices %s: %s\n", what,
		*err                ? err
		: r == PW_ENOTFOUND ? "no such invoice"
				    : pw_strerror(r));
	return r == PW_EINVAL ? 2 : 1;
}

static int run(const pw_config *cfg, PGconn *c, const args *a)
{
	char err[512] = "";
	char *json = NULL;
	int r;
	if (strcmp(a->sub, "create") == 0) {
		if (!a->merchant || !a->chain || !a->token || !a->amount || !a->reference)
			return cli_usage("%s", "create needs --merchant, --chain, --token, --amount and --reference",
					 invoices_help);
		/* the request as a JSON object: its text is the idempotency key */
		cJSON *o = cJSON_CreateObject();
		char why[200] = "";
		bool strict =
			!a->metadata || json_check_strict(a->metadata, strlen(a->metadata), why, sizeof(why)) == 0;
		cJSON *meta = a->metadata && strict ? cJSON_Parse(a->metadata) : NULL;
		if (a->metadata && !cJSON_IsObject(meta)) {
			cJSON_Delete(o);
			cJSON_Delete(meta);
			return strict ? cli_usage("%s", "--metadata must be a JSON object", invoices_help)
				      : cli_usage("--metadata: %s", why, invoices_help);
		}
		uint64_t ttl_given = 0; /* bounded to 60..INVOICE_EXPIRES_MAX_S by invoice_create */
		if (a->expires_in && parse_u64(a->expires_in, INT64_MAX, &ttl_given) < 0) {
			cJSON_Delete(o);
			cJSON_Delete(meta);
			return cli_usage("--expires-in %s: not a number of seconds", a->expires_in, invoices_help);
		}
		int64_t ttl = a->expires_in ? (int64_t)ttl_given : -1;
		cJSON_AddStringToObject(o, "merchant_id", a->merchant);
		cJSON_AddStringToObject(o, "chain", a->chain);
		cJSON_AddStringToObject(o, "token", a->token);
		cJSON_AddStringToObject(o, "amount", a->amount);
		cJSON_AddStringToObject(o, "reference", a->reference);
		if (ttl >= 0)
			cJSON_AddNumberToObject(o, "expires_in_s", (double)ttl);
		char *meta_text = meta ? cJSON_PrintUnformatted(meta) : NULL;
		if (meta)
			cJSON_AddItemToObject(o, "metadata", meta);
		char *body = cJSON_PrintUnformatted(o);
		invoice_request q = { .merchant_id = a->merchant,
				      .chain = a->chain,
				      .token = a->token,
				      .amount = a->amount,
				      .reference = a->reference,
				      .metadata = meta_text,
				      .expires_in_s = ttl,
				      .body = body,
				      .body_len = body ? strlen(body) : 0 };
		int created = 0;
		r = body ? invoice_create(c, cfg, &q, &created, &json, err, sizeof(err)) : PW_ENOMEM;
		free(body);
		free(meta_text);
		cJSON_Delete(o);
		if (r < 0)
			return failed("create", r, r == PW_ENOTFOUND ? "no such merchant" : err);
		if (!a->json)
			printf("%s\n",
			       created ? "invoice created" : "the invoice this reference made (the same values)");
	} else if (strcmp(a->sub, "show") == 0 || strcmp(a->sub, "cancel") == 0) {
		if (!a->id)
			return cli_usage("%s needs an invoice ID", a->sub, invoices_help);
		r = strcmp(a->sub, "show") == 0 ? invoice_pg_get(c, a->id, NULL, &json, err, sizeof(err))
						: invoice_pg_cancel(c, a->id, NULL, &json, err, sizeof(err));
		if (r < 0)
			return failed(a->sub, r, err);
	} else if (strcmp(a->sub, "list") == 0) {
		invoice_query q = {
			.merchant_id = a->merchant, .status = a->status, .reference = a->reference, .limit = 100
		};
		if ((r = invoice_pg_list(c, &q, &json, err, sizeof(err))) < 0)
			return failed("list", r, err);
		if (!a->json) {
			cJSON *o = cJSON_Parse(json);
			const cJSON *x;
			printf("%-26s %-16s %-10s %-8s %-14s %s\n", "INVOICE", "MERCHANT", "STATUS", "CHAIN", "AMOUNT",
			       "REFERENCE");
			cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(o, "data")) {
				const char *f[6] = { "id", "merchant_id", "status", "chain", "amount", "reference" };
				const char *v[6];
				for (int k = 0; k < 6; k++) {
					const cJSON *s = cJSON_GetObjectItemCaseSensitive(x, f[k]);
					v[k] = cJSON_IsString(s) ? s->valuestring : "";
				}
				printf("%-26s %-16s %-10s %-8s %-14s %s\n", v[0], v[1], v[2], v[3], v[4], v[5]);
			}
			cJSON_Delete(o);
			free(json);
			return 0;
		}
	} else
		return cli_usage("unknown subcommand: %s", a->sub, invoices_help);
	if (a->json)
		printf("%s\n", json);
	else
		show(json);
	free(json);
	return 0;
}

int invoice_cli(int argc, char **argv)
{
	args a;
	int rc = parse(argc, argv, &a);
	if (rc || a.help)
		return rc;
	if (!a.config)
		return cli_usage("%s", "missing -c FILE", invoices_help);
	pw_config *cfg;
	PGconn *c;
	if ((rc = cli_open(a.config, &cfg, &c)) != 0)
		return rc;
	rc = run(cfg, c, &a);
	PQfinish(c);
	config_destroy(cfg);
	return rc;
}
