/* scan_check.h: evm_scan_logs_answer against the strict path it stands in
 * for (cJSON, then the id and error members as the adapter reads them,
 * then evm_decode_logs). Shared by unit_evm_decode (real answers and
 * mutations of them) and fuzz_jsonrpc (any input). */
#ifndef PW_SCAN_CHECK_H
#define PW_SCAN_CHECK_H

#include "evm_decode.h"
#include "pw_error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* The strict path: 0 with the id and the transfers, or < 0. */
static inline int scan_check_strict(const char *text, size_t len, uint64_t *id, chain_transfer **t, size_t *n,
				    size_t *logs)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	if (!root)
		return PW_EPARSE;
	const cJSON *jid = cJSON_GetObjectItemCaseSensitive(root, "id");
	int r = PW_EPARSE;
	if (cJSON_IsObject(root) && cJSON_IsNumber(jid) && jid->valuedouble >= 0 &&
	    jid->valuedouble < 9007199254740992.0 && !cJSON_GetObjectItemCaseSensitive(root, "error")) {
		char why[220];
		*id = (uint64_t)jid->valuedouble;
		r = evm_decode_logs(cJSON_GetObjectItemCaseSensitive(root, "result"), t, n, logs, why, sizeof(why));
	}
	cJSON_Delete(root);
	return r;
}

/* 1: the scanner read the text and gave what the strict path gives;
 * 0: it declined; -1: it read the text and gave something else (printed
 * to stderr), or the strict path refused what it read. */
static inline int scan_check(const char *text, size_t len)
{
	uint64_t id = 0, sid = 0;
	chain_transfer *t = NULL, *st = NULL;
	size_t n = 0, logs = 0, sn = 0, slogs = 0;
	int sr = evm_scan_logs_answer(text, len, &sid, &st, &sn, &slogs);
	if (sr < 0)
		return 0;
	int verdict = 1;
	if (scan_check_strict(text, len, &id, &t, &n, &logs) < 0) {
		fprintf(stderr, "scanner read what the strict path refuses: %.200s\n", text);
		verdict = -1;
	} else if (id != sid || n != sn || logs != slogs) {
		fprintf(stderr, "scanner: id %llu, %zu of %zu logs; strict: id %llu, %zu of %zu logs\n",
			(unsigned long long)sid, sn, slogs, (unsigned long long)id, n, logs);
		verdict = -1;
	} else {
		for (size_t i = 0; i < n && verdict == 1; i++)
			if (!chain_transfer_equal(&t[i], &st[i])) {
				fprintf(stderr, "scanner: transfer %zu differs\n", i);
				verdict = -1;
			}
	}
	free(t);
	free(st);
	return verdict;
}

#endif
