// test_log_ranges.mjs: chains[].logs_per_request, the number of logs per
// eth_getLogs answer a chain's range grows toward (issue 16: 1,250 by
// default; a provider billing per request raises it, a node that chokes on
// large answers lowers it). Real parts: anvil, TestToken, a throwaway
// Postgres, `paywatch run` with /metrics. A dense history (100 blocks of 20
// Transfer logs each, every one a payment) backfilled with
// logs_per_request 100:
//  1. every payment lands, once;
//  2. the ranges grew toward 100 logs, not the default: the eth_getLogs
//     answers counted on /metrics are at least the first four 10-block
//     ranges plus one per 5 blocks after them (with the default, about 6).
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const MERCHANT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const BLOCKS = 100, PER_BLOCK = 20, TARGET = 100;

async function main() {
  const work = rig.workDir('pw-ranges-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 18n });
  const first = await node.head();
  for (let b = 0; b < BLOCKS; b++) // one transaction per block (anvil mines each at once)
    await node.receipt(await usdc.batchTransfer(deployer, Array(PER_BLOCK).fill(MERCHANT),
      Array.from({ length: PER_BLOCK }, (_, k) => BigInt(b * PER_BLOCK + k + 1))));
  const port = await rig.freePort();
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 1, start_block: first + 1,
      logs_per_request: TARGET, tokens: [{ symbol: 'USDC', address: usdc.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [MERCHANT] } }],
    metrics: { listen: `127.0.0.1:${port}` },
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  const want = BLOCKS * PER_BLOCK;
  let n = { n: 0, d: 0 };
  await rig.waitFor(`the ${want} payments`, async () => {
    n = (await db.query('SELECT count(*)::int AS n, count(DISTINCT amount_raw)::int AS d FROM payments')).rows[0];
    return n.n >= want;
  }, 120000).catch(() => {});
  rig.check(n.n === want && n.d === want, `every payment of the dense history lands once (${JSON.stringify(n)} of ${want})`);
  const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const getLogs = rig.metricValue(m, 'paywatch_rpc_requests_total', 'chain="local",method="eth_getLogs",outcome="ok"');
  // logs_per_request 100 at 20 logs a block: ranges of 5 blocks once the
  // first answers are in (the first four ranges, 10 blocks each, are sent
  // at the start), two to spare for ranges sent before an answer cut the
  // size; the default 1,250 would grow them to 62 blocks
  const least = 4 + Math.floor((BLOCKS - 40) / (TARGET / PER_BLOCK)) - 2;
  rig.check(getLogs >= least, `the ranges grew toward logs_per_request (${TARGET} logs): ${getLogs} eth_getLogs answers, ` +
    `at least ${least} expected (about 6 with the default)`);
  pw.proc.kill('SIGTERM');
  const done = await pw.done;
  rig.check(done.code === 0, `run stops cleanly (${JSON.stringify(done)})`);
}

rig.runTest('e2e_log_ranges', main);
