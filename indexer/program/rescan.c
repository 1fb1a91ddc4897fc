/* rescan.c: address rescans inside `paywatch run` (rescan.h). */
#include "rescan.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "registry_pg.h"
#include "replay.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESCAN_LEASE_S 600
#define RESCAN_TICK_MS 250
#define RESCAN_IDLE_MS 1000
#define RESCAN_ATTEMPTS_MAX 20   /* replays that did not complete */
#define RESCAN_WAIT_SET_MAX 2400 /* claims waiting for the address to be in the set (~10 min) */

struct rescanner {
	const pw_config *cfg;
	store *st;
	registry *reg;
	atomic_bool *stop;
	pthread_t thread;
	PGconn *pg;
	char *chains; /* a text[] literal of cfg's chain names */
};

/* One claimed rescan: 0 (handled, or released for later), PW_EDB. */
static int step(rescanner *w, const registry_rescan *q)
{
	char err[300] = "";
	int ci = config_find_chain(w->cfg, q->chain);
	const cfg_chain *chain = &w->cfg->chains[ci];
	pw_addr a;
	char why[200];
	if (chain->family->parse_address(q->address, &a, why, sizeof(why)) < 0)
		return registry_pg_rescan_update(w->pg, q->id, -1, "failed", -1, -1, "not an address of the chain", 0,
						 err, sizeof(err));
	if (q->to_block < 0) { /* is it matched live yet? */
		const matcher *m = registry_acquire(w->reg);
		uint32_t mi;
		bool in = matcher_lookup(m, (uint32_t)ci, &a, &mi) &&
			  strcmp(matcher_merchant_id(m, mi), q->merchant_id) == 0;
		registry_release(w->reg, m);
		store_chain_state s;
		if (!in || store_get_state(w->st, chain->name, &s) < 0) {
			if (q->attempts > RESCAN_WAIT_SET_MAX)
				return registry_pg_rescan_update(
					w->pg, q->id, -1, "failed", -1, -1,
					"the address is not (any more) the merchant's on this chain", 0, err,
					sizeof(err));
			return registry_pg_rescan_update(w->pg, q->id, -1, "pending", -1, -1, NULL, 1, err,
							 sizeof(err));
		}
		/* every block after this head is matched with the address */
		return registry_pg_rescan_update(w->pg, q->id, (int64_t)s.head, "pending", -1, -1, NULL, 0, err,
						 sizeof(err));
	}
	uint64_t checkpoint = 0;
	store_chain_state s;
	bool applied =
		store_get_checkpoint(w->st, chain->name, &checkpoint) == 0 && checkpoint >= (uint64_t)q->to_block;
	bool confirmed = store_get_state(w->st, chain->name, &s) == 0 &&
			 (chain->finality != CHAIN_FINALITY_CONFIRMATIONS
				  ? s.finalized >= q->to_block
				  : s.head + 1 >= chain->confirmations + (uint64_t)q->to_block);
	if (!applied || !confirmed) /* until it is applied and confirmed, a replay would stop short */
		return registry_pg_rescan_update(w->pg, q->id, -1, "pending", -1, -1, NULL, 1, err, sizeof(err));
	log_emit(LOG_LEVEL_INFO, chain->name, q->from_block, "rescan %lld: %s of merchant %s, blocks %lld..%lld",
		 (long long)q->id, q->address, q->merchant_id, (long long)q->from_block, (long long)q->to_block);
	replay_result res;
	int r = q->from_block <= q->to_block
			? replay_address(w->cfg, chain->name, q->merchant_id, q->address, (uint64_t)q->from_block,
					 (uint64_t)q->to_block, w->stop, &res)
			: 0;
	if (q->from_block > q->to_block)
		res = (replay_result){ .complete = true };
	if (r == 0 && res.complete) {
		log_emit(LOG_LEVEL_INFO, chain->name, q->to_block,
			 "rescan %lld done: %llu payment(s) found, %llu inserted", (long long)q->id,
			 (unsigned long long)res.found, (unsigned long long)res.inserted);
		return registry_pg_rescan_update(w->pg, q->id, -1, "done", (int64_t)res.found, (int64_t)res.inserted,
						 NULL, 0, err, sizeof(err));
	}
	char msg[160];
	snprintf(msg, sizeof(msg), "the replay stopped (at block %llu); tried again",
		 (unsigned long long)res.last_done);
	bool last = q->attempts >= RESCAN_ATTEMPTS_MAX && !atomic_load(w->stop);
	log_emit(LOG_LEVEL_WARN, chain->name, -1, "rescan %lld: %s", (long long)q->id, last ? "given up" : msg);
	return registry_pg_rescan_update(w->pg, q->id, -1, last ? "failed" : "pending", -1, -1, msg, 5, err,
					 sizeof(err));
}

static void *rescan_main(void *arg)
{
	rescanner *w = arg;
	bool quiet = false; /* Postgres reported away once: not again until it is back */
	while (!atomic_load(w->stop)) {
		char err[300] = "";
		int o = w->pg ? 0 : pg_open_migrated(w->cfg->pg_dsn, "paywatch rescan", &w->pg, err, sizeof(err));
		if (o < 0) {
			/* the registry watch and the sink report Postgres being away;
			 * a schema behind this build is said here once */
			if (o == PW_ESCHEMA && !quiet)
				log_error(PW_EDB, "rescan: postgres: %s; no rescan runs until then", err);
			quiet = quiet || o == PW_ESCHEMA;
			pw_sleep_unless_stopped(w->stop, o == PW_ESCHEMA ? PG_SCHEMA_RECHECK_MS : RESCAN_IDLE_MS,
						RESCAN_TICK_MS);
			continue;
		}
		registry_rescan q;
		int r = registry_pg_rescan_claim(w->pg, w->chains, RESCAN_LEASE_S, &q, err, sizeof(err));
		if (r == 0)
			r = step(w, &q);
		if (r == PW_EDB) {
			pg_scrub(err, w->cfg->pg_dsn);
			if (!quiet)
				log_warn("rescan: postgres: %s", err);
			quiet = true;
			PQfinish(w->pg);
			w->pg = NULL;
		} else
			quiet = false;
		/* nothing queued: ask again in a second (in steps, for the stop) */
		pw_sleep_unless_stopped(w->stop, r == PW_ENOTFOUND ? RESCAN_IDLE_MS : RESCAN_TICK_MS, RESCAN_TICK_MS);
	}
	if (w->pg)
		PQfinish(w->pg);
	return NULL;
}

int rescanner_start(const pw_config *cfg, store *st, registry *reg, atomic_bool *stop, rescanner **ret)
{
	rescanner *w = calloc(1, sizeof(*w));
	if (!w)
		return PW_ENOMEM;
	pw_buf b;
	buf_init(&b, 1 << 20);
	int r = buf_append(&b, "{", 1);
	for (size_t i = 0; r == 0 && i < cfg->n_chains; i++)
		r = buf_appendf(&b, "%s%s", i ? "," : "", cfg->chains[i].name);
	if (r == 0)
		r = buf_append(&b, "}", 2);
	w->chains = r == 0 ? strdup(b.data) : NULL;
	buf_done(&b);
	w->cfg = cfg;
	w->st = st;
	w->reg = reg;
	w->stop = stop;
	if (!w->chains || pthread_create(&w->thread, NULL, rescan_main, w) != 0) {
		free(w->chains);
		free(w);
		return PW_ENOMEM;
	}
	*ret = w;
	return 0;
}

void rescanner_join(rescanner *w)
{
	if (!w)
		return;
	pthread_join(w->thread, NULL);
	free(w->chains);
	free(w);
}
