/* csv.h: CSV fields as RFC 4180 writes them (comma separated, CRLF line
 * ends, a field quoted when it holds a comma, a quote, CR or LF, quotes
 * doubled), made to open in a spreadsheet unchanged:
 *  - CSV_EXACT: an amount, a base-unit count, a hash or an address,
 *    written ="..." (a spreadsheet keeps it as text: no rounding past 15
 *    digits, no 1E+21, no hex read as a number);
 *  - CSV_TEXT: text from outside (a merchant's reference): one starting
 *    with = + - @ TAB or CR gets a leading ' (OWASP: no formula runs);
 *  - CSV_PLAIN: a value paywatch made (a count, a day, a status).
 * Writes append to a pw_buf (buf.h); 0, PW_ETOOBIG (past the buffer's cap), PW_ENOMEM. */
#ifndef PW_CSV_H
#define PW_CSV_H

#include "buf.h"

enum csv_kind { CSV_PLAIN, CSV_TEXT, CSV_EXACT };

/* csv_field: s (NULL: an empty field) as a field of its kind, preceded by
 * a comma unless first. */
int csv_field(pw_buf *b, const char *s, enum csv_kind kind, int first);

/* csv_end: the line's CRLF. */
int csv_end(pw_buf *b);

#endif
