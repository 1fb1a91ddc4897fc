-- 005_quarantine.sql: outbox entries that cannot be written (Postgres
-- refused them for a data reason, SQLSTATE class 21/22/23, or paywatch's
-- own bounds check did) are kept here instead of stopping every payment
-- behind them: never dropped, shown by `paywatch status` and
-- `paywatch quarantine list`, written again by `paywatch quarantine retry`.
-- `entry` is the outbox entry as paywatch encodes it (payment_encode); the
-- other columns are its identity and what an operator reads, as text
-- Postgres accepts whatever the entry holds.

CREATE TABLE payment_quarantine (
    id              bigserial PRIMARY KEY,
    chain_id        numeric     NOT NULL,
    block_hash      text        NOT NULL,
    log_index       bigint      NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('confirmed', 'reverted', 'pending')),
    chain           text        NOT NULL,
    block_number    numeric     NOT NULL,
    tx_hash         text        NOT NULL,
    merchant_id     text        NOT NULL,
    amount_raw      numeric     NOT NULL,
    entry           bytea       NOT NULL,
    reason          text        NOT NULL,
    sqlstate        text,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    retries         int         NOT NULL DEFAULT 0,
    last_retry_at   timestamptz
);
CREATE INDEX payment_quarantine_by_identity ON payment_quarantine (chain_id, block_hash, log_index);
CREATE INDEX payment_quarantine_by_chain ON payment_quarantine (chain, quarantined_at);
