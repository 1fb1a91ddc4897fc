// payload_probe.mjs: what making a payment event's body costs Postgres
// (issue 16; for profiling before changing it, not a test). A throwaway
// Postgres with every migration and N synthetic payments (50 per block,
// 50 merchants, random hashes); per round, the body of every payment made
// by the schema's paywatch_event_payload and by 003's (JSON built by
// json_build_object, its nulls then dropped by json_strip_nulls, which
// parses the text again: the function before 022, declared again from
// schema/003_webhooks.sql under another name), the two orders
// alternating, each in one statement whose time is printed. Before
// timing, it checks that both make the same bytes for every payment (and
// exits 1 if not): 022 must not change a body (e2e_sink checks the same
// over harder values).
//
// usage: USAGE below (node bench/payload_probe.mjs --help)
import * as rig from '../tests/e2e/lib/rig.mjs';
import fs from 'node:fs';
import { readArgs, wholeNumber } from './lib/args.mjs';
import { median } from './lib/stats.mjs';

const USAGE = 'usage: node bench/payload_probe.mjs [N] [ROUNDS]   (defaults 100000, 4)';
const { positionals: pos } = readArgs(USAGE, {}, { positionals: 2 });
const N = wholeNumber(USAGE, 'N', pos[0], 100000), ROUNDS = wholeNumber(USAGE, 'ROUNDS', pos[1], 4);

const pg = await rig.startPostgres();
const c = await pg.client();
for (const f of fs.readdirSync(new URL('../schema/', import.meta.url)).sort())
  await c.query(fs.readFileSync(new URL('../schema/' + f, import.meta.url), 'utf8'));
await c.query(`INSERT INTO merchants (id) SELECT 'm' || g FROM generate_series(0, 49) g`);
const hex = (seed, chars) => `substr(md5('a' || ${seed}) || md5('b' || ${seed}), 1, ${chars})`;
await c.query(`INSERT INTO payments (chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index, token_address,
  token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount, status, confirmations, confirmed_at, chain_family)
  SELECT 'local', 31337, g / 50, '0x' || ${hex("'blk' || g / 50", 64)}, to_timestamp(1700000000 + g / 50), '0x' || ${hex("'tx' || g", 64)},
  g % 50, '0x5fbdb2315678afecb367f032d93f642f64180aa3', 'USDC', '0x' || ${hex("'from' || g", 40)}, '0x' || ${hex("'to' || g % 1000", 40)},
  'm' || (g % 50), (g::numeric * 1000003 + 1) * 1000000000000, 6, (g::numeric * 1000003 + 1) * 1000000, 'confirmed', 1,
  to_timestamp(1700000000 + g / 5000), 'evm' FROM generate_series(0, ${N - 1}) g`);
await c.query('VACUUM ANALYZE payments');

const ARGS = 'p.id, p.chain, p.chain_id, p.block_number, p.block_hash, p.block_time, p.tx_hash, p.log_index, p.token_address, ' +
  'p.token_symbol, p.decimals, p.from_address, p.to_address, p.amount, p.amount_raw, p.confirmations, p.merchant_id, p.status';
// 003's function as that migration declares it, declared again under another name
const sql003 = fs.readFileSync(new URL('../schema/003_webhooks.sql', import.meta.url), 'utf8');
const def003 = sql003.match(/CREATE FUNCTION paywatch_event_payload\([\s\S]*?\n\$\$;/);
if (!def003) throw new Error('payload_probe: schema/003_webhooks.sql declares no paywatch_event_payload');
await c.query(def003[0].replace('paywatch_event_payload', 'paywatch_event_payload_003'));
const BODIES = {
  schema: `paywatch_event_payload('payment.confirmed', ${ARGS}, NULL)`,
  '003': `paywatch_event_payload_003('payment.confirmed', ${ARGS}, NULL)`,
};
const differ = (await c.query(`SELECT count(*)::int AS n FROM payments p WHERE ${BODIES.schema} IS DISTINCT FROM ${BODIES['003']}`)).rows[0].n;
if (differ) {
  console.error(`payload_probe: the schema's body differs from 003's for ${differ} of ${N} payments`);
  process.exit(1);
}
const ms = { schema: [], '003': [] };
for (let r = 0; r < ROUNDS; r++)
  for (const k of r % 2 ? ['003', 'schema'] : ['schema', '003']) {
    const t0 = performance.now();
    await c.query(`SELECT count(${BODIES[k]}) FROM payments p`);
    ms[k].push(performance.now() - t0);
  }
const fmt = (xs) => xs.map((x) => (x / 1000).toFixed(2)).join(' ');
console.log(`${N} bodies, the same bytes from both; per round, s:`);
for (const k of ['schema', '003']) console.log(`  ${k.padEnd(6)} ${fmt(ms[k])}`);
const ratios = ms.schema.map((x, i) => x / ms['003'][i]);
console.log(`ratio schema / 003 per round: ${ratios.map((x) => x.toFixed(2)).join(' ')} (median ${median(ratios).toFixed(2)})`);
await c.end();
await rig.cleanupAll();
