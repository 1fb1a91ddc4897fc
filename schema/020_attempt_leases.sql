-- 020_attempt_leases.sql: each attempt row keeps the lease its delivery
-- was sent under (issue 16). A lease is set by one claim and names one
-- attempt. A dispatcher whose connection was lost while it wrote its
-- outcomes cannot tell a write Postgres never committed from one whose
-- answer alone was lost, so it writes them again once it is back; with the
-- lease, that second write skips the attempts already recorded instead of
-- recording one request twice. Rows written before this migration have no
-- lease (NULL). A column without a default: no rewrite of the table.
ALTER TABLE webhook_attempts ADD COLUMN lease timestamptz;
