/* pg_conn.c: DSN checks, masking and scrubbing, and the one place that
 * opens a libpq connection (pg_open). */
#include "pg_conn.h"
#include "buf.h"
#include "parse.h"
#include "pw_error.h"
#include "text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_uri(const char *dsn)
{
	return strncmp(dsn, "postgresql://", 13) == 0 || strncmp(dsn, "postgres://", 11) == 0;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_secret_option(const char *key)
{
	return strcmp(key, "password") == 0 || strcmp(key, "sslpassword") == 0;
}

/* Does v hold a URI's user info (scheme://user:password@host) at any of
 * its "://"? A DSN value that does is a URI written inside a key=value
 * pair, or in one of a URI's parameters: libpq takes it for that value,
 * password and all. */
static bool holds_user_info(const char *v)
{
	for (const char *a = strstr(v, "://"); a; a = strstr(a, "://")) {
		a += 3;
		if (memchr(a, '@', strcspn(a, "/?#")))
			return true;
	}
	return false;
}

/* libpq's message with its quoted part replaced: a parse error quotes
 * the token it choked on (or the whole URI), which may hold the password.
 * That token may hold double quotes itself (a DSN of
 * `postgr"esql://user:secret@host` is quoted back as "postgr"esql://...")
 * so quotes are not paired up: everything from the message's first
 * double quote to its last is one "..." (libpq's messages write no
 * user text after their last quote), but for the "=" of libpq's
 * `missing "=" after "%s"`, its own text. A message with one quote alone
 * is cut at it. */
static void unquote(const char *msg, char *out, size_t outlen)
{
	static const char missing_eq[] = "missing \"=\" after ";
	const char *from = strncmp(msg, missing_eq, sizeof(missing_eq) - 1) == 0 ? msg + sizeof(missing_eq) - 1 : msg;
	const char *first = strchr(from, '"'), *last = strrchr(from, '"');
	size_t o = 0;
	for (const char *p = msg; *p && o + 6 < outlen; p++) {
		if (p == first) {
			memcpy(out + o, "\"...\"", 5);
			o += 5;
			if (last == first)
				break;
			p = last;
		} else if (*p != '\n') {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

int pg_dsn_check(const char *dsn, char *err, size_t errlen)
{
	if (is_uri(dsn)) {
		const char *auth = strstr(dsn, "://") + 3;
		size_t auth_len = strcspn(auth, "/?#");
		size_t ats = 0;
		for (size_t i = 0; i < auth_len; i++)
			ats += auth[i] == '@';
		/* no host, user or password holds white space: such a host part
		 * is key=value pairs behind a postgresql:// prefix, and libpq
		 * would take them, password included, for the host name */
		if (strcspn(auth, " \t\r\n") < auth_len) {
			snprintf(err, errlen,
				 "the host part of a postgresql:// URI holds white space: write "
				 "key=value pairs without the prefix, or percent-encode (%%20)");
			return PW_ECONFIG;
		}
		if (ats > 1) {
			snprintf(err, errlen,
				 "the user name or password holds a raw '@': percent-encode it as %%40 "
				 "(or leave the password out of the DSN and set PGPASSWORD)");
			return PW_ECONFIG;
		}
		if (strchr(auth + auth_len, '@')) {
			snprintf(err, errlen,
				 "an '@' after the host part: a password holding '/', '?' or '#' must be "
				 "percent-encoded (%%2F, %%3F, %%23), and '@' in a parameter as %%40 (or leave "
				 "the password out of the DSN and set PGPASSWORD)");
			return PW_ECONFIG;
		}
		for (const char *p = dsn; *p; p++)
			if (*p == '%' && !(is_hex(p[1]) && is_hex(p[2]))) {
				snprintf(err, errlen,
					 "a '%%' not followed by two hex digits: percent-encode '%%' as %%25");
				return PW_ECONFIG;
			}
	}
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(dsn, &msg);
	if (!opts) {
		char clean[256];
		unquote(msg ? msg : "out of memory", clean, sizeof(clean));
		snprintf(err, errlen,
			 "not a valid libpq connection string (a postgresql:// URI or key=value pairs): %s", clean);
		PQfreemem(msg);
		return PW_ECONFIG;
	}
	bool nested = false;
	for (const PQconninfoOption *o = opts; o->keyword && !nested; o++)
		nested = o->val && !is_secret_option(o->keyword) && holds_user_info(o->val);
	PQconninfoFree(opts);
	if (nested) {
		snprintf(err, errlen,
			 "a value holds a URI with a user name (scheme://user[:password]@host): a postgresql:// URI "
			 "written inside a key=value pair; write the DSN in one form or the other");
		return PW_ECONFIG;
	}
	return 0;
}

void pg_dsn_mask(const char *dsn, char *out, size_t outlen)
{
	PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
	if (!opts) {
		snprintf(out, outlen, "(invalid DSN)");
		return;
	}
	pw_buf b;
	buf_init(&b, 8192);
	for (const PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		buf_appendf(&b, "%s%s=", b.len ? " " : "", o->keyword);
		/* a value that holds "password=" or a URI's user info is a
		 * password written in the wrong place (key=value text inside a
		 * URI's part, a URI inside a key=value pair): shown masked */
		if (is_secret_option(o->keyword) || strstr(o->val, "password=") || holds_user_info(o->val)) {
			buf_append(&b, "****", 4);
			continue;
		}
		bool quote = !*o->val || strpbrk(o->val, " '\\\t\n") != NULL;
		if (quote)
			buf_append(&b, "'", 1);
		for (const char *p = o->val; *p; p++) {
			if (*p == '\'' || *p == '\\')
				buf_append(&b, "\\", 1);
			buf_append(&b, p, 1);
		}
		if (quote)
			buf_append(&b, "'", 1);
	}
	PQconninfoFree(opts);
	snprintf(out, outlen, "%s", b.data ? b.data : "");
	buf_done(&b);
}

/* Replace every occurrence of secret (when it is long enough to be told
 * from ordinary words: 4 bytes or more) in msg by ****. */
static void scrub_one(char *msg, const char *secret, size_t n)
{
	if (n < 4)
		return;
	char *p;
	while ((p = strstr(msg, secret)) != NULL) {
		/* **** is no longer than the secret: shift the rest left */
		memcpy(p, "****", 4);
		memmove(p + 4, p + n, strlen(p + n) + 1);
	}
}

void pg_scrub(char *msg, const char *dsn)
{
	if (!dsn)
		return;
	PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
	for (const PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && is_secret_option(o->keyword))
			scrub_one(msg, o->val, strlen(o->val));
	PQconninfoFree(opts);
	if (is_uri(dsn)) { /* the password as written: user:PASSWORD@ */
		const char *auth = strstr(dsn, "://") + 3;
		size_t auth_len = strcspn(auth, "/?#");
		const char *at = memchr(auth, '@', auth_len);
		const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon) {
			char raw[512];
			size_t n = (size_t)(at - colon - 1);
			if (n < sizeof(raw)) {
				memcpy(raw, colon + 1, n);
				raw[n] = '\0';
				scrub_one(msg, raw, n);
			}
		}
	}
}

PGconn *pg_open(const char *dsn, const char *application_name, char *err, size_t errlen)
{
	char why[512];
	if (pg_dsn_check(dsn, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "postgres.dsn: %s", why);
		return NULL;
	}
	PGconn *c = PQconnectdb(dsn);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", c ? PQerrorMessage(c) : "out of memory");
		text_one_line(err);
		pg_scrub(err, dsn);
		PQfinish(c);
		return NULL;
	}
	char sql[160];
	snprintf(sql, sizeof(sql), "SET application_name = '%s'; SET TIME ZONE 'UTC'", application_name);
	PGresult *res = PQexec(c, sql); /* the last statement's result: an error stops the string there */
	if (PQresultStatus(res) != PGRES_COMMAND_OK) { /* times would be read and shown in the server's zone */
		snprintf(err, errlen, "the session's settings (application_name, TimeZone UTC) refused: %s",
			 res ? PQresultErrorMessage(res) : PQerrorMessage(c));
		text_one_line(err);
		pg_scrub(err, dsn);
		PQclear(res);
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	return c;
}

/* What every command says of a database behind its build (one size_t: how
 * many migrations); the callers of pg_open_migrated print it as it is. */
#define PG_MIGRATIONS_MISSING "%zu schema migration(s) not applied: run `paywatch migrate -c FILE` first"

int pg_open_migrated(const char *dsn, const char *application_name, PGconn **ret, char *err, size_t errlen)
{
	*ret = NULL;
	PGconn *c = pg_open(dsn, application_name, err, errlen);
	if (!c)
		return PW_EDB;
	size_t missing = 0;
	int r = pg_count_missing_migrations(c, schema_migrations, &missing, err, errlen);
	if (r < 0) {
		pg_scrub(err, dsn);
	} else if (missing) {
		snprintf(err, errlen, PG_MIGRATIONS_MISSING, missing);
		r = PW_ESCHEMA;
	}
	if (r < 0) {
		PQfinish(c);
		return r;
	}
	*ret = c;
	return 0;
}

void pg_error(PGconn *c, char *err, size_t errlen)
{
	const char *m = PQerrorMessage(c);
	size_t n = strlen(m);
	while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	snprintf(err, errlen, "%.*s", (int)(n > 400 ? 400 : n), m);
}

int pg_exec(PGconn *c, const char *sql, int n, const char *const *params, PGresult **ret, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_error(c, err, errlen);
		PQclear(res);
		return PW_EDB;
	}
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

int pg_exec_row(PGconn *c, const char *sql, int n, const char *const *params, PGresult **ret, char *err, size_t errlen)
{
	int r = pg_exec(c, sql, n, params, ret, err, errlen);
	if (r == 0 && PQntuples(*ret) != 1) {
		PQclear(*ret);
		r = PW_ENOTFOUND;
	}
	return r;
}

int pg_begin(PGconn *c, char *err, size_t errlen)
{
	return pg_exec(c, "BEGIN READ WRITE", 0, NULL, NULL, err, errlen);
}

int pg_end(PGconn *c, int r, char *err, size_t errlen)
{
	if (r == 0)
		return pg_exec(c, "COMMIT", 0, NULL, NULL, err, errlen);
	PQclear(PQexec(c, "ROLLBACK"));
	return r;
}

int pg_first_text(PGresult *res, char **ret)
{
	int r = PQntuples(res) == 1 ? 0 : PW_ENOTFOUND;
	if (r == 0 && !(*ret = strdup(PQgetvalue(res, 0, 0))))
		r = PW_ENOMEM;
	PQclear(res);
	return r;
}

int pg_count_missing_migrations(PGconn *c, const struct schema_migration *list, size_t *ret_missing, char *err,
				size_t errlen)
{
	size_t n = 0;
	pw_buf names; /* a Postgres array literal of the names */
	buf_init(&names, SIZE_MAX);
	int r = buf_append(&names, "{", 1);
	for (const struct schema_migration *m = list; r == 0 && m->name; m++, n++)
		r = buf_appendf(&names, "%s\"%s\"", n ? "," : "", m->name);
	if (r == 0)
		r = buf_append(&names, "}", 1);
	if (r < 0) {
		buf_done(&names);
		snprintf(err, errlen, "out of memory");
		return PW_ENOMEM;
	}
	PGresult *res = NULL;
	r = pg_exec_row(c, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, &res, err, errlen);
	bool table = r == 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (r == 0)
		PQclear(res);
	uint64_t missing = n;
	if (r == 0 && table) {
		const char *params[1] = { names.data };
		r = pg_exec_row(c,
				"SELECT count(*) FROM unnest($1::text[]) v WHERE NOT EXISTS"
				" (SELECT 1 FROM schema_migrations m WHERE m.version = v)",
				1, params, &res, err, errlen);
		if (r == 0) {
			if (parse_u64(PQgetvalue(res, 0, 0), n, &missing) < 0) {
				snprintf(err, errlen, "schema_migrations: an unreadable count");
				r = PW_EDB;
			}
			PQclear(res);
		}
	}
	buf_done(&names);
	if (r == PW_ENOTFOUND) {
		snprintf(err, errlen, "schema_migrations: no answer");
		r = PW_EDB;
	}
	if (r == 0)
		*ret_missing = (size_t)missing;
	return r;
}
