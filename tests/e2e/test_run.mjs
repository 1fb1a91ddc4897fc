// test_run.mjs: `paywatch run` end to end on real parts: anvil, TestToken
// (compiled by solc, three deployments: USDC-like 6 decimals and DAI-like 18
// decimals watched, JUNK unwatched), a throwaway Postgres. Half the
// transfers are mined before paywatch starts (backfill), half while it runs
// (live), with a SIGTERM restart and a SIGKILL restart in between. Postgres
// must end equal to the expected set computed here, independently, from
// eth_getLogs; no payment may appear before it has `confirmations` blocks.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';

// The threads of process pid but its main thread (name and id) whose
// SigBlk (/proc) lacks any of the signal numbers sigs. (The main thread
// waits for them in sigtimedwait, which unblocks them while it waits.)
function threadsNotBlocking(pid, sigs) {
  const out = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`).filter((t) => t !== String(pid))) {
    let status;
    try { status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'); } catch { continue; } // ended
    const blk = BigInt('0x' + /SigBlk:\s+([0-9a-f]+)/.exec(status)[1]);
    if (sigs.some((n) => !((blk >> BigInt(n - 1)) & 1n))) out.push(`${/Name:\s+(.*)/.exec(status)[1]} ${tid}`);
  }
  return out;
}

const bin = process.argv[2];
const CONF = 3;
const DSN_PASSWORD = 'pw-DSN-s3cret-77';
const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
const randomAddress = () => '0x' + crypto.randomBytes(20).toString('hex');
const pick = (arr) => arr[crypto.randomInt(arr.length)];

async function main() {
  const work = rig.workDir('pw-e2e-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer, acct1, acct2] = node.accounts;

  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 2n ** 250n });
  const dai = await rig.deployToken(node, { from: deployer, name: 'Dai', symbol: 'DAI', decimals: 18, supply: 2n ** 250n });
  const junk = await rig.deployToken(node, { from: deployer, name: 'Junk', symbol: 'JUNK', decimals: 6, supply: 2n ** 250n });
  // acct1 is a merchant address that also sends (transfers *from* a merchant)
  await node.receipt(await usdc.transfer(deployer, acct1, 10n ** 15n));
  await node.rpc('evm_setAutomine', [false]);

  const acme = ['0x70997970C51812dc3A010C7d01b50e0d17dc79C8', randomAddress(), randomAddress()]; // acct1 in EIP-55 form
  const globex = ['0x' + acct2.slice(2).toUpperCase(), randomAddress()];
  const merchantOf = new Map();
  acme.forEach((a) => merchantOf.set(a.toLowerCase(), 'acme'));
  globex.forEach((a) => merchantOf.set(a.toLowerCase(), 'globex'));
  const merchantAddrs = [...merchantOf.keys()];
  const others = Array.from({ length: 6 }, randomAddress);

  const relay = rig.transport === 'ws+http' ? await rig.startHttpRelay(node.ws.replace(/^ws:/, 'http:')) : null;
  const configFile = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'),
    postgres: { dsn: '${PW_TEST_DSN}' },
    chains: [{
      name: 'local', kind: 'evm', chain_id: 31337, confirmations: CONF, start_block: 0,
      // ws+http: the HTTP side through a counting relay, to see what took it
      ...(relay ? { ws_urls: [node.ws], http_urls: [relay.url] } : rig.nodeUrls(node.ws)),
      tokens: [
        { symbol: 'USDC', address: usdc.address, decimals: 6 },
        { symbol: 'DAI', address: dai.address, decimals: 18 },
      ],
    }],
    merchants: [
      { id: 'acme', addresses: { local: acme } },
      { id: 'globex', addresses: { local: globex } },
    ],
  });
  const env = { PW_TEST_DSN: pg.dsn('paywatch', DSN_PASSWORD) };

  // ---- traffic: several txs per block, several transfers per tx
  const mineStart = new Map(); // block number -> ms before evm_mine was called
  const stats = { transfers: 0, zero: 0, junk: 0, nft: 0, fromMerchant: 0, huge: 0 };
  const amountFor = (tok) => BigInt(crypto.randomInt(1, 1_000_000)) * 10n ** BigInt(tok.decimals - 2);
  async function trafficBlock(i) {
    for (let k = 0; k < 3; k++) {
      const tok = pick([usdc, dai]);
      await tok.transfer(deployer, crypto.randomInt(10) < 6 ? pick(merchantAddrs) : pick(others), amountFor(tok));
      stats.transfers++;
    }
    for (let k = 0; k < 2; k++) {
      const tok = pick([usdc, dai]);
      const n = crypto.randomInt(3, 7);
      const tos = Array.from({ length: n }, () => (crypto.randomInt(10) < 6 ? pick(merchantAddrs) : pick(others)));
      const values = tos.map(() => amountFor(tok));
      if (k === 1 && i % 3 === 0) { values[0] = 0n; tos[0] = pick(merchantAddrs); stats.zero++; }
      await tok.batchTransfer(deployer, tos, values);
      stats.transfers += n;
    }
    if (i % 4 === 0) { await junk.transfer(deployer, pick(merchantAddrs), 5_000_000n); stats.junk++; stats.transfers++; }
    if (i % 5 === 0) { await usdc.emitNftTransfer(deployer, deployer, pick(merchantAddrs), 7n); stats.nft++; }
    if (i % 6 === 0) {
      await usdc.transfer(acct1, pick(others), 1_234_567n);
      await usdc.transfer(acct1, acct2, 7_654_321n); // merchant to merchant: a payment to globex
      stats.fromMerchant += 2; stats.transfers += 2;
    }
    if (i % 15 === 7) { await dai.transfer(deployer, pick(merchantAddrs), 2n ** 200n + BigInt(i)); stats.huge++; stats.transfers++; }
    await mineRecorded();
  }
  // the node numbers the block; the time is taken before asking for it
  async function mineRecorded() {
    const before = Date.now();
    await node.mine();
    mineStart.set(await node.head(), before);
  }

  for (let i = 0; i < 30; i++) await trafficBlock(i);
  const backfillHead = await node.head();

  // ---- start paywatch (migrate first; twice, the second changes nothing)
  let r = rig.runPaywatchSync(bin, ['migrate', '-c', configFile], env);
  rig.check(r.status === 0, `migrate exits 0 (got ${r.status}: ${r.stderr})`);
  r = rig.runPaywatchSync(bin, ['migrate', '-c', configFile], env);
  rig.check(r.status === 0 && /0 migration\(s\) applied/.test(r.stderr), `second migrate applies nothing: ${r.stderr}`);

  const db = await pg.client();
  rig.onCleanup(() => db.end());
  const logFile = path.join(work, 'paywatch.log');
  let pw = rig.startPaywatch(bin, ['run', '-c', configFile], env, logFile);
  const allLogs = () => pw.stderr + prevLogs;
  let prevLogs = '';

  // every row, at every look, must already have CONF blocks on the node
  let earlyViolations = 0, looks = 0;
  async function checkNotEarly() {
    const head = await node.head(); // static between our evm_mine calls
    const res = await db.query('SELECT block_number FROM payments WHERE block_number > $1', [head - CONF + 1]);
    looks++;
    if (res.rowCount) { earlyViolations += res.rowCount; console.error(`early rows at head ${head}:`, res.rows); }
  }
  // backfill reaches the head
  await rig.waitFor('backfill to write payments', async () => {
    const c = await db.query('SELECT count(*)::int AS n FROM payments');
    return c.rows[0].n > 0;
  }, 60000);
  await checkNotEarly();
  if (relay) {
    rig.check(/connected to ws:\/\/127\.0\.0\.1:\d+\/ \(chain id 31337 verified, newHeads subscribed; eth_getLogs over http:\/\/127\.0\.0\.1:\d+\)/
      .test(pw.stderr), `ws+http: the connect line names both (${(pw.stderr.match(/.*connected to.*/) || [''])[0]})`);
    rig.check(relay.methods.eth_getLogs > 0 && Object.keys(relay.methods).every((m) => m === 'eth_getLogs'),
      `ws+http: eth_getLogs went over HTTP, nothing else did (${JSON.stringify(relay.methods)})`);
  }

  for (let i = 30; i < 60; i++) {
    await trafficBlock(i);
    await rig.sleep(crypto.randomInt(60, 250));
    await checkNotEarly();
    if (i === 40) { // clean stop: SIGTERM -> exit 0, then blocks arrive while it is down
      // every thread blocks SIGINT and SIGTERM (the main thread takes them
      // with sigtimedwait): a thread that did not, RocksDB's opened before
      // the mask was set, took a SIGTERM's default action whenever it
      // arrived outside the main thread's wait, and run died unflushed
      const unblocked = threadsNotBlocking(pw.proc.pid, [2, 15]);
      rig.check(unblocked.length === 0, `every thread of run blocks SIGINT and SIGTERM (not: ${unblocked.join(', ') || 'none'})`);
      pw.proc.kill('SIGTERM');
      const ex = await Promise.race([pw.done, rig.sleep(15000).then(() => null)]);
      rig.check(ex && ex.code === 0, `SIGTERM: paywatch exits 0 (got ${JSON.stringify(ex)})`);
      prevLogs += pw.stderr;
      await trafficBlock(++i);
      await trafficBlock(++i);
      pw = rig.startPaywatch(bin, ['run', '-c', configFile], env, logFile);
    }
    if (i === 50) { // crash: SIGKILL at an arbitrary moment, restart at once
      pw.proc.kill('SIGKILL');
      await pw.done;
      prevLogs += pw.stderr;
      pw = rig.startPaywatch(bin, ['run', '-c', configFile], env, logFile);
    }
  }
  // the look once run has processed every block mined: an early row would be there
  await rig.settled(bin, configFile, { local: await node.head() }, env).catch((e) => rig.check(false, e.message));
  await checkNotEarly();
  // CONF more blocks confirm the last traffic block
  for (let k = 0; k < CONF; k++) await mineRecorded();
  const finalHead = await node.head();

  // ---- the expected set, computed independently from the node
  const logs = await node.rpc('eth_getLogs', [{ fromBlock: '0x0', toBlock: '0x' + finalHead.toString(16), topics: [TRANSFER_TOPIC] }]);
  const tokenBy = new Map([[usdc.address.toLowerCase(), usdc], [dai.address.toLowerCase(), dai]]);
  const blockTime = new Map();
  const expected = [];
  let nftToMerchant = 0, zeroToMerchant = 0, junkToMerchant = 0, fromMerchantLogs = 0;
  for (const l of logs) {
    const to = l.topics.length >= 3 ? '0x' + l.topics[2].slice(26) : null;
    const isMerchant = to && merchantOf.has(to);
    if (l.topics.length === 4 && isMerchant) nftToMerchant++;
    if (l.topics.length !== 3 || l.data.length !== 66 || l.removed) continue;
    const amount = BigInt(l.data);
    const from = '0x' + l.topics[1].slice(26);
    if (merchantOf.has(from)) fromMerchantLogs++;
    if (!tokenBy.has(l.address.toLowerCase())) { if (isMerchant) junkToMerchant++; continue; }
    if (!isMerchant) continue;
    if (amount === 0n) { zeroToMerchant++; continue; }
    const bn = Number(BigInt(l.blockNumber));
    if (!blockTime.has(bn)) {
      const b = await node.rpc('eth_getBlockByNumber', [l.blockNumber, false]);
      blockTime.set(bn, Number(BigInt(b.timestamp)));
    }
    const tok = tokenBy.get(l.address.toLowerCase());
    expected.push({
      chain: 'local', chain_id: '31337', block_number: String(bn), block_hash: l.blockHash.toLowerCase(),
      block_time: String(blockTime.get(bn)), tx_hash: l.transactionHash.toLowerCase(),
      log_index: Number(BigInt(l.logIndex)), token_address: l.address.toLowerCase(), token_symbol: tok.symbol,
      from_address: from, to_address: to, merchant_id: merchantOf.get(to), amount_raw: amount.toString(),
      decimals: tok.decimals, amount: rig.formatUnits(amount, tok.decimals), status: 'confirmed',
    });
  }
  // the traffic really covered every case the issue names
  rig.check(stats.transfers >= 300, `>= 300 transfers sent (${stats.transfers})`);
  rig.check(finalHead >= 60, `>= 60 blocks (${finalHead})`);
  rig.check(nftToMerchant > 0 && zeroToMerchant > 0 && junkToMerchant > 0 && fromMerchantLogs > 0,
    `edge cases present: nft=${nftToMerchant} zero=${zeroToMerchant} junk=${junkToMerchant} fromMerchant=${fromMerchantLogs}`);
  rig.check(expected.some((e) => BigInt(e.amount_raw) > 2n ** 200n), 'an amount above 2^200 is among the payments');
  const perTx = new Map();
  expected.forEach((e) => perTx.set(e.tx_hash, (perTx.get(e.tx_hash) || 0) + 1));
  rig.check([...perTx.values()].some((n) => n > 1), 'several payments in one transaction');
  rig.check(expected.some((e) => Number(e.block_number) <= backfillHead) &&
    expected.some((e) => Number(e.block_number) > backfillHead), 'payments both in backfill and live ranges');

  // ---- wait for paywatch to write them all, then compare exactly
  await rig.waitFor('all expected payments in Postgres', async () => {
    const c = await db.query('SELECT count(*)::int AS n FROM payments');
    return c.rows[0].n >= expected.length;
  }, 60000).catch((e) => rig.check(false, e.message));
  // run has processed the final head and emptied its outbox: anything extra is there now
  await rig.settled(bin, configFile, { local: finalHead }, env).catch((e) => rig.check(false, e.message));
  const rows = (await db.query(`SELECT chain, chain_id::text, block_number::text, block_hash,
      extract(epoch FROM block_time)::bigint::text AS block_time, tx_hash, log_index, token_address, token_symbol,
      from_address, to_address, merchant_id, amount_raw::text, decimals, amount::text, status, confirmations,
      (extract(epoch FROM confirmed_at) * 1000)::bigint AS confirmed_ms, inserted_at IS NOT NULL AS has_inserted_at,
      id IS NOT NULL AS has_id
    FROM payments ORDER BY block_number, log_index`)).rows;
  const key = (e) => `${e.block_hash}/${e.log_index}`;
  const got = new Map(rows.map((row) => [key(row), row]));
  rig.check(rows.length === expected.length, `row count ${rows.length} == expected ${expected.length}`);
  rig.check(got.size === rows.length, 'no duplicate identities');
  let mismatches = 0, lateChecks = 0;
  for (const e of expected) {
    const row = got.get(key(e));
    if (!row) { mismatches++; if (mismatches < 5) console.error('missing', e); continue; }
    for (const [col, val] of Object.entries(e)) {
      if (String(row[col]) !== String(val)) {
        mismatches++;
        if (mismatches < 10) console.error(`column ${col}: expected ${val}, got ${row[col]} (${key(e)})`);
      }
    }
    const bn = Number(e.block_number);
    if (row.confirmations < CONF || row.confirmations > finalHead - bn + 1) {
      mismatches++; console.error(`confirmations ${row.confirmations} out of [${CONF}, ${finalHead - bn + 1}]`);
    }
    if (!row.has_inserted_at || !row.has_id) mismatches++;
    // confirmed_at can't precede the moment the confirming block was mined
    const confirming = mineStart.get(bn + CONF - 1);
    if (confirming !== undefined) {
      lateChecks++;
      if (Number(row.confirmed_ms) < confirming) {
        mismatches++; console.error(`payment of block ${bn} confirmed at ${row.confirmed_ms} before block ${bn + CONF - 1} was mined (${confirming})`);
      }
    }
  }
  const expectedKeys = new Set(expected.map(key));
  const extra = rows.filter((row) => !expectedKeys.has(key(row)));
  rig.check(extra.length === 0, `no unexpected rows (${extra.length}: ${JSON.stringify(extra.slice(0, 2))})`);
  rig.check(mismatches === 0, `every expected row present with every column exact (${mismatches} mismatches)`);
  rig.check(lateChecks > 100, `confirmed_at checked against mining times for ${lateChecks} rows`);
  rig.check(earlyViolations === 0 && looks >= 30, `no payment before ${CONF} confirmations (${looks} looks)`);

  // merchants without webhook endpoints cost no event rows
  const nEvents = (await db.query('SELECT count(*)::int AS n FROM webhook_events')).rows[0].n;
  rig.check(nEvents === 0, `no webhook events for merchants without endpoints (${nEvents})`);

  // merchants mirrored
  const ma = (await db.query('SELECT merchant_id, address FROM merchant_addresses ORDER BY 1, 2')).rows;
  rig.check(ma.length === merchantAddrs.length && ma.every((m) => merchantOf.get(m.address) === m.merchant_id),
    'merchant_addresses mirrors the config');

  // logs: time, level, chain, block; no secret
  pw.proc.kill('SIGTERM');
  const ex = await pw.done;
  rig.check(ex.code === 0, `final SIGTERM exits 0 (${JSON.stringify(ex)})`);
  const logs2 = allLogs();
  rig.check(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info +chain=local block=\d+ /m.test(logs2), 'log lines carry time, level, chain and block');
  rig.check(!logs2.includes(DSN_PASSWORD), 'the DSN password never appears in the logs');
  rig.check(/resuming from block/.test(logs2), 'a restart resumes from the checkpoint');
  console.log(`payments: ${expected.length} expected, ${rows.length} in Postgres; transfers sent ${stats.transfers} in ${finalHead} blocks`);
}

rig.runTest('e2e_run', main);
