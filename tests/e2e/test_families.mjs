// test_families.mjs: one `paywatch run`, three kinds of chain: an EVM chain
// over websockets (anvil), an EVM chain over HTTP (a second anvil), and a
// Tron chain (the stand-in of lib/tronnode.mjs: not a Tron node, none can
// run here). One merchant has addresses on all three and a webhook.
// Payments stream in on all three while paywatch is SIGKILLed and
// restarted in the middle; in the end each chain's rows are exactly its
// payments, and every webhook carries its chain's own forms (EVM: 0x hex;
// Tron: T... addresses, hashes as 64 hex digits without 0x).
import crypto from 'node:crypto';
import path from 'node:path';
import * as rig from './lib/rig.mjs';
import * as tron from './lib/tronnode.mjs';

const bin = process.argv[2];
const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ACME_EVM = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const ACME_TRON = 'TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt';
const USDT_TRON = 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t';
const OTHER = '0x000000000000000000000000000000000000beef';

async function main() {
  const work = rig.workDir('pw-families-');
  const [pg, a, b, recv] = await Promise.all([rig.startPostgres(), rig.startAnvil(), rig.startAnvil(['--chain-id', '8453']),
    rig.startReceiver(work, { '/acme': SECRET })]);
  const deployer = a.accounts[0];
  const [ta, tb] = await Promise.all([
    rig.deployToken(a, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n }),
    rig.deployToken(b, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n })]);
  const fx = tron.loadFixtures(rig.fixturesDir);
  const node = await new tron.TronStandIn({ firstBlock: fx.block - 5, firstTime: fx.blockTime - 15, solidifyLag: 19 }).listen();
  rig.onCleanup(() => node.close());
  const usdt = tron.tronToHex20(USDT_TRON).hex, acmeHex = tron.tronToHex20(ACME_TRON).hex;
  for (let n = node.head + 1; n < fx.block; n++) node.mine([]);
  node.mine(fx.txs, fx.blockTime); // the real USDT transfer to TBA6Cy...

  const apiPort = await rig.freePort();
  const API_KEY = 'pwk_' + crypto.randomBytes(32).toString('base64url');
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [
      { name: 'eth-ws', kind: 'evm', chain_id: 31337, ws_url: a.ws, confirmations: 2,
        tokens: [{ symbol: 'USDC', address: ta.address, decimals: 6 }] },
      { name: 'base-http', kind: 'evm', chain_id: 8453, http_url: b.http, poll_interval_ms: 200, confirmations: 3,
        tokens: [{ symbol: 'USDC', address: tb.address, decimals: 6 }] },
      { name: 'tron', kind: 'tron', chain_id: 728126428, http_urls: [node.url], finality: 'finalized',
        start_block: fx.block - 5, poll_interval_ms: 200, tokens: [{ symbol: 'USDT', address: USDT_TRON, decimals: 6 }] },
    ],
    merchants: [{ id: 'acme', addresses: { 'eth-ws': [ACME_EVM], 'base-http': [ACME_EVM], tron: [ACME_TRON] },
      webhook: { url: recv.base + '/acme', secret: SECRET } }],
    webhooks: { allow_private_targets: true, retry_schedule_s: [0, 1, 1, 1] },
    api: { listen: `127.0.0.1:${apiPort}`, keys: [{ id: 'ops', sha256: crypto.createHash('sha256').update(API_KEY).digest('hex') }],
      rate_limit: { per_second: 1000, burst: 1000 } },
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');

  // traffic on all three chains, while paywatch is killed and restarted
  let amount = 1n, streaming = true;
  const tronTick = async () => {
    node.mine([{ logs: [tron.transferLog(usdt, tron.randomHex20(Math.random), acmeHex, amount)] },
      { logs: [tron.transferLog(usdt, tron.randomHex20(Math.random), tron.randomHex20(Math.random), amount + 1n)] }]);
    amount += 2n;
  };
  const stream = (async () => {
    while (streaming) {
      await ta.transfer(deployer, ACME_EVM, amount++);
      await tb.transfer(deployer, ACME_EVM, amount++);
      await tb.transfer(deployer, OTHER, amount++);
      await tronTick();
      await rig.sleep(60);
    }
  })();
  let pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  for (let k = 0; k < 3; k++) {
    await rig.waitFor('paywatch to resume on every chain', () =>
      ['eth-ws', 'base-http', 'tron'].every((c) => new RegExp(`chain=${c} (resuming|starting) from block`).test(pw.stderr)), 60000)
      .catch((e) => rig.check(false, e.message));
    await rig.sleep(400 + crypto.randomInt(0, 600));
    pw.proc.kill('SIGKILL');
    await pw.done;
    pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  }
  // the last run up on every chain and five rounds of transfers streamed to it (a condition, not a time)
  await rig.waitFor('the last run to resume on every chain', () =>
    ['eth-ws', 'base-http', 'tron'].every((c) => new RegExp(`chain=${c} (resuming|starting) from block`).test(pw.stderr)), 60000)
    .catch((e) => rig.check(false, e.message));
  const amountAtResume = amount;
  await rig.waitFor('five rounds streamed to the last run', () => amount >= amountAtResume + 25n, 60000)
    .catch((e) => rig.check(false, e.message));
  streaming = false;
  await stream;
  await a.mine(2);
  await b.mine(3);
  node.mineEmpty(20);

  // the expected sets, from the nodes
  const evmExpected = async (nodeX, token, conf) => {
    const head = await nodeX.head();
    const logs = await nodeX.rpc('eth_getLogs', [{ fromBlock: '0x0', toBlock: 'latest', address: token.address, topics: [TRANSFER_TOPIC] }]);
    return logs.filter((l) => '0x' + l.topics[2].slice(26) === ACME_EVM && Number(BigInt(l.blockNumber)) + conf - 1 <= head)
      .map((l) => `${l.blockHash}/${Number(BigInt(l.logIndex))}/${l.transactionHash}/${BigInt(l.data)}`).sort();
  };
  const want = {
    'eth-ws': await evmExpected(a, ta, 2),
    'base-http': await evmExpected(b, tb, 3),
    tron: node.transfers(node.blocks[0].number, node.solidified, (e) => e.token === usdt && e.to === acmeHex && e.value > 0n)
      .map((e) => `${e.blockHash}/${e.logIndex}/${e.tx}/${e.value}`).sort(),
  };
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const total = Object.values(want).reduce((s, x) => s + x.length, 0);
  await rig.waitFor(`all ${total} payments`, async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n >= total, 60000)
    .catch((e) => rig.check(false, e.message));
  await rig.settled(bin, cfg, { 'eth-ws': await a.head(), 'base-http': await b.head(), tron: node.head })
    .catch((e) => rig.check(false, e.message)); // anything extra is there now
  for (const chain of Object.keys(want)) {
    const rows = (await db.query('SELECT block_hash, log_index, tx_hash, amount_raw::text AS v FROM payments WHERE chain = $1', [chain])).rows
      .map((x) => `${x.block_hash}/${x.log_index}/${x.tx_hash}/${x.v}`).sort();
    const wantC = chain === 'tron' ? want[chain] : want[chain];
    rig.check(wantC.length > 5 && JSON.stringify(rows) === JSON.stringify(wantC),
      `${chain}: Postgres equals its payments (${rows.length} rows, ${wantC.length} expected)`);
  }
  const fixtureRow = (await db.query(`SELECT to_address, amount::text FROM payments WHERE chain = 'tron' AND tx_hash = $1`,
    ['0af79242191c6728b79e858a36a4b5c65e4e52b9fcee4dc5af30eac57b6d0953'])).rows[0];
  rig.check(fixtureRow && fixtureRow.to_address === ACME_TRON && fixtureRow.amount === '532.079999', 'the real Tron transfer is there');

  // webhooks: one per payment, each in its chain's forms
  // at least once: deliveries in flight at the SIGKILL are sent again when
  // their lease ends, so a repeat can come before the last first delivery;
  // wait for every payment, not for as many requests
  const announced = (recs) => new Set(recs.filter((x) => x.sig_ok).map((x) => {
    const d = JSON.parse(x.body).data;
    return `${d.chain}/${d.block_hash}/${d.log_index}`;
  })).size;
  await rig.waitFor('a webhook per payment', async () => announced(await recv.records()) >= total, 90000)
    .catch((e) => rig.check(false, e.message));
  // a request cut short by the SIGKILL reaches the receiver with part of
  // its body and fails the signature check: only signed ones are read
  const bodies = (await recv.records()).filter((x) => x.sig_ok).map((x) => JSON.parse(x.body).data);
  const ids = new Set(bodies.map((d) => `${d.chain}/${d.block_hash}/${d.log_index}`));
  rig.check(ids.size === total, `each payment announced (${ids.size} distinct of ${total})`);
  const evmForm = (d) => /^0x[0-9a-f]{64}$/.test(d.tx_hash) && /^0x[0-9a-f]{64}$/.test(d.block_hash) && d.to === ACME_EVM &&
    /^0x[0-9a-f]{40}$/.test(d.from) && /^0x[0-9a-f]{40}$/.test(d.token.address);
  const tronForm = (d) => /^[0-9a-f]{64}$/.test(d.tx_hash) && /^[0-9a-f]{64}$/.test(d.block_hash) && d.to === ACME_TRON &&
    /^T[1-9A-HJ-NP-Za-km-z]{33}$/.test(d.from) && d.token.address === USDT_TRON;
  for (const chain of Object.keys(want)) {
    const mine = bodies.filter((d) => d.chain === chain);
    rig.check(mine.length >= want[chain].length && mine.every(chain === 'tron' ? tronForm : evmForm),
      `${chain}: webhooks in its own forms (${mine.length}; e.g. ${JSON.stringify(mine[0])})`);
  }
  // the API in each family's forms: Tron addresses as T... or hex 41..., tx hashes without 0x
  const api = async (q) => (await fetch(`http://127.0.0.1:${apiPort}${q}`, { headers: { authorization: `Bearer ${API_KEY}` } })).json();
  const tronRows = (await db.query(`SELECT count(*)::int n FROM payments WHERE chain = 'tron'`)).rows[0].n;
  const byT = await api(`/v1/payments?chain=tron&to=${ACME_TRON}&limit=1000`);
  const byHex = await api(`/v1/payments?chain=tron&to=41${acmeHex.toUpperCase()}&limit=1000`);
  const byTx = await api('/v1/payments?tx_hash=0AF79242191C6728B79E858A36A4B5C65E4E52B9FCEE4DC5AF30EAC57B6D0953');
  rig.check(byT.data?.length === tronRows && byHex.data?.length === tronRows && byT.data.every(tronForm) &&
    byTx.data?.length === 1 && byTx.data[0].to === ACME_TRON,
    `/v1/payments: Tron's to= as T... or 41 hex, tx_hash in any case without 0x (${byT.data?.length}, ${byHex.data?.length}, ${byTx.data?.length} of ${tronRows})`);
  const feed = await api('/v1/events?limit=1000');
  const fromFeed = feed.data.filter((e) => e.data.chain === 'tron');
  rig.check(fromFeed.length === tronRows && fromFeed.every((e) => tronForm(e.data)), `/v1/events: the Tron events in Tron's forms (${fromFeed.length})`);
  rig.check(/chain=base-http connected to http:\/\/127\.0\.0\.1:\d+/.test(pw.stderr) &&
    /chain=eth-ws connected to ws:\/\/127\.0\.0\.1:\d+/.test(pw.stderr), 'one chain over each transport');
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'SIGTERM exits 0');
}

rig.runTest('e2e_families', main);
