// warm_probe.mjs: what a fresh Postgres backend's first write of a
// payment costs, cold and after a warm-up of COPYs of no rows (issue 16:
// the live tail's first payments; sinks/postgres.c pg_sink_warm_up). A
// throwaway Postgres with every migration; per round, a new connection
// writes one payment and its feed row (BEGIN, two COPYs, COMMIT) twice:
// "cold" straight away, "warmed" after a rolled-back transaction of the
// same two COPYs with no rows; "second" is every connection's second
// write. Milliseconds per write; for profiling, not a test.
//
// usage: USAGE below (node bench/warm_probe.mjs --help)
import * as rig from '../tests/e2e/lib/rig.mjs';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { readArgs, wholeNumber } from './lib/args.mjs';

const USAGE = 'usage: node bench/warm_probe.mjs [ROUNDS]   (default 8)';
const ROUNDS = wholeNumber(USAGE, 'ROUNDS', readArgs(USAGE, {}, { positionals: 1 }).positionals[0], 8);
// pg-copy-streams: the hand-written script's (bench/peers/script: npm ci there)
const require = createRequire(new URL('./peers/script/package.json', import.meta.url));
const { from: copyFrom } = require('pg-copy-streams');
const pg = await rig.startPostgres();
const c0 = await pg.client();
for (const f of fs.readdirSync(new URL('../schema/', import.meta.url)).sort()) await c0.query(fs.readFileSync(new URL('../schema/' + f, import.meta.url), 'utf8'));
await c0.query(`INSERT INTO merchants (id) VALUES ('m')`);
const COLS = 'id, chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index, token_address, token_symbol, ' +
  'from_address, to_address, merchant_id, amount_raw, decimals, amount, status, confirmations, confirmed_at, chain_family';
const h = (n) => '0x' + n.toString(16).padStart(64, '0');
const a = (n) => '0x' + n.toString(16).padStart(40, '0');
const row = (i) => [i, 'local', 31337, i, h(i), '2026-01-01 00:00:00+00', h(i + 1000), 0, a(1), 'USDC', a(2), a(3), 'm', 1000000, 6, '1', 'confirmed', 1, '2026-01-01 00:00:01+00', 'evm'].join('\t') + '\n';
async function copy(c, sql, text) {
  await new Promise((ok, ko) => { const s = c.query(copyFrom(sql)); s.on('finish', ok); s.on('error', ko); s.end(text); });
}
const res = { cold: [], warmed: [], second: [] };
let id = 1;
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of ['cold', 'warmed']) {
    const c = await pg.client();
    if (mode === 'warmed') {
      await c.query('BEGIN');
      await copy(c, `COPY payments (${COLS}) FROM STDIN`, '');
      await copy(c, `COPY event_feed (id, type, merchant_id, payment_id, reverses) FROM STDIN`, '');
      await c.query('ROLLBACK');
    }
    for (const k of ['first', 'second']) {
      const t0 = performance.now();
      await c.query('BEGIN');
      const i = id++;
      await copy(c, `COPY payments (${COLS}) FROM STDIN`, row(i));
      await copy(c, `COPY event_feed (id, type, merchant_id, payment_id, reverses) FROM STDIN`, `${i}\tpayment.confirmed\tm\t${i}\t\n`);
      await c.query('COMMIT');
      const ms = performance.now() - t0;
      (k === 'first' ? res[mode] : res.second).push(ms);
    }
    await c.end();
  }
}
for (const k of Object.keys(res)) console.log(`${k}: ${res[k].map((x) => x.toFixed(1)).join(' ')} ms`);
await c0.end();
await rig.cleanupAll();
