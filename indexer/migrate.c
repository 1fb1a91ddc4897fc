/* migrate.c: `paywatch migrate`, and the merchant mirror. */
#include "migrate.h"
#include "log.h"
#include "pw_error.h"

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

int migrate_sync_merchants(pg_sink *pg, const pw_config *cfg)
{
	size_t n_addr = 0;
	for (size_t i = 0; i < cfg->n_merchants; i++)
		n_addr += cfg->merchants[i].n_addresses;
	const char **ids = calloc(cfg->n_merchants + 1, sizeof(*ids));
	pg_merchant_address *addrs = calloc(n_addr + 1, sizeof(*addrs));
	if (!ids || !addrs) {
		free(ids);
		free(addrs);
		return PW_ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < cfg->n_merchants; i++) {
		const cfg_merchant *m = &cfg->merchants[i];
		ids[i] = m->id;
		for (size_t j = 0; j < m->n_addresses; j++, k++) {
			addrs[k].merchant_id = m->id;
			addrs[k].chain = cfg->chains[m->addresses[j].chain_index].name;
			memcpy(addrs[k].address, m->addresses[j].address, PW_ADDR_LEN);
		}
	}
	int r = pg_sink_sync_merchants(pg, ids, cfg->n_merchants, addrs, n_addr);
	free(ids);
	free(addrs);
	return r;
}
