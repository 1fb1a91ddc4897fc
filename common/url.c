/* url.c: a node's URL read into its parts (url.h). */
#include "url.h"

#include <stdio.h>
#include <string.h>

static int refuse(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

static bool host_byte(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
	       ch == '.' || ch == '_';
}

int pw_url_parse(const char *url, pw_url *ret, char *err, size_t errlen)
{
	static const struct {
		const char *prefix;
		bool tls, http;
		int port;
	} schemes[] = { { "ws://", false, false, 80 },
			{ "wss://", true, false, 443 },
			{ "http://", false, true, 80 },
			{ "https://", true, true, 443 } };
	memset(ret, 0, sizeof(*ret));
	for (const char *q = url; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return refuse(err, errlen,
				      "must be printable ASCII without spaces (percent-encode other characters)");
	const char *rest = NULL;
	for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]) && !rest; k++) {
		size_t n = strlen(schemes[k].prefix);
		if (strncmp(url, schemes[k].prefix, n) == 0) {
			rest = url + n;
			ret->tls = schemes[k].tls;
			ret->http = schemes[k].http;
			ret->port = schemes[k].port;
		}
	}
	if (!rest)
		return refuse(err, errlen, "must start with ws://, wss://, http:// or https://");
	if (strchr(url, '#'))
		return refuse(err, errlen, "must not hold a fragment (#...): it is never sent to the node");
	if (memchr(rest, '@', strcspn(rest, "/?")))
		return refuse(err, errlen, "must not carry a user name or password");
	size_t hostlen = strcspn(rest, ":/?");
	if (hostlen == 0 || hostlen >= sizeof(ret->host))
		return refuse(err, errlen, "must name a host of 1..255 bytes");
	for (size_t i = 0; i < hostlen; i++)
		if (!host_byte(rest[i]))
			return refuse(err, errlen,
				      "must name its host with letters, digits, '-', '.' and '_' (an IPv6 address in "
				      "brackets is not supported)");
	memcpy(ret->host, rest, hostlen);
	rest += hostlen;
	if (*rest == ':') {
		long port = 0;
		size_t digits = 0;
		while (rest[1 + digits] >= '0' && rest[1 + digits] <= '9' && digits < 6)
			port = port * 10 + (rest[1 + digits++] - '0');
		if (digits == 0 || digits > 5 || port < 1 || port > 65535)
			return refuse(err, errlen, "must give a port of 1..65535 after ':'");
		ret->port = (int)port;
		rest += 1 + digits;
	}
	if (*rest && *rest != '/' && *rest != '?')
		return refuse(err, errlen, "must follow its host and port with a path (/...) or a query (?...)");
	int n = snprintf(ret->path, sizeof(ret->path), "%s%s", *rest == '?' ? "/" : "", *rest ? rest : "/");
	if (n < 0 || (size_t)n >= sizeof(ret->path))
		return refuse(err, errlen, "must have a path and query of at most 1,023 bytes");
	return 0;
}
