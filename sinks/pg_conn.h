/* pg_conn.h: the Postgres connection string (DSN), the one secret-bearing
 * value every paywatch command hands to libpq. It is checked before libpq
 * sees it (libpq's own parse errors quote the text they choke on, and a
 * password with a raw '@', '/' or '%' put into a URI makes libpq quote
 * pieces of it as a host, a port or a token), shown only as rebuilt from
 * libpq's parse with the password masked, and scrubbed from every libpq
 * error text. Formats: libpq's connection strings (key=value pairs, and
 * postgresql:// URIs per RFC 3986), PostgreSQL docs "Connection Strings". */
#ifndef PW_PG_CONN_H
#define PW_PG_CONN_H

#include <libpq-fe.h>
#include <stddef.h>

/* The NOTIFY channel a writer signals when it commits rows of the event
 * feed (schema/010_event_feed.sql); the API's long-polls LISTEN on it. */
#define PG_FEED_CHANNEL "paywatch_feed"

/* pg_dsn_check: can dsn be handed to libpq without a piece of its password
 * ending up in an error text? Refused: text libpq cannot parse, a URI whose
 * host part holds more than one '@' or that has an '@' after the host part
 * (an unencoded '@', '/', '?' or '#' in a password), a '%' not followed by
 * two hex digits. 0, or PW_ECONFIG with a reason in err (errlen bytes) that
 * never quotes the DSN. */
int pg_dsn_check(const char *dsn, char *err, size_t errlen);

/* pg_dsn_mask: dsn as libpq parsed it, written as key=value pairs into out
 * (outlen bytes) with password and sslpassword shown as ****; "(invalid
 * DSN)" when libpq cannot parse it. Never copies the raw text. */
void pg_dsn_mask(const char *dsn, char *out, size_t outlen);

/* pg_scrub: replace, in msg (NUL-terminated, edited in place), every
 * occurrence of the DSN's password, as written and as libpq decodes it,
 * by ****. dsn may be NULL (nothing to scrub). */
void pg_scrub(char *msg, const char *dsn);

/* pg_open: PQconnectdb(dsn) with application_name and the UTC time zone
 * set. The connection (caller frees with PQfinish), or NULL with libpq's
 * message, scrubbed of the password and without its trailing newline, in
 * err (errlen bytes). */
PGconn *pg_open(const char *dsn, const char *application_name, char *err, size_t errlen);

/* pg_error: c's last error message, without its trailing newline, into
 * err (errlen bytes; at most 400 characters of it). The caller scrubs it
 * (pg_scrub) before it leaves the process. */
void pg_error(PGconn *c, char *err, size_t errlen);

/* pg_exec: one statement with text parameters (n of them; NULL is SQL
 * NULL). 0 with its result in *ret (caller PQclears; ret NULL: cleared
 * here), or PW_EDB with pg_error's text in err. */
int pg_exec(PGconn *c, const char *sql, int n, const char *const *params, PGresult **ret, char *err, size_t errlen);

/* pg_first_text: the first column of res's one row, strdup'd into *ret
 * (caller frees); res is cleared. 0, PW_ENOTFOUND (not one row), PW_ENOMEM. */
int pg_first_text(PGresult *res, char **ret);

/* pg_exec_row: pg_exec of a statement that answers one row; PW_ENOTFOUND
 * (result cleared) when it answers none. */
int pg_exec_row(PGconn *c, const char *sql, int n, const char *const *params, PGresult **ret, char *err,
		size_t errlen);

/* pg_begin: BEGIN READ WRITE (the API's sessions are read-only by
 * default: a statement that writes opens its transaction with this). 0 or
 * PW_EDB. */
int pg_begin(PGconn *c, char *err, size_t errlen);

/* pg_end: COMMIT when r is 0, else ROLLBACK. Returns r, or PW_EDB when the
 * commit fails. */
int pg_end(PGconn *c, int r, char *err, size_t errlen);

#endif
