/* secretbox.h: secrets at rest. Webhook secrets and endpoint URLs created
 * through the API or the CLI are stored in Postgres sealed with AES-256-GCM
 * (OpenSSL EVP, NIST SP 800-38D: a random 96-bit nonce per seal, a 128-bit
 * tag) under the key in PAYWATCH_SECRET_KEY. The sealed text names the
 * key by its id, so the key can be rotated (`paywatch secrets rotate-key`):
 * a process opens what either PAYWATCH_SECRET_KEY or, while rotating,
 * PAYWATCH_SECRET_KEY_OLD sealed. Each seal is bound (as GCM's additional
 * data) to where it is stored, so a sealed value copied to another row does
 * not open there.
 *
 * Sealed text: "pw1:" KEY_ID ":" base64(nonce 12 bytes | ciphertext | tag 16 bytes),
 * KEY_ID: 16 hex digits of SHA-256("paywatch secret key id" | key). */
#ifndef PW_SECRETBOX_H
#define PW_SECRETBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECRETBOX_KEY_LEN 32
#define SECRETBOX_KEY_ID_LEN 16 /* hex digits */
#define SECRETBOX_PLAIN_MAX 4096

typedef struct secretbox_key {
	uint8_t key[SECRETBOX_KEY_LEN];
	char id[SECRETBOX_KEY_ID_LEN + 1];
} secretbox_key;

/* The keys a process holds: the current one (sealing and opening) and,
 * while a rotation is under way, the previous one (opening only). */
typedef struct secretbox_keys {
	bool have_current, have_old;
	secretbox_key current, old;
} secretbox_keys;

/* secretbox_key_parse: a key as PAYWATCH_SECRET_KEY holds it: 64 hex
 * digits, or standard base64 of 32 bytes. 0, or PW_ECONFIG with a reason in
 * err (never quoting the text). */
int secretbox_key_parse(const char *text, secretbox_key *ret, char *err, size_t errlen);

/* secretbox_keys_from_env: PAYWATCH_SECRET_KEY (current) and
 * PAYWATCH_SECRET_KEY_OLD (optional). Unset variables leave have_* false;
 * a set but malformed one is PW_ECONFIG with the variable named in err. */
int secretbox_keys_from_env(secretbox_keys *ret, char *err, size_t errlen);

/* secretbox_key_new_text: a fresh random key (OpenSSL RAND_bytes) as 64
 * hex digits into out (at least 65 bytes). 0 or PW_EIO. */
int secretbox_key_new_text(char *out, size_t outlen);

/* secretbox_seal: plain (n bytes, at most SECRETBOX_PLAIN_MAX) sealed
 * under k, bound to context (a NUL-terminated label of where it is
 * stored). The sealed text, malloc'd (caller frees), into *ret. 0,
 * PW_EINVAL (too long), PW_ENOMEM, PW_EIO (OpenSSL failed). */
int secretbox_seal(const secretbox_key *k, const char *context, const uint8_t *plain, size_t n, char **ret);

/* secretbox_key_id_of: the key id a sealed text names, into out (at least
 * SECRETBOX_KEY_ID_LEN + 1 bytes). 0 or PW_EPARSE (not a sealed text). */
int secretbox_key_id_of(const char *sealed, char *out, size_t outlen);

/* secretbox_open: the plain text of sealed (NUL-terminated, malloc'd,
 * caller frees; wipe it with secretbox_free) into *ret, with whichever of
 * keys has the id it names. 0; PW_ENOTFOUND (no key with that id: the
 * message should say which key id is missing); PW_EPARSE (not a sealed
 * text); PW_EREFUSED (the tag does not verify: another key with the same id,
 * another context, or the text was altered); PW_ENOMEM. */
int secretbox_open(const secretbox_keys *keys, const char *context, const char *sealed, char **ret);

/* secretbox_free: wipe a string secretbox_open returned and free it;
 * accepts NULL. */
void secretbox_free(char *plain);

/* secretbox_new_webhook_secret: "whsec_" + standard base64 of 32 bytes
 * from RAND_bytes (Standard Webhooks' secret form) into out (at least 52
 * bytes). 0 or PW_EIO. */
int secretbox_new_webhook_secret(char *out, size_t outlen);

/* secretbox_endpoint_context: the context a webhook endpoint's field
 * ("url" or "secret") is sealed under: "webhook_endpoints/<merchant
 * id>/<endpoint id>/<field>", into out (outlen bytes). */
void secretbox_endpoint_context(const char *merchant_id, const char *endpoint_id, const char *field, char *out,
				size_t outlen);

#endif
