/* registry_pg.h: the merchant registry's SQL (schema/011_registry.sql):
 * merchants, their addresses per chain and their webhook endpoints, read
 * and changed by the API (through its pool), the CLI and the registry
 * watcher of every running process. Answers are JSON texts built by
 * Postgres (malloc'd, caller frees):
 *   MERCHANT {"id", "origin" ("config"|"registry"), "created_at",
 *             "addresses" (count), "webhooks" (active endpoints, count),
 *             "xpub": null | {"fingerprint" (never the key), "path", "chains",
 *             "gap_limit", "origin", "windows": [{"chain", "highest_used",
 *             "next_index"}]}}
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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The channel the registry's triggers NOTIFY on. */
#define REGISTRY_CHANNEL "paywatch_registry"

/* One address row of the registry, as streamed: text fields in the
 * stored form; hd_index the row's index under its merchant's xpub, -1 for
 * an address given as such. */
typedef struct registry_row {
	const char *chain, *address, *merchant_id;
	long hd_index;
} registry_row;
typedef int (*registry_row_fn)(void *arg, const registry_row *row);

/* registry_pg_each_address: every address row of a merchant not removed,
 * streamed (COPY TO STDOUT: memory stays flat at any count), fn called per
 * row; since_xid non-zero: only rows written by transactions with an id
 * >= since_xid (an incremental load after one whose snapshot xmin that
 * was). *ret_xmin: the xmin of the snapshot the rows were read under (the
 * next incremental load's since_xid). fn returning < 0 stops the stream
 * with that result. 0, fn's error, PW_EDB. */
int registry_pg_each_address(PGconn *c, uint64_t since_xid, registry_row_fn fn, void *arg, uint64_t *ret_xmin,
			     char *err, size_t errlen);

/* registry_pg_estimate: the planner's estimate of the address rows (to
 * size a set before loading it); 0 when unknown. */
size_t registry_pg_estimate(PGconn *c);

/* One chain of a merchant's xpub, with its window (schema/012). */
typedef struct registry_xpub {
	const char *merchant_id, *xpub, *path, *chain;
	uint32_t gap_limit;
	long highest_used, next_index;
} registry_xpub;
typedef int (*registry_xpub_fn)(void *arg, const registry_xpub *x);

/* registry_pg_each_xpub: fn for each (merchant, chain) of an xpub, of
 * every merchant not removed (merchant_id NULL) or of one. 0, fn's error,
 * PW_EDB. */
int registry_pg_each_xpub(PGconn *c, const char *merchant_id, registry_xpub_fn fn, void *arg, char *err, size_t errlen);

/* An xpub to set (checked by the caller: bip32_parse_xpub, the path
 * template, the chains). */
typedef struct registry_xpub_row {
	const char *merchant_id, *xpub, *fingerprint, *path;
	const char *chains; /* a text[] literal */
	uint32_t gap_limit;
	const char *origin; /* "config" or "registry" */
	bool replace;       /* false: a merchant with another key is PW_EREFUSED */
} registry_xpub_row;

/* registry_pg_xpub_set: set merchant's xpub and create its windows (one
 * per chain). The caller fills the windows (registry_admin). */
int registry_pg_xpub_set(PGconn *c, const registry_xpub_row *x, char *err, size_t errlen);

/* A window as registry_pg_window_lock reads it. */
typedef struct registry_window {
	long highest_used, next_index;
	long derived_high; /* the highest index with an address row; -1: none */
	uint32_t gap_limit;
	char xpub[128], path[64];
} registry_window;

/* registry_pg_window_lock: the window of (merchant_id, chain), locked
 * until the transaction ends (two processes growing it take turns).
 * PW_ENOTFOUND: no xpub for that merchant and chain. The caller holds a
 * READ WRITE transaction around it (pg_begin, pg_end). */
int registry_pg_window_lock(PGconn *c, const char *merchant_id, const char *chain, registry_window *ret, char *err,
			    size_t errlen);

/* registry_pg_window_update: raise highest_used and next_index to at
 * least the values given. */
int registry_pg_window_update(PGconn *c, const char *merchant_id, const char *chain, long highest_used, long next_index,
			      char *err, size_t errlen);

/* registry_pg_prune_config_xpubs: the xpubs of origin 'config' of
 * merchants not in keep (a text[] literal of merchant ids) go, with their
 * derived addresses (the config no longer names them). */
int registry_pg_prune_config_xpubs(PGconn *c, const char *keep, char *err, size_t errlen);

/* registry_pg_rescan_add: queue rescans from from_block of merchant_id's
 * address on chain (address NULL: every address of the merchant there;
 * hd_only_from >= 0: only its derived ones from that index on). Their ids
 * as a JSON array in *ret_json ("[]": no such address). */
int registry_pg_rescan_add(PGconn *c, const char *merchant_id, const char *chain, long hd_only_from,
			   const char *address, uint64_t from_block, char **ret_json, char *err, size_t errlen);

/* registry_pg_rescans: {"data": [RESCAN, ...]} of the ids (a bigint[]
 * literal). RESCAN: id, merchant_id, chain, address, from_block, to_block,
 * status (pending, done, failed), found, inserted, last_error. */
int registry_pg_rescans(PGconn *c, const char *ids, char **ret_json, char *err, size_t errlen);

/* A rescan as claimed. to_block -1: not set yet. */
typedef struct registry_rescan {
	int64_t id, from_block, to_block;
	char merchant_id[64], chain[64], address[72];
	int attempts;
} registry_rescan;

/* registry_pg_rescan_claim: the oldest pending rescan of one of chains
 * (a text[] literal) no one holds, held for lease_s seconds. PW_ENOTFOUND
 * when there is none. */
int registry_pg_rescan_claim(PGconn *c, const char *chains, int lease_s, registry_rescan *ret, char *err,
			     size_t errlen);

/* registry_pg_rescan_update: record where rescan id stands: to_block (-1:
 * unchanged), status ("pending": released, taken again after retry_s
 * seconds; "done", "failed"), counts (-1: unchanged), error (NULL: none). */
int registry_pg_rescan_update(PGconn *c, int64_t id, int64_t to_block, const char *status, int64_t found,
			      int64_t inserted, const char *error, int retry_s, char *err, size_t errlen);

#define PW_HD_ADDR_TEXT 68
/* One derived address: its index and its stored form. */
typedef struct registry_hd_address {
	long index;
	char address[PW_HD_ADDR_TEXT];
} registry_hd_address;

/* registry_pg_hd_insert: add n derived addresses of merchant_id on chain
 * (one statement; rows that exist are left: a concurrent fill wrote
 * them). *ret_inserted: the rows added. */
int registry_pg_hd_insert(PGconn *c, const char *merchant_id, const char *chain, const char *family,
			  const registry_hd_address *rows, size_t n, size_t *ret_inserted, char *err, size_t errlen);

/* registry_pg_merchants: {"data": [MERCHANT, ...]} of every merchant not
 * removed, by id; only_id non-NULL: that merchant's alone (PW_ENOTFOUND
 * when none). */
int registry_pg_merchants(PGconn *c, const char *only_id, char **ret_json, char *err, size_t errlen);

/* registry_pg_merchant_add: create merchant id (origin 'registry'), or
 * bring back a removed one. MERCHANT into *ret_json; *ret_created 1 when
 * it did not exist (or was removed), 0 when it existed already. */
int registry_pg_merchant_add(PGconn *c, const char *id, int *ret_created, char **ret_json, char *err, size_t errlen);

/* registry_pg_merchant_remove: remove merchant id: its addresses are
 * deleted (matching stops), its endpoints made inactive (their history
 * stays), its payments stay. PW_EREFUSED for a merchant the config names. */
int registry_pg_merchant_remove(PGconn *c, const char *id, char *err, size_t errlen);

/* registry_pg_addresses: {"data": [ADDRESS, ...], "next_cursor": TEXT|null}
 * of merchant_id (chain non-NULL: on that chain only), ordered by (chain,
 * address), at most limit (1..1000) after the cursor (NULL: from the
 * start; an opaque value from an earlier page). PW_ENOTFOUND: no such
 * merchant; PW_EPARSE: a bad cursor. */
int registry_pg_addresses(PGconn *c, const char *merchant_id, const char *chain, unsigned limit, const char *cursor,
			  char **ret_json, char *err, size_t errlen);

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
int registry_pg_address_remove(PGconn *c, const char *merchant_id, const char *chain, const char *address, char *err,
			       size_t errlen);

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

/* One sealed endpoint, as `secrets rotate-key` and `webhooks test` read it. */
typedef struct registry_sealed {
	int64_t row;
	char merchant_id[64];
	char id[64];
	char *url_sealed, *secret_sealed; /* malloc'd; freed by registry_sealed_free */
} registry_sealed;

/* registry_pg_sealed: the endpoints the registry holds sealed (those the
 * API or `endpoints add` made; a config endpoint's secret is in the
 * config), by id: with not_key_id, only those sealed under another key
 * (`secrets rotate-key`); with merchant_id, only that merchant's active
 * ones (`webhooks test`). Into *ret (malloc'd array of *ret_n; free with
 * registry_sealed_free). 0, PW_EDB, PW_ENOMEM. */
int registry_pg_sealed(PGconn *c, const char *not_key_id, const char *merchant_id, registry_sealed **ret, size_t *ret_n,
		       char *err, size_t errlen);
void registry_sealed_free(registry_sealed *s, size_t n);

/* registry_pg_reseal: replace row's sealed URL and secret (sealed under
 * key_id), only if the row still holds old_secret_sealed (a concurrent
 * change wins). 0 (or PW_ENOTFOUND: it changed meanwhile), PW_EDB. */
int registry_pg_reseal(PGconn *c, int64_t row, const char *old_secret_sealed, const char *url_sealed,
		       const char *secret_sealed, const char *key_id, char *err, size_t errlen);

#endif
