/* csv.c: RFC 4180 fields for spreadsheets (csv.h). */
#include "csv.h"

#include <string.h>

static int quoted(pw_buf *b, const char *prefix, const char *s, const char *suffix)
{
	int r = buf_append(b, "\"", 1);
	for (const char *p = prefix; r == 0 && *p; p++)
		r = *p == '"' ? buf_append(b, "\"\"", 2) : buf_append(b, p, 1);
	for (const char *p = s; r == 0 && *p; p++)
		r = *p == '"' ? buf_append(b, "\"\"", 2) : buf_append(b, p, 1);
	for (const char *p = suffix; r == 0 && *p; p++)
		r = *p == '"' ? buf_append(b, "\"\"", 2) : buf_append(b, p, 1);
	return r ? r : buf_append(b, "\"", 1);
}

int csv_field(pw_buf *b, const char *s, enum csv_kind kind, int first)
{
	int r = first ? 0 : buf_append(b, ",", 1);
	if (r || !s || !*s)
		return r;
	if (kind == CSV_EXACT)
		return quoted(b, "=\"", s, "\"");
	const char *prefix = kind == CSV_TEXT && strchr("=+-@\t\r", s[0]) ? "'" : "";
	if (*prefix || strpbrk(s, ",\"\r\n"))
		return quoted(b, prefix, s, "");
	return buf_append(b, s, strlen(s));
}

int csv_end(pw_buf *b)
{
	return buf_append(b, "\r\n", 2);
}
