-- 019_tx_hash_hash_index.sql: the index by transaction hash as a hash
-- index (issue 16). A payment is looked up by its transaction only for
-- equality (the API's tx_hash filter); no query orders or ranges on it.
-- As a btree it held every 66-character hash whole (12.4 MB for 100,000
-- payments), each inserted at a random place: perf of a COPY of 100,000
-- payments put two thirds of Postgres's time in index inserts. A hash
-- index keeps a 4-byte hash code per row (4.8 MB; crash-safe and
-- replicated since Postgres 10): the same COPY takes 0.86-0.91x the time
-- of the btree's (bench/copy_probe.mjs, 6 alternating rounds). Every
-- writer of payments pays this index: backfill, replay and live batches.
-- The rebuild holds an exclusive lock on payments while it runs.
DROP INDEX payments_by_tx_hash;
CREATE INDEX payments_by_tx_hash ON payments USING hash (tx_hash);
