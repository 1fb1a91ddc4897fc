/* test_client_limits.c: the checkout pages' token buckets per client
 * (client_limits) and the addresses they are keyed by (netaddr): one
 * client's flood leaves another's bucket whole; an IPv6 /64 is one
 * client, an IPv4-mapped address its IPv4 one, every unknown client one
 * more; buckets refill at the rate and say how long to wait; a table full
 * of other clients gives way least recently used first, the client
 * returning with a full bucket; rates out of range are refused. The
 * addresses and CIDR blocks as the config and X-Forwarded-For write them:
 * brackets, ports, white space, prefixes, bits past a prefix refused;
 * the Forwarded header's (RFC 7239) for nodes, read as a list. */
#include "client_limits.h"
#include "forwarded.h"
#include "netaddr.h"
#include "pw_error.h"
#include "test.h"

#include <string.h>

static pw_ipnet addr(const char *text)
{
	pw_ipnet a;
	memset(&a, 0, sizeof(a));
	ASSERT_EQ_INT(0, pw_ipaddr_parse(text, strlen(text), false, &a));
	return a;
}

/* how many of n takes at now_ms succeed for client */
static int takes(client_limits *l, const pw_ipnet *client, int n, int64_t now_ms)
{
	int ok = 0;
	unsigned retry = 0;
	for (int i = 0; i < n; i++)
		ok += client_limits_take(l, client, now_ms, &retry);
	return ok;
}

static void test_netaddr(void)
{
	pw_ipnet a, b, net;
	/* literals, with what X-Forwarded-For adds around them */
	static const struct {
		const char *text;
		bool with_port;
		int family;
		const char *same_as;
	} ok[] = {
		{ "192.0.2.1", false, 4, "192.0.2.1" },        { " 192.0.2.1\t", false, 4, "192.0.2.1" },
		{ "192.0.2.1:8080", true, 4, "192.0.2.1" },    { "2001:db8::1", false, 6, "2001:db8::1" },
		{ "[2001:db8::1]", false, 6, "2001:db8::1" },  { "[2001:db8::1]:443", true, 6, "2001:db8::1" },
		{ "2001:db8::1", true, 6, "2001:db8::1" }, /* no port: two colons or more are an IPv6 literal */
		{ "::ffff:192.0.2.1", false, 4, "192.0.2.1" },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ASSERT_EQ_INT(0, pw_ipaddr_parse(ok[i].text, strlen(ok[i].text), ok[i].with_port, &a));
		ASSERT_EQ_INT(ok[i].family, a.family);
		b = addr(ok[i].same_as);
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	}
	static const struct {
		const char *text;
		bool with_port;
	} bad[] = {
		{ "", false },
		{ "192.0.2.1:8080", false },
		{ "[2001:db8::1]:443", false },
		{ "192.0.2.1:99999", true },
		{ "192.0.2.1:", true },
		{ "[192.0.2.1]", true },
		{ "[2001:db8::1", true },
		{ "unknown", true },
		{ "192.0.2", false },
		{ "192.0.2.256", false },
		{ "_hidden", true }, /* RFC 7239's obfuscated identifiers are not addresses */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = pw_ipaddr_parse(bad[i].text, strlen(bad[i].text), bad[i].with_port, &a);
		if (r != PW_EPARSE)
			fprintf(stderr, "address \"%s\" read\n", bad[i].text);
		ASSERT_EQ_INT(PW_EPARSE, r);
	}
	ASSERT_EQ_INT(PW_EPARSE, pw_ipaddr_parse("192.0.2.1\0x", 11, false, &a)); /* a NUL inside */
	/* as a socket gives them: an IPv4-mapped IPv6 peer is its IPv4 address */
	static const uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	a = pw_ipnet_from_bytes(6, mapped);
	b = addr("192.0.2.1");
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	a = pw_ipnet_from_bytes(6, v6);
	b = addr("2001:db8::1");
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	a = pw_ipnet_from_bytes(4, mapped + 12);
	b = addr("192.0.2.1");
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	ASSERT_EQ_INT(0, pw_ipaddr_parse("192.0.2.1, 10.0.0.1", 9, false, &a)); /* the length is the entry's */

	/* blocks */
	ASSERT_EQ_INT(0, pw_ipnet_parse("10.0.0.0/8", &net));
	ASSERT_EQ_INT(8, net.prefix);
	a = addr("10.255.0.1");
	CHECK(pw_ipnet_contains(&net, &a));
	a = addr("11.0.0.1");
	CHECK(!pw_ipnet_contains(&net, &a));
	a = addr("::ffff:10.1.2.3");
	CHECK(pw_ipnet_contains(&net, &a));
	a = addr("2001:db8::1");
	CHECK(!pw_ipnet_contains(&net, &a)); /* another family */
	ASSERT_EQ_INT(0, pw_ipnet_parse("172.16.0.0/12", &net));
	a = addr("172.31.255.255");
	CHECK(pw_ipnet_contains(&net, &a));
	a = addr("172.32.0.0");
	CHECK(!pw_ipnet_contains(&net, &a));
	ASSERT_EQ_INT(0, pw_ipnet_parse("2001:db8::/32", &net));
	a = addr("2001:db8:ffff::1");
	CHECK(pw_ipnet_contains(&net, &a));
	a = addr("2001:db9::1");
	CHECK(!pw_ipnet_contains(&net, &a));
	ASSERT_EQ_INT(0, pw_ipnet_parse("127.0.0.1", &net)); /* an address: a block of one */
	ASSERT_EQ_INT(32, net.prefix);
	a = addr("127.0.0.1");
	CHECK(pw_ipnet_contains(&net, &a));
	a = addr("127.0.0.2");
	CHECK(!pw_ipnet_contains(&net, &a));
	ASSERT_EQ_INT(0, pw_ipnet_parse("0.0.0.0/0", &net));
	a = addr("198.51.100.7");
	CHECK(pw_ipnet_contains(&net, &a));
	ASSERT_EQ_INT(0, pw_ipnet_parse("::ffff:10.0.0.0/104", &net)); /* IPv4-mapped: counted in IPv6 bits */
	ASSERT_EQ_INT(4, net.family);
	ASSERT_EQ_INT(8, net.prefix);
	static const char *const bad_nets[] = {
		"10.0.0.1/8",     "10.0.0.0/33",        "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "2001:db8::/129",
		"2001:db8::1/32", "::ffff:10.0.0.0/95", "",          "x/8"
	};
	for (size_t i = 0; i < sizeof(bad_nets) / sizeof(bad_nets[0]); i++) {
		int r = pw_ipnet_parse(bad_nets[i], &net);
		if (r != PW_EPARSE)
			fprintf(stderr, "block \"%s\" read\n", bad_nets[i]);
		ASSERT_EQ_INT(PW_EPARSE, r);
	}
}

/* The Forwarded header (RFC 7239) as the list of its elements' for nodes:
 * the RFC's own examples (sections 4, 6 and 7.1), then what a client may
 * write to the left of the proxies' elements: each such element is one
 * entry, "?" where it names no node that reads, and nothing it holds
 * becomes two entries. */
static void test_forwarded(void)
{
	static const struct {
		const char *value, *nodes;
	} cases[] = {
		/* RFC 7239 */
		{ "for=\"_gazonk\"", "_gazonk" },
		{ "For=\"[2001:db8:cafe::17]:4711\"", "[2001:db8:cafe::17]:4711" },
		{ "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60" },
		{ "for=192.0.2.43, for=198.51.100.17", "192.0.2.43,198.51.100.17" },
		{ "for=192.0.2.43,for=\"[2001:db8:cafe::17]\",for=unknown", "192.0.2.43,[2001:db8:cafe::17],unknown" },
		{ "for=unknown;by=\"[2001:db8::1]\"", "unknown" },
		/* the list's forms: white space, empty elements and pairs, case */
		{ " for = 192.0.2.1 ; proto=https ,\tFOR=192.0.2.2 ", "192.0.2.1,192.0.2.2" },
		{ ",, for=192.0.2.1 ,,", "192.0.2.1" },
		{ ";;for=192.0.2.1;;", "192.0.2.1" },
		{ "for=\"\\1\\9\\2.0.2.1\"", "192.0.2.1" }, /* quoted-pairs read */
		{ "by=192.0.2.9;proto=\"a,b;c\";for=192.0.2.1", "192.0.2.1" },
		/* elements naming no node that reads: one "?" each */
		{ "proto=https, for=192.0.2.1", "?,192.0.2.1" },
		{ "for=\"192.0.2.1,198.51.100.1\", for=192.0.2.2", "?,192.0.2.2" },
		{ "for=192.0.2.1;for=192.0.2.3, for=192.0.2.2", "?,192.0.2.2" },
		{ "for=\"\", for=192.0.2.2", "?,192.0.2.2" },
		{ "for=\"192.0.2.1 \", for=192.0.2.2", "?,192.0.2.2" },
		{ "for=\"192.0.2.1\\\"\", for=192.0.2.2", "?,192.0.2.2" },
		{ "for=\""
		  "1111111111111111111111111111111111111111111111111111111111111111"
		  "\", for=192.0.2.2",
		  "?,192.0.2.2" },
		/* a syntax error: that element "?", the rest not read */
		{ "for=192.0.2.1, for=\"192.0.2.7, for=192.0.2.2", "192.0.2.1,?" },
		{ "for=192.0.2.1, for, for=192.0.2.2", "192.0.2.1,?" },
		{ "for=192.0.2.1, =x, for=192.0.2.2", "192.0.2.1,?" },
		{ "for=192.0.2.1, for=, for=192.0.2.2", "192.0.2.1,?" },
		{ "for=192.0.2.1, for=192.0.2.7 x, for=192.0.2.2", "192.0.2.1,?" },
		{ "for=192.0.2.1, for=\"192.0.2.7\\", "192.0.2.1,?" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pw_buf b;
		buf_init(&b, 4096);
		ASSERT_EQ_INT(0, pw_forwarded_nodes(cases[i].value, strlen(cases[i].value), &b));
		if (strcmp(cases[i].nodes, b.len ? b.data : "") != 0)
			fprintf(stderr, "Forwarded: %s\n", cases[i].value);
		ASSERT_EQ_STR(cases[i].nodes, b.len ? b.data : "");
		buf_done(&b);
	}
	/* a NUL inside a value is a byte no node holds */
	static const char nul[] = "for=\"192.0.2.1\0\", for=192.0.2.2";
	pw_buf b;
	buf_init(&b, 4096);
	ASSERT_EQ_INT(0, pw_forwarded_nodes(nul, sizeof(nul) - 1, &b));
	ASSERT_EQ_STR("?,192.0.2.2", b.data);
	/* the output's cap: an error, and what was appended ends in no address */
	buf_done(&b);
	buf_init(&b, 12);
	CHECK(pw_forwarded_nodes("for=192.0.2.1, for=192.0.2.2", 28, &b) < 0);
	pw_ipnet a;
	ASSERT_EQ_STR("192.0.2.1,", b.data); /* its last entry empty: no address */
	CHECK(pw_ipaddr_parse(b.data + b.len, 0, true, &a) < 0);
	buf_done(&b);
}

int main(void)
{
	test_netaddr();
	test_forwarded();
	client_limits *l = NULL;
	ASSERT_EQ_INT(PW_EINVAL, client_limits_create(0, 3, &l));
	ASSERT_EQ_INT(PW_EINVAL, client_limits_create(1, 0.5, &l));
	ASSERT_EQ_INT(0, client_limits_create(1, 3, &l));

	/* one client's flood: its own bucket empties, another's is whole */
	pw_ipnet a = addr("192.0.2.1"), b = addr("192.0.2.2");
	ASSERT_EQ_INT(3, takes(l, &a, 10, 1000));
	ASSERT_EQ_INT(3, takes(l, &b, 10, 1000));
	unsigned retry = 0;
	CHECK(!client_limits_take(l, &a, 1000, &retry));
	ASSERT_EQ_INT(2, retry); /* a token in 1 s: rounded down, plus one */
	/* refilled at the rate: one token a second, up to the burst */
	ASSERT_EQ_INT(1, takes(l, &a, 5, 2000));
	ASSERT_EQ_INT(3, takes(l, &a, 5, 60000));

	/* IPv6: one bucket per /64; an IPv4-mapped address is its IPv4 one */
	pw_ipnet c1 = addr("2001:db8:0:7::1"), c2 = addr("2001:db8:0:7:ffff::2"), d = addr("2001:db8:0:8::1");
	ASSERT_EQ_INT(3, takes(l, &c1, 2, 1000) + takes(l, &c2, 10, 1000));
	ASSERT_EQ_INT(3, takes(l, &d, 10, 1000));
	pw_ipnet e = addr("198.51.100.9"), e_mapped = addr("::ffff:198.51.100.9");
	ASSERT_EQ_INT(3, takes(l, &e_mapped, 10, 1000));
	ASSERT_EQ_INT(0, takes(l, &e, 10, 1000));
	/* clients whose address is not known share one bucket */
	ASSERT_EQ_INT(3, takes(l, NULL, 10, 1000));
	client_limits_destroy(l);

	/* the table full of other clients: the least recently used gives way,
	 * and the client it held comes back to a full bucket (never less than
	 * it had); memory stays the table's whatever the number of clients */
	ASSERT_EQ_INT(0, client_limits_create(1, 3, &l));
	pw_ipnet first = addr("203.0.113.1");
	ASSERT_EQ_INT(3, takes(l, &first, 10, 1000));
	int fresh = 0;
	for (uint32_t i = 0; i < 16 * CLIENT_LIMITS_SLOTS; i++) {
		pw_ipnet other = { .family = 4,
				   .prefix = 32,
				   .addr = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i } };
		fresh += takes(l, &other, 1, 2000 + i);
	}
	ASSERT_EQ_INT(16 * CLIENT_LIMITS_SLOTS, fresh);
	ASSERT_EQ_INT(3, takes(l, &first, 10, 3000));
	/* a client in use is not pushed out by one new client after another */
	pw_ipnet busy = addr("203.0.113.2");
	ASSERT_EQ_INT(3, takes(l, &busy, 3, 1000000));
	int refused = 0;
	for (uint32_t i = 0; i < 64; i++) {
		pw_ipnet other = { .family = 4, .prefix = 32, .addr = { 11, 0, 0, (uint8_t)i } };
		takes(l, &other, 1, 1000000);
		refused += takes(l, &busy, 1, 1000000) == 0;
	}
	ASSERT_EQ_INT(64, refused);
	client_limits_destroy(l);
	client_limits_destroy(NULL);
	return test_finish("test_client_limits");
}
