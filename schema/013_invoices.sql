-- 013_invoices.sql: invoices (issue 15, first part): an order of a
-- merchant with its own deposit address (the next index of the merchant's
-- xpub on the chain, never handed out before), an exact amount of one
-- token, an expiry and the merchant's reference (unique per merchant: a
-- repeated create with the same body answers the invoice it made; the body's
-- SHA-256 tells). The id carries 128 random bits (inv_ + 22 base64url
-- characters): the hosted checkout page is reached by it alone.
-- amount and amount_raw: token units and base units, both exact.
CREATE TABLE invoices (
    id             text          PRIMARY KEY CHECK (id ~ '^inv_[A-Za-z0-9_-]{22}$'),
    merchant_id    text          NOT NULL REFERENCES merchants (id),
    reference      text          NOT NULL CHECK (length(reference) BETWEEN 1 AND 128),
    request_sha256 text          NOT NULL CHECK (request_sha256 ~ '^[0-9a-f]{64}$'),
    chain          text          NOT NULL,
    chain_family   text          NOT NULL,
    token_address  text          NOT NULL,
    token_symbol   text          NOT NULL,
    decimals       int           NOT NULL CHECK (decimals BETWEEN 0 AND 77),
    amount_raw     numeric(78,0) NOT NULL CHECK (amount_raw > 0),
    amount         numeric       NOT NULL CHECK (amount > 0),
    address        text          NOT NULL,   -- the stored form (payments.to_address)
    address_shown  text          NOT NULL,   -- as a payer writes it (EIP-55, T...)
    hd_index       int           NOT NULL CHECK (hd_index >= 0),
    hd_path        text          NOT NULL,
    payment_uri    text,                     -- EIP-681 on EVM chains; null elsewhere
    status         text          NOT NULL DEFAULT 'new'
                                 CHECK (status IN ('new', 'processing', 'paid', 'expired', 'cancelled')),
    exception      text          CHECK (exception IN ('underpaid', 'overpaid', 'paid_late', 'multiple')),
    metadata       jsonb         NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at     timestamptz   NOT NULL DEFAULT now(),
    expires_at     timestamptz   NOT NULL,
    paid_at        timestamptz,
    cancelled_at   timestamptz,
    UNIQUE (merchant_id, reference),
    UNIQUE (chain, address)
);
CREATE INDEX invoices_by_merchant ON invoices (merchant_id, created_at DESC, id);
CREATE INDEX invoices_open_by_expiry ON invoices (expires_at) WHERE status IN ('new', 'processing');

-- INVOICE as the API answers it. amount_paid: confirmed payments of the
-- invoice's token to its address since it was created; amount_pending is
-- filled by the state machine (issue 15's next part).
CREATE FUNCTION paywatch_invoice_json(i invoices) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', i.id, 'merchant_id', i.merchant_id, 'reference', i.reference, 'chain', i.chain,
        'token', json_build_object('address', i.token_address, 'symbol', i.token_symbol, 'decimals', i.decimals),
        'amount', i.amount::text,
        'amount_paid', coalesce(trim_scale(p.paid), 0)::text,
        'amount_pending', '0',
        'address', i.address_shown, 'path', i.hd_path, 'payment_uri', i.payment_uri,
        'status', i.status, 'exception', i.exception,
        'created_at', to_char(i.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'expires_at', to_char(i.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'paid_at', to_char(i.paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'payments', coalesce(p.ids, '[]'::json),
        'metadata', i.metadata)
    FROM (SELECT sum(amount) AS paid, json_agg(id ORDER BY id) AS ids FROM payments
          WHERE chain = i.chain AND to_address = i.address AND token_address = i.token_address
          AND status = 'confirmed' AND inserted_at >= i.created_at) p
$$;
