/* client_limits.c: token buckets per client address (client_limits.h). */
#include "client_limits.h"
#include "pw_error.h"
#include "random.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A client as its bucket knows it: the address's family and the bytes
 * that tell clients apart (IPv4: 4, IPv6: the /64's 8, unknown: none). */
typedef struct client_key {
	uint8_t family; /* 0: a free slot; 4, 6, or 1: a client whose address is not known */
	uint8_t b[8];
} client_key;

typedef struct slot {
	client_key key;
	bucket b; /* b.last_ms: the last take, which the least recently used is told by */
} slot;

struct client_limits {
	pthread_mutex_t lock;
	double rate_per_s, burst;
	uint64_t hash_key[2];
	slot slots[CLIENT_LIMITS_SLOTS];
};

bool bucket_take(bucket *b, double rate_per_s, double burst, int64_t now_ms, unsigned *ret_retry_s)
{
	double elapsed_ms = now_ms > b->last_ms ? (double)(now_ms - b->last_ms) : 0;
	b->tokens += elapsed_ms * rate_per_s / 1000.0;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_ms = now_ms;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return true;
	}
	*ret_retry_s = (unsigned)((1.0 - b->tokens) / rate_per_s) + 1;
	return false;
}

int client_limits_create(double rate_per_s, double burst, client_limits **ret)
{
	if (!(rate_per_s > 0) || !(burst >= 1))
		return PW_EINVAL;
	client_limits *l = calloc(1, sizeof(*l));
	if (!l)
		return PW_ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	l->rate_per_s = rate_per_s;
	l->burst = burst;
	l->hash_key[0] = pw_random_u64();
	l->hash_key[1] = pw_random_u64();
	*ret = l;
	return 0;
}

void client_limits_destroy(client_limits *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static client_key key_of(const pw_ipnet *client)
{
	client_key k = { .family = 1 };
	if (client && client->family == 4) {
		k.family = 4;
		memcpy(k.b, client->addr, 4);
	} else if (client && client->family == 6) {
		k.family = 6;
		memcpy(k.b, client->addr, 8);
	}
	return k;
}

/* A keyed mix of the key's bytes (splitmix64's finalizer over the key
 * folded with the table's random key): slots spread evenly, and where an
 * address lands cannot be known from outside. */
static size_t slot_of(const client_limits *l, const client_key *k)
{
	uint64_t v;
	memcpy(&v, k->b, sizeof(v));
	uint64_t z = (v ^ l->hash_key[0]) + ((uint64_t)k->family << 56) + l->hash_key[1];
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (size_t)(z % CLIENT_LIMITS_SLOTS);
}

bool client_limits_take(client_limits *l, const pw_ipnet *client, int64_t now_ms, unsigned *ret_retry_s)
{
	client_key k = key_of(client);
	size_t home = slot_of(l, &k);
	pthread_mutex_lock(&l->lock);
	slot *found = NULL, *victim = NULL;
	for (size_t i = 0; i < CLIENT_LIMITS_PROBES && !found; i++) {
		slot *s = &l->slots[(home + i) % CLIENT_LIMITS_SLOTS];
		if (s->key.family == k.family && memcmp(s->key.b, k.b, sizeof(k.b)) == 0)
			found = s;
		/* where a new client goes: the first free slot, else the least recently used */
		else if (!victim ||
			 (victim->key.family != 0 && (s->key.family == 0 || s->b.last_ms < victim->b.last_ms)))
			victim = s;
	}
	if (!found) {
		found = victim;
		*found = (slot){ .key = k, .b = { .tokens = l->burst, .last_ms = now_ms } };
	}
	bool ok = bucket_take(&found->b, l->rate_per_s, l->burst, now_ms, ret_retry_s);
	pthread_mutex_unlock(&l->lock);
	return ok;
}
