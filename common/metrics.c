/* metrics.c: the metrics catalogue and its series (metrics.h). */
#include "metrics.h"
#include "buf.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum kind { COUNTER, GAUGE, HISTOGRAM };

/* Latency buckets, seconds: 1 ms .. 10 s. */
static const double latency_s[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
/* Reorg depths, blocks. */
static const double depth_blocks[] = { 1, 2, 3, 5, 8, 13, 21, 34, 64, 128 };
#define BUCKETS(a) a, sizeof(a) / sizeof(a[0])

typedef struct family {
	const char *name;
	enum kind kind;
	const char *help;
	const double *buckets;
	size_t n_buckets;
} family;

/* The catalogue: every metric paywatch exposes. */
static const family catalogue[] = {
	/* chains (paywatch run) */
	{ "paywatch_chain_head_block", GAUGE, "The node's head block number, as run last saw it.", NULL, 0 },
	{ "paywatch_chain_checkpoint_block", GAUGE, "The last block indexed (the checkpoint in RocksDB).", NULL, 0 },
	{ "paywatch_chain_confirmed_block", GAUGE, "The highest block whose payments are confirmed.", NULL, 0 },
	{ "paywatch_chain_lag_blocks", GAUGE, "Blocks between the node's head and the checkpoint.", NULL, 0 },
	{ "paywatch_chain_lag_seconds", GAUGE, "Seconds between the head block's time and the checkpoint block's.",
	  NULL, 0 },
	{ "paywatch_chain_blocks_processed_total", COUNTER, "Blocks indexed (backfill and live).", NULL, 0 },
	{ "paywatch_chain_logs_scanned_total", COUNTER, "Transfer logs of watched tokens read from the node.", NULL,
	  0 },
	{ "paywatch_payments_total", COUNTER,
	  "Payments to merchant addresses by state: pending (seen, waiting for confirmations), confirmed, reverted.",
	  NULL, 0 },
	{ "paywatch_pending_payments", GAUGE, "Payments waiting for confirmations now.", NULL, 0 },
	{ "paywatch_chain_reorg_depth_blocks", HISTOGRAM, "Reorgs handled, by depth in blocks.",
	  BUCKETS(depth_blocks) },
	{ "paywatch_rpc_requests_total", COUNTER,
	  "JSON-RPC requests to the chain's node by method and outcome (ok, rate_limited, error, timeout).", NULL, 0 },
	{ "paywatch_rpc_request_duration_seconds", HISTOGRAM, "JSON-RPC request latency, sent to answered.",
	  BUCKETS(latency_s) },
	{ "paywatch_rpc_endpoint_switches_total", COUNTER, "Moves to the chain's next node URL (failover).", NULL, 0 },
	{ "paywatch_outbox_entries", GAUGE, "Entries in the RocksDB outbox waiting to be written to Postgres.", NULL,
	  0 },
	{ "paywatch_outbox_oldest_age_seconds", GAUGE, "Age of the oldest outbox entry (0 when empty).", NULL, 0 },
	{ "paywatch_quarantined_entries", GAUGE, "Outbox entries Postgres refused, kept in payment_quarantine.", NULL,
	  0 },
	{ "paywatch_postgres_rows_written_total", COUNTER,
	  "Outbox entries written to Postgres by result (inserted, present, reverted, quarantined).", NULL, 0 },
	/* webhooks (paywatch run, paywatch dispatch) */
	{ "paywatch_webhook_deliveries_total", COUNTER,
	  "Webhook delivery attempts by outcome (delivered, retry, failed, gone).", NULL, 0 },
	{ "paywatch_webhook_delivery_duration_seconds", HISTOGRAM, "Webhook attempt latency, request to answer.",
	  BUCKETS(latency_s) },
	{ "paywatch_webhook_deliveries_due", GAUGE, "Deliveries due now, per endpoint (merchant and endpoint id).",
	  NULL, 0 },
	{ "paywatch_webhook_deliveries_failed", GAUGE, "Deliveries failed for good, per endpoint.", NULL, 0 },
	/* the merchant registry (paywatch run) */
	{ "paywatch_registry_addresses", GAUGE, "Addresses in the merchant address set matched against now.", NULL, 0 },
	{ "paywatch_registry_reloads_total", COUNTER, "Loads of the merchant registry from Postgres, by outcome.", NULL,
	  0 },
	{ "paywatch_registry_version", GAUGE, "Version of the merchant address set in use (1: the config's).", NULL,
	  0 },
	/* the HTTP API (paywatch run, paywatch serve) */
	{ "paywatch_api_requests_total", COUNTER, "HTTP API requests by route and status code.", NULL, 0 },
	{ "paywatch_api_request_duration_seconds", HISTOGRAM, "HTTP API request latency, headers in to answer queued.",
	  BUCKETS(latency_s) },
	{ "paywatch_api_longpolls_waiting", GAUGE, "GET /v1/events long-polls parked now.", NULL, 0 },
	{ "paywatch_api_longpoll_wakeups_total", COUNTER,
	  "Parked long-polls resumed, by how they were answered: shared (from the one read of the new events) or query.",
	  NULL, 0 },
	/* the process */
	{ "paywatch_process_resident_memory_bytes", GAUGE, "Resident memory of the process.", NULL, 0 },
	{ "paywatch_process_open_fds", GAUGE, "Open file descriptors of the process.", NULL, 0 },
	{ "paywatch_process_start_time_seconds", GAUGE, "Start time of the process, seconds since the Unix epoch.",
	  NULL, 0 },
};
#define N_FAMILIES (sizeof(catalogue) / sizeof(catalogue[0]))
#define MAX_BUCKETS 16

typedef struct series {
	size_t family;
	char *labels;
	double value;                     /* counter, gauge; histogram: the sum */
	uint64_t counts[MAX_BUCKETS + 1]; /* histogram: per bucket (not cumulative), then +Inf */
	uint64_t count;
	struct series *next_in_family;
	struct series *next_in_slot;
} series;

#define SLOTS 1024
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static series *slots[SLOTS];
static series *first[N_FAMILIES], *last[N_FAMILIES];

static size_t family_of(const char *name, enum kind kind)
{
	for (size_t i = 0; i < N_FAMILIES; i++)
		if (strcmp(catalogue[i].name, name) == 0)
			return catalogue[i].kind == kind ? i : N_FAMILIES;
	return N_FAMILIES;
}

int metrics_declared(const char *name)
{
	for (size_t i = 0; i < N_FAMILIES; i++)
		if (strcmp(catalogue[i].name, name) == 0)
			return 1;
	return 0;
}

static size_t slot_of(size_t fam, const char *labels)
{
	uint64_t h = 1469598103934665603ULL ^ fam; /* FNV-1a */
	for (const char *p = labels; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (size_t)(h % SLOTS);
}

/* The series (fam, labels), created on first use; under lock. NULL on out
 * of memory. */
static series *find(size_t fam, const char *labels)
{
	size_t k = slot_of(fam, labels);
	for (series *s = slots[k]; s; s = s->next_in_slot)
		if (s->family == fam && strcmp(s->labels, labels) == 0)
			return s;
	series *s = calloc(1, sizeof(*s));
	if (!s || !(s->labels = strdup(labels))) {
		free(s);
		return NULL;
	}
	s->family = fam;
	s->next_in_slot = slots[k];
	slots[k] = s;
	if (last[fam])
		last[fam]->next_in_family = s;
	else
		first[fam] = s;
	last[fam] = s;
	return s;
}

static void update(const char *name, enum kind kind, const char *labels, double v)
{
	size_t fam = family_of(name, kind);
	if (fam == N_FAMILIES)
		return;
	pthread_mutex_lock(&lock);
	series *s = find(fam, labels ? labels : "");
	if (s) {
		if (kind == COUNTER) {
			s->value += v > 0 ? v : 0;
		} else if (kind == GAUGE) {
			s->value = v;
		} else {
			const family *f = &catalogue[fam];
			size_t b = 0;
			while (b < f->n_buckets && v > f->buckets[b])
				b++;
			s->counts[b]++;
			s->count++;
			s->value += v;
		}
	}
	pthread_mutex_unlock(&lock);
}

void metrics_add(const char *name, const char *labels, double v)
{
	update(name, COUNTER, labels, v);
}

void metrics_set(const char *name, const char *labels, double v)
{
	update(name, GAUGE, labels, v);
}

void metrics_observe(const char *name, const char *labels, double v)
{
	update(name, HISTOGRAM, labels, v);
}

void metrics_labels(char *out, size_t outlen, ...)
{
	va_list ap;
	va_start(ap, outlen);
	size_t n = 0;
	out[0] = '\0';
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		char pair[400];
		size_t m = (size_t)snprintf(pair, sizeof(pair), "%s%s=\"", n ? "," : "", k);
		for (const char *p = v ? v : ""; *p && m + 3 < sizeof(pair); p++) {
			if (*p == '\\' || *p == '"')
				pair[m++] = '\\', pair[m++] = *p;
			else if (*p == '\n')
				pair[m++] = '\\', pair[m++] = 'n';
			else
				pair[m++] = *p;
		}
		pair[m++] = '"';
		pair[m] = '\0';
		if (n + m + 1 > outlen)
			break;
		memcpy(out + n, pair, m + 1);
		n += m;
	}
	va_end(ap);
}

/* ---- the process ---- */

static double resident_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	double n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* Seconds since the epoch at which the process started: its start in
 * clock ticks after boot (/proc/self/stat, field 22) plus the boot time
 * (/proc/stat btime). */
static double start_time_s(void)
{
	static double cached;
	if (cached > 0)
		return cached;
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ticks = 0;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		ticks = strtoull(p + 1, NULL, 10);
	unsigned long long btime = 0;
	f = fopen("/proc/stat", "r");
	while (f && fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "btime %llu", &btime) == 1)
			break;
	if (f)
		fclose(f);
	cached = (double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
	return cached;
}

/* ---- rendering ---- */

typedef struct out {
	pw_buf b;
	int err; /* the first append that failed */
} out;

static void put(out *o, const char *s, size_t n)
{
	if (!o->err)
		o->err = buf_append(&o->b, s, n);
}

static void puts_(out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void number(out *o, double v)
{
	char t[64];
	if (v == (double)(int64_t)v && v < 9e15 && v > -9e15)
		snprintf(t, sizeof(t), "%lld", (long long)v);
	else
		snprintf(t, sizeof(t), "%.17g", v);
	puts_(o, t);
}

static void line(out *o, const char *name, const char *suffix, const char *labels, const char *extra, double v)
{
	puts_(o, name);
	puts_(o, suffix);
	bool has_labels = labels && *labels;
	if (has_labels || extra) {
		puts_(o, "{");
		if (has_labels)
			puts_(o, labels);
		if (has_labels && extra)
			puts_(o, ",");
		if (extra)
			puts_(o, extra);
		puts_(o, "}");
	}
	puts_(o, " ");
	number(o, v);
	puts_(o, "\n");
}

char *metrics_render(void)
{
	metrics_set("paywatch_process_resident_memory_bytes", "", resident_bytes());
	metrics_set("paywatch_process_open_fds", "", open_fds());
	metrics_set("paywatch_process_start_time_seconds", "", start_time_s());
	out o = { .err = 0 };
	buf_init(&o.b, (size_t)64 << 20);
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < N_FAMILIES; i++) {
		const family *f = &catalogue[i];
		char head[600];
		snprintf(head, sizeof(head), "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
			 f->kind == COUNTER ? "counter"
			 : f->kind == GAUGE ? "gauge"
					    : "histogram");
		puts_(&o, head);
		for (const series *s = first[i]; s; s = s->next_in_family) {
			if (f->kind != HISTOGRAM) {
				line(&o, f->name, "", s->labels, NULL, s->value);
				continue;
			}
			uint64_t cum = 0;
			for (size_t k = 0; k <= f->n_buckets; k++) {
				cum += s->counts[k];
				char le[48];
				if (k < f->n_buckets)
					snprintf(le, sizeof(le), "le=\"%g\"", f->buckets[k]);
				else
					snprintf(le, sizeof(le), "le=\"+Inf\"");
				line(&o, f->name, "_bucket", s->labels, le, (double)cum);
			}
			line(&o, f->name, "_sum", s->labels, NULL, s->value);
			line(&o, f->name, "_count", s->labels, NULL, (double)s->count);
		}
	}
	pthread_mutex_unlock(&lock);
	if (o.err || !o.b.data) {
		buf_done(&o.b);
		return NULL;
	}
	return o.b.data; /* NUL-terminated; the caller frees it */
}
