-- 018_identity_columns_collate_c.sql: hashes and addresses compared as
-- bytes (issue 16). These columns hold lowercase hex (EVM) or base58 /
-- hex (Tron) text: an identity, never a word. Under the database's
-- default collation every comparison of them (the payment identity's
-- unique index, the indexes by recipient and by transaction, the
-- identity CHECKs' equalities) goes through the locale's strcoll; in a
-- cluster made with en_US.UTF-8 (the official postgres image's, and
-- docker-compose.yml's) that made a COPY of 100,000 payments 1.3x slower
-- than the same columns with COLLATE "C" (bench/bench.mjs --pg-locale).
-- Equality is the same under both (every collation here is
-- deterministic); only an ORDER BY of these columns can change: the
-- registry's address pages (chain, address) now go in byte order, which
-- puts a Tron address's uppercase letters before its lowercase ones.
--
-- Every table holding such a column changes together, so a comparison
-- across tables (invoices.address = payments.to_address) is C on both
-- sides and each side's index serves it. No row is rewritten (text to
-- text is binary-compatible); the indexes on these columns are rebuilt,
-- which holds an exclusive lock on each table while it runs.

ALTER TABLE payments
    ALTER COLUMN block_hash TYPE text COLLATE "C",
    ALTER COLUMN tx_hash TYPE text COLLATE "C",
    ALTER COLUMN token_address TYPE text COLLATE "C",
    ALTER COLUMN from_address TYPE text COLLATE "C",
    ALTER COLUMN to_address TYPE text COLLATE "C";

ALTER TABLE pending_payments
    ALTER COLUMN block_hash TYPE text COLLATE "C",
    ALTER COLUMN tx_hash TYPE text COLLATE "C",
    ALTER COLUMN token_address TYPE text COLLATE "C",
    ALTER COLUMN to_address TYPE text COLLATE "C";

ALTER TABLE payment_quarantine
    ALTER COLUMN block_hash TYPE text COLLATE "C",
    ALTER COLUMN tx_hash TYPE text COLLATE "C";

ALTER TABLE merchant_addresses
    ALTER COLUMN address TYPE text COLLATE "C";

ALTER TABLE invoices
    ALTER COLUMN token_address TYPE text COLLATE "C",
    ALTER COLUMN address TYPE text COLLATE "C";

ALTER TABLE address_rescans
    ALTER COLUMN address TYPE text COLLATE "C";
