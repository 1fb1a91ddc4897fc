-- 008_api_pages.sql: the HTTP API pages payments by (confirmed_at, id),
-- newest first or oldest first, for all merchants (admin keys) or one
-- (merchant keys and merchant_id=): an index for each, so a page is an
-- index range scan however many payments the table holds. The merchant
-- one takes the place of 001's (merchant_id, block_time DESC), which no
-- query of paywatch used: every index costs each COPY of a backfill
-- (two more raised Postgres's CPU in the benchmark's backfill by ~30 %).
CREATE INDEX payments_by_confirmed ON payments (confirmed_at, id);
CREATE INDEX payments_by_merchant_confirmed ON payments (merchant_id, confirmed_at, id);
DROP INDEX payments_by_merchant_time;
