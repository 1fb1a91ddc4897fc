// test_webhook_reuse.mjs: the dispatcher keeps its connections to a
// receiver and reuses them (issue 16: no TCP or TLS handshake per
// delivery), and still records every request that may have reached the
// merchant as one attempt. The receiver (node's http server, keep-alive)
// answers the first two requests on each connection and, on the third,
// reads the whole request and closes the connection without an answer:
// the merchant got the request, the dispatcher got nothing. libcurl's own
// behaviour would be to send it again at once on a fresh connection (a
// second request, one attempt recorded); paywatch's dispatcher records a
// failed attempt instead and sends it again on the retry schedule.
//  1. every delivery delivered; the log has no line per delivery at info,
//     a line per failed attempt, and summary lines whose counts add up to
//     the outcomes, the first of them 10 s after the start, before the
//     stop;
//  2. connections were reused (fewer connections than requests);
//  3. the receiver's count of requests equals the attempts recorded, and
//     every closed-without-answer request is a recorded failed attempt;
//  4. a dispatcher stopped (SIGTERM) with requests in flight gives back
//     their leases (one statement for all, with a NOTIFY that wakes the
//     others), so the next one sends them at once instead of after the
//     lease, and records each request that went out as an attempt with no
//     answer, and says how many; a lease another claim took meanwhile
//     (the test stands in for it) is not given back: that delivery stays
//     with its new owner.
//  5. the dispatcher's Postgres connection ended (pg_terminate_backend)
//     while its flush waits on a lock the test holds on webhook_attempts:
//     the dispatcher keeps the two outcomes (says so), connects again and
//     writes them, each under the lease its claim set: one delivery is
//     delivered, sent once; the other's lease was taken meanwhile (the
//     test stands in for another dispatcher's claim), so its attempt is
//     recorded and the delivery left to that owner.
//  6. a dispatcher whose config lacks an endpoint says so once, gives its
//     deliveries back at once and claims them no more (no loop of claim
//     and release), while it delivers the endpoints it has; a dispatcher
//     that has the endpoint delivers them, without waiting for a lease.
//     A lease another claim took between the claim and the give-back is
//     not given back (a trigger the test installs stands in for that
//     other claim: the window cannot be held open from outside).
//  7. the Postgres connection ended while a request is in flight: the
//     dispatcher says how many requests it stopped and how many of them
//     went out, connects again, and records that request as a failed
//     attempt (no answer read), its delivery due again on the schedule.
//  8. the endpoint gauges (deliveries due and failed per endpoint): the
//     count reads every pending and failed delivery, so only a dispatcher
//     that serves its metrics makes it. No dispatcher above served any
//     (pg_stat_statements: the count never ran); one with metrics.listen
//     shows the due and failed deliveries of endpoints it does not serve.
//  9. a flush Postgres committed whose answer the connection lost (the
//     dispatcher's connection goes through tcpcut.mjs, a forwarder that
//     throws Postgres's answers away, then cuts): the dispatcher cannot
//     tell it from a flush never written, keeps its outcome and writes it
//     again after the reconnect; the attempt is recorded once (its lease
//     tells it was), the delivery delivered once, and the log says so.
// 10. an upgrade: a dispatcher of this build on a schema without 020 (the
//     column dropped and its record deleted, as before `migrate`) says how
//     many migrations are missing and claims nothing; `paywatch migrate`
//     applies 020, and the same dispatcher delivers once it tries again.
// 11. a stop whose give-back Postgres does not commit (the statement
//     waits on a lock the test holds, then its backend is ended): the
//     dispatcher says the leases were not given back and that the request
//     that went out has no attempt row, and exits 0.
// No chain is needed: the deliveries are written by SQL, as run's sink
// writes them.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import * as rig from './lib/rig.mjs';
import { startTcpCut } from './lib/tcpcut.mjs';

const bin = process.argv[2];
const SECRET = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
const EVENTS = 12;

function startReceiver() {
  const requests = []; // { id, conn, nth, answered }
  const hanging = []; // requests to /hang: taken in, never answered
  const fast = []; // requests to /fast: answered at once
  let conns = 0;
  const server = http.createServer({ keepAlive: true, keepAliveTimeout: 30000 }, (req, res) => {
    if (req.url === '/hang' || req.url === '/fast') {
      req.on('data', () => {});
      req.on('end', () => {
        const id = req.headers['webhook-id'];
        if (req.url === '/hang') hanging.push(id);
        else { fast.push(id); res.writeHead(200, { 'content-length': '2' }); res.end('ok'); }
      });
      return;
    }
    const sock = req.socket;
    if (!sock.pwConn) { sock.pwConn = ++conns; sock.pwCount = 0; }
    const nth = ++sock.pwCount;
    req.on('data', () => {});
    req.on('end', () => {
      const r = { id: req.headers['webhook-id'], conn: sock.pwConn, nth, answered: nth % 3 !== 0 };
      requests.push(r);
      if (!r.answered) { sock.destroy(); return; } // taken in, never answered
      res.writeHead(200, { 'content-length': '2' });
      res.end('ok');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    rig.onCleanup(() => { server.closeAllConnections(); server.close(); });
    resolve({ port: server.address().port, requests, hanging, fast, conns: () => conns });
  }));
}

async function main() {
  const work = rig.workDir('pw-reuse-');
  const [pg, recv] = await Promise.all([rig.startPostgres({ shared_preload_libraries: 'pg_stat_statements' }), startReceiver()]);
  // a dispatcher's config: one merchant whose endpoint is the receiver's urlPath;
  // one loop (webhooks.threads 1), whose lines and requests the checks count
  const dispatchConfig = (name, merchant, urlPath, webhooks, extra = {}) => rig.writeConfig(fs.mkdtempSync(path.join(work, name)), {
    data_dir: path.join(work, `data-${name}`), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: 'ws://127.0.0.1:9',
      tokens: [{ symbol: 'USDC', address: '0x' + 'a0'.repeat(20), decimals: 6 }] }],
    merchants: [{ id: merchant, addresses: {}, webhook: { url: `http://127.0.0.1:${recv.port}${urlPath}`, secret: SECRET } }],
    webhooks: { allow_private_targets: true, threads: 1, ...webhooks }, ...extra,
  });
  const cfg = dispatchConfig('reuse', 'acme', '/acme',
    // one at a time, so each connection carries requests one after another
    { timeout_ms: 5000, max_in_flight: 1, max_per_endpoint: 1, retry_schedule_s: [0, 1, 1, 1, 1, 1] });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  await db.query('CREATE EXTENSION pg_stat_statements'); // (8.)
  // the merchant and its endpoint, as a config's sync writes them
  const addEndpoint = async (merchant, urlPath) => {
    await db.query(`INSERT INTO merchants (id) VALUES ($1)`, [merchant]);
    await db.query(`INSERT INTO webhook_endpoints (merchant_id, key, url, events, origin)
      VALUES ($1, 'default', $2, '{payment.confirmed}', 'config')`, [merchant, `http://127.0.0.1:${recv.port}${urlPath}`]);
  };
  // events and their pending deliveries, as run's sink writes them, and
  // the dispatchers woken
  const deliver = async (merchant, ids) => {
    await db.query(`INSERT INTO webhook_events (id, type, merchant_id, payload)
      SELECT id, 'payment.confirmed', $2, '{"type":"payment.confirmed"}' FROM unnest($1::text[]) AS id`, [ids, merchant]);
    await db.query(`INSERT INTO webhook_deliveries (event_id, endpoint_id) SELECT ev.id, ep.id FROM webhook_events ev
      JOIN webhook_endpoints ep ON ep.merchant_id = ev.merchant_id WHERE ev.id = ANY($1)`, [ids]);
    await db.query('NOTIFY paywatch_webhooks');
  };
  const range = (prefix, n) => Array.from({ length: n }, (_, k) => `${prefix}${k + 1}`);
  await addEndpoint('acme', '/acme');
  await deliver('acme', range('evt_', EVENTS));

  const pw = rig.startPaywatch(bin, ['dispatch', '-c', cfg]);
  await rig.waitFor('every delivery delivered', async () =>
    (await db.query(`SELECT count(*)::int n FROM webhook_deliveries WHERE status = 'delivered'`)).rows[0].n === EVENTS, 60000)
    .catch((e) => rig.check(false, e.message));
  // the summary comes every 10 s while the dispatcher runs, not only at its
  // stop: its first line, over the 10 s since the start (the drain took a
  // few), is there before the SIGTERM
  const periodic = await rig.waitFor('the summary line of the first 10 s, while the dispatcher runs', () =>
    /in the last (\d+\.\d) s, (\d+) delivered/.exec(pw.stderr), 30000).catch((e) => rig.check(false, e.message));
  rig.check(!!periodic && Number(periodic[1]) >= 10 && Number(periodic[1]) < 60 && Number(periodic[2]) > 0,
    `the outcomes are summed up every 10 s while the dispatcher runs (${periodic?.[0]})`);
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'dispatch exits 0 on SIGTERM');

  const reqs = recv.requests;
  const dropped = reqs.filter((r) => !r.answered);
  // at info, no line per delivery: the outcomes summed up (every 10 s and
  // at the stop), a failed attempt on a line of its own
  const tallies = [...pw.stderr.matchAll(/in the last [\d.]+ s, (\d+) delivered, (\d+) to retry, (\d+) failed for good, (\d+) answered 410 Gone/g)];
  const summed = [1, 2, 3, 4].map((k) => tallies.reduce((s, m) => s + Number(m[k]), 0));
  const retryLines = pw.stderr.split('\n').filter((l) => / attempt \d+ failed: /.test(l)).length;
  rig.check(!/ delivered to /.test(pw.stderr) && tallies.length > 0 && summed.join() === `${EVENTS},${dropped.length},0,0` &&
    retryLines === dropped.length,
  `the log sums the outcomes up (${summed.join('/')} delivered/to retry/failed/gone over ${tallies.length} line(s)), ` +
    `no line per delivery, one per failed attempt (${retryLines})`);
  rig.check(recv.conns() < reqs.length && dropped.length > 0,
    `connections are kept and reused: ${reqs.length} requests over ${recv.conns()} connections, ${dropped.length} closed unanswered`);
  const attempts = (await db.query(`SELECT ev.id, a.http_status, a.error FROM webhook_attempts a
    JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN webhook_events ev ON ev.id = d.event_id`)).rows;
  rig.check(attempts.length === reqs.length,
    `every request that reached the receiver is one recorded attempt (${reqs.length} requests, ${attempts.length} attempts)`);
  const failed = attempts.filter((a) => a.http_status === null);
  rig.check(failed.length === dropped.length &&
    failed.every((a) => /closed before any answer/.test(a.error)),
    `each request closed without an answer is a failed attempt with its reason (${failed.length}: ${failed[0]?.error})`);
  const byEvent = new Map();
  for (const r of reqs) (byEvent.get(r.id) || byEvent.set(r.id, []).get(r.id)).push(r);
  rig.check(byEvent.size === EVENTS && [...byEvent.values()].every((rs) =>
    rs.at(-1).answered && rs.filter((r) => !r.answered).length === rs.length - 1),
  'each event was sent again only after an unanswered request, and its last request answered');

  // 4. leases given back at SIGTERM
  const HANG = 5;
  const hangCfg = dispatchConfig('hang', 'slowco', '/hang', { timeout_ms: 60000, max_in_flight: 8, max_per_endpoint: 8 });
  await addEndpoint('slowco', '/hang');
  await deliver('slowco', range('evt_hang_', HANG));
  const leased = async () => (await db.query(`SELECT count(*)::int n FROM webhook_deliveries d JOIN webhook_endpoints e
    ON e.id = d.endpoint_id WHERE e.merchant_id = 'slowco' AND d.status = 'pending' AND d.locked_until > now()`)).rows[0].n;
  const hp = rig.startPaywatch(bin, ['dispatch', '-c', hangCfg]);
  await rig.waitFor('every hanging request received', () => recv.hanging.length === HANG, 30000)
    .catch((e) => rig.check(false, e.message));
  const held = await leased();
  // another dispatcher's claim of one of them, as if its lease had ended
  await db.query(`UPDATE webhook_deliveries SET locked_until = now() + interval '1 hour' WHERE event_id = 'evt_hang_1'`);
  // the others are woken: a listener that joins after the deliveries' own
  // NOTIFY hears only the release's
  const listener = await pg.client();
  rig.onCleanup(() => listener.end().catch(() => {}));
  let woken = 0;
  listener.on('notification', (n) => { if (n.channel === 'paywatch_webhooks') woken++; });
  await listener.query('LISTEN paywatch_webhooks');
  hp.proc.kill('SIGTERM');
  rig.check((await hp.done).code === 0, 'dispatch exits 0 on SIGTERM with requests in flight');
  rig.check(new RegExp(`${HANG} requests in flight at the stop, ${HANG} of them sent`).test(hp.stderr),
    `the stop says how many requests were in flight and sent (${hp.stderr.split('\n').filter((l) => /at the stop/.test(l)).join(' | ')})`);
  const after = await leased();
  const otherLease = (await db.query(`SELECT locked_until > now() + interval '50 minutes' AS other
    FROM webhook_deliveries WHERE event_id = 'evt_hang_1'`)).rows[0].other;
  rig.check(held === HANG && after === 1 && otherLease,
    `a stopped dispatcher gives back its leases, not one another claim took (${held} leased in flight, ${after} after SIGTERM, ` +
    `the taken one ${otherLease ? 'still' : 'no longer'} with its new owner)`);
  await rig.waitFor('the other dispatchers woken by the release', () => woken > 0, 10000)
    .catch((e) => rig.check(false, e.message));
  await listener.end();
  // the requests reached the receiver: each is a recorded attempt with no answer
  const stopped = (await db.query(`SELECT d.event_id, d.attempts, d.status, d.last_error, count(a.id)::int n, min(a.error) error
    FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id LEFT JOIN webhook_attempts a ON a.delivery_id = d.id
    WHERE e.merchant_id = 'slowco' GROUP BY d.id`)).rows;
  const mine = stopped.filter((x) => x.event_id !== 'evt_hang_1'), hangTaken = stopped.find((x) => x.event_id === 'evt_hang_1');
  rig.check(mine.length === HANG - 1 && mine.every((x) => x.n === 1 && x.attempts === 1 && x.status === 'pending' &&
    /stopped before any answer/.test(x.error) && x.last_error === x.error),
  `each request in flight at the stop is one recorded attempt, still pending (${JSON.stringify(mine[0])})`);
  rig.check(hangTaken && hangTaken.n === 1 && /stopped before any answer/.test(hangTaken.error) && hangTaken.attempts === 0 &&
    hangTaken.last_error === null && hangTaken.status === 'pending',
  `the taken one's request is recorded as an attempt, its delivery left as its new owner has it (${JSON.stringify(hangTaken)})`);
  // done with: later dispatchers' configs have no slowco endpoint
  await db.query(`UPDATE webhook_deliveries d SET status = 'failed' FROM webhook_endpoints e
    WHERE e.id = d.endpoint_id AND e.merchant_id = 'slowco'`);

  // 5. the connection ended while the flush waits; a 1 s timeout makes
  // the lease 4 s, after which the delivery is sent again
  await addEndpoint('fastco', '/fast');
  const delivered = async (ids) => (await db.query(`SELECT count(*)::int n FROM webhook_deliveries
    WHERE event_id = ANY($1) AND status = 'delivered'`, [ids])).rows[0].n === ids.length;
  // the dispatcher's statement waits on a lock (it is connected, has
  // prepared its statements, and runs one that needs webhook_attempts)
  const waitingOnLock = async () => await rig.backends(db, { app: 'paywatch-dispatcher', onLock: true }) === 1;
  const locker = await pg.client();
  rig.onCleanup(() => locker.end().catch(() => {}));
  // a 60 s timeout: a 122 s lease, which outlives the reconnect
  const cp = rig.startPaywatch(bin, ['dispatch', '-c',
    dispatchConfig('cut', 'fastco', '/fast', { timeout_ms: 60000, max_in_flight: 8, max_per_endpoint: 8 })]);
  // one delivered first: the dispatcher has connected and prepared its
  // statements (a prepare would wait on the lock too)
  await deliver('fastco', ['evt_before_cut']);
  await rig.waitFor('a delivery before the cut', () => delivered(['evt_before_cut']), 30000)
    .catch((e) => rig.check(false, e.message));
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE webhook_attempts IN ACCESS EXCLUSIVE MODE');
  await deliver('fastco', ['evt_cut', 'evt_cut_taken']);
  await rig.waitFor('both requests answered and a flush waiting on the lock', async () =>
    recv.fast.includes('evt_cut') && recv.fast.includes('evt_cut_taken') && await waitingOnLock(), 30000)
    .catch((e) => rig.check(false, e.message));
  // another dispatcher's claim of evt_cut_taken, as if its lease had ended
  await db.query(`UPDATE webhook_deliveries SET locked_until = now() + interval '1 hour' WHERE event_id = 'evt_cut_taken'`);
  await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'paywatch-dispatcher'`);
  await locker.query('COMMIT');
  const attemptsOf = async (id) => (await db.query(`SELECT a.http_status FROM webhook_deliveries d JOIN webhook_attempts a
    ON a.delivery_id = d.id WHERE d.event_id = $1`, [id])).rows;
  await rig.waitFor('both kept outcomes written after the reconnect', async () =>
    await delivered(['evt_cut']) && (await attemptsOf('evt_cut_taken')).length === 1, 30000)
    .catch((e) => rig.check(false, e.message));
  // the line saying so follows the flush's commit: wait for it, not only for the rows
  const keptSaid = () => /outcomes? kept until postgres is back/.test(cp.stderr) && /kept while postgres was away written/.test(cp.stderr);
  await rig.waitFor('the dispatcher to say the kept outcomes were written', keptSaid, 10000).catch(() => {});
  rig.check(keptSaid(), 'the outcomes the lost connection did not write are kept, said, and written after the reconnect');
  rig.check(!/not written to postgres/.test(cp.stderr), 'no outcome dropped');
  const sent = recv.fast.filter((id) => id === 'evt_cut').length;
  const cut = await attemptsOf('evt_cut');
  rig.check(sent === 1 && cut.length === 1 && cut[0].http_status === 200,
    `the answered request is recorded once and not sent again (${sent} request(s), attempts ${JSON.stringify(cut)})`);
  const taken = (await db.query(`SELECT status, attempts, locked_until > now() + interval '50 minutes' AS other_lease
    FROM webhook_deliveries WHERE event_id = 'evt_cut_taken'`)).rows[0];
  const takenAttempts = await attemptsOf('evt_cut_taken');
  // (its answer may have been read before the loss, 200, or not: no status)
  rig.check(taken.status === 'pending' && taken.attempts === 0 && taken.other_lease && takenAttempts.length === 1,
    `a lease taken meanwhile: the attempt is recorded, the delivery left to its new owner (${JSON.stringify({ taken, takenAttempts })})`);
  await db.query(`UPDATE webhook_deliveries SET status = 'failed', locked_until = NULL WHERE event_id = 'evt_cut_taken'`); // done with
  cp.proc.kill('SIGTERM');
  rig.check((await cp.done).code === 0, 'dispatch exits 0 on SIGTERM after a reconnect');

  // 6. an endpoint this dispatcher's config lacks; a 60 s timeout makes a
  // lease 122 s, longer than any wait below
  await addEndpoint('orphan', '/fast');
  const long = { timeout_ms: 60000, max_in_flight: 8, max_per_endpoint: 8 };
  // evt_orphan_taken: right after a claim leases it, "another claim"
  // takes it with a lease an hour later (an AFTER trigger, so the claim
  // still returns its own lease; the trigger's own update does not match
  // its WHEN)
  await db.query(`CREATE FUNCTION pw_test_take_lease() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE webhook_deliveries SET locked_until = NEW.locked_until + interval '1 hour' WHERE id = NEW.id; RETURN NULL; END $$`);
  await db.query(`CREATE TRIGGER pw_test_take_lease AFTER UPDATE OF locked_until ON webhook_deliveries FOR EACH ROW
    WHEN (OLD.locked_until IS NULL AND NEW.locked_until IS NOT NULL AND NEW.event_id = 'evt_orphan_taken')
    EXECUTE FUNCTION pw_test_take_lease()`);
  const op = rig.startPaywatch(bin, ['dispatch', '-c', dispatchConfig('lacks', 'fastco', '/fast', long)]);
  const orphans = range('evt_orphan_', 3);
  await deliver('orphan', [...orphans, 'evt_orphan_taken']);
  // and a registry endpoint sealed under a key no process here holds
  await db.query(`INSERT INTO merchants (id) VALUES ('sealedco')`);
  await db.query(`INSERT INTO webhook_endpoints (merchant_id, key, url, events, origin, url_sealed, secret_sealed, key_id)
    VALUES ('sealedco', 'main', $1, '{payment.confirmed}', 'registry', 'pw1:00000000000000ff:AAAA', 'pw1:00000000000000ff:AAAA',
    '00000000000000ff')`, [`http://127.0.0.1:${recv.port}`]);
  const sealedIds = range('evt_sealed_', 2);
  await deliver('sealedco', sealedIds);
  const lines = (re) => op.stderr.split('\n').filter((l) => re.test(l));
  const said = () => lines(/endpoint "default" of merchant orphan: not in this config/);
  const saidSealed = () => lines(/endpoint "main" of merchant sealedco: its URL and secret are sealed under a key this process does not hold/);
  await rig.waitFor('the dispatcher says it lacks both endpoints', () => said().length > 0 && saidSealed().length > 0, 30000)
    .catch((e) => rig.check(false, e.message));
  // later claims: a delivery of an endpoint it has, sent after them
  await deliver('fastco', ['evt_beside_orphan']);
  await rig.waitFor('a delivery of an endpoint it has', () => delivered(['evt_beside_orphan']), 30000)
    .catch((e) => rig.check(false, e.message));
  const left = (await db.query(`SELECT count(*)::int n FROM webhook_deliveries WHERE event_id = ANY($1)
    AND status = 'pending' AND attempts = 0 AND locked_until IS NULL`, [orphans])).rows[0].n;
  rig.check(said().length === 1 && left === orphans.length,
    `the lacking dispatcher says so once and gives the deliveries back untried (${said().length} lines, ${left} of ${orphans.length} given back)`);
  const takenOrphan = (await db.query(`SELECT attempts, locked_until > now() + interval '30 minutes' AS other_lease
    FROM webhook_deliveries WHERE event_id = 'evt_orphan_taken'`)).rows[0];
  rig.check(takenOrphan.attempts === 0 && takenOrphan.other_lease === true,
    `a lease taken between its claim and the give-back is not given back: the delivery stays with its new owner (${JSON.stringify(takenOrphan)})`);
  await db.query('DROP TRIGGER pw_test_take_lease ON webhook_deliveries; DROP FUNCTION pw_test_take_lease()');
  const sealedLeft = (await db.query(`SELECT count(*)::int n FROM webhook_deliveries WHERE event_id = ANY($1)
    AND status = 'pending' AND attempts = 0 AND locked_until IS NULL`, [sealedIds])).rows[0].n;
  rig.check(saidSealed().length === 1 && sealedLeft === sealedIds.length,
    `and for a sealed endpoint it cannot open (${saidSealed().length} lines, ${sealedLeft} of ${sealedIds.length} given back)`);
  const hp2 = rig.startPaywatch(bin, ['dispatch', '-c', dispatchConfig('has', 'orphan', '/fast', long)]);
  await rig.waitFor('a dispatcher that has the endpoint delivers them, before any lease ends', () => delivered(orphans), 30000)
    .catch((e) => rig.check(false, e.message));
  rig.check(said().length === 1, `still said once after the other dispatcher delivered (${said().length})`);
  for (const p of [op, hp2]) p.proc.kill('SIGTERM');
  rig.check((await op.done).code === 0 && (await hp2.done).code === 0, 'both dispatchers exit 0 on SIGTERM');
  await db.query(`UPDATE webhook_deliveries SET status = 'failed', locked_until = NULL WHERE event_id = ANY($1)`,
    [[...sealedIds, 'evt_orphan_taken']]); // done with

  // 7. the connection ended with a request in flight (one that hangs)
  const lp = rig.startPaywatch(bin, ['dispatch', '-c', dispatchConfig('lost', 'slowco', '/hang', long)]);
  await deliver('slowco', ['evt_lost']);
  await rig.waitFor('the hanging request received', () => recv.hanging.includes('evt_lost'), 30000)
    .catch((e) => rig.check(false, e.message));
  const backends = async () => (await db.query(`SELECT array_agg(pid) p FROM pg_stat_activity
    WHERE application_name = 'paywatch-dispatcher'`)).rows[0].p || [];
  const before = await backends();
  await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'paywatch-dispatcher'`);
  await rig.waitFor('the loss named', () =>
    /1 request in flight stopped without postgres, 1 of them sent \(kept as failed attempts/.test(lp.stderr), 30000)
    .catch((e) => rig.check(false, e.message));
  await rig.waitFor('the dispatcher connected again', async () => {
    const now = await backends();
    return now.length === 1 && !before.includes(now[0]);
  }, 30000).catch((e) => rig.check(false, e.message));
  const lostRows = async () => (await db.query(`SELECT d.attempts, d.next_attempt_at > a.attempted_at later, a.http_status, a.error
    FROM webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.event_id = 'evt_lost'`)).rows;
  await rig.waitFor('the stopped request recorded', async () => (await lostRows()).length > 0, 30000)
    .catch((e) => rig.check(false, e.message));
  const lost = await lostRows();
  rig.check(lost.length === 1 && lost[0].attempts === 1 && lost[0].later && lost[0].http_status === null &&
    /connection to postgres was lost with the request in flight/.test(lost[0].error),
    `the request in flight at the loss is one failed attempt, the delivery due again on the schedule (${JSON.stringify(lost)})`);
  lp.proc.kill('SIGTERM');
  rig.check((await lp.done).code === 0, 'dispatch exits 0 on SIGTERM');
  // done with: its retry (due about 5 s after the loss) is parked, so that
  // step 11's dispatcher, which serves slowco too, meets only its own
  await db.query(`UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 day', locked_until = NULL
    WHERE event_id = 'evt_lost'`);

  // 8. the endpoint gauges, counted only where metrics are served
  const counts = async () => (await db.query(`SELECT coalesce(sum(calls), 0)::int n FROM pg_stat_statements
    WHERE query LIKE '%FROM webhook_deliveries x WHERE x.endpoint_id = e.id%'`)).rows[0].n;
  const uncounted = await counts();
  rig.check(uncounted === 0, `dispatchers that serve no metrics never count the deliveries due and failed (${uncounted} counts)`);
  // due: an endpoint no dispatcher here has; failed: slowco's five (4.)
  await addEndpoint('idleco', '/fast');
  await deliver('idleco', range('evt_idle_', 3));
  const metricsPort = await rig.freePort();
  const mp = rig.startPaywatch(bin, ['dispatch', '-c',
    dispatchConfig('gauges', 'fastco', '/fast', long, { metrics: { listen: `127.0.0.1:${metricsPort}` } })]);
  const gauge = (text, name, merchant) => rig.metricValue(text, name, `merchant_id="${merchant}",endpoint="default"`);
  let shown = '';
  await rig.waitFor('the gauges on /metrics', async () => {
    shown = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return gauge(shown, 'paywatch_webhook_deliveries_due', 'idleco') === 3 &&
      gauge(shown, 'paywatch_webhook_deliveries_failed', 'slowco') === HANG;
  }, 30000).catch((e) => rig.check(false, `${e.message}: ${shown.split('\n').filter((l) => /deliveries_(due|failed)\{/.test(l))}`));
  rig.check(await counts() > 0, 'a dispatcher that serves its metrics counts them');
  mp.proc.kill('SIGTERM');
  rig.check((await mp.done).code === 0, 'dispatch exits 0 on SIGTERM');

  // 9. a flush committed, its answer lost with the connection
  const fwd = await startTcpCut(pg.port);
  const ap = rig.startPaywatch(bin, ['dispatch', '-c', dispatchConfig('answer', 'fastco', '/fast', long,
    { postgres: { dsn: `postgresql://postgres@127.0.0.1:${fwd.port}/paywatch` } })]);
  // one delivered first: connected through the forwarder, statements prepared
  await deliver('fastco', ['evt_before_answer']);
  await rig.waitFor('a delivery through the forwarder', () => delivered(['evt_before_answer']), 30000)
    .catch((e) => rig.check(false, e.message));
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE webhook_attempts IN ACCESS EXCLUSIVE MODE');
  await deliver('fastco', ['evt_answer_lost']);
  await rig.waitFor('the request answered and its flush waiting on the lock', async () =>
    recv.fast.includes('evt_answer_lost') && await waitingOnLock(), 30000)
    .catch((e) => rig.check(false, e.message));
  fwd.dropAnswers();
  await locker.query('COMMIT');
  await rig.waitFor('the flush committed (its answer thrown away)', () => delivered(['evt_answer_lost']), 30000)
    .catch((e) => rig.check(false, e.message));
  const connectionsBefore = fwd.connections;
  fwd.cut();
  await rig.waitFor('the kept outcome written again after the reconnect', () =>
    /kept while postgres was away written/.test(ap.stderr) && fwd.connections > connectionsBefore, 30000)
    .catch((e) => rig.check(false, e.message));
  const answerRows = (await db.query(`SELECT d.status, d.attempts, a.http_status FROM webhook_deliveries d
    JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.event_id = 'evt_answer_lost'`)).rows;
  const answerSent = recv.fast.filter((id) => id === 'evt_answer_lost').length;
  rig.check(answerRows.length === 1 && answerRows[0].status === 'delivered' && answerRows[0].attempts === 1 &&
    answerRows[0].http_status === 200 && answerSent === 1,
  `a flush written again after its answer was lost records its attempt once (${answerSent} request(s), ${JSON.stringify(answerRows)})`);
  rig.check(/1 outcome kept while postgres was away written; 1 of them had been written already \(only the answer was lost\): recorded once/.test(ap.stderr),
    `the log says the kept outcome was already written (${ap.stderr.split('\n').filter((l) => /kept/.test(l)).join(' | ')})`);
  // every attempt above was recorded under its lease: the flushes', the
  // kept writes' and those of requests stopped in flight (4., 7.)
  const unleased = (await db.query(`SELECT count(*)::int n, count(*) FILTER (WHERE lease IS NULL)::int bare
    FROM webhook_attempts`)).rows[0];
  rig.check(unleased.n > 0 && unleased.bare === 0, `every attempt row carries its lease (${JSON.stringify(unleased)})`);
  ap.proc.kill('SIGTERM');
  rig.check((await ap.done).code === 0, 'dispatch exits 0 on SIGTERM');

  // 10. a schema one migration behind
  await db.query(`ALTER TABLE webhook_attempts DROP COLUMN lease;
    DELETE FROM schema_migrations WHERE version = '020_attempt_leases.sql'`);
  const upCfg = dispatchConfig('upgrade', 'fastco', '/fast', long);
  const up = rig.startPaywatch(bin, ['dispatch', '-c', upCfg]);
  await deliver('fastco', ['evt_upgrade']);
  await rig.waitFor('the missing migration named', () =>
    /postgres: 1 schema migration\(s\) not applied: run `paywatch migrate -c FILE` first; no deliveries until then/.test(up.stderr), 30000)
    .catch((e) => rig.check(false, e.message));
  const untouched = (await db.query(`SELECT attempts, locked_until FROM webhook_deliveries WHERE event_id = 'evt_upgrade'`)).rows[0];
  rig.check(!recv.fast.includes('evt_upgrade') && untouched.attempts === 0 && untouched.locked_until === null,
    `nothing claimed or sent on a schema behind the build (${JSON.stringify(untouched)})`);
  const mg = rig.runPaywatchSync(bin, ['migrate', '-c', upCfg]);
  rig.check(mg.status === 0 && mg.stderr.includes('1 migration(s) applied'), `migrate applies 020 (${mg.stderr.trim()})`);
  await rig.waitFor('delivered once migrated', () => delivered(['evt_upgrade']), 60000)
    .catch((e) => rig.check(false, e.message));
  const upRows = (await db.query(`SELECT a.lease IS NOT NULL AS leased FROM webhook_deliveries d
    JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.event_id = 'evt_upgrade'`)).rows;
  rig.check(upRows.length === 1 && upRows[0].leased, `its attempt recorded under its lease (${JSON.stringify(upRows)})`);
  up.proc.kill('SIGTERM');
  rig.check((await up.done).code === 0, 'dispatch exits 0 on SIGTERM');

  // 11. the give-back at a stop not committed
  const sp = rig.startPaywatch(bin, ['dispatch', '-c', dispatchConfig('stopfail', 'slowco', '/hang', long)]);
  await deliver('slowco', ['evt_stop_fail']);
  await rig.waitFor('the hanging request received', () => recv.hanging.includes('evt_stop_fail'), 30000)
    .catch((e) => rig.check(false, e.message));
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE webhook_attempts IN ACCESS EXCLUSIVE MODE');
  sp.proc.kill('SIGTERM');
  await rig.waitFor('the give-back waiting on the lock', waitingOnLock, 30000).catch((e) => rig.check(false, e.message));
  await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'paywatch-dispatcher'`);
  await locker.query('COMMIT');
  rig.check((await sp.done).code === 0, 'dispatch exits 0 on SIGTERM when its give-back fails');
  const stopRows = (await db.query(`SELECT d.locked_until IS NOT NULL AS leased, count(a.id)::int attempts
    FROM webhook_deliveries d LEFT JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.event_id = 'evt_stop_fail'
    GROUP BY 1`)).rows;
  rig.check(/giving back 1 lease failed \(1 request had gone out\): unless postgres committed it before the failure, the deliveries are sent again when the leases expire, and the requests that went out have no attempt row/.test(sp.stderr) &&
    stopRows.length === 1 && stopRows[0].leased && stopRows[0].attempts === 0,
  `a give-back that failed is said, with what it leaves (${JSON.stringify(stopRows)})`);
}

rig.runTest('e2e_webhook_reuse', main);
