/* row_check.h: an independent reading of schema/ for the COPY text rows
 * the sink sends (pg_sink_copy_row): 19 tab-separated fields, each checked
 * against its column's type and CHECK constraint (bigint, int, hashes and
 * addresses in the form of the row's chain_family (007): EVM lowercase 0x
 * hex of the right length, Tron 64 hex digits and "T" + 33 Base58
 * characters; numeric(78,0) > 0, decimals 0..77, a status, a timestamptz
 * Postgres reads, text that is valid UTF-8 with COPY's escapes). Used by the fuzz target and the property test: every
 * payment the pipeline accepts must fit. Returns NULL when the row fits, else the name of the first column that does
 * not. */
#ifndef PW_ROW_CHECK_H
#define PW_ROW_CHECK_H

#include "text.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static inline bool rc_digits(const char *s, size_t n, size_t max_digits)
{
	if (n == 0 || n > max_digits)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n == 1 || s[0] != '0';
}

/* a decimal integer <= max (n digits at s) */
static inline bool rc_uint_max(const char *s, size_t n, uint64_t max)
{
	if (!rc_digits(s, n, 20))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	return v <= max;
}

static inline bool rc_hex(const char *s, size_t n, size_t bytes)
{
	if (n != 2 + 2 * bytes || s[0] != '0' || s[1] != 'x')
		return false;
	for (size_t i = 2; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Tron: 2 * bytes lowercase hex digits, no 0x */
static inline bool rc_bare_hex(const char *s, size_t n, size_t bytes)
{
	if (n != 2 * bytes)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Tron: "T" and 33 characters of the Base58 alphabet */
static inline bool rc_tron_address(const char *s, size_t n)
{
	static const char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
	if (n != 34 || s[0] != 'T')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!memchr(alphabet, s[i], sizeof(alphabet) - 1))
			return false;
	return true;
}

/* COPY text: no raw tab, newline or CR; only the escapes the sink writes;
 * valid UTF-8, non-empty */
static inline bool rc_text(const char *s, size_t n)
{
	if (n == 0 || !text_utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\0')
			return false;
		if (s[i] == '\\') {
			if (i + 1 >= n || !strchr("\\tnr", s[i + 1]))
				return false;
			i++;
		}
	}
	return true;
}

/* "YYYY-MM-DD HH:MM:SS[.mmm]+00", years 1970..9999 */
static inline bool rc_timestamp(const char *s, size_t n)
{
	static const char shape[] = "dddd-dd-dd dd:dd:dd";
	if (n != 22 && n != 26)
		return false;
	for (size_t i = 0; i < 19; i++)
		if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
			return false;
	if (memcmp(s, "1970", 4) < 0)
		return false;
	if (n == 26) {
		for (size_t i = 20; i < 23; i++)
			if (!(s[i] >= '0' && s[i] <= '9'))
				return false;
		return s[19] == '.' && memcmp(s + 23, "+00", 3) == 0;
	}
	return memcmp(s + 19, "+00", 3) == 0;
}

/* an integer of unix seconds (or ms) within 0..max */
static inline bool rc_unix(const char *s, size_t n, uint64_t max)
{
	return rc_uint_max(s, n, max);
}

static inline const char *row_check(const char *row, bool timestamps)
{
	enum { COLS = 19 };
	static const char *const names[COLS] = { "chain",         "chain_id",     "block_number", "block_hash",
						 "block_time",    "tx_hash",      "log_index",    "token_address",
						 "token_symbol",  "from_address", "to_address",   "merchant_id",
						 "amount_raw",    "decimals",     "amount",       "status",
						 "confirmations", "confirmed_at", "chain_family" };
	const char *f[COLS];
	size_t len[COLS], k = 0;
	size_t n = strlen(row);
	if (n == 0 || row[n - 1] != '\n')
		return "row end";
	f[0] = row;
	for (size_t i = 0; i < n - 1; i++)
		if (row[i] == '\t') {
			if (k == COLS - 1)
				return "column count";
			len[k] = (size_t)(row + i - f[k]);
			f[++k] = row + i + 1;
		}
	if (k != COLS - 1)
		return "column count";
	len[COLS - 1] = (size_t)(row + n - 1 - f[COLS - 1]);
	bool evm = len[18] == 3 && memcmp(f[18], "evm", 3) == 0;
	bool tron = len[18] == 4 && memcmp(f[18], "tron", 4) == 0;
#define RC_HASH(i) (evm ? rc_hex(f[i], len[i], 32) : rc_bare_hex(f[i], len[i], 32))
#define RC_ADDR(i) (evm ? rc_hex(f[i], len[i], 20) : rc_tron_address(f[i], len[i]))
	const uint64_t time_max = 253402300799ULL;
	bool ok[COLS] = {
		rc_text(f[0], len[0]),
		rc_uint_max(f[1], len[1], INT64_MAX),
		rc_uint_max(f[2], len[2], INT64_MAX),
		RC_HASH(3),
		timestamps ? rc_timestamp(f[4], len[4]) : rc_unix(f[4], len[4], time_max),
		RC_HASH(5),
		rc_uint_max(f[6], len[6], INT32_MAX),
		RC_ADDR(7),
		rc_text(f[8], len[8]),
		RC_ADDR(9),
		RC_ADDR(10),
		rc_text(f[11], len[11]),
		rc_digits(f[12], len[12], 78) && !(len[12] == 1 && f[12][0] == '0'),
		rc_uint_max(f[13], len[13], 77),
		len[14] > 0 && strspn(f[14], "0123456789.") >= len[14] && f[14][len[14] - 1] != '.',
		(len[15] == 9 && memcmp(f[15], "confirmed", 9) == 0) ||
			(len[15] == 8 && memcmp(f[15], "reverted", 8) == 0) ||
			(len[15] == 7 && memcmp(f[15], "pending", 7) == 0),
		rc_uint_max(f[16], len[16], INT32_MAX),
		timestamps ? rc_timestamp(f[17], len[17]) : rc_unix(f[17], len[17], time_max * 1000),
		evm || tron,
	};
#undef RC_HASH
#undef RC_ADDR
	if (!ok[COLS - 1])
		return names[COLS - 1];
	for (int i = 0; i < COLS; i++)
		if (!ok[i])
			return names[i];
	return NULL;
}

#endif
