// test_registry_start.mjs: `run`'s chains start before the registry's
// first load from Postgres and match only once it is in (issue 16, a
// thirteenth session: the start's round trips to the node overlap those
// to Postgres). Real parts: anvil, a throwaway Postgres, `paywatch run`.
// The one thing not a product's own: the test holds an ACCESS EXCLUSIVE
// lock on merchant_addresses, a fault a real Postgres gives (a migration
// or a long transaction in the way), so the seeding and the first load
// wait on it. Checks:
//  1. while the registry cannot load, the chain fetches the history's logs
//     (its eth_getLogs answered, on /metrics) and matches none of them: no
//     payment row, no set loaded (paywatch_registry_version unset);
//  2. once the lock goes, both payments of the history are written: the
//     config merchant's and the one to an address only Postgres's registry
//     holds (matched against the config's set alone, it would be lost:
//     its block's checkpoint passed).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const acme = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const globex = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-regstart-'));
  rig.onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const port = await rig.freePort();
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 1,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [acme] } }],
    metrics: { listen: `127.0.0.1:${port}` },
  });
  const cli = (args) => rig.runPaywatchSync(bin, [...args, '-c', cfg]);
  rig.check(cli(['migrate']).status === 0, 'migrate');
  let r = cli(['merchants', 'add', 'globex']);
  rig.check(r.status === 0, `merchants add globex (${r.stdout.trim()}${r.stderr.trim()})`);
  r = cli(['addresses', 'add', '--merchant', 'globex', '--chain', 'local', globex]);
  rig.check(r.status === 0, `addresses add: globex's address in Postgres only (${r.stdout.trim()}${r.stderr.trim()})`);
  await node.receipt(await token.transfer(deployer, acme, 1001n));
  await node.receipt(await token.transfer(deployer, globex, 2002n));

  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const locker = await pg.client();
  rig.onCleanup(() => locker.end().catch(() => {}));
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE merchant_addresses IN ACCESS EXCLUSIVE MODE');

  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  const metrics = async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  // ---- 1. the history fetched while the registry cannot load
  let m = '';
  await rig.waitFor('the history\'s logs fetched', async () => {
    m = await metrics().catch(() => '');
    return rig.metricValue(m, 'paywatch_rpc_requests_total', 'chain="local",method="eth_getLogs",outcome="ok"') >= 1;
  }, 20000);
  // the gauge is set by a load: none yet, or 1 (the config's set)
  const version = rig.metricValue(m, 'paywatch_registry_version', '');
  rig.check(!(version >= 2), `no set is loaded from Postgres while its load waits (version ${version})`);
  const waiting = (await db.query(`SELECT count(*)::int n FROM pg_locks WHERE relation = 'merchant_addresses'::regclass
    AND NOT granted`)).rows[0].n;
  rig.check(waiting >= 1, `paywatch waits on the lock (${waiting} waiting)`);
  const early = (await db.query('SELECT count(*)::int n FROM payments')).rows[0].n;
  rig.check(early === 0, `no payment is written before the registry is loaded (${early})`);

  // ---- 2. the lock gone: both payments, the Postgres-only address's too
  await locker.query('COMMIT');
  let rows = [];
  await rig.waitFor('both payments of the history', async () => {
    rows = (await db.query('SELECT merchant_id, amount_raw::text AS raw FROM payments ORDER BY block_number')).rows;
    return rows.length === 2;
  }, 20000).catch(() => {});
  rig.check(rows.length === 2 && rows[0].merchant_id === 'acme' && rows[0].raw === '1001' &&
    rows[1].merchant_id === 'globex' && rows[1].raw === '2002',
  `the config's payment and the Postgres-only address's are both written (${JSON.stringify(rows)})`);
  pw.proc.kill('SIGTERM');
  const done = await pw.done;
  rig.check(done.code === 0, `run stops cleanly (${JSON.stringify(done)})`);
}

rig.runTest('e2e_registry_start', main);
