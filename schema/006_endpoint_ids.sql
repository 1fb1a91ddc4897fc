-- 006_endpoint_ids.sql: webhook endpoints are known by a stable id from
-- the config, (merchant_id, key), never by their URL: a URL often carries
-- credentials (user info, a token in the path or query), and changing it
-- (a rotated token) must keep the endpoint's deliveries. `url` keeps only
-- scheme://host:port for operators; the dispatcher takes the full URL from
-- the config by the id.
-- Rows written before this migration hold a full URL: it is replaced by
-- its scheme://host:port now, and its SHA-256 is kept in url_sha256 only
-- until the next `paywatch run` or `dispatch` adopts the row for the
-- config endpoint with that URL (then the hash is cleared).

ALTER TABLE webhook_endpoints
    ADD COLUMN key text,
    ADD COLUMN url_sha256 text,
    DROP CONSTRAINT webhook_endpoints_merchant_id_url_key;

UPDATE webhook_endpoints SET
    url_sha256 = encode(sha256(convert_to(url, 'UTF8')), 'hex'),
    url = coalesce(
        substring(url FROM '^([a-zA-Z][a-zA-Z0-9+.-]*://)') ||
        regexp_replace(substring(url FROM '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*)'), '^.*@', ''),
        '(hidden)');

ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_merchant_key UNIQUE (merchant_id, key);
