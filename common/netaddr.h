/* netaddr.h: IP addresses and address blocks written as text: literals
 * (RFC 791's dotted quad, RFC 4291 2.2's IPv6 forms, read by inet_pton)
 * and CIDR blocks (RFC 4632: ADDRESS/PREFIX), as the config names the
 * API's trusted proxies and as X-Forwarded-For lists clients. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is read as its IPv4 address,
 * so one client is one address whichever way its socket shows it. */
#ifndef PW_NETADDR_H
#define PW_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An address (prefix its full length: 32 or 128) or a block of them. */
typedef struct pw_ipnet {
	uint8_t family;   /* 4 or 6 */
	uint8_t addr[16]; /* network byte order; IPv4 in the first 4 */
	uint8_t prefix;   /* bits that count: 0..32 or 0..128 */
} pw_ipnet;

/* pw_ipaddr_parse: an address from len bytes of text (not terminated):
 * an IPv4 or IPv6 literal, an IPv6 one optionally in brackets, white
 * space around ignored; with_port also takes a port after it (a.b.c.d:P
 * or [v6]:P, as some proxies write X-Forwarded-For), which is dropped.
 * 0 with *ret (prefix the full length), or PW_EPARSE (*ret untouched). */
int pw_ipaddr_parse(const char *text, size_t len, bool with_port, pw_ipnet *ret);

/* pw_ipnet_from_bytes: the address of family 4 (addr: 4 bytes) or 6 (16
 * bytes, network byte order), as a socket gives it; an IPv4-mapped IPv6
 * address becomes its IPv4 one. */
pw_ipnet pw_ipnet_from_bytes(int family, const uint8_t *addr);

/* pw_ipnet_parse: a NUL-terminated "ADDRESS" or "ADDRESS/PREFIX" (0..32
 * or 0..128 decimal digits; an IPv4-mapped address's prefix counted in
 * IPv6 bits, 96..128). Bits past the prefix must be zero ("10.0.0.1/8" is
 * refused: a typo for 10.0.0.0/8 or for 10.0.0.1). 0 with *ret, or
 * PW_EPARSE (*ret untouched). */
int pw_ipnet_parse(const char *text, pw_ipnet *ret);

/* pw_ipnet_contains: is addr (an address) inside net (a block of the same
 * family)? */
bool pw_ipnet_contains(const pw_ipnet *net, const pw_ipnet *addr);

#endif
