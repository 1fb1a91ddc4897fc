-- 011_registry.sql: Postgres is the merchant registry. Merchants, their
-- addresses and webhook endpoints are added and removed while paywatch
-- runs (API, CLI); the config's `merchants` section seeds them at start.
--
-- origin: 'config' rows follow the config (the seeding at start adds,
-- changes and prunes them); 'registry' rows were added through the API or
-- the CLI and the seeding leaves them alone, unless the config names the
-- same row (then the config wins and the row becomes 'config').
--
-- Endpoints added through the API or the CLI keep their URL and signing
-- secret sealed (AES-256-GCM, common/secretbox.h): url_sealed and
-- secret_sealed, under the key named by key_id; `url` shows only
-- scheme://host:port, as for config endpoints. Postgres never holds a
-- secret in clear.
--
-- Every change NOTIFYs paywatch_registry (statement triggers), so each
-- running process reloads within a second; each also resyncs on a timer.

ALTER TABLE merchants
    ADD COLUMN origin text NOT NULL DEFAULT 'config' CHECK (origin IN ('config', 'registry')),
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN removed_at timestamptz;  -- removed: its addresses are gone and its endpoints inactive; its payments stay

ALTER TABLE merchant_addresses
    ADD COLUMN origin text NOT NULL DEFAULT 'config' CHECK (origin IN ('config', 'registry')),
    ADD COLUMN from_block bigint CHECK (from_block >= 0),
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

ALTER TABLE webhook_endpoints
    ADD COLUMN origin text NOT NULL DEFAULT 'config' CHECK (origin IN ('config', 'registry')),
    ADD COLUMN url_sealed text CHECK (url_sealed LIKE 'pw1:%'),
    ADD COLUMN secret_sealed text CHECK (secret_sealed LIKE 'pw1:%'),
    ADD COLUMN key_id text CHECK (key_id ~ '^[0-9a-f]{16}$'),
    ADD CONSTRAINT webhook_endpoints_sealed CHECK (origin = 'config'
        OR (url_sealed IS NOT NULL AND secret_sealed IS NOT NULL AND key_id IS NOT NULL));

CREATE FUNCTION paywatch_registry_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paywatch_registry', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER merchants_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON merchants
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
CREATE TRIGGER merchant_addresses_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON merchant_addresses
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
CREATE TRIGGER webhook_endpoints_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON webhook_endpoints
    FOR EACH STATEMENT EXECUTE FUNCTION paywatch_registry_changed();
