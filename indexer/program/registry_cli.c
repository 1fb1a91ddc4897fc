/* registry_cli.c: the registry commands (registry_cli.h). The SQL and the
 * checks are shared with the API (registry_admin.h, registry_pg.h); this
 * file parses arguments and prints. */
#include "registry_cli.h"
#include "cli_common.h"
#include "config.h"
#include "log.h"
#include "parse.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "registry_admin.h"
#include "registry_pg.h"
#include "secretbox.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char merchants_help[] =
	"usage: paywatch merchants list|add ID|remove ID -c FILE [--json]\n"
	"       paywatch merchants add ID --xpub KEY [--path 0/*] [--chains C,...] [--gap-limit 20] -c FILE\n"
	"\n"
	"The merchants of the registry in Postgres. `add` creates one (or brings a\n"
	"removed one back); `remove` deletes its addresses (matching stops at once\n"
	"in every running paywatch) and makes its webhook endpoints inactive; its\n"
	"payments and deliveries stay. A merchant the config names is changed in the\n"
	"config, not here. --json prints {\"data\": [MERCHANT, ...]}.\n"
	"--xpub gives the merchant HD deposit addresses: KEY is a BIP-32 extended\n"
	"public key (xpub/tpub; a private key is refused), --path the template of its\n"
	"addresses below it (one *, no hardened steps), --chains where they are\n"
	"watched (default: every EVM and Tron chain of FILE), --gap-limit how many\n"
	"indexes past the highest one paid are watched. Shown by fingerprint only.\n";

static const char addresses_help[] =
	"usage: paywatch addresses list --merchant M [--chain C] -c FILE [--json]\n"
	"       paywatch addresses add --merchant M --chain C ADDRESS [--from-block N] -c FILE\n"
	"       paywatch addresses remove --merchant M --chain C ADDRESS -c FILE\n"
	"       paywatch addresses rescan --merchant M --chain C [ADDRESS] --from-block N [--hd-from I]\n"
	"                                 [--no-wait] -c FILE [--json]\n"
	"\n"
	"A merchant's deposit addresses per chain. An address added is matched by\n"
	"every running `paywatch run` within a second, without a restart; one removed\n"
	"stops matching at once (its payments stay). ADDRESS is written as in the\n"
	"config (0x... for EVM chains, T... for Tron). With --from-block N its history\n"
	"from block N is scanned too, by a running `paywatch run` of the chain: the\n"
	"payments found get their webhooks and events like any other. An address\n"
	"another merchant owns is refused.\n"
	"`rescan` scans the history of ADDRESS, or of every address of M on C (with\n"
	"--hd-from I: the xpub addresses from index I, such as those a gap limit grew\n"
	"over), from block N up to where `run` matches them live, and waits until\n"
	"done (--no-wait: prints the rescan ids and returns).\n";

static const char endpoints_help[] =
	"usage: paywatch endpoints list --merchant M -c FILE [--json]\n"
	"       paywatch endpoints add --merchant M --url URL [--id ID] [--events T,...] -c FILE [--json]\n"
	"       paywatch endpoints remove --merchant M --id ID -c FILE\n"
	"\n"
	"A merchant's webhook endpoints. `add` generates the signing secret\n"
	"(whsec_ + 32 random bytes, Standard Webhooks) and prints it once: it is\n"
	"stored only sealed (AES-256-GCM under PAYWATCH_SECRET_KEY, which must be\n"
	"set), with the URL (which may carry a token). `remove` stops new\n"
	"deliveries; the history stays.\n"
	"\n"
	"--events T,...  the event types the endpoint takes, of payment.confirmed,\n"
	"                payment.reverted, payment.pending, invoice.processing,\n"
	"                invoice.paid, invoice.expired, invoice.payment_late,\n"
	"                invoice.reverted and invoice.cancelled (default: every\n"
	"                one but payment.pending, which brings payment.dropped:\n"
	"                its follow-up when a reorg takes the payment's block\n"
	"                before it confirmed)\n";

static const char secrets_help[] =
	"usage: paywatch secrets new-key\n"
	"       paywatch secrets rotate-key -c FILE [--json]\n"
	"\n"
	"new-key prints a fresh 32-byte key (64 hex digits) for PAYWATCH_SECRET_KEY.\n"
	"rotate-key re-seals every stored endpoint URL and secret under the key in\n"
	"PAYWATCH_SECRET_KEY; rows sealed under the previous key are opened with\n"
	"PAYWATCH_SECRET_KEY_OLD. Rotate: set the new key as PAYWATCH_SECRET_KEY and\n"
	"the old one as PAYWATCH_SECRET_KEY_OLD everywhere, run rotate-key, then drop\n"
	"PAYWATCH_SECRET_KEY_OLD. Exit 1 if a row could not be opened.\n";

typedef struct args {
	const char *sub, *config, *merchant, *chain, *id, *url, *events, *from_block;
	const char *xpub, *path, *chains, *gap_limit, *hd_from;
	bool no_wait;
	const char *positional[2];
	int n_positional;
	bool json, help;
} args;

static int parse(int argc, char **argv, const char *help, args *a)
{
	memset(a, 0, sizeof(*a));
	const cli_option opts[] = { { "-c", &a->config, NULL },
				    { "--config", &a->config, NULL },
				    { "--merchant", &a->merchant, NULL },
				    { "--chain", &a->chain, NULL },
				    { "--id", &a->id, NULL },
				    { "--url", &a->url, NULL },
				    { "--events", &a->events, NULL },
				    { "--from-block", &a->from_block, NULL },
				    { "--xpub", &a->xpub, NULL },
				    { "--path", &a->path, NULL },
				    { "--chains", &a->chains, NULL },
				    { "--gap-limit", &a->gap_limit, NULL },
				    { "--hd-from", &a->hd_from, NULL },
				    { "--json", NULL, &a->json },
				    { "--no-wait", NULL, &a->no_wait },
				    { NULL, NULL, NULL } };
	const char *pos[3] = { NULL, NULL, NULL };
	size_t n = 0;
	int rc = cli_parse(argc, argv, opts, pos, 3, &n, &a->help, help);
	a->sub = pos[0];
	for (size_t k = 1; k < n; k++)
		a->positional[a->n_positional++] = pos[k];
	if (rc || a->help)
		return rc;
	if (!a->sub)
		return cli_usage("%s", "missing what to do (see the usage)", help);
	return 0;
}

/* Print JSON text as is (--json) or through show(). */
static void print_json_text(const char *json)
{
	fputs(json, stdout);
	fputc('\n', stdout);
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void table_merchants(const cJSON *data)
{
	printf("%-24s %-9s %10s %9s  %s\n", "MERCHANT", "ORIGIN", "ADDRESSES", "WEBHOOKS", "CREATED");
	const cJSON *m;
	cJSON_ArrayForEach (m, data)
		printf("%-24s %-9s %10.0f %9.0f  %s\n", str(m, "id"), str(m, "origin"), num(m, "addresses"),
		       num(m, "webhooks"), str(m, "created_at"));
}

static void table_addresses(const cJSON *data, bool header)
{
	if (header)
		printf("%-12s %-44s %-9s %10s  %s\n", "CHAIN", "ADDRESS", "ORIGIN", "FROM_BLOCK", "CREATED");
	const cJSON *a;
	cJSON_ArrayForEach (a, data) {
		char from[24] = "-";
		if (num(a, "from_block") >= 0)
			snprintf(from, sizeof(from), "%.0f", num(a, "from_block"));
		printf("%-12s %-44s %-9s %10s  %s\n", str(a, "chain"), str(a, "address"), str(a, "origin"), from,
		       str(a, "created_at"));
	}
}

static void table_endpoints(const cJSON *data)
{
	printf("%-20s %-36s %-9s %-9s %s\n", "ENDPOINT", "URL", "STATE", "ORIGIN", "EVENTS");
	const cJSON *e;
	cJSON_ArrayForEach (e, data) {
		char events[256] = ""; /* every type: cfg_events_literal's 256 */
		const cJSON *t;
		size_t len = 0;
		cJSON_ArrayForEach (t, cJSON_GetObjectItemCaseSensitive(e, "events"))
			if (cJSON_IsString(t) && len < sizeof(events))
				len += (size_t)snprintf(events + len, sizeof(events) - len, "%s%s", len ? "," : "",
							t->valuestring);
		const char *state = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "disabled")) ? "disabled"
				    : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "active")) ? "active"
												  : "removed";
		printf("%-20s %-36s %-9s %-9s %s\n", str(e, "id"), str(e, "url"), state, str(e, "origin"), events);
	}
}

/* A failed registry call: the message, and the exit code. */
static int failed(const char *what, int r, const char *err)
{
	if (r == PW_ENOTFOUND && !*err)
		fprintf(stderr, "paywatch: %s: not found\n", what);
	else
		fprintf(stderr, "paywatch: %s: %s\n", what, *err ? err : pw_strerror(r));
	return r == PW_EINVAL || r == PW_ECONFIG ? 2 : 1;
}

/* --xpub KEY [--path T] [--chains a,b] [--gap-limit N] of merchant id. */
static int set_xpub(const pw_config *cfg, PGconn *c, const char *id, const args *a)
{
	char err[512] = "", list[16 * 70] = "";
	const char *chains[CFG_XPUB_CHAINS_MAX];
	size_t n = 0;
	if (a->chains) {
		if (strlen(a->chains) >= sizeof(list))
			return cli_usage("%s", "--chains: too long (at most 16 chain names)", merchants_help);
		snprintf(list, sizeof(list), "%s", a->chains);
		for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (n == CFG_XPUB_CHAINS_MAX)
				return cli_usage("%s", "--chains: at most 16 chain names", merchants_help);
			chains[n++] = t;
		}
	} else
		for (size_t i = 0; i < cfg->n_chains && n < CFG_XPUB_CHAINS_MAX; i++)
			if (cfg->chains[i].family->address_of_key)
				chains[n++] = cfg->chains[i].name;
	uint64_t gap = 20;
	if (a->gap_limit && (parse_u64(a->gap_limit, 1000, &gap) < 0 || gap < 1))
		return cli_usage("--gap-limit %s: must be an integer 1..1000", a->gap_limit, merchants_help);
	int r = registry_xpub_set(c, cfg, id, a->xpub, a->path ? a->path : "0/*", chains, n, (uint32_t)gap, "registry",
				  false, err, sizeof(err));
	if (r == PW_EINVAL)
		return cli_usage("%s", err, merchants_help);
	if (r < 0)
		return failed("merchants add --xpub", r, err);
	return 0;
}

static int merchants(const pw_config *cfg, PGconn *c, const args *a)
{
	char err[512] = "";
	char *json = NULL;
	int r, created = 0;
	if (strcmp(a->sub, "list") == 0) {
		if ((r = registry_pg_merchants(c, NULL, &json, err, sizeof(err))) < 0)
			return failed("merchants list", r, err);
		if (a->json)
			print_json_text(json);
		else {
			cJSON *o = cJSON_Parse(json);
			table_merchants(cJSON_GetObjectItemCaseSensitive(o, "data"));
			cJSON_Delete(o);
		}
		free(json);
		return 0;
	}
	if (a->n_positional != 1)
		return cli_usage("%s needs one merchant ID", a->sub, merchants_help);
	const char *id = a->positional[0];
	if (!config_valid_id(id))
		return cli_usage("%s: not a merchant id (1..63 of A-Z a-z 0-9 . _ -)", id, merchants_help);
	if (strcmp(a->sub, "add") == 0) {
		if ((r = registry_pg_merchant_add(c, id, &created, &json, err, sizeof(err))) < 0)
			return failed("merchants add", r, err);
		if (a->xpub) {
			free(json);
			json = NULL;
			if ((r = set_xpub(cfg, c, id, a)) != 0)
				return r;
			if ((r = registry_pg_merchants(c, id, &json, err, sizeof(err))) < 0)
				return failed("merchants add", r, err);
		}
		if (a->json)
			print_json_text(json);
		else
			printf("merchant %s %s\n", id, created ? "added" : "exists already");
		free(json);
		return 0;
	}
	if (strcmp(a->sub, "remove") == 0) {
		if ((r = registry_pg_merchant_remove(c, id, err, sizeof(err))) < 0)
			return failed("merchants remove", r, err);
		printf("merchant %s removed (its payments stay)\n", id);
		return 0;
	}
	return cli_usage("unknown subcommand: %s", a->sub, merchants_help);
}

/* A block number or index option: 0, or 2 (usage printed). */
static int number_opt(const char *name, const char *v, uint64_t max, uint64_t *ret)
{
	if (parse_u64(v, max, ret) < 0)
		return cli_usage("%s: not a number in range", name, addresses_help);
	return 0;
}

/* addresses rescan: queue, then (unless --no-wait) wait for every rescan. */
static int rescan(const pw_config *cfg, PGconn *c, const args *a)
{
	char err[512] = "", stored[PW_ADDR_TEXT_MAX];
	const char *family;
	uint64_t from = 0, hd = 0;
	int r;
	if (!a->chain || !a->from_block || a->n_positional > 1)
		return cli_usage("%s", "rescan needs --chain C, --from-block N and at most one ADDRESS",
				 addresses_help);
	if ((r = number_opt("--from-block", a->from_block, INT64_MAX, &from)) != 0 ||
	    (a->hd_from && (r = number_opt("--hd-from", a->hd_from, INT32_MAX, &hd)) != 0))
		return r;
	if (a->n_positional &&
	    registry_normalize_address(cfg, a->chain, a->positional[0], stored, &family, err, sizeof(err)) < 0)
		return cli_usage("%s", err, addresses_help);
	if (config_find_chain(cfg, a->chain) < 0)
		return cli_usage("--chain %s: no such chain in the config", a->chain, addresses_help);
	char *ids = NULL;
	if ((r = registry_pg_rescan_add(c, a->merchant, a->chain, a->hd_from ? (long)hd : -1,
					a->n_positional ? stored : NULL, from, &ids, err, sizeof(err))) < 0)
		return failed("addresses rescan", r, err);
	if (strcmp(ids, "[]") == 0) {
		free(ids);
		fprintf(stderr, "paywatch: addresses rescan: merchant %s has no such address on %s\n", a->merchant,
			a->chain);
		return 1;
	}
	/* "[1,2]" -> "{1,2}" */
	ids[0] = '{';
	ids[strlen(ids) - 1] = '}';
	if (a->no_wait) {
		printf("%s%s\n", a->json ? "" : "rescans queued: ", ids);
		free(ids);
		return 0;
	}
	char *json = NULL;
	size_t last_done = (size_t)-1;
	int rc = 0;
	for (;;) {
		free(json);
		json = NULL;
		if ((r = registry_pg_rescans(c, ids, &json, err, sizeof(err))) < 0) {
			rc = failed("addresses rescan", r, err);
			break;
		}
		cJSON *o = cJSON_Parse(json);
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data"), *x;
		size_t n = 0, done = 0, failed_n = 0;
		double found = 0, inserted = 0;
		cJSON_ArrayForEach (x, d) {
			n++;
			const char *st = str(x, "status");
			done += strcmp(st, "pending") != 0;
			failed_n += strcmp(st, "failed") == 0;
			found += num(x, "found") > 0 ? num(x, "found") : 0;
			inserted += num(x, "inserted") > 0 ? num(x, "inserted") : 0;
		}
		cJSON_Delete(o);
		if (done != last_done && !a->json)
			fprintf(stderr, "rescans: %zu of %zu done (%.0f payment(s) found, %.0f inserted)%s\n", done, n,
				found, inserted, done < n ? "; waiting for `paywatch run` of the chain" : "");
		last_done = done;
		if (done == n) {
			if (a->json)
				print_json_text(json);
			rc = failed_n ? 1 : 0;
			break;
		}
		struct timespec t = { 1, 0 };
		nanosleep(&t, NULL);
	}
	free(json);
	free(ids);
	return rc;
}

static int addresses(const pw_config *cfg, PGconn *c, const args *a)
{
	char err[512] = "";
	char *json = NULL;
	int r;
	if (!a->merchant)
		return cli_usage("%s", "missing --merchant M", addresses_help);
	if (strcmp(a->sub, "list") == 0) {
		char *cursor = NULL;
		bool first = true;
		cJSON *all = cJSON_CreateArray();
		do { /* every page */
			if ((r = registry_pg_addresses(c, a->merchant, a->chain, 1000, cursor, &json, err,
						       sizeof(err))) < 0) {
				free(cursor);
				cJSON_Delete(all);
				return failed("addresses list", r, err);
			}
			free(cursor);
			cursor = NULL;
			cJSON *page = cJSON_Parse(json);
			free(json);
			const cJSON *next = cJSON_GetObjectItemCaseSensitive(page, "next_cursor");
			if (cJSON_IsString(next))
				cursor = strdup(next->valuestring);
			cJSON *data = cJSON_GetObjectItemCaseSensitive(page, "data");
			if (a->json) {
				cJSON *item;
				while (data && (item = cJSON_DetachItemFromArray(data, 0)) != NULL)
					cJSON_AddItemToArray(all, item);
			} else
				table_addresses(data, first);
			first = false;
			cJSON_Delete(page);
		} while (cursor);
		if (a->json) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddItemToObject(o, "data", all);
			char *text = cJSON_PrintUnformatted(o);
			if (text)
				print_json_text(text);
			free(text);
			cJSON_Delete(o);
		} else
			cJSON_Delete(all);
		return 0;
	}
	if (strcmp(a->sub, "rescan") == 0)
		return rescan(cfg, c, a);
	if (!a->chain || a->n_positional != 1)
		return cli_usage("%s needs --chain C and one ADDRESS", a->sub, addresses_help);
	char stored[PW_ADDR_TEXT_MAX];
	const char *family;
	if ((r = registry_normalize_address(cfg, a->chain, a->positional[0], stored, &family, err, sizeof(err))) < 0)
		return cli_usage("%s", err, addresses_help);
	if (strcmp(a->sub, "add") == 0) {
		uint64_t from = 0;
		if (a->from_block && (r = number_opt("--from-block", a->from_block, INT64_MAX, &from)) != 0)
			return r;
		registry_address ra = { a->merchant, a->chain, family, stored, a->from_block ? (int64_t)from : -1 };
		int created = 0;
		if ((r = registry_pg_address_add(c, &ra, &created, &json, err, sizeof(err))) < 0)
			return failed("addresses add", r, r == PW_ENOTFOUND ? "no such merchant" : err);
		if (a->json)
			print_json_text(json);
		else
			printf("%s on %s %s for merchant %s%s%s%s\n", stored, a->chain,
			       created ? "added" : "exists already", a->merchant,
			       created && a->from_block ? "; its history from block " : "",
			       created && a->from_block ? a->from_block : "",
			       created && a->from_block ? " is scanned by a running `paywatch run` of the chain" : "");
		free(json);
		return 0;
	}
	if (strcmp(a->sub, "remove") == 0) {
		if ((r = registry_pg_address_remove(c, a->merchant, a->chain, stored, err, sizeof(err))) < 0)
			return failed("addresses remove", r,
				      r == PW_ENOTFOUND ? "the merchant has no such address on that chain" : err);
		printf("%s on %s removed from merchant %s (its payments stay)\n", stored, a->chain, a->merchant);
		return 0;
	}
	return cli_usage("unknown subcommand: %s", a->sub, addresses_help);
}

static int endpoints(PGconn *c, const args *a)
{
	char err[512] = "";
	char *json = NULL;
	int r;
	if (!a->merchant)
		return cli_usage("%s", "missing --merchant M", endpoints_help);
	if (strcmp(a->sub, "list") == 0) {
		if ((r = registry_pg_endpoints(c, a->merchant, &json, err, sizeof(err))) < 0)
			return failed("endpoints list", r, r == PW_ENOTFOUND ? "no such merchant" : err);
		if (a->json)
			print_json_text(json);
		else {
			cJSON *o = cJSON_Parse(json);
			table_endpoints(cJSON_GetObjectItemCaseSensitive(o, "data"));
			cJSON_Delete(o);
		}
		free(json);
		return 0;
	}
	if (strcmp(a->sub, "add") == 0) {
		if (!a->url)
			return cli_usage("%s", "add needs --url URL", endpoints_help);
		const char *types[16];
		size_t n = 0;
		char list[256] = "";
		if (a->events) {
			snprintf(list, sizeof(list), "%s", a->events);
			for (char *save = NULL, *t = strtok_r(list, ",", &save); t && n < 16;
			     t = strtok_r(NULL, ",", &save))
				types[n++] = t;
		}
		char literal[256];
		if (registry_events_literal(types, n, literal, sizeof(literal), err, sizeof(err)) < 0)
			return cli_usage("%s", err, endpoints_help);
		secretbox_keys keys;
		if ((r = secretbox_keys_from_env(&keys, err, sizeof(err))) < 0)
			return failed("endpoints add", r, err);
		r = registry_endpoint_create(c, &keys, a->merchant, a->id, a->url, literal, &json, err, sizeof(err));
		memset(&keys, 0, sizeof(keys));
		if (r < 0)
			return failed("endpoints add", r, r == PW_ENOTFOUND ? "no such merchant" : err);
		cJSON *o = cJSON_Parse(json);
		if (a->json)
			print_json_text(json);
		else
			printf("endpoint %s of merchant %s added (%s)\nsigning secret (shown once, store it now): %s\n",
			       str(o, "id"), a->merchant, str(o, "url"), str(o, "secret"));
		cJSON_Delete(o);
		free(json);
		return 0;
	}
	if (strcmp(a->sub, "remove") == 0) {
		if (!a->id)
			return cli_usage("%s", "remove needs --id ID", endpoints_help);
		if ((r = registry_pg_endpoint_remove(c, a->merchant, a->id, err, sizeof(err))) < 0)
			return failed("endpoints remove", r, r == PW_ENOTFOUND ? "no such active endpoint" : err);
		printf("endpoint %s of merchant %s removed (its deliveries stay)\n", a->id, a->merchant);
		return 0;
	}
	return cli_usage("unknown subcommand: %s", a->sub, endpoints_help);
}

static int secrets(PGconn *c, const args *a)
{
	char err[512] = "";
	secretbox_keys keys;
	int r = secretbox_keys_from_env(&keys, err, sizeof(err));
	if (r < 0)
		return failed("secrets rotate-key", r, err);
	size_t done = 0, failed_rows = 0;
	r = registry_rotate_key(c, &keys, &done, &failed_rows, err, sizeof(err));
	char kid[SECRETBOX_KEY_ID_LEN + 1];
	snprintf(kid, sizeof(kid), "%s", keys.current.id);
	memset(&keys, 0, sizeof(keys));
	if (r < 0)
		return failed("secrets rotate-key", r, err);
	if (a->json)
		printf("{\"key_id\":\"%s\",\"resealed\":%zu,\"failed\":%zu}\n", kid, done, failed_rows);
	else
		printf("%zu endpoint(s) re-sealed under key %s%s\n", done, kid,
		       failed_rows ? "; some could not be opened (see above)" : "");
	return failed_rows ? 1 : 0;
}

int registry_cli_is_command(const char *cmd)
{
	return strcmp(cmd, "merchants") == 0 || strcmp(cmd, "addresses") == 0 || strcmp(cmd, "endpoints") == 0 ||
	       strcmp(cmd, "secrets") == 0;
}

int registry_cli(const char *cmd, int argc, char **argv)
{
	const char *help = strcmp(cmd, "merchants") == 0   ? merchants_help
			   : strcmp(cmd, "addresses") == 0 ? addresses_help
			   : strcmp(cmd, "endpoints") == 0 ? endpoints_help
							   : secrets_help;
	args a;
	int rc = parse(argc, argv, help, &a);
	if (rc || a.help)
		return rc;
	if (help == secrets_help && strcmp(a.sub, "new-key") == 0) {
		char key[80];
		if (secretbox_key_new_text(key, sizeof(key)) < 0)
			return fprintf(stderr, "paywatch: secrets new-key: no randomness\n"), 1;
		printf("%s\n", key);
		memset(key, 0, sizeof(key));
		return 0;
	}
	if (help == secrets_help && strcmp(a.sub, "rotate-key") != 0)
		return cli_usage("unknown subcommand: %s", a.sub, help);
	if (!a.config)
		return cli_usage("%s", "missing -c FILE", help);
	pw_config *cfg;
	PGconn *c;
	if ((rc = cli_open(a.config, &cfg, &c)) != 0)
		return rc;
	if (help == merchants_help)
		rc = merchants(cfg, c, &a);
	else if (help == addresses_help)
		rc = addresses(cfg, c, &a);
	else if (help == endpoints_help)
		rc = endpoints(c, &a);
	else
		rc = secrets(c, &a);
	PQfinish(c);
	config_destroy(cfg);
	return rc;
}
