/* dispatch.h: the webhook dispatcher as the program runs it: inside
 * `paywatch run` (a thread) or alone (`paywatch dispatch`), and the
 * operator commands `paywatch webhooks list|redeliver|test`. */
#ifndef PW_DISPATCH_H
#define PW_DISPATCH_H

#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>

typedef struct dispatch_thread dispatch_thread;

/* dispatch_thread_start: run the dispatcher on a thread until *stop;
 * gauges: the process serves its metrics, so the dispatcher counts the
 * deliveries due and failed per endpoint into them (webhook_options).
 * 0 with *ret, or PW_ENOMEM. */
int dispatch_thread_start(const pw_config *cfg, atomic_bool *stop, bool gauges, dispatch_thread **ret);

/* dispatch_thread_join: wake, join, free; accepts NULL. */
void dispatch_thread_join(dispatch_thread *t);

/* dispatch_main: `paywatch dispatch`: deliver until SIGINT/SIGTERM. Exit code. */
int dispatch_main(const pw_config *cfg);

/* dispatch_webhooks_cli: `paywatch webhooks SUBCOMMAND ...` (argv after
 * "webhooks": -c FILE, the subcommand and its options; cli_parse). Exit
 * code: 0, 1 (failure), 2 (usage, config). */
int dispatch_webhooks_cli(int argc, char **argv);

#endif
