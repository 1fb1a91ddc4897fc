-- 016_claim_indexes.sql: the dispatcher's claim (issue 16). Each claim
-- counts the deliveries an endpoint has in flight (pending, under a
-- lease) before taking more: the partial index holds only those rows (a
-- finished or released delivery's lease is set back to NULL), so the count
-- costs one short index scan whatever the endpoint's backlog.
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (endpoint_id)
    WHERE status = 'pending' AND locked_until IS NOT NULL;
