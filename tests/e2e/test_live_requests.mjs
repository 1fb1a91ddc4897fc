// test_live_requests.mjs: what a new block costs the node once paywatch
// follows the head, on real parts: anvil, TestToken, a throwaway Postgres,
// and a counting relay in front of anvil's HTTP side (rig.startHttpRelay:
// the real node's answers, counted by method). The chain is HTTP only, so
// every request paywatch sends goes through the relay.
//   - each new head's header is asked for once (by the head poll); its
//     range takes that header as it came and asks only for its logs. A
//     second request for the same header doubled the requests per block
//     and, against a node that does not set TCP_NODELAY (anvil), its
//     answer waited for our delayed ACK: 40 ms, the tail of live latency;
//   - every payment of those blocks arrives, with its block's time and hash
//     (the header taken from the head poll is the one the row carries);
//   - each sink writer warms its Postgres backend up at connect (the
//     statements of a write, on no rows, rolled back), so the first live
//     payment does not pay for a cold backend: both writers say so, and
//     none failed.
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const MERCHANT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const BLOCKS = 8;

async function main() {
  const work = rig.workDir('pw-live-requests-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 18n });
  await node.receipt(await usdc.transfer(deployer, MERCHANT, 1n));
  const relay = await rig.startHttpRelay(node.ws.replace(/^ws:/, 'http:'));
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, http_url: relay.url, poll_interval_ms: 100, confirmations: 1,
      tokens: [{ symbol: 'USDC', address: usdc.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [MERCHANT] } }],
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const pw = rig.startPaywatch(bin, ['--log-level', 'debug', 'run', '-c', cfg]);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const count = async () => (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n;
  await rig.waitFor('the backfilled payment', async () => (await count()) === 1, 60000);

  // ---- live: one block at a time, each waited for before the next
  const before = { ...relay.methods };
  const mined = [];
  for (let i = 0; i < BLOCKS; i++) {
    const rc = await node.receipt(await usdc.transfer(deployer, MERCHANT, BigInt(i + 2)));
    mined.push(rc);
    await rig.waitFor(`the live payment of block ${Number(rc.blockNumber)}`, async () => (await count()) === i + 2, 30000);
  }
  const asked = (m) => (relay.methods[m] || 0) - (before[m] || 0);
  rig.check(asked('eth_getBlockByNumber') === BLOCKS,
    `one header request per new block: ${asked('eth_getBlockByNumber')} for ${BLOCKS} blocks (${JSON.stringify(relay.methods)})`);
  rig.check(asked('eth_getLogs') === BLOCKS, `one eth_getLogs per new block: ${asked('eth_getLogs')} for ${BLOCKS} blocks`);

  // the rows carry the headers the head poll brought
  const rows = (await db.query(`SELECT block_number::int AS n, block_hash, extract(epoch FROM block_time)::bigint AS t
    FROM payments WHERE block_number >= $1 ORDER BY block_number`, [Number(mined[0].blockNumber)])).rows;
  let same = rows.length === BLOCKS;
  for (const [i, r] of rows.entries()) {
    const b = await node.rpc('eth_getBlockByNumber', ['0x' + r.n.toString(16), false]);
    same = same && r.n === Number(mined[i].blockNumber) && r.block_hash === b.hash && BigInt(r.t) === BigInt(b.timestamp);
  }
  rig.check(same, `every live payment carries its block's hash and time (${rows.length} rows)`);

  const warmed = [1, 2].filter((w) => new RegExp(`postgres: writer ${w} warmed up in \\d+ ms`).test(pw.stderr));
  rig.check(warmed.length === 2 && !/warm-up failed/.test(pw.stderr),
    `each sink writer warmed its backend up at connect (writers ${warmed.join(', ') || 'none'}; ${(pw.stderr.match(/.*warm-up failed.*/) || ['no failure'])[0]})`);
  // and its row paths once the outbox was empty and the registry seeded,
  // before the live payments: each its row warm-up line, before the first
  // live payment's write (a line of a live block: the backfilled payment's
  // write may come before a writer that found nothing to take warms up)
  const rowsWarm = [1, 2].map((w) => pw.stderr.search(new RegExp(`postgres: writer ${w} warmed its row paths up \\(a payment settling an invoice\\) in \\d+ ms`)));
  const firstLive = Number(mined[0].blockNumber);
  const writes = [...pw.stderr.matchAll(/block=(\d+) postgres: \d+ outbox entries written by/g)];
  const liveWrite = writes.find((m) => Number(m[1]) >= firstLive);
  const firstWrite = liveWrite ? liveWrite.index : -1;
  rig.check(firstWrite >= 0 && rowsWarm.every((at) => at >= 0 && at < firstWrite),
    `each sink writer warmed its row paths up before the first live write (log offsets ${rowsWarm.join(', ')}; first live write at ${firstWrite}, block ${firstLive} on)`);

  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'paywatch stops cleanly on SIGTERM');
}

rig.runTest('e2e_live_requests', main);
