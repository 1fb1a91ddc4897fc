/* json_check.c: a validating recursive-descent reader of JSON that builds
 * nothing (cJSON builds the tree afterwards); it keeps the path of the
 * value it is in and each object's keys, sorted at the object's end to
 * find a key given twice. */
#include "json_check.h"
#include "pw_error.h"
#include "text.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
#define PATH_MAX_LEN 512

typedef struct reader {
	const char *s;
	size_t n, i;
	char path[PATH_MAX_LEN];
	size_t path_len;
	int depth;
	char *err;
	size_t errlen;
	bool failed;
	bool syntax_error; /* the failure is the text's syntax (not a value's) */
} reader;

static int fail_at(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_at(reader *r, const char *fmt, ...)
{
	char why[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(r->err, r->errlen, "%s: %s", r->path_len ? r->path : "$", why);
	r->failed = true;
	return PW_ECONFIG;
}

static int syntax(reader *r, const char *what)
{
	size_t line = 1;
	for (size_t k = 0; k < r->i && k < r->n; k++)
		line += r->s[k] == '\n';
	r->syntax_error = true;
	return fail_at(r, "invalid JSON: %s near line %zu (byte %zu)", what, line, r->i);
}

static void skip_ws(reader *r)
{
	while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
		r->i++;
}

/* the path of a member or element: parent + ".key" or "[index]" */
static size_t push_key(reader *r, const char *key, size_t len)
{
	size_t old = r->path_len;
	int w = snprintf(r->path + old, sizeof(r->path) - old, "%s%.*s", old ? "." : "", (int)len, key);
	r->path_len = old + (w > 0 ? (size_t)w : 0);
	if (r->path_len >= sizeof(r->path))
		r->path_len = sizeof(r->path) - 1;
	return old;
}

static size_t push_index(reader *r, size_t index)
{
	size_t old = r->path_len;
	int w = snprintf(r->path + old, sizeof(r->path) - old, "[%zu]", index);
	r->path_len = old + (w > 0 ? (size_t)w : 0);
	if (r->path_len >= sizeof(r->path))
		r->path_len = sizeof(r->path) - 1;
	return old;
}

static void pop(reader *r, size_t old)
{
	r->path_len = old;
	r->path[old] = '\0';
}

static int hex4(reader *r, unsigned *ret)
{
	unsigned v = 0;
	if (r->i + 4 > r->n)
		return syntax(r, "a short \\u escape");
	for (int k = 0; k < 4; k++) {
		char c = r->s[r->i++];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return syntax(r, "a bad \\u escape");
		v = v * 16 + (unsigned)d;
	}
	*ret = v;
	return 0;
}

/* A string at r->i (the opening quote). With out, its decoded text (a key)
 * goes there (malloc'd, *ret_len bytes); the caller frees it. */
static int read_string(reader *r, char **out, size_t *ret_len)
{
	r->i++; /* the opening quote */
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	for (;;) {
		if (r->i >= r->n) {
			rc = syntax(r, "an unterminated string");
			break;
		}
		unsigned char c = (unsigned char)r->s[r->i];
		char enc[4];
		size_t enc_len = 0;
		if (c == '"') {
			r->i++;
			break;
		}
		if (c < 0x20) {
			rc = syntax(r, "a control character in a string");
			break;
		}
		if (c == '\\') {
			r->i++;
			if (r->i >= r->n) {
				rc = syntax(r, "an unterminated string");
				break;
			}
			char e = r->s[r->i++];
			const char *simple = strchr("\"\\/bfnrt", e);
			if (e && simple) {
				enc[0] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
				enc_len = 1;
			} else if (e == 'u') {
				unsigned cp;
				if ((rc = hex4(r, &cp)) < 0)
					break;
				if (cp >= 0xdc00 && cp <= 0xdfff) {
					rc = fail_at(r, "a lone \\u surrogate escape in a string");
					break;
				}
				if (cp >= 0xd800 && cp <= 0xdbff) {
					unsigned lo;
					if (r->i + 2 > r->n || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u') {
						rc = fail_at(r, "a lone \\u surrogate escape in a string");
						break;
					}
					r->i += 2;
					if ((rc = hex4(r, &lo)) < 0)
						break;
					if (lo < 0xdc00 || lo > 0xdfff) {
						rc = fail_at(r, "a lone \\u surrogate escape in a string");
						break;
					}
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				if (cp == 0) {
					rc = fail_at(r, "\\u0000 in a string (it would cut the string short)");
					break;
				}
				if (cp < 0x80) {
					enc[0] = (char)cp, enc_len = 1;
				} else if (cp < 0x800) {
					enc[0] = (char)(0xc0 | cp >> 6), enc[1] = (char)(0x80 | (cp & 0x3f)),
					enc_len = 2;
				} else if (cp < 0x10000) {
					enc[0] = (char)(0xe0 | cp >> 12), enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
					enc[2] = (char)(0x80 | (cp & 0x3f)), enc_len = 3;
				} else {
					enc[0] = (char)(0xf0 | cp >> 18), enc[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
					enc[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), enc[3] = (char)(0x80 | (cp & 0x3f)),
					enc_len = 4;
				}
			} else {
				rc = syntax(r, "a bad escape in a string");
				break;
			}
		} else {
			/* raw bytes: one well-formed UTF-8 sequence */
			size_t seq = c < 0x80                 ? 1
				     : c >= 0xc2 && c <= 0xdf ? 2
				     : c >= 0xe0 && c <= 0xef ? 3
				     : c >= 0xf0 && c <= 0xf4 ? 4
							      : 0;
			if (!seq || r->i + seq > r->n || !text_utf8_valid(r->s + r->i, seq)) {
				rc = fail_at(r, "a string that is not UTF-8");
				break;
			}
			memcpy(enc, r->s + r->i, seq);
			enc_len = seq;
			r->i += seq;
		}
		if (out) {
			if (len + enc_len + 1 > cap) {
				cap = cap ? cap * 2 : 32;
				char *grown = realloc(buf, cap);
				if (!grown) {
					rc = PW_ENOMEM;
					break;
				}
				buf = grown;
			}
			memcpy(buf + len, enc, enc_len);
			len += enc_len;
		}
	}
	if (rc < 0 || !out) {
		free(buf);
		return rc;
	}
	if (!buf && !(buf = malloc(1)))
		return PW_ENOMEM;
	buf[len] = '\0';
	*out = buf;
	*ret_len = len;
	return 0;
}

static int read_number(reader *r)
{
	size_t start = r->i;
	if (r->i < r->n && r->s[r->i] == '-')
		r->i++;
	if (r->i < r->n && r->s[r->i] == '0')
		r->i++;
	else if (r->i < r->n && r->s[r->i] >= '1' && r->s[r->i] <= '9')
		while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
			r->i++;
	else
		return syntax(r, "a bad number");
	if (r->i < r->n && r->s[r->i] == '.') {
		r->i++;
		if (!(r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9'))
			return syntax(r, "a bad number");
		while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
			r->i++;
	}
	if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
		r->i++;
		if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-'))
			r->i++;
		if (!(r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9'))
			return syntax(r, "a bad number");
		while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
			r->i++;
	}
	char text[64];
	size_t len = r->i - start;
	if (len >= sizeof(text))
		return fail_at(r, "a number of %zu characters (paywatch reads numbers up to 2^53 exactly)", len);
	memcpy(text, r->s + start, len);
	text[len] = '\0';
	double v = strtod(text, NULL);
	if (!(fabs(v) < 9007199254740992.0))
		return fail_at(r, "%s is not below 2^53 (9007199254740992): it cannot be read exactly", text);
	return 0;
}

static int read_value(reader *r);

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_object(reader *r)
{
	r->i++; /* { */
	char **keys = NULL;
	size_t n_keys = 0, cap = 0;
	int rc = 0;
	skip_ws(r);
	if (r->i < r->n && r->s[r->i] == '}') {
		r->i++;
		return 0;
	}
	for (;;) {
		skip_ws(r);
		if (r->i >= r->n || r->s[r->i] != '"') {
			rc = syntax(r, "a member name expected");
			break;
		}
		char *key = NULL;
		size_t key_len = 0;
		if ((rc = read_string(r, &key, &key_len)) < 0)
			break;
		if (n_keys == cap) {
			cap = cap ? cap * 2 : 8;
			char **grown = realloc(keys, cap * sizeof(*keys));
			if (!grown) {
				free(key);
				rc = PW_ENOMEM;
				break;
			}
			keys = grown;
		}
		keys[n_keys++] = key;
		skip_ws(r);
		if (r->i >= r->n || r->s[r->i] != ':') {
			rc = syntax(r, "':' expected");
			break;
		}
		r->i++;
		size_t old = push_key(r, key, key_len);
		rc = read_value(r);
		pop(r, old);
		if (rc < 0)
			break;
		skip_ws(r);
		if (r->i < r->n && r->s[r->i] == ',') {
			r->i++;
			continue;
		}
		if (r->i < r->n && r->s[r->i] == '}') {
			r->i++;
			break;
		}
		rc = syntax(r, "',' or '}' expected");
		break;
	}
	if (rc == 0 && n_keys > 1) {
		qsort(keys, n_keys, sizeof(*keys), cmp_key);
		for (size_t k = 1; k < n_keys && rc == 0; k++)
			if (strcmp(keys[k - 1], keys[k]) == 0) {
				size_t old = push_key(r, keys[k], strlen(keys[k]));
				rc = fail_at(
					r,
					"the key is given twice in one object (jq and paywatch would read different values)");
				pop(r, old);
			}
	}
	for (size_t k = 0; k < n_keys; k++)
		free(keys[k]);
	free(keys);
	return rc;
}

static int read_array(reader *r)
{
	r->i++; /* [ */
	skip_ws(r);
	if (r->i < r->n && r->s[r->i] == ']') {
		r->i++;
		return 0;
	}
	for (size_t index = 0;; index++) {
		size_t old = push_index(r, index);
		int rc = read_value(r);
		pop(r, old);
		if (rc < 0)
			return rc;
		skip_ws(r);
		if (r->i < r->n && r->s[r->i] == ',') {
			r->i++;
			continue;
		}
		if (r->i < r->n && r->s[r->i] == ']') {
			r->i++;
			return 0;
		}
		return syntax(r, "',' or ']' expected");
	}
}

static int read_literal(reader *r, const char *word)
{
	size_t len = strlen(word);
	if (r->n - r->i < len || memcmp(r->s + r->i, word, len) != 0)
		return syntax(r, "an unexpected character");
	r->i += len;
	return 0;
}

static int read_value(reader *r)
{
	skip_ws(r);
	if (r->i >= r->n)
		return syntax(r, "a value expected");
	if (++r->depth > MAX_DEPTH)
		return fail_at(r, "nested more than %d deep", MAX_DEPTH);
	int rc;
	switch (r->s[r->i]) {
	case '{': rc = read_object(r); break;
	case '[': rc = read_array(r); break;
	case '"': rc = read_string(r, NULL, NULL); break;
	case 't': rc = read_literal(r, "true"); break;
	case 'f': rc = read_literal(r, "false"); break;
	case 'n': rc = read_literal(r, "null"); break;
	default: rc = read_number(r); break;
	}
	r->depth--;
	return rc;
}

int json_check_strict(const char *text, size_t len, char *err, size_t errlen)
{
	reader r = { .s = text, .n = len, .err = err, .errlen = errlen };
	int rc = read_value(&r);
	if (rc == PW_ENOMEM) {
		snprintf(err, errlen, "$: out of memory");
		return rc;
	}
	if (rc < 0)
		return r.syntax_error ? PW_EPARSE : PW_ECONFIG;
	skip_ws(&r);
	if (r.i < r.n) {
		r.path_len = 0;
		r.path[0] = '\0';
		syntax(&r, "text after the end of the JSON value");
		return PW_EPARSE;
	}
	return 0;
}
