/* parse.h: strict number parsing, written once and used everywhere instead
 * of atoi/strtol (no sign, no whitespace, no trailing bytes, overflow checked). */
#ifndef PW_PARSE_H
#define PW_PARSE_H

#include <stdint.h>

/* parse_u64: decimal digits only, value <= max. 0 with *ret set, or
 * PW_EPARSE (empty, non-digit) / PW_ERANGE (> max); *ret untouched on error. */
int parse_u64(const char *s, uint64_t max, uint64_t *ret);

/* parse_i64: an optional '-' then decimal digits, min <= value <= max.
 * 0 with *ret set, or PW_EPARSE / PW_ERANGE; *ret untouched on error. */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret);

#endif
