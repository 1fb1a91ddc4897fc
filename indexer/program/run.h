/* run.h: `paywatch run`: one ingest thread per chain, the Postgres sink
 * thread, and the main thread waiting for SIGINT/SIGTERM.
 * Thread safety: the threads share the config and matcher (read-only), the
 * store (thread-safe) and the stop flag (atomic). */
#ifndef PW_RUN_H
#define PW_RUN_H

#include "config.h"

/* run_main: index until SIGINT/SIGTERM, then finish the batch in hand,
 * flush the outbox to Postgres if reachable, and return 0. Returns 1 when
 * every chain stopped on a fatal error, or on a setup failure (logged). */
int run_main(const pw_config *cfg);

#endif
