-- 025_invoice_cancelled_events.sql: cancelling an invoice writes an
-- event, invoice.cancelled, like every other move of its status.
--
-- Until now `POST /v1/invoices/{id}/cancel` (and `paywatch invoices
-- cancel`) moved the invoice to cancelled and told nobody: the feed
-- (/v1/events), which the API calls the complete record, never showed the
-- move, and a backend following the feed or webhooks (another service
-- than the one that cancelled, or an operator's cancel from the CLI) kept
-- the invoice open. The cancel now calls paywatch_invoice_event(i,
-- 'invoice.cancelled') in its transaction: a feed row with the INVOICE as
-- it is after the move, and the webhook event and deliveries for the
-- endpoints that take the type. Its id follows 014's rule (the invoice's
-- n-th event of the type; a cancel happens once).
--
-- The type is in the default set: an endpoint that took every type of
-- the default set before (every type but payment.pending, as the config's
-- and the API's default wrote it) takes it too.
--
-- Upgrading: two constraints replaced (a scan of each table to validate
-- them, as 014's); the endpoints' rows of the default set updated.

ALTER TABLE event_feed DROP CONSTRAINT event_feed_type_check,
    ADD CONSTRAINT event_feed_type_check CHECK (type IN ('payment.confirmed', 'payment.reverted',
        'invoice.processing', 'invoice.paid', 'invoice.expired', 'invoice.payment_late', 'invoice.reverted',
        'invoice.cancelled'));

ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_type_check,
    ADD CONSTRAINT webhook_events_type_check CHECK (type IN ('payment.confirmed', 'payment.reverted',
        'payment.pending', 'payment.dropped', 'ping', 'invoice.processing', 'invoice.paid', 'invoice.expired',
        'invoice.payment_late', 'invoice.reverted', 'invoice.cancelled'));

UPDATE webhook_endpoints SET events = events || '{invoice.cancelled}'
 WHERE events @> '{payment.confirmed,payment.reverted,invoice.processing,invoice.paid,invoice.expired,invoice.payment_late,invoice.reverted}'
   AND NOT 'invoice.cancelled' = ANY (events);
