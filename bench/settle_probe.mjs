// settle_probe.mjs: what a Postgres session's first payment to an invoice
// costs after a writer's row warm-up (issue 16, the live tail; sinks/
// postgres.c pg_sink_warm_up_rows). The settlement (schema/014) is
// PL/pgSQL, compiled and planned per session at its first call, and the
// payments' trigger calls it only for a payment to an invoice's address.
// A throwaway Postgres with every migration; per round, two sessions, each
// warmed up as a writer is and then writing two payments to two invoices
// (an INSERT each; the settlement runs in the statement's trigger):
//   "no invoice": warmed by a rolled-back payment to no invoice (the row
//                 warm-up before the twenty-second session);
//   "invoice":    warmed by a rolled-back payment to an invoice made for
//                 it in the same transaction (the row warm-up since).
// "first" and "second" are each session's two invoice payments.
// Milliseconds per payment; for profiling, not a test.
//
// usage: USAGE below (node bench/settle_probe.mjs --help)
import * as rig from '../tests/e2e/lib/rig.mjs';
import fs from 'node:fs';
import { readArgs, wholeNumber } from './lib/args.mjs';
import { median } from './lib/stats.mjs';

const USAGE = 'usage: node bench/settle_probe.mjs [ROUNDS]   (default 8)';
const ROUNDS = wholeNumber(USAGE, 'ROUNDS', readArgs(USAGE, {}, { positionals: 1 }).positionals[0], 8);

const pg = await rig.startPostgres();
const c0 = await pg.client();
for (const f of fs.readdirSync(new URL('../schema/', import.meta.url)).sort()) await c0.query(fs.readFileSync(new URL('../schema/' + f, import.meta.url), 'utf8'));
await c0.query(`INSERT INTO merchants (id) VALUES ('m')`);
const TOKEN = '0x' + '11'.repeat(20);
const addr = (n) => '0x' + n.toString(16).padStart(40, '0');
let invoices = 0, hashes = 0;
const invoice = (c, address) => c.query(`INSERT INTO invoices (id, merchant_id, reference, request_sha256, chain, chain_family,
    token_address, token_symbol, decimals, amount_raw, amount, address, address_shown, hd_index, hd_path, expires_at)
  VALUES ($1, 'm', $1, repeat('0', 64), 'local', 'evm', $2, 'USDC', 6, 1000000, 1, $3, $3, $4, 'm/0', now() + interval '1 hour')`,
['inv_' + String(++invoices).padStart(22, '0'), TOKEN, address, invoices]);
const pay = (c, to) => c.query(`INSERT INTO payments (chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index,
    token_address, token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount, status, confirmations, confirmed_at)
  VALUES ('local', 31337, 1, $1, now(), $1, 0, $2, 'USDC', $3, $4, 'm', 1000000, 6, 1, 'confirmed', 1, now())`,
['0x' + (++hashes).toString(16).padStart(64, '0'), TOKEN, addr(3), to]);
const timed = async (fn) => { const t0 = performance.now(); await fn(); return performance.now() - t0; };

const res = { 'no invoice': { first: [], second: [] }, invoice: { first: [], second: [] } };
let next = 1000;
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of Object.keys(res)) {
    const paid = [addr(next++), addr(next++)];
    for (const a of paid) await invoice(c0, a);
    const c = await pg.client();
    await c.query('SET plan_cache_mode = force_generic_plan'); // as pg_sink_warm_up sets it
    await c.query('BEGIN');
    const warm = addr(next++);
    if (mode === 'invoice') await invoice(c, warm);
    await pay(c, warm);
    await c.query('ROLLBACK');
    res[mode].first.push(await timed(() => pay(c, paid[0])));
    res[mode].second.push(await timed(() => pay(c, paid[1])));
    await c.end();
  }
}
for (const [mode, x] of Object.entries(res))
  console.log(`warmed by a payment to ${mode === 'invoice' ? 'an invoice' : 'no invoice'}: the first invoice payment ` +
    `${median(x.first).toFixed(2)} ms (${x.first.map((v) => v.toFixed(1)).join(' ')}), the second ${median(x.second).toFixed(2)} ms ` +
    `(medians of ${ROUNDS})`);
await c0.end();
await rig.cleanupAll();
