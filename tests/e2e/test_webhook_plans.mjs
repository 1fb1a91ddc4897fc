// test_webhook_plans.mjs: the statements that look webhook deliveries up
// by status read the few they want through an index, never the whole
// table, on a real Postgres: a table of 60,000 deliveries, most delivered
// (as any table a while after its backfill), some pending, a few failed,
// written under the schema as 022 left it; then `paywatch migrate` (the
// real binary) applies 023 over it, as an upgrade does.
//   - 023_deliveries_failed_index.sql: the index by status holds the failed
//     deliveries alone (webhook_deliveries_failed, partial), every one the
//     table held before the migration, and 003's
//     webhook_deliveries_by_status, which held every delivery, is gone;
//   - the dispatcher's gauges (sinks/webhook.c gauges_sql) count each
//     endpoint's due and failed deliveries through _due and _failed: one
//     join with status IN ('pending', 'failed') matched neither partial
//     index and read every delivery at each count;
//   - `webhooks redeliver` of every failed delivery and `webhooks list
//     --status failed` (sinks/webhook_admin.c) read _failed;
//   - the dispatcher's claim (its generic plan, as a prepared statement
//     runs) reads _due.
// The statements are read from the C sources (lib/csource.mjs), so a
// change of one is explained here as it runs. EXPLAIN only: nothing runs.
import path from 'node:path';
import * as rig from './lib/rig.mjs';
import { cStatement } from './lib/csource.mjs';

const bin = process.argv[2];
const ENDPOINTS = 200, PER = 300; // 60,000 deliveries
const PENDING_EVERY = 250, FAILED_EVERY = 500; // 240 pending, 120 failed

// The plan's nodes that scan a relation, as "Kind on relation using index"
function scans(plan) {
  const out = [];
  const walk = (n) => {
    if (n['Relation Name'] || n['Index Name'])
      out.push(`${n['Node Type']} on ${n['Relation Name'] ?? '?'}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}`);
    for (const k of n.Plans || []) walk(k);
  };
  walk(plan[0].Plan);
  return out;
}

async function main() {
  const work = rig.workDir('pw-webhook-plans-');
  const pg = await rig.startPostgres();
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: 'ws://127.0.0.1:9', confirmations: 1,
      tokens: [{ symbol: 'USDC', address: '0x5fbdb2315678afecb367f032d93f642f64180aa3', decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: ['0x70997970c51812dc3a010c7d01b50e0d17dc79c8'] } }],
  });
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));

  // ---- the schema as 022 left it (each migration recorded as `migrate` records it)
  await rig.migrateBefore(db, '023');

  // ---- a table a while after its backfill
  await db.query(`INSERT INTO merchants (id) SELECT 'm' || g FROM generate_series(1, ${ENDPOINTS}) g`);
  await db.query(`INSERT INTO webhook_endpoints (merchant_id, key, url, events) SELECT 'm' || g, 'default',
    'http://127.0.0.1:9', '{payment.confirmed}' FROM generate_series(1, ${ENDPOINTS}) g`);
  await db.query(`INSERT INTO webhook_events (id, type, merchant_id, payload) SELECT 'evt_' || e || '_' || k,
    'payment.confirmed', 'm' || e, '{}' FROM generate_series(1, ${ENDPOINTS}) e, generate_series(1, ${PER}) k`);
  await db.query(`INSERT INTO webhook_deliveries (event_id, endpoint_id, status, attempts)
    SELECT ev.id, ep.id, s.status, 1 FROM webhook_events ev JOIN webhook_endpoints ep ON ep.merchant_id = ev.merchant_id,
    LATERAL (SELECT CASE WHEN hashtext(ev.id) % ${FAILED_EVERY} = 0 THEN 'failed'
      WHEN hashtext(ev.id) % ${PENDING_EVERY} = 1 THEN 'pending' ELSE 'delivered' END AS status) s`);
  const counts = Object.fromEntries((await db.query(`SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY 1`))
    .rows.map((x) => [x.status, x.n]));
  rig.check(counts.failed > 0 && counts.pending > 0 && counts.delivered > 50000, `the table: ${JSON.stringify(counts)}`);

  // ---- 023 over it, by the binary
  const r = rig.runPaywatchSync(bin, ['migrate', '-c', cfg]);
  const later = rig.migrations().filter((n) => n >= '023'); // 023 and any after it
  rig.check(r.status === 0 && r.stderr.includes(`${later.length} migration(s) applied`),
    `migrate applies ${later.join(', ')} (${r.stderr.trim().slice(-200)})`);
  await db.query('VACUUM ANALYZE');

  // ---- 023: the index by status keeps the failed deliveries alone, every one there before it
  const idx = Object.fromEntries((await db.query(`SELECT indexname, indexdef FROM pg_indexes
    WHERE tablename = 'webhook_deliveries'`)).rows.map((x) => [x.indexname, x.indexdef]));
  rig.check(/\(endpoint_id, created_at\) WHERE \(status = 'failed'::text\)$/.test(idx.webhook_deliveries_failed ?? ''),
    `webhook_deliveries_failed: the failed deliveries by endpoint (${idx.webhook_deliveries_failed})`);
  rig.check(!idx.webhook_deliveries_by_status, `003's index of every delivery by status is gone (${Object.keys(idx).join(', ')})`);
  await db.query('BEGIN');
  await db.query('SET LOCAL enable_seqscan = off');
  await db.query('SET LOCAL enable_bitmapscan = off');
  const countFailed = `SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'failed'`;
  const byIndex = JSON.stringify((await db.query(`EXPLAIN (FORMAT JSON) ${countFailed}`)).rows).includes('webhook_deliveries_failed');
  const through = (await db.query(countFailed)).rows[0].n;
  await db.query('COMMIT');
  rig.check(byIndex && through === counts.failed,
    `the index holds every failed delivery written before the migration (${through} of ${counts.failed}, read through it: ${byIndex})`);

  const explain = async (sql, params = []) => scans((await db.query(`EXPLAIN (FORMAT JSON) ${sql}`, params)).rows[0]['QUERY PLAN']);
  const wholeTable = (s) => s.some((x) => /^Seq Scan on webhook_deliveries/.test(x));
  const uses = (s, index) => s.some((x) => x.endsWith(`using ${index}`));

  // ---- the dispatcher's gauges: each count through its partial index
  let s = await explain(cStatement('sinks/webhook.c', 'gauges_sql'));
  rig.check(!wholeTable(s) && uses(s, 'webhook_deliveries_due') && uses(s, 'webhook_deliveries_failed'),
    `the gauges count the due and the failed deliveries through their indexes (${s.join('; ')})`);

  // ---- the operator's commands after the failed deliveries
  s = await explain(cStatement('sinks/webhook_admin.c', 'redeliver_sql'), [null, null]);
  rig.check(!wholeTable(s) && uses(s, 'webhook_deliveries_failed'),
    `webhooks redeliver (every failed delivery) reads webhook_deliveries_failed (${s.join('; ')})`);
  s = await explain(cStatement('sinks/webhook_admin.c', 'list_sql'), [null, 'failed', null, 1000]);
  rig.check(!wholeTable(s) && uses(s, 'webhook_deliveries_failed'),
    `webhooks list --status failed reads webhook_deliveries_failed (${s.join('; ')})`);

  // ---- the dispatcher's claim, as its prepared statement runs (the generic plan)
  await db.query('SET plan_cache_mode = force_generic_plan');
  await db.query(`PREPARE claim(int, int, int, bigint, bigint[]) AS ${cStatement('sinks/webhook.c', 'claim_sql')}`);
  s = await explain(`EXECUTE claim(4, 64, 12, 0, '{}')`);
  rig.check(!wholeTable(s) && uses(s, 'webhook_deliveries_due'), `the claim reads webhook_deliveries_due (${s.join('; ')})`);
}

rig.runTest('e2e_webhook_plans', main);
