// bench.mjs: paywatch against the node's limit (and against Ponder with
// --with-ponder), in one run on one machine. Called by bench/run, which
// installs what it needs and builds paywatch first.
//
// History: an ERC-20 with a batch-transfer function, 50 Transfer logs per
// transaction, one transaction per block, every recipient one of 1,000
// merchant addresses (100,000 transfers in 2,000 blocks; --quick: 5,000).
// The anvil state is dumped to bench/.cache and loaded on later runs.
//
// Measured, in rounds (each round runs every side once, so machine drift
// hits all sides alike):
//   raw       eth_getLogs over the whole range on one websocket, 50-block
//             ranges (~2,500 logs: paywatch's range target until the
//             twenty-sixth session, 1,250 since; kept, so that the figure
//             compares across sessions), 4 in flight (paywatch's
//             max_in_flight), answers parsed, nothing else;
//   paywatch  `paywatch run` from an empty data dir and database until every
//             payment is in Postgres (peak RSS, CPU seconds from /proc);
//   http      `paywatch run` as above with the chain given ws_url and
//             http_url: new heads on the websocket, eth_getLogs over HTTP
//             (libcurl, on a thread of its own): the same backfill without
//             libwebsockets' frame parsing of the answers;
//   hooks     `paywatch run` as `paywatch`, the merchant given a webhook
//             endpoint (webhooks.in_run false: nothing is sent): every
//             payment's webhook event and delivery written with it, as
//             for a merchant onboarding with history (its events checked
//             to be there afterwards, untimed);
//   floor     Postgres alone: the rows paywatch wrote (payments and their
//             event feed rows), COPied by the server from files into an
//             empty database with the same schema;
//   replay    `paywatch replay` of the whole range into an empty database;
//   script    (--with-script) bench/peers/script/backfill.mjs, the lean
//             hand-written script: fetch, decode by hand, one COPY into
//             the same payments table;
//   ponder    (--with-ponder) bench/peers/ponder indexing the same Transfer
//             logs into the same Postgres, until every row is there.
// Then once, the backfills' databases dropped first (dropDbs): live latency
// (a block every 100 ms, 300 blocks with a payment
// each: block announced (newHeads) -> row in Postgres (its commit), and ->
// webhook
// received), with 1 confirmation and (not with --quick) with 3, where each
// payment is first written pending and timed from its confirming block),
// and the matcher at 1 k / 1 M / 10 M addresses (bench/matcher_bench.c),
// and loading a config of 1 M merchant addresses (bench/config_bench.c),
// and reading the outbox's figures per chain at a depth of 1 M entries of
// three chains, as the chain reporter and `status` do after Postgres was
// away (bench/outbox_bench.c).
//
// usage: USAGE below (node bench/bench.mjs --help)
// (PAYWATCH_BIN_BASE=another build: its backfill beside this one's, each round)
// --pg-statements: Postgres runs with pg_stat_statements; the statements
// that took the most time over the whole run (every side) are printed at
// the end, the profile to read before changing a statement.
// --pg-explain MS: Postgres runs with auto_explain, logging the plan of
// every statement slower than MS milliseconds (nested ones too: the
// foreign keys' checks) with its actual times and buffers (ANALYZE,
// BUFFERS); the cluster's log is copied beside --out (FILE.pg-explain.log)
// at the end. Its timing costs time of its own: for profiling, not figures.
// --pg-locale L: the cluster made with initdb --locale L (default: the
// environment's, C.UTF-8 here), e.g. en_US.UTF-8 as the official postgres
// image (docker-compose.yml) makes it; it must be installed (locale -a).
// --pg-huge-pages: the cluster's shared memory on 2 MB huge pages
// (huge_pages=on, as PostgreSQL's docs advise for production; every side
// uses the one cluster). Run as root, the bench reserves the pages
// (vm.nr_hugepages) and gives them back at its end; anyone else must
// reserve them first (the error says how many).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import * as rig from '../tests/e2e/lib/rig.mjs';
import { readArgs, usageError, wholeNumber } from './lib/args.mjs';
import { CORES, otherCpu, otherCpuSince, procFigures, sideCpu, treePids } from './lib/cpu.mjs';
import { median, pct } from './lib/stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const require = createRequire(path.join(rig.e2eDir, 'package.json'));
const WebSocket = require('ws');

const USAGE = `usage: node bench/bench.mjs [--quick] [--with-ponder] [--with-script] [--rounds N] [--out FILE]
         [--pg-statements] [--pg-explain MS] [--pg-locale L] [--pg-huge-pages]
         [--only raw,paywatch,hooks,http,floor,replay,script,ponder,live,matcher,config]
(PAYWATCH_BIN: the build measured, build/paywatch by default; PAYWATCH_BIN_BASE: another, its backfill beside)`;
const str = { type: 'string' }, flag = { type: 'boolean' };
const { values: args } = readArgs(USAGE, { quick: flag, 'with-ponder': flag, 'with-script': flag, rounds: str, out: str,
  'pg-statements': flag, 'pg-explain': str, 'pg-locale': str, 'pg-huge-pages': flag, only: str });
const QUICK = !!args.quick;
const WITH_PONDER = !!args['with-ponder'];
const PG_STATEMENTS = !!args['pg-statements'];
const PG_EXPLAIN_MS = args['pg-explain'] === undefined ? null : wholeNumber(USAGE, '--pg-explain', args['pg-explain'], 0, 0);
// loaded beside auto_explain, pg_stat_statements kept almost nothing here
if (PG_STATEMENTS && PG_EXPLAIN_MS !== null) usageError(USAGE, '--pg-statements and --pg-explain: one profile per run');
const WITH_SCRIPT = !!args['with-script'];
const PG_LOCALE = args['pg-locale'] ?? null;
const PG_HUGE_PAGES = !!args['pg-huge-pages'];
if (PG_LOCALE && !spawnSync('locale', ['-a'], { encoding: 'utf8' }).stdout.split('\n')
  .some((l) => l.toLowerCase().replace(/-/g, '') === PG_LOCALE.toLowerCase().replace(/-/g, ''))) {
  console.error(`bench: --pg-locale ${PG_LOCALE}: not installed here (locale -a lists the installed ones; ` +
    'Debian: apt-get install locales, then uncomment it in /etc/locale.gen and run locale-gen)');
  process.exit(2);
}
const ROUNDS = wholeNumber(USAGE, '--rounds', args.rounds, QUICK ? 1 : 3);
const OUT = path.resolve(args.out ?? path.join(here, QUICK ? 'results-quick.json' : 'results.json'));
const BIN = path.resolve(process.env.PAYWATCH_BIN || path.join(root, 'build', 'paywatch'));
// PAYWATCH_BIN_BASE: another build, whose `run` backfill is timed in each
// round beside this one's, into a database its own `migrate` made (a
// schema change is part of the comparison): what a change bought, as a
// ratio within one run
const BASE_BIN = process.env.PAYWATCH_BIN_BASE ? path.resolve(process.env.PAYWATCH_BIN_BASE) : null;
const MATCHER_BIN = path.resolve(process.env.PAYWATCH_MATCHER_BENCH || path.join(root, 'build', 'paywatch_matcher_bench'));
const CONFIG_BIN = path.resolve(process.env.PAYWATCH_CONFIG_BENCH || path.join(root, 'build', 'paywatch_config_bench'));
const OUTBOX_BIN = path.resolve(process.env.PAYWATCH_OUTBOX_BENCH || path.join(root, 'build', 'paywatch_outbox_bench'));
const TRANSFERS = QUICK ? 5000 : 100000, PER_TX = 50, BLOCKS = TRANSFERS / PER_TX, RANGE = 50, IN_FLIGHT = 4;
const MERCHANTS = Array.from({ length: 1000 }, (_, i) => '0x' + (0xbe00000 + i).toString(16).padStart(40, '0'));
const LIVE_BLOCKS = QUICK ? 30 : 300;
// --only raw,paywatch,...: measure some sides only (to profile one of them)
const SIDES = ['raw', 'paywatch', 'hooks', 'http', 'floor', 'replay', 'script', 'ponder', 'live', 'matcher', 'config', 'outbox'];
const ONLY = new Set((args.only ?? SIDES.join(',')).split(','));
for (const k of ONLY) if (!SIDES.includes(k)) usageError(USAGE, `--only: unknown side '${k}' (${SIDES.join(', ')})`);
const want = (k) => ONLY.has(k) && (k !== 'ponder' || WITH_PONDER) && (k !== 'script' || WITH_SCRIPT);

const say = (s) => console.error(`bench: ${s}`);

// ---------------------------------------------------------------- history
// The anvil state (anvil_dumpState: gzip'd JSON, as hex) is cached in
// bench/.cache and given back with --load-state at start: the history is
// generated once per size.
const cacheFile = path.join(here, '.cache', `history-${TRANSFERS}.json`);

async function startNode(work) {
  const args = ['--prune-history', '16'];
  if (fs.existsSync(cacheFile)) {
    const c = JSON.parse(fs.readFileSync(cacheFile, 'utf8'));
    const state = path.join(work, 'anvil-state.json');
    fs.writeFileSync(state, zlib.gunzipSync(Buffer.from(c.state.slice(2), 'hex')));
    const node = await rig.startAnvil([...args, '--load-state', state]);
    if ((await node.head()) === c.head) {
      say(`history: loaded ${TRANSFERS} transfers in ${BLOCKS} blocks from ${path.relative(root, cacheFile)}`);
      return { node, h: c };
    }
    say('history: the cached state did not load; generating it again');
    node.proc.kill('SIGKILL');
  }
  const node = await rig.startAnvil(args);
  return { node, h: await generate(node) };
}

async function generate(node) {
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 40n });
  say(`history: generating ${TRANSFERS} transfers (${PER_TX} per transaction, one transaction per block)`);
  for (let b = 0; b < BLOCKS; b++) {
    const tos = Array.from({ length: PER_TX }, (_, j) => MERCHANTS[(b * PER_TX + j) % MERCHANTS.length]);
    await node.receipt(await token.batchTransfer(deployer, tos, tos.map((_, j) => BigInt(b * PER_TX + j + 1))));
    if (b % 200 === 199) say(`history: ${b + 1}/${BLOCKS} blocks`);
  }
  const c = { token: token.address, head: await node.head(), state: await node.rpc('anvil_dumpState') };
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  fs.writeFileSync(cacheFile, JSON.stringify(c));
  return c;
}

// ---------------------------------------------------------------- sides
async function raw(node, h) {
  const ws = new WebSocket(node.ws, { maxPayload: 1 << 30 });
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  const ranges = [];
  for (let f = 0; f <= h.head; f += RANGE) ranges.push([f, Math.min(h.head, f + RANGE - 1)]);
  const waiting = new Map();
  ws.on('message', (d) => { const m = JSON.parse(d); waiting.get(m.id)(m); waiting.delete(m.id); });
  let id = 0, logs = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (ranges.length) {
      const [f, t] = ranges.shift();
      const m = await new Promise((res) => {
        waiting.set(++id, res);
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'eth_getLogs',
          params: [{ fromBlock: '0x' + f.toString(16), toBlock: '0x' + t.toString(16), address: h.token,
            topics: ['0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'] }] }));
      });
      logs += m.result.length;
    }
  }));
  const ms = performance.now() - t0;
  ws.close();
  if (logs !== TRANSFERS + 1) throw new Error(`raw fetch saw ${logs} logs, expected ${TRANSFERS + 1}`);
  return { ms };
}

let dbCount = 0;
async function freshDb(pg) {
  const name = `bench_${++dbCount}`;
  const admin = await pg.client('postgres');
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return { name, dsn: pg.dsn(name) };
}

// Drop every database freshDb made so far. The live phase runs after the
// backfills: without this, Postgres's autovacuum of their tables (100,000
// rows each; Ponder's took a worker 2.5 s at a third of a core) ran beside
// it, and its latency was measured against the bench's own earlier work.
async function dropDbs(pg) {
  const admin = await pg.client('postgres');
  try {
    for (let i = 1; i <= dbCount; i++) await admin.query(`DROP DATABASE IF EXISTS bench_${i} WITH (FORCE)`);
  } finally { await admin.end(); }
}

function config(work, dsn, node, h, extra = {}, transport = 'ws') {
  const dir = fs.mkdtempSync(path.join(work, 'cfg-'));
  return rig.writeConfig(dir, {
    data_dir: path.join(dir, 'data'), postgres: { dsn },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, ...(transport === 'http' ? { http_url: node.http } : {}),
      confirmations: 1,
      tokens: [{ symbol: 'USDC', address: h.token, decimals: 6 }] }],
    merchants: [{ id: 'm', addresses: { local: MERCHANTS } }],
    ...extra,
  });
}

// The history's last Transfer log: its arrival is probed through an index
// (a count(*) of 100k rows every few ms would be a load of its own on
// Postgres, charged to the side being measured).
async function lastTransfer(node, h) {
  const logs = await node.rpc('eth_getLogs', [{ fromBlock: '0x' + Math.max(0, h.head - RANGE).toString(16), toBlock: '0x' + h.head.toString(16),
    address: h.token, topics: ['0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'] }]);
  const l = logs[logs.length - 1];
  return { blockHash: l.blockHash, logIndex: Number(l.logIndex) };
}

// The moment a table's rows are all in, proved after the fact. When no
// other session holds a write lock on the table, a snapshot is taken, the
// time noted and mark() called (the CPU figures of that moment); then,
// untimed, the rows visible in that snapshot are counted. Resolves to
// { at, marked, n }, or null while a writer holds the table.
async function snapshotCount(c, table, mark) {
  const r = (await c.query(`SELECT pg_current_snapshot()::text AS snap, NOT EXISTS (SELECT 1 FROM pg_locks
    WHERE relation = '${table}'::regclass AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()) AS idle`)).rows[0];
  const at = performance.now();
  if (!r.idle) return null;
  const marked = mark();
  const n = (await c.query(`SELECT count(*)::int AS n FROM ${table}
    WHERE pg_visible_in_snapshot(xmin::text::xid8, $1::pg_snapshot)`, [r.snap])).rows[0].n;
  return { at, marked, n };
}

// Wait until `probe` (one indexed lookup of the last transfer) finds its
// row, then until the table holds `want` rows. Resolves to the time
// (performance.now()) at which every row was there, and what `mark()`
// (called at that time: the CPU figures) returned.
//
// With `channel` (paywatch's sink notifies the feed's channel at every
// commit of payments), the checks run when Postgres notifies it, and every
// 250 ms besides (a lost notification is then a late figure, not a hang):
// about one check per batch written. Once the last transfer is in and no
// other session holds a write lock on the table, the time is taken with a
// snapshot (pg_current_snapshot), and the rows visible in that snapshot are
// counted afterwards: want of them proves every row was in at that time,
// and the count (a scan of 100,000 rows just written, whose first reader
// sets their hint bits: about 0.13 CPU-s) is not timed. Fewer, and the
// wait goes on.
//
// Without `channel`, or with PAYWATCH_BENCH_WAIT=poll (the bench's way up
// to the twelfth session), the probe runs every 5 ms, then count(*) until
// want, both timed. Measured with perf on a 3 s backfill, that way cost
// Postgres and this process about 0.3 CPU-s each, on the two cores `run`
// shares with them, and the final count about 0.13 CPU-s more: loads the
// script and `replay` (timed to their exit) and the floor (timed to its
// COPY's answer) never carried.
// PAYWATCH_BENCH_WAIT_BASE=poll waits for the base build's backfills
// (PAYWATCH_BIN_BASE, which may be the same binary) the old way: the two
// ways' cost as a ratio within one run.
const WAIT_POLL = process.env.PAYWATCH_BENCH_WAIT === 'poll';
const WAIT_POLL_BASE = process.env.PAYWATCH_BENCH_WAIT_BASE === 'poll';
async function waitRows(pg, db, table, want, probe, timeoutMs, channel = null, mark = () => null) {
  const c = await pg.client(db);
  try {
    const count = async () => (await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
    let seen = false;
    const found = async () => seen || (seen = (await c.query(probe.sql, probe.args).catch(() => ({ rows: [] }))).rows.length > 0);
    if (!channel) {
      await rig.waitFor(`${want} rows in ${table}`, async () => (await found()) && (await count()) >= want, timeoutMs, 5);
      return { at: performance.now(), marked: mark() };
    }
    // a notification that arrives during a check makes the next wait return at once
    let notes = 0, wake = null;
    c.on('notification', () => { notes++; if (wake) wake(); });
    await c.query(`LISTEN ${channel}`);
    const end = performance.now() + rig.scaled(timeoutMs);
    for (;;) {
      const before = notes;
      if (await found()) {
        const r = await snapshotCount(c, table, mark);
        if (r && r.n >= want) return r;
      }
      if (performance.now() > end) throw new Error(`timed out waiting for ${want} rows in ${table}`);
      if (notes !== before) continue;
      await new Promise((ok) => {
        const t = setTimeout(ok, 250);
        wake = () => { clearTimeout(t); ok(); };
      });
      wake = null;
    }
  } finally { await c.end(); }
}

const PROFILE = process.env.PAYWATCH_BENCH_PROFILE ? path.resolve(process.env.PAYWATCH_BENCH_PROFILE) : null;
let profiled = 0;
function startPerf(file) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const p = spawn('perf', ['record', '-a', '-g', '-q', '-o', file], { stdio: 'ignore' });
  const exited = new Promise((ok) => p.on('exit', ok));
  return { stop: async () => { p.kill('SIGINT'); await exited; } };
}

// The webhook secret of the bench's endpoints (the hooks side's, the live side's)
const HOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
// The hooks side's merchant: its addresses and a webhook endpoint no
// dispatcher sends to (in_run false, no `paywatch dispatch`)
const HOOKED = { merchants: [{ id: 'm', addresses: { local: MERCHANTS },
  webhook: { url: 'http://127.0.0.1:9/hook', secret: HOOK_SECRET } }],
webhooks: { in_run: false, allow_private_targets: true } };

async function paywatchBackfill(work, pg, node, h, filledDb, bin = BIN, transport = 'ws', poll = WAIT_POLL, hooks = false) {
  const db = await freshDb(pg);
  const cfg = config(work, db.dsn, node, h, hooks ? HOOKED : {}, transport);
  if (rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status !== 0) throw new Error('migrate failed');
  const last = await lastTransfer(node, h);
  const cpu0 = otherCpu();
  const t0 = performance.now();
  // PAYWATCH_BENCH_LOG=FILE: the backfill runs' log, appended to FILE, at
  // PAYWATCH_BENCH_LOG_LEVEL (info unless set; debug adds each writer's
  // warm-ups and each range applied: where a start's time goes)
  const logFile = process.env.PAYWATCH_BENCH_LOG || null;
  const logLevel = logFile ? process.env.PAYWATCH_BENCH_LOG_LEVEL || 'info' : 'warn';
  // PAYWATCH_BENCH_PROFILE=DIR: this build's ws backfills under `perf record
  // -a -g` (every process: paywatch, Postgres, anvil), one file per round
  const perf = PROFILE && bin === BIN && transport === 'ws' ? startPerf(path.join(PROFILE, `backfill-${++profiled}.data`)) : null;
  const pw = rig.startPaywatch(bin, ['--log-level', logLevel, 'run', '-c', cfg], {}, logFile);
  const { at, marked } = await waitRows(pg, db.name, 'payments', TRANSFERS, { sql: 'SELECT 1 FROM payments WHERE chain_id = 31337 AND block_hash = $1 AND log_index = $2',
    args: [last.blockHash, last.logIndex] }, 300000, poll ? null : 'paywatch_feed', () => ({ f: procFigures(pw.proc.pid), others: otherCpuSince(cpu0) }));
  const ms = at - t0;
  if (perf) await perf.stop();
  const { f, others } = marked;
  pw.proc.kill('SIGTERM');
  await pw.done;
  if (hooks) { // every payment's event and delivery came with it (untimed)
    const c = await pg.client(db.name);
    const n = (await c.query(`SELECT (SELECT count(*) FROM webhook_events WHERE type = 'payment.confirmed')::int AS e,
      (SELECT count(*) FROM webhook_deliveries)::int AS d`)).rows[0];
    await c.end();
    if (n.e !== TRANSFERS || n.d !== TRANSFERS)
      throw new Error(`hooks: ${n.e} webhook events and ${n.d} deliveries for ${TRANSFERS} payments`);
  }
  return { ms, ...f, ...others, db: db.name };
}

// The Postgres floor: the rows paywatch wrote in this round, COPied by
// Postgres itself from files on its own disk into an empty database with
// paywatch's schema (migrations, indexes, CHECKs): the payments, then
// their event feed rows (issue 13: one per payment, written with it), one
// COPY each, no client, no network: what one session (one core) can do.
// parallel_ms: the same rows as two halves in two sessions at once, both
// cores, as paywatch's two writers use them. payments_ms is the first
// COPY alone: the floor as earlier runs measured it, before the feed's
// rows were counted in.
const PAYMENT_COLUMNS = 'chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index, token_address, ' +
  'token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount, status, confirmations, confirmed_at';
const FEED_COLUMNS = 'id, type, merchant_id, payment_id, reverses, created_at';
async function pgFloor(work, pg, node, h, filledDb) {
  // the rows as files: all of them, and in two halves for the parallel floor
  const file = (name) => path.join(pg.dir, `floor-${name}.copy`); // the cluster's own directory: the server reads it
  if (!fs.existsSync(file('feed-1'))) {
    const c = await pg.client(filledDb);
    await c.query(`COPY (SELECT ${PAYMENT_COLUMNS} FROM payments ORDER BY id) TO '${file('payments')}'`);
    await c.query(`COPY (SELECT ${FEED_COLUMNS} FROM event_feed ORDER BY xid, seq) TO '${file('feed')}'`);
    for (const k of [0, 1]) {
      await c.query(`COPY (SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id % 2 = ${k} ORDER BY id) TO '${file(`payments-${k}`)}'`);
      await c.query(`COPY (SELECT ${FEED_COLUMNS} FROM event_feed WHERE payment_id % 2 = ${k} ORDER BY xid, seq) TO '${file(`feed-${k}`)}'`);
    }
    await c.end();
  }
  const empty = async () => {
    const db = await freshDb(pg);
    if (rig.runPaywatchSync(BIN, ['migrate', '-c', config(work, db.dsn, node, h)]).status !== 0) throw new Error('migrate failed');
    return db;
  };
  // one session: the payments, then their feed rows
  const db = await empty();
  const c = await pg.client(db.name);
  let one;
  try {
    const cpu0 = otherCpu();
    const t0 = performance.now();
    const r = await c.query(`COPY payments (${PAYMENT_COLUMNS}) FROM '${file('payments')}'`);
    const t1 = performance.now();
    const f = await c.query(`COPY event_feed (${FEED_COLUMNS}) FROM '${file('feed')}'`);
    const ms = performance.now() - t0;
    if (r.rowCount !== TRANSFERS || f.rowCount !== TRANSFERS)
      throw new Error(`floor: COPY wrote ${r.rowCount} payments and ${f.rowCount} feed rows, not ${TRANSFERS} each`);
    one = { ms, payments_ms: t1 - t0, ...otherCpuSince(cpu0) };
  } finally { await c.end(); }
  // two sessions at once, a half each (both cores)
  const db2 = await empty();
  const cs = [await pg.client(db2.name), await pg.client(db2.name)];
  try {
    const cpu0 = otherCpu();
    const t0 = performance.now();
    const rows = await Promise.all(cs.map(async (x, k) =>
      (await x.query(`COPY payments (${PAYMENT_COLUMNS}) FROM '${file(`payments-${k}`)}'`)).rowCount +
      (await x.query(`COPY event_feed (${FEED_COLUMNS}) FROM '${file(`feed-${k}`)}'`)).rowCount));
    const ms = performance.now() - t0;
    const { pg_cpu_s: parallelCpu, machine_busy: parallelBusy } = otherCpuSince(cpu0);
    if (rows[0] + rows[1] !== 2 * TRANSFERS) throw new Error(`floor: the two COPYs wrote ${rows.join(' + ')} rows, not ${2 * TRANSFERS}`);
    return { ...one, parallel_ms: ms, parallel_pg_cpu_s: parallelCpu, parallel_machine_busy: parallelBusy };
  } finally { await Promise.all(cs.map((x) => x.end())); }
}

async function paywatchReplay(work, pg, node, h) {
  const db = await freshDb(pg);
  const cfg = config(work, db.dsn, node, h);
  if (rig.runPaywatchSync(BIN, ['migrate', '-c', cfg]).status !== 0) throw new Error('migrate failed');
  const cpu0 = otherCpu();
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'pwbench %M %U %S', BIN, '--log-level', 'warn', 'replay', '-c', cfg,
    '--chain', 'local', '--from', '0', '--to', String(h.head), '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = performance.now() - t0;
  let out = null;
  try { out = JSON.parse(r.stdout); } catch { /* reported below */ }
  if (r.status !== 0 || !out || out.inserted !== TRANSFERS)
    throw new Error(`replay: exit ${r.status} (signal ${r.signal}), inserted ${out?.inserted}: ${r.stderr.slice(-800)}`);
  const [, kb, u, s] = /pwbench (\d+) ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { ms, rss_mb: Number(kb) / 1024, cpu_s: Number(u) + Number(s), ...otherCpuSince(cpu0) };
}

// The lean hand-written script (bench/peers/script/backfill.mjs): fetch,
// decode by hand, one COPY into paywatch's payments table.
async function script(work, pg, node, h) {
  const db = await freshDb(pg);
  if (rig.runPaywatchSync(BIN, ['migrate', '-c', config(work, db.dsn, node, h)]).status !== 0) throw new Error('migrate failed');
  const file = path.join(fs.mkdtempSync(path.join(work, 'script-')), 'config.json');
  fs.writeFileSync(file, JSON.stringify({ ws: node.ws, dsn: db.dsn, token: h.token, decimals: 6, symbol: 'USDC', chain: 'local',
    chain_id: 31337, from: 0, to: h.head, merchants: Object.fromEntries(MERCHANTS.map((m) => [m, 'm'])) }));
  const cpu0 = otherCpu();
  const t0 = performance.now();
  const r = await new Promise((resolve) => {
    const p = spawn('/usr/bin/time', ['-f', 'pwbench %M %U %S', process.execPath, path.join(here, 'peers', 'script', 'backfill.mjs'), file],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    rig.onCleanup(() => p.kill('SIGKILL'));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
  const ms = performance.now() - t0;
  const others = otherCpuSince(cpu0);
  const m = /pwbench (\d+) ([\d.]+) ([\d.]+)/.exec(r.err);
  let rows = -1;
  try { rows = JSON.parse(r.out).rows; } catch { /* checked below */ }
  if (r.code !== 0 || rows !== TRANSFERS || !m) throw new Error(`script: exit ${r.code}, ${rows} rows: ${r.err.slice(-500)}`);
  return { ms, rss_mb: Number(m[1]) / 1024, cpu_s: Number(m[2]) + Number(m[3]), ...others };
}

async function ponder(work, pg, node, h) {
  const app = path.join(here, 'peers', 'ponder');
  const db = await freshDb(pg);
  const last = await lastTransfer(node, h);
  const cpu0 = otherCpu();
  const t0 = performance.now();
  const p = spawn(path.join(app, 'node_modules', '.bin', 'ponder'), ['start', '--schema', 'bench', '--port', String(await rig.freePort())], {
    cwd: app, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DATABASE_URL: db.dsn, PONDER_RPC_URL_31337: node.http, PONDER_TOKEN: h.token, PONDER_LOG_LEVEL: 'warn' },
  });
  rig.guard(p.pid);
  let log = '';
  p.stdout.on('data', (d) => { log += d; });
  p.stderr.on('data', (d) => { log += d; });
  rig.onCleanup(() => p.kill('SIGKILL'));
  const c = await pg.client(db.name);
  let peak = { rss_mb: 0, cpu_s: 0 }, stalled = null, at = null, marked = null;
  // ponder runs as a process tree (node, and esbuild's service): sample
  // the whole tree (each process's own peak RSS, VmHWM: a sample every
  // 250 ms misses none but a process's that ends in between). Up to the
  // twelfth session a pgrep -g was spawned for each check (every 40 ms or
  // so, about 14 ms of CPU each), and found no group (Ponder does not lead
  // one): its node process alone was measured, without esbuild's.
  let sampledAt = -Infinity;
  const sample = () => {
    sampledAt = performance.now();
    try {
      const pids = treePids(p.pid);
      let rss = 0, cpu = 0;
      for (const pid of pids) {
        try {
          const f = procFigures(pid);
          rss += f.rss_mb; cpu += f.cpu_s;
        } catch { /* that process ended */ }
      }
      peak = { rss_mb: Math.max(peak.rss_mb, rss), cpu_s: Math.max(peak.cpu_s, cpu) };
    } catch { /* the process ended */ }
  };
  try {
    // the last transfer's row (a primary-key lookup), then the count, as
    // for `run` (snapshotCount: the time taken with a snapshot, the count
    // of the rows visible in it untimed; until the thirteenth session the
    // count was timed); a count that stops short for 20 s is a stall (seen:
    // Ponder leaving a block's 50 transfers out), reported as such rather
    // than waited on
    let seen = false, rows = -1, since = 0;
    await rig.waitFor('ponder to index every transfer', async () => {
      if (p.exitCode !== null) throw new Error(`ponder exited with ${p.exitCode}`);
      if (performance.now() - sampledAt >= 250) sample();
      if (!seen) {
        seen = (await c.query('SELECT 1 FROM bench.transfer WHERE id = $1', [`${last.blockHash}:${last.logIndex}`])
          .catch(() => ({ rows: [] }))).rows.length > 0;
        if (!seen) return false;
      }
      const r = await snapshotCount(c, 'bench.transfer', () => { sample(); return { peak: { ...peak }, others: otherCpuSince(cpu0) }; })
        .catch(() => ({ n: 0 }));
      if (!r) return false;
      if (r.n !== rows) { rows = r.n; since = performance.now(); }
      if (rows < TRANSFERS && performance.now() - since > 20000) { stalled = rows; return true; }
      if (rows >= TRANSFERS) ({ at, marked } = r);
      return rows >= TRANSFERS;
    }, Number(process.env.PONDER_TIMEOUT_MS || 300000), 20);
  } catch (e) { throw new Error(`${e.message}; ponder said: ${log.slice(-2000)}`); }
  const ms = stalled === null ? at - t0 : NaN;
  if (marked) peak = marked.peak;
  const others = marked ? marked.others : otherCpuSince(cpu0);
  await c.end();
  // wait for Ponder to be gone: its shutdown would otherwise run beside the
  // next measurement
  const exited = new Promise((r) => (p.exitCode !== null || p.signalCode ? r() : p.once('exit', r)));
  p.kill('SIGTERM');
  const killer = setTimeout(() => p.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(killer);
  if (stalled !== null) say(`  ponder stalled at ${stalled} of ${TRANSFERS} rows; this round has no Ponder figures`);
  return stalled === null ? { ms, ...peak, ...others } : { ms, stalled_rows: stalled };
}

// ---------------------------------------------------------------- live latency
// timedWorker(code, workerData, onEvent): code run in a worker thread, so
// that what it receives is timed on an event loop nothing else delays. The
// code posts { ready: VALUE } once (ready resolves with VALUE), then events
// with `at` (performance.timeOrigin + performance.now() there); onEvent gets
// each with `at` moved to this thread's performance.now() clock. stop()
// ends the worker (the code closes what it opened on any message).
function timedWorker(code, workerData, onEvent) {
  const worker = new Worker(code, { eval: true, workerData });
  const ready = new Promise((res, rej) => {
    worker.on('message', (m) => {
      if ('ready' in m) res(m.ready);
      else onEvent({ ...m, at: m.at - performance.timeOrigin });
    });
    worker.once('error', rej);
  });
  let stopped = false;
  return { ready, stop: async () => { if (!stopped) { stopped = true; worker.postMessage('stop'); await worker.terminate(); } } };
}

// newHeadsWatcher(url, onHead): a newHeads subscription to the node in a
// worker thread. onHead(number, ms) gets each header's block number and its
// arrival (this thread's performance.now() clock). ready resolves once
// subscribed.
function newHeadsWatcher(url, onHead) {
  return timedWorker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const WebSocket = require(workerData.ws);
    const ws = new WebSocket(workerData.url);
    ws.on('open', () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] })));
    ws.on('error', (e) => { throw e; });
    ws.on('message', (d) => {
      const at = performance.timeOrigin + performance.now();
      const m = JSON.parse(d);
      if (m.id === 1) parentPort.postMessage({ ready: true });
      else if (m.method === 'eth_subscription' && m.params && m.params.result && m.params.result.number)
        parentPort.postMessage({ number: Number(m.params.result.number), at });
    });
    parentPort.on('message', () => { ws.close(); parentPort.close(); });
  `, { url, ws: require.resolve('ws') }, (e) => onHead(e.number, e.at));
}

// webhookReceiver(onEvent): an HTTP receiver on 127.0.0.1 in a worker
// thread, answering 200 to every request. onEvent(event, ms) gets each
// request's body as JSON (null if it is not) and when its last byte came
// (this thread's clock). ready resolves with its port.
function webhookReceiver(onEvent) {
  return timedWorker(`
    const { parentPort } = require('node:worker_threads');
    const http = require('node:http');
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        const at = performance.timeOrigin + performance.now();
        res.end('ok');
        parentPort.postMessage({ body, at });
      });
    });
    server.listen(0, '127.0.0.1', () => parentPort.postMessage({ ready: server.address().port }));
    parentPort.on('message', () => { server.closeAllConnections(); server.close(); parentPort.close(); });
  `, {}, (e) => {
    let ev = null;
    try { ev = JSON.parse(e.body); } catch { /* not JSON: null */ }
    onEvent(ev, e.at);
  });
}

async function live(work, pg, conf = 1) {
  const node = await rig.startAnvil(['--no-mining']);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const merchant = MERCHANTS[0];
  // webhooks received in a worker thread (timed there, as the blocks'
  // announcements are below)
  const arrived = new Map(); // block number -> ms its payment.confirmed webhook arrived
  const receiver = webhookReceiver((ev, t) => {
    if (ev?.type === 'payment.confirmed') arrived.set(Number(ev.data.block_number), t);
  });
  const port = await receiver.ready;
  rig.onCleanup(() => receiver.stop());
  const db = await freshDb(pg);
  const dir = fs.mkdtempSync(path.join(work, 'live-'));
  const cfg = rig.writeConfig(dir, {
    data_dir: path.join(dir, 'data'), postgres: { dsn: db.dsn },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: conf,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'm', addresses: { local: [merchant] },
      webhook: { url: `http://127.0.0.1:${port}/hook`, secret: HOOK_SECRET } }],
    webhooks: { allow_private_targets: true },
  });
  rig.runPaywatchSync(BIN, ['migrate', '-c', cfg]);
  // PAYWATCH_BENCH_LIVE_TRACE=FILE: paywatch's debug log appended to FILE
  // and, per block, when it was announced, its row committed and its
  // webhook received (wall-clock ms), to find where the tail goes
  const trace = process.env.PAYWATCH_BENCH_LIVE_TRACE || null;
  const pw = rig.startPaywatch(BIN, ['--log-level', trace ? 'debug' : 'warn', 'run', '-c', cfg], {}, trace);
  await rig.waitFor('paywatch to follow the head', async () => {
    const s = JSON.parse(rig.runPaywatchSync(BIN, ['status', '-c', cfg, '--json']).stdout || '{}');
    return s.chains && s.chains[0].checkpoint === (await node.head());
  }, 30000, 100);
  // A row is timed by its transaction's commit (track_commit_timestamp,
  // on in the bench's cluster: the moment it is in Postgres for every
  // reader), read by a poller every 1 ms; earlier runs took the poll's own
  // time, up to a few ms late when this thread was busy.
  const seen = new Map(); // block number -> ms the row's transaction committed
  const seenPending = new Map(); // with confirmations > 1: block number -> ms its pending row committed
  const c = await pg.client(db.name);
  const committed = '(extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000)::float8 AS at';
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const r = await c.query(conf > 1 ? `SELECT block_number, false AS pending, ${committed} FROM payments ` +
        `UNION ALL SELECT block_number, true, ${committed} FROM pending_payments`
        : `SELECT block_number, false AS pending, ${committed} FROM payments`);
      for (const row of r.rows) {
        const m = row.pending ? seenPending : seen;
        if (!m.has(Number(row.block_number))) m.set(Number(row.block_number), row.at - performance.timeOrigin);
      }
      await new Promise((res) => setTimeout(res, 1));
    }
  })();
  // When a block was mined: anvil mines it on evm_mine and announces it to
  // every newHeads subscriber (paywatch's and the bench's own, below)
  // before the request's answer comes back, so the answer's time (what
  // runs before the twenty-second session took, after eth_blockNumber too)
  // let a row land "before" its block. A block is now timed from its
  // announcement, the moment any indexer can know of it, as a subscriber
  // in a worker thread of its own sees it (this thread's poller would
  // delay it); sentMs keeps when its evm_mine request was
  // sent, the bound that also charges the node's own mining (send_*:
  // latencies from there).
  const announced = new Map(); // block number -> ms its header reached the subscriber
  const heads = newHeadsWatcher(node.ws, (n, t) => { if (!announced.has(n)) announced.set(n, t); });
  await heads.ready;
  const sentMs = new Map(); // block number -> ms its evm_mine request was sent
  const mine = async () => {
    const t = performance.now();
    await node.rpc('evm_mine');
    const n = await node.head();
    sentMs.set(n, t);
    await rig.waitFor(`block ${n}'s newHeads announcement`, () => announced.has(n), 10000, 1);
    return [n, announced.get(n)];
  };
  const mined = new Map();
  const calldata = (to, v) => '0xa9059cbb' + to.slice(2).padStart(64, '0') + v.toString(16).padStart(64, '0');
  let next = performance.now();
  for (let i = 0; i < LIVE_BLOCKS; i++) {
    await node.rpc('eth_sendTransaction', [{ from: deployer, to: token.address, data: calldata(merchant, BigInt(i + 1)), gas: '0x30000' }]);
    next += 100;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    mined.set(...await mine());
  }
  // the last payments' confirmations: empty blocks (their times kept: a
  // payment is confirmed by the block conf - 1 above its own)
  const minedAt = new Map(mined);
  for (let i = 1; i < conf; i++) {
    next += 100;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    minedAt.set(...await mine());
  }
  await rig.waitFor('every live payment and webhook', () => [...mined.keys()].every((b) => seen.has(b) && arrived.has(b)), 30000, 20);
  const missedPending = conf > 1 ? [...mined.keys()].filter((b) => !seenPending.has(b)).length : 0;
  polling = false;
  await poller;
  await c.end();
  await heads.stop();
  await receiver.stop();
  pw.proc.kill('SIGTERM');
  await pw.done;
  // each payment's time at (a map of block numbers) after its confirming
  // block's time in from (its own block with 1 confirmation), in block order
  const since = (at, from) => [...mined.keys()].map((b) => at.get(b) - from.get(b + conf - 1));
  const rowMs = since(seen, minedAt), hookMs = since(arrived, minedAt);
  const sendRowMs = since(seen, sentMs), sendHookMs = since(arrived, sentMs);
  const announceMs = [...sentMs].map(([b, t]) => announced.get(b) - t); // the node's mining and announcement
  const pendingMs = [...mined].filter(([b]) => seenPending.has(b)).map(([b, t]) => seenPending.get(b) - t);
  if (trace) {
    const wall = (t) => new Date(performance.timeOrigin + t).toISOString();
    fs.appendFileSync(trace, [...mined.keys()].map((b, i) => `live conf=${conf} block=${b} mined=${wall(minedAt.get(b + conf - 1))} ` +
      `row=${wall(seen.get(b))} hook=${wall(arrived.get(b))} row_ms=${rowMs[i].toFixed(1)}\n`).join(''));
  }
  // the first two payments after the start (one per sink writer, each its
  // backend's first write), in block order
  return { confirmations: conf, blocks: LIVE_BLOCKS, row_p50_ms: pct(rowMs, 50), row_p99_ms: pct(rowMs, 99), hook_p50_ms: pct(hookMs, 50), hook_p99_ms: pct(hookMs, 99),
    first_rows_ms: rowMs.slice(0, 2), send_row_p50_ms: pct(sendRowMs, 50), send_row_p99_ms: pct(sendRowMs, 99),
    send_hook_p99_ms: pct(sendHookMs, 99), announce_p50_ms: pct(announceMs, 50), announce_p99_ms: pct(announceMs, 99),
    ...(conf > 1 ? { pending_p50_ms: pct(pendingMs, 50), pending_p99_ms: pct(pendingMs, 99), pending_missed: missedPending } : {}) };
}

function matcher() {
  const out = [];
  for (const n of QUICK ? [1000, 1000000] : [1000, 1000000, 10000000]) {
    const r = spawnSync(MATCHER_BIN, [String(n)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`matcher bench ${n}: ${r.stderr}`);
    out.push(JSON.parse(r.stdout));
  }
  return out;
}

// config load: 1 M merchant addresses, 10 per merchant (bench/config_bench.c);
// one merchant per address at 150,000 (validation was quadratic in merchants)
function configLoad() {
  const out = [];
  for (const [n, per] of QUICK ? [[100000, 10]] : [[1000000, 10], [150000, 1]]) {
    const r = spawnSync(CONFIG_BIN, [String(n), String(per)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`config bench ${n}: ${r.stderr}`);
    out.push(JSON.parse(r.stdout));
  }
  return out;
}

// the outbox's figures per chain at a depth of 1 M entries of three
// chains (bench/outbox_bench.c): one scan for every chain against a scan
// per chain, alternating rounds
function outboxFigures() {
  const n = QUICK ? 100000 : 1000000;
  const r = spawnSync(OUTBOX_BIN, [String(n), '3', '5'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`outbox bench ${n}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// ---------------------------------------------------------------- report
function machine() {
  const v = (cmd, args) => { try { return spawnSync(cmd, args, { encoding: 'utf8' }).stdout.trim().split('\n')[0]; } catch { return null; } };
  return {
    cpu: os.cpus()[0].model, cores: os.cpus().length, mem_gb: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(), node: process.version, anvil: v(path.join(rig.e2eDir, 'node_modules', '.bin', 'anvil'), ['--version']),
    postgres: v('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin | tail -1 | xargs -I{} {}/postgres --version']),
    paywatch: v(BIN, ['--version']),
    pg_huge_pages: PG_HUGE_PAGES,
    pg_locale: PG_LOCALE || process.env.LC_ALL || process.env.LC_COLLATE || process.env.LANG || 'C',
  };
}

const fmt = (all, unit, digits = 2) => {
  const xs = all.filter((x) => Number.isFinite(x)); // a stalled Ponder round has no figures
  return xs.length ? `${median(xs).toFixed(digits)} ${unit} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})` : '-';
};

// The 15 statements that took the most execution time (a COPY's includes
// the time its client took to send the rows), the databases of every side
// (dropped since: their statements stay counted).
async function topStatements(pg) {
  const c = await pg.client('postgres');
  try {
    const r = await c.query(`SELECT calls::bigint AS calls, round(total_exec_time)::bigint AS ms, rows::bigint AS rows,
      left(regexp_replace(query, '\\s+', ' ', 'g'), 120) AS query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15`);
    return r.rows;
  } finally { await c.end(); }
}

async function main() {
  const work = rig.workDir('pw-bench-');
  const [pg, { node, h }] = await Promise.all([rig.startPostgres({
    track_commit_timestamp: 'on', // the live side times a row by its commit
    ...(PG_STATEMENTS ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } : {}),
    ...(PG_EXPLAIN_MS !== null ? { shared_preload_libraries: 'auto_explain', 'auto_explain.log_min_duration': PG_EXPLAIN_MS,
      'auto_explain.log_analyze': 'on',
      'auto_explain.log_buffers': 'on', 'auto_explain.log_nested_statements': 'on' } : {}) }, { locale: PG_LOCALE, hugePages: PG_HUGE_PAGES }), startNode(work)]);
  if (PG_STATEMENTS) {
    const c = await pg.client('postgres');
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await c.end();
  }
  if (want('floor') && !want('paywatch')) throw new Error('--only: floor needs paywatch (it copies the rows paywatch wrote)');
  const runs = { raw: [], paywatch: [], base: [], hooks: [], 'hooks-base': [], http: [], floor: [], replay: [], script: [], ponder: [] };
  for (let r = 0; r < ROUNDS; r++) {
    say(`round ${r + 1}/${ROUNDS}`);
    // the base build runs before this build in odd rounds, after it in even
    // ones: the second of two back-to-back backfills on one cluster tends
    // to be slower, and a fixed order put that in the ratio
    const pair = (k, b) => (r % 2 && BASE_BIN ? [[b, paywatchBackfill], [k, paywatchBackfill]] : [[k, paywatchBackfill], [b, paywatchBackfill]]);
    const isBase = (k) => k === 'base' || k === 'hooks-base';
    for (const [k, fn] of [['raw', raw], ...pair('paywatch', 'base'), ...pair('hooks', 'hooks-base'), ['http', paywatchBackfill],
      ['floor', pgFloor], ['replay', paywatchReplay], ['script', script], ['ponder', ponder]])
      if (isBase(k) ? BASE_BIN && want(k === 'base' ? 'paywatch' : 'hooks') : want(k))
        runs[k].push(k === 'raw' ? await fn(node, h) : await fn(work, pg, node, h, runs.paywatch[r] && runs.paywatch[r].db,
          isBase(k) ? BASE_BIN : BIN, k === 'http' ? 'http' : 'ws', isBase(k) ? WAIT_POLL_BASE : WAIT_POLL, k.startsWith('hooks')));
    // per-round ratios: the sides of one round ran back to back
    say('  ' + Object.keys(runs).filter((k) => runs[k][r]).map((k) => `${k} ${runs[k][r].ms.toFixed(0)} ms`).join(', '));
  }
  const statements = PG_STATEMENTS ? await topStatements(pg) : [];
  if (PG_EXPLAIN_MS !== null) {
    fs.copyFileSync(path.join(pg.dir, 'log'), OUT + '.pg-explain.log');
    say(`the plans of statements slower than ${PG_EXPLAIN_MS} ms: ${path.relative(process.cwd(), OUT + '.pg-explain.log')}`);
  }
  let liveFig = null, matcherFig = [], configFig = [], outboxFig = null;
  if (want('live')) {
    await dropDbs(pg);
    liveFig = [];
    for (const conf of QUICK ? [1] : [1, 3]) { say(`live latency, ${conf} confirmation(s)`); liveFig.push(await live(work, pg, conf)); }
  }
  if (want('matcher')) { say('matcher'); matcherFig = matcher(); }
  if (want('config')) { say('config load'); configFig = configLoad(); }
  if (want('outbox')) { say('outbox figures'); outboxFig = outboxFigures(); }

  const ratio = (a, b) => (runs[a].length && runs[b].length ? runs[a].map((x, i) => x.ms / runs[b][i].ms) : []);
  const s = (xs) => xs.map((x) => x / 1000);
  const lines = [
    `history: ${TRANSFERS} transfers in ${BLOCKS} blocks, every recipient a merchant; ${ROUNDS} round(s); median (min–max)` +
      (PG_LOCALE ? `; Postgres cluster locale ${PG_LOCALE}` : '') +
      (PG_HUGE_PAGES ? '; Postgres shared memory on 2 MB huge pages' : ''),
    `  node raw eth_getLogs         ${fmt(s(runs.raw.map((x) => x.ms)), 's')}`,
    `  paywatch run backfill        ${fmt(s(runs.paywatch.map((x) => x.ms)), 's')}   peak RSS ${fmt(runs.paywatch.map((x) => x.rss_mb), 'MB', 1)}   CPU ${fmt(runs.paywatch.map((x) => x.cpu_s), 's')}`,
    ...(runs.base.length ? [`  base build's run backfill    ${fmt(s(runs.base.map((x) => x.ms)), 's')}   peak RSS ${fmt(runs.base.map((x) => x.rss_mb), 'MB', 1)}   CPU ${fmt(runs.base.map((x) => x.cpu_s), 's')}   (PAYWATCH_BIN_BASE)`,
      `  ratio paywatch / base build  ${fmt(ratio('paywatch', 'base'), 'x')}`] : []),
    ...(runs.hooks.length ? [`  run, webhooks on            ${fmt(s(runs.hooks.map((x) => x.ms)), 's')}   peak RSS ${fmt(runs.hooks.map((x) => x.rss_mb), 'MB', 1)}   CPU ${fmt(runs.hooks.map((x) => x.cpu_s), 's')}   (a webhook event and delivery per payment, none sent)`] : []),
    ...(runs.hooks.length && runs.paywatch.length ? [`  ratio webhooks on / off      ${fmt(ratio('hooks', 'paywatch'), 'x')}   (Postgres CPU ${fmt(runs.hooks.map((x, i) => x.pg_cpu_s / runs.paywatch[i].pg_cpu_s), 'x')})`] : []),
    ...(runs['hooks-base'].length ? [`  base build, webhooks on      ${fmt(s(runs['hooks-base'].map((x) => x.ms)), 's')}   (PAYWATCH_BIN_BASE)`,
      `  ratio webhooks on / base     ${fmt(ratio('hooks', 'hooks-base'), 'x')}`] : []),
    ...(runs.http.length ? [`  paywatch run, logs over HTTP ${fmt(s(runs.http.map((x) => x.ms)), 's')}   peak RSS ${fmt(runs.http.map((x) => x.rss_mb), 'MB', 1)}   CPU ${fmt(runs.http.map((x) => x.cpu_s), 's')}   (ws_url and http_url: eth_getLogs over HTTP)`] : []),
    // `--only http` runs no websocket side to compare with
    ...(runs.http.length && runs.paywatch.length ? [`  ratio logs over HTTP / ws    ${fmt(ratio('http', 'paywatch'), 'x')}   (CPU ${fmt(runs.http.map((x, i) => x.cpu_s / runs.paywatch[i].cpu_s), 'x')})`] : []),
    ...(runs.floor.length ? [`  postgres alone (COPY floor)  ${fmt(s(runs.floor.map((x) => x.ms)), 's')}   (Postgres CPU ${fmt(runs.floor.map((x) => x.pg_cpu_s), 's')}); ` +
      `its payments alone ${fmt(s(runs.floor.map((x) => x.payments_ms)), 's')}`,
      `  the same in two sessions     ${fmt(s(runs.floor.map((x) => x.parallel_ms)), 's')}   (a half each, at once: both cores; ` +
      `Postgres CPU ${fmt(runs.floor.map((x) => x.parallel_pg_cpu_s), 's')})`] : []),
    `  paywatch replay (empty db)   ${fmt(s(runs.replay.map((x) => x.ms)), 's')}   peak RSS ${fmt(runs.replay.map((x) => x.rss_mb), 'MB', 1)}   CPU ${fmt(runs.replay.map((x) => x.cpu_s), 's')}`,
    ...(runs.script.length ? [`  hand-written script          ${fmt(s(runs.script.map((x) => x.ms)), 's')}   peak RSS ${fmt(runs.script.map((x) => x.rss_mb), 'MB', 1)}   CPU ${fmt(runs.script.map((x) => x.cpu_s), 's')}`] : []),
    ...(WITH_PONDER ? [`  ponder backfill              ${fmt(s(runs.ponder.map((x) => x.ms)), 's')}   peak RSS ${fmt(runs.ponder.map((x) => x.rss_mb), 'MB', 1)}   CPU ${fmt(runs.ponder.map((x) => x.cpu_s), 's')}`] : []),
    ...(runs.ponder.some((x) => x.stalled_rows !== undefined) ? [`  ponder stalled short of ${TRANSFERS} rows in ${runs.ponder.filter((x) => x.stalled_rows !== undefined).length} of ${runs.ponder.length} rounds ` +
      `(${runs.ponder.filter((x) => x.stalled_rows !== undefined).map((x) => x.stalled_rows).join(', ')} rows); those rounds are left out of its figures`] : []),
    `  CPU beside each side (Postgres, anvil): paywatch ${fmt(runs.paywatch.map((x) => x.pg_cpu_s), 's')}, ${fmt(runs.paywatch.map((x) => x.anvil_cpu_s), 's')};` +
      ` replay ${fmt(runs.replay.map((x) => x.pg_cpu_s), 's')}, ${fmt(runs.replay.map((x) => x.anvil_cpu_s), 's')}` +
      (runs.script.length ? `; script ${fmt(runs.script.map((x) => x.pg_cpu_s), 's')}, ${fmt(runs.script.map((x) => x.anvil_cpu_s), 's')}` : '') +
      (WITH_PONDER ? `; ponder ${fmt(runs.ponder.map((x) => x.pg_cpu_s), 's')}, ${fmt(runs.ponder.map((x) => x.anvil_cpu_s), 's')}` : ''),
    ...busyLines(runs),
    `  ratio paywatch / node        ${fmt(ratio('paywatch', 'raw'), 'x')}`,
    `  ratio replay / node          ${fmt(ratio('replay', 'raw'), 'x')}`,
    `  ratio replay / run           ${fmt(ratio('replay', 'paywatch'), 'x')}`,
    ...(runs.floor.length ? [`  ratio floor / node           ${fmt(ratio('floor', 'raw'), 'x')}`,
      `  ratio paywatch / floor       ${fmt(ratio('paywatch', 'floor'), 'x')}`,
      `  ratio paywatch / payments    ${fmt(runs.paywatch.map((x, i) => x.ms / runs.floor[i].payments_ms), 'x')}   (the floor of the payments alone, without their feed rows)`,
      `  ratio paywatch / two floors  ${fmt(runs.paywatch.map((x, i) => x.ms / runs.floor[i].parallel_ms), 'x')}   (the floor in two sessions at once)`] : []),
    ...(runs.script.length ? [`  ratio paywatch / script      ${fmt(ratio('paywatch', 'script'), 'x')}`] : []),
    ...(WITH_PONDER ? [`  ratio paywatch / ponder      ${fmt(ratio('paywatch', 'ponder'), 'x', 3)}`] : []),
    ...(runs.http.length && runs.floor.length ? [`  ratio logs over HTTP / floor ${fmt(ratio('http', 'floor'), 'x')}; / two floors ` +
      `${fmt(runs.http.map((x, i) => x.ms / runs.floor[i].parallel_ms), 'x')}`] : []),
    ...(runs.http.length && runs.base.length ? [`  ratio logs over HTTP / base  ${fmt(ratio('http', 'base'), 'x')}   (the base build's run backfill over the websocket)`] : []),
    ...(runs.http.length && runs.script.length ? [`  ratio logs over HTTP / script ${fmt(ratio('http', 'script'), 'x')}`] : []),
    ...(runs.http.length && WITH_PONDER ? [`  ratio logs over HTTP / ponder ${fmt(ratio('http', 'ponder'), 'x', 3)}`] : []),
    ...(liveFig || []).map((f) => `live (confirmations ${f.confirmations}, a block every 100 ms, ${f.blocks} blocks): row in Postgres p50 ${f.row_p50_ms.toFixed(1)} ms, ` +
      `p99 ${f.row_p99_ms.toFixed(1)} ms (the first two after the start ${f.first_rows_ms.map((x) => x.toFixed(1)).join(', ')} ms); ` +
      `webhook p50 ${f.hook_p50_ms.toFixed(1)} ms, p99 ${f.hook_p99_ms.toFixed(1)} ms; ` +
      `from the node's newHeads announcement (from the evm_mine request's send: row p50 ${f.send_row_p50_ms.toFixed(1)} ms, ` +
      `p99 ${f.send_row_p99_ms.toFixed(1)} ms, webhook p99 ${f.send_hook_p99_ms.toFixed(1)} ms; the announcement p50 ` +
      `${f.announce_p50_ms.toFixed(1)} ms, p99 ${f.announce_p99_ms.toFixed(1)} ms after the send)` +
      (f.confirmations > 1 ? ` (from the confirming block); the pending row p50 ${f.pending_p50_ms.toFixed(1)} ms, p99 ${f.pending_p99_ms.toFixed(1)} ms` +
        (f.pending_missed ? `, ${f.pending_missed} confirmed before the poll saw them pending` : '') : '')),
    ...configFig.map((c) => `config ${String(c.addresses).padStart(9)} addresses of ${c.merchants} merchants (${(c.json_bytes / 1e6).toFixed(0)} MB of JSON): checked and parsed in ${(c.parse_ms / 1000).toFixed(2)} s, matcher built in ${(c.matcher_ms / 1000).toFixed(2)} s, peak RSS ${c.peak_rss_mb.toFixed(0)} MB`),
    ...(statements.length ? ['Postgres statements by total time, every side of every round (pg_stat_statements): ms, calls, rows, statement',
      ...statements.map((x) => `  ${String(x.ms).padStart(8)} ${String(x.calls).padStart(7)} ${String(x.rows).padStart(8)}  ${x.query}`)] : []),
    ...(outboxFig ? [`outbox ${outboxFig.entries} entries of ${outboxFig.chains} chains: each chain's depth and oldest in one scan ` +
      `${outboxFig.one_scan_ms.toFixed(0)} ms, a scan per chain ${outboxFig.per_chain_ms.toFixed(0)} ms: ${outboxFig.ratio.toFixed(2)}x (medians of ${outboxFig.rounds} rounds)`] : []),
    ...matcherFig.map((m) => `matcher ${String(m.addresses).padStart(9)} addresses: load ${m.load_ms.toFixed(0)} ms, peak RSS ${m.peak_rss_mb.toFixed(0)} MB, lookup ${m.hit_ns.toFixed(0)} ns (hit) / ${m.miss_ns.toFixed(0)} ns (miss) / ${m.stream_ns.toFixed(0)} ns (hits streamed with prefetch); one memory round trip ${m.mem_chase_ns.toFixed(0)} ns`),
  ];
  console.log(lines.join('\n'));
  fs.writeFileSync(OUT, JSON.stringify({ at: new Date().toISOString(), machine: machine(), transfers: TRANSFERS, blocks: BLOCKS,
    rounds: ROUNDS, runs, statements, live: liveFig, matcher: matcherFig, config: configFig, outbox: outboxFig, table: lines }, null, 2) + '\n');
  say(`figures written to ${path.relative(process.cwd(), OUT)}`);
}

// How busy the machine's two cores were during each side: the CPU of every
// process the side ran on (the side itself, Postgres, anvil) over twice its
// wall time, and the time that CPU needs on two cores at the least. A side
// near 100 % is bound by the cores (its distance to a floor is CPU, not a
// wait); well below, something waits. The floor runs one backend (at most
// half the cores), its two sessions two. "the machine": every process's
// CPU over the same window (/proc/stat, machine_busy): what the side's
// share leaves to the others (this bench, the kernel's threads) and, the
// rest, to idle cores.
function busyLines(runs) {
  const cpu = (x) => sideCpu(x) ?? NaN; // fmt leaves a round without a figure out
  const pct = (xs, f) => fmt(xs.map((x) => { const v = f(x); return v == null ? NaN : 100 * v; }), '%', 0);
  const side = (label, xs) => xs.length ? [`${label} ${pct(xs, (x) => cpu(x) / (CORES * x.ms / 1000))}` +
    ` (its CPU ${fmt(xs.map(cpu), 's')}, at least ${fmt(xs.map((x) => cpu(x) / CORES), 's')} on ${CORES} cores;` +
    ` the machine ${pct(xs, (x) => x.machine_busy)})`] : [];
  const floor = runs.floor.length ? [`the floor ${pct(runs.floor, (x) => x.pg_cpu_s / (CORES * x.ms / 1000))}` +
    ` (the machine ${pct(runs.floor, (x) => x.machine_busy)})`,
    `two sessions ${pct(runs.floor, (x) => x.parallel_pg_cpu_s / (CORES * x.parallel_ms / 1000))}` +
    ` (the machine ${pct(runs.floor, (x) => x.parallel_machine_busy)})`] : [];
  const parts = [...side('run', runs.paywatch), ...side('logs over HTTP', runs.http), ...floor];
  return parts.length ? [`  the ${CORES} cores busy        ${parts.join('; ')}`] : [];
}

// not a test: no pass/fail line (CI's summary is ctest's); exit 1 on an error
main()
  .then(() => 0, (e) => { console.error(`bench: failed: ${e.stack || e}`); return 1; })
  .then(async (code) => { await rig.cleanupAll(); process.exit(code); });
