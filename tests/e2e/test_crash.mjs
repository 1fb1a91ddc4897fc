// test_crash.mjs: crash and outage safety.
//  1. 20 SIGKILLs at random moments while >= 500 transfers stream in (half
//     mined before the first start: backfill; half while it runs: live),
//     each followed by a restart: Postgres ends equal to the expected set,
//     nothing lost, nothing duplicated, nothing confirmed early;
//  2. Postgres stopped for 30 s mid-stream, then started again: ingest goes
//     on into the RocksDB outbox (its depth and age are logged), the outbox
//     drains when Postgres is back, and the set is exact.
import crypto from 'node:crypto';
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const CONF = 3;
const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
const MERCHANTS = ['0x70997970c51812dc3a010c7d01b50e0d17dc79c8', '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc',
  '0x90f79bf6eb2c4f870365e785982e1f101e93b906'];
const OTHER = '0x000000000000000000000000000000000000beef';

async function main() {
  const work = rig.workDir('pw-crash-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  await node.rpc('evm_setAutomine', [false]);
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ...rig.nodeUrls(node.ws), confirmations: CONF,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: MERCHANTS.slice(0, 2) } }, { id: 'globex', addresses: { local: [MERCHANTS[2]] } }],
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');

  let amount = 1n, sent = 0;
  const mineStart = new Map();
  async function block() {
    const tos = Array.from({ length: 12 }, (_, i) => (i % 4 === 3 ? OTHER : MERCHANTS[i % 3]));
    await token.batchTransfer(deployer, tos, tos.map(() => amount++));
    sent += tos.length;
    const t = Date.now();
    await node.mine();
    mineStart.set(await node.head(), t);
  }
  for (let i = 0; i < 25; i++) await block(); // 300 transfers for the backfill

  // ---- 1. twenty SIGKILLs while the rest streams in
  let pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  let logs = '';
  let streaming = true;
  const stream = (async () => { while (streaming) { await block(); await rig.sleep(40); } })();
  for (let k = 0; k < 20; k++) {
    // a random moment once ingest runs: after the process said where it
    // resumes (on a loaded machine starting up alone can take longer than
    // a fixed delay, and a kill before that line tests nothing)
    await rig.waitFor('paywatch to resume', () => /(resuming|starting) from block \d+/.test(pw.stderr), 60000)
      .catch((e) => rig.check(false, e.message));
    await rig.sleep(crypto.randomInt(0, 320));
    pw.proc.kill('SIGKILL');
    await pw.done;
    logs += pw.stderr;
    pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  }
  // the last run up and five blocks streamed to it (a condition, not a time)
  await rig.waitFor('the last run to resume', () => /(resuming|starting) from block \d+/.test(pw.stderr), 60000)
    .catch((e) => rig.check(false, e.message));
  const sentAtResume = sent;
  await rig.waitFor('five blocks streamed to the last run', () => sent >= sentAtResume + 60, 60000)
    .catch((e) => rig.check(false, e.message));
  streaming = false;
  await stream;
  rig.check(sent >= 500, `>= 500 transfers streamed (${sent})`);

  // ---- 2. Postgres away for 30 s while blocks keep coming
  pg.stop();
  const outageEnd = Date.now() + 30000;
  while (Date.now() < outageEnd) { await block(); await rig.sleep(500); }
  await rig.waitFor('the outbox depth to be logged', () => /outbox: \d+ payment\(s\) waiting for Postgres, oldest confirmed \d+ s ago/.test(pw.stderr), 35000)
    .catch((e) => rig.check(false, e.message));
  // the barrier the comparisons below wait on does not pass while payments
  // wait in the outbox (a settled that always resolved would test nothing)
  const held = await rig.settled(bin, cfg, { local: 0 }, {}, 1000).then(() => 'settled', (e) => e.message);
  rig.check(/local: checkpoint \d+, outbox [1-9]\d*\)?$/.test(held), `not settled with payments in the outbox (${held})`);
  pg.start();
  for (let i = 0; i < 5; i++) await block();
  await node.mine(CONF);
  const head = await node.head();

  const logsAll = await node.rpc('eth_getLogs', [{ fromBlock: '0x0', toBlock: 'latest', address: token.address, topics: [TRANSFER_TOPIC] }]);
  const expected = logsAll.filter((l) => MERCHANTS.includes('0x' + l.topics[2].slice(26)) && Number(BigInt(l.blockNumber)) + CONF - 1 <= head)
    .map((l) => `${l.blockHash}/${Number(BigInt(l.logIndex))}/${BigInt(l.data)}`).sort();
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  await rig.waitFor('every payment in Postgres', async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n >= expected.length, 60000)
    .catch((e) => rig.check(false, e.message));
  await rig.settled(bin, cfg, { local: head }).catch((e) => rig.check(false, e.message)); // anything extra is there now
  const rows = (await db.query(`SELECT block_hash, log_index, amount_raw::text, block_number,
      (extract(epoch FROM confirmed_at) * 1000)::bigint AS confirmed_ms FROM payments`)).rows;
  const got = rows.map((r) => `${r.block_hash}/${r.log_index}/${r.amount_raw}`).sort();
  rig.check(got.length === expected.length, `row count ${got.length} == expected ${expected.length}`);
  rig.check(JSON.stringify(got) === JSON.stringify(expected), 'Postgres equals the expected set exactly after 20 SIGKILLs and a 30 s outage');
  let early = 0;
  for (const r of rows) {
    const confirming = mineStart.get(Number(r.block_number) + CONF - 1);
    if (confirming !== undefined && Number(r.confirmed_ms) < confirming) early++;
  }
  rig.check(early === 0, `no payment confirmed before its confirming block was mined (${early} early)`);
  const resumes = [...logs.matchAll(/resuming from block (\d+)/g)].map((m) => Number(m[1]));
  rig.check(resumes.length >= 10 && resumes.every((n, i) => i === 0 || n >= resumes[i - 1]),
    `restarts resume from a checkpoint that never goes back (${resumes.join(' ')})`);
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'SIGTERM exits 0');
  rig.check(/postgres: \d+ outbox entries written/.test(pw.stderr), 'the outbox drained after the outage');
}

rig.runTest('e2e_crash', main);
