// test_webhooks.mjs: merchant webhooks end to end, with real HTTP receivers
// (receiver.py: verifies signatures with Python's hmac/base64, records
// every request, fails on command) and a real Postgres.
//  1. every confirmed payment is delivered once, signed, with the exact
//     payment fields (amounts as strings);
//  2. failures (500, a hang past the timeout, a closed connection, 429 with
//     Retry-After: 1, 0, and 3 with white space after it) are retried on
//     the (compressed) schedule with the same webhook-id, after what
//     Retry-After asks when that is longer, never sooner than the
//     schedule, every attempt recorded, and delivered in the end;
//  3. one merchant's endpoint hanging does not delay another's by > 1 s;
//  4. two dispatchers at once (run's, and dispatch's two loops): each
//     event delivered once;
//  5. a reorg that reverts a confirmed payment delivers payment.reverted
//     naming the confirmed event;
//  6. paywatch killed (SIGKILL) mid-delivery and restarted: nothing lost;
//  7. 410 Gone disables the endpoint; `webhooks list/redeliver/test` work;
//     a private target is refused unless allowed;
//  8. payment.pending for a merchant who opted in, before payment.confirmed;
//  9. a reorg that takes a pending payment's block before it confirmed
//     delivers payment.dropped naming the payment.pending event.
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const SECRET_A = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SECRET_B = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const globex = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
const initech = '0x90f79bf6eb2c4f870365e785982e1f101e93b906';
const SECRET_C = 'whsec_dGhpcyBpcyBpbml0ZWNoJ3Mga2V5ISEh';

async function main() {
  const work = rig.workDir('pw-hooks-');
  const [pg, node, recv] = await Promise.all([rig.startPostgres(), rig.startAnvil(), rig.startReceiver(work, { '/acme': SECRET_A, '/globex': SECRET_B, '/initech': SECRET_C })]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const schedule = [0, 1, 1, 1, 1, 1, 1];
  const cfgObj = {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 2,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [
      { id: 'acme', addresses: { local: [acme] }, webhook: { url: recv.base + '/acme', secret: '${PW_SECRET_A}' } },
      { id: 'globex', addresses: { local: [globex] }, webhooks: [{ url: recv.base + '/globex', secret: '${PW_SECRET_B}' }] },
      { id: 'initech', addresses: { local: [initech] }, events: ['payment.pending', 'payment.confirmed'],
        webhooks: [{ url: recv.base + '/initech', secret: SECRET_C }] },
    ],
    webhooks: { allow_private_targets: true, retry_schedule_s: schedule, timeout_ms: 1500, max_per_endpoint: 2 },
  };
  const cfg = rig.writeConfig(work, cfgObj);
  const env = { PW_SECRET_A: SECRET_A, PW_SECRET_B: SECRET_B };
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg], env).status === 0, 'migrate');
  let pw = rig.startPaywatch(bin, ['run', '-c', cfg], env);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const pay = async (to, amount, n = 1) => { for (let i = 0; i < n; i++) await node.receipt(await token.transfer(deployer, to, amount + BigInt(i))); };
  const confirmedEvents = async () => (await db.query(`SELECT id, payment_id, merchant_id, payload FROM webhook_events WHERE type = 'payment.confirmed'`)).rows;
  // nothing left to send (delivered, or failed for good)
  const deliveredAll = () => rig.waitFor('no delivery pending', async () =>
    (await db.query(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'`)).rows[0].n === 0 &&
    (await db.query(`SELECT count(*)::int AS n FROM webhook_deliveries`)).rows[0].n > 0, 40000);
  // the deliveries of the payments of amounts lo..hi written, n of them (they are then pending or sent)
  const deliveriesWritten = (lo, hi, n) => rig.waitFor(`${n} deliveries of ${lo}..${hi} written`, async () =>
    (await db.query(`SELECT count(*)::int AS n FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
      JOIN payments p ON p.id = e.payment_id WHERE p.amount_raw BETWEEN $1 AND $2`, [lo, hi])).rows[0].n === n, 20000);

  // ---- 1. delivered, signed, exact fields
  await pay(acme, 12_500_000n, 3);
  await pay(globex, 1n, 2);
  await node.mine(2);
  await rig.waitFor('5 payments', async () => (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n === 5, 20000);
  await deliveredAll().catch((e) => rig.check(false, e.message));
  let recs = await recv.records();
  const evs = await confirmedEvents();
  rig.check(evs.length === 5, `one payment.confirmed event per payment (${evs.length})`);
  rig.check(recs.length === 5 && recs.every((r) => r.sig_ok && r.fresh), `5 requests, every signature valid and fresh (${recs.length})`);
  rig.check(recs.every((r) => /^paywatch\//.test(r.user_agent) && r.content_type === 'application/json'), 'user-agent and content-type');
  const payments = new Map((await db.query(`SELECT id::text, chain, chain_id::text, block_number::text, block_hash, tx_hash, log_index,
      token_address, token_symbol, decimals, from_address, to_address, amount::text, amount_raw::text, confirmations, merchant_id, status
      FROM payments`)).rows.map((p) => [p.id, p]));
  let fieldsOk = true;
  for (const r of recs) {
    const b = JSON.parse(r.body), d = b.data, p = payments.get(String(d.id));
    const ev = evs.find((e) => e.id === r.id);
    fieldsOk &&= !!p && !!ev && b.type === 'payment.confirmed' && /^\d{4}-\d\d-\d\dT/.test(b.timestamp) &&
      d.chain === p.chain && String(d.chain_id) === p.chain_id && String(d.block_number) === p.block_number &&
      d.block_hash === p.block_hash && d.tx_hash === p.tx_hash && d.log_index === p.log_index &&
      d.token.address === p.token_address && d.token.symbol === p.token_symbol && d.token.decimals === p.decimals &&
      d.from === p.from_address && d.to === p.to_address && d.amount === p.amount && d.amount_raw === p.amount_raw &&
      typeof d.amount === 'string' && typeof d.amount_raw === 'string' && d.confirmations === p.confirmations &&
      d.merchant_id === p.merchant_id && d.status === 'confirmed' && `/${p.merchant_id}` === r.path;
  }
  rig.check(fieldsOk, 'every body carries the exact payment fields, amounts as strings, to the right merchant');
  rig.check(recs.some((r) => JSON.parse(r.body).data.amount === '12.5'), 'a decimal amount "12.5"');

  // ---- 2. failures, retried on the schedule with the same webhook-id
  const failModes = ['500', 'hang', 'close', '429', '429-now', '429-late'];
  await recv.control({ path: '/acme', fail: failModes });
  await pay(acme, 777n, 2);
  await node.mine(2);
  await deliveriesWritten(777, 778, 2).catch((e) => rig.check(false, e.message));
  await deliveredAll().catch((e) => rig.check(false, e.message));
  recs = await recv.records();
  const byId = new Map();
  for (const r of recs.filter((x) => x.path === '/acme')) (byId.get(r.id) || byId.set(r.id, []).get(r.id)).push(r);
  const retried = [...byId.values()].filter((rs) => rs.length > 1);
  rig.check(retried.length === 2 && retried.every((rs) => rs.length === failModes.length + 1 && rs.at(-1).mode === '200'),
    `two events, ${failModes.length} failures then delivered, same webhook-id (${retried.map((rs) => rs.map((r) => r.mode).join(','))})`);
  let scheduleOk = true;
  for (const rs of retried) {
    for (let k = 1; k < rs.length; k++) {
      const gap = rs[k].received_ms - rs[k - 1].received_ms;
      // the schedule minus jitter, or Retry-After when longer: 1 s, 3 s ("3 " read as 3), never 0
      const want = Math.max(schedule[k] * 900, { '429': 1000, '429-late': 3000 }[rs[k - 1].mode] || 0);
      if (gap < want) { scheduleOk = false; console.error(`gap ${gap} ms < ${want} after ${rs[k - 1].mode}`); }
    }
  }
  rig.check(scheduleOk, 'the retry schedule and Retry-After are respected');
  const attempts = (await db.query(`SELECT d.event_id, count(a.*)::int AS n, array_agg(coalesce(a.http_status::text, a.error) ORDER BY a.id) AS what
      FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id GROUP BY d.event_id`)).rows;
  const rec = attempts.filter((a) => a.n === failModes.length + 1);
  rig.check(rec.length === 2 && rec.every((a) => a.what[0] === '500' && a.what[3] === '429' && a.what[5] === '429' && a.what[6] === '200'),
    `every attempt recorded with status or error (${JSON.stringify(rec.map((a) => a.what))})`);
  await recv.control({ path: '/acme', fail: [] });

  // ---- 3. a hanging endpoint does not delay another merchant
  await recv.control({ path: '/globex', always: 'hang' });
  await pay(globex, 5n, 3);
  await pay(acme, 9n, 3);
  await node.mine(2);
  await rig.waitFor('acme delivered while globex hangs', async () =>
    (await recv.records()).filter((r) => r.path === '/acme' && ['9', '10', '11'].includes(JSON.parse(r.body).data.amount_raw) && r.mode === '200').length === 3, 20000)
    .catch((e) => rig.check(false, e.message));
  const lat = (await db.query(`SELECT e.id, extract(epoch FROM p.inserted_at) * 1000 AS ins FROM webhook_events e JOIN payments p ON p.id = e.payment_id
      WHERE e.merchant_id = 'acme' AND p.amount_raw BETWEEN 9 AND 11`)).rows;
  recs = await recv.records();
  const delays = lat.map((l) => recs.find((r) => r.id === l.id && r.mode === '200').received_ms - Number(l.ins));
  rig.check(delays.length === 3 && delays.every((d) => d < 1000), `acme delivered within 1 s of its row while globex hangs (${delays.join(', ')} ms)`);
  await recv.control({ path: '/globex', always: '' });
  await deliveredAll().catch((e) => rig.check(false, e.message));

  // ---- 4. two dispatchers at once
  const disp = rig.startPaywatch(bin, ['dispatch', '-c', cfg], env);
  // run's loop and dispatch's two (webhooks.threads: 2 by default), each on a connection of its own
  const loops = () => rig.backends(db, { app: 'paywatch-dispatcher' });
  await rig.waitFor('run\'s dispatcher and dispatch\'s two loops on postgres', async () => await loops() === 3, 20000)
    .catch(async (e) => rig.check(false, `${e.message} (${await loops()} connections)`));
  const before = (await recv.records()).length;
  await pay(acme, 50n, 6);
  await pay(globex, 60n, 6);
  await node.mine(2);
  await deliveriesWritten(50, 65, 12).catch((e) => rig.check(false, e.message));
  await deliveredAll().catch((e) => rig.check(false, e.message));
  recs = (await recv.records()).slice(before);
  const counts = new Map();
  recs.forEach((r) => counts.set(r.id, (counts.get(r.id) || 0) + 1));
  rig.check(counts.size === 12 && [...counts.values()].every((n) => n === 1), `two dispatchers: 12 events, each delivered once (${counts.size}, max ${Math.max(...counts.values())})`);
  disp.proc.kill('SIGTERM');
  rig.check((await disp.done).code === 0, 'dispatch exits 0 on SIGTERM');

  // ---- 5. a reorg reverts a confirmed payment: payment.reverted names it
  await pay(acme, 424242n);
  const rb = await node.head();
  await node.mine(2);
  await rig.waitFor('the payment to revert is delivered', async () =>
    (await recv.records()).some((r) => JSON.parse(r.body).data.amount_raw === '424242'), 20000).catch((e) => rig.check(false, e.message));
  const confirmedId = (await recv.records()).find((r) => JSON.parse(r.body).data.amount_raw === '424242').id;
  await node.rpc('anvil_reorg', [(await node.head()) - rb + 1, []]);
  await node.mine(2);
  await rig.waitFor('payment.reverted delivered', async () =>
    (await recv.records()).some((r) => JSON.parse(r.body).type === 'payment.reverted'), 20000).catch((e) => rig.check(false, e.message));
  const rev = (await recv.records()).find((r) => JSON.parse(r.body).type === 'payment.reverted');
  rig.check(rev && rev.sig_ok && JSON.parse(rev.body).data.reverses_event_id === confirmedId && JSON.parse(rev.body).data.status === 'reverted',
    `payment.reverted names the confirmed event ${confirmedId}`);

  // ---- 6. SIGKILL mid-delivery, restart: nothing lost
  await recv.control({ path: '/acme', always: 'slow' });
  const before6 = new Set((await recv.records()).map((r) => r.id));
  await pay(acme, 6000n, 4);
  await node.mine(2);
  await rig.waitFor('deliveries in flight', async () => (await recv.records()).some((r) => !before6.has(r.id)), 20000).catch(() => {});
  pw.proc.kill('SIGKILL');
  await pw.done;
  await recv.control({ path: '/acme', always: '' });
  pw = rig.startPaywatch(bin, ['run', '-c', cfg], env);
  await deliveredAll().catch((e) => rig.check(false, e.message));
  const ids6 = (await db.query(`SELECT e.id FROM webhook_events e JOIN payments p ON p.id = e.payment_id WHERE p.amount_raw BETWEEN 6000 AND 6003`)).rows.map((r) => r.id);
  recs = await recv.records();
  rig.check(ids6.length === 4 && ids6.every((id) => recs.some((r) => r.id === id && r.mode === '200')), 'after a SIGKILL mid-delivery every event arrives (a repeat keeps its webhook-id)');

  // ---- 8. payment.pending for a merchant who opted in, before payment.confirmed
  await pay(initech, 31337n);
  const initechTypes = async () => (await recv.records()).filter((x) => x.path === '/initech').map((x) => JSON.parse(x.body).type);
  await rig.waitFor('payment.pending for initech', async () => (await initechTypes()).includes('payment.pending'), 20000)
    .catch((e) => rig.check(false, e.message));
  await node.mine(2);
  await rig.waitFor('payment.confirmed for initech', async () => (await initechTypes()).includes('payment.confirmed'), 20000)
    .catch((e) => rig.check(false, e.message));
  await deliveredAll().catch((e) => rig.check(false, e.message)); // all sent: the receiver has every one now
  const ini = (await recv.records()).filter((x) => x.path === '/initech');
  const pend = ini.find((x) => JSON.parse(x.body).type === 'payment.pending');
  const conf = ini.find((x) => JSON.parse(x.body).type === 'payment.confirmed');
  rig.check(pend && conf && pend.sig_ok && pend.received_ms <= conf.received_ms && JSON.parse(pend.body).data.status === 'pending' &&
    JSON.parse(pend.body).data.amount_raw === '31337' && JSON.parse(pend.body).data.id === undefined,
    `payment.pending (no payment row yet) arrives before payment.confirmed (${ini.map((x) => JSON.parse(x.body).type)})`);
  const otherPending = (await db.query(`SELECT count(*)::int AS n FROM webhook_events WHERE type = 'payment.pending' AND merchant_id <> 'initech'`)).rows[0].n;
  rig.check(otherPending === 0 && !(await recv.records()).some((x) => x.path !== '/initech' && JSON.parse(x.body).type === 'payment.pending'),
    `merchants who did not opt in get no payment.pending (${otherPending} such events)`);

  // ---- 9. a reorg takes a pending payment's block before it confirmed: payment.dropped names the pending event
  const initechOf = async (type, raw) => (await recv.records())
    .find((x) => x.path === '/initech' && JSON.parse(x.body).type === type && JSON.parse(x.body).data.amount_raw === raw);
  await pay(initech, 271828n);
  await rig.waitFor('payment.pending of 271828', async () => !!(await initechOf('payment.pending', '271828')), 20000)
    .catch((e) => rig.check(false, e.message));
  await node.rpc('anvil_reorg', [1, []]); // its block replaced by one without the transfer
  await node.mine(1);
  await rig.waitFor('payment.dropped of 271828', async () => !!(await initechOf('payment.dropped', '271828')), 20000)
    .catch((e) => rig.check(false, e.message));
  const pend9 = await initechOf('payment.pending', '271828');
  const drop9 = await initechOf('payment.dropped', '271828');
  const [p9, d9] = [pend9, drop9].map((x) => x && JSON.parse(x.body).data);
  rig.check(drop9 && drop9.sig_ok && drop9.id !== pend9.id && d9.reverses_event_id === pend9.id && d9.status === 'dropped' &&
    d9.confirmations === 0 && d9.id === undefined && d9.block_hash === p9.block_hash && d9.tx_hash === p9.tx_hash &&
    d9.log_index === p9.log_index && d9.to === initech && d9.amount === p9.amount,
  `payment.dropped, signed, names the payment.pending event ${pend9?.id} and carries its payment (${drop9?.body})`);
  const droppedOf = (await db.query(`SELECT merchant_id, count(*)::int AS n FROM webhook_events WHERE type = 'payment.dropped'
    GROUP BY 1`)).rows;
  rig.check(droppedOf.length === 1 && droppedOf[0].merchant_id === 'initech' && droppedOf[0].n === 1,
    `one payment.dropped, to the merchant told of the payment only (${JSON.stringify(droppedOf)})`);

  // ---- 7. 410 disables; list, redeliver, test; private targets refused unless allowed
  await recv.control({ path: '/globex', always: '410' });
  await pay(globex, 410n);
  await node.mine(2);
  await rig.waitFor('410 handled', async () =>
    (await db.query(`SELECT count(*)::int AS n FROM webhook_endpoints WHERE disabled_at IS NOT NULL`)).rows[0].n === 1, 20000).catch((e) => rig.check(false, e.message));
  let r = rig.runPaywatchSync(bin, ['webhooks', 'list', '-c', cfg, '--status', 'failed'], env);
  rig.check(r.status === 0 && /payment\.confirmed +globex/.test(r.stdout) && /endpoint disabled: 410 Gone/.test(r.stdout), `webhooks list shows the failure (${r.stdout.trim().split('\n').slice(0, 3).join(' | ')})`);
  // the same as one JSON object: the fields apart, null where there is none
  r = rig.runPaywatchSync(bin, ['webhooks', 'list', '-c', cfg, '--status', 'failed', '--json'], env);
  let listed = null;
  try { listed = JSON.parse(r.stdout); } catch { /* checked below */ }
  const gone = listed?.data?.find((x) => x.merchant_id === 'globex');
  rig.check(r.status === 0 && listed?.limit === 1000 && listed.more === false && listed.data.every((x) => x.status === 'failed') &&
    gone?.type === 'payment.confirmed' && typeof gone.endpoint_id === 'string' && /^http:\/\/127\.0\.0\.1:\d+$/.test(gone.endpoint_url) &&
    gone.last_status === 410 && gone.next_attempt_at === null && /410 Gone/.test(gone.endpoint_disabled_reason) && gone.attempts >= 1,
  `webhooks list --json: the failure's fields (${r.stdout.trim().slice(0, 400)})`);
  // one delivery parked as pending for an hour (put back after): its next attempt as RFC 3339, the others' null
  const parked = (await db.query(`UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now() + interval '1 hour'
    WHERE id = (SELECT min(id) FROM webhook_deliveries WHERE status = 'delivered') RETURNING id,
    to_char(next_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at`)).rows[0];
  r = rig.runPaywatchSync(bin, ['webhooks', 'list', '-c', cfg, '--json'], env);
  await db.query(`UPDATE webhook_deliveries SET status = 'delivered' WHERE id = $1`, [parked.id]);
  try { listed = JSON.parse(r.stdout); } catch { listed = null; }
  rig.check(r.status === 0 && Array.isArray(listed?.data) && listed.data.filter((x) => x.status === 'pending').length === 1 &&
    listed.data.some((x) => x.status === 'pending' && x.next_attempt_at === parked.at) &&
    listed.data.every((x) => (x.next_attempt_at === null) === (x.status !== 'pending') &&
      (x.last_status === null || Number.isInteger(x.last_status))),
  `webhooks list --json: the next attempt (RFC 3339, ${parked.at}) exactly for the pending one (${listed?.data?.length} deliveries)`);
  const failedId = (await db.query(`SELECT event_id FROM webhook_deliveries WHERE status = 'failed'`)).rows[0]?.event_id;
  await db.query(`UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL`); // the merchant fixed it
  await recv.control({ path: '/globex', always: '' });
  r = rig.runPaywatchSync(bin, ['webhooks', 'redeliver', '-c', cfg, failedId], env);
  rig.check(r.status === 0 && /1 delivery queued again/.test(r.stdout), `redeliver ${failedId}`);
  await deliveredAll().catch((e) => rig.check(false, e.message));
  rig.check((await recv.records()).filter((x) => x.id === failedId && x.mode === '200').length === 1, 'the redelivered event arrives with its webhook-id');
  r = rig.runPaywatchSync(bin, ['webhooks', 'test', '-c', cfg, '--merchant', 'acme'], env);
  rig.check(r.status === 0 && /HTTP 200 \(ok\)/.test(r.stdout), `webhooks test: ${r.stdout.trim()}`);
  rig.check((await recv.records()).some((x) => JSON.parse(x.body).type === 'ping' && x.sig_ok), 'the ping is signed');
  const strict = rig.writeConfig(fs.mkdtempSync(path.join(work, 'strict')), { ...cfgObj, webhooks: { ...cfgObj.webhooks, allow_private_targets: false } });
  r = rig.runPaywatchSync(bin, ['webhooks', 'test', '-c', strict, '--merchant', 'acme'], env);
  rig.check(r.status === 1 && /resolves to a loopback, private or link-local address/.test(r.stdout), `a loopback target is refused by default (${r.stdout.trim()})`);
  rig.check(!pw.stderr.includes(SECRET_A.slice(6)) && !pw.stderr.includes(SECRET_B.slice(6)), 'no webhook secret in the logs');
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'run exits 0');
}

rig.runTest('e2e_webhooks', main);
