-- 015_reports.sql: settlement and payments reports (issue 15) select a
-- merchant's payments by the UTC day of their block time.
CREATE INDEX payments_by_merchant_block_time ON payments (merchant_id, block_time, id);
