/* netaddr.c: IP addresses and address blocks as text (netaddr.h). */
#include "netaddr.h"
#include "parse.h"
#include "pw_error.h"

#include <arpa/inet.h>
#include <string.h>

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* text[0..len) as a C string in buf (bufsize bytes); false when it does not fit or holds a NUL */
static bool copy_text(const char *text, size_t len, char *buf, size_t bufsize)
{
	if (len >= bufsize || memchr(text, '\0', len))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return true;
}

pw_ipnet pw_ipnet_from_bytes(int family, const uint8_t *addr)
{
	pw_ipnet a;
	memset(&a, 0, sizeof(a));
	if (family == 6 && memcmp(addr, v4_mapped, sizeof(v4_mapped)) != 0) {
		a.family = 6;
		a.prefix = 128;
		memcpy(a.addr, addr, 16);
	} else {
		a.family = 4;
		a.prefix = 32;
		memcpy(a.addr, family == 6 ? addr + 12 : addr, 4);
	}
	return a;
}

/* a bare literal (no brackets, no port) */
static int parse_literal(const char *s, pw_ipnet *ret)
{
	uint8_t b[16];
	if (inet_pton(AF_INET, s, b) == 1)
		*ret = pw_ipnet_from_bytes(4, b);
	else if (inet_pton(AF_INET6, s, b) == 1)
		*ret = pw_ipnet_from_bytes(6, b);
	else
		return PW_EPARSE;
	return 0;
}

int pw_ipaddr_parse(const char *text, size_t len, bool with_port, pw_ipnet *ret)
{
	while (len && (*text == ' ' || *text == '\t'))
		text++, len--;
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	char buf[64];
	if (!copy_text(text, len, buf, sizeof(buf)))
		return PW_EPARSE;
	char *s = buf;
	if (*s == '[') { /* [v6] or [v6]:port */
		char *close = strchr(s, ']');
		if (!close || (close[1] && !(with_port && close[1] == ':')))
			return PW_EPARSE;
		uint64_t port;
		if (close[1] && parse_u64(close + 2, 65535, &port) < 0)
			return PW_EPARSE;
		*close = '\0';
		s++;
		if (!strchr(s, ':')) /* brackets hold an IPv6 literal only */
			return PW_EPARSE;
	} else if (with_port) { /* a.b.c.d:port (one colon: an IPv6 literal has two or more) */
		char *colon = strchr(s, ':');
		uint64_t port;
		if (colon && !strchr(colon + 1, ':')) {
			if (parse_u64(colon + 1, 65535, &port) < 0)
				return PW_EPARSE;
			*colon = '\0';
		}
	}
	return parse_literal(s, ret);
}

int pw_ipnet_parse(const char *text, pw_ipnet *ret)
{
	char buf[64];
	if (!copy_text(text, strlen(text), buf, sizeof(buf)))
		return PW_EPARSE;
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	pw_ipnet n;
	bool mapped = strchr(buf, ':') && strchr(buf, '.'); /* ::ffff:a.b.c.d and the like */
	if (parse_literal(buf, &n) < 0)
		return PW_EPARSE;
	if (slash) {
		uint64_t prefix;
		uint64_t max = mapped && n.family == 4 ? 128 : n.family == 4 ? 32 : 128;
		if (parse_u64(slash + 1, max, &prefix) < 0)
			return PW_EPARSE;
		if (mapped && n.family == 4) { /* an IPv4-mapped block: counted in IPv6 bits */
			if (prefix < 96)
				return PW_EPARSE;
			prefix -= 96;
		}
		n.prefix = (uint8_t)prefix;
	}
	/* the bits past the prefix are zero */
	size_t bytes = n.family == 4 ? 4 : 16;
	for (size_t bit = n.prefix; bit < bytes * 8; bit++)
		if (n.addr[bit / 8] & (0x80 >> (bit % 8)))
			return PW_EPARSE;
	*ret = n;
	return 0;
}

bool pw_ipnet_contains(const pw_ipnet *net, const pw_ipnet *addr)
{
	if (net->family != addr->family)
		return false;
	size_t whole = net->prefix / 8;
	if (memcmp(net->addr, addr->addr, whole) != 0)
		return false;
	unsigned rest = net->prefix % 8;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (net->addr[whole] & mask) == (addr->addr[whole] & mask);
}
