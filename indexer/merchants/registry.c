/* registry.c: the current merchant address set, swapped atomically
 * (registry.h). A mutex guards the pointer and the reference counts; it is
 * taken twice per range of transfers, never while matching. */
#include "registry.h"
#include "clock.h"
#include "pw_error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

typedef struct held {
	matcher *m;
	unsigned readers;
	struct held *next; /* replaced sets still read */
} held;

struct registry {
	pthread_mutex_t lock;
	pthread_cond_t opened; /* signalled by registry_open */
	bool held;             /* registry_hold without registry_open yet */
	held *current;
	held *retired;
	uint64_t version;
};

int registry_create(matcher *initial, registry **ret)
{
	registry *r = calloc(1, sizeof(*r));
	held *h = calloc(1, sizeof(*h));
	if (!r || !h) {
		free(r);
		free(h);
		matcher_destroy(initial);
		return PW_ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->opened, &ca);
	pthread_condattr_destroy(&ca);
	h->m = initial;
	r->current = h;
	r->version = 1;
	*ret = r;
	return 0;
}

static void free_held(held *h)
{
	matcher_destroy(h->m);
	free(h);
}

void registry_destroy(registry *r)
{
	if (!r)
		return;
	free_held(r->current);
	for (held *h = r->retired, *next; h; h = next) {
		next = h->next;
		free_held(h);
	}
	pthread_cond_destroy(&r->opened);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static uint64_t publish(registry *r, matcher *m, bool only_over, uint64_t version)
{
	held *h = calloc(1, sizeof(*h));
	if (!h) {
		matcher_destroy(m);
		return 0;
	}
	h->m = m;
	held *old = NULL;
	pthread_mutex_lock(&r->lock);
	if (only_over && r->version != version) {
		pthread_mutex_unlock(&r->lock);
		free_held(h);
		return 0;
	}
	held *prev = r->current;
	r->current = h;
	uint64_t v = ++r->version;
	if (r->held) { /* a set loaded (or kept from the last load): matching may begin */
		r->held = false;
		pthread_cond_broadcast(&r->opened);
	}
	if (prev->readers == 0)
		old = prev;
	else {
		prev->next = r->retired;
		r->retired = prev;
	}
	pthread_mutex_unlock(&r->lock);
	if (old)
		free_held(old); /* outside the lock: a large set takes a while to unmap */
	return v;
}

uint64_t registry_publish(registry *r, matcher *m)
{
	return publish(r, m, false, 0);
}

uint64_t registry_publish_over(registry *r, matcher *m, uint64_t version)
{
	return publish(r, m, true, version);
}

const matcher *registry_acquire(registry *r)
{
	pthread_mutex_lock(&r->lock);
	r->current->readers++;
	const matcher *m = r->current->m;
	pthread_mutex_unlock(&r->lock);
	return m;
}

void registry_release(registry *r, const matcher *m)
{
	held *gone = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->current->m == m)
		r->current->readers--;
	else
		for (held **p = &r->retired; *p; p = &(*p)->next)
			if ((*p)->m == m) {
				if (--(*p)->readers == 0) {
					gone = *p;
					*p = gone->next;
				}
				break;
			}
	pthread_mutex_unlock(&r->lock);
	if (gone)
		free_held(gone);
}

void registry_hold(registry *r)
{
	pthread_mutex_lock(&r->lock);
	r->held = true;
	pthread_mutex_unlock(&r->lock);
}

void registry_open(registry *r)
{
	pthread_mutex_lock(&r->lock);
	r->held = false;
	pthread_cond_broadcast(&r->opened);
	pthread_mutex_unlock(&r->lock);
}

bool registry_wait_open(registry *r, atomic_bool *stop)
{
	pthread_mutex_lock(&r->lock);
	while (r->held && !(stop && atomic_load(stop))) {
		struct timespec until = pw_deadline(CLOCK_MONOTONIC, 100);
		pthread_cond_timedwait(&r->opened, &r->lock, &until);
	}
	bool open = !r->held;
	pthread_mutex_unlock(&r->lock);
	return open;
}

uint64_t registry_version(registry *r)
{
	pthread_mutex_lock(&r->lock);
	uint64_t v = r->version;
	pthread_mutex_unlock(&r->lock);
	return v;
}
