/* text.c: UTF-8 checks and escaping of outside text for logs. */
#include "text.h"

#include <stdint.h>

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none;
 * *ret_cp gets its code point. */
static size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *ret_cp)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp, min;
	if (c < 0x80) {
		*ret_cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return len;
}

bool text_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = utf8_sequence(p + i, n - i, &cp);
		if (!len)
			return false;
		i += len;
	}
	return true;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

bool text_is_clean_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = utf8_sequence(p + i, n - i, &cp);
		if (!len || is_control(cp))
			return false;
		i += len;
	}
	return true;
}

size_t text_escape(char *out, size_t outlen, const char *s)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;
	while (*p) {
		size_t left = 0;
		while (p[left] && left < 4)
			left++;
		uint32_t cp = 0;
		size_t len = utf8_sequence(p, left, &cp);
		bool escape = !len || is_control(cp);
		size_t need = escape ? 4 : (cp == '\\' ? 2 : len);
		if (n + need + 1 > outlen)
			break;
		if (escape) {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = digits[p[0] >> 4];
			out[n++] = digits[p[0] & 15];
			p++;
		} else if (cp == '\\') {
			out[n++] = '\\';
			out[n++] = '\\';
			p++;
		} else {
			for (size_t i = 0; i < len; i++)
				out[n++] = (char)*p++;
		}
	}
	if (outlen)
		out[n] = '\0';
	return n;
}

void text_one_line(char *s)
{
	char *o = s;
	for (const char *p = s; *p;) {
		if (*p == '\n' || *p == '\r' || *p == '\t') {
			while (*p == '\n' || *p == '\r' || *p == '\t')
				p++;
			if (o > s && o[-1] != ' ')
				*o++ = ' ';
		} else {
			*o++ = *p++;
		}
	}
	while (o > s && o[-1] == ' ')
		o--;
	*o = '\0';
}
