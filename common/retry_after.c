/* retry_after.c: Retry-After's value (RFC 9110 10.2.3), bounded. */
#include "retry_after.h"

#include <curl/curl.h>
#include <string.h>
#include <strings.h>

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

long pw_retry_after_s(const char *value, size_t len, time_t now, long max_s)
{
	while (len && (*value == ' ' || *value == '\t'))
		value++, len--;
	while (len && is_space(value[len - 1]))
		len--;
	if (!len)
		return -1;
	size_t digits = 0;
	while (digits < len && value[digits] >= '0' && value[digits] <= '9')
		digits++;
	if (digits == len) { /* delay-seconds */
		long secs = 0;
		for (size_t i = 0; i < len && secs < max_s; i++)
			secs = secs * 10 + (value[i] - '0');
		return secs < max_s ? secs : max_s;
	}
	char date[64]; /* an HTTP-date is 24 to 30 bytes */
	if (len >= sizeof(date) || memchr(value, '\0', len))
		return -1;
	memcpy(date, value, len);
	date[len] = '\0';
	time_t when = curl_getdate(date, NULL);
	if (when < 0)
		return -1;
	if (when <= now)
		return 0;
	return when - now < max_s ? (long)(when - now) : max_s;
}

bool pw_retry_after_line(const char *line, size_t len, time_t now, long max_s, long *ret_s)
{
	static const char name[] = "retry-after:";
	const size_t n = sizeof(name) - 1;
	if (len <= n || strncasecmp(line, name, n) != 0)
		return false;
	long secs = pw_retry_after_s(line + n, len - n, now, max_s);
	if (secs < 0)
		return false;
	*ret_s = secs;
	return true;
}
