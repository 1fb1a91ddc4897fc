// webhook_bench.mjs: webhook delivery against the receiver's own limit, in
// one run on one machine (bench/run --webhooks; issue 16). Not a test:
// figures only.
//
// For each shape (50 endpoints with 100 events each, 1,000 endpoints with
// 10 each):
//  1. a throwaway Postgres holds the events and their pending deliveries,
//     written by SQL as run's sink writes them (one delivery per event and
//     endpoint), every endpoint on one loopback receiver (node's http
//     server, answering 200 at once and counting);
//  2. `paywatch dispatch` is started and timed until every delivery is
//     'delivered' in Postgres: deliveries per second (the goal's figure),
//     and beside it the same deliveries over the time from the first
//     request's arrival on: the rate without dispatch's start (exec,
//     linking, the Postgres connection, the first claim);
//  3. wrk (Debian's package) POSTs a body of the same size to the same
//     receiver at 64 connections: the receiver's own limit, and the ratio.
// Rounds alternate dispatch and wrk. With PAYWATCH_BIN_BASE (another
// build of paywatch), each round also times that build's dispatch on the
// same deliveries, in a database of its own that its own `migrate` made (a
// schema change is part of the comparison): what a change bought, as a
// ratio within one run. Without --only-rate the base build also drains
// with m0 slow (4.), after this build: each build's others with m0 slow
// against its own alone, per round.
//
// With PAYWATCH_BENCH_PROFILE=DIR, this build's dispatch runs under
// `perf record -g` (DIR/perf-<endpoints>-<round>.data) and Postgres loads
// pg_stat_statements: DIR/statements-<endpoints>.txt lists each statement's
// calls and time, for profiling before a change (not for figures: perf and
// the statistics cost time of their own).
//
// --in-flight N sets webhooks.max_in_flight (default: the config's default);
// --base-in-flight N sets it for the base build (PAYWATCH_BIN_BASE, which
// may be the same binary: a setting compared within one run). --threads N
// and --base-threads N set webhooks.threads the same way (dispatch's
// loops; a build before the forty-first session refuses the field).
//
// Each round also drains the same deliveries (4.) with endpoint m0 answering
// after 1 s, timing the other endpoints' deliveries (one slow merchant
// must not lower the others' rate; in odd rounds before the drain alone,
// so that neither always follows wrk), (5.) with two dispatchers (two
// `paywatch dispatch` processes, each on its webhooks.threads loops) at once
// on the one Postgres, and (6.) with every endpoint answering after 20 ms
// (LATENCY_MS: a merchant's server across a network, not on loopback),
// by one dispatcher and by two at once, and (7.) with every endpoint
// answering after 20 ms and m0 after 1 s: the others' rate against (6.)'s
// one dispatcher, where the requests in flight bound the rate and a slow
// endpoint's requests could take the others' slots. Drained as fast as
// the machine allows (5.), two dispatchers share its two cores with Postgres and the
// receiver; bound by the endpoints' latency (6.), each dispatcher's
// requests in flight (webhooks.max_in_flight) are the limit, and two
// dispatchers should drain in about half the time of one if they do not
// get in each other's way on Postgres (leases, SKIP LOCKED). Beside (6.)'s
// one dispatcher, the share of that limit it reached: the rate times the
// attempts' mean latency (from webhook_attempts: the endpoint's 20 ms and
// every delay on the way) over max_in_flight. With PAYWATCH_BIN_BASE the
// base build drains (6.) and (7.) too, before this build's in odd rounds.
// --only-rate leaves these out. --only-latency drains (6.)'s one
// dispatcher and (7.) alone, without wrk (each round's order alternating,
// the base build's too with PAYWATCH_BIN_BASE): many rounds of the one
// pair a slow endpoint at 20 ms is read from, in minutes, for a median
// the drains' spread does not swamp.
//
// --shaped-wrk also measures the receiver with wrk's requests carrying a
// webhook's headers, and gives that ratio beside the first (which stays
// the figure the goal is read against).
//
// Probes of a change not built into paywatch, against PAYWATCH_BIN_BASE
// (which may be the same binary): --base-sql SQL runs SQL in the base
// build's database after its migrate (a schema change: an index or a
// constraint dropped), --base-args="ARGS" gives the base build's dispatch
// these global options (e.g. --base-args="--log-level warn": with the =,
// as any option value that starts with '-').
//
// Where the CPU goes: each drain reports the CPU microseconds per
// delivery of the dispatchers, of Postgres (its backends) and of this
// process (the receiver, and this bench's own waiting), and how busy the
// machine's cores were (/proc/stat) over the drain and from its first
// request on (dispatch's start left out): whether a drain is bound by CPU. The summary gives their medians for this build alone and
// the cores' for two dispatchers, and beside the receiver's CPU per
// delivery its CPU per request under wrk (the same process, each wrk run):
// what a request costs it when it has a core to itself and wrk's 64
// connections keep it busy, against what a delivery costs it in a drain.
//
// --pg-statements loads pg_stat_statements (without perf) and gives, per
// drain, the dispatchers' claims and flushes: how many, their rows each
// and their execution time each (what a delivery costs Postgres with one
// dispatcher and with two). The statistics cost time of their own: for
// profiling, not for figures.
//
// With PAYWATCH_BENCH_PROFILE_DWARF=1 beside PAYWATCH_BENCH_PROFILE, perf
// records the dispatcher alone, with DWARF call graphs (the libraries'
// frames, which -g loses), rather than every process.
//
// usage: USAGE below (node bench/webhook_bench.mjs --help)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as rig from '../tests/e2e/lib/rig.mjs';
import { readArgs, usageError, wholeNumber } from './lib/args.mjs';
import { busyShare, machineTicks, otherCpu, procFigures } from './lib/cpu.mjs';
import { median } from './lib/stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const USAGE = `usage: node bench/webhook_bench.mjs [--rounds N] [--out FILE] [--shapes 50,1000] [--in-flight N]
         [--base-in-flight N] [--threads N] [--base-threads N] [--only-rate | --only-latency] [--shaped-wrk]
         [--base-sql SQL] [--base-args ARGS] [--pg-statements]
(PAYWATCH_BIN: the build measured, build/paywatch by default; PAYWATCH_BIN_BASE: another, beside it;
a value that starts with '-' goes as --base-args='--flag value')`;
const str = { type: 'string' }, flag = { type: 'boolean' };
const { values: args } = readArgs(USAGE, { rounds: str, out: str, shapes: str, 'in-flight': str, 'base-in-flight': str,
  threads: str, 'base-threads': str,
  'only-rate': flag, 'only-latency': flag, 'shaped-wrk': flag, 'base-sql': str, 'base-args': str, 'pg-statements': flag });
const ROUNDS = wholeNumber(USAGE, '--rounds', args.rounds, 3);
// webhooks.max_in_flight: the config's default (64) unless set, for each build
const IN_FLIGHT = wholeNumber(USAGE, '--in-flight', args['in-flight'], 64, 1, 10000); // the config's range
const BASE_IN_FLIGHT = wholeNumber(USAGE, '--base-in-flight', args['base-in-flight'], undefined, 1, 10000);
// webhooks.threads: the config's default (2) unless set, for each build
const THREADS = wholeNumber(USAGE, '--threads', args.threads, undefined, 1, 16); // the config's range
const BASE_THREADS = wholeNumber(USAGE, '--base-threads', args['base-threads'], undefined, 1, 16);
const OUT = path.resolve(args.out ?? path.join(here, 'results-webhooks.json'));
const BIN = path.resolve(process.env.PAYWATCH_BIN || path.join(root, 'build', 'paywatch'));
const BASE = process.env.PAYWATCH_BIN_BASE ? path.resolve(process.env.PAYWATCH_BIN_BASE) : null;
const SHAPES_ASKED = (args.shapes ?? '50,1000').split(',');
for (const s of SHAPES_ASKED) if (s !== '50' && s !== '1000') usageError(USAGE, `--shapes: '${s}' is not 50 or 1000`);
const SHAPES = [{ endpoints: 50, per: 100 }, { endpoints: 1000, per: 10 }]
  .filter((s) => SHAPES_ASKED.includes(String(s.endpoints)));
const SLOW_MS = 1000;
const LATENCY_MS = 20;
const QUICK = !!args['only-rate']; // without the slow-endpoint and two-dispatcher drains
const LAT_ONLY = !!args['only-latency']; // (6.)'s one dispatcher and (7.) only, no wrk
if (QUICK && LAT_ONLY) usageError(USAGE, '--only-rate and --only-latency: one or the other');
const SHAPED = !!args['shaped-wrk']; // also wrk with a webhook's headers (wrkRate)
const PROFILE = process.env.PAYWATCH_BENCH_PROFILE ? path.resolve(process.env.PAYWATCH_BENCH_PROFILE) : null;
const PROFILE_DWARF = process.env.PAYWATCH_BENCH_PROFILE_DWARF === '1';
const STATEMENTS = !!args['pg-statements'] || PROFILE;
const BASE_SQL = args['base-sql'] ?? null;
const BASE_ARGS = (args['base-args'] ?? '').split(' ').filter(Boolean);
if ((BASE_SQL || BASE_ARGS.length || BASE_IN_FLIGHT || BASE_THREADS) && !BASE)
  usageError(USAGE, '--base-sql, --base-args, --base-in-flight and --base-threads need PAYWATCH_BIN_BASE');
const SECRET = 'whsec_' + Buffer.alloc(32, 5).toString('base64');

const say = (s) => console.error(`bench webhooks: ${s}`);

// The dispatcher's claim and flush statements so far (pg_stat_statements,
// every database): calls, rows, execution ms.
async function dispatchStatements(c) {
  const out = { claim: { calls: 0, rows: 0, ms: 0 }, flush: { calls: 0, rows: 0, ms: 0 } };
  const r = await c.query(`SELECT CASE WHEN query LIKE 'WITH c AS%' THEN 'claim' ELSE 'flush' END k,
    sum(calls)::float8 calls, sum(rows)::float8 rows, sum(total_exec_time) ms FROM pg_stat_statements
    WHERE query LIKE 'WITH c AS%' OR query LIKE 'WITH f AS%' GROUP BY 1`);
  for (const row of r.rows) out[row.k] = { calls: row.calls, rows: row.rows, ms: row.ms };
  return out;
}

// The median of each figure of a list of objects with the same keys.
const medians = (xs) => Object.fromEntries(Object.keys(xs[0]).map((k) => [k, median(xs.map((x) => x[k]))]));

// The receiver: 200 to every POST, counting them. With slow(path, ms), the
// requests to that path are answered only after ms (a slow merchant),
// and counted apart. With latency(ms), every other request is counted when
// it has arrived and answered after ms; held() gives how long it held
// them, from the request's last byte to its answer written, on average
// (ms, since the last resetFirst): the endpoint's part of an attempt's
// latency, the rest being the dispatcher's and the network's. turnaround()
// gives how long a connection stood idle between an answer written on it
// and the next request's last byte read on it, on average (ms, over the
// requests that came on a connection already used): the time a slot is
// not held by the endpoint, the dispatcher's collecting the answer,
// writing outcomes and claiming, starting the next request, the network
// both ways and this process's own event loop.
function startReceiver() {
  let count = 0, open = 0, opened = 0, slowPath = null, slowMs = 0, latencyMs = 0, first = null, firstTicks = null;
  let heldNs = 0n, heldN = 0, turnNs = 0n, turnN = 0;
  const server = http.createServer({ keepAlive: true }, (req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      const sock = req.socket, now = process.hrtime.bigint();
      if (sock.pwAnswered) { turnNs += now - sock.pwAnswered; turnN++; }
      sock.pwAnswered = null;
      const answer = () => {
        res.writeHead(200, { 'content-length': '2' });
        res.end('ok');
        sock.pwAnswered = process.hrtime.bigint();
      };
      if (slowPath && req.url === slowPath) { setTimeout(answer, slowMs); return; }
      count++;
      if (first === null) { first = process.hrtime.bigint(); firstTicks = machineTicks(); }
      if (latencyMs) {
        setTimeout(() => { answer(); heldNs += sock.pwAnswered - now; heldN++; }, latencyMs);
      } else answer();
    });
  });
  server.on('connection', (sock) => { open++; opened++; sock.on('close', () => open--); });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () =>
    resolve({ port: server.address().port, count: () => count, open: () => open, opened: () => opened,
      first: () => first, firstTicks: () => firstTicks,
      resetFirst: () => { first = null; firstTicks = null; heldNs = 0n; heldN = 0; turnNs = 0n; turnN = 0; },
      held: () => (heldN ? Number(heldNs / BigInt(heldN)) / 1e6 : null),
      turnaround: () => (turnN ? Number(turnNs / BigInt(turnN)) / 1e6 : null),
      slow: (p, ms) => { slowPath = p; slowMs = ms; }, latency: (ms) => { latencyMs = ms; },
      close: () => server.close() })));
}

// wrk in a child process (the receiver lives in this one: never block it)
// With shaped, each request carries the headers a webhook carries
// (webhook-id, -timestamp, -signature, user-agent, accept), values of the
// same sizes as the dispatcher's: the receiver's limit for the requests it
// gets from a dispatcher, not for a bare POST.
// Returns { rps, receiver_us: this process's CPU microseconds per request
// it counted over the run (the receiver's cost per request under wrk) }.
async function wrkRate(recv, bodyBytes, shaped = false, secs = 5) {
  const port = recv.port;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-wrk-'));
  const lua = path.join(dir, 'post.lua');
  fs.writeFileSync(lua, `wrk.method = "POST"\nwrk.body = string.rep("x", ${bodyBytes})\n` +
    'wrk.headers["Content-Type"] = "application/json"\n' +
    (shaped ? 'wrk.headers["webhook-id"] = "evt_0123456789abcdef01234567"\n' +
      'wrk.headers["webhook-timestamp"] = "1764500000"\n' +
      `wrk.headers["webhook-signature"] = "v1,${'A'.repeat(43)}="\n` +
      'wrk.headers["User-Agent"] = "paywatch/0.1.0 (webhooks)"\n' +
      'wrk.headers["Accept"] = "*/*"\n' : ''));
  const c0 = process.cpuUsage(), n0 = recv.count();
  const p = spawn('wrk', ['-t2', '-c64', `-d${secs}s`, '-s', lua, `http://127.0.0.1:${port}/wrk`], { stdio: ['ignore', 'pipe', 'pipe'] });
  rig.guard(p.pid);
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { out += d; });
  await new Promise((r) => p.once('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
  const rps = Number((out.match(/Requests\/sec:\s+([\d.]+)/) || [])[1]);
  if (!rps) throw new Error(`wrk: ${out}`);
  const u = process.cpuUsage(c0), n = recv.count() - n0;
  return { rps, receiver_us: n > 0 ? (u.user + u.system) / n : null };
}

async function main() {
  const pg = await rig.startPostgres();
  if (PROFILE) fs.mkdirSync(PROFILE, { recursive: true });
  if (STATEMENTS) {
    const a = await pg.client('postgres');
    await a.query("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
    await a.end();
    pg.stop();
    pg.start();
  }
  const recv = await startReceiver();
  const work = rig.workDir('pw-bench-wh-');
  const results = [];
  for (const shape of SHAPES) {
    const db = `wh_${shape.endpoints}`;
    const merchants = Array.from({ length: shape.endpoints }, (_, i) => ({ id: `m${i}`,
      webhook: { url: `http://127.0.0.1:${recv.port}/m${i}`, secret: SECRET }, addresses: {} }));
    const config = (name, inFlight, threads) => rig.writeConfig(fs.mkdtempSync(path.join(work, name)), {
      data_dir: path.join(work, name + '-data'), postgres: { dsn: pg.dsn(name) },
      chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: 'ws://127.0.0.1:9',
        tokens: [{ symbol: 'USDC', address: '0x' + 'a0'.repeat(20), decimals: 6 }] }],
      merchants, webhooks: { allow_private_targets: true, timeout_ms: 5000, ...(inFlight ? { max_in_flight: Number(inFlight) } : {}),
        ...(threads ? { threads } : {}) },
    });
    // a database migrated by that build's own `migrate` (a schema change
    // is part of what the base comparison measures), sql run in it if
    // given (--base-sql), its merchants and endpoints
    const target = async (name, bin, inFlight, threads, sql = null) => {
      const admin = await pg.client();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      const cfg = config(name, inFlight, threads);
      const mg = rig.runPaywatchSync(bin, ['migrate', '-c', cfg]);
      if (mg.status !== 0) throw new Error(`migrate failed: ${mg.stderr}`);
      const c = await pg.client(name);
      if (sql) await c.query(sql); // --base-sql, in the base build's database
      if (STATEMENTS) await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      await c.query(`INSERT INTO merchants (id) SELECT 'm' || g FROM generate_series(0, ${shape.endpoints - 1}) g`);
      await c.query(`INSERT INTO webhook_endpoints (merchant_id, key, url, events, origin)
        SELECT 'm' || g, 'default', 'http://127.0.0.1:${recv.port}/m' || g, '{payment.confirmed}', 'config'
        FROM generate_series(0, ${shape.endpoints - 1}) g`);
      return { c, cfg };
    };
    const mine = await target(db, BIN, args['in-flight'] && IN_FLIGHT, THREADS);
    const theirs = BASE ? await target(`${db}_base`, BASE, BASE_IN_FLIGHT, BASE_THREADS, BASE_SQL) : null;
    const c = mine.c;
    const payload = JSON.stringify({ type: 'payment.confirmed', timestamp: '2026-11-30T00:00:00.000Z',
      data: { id: 1, chain: 'local', amount: '12.5', tx_hash: '0x' + 'ab'.repeat(32), block_hash: '0x' + 'cd'.repeat(32) } });
    const total = shape.endpoints * shape.per;
    const rounds = { dispatch: [], fromFirst: [], wrk: [], wrkUs: [], shaped: [], base: [], baseSlow: [], baseLat: [], baseSlowLat: [],
      slow: [], slowLat: [], two: [], cpu: [], cpuTwo: [], latOne: [], latTwo: [], latOneFirst: [], latTwoFirst: [],
      latMean: [], slowLatMean: [], latHeld: [], slowLatHeld: [], latTurn: [] };
    // seed the deliveries, run one build's dispatch (or several at once)
    // until all are delivered: deliveries/s. With slow, endpoint m0
    // answers after SLOW_MS, and the rate is the other endpoints': the
    // time until every one of theirs is delivered. With latency, every
    // endpoint answers after that many ms. fromFirst: an array the rate from
    // the first request on is added to.
    const drain = async (bin, label, round, { slow = false, dispatchers = 1, latency = 0, fromFirst = null, latMeans = null, latHeld = null, latTurn = null } = {}) => {
      const { c, cfg } = label.startsWith('base') ? theirs : mine;
      await c.query('TRUNCATE webhook_attempts, webhook_deliveries, webhook_events');
      await c.query(`INSERT INTO webhook_events (id, type, merchant_id, payload)
        SELECT 'evt_' || e || '_' || k, 'payment.confirmed', 'm' || e, $1
        FROM generate_series(0, ${shape.endpoints - 1}) e, generate_series(1, ${shape.per}) k`, [payload]);
      await c.query(`INSERT INTO webhook_deliveries (event_id, endpoint_id)
        SELECT ev.id, ep.id FROM webhook_events ev JOIN webhook_endpoints ep ON ep.merchant_id = ev.merchant_id`);
      await c.query('VACUUM ANALYZE');
      const idleAt = process.hrtime.bigint(); // the last sender's connections gone first
      while (recv.open() > 0) await rig.sleep(20);
      const idle = Number(process.hrtime.bigint() - idleAt) / 1e6;
      if (idle > 100) say(`${label}: waited ${idle.toFixed(0)} ms for the receiver's connections of the last sender to close`);
      recv.slow(slow ? '/m0' : null, SLOW_MS);
      recv.latency(latency);
      const want = slow ? total - shape.per : total;
      const before = recv.count(), openedBefore = recv.opened();
      recv.resetFirst();
      const stmts0 = STATEMENTS ? await dispatchStatements(c) : null;
      const cpu0 = { pg: otherCpu().pg, self: process.cpuUsage(), machine: machineTicks() };
      const t0 = process.hrtime.bigint();
      const procs = [];
      for (let k = 0; k < dispatchers; k++) {
        const wrap = PROFILE && label === 'this build'
          ? ['perf', 'record', ...(PROFILE_DWARF ? ['--call-graph', 'dwarf,16384', '-F', '2000'] : ['-a', '-g']), '-q',
            '-o', path.join(PROFILE, `perf-${shape.endpoints}-${round + 1}.data`), '--'] : [];
        const cmd = [...wrap, bin, ...(label.startsWith('base') ? BASE_ARGS : []), 'dispatch', '-c', cfg];
        // its log (a line per delivery) goes to a file, not through this
        // process, which is also the receiver
        const log = path.join(work, `dispatch-${k}.log`);
        const fd = fs.openSync(log, 'w');
        const pw = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', fd] });
        fs.closeSync(fd);
        rig.guard(pw.pid);
        Object.defineProperty(pw, 'tail', { get: () => fs.readFileSync(log, 'utf8').slice(-4000) });
        procs.push(pw);
      }
      let counted = null; // when the receiver was seen to have counted them all
      for (;;) {
        // Postgres is asked only once the receiver has counted them all:
        // a count every 20 ms would take Postgres's time from the dispatcher.
        // The drain's line says how long after that count every outcome
        // was seen flushed (3-4 ms in the thirteenth session's runs: the
        // first ask finds them; asking every 2 ms after it bought nothing)
        const gone = procs.find((pw) => pw.exitCode !== null);
        if (recv.count() - before < want && !gone) { await rig.sleep(5); continue; }
        if (counted === null) counted = process.hrtime.bigint();
        const n = (await c.query(`SELECT count(*)::int n FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
          WHERE d.status = 'delivered' AND e.merchant_id <> $1`, [slow ? 'm0' : ''])).rows[0].n;
        if (n === want) break;
        if (gone) throw new Error(`dispatch exited: ${gone.tail}`);
        await rig.sleep(20);
      }
      const end = process.hrtime.bigint();
      const secs = Number(end - t0) / 1e9, tailMs = Number(end - counted) / 1e6;
      // the CPU each side spent on the drain, read before the dispatchers
      // stop (their Postgres backends still live): microseconds per delivery
      let u = null;
      if (!PROFILE) {
        const m = machineTicks(), self = process.cpuUsage(cpu0.self);
        const per = (s) => 1e6 * s / want;
        u = { dispatcher_us: per(procs.reduce((a, pw) => a + procFigures(pw.pid).cpu_s, 0)),
          postgres_us: per(otherCpu().pg - cpu0.pg), receiver_us: per((self.user + self.system) / 1e6),
          machine_busy: busyShare(cpu0.machine, m), machine_busy_from_first: busyShare(recv.firstTicks(), m) };
        if (label === 'this build') rounds.cpu.push(u);
        if (dispatchers === 2 && !latency) rounds.cpuTwo.push(u);
      }
      if (PROFILE && label === 'this build') {
        const l = (await c.query(`SELECT count(*) n, percentile_disc(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY latency_ms) p,
          extract(epoch FROM max(attempted_at) - min(attempted_at)) span FROM webhook_attempts`)).rows[0];
        say(`${label}: ${l.n} attempts over ${Number(l.span).toFixed(2)} s, latency ms p50/p90/p99 ${l.p.join('/')}`);
      }
      const held = recv.held(), turn = recv.turnaround(); // read before the stop: m0's requests are answered after it
      if (latHeld && held !== null) latHeld.push(held);
      if (latTurn && turn !== null) latTurn.push(turn);
      let lat = null; // bound by the latency: the attempts' mean, and what the slots allow at it
      if (latency) {
        lat = (await c.query(`SELECT avg(latency_ms)::float8 mean, percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ms) p99
          FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN webhook_endpoints e ON e.id = d.endpoint_id
          WHERE e.merchant_id <> $1`, [slow ? 'm0' : ''])).rows[0];
        if (latMeans) latMeans.push(lat.mean);
        // the same, half second by half second of the drain: whether a
        // slow endpoint's first second (its requests holding slots) or the
        // whole drain carries a difference
        const halves = (await c.query(`WITH a AS (SELECT a.latency_ms, a.attempted_at, e.merchant_id FROM webhook_attempts a
          JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN webhook_endpoints e ON e.id = d.endpoint_id),
          t AS (SELECT min(attempted_at) t0 FROM a)
          SELECT floor(extract(epoch FROM a.attempted_at - t.t0) / 0.5)::int h, count(*)::int n, avg(latency_ms)::float8 m
          FROM a, t WHERE a.merchant_id <> $1 GROUP BY 1 ORDER BY 1`, [slow ? 'm0' : ''])).rows;
        say(`${label}: attempts and their mean latency by half second: ${halves.map((r) => `${r.n} ${r.m.toFixed(1)} ms`).join(', ')}`);
      }
      if (stmts0) {
        const now = await dispatchStatements(c);
        const part = (k) => {
          const calls = now[k].calls - stmts0[k].calls;
          return `${calls} ${k === 'claim' ? 'claims' : 'flushes'}, ${((now[k].rows - stmts0[k].rows) / calls).toFixed(1)} rows and` +
            ` ${((now[k].ms - stmts0[k].ms) / calls).toFixed(3)} ms each`;
        };
        say(`${label}: ${part('claim')}; ${part('flush')}`);
      }
      // the longest stretch with no flush written: a stall shows here. Read
      // before the dispatchers stop: a stop writes an attempt for each
      // request still in flight (m0's, answering after SLOW_MS), and a
      // gap up to that write was a stop, not a stall
      const gap = (await c.query(`SELECT coalesce(max(g), 0) * 1000 ms FROM (SELECT extract(epoch FROM attempted_at
        - lag(attempted_at) OVER (ORDER BY attempted_at)) g FROM (SELECT DISTINCT attempted_at FROM webhook_attempts) a) x`)).rows[0].ms;
      for (const pw of procs) pw.kill('SIGTERM');
      await Promise.all(procs.map((pw) => pw.exitCode !== null ? null : new Promise((r) => pw.once('exit', r))));
      recv.slow(null, 0); // wrk, between drains, measures the receiver answering at once
      recv.latency(0);
      for (const pw of procs) {
        const warnings = pw.tail.split('\n').filter((l) => / (warn|error) /.test(l));
        if (warnings.length) say(`${label}: ${warnings.length} warning line(s), the last: ${warnings.at(-1)}`);
      }
      const firstMs = Number(recv.first() - t0) / 1e6;
      if (fromFirst) fromFirst.push(want / (secs - firstMs / 1000));
      say(`${shape.endpoints} endpoints, round ${round + 1}, ${label}: ${want} deliveries in ${secs.toFixed(2)} s = ` +
        `${(want / secs).toFixed(0)}/s (receiver counted ${recv.count() - before} over ${recv.opened() - openedBefore} connections;` +
        ` the first ${firstMs.toFixed(0)} ms after the start; longest pause between flushes ${Number(gap).toFixed(0)} ms;` +
        ` every outcome in ${tailMs.toFixed(0)} ms after the receiver's count was)` +
        (u ? `; CPU per delivery: dispatch${dispatchers > 1 ? 'es' : ''} ${u.dispatcher_us.toFixed(0)} us, Postgres ${u.postgres_us.toFixed(0)} us,` +
          ` receiver ${u.receiver_us.toFixed(0)} us; the cores ${(100 * u.machine_busy).toFixed(0)} % busy,` +
          ` ${(100 * u.machine_busy_from_first).toFixed(0)} % from the first request on` : '') +
        (lat ? `; attempts' latency mean ${lat.mean.toFixed(1)} ms, p99 ${lat.p99} ms (the receiver held each request` +
          ` ${held === null ? '-' : held.toFixed(1)} ms on average, a connection stood idle` +
          ` ${turn === null ? '-' : turn.toFixed(2)} ms between an answer and the next request)` : ''));
      return want / secs;
    };
    // the receiver warmed first (node compiles its hot paths as it runs):
    // else the first drain of a run pays for it, whichever build runs it
    await wrkRate(recv, Buffer.byteLength(payload), false, 1);
    const slowDrains = async (round) => {
      rounds.slow.push(await drain(BIN, `this build, m0 answering after ${SLOW_MS} ms: the others`, round, { slow: true }));
      if (BASE) rounds.baseSlow.push(await drain(BASE, `base, m0 answering after ${SLOW_MS} ms: the others`, round, { slow: true }));
    };
    const lat = `every endpoint answering after ${LATENCY_MS} ms`;
    const latSlow = `${lat}, m0 after ${SLOW_MS} ms: the others`;
    for (let round = 0; LAT_ONLY && round < ROUNDS; round++) {
      const pair = async (bin, label, one, withSlow, mine = false) => {
        const a = () => drain(bin, `${label}, ${lat}`, round,
          { latency: LATENCY_MS, ...(mine ? { latMeans: rounds.latMean, latHeld: rounds.latHeld, latTurn: rounds.latTurn } : {}) });
        const b = () => drain(bin, `${label}, ${latSlow}`, round,
          { latency: LATENCY_MS, slow: true, ...(mine ? { latMeans: rounds.slowLatMean, latHeld: rounds.slowLatHeld } : {}) });
        if (round % 2) { withSlow.push(await b()); one.push(await a()); } else { one.push(await a()); withSlow.push(await b()); }
      };
      if (BASE && round % 2) await pair(BASE, 'base', rounds.baseLat, rounds.baseSlowLat);
      await pair(BIN, 'this build', rounds.latOne, rounds.slowLat, true);
      if (BASE && !(round % 2)) await pair(BASE, 'base', rounds.baseLat, rounds.baseSlowLat);
      say(`${shape.endpoints} endpoints, round ${round + 1}: at ${LATENCY_MS} ms the others with m0 slow` +
        ` ${(rounds.slowLat[round] / rounds.latOne[round]).toFixed(2)}x of alone` +
        (BASE ? ` (base ${(rounds.baseSlowLat[round] / rounds.baseLat[round]).toFixed(2)}x)` : ''));
    }
    for (let round = 0; !LAT_ONLY && round < ROUNDS; round++) {
      // odd rounds drain with m0 slow first: the first drain after wrk
      // tends to be the slower, whichever it is (A twenty-fifth session)
      if (!QUICK && round % 2) await slowDrains(round);
      if (BASE && round % 2) rounds.base.push(await drain(BASE, 'base', round));
      rounds.dispatch.push(await drain(BIN, 'this build', round, { fromFirst: rounds.fromFirst }));
      if (BASE && !(round % 2)) rounds.base.push(await drain(BASE, 'base', round));
      if (!QUICK) {
        if (!(round % 2)) await slowDrains(round);
        rounds.two.push(await drain(BIN, 'this build, two dispatchers at once', round, { dispatchers: 2 }));
        const baseLatency = async () => {
          rounds.baseLat.push(await drain(BASE, `base, ${lat}`, round, { latency: LATENCY_MS }));
          rounds.baseSlowLat.push(await drain(BASE, `base, ${latSlow}`, round, { latency: LATENCY_MS, slow: true }));
        };
        if (BASE && round % 2) await baseLatency(); // neither build always first
        // the one dispatcher's drains alone and with m0 slow side by side,
        // odd rounds with m0 slow first (they were the 4th and the 6th
        // drain, with m0 slow always last, until a thirty-fifth session)
        const slowLat = async () => rounds.slowLat.push(await drain(BIN, `this build, ${latSlow}`, round,
          { latency: LATENCY_MS, slow: true, latMeans: rounds.slowLatMean, latHeld: rounds.slowLatHeld }));
        if (round % 2) await slowLat();
        rounds.latOne.push(await drain(BIN, `this build, ${lat}`, round,
          { latency: LATENCY_MS, fromFirst: rounds.latOneFirst, latMeans: rounds.latMean, latHeld: rounds.latHeld,
            latTurn: rounds.latTurn }));
        if (!(round % 2)) await slowLat();
        rounds.latTwo.push(await drain(BIN, `this build, ${lat}, two dispatchers at once`, round,
          { latency: LATENCY_MS, dispatchers: 2, fromFirst: rounds.latTwoFirst }));
        if (BASE && !(round % 2)) await baseLatency();
      }
      const { rps: w, receiver_us: wUs } = await wrkRate(recv, Buffer.byteLength(payload));
      rounds.wrk.push(w);
      rounds.wrkUs.push(wUs);
      say(`${shape.endpoints} endpoints, round ${round + 1}: wrk ${w.toFixed(0)} POST/s on the same receiver` +
        (wUs === null ? '' : `, its CPU ${wUs.toFixed(1)} us a request`));
      if (SHAPED) {
        const { rps: ws } = await wrkRate(recv, Buffer.byteLength(payload), true);
        rounds.shaped.push(ws);
        say(`${shape.endpoints} endpoints, round ${round + 1}: wrk with a webhook's headers ${ws.toFixed(0)} POST/s`);
      }
    }
    if (PROFILE) {
      const st = await c.query(`SELECT calls, round(total_exec_time::numeric, 1) total_ms,
        round(mean_exec_time::numeric, 3) mean_ms, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) q
        FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1
        ORDER BY total_exec_time DESC LIMIT 15`, [db]);
      fs.writeFileSync(path.join(PROFILE, `statements-${shape.endpoints}.txt`),
        st.rows.map((r) => `${r.calls}\t${r.total_ms} ms\t${r.mean_ms} ms/call\t${r.rows} rows\t${r.q}`).join('\n') + '\n');
    }
    await c.end();
    if (theirs) await theirs.c.end();
    if (LAT_ONLY) {
      const per = (xs, ys) => xs.map((x, i) => x / ys[i]);
      results.push({ endpoints: shape.endpoints, deliveries: total, latency_ms: LATENCY_MS, only_latency: true,
        latency_one_per_s: rounds.latOne, latency_others_with_slow_per_s: rounds.slowLat,
        latency_mean_ms: rounds.latMean, latency_slow_mean_ms: rounds.slowLatMean,
        latency_receiver_held_ms: rounds.latHeld, latency_slow_receiver_held_ms: rounds.slowLatHeld,
        latency_turnaround_ms: rounds.latTurn,
        latency_slow_over_alone_per_round: per(rounds.slowLat, rounds.latOne),
        latency_slow_over_alone: median(per(rounds.slowLat, rounds.latOne)),
        ...(BASE ? { base_latency_per_s: rounds.baseLat, base_latency_others_with_slow_per_s: rounds.baseSlowLat,
          base_latency_slow_over_alone_per_round: per(rounds.baseSlowLat, rounds.baseLat),
          base_latency_slow_over_alone: median(per(rounds.baseSlowLat, rounds.baseLat)),
          latency_this_over_base: median(per(rounds.latOne, rounds.baseLat)) } : {}) });
      continue;
    }
    const d = median(rounds.dispatch), w = median(rounds.wrk);
    results.push({ endpoints: shape.endpoints, deliveries: total, deliveries_per_s: rounds.dispatch, receiver_limit_per_s: rounds.wrk,
      median_deliveries_per_s: d, median_receiver_per_s: w, ratio: d / w,
      from_first_request_per_s: rounds.fromFirst, median_from_first_request_per_s: median(rounds.fromFirst),
      ratio_from_first_request: median(rounds.fromFirst) / w,
      ...(SHAPED ? { receiver_limit_shaped_per_s: rounds.shaped, ratio_shaped: d / median(rounds.shaped) } : {}),
      ...(rounds.cpu.length ? { cpu: rounds.cpu, cpu_median: medians(rounds.cpu) } : {}),
      // the receiver's CPU per request under wrk, each round (null: wrk's requests not counted)
      receiver_wrk_us: rounds.wrkUs, median_receiver_wrk_us: median(rounds.wrkUs.filter((x) => x !== null)),
      ...(rounds.cpuTwo.length ? { cpu_two: rounds.cpuTwo, cpu_two_median: medians(rounds.cpuTwo) } : {}),
      ...(QUICK ? {} : { others_with_slow_per_s: rounds.slow, two_dispatchers_per_s: rounds.two,
        slow_over_alone: median(rounds.slow.map((x, i) => x / rounds.dispatch[i])),
        two_over_one: median(rounds.two.map((x, i) => x / rounds.dispatch[i])),
        latency_ms: LATENCY_MS, latency_one_per_s: rounds.latOne, latency_two_per_s: rounds.latTwo,
        // the bound at that latency: max_in_flight requests each taking the
        // attempts' mean latency (the endpoint's, the receiver's and the
        // dispatcher's own delays); the share of it the rate reached
        latency_mean_ms: rounds.latMean, latency_receiver_held_ms: rounds.latHeld,
        latency_slow_mean_ms: rounds.slowLatMean, latency_slow_receiver_held_ms: rounds.slowLatHeld,
        latency_turnaround_ms: rounds.latTurn,
        latency_slots_busy: median(rounds.latOne.map((x, i) => x * rounds.latMean[i] / 1000 / IN_FLIGHT)),
        latency_two_over_one: median(rounds.latTwo.map((x, i) => x / rounds.latOne[i])),
        latency_two_over_one_from_first: median(rounds.latTwoFirst.map((x, i) => x / rounds.latOneFirst[i])),
        latency_others_with_slow_per_s: rounds.slowLat,
        latency_slow_over_alone: median(rounds.slowLat.map((x, i) => x / rounds.latOne[i])) }),
      ...(BASE ? { base_deliveries_per_s: rounds.base, median_base_per_s: median(rounds.base),
        this_over_base: median(rounds.dispatch.map((x, i) => x / rounds.base[i])),
        ...(QUICK ? {} : { base_others_with_slow_per_s: rounds.baseSlow,
          base_slow_over_alone: median(rounds.baseSlow.map((x, i) => x / rounds.base[i])),
          base_latency_per_s: rounds.baseLat, base_latency_others_with_slow_per_s: rounds.baseSlowLat,
          base_latency_slow_over_alone: median(rounds.baseSlowLat.map((x, i) => x / rounds.baseLat[i])),
          latency_this_over_base: median(rounds.latOne.map((x, i) => x / rounds.baseLat[i])) }) } : {}) });
  }
  recv.close();
  console.log('webhook delivery: one loopback receiver (node http), `paywatch dispatch` alone, median (min-max) of', ROUNDS, 'rounds');
  for (const r of results.filter((x) => x.only_latency)) {
    const mm = (xs) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
    console.log(`  ${String(r.endpoints).padStart(5)} endpoints, every endpoint answering after ${r.latency_ms} ms:` +
      ` one dispatcher ${median(r.latency_one_per_s).toFixed(0)}/s (attempts' mean latency ${median(r.latency_mean_ms).toFixed(1)} ms,` +
      ` the receiver's hold ${median(r.latency_receiver_held_ms).toFixed(1)} ms of it, a connection idle` +
      ` ${median(r.latency_turnaround_ms).toFixed(2)} ms between an answer and the next request);` +
      ` with m0 answering after ${SLOW_MS} ms the others ${median(r.latency_others_with_slow_per_s).toFixed(0)}/s` +
      ` (their mean latency ${median(r.latency_slow_mean_ms).toFixed(1)} ms), ${r.latency_slow_over_alone.toFixed(2)}x of alone per round` +
      ` (${mm(r.latency_slow_over_alone_per_round)}, ${r.latency_slow_over_alone_per_round.filter((x) => x >= 1).length} of` +
      ` ${r.latency_slow_over_alone_per_round.length} rounds at 1.00x or more)` +
      (BASE ? `; base ${r.base_latency_slow_over_alone.toFixed(2)}x (${mm(r.base_latency_slow_over_alone_per_round)}),` +
        ` this/base alone per round ${r.latency_this_over_base.toFixed(2)}x` : ''));
  }
  for (const r of results.filter((x) => !x.only_latency)) {
    const mm = (xs) => `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`;
    console.log(`  ${String(r.endpoints).padStart(5)} endpoints, ${r.deliveries} deliveries: ${r.median_deliveries_per_s.toFixed(0)}/s (${mm(r.deliveries_per_s)});` +
      ` receiver's limit (wrk, 64 connections) ${r.median_receiver_per_s.toFixed(0)}/s (${mm(r.receiver_limit_per_s)}); ratio ${(100 * r.ratio).toFixed(1)} %` +
      `; from the first request on (dispatch's start left out) ${r.median_from_first_request_per_s.toFixed(0)}/s` +
      ` (${mm(r.from_first_request_per_s)}), ratio ${(100 * r.ratio_from_first_request).toFixed(1)} %` +
      (SHAPED ? `; with a webhook's headers the limit is ${median(r.receiver_limit_shaped_per_s).toFixed(0)}/s (${mm(r.receiver_limit_shaped_per_s)}), ratio ${(100 * r.ratio_shaped).toFixed(1)} %` : '') +
      (QUICK ? '' : `; with m0 answering after ${SLOW_MS} ms the others get ${median(r.others_with_slow_per_s).toFixed(0)}/s` +
        ` (${r.slow_over_alone.toFixed(2)}x of alone, per round); two dispatchers ${median(r.two_dispatchers_per_s).toFixed(0)}/s` +
        ` (${r.two_over_one.toFixed(2)}x of one, per round)` +
        `; every endpoint answering after ${r.latency_ms} ms: one dispatcher ${median(r.latency_one_per_s).toFixed(0)}/s,` +
        ` the slots busy ${(100 * r.latency_slots_busy).toFixed(0)} % (the rate x the attempts' mean latency,` +
        ` ${median(r.latency_mean_ms).toFixed(1)} ms, the receiver's hold ${median(r.latency_receiver_held_ms).toFixed(1)} ms of it,` +
        ` a connection idle ${median(r.latency_turnaround_ms).toFixed(2)} ms between an answer and the next request,` +
        ` over ${IN_FLIGHT} slots),` +
        ` two ${median(r.latency_two_per_s).toFixed(0)}/s (${r.latency_two_over_one.toFixed(2)}x of one, per round;` +
        ` ${r.latency_two_over_one_from_first.toFixed(2)}x from the first request on);` +
        ` with m0 answering after ${SLOW_MS} ms among them the others get ${r.latency_slow_over_alone.toFixed(2)}x of that, per round`) +
      (BASE ? `; base build ${r.median_base_per_s.toFixed(0)}/s (${mm(r.base_deliveries_per_s)}), this/base per round ${r.this_over_base.toFixed(2)}x` +
        (QUICK ? '' : `, the base's others with m0 slow ${r.base_slow_over_alone.toFixed(2)}x of its alone` +
          ` (${r.base_latency_slow_over_alone.toFixed(2)}x with every endpoint at ${LATENCY_MS} ms),` +
          ` one dispatcher with every endpoint at ${LATENCY_MS} ms this/base per round ${r.latency_this_over_base.toFixed(2)}x`) : '') +
      (r.cpu_median ? `; CPU per delivery (this build alone): dispatch ${r.cpu_median.dispatcher_us.toFixed(0)} us,` +
        ` Postgres ${r.cpu_median.postgres_us.toFixed(0)} us, receiver ${r.cpu_median.receiver_us.toFixed(0)} us` +
        (Number.isFinite(r.median_receiver_wrk_us) ? ` (${r.median_receiver_wrk_us.toFixed(0)} us a request under wrk),` : ',') +
        ` the cores ${(100 * r.cpu_median.machine_busy).toFixed(0)} % busy (${(100 * r.cpu_median.machine_busy_from_first).toFixed(0)} %` +
        ' from the first request on)' : '') +
      (r.cpu_two_median ? `; with two dispatchers the cores ${(100 * r.cpu_two_median.machine_busy).toFixed(0)} % busy` +
        ` (${(100 * r.cpu_two_median.machine_busy_from_first).toFixed(0)} %)` : ''));
  }
  fs.writeFileSync(OUT, JSON.stringify({ at: new Date().toISOString(), rounds: ROUNDS, results }, null, 2) + '\n');
  say(`figures written to ${path.relative(process.cwd(), OUT)}`);
}

main().then(() => rig.cleanupAll().then(() => process.exit(0)), (err) => {
  console.error(err);
  rig.cleanupAll().then(() => process.exit(1));
});
