/* mirror.h: the config's merchants mirrored into Postgres, where webhook
 * events and deliveries find their endpoints. */
#ifndef PW_MIRROR_H
#define PW_MIRROR_H

#include "config.h"
#include "postgres.h"

/* merchants_mirror: make Postgres's merchants, merchant_addresses and
 * active webhook_endpoints those of cfg (pg_sink_sync_merchants), in one
 * transaction. 0 or PW_EDB / PW_ENOMEM (pg_sink_error has the detail). */
int merchants_mirror(pg_sink *pg, const pw_config *cfg);

#endif
