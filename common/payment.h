/* payment.h: the types every module shares: identities wide enough for
 * every chain family (addresses up to 32 bytes, transaction ids up to 64:
 * a Solana signature), a block reference (header window entry) and a
 * payment (one matched token transfer), with a versioned binary encoding
 * used for RocksDB values. Includes nothing of the project but common/. */
#ifndef PW_PAYMENT_H
#define PW_PAYMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PW_HASH_LEN 32 /* block hashes of every family */
#define PW_ADDR_LEN 20 /* the address bytes EVM and Tron logs carry */
#define PW_ADDR_MAX 32 /* the widest address (Solana) */
#define PW_TXID_MAX 64 /* the widest transaction id (a Solana signature) */
#define PW_U256_LEN 32

/* The chain family: how a payment's identities are written (idfmt.h). EVM
 * is 0, so a zeroed payment is an EVM one. */
enum pw_family { PW_FAMILY_EVM = 0, PW_FAMILY_TRON = 1 };

/* An address: len bytes of b (20 for EVM and Tron: Tron's 0x41 prefix is
 * written only in its text form). */
typedef struct pw_addr {
	uint8_t len;
	uint8_t b[PW_ADDR_MAX];
} pw_addr;

/* A transaction id: len bytes of b (32 for EVM and Tron). */
typedef struct pw_txid {
	uint8_t len;
	uint8_t b[PW_TXID_MAX];
} pw_txid;

/* pw_addr_set / pw_txid_set: fill from len bytes (len at most the max). */
void pw_addr_set(pw_addr *a, const uint8_t *bytes, size_t len);
void pw_txid_set(pw_txid *t, const uint8_t *bytes, size_t len);

/* pw_addr_eq: the same length and bytes. */
bool pw_addr_eq(const pw_addr *a, const pw_addr *b);
#define PW_NAME_MAX 64 /* chain names, token symbols, merchant ids (incl. NUL) */

/* What the pipeline and the schema hold: every value taken from a node is
 * bounded to these at decode (a value outside makes the answer malformed),
 * and the sink checks them again before a row leaves (payment_check). */
#define PW_BLOCK_MAX INT64_MAX         /* block numbers: Postgres bigint */
#define PW_LOG_INDEX_MAX INT32_MAX     /* log index: Postgres int */
#define PW_CONFIRMATIONS_MAX INT32_MAX /* confirmations: Postgres int */
/* timestamps, unix seconds: 0 .. 9999-12-31T23:59:59Z, inside Postgres's
 * timestamptz and the four-digit years of RFC 3339 text */
#define PW_TIME_MAX_S INT64_C(253402300799)

/* One header of the window: numbers are block numbers, time unix seconds. */
typedef struct pw_block_ref {
	uint64_t number;
	uint8_t hash[PW_HASH_LEN];
	uint8_t parent_hash[PW_HASH_LEN];
	int64_t time; /* unix seconds; -1 when unknown */
} pw_block_ref;

/* PW_STATUS_DROPPED: a pending payment whose block a reorg took before it
 * was confirmed (its pending row in Postgres goes). */
enum pw_payment_status {
	PW_STATUS_PENDING = 0,
	PW_STATUS_CONFIRMED = 1,
	PW_STATUS_REVERTED = 2,
	PW_STATUS_DROPPED = 3
};

/* pw_status_name: "pending", "confirmed", "reverted" or "dropped" (the
 * names the sink writes and the quarantine keeps); "unknown" otherwise. */
const char *pw_status_name(uint8_t status);

/* One payment. Identity: (chain_id, block_hash, log_index). The amount is a
 * uint256 in the token's base units, big-endian; never a float. */
typedef struct pw_payment {
	char chain[PW_NAME_MAX];
	uint8_t family; /* enum pw_family: how its identities are written */
	uint64_t chain_id;
	uint64_t block_number;
	uint8_t block_hash[PW_HASH_LEN];
	int64_t block_time; /* unix seconds */
	pw_txid tx_hash;
	uint32_t log_index;
	pw_addr token;
	char token_symbol[PW_NAME_MAX];
	uint8_t decimals;
	pw_addr from;
	pw_addr to;
	char merchant_id[PW_NAME_MAX];
	uint8_t amount[PW_U256_LEN]; /* base units, big-endian uint256 */
	uint8_t status;              /* enum pw_payment_status */
	uint32_t confirmations;      /* head - block_number + 1 when confirmed */
	int64_t confirmed_at_ms;     /* unix milliseconds; 0 while pending */
} pw_payment;

/* payment_check: does p fit the schema (a known family and the address
 * and transaction id lengths it writes; block number, log index,
 * confirmations and timestamps within the bounds above, a non-zero amount,
 * decimals 0..77, a status, and chain / symbol / merchant id non-empty,
 * NUL-terminated, valid UTF-8 without control characters)? 0, or
 * PW_ERANGE with the first field that does not in why (whylen bytes). */
int payment_check(const pw_payment *p, char *why, size_t whylen);

/* Largest encoding payment_encode() produces, in bytes. */
#define PW_PAYMENT_ENC_MAX 512

/* payment_encode: write p into out (at least PW_PAYMENT_ENC_MAX bytes);
 * returns the number of bytes written. */
size_t payment_encode(const pw_payment *p, uint8_t *out);

/* payment_decode: parse n bytes made by payment_encode into *ret; the
 * version 1 layout (EVM only, fixed 20-byte addresses and 32-byte ids,
 * written before families) is read too, so an outbox from an older
 * paywatch drains. 0, or PW_EPARSE on a short, unknown-version or
 * inconsistent input (ret untouched). */
int payment_decode(const uint8_t *in, size_t n, pw_payment *ret);

/* Big-endian fixed-width helpers for keys and values. */
void pw_put_be64(uint8_t *out, uint64_t v);
uint64_t pw_get_be64(const uint8_t *in);
void pw_put_be32(uint8_t *out, uint32_t v);
uint32_t pw_get_be32(const uint8_t *in);

#endif
