/* test_payment.c: the RocksDB value encoding of a payment round-trips for
 * each family, still reads the version 1 layout (an outbox written before
 * families), rejects truncated or corrupted input; payment_check holds a
 * payment to its family's identity widths. */
#include "payment.h"
#include "pw_error.h"
#include "test.h"

static pw_payment sample(uint8_t family)
{
	pw_payment p;
	memset(&p, 0, sizeof(p));
	snprintf(p.chain, sizeof(p.chain), "mainnet");
	snprintf(p.token_symbol, sizeof(p.token_symbol), "USDC");
	snprintf(p.merchant_id, sizeof(p.merchant_id), "acme");
	p.family = family;
	p.chain_id = 1;
	p.block_number = 16000000;
	memset(p.block_hash, 0xab, 32);
	p.block_time = 1668811907;
	uint8_t id[32], a[20];
	memset(id, 0xcd, sizeof(id));
	pw_txid_set(&p.tx_hash, id, sizeof(id));
	memset(a, 0x11, sizeof(a));
	pw_addr_set(&p.token, a, sizeof(a));
	memset(a, 0x22, sizeof(a));
	pw_addr_set(&p.from, a, sizeof(a));
	memset(a, 0x33, sizeof(a));
	pw_addr_set(&p.to, a, sizeof(a));
	p.log_index = 417;
	memset(p.amount, 0xff, 32);
	p.decimals = 6;
	p.status = PW_STATUS_CONFIRMED;
	p.confirmations = 12;
	p.confirmed_at_ms = 1700000000123;
	return p;
}

/* The version 1 layout, written by hand: version 1, chain id, block
 * number, block hash, block time, tx hash, log index, token, decimals,
 * from, to, amount, status, confirmations, confirmed_at_ms, three strings. */
static size_t encode_v1(const pw_payment *p, uint8_t *out)
{
	uint8_t *o = out;
	*o++ = 1;
	pw_put_be64(o, p->chain_id), o += 8;
	pw_put_be64(o, p->block_number), o += 8;
	memcpy(o, p->block_hash, 32), o += 32;
	pw_put_be64(o, (uint64_t)p->block_time), o += 8;
	memcpy(o, p->tx_hash.b, 32), o += 32;
	pw_put_be32(o, p->log_index), o += 4;
	memcpy(o, p->token.b, 20), o += 20;
	*o++ = p->decimals;
	memcpy(o, p->from.b, 20), o += 20;
	memcpy(o, p->to.b, 20), o += 20;
	memcpy(o, p->amount, 32), o += 32;
	*o++ = p->status;
	pw_put_be32(o, p->confirmations), o += 4;
	pw_put_be64(o, (uint64_t)p->confirmed_at_ms), o += 8;
	const char *strs[3] = { p->chain, p->token_symbol, p->merchant_id };
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(strs[i]);
		*o++ = (uint8_t)n;
		memcpy(o, strs[i], n), o += n;
	}
	return (size_t)(o - out);
}

int main(void)
{
	pw_payment p, q;
	uint8_t enc[PW_PAYMENT_ENC_MAX];
	char why[128];
	for (uint8_t family = PW_FAMILY_EVM; family <= PW_FAMILY_TRON; family++) {
		p = sample(family);
		ASSERT_EQ_INT(0, payment_check(&p, why, sizeof(why)));
		size_t n = payment_encode(&p, enc);
		CHECK(n <= PW_PAYMENT_ENC_MAX);
		ASSERT_EQ_INT(0, payment_decode(enc, n, &q));
		CHECK(memcmp(&p, &q, sizeof(p)) == 0);
		ASSERT_EQ_INT(PW_EPARSE, payment_decode(enc, n - 1, &q));
		ASSERT_EQ_INT(PW_EPARSE, payment_decode(enc, 10, &q));
		enc[1] = 7; /* an unknown family */
		ASSERT_EQ_INT(PW_EPARSE, payment_decode(enc, n, &q));
		enc[1] = family;
		enc[0] = 99;
		ASSERT_EQ_INT(PW_EPARSE, payment_decode(enc, n, &q));
	}
	/* a length byte past the widest identity is refused, not read past */
	p = sample(PW_FAMILY_EVM);
	size_t n = payment_encode(&p, enc);
	ASSERT_EQ_INT(32, enc[1 + 1 + 8 + 8 + 32 + 8]);
	enc[1 + 1 + 8 + 8 + 32 + 8] = PW_TXID_MAX + 1;
	ASSERT_EQ_INT(PW_EPARSE, payment_decode(enc, n, &q));

	/* version 1 (an outbox written before families) decodes as EVM */
	p = sample(PW_FAMILY_EVM);
	n = encode_v1(&p, enc);
	ASSERT_EQ_INT(0, payment_decode(enc, n, &q));
	CHECK(memcmp(&p, &q, sizeof(p)) == 0);
	ASSERT_EQ_INT(PW_EPARSE, payment_decode(enc, n - 1, &q));

	/* identity widths per family */
	p = sample(PW_FAMILY_TRON);
	p.to.len = 21;
	CHECK(payment_check(&p, why, sizeof(why)) < 0);
	p = sample(PW_FAMILY_EVM);
	p.tx_hash.len = 64;
	CHECK(payment_check(&p, why, sizeof(why)) < 0);
	p = sample(PW_FAMILY_EVM);
	p.family = 9;
	CHECK(payment_check(&p, why, sizeof(why)) < 0);
	return test_finish("test_payment");
}
