/* registry_pg.c: the merchant registry's SQL (registry_pg.h). */
#include "registry_pg.h"
#include "pg_conn.h"
#include "pw_error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define MERCHANT_JSON                                                                                                  \
	"json_build_object('id', m.id, 'origin', m.origin, 'created_at', " TS("m.created_at") ","                      \
	" 'addresses', (SELECT count(*) FROM merchant_addresses a WHERE a.merchant_id = m.id),"                        \
	" 'webhooks', (SELECT count(*) FROM webhook_endpoints e WHERE e.merchant_id = m.id AND e.active),"             \
	" 'xpub', (SELECT json_build_object('fingerprint', x.fingerprint, 'path', x.path, 'chains', x.chains,"         \
	" 'gap_limit', x.gap_limit, 'origin', x.origin, 'windows', coalesce((SELECT json_agg(json_build_object("       \
	" 'chain', w.chain, 'highest_used', w.highest_used, 'next_index', w.next_index) ORDER BY w.chain)"             \
	" FROM xpub_windows w WHERE w.merchant_id = m.id), '[]')) FROM merchant_xpubs x WHERE x.merchant_id = m.id))"

#define ADDRESS_JSON                                                                                                   \
	"json_build_object('merchant_id', a.merchant_id, 'chain', a.chain, 'address', a.address,"                      \
	" 'origin', a.origin, 'from_block', a.from_block, 'created_at', " TS("a.created_at") ")"

#define ENDPOINT_JSON                                                                                                  \
	"json_build_object('id', e.key, 'merchant_id', e.merchant_id, 'url', e.url, 'events', e.events,"               \
	" 'active', e.active, 'disabled', e.disabled_at IS NOT NULL, 'origin', e.origin,"                              \
	" 'created_at', " TS("e.created_at") ")"

/* The single text value of a one-row result, strdup'd into *ret_json. */
/* Is merchant id there (not removed)? Its origin into origin (16 bytes). */
static int merchant_origin(PGconn *c, const char *id, bool lock, char *origin, char *err, size_t errlen)
{
	const char *params[1] = { id };
	PGresult *res;
	int r = pg_exec_row(c,
			    lock ? "SELECT origin FROM merchants WHERE id = $1 AND removed_at IS NULL FOR UPDATE"
				 : "SELECT origin FROM merchants WHERE id = $1 AND removed_at IS NULL",
			    1, params, &res, err, errlen);
	if (r < 0)
		return r;
	snprintf(origin, 16, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* One COPY TO STDOUT of text rows of n_fields fields, fn per row. */
static int copy_rows(PGconn *c, const char *sql, int n_fields, int (*fn)(void *arg, char **f), void *arg, char *err,
		     size_t errlen)
{
	PGresult *res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		pg_error(c, err, errlen);
		PQclear(res);
		return PW_EDB;
	}
	PQclear(res);
	int r = 0;
	char *line;
	int len;
	while ((len = PQgetCopyData(c, &line, 0)) > 0) {
		/* fields split on tabs; the values never hold a tab, newline or
		 * backslash (ids, chain names, addresses and numbers are checked) */
		char *f[8] = { line };
		int k = 1;
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		for (char *t = strchr(line, '\t'); t && k < n_fields; t = strchr(t + 1, '\t')) {
			*t = '\0';
			f[k++] = t + 1;
		}
		if (r == 0 && k == n_fields)
			r = fn(arg, f);
		PQfreemem(line);
	}
	if (len == -2) {
		pg_error(c, err, errlen);
		r = PW_EDB;
	}
	while ((res = PQgetResult(c)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0) {
			pg_error(c, err, errlen);
			r = PW_EDB;
		}
		PQclear(res);
	}
	return r;
}

typedef struct each_arg {
	registry_row_fn fn;
	void *arg;
} each_arg;

static int each_row(void *arg, char **f)
{
	each_arg *a = arg;
	registry_row row = { f[0], f[1], f[2], -1 };
	if (strcmp(f[3], "\\N") != 0)
		row.hd_index = strtol(f[3], NULL, 10);
	return a->fn(a->arg, &row);
}

int registry_pg_each_address(PGconn *c, uint64_t since_xid, registry_row_fn fn, void *arg, uint64_t *ret_xmin,
			     char *err, size_t errlen)
{
	/* one snapshot for the xmin and the rows */
	int r = pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL, err, errlen);
	PGresult *res;
	if (r == 0 &&
	    (r = pg_exec(c, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text", 0, NULL, &res, err, errlen)) == 0) {
		*ret_xmin = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	char since[64] = "", sql[512];
	if (since_xid) /* a number: printed, never text from outside */
		snprintf(since, sizeof(since), " AND a.xid >= '%llu'::xid8", (unsigned long long)since_xid);
	snprintf(sql, sizeof(sql),
		 /* a removed merchant has no addresses left (registry_pg_merchant_remove);
		  * the filter is a guard, a hashed subplan (a join would sort or
		  * hash a million rows) */
		 "COPY (SELECT a.chain, a.address, a.merchant_id, a.hd_index FROM merchant_addresses a"
		 " WHERE a.merchant_id NOT IN (SELECT id FROM merchants WHERE removed_at IS NOT NULL)%s) TO STDOUT",
		 since);
	each_arg a = { fn, arg };
	if (r == 0)
		r = copy_rows(c, sql, 4, each_row, &a, err, errlen);
	return pg_end(c, r == 0 ? 0 : r, err, errlen);
}

typedef struct xpub_arg {
	registry_xpub_fn fn;
	void *arg;
} xpub_arg;

static int xpub_row(void *arg, char **f)
{
	xpub_arg *a = arg;
	registry_xpub x = { .merchant_id = f[0], .xpub = f[1], .path = f[2], .chain = f[3] };
	x.gap_limit = (uint32_t)strtoul(f[4], NULL, 10);
	x.highest_used = strtol(f[5], NULL, 10);
	x.next_index = strtol(f[6], NULL, 10);
	return a->fn(a->arg, &x);
}

int registry_pg_each_xpub(PGconn *c, const char *merchant_id, registry_xpub_fn fn, void *arg, char *err, size_t errlen)
{
	xpub_arg a = { fn, arg };
	if (!merchant_id)
		return copy_rows(
			c,
			"COPY (SELECT x.merchant_id, x.xpub, x.path, ch, x.gap_limit,"
			" coalesce(w.highest_used, -1), coalesce(w.next_index, 0) FROM merchant_xpubs x"
			" JOIN merchants m ON m.id = x.merchant_id AND m.removed_at IS NULL"
			" CROSS JOIN unnest(x.chains) ch LEFT JOIN xpub_windows w ON w.merchant_id = x.merchant_id"
			" AND w.chain = ch) TO STDOUT",
			7, xpub_row, &a, err, errlen);
	const char *params[1] = { merchant_id };
	PGresult *res = NULL;
	int r = pg_exec(
		c,
		"SELECT x.merchant_id, x.xpub, x.path, ch, x.gap_limit, coalesce(w.highest_used, -1),"
		" coalesce(w.next_index, 0) FROM merchant_xpubs x CROSS JOIN unnest(x.chains) ch"
		" LEFT JOIN xpub_windows w ON w.merchant_id = x.merchant_id AND w.chain = ch WHERE x.merchant_id = $1",
		1, params, &res, err, errlen);
	for (int i = 0; r == 0 && i < PQntuples(res); i++) {
		char *f[7];
		for (int k = 0; k < 7; k++)
			f[k] = PQgetvalue(res, i, k);
		r = xpub_row(&a, f);
	}
	PQclear(res);
	return r;
}

int registry_pg_merchants(PGconn *c, const char *only_id, char **ret_json, char *err, size_t errlen)
{
	const char *params[1] = { only_id };
	PGresult *res;
	if (only_id) {
		int r = pg_exec(
			c, "SELECT " MERCHANT_JSON "::text FROM merchants m WHERE m.id = $1 AND m.removed_at IS NULL",
			1, params, &res, err, errlen);
		return r < 0 ? r : pg_first_text(res, ret_json);
	}
	int r = pg_exec(c,
			"SELECT json_build_object('data', coalesce(json_agg(" MERCHANT_JSON
			" ORDER BY m.id), '[]'))::text"
			" FROM merchants m WHERE m.removed_at IS NULL",
			0, NULL, &res, err, errlen);
	return r < 0 ? r : pg_first_text(res, ret_json);
}

int registry_pg_merchant_add(PGconn *c, const char *id, int *ret_created, char **ret_json, char *err, size_t errlen)
{
	const char *params[1] = { id };
	PGresult *res;
	int r = pg_begin(c, err, errlen);
	if (r < 0)
		return r;
	/* xmax = 0: the row was inserted, not updated */
	r = pg_exec(c,
		    "INSERT INTO merchants (id, origin) VALUES ($1, 'registry') ON CONFLICT (id) DO UPDATE"
		    " SET removed_at = NULL, created_at = CASE WHEN merchants.removed_at IS NULL"
		    " THEN merchants.created_at ELSE now() END, updated_at = now()"
		    " RETURNING (xmax = 0 OR (SELECT removed_at FROM merchants o WHERE o.id = $1) IS NOT NULL)::int",
		    1, params, &res, err, errlen);
	if (r == 0) {
		*ret_created = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0;
		PQclear(res);
	}
	r = pg_end(c, r, err, errlen);
	return r < 0 ? r : registry_pg_merchants(c, id, ret_json, err, errlen);
}

int registry_pg_merchant_remove(PGconn *c, const char *id, char *err, size_t errlen)
{
	const char *params[1] = { id };
	char origin[16];
	int r = pg_begin(c, err, errlen);
	if (r == 0)
		r = merchant_origin(c, id, true, origin, err, errlen);
	if (r == 0 && strcmp(origin, "config") == 0) {
		snprintf(err, errlen, "merchant %s is named by the config: remove it there", id);
		r = PW_EREFUSED;
	}
	if (r == 0)
		r = pg_exec(c, "DELETE FROM merchant_addresses WHERE merchant_id = $1", 1, params, NULL, err, errlen);
	if (r == 0)
		r = pg_exec(c, "UPDATE webhook_endpoints SET active = false WHERE merchant_id = $1", 1, params, NULL,
			    err, errlen);
	if (r == 0)
		r = pg_exec(c, "UPDATE merchants SET removed_at = now(), updated_at = now() WHERE id = $1", 1, params,
			    NULL, err, errlen);
	return pg_end(c, r, err, errlen);
}

int registry_pg_addresses(PGconn *c, const char *merchant_id, const char *chain, unsigned limit, const char *cursor,
			  char **ret_json, char *err, size_t errlen)
{
	char after_chain[128] = "", after_addr[128] = "";
	if (cursor) { /* "chain/address": both were checked when stored */
		const char *slash = strchr(cursor, '/');
		size_t n = slash ? (size_t)(slash - cursor) : 0;
		if (!slash || n == 0 || n >= sizeof(after_chain) || strlen(slash + 1) >= sizeof(after_addr) ||
		    !slash[1] ||
		    strspn(cursor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") !=
			    strlen(cursor))
			return PW_EPARSE;
		memcpy(after_chain, cursor, n);
		snprintf(after_addr, sizeof(after_addr), "%s", slash + 1);
	}
	char origin[16], lim[16];
	int r = merchant_origin(c, merchant_id, false, origin, err, errlen);
	if (r < 0)
		return r;
	snprintf(lim, sizeof(lim), "%u", limit);
	const char *params[5] = { merchant_id, chain, cursor ? after_chain : NULL, cursor ? after_addr : NULL, lim };
	PGresult *res;
	r = pg_exec(c,
		    "WITH page AS (SELECT a.* FROM merchant_addresses a WHERE a.merchant_id = $1"
		    " AND ($2::text IS NULL OR a.chain = $2) AND ($3::text IS NULL OR (a.chain, a.address) > ($3, $4))"
		    " ORDER BY a.chain, a.address LIMIT $5::int)"
		    " SELECT json_build_object('data', coalesce((SELECT json_agg(" ADDRESS_JSON
		    " ORDER BY a.chain, a.address) FROM page a), '[]'),"
		    " 'next_cursor', CASE WHEN (SELECT count(*) FROM page) = $5::int THEN"
		    " (SELECT chain || '/' || address FROM page ORDER BY chain DESC, address DESC LIMIT 1) END)::text",
		    5, params, &res, err, errlen);
	return r < 0 ? r : pg_first_text(res, ret_json);
}

int registry_pg_address_add(PGconn *c, const registry_address *a, int *ret_created, char **ret_json, char *err,
			    size_t errlen)
{
	char from[24], origin[16];
	snprintf(from, sizeof(from), "%lld", (long long)a->from_block);
	const char *params[5] = { a->merchant_id, a->chain, a->address, a->family, a->from_block >= 0 ? from : NULL };
	PGresult *res;
	int r = pg_begin(c, err, errlen);
	if (r == 0)
		r = merchant_origin(c, a->merchant_id, true, origin, err, errlen);
	if (r == 0)
		r = pg_exec(
			c,
			"INSERT INTO merchant_addresses (merchant_id, chain, address, chain_family, origin, from_block)"
			" VALUES ($1, $2, $3, $4, 'registry', $5::bigint) ON CONFLICT (chain, address) DO NOTHING"
			" RETURNING 1",
			5, params, &res, err, errlen);
	if (r == 0) {
		*ret_created = PQntuples(res) == 1;
		PQclear(res);
		/* its history from from_block: scanned by a run of the chain */
		if (*ret_created && a->from_block >= 0)
			r = pg_exec(
				c,
				"INSERT INTO address_rescans (merchant_id, chain, address, from_block) VALUES ($1, $2, $3, $4::bigint)",
				4, (const char *const[]){ a->merchant_id, a->chain, a->address, from }, NULL, err,
				errlen);
		if (r == 0 && !*ret_created &&
		    (r = pg_exec(c, "SELECT merchant_id FROM merchant_addresses WHERE chain = $1 AND address = $2", 2,
				 params + 1, &res, err, errlen)) == 0) {
			if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), a->merchant_id) != 0) {
				/* the other owner is not named: a merchant key must not learn of others */
				snprintf(err, errlen, "%s on %s belongs to another merchant", a->address, a->chain);
				r = PW_EREFUSED;
			}
			PQclear(res);
		}
	}
	if ((r = pg_end(c, r, err, errlen)) < 0)
		return r;
	r = pg_exec(c, "SELECT " ADDRESS_JSON "::text FROM merchant_addresses a WHERE a.chain = $1 AND a.address = $2",
		    2, params + 1, &res, err, errlen);
	return r < 0 ? r : pg_first_text(res, ret_json);
}

int registry_pg_address_remove(PGconn *c, const char *merchant_id, const char *chain, const char *address, char *err,
			       size_t errlen)
{
	const char *params[3] = { merchant_id, chain, address };
	PGresult *res;
	int r = pg_begin(c, err, errlen);
	if (r == 0)
		r = pg_exec(
			c,
			"SELECT origin FROM merchant_addresses WHERE merchant_id = $1 AND chain = $2 AND address = $3"
			" FOR UPDATE",
			3, params, &res, err, errlen);
	if (r == 0) {
		if (PQntuples(res) != 1)
			r = PW_ENOTFOUND;
		else if (strcmp(PQgetvalue(res, 0, 0), "config") == 0) {
			snprintf(err, errlen, "%s on %s is named by the config: remove it there", address, chain);
			r = PW_EREFUSED;
		}
		PQclear(res);
	}
	if (r == 0)
		r = pg_exec(c, "DELETE FROM merchant_addresses WHERE merchant_id = $1 AND chain = $2 AND address = $3",
			    3, params, NULL, err, errlen);
	return pg_end(c, r, err, errlen);
}

int registry_pg_endpoints(PGconn *c, const char *merchant_id, char **ret_json, char *err, size_t errlen)
{
	char origin[16];
	int r = merchant_origin(c, merchant_id, false, origin, err, errlen);
	if (r < 0)
		return r;
	const char *params[1] = { merchant_id };
	PGresult *res;
	r = pg_exec(c,
		    "SELECT json_build_object('data', coalesce(json_agg(" ENDPOINT_JSON
		    " ORDER BY e.key), '[]'))::text"
		    " FROM webhook_endpoints e WHERE e.merchant_id = $1 AND e.key IS NOT NULL",
		    1, params, &res, err, errlen);
	return r < 0 ? r : pg_first_text(res, ret_json);
}

int registry_pg_endpoint_add(PGconn *c, const registry_endpoint *e, char **ret_json, char *err, size_t errlen)
{
	const char *params[7] = { e->merchant_id,   e->id,    e->url_shown, e->events, e->url_sealed,
				  e->secret_sealed, e->key_id };
	char origin[16];
	PGresult *res;
	int r = pg_begin(c, err, errlen);
	if (r == 0)
		r = merchant_origin(c, e->merchant_id, true, origin, err, errlen);
	if (r == 0)
		r = pg_exec(
			c,
			"SELECT origin, active FROM webhook_endpoints WHERE merchant_id = $1 AND key = $2 FOR UPDATE",
			2, params, &res, err, errlen);
	if (r == 0) {
		if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "config") == 0) {
			snprintf(err, errlen, "endpoint %s is named by the config: change it there", e->id);
			r = PW_EREFUSED;
		} else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
			snprintf(err, errlen, "endpoint %s exists: remove it first, or choose another id", e->id);
			r = PW_EREFUSED;
		}
		PQclear(res);
	}
	if (r == 0)
		r = pg_exec(
			c,
			"INSERT INTO webhook_endpoints (merchant_id, key, url, events, origin, url_sealed, secret_sealed,"
			" key_id) VALUES ($1, $2, $3, $4::text[], 'registry', $5, $6, $7) ON CONFLICT (merchant_id, key)"
			" DO UPDATE SET url = EXCLUDED.url, events = EXCLUDED.events, origin = 'registry', active = true,"
			" disabled_at = NULL, disabled_reason = NULL, url_sealed = EXCLUDED.url_sealed,"
			" secret_sealed = EXCLUDED.secret_sealed, key_id = EXCLUDED.key_id, created_at = now()",
			7, params, NULL, err, errlen);
	if ((r = pg_end(c, r, err, errlen)) < 0)
		return r;
	r = pg_exec(c,
		    "SELECT " ENDPOINT_JSON "::text FROM webhook_endpoints e WHERE e.merchant_id = $1 AND e.key = $2",
		    2, params, &res, err, errlen);
	return r < 0 ? r : pg_first_text(res, ret_json);
}

int registry_pg_endpoint_remove(PGconn *c, const char *merchant_id, const char *id, char *err, size_t errlen)
{
	const char *params[2] = { merchant_id, id };
	PGresult *res;
	int r = pg_begin(c, err, errlen);
	if (r == 0)
		r = pg_exec(
			c,
			"SELECT origin FROM webhook_endpoints WHERE merchant_id = $1 AND key = $2 AND active FOR UPDATE",
			2, params, &res, err, errlen);
	if (r == 0) {
		if (PQntuples(res) != 1)
			r = PW_ENOTFOUND;
		else if (strcmp(PQgetvalue(res, 0, 0), "config") == 0) {
			snprintf(err, errlen, "endpoint %s is named by the config: remove it there", id);
			r = PW_EREFUSED;
		}
		PQclear(res);
	}
	if (r == 0)
		r = pg_exec(c, "UPDATE webhook_endpoints SET active = false WHERE merchant_id = $1 AND key = $2", 2,
			    params, NULL, err, errlen);
	return pg_end(c, r, err, errlen);
}

/* The rows of a SELECT of id, merchant_id, key, url_sealed, secret_sealed
 * into *ret / *ret_n; res is cleared. */
static int read_sealed(PGresult *res, registry_sealed **ret, size_t *ret_n)
{
	size_t n = (size_t)PQntuples(res);
	registry_sealed *s = calloc(n + 1, sizeof(*s));
	if (!s) {
		PQclear(res);
		return PW_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		s[i].row = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
		snprintf(s[i].merchant_id, sizeof(s[i].merchant_id), "%s", PQgetvalue(res, (int)i, 1));
		snprintf(s[i].id, sizeof(s[i].id), "%s", PQgetvalue(res, (int)i, 2));
		s[i].url_sealed = strdup(PQgetvalue(res, (int)i, 3));
		s[i].secret_sealed = strdup(PQgetvalue(res, (int)i, 4));
		if (!s[i].url_sealed || !s[i].secret_sealed) {
			PQclear(res);
			registry_sealed_free(s, i + 1);
			return PW_ENOMEM;
		}
	}
	PQclear(res);
	*ret = s;
	*ret_n = n;
	return 0;
}

int registry_pg_sealed(PGconn *c, const char *not_key_id, const char *merchant_id, registry_sealed **ret, size_t *ret_n,
		       char *err, size_t errlen)
{
	const char *params[2] = { not_key_id, merchant_id };
	PGresult *res;
	int r = pg_exec(c,
			"SELECT id, merchant_id, key, url_sealed, secret_sealed FROM webhook_endpoints"
			" WHERE secret_sealed IS NOT NULL AND ($1::text IS NULL OR key_id <> $1)"
			" AND ($2::text IS NULL OR merchant_id = $2 AND active) ORDER BY key, id",
			2, params, &res, err, errlen);
	return r < 0 ? r : read_sealed(res, ret, ret_n);
}

void registry_sealed_free(registry_sealed *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		free(s[i].url_sealed);
		free(s[i].secret_sealed);
	}
	free(s);
}

int registry_pg_reseal(PGconn *c, int64_t row, const char *old_secret_sealed, const char *url_sealed,
		       const char *secret_sealed, const char *key_id, char *err, size_t errlen)
{
	char id[24];
	snprintf(id, sizeof(id), "%lld", (long long)row);
	const char *params[5] = { id, old_secret_sealed, url_sealed, secret_sealed, key_id };
	PGresult *res;
	int r = pg_exec(c,
			"UPDATE webhook_endpoints SET url_sealed = $3, secret_sealed = $4, key_id = $5"
			" WHERE id = $1::bigint AND secret_sealed = $2 RETURNING 1",
			5, params, &res, err, errlen);
	if (r < 0)
		return r;
	r = PQntuples(res) == 1 ? 0 : PW_ENOTFOUND;
	PQclear(res);
	return r;
}

int registry_pg_xpub_set(PGconn *c, const registry_xpub_row *x, char *err, size_t errlen)
{
	char gap[16];
	snprintf(gap, sizeof(gap), "%u", x->gap_limit);
	const char *params[7] = { x->merchant_id, x->xpub, x->fingerprint, x->path, x->chains, gap, x->origin };
	PGresult *res;
	int r = pg_begin(c, err, errlen);
	bool other_key = false;
	if (r == 0 && (r = pg_exec(c, "SELECT xpub FROM merchant_xpubs WHERE merchant_id = $1 FOR UPDATE", 1, params,
				   &res, err, errlen)) == 0) {
		other_key = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), x->xpub) != 0;
		PQclear(res);
		if (other_key && !x->replace) {
			snprintf(err, errlen, "merchant %s has another xpub: its derived addresses stay watched",
				 x->merchant_id);
			r = PW_EREFUSED;
		}
	}
	/* another key (the config's wins): its addresses and windows go; a
	 * chain no longer listed: its addresses and window go */
	if (r == 0 && other_key)
		r = pg_exec(c, "DELETE FROM merchant_addresses WHERE merchant_id = $1 AND hd_index IS NOT NULL", 1,
			    params, NULL, err, errlen);
	if (r == 0 && other_key)
		r = pg_exec(c, "DELETE FROM xpub_windows WHERE merchant_id = $1", 1, params, NULL, err, errlen);
	if (r == 0)
		r = pg_exec(c,
			    "DELETE FROM merchant_addresses WHERE merchant_id = $1 AND hd_index IS NOT NULL"
			    " AND chain <> ALL($2::text[])",
			    2, (const char *const[]){ x->merchant_id, x->chains }, NULL, err, errlen);
	if (r == 0)
		r = pg_exec(
			c,
			"INSERT INTO merchant_xpubs (merchant_id, xpub, fingerprint, path, chains, gap_limit, origin)"
			" VALUES ($1, $2, $3, $4, $5::text[], $6::int, $7) ON CONFLICT (merchant_id) DO UPDATE SET"
			" xpub = EXCLUDED.xpub, fingerprint = EXCLUDED.fingerprint, path = EXCLUDED.path,"
			" chains = EXCLUDED.chains, gap_limit = EXCLUDED.gap_limit, origin = EXCLUDED.origin"
			" WHERE (merchant_xpubs.xpub, merchant_xpubs.path, merchant_xpubs.chains, merchant_xpubs.gap_limit,"
			" merchant_xpubs.origin) IS DISTINCT FROM (EXCLUDED.xpub, EXCLUDED.path, EXCLUDED.chains,"
			" EXCLUDED.gap_limit, EXCLUDED.origin)",
			7, params, NULL, err, errlen);
	if (r == 0) /* a window per chain (kept when the key stays: its indexes mean the same addresses) */
		r = pg_exec(
			c,
			"INSERT INTO xpub_windows (merchant_id, chain) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
			2, (const char *const[]){ x->merchant_id, x->chains }, NULL, err, errlen);
	return pg_end(c, r, err, errlen);
}

int registry_pg_window_lock(PGconn *c, const char *merchant_id, const char *chain, registry_window *ret, char *err,
			    size_t errlen)
{
	const char *params[2] = { merchant_id, chain };
	PGresult *res;
	int r = pg_exec_row(c,
			    "SELECT w.highest_used, w.next_index, x.gap_limit, x.xpub, x.path,"
			    " (SELECT coalesce(max(hd_index), -1) FROM merchant_addresses a WHERE a.merchant_id = $1"
			    " AND a.chain = $2 AND a.hd_index IS NOT NULL)"
			    " FROM xpub_windows w JOIN merchant_xpubs x USING (merchant_id)"
			    " WHERE w.merchant_id = $1 AND w.chain = $2 FOR UPDATE OF w",
			    2, params, &res, err, errlen);
	if (r < 0)
		return r;
	ret->highest_used = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	ret->next_index = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	ret->gap_limit = (uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL, 10);
	snprintf(ret->xpub, sizeof(ret->xpub), "%s", PQgetvalue(res, 0, 3));
	snprintf(ret->path, sizeof(ret->path), "%s", PQgetvalue(res, 0, 4));
	ret->derived_high = strtol(PQgetvalue(res, 0, 5), NULL, 10);
	PQclear(res);
	return 0;
}

int registry_pg_window_update(PGconn *c, const char *merchant_id, const char *chain, long highest_used, long next_index,
			      char *err, size_t errlen)
{
	char used[24], next[24];
	snprintf(used, sizeof(used), "%ld", highest_used);
	snprintf(next, sizeof(next), "%ld", next_index);
	const char *params[4] = { merchant_id, chain, used, next };
	return pg_exec(c,
		       "UPDATE xpub_windows SET highest_used = greatest(highest_used, $3::int),"
		       " next_index = greatest(next_index, $4::int) WHERE merchant_id = $1 AND chain = $2"
		       " AND (highest_used < $3::int OR next_index < $4::int)",
		       4, params, NULL, err, errlen);
}

int registry_pg_hd_insert(PGconn *c, const char *merchant_id, const char *chain, const char *family,
			  const registry_hd_address *rows, size_t n, size_t *ret_inserted, char *err, size_t errlen)
{
	*ret_inserted = 0;
	/* one statement: the rows as two arrays */
	size_t cap = n * (PW_HD_ADDR_TEXT + 14) + 16;
	char *idx = malloc(cap), *addr = malloc(cap);
	if (!idx || !addr) {
		free(idx);
		free(addr);
		return PW_ENOMEM;
	}
	size_t li = 0, la = 0;
	idx[li++] = '{';
	addr[la++] = '{';
	for (size_t i = 0; i < n; i++) {
		li += (size_t)snprintf(idx + li, cap - li, "%s%ld", i ? "," : "", rows[i].index);
		la += (size_t)snprintf(addr + la, cap - la, "%s%s", i ? "," : "", rows[i].address);
	}
	snprintf(idx + li, cap - li, "}");
	snprintf(addr + la, cap - la, "}");
	const char *params[5] = { merchant_id, chain, family, idx, addr };
	PGresult *res;
	int r = pg_exec(
		c,
		"WITH ins AS (INSERT INTO merchant_addresses (merchant_id, chain, chain_family, address, hd_index, origin)"
		" SELECT $1, $2, $3, a, i, coalesce((SELECT origin FROM merchant_xpubs WHERE merchant_id = $1), 'registry')"
		" FROM unnest($4::int[], $5::text[]) AS t(i, a) ON CONFLICT DO NOTHING RETURNING 1)"
		" SELECT count(*) FROM ins",
		5, params, &res, err, errlen);
	free(idx);
	free(addr);
	if (r == 0) {
		*ret_inserted = strtoul(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	return r;
}

int registry_pg_prune_config_xpubs(PGconn *c, const char *keep, char *err, size_t errlen)
{
	const char *params[1] = { keep };
	int r = pg_begin(c, err, errlen);
	if (r == 0)
		r = pg_exec(
			c,
			"DELETE FROM merchant_addresses a USING merchant_xpubs x WHERE a.merchant_id = x.merchant_id"
			" AND a.hd_index IS NOT NULL AND x.origin = 'config' AND x.merchant_id <> ALL($1::text[])",
			1, params, NULL, err, errlen);
	if (r == 0)
		r = pg_exec(c, "DELETE FROM merchant_xpubs WHERE origin = 'config' AND merchant_id <> ALL($1::text[])",
			    1, params, NULL, err, errlen);
	return pg_end(c, r, err, errlen);
}

int registry_pg_rescan_add(PGconn *c, const char *merchant_id, const char *chain, long hd_only_from,
			   const char *address, uint64_t from_block, char **ret_json, char *err, size_t errlen)
{
	char from[24], hd[24];
	snprintf(from, sizeof(from), "%llu", (unsigned long long)from_block);
	snprintf(hd, sizeof(hd), "%ld", hd_only_from);
	const char *params[5] = { merchant_id, chain, address, from, hd };
	PGresult *res;
	/* one address, or every address of the merchant on the chain (hd_only_from
	 * >= 0: the derived ones from that index on) */
	int r = pg_exec(c,
			"WITH ins AS (INSERT INTO address_rescans (merchant_id, chain, address, from_block)"
			" SELECT a.merchant_id, a.chain, a.address, $4::bigint FROM merchant_addresses a"
			" WHERE a.merchant_id = $1 AND a.chain = $2 AND ($3::text IS NULL OR a.address = $3)"
			" AND ($5::int < 0 OR a.hd_index >= $5::int) ORDER BY a.hd_index NULLS FIRST, a.address"
			" RETURNING id) SELECT coalesce(json_agg(id ORDER BY id), '[]')::text FROM ins",
			5, params, &res, err, errlen);
	return r < 0 ? r : pg_first_text(res, ret_json);
}

int registry_pg_rescans(PGconn *c, const char *ids, char **ret_json, char *err, size_t errlen)
{
	const char *params[1] = { ids };
	PGresult *res;
	int r = pg_exec(
		c,
		"SELECT json_build_object('data', coalesce(json_agg(json_build_object('id', id, 'merchant_id', merchant_id,"
		" 'chain', chain, 'address', address, 'from_block', from_block, 'to_block', to_block, 'status', status,"
		" 'found', found, 'inserted', inserted, 'last_error', last_error) ORDER BY id), '[]'))::text"
		" FROM address_rescans WHERE id = ANY($1::bigint[])",
		1, params, &res, err, errlen);
	return r < 0 ? r : pg_first_text(res, ret_json);
}

int registry_pg_rescan_claim(PGconn *c, const char *chains, int lease_s, registry_rescan *ret, char *err, size_t errlen)
{
	char lease[16];
	snprintf(lease, sizeof(lease), "%d", lease_s);
	const char *params[2] = { chains, lease };
	PGresult *res;
	int r = pg_exec_row(
		c,
		"UPDATE address_rescans SET locked_until = now() + make_interval(secs => $2::int),"
		" attempts = attempts + 1 WHERE id = (SELECT id FROM address_rescans WHERE status = 'pending'"
		" AND chain = ANY($1::text[]) AND (locked_until IS NULL OR locked_until < now()) ORDER BY id"
		" LIMIT 1 FOR UPDATE SKIP LOCKED)"
		" RETURNING id, merchant_id, chain, address, from_block, coalesce(to_block, -1), attempts",
		2, params, &res, err, errlen);
	if (r < 0)
		return r;
	ret->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(ret->merchant_id, sizeof(ret->merchant_id), "%s", PQgetvalue(res, 0, 1));
	snprintf(ret->chain, sizeof(ret->chain), "%s", PQgetvalue(res, 0, 2));
	snprintf(ret->address, sizeof(ret->address), "%s", PQgetvalue(res, 0, 3));
	ret->from_block = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	ret->to_block = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	ret->attempts = (int)strtol(PQgetvalue(res, 0, 6), NULL, 10);
	PQclear(res);
	return 0;
}

int registry_pg_rescan_update(PGconn *c, int64_t id, int64_t to_block, const char *status, int64_t found,
			      int64_t inserted, const char *error, int retry_s, char *err, size_t errlen)
{
	char idt[24], to[24], f[24], ins[24], retry[16];
	snprintf(idt, sizeof(idt), "%lld", (long long)id);
	snprintf(to, sizeof(to), "%lld", (long long)to_block);
	snprintf(f, sizeof(f), "%lld", (long long)found);
	snprintf(ins, sizeof(ins), "%lld", (long long)inserted);
	snprintf(retry, sizeof(retry), "%d", retry_s);
	const char *params[7] = {
		idt, to_block >= 0 ? to : NULL, status, found >= 0 ? f : NULL, inserted >= 0 ? ins : NULL, error, retry
	};
	return pg_exec(c,
		       "UPDATE address_rescans SET to_block = coalesce($2::bigint, to_block), status = $3,"
		       " found = coalesce($4::int, found), inserted = coalesce($5::int, inserted), last_error = $6,"
		       " locked_until = CASE WHEN $3 = 'pending' THEN now() + make_interval(secs => $7::int) END,"
		       " finished_at = CASE WHEN $3 <> 'pending' THEN now() END WHERE id = $1::bigint",
		       7, params, NULL, err, errlen);
}

size_t registry_pg_estimate(PGconn *c)
{
	PGresult *res = PQexec(
		c, "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'merchant_addresses'::regclass");
	size_t n = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
			   ? strtoull(PQgetvalue(res, 0, 0), NULL, 10)
			   : 0;
	PQclear(res);
	return n;
}
