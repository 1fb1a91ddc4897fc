// test_node_limits.mjs: a node that asks paywatch to wait (HTTP 429 or 503
// with Retry-After, RFC 9110 10.2.3), on real parts: anvil, TestToken, a
// throwaway Postgres, and relays in front of anvil's HTTP side
// (rig.startHttpRelay: the real node's answers, except the refusals this
// test asks for, which a real node cannot be made to send). The chains are
// HTTP only, so every request goes through a relay.
//   1. one endpoint:
//      - eth_getLogs answered 429 "Retry-After: 4 " (white space after it,
//        which RFC 9110 allows): the same range is asked again no sooner
//        than 4 s later (the rate-limit backoff alone waited 250 ms), and
//        the answers to the other ranges in flight beside it (one block
//        each, four at a time) are read meanwhile: the wait holds requests
//        back, not the thread (a sleep left them unread past the 2.5 s
//        request timeout: "no answer", and the endpoint left);
//      - the head poll's eth_blockNumber answered 429 "Retry-After: 2":
//        the next poll comes no sooner than 2 s later (the doubled poll
//        interval alone was 400 ms);
//      - eth_getLogs answered 503 "Retry-After: 2": waited too (a 503 was
//        retried at once);
//      every payment arrives once, and /metrics counts each 429 under
//      outcome="rate_limited" (the 503 under "error");
//   2. two endpoints, the first answering every eth_getLogs 429
//      "Retry-After: 3600" (a provider's quota spent for the hour): paywatch
//      says so and moves to the second (it waited on the first, 30 s at a
//      time, for ever), and every payment arrives from it;
//   3. the head's eth_blockNumber refused at connect 8 times (429): run
//      asks again after 250, 500, 1000 ms ... (it asked again at once:
//      35,000 requests in 5 s against a node rate-limiting it, a log line
//      each), and its payments arrive once the node answers;
//   4. the same for `replay` (5 refusals): it completes.
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const MERCHANT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

// The relay's log: the POST refused with `status` for `method`, and the
// next POST of that method after it that was answered (for eth_getLogs, of
// the same range: a slot in flight beside it does not count). The relay
// stamps each POST when its body has arrived, on an event loop a loaded
// machine delays, so a gap is checked against the wait asked for less
// 400 ms: without Retry-After the gaps were 250 ms, 400 ms and none.
function refusalAndRetry(relay, method, status) {
  const i = relay.log.findIndex((e) => e.status === status && e.methods.includes(method));
  if (i < 0) return null;
  const refused = relay.log[i];
  const sameRange = (e) => method !== 'eth_getLogs' ||
    JSON.stringify(e.params && e.params[0] && e.params[0].fromBlock) === JSON.stringify(refused.params[0].fromBlock);
  const retry = relay.log.slice(i + 1).find((e) => !e.status && e.methods.includes(method) && sameRange(e));
  return retry ? { refused, retry, gap: retry.at - refused.at } : null;
}

async function main() {
  const work = rig.workDir('pw-node-limits-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 18n });
  for (let i = 1; i <= 3; i++) await node.receipt(await usdc.transfer(deployer, MERCHANT, BigInt(i)));
  const upstream = node.ws.replace(/^ws:/, 'http:');
  const admin = await pg.client('postgres');
  rig.onCleanup(() => admin.end().catch(() => {}));
  await admin.query('CREATE DATABASE paywatch2');
  const chain = (urls) => ({ name: 'local', kind: 'evm', chain_id: 31337, http_urls: urls, poll_interval_ms: 200,
    confirmations: 1, tokens: [{ symbol: 'USDC', address: usdc.address, decimals: 6 }] });
  // a config of its own for each part: its data dir, its database, its relays
  const configFor = (name, db, urls, extra = {}) => rig.writeConfig(fs.mkdtempSync(path.join(work, name)), {
    data_dir: path.join(work, `${name}-data`), postgres: { dsn: pg.dsn(db) }, chains: [{ ...chain(urls), ...extra.chain }],
    merchants: [{ id: 'acme', addresses: { local: [MERCHANT] } }], ...extra.top,
  });
  const amountsIn = async (db) =>
    (await db.query('SELECT amount_raw::text FROM payments ORDER BY block_number, log_index')).rows.map((r) => r.amount_raw).join(',');

  // ---- 1. one endpoint: each Retry-After waited
  const r1 = await rig.startHttpRelay(upstream);
  r1.refuse('eth_getLogs', 429, { 'Retry-After': '4 ' });
  const port = await rig.freePort();
  const cfg1 = configFor('one', undefined, [r1.url], {
    chain: { max_range: 1, max_in_flight: 4, request_timeout_ms: 2500 }, top: { metrics: { listen: `127.0.0.1:${port}` } },
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg1]).status === 0, 'migrate');
  const pw1 = rig.startPaywatch(bin, ['run', '-c', cfg1]);
  const db1 = await pg.client();
  rig.onCleanup(() => db1.end().catch(() => {}));
  await rig.waitFor('the 3 backfilled payments', async () => (await amountsIn(db1)) === '1,2,3', 60000);
  let seen = refusalAndRetry(r1, 'eth_getLogs', 429);
  rig.check(seen && seen.gap >= 3600, `eth_getLogs refused with 429 "Retry-After: 4 ": asked again ${seen && seen.gap} ms later (at least 4 s)`);
  rig.check(/rate limited: slowing down, the node asks to wait 4 s; next request in 4000 ms/.test(pw1.stderr),
    'the wait is logged with what the node asked for');
  const beside = r1.log.filter((e) => !e.status && e.methods.includes('eth_getLogs') && seen && e.at <= seen.refused.at + 500).length;
  rig.check(beside >= 1 && !/no answer within|leaving /.test(pw1.stderr),
    `the ${beside} range(s) asked for beside it were answered and read during the wait: no timeout, the endpoint kept`);

  // blocks keep coming meanwhile: on a chain quiet for 5 s, paywatch also
  // asks for the head with an eth_blockNumber of its own (a probe for
  // lost heads), which the relay cannot tell from the head poll's
  let mining = true;
  const miner = (async () => { while (mining) { await node.mine(); await rig.sleep(700); } })();
  const mark = r1.log.length;
  await rig.waitFor('a mined block\'s header asked for', () => r1.log.slice(mark).some((e) => e.methods.includes('eth_getBlockByNumber')), 30000);
  r1.refuse('eth_blockNumber', 429, { 'Retry-After': '2' });
  await rig.waitFor('the head poll refused and polling again', () => refusalAndRetry(r1, 'eth_blockNumber', 429), 30000);
  mining = false;
  await miner;
  seen = refusalAndRetry(r1, 'eth_blockNumber', 429);
  rig.check(seen.gap >= 1600, `eth_blockNumber refused with 429 "Retry-After: 2": polled again ${seen.gap} ms later (at least 2 s)`);
  rig.check(/head poll rate limited: the node asks to wait 2 s; next poll in 2000 ms/.test(pw1.stderr),
    'the head poll\'s wait is logged');

  r1.refuse('eth_getLogs', 503, { 'Retry-After': '2' });
  await node.receipt(await usdc.transfer(deployer, MERCHANT, 4n));
  await rig.waitFor('the live payment', async () => (await amountsIn(db1)) === '1,2,3,4', 30000);
  seen = refusalAndRetry(r1, 'eth_getLogs', 503);
  rig.check(seen && seen.gap >= 1600, `eth_getLogs refused with 503 "Retry-After: 2": asked again ${seen && seen.gap} ms later (at least 2 s)`);
  // counted apart from other errors, for the alert on a node rate-limiting paywatch
  const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const series = (method, outcome) =>
    rig.metricValue(m, 'paywatch_rpc_requests_total', `chain="local",method="${method}",outcome="${outcome}"`);
  rig.check(series('eth_getLogs', 'rate_limited') === 1 && series('eth_blockNumber', 'rate_limited') === 1 &&
    series('eth_getLogs', 'error') === 1,
  `/metrics counts each 429 as rate_limited, the 503 as an error (eth_getLogs ${series('eth_getLogs', 'rate_limited')} and ` +
    `${series('eth_getLogs', 'error')}, eth_blockNumber ${series('eth_blockNumber', 'rate_limited')})`);
  pw1.proc.kill('SIGTERM');
  rig.check((await pw1.done).code === 0, 'exits 0 on SIGTERM');

  // ---- 2. two endpoints, the first out for an hour: the second serves
  const quota = await rig.startHttpRelay(upstream);
  quota.refuse('eth_getLogs', 429, { 'Retry-After': '3600' }, Infinity);
  const r2 = await rig.startHttpRelay(upstream);
  const cfg2 = configFor('two', 'paywatch2', [quota.url, r2.url]);
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg2]).status === 0, 'migrate 2');
  const pw2 = rig.startPaywatch(bin, ['run', '-c', cfg2]);
  const db2 = await pg.client('paywatch2');
  rig.onCleanup(() => db2.end().catch(() => {}));
  await rig.waitFor('the 4 payments from the second endpoint', async () => (await amountsIn(db2)) === '1,2,3,4', 60000)
    .catch((e) => rig.check(false, `${e.message} (the first endpoint refused ${quota.methods.eth_getLogs || 0} eth_getLogs)`));
  rig.check(/asks for a pause of 3600 s, more than 60 s: trying the next endpoint/.test(pw2.stderr),
    'the long pause is logged, and the endpoint left');
  // the first endpoint saw the ranges in flight when it answered (at most
  // max_in_flight, 4), and was not gone back to
  rig.check(r2.methods.eth_getLogs > 0 && quota.methods.eth_getLogs <= 4,
    `the logs came from the second endpoint (${r2.methods.eth_getLogs} eth_getLogs; the first refused ${quota.methods.eth_getLogs})`);
  pw2.proc.kill('SIGTERM');
  rig.check((await pw2.done).code === 0, 'exits 0 on SIGTERM');

  // ---- 3. the head refused at connect: asked again after a backoff
  const r3 = await rig.startHttpRelay(upstream);
  r3.refuse('eth_blockNumber', 429, {}, 8);
  await admin.query('CREATE DATABASE paywatch3');
  const cfg3 = configFor('three', 'paywatch3', [r3.url]);
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg3]).status === 0, 'migrate 3');
  const pw3 = rig.startPaywatch(bin, ['run', '-c', cfg3]);
  const db3 = await pg.client('paywatch3');
  rig.onCleanup(() => db3.end().catch(() => {}));
  await rig.waitFor('the 4 payments once the head is answered', async () => (await amountsIn(db3)) === '1,2,3,4', 60000)
    .catch((e) => rig.check(false, e.message));
  const spanOf = (relay) => {
    const at = relay.log.filter((e) => e.status === 429).map((e) => e.at);
    return at.length ? at[at.length - 1] - at[0] : 0;
  };
  rig.check(spanOf(r3) >= 1000 && /head request failed at [^\n]*; asking again in 500 ms/.test(pw3.stderr),
    `8 eth_blockNumber refused with 429 over ${spanOf(r3)} ms (at least 1 s: asked again after 250, 500, 1000 ms ...)`);
  pw3.proc.kill('SIGTERM');
  rig.check((await pw3.done).code === 0, 'exits 0 on SIGTERM');

  // ---- 4. the same for replay's head request
  const r4 = await rig.startHttpRelay(upstream);
  r4.refuse('eth_blockNumber', 429, {}, 5);
  const cfg4 = configFor('four', 'paywatch3', [r4.url]);
  const rep = await rig.runPaywatch(bin, ['replay', '-c', cfg4, '--chain', 'local', '--from', '0', '--to', '4', '--json']);
  let out = null;
  try { out = JSON.parse(rep.stdout); } catch { /* checked below */ }
  rig.check(rep.status === 0 && out && out.outcome === 'complete',
    `replay completes once the head is answered (exit ${rep.status}, ${out ? out.outcome : rep.stdout.slice(0, 120)})`);
  rig.check(spanOf(r4) >= 500 && /head request failed at [^\n]*; asking again in 250 ms/.test(rep.stderr),
    `5 eth_blockNumber refused with 429 over ${spanOf(r4)} ms (at least 0.5 s)`);
}

rig.runTest('e2e_node_limits', main);
