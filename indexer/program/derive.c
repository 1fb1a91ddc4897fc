/* derive.c: `paywatch derive` (derive.h). */
#include "derive.h"
#include "bip32.h"
#include "chain.h"
#include "cli_common.h"
#include "idfmt.h"
#include "parse.h"
#include "pw_error.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DERIVE_COUNT_MAX 100000

/* The usage, into help (n bytes). */
static void usage(char *help, size_t n)
{
	snprintf(
		help, n,
		"usage: paywatch derive --xpub XPUB [--path TEMPLATE] [--from N] [--count N] [--format KIND] [--json]\n"
		"\n"
		"Prints the deposit addresses of an extended public key, one line per index:\n"
		"  INDEX PATH ADDRESS\n"
		"BIP-32 public derivation (no private key is ever needed or taken).\n"
		"  --xpub XPUB       an xpub or tpub (ypub, zpub and private keys are refused)\n"
		"  --path TEMPLATE   non-hardened components relative to the key, one '*' for the\n"
		"                    index (default 0/%c)\n"
		"  --from N          the first index (default 0)\n"
		"  --count N         how many (1..%d, default 10)\n"
		"  --format KIND     the address form of a chain kind: %s (default: the first)\n"
		"  --json            a JSON array of {index, path, address}\n",
		'*', DERIVE_COUNT_MAX, chain_family_kinds());
}

int derive_cli(int argc, char **argv)
{
	const char *xpub = NULL, *path = "0/*", *from_s = "0", *count_s = "10", *kind = NULL;
	bool json = false, asked = false;
	char help[2048];
	usage(help, sizeof(help));
	const cli_option opts[] = { { "--xpub", &xpub, NULL },   { "--path", &path, NULL },
				    { "--from", &from_s, NULL }, { "--count", &count_s, NULL },
				    { "--format", &kind, NULL }, { "--json", NULL, &json },
				    { NULL, NULL, NULL } };
	size_t n;
	int rc = cli_parse(argc, argv, opts, NULL, 0, &n, &asked, help);
	if (rc || asked)
		return rc;
	if (!xpub)
		return cli_usage("%s", "derive: --xpub is required", help);
	char err[300];
	bip32_pub key;
	bip32_path tpl;
	uint64_t from = 0, count = 0;
	if (bip32_parse_xpub(xpub, &key, err, sizeof(err)) < 0) {
		fprintf(stderr, "paywatch: derive: --xpub: %s\n", err);
		return 2;
	}
	if (bip32_parse_path(path, &tpl, err, sizeof(err)) < 0) {
		fprintf(stderr, "paywatch: derive: --path: %s\n", err);
		return 2;
	}
	if (parse_u64(from_s, BIP32_HARDENED - 1, &from) < 0 || parse_u64(count_s, DERIVE_COUNT_MAX, &count) < 0 ||
	    count == 0 || from + count > BIP32_HARDENED) {
		fprintf(stderr, "paywatch: derive: --from and --count: indices 0..2^31-1, --count 1..%d\n",
			DERIVE_COUNT_MAX);
		return 2;
	}
	const chain_family *fam = kind ? chain_family_find(kind) : chain_family_at(0);
	if (!fam || !fam->address_of_key) {
		fprintf(stderr,
			"paywatch: derive: --format: must be a chain kind whose addresses come from such keys: %s\n",
			chain_family_kinds());
		return 2;
	}
	cJSON *arr = json ? cJSON_CreateArray() : NULL;
	for (uint64_t i = from; i < from + count; i++) {
		char p[120], addr_text[PW_ADDR_TEXT_MAX];
		bip32_format_path(&tpl, (uint32_t)i, p, sizeof(p));
		bip32_pub child;
		pw_addr addr;
		int r = bip32_derive_path(&key, &tpl, (uint32_t)i, &child);
		if (r == 0)
			r = fam->address_of_key(child.key, &addr);
		if (r < 0) { /* BIP-32: an invalid child (p < 2^-127); its index is skipped */
			fprintf(stderr, "paywatch: derive: index %llu (%s) gives no valid key (BIP-32: skip it)\n",
				(unsigned long long)i, p);
			continue;
		}
		fam->format_address_input(&addr, addr_text);
		if (json) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "index", (double)i);
			cJSON_AddStringToObject(o, "path", p);
			cJSON_AddStringToObject(o, "address", addr_text);
			cJSON_AddItemToArray(arr, o);
		} else {
			printf("%llu %s %s\n", (unsigned long long)i, p, addr_text);
		}
	}
	if (json) {
		char *text = cJSON_Print(arr);
		cJSON_Delete(arr);
		if (!text)
			return 1;
		printf("%s\n", text);
		free(text);
	}
	return 0;
}
