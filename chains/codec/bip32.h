/* bip32.h: BIP-32 extended public keys and their public (non-hardened)
 * child derivation, on libsecp256k1 (the point addition:
 * secp256k1_ec_pubkey_tweak_add) and OpenSSL (HMAC-SHA512, RIPEMD-160).
 * Format: BIP-32 "Serialization format" (78 bytes: version, depth, parent
 * fingerprint, child number, chain code, compressed public key) in
 * Base58Check; "Public parent key -> public child key" (CKDpub). Only
 * public keys: a private key never reaches paywatch.
 * Thread safety: every function is safe to call from any thread. */
#ifndef PW_BIP32_H
#define PW_BIP32_H

#include "payment.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BIP32_XPUB_VERSION 0x0488B21Eu /* "xpub", mainnet */
#define BIP32_TPUB_VERSION 0x043587CFu /* "tpub", testnet */
#define BIP32_HARDENED 0x80000000u
#define BIP32_TEXT_MAX 120 /* a serialized key as text, with its NUL */
#define BIP32_PATH_MAX 8   /* components of a path template */

typedef struct bip32_pub {
	uint32_t version;
	uint8_t depth;
	uint8_t parent_fingerprint[4];
	uint32_t child_number;
	uint8_t chain_code[32];
	uint8_t key[33]; /* SEC1 compressed point, checked to be on the curve */
} bip32_pub;

/* bip32_parse_xpub: text (Base58Check, 111 characters) into *ret. 0, or
 * PW_EPARSE with a reason in err (errlen bytes) that never quotes the key:
 * not Base58Check, a bad checksum, not 78 bytes, a private key (xprv,
 * tprv: refused, it must not be here), another version (ypub, zpub, Ypub,
 * Zpub, upub, vpub: named, with the advice to export an xpub), depth 0
 * with a parent fingerprint or child number, a key not on the curve. */
int bip32_parse_xpub(const char *text, bip32_pub *ret, char *err, size_t errlen);

/* bip32_format_xpub: k serialized and Base58Check-encoded into out
 * (BIP32_TEXT_MAX bytes). */
void bip32_format_xpub(const bip32_pub *k, char out[BIP32_TEXT_MAX]);

/* bip32_derive_child: CKDpub(parent, i) into *ret, i < 2^31 (public
 * derivation cannot reach hardened children). 0, PW_EINVAL (i hardened),
 * or PW_ERANGE when I_L >= n or the child is the point at infinity
 * (probability below 2^-127; BIP-32: proceed with the next i). */
int bip32_derive_child(const bip32_pub *parent, uint32_t i, bip32_pub *ret);

/* A path template relative to a key: non-hardened components and exactly
 * one star (the index), as "0/<star>", "<star>", "1/2/<star>" with <star> = "*". */
typedef struct bip32_path {
	uint32_t fixed[BIP32_PATH_MAX]; /* components; the star's slot is unused */
	size_t n;                       /* components, the star included */
	size_t star;                    /* which component the index goes in */
} bip32_path;

/* bip32_parse_path: text into *ret. 0, or PW_EPARSE with the reason in
 * err: empty, a hardened component ("0'", "0h": public derivation cannot),
 * no '*' or more than one, a component >= 2^31, more than
 * BIP32_PATH_MAX components. */
int bip32_parse_path(const char *text, bip32_path *ret, char *err, size_t errlen);

/* bip32_format_path: the path of index i ("0/17") into out (outlen). */
void bip32_format_path(const bip32_path *p, uint32_t i, char *out, size_t outlen);

/* bip32_derive_path: the key at p with index i under k. 0, PW_EINVAL (i
 * >= 2^31), PW_ERANGE (an invalid child on the way: BIP-32 says skip this
 * index). */
int bip32_derive_path(const bip32_pub *k, const bip32_path *p, uint32_t i, bip32_pub *ret);

/* bip32_fingerprint: the key's fingerprint (BIP-32 "Key identifiers":
 * the first 4 bytes of HASH160 of its public key) as 8 hex digits into
 * out: what paywatch shows of a merchant's xpub, never the key itself. */
void bip32_fingerprint(const bip32_pub *k, char out[9]);

/* bip32_key_address: the 20-byte address of a compressed public key: the
 * last 20 bytes of keccak-256 of the uncompressed point without its 0x04
 * prefix (Ethereum Yellow Paper, appendix F; Tron's address is 0x41 + the
 * same 20 bytes, TRON developer docs "Account"), as a pw_addr of 20
 * bytes. 0, or PW_EPARSE (not a point of the curve). */
int bip32_key_address(const uint8_t key[33], pw_addr *ret);

#endif
