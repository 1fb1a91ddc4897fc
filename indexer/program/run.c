/* run.c: thread setup and shutdown for `paywatch run`. */
#include "run.h"
#include "chain_report.h"
#include "dispatch.h"
#include "ingest.h"
#include "clock.h"
#include "log.h"
#include "matcher.h"
#include "registry.h"
#include "registry_watch.h"
#include "invoice_expiry.h"
#include "rescan.h"
#include "pw_error.h"
#include "server.h"
#include "sink_loop.h"
#include "store.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct chain_thread {
	ingest_params params;
	pthread_t thread;
	atomic_bool done;
	int result;
} chain_thread;

static void *chain_thread_main(void *arg)
{
	chain_thread *ct = arg;
	ct->result = ingest_run(&ct->params);
	atomic_store(&ct->done, true);
	return NULL;
}

/* How long the chains wait for the registry at start before they go on
 * with the rows kept at the last load. */
#define REGISTRY_FIRST_LOAD_MS 10000

/* A payment grew an xpub window: the registry watch stores it. */
static void hd_used(void *arg, const char *merchant_id, const char *chain, long index)
{
	registry_watch_note_used(arg, merchant_id, chain, index);
}

/* The registry's rows as last loaded, kept in data_dir (a file, not
 * RocksDB: a million rows are ~70 MB that a memtable would hold in memory)
 * for a start while Postgres is away. Written whole to a temporary file,
 * then renamed over the last one. */
#define REGISTRY_ROWS_FILE "registry.rows"

static int save_registry(void *arg, const void *rows, size_t len)
{
	const pw_config *cfg = arg;
	char path[4096], tmp[4200];
	snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, REGISTRY_ROWS_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	bool ok = f && fwrite(rows, 1, len, f) == len;
	ok = f && fclose(f) == 0 && ok;
	if (ok && rename(tmp, path) != 0)
		ok = false;
	if (!ok) {
		unlink(tmp);
		log_warn("registry: cannot keep its rows in %s; a start without Postgres would match the config's only",
			 cfg->data_dir);
		return PW_EIO;
	}
	return 0;
}

/* The rows kept by save_registry, NUL-terminated (malloc'd), or NULL. */
static char *kept_rows(const pw_config *cfg)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, REGISTRY_ROWS_FILE);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *rows = NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		rows = n >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)n + 1) : NULL;
		if (rows && fread(rows, 1, (size_t)n, f) == (size_t)n)
			rows[n] = '\0';
		else {
			free(rows);
			rows = NULL;
		}
	}
	fclose(f);
	return rows;
}

/* Postgres did not answer at start: match the registry as last loaded
 * (unless a load from Postgres beat us to it) until it answers. With none
 * kept the registry stays held: the chains match once Postgres answers
 * (the config's addresses alone would miss, for good, payments to
 * addresses only Postgres's registry holds; nothing reaches Postgres
 * meanwhile anyway). */
static void use_kept_registry(const pw_config *cfg, registry *reg)
{
	matcher *m;
	registry_load_stats ls;
	char *rows = kept_rows(cfg);
	if (!rows) {
		log_warn(
			"registry: not loaded from Postgres (see above) and none was kept: the chains fetch, and match "
			"once it is loaded (the config's addresses alone could miss payments to addresses only the "
			"registry in Postgres holds)");
		return;
	}
	if (registry_build_from_rows(cfg, rows, &m, &ls) < 0)
		log_warn(
			"registry: not loaded from Postgres (see above), and the one kept cannot be built (out of "
			"memory): the chains fetch, and match once it is loaded");
	else if (registry_publish_over(reg, m, 1))
		log_warn(
			"registry: Postgres does not answer: matching the registry as last loaded (%zu address(es)) "
			"until it answers",
			ls.addresses);
	free(rows);
}

int run_main(const pw_config *cfg)
{
	char err[512];
	store *st = NULL;
	matcher *m = NULL;
	registry *reg = NULL;
	registry_watch *watch = NULL;
	sink_loop *sl = NULL;
	atomic_bool stop;
	atomic_init(&stop, false);
	int rc = 1;

	/* SIGINT/SIGTERM are taken by sigtimedwait below, in this thread only:
	 * blocked before any thread starts (RocksDB's start in store_open), so
	 * every thread inherits the mask; a thread without it would take a
	 * SIGTERM's default action whenever one arrived outside that wait */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	int r = matcher_from_config(cfg, &m);
	if (r < 0)
		return log_error(r, "cannot build the merchant address set"), 1;
	log_info("paywatch %s: %zu chain(s), %zu merchant(s), %zu watched address(es) in the config", PAYWATCH_VERSION,
		 cfg->n_chains, cfg->n_merchants, matcher_count(m));
	/* the config's set until the registry in Postgres is loaded; held (no
	 * matching) until then, or until the set kept at the last load is in */
	r = registry_create(m, &reg);
	m = NULL;
	if (r < 0)
		return log_error(r, "cannot build the merchant address set"), 1;
	registry_hold(reg);
	if ((r = store_open(cfg->data_dir, false, &st, err, sizeof(err))) < 0) {
		log_error(r, "%s", err);
		goto out_registry;
	}

	if ((r = sink_loop_start(cfg, st, &stop, &sl)) < 0) {
		log_error(r, "cannot start the Postgres sink thread");
		goto out_store;
	}
	/* every chain's report into Postgres each second (for the API of any process) */
	chain_reporter *reporter = NULL;
	if ((r = chain_reporter_start(cfg, st, &stop, &reporter)) < 0)
		log_error(r, "cannot start the chain reporter; /v1/chains and /readyz will not see this run");
	/* the HTTP API, on its own threads and Postgres connections */
	api_server *api = NULL;
	if (cfg->api.enabled) {
		char aerr[300];
		if ((r = api_server_start(cfg, &api, aerr, sizeof(aerr))) < 0)
			log_error(r, "api: %s; indexing goes on without it (`paywatch serve` can serve it)", aerr);
		else
			log_info("api: listening on %s port %u", cfg->api.host, cfg->api.port);
	} else if (cfg->metrics_enabled) { /* no API: /metrics and /healthz on metrics.listen */
		char aerr[300];
		if ((r = api_server_start_metrics(cfg, &api, aerr, sizeof(aerr))) < 0)
			log_error(r, "metrics: %s; indexing goes on without them", aerr);
		else
			log_info("metrics: /metrics and /healthz on %s port %u", cfg->metrics_host, cfg->metrics_port);
	}
	/* the registry, followed live: addresses added or removed while running.
	 * The chains start once it is loaded; with Postgres away, from the rows
	 * kept in the store at the last load. */
	registry_cache cache = { save_registry, (void *)cfg };
	/* the config's xpub windows are written by the seeding: load after it */
	sink_loop_wait_seeded(sl, REGISTRY_FIRST_LOAD_MS);
	/* the webhook dispatcher (endpoints come from the config and the
	 * registry), after the seeding: its first count of the endpoint gauges
	 * then sees the config's endpoints. The gauges are counted where
	 * /metrics is served (the API's, or metrics.listen alone, started
	 * above). */
	dispatch_threads *dispatcher = NULL; /* one loop: run's cores go to the ingest too */
	if (!cfg->webhooks.in_run)
		log_info("webhooks: delivered by `paywatch dispatch` (webhooks.in_run is false)");
	else if ((r = dispatch_threads_start(cfg, &stop, cfg->api.enabled || cfg->metrics_enabled, 1, &dispatcher)) < 0)
		log_error(r, "cannot start the webhook dispatcher; `paywatch dispatch` can deliver instead");
	if ((r = registry_watch_start(cfg, reg, &cache, &watch)) < 0) {
		log_error(r, "cannot follow the merchant registry; matching the config's addresses only");
		registry_open(reg);
	} else if (!registry_watch_wait_loaded(watch, REGISTRY_FIRST_LOAD_MS))
		use_kept_registry(cfg, reg);
	/* addresses' histories scanned again (added with from_block, `addresses rescan`) */
	rescanner *rescans = NULL;
	if ((r = rescanner_start(cfg, st, reg, &stop, &rescans)) < 0)
		log_error(r, "cannot start the rescan thread; rescans wait for another run");
	/* invoices past their expires_at: expired within a tick */
	invoice_expiry *expiry = NULL;
	if ((r = invoice_expiry_start(cfg, &stop, &expiry)) < 0)
		log_error(r, "cannot start the invoice expiry thread; invoices expire when another run is up");
	chain_thread *threads = calloc(cfg->n_chains, sizeof(*threads));
	if (!threads) {
		atomic_store(&stop, true);
		sink_loop_join(sl);
		dispatch_threads_join(dispatcher);
		chain_reporter_join(reporter);
		api_server_stop(api);
		rescanner_join(rescans);
		invoice_expiry_join(expiry);
		registry_watch_stop(watch);
		goto out_store;
	}
	size_t started = 0;
	for (size_t i = 0; i < cfg->n_chains; i++) {
		chain_thread *ct = &threads[i];
		ct->params = (ingest_params){ .cfg = cfg,
					      .chain_index = i,
					      .st = st,
					      .reg = reg,
					      .on_hd_used = watch ? hd_used : NULL,
					      .on_hd_used_arg = watch,
					      .stop = &stop,
					      .on_confirmed = sink_loop_notify,
					      .on_confirmed_arg = sl };
		atomic_init(&ct->done, false);
		if (pthread_create(&ct->thread, NULL, chain_thread_main, ct) != 0) {
			log_error(PW_ENOMEM, "chain=%s: cannot start thread", cfg->chains[i].name);
			break;
		}
		started++;
	}

	bool all_failed = false, dir_lost = false;
	int64_t last_dir_check = pw_mono_ms();
	while (started == cfg->n_chains) {
		struct timespec tick = { 0, 200 * 1000000L };
		int sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig == SIGINT || sig == SIGTERM) {
			log_info("received %s: finishing the batch in hand", sig == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
		/* data_dir deleted or replaced under us: RocksDB keeps writing to
		 * files nobody will find again, and the lock that keeps a second
		 * `run` out is gone. Stop rather than index into nothing. */
		if (pw_mono_ms() - last_dir_check >= 1000) {
			last_dir_check = pw_mono_ms();
			if (store_check_dir(st, err, sizeof(err)) < 0) {
				log_error(PW_ESTORE,
					  "%s: stopping (restart paywatch to resume from the checkpoint, or from "
					  "start_block if the state is gone)",
					  err);
				dir_lost = true;
				break;
			}
		}
		size_t done = 0;
		for (size_t i = 0; i < started; i++)
			done += atomic_load(&threads[i].done);
		if (done == started) {
			all_failed = true;
			log_error(PW_ESTOPPED, "every chain stopped on an error");
			break;
		}
	}
	atomic_store(&stop, true);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i].thread, NULL);
	uint64_t left = sink_loop_join(sl);
	dispatch_threads_join(dispatcher);
	chain_reporter_join(reporter);
	api_server_stop(api);
	rescanner_join(rescans);
	invoice_expiry_join(expiry);
	registry_watch_stop(watch);
	if (left)
		log_warn("outbox: %llu payment(s) kept in %s for the next start (Postgres unreachable)",
			 (unsigned long long)left, cfg->data_dir);
	bool any_failed = false;
	for (size_t i = 0; i < started; i++)
		any_failed |= threads[i].result != 0;
	rc = all_failed || dir_lost || started != cfg->n_chains ? 1 : 0;
	if (any_failed && !all_failed)
		log_warn("some chains stopped on errors (see above)");
	free(threads);
	log_info("stopped");
out_store:
	store_close(st);
out_registry:
	registry_destroy(reg);
	return rc;
}
