/* chain_report.c: a chain's figures from run's RocksDB (chain_report.h). */
#include "chain_report.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "postgres.h"
#include "pw_error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int count_one(const pw_payment *p, void *arg)
{
	(void)p;
	(*(uint64_t *)arg)++;
	return 0;
}

/* The figures without the two scans (pending payments, the outbox). */
static void read_light(store *s, const cfg_chain *c, chain_report *cs)
{
	memset(cs, 0, sizeof(*cs));
	cs->c = c;
	cs->checkpoint_time = -1;
	int r = store_get_checkpoint(s, c->name, &cs->checkpoint);
	cs->indexed = r == 0;
	if (r < 0 && r != PW_ENOTFOUND)
		snprintf(cs->error, sizeof(cs->error), "checkpoint unreadable: %s", pw_strerror(r));
	r = store_get_state(s, c->name, &cs->st);
	cs->have_state = r == 0;
	if (r < 0 && r != PW_ENOTFOUND)
		snprintf(cs->error, sizeof(cs->error), "chain state unreadable: %s", pw_strerror(r));
	if (cs->indexed) {
		pw_block_ref h;
		if (store_get_header(s, c->name, cs->checkpoint, &h) == 0)
			cs->checkpoint_time = h.time;
		else if (cs->have_state && cs->st.checkpoint == cs->checkpoint)
			cs->checkpoint_time = cs->st.checkpoint_time; /* below the window, during a backfill */
		/* a head learnt from eth_blockNumber carries no time: the window
		 * has it once the head is indexed */
		if (cs->have_state && cs->st.head_time < 0 && store_get_header(s, c->name, cs->st.head, &h) == 0)
			cs->st.head_time = h.time;
		if (c->finality != CHAIN_FINALITY_CONFIRMATIONS) {
			/* run confirms up to the finalized block it has processed */
			if (cs->have_state && cs->st.finalized >= 0) {
				cs->have_confirmed = true;
				cs->confirmed_height = (uint64_t)cs->st.finalized < cs->checkpoint
							       ? (uint64_t)cs->st.finalized
							       : cs->checkpoint;
			}
		} else if (cs->checkpoint + 1 >= c->confirmations) {
			/* the tracker's rule: block b is confirmed once checkpoint - b + 1 >= confirmations */
			cs->have_confirmed = true;
			cs->confirmed_height = cs->checkpoint + 1 - c->confirmations;
		}
	}
}

void chain_report_read_all(store *s, const pw_config *cfg, chain_report *cs)
{
	size_t n = cfg->n_chains ? cfg->n_chains : 1;
	const char **names = calloc(n, sizeof(*names));
	uint64_t *depths = calloc(n, sizeof(*depths));
	int64_t *oldest = calloc(n, sizeof(*oldest));
	int outbox = names && depths && oldest ? 0 : PW_ENOMEM;
	for (size_t i = 0; outbox == 0 && i < cfg->n_chains; i++)
		names[i] = cfg->chains[i].name;
	if (outbox == 0)
		outbox = store_outbox_stats_chains(s, names, cfg->n_chains, depths, oldest);
	for (size_t i = 0; i < cfg->n_chains; i++) {
		const cfg_chain *c = &cfg->chains[i];
		read_light(s, c, &cs[i]);
		int r = store_scan_payments(s, STORE_PENDING, c->name, 0, UINT64_MAX, count_one, &cs[i].pending);
		if (r == 0 && (r = outbox) == 0) {
			cs[i].outbox_depth = depths[i];
			cs[i].outbox_oldest_ms = oldest[i];
		}
		if (r < 0)
			snprintf(cs[i].error, sizeof(cs[i].error), "RocksDB read failed: %s", pw_strerror(r));
	}
	free(names);
	free(depths);
	free(oldest);
}

void report_iso_time(int64_t unix_ms, char *out, size_t n)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* JSON helpers: a number, or null when unknown. */
void report_json_num(cJSON *o, const char *k, bool known, double v)
{
	if (known)
		cJSON_AddNumberToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

void report_json_time(cJSON *o, const char *k, bool known, int64_t unix_ms)
{
	char buf[32];
	if (!known) {
		cJSON_AddNullToObject(o, k);
		return;
	}
	report_iso_time(unix_ms, buf, sizeof(buf));
	cJSON_AddStringToObject(o, k, buf);
}

chain_figures chain_report_figures(const chain_report *cs, int64_t now_ms)
{
	chain_figures f = { 0 };
	f.head_known = cs->have_state && cs->st.updated_ms > 0 && (cs->st.head > 0 || cs->indexed);
	f.lag_known = f.head_known && cs->indexed;
	f.lag_blocks = f.lag_known ? (int64_t)cs->st.head - (int64_t)cs->checkpoint : 0;
	if (f.lag_known && f.lag_blocks <= 0) {
		f.lag_s_known = true; /* at the head: no lag */
		f.lag_s = 0;
	} else if (f.lag_known && cs->st.head_time >= 0 && cs->checkpoint_time >= 0) {
		f.lag_s_known = true;
		f.lag_s = cs->st.head_time - cs->checkpoint_time;
	}
	f.state_age_s =
		cs->have_state && now_ms > cs->st.updated_ms ? (double)(now_ms - cs->st.updated_ms) / 1000.0 : 0;
	return f;
}

cJSON *chain_report_json(const chain_report *cs, int64_t now_ms)
{
	chain_figures f = chain_report_figures(cs, now_ms);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", cs->c->name);
	cJSON_AddNumberToObject(o, "chain_id", (double)cs->c->chain_id);
	cJSON_AddStringToObject(o, "kind", cs->c->family->kind);
	cJSON_AddStringToObject(o, "transport", cs->c->transport == CHAIN_TRANSPORT_HTTP ? "http" : "ws");
	if (cs->have_state && cs->st.endpoint[0])
		cJSON_AddStringToObject(o, "endpoint", cs->st.endpoint);
	else
		cJSON_AddNullToObject(o, "endpoint");
	report_json_time(o, "state_updated_at", cs->have_state, cs->st.updated_ms);
	report_json_num(o, "state_age_s", cs->have_state, f.state_age_s);
	report_json_num(o, "head", f.head_known, (double)cs->st.head);
	report_json_time(o, "head_time", f.head_known && cs->st.head_time >= 0, cs->st.head_time * 1000);
	if (cs->c->finality != CHAIN_FINALITY_CONFIRMATIONS)
		cJSON_AddStringToObject(o, "finality", chain_finality_tag(cs->c->finality));
	else
		cJSON_AddNumberToObject(o, "confirmations", cs->c->confirmations);
	report_json_num(o, "finalized", cs->have_state && cs->st.finalized >= 0, (double)cs->st.finalized);
	report_json_num(o, "checkpoint", cs->indexed, (double)cs->checkpoint);
	report_json_num(o, "confirmed_height", cs->have_confirmed, (double)cs->confirmed_height);
	report_json_num(o, "lag_blocks", f.lag_known, (double)f.lag_blocks);
	report_json_num(o, "lag_seconds", f.lag_s_known, (double)f.lag_s);
	report_json_num(o, "pending_payments", !cs->unread, (double)cs->pending);
	report_json_num(o, "outbox_depth", !cs->unread, (double)cs->outbox_depth);
	report_json_num(o, "outbox_oldest_age_s", cs->outbox_depth > 0,
			(double)(now_ms - cs->outbox_oldest_ms) / 1000.0);
	report_json_num(o, "quarantined", cs->quarantine_known, (double)cs->quarantined);
	if (cs->have_state && cs->st.last_reorg_ms > 0) {
		cJSON *rg = cJSON_AddObjectToObject(o, "last_reorg");
		cJSON_AddNumberToObject(rg, "depth", (double)cs->st.last_reorg_depth);
		report_json_time(rg, "at", true, cs->st.last_reorg_ms);
		cJSON_AddNumberToObject(rg, "reorgs_since_start", (double)cs->st.reorgs);
	} else {
		cJSON_AddNullToObject(o, "last_reorg");
	}
	if (cs->error[0])
		cJSON_AddStringToObject(o, "error", cs->error);
	return o;
}

/* ---- the reporter ---- */

#define REPORT_EVERY_MS 1000
/* The scans (pending payments, the outbox: O(depth), and deep during a
 * backfill) run every SCAN_EVERY rounds; the rounds between publish the
 * last scan's figures with fresh heads and checkpoints. A full scan each
 * second cost a 100,000-transfer backfill 0.6 CPU-s. */
#define SCAN_EVERY 10

struct chain_reporter {
	const pw_config *cfg;
	store *st;
	atomic_bool *stop;
	pthread_t thread;
	chain_report *last;  /* per chain: the last full read */
	chain_report *fresh; /* per chain: a full read's figures, before the quarantine's count joins them */
	unsigned round;
};

/* The report's figures into the process's gauges (unknown ones are left
 * as they were). */
static void report_metrics(const chain_report *cs, int64_t now_ms)
{
	chain_figures f = chain_report_figures(cs, now_ms);
	char l[100];
	metrics_labels(l, sizeof(l), "chain", cs->c->name, NULL);
	if (f.head_known)
		metrics_set("paywatch_chain_head_block", l, (double)cs->st.head);
	if (cs->indexed)
		metrics_set("paywatch_chain_checkpoint_block", l, (double)cs->checkpoint);
	if (cs->have_confirmed)
		metrics_set("paywatch_chain_confirmed_block", l, (double)cs->confirmed_height);
	if (f.lag_known)
		metrics_set("paywatch_chain_lag_blocks", l, (double)f.lag_blocks);
	if (f.lag_s_known)
		metrics_set("paywatch_chain_lag_seconds", l, (double)f.lag_s);
	metrics_set("paywatch_pending_payments", l, (double)cs->pending);
	metrics_set("paywatch_outbox_entries", l, (double)cs->outbox_depth);
	metrics_set("paywatch_outbox_oldest_age_seconds", l,
		    cs->outbox_depth > 0 ? (double)(now_ms - cs->outbox_oldest_ms) / 1000.0 : 0);
	if (cs->quarantine_known)
		metrics_set("paywatch_quarantined_entries", l, (double)cs->quarantined);
}

/* One round: every chain's report into the gauges, and into chain_reports
 * when pg is connected (NULL: Postgres is away; the gauges go on, the
 * outbox's above all, and the quarantine's count stays as last read). 0,
 * or the write's error. */
static int publish(chain_reporter *r, pg_sink *pg)
{
	bool scan = r->round++ % SCAN_EVERY == 0;
	if (scan)
		chain_report_read_all(r->st, r->cfg, r->fresh);
	for (size_t i = 0; i < r->cfg->n_chains; i++) {
		chain_report cr;
		if (scan) {
			cr = r->fresh[i];
			if (pg) {
				char oldest[40];
				cr.quarantine_known =
					pg_sink_quarantine_summary(pg, r->cfg->chains[i].name, &cr.quarantined, oldest,
								   sizeof(oldest)) == 0;
			} else {
				cr.quarantine_known = r->last[i].quarantine_known;
				cr.quarantined = r->last[i].quarantined;
			}
			r->last[i] = cr;
		} else {
			read_light(r->st, &r->cfg->chains[i], &cr);
			cr.pending = r->last[i].pending;
			cr.outbox_depth = r->last[i].outbox_depth;
			cr.outbox_oldest_ms = r->last[i].outbox_oldest_ms;
			cr.quarantine_known = r->last[i].quarantine_known;
			cr.quarantined = r->last[i].quarantined;
		}
		int64_t now = pw_wall_ms();
		report_metrics(&cr, now);
		if (!pg)
			continue;
		cJSON *o = chain_report_json(&cr, now);
		char *text = o ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
		if (!text)
			return PW_ENOMEM;
		int rc = pg_sink_put_chain_report(pg, r->cfg->chains[i].name, text);
		free(text);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void *reporter_main(void *arg)
{
	chain_reporter *r = arg;
	pg_sink *pg = NULL;
	bool behind = false; /* a schema behind this build was said: not again until it is not */
	while (!atomic_load(r->stop)) {
		if (!pg) {
			char err[512];
			int o = pg_sink_connect_migrated(r->cfg->pg_dsn, &pg, err, sizeof(err));
			if (o == PW_ESCHEMA && !behind)
				log_error(PW_EDB, "chain reports: postgres: %s; not published until then", err);
			behind = o == PW_ESCHEMA;
			if (o < 0)
				pg = NULL; /* the sink logs Postgres outages; try again next round */
		}
		if (publish(r, pg) < 0 && pg) {
			log_debug("chain reports: %s", pg_sink_error(pg));
			pg_sink_close(pg);
			pg = NULL;
		}
		pw_sleep_unless_stopped(r->stop, behind ? PG_SCHEMA_RECHECK_MS : REPORT_EVERY_MS, 100);
	}
	pg_sink_close(pg);
	return NULL;
}

int chain_reporter_start(const pw_config *cfg, store *st, atomic_bool *stop, chain_reporter **ret)
{
	chain_reporter *r = calloc(1, sizeof(*r));
	if (!r)
		return PW_ENOMEM;
	*r = (chain_reporter){ .cfg = cfg, .st = st, .stop = stop };
	r->last = calloc(cfg->n_chains ? cfg->n_chains : 1, sizeof(chain_report));
	r->fresh = calloc(cfg->n_chains ? cfg->n_chains : 1, sizeof(chain_report));
	if (!r->last || !r->fresh || pthread_create(&r->thread, NULL, reporter_main, r) != 0) {
		free(r->last);
		free(r->fresh);
		free(r);
		return PW_ENOMEM;
	}
	*ret = r;
	return 0;
}

void chain_reporter_join(chain_reporter *r)
{
	if (!r)
		return;
	pthread_join(r->thread, NULL);
	free(r->last);
	free(r->fresh);
	free(r);
}
