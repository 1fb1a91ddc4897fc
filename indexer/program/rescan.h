/* rescan.h: the history of addresses scanned again inside `paywatch run`
 * (schema/012's address_rescans: an address added with from_block,
 * `paywatch addresses rescan`). A thread claims, one at a time, a rescan of
 * a chain this run indexes, waits until the address is in the set it
 * matches against (from the head of that moment on, every block is matched
 * with it: that head is the rescan's to_block) and until to_block is
 * applied and confirmed, then replays from_block..to_block for that one
 * address (replay_address: missing payments inserted with their events).
 * Several runs share the queue (a lease per rescan). */
#ifndef PW_RESCAN_H
#define PW_RESCAN_H

#include "config.h"
#include "registry.h"
#include "store.h"

#include <stdatomic.h>

typedef struct rescanner rescanner;

/* rescanner_start: the thread, for cfg's chains; st and reg are run's
 * (borrowed). 0 with *ret, or PW_ENOMEM. */
int rescanner_start(const pw_config *cfg, store *st, registry *reg, atomic_bool *stop, rescanner **ret);

/* rescanner_join: wait for it (after *stop was set) and free; accepts NULL. */
void rescanner_join(rescanner *r);

#endif
