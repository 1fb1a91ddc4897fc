/* secretbox.c: AES-256-GCM seals of secrets at rest (secretbox.h). */
#include "secretbox.h"
#include "hex.h"
#include "pw_error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_LEN 12
#define TAG_LEN 16
#define PREFIX "pw1:"

static void key_id(secretbox_key *k)
{
	static const char label[] = "paywatch secret key id";
	uint8_t in[sizeof(label) - 1 + SECRETBOX_KEY_LEN], digest[SHA256_DIGEST_LENGTH];
	memcpy(in, label, sizeof(label) - 1);
	memcpy(in + sizeof(label) - 1, k->key, SECRETBOX_KEY_LEN);
	SHA256(in, sizeof(in), digest);
	OPENSSL_cleanse(in, sizeof(in));
	for (int i = 0; i < SECRETBOX_KEY_ID_LEN / 2; i++)
		snprintf(k->id + 2 * i, 3, "%02x", digest[i]);
}

/* Standard base64 of text into out; the decoded length, or -1. */
static int b64_decode(const char *text, uint8_t *out, size_t outlen)
{
	size_t n = strlen(text);
	if (n == 0 || n % 4 || n / 4 * 3 > outlen + 2 || n > 8192)
		return -1;
	uint8_t *tmp = malloc(n / 4 * 3 + 1);
	if (!tmp)
		return -1;
	int len = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)n);
	if (len >= 0) {
		len -= (text[n - 1] == '=') + (text[n - 2] == '=');
		if ((size_t)len > outlen)
			len = -1;
		else
			memcpy(out, tmp, (size_t)len);
	}
	OPENSSL_cleanse(tmp, n / 4 * 3 + 1);
	free(tmp);
	return len;
}

int secretbox_key_parse(const char *text, secretbox_key *ret, char *err, size_t errlen)
{
	memset(ret, 0, sizeof(*ret));
	size_t n = strlen(text);
	bool hex = n == 2 * SECRETBOX_KEY_LEN;
	for (size_t i = 0; hex && i < n; i++)
		hex = hex_digit_value(text[i]) >= 0;
	if (hex) {
		for (size_t i = 0; i < SECRETBOX_KEY_LEN; i++)
			ret->key[i] = (uint8_t)(hex_digit_value(text[2 * i]) << 4 | hex_digit_value(text[2 * i + 1]));
		key_id(ret);
		return 0;
	}
	uint8_t tmp[SECRETBOX_KEY_LEN + 2];
	int len = b64_decode(text, tmp, sizeof(tmp));
	if (len != SECRETBOX_KEY_LEN) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		snprintf(err, errlen,
			 "must be 32 bytes as 64 hex digits or base64 (`paywatch secrets new-key` prints one)");
		return PW_ECONFIG;
	}
	memcpy(ret->key, tmp, SECRETBOX_KEY_LEN);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	key_id(ret);
	return 0;
}

int secretbox_keys_from_env(secretbox_keys *ret, char *err, size_t errlen)
{
	memset(ret, 0, sizeof(*ret));
	static const char *const names[2] = { "PAYWATCH_SECRET_KEY", "PAYWATCH_SECRET_KEY_OLD" };
	for (int i = 0; i < 2; i++) {
		const char *v = getenv(names[i]);
		if (!v || !*v)
			continue;
		char why[200];
		secretbox_key *k = i == 0 ? &ret->current : &ret->old;
		if (secretbox_key_parse(v, k, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s: %s", names[i], why);
			OPENSSL_cleanse(ret, sizeof(*ret));
			return PW_ECONFIG;
		}
		if (i == 0)
			ret->have_current = true;
		else
			ret->have_old = true;
	}
	return 0;
}

int secretbox_key_new_text(char *out, size_t outlen)
{
	uint8_t k[SECRETBOX_KEY_LEN];
	if (outlen < 2 * SECRETBOX_KEY_LEN + 1 || RAND_bytes(k, sizeof(k)) != 1)
		return PW_EIO;
	for (int i = 0; i < SECRETBOX_KEY_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", k[i]);
	OPENSSL_cleanse(k, sizeof(k));
	return 0;
}

/* One GCM pass: encrypt (enc) or decrypt in into out (n bytes), with the
 * tag written (enc) or checked. 0, PW_EREFUSED (tag mismatch), PW_EIO. */
static int gcm(bool enc, const secretbox_key *k, const uint8_t nonce[NONCE_LEN], const char *context, const uint8_t *in,
	       size_t n, uint8_t *out, uint8_t tag[TAG_LEN])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		return PW_ENOMEM;
	int len = 0, r = PW_EIO;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, k->key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(c, NULL, &len, (const uint8_t *)context, (int)strlen(context)) != 1 ||
	    (n && EVP_CipherUpdate(c, out, &len, in, (int)n) != 1))
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(c, out + n, &len) != 1) {
		r = enc ? PW_EIO : PW_EREFUSED;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return r;
}

int secretbox_seal(const secretbox_key *k, const char *context, const uint8_t *plain, size_t n, char **ret)
{
	if (n > SECRETBOX_PLAIN_MAX)
		return PW_EINVAL;
	size_t raw_len = NONCE_LEN + n + TAG_LEN;
	uint8_t *raw = malloc(raw_len + 16);
	char *text = malloc(strlen(PREFIX) + SECRETBOX_KEY_ID_LEN + 1 + 4 * (raw_len / 3 + 1) + 1);
	if (!raw || !text) {
		free(raw);
		free(text);
		return PW_ENOMEM;
	}
	int r = RAND_bytes(raw, NONCE_LEN) == 1 ? 0 : PW_EIO;
	if (r == 0)
		r = gcm(true, k, raw, context, plain, n, raw + NONCE_LEN, raw + NONCE_LEN + n);
	if (r == 0) {
		int len = sprintf(text, PREFIX "%s:", k->id);
		EVP_EncodeBlock((unsigned char *)text + len, raw, (int)raw_len);
		*ret = text;
	} else
		free(text);
	free(raw);
	return r;
}

int secretbox_key_id_of(const char *sealed, char *out, size_t outlen)
{
	size_t p = strlen(PREFIX);
	if (strncmp(sealed, PREFIX, p) != 0 || strlen(sealed) < p + SECRETBOX_KEY_ID_LEN + 1 ||
	    sealed[p + SECRETBOX_KEY_ID_LEN] != ':' || outlen < SECRETBOX_KEY_ID_LEN + 1)
		return PW_EPARSE;
	for (size_t i = 0; i < SECRETBOX_KEY_ID_LEN; i++)
		if (!strchr("0123456789abcdef", sealed[p + i]) || !sealed[p + i])
			return PW_EPARSE;
	memcpy(out, sealed + p, SECRETBOX_KEY_ID_LEN);
	out[SECRETBOX_KEY_ID_LEN] = '\0';
	return 0;
}

int secretbox_open(const secretbox_keys *keys, const char *context, const char *sealed, char **ret)
{
	char id[SECRETBOX_KEY_ID_LEN + 1];
	if (secretbox_key_id_of(sealed, id, sizeof(id)) < 0)
		return PW_EPARSE;
	const secretbox_key *k = keys->have_current && strcmp(keys->current.id, id) == 0 ? &keys->current
				 : keys->have_old && strcmp(keys->old.id, id) == 0       ? &keys->old
											 : NULL;
	if (!k)
		return PW_ENOTFOUND;
	const char *b64 = sealed + strlen(PREFIX) + SECRETBOX_KEY_ID_LEN + 1;
	size_t cap = strlen(b64) / 4 * 3 + 3;
	if (cap > SECRETBOX_PLAIN_MAX + NONCE_LEN + TAG_LEN + 3)
		return PW_EPARSE;
	uint8_t *raw = malloc(cap);
	if (!raw)
		return PW_ENOMEM;
	int len = b64_decode(b64, raw, cap);
	if (len < NONCE_LEN + TAG_LEN) {
		free(raw);
		return PW_EPARSE;
	}
	size_t n = (size_t)len - NONCE_LEN - TAG_LEN;
	char *plain = malloc(n + 1 + 16);
	if (!plain) {
		free(raw);
		return PW_ENOMEM;
	}
	int r = gcm(false, k, raw, context, raw + NONCE_LEN, n, (uint8_t *)plain, raw + NONCE_LEN + n);
	free(raw);
	if (r < 0 || memchr(plain, '\0', n)) {
		OPENSSL_cleanse(plain, n + 1);
		free(plain);
		return r < 0 ? r : PW_EREFUSED;
	}
	plain[n] = '\0';
	*ret = plain;
	return 0;
}

void secretbox_free(char *plain)
{
	if (!plain)
		return;
	OPENSSL_cleanse(plain, strlen(plain));
	free(plain);
}

int secretbox_new_webhook_secret(char *out, size_t outlen)
{
	uint8_t b[32];
	if (outlen < 6 + 44 + 1 || RAND_bytes(b, sizeof(b)) != 1)
		return PW_EIO;
	memcpy(out, "whsec_", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, b, sizeof(b));
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

void secretbox_endpoint_context(const char *merchant_id, const char *endpoint_id, const char *field, char *out,
				size_t outlen)
{
	snprintf(out, outlen, "webhook_endpoints/%s/%s/%s", merchant_id, endpoint_id, field);
}
