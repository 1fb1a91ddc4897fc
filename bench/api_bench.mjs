// api_bench.mjs: the HTTP API against the database's own limit, in one run
// on one machine (bench/run --api). Not a test: figures only.
//
//  1. 1,000,000 payments of 100 merchants in a throwaway Postgres (written
//     by SQL, generate_series; ANALYZEd).
//  2. GET /v1/payments?merchant_id=M&limit=100 from `paywatch serve` at 64
//     keep-alive connections (wrk, Debian's package), beside pgbench at the
//     same concurrency running the very SQL the API sent (read back from
//     pg_stat_activity, its parameters written in as literals): requests
//     per second and p99 of each, and the ratio. Rounds alternate the two.
//  3. 1,000 consumers long-polling GET /v1/events?wait=60 at once: the
//     server's RSS with them parked, and the time from each event's COMMIT
//     to each consumer's answer (p50, p99, max), over several events.
//
// usage: USAGE below (node bench/api_bench.mjs --help)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as rig from '../tests/e2e/lib/rig.mjs';
import { readArgs, wholeNumber } from './lib/args.mjs';
import { median, pct } from './lib/stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const USAGE = 'usage: node bench/api_bench.mjs [--rounds N] [--seconds S] [--pollers N] [--payments N] [--out FILE]';
const { values: args } = readArgs(USAGE, { rounds: { type: 'string' }, seconds: { type: 'string' },
  pollers: { type: 'string' }, payments: { type: 'string' }, out: { type: 'string' } });
const ROUNDS = wholeNumber(USAGE, '--rounds', args.rounds, 3);
const SECONDS = wholeNumber(USAGE, '--seconds', args.seconds, 10);
const POLLERS = wholeNumber(USAGE, '--pollers', args.pollers, 1000);
const PAYMENTS = wholeNumber(USAGE, '--payments', args.payments, 1000000);
const OUT = path.resolve(args.out ?? path.join(here, 'results-api.json'));
const BIN = path.resolve(process.env.PAYWATCH_BIN || path.join(root, 'build', 'paywatch'));
const CONNS = 64;

const say = (s) => console.error(`bench api: ${s}`);

function rssOf(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : 0;
}

// wrk's "Requests/sec" and its --latency 99% line (in ms)
function parseWrk(out) {
  const rps = Number((out.match(/Requests\/sec:\s+([\d.]+)/) || [])[1]);
  const m = out.match(/\s99%\s+([\d.]+)(us|ms|s)\b/);
  const p99 = m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : NaN;
  const non2xx = Number((out.match(/Non-2xx or 3xx responses:\s+(\d+)/) || [0, 0])[1]);
  return { rps, p99_ms: p99, non2xx };
}

// pgbench's tps and, from its per-transaction log, p99 latency (ms)
function parsePgbench(out, logDir) {
  const tps = Number((out.match(/tps = ([\d.]+)/) || [])[1]);
  const lat = [];
  for (const f of fs.readdirSync(logDir).filter((n) => n.startsWith('pgbench_log')))
    for (const line of fs.readFileSync(path.join(logDir, f), 'utf8').split('\n'))
      if (line) lat.push(Number(line.split(' ')[2]) / 1000);
  return { rps: tps, p99_ms: lat.length ? pct(lat, 99) : NaN };
}

async function main() {
  for (const tool of ['wrk', 'pgbench']) if (spawnSync('which', [tool]).status !== 0) throw new Error(`${tool} is missing (bench/run installs it)`);
  const work = rig.workDir('pw-apibench-');
  const pg = await rig.startPostgres();
  const key = 'pwk_' + crypto.randomBytes(32).toString('base64url');
  const port = await rig.freePort();
  const cfgObj = {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'bench', kind: 'evm', chain_id: 1, ws_url: 'ws://127.0.0.1:1',
      tokens: [{ symbol: 'USDC', address: '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48', decimals: 6 }] }],
    merchants: Array.from({ length: 100 }, (_, i) => ({ id: `M${i}`, addresses: { bench: ['0x' + (0xbe00000 + i).toString(16).padStart(40, '0')] } })),
    api: { listen: `127.0.0.1:${port}`, keys: [{ id: 'bench', sha256: crypto.createHash('sha256').update(key).digest('hex') }],
      rate_limit: { per_second: 100000, burst: 1000000 }, max_connections: POLLERS + 200, pg_connections: 8 },
  };
  const cfg = rig.writeConfig(work, cfgObj);
  const mig = rig.runPaywatchSync(BIN, ['migrate', '-c', cfg]);
  if (mig.status !== 0) throw new Error(`migrate failed: ${mig.stderr}`);
  let db = await pg.client();
  say(`writing ${PAYMENTS} payments of 100 merchants`);
  const t0 = Date.now();
  await db.query(`INSERT INTO payments (chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index, token_address,
      token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount, status, confirmations, confirmed_at, chain_family)
    SELECT 'bench', 1, i / 50, '0x' || md5('b' || (i / 50)::text) || md5('c' || (i / 50)::text), now() - make_interval(secs => ${PAYMENTS} - i),
      '0x' || md5('t' || i::text) || md5('u' || i::text), i % 50, '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48', 'USDC',
      '0x' || substr(md5('f' || i::text) || md5('g' || i::text), 1, 40), '0x' || lpad(to_hex(199229440 + i % 100), 40, '0'), 'M' || (i % 100),
      1000000 + i, 6, (1000000 + i) / 1000000.0, 'confirmed', 12, now() - make_interval(secs => ${PAYMENTS} - i), 'evm'
    FROM generate_series(1, ${PAYMENTS}) i`);
  await db.query('ANALYZE payments');
  say(`written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // the whole text of the API's query in pg_stat_activity (1 KiB by default)
  await db.query('ALTER SYSTEM SET track_activity_query_size = 16384');
  await db.end();
  pg.stop();
  pg.start();
  db = await pg.client();

  const sv = spawn('bash', ['-c', `ulimit -n 8192; exec "${BIN}" serve -c "${cfg}"`], { stdio: ['ignore', 'ignore', 'pipe'] });
  rig.guard(sv.pid);
  let svErr = '';
  sv.stderr.on('data', (d) => { svErr += d; });
  sv.on('exit', (code, sig) => { if (code !== 0) say(`serve exited (${code ?? sig}): ${svErr.slice(-2000)}`); });
  rig.onCleanup(() => sv.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  const url = `${base}/v1/payments?merchant_id=M7&limit=100`;
  await rig.waitFor('serve', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 15000);
  const first = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  const page = await first.json();
  if (first.status !== 200 || page.data.length !== 100) throw new Error(`the API answered ${first.status}`);

  // the SQL the API sent, from pg_stat_activity, with its parameters as literals
  const { rows } = await db.query(`SELECT query FROM pg_stat_activity WHERE application_name = 'paywatch api' AND query LIKE '%FROM payments p%' LIMIT 1`);
  if (!rows.length) throw new Error('the API\'s query is not in pg_stat_activity');
  const literals = { 1: "'M7'", 9: '101' };
  const sql = rows[0].query.replace(/\$(\d+)/g, (_, n) => literals[n] ?? 'NULL');
  const script = path.join(work, 'payments.sql');
  fs.writeFileSync(script, sql.replace(/\s+/g, ' ') + ';\n');
  const check = await db.query(sql);
  if (check.rows.length !== 101) throw new Error(`the SQL read back answers ${check.rows.length} rows`);

  const lua = path.join(work, 'auth.lua');
  fs.writeFileSync(lua, `wrk.headers["Authorization"] = "Bearer ${key}"\n`);
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const w = spawnSync('wrk', ['-t2', `-c${CONNS}`, `-d${SECONDS}s`, '--latency', '-s', lua, url], { encoding: 'utf8' });
    const api = parseWrk(w.stdout);
    const logDir = fs.mkdtempSync(path.join(work, 'pgb'));
    const [pgc, pga] = ['pgbench', ['-n', '-M', 'simple', '-c', String(CONNS), '-j', '2', '-T', String(SECONDS), '-f', script,
      '-l', '--log-prefix', path.join(logDir, 'pgbench_log'), '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', 'paywatch']];
    const p = spawnSync(pgc, pga, { encoding: 'utf8', cwd: logDir });
    if (p.status !== 0) throw new Error(`pgbench: ${p.stderr}`);
    const base2 = parsePgbench(p.stdout, logDir);
    rounds.push({ api, pgbench: base2, ratio: api.rps / base2.rps });
    say(`round ${r + 1}: API ${api.rps.toFixed(0)} req/s (p99 ${api.p99_ms.toFixed(1)} ms, non-2xx ${api.non2xx}), ` +
      `pgbench ${base2.rps.toFixed(0)} tps (p99 ${base2.p99_ms.toFixed(1)} ms): ${(100 * api.rps / base2.rps).toFixed(0)} %`);
  }

  // ---- 1,000 long-pollers
  const agent = new http.Agent({ keepAlive: true, maxSockets: POLLERS + 10 });
  const poll = (after) => new Promise((resolve, reject) => {
    const req = http.get(`${base}/v1/events?after=${after}&wait=60&limit=10`, { agent, headers: { authorization: `Bearer ${key}` } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ at: performance.now(), status: res.statusCode, body: JSON.parse(body) }));
    });
    req.on('error', reject);
  });
  // (a fresh connection: one fetch kept from before the rounds has been closed by the server's 10 s idle timeout)
  const getText = (u) => new Promise((resolve, reject) => {
    http.get(u, { agent: false, headers: { authorization: `Bearer ${key}` } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  const now = JSON.parse(await getText(`${base}/v1/events?after=now`));
  let cursors = Array(POLLERS).fill(now.next_cursor);
  const rssIdle = rssOf(sv.pid);
  const lat = [];
  let rssParked = 0;
  const writer = await pg.client();
  for (let e = 0; e < 5; e++) {
    const answers = cursors.map((c) => poll(c));
    await rig.waitFor('every consumer parked', async () => {
      const m = await getText(`${base}/metrics`);
      return Number((m.match(/^paywatch_api_longpolls_waiting (\d+)/m) || [0, 0])[1]) >= POLLERS;
    }, 30000, 20);
    rssParked = Math.max(rssParked, rssOf(sv.pid));
    await writer.query('BEGIN');
    const { rows: [pay] } = await writer.query('SELECT id FROM payments WHERE merchant_id = $1 ORDER BY id LIMIT 1 OFFSET $2', ['M3', e]);
    await writer.query(`INSERT INTO event_feed (id, type, merchant_id, payment_id, reverses) VALUES ($1, 'payment.confirmed', 'M3', $2, '')`, [`evt_bench_${e}_${Date.now()}`, pay.id]);
    await writer.query('NOTIFY paywatch_feed');
    const committed = performance.now();
    await writer.query('COMMIT');
    const got = await Promise.all(answers);
    for (const g of got) {
      if (g.status !== 200 || g.body.data.length !== 1) throw new Error(`a consumer got ${g.status} with ${g.body.data?.length} events`);
      lat.push(g.at - committed);
    }
    cursors = got.map((g) => g.body.next_cursor);
    say(`event ${e + 1}: ${POLLERS} answers, p99 ${pct(got.map((g) => g.at - committed), 99).toFixed(1)} ms after COMMIT`);
  }
  agent.destroy();
  await writer.end();
  await db.end();
  const exited = new Promise((resolve) => sv.on('exit', resolve));
  sv.kill('SIGTERM');
  await exited;

  const result = {
    when: new Date().toISOString(), payments: PAYMENTS, connections: CONNS, seconds: SECONDS, rounds,
    median: {
      api_rps: median(rounds.map((x) => x.api.rps)), api_p99_ms: median(rounds.map((x) => x.api.p99_ms)),
      pgbench_tps: median(rounds.map((x) => x.pgbench.rps)), pgbench_p99_ms: median(rounds.map((x) => x.pgbench.p99_ms)),
      ratio: median(rounds.map((x) => x.ratio)),
    },
    longpoll: { consumers: POLLERS, events: 5, rss_idle_bytes: rssIdle, rss_parked_bytes: rssParked,
      commit_to_answer_ms: { p50: pct(lat, 50), p99: pct(lat, 99), max: Math.max(...lat) } },
  };
  fs.writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
  const m = result.median;
  console.log(`\nGET /v1/payments?merchant_id=M&limit=100, ${PAYMENTS.toLocaleString('en')} payments, ${CONNS} connections, ${ROUNDS} rounds of ${SECONDS} s (median):`);
  console.log(`  API (wrk)        ${m.api_rps.toFixed(0).padStart(7)} req/s   p99 ${m.api_p99_ms.toFixed(1)} ms`);
  console.log(`  pgbench, its SQL ${m.pgbench_tps.toFixed(0).padStart(7)} tps     p99 ${m.pgbench_p99_ms.toFixed(1)} ms`);
  console.log(`  ratio            ${(100 * m.ratio).toFixed(0)} % of the database's rate (per round: ${rounds.map((x) => (100 * x.ratio).toFixed(0) + ' %').join(', ')})`);
  const l = result.longpoll;
  console.log(`${POLLERS} long-pollers: RSS ${(l.rss_idle_bytes / 2 ** 20).toFixed(1)} MB idle, ${(l.rss_parked_bytes / 2 ** 20).toFixed(1)} MB parked; ` +
    `COMMIT to answer p50 ${l.commit_to_answer_ms.p50.toFixed(1)} ms, p99 ${l.commit_to_answer_ms.p99.toFixed(1)} ms, max ${l.commit_to_answer_ms.max.toFixed(1)} ms`);
  console.log(`figures in ${path.relative(process.cwd(), OUT)}`);
  if (/AddressSanitizer|runtime error/.test(svErr)) throw new Error('serve reported a sanitizer error');
}

main().catch((e) => { console.error(`bench api: ${e.stack || e}${e.cause ? ` (${e.cause.message || e.cause})` : ''}`); process.exitCode = 1; }).finally(() => rig.cleanupAll());
