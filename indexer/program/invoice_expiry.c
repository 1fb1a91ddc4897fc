/* invoice_expiry.c: invoices expired on time inside `paywatch run`
 * (invoice_expiry.h). */
#include "invoice_expiry.h"
#include "clock.h"
#include "invoice_pg.h"
#include "log.h"
#include "pg_conn.h"
#include "pw_error.h"

#include <pthread.h>
#include <stdlib.h>

#define EXPIRE_ROWS_MAX 500 /* per call: a backlog goes out in calls one after the other */

struct invoice_expiry {
	const pw_config *cfg;
	atomic_bool *stop;
	pthread_t thread;
};

static void *expiry_main(void *arg)
{
	invoice_expiry *x = arg;
	PGconn *pg = NULL;
	bool quiet = false; /* Postgres reported away once: not again until it is back */
	while (!atomic_load(x->stop)) {
		char err[300] = "";
		long events = 0;
		/* a schema behind this build: no invoice expires until migrate */
		int r = pg ? 0 : pg_open_migrated(x->cfg->pg_dsn, "paywatch invoice expiry", &pg, err, sizeof(err));
		if (r == 0)
			r = invoice_pg_expire_due(pg, EXPIRE_ROWS_MAX, &events, err, sizeof(err));
		if (r < 0) {
			pg_scrub(err, x->cfg->pg_dsn);
			if (!quiet && r == PW_ESCHEMA)
				log_error(PW_EDB, "invoice expiry: postgres: %s; no invoice expires until then", err);
			else if (!quiet)
				log_warn("invoice expiry: postgres: %s", err);
			quiet = true;
			PQfinish(pg);
			pg = NULL;
		} else {
			quiet = false;
			if (events > 0)
				log_info("invoices: %ld expired", events);
		}
		if (r == 0 && events >= EXPIRE_ROWS_MAX)
			continue; /* a backlog: the next ones at once */
		pw_sleep_unless_stopped(x->stop, r == PW_ESCHEMA ? PG_SCHEMA_RECHECK_MS : INVOICE_EXPIRY_TICK_MS,
					INVOICE_EXPIRY_TICK_MS);
	}
	PQfinish(pg);
	return NULL;
}

int invoice_expiry_start(const pw_config *cfg, atomic_bool *stop, invoice_expiry **ret)
{
	invoice_expiry *x = calloc(1, sizeof(*x));
	if (!x)
		return PW_ENOMEM;
	x->cfg = cfg;
	x->stop = stop;
	if (pthread_create(&x->thread, NULL, expiry_main, x) != 0) {
		free(x);
		return PW_ENOMEM;
	}
	*ret = x;
	return 0;
}

void invoice_expiry_join(invoice_expiry *x)
{
	if (!x)
		return;
	pthread_join(x->thread, NULL);
	free(x);
}
