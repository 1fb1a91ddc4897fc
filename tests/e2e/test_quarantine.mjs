// test_quarantine.mjs: a poison pill never stops the outbox. Two chains
// (two anvils) in one `paywatch run`, one merchant with a webhook on both.
// A CHECK constraint added to the real Postgres by this test stands for any
// value Postgres refuses for a data reason (SQLSTATE 23514): a payment of
// 666 base units on chain A.
//  1. the poison is quarantined; every other payment of both chains, the
//     ones sent after it included, reaches Postgres and the outbox empties;
//     `status --json` and `quarantine list --json` show the entry;
//  2. the cause fixed, `quarantine retry --all` writes it with its webhook;
//  3. a failure that is no data reason (the payments table renamed away)
//     keeps the batch in the outbox and is retried with a backoff that
//     really backs off (new outbox entries do not cut it short), then
//     drains once the table is back.
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

function json(args) {
  const r = rig.runPaywatchSync(bin, args);
  let out = null;
  try { out = JSON.parse(r.stdout); } catch { /* checked by callers */ }
  return { code: r.status, out, raw: r.stdout + r.stderr };
}

async function main() {
  const work = rig.workDir('pw-quarantine-');
  const [pg, a, b, recv] = await Promise.all([rig.startPostgres(), rig.startAnvil(), rig.startAnvil(['--chain-id', '31338']),
    rig.startReceiver(work, { '/acme': SECRET })]);
  const deployer = a.accounts[0];
  const [ta, tb] = await Promise.all([
    rig.deployToken(a, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n }),
    rig.deployToken(b, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n })]);
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [
      { name: 'chain-a', kind: 'evm', chain_id: 31337, ws_url: a.ws, confirmations: 2,
        tokens: [{ symbol: 'USDC', address: ta.address, decimals: 6 }] },
      { name: 'chain-b', kind: 'evm', chain_id: 31338, ws_url: b.ws, confirmations: 2,
        tokens: [{ symbol: 'USDC', address: tb.address, decimals: 6 }] },
    ],
    merchants: [{ id: 'acme', addresses: { 'chain-a': [acme], 'chain-b': [acme] },
      webhook: { url: recv.base + '/acme', secret: SECRET } }],
    webhooks: { allow_private_targets: true },
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  await db.query('ALTER TABLE payments ADD CONSTRAINT test_poison CHECK (amount_raw <> 666)');

  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  const pay = async (node, token, amount) => node.receipt(await token.transfer(deployer, acme, amount));
  // ---- 1. the poison first, then payments on both chains
  await pay(a, ta, 1n);
  await pay(a, ta, 666n);
  for (let i = 2n; i <= 6n; i++) { await pay(a, ta, i); await pay(b, tb, 100n + i); }
  await a.mine(2);
  await b.mine(2);
  const want = 11; // 1..6 on chain A (and the poison), 102..106 on chain B
  await rig.waitFor('every payment but the poison in Postgres', async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n === want, 60000)
    .catch((e) => rig.check(false, e.message));
  const rows = (await db.query('SELECT chain, amount_raw::text AS a FROM payments ORDER BY chain, amount_raw')).rows
    .map((r) => `${r.chain}:${r.a}`).join(' ');
  rig.check(rows === 'chain-a:1 chain-a:2 chain-a:3 chain-a:4 chain-a:5 chain-a:6 chain-b:102 chain-b:103 chain-b:104 chain-b:105 chain-b:106',
    `both chains' payments are written, the ones after the poison too (${rows})`);
  let s;
  await rig.waitFor('status: outbox empty, one entry quarantined', () => {
    s = json(['status', '-c', cfg, '--json']);
    return s.out && s.out.chains.every((c) => c.outbox_depth === 0) && s.out.quarantine.count === 1;
  }, 60000).catch((e) => rig.check(false, `${e.message}: ${s && s.raw.slice(0, 400)}`));
  const ca = s.out ? s.out.chains.find((c) => c.name === 'chain-a') : {};
  const cb = s.out ? s.out.chains.find((c) => c.name === 'chain-b') : {};
  rig.check(ca.quarantined === 1 && cb.quarantined === 0 && typeof s.out.quarantine.oldest_at === 'string',
    `status shows the quarantine per chain (${JSON.stringify(s.out && s.out.quarantine)}, a ${ca.quarantined}, b ${cb.quarantined})`);
  rig.check(s.code === 0, `status exits 0 (${s.code})`);
  rig.check(/quarantine: 1 entry/.test(rig.runPaywatchSync(bin, ['status', '-c', cfg]).stdout), 'status text names the quarantine');
  // waited for: the line is written after the outbox entry is deleted, and
  // the synchronous `status` above held node's event loop (and with it the
  // reading of paywatch's stderr) while it may have arrived
  const logged = () => /1 outbox entry refused and kept in the quarantine.*test_poison/.test(pw.stderr);
  await rig.waitFor('the quarantine in the log', async () => logged(), 10000).catch(() => {});
  rig.check(logged(), 'the quarantine is logged with the reason');
  const list = json(['quarantine', 'list', '-c', cfg, '--json']);
  const q = list.out && list.out.entries[0];
  rig.check(list.code === 0 && list.out.count === 1 && q.chain === 'chain-a' && q.amount_raw === '666' && q.kind === 'confirmed' &&
    q.sqlstate === '23514' && /test_poison/.test(q.reason) && q.merchant_id === 'acme' && /^0x[0-9a-f]{64}$/.test(q.tx_hash),
    `quarantine list --json: ${list.raw.slice(0, 500)}`);
  const text = rig.runPaywatchSync(bin, ['quarantine', 'list', '-c', cfg]);
  rig.check(text.status === 0 && /chain-a .* 666 .*test_poison/.test(text.stdout), `quarantine list: ${text.stdout}`);
  // still a poison: retry refuses it again and says so
  const again = json(['quarantine', 'retry', '-c', cfg, '--all', '--json']);
  rig.check(again.code === 1 && again.out && again.out.refused === 1 && again.out.written === 0, `retry before the fix: ${again.raw}`);

  // ---- 2. fixed: the retry writes it, with its webhook
  await db.query('ALTER TABLE payments DROP CONSTRAINT test_poison');
  const retry = json(['quarantine', 'retry', '-c', cfg, String(q.id), '--json']);
  rig.check(retry.code === 0 && retry.out && retry.out.written === 1, `retry after the fix: ${retry.raw}`);
  const poison = (await db.query(`SELECT status, tx_hash FROM payments WHERE amount_raw = 666`)).rows;
  rig.check(poison.length === 1 && poison[0].status === 'confirmed' && poison[0].tx_hash === q.tx_hash, 'the entry is a payment now');
  await rig.waitFor('the webhook of the retried payment', async () =>
    (await recv.records()).some((r) => r.path === '/acme' && r.sig_ok && JSON.parse(r.body).data.amount_raw === '666'), 30000)
    .catch((e) => rig.check(false, e.message));
  s = json(['status', '-c', cfg, '--json']);
  rig.check(s.out && s.out.quarantine.count === 0, 'the quarantine is empty');
  rig.check(json(['quarantine', 'retry', '-c', cfg, '--all']).code === 0, 'retry of an empty quarantine exits 0');

  // ---- 3. no data reason: retried with a backoff that backs off
  await db.query('ALTER TABLE payments RENAME TO payments_away');
  const from = pw.stderr.length;
  const t0 = Date.now();
  for (let i = 0; i < 12; i++) { await pay(a, ta, 1000n + BigInt(i)); await a.mine(1); await rig.sleep(500); }
  const failures = (pw.stderr.slice(from).match(/postgres: write of \d+ payments failed/g) || []).length;
  const secs = (Date.now() - t0) / 1000;
  // each of the two writers waits 0.5 s, 1 s, 2 s, 4 s ... between attempts
  // (one spare attempt each allowed); without the backoff they retried on
  // every new outbox entry, two per block here
  const allowed = 2 * (2 + Math.floor(Math.log2(secs / 0.5 + 1)));
  rig.check(failures >= 1 && failures <= allowed,
    `${failures} failed writes in ${secs.toFixed(1)} s while new entries keep coming (at most ${allowed})`);
  rig.check(/relation "payments" does not exist/.test(pw.stderr.slice(from)), 'the failure says why');
  await db.query('ALTER TABLE payments_away RENAME TO payments');
  await rig.waitFor('the outbox to drain once the table is back', async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments WHERE amount_raw >= 1000')).rows[0].n === 12, 90000)
    .catch((e) => rig.check(false, e.message));
  pw.proc.kill('SIGTERM');
  const stopped = await pw.done;
  rig.check(stopped.code === 0, `run stops cleanly (${JSON.stringify(stopped)})`);
  const usage = rig.runPaywatchSync(bin, ['quarantine', 'retry', '-c', cfg]);
  rig.check(usage.status === 2 && /ids or --all/.test(usage.stderr), 'retry without ids: exit 2');
  rig.check(rig.runPaywatchSync(bin, ['quarantine', '--help']).status === 0, 'quarantine --help');
}

rig.runTest('e2e_quarantine', main);
