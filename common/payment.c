/* payment.c: versioned binary encoding of pw_payment for RocksDB values
 * (v2 below; v1, EVM only with fixed widths, is still read), and the
 * schema bounds a payment must fit. */
#include "payment.h"
#include "pw_error.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

#define PAYMENT_ENC_VERSION 2

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

void pw_addr_set(pw_addr *a, const uint8_t *bytes, size_t len)
{
	memset(a, 0, sizeof(*a));
	a->len = (uint8_t)(len > PW_ADDR_MAX ? PW_ADDR_MAX : len);
	memcpy(a->b, bytes, a->len);
}

void pw_txid_set(pw_txid *t, const uint8_t *bytes, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->len = (uint8_t)(len > PW_TXID_MAX ? PW_TXID_MAX : len);
	memcpy(t->b, bytes, t->len);
}

bool pw_addr_eq(const pw_addr *a, const pw_addr *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* one length byte, then the bytes */
static uint8_t *put_sized(uint8_t *o, const uint8_t *bytes, uint8_t len)
{
	*o++ = len;
	return put_bytes(o, bytes, len);
}

/* Layout v2: version 2, family, fixed fields big-endian, the transaction
 * id and the three addresses each prefixed by a length byte, then three
 * strings each prefixed by a length byte. */
size_t payment_encode(const pw_payment *p, uint8_t *out)
{
	uint8_t *o = out;
	*o++ = PAYMENT_ENC_VERSION;
	*o++ = p->family;
	pw_put_be64(o, p->chain_id), o += 8;
	pw_put_be64(o, p->block_number), o += 8;
	o = put_bytes(o, p->block_hash, PW_HASH_LEN);
	pw_put_be64(o, (uint64_t)p->block_time), o += 8;
	o = put_sized(o, p->tx_hash.b, p->tx_hash.len);
	pw_put_be32(o, p->log_index), o += 4;
	o = put_sized(o, p->token.b, p->token.len);
	*o++ = p->decimals;
	o = put_sized(o, p->from.b, p->from.len);
	o = put_sized(o, p->to.b, p->to.len);
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

/* n fixed bytes; PW_EPARSE past the end */
static int get_bytes(const uint8_t **in, const uint8_t *end, uint8_t *dst, size_t n)
{
	if ((size_t)(end - *in) < n)
		return PW_EPARSE;
	memcpy(dst, *in, n);
	*in += n;
	return 0;
}

/* a length byte (at most max) and that many bytes into dst, *ret_len */
static int get_sized(const uint8_t **in, const uint8_t *end, uint8_t *dst, size_t max, uint8_t *ret_len)
{
	if (*in >= end || **in > max)
		return PW_EPARSE;
	uint8_t len = *(*in)++;
	*ret_len = len;
	return get_bytes(in, end, dst, len);
}

static int get_u64(const uint8_t **in, const uint8_t *end, uint64_t *ret)
{
	uint8_t b[8];
	int r = get_bytes(in, end, b, 8);
	if (r == 0)
		*ret = pw_get_be64(b);
	return r;
}

static int get_u32(const uint8_t **in, const uint8_t *end, uint32_t *ret)
{
	uint8_t b[4];
	int r = get_bytes(in, end, b, 4);
	if (r == 0)
		*ret = pw_get_be32(b);
	return r;
}

int payment_decode(const uint8_t *in, size_t n, pw_payment *ret)
{
	const uint8_t *end = in + n;
	pw_payment p;
	uint64_t u = 0;
	int bad = 0;
	if (n < 1 || (in[0] != 1 && in[0] != PAYMENT_ENC_VERSION))
		return PW_EPARSE;
	bool v1 = *in++ == 1; /* EVM, fixed widths */
	memset(&p, 0, sizeof(p));
	if (!v1)
		bad |= get_bytes(&in, end, &p.family, 1);
	bad |= get_u64(&in, end, &p.chain_id);
	bad |= get_u64(&in, end, &p.block_number);
	bad |= get_bytes(&in, end, p.block_hash, PW_HASH_LEN);
	bad |= get_u64(&in, end, &u);
	p.block_time = (int64_t)u;
	if (v1) {
		p.tx_hash.len = PW_HASH_LEN;
		bad |= get_bytes(&in, end, p.tx_hash.b, PW_HASH_LEN);
	} else {
		bad |= get_sized(&in, end, p.tx_hash.b, PW_TXID_MAX, &p.tx_hash.len);
	}
	bad |= get_u32(&in, end, &p.log_index);
	pw_addr *addrs[3] = { &p.token, &p.from, &p.to };
	for (int k = 0; k < 3 && !bad; k++) {
		if (v1) {
			addrs[k]->len = PW_ADDR_LEN;
			bad |= get_bytes(&in, end, addrs[k]->b, PW_ADDR_LEN);
		} else {
			bad |= get_sized(&in, end, addrs[k]->b, PW_ADDR_MAX, &addrs[k]->len);
		}
		if (k == 0)
			bad |= get_bytes(&in, end, &p.decimals, 1);
	}
	bad |= get_bytes(&in, end, p.amount, PW_U256_LEN);
	bad |= get_bytes(&in, end, &p.status, 1);
	bad |= get_u32(&in, end, &p.confirmations);
	bad |= get_u64(&in, end, &u);
	p.confirmed_at_ms = (int64_t)u;
	if (bad || get_str(&in, end, p.chain) < 0 || get_str(&in, end, p.token_symbol) < 0 ||
	    get_str(&in, end, p.merchant_id) < 0 || in != end || p.status > PW_STATUS_DROPPED ||
	    p.family > PW_FAMILY_TRON)
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
	size_t addr_len = PW_ADDR_LEN, txid_len = PW_HASH_LEN; /* EVM and Tron */
	if (p->family > PW_FAMILY_TRON)
		field = "family";
	else if (p->token.len != addr_len || p->from.len != addr_len || p->to.len != addr_len)
		field = "address";
	else if (p->tx_hash.len != txid_len)
		field = "tx_hash";
	else if (!name_ok(p->chain))
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
	else if (p->status > PW_STATUS_DROPPED)
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

const char *pw_status_name(uint8_t status)
{
	static const char *const names[] = { "pending", "confirmed", "reverted", "dropped" };
	return status <= PW_STATUS_DROPPED ? names[status] : "unknown";
}
