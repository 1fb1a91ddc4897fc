/* test_payment.c: the RocksDB value encoding of a payment round-trips and
 * rejects truncated or corrupted input. */
#include "payment.h"
#include "pw_error.h"
#include "test.h"

int main(void)
{
	pw_payment p, q;
	uint8_t enc[PW_PAYMENT_ENC_MAX];
	memset(&p, 0, sizeof(p));
	snprintf(p.chain, sizeof(p.chain), "mainnet");
	snprintf(p.token_symbol, sizeof(p.token_symbol), "USDC");
	snprintf(p.merchant_id, sizeof(p.merchant_id), "acme");
	p.chain_id = 1;
	p.block_number = 16000000;
	memset(p.block_hash, 0xab, 32);
	p.block_time = 1668811907;
	memset(p.tx_hash, 0xcd, 32);
	p.log_index = 417;
	memset(p.amount, 0xff, 32);
	p.decimals = 6;
	p.status = PW_STATUS_CONFIRMED;
	p.confirmations = 12;
	p.confirmed_at_ms = 1700000000123;
	size_t n = payment_encode(&p, enc);
	CHECK(n <= PW_PAYMENT_ENC_MAX);
	ASSERT_EQ_INT(0, payment_decode(enc, n, &q));
	CHECK(memcmp(&p, &q, sizeof(p)) == 0);
	ASSERT_EQ_INT(PW_EPARSE, payment_decode(enc, n - 1, &q));
	ASSERT_EQ_INT(PW_EPARSE, payment_decode(enc, 10, &q));
	enc[0] = 99;
	ASSERT_EQ_INT(PW_EPARSE, payment_decode(enc, n, &q));
	return test_finish("test_payment");
}
