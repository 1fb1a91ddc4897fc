// rig.mjs: the real parts paywatch's end-to-end tests run against, started
// by the tests themselves: a throwaway PostgreSQL cluster (initdb + pg_ctl,
// as the `postgres` OS user when running as root), anvil (npm
// @foundry-rs/anvil-linux-amd64), TestToken compiled by solc (npm, pinned),
// and the paywatch binary. Every server listens on 127.0.0.1 only.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
export const e2eDir = path.resolve(here, '..');
// ../shared/fixtures beside the repository (ctest passes the configured
// FIXTURES_DIR as PW_FIXTURES)
export const fixturesDir = process.env.PW_FIXTURES || path.resolve(e2eDir, '..', '..', '..', 'shared', 'fixtures');
if (!fs.existsSync(path.join(e2eDir, 'node_modules', 'pg'))) {
  console.error('tests/e2e/node_modules is missing: run `npm ci` in tests/e2e (bash scripts/test.sh does it)');
  process.exit(1);
}
const cleanups = [];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function onCleanup(fn) { cleanups.push(fn); }
export async function cleanupAll() {
  while (cleanups.length) {
    try { await cleanups.pop()(); } catch (e) { console.error('cleanup:', e.message); }
  }
}
// A run stopped by a signal, whose output went away (a closed pipe, as
// `| head` leaves: EPIPE at its next write) or that threw where nothing
// caught it stops what it started (Postgres, anvil, paywatch) before it
// exits, rather than leave a throwaway server running. (A test's own
// failures end through runTest, a bench's through its own catch.)
let stopping = false;
async function stopEverything(code) {
  if (stopping) return;
  stopping = true;
  await cleanupAll();
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stopEverything(130));
for (const out of [process.stdout, process.stderr]) out.on('error', () => stopEverything(1));
process.on('uncaughtException', (e) => {
  try { process.stderr.write(`uncaught: ${e.stack || e}\n`); } catch {}
  stopEverything(1);
});

// What the rig starts is also told to lib/guard.py, a process of its own
// that outlives this one and, when this process ends, stops whatever of it
// is still running and removes its directories: the handlers above cannot
// run when the run is killed (SIGKILL, the OOM killer, ctest's timeout),
// and neither anvil and paywatch (reparented to init) nor the postmaster
// (pg_ctl's) would stop by themselves. They talk through a FIFO: the
// guard's stdin is its read end, opened here before the guard starts, and
// this process holds the only write end (close-on-exec: no child inherits
// it), so lines wait in the pipe until the guard reads them, and the end of
// this process, however it comes, is the guard's EOF. Started on first use;
// if the guard cannot start, the run goes on as it would without it.
let guardFd = null;
function guardSay(line) {
  if (guardFd === null) {
    guardFd = -1;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-guard-'));
    try {
      const fifo = path.join(dir, 'fifo');
      execFileSync('mkfifo', ['-m', '600', fifo]);
      const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
      const readEnd = fs.openSync(fifo, O_RDONLY | O_NONBLOCK); // no writer needed yet
      const writeEnd = fs.openSync(fifo, O_WRONLY | O_NONBLOCK); // a reader is there: never waits
      const g = spawn('python3', [path.join(here, 'guard.py')], { stdio: [readEnd, 'ignore', 'inherit'] });
      g.on('error', () => {});
      g.unref();
      fs.closeSync(readEnd);
      guardFd = writeEnd;
    } catch {}
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (guardFd >= 0) try { fs.writeSync(guardFd, line + '\n'); } catch {} // EAGAIN: the guard is not reading
}
// guard(pid, signal): proc's pid stopped with signal ('TERM', 'QUIT', 'KILL')
// if this run dies with it running.
export function guard(pid, signal = 'KILL') {
  if (!pid) return;
  let stat;
  try { stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return; } // already gone
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  guardSay(`proc ${pid} ${start} ${signal}`);
}

// workDir(prefix): a new directory under the system's temporary directory
// (prefix: its name's start, 'pw-api-' say), removed at cleanup, and by
// the guard if this run is killed. The caller owns what it puts there.
export function workDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  guardSay(`dir ${dir}`); // removed after the processes if this run dies
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A port no server of the rig listens on, for endpoints that must stay
// dead: port 1 (tcpmux, privileged; nothing here listens on it), not a
// port picked free and released, which another test may be handed next
// (e2e_bulk's relay once counted e2e_tron's eth_chainId on one).
export const DEAD_PORT = 1;

// freePort: a loopback port for a server the test starts next (Postgres,
// paywatch's API, a receiver). It is free only when picked, and the server
// binds it a moment later: a port from the system's ephemeral range (what
// listen(0) hands out, and the local port of every outgoing connection)
// could be taken in that moment by another test's listener on port 0 or by
// any client's connection (ctest runs tests side by side: e2e_families's
// receiver once found its port in use). So the port is
// drawn at random from below that range (10000 up to its start, read from
// /proc), where neither ever lands, checked bindable, and never handed out
// twice by one process; two tests drawing the same port in that moment is
// the one chance left (about one in 20,000 per pair of draws).
const handedOut = new Set();
function ephemeralStart() {
  try {
    const lo = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(lo) && lo > 11000) return lo;
  } catch {}
  return 32768;
}
const PORT_LOW = 10000, PORT_HIGH = ephemeralStart(); // [PORT_LOW, PORT_HIGH)
function bindable(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.on('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
export async function freePort() {
  for (let tries = 0; tries < 200; tries++) {
    const port = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`freePort: no bindable port in ${PORT_LOW}-${PORT_HIGH - 1} after 200 tries`);
}

// Timeouts are what a condition may take on a loaded 2-core machine (CI
// runs beside other jobs, and the sanitizer build is slower still): each is
// multiplied by PW_TEST_TIMEOUT_SCALE (default 3). A wait ends as soon as
// its condition holds; only a failing test waits the whole timeout.
const TIMEOUT_SCALE = Number(process.env.PW_TEST_TIMEOUT_SCALE) || 3;
// a timeout given to something other than waitFor (a browser's wait, say), scaled the same way
export const scaled = (ms) => ms * TIMEOUT_SCALE;

// The value of one series on a /metrics page (Prometheus text format):
// name with exactly labels ('chain="local"'; '' for none), or with any
// labels when labels is undefined. NaN when the page has no such series.
export function metricValue(text, name, labels) {
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const lab = labels === undefined ? '(?:\\{[^}]*\\})?' : labels ? `\\{${esc(labels)}\\}` : '';
  const m = new RegExp(`^${name}${lab} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

// How many of a Postgres cluster's backends match, read from
// pg_stat_activity over db (a pg client): with application name app
// (paywatch names each connection's role: 'paywatch-dispatcher',
// 'paywatch api feed', ...), waiting on a lock when onLock, running a
// statement whose text holds query. A criterion left out matches all. The
// values go as parameters, so this statement never counts itself.
export async function backends(db, { app = null, onLock = false, query = null } = {}) {
  const { rows } = await db.query(`SELECT count(*)::int n FROM pg_stat_activity
    WHERE ($1::text IS NULL OR application_name = $1) AND (NOT $2::bool OR wait_event_type = 'Lock')
      AND ($3::text IS NULL OR strpos(query, $3) > 0)`, [app, onLock, query]);
  return rows[0].n;
}

export async function waitFor(what, fn, timeoutMs = 30000, everyMs = 50) {
  const end = Date.now() + timeoutMs * TIMEOUT_SCALE;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? ': ' + last.message : ''}`);
}

// The transport of the chain configs a test writes: PW_TEST_TRANSPORT=http
// runs a websocket test with JSON-RPC over HTTP instead, with the same
// assertions (ctest's e2e_*_http entries); PW_TEST_TRANSPORT=ws+http with
// both, new heads on the websocket and eth_getLogs over HTTP (e2e_*_wshttp).
// nodeUrls(...urls) takes ws:// URLs and returns the config fields:
// { ws_urls }, { http_urls, poll_interval_ms } or { ws_urls, http_urls }
// (the same node serves both on one port).
export const transport = ['http', 'ws+http'].includes(process.env.PW_TEST_TRANSPORT) ? process.env.PW_TEST_TRANSPORT : 'ws';
export function nodeUrls(...urls) {
  const http = urls.map((u) => u.replace(/^ws(s?):/, 'http$1:'));
  if (transport === 'ws+http') return { ws_urls: urls, http_urls: http };
  if (transport !== 'http') return { ws_urls: urls };
  return { http_urls: http, poll_interval_ms: 200 };
}

// ---------------------------------------------------------------- PostgreSQL
function pgBinDir() {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (fs.existsSync(path.join(base, v, 'bin', 'initdb'))) return path.join(base, v, 'bin');
  throw new Error('PostgreSQL server binaries (initdb) not found: apt-get install postgresql');
}

const isRoot = process.getuid && process.getuid() === 0;
function asPg(cmd, args, opts = {}) {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args], opts] : [cmd, args, opts];
}

// settings: extra server settings ({ name: value }), for a benchmark's
// profile (bench.mjs --pg-statements loads pg_stat_statements).
// locale: the cluster's locale (initdb --locale; default the
// environment's), e.g. 'en_US.UTF-8' as the official postgres image makes
// its clusters (bench.mjs --pg-locale); it must be installed (locale -a).
// hugePages: the shared memory on 2 MB huge pages (huge_pages=on, the
// setting PostgreSQL's docs give for production, "Linux Huge Pages";
// bench.mjs --pg-huge-pages). The pages the server asks for
// (shared_memory_size_in_huge_pages) must be reserved: if fewer are free,
// root raises vm.nr_hugepages by the shortfall and lowers it again at
// cleanup; anyone else gets an error saying what to reserve.
export async function startPostgres(settings = {}, { locale = null, hugePages = false } = {}) {
  const bin = pgBinDir();
  const dir = workDir('pw-pg-'); // removed after the stop below (cleanups run last first)
  if (isRoot) execFileSync('chown', ['postgres:postgres', dir]);
  fs.chmodSync(dir, 0o700);
  const data = path.join(dir, 'data');
  const port = await freePort();
  const run = (cmd, args) => {
    const [c, a] = asPg(path.join(bin, cmd), args);
    const r = spawnSync(c, a, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', ...(locale ? ['--locale', locale] : [])]);
  if (hugePages) {
    reserveHugePages(bin, data, settings);
    settings = { ...settings, huge_pages: 'on' };
  }
  const pg = {
    dir, port, data,
    dsn: (db = 'paywatch', password = '') =>
      `postgresql://postgres${password ? ':' + password : ''}@127.0.0.1:${pg.port}/${db}`,
    start() {
      run('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-o',
        `-p ${pg.port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off` +
          Object.entries(settings).map(([k, v]) => ` -c ${k}=${v}`).join(''), 'start']);
      // SIGQUIT: Postgres's immediate shutdown, its backends with it
      guard(Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]), 'QUIT');
    },
    stop(mode = 'fast') { run('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']); },
  };
  onCleanup(() => { try { pg.stop('immediate'); } catch {} });
  // the port was free when picked; a parallel test may take it before the
  // postmaster binds it (then pg_ctl fails): pick another and try again (a
  // failure for any other reason fails three times and is thrown)
  for (let attempt = 1; ; attempt++) {
    try { pg.start(); break; } catch (e) {
      if (attempt === 3) throw e;
      pg.port = await freePort();
    }
  }
  const { Client } = require('pg');
  const admin = new Client({ connectionString: pg.dsn('postgres') });
  await admin.connect();
  await admin.query('CREATE DATABASE paywatch');
  await admin.end();
  // a stopped server ends these connections: that is expected in outage tests
  pg.client = async (db = 'paywatch') => {
    const c = new Client({ connectionString: pg.dsn(db) });
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  return pg;
}

// Reserve the 2 MB pages a cluster's shared memory takes (startPostgres's
// hugePages). Throws, saying what to do, when the pages cannot be had.
function reserveHugePages(bin, data, settings) {
  const [c, a] = asPg(path.join(bin, 'postgres'), ['-D', data, '-C', 'shared_memory_size_in_huge_pages',
    ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]);
  const r = spawnSync(c, a, { encoding: 'utf8' });
  const need = Number(r.stdout.trim());
  if (r.status !== 0 || !(need > 0)) throw new Error(`huge pages: cannot ask postgres how many it needs: ${r.stderr || r.stdout}`);
  const meminfo = (k) => Number((fs.readFileSync('/proc/meminfo', 'utf8').match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [0, 0])[1]);
  const size = meminfo('Hugepagesize');
  if (size !== 2048) throw new Error(`huge pages: this system's huge page size is ${size} kB, not 2048`);
  const short = need - (meminfo('HugePages_Free') - meminfo('HugePages_Rsvd'));
  if (short <= 0) return;
  const knob = '/proc/sys/vm/nr_hugepages';
  if (!isRoot) throw new Error(`huge pages: the cluster needs ${need} pages of 2 MB, ${short} more than are free: ` +
    `reserve them as root (sysctl -w vm.nr_hugepages=<current + ${short}>)`);
  const before = Number(fs.readFileSync(knob, 'utf8'));
  fs.writeFileSync(knob, String(before + short));
  const got = Number(fs.readFileSync(knob, 'utf8')) - before;
  // given back once the server is gone (cleanups run last in, first out)
  onCleanup(() => fs.writeFileSync(knob, String(Math.max(0, Number(fs.readFileSync(knob, 'utf8')) - got))));
  if (got < short) throw new Error(`huge pages: asked the kernel for ${short} more pages of 2 MB, got ${got} ` +
    '(memory too fragmented or too little free)');
}

// ---------------------------------------------------------------- anvil
// A JSON-RPC over HTTP relay on 127.0.0.1 to upstream (an http:// URL)
// that counts the methods it forwards (relay.methods: name -> calls) and
// logs each POST (relay.log: { at (ms), methods, params of its first call,
// status when refused }): a test sees which requests took the HTTP path
// and when. Not a fake: every request goes to the real node and its answer
// back unchanged, except the faults a test asks for, which a real node
// cannot be made to answer: relay.down = true resets every connection (an
// HTTP side that is gone); relay.refuse(method, status, headers, times)
// answers the next `times` POSTs holding that method (Infinity: all) with
// that status, those headers (a Retry-After, say) and a plain-text body,
// as a provider's rate limiter or an overloaded node does.
export async function startHttpRelay(upstream) {
  const target = new URL(upstream);
  const refusals = [];
  const relay = {
    methods: {}, url: '', down: false, log: [],
    refuse(method, status, headers = {}, times = 1) { refusals.push({ method, status, headers, times }); },
  };
  const server = http.createServer((req, res) => {
    if (relay.down) { req.socket.destroy(); return; } // no answer: the connection reset
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const entry = { at: Date.now(), methods: [], params: null };
      relay.log.push(entry);
      try {
        const msg = JSON.parse(body.toString());
        const calls = Array.isArray(msg) ? msg : [msg];
        entry.methods = calls.map((m) => m.method);
        entry.params = calls[0] && calls[0].params;
        for (const m of calls) relay.methods[m.method] = (relay.methods[m.method] || 0) + 1;
      } catch { /* forwarded as is */ }
      const f = refusals.find((r) => r.times > 0 && entry.methods.includes(r.method));
      if (f) {
        f.times--;
        entry.status = f.status;
        res.writeHead(f.status, { 'content-type': 'text/plain', ...f.headers });
        res.end(f.status === 429 ? 'Too Many Requests' : 'Service Unavailable');
        return;
      }
      const up = http.request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length } }, (ur) => {
        res.writeHead(ur.statusCode, { 'content-type': ur.headers['content-type'] || 'application/json' });
        ur.pipe(res);
      });
      up.on('error', () => { res.writeHead(502); res.end(); });
      up.end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.url = `http://127.0.0.1:${server.address().port}/`;
  onCleanup(() => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }));
  return relay;
}

export async function startAnvil(extraArgs = []) {
  const bin = path.join(e2eDir, 'node_modules', '.bin', 'anvil');
  // anvil keeps old states under $HOME/.foundry/anvil/tmp and leaves them
  // behind when killed: give each anvil a HOME that cleanup removes
  const home = workDir('pw-anvil-home-'); // removed after anvil's exit below
  // --port 0: anvil binds a free port itself and prints it. A port picked
  // here and handed over could be taken by a parallel test's anvil first,
  // and this test would then talk to that one without noticing. Its output
  // goes to a file, not a pipe: a pipe left undrained while a test runs
  // paywatch synchronously would fill and stall anvil.
  const out = path.join(home, 'anvil.log');
  const fd = fs.openSync(out, 'w');
  const proc = spawn(bin, ['--host', '127.0.0.1', '--port', '0', ...extraArgs],
    { stdio: ['ignore', fd, 'pipe'], env: { ...process.env, HOME: home } });
  fs.closeSync(fd);
  guard(proc.pid);
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  onCleanup(async () => {
    proc.kill('SIGKILL');
    await new Promise((r) => (proc.exitCode !== null || proc.signalCode ? r() : proc.on('exit', r)));
  });
  let port = 0;
  await waitFor('anvil to say where it listens', () => {
    if (proc.exitCode !== null) throw new Error(`anvil exited (${proc.exitCode}); stderr: ${stderr}`);
    const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(fs.readFileSync(out, 'utf8'));
    port = m ? Number(m[1]) : 0;
    return port > 0;
  }, 20000, 20);
  const node = { port, proc, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
  let id = 0;
  node.rpc = async (method, params = []) => {
    const res = await fetch(node.http, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    });
    const body = await res.json();
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  };
  await waitFor('anvil to answer', async () => (await node.rpc('eth_chainId')) !== undefined, 20000)
    .catch((e) => { throw new Error(`${e.message}; anvil stderr: ${stderr}`); });
  node.accounts = await node.rpc('eth_accounts');
  node.mine = async (n = 1) => { for (let i = 0; i < n; i++) await node.rpc('evm_mine'); };
  // with automine, eth_sendTransaction may answer before the block exists
  node.receipt = (hash) => waitFor(`receipt of ${hash}`, () => node.rpc('eth_getTransactionReceipt', [hash]), 10000, 10);
  node.head = async () => Number(BigInt(await node.rpc('eth_blockNumber')));
  return node;
}

// ---------------------------------------------------------------- contracts
let compiled;
export function compileToken() {
  if (compiled) return compiled;
  const solc = require('solc');
  const source = fs.readFileSync(path.join(e2eDir, 'contracts', 'TestToken.sol'), 'utf8');
  const input = {
    language: 'Solidity',
    sources: { 'TestToken.sol': { content: source } },
    settings: { optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.methodIdentifiers'] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error('solc: ' + errors.map((e) => e.formattedMessage).join('\n'));
  const c = out.contracts['TestToken.sol'].TestToken;
  compiled = { bytecode: '0x' + c.evm.bytecode.object, selectors: c.evm.methodIdentifiers };
  return compiled;
}

// Minimal ABI encoding for the types TestToken uses.
const word = (n) => BigInt.asUintN(256, BigInt(n)).toString(16).padStart(64, '0');
function encodeArgs(types, values) {
  const head = [], tail = [];
  const headSize = 32 * types.length;
  types.forEach((t, i) => {
    const v = values[i];
    if (t === 'address') head.push(word(BigInt(v)));
    else if (t === 'uint256' || t === 'uint8') head.push(word(v));
    else {
      const offset = headSize + tail.join('').length / 2;
      head.push(word(offset));
      if (t === 'string') {
        const hex = Buffer.from(v, 'utf8').toString('hex');
        tail.push(word(hex.length / 2) + hex.padEnd(Math.ceil(hex.length / 64) * 64, '0'));
      } else if (t === 'address[]' || t === 'uint256[]') {
        tail.push(word(v.length) + v.map((x) => word(BigInt(x))).join(''));
      } else throw new Error('unsupported ABI type ' + t);
    }
  });
  return head.join('') + tail.join('');
}

export async function deployToken(node, { from, name, symbol, decimals, supply }) {
  const { bytecode, selectors } = compileToken();
  const data = bytecode + encodeArgs(['string', 'string', 'uint8', 'uint256'], [name, symbol, decimals, supply]);
  const hash = await node.rpc('eth_sendTransaction', [{ from, data, gas: '0x' + (3_000_000).toString(16) }]);
  let receipt = await node.rpc('eth_getTransactionReceipt', [hash]);
  if (!receipt) { await node.mine(); receipt = await node.rpc('eth_getTransactionReceipt', [hash]); }
  if (!receipt || receipt.status !== '0x1') throw new Error('deployment failed');
  const address = receipt.contractAddress;
  const call = (fn, types, values) => selectorFor(selectors, fn) + encodeArgs(types, values);
  const send = (sender, data) => node.rpc('eth_sendTransaction',
    [{ from: sender, to: address, data, gas: '0x' + (2_000_000).toString(16) }]);
  return {
    address, symbol, decimals,
    transfer: (sender, to, value) => send(sender, call('transfer', ['address', 'uint256'], [to, value])),
    batchTransfer: (sender, tos, values) =>
      send(sender, call('batchTransfer', ['address[]', 'uint256[]'], [tos, values])),
    emitNftTransfer: (sender, f, to, id) =>
      send(sender, call('emitNftTransfer', ['address', 'address', 'uint256'], [f, to, id])),
  };
}

function selectorFor(selectors, fn) {
  const sig = Object.keys(selectors).find((s) => s.startsWith(fn + '('));
  if (!sig) throw new Error('no selector for ' + fn);
  return '0x' + selectors[sig];
}

// ---------------------------------------------------------------- paywatch
// The schema's migrations (schema/*.sql), in the order `migrate` applies them.
export const schemaDir = path.resolve(e2eDir, '..', '..', 'schema');
export const migrations = () => fs.readdirSync(schemaDir).filter((n) => n.endsWith('.sql')).sort();

// Make database client db's schema as the migrations before `version` left
// it (e.g. '023': 001 to 022), each recorded in schema_migrations as
// `paywatch migrate` records it, so that `migrate` then applies `version`
// and the later ones over the rows a test writes meanwhile.
export async function migrateBefore(db, version) {
  await db.query('CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
  for (const f of migrations().filter((n) => n < version)) {
    await db.query(fs.readFileSync(path.join(schemaDir, f), 'utf8'));
    await db.query('INSERT INTO schema_migrations (version) VALUES ($1)', [f]);
  }
}

export function writeConfig(dir, cfg) {
  const file = path.join(dir, 'paywatch.json');
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  return file;
}

// runPaywatchSync: bin with args run to its end (60 s at most), this process
// blocked meanwhile. spawnSync gives the child's pid only at its end, too
// late for the guard, so the child runs under `setpriv --pdeathsig KILL`
// (util-linux, on every Debian machine): the kernel kills it when this
// process dies, however it dies (before, a run killed during a command
// left the command running). setpriv execs bin: the status, signal and
// output are bin's own.
export function runPaywatchSync(bin, args, env = {}) {
  return spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', bin, ...args],
    { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60000 });
}

// runPaywatch: the same, without blocking this process (for commands that
// talk to servers the test itself runs, such as a proxy or a receiver).
export function runPaywatch(bin, args, env = {}) {
  return new Promise((resolve) => {
    const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    guard(proc.pid);
    let stdout = '', stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 120000);
    // 'close', not 'exit': it follows the end of the output, which 'exit' may precede
    proc.on('close', (status, signal) => { clearTimeout(timer); resolve({ status, signal, stdout, stderr }); });
  });
}

// settled(bin, cfg, heights): the barrier an exact comparison with Postgres
// waits on, in place of a fixed sleep. Resolves once `paywatch status
// --json` (RocksDB read-only, beside the running `run`) shows every chain
// of heights ({ chain name: block number }) with its checkpoint at that
// block or past it and every chain's outbox empty: run has processed
// those blocks and written (or reverted) in Postgres every payment they
// confirmed, so a row that should not be there is there by now. Rejects
// after timeoutMs (scaled), naming what status showed last.
export async function settled(bin, cfg, heights, env = {}, timeoutMs = 60000) {
  let seen = 'no answer yet';
  await waitFor(`run settled at ${JSON.stringify(heights)}`, async () => {
    const r = await runPaywatch(bin, ['status', '-c', cfg, '--json'], env);
    let st;
    try { st = JSON.parse(r.stdout); } catch { seen = `status exit ${r.status}: ${r.stderr.trim().slice(-300)}`; return false; }
    const chains = st.chains || [];
    seen = chains.map((c) => `${c.name}: checkpoint ${c.checkpoint}, outbox ${c.outbox_depth}`).join('; ');
    return Object.entries(heights).every(([name, h]) => chains.some((c) => c.name === name && c.checkpoint !== null && c.checkpoint >= h)) &&
      chains.every((c) => c.outbox_depth === 0);
  }, timeoutMs, 100).catch((e) => { throw new Error(`${e.message} (status: ${seen})`); });
}

// A running `paywatch run`; stderr is collected (and checked for secrets).
const started = [];
export function startPaywatch(bin, args, env = {}, logFile = null) {
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { proc, stderr: '', exited: null, args };
  started.push(p);
  guard(proc.pid);
  proc.stdout.on('data', (d) => { p.stderr += d; });
  proc.stderr.on('data', (d) => { p.stderr += d; if (logFile) fs.appendFileSync(logFile, d); });
  // resolved on 'close' (the process ended and its output was all read), so
  // a check of p.stderr after `await p.done` sees the last lines too
  p.done = new Promise((resolve) => proc.on('close', (code, signal) => { p.exited = { code, signal }; resolve(p.exited); }));
  onCleanup(() => { if (!p.exited) proc.kill('SIGKILL'); });
  return p;
}

// startServe: `paywatch serve` on a port picked just before it starts
// (writeConfig(port) returns the config file to use). A parallel test may
// bind the port first: serve then exits, and another port is tried (three
// times). Resolves to { pw: the started paywatch (as startPaywatch), base: its URL }.
export async function startServe(bin, writeConfigFor, env = {}) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const sv = startPaywatch(bin, ['serve', '-c', writeConfigFor(port)], env);
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20000 * TIMEOUT_SCALE;
    while (!sv.exited && Date.now() < deadline) {
      if ((await fetch(`${base}/healthz`).catch(() => null))?.status === 200) return { pw: sv, base };
      await sleep(50);
    }
    if (!sv.exited) sv.proc.kill('SIGKILL');
    if (attempt === 3) throw new Error(`serve did not come up: ${sv.stderr.trim().split('\n').pop()}`);
  }
}

// ---------------------------------------------------------------- webhooks
// startReceiver: receiver.py (a real HTTP server verifying signatures with
// its own hmac code) on a free loopback port; secrets maps path -> whsec_.
export async function startReceiver(work, secrets) {
  const port = await freePort();
  const file = path.join(work, 'receiver-secrets.json');
  fs.writeFileSync(file, JSON.stringify(secrets));
  const proc = spawn('python3', [path.join(e2eDir, 'receiver.py'), String(port), file], { stdio: 'inherit' });
  guard(proc.pid);
  onCleanup(() => proc.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  await waitFor('receiver', async () => (await fetch(base + '/_records')).ok, 10000);
  return {
    base,
    records: async () => (await fetch(base + '/_records')).json(),
    control: (c) => fetch(base + '/_control', { method: 'POST', body: JSON.stringify(c) }),
  };
}

// ---------------------------------------------------------------- checks
export function formatUnits(raw, decimals) {
  const s = raw.toString().padStart(decimals + 1, '0');
  if (decimals === 0) return s;
  const int = s.slice(0, s.length - decimals);
  const frac = s.slice(s.length - decimals).replace(/0+$/, '');
  return frac ? `${int}.${frac}` : int;
}

let failures = 0, passes = 0;
export function check(cond, msg) {
  if (cond) { passes++; if (process.env.PW_TEST_VERBOSE) console.error('ok: ' + msg); return; }
  failures++;
  console.error('FAIL: ' + msg);
}
export function summary(name) {
  console.log(`${name}: ${passes} passed, ${failures} failed`);
  return failures === 0;
}

// runTest: run an async test body, count an exception as a failure, stop
// everything it started, print "name: N passed, M failed" and exit.
export function runTest(name, main) {
  main()
    .catch((e) => { check(false, 'exception: ' + (e.stack || e)); })
    .finally(async () => {
      await cleanupAll();
      if (failures) { // what paywatch said, to diagnose a failure from CI's output alone
        for (const p of started) {
          const lines = p.stderr.split("\n").filter((l) => l && (process.env.PW_ALL_LOGS || !/ (info|debug) /.test(l)));
          console.error(`--- paywatch ${p.args.join(' ')}: ${lines.length} warning/error lines, last 25:`);
          console.error(lines.slice(-25).join('\n'));
        }
      }
      process.exit(summary(name) ? 0 : 1);
    });
}
