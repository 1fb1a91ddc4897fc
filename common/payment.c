/* payment.c: versioned binary encoding of pw_payment for RocksDB values.
 * Layout v1: version byte, fixed fields big-endian, then three strings each
 * prefixed by one length byte. */
#include "payment.h"
#include "pw_error.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

#define PAYMENT_ENC_VERSION 1

void pw_put_be64(uint8_t *out, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

uint64_t pw_get_be64(const uint8_t *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}

void pw_put_be32(uint8_t *out, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

uint32_t pw_get_be32(const uint8_t *in)
{
	return ((uint32_t)in[0] << 24) | ((uint32_t)in[1] << 16) | ((uint32_t)in[2] << 8) | in[3];
}

static uint8_t *put_bytes(uint8_t *o, const void *src, size_t n)
{
	memcpy(o, src, n);
	return o + n;
}

static uint8_t *put_str(uint8_t *o, const char *s)
{
	size_t n = strnlen(s, PW_NAME_MAX - 1);
	*o++ = (uint8_t)n;
	return put_bytes(o, s, n);
}

size_t payment_encode(const pw_payment *p, uint8_t *out)
{
	uint8_t *o = out;
	*o++ = PAYMENT_ENC_VERSION;
	pw_put_be64(o, p->chain_id), o += 8;
	pw_put_be64(o, p->block_number), o += 8;
	o = put_bytes(o, p->block_hash, PW_HASH_LEN);
	pw_put_be64(o, (uint64_t)p->block_time), o += 8;
	o = put_bytes(o, p->tx_hash, PW_HASH_LEN);
	pw_put_be32(o, p->log_index), o += 4;
	o = put_bytes(o, p->token, PW_ADDR_LEN);
	*o++ = p->decimals;
	o = put_bytes(o, p->from, PW_ADDR_LEN);
	o = put_bytes(o, p->to, PW_ADDR_LEN);
	o = put_bytes(o, p->amount, PW_U256_LEN);
	*o++ = p->status;
	pw_put_be32(o, p->confirmations), o += 4;
	pw_put_be64(o, (uint64_t)p->confirmed_at_ms), o += 8;
	o = put_str(o, p->chain);
	o = put_str(o, p->token_symbol);
	o = put_str(o, p->merchant_id);
	return (size_t)(o - out);
}

static int get_str(const uint8_t **in, const uint8_t *end, char *dst)
{
	if (*in >= end)
		return PW_EPARSE;
	size_t n = **in;
	(*in)++;
	if (n >= PW_NAME_MAX || (size_t)(end - *in) < n)
		return PW_EPARSE;
	memcpy(dst, *in, n);
	dst[n] = '\0';
	*in += n;
	return 0;
}

int payment_decode(const uint8_t *in, size_t n, pw_payment *ret)
{
	/* fixed part: 1+8+8+32+8+32+4+20+1+20+20+32+1+4+8 */
	enum { FIXED = 199 };
	const uint8_t *end = in + n;
	pw_payment p;

	if (n < FIXED || in[0] != PAYMENT_ENC_VERSION)
		return PW_EPARSE;
	memset(&p, 0, sizeof(p));
	in++;
	p.chain_id = pw_get_be64(in), in += 8;
	p.block_number = pw_get_be64(in), in += 8;
	memcpy(p.block_hash, in, PW_HASH_LEN), in += PW_HASH_LEN;
	p.block_time = (int64_t)pw_get_be64(in), in += 8;
	memcpy(p.tx_hash, in, PW_HASH_LEN), in += PW_HASH_LEN;
	p.log_index = pw_get_be32(in), in += 4;
	memcpy(p.token, in, PW_ADDR_LEN), in += PW_ADDR_LEN;
	p.decimals = *in++;
	memcpy(p.from, in, PW_ADDR_LEN), in += PW_ADDR_LEN;
	memcpy(p.to, in, PW_ADDR_LEN), in += PW_ADDR_LEN;
	memcpy(p.amount, in, PW_U256_LEN), in += PW_U256_LEN;
	p.status = *in++;
	p.confirmations = pw_get_be32(in), in += 4;
	p.confirmed_at_ms = (int64_t)pw_get_be64(in), in += 8;
	if (get_str(&in, end, p.chain) < 0 || get_str(&in, end, p.token_symbol) < 0 ||
	    get_str(&in, end, p.merchant_id) < 0 || in != end || p.status > PW_STATUS_REVERTED)
		return PW_EPARSE;
	*ret = p;
	return 0;
}

static bool name_ok(const char *s)
{
	size_t n = strnlen(s, PW_NAME_MAX);
	return n > 0 && n < PW_NAME_MAX && text_is_clean_utf8(s, n);
}

int payment_check(const pw_payment *p, char *why, size_t whylen)
{
	const char *field = NULL;
	bool amount_zero = true;
	for (size_t i = 0; i < PW_U256_LEN; i++)
		amount_zero &= p->amount[i] == 0;
	if (!name_ok(p->chain))
		field = "chain";
	else if (p->chain_id > (uint64_t)INT64_MAX)
		field = "chain_id";
	else if (p->block_number > (uint64_t)PW_BLOCK_MAX)
		field = "block_number";
	else if (p->block_time < 0 || p->block_time > PW_TIME_MAX_S)
		field = "block_time";
	else if (p->log_index > (uint32_t)PW_LOG_INDEX_MAX)
		field = "log_index";
	else if (!name_ok(p->token_symbol))
		field = "token_symbol";
	else if (p->decimals > 77)
		field = "decimals";
	else if (!name_ok(p->merchant_id))
		field = "merchant_id";
	else if (amount_zero)
		field = "amount";
	else if (p->status > PW_STATUS_REVERTED)
		field = "status";
	else if (p->confirmations > (uint32_t)PW_CONFIRMATIONS_MAX)
		field = "confirmations";
	else if (p->confirmed_at_ms < 0 || p->confirmed_at_ms > PW_TIME_MAX_S * 1000)
		field = "confirmed_at";
	if (!field)
		return 0;
	snprintf(why, whylen, "%s out of the range the schema holds", field);
	return PW_ERANGE;
}
