-- 010_event_feed.sql: the event feed (GET /v1/events): one row per payment
-- state change (payment.confirmed, payment.reverted) of every merchant,
-- with or without webhooks, written in the same statement as the change.
-- Its id is the webhook-id where a webhook event exists (the same
-- deterministic key: paywatch_event_id of the payment's n-th event of the
-- type, n counted here, in event_feed).
--
-- Order and exactly-once: a row carries the id of the transaction that
-- wrote it (xid, assigned before commit, so not in commit order by itself)
-- and the feed serves only rows whose xid is below the reader's snapshot
-- xmin: every transaction below xmin has ended, and every transaction yet
-- to write gets an xid at or above it, so the served part of the
-- (xid, seq) order only ever grows at its end. A row of a transaction
-- still open waits, and so does every row after it; a consumer passing
-- the last cursor sees each row once. The price: one long transaction
-- anywhere in the cluster holds the feed back until it ends.
CREATE TABLE event_feed (
    xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    seq         bigint      GENERATED ALWAYS AS IDENTITY (CACHE 1000),
    id          text,       -- NULL: a payment's first event of the type, whose id is
                            -- paywatch_event_id(..., type) (computed when read)
    type        text        NOT NULL CHECK (type IN ('payment.confirmed', 'payment.reverted')),
    merchant_id text        NOT NULL,
    payment_id  bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (xid, seq)
);
CREATE INDEX event_feed_by_payment ON event_feed (payment_id, type);

-- The history written before this migration: the webhook events of
-- payments (their ids kept), then one event per state a payment reached
-- without a webhook event, in time order.
INSERT INTO event_feed (id, type, merchant_id, payment_id, created_at)
SELECT id, type, merchant_id, payment_id, at FROM (
    SELECT e.id, e.type, e.merchant_id, e.payment_id, e.created_at AS at
      FROM webhook_events e
     WHERE e.type IN ('payment.confirmed', 'payment.reverted') AND e.payment_id IS NOT NULL
    UNION ALL
    SELECT paywatch_event_id(p.chain_id, p.block_hash, p.log_index, 'payment.confirmed'), 'payment.confirmed',
           p.merchant_id, p.id, p.confirmed_at
      FROM payments p
     WHERE NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.payment_id = p.id AND e.type = 'payment.confirmed')
    UNION ALL
    SELECT paywatch_event_id(p.chain_id, p.block_hash, p.log_index, 'payment.reverted'), 'payment.reverted',
           p.merchant_id, p.id, coalesce(p.reverted_at, p.confirmed_at)
      FROM payments p
     WHERE p.status = 'reverted'
       AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.payment_id = p.id AND e.type = 'payment.reverted')
) h ORDER BY at, id;
