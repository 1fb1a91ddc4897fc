/* forwarded.c: the "for" nodes of a Forwarded field value (RFC 7239). */
#include "forwarded.h"

#include <stdbool.h>
#include <strings.h>

/* A node is at most this long: "[" 39 hex digits and colons "]:" 5 digits
 * is 47; an obfuscated one (RFC 7239 6.3) is cut off too. */
#define NODE_MAX 63

/* RFC 9110 5.6.2's tchar */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	for (const char *p = "!#$%&'*+-.^_`|~"; *p; p++)
		if (c == (unsigned char)*p)
			return true;
	return false;
}

/* the bytes an address, a port or RFC 7239 6's "unknown" and obfuscated
 * nodes are written with */
static bool is_node_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == ':' ||
	       c == '[' || c == ']' || c == '_' || c == '-';
}

typedef struct reader {
	const unsigned char *s;
	size_t len, at;
} reader;

static void skip_ows(reader *r)
{
	while (r->at < r->len && (r->s[r->at] == ' ' || r->s[r->at] == '\t'))
		r->at++;
}

static bool at_end_of_element(const reader *r)
{
	return r->at == r->len || r->s[r->at] == ',';
}

/* A value (a token or a quoted-string, RFC 9110 5.6.4), read into node
 * (its first NODE_MAX bytes, *node_len the whole length) and *node_ok
 * (every byte a node's). false: no value, or a quoted-string without its
 * closing quote. */
static bool read_value(reader *r, char *node, size_t *node_len, bool *node_ok)
{
	size_t n = 0;
	bool ok = true;
	if (r->at < r->len && r->s[r->at] == '"') {
		r->at++;
		for (;;) {
			if (r->at == r->len)
				return false;
			unsigned char c = r->s[r->at++];
			if (c == '"')
				break;
			if (c == '\\') { /* quoted-pair: the byte after it */
				if (r->at == r->len)
					return false;
				c = r->s[r->at++];
			}
			ok = ok && is_node_char(c);
			if (n < NODE_MAX)
				node[n] = (char)c;
			n++;
		}
	} else {
		while (r->at < r->len && is_tchar(r->s[r->at])) {
			unsigned char c = r->s[r->at++];
			ok = ok && is_node_char(c);
			if (n < NODE_MAX)
				node[n] = (char)c;
			n++;
		}
		if (n == 0)
			return false;
	}
	*node_len = n;
	*node_ok = ok && n > 0 && n <= NODE_MAX;
	return true;
}

/* One forwarded-element from r->at to its comma or the end: 1 with its
 * node in node (*node_len bytes) when it names one for node that reads,
 * 0 when it names none (or for twice, or one that cannot be a node), -1
 * on a syntax error, 2 for an empty element (no pair). */
static int read_element(reader *r, char *node, size_t *node_len)
{
	size_t pairs = 0, fors = 0;
	bool node_ok = false;
	for (;;) {
		skip_ows(r);
		if (at_end_of_element(r))
			break;
		if (r->s[r->at] == ';') {
			r->at++;
			continue;
		}
		size_t name = r->at;
		while (r->at < r->len && is_tchar(r->s[r->at]))
			r->at++;
		size_t name_len = r->at - name;
		skip_ows(r);
		if (name_len == 0 || r->at == r->len || r->s[r->at] != '=')
			return -1;
		r->at++;
		skip_ows(r);
		char value[NODE_MAX];
		size_t value_len = 0;
		bool value_ok = false;
		if (!read_value(r, value, &value_len, &value_ok))
			return -1;
		pairs++;
		if (name_len == 3 && strncasecmp((const char *)r->s + name, "for", 3) == 0) {
			fors++;
			node_ok = value_ok;
			*node_len = value_len;
			for (size_t i = 0; value_ok && i < value_len; i++)
				node[i] = value[i];
		}
		skip_ows(r);
		if (at_end_of_element(r))
			break;
		if (r->s[r->at] != ';')
			return -1;
	}
	if (pairs == 0)
		return 2;
	return fors == 1 && node_ok ? 1 : 0;
}

int pw_forwarded_nodes(const char *value, size_t len, pw_buf *out)
{
	reader r = { (const unsigned char *)value, len, 0 };
	for (;;) {
		char node[NODE_MAX];
		size_t node_len = 0;
		int e = read_element(&r, node, &node_len);
		if (e != 2) {
			int a = out->len ? buf_append(out, ",", 1) : 0;
			if (a == 0)
				a = e == 1 ? buf_append(out, node, node_len) : buf_append(out, "?", 1);
			if (a < 0)
				return a;
		}
		if (e < 0 || r.at == r.len)
			return 0;
		r.at++; /* the comma */
	}
}
