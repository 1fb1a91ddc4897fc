// test_feed.mjs: GET /v1/events, the event feed, against real parts (anvil,
// a throwaway Postgres, `paywatch run` serving the API). Checks: every
// payment state change of every merchant is in the feed, with or without a
// webhook, and its id is the webhook-id where a webhook event exists; a
// consumer passing each next_cursor back sees each event exactly once, in
// small pages; after=now starts at the end; a reorg deeper than the
// confirmations shows as payment.confirmed then payment.reverted (naming
// the event it reverses); writes committing out of order (a transaction
// opened by the test, holding an event, commits after paywatch's later
// ones) are neither skipped nor repeated; a long-poll answers within
// 100 ms of the event becoming visible in Postgres, and at its deadline
// when nothing comes; scoping and each malformed parameter. Webhook
// deliveries: listed in pages, scoped, redelivered with the same
// webhook-id, 409 while pending, 413 for a large body. Metrics: the
// counters against Postgres, and the endpoint gauges counted from run's
// start with the config's endpoint mirrored (pg_stat_statements: every
// count returned its row).
//
// The one hand-written write: the out-of-order transaction inserts a
// payment row and its feed row itself, as the sink's statement does. A
// real writer cannot be made to hold its transaction open on cue; that is
// the fault the test injects.
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as rig from './lib/rig.mjs';
import { loadContract } from './lib/openapi.mjs';

const bin = process.argv[2];
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const globex = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
const CONF = 2;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function newKey(args) {
  const r = rig.runPaywatchSync(bin, ['api-key', 'new', ...args]);
  const [key, entry] = r.stdout.trim().split('\n');
  return { key, entry: JSON.parse(entry) };
}

async function main() {
  const work = rig.workDir('pw-feed-');
  // pg_stat_statements: the endpoint gauges' counts, each call's rows
  const [pg, node] = await Promise.all([rig.startPostgres({ shared_preload_libraries: 'pg_stat_statements' }), rig.startAnvil()]);
  const recv = await rig.startReceiver(work, { '/acme': SECRET });
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const transferData = (to, amount) => '0xa9059cbb' + to.slice(2).padStart(64, '0') + amount.toString(16).padStart(64, '0');
  const txTo = (to, amount) => ({ from: deployer, to: token.address, data: transferData(to, amount), gas: '0x30000' });
  const admin = newKey([]);
  const acmeKey = newKey(['--merchant', 'acme']);
  const globexKey = newKey(['--merchant', 'globex']);
  const contract = await loadContract();
  const port = await rig.freePort();
  const base = `http://127.0.0.1:${port}`;
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: CONF,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [acme] }, webhooks: [{ id: 'main', url: recv.base + '/acme', secrets: [SECRET] }] },
      { id: 'globex', addresses: { local: [globex] } }],
    webhooks: { allow_private_targets: true },
    api: { listen: `127.0.0.1:${port}`, rate_limit: { per_second: 1000, burst: 1000 }, keys: [admin.entry, acmeKey.entry, globexKey.entry] },
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  await db.query('CREATE EXTENSION pg_stat_statements');
  let amount = 1000n;
  for (let i = 0; i < 6; i++) {
    await node.receipt(await token.transfer(deployer, acme, amount++));
    await node.receipt(await token.transfer(deployer, globex, amount++));
  }
  await node.mine(CONF);
  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  await rig.waitFor('12 payments', async () => (await db.query('SELECT count(*)::int n FROM payments')).rows[0].n === 12, 30000);
  await rig.waitFor('the API', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 15000);
  // run serves /metrics (its API): its dispatcher counts the deliveries
  // due and failed per endpoint (every 5 s), once the config's merchants
  // and endpoints are mirrored: its first count already sees acme's
  // endpoint, so every count so far returned one row (a count made before
  // the mirror returned none, and the gauges stayed empty until the next,
  // 5 s later)
  let gauges = [];
  await rig.waitFor("the endpoint gauges on run's /metrics", async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    gauges = ['due', 'failed'].map((g) => rig.metricValue(text, `paywatch_webhook_deliveries_${g}`, 'merchant_id="acme",endpoint="main"'));
    return gauges.every(Number.isInteger);
  }, 20000).catch((e) => rig.check(false, e.message));
  rig.check(gauges.every(Number.isInteger), `run's dispatcher counts its endpoints' due (${gauges[0]}) and failed (${gauges[1]}) deliveries`);
  const gaugeCounts = (await db.query(`SELECT coalesce(sum(calls), 0)::int calls, coalesce(sum(rows), 0)::int n
    FROM pg_stat_statements WHERE query LIKE '%FROM webhook_deliveries x WHERE x.endpoint_id = e.id%'`)).rows[0];
  rig.check(gaugeCounts.calls >= 1 && gaugeCounts.n === gaugeCounts.calls,
    `the gauges' counts since the start each saw the mirrored endpoint (${gaugeCounts.calls} counts, ${gaugeCounts.n} rows)`);
  const get = async (p, key = admin.key, init = {}) => {
    const res = await fetch(base + p, { ...init, headers: { authorization: `Bearer ${key}` } });
    const text = await res.text();
    let body = null;
    try { body = JSON.parse(text); } catch { /* checked */ }
    contract.record(init.method || 'GET', p, res.status, res.headers.get('content-type'), body ?? text);
    return { status: res.status, headers: res.headers, body, text };
  };

  // ---- the whole feed in pages of 5
  const consume = async (cursor, key = admin.key, limit = 5) => {
    const events = [];
    for (let i = 0; i < 100; i++) {
      const r = await get(`/v1/events?limit=${limit}${cursor ? `&after=${cursor}` : ''}`, key);
      if (r.status !== 200) throw new Error(`feed: ${r.status} ${r.text}`);
      events.push(...r.body.data);
      cursor = r.body.next_cursor;
      if (r.body.data.length < limit) break;
    }
    return { events, cursor };
  };
  let { events, cursor } = await consume(null);
  const payments = (await db.query(`SELECT id::int, merchant_id FROM payments ORDER BY id`)).rows;
  rig.check(events.length === 12 && events.every((e) => e.type === 'payment.confirmed') &&
    new Set(events.map((e) => e.data.id)).size === 12 && payments.every((p) => events.some((e) => e.data.id === p.id)),
    `from the beginning: one payment.confirmed per payment, both merchants, webhook or not (${events.length})`);
  const hooks = new Map((await db.query(`SELECT id, payment_id::int FROM webhook_events WHERE type = 'payment.confirmed'`)).rows
    .map((x) => [x.payment_id, x.id]));
  const acmeEvents = events.filter((e) => e.data.merchant_id === 'acme');
  rig.check(acmeEvents.length === 6 && acmeEvents.every((e) => hooks.get(e.data.id) === e.id) &&
    events.filter((e) => e.data.merchant_id === 'globex').every((e) => /^evt_[0-9a-f]{24}$/.test(e.id) && !hooks.has(e.data.id)),
    'the event ids are the webhook ids where a webhook exists (acme), evt_ ids where none (globex)');
  const one = await get(`/v1/payments/${events[0].data.id}`);
  rig.check(JSON.stringify(events[0].data) === JSON.stringify(one.body) && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(events[0].timestamp),
    'an event carries PAYMENT (as GET /v1/payments/{id}) and an RFC 3339 timestamp');
  let r = await get('/v1/events?limit=1000');
  rig.check(r.body.data.length === 12 && r.body.next_cursor, 'one page of 1000: the same 12, and a cursor to go on from');
  r = await get(`/v1/events?after=${cursor}`);
  rig.check(r.status === 200 && r.body.data.length === 0 && r.body.next_cursor, 'at the end: an empty page and a cursor');
  r = await get('/v1/events?after=now');
  rig.check(r.status === 200 && r.body.data.length === 0, 'after=now: nothing of the past');
  const nowCursor = r.body.next_cursor;

  // ---- scoping, parameters
  r = await get('/v1/events?limit=1000', acmeKey.key);
  rig.check(r.status === 200 && r.body.data.length === 6 && r.body.data.every((e) => e.data.merchant_id === 'acme'),
    'a merchant key reads its merchant\'s events only');
  r = await get('/v1/events?merchant_id=globex', acmeKey.key);
  rig.check(r.status === 403, 'another merchant\'s feed: 403');
  r = await get('/v1/events?merchant_id=globex&limit=1000');
  rig.check(r.status === 200 && r.body.data.length === 6 && r.body.data.every((e) => e.data.merchant_id === 'globex'),
    'an admin key may narrow to one merchant');
  r = await get('/v1/events', 'pwk_nope');
  rig.check(r.status === 401, 'no valid key: 401');
  for (const [q, param] of [['after=xyz', 'after'], ['limit=0', 'limit'], ['limit=1001', 'limit'], ['wait=61', 'wait'],
    ['wait=-1', 'wait'], ['wait=1.5', 'wait'], ['merchant_id=a%20b', 'merchant_id'], ['since=1', 'since']]) {
    r = await get(`/v1/events?${q}`);
    rig.check(r.status === 400 && r.body.error.param === param, `${q}: 400 naming ${param}`);
  }

  // ---- long-poll: the answer within 100 ms of the event being visible
  const t0 = Date.now();
  r = await get(`/v1/events?after=${nowCursor}&wait=1`);
  const waited = Date.now() - t0;
  rig.check(r.status === 200 && r.body.data.length === 0 && waited >= 900 && waited < 3000,
    `wait=1 with nothing new: an empty page after ~1 s (${waited} ms)`);
  // n long-polls parked now (the server's gauge)
  const parkedCount = (n) => rig.waitFor(`${n} long-poll(s) parked`, async () => {
    const m = await (await fetch(`${base}/metrics`)).text();
    return Number((m.match(/^paywatch_api_longpolls_waiting (\d+)/m) || [0, 0])[1]) >= n;
  }, 20000, 10);
  const latencies = [];
  for (let i = 0; i < 3; i++) {
    const before = (await db.query('SELECT coalesce(max(id), 0)::int m FROM payments')).rows[0].m;
    const poll = (async () => { const x = await get(`/v1/events?after=${cursor}&wait=30`); return { ...x, at: Date.now() }; })();
    await parkedCount(1); // the long-poll is parked before the payment exists
    await node.receipt(await token.transfer(deployer, globex, amount++));
    await node.mine(CONF);
    let visibleAt = 0;
    await rig.waitFor('the payment visible in Postgres', async () => {
      const n = (await db.query('SELECT count(*)::int n FROM payments WHERE id > $1', [before])).rows[0].n;
      if (n > 0 && !visibleAt) visibleAt = Date.now();
      return n > 0;
    }, 20000, 2);
    const got = await poll;
    latencies.push(got.at - visibleAt);
    rig.check(got.status === 200 && got.body.data.length === 1 && got.body.data[0].data.merchant_id === 'globex',
      `long-poll ${i + 1}: the new event`);
    cursor = got.body.next_cursor;
  }
  console.log(`long-poll, row visible to answer: ${latencies} ms`);
  rig.check(latencies.every((ms) => ms <= 100), `long-poll answered within 100 ms of the row being visible (${latencies} ms)`);
  const wake = await (await fetch(`${base}/metrics`)).text();
  const shared = Number((wake.match(/^paywatch_api_longpoll_wakeups_total\{source="shared"\} (\d+)/m) || [0, 0])[1]);
  rig.check(shared >= 3, `the woken long-polls were answered from the watcher's one read of the new events (${shared} shared)`);
  r = await get(`/v1/events?after=${nowCursor}&limit=1000`);
  rig.check(r.body.data.length === 3, `after=now's cursor: exactly the 3 events since (${r.body.data.length})`);

  // ---- writes committing out of order
  const late = await pg.client();
  rig.onCleanup(() => late.end().catch(() => {}));
  await late.query('BEGIN');
  const fakeHash = '0x' + 'ab'.repeat(32);
  const { rows: [lp] } = await late.query(`INSERT INTO payments (chain, chain_id, block_number, block_hash, block_time, tx_hash,
    log_index, token_address, token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount, status,
    confirmations, confirmed_at, chain_family) VALUES ('local', 31337, 1, $1, now(), $1, 0, $2, 'USDC', $3, $4, 'globex', 5, 6,
    0.000005, 'confirmed', 2, now(), 'evm') RETURNING id::int`, [fakeHash, token.address.toLowerCase(), deployer.toLowerCase(), globex]);
  await late.query(`INSERT INTO event_feed (id, type, merchant_id, payment_id, reverses) VALUES ('evt_late_writer', 'payment.confirmed', 'globex', $1, '')`, [lp.id]);
  // paywatch writes (and commits) later events while that transaction is open
  const lateBefore = (await db.query('SELECT coalesce(max(id), 0)::int m FROM payments')).rows[0].m;
  await node.receipt(await token.transfer(deployer, acme, amount++));
  await node.mine(CONF);
  await rig.waitFor('paywatch\'s later payment committed', async () =>
    (await db.query('SELECT count(*)::int n FROM payments WHERE id > $1 AND id <> $2', [lateBefore, lp.id])).rows[0].n === 1, 20000);
  const held = await consume(cursor);
  rig.check(held.events.length === 0, `while an earlier writer is open, the later commit is held back (${held.events.length} served)`);
  const parked = get(`/v1/events?after=${held.cursor}&wait=20&limit=10`);
  await parkedCount(1); // held back, so parked: the late COMMIT wakes it
  await late.query('COMMIT');
  r = await parked;
  const after = await consume(r.body.next_cursor);
  const got = [...r.body.data, ...after.events];
  rig.check(got.length === 2 && got[0].id === 'evt_late_writer' && got[1].data.merchant_id === 'acme',
    `after it commits: its event, then the later one, once each (${got.map((e) => e.id)})`);
  cursor = after.cursor;

  // ---- a reorg deeper than the confirmations: confirmed, then reverted
  await node.receipt(await token.transfer(deployer, acme, 777_000n));
  const bBlock = await node.head();
  await node.mine(CONF);
  await rig.waitFor('payment B confirmed', async () =>
    (await db.query(`SELECT count(*)::int n FROM payments WHERE amount_raw = 777000`)).rows[0].n === 1, 20000);
  await rig.waitFor('run at the head', async () => (await get('/v1/chains')).body?.data?.[0]?.checkpoint === bBlock + CONF, 20000);
  await node.rpc('anvil_reorg', [(await node.head()) - bBlock + 1, [[txTo(globex, 888_000n), 0]]]);
  await node.mine(CONF);
  await rig.waitFor('B reverted, its replacement confirmed', async () =>
    (await db.query(`SELECT count(*)::int n FROM payments WHERE (amount_raw = 777000 AND status = 'reverted') OR
      (amount_raw = 888000 AND status = 'confirmed')`)).rows[0].n === 2, 30000);
  const tail = await consume(cursor, admin.key, 2);
  const kinds = tail.events.map((e) => `${e.type}:${e.data.amount_raw}`);
  const conf = tail.events.find((e) => e.type === 'payment.confirmed' && e.data.amount_raw === '777000');
  const rev = tail.events.find((e) => e.type === 'payment.reverted');
  rig.check(tail.events.length === 3 && kinds[0] === 'payment.confirmed:777000' && kinds.includes('payment.reverted:777000') &&
    kinds.includes('payment.confirmed:888000') && kinds.indexOf('payment.reverted:777000') > 0,
    `across the reorg: confirmed, then reverted, and the replacement (${kinds})`);
  rig.check(rev && conf && rev.data.status === 'reverted' && rev.data.reverses_event_id === conf.id && rev.data.reverted_at &&
    conf.data.status === 'confirmed' && conf.data.reverted_at === null && rev.data.id === conf.data.id,
    'the reverted event names the confirmed one it reverses; each carries the payment as it was then');
  const hookRev = (await db.query(`SELECT id FROM webhook_events WHERE type = 'payment.reverted'`)).rows;
  rig.check(hookRev.length === 1 && hookRev[0].id === rev.id, 'the reverted event\'s id is its webhook id (acme has a webhook)');

  // ---- webhook deliveries: list (paged, scoped), redeliver
  await rig.waitFor('acme\'s deliveries delivered', async () =>
    (await db.query(`SELECT count(*) FILTER (WHERE status <> 'delivered')::int n FROM webhook_deliveries`)).rows[0].n === 0, 30000);
  const dbDeliveries = (await db.query('SELECT id::int FROM webhook_deliveries ORDER BY id DESC')).rows.map((x) => x.id);
  const pagedIds = [];
  let dc = null;
  for (let i = 0; i < 50; i++) {
    r = await get(`/v1/webhooks/deliveries?limit=3${dc ? `&cursor=${dc}` : ''}`);
    if (r.status !== 200) break;
    pagedIds.push(...r.body.data.map((d) => d.id));
    dc = r.body.next_cursor;
    if (!dc) break;
  }
  rig.check(dbDeliveries.length >= 9 && JSON.stringify(pagedIds) === JSON.stringify(dbDeliveries),
    `GET /v1/webhooks/deliveries in pages of 3: every delivery once, newest first (${pagedIds.length}/${dbDeliveries.length})`);
  r = await get('/v1/webhooks/deliveries?status=delivered&limit=1');
  const d0 = r.body.data[0];
  rig.check(r.status === 200 && d0.status === 'delivered' && d0.endpoint.id === 'main' && d0.endpoint.url === recv.base &&
    d0.merchant_id === 'acme' && d0.attempts === 1 && d0.delivered_at && d0.next_attempt_at === null && /^evt_/.test(d0.event_id),
    `a DELIVERY: its event, endpoint by id and scheme://host:port, status, attempts, times (${JSON.stringify(d0)})`);
  r = await get('/v1/webhooks/deliveries?limit=1000', acmeKey.key);
  const r2 = await get('/v1/webhooks/deliveries?limit=1000', globexKey.key);
  rig.check(r.status === 200 && r.body.data.length === dbDeliveries.length && r2.status === 200 && r2.body.data.length === 0,
    'scoped: acme\'s key sees its deliveries, globex\'s key none');
  r = await get('/v1/webhooks/deliveries?merchant_id=acme', globexKey.key);
  rig.check(r.status === 403, 'another merchant\'s deliveries: 403');
  for (const [q, param] of [['status=sent', 'status'], ['cursor=abc', 'cursor'], ['limit=0', 'limit'], ['to=x', 'to']]) {
    r = await get(`/v1/webhooks/deliveries?${q}`);
    rig.check(r.status === 400 && r.body.error.param === param, `deliveries ${q}: 400 naming ${param}`);
  }
  const post = (p, key = admin.key, body) => get(p, key, { method: 'POST', body });
  r = await post(`/v1/webhooks/deliveries/${d0.id}/redeliver`, globexKey.key);
  rig.check(r.status === 404, 'redeliver another merchant\'s delivery: 404');
  r = await get(`/v1/webhooks/deliveries/${d0.id}/redeliver`);
  rig.check(r.status === 405 && r.headers.get('allow') === 'POST', 'GET on redeliver: 405, Allow: POST');
  r = await post('/v1/webhooks/deliveries/99999999/redeliver');
  rig.check(r.status === 404, 'redeliver an unknown delivery: 404');
  r = await post(`/v1/webhooks/deliveries/${d0.id}/redeliver`, admin.key, 'x'.repeat(100000));
  rig.check(r.status === 413, `a 100 KB body: 413 (${r.status})`);
  r = await post(`/v1/webhooks/deliveries/${d0.id}/redeliver`, acmeKey.key);
  rig.check(r.status === 200 && r.body.id === d0.id && r.body.status === 'pending' && r.body.attempts === 0,
    `redeliver (merchant key, its own): queued again (${r.text.slice(0, 200)})`);
  await rig.waitFor('the receiver to get it again, same webhook-id', async () =>
    (await recv.records()).filter((x) => x.id === d0.event_id && x.sig_ok).length === 2, 20000);
  await recv.control({ path: '/acme', always: '500' });
  const d1 = dbDeliveries[1];
  r = await post(`/v1/webhooks/deliveries/${d1}/redeliver`);
  const again = await post(`/v1/webhooks/deliveries/${d1}/redeliver`);
  rig.check(r.status === 200 && again.status === 409 && again.body.error.code === 'conflict',
    `redeliver while pending (the endpoint fails now): 409 (${r.status}, ${again.status})`);
  await recv.control({ path: '/acme', always: '' });

  // ---- exactly once overall: the whole feed again from the beginning
  const all = await consume(null, admin.key, 3);
  const ids = all.events.map((e) => e.id);
  const feedRows = (await db.query('SELECT count(*)::int n FROM event_feed')).rows[0].n;
  rig.check(new Set(ids).size === ids.length && ids.length === feedRows && feedRows === 12 + 3 + 2 + 3,
    `the whole feed in pages of 3: ${ids.length} events, none twice, as many as rows (${feedRows})`);
  // ---- /metrics of this run: promtool-clean, and its counters equal the rows in Postgres
  const head = await node.head();
  let mtext = '';
  await rig.waitFor('the checkpoint gauge at the head (published each second)', async () => {
    mtext = await (await fetch(`${base}/metrics`)).text();
    return new RegExp(`^paywatch_chain_checkpoint_block\\{chain="local"\\} ${head}$`, 'm').test(mtext);
  }, 20000);
  const prom = spawnSync('promtool', ['check', 'metrics'], { input: mtext, encoding: 'utf8' });
  rig.check(prom.status === 0, `run's /metrics passes promtool check metrics (${(prom.stdout + prom.stderr).trim().slice(0, 200) || 'clean'})`);
  const metric = (name, labels) => rig.metricValue(mtext, name, labels);
  const counts = (await db.query(`SELECT count(*) FILTER (WHERE type = 'payment.confirmed')::int c,
    count(*) FILTER (WHERE type = 'payment.reverted')::int r FROM event_feed WHERE id IS DISTINCT FROM 'evt_late_writer'`)).rows[0];
  const reverted = (await db.query(`SELECT count(*)::int n FROM payments WHERE status = 'reverted'`)).rows[0].n;
  const mConfirmed = metric('paywatch_payments_total', 'chain="local",state="confirmed"');
  const mReverted = metric('paywatch_payments_total', 'chain="local",state="reverted"');
  rig.check(mConfirmed === counts.c && mReverted === counts.r && mReverted === reverted && reverted === 1,
    `paywatch_payments_total: confirmed ${mConfirmed} = ${counts.c} confirmations in Postgres, reverted ${mReverted} = ${reverted} reverted rows`);
  const inserted = metric('paywatch_postgres_rows_written_total', 'result="inserted"');
  const ownRows = (await db.query(`SELECT count(*)::int n FROM payments WHERE id <> $1`, [lp.id])).rows[0].n;
  rig.check(inserted === ownRows, `paywatch_postgres_rows_written_total{result="inserted"} ${inserted} = the ${ownRows} rows run wrote`);
  const hookAttempts = (await db.query(`SELECT count(*)::int n FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id`)).rows[0].n;
  const attempts = ['delivered', 'retry', 'failed', 'gone'].reduce((t, o) => t + (metric('paywatch_webhook_deliveries_total', `outcome="${o}"`) || 0), 0);
  rig.check(attempts === hookAttempts && hookAttempts > 0, `paywatch_webhook_deliveries_total ${attempts} = ${hookAttempts} attempts in webhook_attempts`);
  const reorgs = metric('paywatch_chain_reorg_depth_blocks_count', 'chain="local"');
  const getLogs = metric('paywatch_rpc_requests_total', 'chain="local",method="eth_getLogs",outcome="ok"');
  const logs = metric('paywatch_chain_logs_scanned_total', 'chain="local"');
  rig.check(reorgs >= 1 && getLogs > 0 && logs >= ownRows && metric('paywatch_chain_lag_blocks', 'chain="local"') === 0,
    `reorgs ${reorgs}, eth_getLogs requests ${getLogs}, logs scanned ${logs} (>= ${ownRows}), lag 0`);

  // ---- /readyz: 503 while Postgres is down, 200 again when it is back (run keeps running)
  r = await get('/readyz');
  rig.check(r.status === 200, `/readyz 200 before (${r.text})`);
  await db.end();
  await late.end();
  pg.stop();
  const down = await rig.waitFor('/readyz 503 with Postgres down', async () => {
    const x = await get('/readyz');
    return x.status === 503 && x.body?.reasons?.includes('postgres: not answering');
  }, 20000).then(() => true, () => false);
  pg.start();
  const back = await rig.waitFor('/readyz 200 with Postgres back', async () => (await get('/readyz')).status === 200, 30000)
    .then(() => true, () => false);
  rig.check(down && back, `/readyz: 503 naming Postgres while it is down (${down}), 200 when it returns (${back})`);

  rig.check(contract.stats.checked > 50 && contract.stats.failures.length === 0,
    `every response (${contract.stats.checked}) matches api/openapi.yaml${contract.stats.failures.length ? ': ' + contract.stats.failures.slice(0, 3).join(' | ') : ''}`);
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'run exits 0 on SIGTERM');
}

rig.runTest('e2e_feed', main);
