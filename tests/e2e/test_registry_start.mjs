// test_registry_start.mjs: a `run` whose registry cannot be loaded at its
// start and none was kept (a fresh data_dir while Postgres is down) waits
// to match until Postgres's registry is in, instead of matching the
// config's addresses alone (which would lose, for good, a payment to an
// address only Postgres's registry holds: its block's checkpoint would
// pass). Real parts: anvil, a throwaway Postgres stopped and started by the
// test (an outage), `paywatch run`. Checks:
//  1. with Postgres down, run starts, says the chains wait for the
//     registry, and fetches the history's logs (eth_getLogs answered, on
//     /metrics) without applying them (its checkpoint gauge stays unset);
//  2. Postgres back: both payments of the history are written, the config
//     merchant's and the one to the address only Postgres's registry holds;
//  3. a later run, Postgres down again, starts from the registry it kept and
//     matches at once (it does not wait): a new payment to that address is
//     written once Postgres is back.
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const acme = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const globex = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';

async function main() {
  const work = rig.workDir('pw-regstart-');
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
  const metrics = async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  const rows = async () => {
    const db = await pg.client();
    try {
      return (await db.query('SELECT merchant_id, amount_raw::text AS raw FROM payments ORDER BY block_number')).rows;
    } finally { await db.end(); }
  };

  // ---- 1. Postgres down, nothing kept: the chains fetch and wait
  pg.stop();
  let pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  await rig.waitFor('run to say the chains wait for the registry', () => /none was kept: the chains fetch, and match once it is loaded/.test(pw.stderr), 30000);
  let m = '';
  await rig.waitFor('the history\'s logs fetched', async () => {
    m = await metrics().catch(() => '');
    return rig.metricValue(m, 'paywatch_rpc_requests_total', 'chain="local",method="eth_getLogs",outcome="ok"') >= 1;
  }, 30000);
  const ckpt = rig.metricValue(m, 'paywatch_chain_checkpoint_block', 'chain="local"');
  rig.check(!(ckpt >= 0), `no block is applied while the registry is not in (checkpoint ${ckpt})`);

  // ---- 2. Postgres back: both payments
  pg.start();
  let got = [];
  await rig.waitFor('both payments of the history', async () => {
    got = await rows().catch(() => []);
    return got.length === 2;
  }, 60000).catch(() => {});
  rig.check(got.length === 2 && got[0].merchant_id === 'acme' && got[0].raw === '1001' &&
    got[1].merchant_id === 'globex' && got[1].raw === '2002',
  `the config's payment and the Postgres-only address's are both written (${JSON.stringify(got)})`);
  pw.proc.kill('SIGTERM');
  let done = await pw.done;
  rig.check(done.code === 0, `run stops cleanly (${JSON.stringify(done)})`);

  // ---- 3. down again: the kept registry is matched at once
  pg.stop();
  await node.receipt(await token.transfer(deployer, globex, 3003n));
  pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  await rig.waitFor('run to match the registry as last loaded', () => /matching the registry as last loaded \(2 address/.test(pw.stderr), 30000);
  await rig.waitFor('the new payment applied while Postgres is down', async () => {
    const mm = await metrics().catch(() => '');
    return rig.metricValue(mm, 'paywatch_outbox_entries', 'chain="local"') >= 1;
  }, 30000);
  pg.start();
  await rig.waitFor('the new payment written', async () => {
    got = await rows().catch(() => []);
    return got.length === 3;
  }, 60000).catch(() => {});
  rig.check(got.length === 3 && got[2].merchant_id === 'globex' && got[2].raw === '3003',
    `the payment matched from the kept registry is written once Postgres is back (${JSON.stringify(got)})`);
  pw.proc.kill('SIGTERM');
  done = await pw.done;
  rig.check(done.code === 0, `the second run stops cleanly (${JSON.stringify(done)})`);
}

rig.runTest('e2e_registry_start', main);
