-- 001_init.sql: payments, merchants and their addresses.
-- A payment's identity is (chain_id, block_hash, log_index); amounts are
-- uint256 base units (numeric(78,0)) plus decimals, and the exact scaled
-- amount. Hashes and addresses are lowercase 0x-prefixed hex.

CREATE TABLE payments (
    id             bigserial PRIMARY KEY,
    chain          text        NOT NULL,
    chain_id       bigint      NOT NULL,
    block_number   bigint      NOT NULL CHECK (block_number >= 0),
    block_hash     text        NOT NULL CHECK (block_hash ~ '^0x[0-9a-f]{64}$'),
    block_time     timestamptz NOT NULL,
    tx_hash        text        NOT NULL CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
    log_index      int         NOT NULL CHECK (log_index >= 0),
    token_address  text        NOT NULL CHECK (token_address ~ '^0x[0-9a-f]{40}$'),
    token_symbol   text        NOT NULL,
    from_address   text        NOT NULL CHECK (from_address ~ '^0x[0-9a-f]{40}$'),
    to_address     text        NOT NULL CHECK (to_address ~ '^0x[0-9a-f]{40}$'),
    merchant_id    text        NOT NULL,
    amount_raw     numeric(78,0) NOT NULL CHECK (amount_raw > 0),
    decimals       int         NOT NULL CHECK (decimals BETWEEN 0 AND 77),
    amount         numeric     NOT NULL,
    status         text        NOT NULL CHECK (status IN ('confirmed', 'reverted')),
    confirmations  int         NOT NULL,
    confirmed_at   timestamptz NOT NULL,
    inserted_at    timestamptz NOT NULL DEFAULT now(),
    reverted_at    timestamptz,
    CONSTRAINT payments_identity UNIQUE (chain_id, block_hash, log_index)
);

CREATE INDEX payments_by_merchant_time ON payments (merchant_id, block_time DESC);
CREATE INDEX payments_by_to_address ON payments (to_address);
CREATE INDEX payments_by_tx_hash ON payments (tx_hash);
CREATE INDEX payments_by_chain_block ON payments (chain, block_number);

CREATE TABLE merchants (
    id          text PRIMARY KEY,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE merchant_addresses (
    chain        text NOT NULL,
    address      text NOT NULL CHECK (address ~ '^0x[0-9a-f]{40}$'),
    merchant_id  text NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    PRIMARY KEY (chain, address)
);
CREATE INDEX merchant_addresses_by_merchant ON merchant_addresses (merchant_id);
