// test_registry_live.mjs: several processes following one registry live
// (issue 14): two `paywatch run` (two chains, on two anvils) with their
// webhook delivery off (webhooks.in_run false) and one `paywatch
// dispatch`, on one Postgres. Checks:
//  1. a merchant, an address on each chain and an endpoint added through
//     the CLI: each run matches its chain's address within one second
//     (its /metrics), both payments are confirmed, and `dispatch` (the only
//     deliverer) sends both webhooks signed with the secret shown once;
//  2. the endpoint replaced by another: the next payment goes to the new
//     one only;
//  3. an address removed: its chain's run stops matching it, the other
//     chain's address still matches;
//  4. each config's seeding prunes its own chains' config addresses only:
//     the two runs' configs name different chains and neither undoes the
//     other's.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const CONF = 1;
const metricValue = (text, name) => rig.metricValue(text, name, '');

async function main() {
  const work = rig.workDir('pw-live-');
  const [pg, n1, n2] = await Promise.all([rig.startPostgres(), rig.startAnvil(), rig.startAnvil(['--chain-id', '31338'])]);
  const t1 = await rig.deployToken(n1, { from: n1.accounts[0], name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const t2 = await rig.deployToken(n2, { from: n2.accounts[0], name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const receiver = await rig.startReceiver(work, {});
  const env = { PAYWATCH_SECRET_KEY: crypto.randomBytes(32).toString('hex') };
  const seedA = '0x1000000000000000000000000000000000000001', seedB = '0x2000000000000000000000000000000000000002';
  const mk = async (name, chainName, chainId, node, token, seed) => {
    const port = await rig.freePort();
    const dir = fs.mkdtempSync(path.join(work, name));
    const file = rig.writeConfig(dir, {
      data_dir: path.join(dir, 'data'), postgres: { dsn: pg.dsn() },
      chains: [{ name: chainName, kind: 'evm', chain_id: chainId, ws_url: node.ws, confirmations: CONF,
        tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
      merchants: [{ id: 'seeded', addresses: { [chainName]: [seed] } }],
      webhooks: { allow_private_targets: true, in_run: false, retry_schedule_s: [1, 1] },
      metrics: { listen: `127.0.0.1:${port}` },
    });
    return { file, port };
  };
  const A = await mk('a', 'alpha', 31337, n1, t1, seedA), B = await mk('b', 'beta', 31338, n2, t2, seedB);
  const D = await mk('d', 'alpha', 31337, n1, t1, seedA); // the dispatcher's: its own metrics port
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', A.file]).status === 0, 'migrate');
  const runA = rig.startPaywatch(bin, ['run', '-c', A.file], env);
  const runB = rig.startPaywatch(bin, ['run', '-c', B.file], env);
  const disp = rig.startPaywatch(bin, ['dispatch', '-c', D.file], env);
  const metrics = async (x) => (await (await fetch(`http://127.0.0.1:${x.port}/metrics`).catch(() => null))?.text().catch(() => '')) || '';
  const count = async (x) => metricValue(await metrics(x), 'paywatch_registry_addresses');
  await rig.waitFor('both runs loaded the registry', async () => (await count(A)) === 1 && (await count(B)) === 1, 30000);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const seeded = (await db.query("SELECT chain FROM merchant_addresses WHERE merchant_id = 'seeded' ORDER BY chain")).rows.map((x) => x.chain);
  rig.check(seeded.join() === 'alpha,beta', `each config's seeding keeps the other's chain (${seeded})`);

  // ---- 1. added through the CLI while all three run
  const cli = (args) => rig.runPaywatchSync(bin, [...args, '-c', A.file], env);
  const x = n1.accounts[5], y = n2.accounts[6];
  rig.check(cli(['merchants', 'add', 'shop']).status === 0, 'merchants add shop');
  let r = cli(['addresses', 'add', '--merchant', 'shop', '--chain', 'alpha', x]);
  rig.check(r.status === 0, `address on alpha (${r.stderr.trim()})`);
  r = rig.runPaywatchSync(bin, ['addresses', 'add', '--merchant', 'shop', '--chain', 'beta', y, '-c', B.file], env);
  rig.check(r.status === 0, `address on beta, through the other config (${r.stderr.trim()})`);
  const tAdd = Date.now();
  let tA = 0, tB = 0;
  await rig.waitFor('both runs matching their address', async () => {
    if (!tA && (await count(A)) === 2) tA = Date.now();
    if (!tB && (await count(B)) === 2) tB = Date.now();
    return tA && tB;
  }, 10000, 10);
  rig.check(tA - tAdd < 1000 && tB - tAdd < 1000, `each run has its chain's address within a second (alpha ${tA - tAdd} ms, beta ${tB - tAdd} ms)`);
  r = cli(['endpoints', 'add', '--merchant', 'shop', '--id', 'one', '--url', `${receiver.base}/one`, '--json']);
  const ep1 = JSON.parse(r.stdout || '{}');
  rig.check(r.status === 0 && ep1.secret, 'an endpoint, its secret shown once');
  await receiver.control({ path: '/one', secret: ep1.secret });
  await n1.receipt(await t1.transfer(n1.accounts[0], x, 111n));
  await n2.receipt(await t2.transfer(n2.accounts[0], y, 222n));
  await n1.mine(CONF);
  await n2.mine(CONF);
  await rig.waitFor('both payments', async () => (await db.query("SELECT count(*)::int n FROM payments WHERE merchant_id = 'shop'")).rows[0].n === 2, 20000);
  await rig.waitFor('both webhooks at /one', async () => (await receiver.records()).filter((q) => q.path === '/one' && q.sig_ok).length >= 2, 20000);
  const amounts = (await receiver.records()).filter((q) => q.path === '/one').map((q) => JSON.parse(q.body).data.amount_raw).sort();
  rig.check(JSON.stringify(amounts) === '["111","222"]', `dispatch delivered both chains' payments, signed (${amounts})`);
  const delivered = (text) => [...text.matchAll(/^paywatch_webhook_deliveries_total\{[^}]*\} (\S+)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
  // the receiver has the requests before dispatch has read their answers (and counted them)
  await rig.waitFor('dispatch counts both deliveries', async () => delivered(await metrics(D)) >= 2, 20000)
    .catch((e) => rig.check(false, e.message));
  const [dA, dB, dD] = [delivered(await metrics(A)), delivered(await metrics(B)), delivered(await metrics(D))];
  rig.check(dA === 0 && dB === 0 && dD >= 2 && /delivered by `paywatch dispatch`/.test(runA.stderr),
    `the runs deliver nothing themselves (webhooks.in_run false): attempts run ${dA}, run ${dB}, dispatch ${dD}`);

  // ---- 2. the endpoint replaced
  rig.check(cli(['endpoints', 'remove', '--merchant', 'shop', '--id', 'one']).status === 0, 'endpoint one removed');
  r = cli(['endpoints', 'add', '--merchant', 'shop', '--id', 'two', '--url', `${receiver.base}/two`, '--json']);
  const ep2 = JSON.parse(r.stdout || '{}');
  await receiver.control({ path: '/two', secret: ep2.secret });
  await n2.receipt(await t2.transfer(n2.accounts[0], y, 333n));
  await n2.mine(CONF);
  await rig.waitFor('the webhook at /two', async () => (await receiver.records()).some((q) => q.path === '/two' && q.body.includes('"333"')), 20000);
  const recs = await receiver.records();
  rig.check(recs.filter((q) => q.path === '/two').every((q) => q.sig_ok) && !recs.some((q) => q.path === '/one' && q.body.includes('"333"')),
    'the next payment goes to the new endpoint only, signed with its own secret');

  // ---- 3. an address removed
  rig.check(cli(['addresses', 'remove', '--merchant', 'shop', '--chain', 'alpha', x]).status === 0, 'the alpha address removed');
  await rig.waitFor('run alpha without it', async () => (await count(A)) === 1, 10000, 10);
  await n1.receipt(await t1.transfer(n1.accounts[0], x, 444n));
  await n1.receipt(await t1.transfer(n1.accounts[0], seedA, 445n)); // a marker after it
  await n2.receipt(await t2.transfer(n2.accounts[0], y, 555n));
  await n1.mine(CONF);
  await n2.mine(CONF);
  await rig.waitFor('the marker and beta\'s payment', async () =>
    (await db.query('SELECT count(*)::int n FROM payments WHERE amount_raw IN (445, 555)')).rows[0].n === 2, 20000);
  const p444 = (await db.query('SELECT count(*)::int n FROM payments WHERE amount_raw = 444')).rows[0].n;
  rig.check(p444 === 0, 'a payment to the removed address is not matched; beta\'s address still is');
  for (const p of [runA, runB, disp]) p.proc.kill('SIGTERM');
  const codes = await Promise.all([runA.done, runB.done, disp.done]);
  rig.check(codes.every((c) => c.code === 0), `all three stop cleanly (${JSON.stringify(codes)})`);
}

rig.runTest('e2e_registry_live', main);
