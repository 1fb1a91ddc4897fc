/* text.h: text that came from outside (a node's error message, a config
 * string, a Postgres error) checked and made safe to print. UTF-8 rules
 * follow RFC 3629 (no overlong forms, no surrogates, nothing above
 * U+10FFFF). */
#ifndef PW_TEXT_H
#define PW_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* text_utf8_valid: are the n bytes of s well-formed UTF-8 (a NUL byte is
 * valid UTF-8 here; callers that need none check for it)? */
bool text_utf8_valid(const char *s, size_t n);

/* text_is_clean_utf8: well-formed UTF-8 without control characters
 * (U+0000..U+001F, U+007F..U+009F): what a name, symbol or id may hold. */
bool text_is_clean_utf8(const char *s, size_t n);

/* text_escape: copy the NUL-terminated s into out (outlen >= 1 bytes,
 * always NUL-terminated, truncated at a character boundary) with every
 * control character (including newline and ESC) and every byte that is not
 * part of well-formed UTF-8 written as \xNN, and backslash as \\, so a
 * value from outside can neither forge a log line nor drive a terminal.
 * Returns the length written. */
size_t text_escape(char *out, size_t outlen, const char *s);

/* text_one_line: make s (edited in place) one line: each run of
 * newlines, carriage returns and tabs becomes one space, and trailing
 * spaces go (libpq's messages span lines, with tab-indented details). */
void text_one_line(char *s);

#endif
