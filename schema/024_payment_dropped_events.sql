-- 024_payment_dropped_events.sql: a payment.pending event gets its
-- follow-up when a reorg drops the payment's block before it confirmed.
--
-- Until now the pending_payments row was deleted (and the invoices at its
-- address settled again: invoice.reverted), but a merchant told of the
-- payment by payment.pending heard nothing more: a checkout showing
-- "payment seen, waiting for confirmations" kept showing it for a
-- transfer no longer on the chain. The sink now writes, in the same
-- transaction as that delete, a payment.dropped event for each dropped
-- payment whose payment.pending event exists: its reverses_event_id names
-- that event, its body is the payment's with status "dropped" and 0
-- confirmations, and it is delivered to every endpoint the pending event
-- was delivered to (active, not disabled by 410). Its id is
-- paywatch_event_id(chain_id, block_hash, log_index, 'payment.dropped'):
-- written again after a crash, it is the same event.
--
-- The type is not one an endpoint lists: payment.pending brings it.
--
-- Upgrading: a constraint replaced (a scan of webhook_events to validate
-- it, as 014's); no row changes.

ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_type_check,
    ADD CONSTRAINT webhook_events_type_check CHECK (type IN ('payment.confirmed', 'payment.reverted',
        'payment.pending', 'payment.dropped', 'ping', 'invoice.processing', 'invoice.paid', 'invoice.expired',
        'invoice.payment_late', 'invoice.reverted'));
