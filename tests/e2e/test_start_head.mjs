// test_start_head.mjs: `"start_block": "head"` on real parts (anvil, a
// throwaway Postgres): a chain never indexed begins at the node's head
// the first time, so the payments of the blocks before it are not read
// and the ones after it are; stopped and started again later, it resumes
// at its checkpoint, not at the head of the moment: a payment made while
// it was down is found. check-config shows the setting. Over the
// websocket, and over HTTP (e2e_start_head_http: heads from the poll).
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const CONF = 2;
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

async function main() {
  const work = rig.workDir('pw-start-head-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ...rig.nodeUrls(node.ws), confirmations: CONF, start_block: 'head',
      tokens: [{ symbol: 'USDC', address: usdc.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [acme] } }],
  });
  let r = rig.runPaywatchSync(bin, ['check-config', '-c', cfg]);
  rig.check(r.status === 0 && /"start_block":\s*"head"/.test(r.stdout), `check-config shows start_block "head" (${r.status})`);
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const rowsOf = async (raw) => (await db.query('SELECT count(*)::int AS n FROM payments WHERE amount_raw = $1', [raw])).rows[0].n;
  const pay = async (raw) => node.receipt(await usdc.transfer(deployer, acme, raw));

  // ---- history before the first start: not read
  await pay(1111n);
  await node.mine(CONF + 2);
  const headBefore = await node.head();
  let pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  let began = null;
  await rig.waitFor('the starting block logged', () =>
    (began = /starting at the node's head, block (\d+)/.exec(pw.stderr)) !== null, 20000).catch((e) => rig.check(false, e.message));
  rig.check(began && Number(began[1]) >= headBefore, `run begins at the node's head (block ${began?.[1]}, the head ${headBefore} when it started)`);

  // ---- a payment after the start: read
  await pay(2222n);
  await node.mine(CONF);
  await rig.waitFor('the payment after the start', async () => (await rowsOf(2222n)) === 1, 20000).catch((e) => rig.check(false, e.message));
  rig.check((await rowsOf(1111n)) === 0 && (await rowsOf(2222n)) === 1,
    `the payment before the head is not read, the one after it is (${await rowsOf(1111n)}, ${await rowsOf(2222n)})`);
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'run exits 0 on SIGTERM');

  // ---- down while the chain goes on: the restart resumes at its checkpoint
  await pay(3333n);
  await node.mine(CONF + 3);
  pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  await rig.waitFor('the payment made while run was down', async () => (await rowsOf(3333n)) === 1, 20000)
    .catch((e) => rig.check(false, e.message));
  rig.check(/resuming from block \d+/.test(pw.stderr) && !/starting at the node's head/.test(pw.stderr),
    'the restart resumes from its checkpoint, not from the head');
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'run exits 0 on SIGTERM again');
}

rig.runTest('e2e_start_head', main);
