/* invoices.h: an invoice created as the API (POST /v1/invoices) and the
 * CLI (`paywatch invoices create`) create it: the values checked and made
 * exact (the amount in token units -> base units, no float), the next
 * deposit address of the merchant's xpub on the chain handed out
 * (registry_window_grow: never one handed out before), the payment URI of
 * the chain's family (EIP-681 on EVM), an id of 128 random bits, and the
 * reference's idempotency (the same body again answers the same invoice).
 * SQL in sinks/invoice_pg.c. */
#ifndef PW_INVOICES_H
#define PW_INVOICES_H

#include "config.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INVOICE_METADATA_MAX 4096 /* bytes of its JSON text */
#define INVOICE_EXPIRES_DEFAULT_S 900
#define INVOICE_EXPIRES_MAX_S (90 * 86400)

typedef struct invoice_request {
	const char *merchant_id, *chain, *token; /* token: a symbol of the chain's config */
	const char *amount;                      /* decimal string in token units */
	const char *reference;                   /* the merchant's order id, 1..128 bytes of clean UTF-8 */
	const char *metadata;                    /* a JSON object's text, or NULL ({}) */
	int64_t expires_in_s;                    /* -1: not given */
	const char *expires_at;                  /* RFC 3339 or NULL */
	const void *body;                        /* the request as sent: its SHA-256 is the idempotency key */
	size_t body_len;
} invoice_request;

/* invoice_reference_ok: s can be an invoice's reference (the merchant's
 * order id): 1..128 bytes of UTF-8 without control characters, as it is
 * stored, filtered on and shown. */
bool invoice_reference_ok(const char *s);

/* invoice_parse_amount: an amount in token units as a merchant writes it
 * ("12.5": digits, then optionally a point and at least one digit; at most
 * 100 characters) into raw, exact base units (big-endian uint256) for a
 * token of `decimals` (0..77) decimals: "12.5" with 6 -> 12500000. 0, or
 * PW_EINVAL with "amount: reason" in err (errlen bytes): not that form,
 * more fraction digits than the token has, zero, 2^256 or more base
 * units; raw is undefined on error. u256_format_units writes the form it
 * reads back. */
int invoice_parse_amount(const char *text, unsigned decimals, uint8_t raw[32], char *err, size_t errlen);

/* invoice_create: INVOICE (invoice_pg.h) into *ret_json; *ret_created 1 for
 * a new invoice, 0 for the one this reference made with the same body.
 * PW_EINVAL "field: reason" (a bad value: a reference that is not 1..128
 * bytes of UTF-8 without control characters, metadata whose text is not
 * UTF-8, ...); PW_EREFUSED (the reference was
 * used with another body; the merchant has no xpub for the chain);
 * PW_ENOTFOUND (no such merchant); PW_EDB. */
int invoice_create(PGconn *c, const pw_config *cfg, const invoice_request *q, int *ret_created, char **ret_json,
		   char *err, size_t errlen);

#endif
