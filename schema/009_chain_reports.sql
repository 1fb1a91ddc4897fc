-- 009_chain_reports.sql: where each chain stands, published by
-- `paywatch run` every second (the figures `paywatch status --json` prints
-- from run's RocksDB), so that an API served by any process on any host
-- (`paywatch serve`) can answer /v1/chains and /readyz. updated_at tells
-- how fresh it is: a report that stops moving means run is not running.
CREATE TABLE chain_reports (
    chain      text PRIMARY KEY,
    report     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
