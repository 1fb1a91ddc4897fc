// test_reorg.mjs: reorgs and finality on a real anvil (anvil_reorg replaces
// the last N blocks with blocks holding the transactions we give it).
//  A. reorgs of depth 1, 2 and confirmations-1 while payments are pending:
//     orphaned payments never reach Postgres, the replacements' do;
//  B. a reorg deeper than confirmations (inside the window) that drops a
//     confirmed payment and pays another merchant instead: the first row
//     becomes 'reverted' (reverted_at set), the second is confirmed;
//  C. a reorg deeper than the window of a second paywatch (reorg_window 6)
//     on the same chain: that one stops with the documented error and
//     writes nothing more; the first follows it;
//  D. finality "finalized" on a second anvil: no payment in Postgres before
//     its block is at or below the node's finalized block.
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const CONF = 4;
const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
const hex = (n) => '0x' + n.toString(16);

async function main() {
  const work = rig.workDir('pw-reorg-');
  const [pg, node, fnode] = await Promise.all([rig.startPostgres(), rig.startAnvil(), rig.startAnvil(['--slots-in-an-epoch', '2'])]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
  const globex = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
  const transferData = (to, amount) => '0xa9059cbb' + to.slice(2).padStart(64, '0') + amount.toString(16).padStart(64, '0');
  const txTo = (to, amount) => ({ from: deployer, to: token.address, data: transferData(to, amount), gas: '0x30000' });

  const admin = await pg.client();
  rig.onCleanup(() => admin.end().catch(() => {}));
  await admin.query('CREATE DATABASE paywatch2');
  await admin.query('CREATE DATABASE paywatch3');
  const config = (name, db, over) => rig.writeConfig(fs.mkdtempSync(path.join(work, name)), {
    data_dir: path.join(work, name + '-data'),
    postgres: { dsn: pg.dsn(db) },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ...rig.nodeUrls(over.ws || node.ws), start_block: 0,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }], ...over.chain }],
    merchants: [{ id: 'acme', addresses: { local: [acme] } }, { id: 'globex', addresses: { local: [globex] } }],
  });
  const main1 = config('main', 'paywatch', { chain: { confirmations: CONF } });
  const narrow = config('narrow', 'paywatch2', { chain: { confirmations: 2, reorg_window: 6 } });
  for (const c of [main1, narrow]) rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', c]).status === 0, 'migrate');
  const pw1 = rig.startPaywatch(bin, ['--log-level', 'debug', 'run', '-c', main1]);
  const pw2 = rig.startPaywatch(bin, ['--log-level', 'debug', 'run', '-c', narrow]);
  const db = await pg.client();
  const db2 = await pg.client('paywatch2');
  rig.onCleanup(() => db.end().catch(() => {}));
  rig.onCleanup(() => db2.end().catch(() => {}));

  // every block hash ever seen in payments, to prove no orphan was written while pending
  const seen = new Map();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      for (const r of (await db.query('SELECT block_hash, block_number, status FROM payments')).rows) seen.set(r.block_hash, r);
      await rig.sleep(20);
    }
  })();
  const applied = (p, n) => rig.waitFor(`paywatch to index block ${n}`,
    () => new RegExp(`applied \\[\\d+, (\\d+)\\]`, 'g').test(p.stderr) &&
      Math.max(...[...p.stderr.matchAll(/applied \[\d+, (\d+)\]/g)].map((m) => Number(m[1]))) >= n, 20000);

  const reorgLines = (p) => [...p.stderr.matchAll(/reorg: common ancestor (\d+)/g)].map((m) => Number(m[1]));

  // ---- A: shallow reorgs while the payments are pending
  const orphanedA = [];
  for (const depth of [1, 2, CONF - 1]) {
    for (let i = 0; i < depth; i++) await node.receipt(await token.transfer(deployer, acme, 1000n + BigInt(depth * 10 + i))); // one block each
    const head = await node.head();
    await applied(pw1, head);
    for (let n = head - depth + 1; n <= head; n++) orphanedA.push((await node.rpc('eth_getBlockByNumber', [hex(n), false])).hash);
    const repl = Array.from({ length: depth }, (_, i) => [txTo(globex, 2000n + BigInt(depth * 10 + i)), i]);
    const before = reorgLines(pw1).length;
    await node.rpc('anvil_reorg', [depth, repl]);
    // over HTTP the head is polled by number: a reorg that keeps the height
    // shows with the next block (its parent is not the block indexed)
    if (rig.transport === 'http') await node.mine(1);
    await rig.waitFor(`reorg of depth ${depth} handled`, () => reorgLines(pw1).length > before, 20000)
      .catch((e) => rig.check(false, e.message));
    const ancestor = reorgLines(pw1).at(-1);
    rig.check(ancestor <= head - depth, `depth ${depth}: rewound to the common ancestor ${ancestor} <= ${head - depth}`);
  }
  await node.mine(CONF);
  await applied(pw1, await node.head());
  await rig.waitFor('replacement payments confirmed', async () =>
    (await db.query(`SELECT count(*)::int AS n FROM payments WHERE merchant_id = 'globex'`)).rows[0].n === 6, 20000)
    .catch((e) => rig.check(false, e.message));
  const leaked = orphanedA.filter((h) => seen.has(h));
  rig.check(leaked.length === 0, `no orphaned pending payment ever reached Postgres (A): ${JSON.stringify(leaked.map((h) => seen.get(h)))}`);
  for (const h of leaked) console.error('leaked', h, (await node.rpc('eth_getBlockByNumber', [hex(Number(seen.get(h).block_number)), false])).hash);

  // ---- B: a confirmed payment orphaned by a reorg deeper than confirmations
  await node.receipt(await token.transfer(deployer, acme, 777_000n));
  const bBlock = await node.head();
  const bHash = (await node.rpc('eth_getBlockByNumber', [hex(bBlock), false])).hash;
  await node.mine(CONF);
  await rig.waitFor('payment B confirmed', async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments WHERE block_hash = $1', [bHash])).rows[0].n === 1, 20000)
    .catch((e) => rig.check(false, e.message));
  const depthB = (await node.head()) - bBlock + 1; // CONF + 1
  await applied(pw1, await node.head());
  await node.rpc('anvil_reorg', [depthB, [[txTo(globex, 888_000n), 0]]]);
  await node.mine(CONF);
  await rig.waitFor('payment B reverted', async () =>
    (await db.query(`SELECT status FROM payments WHERE block_hash = $1`, [bHash])).rows[0]?.status === 'reverted', 20000)
    .catch((e) => rig.check(false, e.message));
  const bRow = (await db.query('SELECT status, reverted_at, amount_raw::text FROM payments WHERE block_hash = $1', [bHash])).rows[0];
  rig.check(bRow && bRow.status === 'reverted' && bRow.reverted_at && bRow.amount_raw === '777000', `B: orphaned confirmed payment reverted (${JSON.stringify(bRow)})`);
  await rig.waitFor('replacement of B confirmed', async () =>
    (await db.query(`SELECT count(*)::int AS n FROM payments WHERE amount_raw = 888000 AND status = 'confirmed' AND merchant_id = 'globex'`)).rows[0].n === 1, 20000)
    .catch((e) => rig.check(false, e.message));
  rig.check(/1 confirmed payment\(s\) reverted/.test(pw1.stderr), 'the revert is logged');

  // ---- C: deeper than the narrow instance's window
  await applied(pw2, await node.head());
  // what it confirmed before the reorg has reached Postgres (the sink
  // writes after the checkpoint moves): its outbox is empty
  await rig.waitFor('the narrow instance\'s outbox to drain', () => {
    const st = rig.runPaywatchSync(bin, ['status', '-c', narrow, '--json']);
    try { return JSON.parse(st.stdout).chains[0].outbox_depth === 0; } catch { return false; }
  }, 20000).catch((e) => rig.check(false, e.message));
  const rows2Before = (await db2.query('SELECT count(*)::int AS n FROM payments')).rows[0].n;
  const headC = await node.head();
  await node.rpc('anvil_reorg', [10, [[txTo(acme, 999_000n), 0], [txTo(globex, 999_001n), 5]]]);
  await node.mine(CONF);
  const ex2 = await Promise.race([pw2.done, rig.sleep(20000).then(() => null)]);
  rig.check(ex2 && ex2.code === 1, `narrow instance stops (exit ${JSON.stringify(ex2)})`);
  rig.check(/reorg deeper than the window/.test(pw2.stderr) && /replay blocks \d+\.\.\d+/.test(pw2.stderr),
    'the deep reorg error says what happened and what to replay');
  const rows2After = (await db2.query('SELECT count(*)::int AS n FROM payments')).rows[0].n;
  rig.check(rows2After === rows2Before, `narrow instance wrote nothing after the deep reorg (${rows2Before} -> ${rows2After})`);
  rig.check(/reorg: common ancestor \d+, depth 10/.test(pw1.stderr) || /reorg: common ancestor/.test(pw1.stderr), 'main instance follows the depth-10 reorg');

  // ---- final state of the main instance: confirmed rows == canonical payments; reverted == orphaned
  await applied(pw1, await node.head());
  const finalHead = await node.head();
  const logs = await node.rpc('eth_getLogs', [{ fromBlock: '0x0', toBlock: hex(finalHead), address: token.address, topics: [TRANSFER_TOPIC] }]);
  const expected = new Set();
  for (const l of logs) {
    const to = '0x' + l.topics[2].slice(26);
    const bn = Number(BigInt(l.blockNumber));
    if ((to === acme || to === globex) && bn + CONF - 1 <= finalHead) expected.add(`${l.blockHash}/${Number(BigInt(l.logIndex))}`);
  }
  await rig.waitFor('main instance caught up', async () =>
    (await db.query(`SELECT count(*)::int AS n FROM payments WHERE status = 'confirmed'`)).rows[0].n === expected.size, 20000)
    .catch((e) => rig.check(false, e.message));
  polling = false;
  await poller;
  const rows = (await db.query('SELECT block_hash, block_number, log_index, status FROM payments')).rows;
  const confirmed = rows.filter((r) => r.status === 'confirmed').map((r) => `${r.block_hash}/${r.log_index}`);
  rig.check(confirmed.length === expected.size && confirmed.every((k) => expected.has(k)), `confirmed rows equal the canonical payments (${confirmed.length} vs ${expected.size})`);
  let revertedOk = true;
  for (const r of rows.filter((x) => x.status === 'reverted')) {
    const canon = await node.rpc('eth_getBlockByNumber', [hex(Number(r.block_number)), false]);
    if (canon && canon.hash === r.block_hash) revertedOk = false;
  }
  rig.check(revertedOk && rows.some((r) => r.status === 'reverted'), 'every reverted row is an orphaned block');
  rig.check(headC > 0, 'C ran');
  pw1.proc.kill('SIGTERM');
  rig.check((await pw1.done).code === 0, 'main instance exits 0');

  // ---- D: finality "finalized"
  const ftoken = await rig.deployToken(fnode, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const fin = rig.writeConfig(fs.mkdtempSync(path.join(work, 'fin')), {
    data_dir: path.join(work, 'fin-data'), postgres: { dsn: pg.dsn('paywatch3') },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ...rig.nodeUrls(fnode.ws), finality: 'finalized',
      tokens: [{ symbol: 'USDC', address: ftoken.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [acme] } }],
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', fin]).status === 0, 'migrate (finality)');
  const pw3 = rig.startPaywatch(bin, ['run', '-c', fin]);
  const db3 = await pg.client('paywatch3');
  rig.onCleanup(() => db3.end().catch(() => {}));
  let early = 0, looks = 0;
  for (let i = 0; i < 12; i++) {
    await fnode.receipt(await ftoken.transfer(deployer, acme, 100n + BigInt(i))); // one block each
    await rig.sleep(150);
    const rowsF = (await db3.query('SELECT block_number FROM payments')).rows; // finalized read after: only grows
    const finalized = Number(BigInt((await fnode.rpc('eth_getBlockByNumber', ['finalized', false])).number));
    looks++;
    early += rowsF.filter((r) => Number(r.block_number) > finalized).length;
  }
  const fHead = await fnode.head();
  await fnode.mine(8);
  const finalizedNow = Number(BigInt((await fnode.rpc('eth_getBlockByNumber', ['finalized', false])).number));
  await rig.waitFor('finalized payments written', async () =>
    (await db3.query('SELECT count(*)::int AS n FROM payments')).rows[0].n === 12, 20000)
    .catch((e) => rig.check(false, e.message));
  rig.check(early === 0 && looks === 12, `no payment before its block is finalized (${early} early)`);
  rig.check(finalizedNow >= fHead, `all 12 blocks finalized by the end (${finalizedNow} >= ${fHead})`);
  rig.check(/finality finalized/.test(pw3.stderr) && /confirmed \(finalized block \d+\)/.test(pw3.stderr), 'finality mode logged');
  pw3.proc.kill('SIGTERM');
  await pw3.done;
}

rig.runTest('e2e_reorg', main);
