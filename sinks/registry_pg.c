/* registry_pg.c: the merchant registry's SQL (registry_pg.h). */
#include "registry_pg.h"
#include "pw_error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define MERCHANT_JSON                                                                                     \
	"json_build_object('id', m.id, 'origin', m.origin, 'created_at', " TS("m.created_at") ","         \
	" 'addresses', (SELECT count(*) FROM merchant_addresses a WHERE a.merchant_id = m.id),"           \
	" 'webhooks', (SELECT count(*) FROM webhook_endpoints e WHERE e.merchant_id = m.id AND e.active))"

#define ADDRESS_JSON                                                                                      \
	"json_build_object('merchant_id', a.merchant_id, 'chain', a.chain, 'address', a.address,"         \
	" 'origin', a.origin, 'from_block', a.from_block, 'created_at', " TS("a.created_at") ")"

#define ENDPOINT_JSON                                                                                     \
	"json_build_object('id', e.key, 'merchant_id', e.merchant_id, 'url', e.url, 'events', e.events,"  \
	" 'active', e.active, 'disabled', e.disabled_at IS NOT NULL, 'origin', e.origin,"                 \
	" 'created_at', " TS("e.created_at") ")"

static void set_err(char *err, size_t errlen, PGconn *c)
{
	snprintf(err, errlen, "%s", PQerrorMessage(c));
	size_t n = strlen(err);
	while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

/* One statement; *ret (may be NULL: cleared) gets its result. 0 or PW_EDB. */
static int exec(PGconn *c, const char *sql, int n, const char *const *params, PGresult **ret, char *err,
		size_t errlen)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		set_err(err, errlen, c);
		PQclear(res);
		return PW_EDB;
	}
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

static int begin(PGconn *c, char *err, size_t errlen)
{
	return exec(c, "BEGIN READ WRITE", 0, NULL, NULL, err, errlen);
}

/* COMMIT when r is 0, else ROLLBACK; r, or PW_EDB when the commit fails. */
static int finish(PGconn *c, int r, char *err, size_t errlen)
{
	if (r == 0)
		return exec(c, "COMMIT", 0, NULL, NULL, err, errlen);
	PQclear(PQexec(c, "ROLLBACK"));
	return r;
}

/* The single text value of a one-row result, strdup'd into *ret_json. */
static int one_text(PGresult *res, char **ret_json)
{
	if (PQntuples(res) != 1) {
		PQclear(res);
		return PW_ENOTFOUND;
	}
	*ret_json = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return *ret_json ? 0 : PW_ENOMEM;
}

/* Is merchant id there (not removed)? Its origin into origin (16 bytes). */
static int merchant_origin(PGconn *c, const char *id, bool lock, char *origin, char *err, size_t errlen)
{
	const char *params[1] = { id };
	PGresult *res;
	int r = exec(c, lock ? "SELECT origin FROM merchants WHERE id = $1 AND removed_at IS NULL FOR UPDATE"
			     : "SELECT origin FROM merchants WHERE id = $1 AND removed_at IS NULL",
		     1, params, &res, err, errlen);
	if (r < 0)
		return r;
	r = PQntuples(res) == 1 ? 0 : PW_ENOTFOUND;
	if (r == 0)
		snprintf(origin, 16, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return r;
}

int registry_pg_each_address(PGconn *c, int (*fn)(void *arg, const char *chain, const char *address,
						  const char *merchant_id),
			     void *arg, char *err, size_t errlen)
{
	PGresult *res = PQexec(c, "COPY (SELECT a.chain, a.address, a.merchant_id FROM merchant_addresses a"
				  " JOIN merchants m ON m.id = a.merchant_id WHERE m.removed_at IS NULL) TO STDOUT");
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		set_err(err, errlen, c);
		PQclear(res);
		return PW_EDB;
	}
	PQclear(res);
	int r = 0;
	char *line;
	int len;
	while ((len = PQgetCopyData(c, &line, 0)) > 0) {
		/* chain \t address \t merchant_id \n; the values never hold a tab,
		 * newline or backslash (ids, chain names and addresses are checked) */
		char *f[3] = { line, NULL, NULL };
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		for (int k = 1; k < 3 && f[k - 1]; k++) {
			char *tab = strchr(f[k - 1], '\t');
			if (tab) {
				*tab = '\0';
				f[k] = tab + 1;
			}
		}
		if (r == 0 && f[1] && f[2])
			r = fn(arg, f[0], f[1], f[2]);
		PQfreemem(line);
	}
	if (len == -2) {
		set_err(err, errlen, c);
		r = PW_EDB;
	}
	while ((res = PQgetResult(c)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0) {
			set_err(err, errlen, c);
			r = PW_EDB;
		}
		PQclear(res);
	}
	return r;
}

int registry_pg_merchants(PGconn *c, const char *only_id, char **ret_json, char *err, size_t errlen)
{
	const char *params[1] = { only_id };
	PGresult *res;
	if (only_id) {
		int r = exec(c, "SELECT " MERCHANT_JSON "::text FROM merchants m WHERE m.id = $1 AND m.removed_at IS NULL",
			     1, params, &res, err, errlen);
		return r < 0 ? r : one_text(res, ret_json);
	}
	int r = exec(c,
		     "SELECT json_build_object('data', coalesce(json_agg(" MERCHANT_JSON " ORDER BY m.id), '[]'))::text"
		     " FROM merchants m WHERE m.removed_at IS NULL",
		     0, NULL, &res, err, errlen);
	return r < 0 ? r : one_text(res, ret_json);
}

int registry_pg_merchant_add(PGconn *c, const char *id, int *ret_created, char **ret_json, char *err,
			     size_t errlen)
{
	const char *params[1] = { id };
	PGresult *res;
	int r = begin(c, err, errlen);
	if (r < 0)
		return r;
	/* xmax = 0: the row was inserted, not updated */
	r = exec(c,
		 "INSERT INTO merchants (id, origin) VALUES ($1, 'registry') ON CONFLICT (id) DO UPDATE"
		 " SET removed_at = NULL, created_at = CASE WHEN merchants.removed_at IS NULL"
		 " THEN merchants.created_at ELSE now() END, updated_at = now()"
		 " RETURNING (xmax = 0 OR (SELECT removed_at FROM merchants o WHERE o.id = $1) IS NOT NULL)::int",
		 1, params, &res, err, errlen);
	if (r == 0) {
		*ret_created = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0;
		PQclear(res);
	}
	r = finish(c, r, err, errlen);
	return r < 0 ? r : registry_pg_merchants(c, id, ret_json, err, errlen);
}

int registry_pg_merchant_remove(PGconn *c, const char *id, char *err, size_t errlen)
{
	const char *params[1] = { id };
	char origin[16];
	int r = begin(c, err, errlen);
	if (r == 0)
		r = merchant_origin(c, id, true, origin, err, errlen);
	if (r == 0 && strcmp(origin, "config") == 0) {
		snprintf(err, errlen, "merchant %s is named by the config: remove it there", id);
		r = PW_EREFUSED;
	}
	if (r == 0)
		r = exec(c, "DELETE FROM merchant_addresses WHERE merchant_id = $1", 1, params, NULL, err, errlen);
	if (r == 0)
		r = exec(c, "UPDATE webhook_endpoints SET active = false WHERE merchant_id = $1", 1, params, NULL, err,
			 errlen);
	if (r == 0)
		r = exec(c, "UPDATE merchants SET removed_at = now(), updated_at = now() WHERE id = $1", 1, params, NULL,
			 err, errlen);
	return finish(c, r, err, errlen);
}

int registry_pg_addresses(PGconn *c, const char *merchant_id, const char *chain, unsigned limit,
			  const char *cursor, char **ret_json, char *err, size_t errlen)
{
	char after_chain[128] = "", after_addr[128] = "";
	if (cursor) { /* "chain/address": both were checked when stored */
		const char *slash = strchr(cursor, '/');
		size_t n = slash ? (size_t)(slash - cursor) : 0;
		if (!slash || n == 0 || n >= sizeof(after_chain) || strlen(slash + 1) >= sizeof(after_addr) ||
		    !slash[1] || strspn(cursor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") !=
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
	r = exec(c,
		 "WITH page AS (SELECT a.* FROM merchant_addresses a WHERE a.merchant_id = $1"
		 " AND ($2::text IS NULL OR a.chain = $2) AND ($3::text IS NULL OR (a.chain, a.address) > ($3, $4))"
		 " ORDER BY a.chain, a.address LIMIT $5::int)"
		 " SELECT json_build_object('data', coalesce((SELECT json_agg(" ADDRESS_JSON
		 " ORDER BY a.chain, a.address) FROM page a), '[]'),"
		 " 'next_cursor', CASE WHEN (SELECT count(*) FROM page) = $5::int THEN"
		 " (SELECT chain || '/' || address FROM page ORDER BY chain DESC, address DESC LIMIT 1) END)::text",
		 5, params, &res, err, errlen);
	return r < 0 ? r : one_text(res, ret_json);
}

int registry_pg_address_add(PGconn *c, const registry_address *a, int *ret_created, char **ret_json, char *err,
			    size_t errlen)
{
	char from[24], origin[16];
	snprintf(from, sizeof(from), "%lld", (long long)a->from_block);
	const char *params[5] = { a->merchant_id, a->chain, a->address, a->family, a->from_block >= 0 ? from : NULL };
	PGresult *res;
	int r = begin(c, err, errlen);
	if (r == 0)
		r = merchant_origin(c, a->merchant_id, true, origin, err, errlen);
	if (r == 0)
		r = exec(c,
			 "INSERT INTO merchant_addresses (merchant_id, chain, address, chain_family, origin, from_block)"
			 " VALUES ($1, $2, $3, $4, 'registry', $5::bigint) ON CONFLICT (chain, address) DO NOTHING"
			 " RETURNING 1",
			 5, params, &res, err, errlen);
	if (r == 0) {
		*ret_created = PQntuples(res) == 1;
		PQclear(res);
		if (!*ret_created &&
		    (r = exec(c, "SELECT merchant_id FROM merchant_addresses WHERE chain = $1 AND address = $2", 2,
			      params + 1, &res, err, errlen)) == 0) {
			if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), a->merchant_id) != 0) {
				/* the other owner is not named: a merchant key must not learn of others */
				snprintf(err, errlen, "%s on %s belongs to another merchant", a->address, a->chain);
				r = PW_EREFUSED;
			}
			PQclear(res);
		}
	}
	if ((r = finish(c, r, err, errlen)) < 0)
		return r;
	r = exec(c, "SELECT " ADDRESS_JSON "::text FROM merchant_addresses a WHERE a.chain = $1 AND a.address = $2", 2,
		 params + 1, &res, err, errlen);
	return r < 0 ? r : one_text(res, ret_json);
}

int registry_pg_address_remove(PGconn *c, const char *merchant_id, const char *chain, const char *address,
			       char *err, size_t errlen)
{
	const char *params[3] = { merchant_id, chain, address };
	PGresult *res;
	int r = begin(c, err, errlen);
	if (r == 0)
		r = exec(c, "SELECT origin FROM merchant_addresses WHERE merchant_id = $1 AND chain = $2 AND address = $3"
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
		r = exec(c, "DELETE FROM merchant_addresses WHERE merchant_id = $1 AND chain = $2 AND address = $3", 3,
			 params, NULL, err, errlen);
	return finish(c, r, err, errlen);
}

int registry_pg_endpoints(PGconn *c, const char *merchant_id, char **ret_json, char *err, size_t errlen)
{
	char origin[16];
	int r = merchant_origin(c, merchant_id, false, origin, err, errlen);
	if (r < 0)
		return r;
	const char *params[1] = { merchant_id };
	PGresult *res;
	r = exec(c,
		 "SELECT json_build_object('data', coalesce(json_agg(" ENDPOINT_JSON " ORDER BY e.key), '[]'))::text"
		 " FROM webhook_endpoints e WHERE e.merchant_id = $1 AND e.key IS NOT NULL",
		 1, params, &res, err, errlen);
	return r < 0 ? r : one_text(res, ret_json);
}

int registry_pg_endpoint_add(PGconn *c, const registry_endpoint *e, char **ret_json, char *err, size_t errlen)
{
	const char *params[7] = { e->merchant_id, e->id,	    e->url_shown, e->events,
				  e->url_sealed,  e->secret_sealed, e->key_id };
	char origin[16];
	PGresult *res;
	int r = begin(c, err, errlen);
	if (r == 0)
		r = merchant_origin(c, e->merchant_id, true, origin, err, errlen);
	if (r == 0)
		r = exec(c, "SELECT origin, active FROM webhook_endpoints WHERE merchant_id = $1 AND key = $2 FOR UPDATE",
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
		r = exec(c,
			 "INSERT INTO webhook_endpoints (merchant_id, key, url, events, origin, url_sealed, secret_sealed,"
			 " key_id) VALUES ($1, $2, $3, $4::text[], 'registry', $5, $6, $7) ON CONFLICT (merchant_id, key)"
			 " DO UPDATE SET url = EXCLUDED.url, events = EXCLUDED.events, origin = 'registry', active = true,"
			 " disabled_at = NULL, disabled_reason = NULL, url_sealed = EXCLUDED.url_sealed,"
			 " secret_sealed = EXCLUDED.secret_sealed, key_id = EXCLUDED.key_id, created_at = now()",
			 7, params, NULL, err, errlen);
	if ((r = finish(c, r, err, errlen)) < 0)
		return r;
	r = exec(c, "SELECT " ENDPOINT_JSON "::text FROM webhook_endpoints e WHERE e.merchant_id = $1 AND e.key = $2", 2,
		 params, &res, err, errlen);
	return r < 0 ? r : one_text(res, ret_json);
}

int registry_pg_endpoint_remove(PGconn *c, const char *merchant_id, const char *id, char *err, size_t errlen)
{
	const char *params[2] = { merchant_id, id };
	PGresult *res;
	int r = begin(c, err, errlen);
	if (r == 0)
		r = exec(c, "SELECT origin FROM webhook_endpoints WHERE merchant_id = $1 AND key = $2 AND active FOR UPDATE",
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
		r = exec(c, "UPDATE webhook_endpoints SET active = false WHERE merchant_id = $1 AND key = $2", 2, params,
			 NULL, err, errlen);
	return finish(c, r, err, errlen);
}

int registry_pg_sealed_not_under(PGconn *c, const char *key_id, registry_sealed **ret, size_t *ret_n, char *err,
				 size_t errlen)
{
	const char *params[1] = { key_id };
	PGresult *res;
	int r = exec(c,
		     "SELECT id, merchant_id, key, url_sealed, secret_sealed FROM webhook_endpoints"
		     " WHERE secret_sealed IS NOT NULL AND key_id <> $1 ORDER BY id",
		     1, params, &res, err, errlen);
	if (r < 0)
		return r;
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
	int r = exec(c,
		     "UPDATE webhook_endpoints SET url_sealed = $3, secret_sealed = $4, key_id = $5"
		     " WHERE id = $1::bigint AND secret_sealed = $2 RETURNING 1",
		     5, params, &res, err, errlen);
	if (r < 0)
		return r;
	r = PQntuples(res) == 1 ? 0 : PW_ENOTFOUND;
	PQclear(res);
	return r;
}
