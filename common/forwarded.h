/* forwarded.h: the Forwarded request header (RFC 7239), read for the
 * node each hop names in its "for" parameter: the API's client behind a
 * trusted reverse proxy that writes Forwarded rather than
 * X-Forwarded-For (api.forwarded_header). The header reaches the API
 * from the client through the proxies, so every byte of it is hostile
 * until read here: what comes out is one entry per element, each either
 * a node's text made of the characters an address and port are written
 * with, or "?", which no address reads as. */
#ifndef PW_FORWARDED_H
#define PW_FORWARDED_H

#include <stddef.h>

#include "buf.h"

/* pw_forwarded_nodes: the "for" node of each forwarded-element of one
 * Forwarded field value (RFC 7239 section 4: elements separated by
 * commas, each of pairs token=value separated by semicolons, a value a
 * token or a quoted-string whose quoted-pairs are read; white space
 * around elements, pairs and "=" ignored; parameter names in any case),
 * appended to out in order, each after a comma unless out is empty: an
 * address list read like X-Forwarded-For's, right to left. value is len
 * bytes, not terminated (it may hold NULs). The node is the for value as
 * written ("192.0.2.43", "[2001:db8::1]:4711", "unknown", "_hidden"):
 * netaddr.h's pw_ipaddr_parse with a port reads the addresses among
 * them. An element whose node cannot be one is "?": no for parameter, for
 * twice, a syntax error (an unterminated quoted-string, a pair without
 * "=", an empty value), or a node holding a byte other than letters,
 * digits and ". : [ ] _ -" (a comma inside quotes would otherwise make
 * two entries of one). A syntax error ends the value: what follows it is
 * not read (that element's "?" is the last entry). An element of no
 * pair at all (",,") is skipped, as RFC 9110 5.6.1 has a list's empty
 * elements. 0, or buf_append's error (PW_ETOOBIG past out's cap,
 * PW_ENOMEM): what was appended stays, ending in an entry no address
 * reads as. */
int pw_forwarded_nodes(const char *value, size_t len, pw_buf *out);

#endif
