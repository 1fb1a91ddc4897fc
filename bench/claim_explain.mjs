// claim_explain.mjs: EXPLAIN (ANALYZE, BUFFERS) of the dispatcher's claim
// and flush (read from sinks/webhook.c) as the dispatcher runs them:
// prepared statements past their first executions (the generic plans), on
// a throwaway Postgres with every migration and ENDPOINTS x PER pending
// deliveries. The flush writes FLUSH outcomes, all delivered (a drain's
// flush holds about 20). For profiling before changing either statement
// (issue 16); not a test.
//
// usage: USAGE below (node bench/claim_explain.mjs --help)
import * as rig from '../tests/e2e/lib/rig.mjs';
import { cStatement } from '../tests/e2e/lib/csource.mjs';
import fs from 'node:fs';
import { readArgs, wholeNumber } from './lib/args.mjs';

const USAGE = 'usage: node bench/claim_explain.mjs [ENDPOINTS] [PER] [FLUSH]   (defaults 1000, 10, 22)';
const { positionals: pos } = readArgs(USAGE, {}, { positionals: 3 });
const E = wholeNumber(USAGE, 'ENDPOINTS', pos[0], 1000);
const PER = wholeNumber(USAGE, 'PER', pos[1], 10);
const FLUSH = wholeNumber(USAGE, 'FLUSH', pos[2], 22);
const statement = (name) => cStatement('sinks/webhook.c', name);
const pg = await rig.startPostgres();
const c = await pg.client();
for (const f of fs.readdirSync(new URL('../schema/', import.meta.url)).sort()) await c.query(fs.readFileSync(new URL('../schema/' + f, import.meta.url), 'utf8'));
await c.query(`INSERT INTO merchants (id) SELECT 'm' || g FROM generate_series(0, ${E - 1}) g`);
await c.query(`INSERT INTO webhook_endpoints (merchant_id, key, url, events, origin) SELECT 'm' || g, 'default', 'http://x/' || g, '{payment.confirmed}', 'config' FROM generate_series(0, ${E - 1}) g`);
await c.query(`INSERT INTO webhook_events (id, type, merchant_id, payload) SELECT 'evt_' || e || '_' || k, 'payment.confirmed', 'm' || e, '{}' FROM generate_series(0, ${E - 1}) e, generate_series(1, ${PER}) k`);
await c.query(`INSERT INTO webhook_deliveries (event_id, endpoint_id) SELECT ev.id, ep.id FROM webhook_events ev JOIN webhook_endpoints ep ON ep.merchant_id = ev.merchant_id`);
await c.query('VACUUM ANALYZE');
const plan = async (sql) => (await c.query(sql)).rows.map((x) => x['QUERY PLAN']).join('\n');

await c.query(`PREPARE cl(int,int,int,bigint,bigint[]) AS ${statement('claim_sql')}`);
// Six executions make Postgres switch to the generic plan; each is rolled
// back, so the one explained claims from the same deliveries (with few
// endpoints, six claims would otherwise fill every endpoint's in-flight
// limit and leave the seventh nothing to claim).
const warmUp = async (sql) => {
  for (let i = 0; i < 6; i++) {
    await c.query('SAVEPOINT w');
    await c.query(sql(i));
    await c.query('ROLLBACK TO SAVEPOINT w');
  }
};
await c.query('BEGIN');
await warmUp((i) => `EXPLAIN ANALYZE EXECUTE cl(4, 64, 12, ${i * 37}, '{}')`);
console.log(`-- claim of 64 (${E} endpoints x ${PER})\n` + await plan("EXPLAIN (ANALYZE, BUFFERS) EXECUTE cl(4, 64, 12, 500, '{}')"));
// a plan of a statement that did nothing would say nothing: fail instead
const one = async (sql) => Number((await c.query(sql)).rows[0].n);
const claimed = await one('SELECT count(*) AS n FROM webhook_deliveries WHERE locked_until > now()');
if (claimed !== Math.min(64, E * Math.min(4, PER))) throw new Error(`the claim leased ${claimed} deliveries`);
await c.query('ROLLBACK');

// outcomes of deliveries first..first+FLUSH-1, as finish_flush passes them
const outcomes = (first) => {
  const ids = Array.from({ length: FLUSH }, (_, k) => first + k);
  const eps = (xs) => `'{${xs.map((id) => 1 + Math.floor((id - 1) / PER)).join(',')}}'`;
  return [`'{${ids}}'`, eps(ids), `'{${ids.map(() => 200)}}'`, `'{${ids.map(() => 3)}}'`,
    `'{${ids.map(() => 'NULL')}}'`, `'{${ids.map(() => 'delivered')}}'`, `'{${ids.map(() => 0)}}'`,
    `'{${ids.map(() => `"${LEASE}"`)}}'`].join(', ');
};
// the leases the claim set: the flush moves a delivery on only while its
// lease is the one passed (sixth session)
const LEASE = '2030-01-01 00:00:00+00';
await c.query(`PREPARE fl(bigint[],bigint[],int[],int[],text[],text[],float8[],timestamptz[]) AS ${statement('flush_sql')}`);
// committed before the flush, as the claim's is: a row updated in the
// flush's own transaction would have its foreign keys checked again
await c.query(`UPDATE webhook_deliveries SET locked_until = '${LEASE}'`);
await c.query('VACUUM webhook_deliveries');
await c.query('BEGIN');
await warmUp(() => `EXPLAIN ANALYZE EXECUTE fl(${outcomes(1)})`);
console.log(`\n-- flush of ${FLUSH} outcomes\n` + await plan(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE fl(${outcomes(1)})`));
const recorded = await one('SELECT count(*) AS n FROM webhook_attempts');
const delivered = await one("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'delivered'");
if (recorded !== FLUSH || delivered !== FLUSH) throw new Error(`the flush recorded ${recorded} attempts, ${delivered} delivered`);
await c.query('ROLLBACK');
await c.end();
await rig.cleanupAll();
