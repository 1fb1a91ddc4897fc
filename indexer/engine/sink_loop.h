/* sink_loop.h: the Postgres sink writers (two threads, a connection each).
 * They drain the RocksDB outbox into Postgres (a batch per transaction,
 * idempotent on the payment identity; batches of confirmed payments in
 * parallel, a batch with a reverted or pending entry alone, after those
 * before it) and delete entries only after the commit, so a crash between
 * the two replays harmlessly. Postgres down: the outbox grows, nothing is
 * lost; the thread retries with backoff and logs the outbox depth and the
 * age of its oldest entry.
 * Thread safety: sink_loop_notify may be called from any thread. */
#ifndef PW_SINK_LOOP_H
#define PW_SINK_LOOP_H

#include "config.h"
#include "store.h"

#include <stdatomic.h>
#include <stdbool.h>

typedef struct sink_loop sink_loop;

/* sink_loop_start: start the writers. 0 with *ret, PW_ENOMEM. */
int sink_loop_start(const pw_config *cfg, store *st, atomic_bool *stop, sink_loop **ret);

/* sink_loop_notify: wake the writers (new outbox entries). */
void sink_loop_notify(void *sink_loop_ptr);

/* sink_loop_wait_seeded: wait up to timeout_ms for the first writer's
 * first connection to seed the registry from the config (merchants_mirror:
 * its merchants, addresses, endpoints and xpub windows), or to fail. true
 * when it seeded. */
bool sink_loop_wait_seeded(sink_loop *sl, int timeout_ms);

/* sink_loop_join: wake, make a last drain attempt, join and free. Returns
 * the outbox entries left behind (0 when everything reached Postgres). */
uint64_t sink_loop_join(sink_loop *sl);

#endif
