/* json_check.h: the strict reading of paywatch.json (and of the API's
 * request bodies, api_body_object) that cJSON alone does not give. cJSON takes the first of two equal keys, stops at
 * the end of the first value (text after it is ignored), truncates a string at an escaped \u0000, and rounds integers
 * above 2^53: a config a reviewer reads with jq could then differ from the one paywatch runs. Each of those is an error
 * here, named by its JSON path (RFC 8259 grammar, RFC 3629 UTF-8). */
#ifndef PW_JSON_CHECK_H
#define PW_JSON_CHECK_H

#include <stddef.h>

/* json_check_strict: is text (len bytes) one JSON value, followed by
 * nothing but whitespace, with no object holding a key twice, no \u0000
 * and no lone surrogate escape in a string, strings of well-formed UTF-8,
 * no number whose magnitude reaches 2^53, and nesting at most 64 deep?
 * 0, or PW_EPARSE (a syntax error: "path: invalid JSON: ... near line L
 * (byte B)") or PW_ECONFIG (a value or key the rule refuses) with "path:
 * reason" in err (errlen bytes), the path in the config's own notation
 * (chains[0].tokens[1].symbol; $ for the root); PW_ENOMEM. O(n log n) in
 * the text. */
int json_check_strict(const char *text, size_t len, char *err, size_t errlen);

#endif
