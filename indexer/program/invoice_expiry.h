/* invoice_expiry.h: invoices expired on time inside `paywatch run`. A
 * thread asks Postgres every INVOICE_EXPIRY_TICK_MS for the open invoices
 * past their expires_at (invoice_pg_expire_due): each becomes expired with
 * its invoice.expired event within a tick of its time, exactly once
 * however many runs ask at once (row locks in the one transaction that
 * expires it). */
#ifndef PW_INVOICE_EXPIRY_H
#define PW_INVOICE_EXPIRY_H

#include "config.h"

#include <stdatomic.h>

#define INVOICE_EXPIRY_TICK_MS 500

typedef struct invoice_expiry invoice_expiry;

/* invoice_expiry_start: the thread, on cfg's Postgres. 0 with *ret, or
 * PW_ENOMEM. */
int invoice_expiry_start(const pw_config *cfg, atomic_bool *stop, invoice_expiry **ret);

/* invoice_expiry_join: wait for it (after *stop was set) and free; accepts
 * NULL. */
void invoice_expiry_join(invoice_expiry *x);

#endif
