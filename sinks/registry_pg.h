/* registry_pg.h: the merchant registry's SQL (schema/011_registry.sql):
 * merchants, their addresses per chain and their webhook endpoints, read
 * and changed by the API (through its pool), the CLI and the registry
 * watcher of every running process. Answers are JSON texts built by
 * Postgres (malloc'd, caller frees):
 *   MERCHANT {"id", "origin" ("config"|"registry"), "created_at",
 *             "addresses" (count), "webhooks" (active endpoints, count)}
 *   ADDRESS  {"merchant_id", "chain", "address" (stored form), "origin",
 *             "from_block" (null when none), "created_at"}
 *   ENDPOINT {"id", "merchant_id", "url" (scheme://host:port only),
 *             "events" [...], "active", "disabled", "origin", "created_at"}
 * Times are RFC 3339 UTC. Every write runs in its own READ WRITE
 * transaction (the API's sessions are read-only by default) and its
 * statement triggers NOTIFY paywatch_registry. No function here sees a
 * secret in clear: endpoints arrive sealed (common/secretbox.h).
 * Errors: PW_EDB with libpq's message in err; PW_ENOTFOUND (no such
 * merchant, address or endpoint); PW_EREFUSED with the reason in err (a
 * config row, an address another merchant owns); PW_ENOMEM. */
#ifndef PW_REGISTRY_PG_H
#define PW_REGISTRY_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* The channel the registry's triggers NOTIFY on. */
#define REGISTRY_CHANNEL "paywatch_registry"

/* registry_pg_each_address: every address row of an active merchant,
 * streamed (COPY TO STDOUT: memory stays flat at any count), fn called
 * per row with (chain, address in stored form, merchant_id). fn returning
 * < 0 stops the stream with that result. 0, fn's error, PW_EDB. */
int registry_pg_each_address(PGconn *c, int (*fn)(void *arg, const char *chain, const char *address,
						  const char *merchant_id),
			     void *arg, char *err, size_t errlen);

/* registry_pg_merchants: {"data": [MERCHANT, ...]} of every merchant not
 * removed, by id; only_id non-NULL: that merchant's alone (PW_ENOTFOUND
 * when none). */
int registry_pg_merchants(PGconn *c, const char *only_id, char **ret_json, char *err, size_t errlen);

/* registry_pg_merchant_add: create merchant id (origin 'registry'), or
 * bring back a removed one. MERCHANT into *ret_json; *ret_created 1 when
 * it did not exist (or was removed), 0 when it existed already. */
int registry_pg_merchant_add(PGconn *c, const char *id, int *ret_created, char **ret_json, char *err,
			     size_t errlen);

/* registry_pg_merchant_remove: remove merchant id: its addresses are
 * deleted (matching stops), its endpoints made inactive (their history
 * stays), its payments stay. PW_EREFUSED for a merchant the config names. */
int registry_pg_merchant_remove(PGconn *c, const char *id, char *err, size_t errlen);

/* registry_pg_addresses: {"data": [ADDRESS, ...], "next_cursor": TEXT|null}
 * of merchant_id (chain non-NULL: on that chain only), ordered by (chain,
 * address), at most limit (1..1000) after the cursor (NULL: from the
 * start; an opaque value from an earlier page). PW_ENOTFOUND: no such
 * merchant; PW_EPARSE: a bad cursor. */
int registry_pg_addresses(PGconn *c, const char *merchant_id, const char *chain, unsigned limit,
			  const char *cursor, char **ret_json, char *err, size_t errlen);

/* One address to add: text fields in the stored form. */
typedef struct registry_address {
	const char *merchant_id;
	const char *chain;
	const char *family;  /* "evm", "tron": the chain's family */
	const char *address; /* stored form */
	int64_t from_block;  /* -1: none */
} registry_address;

/* registry_pg_address_add: add a (origin 'registry'). ADDRESS into
 * *ret_json; *ret_created 0 when the merchant had it already (unchanged).
 * PW_ENOTFOUND: no such merchant; PW_EREFUSED: another merchant owns it. */
int registry_pg_address_add(PGconn *c, const registry_address *a, int *ret_created, char **ret_json, char *err,
			    size_t errlen);

/* registry_pg_address_remove: stop watching (chain, address) for
 * merchant_id; its payments stay. PW_ENOTFOUND: the merchant has no such
 * address; PW_EREFUSED: the config names it. */
int registry_pg_address_remove(PGconn *c, const char *merchant_id, const char *chain, const char *address,
			       char *err, size_t errlen);

/* registry_pg_endpoints: {"data": [ENDPOINT, ...]} of merchant_id, by id
 * (inactive ones too). PW_ENOTFOUND: no such merchant. */
int registry_pg_endpoints(PGconn *c, const char *merchant_id, char **ret_json, char *err, size_t errlen);

/* One endpoint to add, its URL and secret sealed by the caller. */
typedef struct registry_endpoint {
	const char *merchant_id;
	const char *id;            /* the endpoint id (config_valid_id form) */
	const char *url_shown;     /* scheme://host:port */
	const char *url_sealed;    /* secretbox text */
	const char *secret_sealed; /* secretbox text */
	const char *key_id;        /* the key both are sealed under */
	const char *events;        /* a text[] literal: {payment.confirmed,...} */
} registry_endpoint;

/* registry_pg_endpoint_add: add endpoint e (origin 'registry'), or replace
 * an inactive one with that id (a new URL and secret). ENDPOINT into
 * *ret_json. PW_ENOTFOUND: no such merchant; PW_EREFUSED: an active
 * endpoint has that id (remove it first), or the config names it. */
int registry_pg_endpoint_add(PGconn *c, const registry_endpoint *e, char **ret_json, char *err, size_t errlen);

/* registry_pg_endpoint_remove: make endpoint id of merchant_id inactive
 * (no new deliveries; its history stays). PW_ENOTFOUND; PW_EREFUSED: the
 * config names it. */
int registry_pg_endpoint_remove(PGconn *c, const char *merchant_id, const char *id, char *err, size_t errlen);

/* One sealed endpoint, as `secrets rotate-key` reads it. */
typedef struct registry_sealed {
	int64_t row;
	char merchant_id[64];
	char id[64];
	char *url_sealed, *secret_sealed; /* malloc'd; freed by registry_sealed_free */
} registry_sealed;

/* registry_pg_sealed_not_under: every endpoint sealed under a key other
 * than key_id, into *ret (malloc'd array of *ret_n; free with
 * registry_sealed_free). */
int registry_pg_sealed_not_under(PGconn *c, const char *key_id, registry_sealed **ret, size_t *ret_n, char *err,
				 size_t errlen);
void registry_sealed_free(registry_sealed *s, size_t n);

/* registry_pg_reseal: replace row's sealed URL and secret (sealed under
 * key_id), only if the row still holds old_secret_sealed (a concurrent
 * change wins). 0 (or PW_ENOTFOUND: it changed meanwhile), PW_EDB. */
int registry_pg_reseal(PGconn *c, int64_t row, const char *old_secret_sealed, const char *url_sealed,
		       const char *secret_sealed, const char *key_id, char *err, size_t errlen);

#endif
