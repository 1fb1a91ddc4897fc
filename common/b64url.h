/* b64url.h: base64url without padding (RFC 4648, section 5), on OpenSSL's
 * base64: API keys and opaque page cursors. */
#ifndef PW_B64URL_H
#define PW_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* b64url_encode: n bytes (at most 96) as base64url without padding into
 * out (outlen bytes, at least 4 * ceil(n / 3) + 1; cut short otherwise). */
void b64url_encode(const uint8_t *in, size_t n, char *out, size_t outlen);

/* b64url_decode: text (base64url, no padding, at most 128 characters) into
 * out (outlen bytes); *ret_n the byte count. 0, or PW_EPARSE (another
 * alphabet, a length no encoding has, too long for out). */
int b64url_decode(const char *text, uint8_t *out, size_t outlen, size_t *ret_n);

#endif
