// test_tron.mjs: Tron USDT end to end against the Tron stand-in
// (lib/tronnode.mjs: NOT a Tron node -- none can run here -- but a server
// speaking java-tron's JSON-RPC as its code describes it), a real Postgres
// and a real webhook receiver. The config is issue 12's Tron config (its
// start block moved to the fixtures' history):
//  1. backfill: the exact set of USDT payments to merchant T... addresses,
//     built from block 30864600's real Transfer and TronGrid's real TRC-20
//     list, among decoys (other recipients, zero values, another TRC-20
//     contract, Approval logs); Tron's forms in Postgres (T... addresses,
//     hashes as 64 hex digits without 0x) and the fixture's exact values;
//  2. java-tron's limits (a node configured with jsonrpc.maxBlockRange 30
//     and a result limit of 8 blocks): "exceed max block range" and -32005
//     "query returned more than N results" make ranges smaller, never
//     skipped (the node served every block), and are not read as rate
//     limits; HTTP 429 and 503 are waited out;
//  3. live: nothing before the solidified block ("finalized"); a reorg
//     before solidification never reaches Postgres, its replacement does;
//  4. webhooks carry Tron's forms; the API key header is sent and never
//     shown (logs, status, check-config);
//  5. status and replay work for the Tron chain (a deleted row comes back);
//  6. migration 007 on a database with EVM rows: the rows untouched;
//  7. (in 1) HD deposit addresses on Tron: an xpub's derived T... addresses
//     under a gap limit of 5: indexes 0, 4 and 8 are payments (4 grows the
//     window over 8), 20 is not.
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';
import * as tron from './lib/tronnode.mjs';
import { createRequire } from 'node:module';

const { HDNodeWallet, Mnemonic } = createRequire(import.meta.url)('ethers');

const bin = process.argv[2];
const USDT = 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t';
const API_KEY = 'trongridKEY-5e3c1d9aSECRET';
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

async function main() {
  const work = rig.workDir('pw-tron-');
  const fx = tron.loadFixtures(rig.fixturesDir);
  const usdt = tron.tronToHex20(USDT).hex;
  rig.check(fx.trc20.length === 19 && fx.trc20.every((t) => t.token === usdt && t.decimals === 6),
    `TronGrid's list: 19 distinct USDT transfers (${fx.trc20.length})`);
  const fixtureLog = fx.txs.find((t) => t.logs.length).logs[0];
  const FIRST = fx.block - 10;
  const node = await new tron.TronStandIn({ firstBlock: FIRST, firstTime: fx.blockTime - 30, maxBlockRange: 30, maxResult: 8,
    apiKey: API_KEY }).listen();
  rig.onCleanup(() => node.close());
  const deadPort = rig.DEAD_PORT;

  // merchants: the fixture's recipient, recipients from TronGrid's list
  const acme = ['TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt', tron.hex20ToTron(fx.trc20[0].to)];
  const globexHex = '41' + fx.trc20[1].to; // hex input form
  const globex = tron.hex20ToTron(fx.trc20[1].to);
  const merchantOf = new Map([...acme.map((a) => [tron.tronToHex20(a).hex, 'acme']), [fx.trc20[1].to, 'globex']]);

  // ---- the scripted history
  const r = tron.rng(12);
  const other = tron.randomHex20(r); // another TRC-20 contract
  const decoys = () => {
    const to = tron.randomHex20(r), acmeHex = tron.tronToHex20(acme[0]).hex;
    return [
      { logs: [tron.transferLog(usdt, tron.randomHex20(r), to, BigInt(1 + Math.floor(r() * 1e9)))] },
      { logs: [tron.transferLog(usdt, tron.randomHex20(r), acmeHex, 0n)] },                 // zero value: address poisoning
      { logs: [tron.transferLog(other, tron.randomHex20(r), acmeHex, 5_000_000n)] },         // not a watched token
      { logs: [tron.approvalLog(usdt, acmeHex, tron.randomHex20(r), 7n)] },                  // not a Transfer
    ];
  };
  for (let n = FIRST + 1; n < fx.block; n++) node.mine(decoys());
  node.mine(fx.txs, fx.blockTime); // block 30864600, its real transactions and time
  rig.check(node.head === fx.block, `the fixture block is ${fx.block}`);
  for (const t of fx.trc20) node.mine([...decoys(), { id: t.id, logs: [tron.transferLog(t.token, t.from, t.to, t.value)] }]);
  // HD deposit addresses on Tron: an xpub (ethers, the test mnemonic's
  // m/44'/60'/0'), gap limit 5: indexes 0 and 4 are in the first window, 8
  // is once 4 grew it to 9 (a later block, likely a later range), 20 never
  const hdAccount = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase('test test test test test test test test test test test junk'), "m/44'/60'/0'");
  const hdHex = (i) => hdAccount.deriveChild(0).deriveChild(i).address.slice(2).toLowerCase(); // Tron: 0x41 + these 20 bytes
  for (const i of [0, 4, 8, 20]) node.mine([...decoys(), { logs: [tron.transferLog(usdt, tron.randomHex20(r), hdHex(i), 7_000_000n + BigInt(i))] }]);
  for (const i of [0, 4, 8]) merchantOf.set(hdHex(i), 'tronshop');
  // a busy stretch: many blocks with merchant payments (the result limit)
  for (let i = 0; i < 30; i++) node.mine([{ logs: [tron.transferLog(usdt, tron.randomHex20(r), fx.trc20[1].to, 1_000_000n + BigInt(i))] }]);
  node.mineEmpty(25);

  const recv = await rig.startReceiver(work, { '/globex': SECRET });
  const pg = await rig.startPostgres();
  const cfgObj = {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'tron', kind: 'tron', chain_id: 728126428,
      http_urls: [`http://127.0.0.1:${deadPort}/jsonrpc`, '${TRON_RPC_URL}'], http_headers: { 'TRON-PRO-API-KEY': '${TRONGRID_KEY}' },
      finality: 'finalized', start_block: FIRST, poll_interval_ms: 200,
      tokens: [{ symbol: 'USDT', address: USDT, decimals: 6 }] }],
    merchants: [
      { id: 'acme', addresses: { tron: acme } },
      { id: 'globex', addresses: { tron: [globexHex] }, webhook: { url: recv.base + '/globex', secret: SECRET } },
      { id: 'tronshop', xpub: { key: hdAccount.neuter().extendedKey, path: '0/*', chains: ['tron'], gap_limit: 5 } },
    ],
    webhooks: { allow_private_targets: true, retry_schedule_s: [0, 1, 1, 1] },
  };
  const cfg = rig.writeConfig(work, cfgObj);
  const env = { TRON_RPC_URL: node.url, TRONGRID_KEY: API_KEY };
  const outputs = [];
  const cc = rig.runPaywatchSync(bin, ['check-config', '-c', cfg], env);
  outputs.push(cc.stdout + cc.stderr);
  rig.check(cc.status === 0 && /\*\*\*\*/.test(cc.stdout), `check-config accepts the Tron config (${cc.stderr.trim()})`);
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg], env).status === 0, 'migrate');
  let pw = rig.startPaywatch(bin, ['--log-level', 'debug', 'run', '-c', cfg], env);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));

  const expected = () => node.transfers(FIRST, node.solidified, (e) => e.token === usdt && e.value > 0n && merchantOf.has(e.to));
  const rowsNow = async () => (await db.query(`SELECT chain, chain_family, chain_id::text, block_number::text, block_hash, tx_hash,
      log_index, token_address, token_symbol, from_address, to_address, merchant_id, amount::text, amount_raw::text,
      extract(epoch FROM block_time)::bigint::text AS time, status FROM payments ORDER BY block_number, log_index`)).rows;
  const key = (b, h, i) => `${b}/${h}/${i}`;
  const checkExact = async (what) => {
    const want = expected();
    await rig.waitFor(`${what}: ${want.length} payments`, async () =>
      (await db.query(`SELECT count(*)::int AS n FROM payments WHERE status = 'confirmed'`)).rows[0].n >= want.length, 30000)
      .catch((e) => rig.check(false, e.message));
    const rows = (await rowsNow()).filter((x) => x.status === 'confirmed');
    const got = new Map(rows.map((x) => [key(x.block_number, x.block_hash, x.log_index), x]));
    let bad = 0;
    for (const e of want) {
      const x = got.get(key(String(e.block), e.blockHash, e.logIndex));
      const ok = x && x.chain === 'tron' && x.chain_family === 'tron' && x.chain_id === '728126428' && x.tx_hash === e.tx &&
        x.token_address === USDT && x.token_symbol === 'USDT' && x.from_address === tron.hex20ToTron(e.from) &&
        x.to_address === tron.hex20ToTron(e.to) && x.merchant_id === merchantOf.get(e.to) && x.amount_raw === e.value.toString() &&
        x.amount === rig.formatUnits(e.value, 6) && x.time === String(e.time);
      if (!ok) { bad++; if (bad < 4) console.error('expected', e, 'got', x); }
    }
    rig.check(rows.length === want.length && bad === 0, `${what}: exactly the ${want.length} payments, every column exact (${rows.length} rows, ${bad} wrong)`);
    return rows;
  };

  // ---- 1. backfill
  const rows1 = await checkExact('backfill');
  const fixtureRow = rows1.find((x) => x.block_number === String(fx.block));
  rig.check(fixtureRow && fixtureRow.tx_hash === '0af79242191c6728b79e858a36a4b5c65e4e52b9fcee4dc5af30eac57b6d0953' &&
    fixtureRow.from_address === 'TWpZXLfsvVuQuJZLkdWNY7XY2teePqPpz7' && fixtureRow.to_address === 'TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt' &&
    fixtureRow.amount === '532.079999' && fixtureRow.time === '1623056091' && /^[0-9a-f]{64}$/.test(fixtureRow.block_hash) &&
    fixtureRow.block_hash.startsWith(fx.block.toString(16).padStart(16, '0')),
  `block 30864600's USDT transfer as TronGrid shows it (${JSON.stringify(fixtureRow)})`);
  rig.check(fixtureLog.topics[2].endsWith(tron.tronToHex20('TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt').hex), 'the fixture log pays TBA6Cy...');
  rig.check(/endpoint 0: cannot connect/.test(pw.stderr) && /connected to http:\/\/127\.0\.0\.1:\d+\/\*\*\*\*/.test(pw.stderr),
    'the dead first URL is skipped, the second used (its path masked)');

  // ---- 2. java-tron's limits, never a skipped block
  const refusedRange = node.requests.filter((q) => q.error && /exceed max block range: 30/.test(q.error.message)).length;
  const refusedResults = node.requests.filter((q) => q.error && q.error.code === -32005).length;
  rig.check(refusedRange > 0 && refusedResults > 0,
    `the node refused wide ranges (${refusedRange}) and ranges of too many results (${refusedResults})`);
  rig.check(/exceed max block range: 30/.test(pw.stderr) && /query returned more than 8 results/.test(pw.stderr),
    'both refusals are logged');
  rig.check(!/rate limited/.test(pw.stderr), 'neither is read as a rate limit');
  const covered = (to) => {
    const s = new Set();
    for (const [a, b] of node.served) for (let n = a; n <= b; n++) s.add(n);
    let missing = 0;
    for (let n = FIRST; n <= to; n++) if (!s.has(n)) missing++;
    return missing;
  };
  rig.check(covered(node.solidified) === 0, `every block up to the solidified one was read (${covered(node.solidified)} missing)`);

  // ---- 3. live, the solidified block, a reorg before solidification
  let early = 0, looks = 0, polling = true;
  const seen = new Set();
  const poller = (async () => {
    while (polling) {
      const solid = node.solidified;
      for (const x of (await db.query('SELECT block_number::int AS b, block_hash FROM payments')).rows) {
        seen.add(x.block_hash);
        if (x.b > solid) early++;
      }
      looks++;
      await rig.sleep(30);
    }
  })();
  node.failNext(3, 429, ['eth_getLogs']);
  node.failNext(2, 503, ['eth_getLogs']);
  const acmeHex = tron.tronToHex20(acme[1]).hex, globexTo = fx.trc20[1].to;
  for (let i = 0; i < 6; i++) { node.mine([...decoys(), { logs: [tron.transferLog(usdt, tron.randomHex20(r), acmeHex, 2_000_000n + BigInt(i))] }]); await rig.sleep(120); }
  node.mine([{ logs: [tron.transferLog(usdt, tron.randomHex20(r), acmeHex, 4_242_000_000n)] }]);
  node.mineEmpty(2);
  await rig.waitFor('paywatch to see the head', () => new RegExp(`head \\D*${node.head}`).test(pw.stderr) ||
    [...pw.stderr.matchAll(/applied \[\d+, (\d+)\]/g)].some((m) => Number(m[1]) >= node.head), 20000).catch(() => {});
  const orphaned = node.reorg(3, [[{ logs: [tron.transferLog(usdt, tron.randomHex20(r), globexTo, 4_243_000_000n)] }]]);
  node.mine([]);
  for (let i = 0; i < 25; i++) { node.mine([]); await rig.sleep(40); }
  const rows3 = await checkExact('live');
  polling = false;
  await poller;
  rig.check(early === 0 && looks > 20, `no payment before its block is solidified (${early} early in ${looks} looks)`);
  rig.check(orphaned.every((b) => !seen.has(b.hash)) && !rows3.some((x) => x.amount_raw === '4242000000'),
    'the orphaned payment never reached Postgres');
  rig.check(rows3.some((x) => x.amount_raw === '4243000000' && x.merchant_id === 'globex'), 'its replacement did');
  rig.check(/rate limited/.test(pw.stderr) && node.requests.filter((q) => q.http === 429).length === 3, 'HTTP 429 waited out');
  rig.check(covered(node.solidified) === 0, 'no block skipped in the live part either');

  // ---- 4. webhooks in Tron's forms; the key sent and never shown
  await rig.waitFor('globex webhooks', async () => {
    const n = (await db.query(`SELECT count(*)::int AS n FROM payments WHERE merchant_id = 'globex' AND status = 'confirmed'`)).rows[0].n;
    return (await recv.records()).filter((x) => x.sig_ok).length >= n && n > 0;
  }, 30000).catch((e) => rig.check(false, e.message));
  const recs = await recv.records();
  const bodies = recs.map((x) => JSON.parse(x.body));
  rig.check(recs.length > 0 && recs.every((x) => x.sig_ok) && bodies.every((b) => b.type === 'payment.confirmed' &&
    b.data.chain === 'tron' && b.data.to === globex && /^T[1-9A-HJ-NP-Za-km-z]{33}$/.test(b.data.from) &&
    /^[0-9a-f]{64}$/.test(b.data.tx_hash) && /^[0-9a-f]{64}$/.test(b.data.block_hash) && b.data.token.address === USDT),
  `webhooks carry Tron's forms (${JSON.stringify(bodies[0]?.data)})`);
  rig.check(node.requests.filter((q) => q.method === 'unauthorized').length === 0, 'every request carried the API key');
  const st = rig.runPaywatchSync(bin, ['status', '-c', cfg, '--json'], env);
  outputs.push(st.stdout + st.stderr);
  let status = null;
  try { status = JSON.parse(st.stdout).chains[0]; } catch {}
  rig.check(status && status.kind === 'tron' && status.transport === 'http' && status.finality === 'finalized' &&
    status.finalized >= node.solidified - 5 && status.checkpoint >= node.solidified - 5,
  `status for the Tron chain (${st.stdout.trim().slice(0, 300)})`);
  const txt = rig.runPaywatchSync(bin, ['status', '-c', cfg], env);
  outputs.push(txt.stdout + txt.stderr);
  rig.check(/chain tron \(tron, chain id 728126428, JSON-RPC over HTTP\)/.test(txt.stdout), 'status text names the family and transport');

  // ---- 5. replay: a deleted row comes back
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'paywatch stops on SIGTERM');
  outputs.push(pw.stderr);
  const victim = rows3.find((x) => x.block_number === String(fx.block));
  await db.query('DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM webhook_events WHERE payment_id IN (SELECT id FROM payments WHERE block_hash = $1))', [victim.block_hash]);
  await db.query('DELETE FROM webhook_events WHERE payment_id IN (SELECT id FROM payments WHERE block_hash = $1)', [victim.block_hash]);
  await db.query('DELETE FROM payments WHERE block_hash = $1', [victim.block_hash]);
  const rp = await rig.runPaywatch(bin, ['replay', '-c', cfg, '--chain', 'tron', '--from', String(FIRST), '--to', String(node.solidified),
    '--address', 'TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt', '--json'], env);
  outputs.push(rp.stdout + rp.stderr);
  let rj = null;
  try { rj = JSON.parse(rp.stdout); } catch {}
  rig.check(rp.status === 0 && rj && rj.inserted === 1 && rj.missing === 1 && rj.differing === 0,
    `replay --address T... re-inserts the deleted row (${rp.stdout.trim().slice(0, 300)} ${rp.stderr.trim().slice(-300)})`);
  const back = (await rowsNow()).find((x) => x.block_hash === victim.block_hash && x.log_index === victim.log_index);
  rig.check(back && JSON.stringify(back) === JSON.stringify(victim), 'the row is back with the same values');
  const rp2 = await rig.runPaywatch(bin, ['replay', '-c', cfg, '--chain', 'tron', '--from', String(FIRST), '--to', String(node.solidified), '--json'], env);
  let rj2 = null;
  try { rj2 = JSON.parse(rp2.stdout); } catch {}
  rig.check(rp2.status === 0 && rj2 && rj2.present === rj2.payments_found && rj2.missing === 0 && rj2.differing === 0,
    `a second replay finds everything present (${rp2.stdout.trim().slice(0, 200)})`);
  const bad = await rig.runPaywatch(bin, ['replay', '-c', cfg, '--chain', 'tron', '--from', '1', '--to', '2', '--address',
    'TR7NHqjeKQxGTCi8q8ZAAPMTBF2aUEHQrR'], env);
  rig.check(bad.status === 2 && /checksum/.test(bad.stderr), `replay --address with a bad checksum is refused (${bad.stderr.trim()})`);
  for (const o of outputs) if (o.includes(API_KEY)) rig.check(false, 'the API key appeared in an output: ' + o.slice(0, 200));
  rig.check(outputs.length >= 5, 'outputs checked for the API key');

  // ---- 6. migration 007 on a database of EVM rows
  await (await pg.client('postgres')).query('CREATE DATABASE upgrade').catch(() => {});
  const up = await pg.client('upgrade');
  rig.onCleanup(() => up.end().catch(() => {}));
  await rig.migrateBefore(up, '007');
  const evmRow = ['local', 31337, 5, '0x' + 'ab'.repeat(32), '0x' + 'cd'.repeat(32), 0, '0x' + '11'.repeat(20), '0x' + '22'.repeat(20), '0x' + '33'.repeat(20)];
  await up.query(`INSERT INTO merchants (id) VALUES ('acme')`);
  await up.query(`INSERT INTO merchant_addresses (chain, address, merchant_id) VALUES ('local', $1, 'acme')`, ['0x' + '33'.repeat(20)]);
  await up.query(`INSERT INTO payments (chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index, token_address,
      token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount, status, confirmations, confirmed_at)
      VALUES ($1, $2, $3, $4, now(), $5, $6, $7, 'USDC', $8, $9, 'acme', 1500000, 6, 1.5, 'confirmed', 3, now())`, evmRow);
  const before = (await up.query('SELECT * FROM payments')).rows[0];
  const upCfg = rig.writeConfig(fs.mkdtempSync(path.join(work, 'up')), { ...cfgObj, postgres: { dsn: pg.dsn('upgrade') } });
  const mig = rig.runPaywatchSync(bin, ['migrate', '-c', upCfg], env);
  // 007 and every later migration (all of schema/ from 007 on) apply over the EVM rows
  const later = rig.migrations().filter((n) => n >= '007').length;
  rig.check(mig.status === 0 && new RegExp(`${later} migration\\(s\\) applied`).test(mig.stderr),
    `007 (and the ${later - 1} after it) apply on a database of EVM rows (${mig.stderr.trim()})`);
  const after = (await up.query('SELECT * FROM payments')).rows[0];
  const { chain_family: fam, times_confirmed: confirmedN, times_reverted: revertedN, ...rest } = after;
  rig.check(fam === 'evm' && JSON.stringify(rest) === JSON.stringify(before), 'the existing row is untouched and reads as EVM');
  rig.check(confirmedN === 1 && revertedN === 0, `021 counts its one confirmation (${confirmedN}, ${revertedN})`);
  rig.check((await up.query(`SELECT chain_family FROM merchant_addresses`)).rows[0].chain_family === 'evm', 'existing addresses read as EVM');
  // 010: the event feed starts with the history (one payment.confirmed per payment, the id webhooks would give it)
  const feed = (await up.query(`SELECT f.id, f.type, f.payment_id::int, f.id = paywatch_event_id(p.chain_id, p.block_hash, p.log_index,
    'payment.confirmed') AS same_id FROM event_feed f JOIN payments p ON p.id = f.payment_id`)).rows;
  rig.check(feed.length === 1 && feed[0].type === 'payment.confirmed' && feed[0].same_id && feed[0].payment_id === Number(before.id),
    `010 writes the existing payment into the event feed (${JSON.stringify(feed)})`);
  const refused = await up.query(`UPDATE payments SET chain_family = 'tron'`).then(() => false, () => true);
  rig.check(refused, 'an EVM row cannot be relabelled Tron: its hashes do not fit Tron\'s CHECKs');
}

rig.runTest('e2e_tron', main);
