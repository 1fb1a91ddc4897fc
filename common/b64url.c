/* b64url.c: base64url without padding (b64url.h). */
#include "b64url.h"
#include "pw_error.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void b64url_encode(const uint8_t *in, size_t n, char *out, size_t outlen)
{
	unsigned char b64[132];
	if (n > 96)
		n = 96;
	int m = EVP_EncodeBlock(b64, in, (int)n);
	while (m > 0 && b64[m - 1] == '=')
		m--;
	for (int i = 0; i < m; i++)
		b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	snprintf(out, outlen, "%.*s", m, (const char *)b64);
}

int b64url_decode(const char *text, uint8_t *out, size_t outlen, size_t *ret_n)
{
	size_t n = strlen(text);
	if (n == 0 || n > 128 || n % 4 == 1)
		return PW_EPARSE;
	char b64[136];
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = text[i];
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			  ch == '-' || ch == '_';
		if (!ok)
			return PW_EPARSE;
		b64[m++] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
	}
	size_t pad = 0;
	while (m % 4) {
		b64[m++] = '=';
		pad++;
	}
	unsigned char raw[100];
	int got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)m);
	if (got < 0 || (size_t)got < pad)
		return PW_EPARSE;
	size_t len = (size_t)got - pad; /* EVP_DecodeBlock counts the padding's bytes */
	if (len > outlen)
		return PW_EPARSE;
	memcpy(out, raw, len);
	*ret_n = len;
	return 0;
}
