/* parse.c: strict decimal parsing. */
#include "parse.h"
#include "pw_error.h"

#include <stdbool.h>

int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	if (!s || !*s)
		return PW_EPARSE;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return PW_EPARSE;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return PW_ERANGE;
		v = v * 10 + d;
	}
	if (v > max)
		return PW_ERANGE;
	*ret = v;
	return 0;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	bool negative = s && *s == '-';
	uint64_t mag = 0;
	int r = parse_u64(negative ? s + 1 : s, (uint64_t)INT64_MAX + 1, &mag);
	if (r < 0)
		return r;
	if (!negative && mag > (uint64_t)INT64_MAX)
		return PW_ERANGE;
	int64_t v = negative ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
	if (v < min || v > max)
		return PW_ERANGE;
	*ret = v;
	return 0;
}
