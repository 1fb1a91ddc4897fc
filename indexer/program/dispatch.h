/* dispatch.h: the webhook dispatcher as the program runs it: inside
 * `paywatch run` (a thread) or alone (`paywatch dispatch`), and the
 * operator commands `paywatch webhooks list|redeliver|test`. */
#ifndef PW_DISPATCH_H
#define PW_DISPATCH_H

#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>

typedef struct dispatch_threads dispatch_threads;

/* dispatch_threads_start: run `threads` dispatcher loops (1..16; at most
 * webhooks.max_in_flight of them), each on a thread of its own with its
 * own Postgres connection and libcurl multi handle, until *stop. They
 * share the queue as separate processes would (leases, SKIP LOCKED) and
 * share out webhooks.max_in_flight: the process's requests in flight stay
 * within it (and 4x it in all with slow endpoints' waiting requests).
 * gauges: the process serves its metrics, so the first loop counts the
 * deliveries due and failed per endpoint into them (webhook_options).
 * A thread after the first that cannot start is said and left out.
 * 0 with *ret (dispatch_threads_join frees it), or PW_ENOMEM. */
int dispatch_threads_start(const pw_config *cfg, atomic_bool *stop, bool gauges, uint32_t threads,
			   dispatch_threads **ret);

/* dispatch_threads_join: wake every loop, join, free; accepts NULL. */
void dispatch_threads_join(dispatch_threads *t);

/* dispatch_main: `paywatch dispatch`: deliver until SIGINT/SIGTERM, on
 * webhooks.threads loops. Exit code. */
int dispatch_main(const pw_config *cfg);

/* dispatch_webhooks_cli: `paywatch webhooks SUBCOMMAND ...` (argv after
 * "webhooks": -c FILE, the subcommand and its options; cli_parse). Exit
 * code: 0, 1 (failure), 2 (usage, config). */
int dispatch_webhooks_cli(int argc, char **argv);

#endif
