/* base58.c: Base58 by repeated division (the inputs are addresses: a few
 * dozen bytes, so the quadratic schoolbook method is the clear one), and
 * Base58Check with OpenSSL's SHA-256. */
#include "base58.h"
#include "pw_error.h"

#include <openssl/evp.h>
#include <string.h>

static const char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

size_t base58_encode(const uint8_t *in, size_t n, char *out, size_t outlen)
{
	uint8_t digits[200]; /* base-58 digits, least significant first */
	size_t n_digits = 0, zeros = 0;
	if (n > 128)
		return 0;
	while (zeros < n && in[zeros] == 0)
		zeros++;
	for (size_t i = zeros; i < n; i++) {
		unsigned carry = in[i];
		for (size_t k = 0; k < n_digits; k++) {
			carry += (unsigned)digits[k] << 8;
			digits[k] = (uint8_t)(carry % 58);
			carry /= 58;
		}
		while (carry) {
			digits[n_digits++] = (uint8_t)(carry % 58);
			carry /= 58;
		}
	}
	size_t len = zeros + n_digits;
	if (len + 1 > outlen)
		return 0;
	for (size_t i = 0; i < zeros; i++)
		out[i] = '1';
	for (size_t k = 0; k < n_digits; k++)
		out[zeros + k] = alphabet[digits[n_digits - 1 - k]];
	out[len] = '\0';
	return len;
}

int base58_decode(const char *text, uint8_t *out, size_t outlen, size_t *ret_n)
{
	uint8_t bytes[160]; /* base-256 digits, least significant first */
	size_t n_bytes = 0, zeros = 0, len = strlen(text);
	if (len == 0 || len > 200)
		return PW_EPARSE;
	while (zeros < len && text[zeros] == '1')
		zeros++;
	for (size_t i = zeros; i < len; i++) {
		const char *at = strchr(alphabet, text[i]);
		if (!at || !*at)
			return PW_EPARSE;
		unsigned carry = (unsigned)(at - alphabet);
		for (size_t k = 0; k < n_bytes; k++) {
			carry += (unsigned)bytes[k] * 58;
			bytes[k] = (uint8_t)carry;
			carry >>= 8;
		}
		while (carry) {
			if (n_bytes == sizeof(bytes))
				return PW_ERANGE;
			bytes[n_bytes++] = (uint8_t)carry;
			carry >>= 8;
		}
	}
	size_t total = zeros + n_bytes;
	if (total > outlen)
		return PW_ERANGE;
	memset(out, 0, zeros);
	for (size_t k = 0; k < n_bytes; k++)
		out[zeros + k] = bytes[n_bytes - 1 - k];
	*ret_n = total;
	return 0;
}

/* The first 4 bytes of SHA-256(SHA-256(in)). */
static void checksum(const uint8_t *in, size_t n, uint8_t out[4])
{
	uint8_t h1[32], h2[32];
	unsigned int len = 0;
	EVP_Digest(in, n, h1, &len, EVP_sha256(), NULL);
	EVP_Digest(h1, sizeof(h1), h2, &len, EVP_sha256(), NULL);
	memcpy(out, h2, 4);
}

size_t base58check_encode(const uint8_t *in, size_t n, char *out, size_t outlen)
{
	uint8_t buf[128];
	if (n > sizeof(buf) - 4)
		return 0;
	memcpy(buf, in, n);
	checksum(in, n, buf + n);
	return base58_encode(buf, n + 4, out, outlen);
}

int base58check_decode(const char *text, uint8_t *out, size_t outlen, size_t *ret_n)
{
	uint8_t buf[160], sum[4];
	size_t n = 0;
	int r = base58_decode(text, buf, sizeof(buf), &n);
	if (r < 0)
		return r;
	if (n < 5)
		return PW_EPARSE;
	checksum(buf, n - 4, sum);
	if (memcmp(sum, buf + n - 4, 4) != 0)
		return PW_ECHECKSUM;
	if (n - 4 > outlen)
		return PW_ERANGE;
	memcpy(out, buf, n - 4);
	*ret_n = n - 4;
	return 0;
}
