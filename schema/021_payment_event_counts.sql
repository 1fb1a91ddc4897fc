-- 021_payment_event_counts.sql: a payment counts its own state changes
-- (issue 16). The key of a payment's n-th event of a type ("type" for the
-- first, "type#n" after: sinks/postgres.c) was found by counting the
-- payment's rows in event_feed, and the confirmed event a payment.reverted
-- event reverses by looking for the latest one there, both through
-- event_feed_by_payment: an index entry for every feed row, written for
-- every payment of a backfill and read only when a payment changes state
-- again (a reorg). A COPY of 100,000 feed rows took 0.6-0.7x the time
-- without it (psql, 5 alternating rounds); a backfill's feed COPYs 0.63x
-- of Postgres's time (bench/bench.mjs --pg-statements, against the build
-- before; bench/HISTORY.md, a thirty-seventh session).
--
-- Now the upsert that changes a payment's status counts the change on the
-- payment's row (times_confirmed, times_reverted: the n of its latest
-- event of each type), under the row's lock, in the same statement as the
-- event; and a payment's feed row says which confirmed event it reverses:
-- its id for a payment.reverted row, '' for none (a payment.confirmed row,
-- or the revert of a payment never confirmed). A payment's first row is
-- written confirmed once (the defaults), or reverted never confirmed (0,
-- 1: sinks/postgres.c's revert). Rows written by hand take the defaults.
ALTER TABLE payments ADD COLUMN times_confirmed integer NOT NULL DEFAULT 1,
                     ADD COLUMN times_reverted integer NOT NULL DEFAULT 0;
ALTER TABLE event_feed ADD COLUMN reverses text;

-- The history: payments whose events are not one confirmation, counted
-- from their feed rows (every payment has them since 010).
UPDATE payments p SET times_confirmed = c.confirmed, times_reverted = c.reverted
  FROM (SELECT payment_id, count(*) FILTER (WHERE type = 'payment.confirmed') AS confirmed,
               count(*) FILTER (WHERE type = 'payment.reverted') AS reverted
          FROM event_feed WHERE payment_id IS NOT NULL GROUP BY payment_id) c
 WHERE c.payment_id = p.id AND (c.confirmed, c.reverted) <> (1, 0);

-- Each payment.reverted row: the latest confirmed event before it, as the
-- feed computed it when read (its id, or for a first event the computed
-- one), '' for none
UPDATE event_feed f SET reverses = coalesce((
    SELECT coalesce(c.id, paywatch_event_id(p.chain_id, p.block_hash, p.log_index, c.type))
      FROM event_feed c
     WHERE c.payment_id = f.payment_id AND c.type = 'payment.confirmed' AND (c.xid, c.seq) < (f.xid, f.seq)
     ORDER BY c.xid DESC, c.seq DESC LIMIT 1), '')
  FROM payments p
 WHERE f.type = 'payment.reverted' AND p.id = f.payment_id;

DROP INDEX event_feed_by_payment;

-- A writer of a build before this migration counts nothing on the
-- payment's row: a payment it reverted or confirmed again would give its
-- next event the key of one already sent. Its feed rows leave `reverses`
-- NULL, so Postgres refuses them (a data error: the entries go to the
-- quarantine, for `paywatch quarantine retry` by this build) instead of
-- letting the counts fall behind. NOT VALID: the rows written before are
-- not held to it (their confirmed rows keep NULL, so VALIDATE CONSTRAINT
-- would fail: it is not meant to be validated); an invoice's rows
-- (payment_id NULL) neither.
ALTER TABLE event_feed ADD CONSTRAINT event_feed_reverses_given
    CHECK (payment_id IS NULL OR reverses IS NOT NULL) NOT VALID;
