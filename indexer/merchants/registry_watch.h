/* registry_watch.h: the merchant registry followed live. A thread per
 * process holds a Postgres connection that LISTENs on paywatch_registry
 * (schema/011_registry.sql: every change to merchants, addresses or
 * endpoints NOTIFYs it), and on each notification, and every
 * REGISTRY_RESYNC_MS in any case (a notification lost with a dropped
 * connection is repaired then), loads the registry, builds a new address
 * set off to the side and publishes it (registry.h): rows added since the
 * last load are added to a copy of the current set (no reload of a large
 * registry for a few new addresses); other changes reload it whole.
 * Notifications that arrive during a load are folded into the next one.
 * The thread also grows xpub windows payments asked for
 * (registry_watch_note_used). While Postgres
 * is unreachable the last set stays in use. */
#ifndef PW_REGISTRY_WATCH_H
#define PW_REGISTRY_WATCH_H

#include "config.h"
#include "matcher.h"
#include "registry.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define REGISTRY_RESYNC_MS 30000

/* What a load found. */
typedef struct registry_load_stats {
	size_t addresses; /* in the set built */
	size_t merchants;
	size_t other_chain; /* rows of chains this config does not index, or not asked for (skipped) */
	size_t refused;     /* rows skipped: unreadable, or owned by a config merchant too */
	size_t xpubs;       /* merchants with an xpub */
} registry_load_stats;

/* registry_build: a new set: cfg's merchants and addresses (they win),
 * then every address row in Postgres of a chain cfg indexes (c: an open
 * connection), or with only_chain (a chain's name) that chain's rows
 * alone (a replay's: the other chains' rows are counted in
 * st->other_chain, never held). 0 with *ret (caller owns), PW_EDB
 * (message in err), PW_ENOMEM. A row that cannot be used is counted,
 * logged (the first few per load) and skipped: one bad row never stops
 * the others. */
int registry_build(const pw_config *cfg, PGconn *c, const char *only_chain, matcher **ret, registry_load_stats *st,
		   char *err, size_t errlen);

/* registry_build_from_rows: a set from cfg and rows kept by a cache
 * (registry_cache: "chain\taddress\tmerchant_id\n" per row; rows is
 * edited in place). 0 with *ret, PW_ENOMEM. */
int registry_build_from_rows(const pw_config *cfg, char *rows, matcher **ret, registry_load_stats *st);

/* Where the rows of each set loaded are kept (`run`: its RocksDB store),
 * so a start while Postgres is unreachable matches the registry as last
 * loaded, not the config's addresses alone. save is called on the watch
 * thread with the rows' text (len bytes) when they changed since the last
 * save; it returns 0 or an error (the next load tries again). */
typedef struct registry_cache {
	int (*save)(void *arg, const void *rows, size_t len);
	void *arg;
} registry_cache;

typedef struct registry_watch registry_watch;

/* registry_watch_start: follow the registry of cfg->pg_dsn into reg on a
 * new thread; cache NULL: rows not kept. 0 with *ret, or PW_ENOMEM. */
int registry_watch_start(const pw_config *cfg, registry *reg, const registry_cache *cache, registry_watch **ret);

/* registry_watch_wait_loaded: wait up to timeout_ms for the first set
 * from Postgres to be published, or for its first attempt to fail. true
 * when a set from Postgres is in use. */
bool registry_watch_wait_loaded(registry_watch *w, int timeout_ms);

/* registry_watch_note_used: a payment went to index `index` of
 * merchant_id's xpub on chain: the thread raises the window's highest used
 * index in Postgres and adds the addresses it grows over (every process
 * then loads them). Requests for one window are folded; returns at once
 * (any thread). */
void registry_watch_note_used(registry_watch *w, const char *merchant_id, const char *chain, long index);

/* registry_watch_stop: end the thread (within ~200 ms) and free;
 * accepts NULL. */
void registry_watch_stop(registry_watch *w);

#endif
