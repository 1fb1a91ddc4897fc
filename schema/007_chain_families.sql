-- 007_chain_families.sql: payments and merchant addresses of more than one
-- chain family. Each row says how its identities are written
-- (chain_family), and the CHECKs become per family:
--   evm:  addresses 0x + 40 lowercase hex; block and tx hashes 0x + 64
--         lowercase hex (as before: the decode/encode round trip of 004);
--   tron: addresses Base58Check "T..." (34 characters of the Bitcoin
--         alphabet; paywatch verifies the checksum and the 0x41 prefix
--         before it writes); block and tx hashes 64 lowercase hex digits
--         without 0x, as TronGrid and Tron explorers show them.
-- Existing rows are EVM rows: the column's default says so, and their
-- values are not touched.

ALTER TABLE payments
    ADD COLUMN chain_family text NOT NULL DEFAULT 'evm' CONSTRAINT payments_chain_family_check
        CHECK (chain_family IN ('evm', 'tron'));

CREATE FUNCTION paywatch_hash_ok(family text, h text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE family
        WHEN 'evm' THEN length(h) = 66 AND h = '0x' || encode(decode(substr(h, 3), 'hex'), 'hex')
        WHEN 'tron' THEN length(h) = 64 AND h = encode(decode(h, 'hex'), 'hex')
        ELSE false
    END
$$;

CREATE FUNCTION paywatch_address_ok(family text, a text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE family
        WHEN 'evm' THEN length(a) = 42 AND a = '0x' || encode(decode(substr(a, 3), 'hex'), 'hex')
        WHEN 'tron' THEN length(a) = 34 AND left(a, 1) = 'T'
            AND translate(a, '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz', '') = ''
        ELSE false
    END
$$;

ALTER TABLE payments
    DROP CONSTRAINT payments_block_hash_check,
    DROP CONSTRAINT payments_tx_hash_check,
    DROP CONSTRAINT payments_token_address_check,
    DROP CONSTRAINT payments_from_address_check,
    DROP CONSTRAINT payments_to_address_check,
    ADD CONSTRAINT payments_block_hash_check CHECK (paywatch_hash_ok(chain_family, block_hash)),
    ADD CONSTRAINT payments_tx_hash_check CHECK (paywatch_hash_ok(chain_family, tx_hash)),
    ADD CONSTRAINT payments_token_address_check CHECK (paywatch_address_ok(chain_family, token_address)),
    ADD CONSTRAINT payments_from_address_check CHECK (paywatch_address_ok(chain_family, from_address)),
    ADD CONSTRAINT payments_to_address_check CHECK (paywatch_address_ok(chain_family, to_address));

ALTER TABLE merchant_addresses
    ADD COLUMN chain_family text NOT NULL DEFAULT 'evm' CONSTRAINT merchant_addresses_chain_family_check
        CHECK (chain_family IN ('evm', 'tron')),
    DROP CONSTRAINT merchant_addresses_address_check,
    ADD CONSTRAINT merchant_addresses_address_check CHECK (paywatch_address_ok(chain_family, address));
