// test_lagging.mjs: a node behind the checkpoint is not a reorg. Endpoint 0
// is the real chain (anvil, behind a test-controlled proxy so the test can
// cut it); endpoint 1 is a lagging node: an anvil fork of the same chain at
// an earlier block (same hashes up to there, no newer blocks). After the
// cut, paywatch lands on the lagging node: it must wait (no reorg, no
// rewind, nothing reverted), then move back to the real chain, and end with
// the exact set.
import path from 'node:path';
import * as rig from './lib/rig.mjs';
import { startProxy } from './lib/proxy.mjs';

const bin = process.argv[2];
const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

async function main() {
  const work = rig.workDir('pw-lag-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  for (let i = 0; i < 15; i++) await node.receipt(await token.transfer(deployer, acme, 10n + BigInt(i)));
  const forkAt = await node.head();
  const lagging = await rig.startAnvil(['--fork-url', node.http, '--fork-block-number', String(forkAt)]);
  for (let i = 0; i < 15; i++) await node.receipt(await token.transfer(deployer, acme, 100n + BigInt(i)));
  const proxy = await startProxy(node.ws);
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_urls: [proxy.url, lagging.ws], confirmations: 2, head_timeout_ms: 1500,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [acme] } }],
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const pw = rig.startPaywatch(bin, ['--log-level', 'debug', 'run', '-c', cfg]);
  const head = await node.head();
  await rig.waitFor('indexed to the head', () => new RegExp(`applied \\[\\d+, ${head}\\]`).test(pw.stderr), 20000);
  proxy.cut(); // next endpoint: the lagging node
  await rig.waitFor('the lagging node is recognised', () => /behind the checkpoint \d+ \(a lagging node, not a reorg\): waiting/.test(pw.stderr), 20000)
    .catch((e) => rig.check(false, e.message));
  for (let i = 0; i < 5; i++) await node.receipt(await token.transfer(deployer, acme, 1000n + BigInt(i)));
  await rig.waitFor('back on the real chain', () => /trying another endpoint/.test(pw.stderr), 20000).catch((e) => {
    rig.check(false, e.message);
    console.error(pw.stderr.split('\n').filter((l) => !/applied/.test(l)).slice(-30).join('\n'));
  });
  await node.mine(2);
  const finalHead = await node.head();
  await rig.waitFor('indexed to the new head', () => new RegExp(`applied \\[\\d+, ${finalHead}\\]`).test(pw.stderr), 20000)
    .catch((e) => rig.check(false, e.message));
  const logs = await node.rpc('eth_getLogs', [{ fromBlock: '0x0', toBlock: 'latest', address: token.address, topics: [TRANSFER_TOPIC] }]);
  const expected = logs.filter((l) => '0x' + l.topics[2].slice(26) === acme && Number(BigInt(l.blockNumber)) + 1 <= finalHead)
    .map((l) => `${l.blockHash}/${BigInt(l.data)}`).sort();
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  await rig.waitFor('all payments', async () => (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n >= expected.length, 20000).catch(() => {});
  const rows = (await db.query('SELECT block_hash, amount_raw::text, status FROM payments')).rows;
  rig.check(JSON.stringify(rows.map((r) => `${r.block_hash}/${r.amount_raw}`).sort()) === JSON.stringify(expected), `exact set (${rows.length} rows, ${expected.length} expected)`);
  rig.check(rows.every((r) => r.status === 'confirmed'), 'nothing reverted');
  rig.check(!/reorg: common ancestor|does not link|differs from the block indexed/.test(pw.stderr), 'a lagging node is never taken for a reorg');
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'SIGTERM exits 0');
  await proxy.kill();
}

rig.runTest('e2e_lagging', main);
