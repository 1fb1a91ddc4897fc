/* bip32.c: extended public keys and CKDpub (bip32.h). */
#include "bip32.h"
#include "base58.h"
#include "keccak.h"
#include "payment.h"
#include "pw_error.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <secp256k1.h>
#include <stdio.h>
#include <string.h>

#define SERIALIZED_LEN 78

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put_be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
}

/* Versions that are not a BIP-32 public key paywatch takes, with what to
 * tell the operator (SLIP-0132 registered versions). */
static const struct {
	uint32_t version;
	const char *what;
} other_versions[] = {
	{ 0x0488ADE4u, "an xprv: a private key. Never give paywatch a private key; export the xpub" },
	{ 0x04358394u, "a tprv: a private key. Never give paywatch a private key; export the tpub" },
	{ 0x049D7CB2u, "a ypub (BIP-49 P2SH-SegWit): export the account's xpub instead" },
	{ 0x04B24746u, "a zpub (BIP-84 native SegWit): export the account's xpub instead" },
	{ 0x0295B43Fu, "a Ypub (multisig P2SH-SegWit): export an xpub instead" },
	{ 0x02AA7ED3u, "a Zpub (multisig native SegWit): export an xpub instead" },
	{ 0x044A5262u, "a upub (testnet BIP-49): export a tpub instead" },
	{ 0x045F1CF6u, "a vpub (testnet BIP-84): export a tpub instead" },
	{ 0x049D7878u, "a yprv: a private key. Never give paywatch a private key" },
	{ 0x04B2430Cu, "a zprv: a private key. Never give paywatch a private key" },
};

int bip32_parse_xpub(const char *text, bip32_pub *ret, char *err, size_t errlen)
{
	uint8_t raw[SERIALIZED_LEN + 8];
	size_t n = 0;
	int r = base58check_decode(text, raw, sizeof(raw), &n);
	if (r == PW_ECHECKSUM) {
		snprintf(err, errlen, "not an extended public key: its Base58Check checksum does not match (a typo?)");
		return PW_EPARSE;
	}
	if (r < 0 || n != SERIALIZED_LEN) {
		snprintf(err, errlen, "not an extended public key (BIP-32: 78 bytes in Base58Check, \"xpub...\")");
		return PW_EPARSE;
	}
	uint32_t version = be32(raw);
	if (version != BIP32_XPUB_VERSION && version != BIP32_TPUB_VERSION) {
		for (size_t i = 0; i < sizeof(other_versions) / sizeof(other_versions[0]); i++)
			if (other_versions[i].version == version) {
				snprintf(err, errlen, "this key is %s", other_versions[i].what);
				return PW_EPARSE;
			}
		snprintf(err, errlen, "not an xpub or tpub (version bytes 0x%08x)", version);
		return PW_EPARSE;
	}
	bip32_pub k;
	k.version = version;
	k.depth = raw[4];
	memcpy(k.parent_fingerprint, raw + 5, 4);
	k.child_number = be32(raw + 9);
	memcpy(k.chain_code, raw + 13, 32);
	memcpy(k.key, raw + 45, 33);
	static const uint8_t zero4[4] = { 0 };
	if (k.depth == 0 && (memcmp(k.parent_fingerprint, zero4, 4) != 0 || k.child_number != 0)) {
		snprintf(err, errlen, "not a valid extended key: depth 0 with a parent or a child number");
		return PW_EPARSE;
	}
	secp256k1_pubkey pk;
	if ((k.key[0] != 2 && k.key[0] != 3) ||
	    !secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, k.key, sizeof(k.key))) {
		snprintf(err, errlen,
			 "not a valid extended public key: its key is not a compressed point of secp256k1");
		return PW_EPARSE;
	}
	*ret = k;
	return 0;
}

void bip32_format_xpub(const bip32_pub *k, char out[BIP32_TEXT_MAX])
{
	uint8_t raw[SERIALIZED_LEN];
	put_be32(raw, k->version);
	raw[4] = k->depth;
	memcpy(raw + 5, k->parent_fingerprint, 4);
	put_be32(raw + 9, k->child_number);
	memcpy(raw + 13, k->chain_code, 32);
	memcpy(raw + 45, k->key, 33);
	base58check_encode(raw, sizeof(raw), out, BIP32_TEXT_MAX);
}

/* HASH160: RIPEMD-160(SHA-256(data)), the key identifier (BIP-32). */
static void hash160(const uint8_t *data, size_t n, uint8_t out[20])
{
	uint8_t sha[32];
	unsigned int len = 0;
	EVP_Digest(data, n, sha, &len, EVP_sha256(), NULL);
	EVP_Digest(sha, sizeof(sha), out, &len, EVP_ripemd160(), NULL);
}

int bip32_derive_child(const bip32_pub *parent, uint32_t i, bip32_pub *ret)
{
	if (i & BIP32_HARDENED)
		return PW_EINVAL;
	/* I = HMAC-SHA512(Key = c_par, Data = ser_P(K_par) || ser_32(i)) */
	uint8_t data[37], I[64];
	memcpy(data, parent->key, 33);
	put_be32(data + 33, i);
	unsigned int ilen = 0;
	if (!HMAC(EVP_sha512(), parent->chain_code, 32, data, sizeof(data), I, &ilen) || ilen != 64)
		return PW_ERANGE;
	/* K_i = point(I_L) + K_par; invalid when I_L >= n or K_i is infinity */
	secp256k1_pubkey pk;
	if (!secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, parent->key, 33) ||
	    !secp256k1_ec_pubkey_tweak_add(secp256k1_context_static, &pk, I))
		return PW_ERANGE;
	bip32_pub c;
	c.version = parent->version;
	c.depth = (uint8_t)(parent->depth + 1);
	uint8_t id[20];
	hash160(parent->key, 33, id);
	memcpy(c.parent_fingerprint, id, 4);
	c.child_number = i;
	memcpy(c.chain_code, I + 32, 32);
	size_t len = sizeof(c.key);
	secp256k1_ec_pubkey_serialize(secp256k1_context_static, c.key, &len, &pk, SECP256K1_EC_COMPRESSED);
	*ret = c;
	return 0;
}

int bip32_parse_path(const char *text, bip32_path *ret, char *err, size_t errlen)
{
	bip32_path p = { .n = 0, .star = BIP32_PATH_MAX };
	const char *s = text;
	if (!*s) {
		snprintf(err, errlen, "an empty path: give a template such as \"0/*\"");
		return PW_EPARSE;
	}
	for (;;) {
		size_t len = strcspn(s, "/");
		if (p.n == BIP32_PATH_MAX) {
			snprintf(err, errlen, "more than %d components", BIP32_PATH_MAX);
			return PW_EPARSE;
		}
		if (len == 1 && s[0] == '*') {
			if (p.star != BIP32_PATH_MAX) {
				snprintf(err, errlen, "more than one '*': the template has one index");
				return PW_EPARSE;
			}
			p.star = p.n;
		} else {
			uint64_t v = 0;
			size_t k = 0;
			while (k < len && s[k] >= '0' && s[k] <= '9' && v < BIP32_HARDENED)
				v = v * 10 + (uint64_t)(s[k++] - '0');
			if (k < len && (s[k] == '\'' || s[k] == 'h' || s[k] == 'H')) {
				snprintf(
					err, errlen,
					"a hardened component (%.*s): an extended public key derives only non-hardened "
					"children; export the key at the hardened level instead",
					(int)(len > 12 ? 12 : len), s);
				return PW_EPARSE;
			}
			if (len == 0 || k != len || v >= BIP32_HARDENED) {
				snprintf(err, errlen, "each component is a number below 2^31 or '*'");
				return PW_EPARSE;
			}
			p.fixed[p.n] = (uint32_t)v;
		}
		p.n++;
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	if (p.star == BIP32_PATH_MAX) {
		snprintf(err, errlen, "no '*': the template needs one index, as in \"0/*\"");
		return PW_EPARSE;
	}
	*ret = p;
	return 0;
}

void bip32_format_path(const bip32_path *p, uint32_t i, char *out, size_t outlen)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t k = 0; k < p->n && o < outlen; k++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%u", k ? "/" : "", k == p->star ? i : p->fixed[k]);
}

int bip32_derive_path(const bip32_pub *k, const bip32_path *p, uint32_t i, bip32_pub *ret)
{
	if (i & BIP32_HARDENED)
		return PW_EINVAL;
	bip32_pub at = *k;
	for (size_t c = 0; c < p->n; c++) {
		int r = bip32_derive_child(&at, c == p->star ? i : p->fixed[c], &at);
		if (r < 0)
			return r;
	}
	*ret = at;
	return 0;
}

int bip32_key_address(const uint8_t key[33], pw_addr *ret)
{
	secp256k1_pubkey pk;
	uint8_t full[65], hash[32];
	size_t len = sizeof(full);
	if (!secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, key, 33))
		return PW_EPARSE;
	secp256k1_ec_pubkey_serialize(secp256k1_context_static, full, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
	keccak256(full + 1, 64, hash);
	ret->len = 20;
	memcpy(ret->b, hash + 12, 20);
	return 0;
}

void bip32_fingerprint(const bip32_pub *k, char out[9])
{
	uint8_t id[20];
	hash160(k->key, 33, id);
	snprintf(out, 9, "%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
}
