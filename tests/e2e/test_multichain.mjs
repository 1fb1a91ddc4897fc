// test_multichain.mjs: two chains in one `paywatch run`: two anvils with
// chain ids 31337 and 31338, the same token contract address and the same
// merchant address on both (deployed by the same account at the same
// nonce), a merchant with addresses on both chains, a merchant on one chain
// only, and an address that is a merchant's on chain A receiving on chain B
// (not a payment there). Chain B lists a dead endpoint first in ws_urls.
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';

async function main() {
  const work = rig.workDir('pw-multi-');
  const [pg, a, b] = await Promise.all([rig.startPostgres(), rig.startAnvil(), rig.startAnvil(['--chain-id', '31338'])]);
  const deployer = a.accounts[0];
  const ta = await rig.deployToken(a, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const tb = await rig.deployToken(b, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  rig.check(ta.address === tb.address, 'same token address on both chains');
  const shared = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'; // acme on both chains
  const onlyA = '0x90f79bf6eb2c4f870365e785982e1f101e93b906'; // acme on A only
  const onlyB = '0x15d34aaf54267db7d7c367839aaf71a00a2c6a65'; // globex on B only
  const deadPort = rig.DEAD_PORT;
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'),
    postgres: { dsn: '${PW_DSN}' },
    chains: [
      { name: 'chain-a', kind: 'evm', chain_id: 31337, ...rig.nodeUrls(a.ws), confirmations: 2,
        tokens: [{ symbol: 'USDC', address: ta.address, decimals: 6 }] },
      { name: 'chain-b', kind: 'evm', chain_id: 31338, ...rig.nodeUrls(`ws://127.0.0.1:${deadPort}`, b.ws), confirmations: 3,
        tokens: [{ symbol: 'USDC', address: tb.address, decimals: 6 }] },
    ],
    merchants: [
      { id: 'acme', addresses: { 'chain-a': [shared, onlyA], 'chain-b': [shared] } },
      { id: 'globex', addresses: { 'chain-b': [onlyB] } },
    ],
  });
  const env = { PW_DSN: pg.dsn() };
  let r = rig.runPaywatchSync(bin, ['migrate', '-c', cfg], env);
  rig.check(r.status === 0, 'migrate');
  const pw = rig.startPaywatch(bin, ['run', '-c', cfg], env);
  for (let i = 1; i <= 6; i++) {
    await ta.transfer(deployer, shared, 1000n * BigInt(i));
    await ta.transfer(deployer, onlyA, 10n * BigInt(i));
    await ta.transfer(deployer, onlyB, 7n); // globex is not on chain A
    await tb.transfer(deployer, shared, 2000n * BigInt(i));
    await tb.transfer(deployer, onlyA, 3n); // acme's chain-A address is not watched on B
    await tb.transfer(deployer, onlyB, 5n * BigInt(i));
  }
  await a.mine(2);
  await b.mine(3);

  const expected = [];
  for (const [node, chain, chainId, watched] of [[a, 'chain-a', '31337', { [shared]: 'acme', [onlyA]: 'acme' }],
    [b, 'chain-b', '31338', { [shared]: 'acme', [onlyB]: 'globex' }]]) {
    const logs = await node.rpc('eth_getLogs', [{ fromBlock: '0x0', toBlock: 'latest', topics: [TRANSFER_TOPIC] }]);
    for (const l of logs) {
      const to = '0x' + l.topics[2].slice(26);
      if (!watched[to] || BigInt(l.data) === 0n) continue;
      expected.push(`${chain}|${chainId}|${l.blockHash}|${Number(BigInt(l.logIndex))}|${watched[to]}|${to}|${BigInt(l.data)}`);
    }
  }
  const db = await pg.client();
  rig.onCleanup(() => db.end());
  await rig.waitFor('payments of both chains', async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n >= expected.length, 30000)
    .catch((e) => rig.check(false, e.message));
  await rig.settled(bin, cfg, { 'chain-a': await a.head(), 'chain-b': await b.head() }, env)
    .catch((e) => rig.check(false, e.message)); // anything extra is there now
  const rows = (await db.query('SELECT chain, chain_id, block_hash, log_index, merchant_id, to_address, amount_raw FROM payments')).rows
    .map((x) => `${x.chain}|${x.chain_id}|${x.block_hash}|${x.log_index}|${x.merchant_id}|${x.to_address}|${x.amount_raw}`);
  rig.check(expected.length === 24, `24 payments expected (${expected.length})`);
  rig.check(JSON.stringify(rows.sort()) === JSON.stringify(expected.sort()), `Postgres equals the expected set of both chains (${rows.length} rows)`);
  rig.check(/chain=chain-b endpoint 0: cannot connect/.test(pw.stderr), 'chain-b logs the dead first endpoint');
  rig.check(/chain=chain-b connected to (ws|http):\/\/127.0.0.1:\d+\//.test(pw.stderr), 'chain-b moved on to the second endpoint');
  const addrs = (await db.query('SELECT chain, address, merchant_id FROM merchant_addresses ORDER BY 1, 2')).rows.length;
  rig.check(addrs === 4, `merchant_addresses has one row per (chain, address): ${addrs}`);
  pw.proc.kill('SIGTERM');
  const ex = await pw.done;
  rig.check(ex.code === 0, `SIGTERM exits 0 (${JSON.stringify(ex)})`);
}

rig.runTest('e2e_multichain', main);
