-- 016_deliveries_fillfactor.sql: the dispatcher's claim (issue 16) leases a
-- delivery by setting locked_until, a column no index holds: with room
-- left on the page, that update is a heap-only tuple (HOT) update, with no
-- new index entries. 70 % fill leaves the room on the pages written from
-- now on (a table that exists keeps its pages until it is rewritten).
ALTER TABLE webhook_deliveries SET (fillfactor = 70);
