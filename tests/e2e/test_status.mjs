// test_status.mjs: `paywatch status --json` read beside a running
// `paywatch run` (RocksDB opened read-only while run holds it), every
// field checked against the node, Postgres and the receiver:
//  1. lag in blocks and seconds mid-backfill; then at the head: head,
//     checkpoint, confirmed height, lag, pending payments, outbox,
//     endpoint in use, no reorg yet;
//  2. webhook endpoint figures (failed deliveries, last error) from a
//     receiver answering 500;
//  3. a reorg of depth 5 shows as the last reorg, and the confirmed payment
//     it orphans is reverted in Postgres;
//  4. Postgres down: the outbox fills and shows its depth and age, status
//     still prints the chain figures and exits 1 naming Postgres;
//  5. before any run, and bad arguments.
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const globex = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
const CONF = 3;

function status(cfg) {
  const r = rig.runPaywatchSync(bin, ['status', '-c', cfg, '--json']);
  let out = null;
  try { out = JSON.parse(r.stdout); } catch { /* checked by callers */ }
  return { code: r.status, out, raw: r.stdout + r.stderr };
}

async function main() {
  const work = rig.workDir('pw-status-');
  const [pg, node, recv] = await Promise.all([rig.startPostgres(), rig.startAnvil(), rig.startReceiver(work, { '/acme': SECRET })]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const cfgObj = {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: CONF,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [
      { id: 'acme', addresses: { local: [acme] }, webhook: { url: recv.base + '/acme/secret-token', secret: SECRET } },
      { id: 'globex', addresses: { local: [globex] } },
    ],
    webhooks: { allow_private_targets: true, retry_schedule_s: [0, 1] },
  };
  const cfg = rig.writeConfig(work, cfgObj);

  // ---- 5a. before any run: nothing indexed, said plainly
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const fresh = status(cfg);
  rig.check(fresh.code === 0 && fresh.out && fresh.out.chains[0].checkpoint === null && fresh.out.chains[0].head === null &&
    fresh.out.errors.some((e) => /has not started/.test(e)), `status before any run: ${fresh.raw.slice(0, 300)}`);

  await recv.control({ path: '/acme/secret-token', always: '500' });
  // ---- 1a. mid-backfill: 8,000 blocks 12 s apart, fetched two blocks per
  // request (4,000 ranges: seconds even in the release build, where 1,500
  // blocks once took 0.6 s, too short for a poll of status to catch)
  await node.rpc('anvil_mine', ['0x' + (8000).toString(16), '0xc']);
  cfgObj.chains[0].max_range = 2;
  cfgObj.chains[0].max_in_flight = 1;
  rig.writeConfig(work, cfgObj);
  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  let mid;
  await rig.waitFor('status mid-backfill', () => {
    mid = status(cfg).out;
    const m = mid && mid.chains[0];
    // the head's time comes with a header fetched beside the first ranges:
    // for that round trip the lag in seconds is unknown (null), then known
    return m && m.checkpoint !== null && m.head !== null && m.head - m.checkpoint > 300 && m.lag_seconds !== null;
  }, 30000, 20);
  const mc = mid.chains[0];
  const ts = async (n) => Number(BigInt((await node.rpc('eth_getBlockByNumber', ['0x' + n.toString(16), false])).timestamp));
  const wantLag = (await ts(mc.head)) - (await ts(mc.checkpoint));
  rig.check(mc.lag_blocks === mc.head - mc.checkpoint && mc.lag_seconds === wantLag,
    `lag mid-backfill: ${mc.lag_blocks} blocks, ${mc.lag_seconds} s (the blocks' timestamps say ${wantLag} s)`);
  const pay = async (to, amount) => node.receipt(await token.transfer(deployer, to, amount));
  for (let i = 0; i < 3; i++) await pay(acme, 1_000_000n + BigInt(i));
  await pay(globex, 5n);
  await node.mine(CONF);
  await pay(acme, 42n); // in the head block: pending for CONF - 1 more blocks
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const head = await node.head();
  let s;
  // settled: indexed to the head and the sink has written the outbox out
  await rig.waitFor('status to show the checkpoint at the head and an empty outbox', () => {
    s = status(cfg);
    return s.out && s.out.chains[0].checkpoint === head && s.out.chains[0].head === head && s.out.chains[0].outbox_depth === 0;
  }, 30000);
  const c = s.out.chains[0];

  // ---- 1. chain figures
  rig.check(s.code === 0, `status exits 0 (${s.code}: ${s.raw.slice(0, 300)})`);
  rig.check(c.name === 'local' && c.chain_id === 31337 && c.confirmations === CONF, 'chain name, id, rule');
  rig.check(c.confirmed_height === head - CONF + 1, `confirmed height ${c.confirmed_height} = head ${head} - ${CONF} + 1`);
  rig.check(c.lag_blocks === 0 && c.lag_seconds === 0, `no lag at the head (${c.lag_blocks} blocks, ${c.lag_seconds} s)`);
  const headBlock = await node.rpc('eth_getBlockByNumber', ['0x' + head.toString(16), false]);
  rig.check(c.head_time === new Date(Number(BigInt(headBlock.timestamp)) * 1000).toISOString().replace('.000Z', 'Z'),
    `head time is the head block's timestamp (${c.head_time} vs ${headBlock.timestamp}; ${JSON.stringify(c)})`);
  rig.check(c.pending_payments === 1, `one payment pending (${c.pending_payments})`);
  const rows = (await db.query(`SELECT count(*)::int AS n FROM payments`)).rows[0].n;
  rig.check(rows === 4, `the 4 confirmed payments are in Postgres (${rows})`);
  rig.check(c.outbox_depth === 0 && c.outbox_oldest_age_s === null, `outbox empty (${c.outbox_depth})`);
  rig.check(typeof c.endpoint === 'string' && c.endpoint.includes(`127.0.0.1:${node.port}`), `endpoint in use (${c.endpoint})`);
  rig.check(c.last_reorg === null, 'no reorg yet');
  rig.check(c.state_age_s >= 0 && c.state_age_s < 30, `run's record is fresh (${c.state_age_s} s)`);
  rig.check(c.finalized === null, 'no finalized block in confirmations mode');

  // ---- 2. webhook endpoint figures: 3 acme payments, each failed after 2 attempts of HTTP 500
  await rig.waitFor('deliveries to fail for good', async () =>
    (await db.query(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'failed'`)).rows[0].n === 3, 20000);
  s = status(cfg);
  const eps = s.out ? s.out.webhook_endpoints : [];
  const e = eps[0] || {};
  rig.check(eps.length === 1 && e.merchant_id === 'acme' && e.host === recv.base.slice(7) && e.active === true,
    `one endpoint, shown by host only (${JSON.stringify(e)})`);
  rig.check(!s.raw.includes('secret-token'), 'the endpoint path never appears');
  rig.check(e.failed === 3 && e.pending === 0 && e.due === 0 && e.delivered === 0, `3 failed, none due (${e.failed}/${e.pending}/${e.due})`);
  rig.check(/500/.test(e.last_error || '') && typeof e.last_error_at === 'string', `last error (${e.last_error} at ${e.last_error_at})`);
  const text = rig.runPaywatchSync(bin, ['status', '-c', cfg]);
  rig.check(text.status === 0 && /checkpoint +\d+/.test(text.stdout) && /webhook endpoints/.test(text.stdout) &&
    /acme +default +127\.0\.0\.1/.test(text.stdout), `text output: ${text.stdout.slice(0, 600)}`);

  // ---- 3. a reorg of depth 5: back past globex's payment of 5, confirmed
  // with 5 confirmations (>= 3), which must become reverted; replacement
  // transactions in the first two new blocks, so they are not re-mined identically
  const txTo = (to, v) => ({ from: deployer, to: token.address, gas: '0x30000',
    data: '0xa9059cbb' + to.slice(2).padStart(64, '0') + v.toString(16).padStart(64, '0') });
  await node.rpc('anvil_reorg', [5, [[txTo(globex, 11n), 0], [txTo(globex, 12n), 1]]]);
  await node.mine(1);
  await rig.waitFor('status to show the reorg', () => { s = status(cfg); return s.out && s.out.chains[0].last_reorg; }, 30000);
  const rg = s.out.chains[0].last_reorg;
  await rig.waitFor('the orphaned confirmed payment to be reverted', async () =>
    (await db.query(`SELECT status FROM payments WHERE amount_raw = 5`)).rows.map((r) => r.status).join() === 'reverted', 30000)
    .catch((e) => rig.check(false, e.message));
  rig.check((await db.query(`SELECT count(*)::int AS n FROM payments WHERE amount_raw = 5 AND reverted_at IS NOT NULL`)).rows[0].n === 1,
    'the orphaned confirmed payment is reverted (status and reverted_at)');
  rig.check(rg.depth === 5 && rg.reorgs_since_start === 1 && Math.abs(Date.parse(rg.at) - Date.now()) < 60000,
    `last reorg: depth ${rg.depth}, ${rg.reorgs_since_start} reorg(s), at ${rg.at}: ${pw.stderr.split("\n").filter((l) => /reorg/.test(l)).join(" / ")}`);

  // ---- 4. Postgres down: the outbox fills; status shows it and names Postgres
  await rig.waitFor('the reorg replacements to settle', () => { s = status(cfg); return s.out && s.out.chains[0].checkpoint === s.out.chains[0].head && s.out.chains[0].outbox_depth === 0; }, 30000);
  const rowsBefore = (await db.query(`SELECT count(*)::int AS n FROM payments WHERE status = 'confirmed'`)).rows[0].n;
  pg.stop('fast');
  await pay(acme, 7_000_000n);
  await node.mine(CONF);
  const settledHead = await node.head();
  await rig.waitFor('the outbox to hold the new payments', () => { s = status(cfg); return s.out && s.out.chains[0].outbox_depth >= 1 && s.out.chains[0].checkpoint === settledHead; }, 30000);
  await rig.waitFor('the oldest outbox entry to be 1 s old', () => { s = status(cfg); return s.out && s.out.chains[0].outbox_oldest_age_s >= 1; }, 30000);
  const d = s.out.chains[0];
  rig.check(s.code === 1 && s.out.errors.some((x) => /postgres/i.test(x)), `status exits 1 naming Postgres (${s.code}: ${s.out.errors})`);
  rig.check(d.outbox_depth >= 1 && d.outbox_oldest_age_s >= 1, `outbox depth ${d.outbox_depth}, oldest ${d.outbox_oldest_age_s} s`);
  rig.check(d.checkpoint === settledHead && d.lag_blocks === 0, 'the chain figures are still there');
  pg.start();
  await rig.waitFor('the outbox to drain', () => { s = status(cfg); return s.out && s.out.chains[0].outbox_depth === 0; }, 30000);
  rig.check(s.code === 0, `status exits 0 again (${s.code})`);
  const db2 = await pg.client();
  rig.onCleanup(() => db2.end().catch(() => {}));
  const rowsAfter = (await db2.query(`SELECT count(*)::int AS n FROM payments WHERE status = 'confirmed'`)).rows[0].n;
  // each payment left two entries: seen (pending_payments) and confirmed
  rig.check(2 * (rowsAfter - rowsBefore) === d.outbox_depth,
    `the outbox depth shown (${d.outbox_depth}) is what reached Postgres after: ${rowsAfter - rowsBefore} payment(s), each seen and confirmed`);
  pw.proc.kill('SIGTERM');
  const stopped = await pw.done;
  rig.check(stopped.code === 0, `run stops cleanly (${JSON.stringify(stopped)})`);

  // ---- 5b. bad arguments
  const bad = rig.runPaywatchSync(bin, ['status', '--bogus', '-c', cfg]);
  rig.check(bad.status === 2 && /unknown option/.test(bad.stderr), 'unknown option: exit 2');
  const none = rig.runPaywatchSync(bin, ['status']);
  rig.check(none.status === 2 && /missing -c FILE/.test(none.stderr), 'missing -c: exit 2');
  const help = rig.runPaywatchSync(bin, ['status', '--help']);
  rig.check(help.status === 0 && /read-only/.test(help.stdout), 'status --help');
}

rig.runTest('e2e_status', main);
