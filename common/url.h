/* url.h: a node's URL read into its parts, one reader for the config's
 * check and the JSON-RPC client (chains/jsonrpc.c), so a URL the config
 * takes is one the client connects to as written. */
#ifndef PW_URL_H
#define PW_URL_H

#include <stdbool.h>
#include <stddef.h>

#define PW_URL_HOST_MAX 256  /* bytes of a host, with its NUL */
#define PW_URL_PATH_MAX 1024 /* bytes of a path and query, with its NUL */

/* A node URL's parts. */
typedef struct pw_url {
	bool tls;                   /* wss:// or https:// */
	bool http;                  /* http:// or https:// (else ws:// or wss://) */
	char host[PW_URL_HOST_MAX]; /* a name or an IPv4 address, as written */
	int port;                   /* 1..65535: the URL's, or 443 (tls) or 80 */
	char path[PW_URL_PATH_MAX]; /* "/" when the URL has none; "/?q" for a bare "?q" */
} pw_url;

/* pw_url_parse: read url (NUL-terminated) as scheme "://" host [":" port]
 * [path] [? query] (RFC 3986's shape, as JSON-RPC providers write node
 * URLs): the scheme ws, wss, http or https; printable ASCII only (other
 * characters percent-encoded); no user info, no fragment; a host of 1..255
 * bytes of letters, digits, '-', '.' and '_' (an IPv6 literal in brackets
 * is not read); a port of 1..5 digits, 1..65535; the path and query at
 * most 1,023 bytes. 0 with *ret, or -1 with the reason in err (errlen
 * bytes; it never quotes the URL, whose path may hold a key). */
int pw_url_parse(const char *url, pw_url *ret, char *err, size_t errlen);

#endif
