/* test_payments.h: a payment record for the store-level unit tests
 * (test_store, test_outbox_queue): chain "local" (31337), merchant acme,
 * 1 base unit of USDC; the block hash's first byte is the block number. */
#ifndef PW_TEST_PAYMENTS_H
#define PW_TEST_PAYMENTS_H

#include "payment.h"

#include <stdio.h>
#include <string.h>

static inline pw_payment test_make_payment(uint64_t block, uint32_t log_index)
{
	pw_payment p;
	memset(&p, 0, sizeof(p));
	snprintf(p.chain, sizeof(p.chain), "local");
	snprintf(p.token_symbol, sizeof(p.token_symbol), "USDC");
	snprintf(p.merchant_id, sizeof(p.merchant_id), "acme");
	p.chain_id = 31337;
	p.block_number = block;
	p.log_index = log_index;
	p.block_hash[0] = (uint8_t)block;
	p.tx_hash.len = PW_HASH_LEN;
	p.token.len = p.from.len = p.to.len = PW_ADDR_LEN;
	p.amount[31] = 1;
	p.decimals = 6;
	return p;
}

#endif
