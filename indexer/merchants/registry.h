/* registry.h: the merchant address set as the chain threads match against
 * it while the registry changes. A registry holds the current matcher
 * (matcher.h: addresses -> merchant ids); the registry watcher
 * (registry_watch.h) builds a new one off to the side and publishes it,
 * which swaps it in atomically: a reader holds one whole set from
 * registry_acquire to registry_release (a range of transfers is matched
 * against one set, never a half-built one), and a replaced set is freed
 * when its last reader lets go.
 * Thread safety: every function may be called from any thread. */
#ifndef PW_REGISTRY_H
#define PW_REGISTRY_H

#include "matcher.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct registry registry;

/* registry_create: a registry whose current set is initial (owned from
 * now on: freed by the registry). 0 with *ret (free with
 * registry_destroy), or PW_ENOMEM (initial is freed). */
int registry_create(matcher *initial, registry **ret);

/* registry_destroy: free the registry and its sets; no reader may hold
 * one. Accepts NULL. */
void registry_destroy(registry *r);

/* registry_publish: make m (owned from now on) the current set; the one
 * it replaces is freed once no reader holds it. Returns the new version
 * (1 for the initial set, then 2, 3, ...), or 0 with m freed on out of
 * memory (the current set stays). */
uint64_t registry_publish(registry *r, matcher *m);

/* registry_publish_over: registry_publish, only if the current set is
 * still version `version` (a set loaded meanwhile is newer: m is freed,
 * and 0 returned). */
uint64_t registry_publish_over(registry *r, matcher *m, uint64_t version);

/* registry_acquire: the current set, held until registry_release; never
 * NULL. */
const matcher *registry_acquire(registry *r);

/* registry_release: give back a set registry_acquire returned. */
void registry_release(registry *r, const matcher *m);

/* registry_hold: from now until registry_open or a set is published,
 * registry_wait_open waits. `run` holds its registry until a set is loaded
 * from Postgres (or the one kept from the last load is published): matched
 * against the config's addresses alone, a payment to an address only
 * Postgres's registry holds would be lost, its block's checkpoint passed.
 * A registry is created open. */
void registry_hold(registry *r);

/* registry_open: end a hold and wake every registry_wait_open (matching
 * the config's addresses alone, when no set can be loaded at all); a
 * registry not held is left as it is. registry_publish and
 * registry_publish_over open it too, when they publish. */
void registry_open(registry *r);

/* registry_wait_open: true at once when the registry is not held; else
 * waits until registry_open (true) or until *stop is set (false; stop is
 * looked at every 100 ms, and may be NULL: wait for the open alone). */
bool registry_wait_open(registry *r, atomic_bool *stop);

/* registry_version: the version of the current set. */
uint64_t registry_version(registry *r);

#endif
