/* mirror.c: the config's merchants, their addresses and webhook
 * endpoints mirrored into Postgres (the sink writers do it at each connect,
 * replay before it writes). */
#include "mirror.h"
#include "pw_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	char(*events)[96] = calloc(cfg->n_merchants + 1, sizeof(*events));
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
		snprintf(events[i], sizeof(events[i]), "{%s%s%s}",
			 m->events & CFG_EVENT_CONFIRMED ? "payment.confirmed," : "",
			 m->events & CFG_EVENT_REVERTED ? "payment.reverted," : "",
			 m->events & CFG_EVENT_PENDING ? "payment.pending," : "");
		size_t len = strlen(events[i]);
		if (len > 2) { /* drop the trailing comma */
			events[i][len - 2] = '}';
			events[i][len - 1] = '\0';
		}
		for (size_t j = 0; j < m->n_endpoints; j++, e++)
			eps[e] = (pg_webhook_endpoint){ m->id, m->endpoints[j].id, m->endpoints[j].url, events[i] };
	}
	r = pg_sink_sync_merchants(pg, ids, cfg->n_merchants, addrs, n_addr, eps, n_ep);
out_free:
	free(ids);
	free(addrs);
	free(eps);
	free(events);
	return r;
}
