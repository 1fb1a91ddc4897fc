/* registry_admin.h: changes to the merchant registry as the CLI
 * (`paywatch merchants|addresses|endpoints|secrets`) and the API
 * (/v1/merchants...) make them: values from outside checked and put in
 * their stored form, endpoint secrets generated and sealed, then the SQL
 * of sinks/registry_pg.h. Errors are those of registry_pg.h, plus
 * PW_EINVAL (a bad value: err names the field) and PW_ECONFIG (no
 * PAYWATCH_SECRET_KEY to seal a secret with). */
#ifndef PW_REGISTRY_ADMIN_H
#define PW_REGISTRY_ADMIN_H

#include "config.h"
#include "idfmt.h"
#include "payment.h"
#include "secretbox.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* registry_normalize_address: text (an address as a config writes it) on
 * chain (a chain of cfg) in the stored form into out; *ret_family gets
 * the family's name (pw_family_name). 0; PW_ENOTFOUND (cfg has no such
 * chain: err says so); PW_EINVAL (not an address of the chain's family). */
int registry_normalize_address(const pw_config *cfg, const char *chain, const char *text, char out[PW_ADDR_TEXT_MAX],
			       const char **ret_family, char *err, size_t errlen);

/* registry_events_literal: event types (n names; n 0: the default,
 * CFG_EVENTS_DEFAULT: every type but payment.pending) as a Postgres text[]
 * literal into out (256 bytes hold every type). 0, or PW_EINVAL naming the
 * unknown type. */
int registry_events_literal(const char *const *types, size_t n, char *out, size_t outlen, char *err, size_t errlen);

/* registry_endpoint_create: a new endpoint of merchant_id: id (NULL: a
 * fresh "ep_" + 12 hex digits), url (http or https; kept sealed, shown as
 * scheme://host:port), events (registry_events_literal). Its signing secret
 * ("whsec_" + 32 random bytes) is generated here, sealed with
 * keys->current with the URL, and returned once: ENDPOINT plus "secret"
 * as JSON text (malloc'd) in *ret_json. */
int registry_endpoint_create(PGconn *c, const secretbox_keys *keys, const char *merchant_id, const char *id,
			     const char *url, const char *events, char **ret_json, char *err, size_t errlen);

/* registry_window_grow: in one transaction, with the window of
 * (merchant_id, chain) locked: raise its highest used index to used (-1:
 * no payment), hand out its next index when handout (the first never
 * handed out whose child key is valid: BIP-32 skips an invalid one; its
 * index, path and address, as a payer writes it (EIP-55 on EVM), into
 * *ret_index, path, address), then derive and add the addresses the
 * window 0 .. max(highest_used + gap_limit, next_index - 1) lacks (BIP-32
 * public derivation, the chain's family's address of the key).
 * PW_ENOTFOUND: the merchant has no xpub for that chain (err says so), or
 * cfg has no such chain; PW_EREFUSED: every index is handed out. */
int registry_window_grow(PGconn *c, const pw_config *cfg, const char *merchant_id, const char *chain, long used,
			 bool handout, long *ret_index, char path[64], char address[PW_ADDR_TEXT_MAX], char *err,
			 size_t errlen);

/* registry_xpub_set: check and set merchant_id's xpub (key text, path
 * template, chains of cfg, gap limit 1..1000, origin "config" or
 * "registry"), then grow every chain's window. PW_EINVAL with err naming
 * the field ("xpub.key: ...": never quoting the key); PW_EREFUSED: the
 * merchant has another key (replace false). */
int registry_xpub_set(PGconn *c, const pw_config *cfg, const char *merchant_id, const char *key, const char *path,
		      const char *const *chains, size_t n_chains, uint32_t gap_limit, const char *origin, bool replace,
		      char *err, size_t errlen);

/* An endpoint of the registry, opened: its URL and signing secret in
 * the clear (wiped and freed by registry_opened_free). */
typedef struct registry_opened {
	char id[64];
	char *url, *secret;
} registry_opened;

/* registry_endpoints_open: the active endpoints of merchant_id that the
 * registry holds sealed, opened with keys (current or old), into *ret
 * (calloc'd array of *ret_n, by id; registry_opened_free). An endpoint
 * whose key is not held, or whose sealed text does not open, is left out
 * and counted in *ret_unopened (named in the log by id and key id, never
 * by value). 0, PW_EDB, PW_ENOMEM. */
int registry_endpoints_open(PGconn *c, const secretbox_keys *keys, const char *merchant_id, registry_opened **ret,
			    size_t *ret_n, size_t *ret_unopened, char *err, size_t errlen);
void registry_opened_free(registry_opened *e, size_t n);

/* registry_rotate_key: re-seal every endpoint sealed under a key other
 * than keys->current (opened with keys->old, or current) under
 * keys->current. *ret_done rows re-sealed, *ret_failed rows that could not
 * be opened (their key is not held: logged by endpoint, never by value). 0
 * or PW_EDB / PW_ECONFIG (no current key). */
int registry_rotate_key(PGconn *c, const secretbox_keys *keys, size_t *ret_done, size_t *ret_failed, char *err,
			size_t errlen);

#endif
