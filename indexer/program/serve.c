/* serve.c: `paywatch serve -c FILE` and `paywatch api-key new`. */
#include "serve.h"
#include "cli_common.h"
#include "log.h"
#include "pw_error.h"
#include "routes.h"
#include "server.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int serve_print_routes(void)
{
	char *text = api_routes_json();
	if (!text)
		return 1;
	printf("%s\n", text);
	free(text);
	return 0;
}

int serve_main(const pw_config *cfg)
{
	if (!cfg->api.enabled) {
		fprintf(stderr, "paywatch: serve: the config has no \"api\" section (listen, keys)\n");
		return 2;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	char err[300];
	api_server *srv = NULL;
	int r = api_server_start(cfg, &srv, err, sizeof(err));
	if (r < 0)
		return log_error(r, "api: %s", err), 1;
	log_info("api: listening on %s port %u (%zu key(s)); SIGINT/SIGTERM stop it", cfg->api.host, cfg->api.port,
		 cfg->api.n_keys);
	int sig = 0;
	sigwait(&sigs, &sig);
	log_info("api: stopping (signal %d)", sig);
	api_server_stop(srv);
	return 0;
}

static const char api_key_help[] =
	"usage: paywatch api-key new [--merchant M]\n"
	"\n"
	"Prints a fresh API key (pwk_ + 32 random bytes, base64url) on the first\n"
	"line of stdout, once: paywatch keeps only its SHA-256. The second line is\n"
	"the entry to add to the config's api.keys (with merchant_id M: a key that\n"
	"sees merchant M only; without: an admin key).\n";

int api_key_cli(int argc, char **argv)
{
	const char *merchant = NULL, *sub = NULL;
	bool help = false;
	const cli_option opts[] = { { "--merchant", &merchant, NULL }, { NULL, NULL, NULL } };
	size_t n;
	int rc = cli_parse(argc, argv, opts, &sub, 1, &n, &help, api_key_help);
	if (rc || help)
		return rc;
	if (!sub || strcmp(sub, "new") != 0)
		return cli_usage("%s", sub ? "unknown subcommand (new)" : "missing the subcommand (new)", api_key_help);
	if (merchant && !config_valid_id(merchant)) {
		fprintf(stderr, "paywatch: api-key: --merchant: not a merchant id (A-Z a-z 0-9 _ - .)\n");
		return 2;
	}
	char key[80], hash[65];
	if (api_key_new(key, sizeof(key), hash) < 0) {
		fprintf(stderr, "paywatch: api-key: no randomness available\n");
		return 1;
	}
	printf("%s\n", key);
	if (merchant)
		printf("{\"id\": \"%s-%.8s\", \"sha256\": \"%s\", \"merchant_id\": \"%s\"}\n", merchant, hash, hash,
		       merchant);
	else
		printf("{\"id\": \"admin-%.8s\", \"sha256\": \"%s\"}\n", hash, hash);
	fprintf(stderr, "paywatch: the key above is shown once; add the entry to api.keys\n");
	return 0;
}
