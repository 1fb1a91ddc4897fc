// backfill.mjs: a rerunnable measurement of backfill speed (a precursor of
// issue 6's bench/run, which is not built yet). Makes a history on anvil
// (BLOCKS blocks x 10 batch-transfer transactions x 50 Transfer logs, every
// recipient a merchant), then in one run measures (1) the node's raw rate:
// the whole range with eth_getLogs over HTTP, 100-block chunks, 4 in flight,
// no processing; (2) `paywatch run` from an empty data dir until every
// payment is in Postgres, with paywatch's peak RSS and CPU seconds (from
// /proc). Prints the ratio of the two.
// usage: node bench/backfill.mjs build/paywatch [BLOCKS=200]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as rig from '../tests/e2e/lib/rig.mjs';

const bin = path.resolve(process.argv[2] || 'build/paywatch');
const BLOCKS = Number(process.argv[3] || 200), PER_TX = 50, TX_PER_BLOCK = 10;

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bench-'));
  rig.onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil(['--gas-limit', '300000000'])]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 40n });
  await node.rpc('evm_setAutomine', [false]);
  const merchants = Array.from({ length: 500 }, (_, i) => '0x' + (i + 1).toString(16).padStart(40, '0'));
  for (let b = 0; b < BLOCKS; b++) {
    for (let k = 0; k < TX_PER_BLOCK; k++) {
      const tos = Array.from({ length: PER_TX }, (_, j) => merchants[(b * 7 + k * 13 + j) % merchants.length]);
      await token.batchTransfer(deployer, tos, tos.map((_, j) => BigInt(j + 1)));
    }
    await node.mine();
  }
  const head = await node.head();
  const total = BLOCKS * TX_PER_BLOCK * PER_TX;
  console.log(`history: ${total} transfers in ${BLOCKS} blocks (head ${head})`);

  let t0 = Date.now();
  const queue = [];
  for (let f = 0; f <= head; f += 100) queue.push([f, Math.min(head, f + 99)]);
  let logs = 0;
  await Promise.all([0, 1, 2, 3].map(async () => {
    while (queue.length) {
      const [f, to] = queue.shift();
      const got = await node.rpc('eth_getLogs', [{ fromBlock: '0x' + f.toString(16), toBlock: '0x' + to.toString(16), address: token.address }]);
      logs += got.length; // after the await: no lost update between workers
    }
  }));
  const rawMs = Date.now() - t0;
  console.log(`node, raw eth_getLogs: ${logs} logs in ${rawMs} ms`);
  rig.check(logs === total + 1, `the raw fetch saw every log (${logs}: ${total} transfers + the mint)`);

  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 1,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'm', addresses: { local: merchants } }],
  });
  rig.runPaywatchSync(bin, ['migrate', '-c', cfg]);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  t0 = Date.now();
  const pw = rig.startPaywatch(bin, ['--log-level', 'warn', 'run', '-c', cfg]);
  await rig.waitFor('every payment in Postgres', async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n >= total, 300000, 20);
  const ms = Date.now() - t0;
  const status = fs.readFileSync(`/proc/${pw.proc.pid}/status`, 'utf8');
  const stat = fs.readFileSync(`/proc/${pw.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const rssMb = Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024;
  const cpuS = (Number(stat[11]) + Number(stat[12])) / 100; // utime + stime, clock ticks (100/s)
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'paywatch exits 0');
  console.log(`paywatch backfill into Postgres: ${total} payments in ${ms} ms = ${(ms / rawMs).toFixed(2)}x the node's raw time; ` +
    `peak RSS ${rssMb.toFixed(1)} MB, ${cpuS.toFixed(2)} CPU s`);
}

rig.runTest('bench_backfill', main);
