/* registry_watch.c: the registry loaded from Postgres and followed live
 * (registry_watch.h). */
#include "registry_watch.h"
#include "buf.h"
#include "clock.h"
#include "idfmt.h"
#include "log.h"
#include "metrics.h"
#include "pg_conn.h"
#include "pw_error.h"
#include "registry_admin.h"
#include "registry_pg.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- one load ---- */

#define LOGGED_ROWS_MAX 5

typedef struct build {
	const pw_config *cfg;
	matcher *m; /* the set being built */
	registry_load_stats *st;
	pw_buf *rows;           /* the rows as text, for the cache; NULL: not kept */
	const char *only_chain; /* NULL, or the one chain whose rows are kept (a replay's) */
	size_t last_ci;         /* the chain of the last row (rows come grouped) */
} build;

static size_t chain_of(const pw_config *cfg, const char *name)
{
	size_t ci = cfg->n_chains;
	for (size_t i = 0; i < cfg->n_chains && ci == cfg->n_chains; i++)
		if (strcmp(cfg->chains[i].name, name) == 0)
			ci = i;
	return ci;
}

static int add_row(void *arg, const registry_row *row)
{
	build *b = arg;
	if (b->only_chain && strcmp(row->chain, b->only_chain) != 0) {
		b->st->other_chain++;
		return 0;
	}
	if (b->rows) {
		char hd[24];
		int n = snprintf(hd, sizeof(hd), "\t%ld\n", row->hd_index);
		if (buf_append(b->rows, row->chain, strlen(row->chain)) < 0 || buf_append(b->rows, "\t", 1) < 0 ||
		    buf_append(b->rows, row->address, strlen(row->address)) < 0 || buf_append(b->rows, "\t", 1) < 0 ||
		    buf_append(b->rows, row->merchant_id, strlen(row->merchant_id)) < 0 ||
		    buf_append(b->rows, hd, (size_t)n) < 0)
			return PW_ENOMEM;
	}
	size_t ci = b->last_ci < b->cfg->n_chains && strcmp(b->cfg->chains[b->last_ci].name, row->chain) == 0
			    ? b->last_ci
			    : chain_of(b->cfg, row->chain);
	b->last_ci = ci;
	if (ci == b->cfg->n_chains || ci >= MATCHER_CHAINS_MAX) {
		b->st->other_chain++;
		return 0;
	}
	pw_addr a;
	char why[160] = "";
	uint32_t index;
	/* the stored form (checked by the table) */
	int r = pw_parse_address(b->cfg->chains[ci].family->family, row->address, &a);
	if (r < 0)
		snprintf(why, sizeof(why), "not a stored address of the chain's family");
	if (r == 0 && (r = matcher_merchant_index(b->m, row->merchant_id, &index)) == PW_ENOMEM)
		return r;
	if (r == 0 && (r = matcher_add_hd(b->m, (uint32_t)ci, &a, index, row->hd_index)) == PW_ENOMEM)
		return r;
	if (r < 0 && b->st->refused++ < LOGGED_ROWS_MAX)
		log_warn("registry: %.60s on %s of merchant %.64s skipped: %s", row->address, row->chain,
			 row->merchant_id,
			 r == PW_EINVAL ? "owned by another merchant (the config's owner wins)" : why);
	return 0;
}

/* A merchant's xpub into the set (its first chain row; the highs are
 * raised as its derived addresses are added). A build of one chain
 * (only_chain) takes the rows of that chain alone: a merchant whose xpub
 * serves other chains only is not added for it. */
static int add_xpub(void *arg, const registry_xpub *x)
{
	build *b = arg;
	if (b->only_chain && strcmp(x->chain, b->only_chain) != 0)
		return 0;
	uint32_t index;
	int r = matcher_merchant_index(b->m, x->merchant_id, &index);
	if (r < 0)
		return r;
	if (matcher_xpub_of(b->m, index))
		return 0;
	matcher_xpub mx;
	char why[200];
	memset(&mx, 0, sizeof(mx));
	if (strlen(x->xpub) >= sizeof(mx.text) || bip32_parse_xpub(x->xpub, &mx.key, why, sizeof(why)) < 0 ||
	    bip32_parse_path(x->path, &mx.path, why, sizeof(why)) < 0) {
		if (b->st->refused++ < LOGGED_ROWS_MAX)
			log_warn("registry: the xpub of merchant %.64s is unreadable; its window does not grow",
				 x->merchant_id);
		return 0;
	}
	snprintf(mx.text, sizeof(mx.text), "%s", x->xpub);
	mx.gap_limit = x->gap_limit;
	for (size_t k = 0; k < MATCHER_CHAINS_MAX; k++)
		mx.high[k] = -1;
	return matcher_set_xpub(b->m, index, &mx);
}

/* A build on m (the config's set, or a copy of the current one); b's
 * rows and only_chain as the caller set them. */
static void build_init(build *b, const pw_config *cfg, matcher *m, registry_load_stats *st)
{
	memset(st, 0, sizeof(*st));
	b->cfg = cfg;
	b->st = st;
	b->m = m;
}

/* A build's end: *ret on success, everything freed on failure. */
static int build_end(build *b, int r, matcher **ret)
{
	if (r < 0) {
		matcher_destroy(b->m);
		return r;
	}
	b->st->addresses = matcher_count(b->m);
	b->st->merchants = matcher_merchants(b->m);
	for (size_t i = 0; i < b->st->merchants; i++)
		b->st->xpubs += matcher_xpub_of(b->m, (uint32_t)i) != NULL;
	*ret = b->m;
	return 0;
}

/* A whole load (since_xid 0) from the config's set, or the rows written
 * since since_xid added to a copy of base; b holds what the caller keeps
 * (the rows' text, one chain's rows only). */
static int build_load(build *b, const pw_config *cfg, PGconn *c, const matcher *base, uint64_t since_xid,
		      size_t size_hint, matcher **ret, registry_load_stats *st, uint64_t *ret_xmin, char *err,
		      size_t errlen)
{
	matcher *m;
	int r = base ? matcher_clone(base, &m) : matcher_from_config(cfg, &m);
	if (r < 0)
		return r;
	/* one chain's rows: the estimate (every chain's) would reserve too much */
	if (!base && !b->only_chain &&
	    (r = matcher_reserve(m, size_hint > 0 ? size_hint : registry_pg_estimate(c))) < 0) {
		matcher_destroy(m);
		return r;
	}
	build_init(b, cfg, m, st);
	if (r == 0 && !base)
		r = registry_pg_each_xpub(c, NULL, add_xpub, b, err, errlen);
	if (r == 0)
		r = registry_pg_each_address(c, base ? since_xid : 0, add_row, b, ret_xmin, err, errlen);
	return build_end(b, r, ret);
}

int registry_build(const pw_config *cfg, PGconn *c, const char *only_chain, matcher **ret, registry_load_stats *st,
		   char *err, size_t errlen)
{
	uint64_t xmin;
	build b = { .only_chain = only_chain };
	return build_load(&b, cfg, c, NULL, 0, 0, ret, st, &xmin, err, errlen);
}

int registry_build_from_rows(const pw_config *cfg, char *rows, matcher **ret, registry_load_stats *st)
{
	build b = { 0 };
	matcher *m;
	int r = matcher_from_config(cfg, &m);
	if (r < 0)
		return r;
	build_init(&b, cfg, m, st);
	for (char *line = rows, *next; r == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *f[4] = { line };
		int k = 1;
		for (char *t = strchr(line, '\t'); t && k < 4; t = strchr(t + 1, '\t')) {
			*t = '\0';
			f[k++] = t + 1;
		}
		if (k >= 3) {
			registry_row row = { f[0], f[1], f[2], k == 4 ? strtol(f[3], NULL, 10) : -1 };
			r = add_row(&b, &row);
		} else
			st->refused++;
	}
	return build_end(&b, r, ret);
}

/* ---- the thread ---- */

/* A window to grow: a payment went to index `used` of merchant_id's xpub
 * on chain (hd_window.h noted it). */
typedef struct grow_req {
	char merchant_id[PW_NAME_MAX];
	char chain[PW_NAME_MAX];
	long used;
} grow_req;

#define GROW_QUEUE_MAX 4096
#define KEEP_EVERY_MS 10000

struct registry_watch {
	const pw_config *cfg;
	registry *reg;
	registry_cache cache;
	uint64_t saved_hash; /* of the rows last handed to cache.save */
	uint64_t xmin;       /* the snapshot xmin of the last load: the next incremental one's start */
	bool kept_stale;     /* rows were added since the rows were last kept (incremental loads keep none) */
	int64_t kept_at;     /* when they were last kept (monotonic ms) */
	atomic_bool stop;
	atomic_bool loaded; /* a set from Postgres has been published */
	atomic_bool tried;  /* the first connection and load were tried (loaded or not) */
	pthread_t thread;
	PGconn *pg;
	bool behind_said; /* a schema behind this build was logged: not again until it is not */
	int wake[2];      /* a pipe: a request to grow a window wakes the thread */
	pthread_mutex_t lock;
	grow_req *reqs; /* under lock */
	size_t n_reqs;
	uint64_t dropped; /* requests past GROW_QUEUE_MAX (the next payment asks again) */
};

static bool connect_listen(registry_watch *w)
{
	char err[300];
	/* a schema behind this build: no load (its statements are this build's) */
	int r = pg_open_migrated(w->cfg->pg_dsn, "paywatch registry", &w->pg, err, sizeof(err));
	if (r == PW_ESCHEMA && !w->behind_said)
		log_error(PW_EDB, "registry: postgres: %s; matching goes on with the last set until then", err);
	else if (r < 0 && r != PW_ESCHEMA)
		log_warn("registry: cannot connect to postgres (%s); matching goes on with the last set", err);
	w->behind_said = r == PW_ESCHEMA;
	if (r < 0)
		return false;
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

/* Load and publish: whole, or (incremental) the rows written since the
 * last load added to a copy of the current set. false when the
 * connection failed (reconnect). */
static bool reload(registry_watch *w, bool incremental, size_t *last_count)
{
	char err[300];
	registry_load_stats st;
	matcher *m;
	int64_t t0 = pw_mono_ms();
	pw_buf rows;
	buf_init(&rows, (size_t)4 << 30);
	bool keep = w->cache.save && !incremental;
	const matcher *cur = registry_acquire(w->reg);
	size_t hint = w->xmin ? matcher_count(cur) : 0; /* the size of the last load from Postgres */
	uint64_t xmin = 0;
	build b = { .rows = keep ? &rows : NULL };
	int r = build_load(&b, w->cfg, w->pg, incremental ? cur : NULL, w->xmin, hint, &m, &st, &xmin, err,
			   sizeof(err));
	registry_release(w->reg, cur);
	if (r < 0) {
		buf_done(&rows);
		metrics_add("paywatch_registry_reloads_total", "outcome=\"failed\"", 1);
		pg_scrub(err, w->cfg->pg_dsn);
		log_warn("registry: cannot load (%s); matching goes on with the last set",
			 r == PW_EDB ? err : pw_strerror(r));
		return r != PW_EDB;
	}
	metrics_add("paywatch_registry_reloads_total", incremental ? "outcome=\"added\"" : "outcome=\"loaded\"", 1);
	uint64_t v = registry_publish(w->reg, m);
	if (v == 0) {
		buf_done(&rows);
		return true;
	}
	w->xmin = xmin;
	atomic_store(&w->loaded, true);
	if (incremental)
		w->kept_stale = w->cache.save != NULL;
	if (keep) { /* kept for a start while Postgres is away, when it changed */
		uint64_t h = 1469598103934665603ULL ^ rows.len; /* 8 bytes a step */
		for (size_t i = 0; i + 8 <= rows.len; i += 8) {
			uint64_t word;
			memcpy(&word, rows.data + i, 8);
			h = (h ^ word) * 0x9e3779b97f4a7c15ULL;
			h ^= h >> 29;
		}
		for (size_t i = rows.len & ~(size_t)7; i < rows.len; i++)
			h = (h ^ (uint8_t)rows.data[i]) * 1099511628211ULL;
		if (h != w->saved_hash && w->cache.save(w->cache.arg, rows.data ? rows.data : "", rows.len) == 0)
			w->saved_hash = h;
		w->kept_stale = false;
		w->kept_at = pw_mono_ms();
	}
	buf_done(&rows);
	metrics_set("paywatch_registry_addresses", "", (double)st.addresses);
	metrics_set("paywatch_registry_version", "", (double)v);
	if (st.addresses != *last_count || st.refused)
		log_info("registry: %zu address(es) of %zu merchant(s) (%zu with an xpub) %s in %lld ms (set %llu)%s",
			 st.addresses, st.merchants, st.xpubs, incremental ? "after the rows added" : "loaded",
			 (long long)(pw_mono_ms() - t0), (unsigned long long)v,
			 st.refused ? "; some rows skipped (see above)" : "");
	*last_count = st.addresses;
	return true;
}

static void note_locked(registry_watch *w, const char *merchant_id, const char *chain, long index);

/* Grow the windows asked for. false when the connection failed. */
static bool grow_windows(registry_watch *w)
{
	pthread_mutex_lock(&w->lock);
	grow_req *reqs = w->reqs;
	size_t n = w->n_reqs;
	w->reqs = NULL;
	w->n_reqs = 0;
	uint64_t dropped = w->dropped;
	w->dropped = 0;
	pthread_mutex_unlock(&w->lock);
	if (dropped)
		log_warn("registry: %llu window request(s) dropped (queue full); the next payment asks again",
			 (unsigned long long)dropped);
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++) {
		char err[300] = "";
		int r = registry_window_grow(w->pg, w->cfg, reqs[i].merchant_id, reqs[i].chain, reqs[i].used, false,
					     NULL, NULL, NULL, err, sizeof(err));
		if (r == PW_EDB) {
			pg_scrub(err, w->cfg->pg_dsn);
			log_warn(
				"registry: cannot grow the window of merchant %s on %s: %s (asked again when it reconnects)",
				reqs[i].merchant_id, reqs[i].chain, err);
			ok = false;
			pthread_mutex_lock(&w->lock); /* put the rest back */
			for (size_t k = i; k < n; k++)
				note_locked(w, reqs[k].merchant_id, reqs[k].chain, reqs[k].used);
			pthread_mutex_unlock(&w->lock);
		} else if (r < 0)
			log_warn("registry: cannot grow the window of merchant %s on %s: %s", reqs[i].merchant_id,
				 reqs[i].chain, *err ? err : pw_strerror(r));
	}
	free(reqs);
	return ok;
}

static void *watch_main(void *arg)
{
	registry_watch *w = arg;
	int backoff_ms = 500;
	size_t last_count = (size_t)-1;
	int64_t resync_at = 0;
	bool dirty = true, whole = true;
	while (!atomic_load(&w->stop)) {
		if (!w->pg) {
			if (!connect_listen(w)) {
				atomic_store(&w->tried, true);
				pw_sleep_unless_stopped(&w->stop, backoff_ms, 100);
				backoff_ms = backoff_ms * 2 > 10000 ? 10000 : backoff_ms * 2;
				continue;
			}
			backoff_ms = 500;
			dirty = whole = true; /* changes made while disconnected */
		}
		if (!grow_windows(w)) {
			PQfinish(w->pg);
			w->pg = NULL;
			continue;
		}
		/* rows added incrementally are kept by a whole load, at most every
		 * KEEP_EVERY_MS (and at the stop) */
		if (w->kept_stale && pw_mono_ms() - w->kept_at >= KEEP_EVERY_MS)
			dirty = whole = true;
		if (dirty || pw_mono_ms() >= resync_at) {
			bool incremental = dirty && !whole && pw_mono_ms() < resync_at;
			dirty = whole = false;
			if (!incremental)
				resync_at = pw_mono_ms() + REGISTRY_RESYNC_MS;
			bool ok = reload(w, incremental, &last_count);
			atomic_store(&w->tried, true);
			if (!ok) {
				PQfinish(w->pg);
				w->pg = NULL;
				continue;
			}
		}
		struct pollfd pfd[2] = { { .fd = PQsocket(w->pg), .events = POLLIN },
					 { .fd = w->wake[0], .events = POLLIN } };
		poll(pfd, 2, 200);
		if (pfd[1].revents & POLLIN) {
			char drain[64];
			while (read(w->wake[0], drain, sizeof(drain)) > 0) {
			}
		}
		if (!PQconsumeInput(w->pg) || PQstatus(w->pg) != CONNECTION_OK) {
			log_warn("registry: postgres connection lost; reconnecting");
			PQfinish(w->pg);
			w->pg = NULL;
			continue;
		}
		PGnotify *n;
		while ((n = PQnotifies(w->pg)) != NULL) {
			/* "table:OP" (schema/012: only when rows changed): rows added
			 * to merchant_addresses load incrementally; anything else
			 * (an address removed, a merchant removed, an xpub) reloads the
			 * set whole */
			if (strcmp(n->extra, "merchant_addresses:INSERT") == 0)
				dirty = true;
			else
				dirty = whole = true;
			PQfreemem(n);
		}
	}
	if (w->pg && w->kept_stale) /* keep what was added for the next start */
		reload(w, false, &last_count);
	if (w->pg)
		PQfinish(w->pg);
	return NULL;
}

/* A request into the queue; w->lock held. */
static void note_locked(registry_watch *w, const char *merchant_id, const char *chain, long index)
{
	for (size_t i = 0; i < w->n_reqs; i++)
		if (strcmp(w->reqs[i].merchant_id, merchant_id) == 0 && strcmp(w->reqs[i].chain, chain) == 0) {
			if (index > w->reqs[i].used)
				w->reqs[i].used = index;
			goto out;
		}
	grow_req *grown = w->n_reqs < GROW_QUEUE_MAX ? realloc(w->reqs, (w->n_reqs + 1) * sizeof(*grown)) : NULL;
	if (!grown) {
		w->dropped++;
		goto out;
	}
	w->reqs = grown;
	grow_req *q = &w->reqs[w->n_reqs++];
	snprintf(q->merchant_id, sizeof(q->merchant_id), "%s", merchant_id);
	snprintf(q->chain, sizeof(q->chain), "%s", chain);
	q->used = index;
out:
	return;
}

void registry_watch_note_used(registry_watch *w, const char *merchant_id, const char *chain, long index)
{
	pthread_mutex_lock(&w->lock);
	note_locked(w, merchant_id, chain, index);
	pthread_mutex_unlock(&w->lock);
	if (write(w->wake[1], "", 1) < 0) { /* full: the thread is awake already */
	}
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
	if (pipe(w->wake) != 0) {
		free(w);
		return PW_EIO;
	}
	for (int i = 0; i < 2; i++) {
		fcntl(w->wake[i], F_SETFL, fcntl(w->wake[i], F_GETFL) | O_NONBLOCK);
		fcntl(w->wake[i], F_SETFD, FD_CLOEXEC);
	}
	pthread_mutex_init(&w->lock, NULL);
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
	close(w->wake[0]);
	close(w->wake[1]);
	pthread_mutex_destroy(&w->lock);
	free(w->reqs);
	free(w);
}
