/* payment.h: the types every module shares: a block reference (header
 * window entry) and a payment (one matched ERC-20 Transfer log), with a
 * versioned binary encoding used for RocksDB values. Includes nothing of
 * the project but common/. */
#ifndef PW_PAYMENT_H
#define PW_PAYMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PW_HASH_LEN 32
#define PW_ADDR_LEN 20
#define PW_U256_LEN 32
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

enum pw_payment_status { PW_STATUS_PENDING = 0, PW_STATUS_CONFIRMED = 1, PW_STATUS_REVERTED = 2 };

/* One payment. Identity: (chain_id, block_hash, log_index). The amount is a
 * uint256 in the token's base units, big-endian; never a float. */
typedef struct pw_payment {
	char chain[PW_NAME_MAX];
	uint64_t chain_id;
	uint64_t block_number;
	uint8_t block_hash[PW_HASH_LEN];
	int64_t block_time; /* unix seconds */
	uint8_t tx_hash[PW_HASH_LEN];
	uint32_t log_index;
	uint8_t token[PW_ADDR_LEN];
	char token_symbol[PW_NAME_MAX];
	uint8_t decimals;
	uint8_t from[PW_ADDR_LEN];
	uint8_t to[PW_ADDR_LEN];
	char merchant_id[PW_NAME_MAX];
	uint8_t amount[PW_U256_LEN]; /* base units, big-endian uint256 */
	uint8_t status;              /* enum pw_payment_status */
	uint32_t confirmations;      /* head - block_number + 1 when confirmed */
	int64_t confirmed_at_ms;     /* unix milliseconds; 0 while pending */
} pw_payment;

/* payment_check: does p fit the schema (block number, log index,
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

/* payment_decode: parse n bytes made by payment_encode into *ret.
 * 0, or PW_EPARSE on a short, unknown-version or inconsistent input
 * (ret untouched). */
int payment_decode(const uint8_t *in, size_t n, pw_payment *ret);

/* Big-endian fixed-width helpers for keys and values. */
void pw_put_be64(uint8_t *out, uint64_t v);
uint64_t pw_get_be64(const uint8_t *in);
void pw_put_be32(uint8_t *out, uint32_t v);
uint32_t pw_get_be32(const uint8_t *in);

#endif
