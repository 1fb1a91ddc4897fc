// test_contract.mjs: the API's contract and its operations side, against a
// real `paywatch serve` and `paywatch dispatch` (no Postgres needed for
// what is checked here: their Postgres DSN points at a closed port).
//  1. api/openapi.yaml passes a real OpenAPI validator (swagger-parser,
//     pinned in package.json);
//  2. drift: the routes, methods, query parameters and key requirement the
//     binary serves (`paywatch serve --routes`, the table the server
//     routes by) are exactly the document's, both ways;
//  3. GET /v1/openapi.json serves the same document;
//  4. /metrics passes `promtool check metrics` (Debian's prometheus), every
//     family has HELP and TYPE, and `dispatch` serves its own on
//     "metrics.listen" (and nothing else there);
//  5. deploy/prometheus/alerts.yml passes `promtool check rules`, and every
//     metric it or deploy/grafana/paywatch.json names is one paywatch
//     exposes;
//  6. TLS ("api.tls"): HTTPS with the configured certificate; plain HTTP
//     to it gets no answer;
//  7. a client that sends one byte a second is dropped within 10 s (plus
//     the reaper's 250 ms tick), while other clients are served;
//  8. every keyed route: 401 (no key, an unknown key), 403 (another
//     merchant's data with a merchant key), 429 with Retry-After.
import fs from 'node:fs';
import net from 'node:net';
import https from 'node:https';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import SwaggerParser from '@apidevtools/swagger-parser';
import * as rig from './lib/rig.mjs';
import { docPath } from './lib/openapi.mjs';

const bin = process.argv[2];
const root = path.resolve(rig.e2eDir, '..', '..');

function metricNames(text) {
  return new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]));
}

// the metric names a PromQL expression uses (identifiers followed by { [ or a space/paren), minus functions
function promqlMetrics(expr) {
  return [...expr.matchAll(/\b(paywatch_[a-z0-9_]+)/g)].map((m) => m[1]).map((n) => n.replace(/_(bucket|sum|count)$/, ''));
}

async function main() {
  const work = rig.workDir('pw-contract-');

  // ---- 1. lint
  const lint = await SwaggerParser.validate(docPath).then(() => null, (e) => e.message);
  rig.check(lint === null, `api/openapi.yaml is a valid OpenAPI 3.1 document (${lint ?? 'ok'})`);
  const doc = await SwaggerParser.parse(docPath);
  rig.check(doc.openapi.startsWith('3.1'), `openapi: ${doc.openapi}`);
  const deref = await SwaggerParser.dereference(docPath);

  // ---- 2. drift, both ways
  const routes = JSON.parse(execFileSync(bin, ['serve', '--routes'], { encoding: 'utf8' }));
  const served = new Map(routes.map((r) => [`${r.method} ${r.path}`, r]));
  const documented = new Map();
  for (const [p, ops] of Object.entries(deref.paths))
    for (const [m, op] of Object.entries(ops)) {
      if (!['get', 'post', 'put', 'delete', 'patch'].includes(m)) continue;
      documented.set(`${m.toUpperCase()} ${p}`, op);
    }
  const missingInDoc = [...served.keys()].filter((k) => !documented.has(k));
  const missingInServer = [...documented.keys()].filter((k) => !served.has(k));
  rig.check(served.size >= 10 && missingInDoc.length === 0 && missingInServer.length === 0,
    `the same ${served.size} routes in the server and the document (server only: ${missingInDoc}; document only: ${missingInServer})`);
  // every route's query parameters, key requirement and path parameters: server vs document
  const driftOf = (srv, docOps) => {
    const out = [];
    for (const [k, r] of srv) {
      const op = docOps.get(k);
      if (!op) continue;
      const q = (op.parameters || []).filter((x) => x.in === 'query').map((x) => x.name).sort();
      const sv = [...r.params].sort();
      if (JSON.stringify(q) !== JSON.stringify(sv)) out.push(`${k}: server [${sv}] document [${q}]`);
      const keyed = !(Array.isArray(op.security) && op.security.length === 0);
      if (keyed !== r.keyed) out.push(`${k}: server keyed=${r.keyed}, document keyed=${keyed}`);
      const pathParams = (op.parameters || []).filter((x) => x.in === 'path').map((x) => x.name);
      const inTemplate = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      if (JSON.stringify(pathParams) !== JSON.stringify(inTemplate)) out.push(`${k}: path parameters ${pathParams} vs ${inTemplate}`);
    }
    return out;
  };
  const paramDrift = driftOf(served, documented);
  rig.check(paramDrift.length === 0, `every route's query parameters and key requirement match the document${paramDrift.length ? ': ' + paramDrift.join('; ') : ''}`);
  // the comparison itself fails on drift: the document without one of /v1/payments' parameters
  const lacking = new Map(documented);
  const pay = documented.get('GET /v1/payments');
  lacking.set('GET /v1/payments', { ...pay, parameters: pay.parameters.filter((x) => x.name !== 'cursor') });
  const seen = driftOf(served, lacking);
  rig.check(seen.length === 1 && /GET \/v1\/payments: server/.test(seen[0]), `a parameter the document lacks is caught (${seen})`);

  // ---- paywatch derive (BIP-32 public derivation): anvil's account-level xpub gives anvil's accounts
  const anvilFx = JSON.parse(fs.readFileSync(path.join(rig.fixturesDir, 'vectors', 'anvil_default_accounts_bip44_eth.json'), 'utf8'));
  const axpub = anvilFx.derived_not_in_source["xpub_m/44'/60'/0'/0"];
  const dv = rig.runPaywatchSync(bin, ['derive', '--xpub', axpub, '--path', '*', '--count', '10']);
  const lines = dv.stdout.trim().split('\n').map((l) => l.split(' '));
  rig.check(dv.status === 0 && lines.length === 10 && lines.every(([i, p, a], k) => i === String(k) && p === String(k) && a === anvilFx.derived_not_in_source.eip55[k]),
    'derive: the xpub at m/44\'/60\'/0\'/0 gives anvil\'s 10 accounts (EIP-55), "index path address" per line');
  const dj = JSON.parse(rig.runPaywatchSync(bin, ['derive', '--xpub', axpub, '--path', '*', '--from', '1', '--count', '2', '--format', 'tron', '--json']).stdout);
  rig.check(dj.length === 2 && dj[0].index === 1 && /^T[1-9A-HJ-NP-Za-km-z]{33}$/.test(dj[0].address), `derive --format tron --json (${JSON.stringify(dj[0])})`);
  const xprv = 'xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi';
  const dp2 = rig.runPaywatchSync(bin, ['derive', '--xpub', xprv]);
  const dh = rig.runPaywatchSync(bin, ['derive', '--xpub', axpub, '--path', "0'/*"]);
  rig.check(dp2.status === 2 && /private key/.test(dp2.stderr) && !dp2.stderr.includes(xprv.slice(4, 30)) && dh.status === 2 && /hardened/.test(dh.stderr),
    'derive refuses a private key (never echoing it) and a hardened path, exit 2');

  // ---- a server: serve (api with TLS off first)
  const newKey = (args) => {
    const [key, entry] = rig.runPaywatchSync(bin, ['api-key', 'new', ...args]).stdout.trim().split('\n');
    return { key, entry: JSON.parse(entry) };
  };
  const admin = newKey([]), acmeKey = newKey(['--merchant', 'acme']), limited = newKey([]);
  const dsn = 'postgresql://paywatch@127.0.0.1:1/nowhere';
  const port = await rig.freePort();
  const mport = await rig.freePort();
  const base = {
    data_dir: path.join(work, 'data'), postgres: { dsn },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: 'ws://127.0.0.1:1',
      tokens: [{ symbol: 'USDC', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: ['0x70997970C51812dc3A010C7d01b50e0d17dc79C8'] },
      webhooks: [{ id: 'main', url: 'http://127.0.0.1:1/hook', secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] }] }],
    webhooks: { allow_private_targets: true },
    api: { listen: `127.0.0.1:${port}`, keys: [admin.entry, acmeKey.entry, { ...limited.entry, id: 'limited' }],
      rate_limit: { per_second: 1, burst: 40 } },
    metrics: { listen: `127.0.0.1:${mport}` },
  };
  const cfg = rig.writeConfig(work, base);
  const sv = rig.startPaywatch(bin, ['serve', '-c', cfg]);
  const url = `http://127.0.0.1:${port}`;
  await rig.waitFor('serve', async () => (await fetch(`${url}/healthz`).catch(() => null))?.status === 200, 15000);

  // ---- every keyed route: 401 without a key or with an unknown one, 403 for
  // another merchant's data with a merchant key, 429 once a key's bucket is
  // empty (all answered before any query: no database needed)
  const keyed = routes.filter((x) => x.keyed);
  const call = (rt, key, query = '', id = '1') => fetch(`${url}${rt.path.replace('{id}', id).replace(/\{\w+\}/g, 'x')}${query}`,
    { method: rt.method, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const authBad = [];
  for (const rt of keyed) {
    const none = await call(rt, null);
    const unknown = await call(rt, 'pwk_' + 'x'.repeat(43));
    if (none.status !== 401 || none.headers.get('www-authenticate') !== 'Bearer' || unknown.status !== 401)
      authBad.push(`${rt.method} ${rt.path}: ${none.status}/${unknown.status}`);
    if (rt.params.includes('merchant_id')) {
      const other = await call(rt, acmeKey.key, '?merchant_id=globex');
      if (other.status !== 403) authBad.push(`${rt.method} ${rt.path} merchant_id=globex with acme's key: ${other.status}`);
    }
    if (rt.path.startsWith('/v1/merchants/{id}')) { // the registry: another merchant's id
      const other = await call(rt, acmeKey.key, '', 'globex');
      if (other.status !== 403) authBad.push(`${rt.method} ${rt.path} for globex with acme's key: ${other.status}`);
    }
  }
  rig.check(keyed.length >= 6 && authBad.length === 0,
    `every keyed route (${keyed.length}): 401 with WWW-Authenticate without a key or with an unknown one; 403 for another merchant${authBad.length ? ': ' + authBad.join('; ') : ''}`);
  for (let i = 0; i < 45; i++) await call(keyed[0], limited.key); // empty the bucket (burst 40, 1 a second)
  const limitedBad = [];
  for (const rt of keyed) {
    const x = await call(rt, limited.key);
    if (x.status !== 429 || !(Number(x.headers.get('retry-after')) >= 1)) limitedBad.push(`${rt.method} ${rt.path}: ${x.status}`);
  }
  rig.check(limitedBad.length === 0, `every keyed route: 429 with Retry-After once the key's bucket is empty${limitedBad.length ? ': ' + limitedBad.join('; ') : ''}`);
  const other = await call(keyed[0], admin.key, '');
  rig.check(other.status !== 429, `another key is not limited by it (${other.status})`);

  // ---- 3. the served document
  let r = await fetch(`${url}/v1/openapi.json`);
  const served3 = await r.json();
  rig.check(r.status === 200 && JSON.stringify(served3) === JSON.stringify(doc),
    'GET /v1/openapi.json (no key) is api/openapi.yaml as JSON');

  // ---- 4. metrics
  await fetch(`${url}/v1/payments`); // a 401, counted
  r = await fetch(`${url}/metrics`);
  const text = await r.text();
  rig.check(r.status === 200 && /^text\/plain; version=0\.0\.4/.test(r.headers.get('content-type')), 'GET /metrics: text format 0.0.4, no key');
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  rig.check(promtool.status === 0, `promtool check metrics passes (${(promtool.stdout + promtool.stderr).trim().slice(0, 300) || 'clean'})`);
  const names = metricNames(text);
  const helpOk = [...names].every((n) => text.includes(`# HELP ${n} `));
  rig.check(names.size >= 25 && [...names].every((n) => n.startsWith('paywatch_')) && helpOk,
    `${names.size} families, all paywatch_*, each with HELP and TYPE`);
  rig.check(/paywatch_api_requests_total\{route="\/v1\/payments",status="401"\} [1-9]/.test(text) &&
    /paywatch_api_requests_total\{route="\/v1\/payments\/\{id\}",status="429"\} 1\n/.test(text) &&
    /paywatch_api_request_duration_seconds_bucket\{route="\/v1\/payments",le="\+Inf"\} [1-9]/.test(text),
    'API requests counted by route template and status, with a latency histogram');
  rig.check(/paywatch_process_resident_memory_bytes [1-9]\d+/.test(text) && /paywatch_process_open_fds [1-9]/.test(text) &&
    /paywatch_process_start_time_seconds 1\d{9}/.test(text), 'process figures: RSS, open fds, start time');
  // dispatch: its own metrics on metrics.listen, nothing else there
  const dp = rig.startPaywatch(bin, ['dispatch', '-c', cfg]);
  const murl = `http://127.0.0.1:${mport}`;
  await rig.waitFor('dispatch metrics', async () => (await fetch(`${murl}/metrics`).catch(() => null))?.status === 200, 15000);
  const dtext = await (await fetch(`${murl}/metrics`)).text();
  const dmaps = fs.readFileSync(`/proc/${dp.proc.pid}/maps`, 'utf8');
  rig.check(!/librocksdb/.test(dmaps) && /libcurl/.test(dmaps),
    'dispatch never loads RocksDB: it opens no data_dir, and skips RocksDB\'s start (store.c loads it on open)');
  r = await fetch(`${murl}/v1/payments`);
  rig.check(metricNames(dtext).has('paywatch_webhook_deliveries_total') && r.status === 404 &&
    spawnSync('promtool', ['check', 'metrics'], { input: dtext }).status === 0,
    'dispatch serves its /metrics on metrics.listen (promtool clean), and no API there');
  dp.proc.kill('SIGTERM');
  rig.check((await dp.done).code === 0, 'dispatch exits 0 on SIGTERM');
  // run without "api": the same on metrics.listen
  const noApi = rig.writeConfig(fs.mkdtempSync(path.join(work, 'noapi')), { ...base, api: undefined });
  const rn = rig.startPaywatch(bin, ['run', '-c', noApi]);
  await rig.waitFor('run\'s metrics', async () => (await fetch(`${murl}/metrics`).catch(() => null))?.status === 200, 15000);
  const rtext = await (await fetch(`${murl}/metrics`)).text();
  r = await fetch(`${murl}/v1/payments`);
  rig.check(metricNames(rtext).has('paywatch_chain_head_block') && r.status === 404 &&
    spawnSync('promtool', ['check', 'metrics'], { input: rtext }).status === 0 && !/Thread pool/.test(rn.stderr),
    'run without "api" serves its /metrics on metrics.listen (promtool clean), and no API there');
  rig.check(/librocksdb/.test(fs.readFileSync(`/proc/${rn.proc.pid}/maps`, 'utf8')), 'run has RocksDB loaded (its data_dir is open)');
  rn.proc.kill('SIGTERM');
  rig.check((await rn.done).code === 0, 'run exits 0 on SIGTERM');

  // ---- 5. alerts and dashboard
  const alerts = path.join(root, 'deploy', 'prometheus', 'alerts.yml');
  const rules = spawnSync('promtool', ['check', 'rules', alerts], { encoding: 'utf8' });
  rig.check(rules.status === 0 && /SUCCESS: \d+ rules found/.test(rules.stdout), `promtool check rules deploy/prometheus/alerts.yml (${rules.stdout.trim().split('\n').pop()})`);
  const alertText = fs.readFileSync(alerts, 'utf8');
  for (const a of ['lag', 'outbox', 'deliver', 'quarantin', 'head'])
    rig.check(new RegExp(`alert: \\S*${a}`, 'i').test(alertText), `an alert on ${a}`);
  const dash = JSON.parse(fs.readFileSync(path.join(root, 'deploy', 'grafana', 'paywatch.json'), 'utf8'));
  const exprs = JSON.stringify(dash).match(/"expr":"(?:[^"\\]|\\.)*"/g) || [];
  const used = new Set([...promqlMetrics(alertText), ...exprs.flatMap((e) => promqlMetrics(e))]);
  const all = new Set([...names, ...metricNames(dtext)]);
  const unknown = [...used].filter((n) => !all.has(n));
  rig.check(exprs.length >= 10 && used.size >= 15 && unknown.length === 0,
    `the dashboard (${exprs.length} queries) and alerts use ${used.size} metrics, all exposed (unknown: ${unknown})`);

  // ---- 7. a slow client (before TLS: the plain server)
  const t0 = Date.now();
  const closedAfter = await new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const req = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(40);
    let i = 0;
    const timer = setInterval(() => { if (i < req.length && !sock.destroyed) sock.write(req[i++]); }, 1000);
    sock.on('close', () => { clearInterval(timer); resolve(Date.now() - t0); });
    sock.on('error', () => {});
    setTimeout(() => { clearInterval(timer); sock.destroy(); resolve(-1); }, 20000);
  });
  r = await fetch(`${url}/healthz`);
  rig.check(closedAfter >= 9000 && closedAfter <= 12000 && r.status === 200,
    `a client sending one byte a second is dropped at ${closedAfter} ms (10 s deadline); others are served`);
  sv.proc.kill('SIGTERM');
  rig.check((await sv.done).code === 0, 'serve exits 0');

  // ---- 6. TLS
  const key = path.join(work, 'key.pem'), cert = path.join(work, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
    '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const tcfg = rig.writeConfig(fs.mkdtempSync(path.join(work, 'tls')), { ...base, metrics: undefined, api: { ...base.api, tls: { cert, key } } });
  const cc = rig.runPaywatchSync(bin, ['check-config', '-c', tcfg]);
  rig.check(cc.status === 0 && cc.stdout.includes(cert) && !cc.stdout.includes('PRIVATE KEY'), 'check-config shows the TLS files by name, never the key');
  const ts = rig.startPaywatch(bin, ['serve', '-c', tcfg]);
  const httpsGet = (p) => new Promise((resolve) => {
    https.get({ host: '127.0.0.1', port, path: p, ca: fs.readFileSync(cert) }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', (e) => resolve({ status: 0, error: e.message }));
  });
  await rig.waitFor('serve over TLS', async () => (await httpsGet('/healthz')).status === 200, 15000);
  const h = await httpsGet('/v1/openapi.json');
  const plain = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) }).then((x) => x.status, () => 0);
  rig.check(h.status === 200 && JSON.parse(h.body).openapi === doc.openapi && plain === 0,
    `HTTPS with the configured certificate; plain HTTP gets no answer (${plain})`);
  ts.proc.kill('SIGTERM');
  rig.check((await ts.done).code === 0, 'serve (TLS) exits 0');
  const badTls = rig.writeConfig(fs.mkdtempSync(path.join(work, 'badtls')), { ...base, metrics: undefined, api: { ...base.api, tls: { cert, key: path.join(work, 'missing.pem') } } });
  const bt = rig.runPaywatchSync(bin, ['serve', '-c', badTls]);
  rig.check(bt.status === 1 && /api\.tls\.key: cannot open/.test(bt.stderr), `a missing key file: a clear error (${bt.stderr.trim().split('\n').pop()})`);
}

rig.runTest('e2e_contract', main);
