/* chain.c: what every family shares (events, transfer equality) and the
 * registry: the one place that maps the config's "kind" to a family. A new
 * family adds its files under chains/ and one line here. */
#include "chain.h"
#include "evm.h"
#include "tron.h"

#include <stdlib.h>
#include <string.h>

static const chain_family *const families[] = { &evm_chain_family, &tron_chain_family };

const chain_family *chain_family_find(const char *kind)
{
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (strcmp(families[i]->kind, kind) == 0)
			return families[i];
	return NULL;
}

const chain_family *chain_family_at(size_t i)
{
	return i < sizeof(families) / sizeof(families[0]) ? families[i] : NULL;
}

const char *chain_family_kinds(void)
{
	return "\"evm\", \"tron\"";
}

const char *chain_finality_tag(enum chain_finality f)
{
	return f == CHAIN_FINALITY_SAFE ? "safe" : f == CHAIN_FINALITY_FINALIZED ? "finalized" : "";
}

void chain_event_done(chain_event *ev)
{
	if (!ev)
		return;
	free(ev->transfers);
	free(ev->headers);
	ev->transfers = NULL;
	ev->headers = NULL;
	ev->n_transfers = 0;
	ev->n_headers = 0;
}

int64_t chain_asked_wait_ms(uint32_t retry_after_s)
{
	return (int64_t)(retry_after_s < CHAIN_RETRY_AFTER_WAIT_MAX_S ? retry_after_s : CHAIN_RETRY_AFTER_WAIT_MAX_S) *
	       1000;
}

bool chain_transfer_equal(const chain_transfer *a, const chain_transfer *b)
{
	return a->block_number == b->block_number && memcmp(a->block_hash, b->block_hash, PW_HASH_LEN) == 0 &&
	       a->block_time == b->block_time && a->tx_hash.len == b->tx_hash.len &&
	       memcmp(a->tx_hash.b, b->tx_hash.b, a->tx_hash.len) == 0 && a->log_index == b->log_index &&
	       pw_addr_eq(&a->token, &b->token) && pw_addr_eq(&a->from, &b->from) && pw_addr_eq(&a->to, &b->to) &&
	       memcmp(a->amount, b->amount, PW_U256_LEN) == 0;
}
