-- 024_payment_dropped_events.sql: a payment.pending event gets its
-- follow-up when a reorg drops the payment's block before it confirmed.
--
-- Until now the pending_payments row was deleted (and the invoices at its
-- address settled again: invoice.reverted), but a merchant told of the
-- payment by payment.pending heard nothing more: a checkout showing
-- "payment seen, waiting for confirmations" kept showing it for a
-- transfer no longer on the chain. The sink now writes, in the same
-- transaction as that delete, a payment.dropped event for each dropped
-- payment whose pending row is still there and whose payment.pending
-- event exists: its reverses_event_id names
-- that event, its body is the payment's with status "dropped" and 0
-- confirmations, and it is delivered to every endpoint the pending event
-- was delivered to (active, not disabled by 410). Its id is
-- paywatch_event_id(chain_id, block_hash, log_index, 'payment.dropped'):
-- written again after a crash, it is the same event (the first drop's;
-- see below for the later ones).
--
-- The type is not one an endpoint lists: payment.pending brings it.
--
-- A block can leave the chain and come back (the chain goes back to it):
-- its payment is then seen, and perhaps dropped, again. payment_drops
-- counts the drops of each payment seen pending (a row only for a
-- payment dropped at least once: a reorg's worth), so that each sighting
-- has events of its own, as a payment's n-th confirmation has (021): the
-- n-th sighting's payment.pending is keyed "payment.pending#n" from the
-- second on, and its drop "payment.dropped#n", naming it. A drop counts
-- only while the payment's pending row is there, in the transaction that
-- deletes it: a dropped entry written again after a crash finds no row
-- and counts nothing.
--
-- Upgrading: a constraint replaced (a scan of webhook_events to validate
-- it, as 014's) and an empty table made; no row changes.

ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_type_check,
    ADD CONSTRAINT webhook_events_type_check CHECK (type IN ('payment.confirmed', 'payment.reverted',
        'payment.pending', 'payment.dropped', 'ping', 'invoice.processing', 'invoice.paid', 'invoice.expired',
        'invoice.payment_late', 'invoice.reverted'));

CREATE TABLE payment_drops (
    chain_id      bigint         NOT NULL,
    block_hash    text COLLATE "C" NOT NULL,
    log_index     int            NOT NULL CHECK (log_index >= 0),
    times_dropped int            NOT NULL CHECK (times_dropped > 0),
    PRIMARY KEY (chain_id, block_hash, log_index)
);
