/* mirror.c: the config's merchants, their addresses and webhook
 * endpoints mirrored into Postgres (the sink writers do it at each connect,
 * replay before it writes). */
#include "mirror.h"
#include "buf.h"
#include "log.h"
#include "pw_error.h"
#include "registry_admin.h"
#include "registry_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The config's xpubs (the config wins: another key replaces the stored
 * one), their windows grown; config xpubs it no longer names go. */
static int mirror_xpubs(pg_sink *pg, const pw_config *cfg)
{
	PGconn *c = pg_sink_conn(pg);
	char err[512] = "";
	pw_buf keep;
	buf_init(&keep, (size_t)1 << 30);
	int r = buf_append(&keep, "{", 1);
	bool first = true;
	for (size_t i = 0; r == 0 && i < cfg->n_merchants; i++) {
		const cfg_merchant *m = &cfg->merchants[i];
		if (!m->xpub.set)
			continue;
		r = buf_appendf(&keep, "%s%s", first ? "" : ",", m->id);
		first = false;
		const char *chains[CFG_XPUB_CHAINS_MAX];
		for (size_t k = 0; k < m->xpub.n_chains; k++)
			chains[k] = cfg->chains[m->xpub.chains[k]].name;
		if (r == 0)
			r = registry_xpub_set(c, cfg, m->id, m->xpub.key, m->xpub.path, chains, m->xpub.n_chains,
					      m->xpub.gap_limit, "config", true, err, sizeof(err));
		if (r < 0)
			log_warn("postgres: merchant %s: cannot store its xpub: %s", m->id,
				 *err ? err : pw_strerror(r));
	}
	if (r == 0 && (r = buf_append(&keep, "}", 2)) == 0)
		r = registry_pg_prune_config_xpubs(c, keep.data, err, sizeof(err));
	buf_done(&keep);
	return r == PW_EDB ? PW_EDB : 0;
}

int merchants_mirror(pg_sink *pg, const pw_config *cfg)
{
	size_t n_addr = 0, n_ep = 0;
	for (size_t i = 0; i < cfg->n_merchants; i++) {
		n_addr += cfg->merchants[i].n_addresses;
		n_ep += cfg->merchants[i].n_endpoints;
	}
	const char **ids = calloc(cfg->n_merchants + 1, sizeof(*ids));
	pg_merchant_address *addrs = calloc(n_addr + 1, sizeof(*addrs));
	pg_webhook_endpoint *eps = calloc(n_ep + 1, sizeof(*eps));
	char(*events)[256] = calloc(cfg->n_merchants + 1, sizeof(*events));
	int r = PW_ENOMEM;
	if (!ids || !addrs || !eps || !events)
		goto out_free;
	size_t k = 0, e = 0;
	for (size_t i = 0; i < cfg->n_merchants; i++) {
		const cfg_merchant *m = &cfg->merchants[i];
		ids[i] = m->id;
		for (size_t j = 0; j < m->n_addresses; j++, k++) {
			addrs[k].merchant_id = m->id;
			addrs[k].chain = cfg->chains[m->addresses[j].chain_index].name;
			addrs[k].family = cfg->chains[m->addresses[j].chain_index].family->family;
			addrs[k].address = m->addresses[j].address;
		}
		cfg_events_literal(m->events, events[i], sizeof(events[i]));
		for (size_t j = 0; j < m->n_endpoints; j++, e++)
			eps[e] = (pg_webhook_endpoint){ m->id, m->endpoints[j].id, m->endpoints[j].url, events[i] };
	}
	pw_buf chains;
	buf_init(&chains, 1 << 20);
	r = buf_append(&chains, "{", 1);
	for (size_t i = 0; r == 0 && i < cfg->n_chains; i++)
		r = buf_appendf(&chains, "%s%s", i ? "," : "", cfg->chains[i].name);
	if (r == 0)
		r = buf_append(&chains, "}", 2);
	if (r == 0)
		r = pg_sink_sync_merchants(pg, chains.data, ids, cfg->n_merchants, addrs, n_addr, eps, n_ep);
	buf_done(&chains);
	if (r == 0)
		r = mirror_xpubs(pg, cfg);
out_free:
	free(ids);
	free(addrs);
	free(eps);
	free(events);
	return r;
}
