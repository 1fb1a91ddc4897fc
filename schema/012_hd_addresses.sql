-- 012_hd_addresses.sql: deposit addresses derived from a merchant's
-- extended public key (BIP-32, public derivation only: no private key
-- ever reaches paywatch).
--
-- merchant_xpubs: a merchant's key, its path template (one '*'), the
-- chains it pays on and its gap limit. xpub_windows: per merchant and
-- chain, the highest index a payment went to (-1: none) and the next
-- index never handed out. The watched window is 0 .. max(highest_used +
-- gap_limit, next_index - 1); its derived addresses are rows of
-- merchant_addresses with hd_index set, written by whoever grows the
-- window (the xpub being set, a hand-out, a payment near its end), so
-- loading the registry needs no derivation.
--
-- merchant_addresses.xid: the transaction that wrote the row. A process
-- that loaded the registry under a snapshot whose xmin was X loads only
-- rows with xid >= X on the next INSERT notification (every transaction
-- that committed since had an xid >= X); other changes reload it whole.
-- The registry triggers now tell the operation in the payload.

ALTER TABLE merchant_addresses
    ADD COLUMN hd_index int CHECK (hd_index >= 0),
    ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX merchant_addresses_by_xid ON merchant_addresses (xid);
CREATE UNIQUE INDEX merchant_addresses_hd ON merchant_addresses (merchant_id, chain, hd_index) WHERE hd_index IS NOT NULL;

CREATE TABLE merchant_xpubs (
    merchant_id  text        PRIMARY KEY REFERENCES merchants (id) ON DELETE CASCADE,
    xpub         text        NOT NULL CHECK (xpub ~ '^[tx]pub[1-9A-HJ-NP-Za-km-z]{107,108}$'),
    fingerprint  text        NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{8}$'),  -- shown instead of the key
    path         text        NOT NULL CHECK (path ~ '^([0-9]{1,10}/)*\*(/[0-9]{1,10})*$'),
    chains       text[]      NOT NULL CHECK (cardinality(chains) BETWEEN 1 AND 16),
    gap_limit    int         NOT NULL CHECK (gap_limit BETWEEN 1 AND 1000),
    origin       text        NOT NULL DEFAULT 'config' CHECK (origin IN ('config', 'registry')),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE xpub_windows (
    merchant_id  text NOT NULL REFERENCES merchant_xpubs (merchant_id) ON DELETE CASCADE,
    chain        text NOT NULL,
    highest_used int  NOT NULL DEFAULT -1 CHECK (highest_used >= -1),
    next_index   int  NOT NULL DEFAULT 0 CHECK (next_index >= 0),
    PRIMARY KEY (merchant_id, chain)
);

CREATE OR REPLACE FUNCTION paywatch_registry_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paywatch_registry', TG_TABLE_NAME || ':' || TG_OP);
    RETURN NULL;
END
$$;

CREATE TRIGGER merchant_xpubs_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON merchant_xpubs
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
CREATE TRIGGER xpub_windows_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON xpub_windows
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();

-- address_rescans: the history of an address scanned again (an address
-- added with from_block, `paywatch addresses rescan`), done by a running
-- `paywatch run` of its chain with the replay machinery: blocks from_block
-- .. to_block, where to_block is the head when the address was first
-- matched live (every later block is matched with it). One at a time per
-- chain, under a lease; payments found get their events like any other.
CREATE TABLE address_rescans (
    id            bigserial   PRIMARY KEY,
    chain         text        NOT NULL,
    address       text        NOT NULL,
    merchant_id   text        NOT NULL,
    from_block    bigint      NOT NULL CHECK (from_block >= 0),
    to_block      bigint      CHECK (to_block >= 0),
    status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    locked_until  timestamptz,
    attempts      int         NOT NULL DEFAULT 0,
    found         int,
    inserted      int,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX address_rescans_pending ON address_rescans (chain, id) WHERE status = 'pending';

-- The registry's triggers fire only when rows changed (statement triggers
-- with transition tables: an upsert that changed nothing, as the config's
-- seeding at every start mostly is, wakes nobody), and only on what the
-- address sets depend on: addresses, xpubs, and merchants updated or
-- deleted (removed_at). Endpoints and windows' counters are read from
-- Postgres where they are used.
DROP TRIGGER merchants_changed ON merchants;
DROP TRIGGER merchant_addresses_changed ON merchant_addresses;
DROP TRIGGER webhook_endpoints_changed ON webhook_endpoints;
DROP TRIGGER merchant_xpubs_changed ON merchant_xpubs;
DROP TRIGGER xpub_windows_changed ON xpub_windows;

CREATE OR REPLACE FUNCTION paywatch_registry_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' OR EXISTS (SELECT 1 FROM changed) THEN
        PERFORM pg_notify('paywatch_registry', TG_TABLE_NAME || ':' || TG_OP);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER merchants_updated AFTER UPDATE ON merchants REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
CREATE TRIGGER merchants_deleted AFTER DELETE ON merchants REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
CREATE TRIGGER merchant_addresses_inserted AFTER INSERT ON merchant_addresses REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
CREATE TRIGGER merchant_addresses_updated AFTER UPDATE ON merchant_addresses REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
CREATE TRIGGER merchant_addresses_deleted AFTER DELETE ON merchant_addresses REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
CREATE TRIGGER merchant_xpubs_inserted AFTER INSERT ON merchant_xpubs REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
CREATE TRIGGER merchant_xpubs_updated AFTER UPDATE ON merchant_xpubs REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
CREATE TRIGGER merchant_xpubs_deleted AFTER DELETE ON merchant_xpubs REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
