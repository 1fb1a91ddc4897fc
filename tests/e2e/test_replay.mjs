// test_replay.mjs: `paywatch replay` on a real anvil and a real Postgres.
//  0. a replay before `run`: run's batches over rows already there fall
//     back from the direct COPY to the upsert (no duplicate, one event);
//  1. rows deleted from Postgres come back exactly, with webhook events for
//     them alone; a second replay inserts nothing;
//  2. --dry-run changes nothing (full dump of the tables before and after);
//  3. a row planted with a non-canonical block hash is marked reverted with a
//     payment.reverted event; a differing row is reported, fixed with --fix;
//  4. a merchant address added to the config after its payments were mined:
//     replay --merchant finds exactly its payments; --no-webhooks queues none;
//  5. a range beyond the confirmed height is clipped and says so;
//  6. replay while `paywatch run` indexes the same chain (live transfers,
//     deleted rows): the final table is exactly the chain's, no duplicates;
//  7. SIGINT stops cleanly, reports the last block completed, and a resume
//     from there completes; memory stays flat from 2 k to 40 k blocks;
//  8. bad arguments exit 2 with a clear message.
// The expected payments always come from the node's own eth_getLogs,
// decoded here, independently of paywatch.
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const TRANSFER = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const globex = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
const hooli = '0x90f79bf6eb2c4f870365e785982e1f101e93b906'; // paid before it was configured
const stranger = '0x15d34aaf54267db7d7c367839aaf71a00a2c6a65';
const CONF = 2;

function runJson(args, env = {}) {
  const r = rig.runPaywatchSync(bin, [...args, '--json'], env);
  let out = null;
  try { out = JSON.parse(r.stdout); } catch { /* checked by the caller */ }
  return { status: r.status, out, stderr: r.stderr, stdout: r.stdout };
}

async function main() {
  const work = rig.workDir('pw-replay-');
  // --prune-history: section 7 mines 40,000 blocks; a default anvil would
  // persist their states to ~/.foundry (gigabytes, left behind on SIGKILL)
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil(['--prune-history', '256'])]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const deadPort = rig.DEAD_PORT; // webhooks are only queued here, never answered
  const merchants = [
    { id: 'acme', addresses: { local: [acme] }, webhook: { url: `http://127.0.0.1:${deadPort}/acme`, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' } },
    { id: 'globex', addresses: { local: [globex] }, webhook: { url: `http://127.0.0.1:${deadPort}/globex`, secret: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD' } },
  ];
  const cfgObj = {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: CONF, max_range: 50,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants,
    webhooks: { allow_private_targets: true, retry_schedule_s: [0, 3600] },
  };
  const cfg = rig.writeConfig(work, cfgObj);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));

  // history: single transfers and batches (several payments per block), to
  // merchants, to hooli (not configured yet) and to a stranger
  let amount = 1_000_000n;
  for (let i = 0; i < 12; i++) {
    await node.receipt(await token.transfer(deployer, [acme, globex, hooli, stranger][i % 4], amount++));
    if (i % 3 === 0) await node.receipt(await token.batchTransfer(deployer, [acme, globex, hooli, acme], [amount++, amount++, amount++, amount++]));
  }
  await node.mine(CONF + 1);

  // the chain's payments, decoded here from eth_getLogs
  const chainPayments = async (addrs, to = 'latest') => {
    const logs = await node.rpc('eth_getLogs', [{ fromBlock: '0x0', toBlock: to, address: token.address, topics: [TRANSFER] }]);
    return logs.map((l) => ({
      block_number: Number(BigInt(l.blockNumber)), block_hash: l.blockHash, tx_hash: l.transactionHash,
      log_index: Number(BigInt(l.logIndex)), to_address: '0x' + l.topics[2].slice(26),
      from_address: '0x' + l.topics[1].slice(26), amount_raw: BigInt(l.data).toString(),
    })).filter((p) => addrs.includes(p.to_address) && p.amount_raw !== '0');
  };
  const key = (p) => `${p.block_hash}:${p.log_index}`;
  const columns = 'block_number, block_hash, tx_hash, log_index, to_address, from_address, amount_raw::text, merchant_id, status, token_address, token_symbol, decimals, amount::text, extract(epoch from block_time)::bigint AS t';
  const rows = async (where = 'true') => (await db.query(`SELECT ${columns} FROM payments WHERE ${where} ORDER BY block_number, log_index`)).rows;
  const sameAsChain = (got, want, what) => {
    const g = new Map(got.map((r) => [key(r), r]));
    rig.check(got.length === want.length, `${what}: ${got.length} rows, chain has ${want.length}`);
    let bad = 0;
    for (const w of want) {
      const r = g.get(key(w));
      if (!r || r.tx_hash !== w.tx_hash || r.to_address !== w.to_address || r.from_address !== w.from_address ||
          r.amount_raw !== w.amount_raw || r.block_number !== String(w.block_number) && r.block_number !== w.block_number) bad++;
    }
    rig.check(bad === 0, `${what}: ${bad} payment(s) missing or different`);
  };

  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  // ---- 0. a replay of the first half before `run` starts: run's batch
  // meets rows already there, so its direct COPY is rolled back and the
  // batch goes through the upsert: every payment once, one event each
  const merchantsWant = await chainPayments([acme, globex]);
  const mid = merchantsWant[merchantsWant.length >> 1].block_number;
  const first = runJson(['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(mid)]);
  const firstN = merchantsWant.filter((p) => p.block_number <= mid).length;
  rig.check(first.status === 0 && first.out && first.out.inserted === firstN, `replay of blocks 0..${mid} first: ${firstN} rows (${first.stdout})`);
  let pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  await rig.waitFor('run to confirm every payment', async () => (await rows()).length === merchantsWant.length, 30000);
  pw.proc.kill('SIGTERM');
  await pw.done;
  // batches are cut as the ranges come: add them up
  const writes = [...pw.stderr.matchAll(/outbox entries written by (copy|upsert|one statement) \((\d+) new, (\d+) already present/g)];
  const sum = (i) => writes.reduce((a, m) => a + Number(m[i]), 0);
  rig.check(sum(2) === merchantsWant.length - firstN && sum(3) === firstN,
    `run wrote ${sum(2)} new rows and found ${sum(3)} present (want ${merchantsWant.length - firstN} and ${firstN})`);
  rig.check(writes.every((m) => m[1] !== 'copy' || m[3] === '0') && writes.some((m) => m[1] !== 'copy' && m[3] !== '0'),
    `batches over the replayed rows went by the upsert or one statement, not the COPY: ${writes.map((m) => m[0].replace('outbox entries written ', '')).join('; ')}`);
  const original = await rows();
  sameAsChain(original, merchantsWant, 'after run');
  const oneEvent = (await db.query(`SELECT count(*)::int AS n FROM payments p WHERE (SELECT count(*) FROM webhook_events e WHERE e.payment_id = p.id AND e.type = 'payment.confirmed') <> 1`)).rows[0].n;
  rig.check(oneEvent === 0, `after replay then run, every payment has exactly one payment.confirmed event (${oneEvent} do not)`);
  const head = await node.head();
  const confirmedHeight = head - CONF + 1;

  // ---- 1. delete rows, replay: exactly those come back, events for them alone
  const victims = original.filter((_, i) => i % 5 === 1);
  const victimKeys = new Set(victims.map(key));
  const delWhere = `(block_hash, log_index) IN (${victims.map((v) => `('${v.block_hash}', ${v.log_index})`).join(', ')})`;
  await db.query(`DELETE FROM webhook_deliveries WHERE event_id IN (SELECT e.id FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE ${delWhere.replace(/\(block_hash, log_index\)/, '(p.block_hash, p.log_index)')})`);
  await db.query(`DELETE FROM webhook_events WHERE payment_id IN (SELECT id FROM payments WHERE ${delWhere})`);
  await db.query(`DELETE FROM payments WHERE ${delWhere}`);
  rig.check((await rows()).length === original.length - victims.length, 'victims deleted');

  // ---- 2. --dry-run first: a full dump of every table before and after
  const dump = async () => {
    const out = {};
    for (const t of ['payments', 'webhook_events', 'webhook_deliveries', 'webhook_attempts', 'merchants', 'merchant_addresses', 'webhook_endpoints'])
      out[t] = (await db.query(`SELECT * FROM ${t} ORDER BY 1, 2`)).rows;
    return JSON.stringify(out);
  };
  const before = await dump();
  const dry = runJson(['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(confirmedHeight), '--dry-run']);
  rig.check(dry.status === 0, `dry run exits 0 (got ${dry.status}: ${dry.stderr.slice(-300)})`);
  rig.check(dry.out && dry.out.missing === victims.length && dry.out.inserted === 0 && dry.out.dry_run === true,
    `dry run reports ${victims.length} missing, inserts none: ${dry.stdout}`);
  rig.check((await dump()) === before, 'dry run changed nothing in any table');

  const eventsBefore = (await db.query(`SELECT id FROM webhook_events`)).rows.map((r) => r.id);
  const repStart = (await db.query(`SELECT now() AS t`)).rows[0].t;
  const rep = runJson(['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(confirmedHeight)]);
  rig.check(rep.status === 0, `replay exits 0 (got ${rep.status}: ${rep.stderr.slice(-300)})`);
  // the restored rows came by the direct COPY, with timestamps written as
  // text: confirmed_at is the replay's own time, to the millisecond
  const badTimes = (await db.query(`SELECT count(*)::int AS n FROM payments WHERE ${delWhere} AND NOT (confirmed_at BETWEEN $1 AND now()
    AND date_trunc('milliseconds', confirmed_at) = confirmed_at)`, [repStart])).rows[0].n;
  rig.check(badTimes === 0, `restored rows: confirmed_at within the replay, in milliseconds (${badTimes} not)`);
  rig.check(rep.out && rep.out.inserted === victims.length && rep.out.missing === victims.length &&
    rep.out.present === original.length - victims.length && rep.out.outcome === 'complete' && rep.out.clipped === false,
    `replay inserted exactly the ${victims.length} deleted rows: ${rep.stdout}`);
  const restored = await rows();
  rig.check(JSON.stringify(restored) === JSON.stringify(original), 'every column of the restored rows equals the original');
  const newEvents = (await db.query(`SELECT e.id, e.type, p.block_hash, p.log_index FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE NOT (e.id = ANY($1))`, [eventsBefore])).rows;
  rig.check(newEvents.length === victims.length && newEvents.every((e) => e.type === 'payment.confirmed' && victimKeys.has(key(e))),
    `webhook events queued for the restored payments alone (${newEvents.length} new, ${victims.length} restored)`);
  const deliveries = (await db.query(`SELECT count(*)::int AS n FROM webhook_deliveries d WHERE NOT (d.event_id = ANY($1))`, [eventsBefore])).rows[0].n;
  rig.check(deliveries === victims.length && rep.out.webhook_deliveries_queued === victims.length,
    `one delivery per restored payment (${deliveries} in the table, ${rep.out.webhook_deliveries_queued} reported)`);
  const again = runJson(['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(confirmedHeight)]);
  rig.check(again.status === 0 && again.out && again.out.inserted === 0 && again.out.present === original.length &&
    again.out.webhook_deliveries_queued === 0, `a second replay inserts nothing: ${again.stdout}`);

  // ---- 3. a planted non-canonical row is reverted; a differing row reported, then fixed
  const base = original[0];
  const fakeHash = '0x' + 'ab'.repeat(32);
  await db.query(`INSERT INTO payments (chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index, token_address, token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount, status, confirmations, confirmed_at)
    SELECT chain, chain_id, block_number, $1, block_time, tx_hash, log_index, token_address, token_symbol, from_address, to_address, merchant_id, 777, decimals, 0.000777, 'confirmed', confirmations, confirmed_at
    FROM payments WHERE block_hash = $2 AND log_index = $3`, [fakeHash, base.block_hash, base.log_index]);
  const tampered = original[original.length - 1];
  await db.query(`UPDATE payments SET amount_raw = 1, amount = 0.000001 WHERE block_hash = $1 AND log_index = $2`, [tampered.block_hash, tampered.log_index]);
  const rec = runJson(['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(confirmedHeight)]);
  rig.check(rec.status === 0 && rec.out && rec.out.reverted === 1 && rec.out.differing === 1 && rec.out.fixed === 0,
    `planted row reverted, tampered row reported: ${rec.stdout}`);
  rig.check(rec.out && rec.out.differences.length === 1 && rec.out.differences[0].fields === 'amount_raw' &&
    rec.out.differences[0].block_hash === tampered.block_hash, 'the difference names the row and the column');
  const planted = (await db.query(`SELECT status, reverted_at FROM payments WHERE block_hash = $1`, [fakeHash])).rows;
  rig.check(planted.length === 1 && planted[0].status === 'reverted' && planted[0].reverted_at, 'the non-canonical row is now reverted');
  const revEvents = (await db.query(`SELECT e.type FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.block_hash = $1`, [fakeHash])).rows;
  rig.check(revEvents.length === 1 && revEvents[0].type === 'payment.reverted', 'with a payment.reverted event');
  rig.check((await rows(`block_hash = '${tampered.block_hash}' AND log_index = ${tampered.log_index}`))[0].amount_raw === '1',
    'without --fix the differing row is left as it is');
  const fix = runJson(['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(confirmedHeight), '--fix']);
  rig.check(fix.status === 0 && fix.out && fix.out.fixed === 1 && fix.out.reverted === 0 && fix.out.already_reverted === 1,
    `--fix fixes the differing row; the reverted one stays reverted: ${fix.stdout}`);
  rig.check(JSON.stringify(await rows(`block_hash <> '${fakeHash}'`)) === JSON.stringify(original), 'after --fix every row equals the chain again');

  // ---- 4. a merchant address added after its payments were mined
  const hooliWant = await chainPayments([hooli]);
  rig.check(hooliWant.length >= 6, `hooli was paid ${hooliWant.length} times before being configured`);
  cfgObj.merchants = [...merchants, { id: 'hooli', addresses: { local: [hooli] }, webhook: { url: `http://127.0.0.1:${deadPort}/hooli`, secret: 'whsec_dGhpcyBpcyBpbml0ZWNoJ3Mga2V5ISEh' } }];
  rig.writeConfig(work, cfgObj);
  const eventsBeforeHooli = (await db.query(`SELECT count(*)::int AS n FROM webhook_events`)).rows[0].n;
  const h = runJson(['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(confirmedHeight), '--merchant', 'hooli', '--no-webhooks']);
  rig.check(h.status === 0 && h.out && h.out.inserted === hooliWant.length && h.out.payments_found === hooliWant.length,
    `replay --merchant hooli inserted exactly its ${hooliWant.length} payments: ${h.stdout}`);
  const hooliRows = await rows(`merchant_id = 'hooli'`);
  sameAsChain(hooliRows, hooliWant, 'hooli');
  rig.check((await rows(`merchant_id <> 'hooli' AND block_hash <> '${fakeHash}'`)).length === original.length, 'other merchants untouched');
  rig.check((await db.query(`SELECT count(*)::int AS n FROM webhook_events`)).rows[0].n === eventsBeforeHooli, '--no-webhooks queued no event');
  const byAddr = runJson(['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(confirmedHeight), '--address', hooli.toUpperCase().replace('0X', '0x')]);
  rig.check(byAddr.status === 0 && byAddr.out && byAddr.out.present === hooliWant.length && byAddr.out.payments_found === hooliWant.length,
    `--address limits the replay to that address: ${byAddr.stdout}`);

  // ---- 5. beyond the confirmed height: clipped, and said
  const clip = rig.runPaywatchSync(bin, ['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(head + 50)]);
  rig.check(clip.status === 0, `clipped replay exits 0 (${clip.status})`);
  rig.check(clip.stdout.includes(`clipped at the confirmed height ${confirmedHeight}`) &&
    clip.stdout.includes(`blocks ${confirmedHeight + 1}..${head + 50} not replayed`), `the summary says where it clipped: ${clip.stdout.slice(0, 400)}`);
  rig.check(/range clipped/.test(clip.stderr), 'and the log says so');
  const clipJ = runJson(['replay', '-c', cfg, '--chain', 'local', '--from', String(head), '--to', String(head + 50)]);
  rig.check(clipJ.status === 0 && clipJ.out && clipJ.out.clipped === true && clipJ.out.replay_to === null &&
    clipJ.out.blocks === 0 && clipJ.out.confirmed_height === confirmedHeight, `a range wholly above it replays nothing: ${clipJ.stdout}`);

  // finality mode: clipped at the node's finalized block
  const alt = (patch) => rig.writeConfig(fs.mkdtempSync(path.join(work, 'alt-')), { ...cfgObj, ...patch });
  const fin = Number(BigInt((await node.rpc('eth_getBlockByNumber', ['finalized', false])).number));
  const finJ = runJson(['replay', '-c', alt({ chains: [{ ...cfgObj.chains[0], confirmations: undefined, finality: 'finalized' }] }),
    '--chain', 'local', '--from', '0', '--to', String(head)]);
  rig.check(finJ.status === 0 && finJ.out && finJ.out.confirmed_height === fin && finJ.out.clipped === (fin < head) &&
    (fin === 0 || finJ.out.replay_to === fin), `finality mode clips at the finalized block ${fin}: ${finJ.stdout.slice(0, 300)}`);

  // ---- 5a. on a terminal (a pty from script(1)): the progress bar
  const tty = rig.runPaywatchSync('script', ['-qfec', `${bin} replay -c ${cfg} --chain local --from 0 --to ${confirmedHeight}`, '/dev/null']);
  rig.check(tty.status === 0 && /\[[#.]{30}\] +\d+% \d+\/\d+ blocks +\d+ blocks\/s +\d+ payments found +ETA \d+:\d\d/.test(tty.stdout) &&
    tty.stdout.includes(`100% ${confirmedHeight + 1}/${confirmedHeight + 1} blocks`),
    `a terminal shows the progress bar: ${JSON.stringify(tty.stdout.slice(0, 300))}`);

  // ---- 5b. failover, and what it says when it cannot work
  const deadWs = `ws://127.0.0.1:${deadPort}`;
  const fo = runJson(['replay', '-c', alt({ chains: [{ ...cfgObj.chains[0], ws_url: undefined, ws_urls: [deadWs, node.ws] }] }),
    '--chain', 'local', '--from', '0', '--to', String(confirmedHeight)]);
  rig.check(fo.status === 0 && fo.out && fo.out.present === original.length + hooliWant.length,
    `a dead first endpoint: replay fails over and completes (${fo.status}): ${fo.stdout.slice(0, 200)}`);
  const noNode = rig.runPaywatchSync(bin, ['replay', '-c', alt({ chains: [{ ...cfgObj.chains[0], ws_url: deadWs }] }),
    '--chain', 'local', '--from', '0', '--to', '10']);
  rig.check(noNode.status === 1 && /no endpoint reachable/.test(noNode.stderr) && /outcome|failed/.test(noNode.stdout),
    `no reachable node: exit 1 and says so (${noNode.status}: ${noNode.stderr.split('\n').slice(-3).join(' | ')})`);
  const noPg = rig.runPaywatchSync(bin, ['replay', '-c', alt({ postgres: { dsn: `postgresql://postgres:hunter2@127.0.0.1:${deadPort}/x` } }),
    '--chain', 'local', '--from', '0', '--to', '10']);
  rig.check(noPg.status === 1 && /postgres: cannot connect/.test(noPg.stderr) && !/hunter2/.test(noPg.stderr + noPg.stdout),
    `unreachable Postgres: exit 1, clear error, no password (${noPg.status}: ${noPg.stderr.trim().split('\n').pop()})`);
  const noPgJ = runJson(['replay', '-c', alt({ postgres: { dsn: `postgresql://postgres@127.0.0.1:${deadPort}/x` } }), '--chain', 'local', '--from', '0', '--to', '10']);
  rig.check(noPgJ.status === 1 && noPgJ.out && noPgJ.out.outcome === 'failed' && noPgJ.out.blocks === 0,
    `--json answers with outcome failed when Postgres is unreachable (${noPgJ.stdout.slice(0, 120)})`);

  // ---- 6. replay while run indexes the same chain, with live transfers
  pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  await rig.waitFor('run to resume', () => /node head/.test(pw.stderr), 15000);
  await db.query(`DELETE FROM webhook_deliveries WHERE event_id IN (SELECT e.id FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.merchant_id = 'globex')`);
  await db.query(`DELETE FROM webhook_events WHERE payment_id IN (SELECT id FROM payments WHERE merchant_id = 'globex')`);
  await db.query(`DELETE FROM payments WHERE merchant_id = 'globex'`);
  let live = true;
  const liveTransfers = (async () => {
    let i = 0;
    while (live) {
      await node.receipt(await token.batchTransfer(deployer, [acme, globex, hooli], [amount++, amount++, amount++]));
      if (++i % 2 === 0) await node.mine();
    }
  })();
  const replays = [];
  for (let k = 0; k < 3; k++) {
    const top = (await node.head()) - CONF + 1;
    replays.push(runJson(['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(top)]));
    await rig.sleep(300);
  }
  live = false;
  await liveTransfers;
  await node.mine(CONF + 1);
  rig.check(replays.every((r) => r.status === 0), `replays beside run exit 0 (${replays.map((r) => r.status)})${replays.filter((r) => r.status !== 0).map((r) => `: ${r.stderr.trim().split('\n').slice(-4).join(' | ')}`).join('')}`);
  const want = await chainPayments([acme, globex, hooli], '0x' + ((await node.head()) - CONF + 1).toString(16));
  await rig.waitFor('run to confirm the live payments', async () => (await rows(`block_hash <> '${fakeHash}'`)).length >= want.length, 30000)
    .catch(() => {});
  const final = await rows(`block_hash <> '${fakeHash}'`);
  sameAsChain(final, want, 'replay beside run');
  const dupes = (await db.query(`SELECT count(*)::int AS n FROM (SELECT tx_hash, log_index FROM payments WHERE block_hash <> '${fakeHash}' GROUP BY 1, 2 HAVING count(*) > 1) d`)).rows[0].n;
  rig.check(dupes === 0, `no payment twice (${dupes})`);
  const dupEvents = (await db.query(`SELECT count(*)::int AS n FROM (SELECT payment_id, type FROM webhook_events GROUP BY 1, 2 HAVING count(*) > 1) d`)).rows[0].n;
  rig.check(dupEvents === 0, `no webhook event twice (${dupEvents})`);
  const globexEvents = (await db.query(`SELECT count(*)::int AS n FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.merchant_id = 'globex' AND e.type = 'payment.confirmed'`)).rows[0].n;
  rig.check(globexEvents === final.filter((r) => r.merchant_id === 'globex').length, `every globex payment has its one event (${globexEvents})`);
  pw.proc.kill('SIGTERM');
  await pw.done;
  // read once run ended: a batch's line follows its commit, the rows above may come first
  rig.check(/outbox entries written by one statement \(\d+ new, 0 already present/.test(pw.stderr), 'live batches went by one statement');

  // ---- 7. SIGINT mid-replay, resume; memory flat from 2 k to 40 k blocks
  await node.rpc('anvil_mine', ['0x' + (40000).toString(16)]);
  const top = (await node.head()) - CONF + 1;
  cfgObj.chains[0].max_range = 100;
  cfgObj.chains[0].max_in_flight = 2;
  rig.writeConfig(work, cfgObj);
  const rss = async (args) => {
    // under AddressSanitizer, freed memory sits in a quarantine that grows with
    // the work done: measure the program, not the quarantine
    const asan = (process.env.ASAN_OPTIONS ? process.env.ASAN_OPTIONS + ':' : '') + 'quarantine_size_mb=0';
    const p = rig.startPaywatch('/usr/bin/time', ['-f', 'maxrss_kb=%M', bin, ...args], { ASAN_OPTIONS: asan });
    await p.done;
    const m = /maxrss_kb=(\d+)/.exec(p.stderr);
    return { kb: m ? Number(m[1]) : NaN, p };
  };
  const small = await rss(['replay', '-c', cfg, '--chain', 'local', '--from', String(top - 2000), '--to', String(top), '--json']);
  const large = await rss(['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(top), '--json']);
  rig.check(small.p.exited.code === 0 && large.p.exited.code === 0,
    `both replays complete (${small.p.exited.code}, ${large.p.exited.code}): ${large.p.stderr.slice(-300)}`);
  console.log(`peak RSS: ${small.kb} kB for 2,000 blocks, ${large.kb} kB for ${top + 1} blocks`);
  rig.check(large.kb < small.kb + 8192, `memory does not grow with the range (${small.kb} kB vs ${large.kb} kB)`);

  cfgObj.chains[0].max_range = 10; // thousands of ranges: time to interrupt mid-way
  rig.writeConfig(work, cfgObj);
  const intr = rig.startPaywatch(bin, ['--log-level', 'debug', 'replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(top), '--json']);
  await rig.waitFor('replay to pass block 2000', () => /replayed \[\d+, \d{4,}\]/.test(intr.stderr), 30000).catch(() => {});
  intr.proc.kill('SIGINT');
  const ex = await intr.done;
  let summary = null;
  try { summary = JSON.parse(intr.stderr.split('\n').find((l) => l.startsWith('{'))); } catch { /* checked below */ }
  rig.check(ex.code === 1 && summary && summary.outcome === 'interrupted', `SIGINT: exit 1, outcome interrupted (${ex.code}, ${summary && summary.outcome})`);
  const last = summary && summary.last_block_completed;
  rig.check(Number.isInteger(last) && last < top, `the last block completed is reported (${last} < ${top})`);
  rig.check(new RegExp(`resume with --from ${last + 1}`).test(intr.stderr), 'the log says how to resume');
  const resume = runJson(['replay', '-c', cfg, '--chain', 'local', '--from', String(last + 1), '--to', String(top)]);
  rig.check(resume.status === 0 && resume.out && resume.out.blocks === top - last, `the resumed replay completes the range (${resume.out && resume.out.blocks})`);

  // ---- 8. bad arguments
  const bad = (args, re, what) => {
    const r = rig.runPaywatchSync(bin, ['replay', '-c', cfg, ...args]);
    rig.check(r.status === 2 && re.test(r.stderr), `${what}: exit 2 and a clear message (${r.status}: ${r.stderr.split('\n')[0]})`);
  };
  bad(['--chain', 'local', '--from', '10', '--to', '5'], /--from 10 is above --to 5/, 'from > to');
  bad(['--chain', 'nope', '--from', '0', '--to', '5'], /--chain nope: no such chain/, 'unknown chain');
  bad(['--chain', 'local', '--from', 'x', '--to', '5'], /--from must be a block number/, 'bad number');
  bad(['--chain', 'local', '--from', '0'], /missing --from N or --to M/, 'missing --to');
  bad(['--chain', 'local', '--from', '0', '--to', '5', '--merchant', 'nobody'], /no such merchant/, 'unknown merchant');
  bad(['--chain', 'local', '--from', '0', '--to', '5', '--address', stranger], /not a merchant address/, 'unwatched address');
  bad(['--chain', 'local', '--from', '0', '--to', '5', '--address', '0x70997970C51812dc3A010C7d01b50e0d17dc79C9'], /EIP-55|checksum|hex/, 'bad checksum');
  const help = rig.runPaywatchSync(bin, ['replay', '--help']);
  rig.check(help.status === 0 && /--dry-run/.test(help.stdout) && /Ctrl-C/.test(help.stdout), 'replay --help');
}

rig.runTest('e2e_replay', main);
