-- 023_deliveries_failed_index.sql: the deliveries' index by status keeps
-- the failed ones alone (issue 16).
--
-- 003's webhook_deliveries_by_status (status, created_at) held every
-- delivery: an entry written with each new delivery, and another with
-- each change of its status (a delivered row is a new version of it, and
-- the status is indexed, so no such update is HOT: every index takes an
-- entry). Nothing needs the pending or delivered ones through it: the
-- pending are found through webhook_deliveries_due (partial, pending
-- only), the delivered are most of the table and are read by id or by
-- event. What looks deliveries up by status is after the failed ones:
-- `webhooks redeliver` of every failed delivery, `webhooks list --status
-- failed` and the API's list of failed deliveries, and the dispatcher's
-- gauges (failed ones per endpoint, beside the due ones through _due: the
-- gauges' statement counts each through its own partial index, sinks/
-- webhook.c gauges_sql). Failed deliveries are few (a delivery fails for
-- good after its retries), so the index keeps them alone, by endpoint: a
-- backfill with webhooks on writes one index entry fewer per delivery,
-- and a dispatcher one fewer per delivered attempt.
--
-- Upgrading: the new index is built from the table while this migration
-- holds it (a scan of webhook_deliveries, as any CREATE INDEX); the old
-- one is dropped.

CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (endpoint_id, created_at) WHERE status = 'failed';
DROP INDEX webhook_deliveries_by_status;
