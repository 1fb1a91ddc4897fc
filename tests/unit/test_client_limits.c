/* test_client_limits.c: the checkout pages' token buckets per client
 * address: one client's flood leaves another's bucket whole; an IPv6
 * /64 is one client, an IPv4-mapped address its IPv4 one, every other
 * kind of address one more; buckets refill at the rate and say how long
 * to wait; a table full of other clients gives way least recently used
 * first, the client returning with a full bucket; rates out of range are
 * refused. */
#include "client_limits.h"
#include "pw_error.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

static struct sockaddr_in v4(const char *text)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	CHECK(inet_pton(AF_INET, text, &a.sin_addr) == 1);
	return a;
}

static struct sockaddr_in6 v6(const char *text)
{
	struct sockaddr_in6 a;
	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	CHECK(inet_pton(AF_INET6, text, &a.sin6_addr) == 1);
	return a;
}

/* how many of n takes at now_ms succeed for addr */
static int takes(client_limits *l, const void *addr, socklen_t len, int n, int64_t now_ms)
{
	int ok = 0;
	unsigned retry = 0;
	for (int i = 0; i < n; i++)
		ok += client_limits_take(l, (const struct sockaddr *)addr, len, now_ms, &retry);
	return ok;
}

int main(void)
{
	client_limits *l = NULL;
	ASSERT_EQ_INT(PW_EINVAL, client_limits_create(0, 3, &l));
	ASSERT_EQ_INT(PW_EINVAL, client_limits_create(1, 0.5, &l));
	ASSERT_EQ_INT(0, client_limits_create(1, 3, &l));

	/* one client's flood: its own bucket empties, another's is whole */
	struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
	ASSERT_EQ_INT(3, takes(l, &a, sizeof(a), 10, 1000));
	ASSERT_EQ_INT(3, takes(l, &b, sizeof(b), 10, 1000));
	unsigned retry = 0;
	CHECK(!client_limits_take(l, (const struct sockaddr *)&a, sizeof(a), 1000, &retry));
	ASSERT_EQ_INT(2, retry); /* a token in 1 s: rounded down, plus one */
	/* refilled at the rate: one token a second, up to the burst */
	ASSERT_EQ_INT(1, takes(l, &a, sizeof(a), 5, 2000));
	ASSERT_EQ_INT(3, takes(l, &a, sizeof(a), 5, 60000));

	/* IPv6: one bucket per /64; an IPv4-mapped address is its IPv4 one */
	struct sockaddr_in6 c1 = v6("2001:db8:0:7::1"), c2 = v6("2001:db8:0:7:ffff::2"), d = v6("2001:db8:0:8::1");
	ASSERT_EQ_INT(3, takes(l, &c1, sizeof(c1), 2, 1000) + takes(l, &c2, sizeof(c2), 10, 1000));
	ASSERT_EQ_INT(3, takes(l, &d, sizeof(d), 10, 1000));
	struct sockaddr_in e = v4("198.51.100.9");
	struct sockaddr_in6 e_mapped = v6("::ffff:198.51.100.9");
	ASSERT_EQ_INT(3, takes(l, &e_mapped, sizeof(e_mapped), 10, 1000));
	ASSERT_EQ_INT(0, takes(l, &e, sizeof(e), 10, 1000));
	/* an address shorter than its family's: the bucket of other addresses,
	 * as are a Unix socket's and none at all */
	struct sockaddr_un u;
	memset(&u, 0, sizeof(u));
	u.sun_family = AF_UNIX;
	ASSERT_EQ_INT(1, takes(l, &u, sizeof(u), 1, 1000));
	ASSERT_EQ_INT(1, takes(l, NULL, 0, 1, 1000));
	ASSERT_EQ_INT(1, takes(l, &a, 4, 5, 1000));
	ASSERT_EQ_INT(0, takes(l, &u, sizeof(u), 5, 1000));
	client_limits_destroy(l);

	/* the table full of other clients: the least recently used gives way,
	 * and the client it held comes back to a full bucket (never less than
	 * it had); memory stays the table's whatever the number of clients */
	ASSERT_EQ_INT(0, client_limits_create(1, 3, &l));
	struct sockaddr_in first = v4("203.0.113.1");
	ASSERT_EQ_INT(3, takes(l, &first, sizeof(first), 10, 1000));
	int fresh = 0;
	for (uint32_t i = 0; i < 16 * CLIENT_LIMITS_SLOTS; i++) {
		struct sockaddr_in other;
		memset(&other, 0, sizeof(other));
		other.sin_family = AF_INET;
		other.sin_addr.s_addr = htonl(0x0a000000u + i); /* 10.0.0.0/8 */
		fresh += takes(l, &other, sizeof(other), 1, 2000 + i);
	}
	ASSERT_EQ_INT(16 * CLIENT_LIMITS_SLOTS, fresh);
	ASSERT_EQ_INT(3, takes(l, &first, sizeof(first), 10, 3000));
	/* a client in use is not pushed out by one new client after another */
	struct sockaddr_in busy = v4("203.0.113.2");
	ASSERT_EQ_INT(3, takes(l, &busy, sizeof(busy), 3, 1000000));
	int refused = 0;
	for (uint32_t i = 0; i < 64; i++) {
		struct sockaddr_in other;
		memset(&other, 0, sizeof(other));
		other.sin_family = AF_INET;
		other.sin_addr.s_addr = htonl(0x0b000000u + i);
		takes(l, &other, sizeof(other), 1, 1000000);
		refused += takes(l, &busy, sizeof(busy), 1, 1000000) == 0;
	}
	ASSERT_EQ_INT(64, refused);
	client_limits_destroy(l);
	client_limits_destroy(NULL);
	return test_finish("test_client_limits");
}
