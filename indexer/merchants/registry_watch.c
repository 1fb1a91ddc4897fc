/* registry_watch.c: the registry loaded from Postgres and followed live
 * (registry_watch.h). */
#include "registry_watch.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "registry_pg.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- merchant ids -> index, while building ---- */

typedef struct id_map {
	uint32_t *slots; /* index + 1; 0 empty */
	size_t mask;
	matcher *m;
} id_map;

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

static int id_map_grow(id_map *map)
{
	size_t cap = map->slots ? (map->mask + 1) * 2 : 1024;
	uint32_t *fresh = calloc(cap, sizeof(*fresh));
	if (!fresh)
		return PW_ENOMEM;
	for (size_t i = 0; map->slots && i <= map->mask; i++) {
		if (!map->slots[i])
			continue;
		size_t j = str_hash(matcher_merchant_id(map->m, map->slots[i] - 1)) & (cap - 1);
		while (fresh[j])
			j = (j + 1) & (cap - 1);
		fresh[j] = map->slots[i];
	}
	free(map->slots);
	map->slots = fresh;
	map->mask = cap - 1;
	return 0;
}

/* The index of merchant id, added to the set when new. */
static int id_map_get(id_map *map, const char *id, uint32_t *ret)
{
	if (!map->slots || (matcher_merchants(map->m) + 1) * 2 > map->mask + 1) {
		int r = id_map_grow(map);
		if (r < 0)
			return r;
	}
	size_t j = str_hash(id) & map->mask;
	for (; map->slots[j]; j = (j + 1) & map->mask)
		if (strcmp(matcher_merchant_id(map->m, map->slots[j] - 1), id) == 0) {
			*ret = map->slots[j] - 1;
			return 0;
		}
	int r = matcher_add_merchant(map->m, id, ret);
	if (r == 0)
		map->slots[j] = *ret + 1;
	return r;
}

/* ---- one load ---- */

#define LOGGED_ROWS_MAX 5

typedef struct build {
	const pw_config *cfg;
	id_map map;
	registry_load_stats *st;
	pw_buf *rows; /* the rows as text, for the cache; NULL: not kept */
} build;

static int add_row(void *arg, const char *chain, const char *address, const char *merchant_id)
{
	build *b = arg;
	if (b->rows && buf_appendf(b->rows, "%s\t%s\t%s\n", chain, address, merchant_id) < 0)
		return PW_ENOMEM;
	size_t ci = b->cfg->n_chains;
	for (size_t i = 0; i < b->cfg->n_chains && ci == b->cfg->n_chains; i++)
		if (strcmp(b->cfg->chains[i].name, chain) == 0)
			ci = i;
	if (ci == b->cfg->n_chains) {
		b->st->other_chain++;
		return 0;
	}
	pw_addr a;
	char why[160];
	uint32_t index;
	int r = b->cfg->chains[ci].family->parse_address(address, &a, why, sizeof(why));
	if (r == 0 && (r = id_map_get(&b->map, merchant_id, &index)) == PW_ENOMEM)
		return r;
	if (r == 0 && (r = matcher_add(b->map.m, (uint32_t)ci, &a, index)) == PW_ENOMEM)
		return r;
	if (r < 0) {
		if (b->st->refused++ < LOGGED_ROWS_MAX)
			log_warn("registry: %.60s on %s of merchant %.64s skipped: %s", address, chain, merchant_id,
				 r == PW_EINVAL ? "owned by another merchant (the config's owner wins)" : why);
	}
	return 0;
}

/* A build's start: cfg's set, its merchants in the id map. */
static int build_start(const pw_config *cfg, build *b, registry_load_stats *st)
{
	memset(st, 0, sizeof(*st));
	b->cfg = cfg;
	b->st = st;
	int r = matcher_from_config(cfg, &b->map.m);
	/* the config's merchants into the map, at the indexes they have */
	for (size_t i = 0; r == 0 && i < matcher_merchants(b->map.m); i++) {
		if ((!b->map.slots || (i + 1) * 2 > b->map.mask + 1) && (r = id_map_grow(&b->map)) < 0)
			break;
		size_t j = str_hash(matcher_merchant_id(b->map.m, (uint32_t)i)) & b->map.mask;
		while (b->map.slots[j])
			j = (j + 1) & b->map.mask;
		b->map.slots[j] = (uint32_t)i + 1;
	}
	return r;
}

/* A build's end: *ret on success, everything freed on failure. */
static int build_end(build *b, int r, matcher **ret)
{
	free(b->map.slots);
	if (r < 0) {
		matcher_destroy(b->map.m);
		return r;
	}
	b->st->addresses = matcher_count(b->map.m);
	b->st->merchants = matcher_merchants(b->map.m);
	*ret = b->map.m;
	return 0;
}

static int build_load(const pw_config *cfg, PGconn *c, pw_buf *rows, matcher **ret, registry_load_stats *st,
		      char *err, size_t errlen)
{
	build b = { .rows = rows };
	int r = build_start(cfg, &b, st);
	if (r == 0)
		r = registry_pg_each_address(c, add_row, &b, err, errlen);
	return build_end(&b, r, ret);
}

int registry_build(const pw_config *cfg, PGconn *c, matcher **ret, registry_load_stats *st, char *err,
		   size_t errlen)
{
	return build_load(cfg, c, NULL, ret, st, err, errlen);
}

int registry_build_from_rows(const pw_config *cfg, char *rows, matcher **ret, registry_load_stats *st)
{
	build b = { 0 };
	int r = build_start(cfg, &b, st);
	for (char *line = rows, *next; r == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *f[3] = { line, strchr(line, '\t'), NULL };
		if (f[1]) {
			*f[1]++ = '\0';
			if ((f[2] = strchr(f[1], '\t')) != NULL)
				*f[2]++ = '\0';
		}
		if (f[1] && f[2])
			r = add_row(&b, f[0], f[1], f[2]);
		else
			st->refused++;
	}
	return build_end(&b, r, ret);
}

/* ---- the thread ---- */

struct registry_watch {
	const pw_config *cfg;
	registry *reg;
	registry_cache cache;
	uint64_t saved_hash; /* of the rows last handed to cache.save */
	atomic_bool stop;
	atomic_bool loaded;  /* a set from Postgres has been published */
	atomic_bool tried;   /* the first connection and load were tried (loaded or not) */
	pthread_t thread;
	PGconn *pg;
};

static bool connect_listen(registry_watch *w)
{
	char err[300];
	w->pg = pg_open(w->cfg->pg_dsn, "paywatch registry", err, sizeof(err));
	if (!w->pg) {
		log_warn("registry: cannot connect to postgres (%s); matching goes on with the last set", err);
		return false;
	}
	PGresult *res = PQexec(w->pg, "LISTEN " REGISTRY_CHANNEL);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok) {
		snprintf(err, sizeof(err), "%s", PQerrorMessage(w->pg));
		pg_scrub(err, w->cfg->pg_dsn);
		log_warn("registry: LISTEN failed: %s", err);
		PQfinish(w->pg);
		w->pg = NULL;
	}
	PQclear(res);
	return ok;
}

/* Load and publish. false when the connection failed (reconnect). */
static bool reload(registry_watch *w, size_t *last_count)
{
	char err[300];
	registry_load_stats st;
	matcher *m;
	int64_t t0 = pw_mono_ms();
	pw_buf rows;
	buf_init(&rows, (size_t)4 << 30);
	int r = build_load(w->cfg, w->pg, w->cache.save ? &rows : NULL, &m, &st, err, sizeof(err));
	if (r < 0) {
		buf_done(&rows);
		metrics_add("paywatch_registry_reloads_total", "outcome=\"failed\"", 1);
		pg_scrub(err, w->cfg->pg_dsn);
		log_warn("registry: cannot load (%s); matching goes on with the last set", r == PW_EDB ? err : pw_strerror(r));
		return r != PW_EDB;
	}
	metrics_add("paywatch_registry_reloads_total", "outcome=\"loaded\"", 1);
	uint64_t v = registry_publish(w->reg, m);
	if (v == 0) {
		buf_done(&rows);
		return true;
	}
	atomic_store(&w->loaded, true);
	if (w->cache.save) { /* kept for a start while Postgres is away, when it changed */
		uint64_t h = 1469598103934665603ULL;
		for (size_t i = 0; i < rows.len; i++)
			h = (h ^ (uint8_t)rows.data[i]) * 1099511628211ULL;
		if (h != w->saved_hash && w->cache.save(w->cache.arg, rows.data ? rows.data : "", rows.len) == 0)
			w->saved_hash = h;
	}
	buf_done(&rows);
	metrics_set("paywatch_registry_addresses", "", (double)st.addresses);
	metrics_set("paywatch_registry_version", "", (double)v);
	if (st.addresses != *last_count || st.refused)
		log_info("registry: %zu address(es) of %zu merchant(s) loaded in %lld ms (set %llu)%s", st.addresses,
			 st.merchants, (long long)(pw_mono_ms() - t0), (unsigned long long)v,
			 st.refused ? "; some rows skipped (see above)" : "");
	*last_count = st.addresses;
	return true;
}

static void *watch_main(void *arg)
{
	registry_watch *w = arg;
	int backoff_ms = 500;
	size_t last_count = (size_t)-1;
	int64_t resync_at = 0;
	bool dirty = true;
	while (!atomic_load(&w->stop)) {
		if (!w->pg) {
			if (!connect_listen(w)) {
				atomic_store(&w->tried, true);
				for (int waited = 0; waited < backoff_ms && !atomic_load(&w->stop); waited += 100)
					poll(NULL, 0, 100);
				backoff_ms = backoff_ms * 2 > 10000 ? 10000 : backoff_ms * 2;
				continue;
			}
			backoff_ms = 500;
			dirty = true; /* changes made while disconnected */
		}
		if (dirty || pw_mono_ms() >= resync_at) {
			dirty = false;
			resync_at = pw_mono_ms() + REGISTRY_RESYNC_MS;
			bool ok = reload(w, &last_count);
			atomic_store(&w->tried, true);
			if (!ok) {
				PQfinish(w->pg);
				w->pg = NULL;
				continue;
			}
		}
		struct pollfd pfd = { .fd = PQsocket(w->pg), .events = POLLIN };
		poll(&pfd, 1, 200);
		if (!PQconsumeInput(w->pg) || PQstatus(w->pg) != CONNECTION_OK) {
			log_warn("registry: postgres connection lost; reconnecting");
			PQfinish(w->pg);
			w->pg = NULL;
			continue;
		}
		PGnotify *n;
		while ((n = PQnotifies(w->pg)) != NULL) {
			dirty = true;
			PQfreemem(n);
		}
	}
	if (w->pg)
		PQfinish(w->pg);
	return NULL;
}

int registry_watch_start(const pw_config *cfg, registry *reg, const registry_cache *cache, registry_watch **ret)
{
	registry_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return PW_ENOMEM;
	w->cfg = cfg;
	w->reg = reg;
	if (cache)
		w->cache = *cache;
	atomic_init(&w->stop, false);
	atomic_init(&w->loaded, false);
	atomic_init(&w->tried, false);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		free(w);
		return PW_ENOMEM;
	}
	*ret = w;
	return 0;
}

bool registry_watch_wait_loaded(registry_watch *w, int timeout_ms)
{
	int64_t until = pw_mono_ms() + timeout_ms;
	while (!atomic_load(&w->loaded) && !atomic_load(&w->tried) && pw_mono_ms() < until)
		poll(NULL, 0, 10);
	return atomic_load(&w->loaded);
}

void registry_watch_stop(registry_watch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	free(w);
}
