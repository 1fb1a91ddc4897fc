/* rpc_bulk.c: see rpc_bulk.h. One mutex guards both queues and the
 * failure; the rpc_http transport is used by the bulk thread alone
 * (created before it starts, destroyed after it ends). */
#include "rpc_bulk.h"
#include "pw_error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bulk_req {
	struct bulk_req *next;
	size_t len;
	bool has_id;
	uint64_t first_id;
	char data[];
} bulk_req;

typedef struct bulk_answer {
	struct bulk_answer *next;
	rpc_http_answer a;
} bulk_answer;

struct rpc_bulk {
	rpc_http *http;
	pthread_t thread;
	pthread_mutex_t lock;
	bulk_req *req_head, *req_tail;
	bulk_answer *ans_head, *ans_tail;
	bool failed;
	char error[256];
	atomic_bool stop;
	void (*wake)(void *arg);
	void *arg;
};

static void fail_locked(rpc_bulk *b, const char *why)
{
	if (!b->failed)
		snprintf(b->error, sizeof(b->error), "%s", why && *why ? why : "HTTP transport failed");
	b->failed = true;
}

static void *bulk_main(void *arg)
{
	rpc_bulk *b = arg;
	while (!atomic_load(&b->stop)) {
		pthread_mutex_lock(&b->lock);
		bulk_req *q = b->req_head;
		b->req_head = b->req_tail = NULL;
		pthread_mutex_unlock(&b->lock);
		int r = 0;
		while (q) {
			bulk_req *next = q->next;
			if (r == 0)
				r = rpc_http_send(b->http, q->data, q->len, q->has_id, q->first_id);
			free(q);
			q = next;
		}
		rpc_http_answer a;
		if (r == 0)
			r = rpc_http_poll(b->http, 1000, &a);
		if (r == PW_ETIMEDOUT || r == PW_ESTOPPED)
			continue;
		bulk_answer *ans = r == 0 ? malloc(sizeof(*ans)) : NULL;
		pthread_mutex_lock(&b->lock);
		if (ans) {
			ans->next = NULL;
			ans->a = a;
			if (b->ans_tail)
				b->ans_tail->next = ans;
			else
				b->ans_head = ans;
			b->ans_tail = ans;
		} else {
			if (r == 0)
				free(a.body);
			fail_locked(b, r == PW_ENOMEM || r == 0 ? "out of memory" : rpc_http_error(b->http));
		}
		bool failed = b->failed;
		pthread_mutex_unlock(&b->lock);
		b->wake(b->arg);
		if (failed)
			break; /* the client recreates everything */
	}
	return NULL;
}

int rpc_bulk_start(const char *url, const char *const *headers, size_t n_headers, size_t max_connections,
		   size_t max_message_bytes, uint32_t timeout_ms, void (*wake)(void *arg), void *arg, rpc_bulk **ret)
{
	rpc_bulk *b = calloc(1, sizeof(*b));
	if (!b)
		return PW_ENOMEM;
	int r = rpc_http_create(url, headers, n_headers, max_connections, max_message_bytes, timeout_ms, &b->http);
	if (r < 0) {
		free(b);
		return r;
	}
	b->wake = wake;
	b->arg = arg;
	pthread_mutex_init(&b->lock, NULL);
	if (pthread_create(&b->thread, NULL, bulk_main, b) != 0) {
		pthread_mutex_destroy(&b->lock);
		rpc_http_destroy(b->http);
		free(b);
		return PW_ENOMEM;
	}
	*ret = b;
	return 0;
}

void rpc_bulk_stop(rpc_bulk *b)
{
	if (!b)
		return;
	atomic_store(&b->stop, true);
	rpc_http_wake(b->http);
	pthread_join(b->thread, NULL);
	rpc_http_destroy(b->http);
	for (bulk_req *q = b->req_head, *next; q; q = next) {
		next = q->next;
		free(q);
	}
	for (bulk_answer *a = b->ans_head, *next; a; a = next) {
		next = a->next;
		free(a->a.body);
		free(a);
	}
	pthread_mutex_destroy(&b->lock);
	free(b);
}

int rpc_bulk_send(rpc_bulk *b, const char *json, size_t len, bool has_id, uint64_t first_id)
{
	bulk_req *q = malloc(sizeof(*q) + len);
	if (!q)
		return PW_ENOMEM;
	q->next = NULL;
	q->len = len;
	q->has_id = has_id;
	q->first_id = first_id;
	memcpy(q->data, json, len);
	pthread_mutex_lock(&b->lock);
	bool failed = b->failed;
	if (!failed) {
		if (b->req_tail)
			b->req_tail->next = q;
		else
			b->req_head = q;
		b->req_tail = q;
	}
	pthread_mutex_unlock(&b->lock);
	if (failed) {
		free(q);
		return PW_ECONN;
	}
	rpc_http_wake(b->http);
	return 0;
}

bool rpc_bulk_ready(rpc_bulk *b)
{
	pthread_mutex_lock(&b->lock);
	bool ready = b->ans_head != NULL || b->failed;
	pthread_mutex_unlock(&b->lock);
	return ready;
}

int rpc_bulk_take(rpc_bulk *b, rpc_http_answer *ret)
{
	pthread_mutex_lock(&b->lock);
	bulk_answer *a = b->ans_head;
	int r = PW_EAGAIN;
	if (a) {
		b->ans_head = a->next;
		if (!b->ans_head)
			b->ans_tail = NULL;
		*ret = a->a;
		free(a);
		r = 0;
	} else if (b->failed) {
		r = PW_ECONN;
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

const char *rpc_bulk_error(rpc_bulk *b)
{
	pthread_mutex_lock(&b->lock);
	const char *e = b->error;
	pthread_mutex_unlock(&b->lock);
	return e;
}
