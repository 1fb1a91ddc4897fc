/* cli.c: `paywatch COMMAND [options]`: parse, load the config, dispatch. */
#include "cli.h"
#include "cli_common.h"
#include "config.h"
#include "derive.h"
#include "dispatch.h"
#include "log.h"
#include "migrate.h"
#include "pw_error.h"
#include "quarantine.h"
#include "invoice_cli.h"
#include "report_cli.h"
#include "registry_cli.h"
#include "replay.h"
#include "run.h"
#include "serve.h"
#include "status.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"usage: paywatch [--log-format text|json] [--log-level debug|info|warn|error] COMMAND [options]\n"
	"\n"
	"paywatch watches EVM chains and Tron for stablecoin payments (ERC-20 and\n"
	"TRC-20 transfers) to merchant addresses, writes each confirmed payment to\n"
	"PostgreSQL once and delivers signed webhooks.\n"
	"\n"
	"commands:\n"
	"  check-config -c FILE   validate the config and print it resolved, secrets masked\n"
	"  migrate -c FILE        apply the database schema migrations (idempotent)\n"
	"  run -c FILE            index: backfill from the checkpoint, then follow the head\n"
	"                         (and deliver webhooks)\n"
	"  dispatch -c FILE       deliver webhooks only (any number, on any hosts)\n"
	"  serve -c FILE          serve the HTTP API alone (config \"api\"; `run` serves it too)\n"
	"  api-key new [--merchant M]   print a fresh API key and its api.keys entry\n"
	"  derive --xpub X [--path 0/*] [--from N] [--count N] [--format KIND] [--json]\n"
	"                         deposit addresses of an extended public key (BIP-32)\n"
	"  replay -c FILE --chain NAME --from N --to M [--dry-run] [--fix] ...\n"
	"                         fetch a block range again and reconcile Postgres with it\n"
	"  merchants list|add ID|remove ID -c FILE [--json]   the merchant registry in Postgres\n"
	"  addresses list|add|remove --merchant M --chain C ADDR -c FILE   deposit addresses,\n"
	"                         picked up by a running `run` within a second\n"
	"  endpoints list|add|remove --merchant M [--id ID --url URL] -c FILE   webhook endpoints\n"
	"  secrets new-key | rotate-key -c FILE   the key endpoint secrets are sealed with\n"
	"  invoices list|show|create|cancel -c FILE ...   invoices with their own deposit addresses\n"
	"  report settlement|payments -c FILE ...         a merchant's settlement or payments report (JSON, CSV)\n"
	"  status -c FILE [--json]   where each chain and webhook endpoint stands\n"
	"  webhooks list|redeliver|test -c FILE ...   inspect and retry webhook deliveries\n"
	"  quarantine list|retry -c FILE ...   entries Postgres refused, kept aside; write them again\n"
	"  help [COMMAND]         show help\n"
	"\n"
	"`paywatch COMMAND --help` describes one command. An option's value follows it\n"
	"(--merchant acme) or, for a long option, is joined by '=' (--merchant=acme).\n"
	"Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.\n";

static const char check_config_help[] =
	"usage: paywatch check-config -c FILE\n"
	"\n"
	"Validates FILE (paywatch.json) and prints the resolved config with\n"
	"${ENV} values substituted and secrets (DSN password, webhook secrets,\n"
	"endpoint paths) masked. On an error prints the JSON path of the bad\n"
	"field, e.g. `chains[0].tokens[1].decimals: must be an integer 0..77`,\n"
	"and exits 2.\n";

static const char migrate_help[] =
	"usage: paywatch migrate -c FILE\n"
	"\n"
	"Applies the numbered SQL migrations built into paywatch, in order, each in\n"
	"its own transaction, recording them in schema_migrations. Running it again\n"
	"changes nothing. Exit 1 if Postgres is unreachable or a migration fails.\n";

static const char dispatch_help[] =
	"usage: paywatch dispatch -c FILE\n"
	"\n"
	"Delivers merchant webhooks from the Postgres queue until SIGINT/SIGTERM.\n"
	"Any number of dispatchers (and `paywatch run`, which includes one) share the\n"
	"queue: each delivery is claimed with FOR UPDATE SKIP LOCKED and a lease.\n"
	"Deliveries in flight at shutdown are released and sent again (same webhook-id).\n"
	"It runs webhooks.threads dispatcher loops (default 2), each with its own\n"
	"Postgres connection, sharing webhooks.max_in_flight; log lines name the loop\n"
	"(webhooks[1], webhooks[2], ...) when there are several.\n"
	"The log has a line per failed attempt and, every 10 s and at the stop, one\n"
	"summing up the outcomes; a line per delivery with `paywatch --log-level debug\n"
	"dispatch ...`. Every attempt is a row of webhook_attempts (see `paywatch\n"
	"webhooks list`).\n"
	"With the config's \"metrics\": {\"listen\": \"IP:PORT\"} it serves GET /metrics\n"
	"(Prometheus text format) and /healthz there.\n";

static const char serve_help[] =
	"usage: paywatch serve -c FILE\n"
	"\n"
	"Serves the HTTP API of the config's \"api\" section (listen, keys) until\n"
	"SIGINT/SIGTERM, with its own Postgres connections: any number of `serve`\n"
	"processes may run, on any hosts, against the same Postgres. `paywatch run`\n"
	"serves the same API when the config has \"api\".\n"
	"  GET /healthz                 200 while the process answers (no key)\n"
	"  GET /readyz                  200 when Postgres answers and every chain is current (no key)\n"
	"  GET /metrics                 Prometheus text format (no key)\n"
	"  GET /v1/openapi.json         the OpenAPI 3.1 document of this API (no key)\n"
	"  GET /v1/payments             confirmed and reverted payments, filtered, keyset pages\n"
	"  GET /v1/payments/{id}        one payment\n"
	"  GET /v1/events               every payment state change, in order; ?wait= long-polls\n"
	"  GET /v1/chains               where each chain stands\n"
	"  GET /v1/webhooks/deliveries  webhook deliveries; POST .../{id}/redeliver sends one again\n"
	"Authorization: Bearer KEY (`paywatch api-key new`). HTTPS with \"tls\": {\"cert\", \"key\"}.\n"
	"\n"
	"paywatch serve --routes   prints the routes and query parameters this binary\n"
	"                          serves, as JSON (the contract test compares them\n"
	"                          with api/openapi.yaml)\n";

static const char run_help[] =
	"usage: paywatch run -c FILE\n"
	"\n"
	"Indexes every configured chain: resumes from the RocksDB checkpoint in\n"
	"data_dir (or start_block), fetches Transfer logs of the configured tokens\n"
	"with several eth_getLogs in flight, follows new heads, and writes each\n"
	"payment to Postgres once it has `confirmations` blocks. Postgres being\n"
	"down delays writes (kept in the RocksDB outbox), it loses nothing.\n"
	"Delivers webhooks when a merchant has an endpoint, serves the HTTP API\n"
	"when the config has \"api\" (with GET /metrics), or only /metrics and\n"
	"/healthz on \"metrics\": {\"listen\"} without it.\n"
	"SIGINT/SIGTERM: finish the batch in hand, flush, exit 0.\n";

static int cmd_check_config(const char *path)
{
	pw_config *cfg;
	int rc = cli_load_config(path, &cfg);
	if (rc)
		return rc;
	char *dump = config_dump_masked(cfg);
	if (dump)
		printf("%s\n", dump);
	free(dump);
	fprintf(stderr, "paywatch: config %s is valid: %zu chain(s), %zu merchant(s)\n", path, cfg->n_chains,
		cfg->n_merchants);
	config_destroy(cfg);
	return 0;
}

/* The commands that take a config and nothing else: check-config,
 * migrate, run, dispatch, serve (and serve --routes). */
static int config_command(const char *help, int argc, char **argv)
{
	const char *path = NULL;
	bool asked = false, routes = false;
	const cli_option opts[] = { { "-c", &path, NULL },
				    { "--config", &path, NULL },
				    /* serve's alone: for the others a NULL name ends the list here */
				    { help == serve_help ? "--routes" : NULL, NULL, &routes },
				    { NULL, NULL, NULL } };
	size_t n;
	int rc = cli_parse(argc, argv, opts, NULL, 0, &n, &asked, help);
	if (rc || asked)
		return rc;
	if (routes)
		return serve_print_routes();
	if (!path)
		return cli_usage("%s", "missing -c FILE", help);
	if (help == check_config_help)
		return cmd_check_config(path);
	pw_config *cfg;
	if ((rc = cli_load_config(path, &cfg)) != 0)
		return rc;
	if (help == migrate_help)
		rc = migrate_run(cfg) < 0 ? 1 : 0;
	else if (help == dispatch_help)
		rc = dispatch_main(cfg);
	else if (help == serve_help)
		rc = serve_main(cfg);
	else
		rc = run_main(cfg);
	config_destroy(cfg);
	return rc;
}

static const struct {
	const char *name;
	const char *help; /* a config_command's, or NULL: fn parses its own arguments */
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "check-config", check_config_help, NULL },
	{ "migrate", migrate_help, NULL },
	{ "run", run_help, NULL },
	{ "dispatch", dispatch_help, NULL },
	{ "serve", serve_help, NULL },
	{ "api-key", NULL, api_key_cli },
	{ "derive", NULL, derive_cli },
	{ "replay", NULL, replay_cli },
	{ "invoices", NULL, invoice_cli },
	{ "report", NULL, report_cli },
	{ "status", NULL, status_cli },
	{ "webhooks", NULL, dispatch_webhooks_cli },
	{ "quarantine", NULL, quarantine_cli },
};

/* Run command cmd on its arguments (argv after it); -1 if cmd names no
 * command. */
static int run_command(const char *cmd, int argc, char **argv)
{
	if (registry_cli_is_command(cmd))
		return registry_cli(cmd, argc, argv);
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(commands[k].name, cmd) != 0)
			continue;
		return commands[k].help ? config_command(commands[k].help, argc, argv) : commands[k].fn(argc, argv);
	}
	return -1;
}

int cli_main(int argc, char **argv)
{
	int i = 1;
	bool json = false;
	enum log_level level = LOG_LEVEL_INFO;
	int rc = cli_check_args(argc, argv);
	if (rc)
		return rc;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *a = argv[i];
		const char *v = NULL;
		if (strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (strcmp(a, "--version") == 0) {
			printf("paywatch %s\n", PAYWATCH_VERSION);
			return 0;
		}
		if (strcmp(a, "--log-format") == 0 || strcmp(a, "--log-level") == 0) {
			if (i + 1 >= argc)
				return cli_usage("%s needs a value", a, usage_text);
			v = argv[++i];
		} else if (strncmp(a, "--log-format=", 13) == 0) {
			v = a + 13;
			a = "--log-format";
		} else if (strncmp(a, "--log-level=", 12) == 0) {
			v = a + 12;
			a = "--log-level";
		} else {
			return cli_usage("unknown option: %s", a, usage_text);
		}
		if (strcmp(a, "--log-format") == 0) {
			if (strcmp(v, "json") == 0)
				json = true;
			else if (strcmp(v, "text") != 0)
				return cli_usage("--log-format must be text or json, not %s", v, usage_text);
		} else {
			static const char *const names[] = { "debug", "info", "warn", "error" };
			size_t k = 0;
			while (k < 4 && strcmp(names[k], v) != 0)
				k++;
			if (k == 4)
				return cli_usage("--log-level must be debug, info, warn or error, not %s", v,
						 usage_text);
			level = (enum log_level)k;
		}
	}
	log_setup(level, json);
	curl_global_init(CURL_GLOBAL_DEFAULT); /* once, before any thread */
	if (i >= argc)
		return cli_usage("%s", "missing COMMAND", usage_text);
	const char *cmd = argv[i++];
	if (strcmp(cmd, "help") == 0) {
		char *h[] = { "--help" };
		if (i >= argc) {
			fputs(usage_text, stdout);
			return 0;
		}
		rc = run_command(argv[i], 1, h);
		return rc >= 0 ? rc : cli_usage("no such command: %s", argv[i], usage_text);
	}
	rc = run_command(cmd, argc - i, argv + i);
	return rc >= 0 ? rc : cli_usage("unknown command: %s", cmd, usage_text);
}
