-- 014_invoice_states.sql: the invoice state machine (issue 15).
--
-- Payments seen before their confirmations. `run` writes every payment it
-- first sees inside the confirmation window to pending_payments (an outbox
-- entry of status pending, in the order of the others), deletes it when the
-- payment is confirmed (payments' triggers below) and when a reorg drops its
-- block (an outbox entry of status dropped). The table holds the window's
-- worth of payments at most.
CREATE TABLE pending_payments (
    chain_id      bigint        NOT NULL,
    block_hash    text          NOT NULL,
    log_index     int           NOT NULL CHECK (log_index >= 0),
    chain         text          NOT NULL,
    block_number  bigint        NOT NULL CHECK (block_number >= 0),
    tx_hash       text          NOT NULL,
    token_address text          NOT NULL,
    to_address    text          NOT NULL,
    merchant_id   text          NOT NULL,
    amount_raw    numeric(78,0) NOT NULL CHECK (amount_raw > 0),
    amount        numeric       NOT NULL,
    seen_at       timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, block_hash, log_index)
);
CREATE INDEX pending_payments_by_address ON pending_payments (chain, to_address);

ALTER TABLE payment_quarantine DROP CONSTRAINT payment_quarantine_kind_check,
    ADD CONSTRAINT payment_quarantine_kind_check CHECK (kind IN ('confirmed', 'reverted', 'pending', 'dropped'));

-- What the state machine counted last (exact: token units and base units),
-- the confirmed payments it counted, and when the invoice expired.
ALTER TABLE invoices
    ADD COLUMN paid         numeric       NOT NULL DEFAULT 0,
    ADD COLUMN paid_raw     numeric(78,0) NOT NULL DEFAULT 0,
    ADD COLUMN pending      numeric       NOT NULL DEFAULT 0,
    ADD COLUMN pending_raw  numeric(78,0) NOT NULL DEFAULT 0,
    ADD COLUMN payment_ids  bigint[]      NOT NULL DEFAULT '{}',
    ADD COLUMN expired_at   timestamptz;

-- Invoice events: in the feed (with the INVOICE as it was, `data`) and as
-- webhook events, like payment events.
ALTER TABLE event_feed ALTER COLUMN payment_id DROP NOT NULL,
    ADD COLUMN invoice_id text,
    ADD COLUMN data       json,
    DROP CONSTRAINT event_feed_type_check,
    ADD CONSTRAINT event_feed_type_check CHECK (type IN ('payment.confirmed', 'payment.reverted',
        'invoice.processing', 'invoice.paid', 'invoice.expired', 'invoice.payment_late', 'invoice.reverted')),
    ADD CONSTRAINT event_feed_subject CHECK ((payment_id IS NULL) <> (invoice_id IS NULL));
CREATE INDEX event_feed_by_invoice ON event_feed (invoice_id, type) WHERE invoice_id IS NOT NULL;

ALTER TABLE webhook_events ADD COLUMN invoice_id text,
    DROP CONSTRAINT webhook_events_type_check,
    ADD CONSTRAINT webhook_events_type_check CHECK (type IN ('payment.confirmed', 'payment.reverted',
        'payment.pending', 'ping', 'invoice.processing', 'invoice.paid', 'invoice.expired', 'invoice.payment_late',
        'invoice.reverted'));

-- INVOICE as the API answers it, from what the state machine counted.
CREATE OR REPLACE FUNCTION paywatch_invoice_json(i invoices) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', i.id, 'merchant_id', i.merchant_id, 'reference', i.reference, 'chain', i.chain,
        'token', json_build_object('address', i.token_address, 'symbol', i.token_symbol, 'decimals', i.decimals),
        'amount', i.amount::text,
        'amount_paid', trim_scale(i.paid)::text,
        'amount_pending', trim_scale(i.pending)::text,
        'address', i.address_shown, 'path', i.hd_path, 'payment_uri', i.payment_uri,
        'status', i.status, 'exception', i.exception,
        'created_at', to_char(i.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'expires_at', to_char(i.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'paid_at', to_char(i.paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'payments', to_json(i.payment_ids),
        'metadata', i.metadata)
$$;

-- One invoice event of type t: the feed row (the INVOICE as it is now)
-- and, for a merchant with an endpoint subscribed to t, the webhook event
-- and its deliveries. The id is deterministic: the invoice's n-th event of
-- the type ("#n" from the second on), so a write repeated after a crash
-- cannot make a second one.
CREATE FUNCTION paywatch_invoice_event(i invoices, t text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    eid text;
    body json := paywatch_invoice_json(i);
BEGIN
    SELECT count(*) INTO n FROM event_feed WHERE invoice_id = i.id AND type = t;
    eid := 'evt_' || left(md5('invoice:' || i.id || ':' || t || CASE WHEN n > 0 THEN '#' || (n + 1) ELSE '' END), 24);
    INSERT INTO event_feed (id, type, merchant_id, invoice_id, data) VALUES (eid, t, i.merchant_id, i.id, body);
    PERFORM pg_notify('paywatch_feed', '');
    IF current_setting('paywatch.webhooks', true) IS DISTINCT FROM 'off' AND EXISTS (SELECT 1 FROM webhook_endpoints e
            WHERE e.merchant_id = i.merchant_id AND e.active AND t = ANY (e.events)) THEN
        INSERT INTO webhook_events (id, type, merchant_id, invoice_id, payload)
        VALUES (eid, t, i.merchant_id, i.id, json_build_object('type', t,
                'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'data', body)::text)
        ON CONFLICT (id) DO NOTHING;
        INSERT INTO webhook_deliveries (event_id, endpoint_id)
        SELECT eid, e.id FROM webhook_endpoints e
         WHERE e.merchant_id = i.merchant_id AND e.active AND e.disabled_at IS NULL AND t = ANY (e.events)
        ON CONFLICT DO NOTHING;
        PERFORM pg_notify('paywatch_webhooks', '');
    END IF;
    RETURN 1;
END $$;

-- The state machine of one invoice: counts its payments again (confirmed
-- payments of its token to its address since it was created, and the
-- pending ones) and moves it, writing the event of each move. Returns the
-- events written. Moves:
--   new/processing -> expired at expires_at unless paid (exception
--     underpaid when something was paid), judged on what was counted
--     before this call: a payment counted now arrived late;
--   new -> processing (seen payments cover the amount) -> paid (confirmed
--     ones do; exception overpaid, else multiple for several transfers);
--   paid -> processing/new and processing -> new: invoice.reverted (a
--     reorg took a payment it relied on);
--   expired/cancelled and a payment not counted before: invoice.payment_late
--     (exception paid_late), the status stays.
-- Called with the row locked by nobody else at the end: it takes the lock.
CREATE FUNCTION paywatch_invoice_settle(p_id text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    i invoices;
    c_paid numeric;
    c_paid_raw numeric;
    c_ids bigint[];
    c_pending numeric;
    c_pending_raw numeric;
    was text;
    late boolean;
    next_status text;
    next_exception text;
    events int := 0;
BEGIN
    SELECT * INTO i FROM invoices WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF i.status IN ('new', 'processing') AND i.expires_at <= now() AND i.paid_raw < i.amount_raw THEN
        UPDATE invoices SET status = 'expired', expired_at = now(),
               exception = CASE WHEN i.paid_raw > 0 THEN 'underpaid' END
         WHERE id = p_id RETURNING * INTO i;
        events := events + paywatch_invoice_event(i, 'invoice.expired');
    END IF;
    SELECT coalesce(sum(p.amount), 0), coalesce(sum(p.amount_raw), 0), coalesce(array_agg(p.id ORDER BY p.id), '{}')
      INTO c_paid, c_paid_raw, c_ids
      FROM payments p
     WHERE p.to_address = i.address AND p.chain = i.chain AND p.token_address = i.token_address
       AND p.status = 'confirmed' AND p.inserted_at >= i.created_at;
    SELECT coalesce(sum(q.amount), 0), coalesce(sum(q.amount_raw), 0) INTO c_pending, c_pending_raw
      FROM pending_payments q
     WHERE q.chain = i.chain AND q.to_address = i.address AND q.token_address = i.token_address
       AND q.seen_at >= i.created_at;
    IF i.status IN ('expired', 'cancelled') THEN
        late := NOT (c_ids <@ i.payment_ids);
        UPDATE invoices SET paid = c_paid, paid_raw = c_paid_raw, pending = c_pending, pending_raw = c_pending_raw,
               payment_ids = c_ids, exception = CASE WHEN late THEN 'paid_late' ELSE i.exception END
         WHERE id = p_id AND (paid_raw, pending_raw, payment_ids) IS DISTINCT FROM (c_paid_raw, c_pending_raw, c_ids)
        RETURNING * INTO i;
        IF late THEN
            events := events + paywatch_invoice_event(i, 'invoice.payment_late');
        END IF;
        RETURN events;
    END IF;
    was := i.status;
    next_status := CASE WHEN c_paid_raw >= i.amount_raw THEN 'paid'
                        WHEN c_paid_raw + c_pending_raw >= i.amount_raw THEN 'processing'
                        ELSE 'new' END;
    next_exception := CASE WHEN next_status <> 'paid' THEN NULL
                           WHEN c_paid_raw > i.amount_raw THEN 'overpaid'
                           WHEN cardinality(c_ids) > 1 THEN 'multiple' END;
    UPDATE invoices SET status = next_status, exception = next_exception,
           paid = c_paid, paid_raw = c_paid_raw, pending = c_pending, pending_raw = c_pending_raw, payment_ids = c_ids,
           paid_at = CASE WHEN next_status <> 'paid' THEN NULL WHEN was = 'paid' THEN i.paid_at ELSE now() END
     WHERE id = p_id
       AND (status, exception, paid_raw, pending_raw, payment_ids)
           IS DISTINCT FROM (next_status, next_exception, c_paid_raw, c_pending_raw, c_ids)
    RETURNING * INTO i;
    IF next_status <> was THEN
        events := events + paywatch_invoice_event(i, CASE
            WHEN next_status = 'paid' THEN 'invoice.paid'
            WHEN next_status = 'processing' AND was = 'new' THEN 'invoice.processing'
            ELSE 'invoice.reverted' END);
    END IF;
    RETURN events;
END $$;

-- Settle the invoices at the addresses of changed rows of payments (every
-- writer: run's sink, replay) or pending_payments, and drop a payment's
-- pending row once it is confirmed. Statement triggers with transition
-- tables: one call per statement, nothing when no invoice exists.
-- (PL/pgSQL plans a statement when it first runs it, per table the
-- trigger is on: the payments-only DELETE is never planned for
-- pending_payments.)
CREATE FUNCTION paywatch_settle_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_TABLE_NAME = 'payments' AND EXISTS (SELECT 1 FROM pending_payments) THEN
        DELETE FROM pending_payments q USING changed c
         WHERE q.chain_id = c.chain_id AND q.block_hash = c.block_hash AND q.log_index = c.log_index
           AND c.status = 'confirmed';
    END IF;
    IF EXISTS (SELECT 1 FROM invoices) THEN
        FOR r IN SELECT i.id FROM invoices i
                  WHERE EXISTS (SELECT 1 FROM changed c WHERE c.to_address = i.address AND c.chain = i.chain)
                  ORDER BY i.id LOOP
            PERFORM paywatch_invoice_settle(r.id);
        END LOOP;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER payments_settle_insert AFTER INSERT ON payments
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION paywatch_settle_changed();
CREATE TRIGGER payments_settle_update AFTER UPDATE ON payments
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION paywatch_settle_changed();
CREATE TRIGGER pending_settle_insert AFTER INSERT ON pending_payments
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION paywatch_settle_changed();
CREATE TRIGGER pending_settle_delete AFTER DELETE ON pending_payments
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION paywatch_settle_changed();

-- Expiry: the open invoices past expires_at, at most max_rows per call,
-- each settled (expired) exactly once however many processes call this at
-- once (row locks; rows another caller holds are skipped). Returns the
-- events written.
CREATE FUNCTION paywatch_invoices_expire(max_rows int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    events int := 0;
BEGIN
    FOR r IN SELECT id FROM invoices WHERE status IN ('new', 'processing') AND expires_at <= now()
              ORDER BY id LIMIT max_rows FOR UPDATE SKIP LOCKED LOOP
        events := events + paywatch_invoice_settle(r.id);
    END LOOP;
    RETURN events;
END $$;
