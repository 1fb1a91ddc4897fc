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

#endif
