// claim_explain.mjs: EXPLAIN (ANALYZE, BUFFERS) of the dispatcher's claim
// (read from sinks/webhook.c) as the dispatcher runs it: a prepared
// statement past its first executions (the generic plan), on a throwaway
// Postgres with every migration and ENDPOINTS x PER pending deliveries.
// For profiling the claim before changing it (issue 16); not a test.
//
// usage: node bench/claim_explain.mjs [ENDPOINTS] [PER]
import * as rig from '../tests/e2e/lib/rig.mjs';
import fs from 'node:fs';
const src = fs.readFileSync(new URL('../sinks/webhook.c', import.meta.url), 'utf8');
const m = src.match(/static const char claim_sql\[\] =\n([\s\S]*?);\n/);
const sql = m[1].split('\n').map((l) => l.trim().replace(/^"/, '').replace(/"$/, '')).join('').replace(/\\"/g, '"');
const pg = await rig.startPostgres();
const c = await pg.client();
for (const f of fs.readdirSync(new URL('../schema/', import.meta.url)).sort()) await c.query(fs.readFileSync(new URL('../schema/' + f, import.meta.url), 'utf8'));
const E = Number(process.argv[2] || 1000), PER = Number(process.argv[3] || 10);
await c.query(`INSERT INTO merchants (id) SELECT 'm' || g FROM generate_series(0, ${E - 1}) g`);
await c.query(`INSERT INTO webhook_endpoints (merchant_id, key, url, events, origin) SELECT 'm' || g, 'default', 'http://x/' || g, '{payment.confirmed}', 'config' FROM generate_series(0, ${E - 1}) g`);
await c.query(`INSERT INTO webhook_events (id, type, merchant_id, payload) SELECT 'evt_' || e || '_' || k, 'payment.confirmed', 'm' || e, '{}' FROM generate_series(0, ${E - 1}) e, generate_series(1, ${PER}) k`);
await c.query(`INSERT INTO webhook_deliveries (event_id, endpoint_id) SELECT ev.id, ep.id FROM webhook_events ev JOIN webhook_endpoints ep ON ep.merchant_id = ev.merchant_id`);
await c.query('VACUUM ANALYZE');
await c.query(`PREPARE cl(int,int,int,bigint) AS ${sql}`);
await c.query('BEGIN');
for (let i = 0; i < 6; i++) await c.query(`EXPLAIN ANALYZE EXECUTE cl(4, 64, 12, ${i * 37})`);
const r = await c.query(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE cl(4, 64, 12, 500)`);
console.log(r.rows.map((x) => x['QUERY PLAN']).join('\n'));
await c.query('ROLLBACK');
await c.end();
await rig.cleanupAll();
