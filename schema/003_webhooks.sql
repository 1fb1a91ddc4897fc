-- 003_webhooks.sql: merchant webhooks (Standard Webhooks). An event row is
-- created in the same transaction as the payment row it describes, with
-- the exact body that will be signed and sent; a delivery row per endpoint
-- subscribed to its type; an attempt row per HTTP attempt. Secrets are not
-- stored here: the dispatcher takes them from the config (environment).

CREATE TABLE webhook_endpoints (
    id              bigserial PRIMARY KEY,
    merchant_id     text        NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    url             text        NOT NULL,
    events          text[]      NOT NULL,
    active          boolean     NOT NULL DEFAULT true,  -- false once removed from the config
    disabled_at     timestamptz,                         -- set when the endpoint answered 410 Gone
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (merchant_id, url)
);

CREATE TABLE webhook_events (
    id                text PRIMARY KEY,                  -- the webhook-id header, stable across retries
    type              text        NOT NULL CHECK (type IN ('payment.confirmed', 'payment.reverted', 'payment.pending', 'ping')),
    merchant_id       text        NOT NULL,
    payment_id        bigint      REFERENCES payments (id),
    reverses_event_id text        REFERENCES webhook_events (id),
    payload           text        NOT NULL,              -- the exact body sent
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_by_merchant ON webhook_events (merchant_id, created_at);
CREATE INDEX webhook_events_by_payment ON webhook_events (payment_id);

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    event_id        text        NOT NULL REFERENCES webhook_events (id),
    endpoint_id     bigint      NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,                         -- lease of the dispatcher sending it
    last_status     int,
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_status ON webhook_deliveries (status, created_at);

CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  bigint      NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    http_status  int,
    latency_ms   int,
    error        text
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, attempted_at);

-- A payment's event id for a type: deterministic, so writing the same
-- payment twice (a crash between commit and outbox deletion) cannot create
-- a second event.
CREATE FUNCTION paywatch_event_id(chain_id bigint, block_hash text, log_index int, type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'evt_' || left(md5(chain_id::text || ':' || block_hash || ':' || log_index::text || ':' || type), 24)
$$;

-- The body of a payment event: amounts as strings, never JSON numbers.
CREATE FUNCTION paywatch_event_payload(type text, id bigint, chain text, chain_id bigint, block_number bigint,
    block_hash text, block_time timestamptz, tx_hash text, log_index int, token_address text, token_symbol text,
    decimals int, from_address text, to_address text, amount numeric, amount_raw numeric, confirmations int,
    merchant_id text, status text, reverses_event_id text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'type', type,
        'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'data', json_strip_nulls(json_build_object(
            'id', id, 'chain', chain, 'chain_id', chain_id, 'block_number', block_number,
            'block_hash', block_hash, 'block_time', to_char(block_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            'tx_hash', tx_hash, 'log_index', log_index,
            'token', json_build_object('address', token_address, 'symbol', token_symbol, 'decimals', decimals),
            'from', from_address, 'to', to_address, 'amount', amount::text, 'amount_raw', amount_raw::text,
            'confirmations', confirmations, 'merchant_id', merchant_id, 'status', status,
            'reverses_event_id', reverses_event_id)))::text
$$;
