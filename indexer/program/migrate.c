/* migrate.c: `paywatch migrate`: apply the schema migrations built into
 * the binary. */
#include "migrate.h"
#include "log.h"
#include "postgres.h"
#include "pw_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int migrate_run(const pw_config *cfg)
{
	char err[512];
	pg_sink *pg;
	int r = pg_sink_connect(cfg->pg_dsn, &pg, err, sizeof(err));
	if (r < 0)
		return log_error(r, "postgres: cannot connect: %s", err);
	size_t applied = 0, total = 0;
	for (const struct schema_migration *m = schema_migrations; m->name; m++)
		total++;
	r = pg_sink_migrate(pg, schema_migrations, &applied);
	if (r < 0)
		log_error(r, "postgres: %s", pg_sink_error(pg));
	else
		log_info("migrate: %zu migration(s) applied, %zu already present", applied, total - applied);
	pg_sink_close(pg);
	return r;
}
