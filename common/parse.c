/* parse.c: strict decimal parsing. */
#include "parse.h"
#include "pw_error.h"

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
