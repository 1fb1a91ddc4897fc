// test_api.mjs: the HTTP API (config "api") against real parts: anvil, a
// throwaway Postgres and `paywatch run` serving it, then `paywatch serve`
// alone. Checks: /healthz without a key; 401 with WWW-Authenticate for a
// missing or unknown key; PAYMENT equal to the webhook data object (the
// same SQL function) plus reverted_at, against the payments table; a
// merchant key sees its merchant only (403 for another's id filter, 404 for
// another's payment); filters (chain, status, to in any letter case,
// tx_hash, limit, order); each malformed parameter named in its 400;
// unknown parameters refused; keyset pages in both orders while new
// payments arrive: no skip, no repeat; 404 and 405 with Allow; a per-key
// rate limit (429 with Retry-After), and one per client address on the
// checkout pages (a second loopback address served while the first is
// refused); an oversized header refused; no
// secret in any answer.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import * as rig from './lib/rig.mjs';
import { loadContract } from './lib/openapi.mjs';

const bin = process.argv[2];
const acme = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const globex = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
const CONF = 2;

function newKey(args) {
  const r = rig.runPaywatchSync(bin, ['api-key', 'new', ...args]);
  const [key, entry] = r.stdout.trim().split('\n');
  return { status: r.status, key, entry: JSON.parse(entry), stderr: r.stderr };
}

async function main() {
  const work = rig.workDir('pw-api-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 2n ** 220n });
  const dai = await rig.deployToken(node, { from: deployer, name: 'Dai', symbol: 'DAI', decimals: 18, supply: 10n ** 30n });

  // ---- api-key new
  const admin = newKey([]);
  const acmeKey = newKey(['--merchant', 'acme']);
  const limited = newKey([]);
  rig.check(admin.status === 0 && /^pwk_[A-Za-z0-9_-]{43}$/.test(admin.key) && /shown once/.test(admin.stderr),
    `api-key new prints pwk_ + 32 random bytes base64url (${admin.key.slice(0, 8)}...)`);
  rig.check(admin.entry.sha256 === crypto.createHash('sha256').update(admin.key).digest('hex') && !admin.entry.merchant_id,
    'its entry holds the SHA-256 of the key and no merchant (admin)');
  rig.check(acmeKey.entry.merchant_id === 'acme', '--merchant gives a merchant key');
  rig.check(rig.runPaywatchSync(bin, ['api-key', 'new', '--merchant', 'a b']).status === 2, 'a bad merchant id exits 2');

  const contract = await loadContract();
  const port = await rig.freePort();
  const base = `http://127.0.0.1:${port}`;
  const cfgObj = {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: CONF,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }, { symbol: 'DAI', address: dai.address, decimals: 18 }] }],
    merchants: [{ id: 'acme', addresses: { local: [acme] } }, { id: 'globex', addresses: { local: [globex] } }],
    api: { listen: `127.0.0.1:${port}`, rate_limit: { per_second: 1000, burst: 1000 },
      keys: [admin.entry, acmeKey.entry, { ...limited.entry, id: 'limited' }] },
  };
  const cfg = rig.writeConfig(work, cfgObj);
  // check-config shows the keys' hashes and ids, never a key
  const cc = rig.runPaywatchSync(bin, ['check-config', '-c', cfg]);
  rig.check(cc.status === 0 && cc.stdout.includes(admin.entry.sha256) && !cc.stdout.includes(admin.key),
    'check-config shows the api keys by hash');
  for (const [field, value, re] of [
    ['listen', 'localhost:80', /api.listen: must be "IP:PORT"/], ['listen', '127.0.0.1:0', /api.listen/],
    ['keys', [{ id: 'x', sha256: 'abc' }], /api.keys\[0\].sha256: must be 64 hex digits/],
    ['keys', [{ ...admin.entry, merchant_id: 'no body' }], /api.keys\[0\].merchant_id: not a merchant id/],
    ['keys', [admin.entry, { ...admin.entry, id: 'again' }], /api.keys\[1\]: the same key as api.keys\[0\]/],
  ]) {
    const bad = rig.writeConfig(fs.mkdtempSync(path.join(work, 'bad')), { ...cfgObj, api: { ...cfgObj.api, [field]: value } });
    const r = rig.runPaywatchSync(bin, ['check-config', '-c', bad]);
    rig.check(r.status === 2 && re.test(r.stderr), `api config refused: ${field} ${JSON.stringify(value).slice(0, 40)} (${r.stderr.trim().split('\n').pop()})`);
  }

  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  let amount = 10n ** 6n;
  const pay = async (n) => {
    for (let i = 0; i < n; i++)
      await node.receipt(await token.batchTransfer(deployer, [acme, globex], [amount++, amount++]));
  };
  await pay(12);
  await node.receipt(await token.transfer(deployer, acme, 2n ** 200n + 7n)); // past 2^53 and 2^64: exact strings
  // 18 decimals: one base unit apart
  await node.receipt(await dai.transfer(deployer, globex, 10n ** 18n));
  await node.receipt(await dai.transfer(deployer, globex, 10n ** 18n + 1n));
  await node.mine(CONF);
  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  await rig.waitFor('27 payments in Postgres', async () => (await db.query('SELECT count(*)::int n FROM payments')).rows[0].n === 27, 30000);
  await rig.waitFor('the API to listen', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 15000);

  const get = async (p, key, init = {}) => {
    const res = await fetch(base + p, { ...init, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(init.headers || {}) } });
    const text = await res.text();
    let body = null;
    try { body = JSON.parse(text); } catch { /* checked */ }
    contract.record(init.method || 'GET', p, res.status, res.headers.get('content-type'), body ?? text);
    return { status: res.status, headers: res.headers, body, text };
  };

  // ---- healthz, auth
  let r = await get('/healthz');
  rig.check(r.status === 200 && r.body.status === 'ok', '/healthz answers 200 without a key');
  r = await get('/v1/payments');
  rig.check(r.status === 401 && r.headers.get('www-authenticate') === 'Bearer' && r.body.error.code === 'unauthorized',
    `no key: 401 with WWW-Authenticate: Bearer (${r.status})`);
  r = await get('/v1/payments', 'pwk_not-a-key');
  rig.check(r.status === 401, 'an unknown key: 401');
  r = await get('/v1/payments', admin.key.slice(0, -1));
  rig.check(r.status === 401, 'a key one character short: 401');

  // ---- /readyz and /v1/chains: what run publishes each second (table chain_reports)
  const head = await node.head();
  await rig.waitFor('/readyz 200', async () => (await get('/readyz')).status === 200, 20000);
  r = await get('/readyz');
  rig.check(r.body.status === 'ready' && r.body.reasons.length === 0, `/readyz: ready, no key needed (${r.text})`);
  r = await get('/v1/chains');
  rig.check(r.status === 401, '/v1/chains needs a key');
  await rig.waitFor('/v1/chains at the head', async () => (await get('/v1/chains', acmeKey.key)).body?.data?.[0]?.checkpoint === head, 20000);
  r = await get('/v1/chains', acmeKey.key);
  const ch = r.body.data[0];
  rig.check(r.status === 200 && r.body.data.length === 1 && ch.name === 'local' && ch.kind === 'evm' && ch.chain_id === 31337 &&
    ch.head === head && ch.checkpoint === head && ch.confirmed_height === head - CONF + 1 && ch.lag_blocks === 0 &&
    ch.lag_seconds === 0 && ch.endpoint === `127.0.0.1:${node.port}` && ch.last_reorg === null && ch.report_age_s < 10,
    `/v1/chains: head, checkpoint, confirmed height, lag, endpoint host only (${JSON.stringify(ch)})`);

  // ---- PAYMENT against the table (and the webhook data object's shape)
  r = await get('/v1/payments?limit=1000', admin.key);
  const rows = (await db.query(`SELECT id, chain, chain_id, block_number, block_hash, tx_hash, log_index, token_address,
    token_symbol, decimals, from_address, to_address, merchant_id, amount::text, amount_raw::text, confirmations, status,
    to_char(block_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS block_time FROM payments ORDER BY id`)).rows;
  rig.check(r.status === 200 && r.body.data.length === rows.length && r.body.next_cursor === null,
    `GET /v1/payments: all ${rows.length} payments, no next page (${r.status}, ${r.body?.data?.length})`);
  const byId = new Map(r.body.data.map((p) => [p.id, p]));
  const wantKeys = ['id', 'chain', 'chain_id', 'block_number', 'block_hash', 'block_time', 'tx_hash', 'log_index', 'token',
    'from', 'to', 'amount', 'amount_raw', 'confirmations', 'merchant_id', 'status', 'reverted_at'].sort();
  let same = 0;
  for (const row of rows) {
    const p = byId.get(Number(row.id));
    if (p && JSON.stringify(Object.keys(p).sort()) === JSON.stringify(wantKeys) && p.chain === row.chain &&
      p.block_hash === row.block_hash && p.tx_hash === row.tx_hash && p.log_index === row.log_index &&
      p.token.address === row.token_address && p.token.symbol === row.token_symbol && p.token.decimals === row.decimals &&
      p.from === row.from_address && p.to === row.to_address && p.amount === row.amount && p.amount_raw === row.amount_raw &&
      p.merchant_id === row.merchant_id && p.status === row.status && p.block_time === row.block_time && p.reverted_at === null)
      same++;
  }
  rig.check(same === rows.length, `every PAYMENT equals its row, fields as in the webhook data (${same}/${rows.length})`);
  const big = r.body.data.find((p) => p.amount_raw === (2n ** 200n + 7n).toString());
  rig.check(big && big.amount === rig.formatUnits(2n ** 200n + 7n, 6), `an amount above 2^200 is exact: ${big?.amount}`);
  const one = await get(`/v1/payments/${big.id}`, admin.key);
  rig.check(one.status === 200 && JSON.stringify(one.body) === JSON.stringify(big), 'GET /v1/payments/{id} answers the same PAYMENT');

  // ---- scoping
  r = await get('/v1/payments?limit=1000', acmeKey.key);
  rig.check(r.status === 200 && r.body.data.length === 13 && r.body.data.every((p) => p.merchant_id === 'acme'),
    `a merchant key lists its merchant only, without asking (${r.body?.data?.length})`);
  r = await get('/v1/payments?merchant_id=globex', acmeKey.key);
  rig.check(r.status === 403 && r.body.error.param === 'merchant_id', `another merchant's id: 403 (${r.status})`);
  const globexPay = rows.find((x) => x.merchant_id === 'globex');
  r = await get(`/v1/payments/${globexPay.id}`, acmeKey.key);
  rig.check(r.status === 404, `another merchant's payment: 404, its existence untold (${r.status})`);
  r = await get('/v1/payments?merchant_id=acme', acmeKey.key);
  rig.check(r.status === 200 && r.body.data.length === 13, 'its own merchant_id is fine');

  // ---- filters
  r = await get(`/v1/payments?to=${acme.toLowerCase()}&limit=1000`, admin.key);
  let r2 = await get(`/v1/payments?to=${acme.toUpperCase().replace('0X', '0x')}&limit=1000`, admin.key);
  rig.check(r.status === 200 && r.body.data.length === 13 && r2.body.data.length === 13, 'to= in any letter case');
  r = await get(`/v1/payments?to=0x70997970C51812dc3A010C7d01b50e0d17dc79C9`, admin.key);
  rig.check(r.status === 400 && r.body.error.param === 'to', 'to= with a bad EIP-55 checksum: 400 naming to');
  const tx = rows[0].tx_hash;
  r = await get(`/v1/payments?tx_hash=${tx.toUpperCase().replace('0X', '0x')}`, admin.key);
  rig.check(r.status === 200 && r.body.data.length === rows.filter((x) => x.tx_hash === tx).length && r.body.data.length > 0,
    'tx_hash= in upper case');
  // token, amounts (exact, token units), times on confirmed_at
  r = await get('/v1/payments?token=DAI', admin.key);
  r2 = await get(`/v1/payments?token=${dai.address.toLowerCase()}`, admin.key);
  rig.check(r.status === 200 && r.body.data.length === 2 && r2.body.data.length === 2, 'token= by symbol and by address');
  r = await get('/v1/payments?token=DAI&min_amount=1.000000000000000001', admin.key);
  rig.check(r.status === 200 && r.body.data.length === 1 && r.body.data[0].amount_raw === (10n ** 18n + 1n).toString(),
    'min_amount one base unit above 1 DAI (18 decimals): exactly the larger payment');
  r = await get('/v1/payments?token=DAI&max_amount=1', admin.key);
  rig.check(r.status === 200 && r.body.data.length === 1 && r.body.data[0].amount_raw === (10n ** 18n).toString(),
    'max_amount=1 DAI: exactly 1 DAI, not one base unit more');
  const bigUnits = rig.formatUnits(2n ** 200n + 7n, 6);
  const justBelow = rig.formatUnits(2n ** 200n + 6n, 6);
  r = await get(`/v1/payments?min_amount=${bigUnits}`, admin.key);
  r2 = await get(`/v1/payments?token=USDC&min_amount=${justBelow}&max_amount=${justBelow}`, admin.key);
  rig.check(r.status === 200 && r.body.data.length === 1 && r.body.data[0].amount === bigUnits && r2.body.data.length === 0,
    `min_amount at 2^200 + 7 base units: exact (${r.body?.data?.length}, ${r2.body?.data?.length})`);
  const times = (await db.query(`SELECT to_char(confirmed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t
    FROM payments ORDER BY confirmed_at, id`)).rows.map((x) => x.t);
  const mid = times[Math.floor(times.length / 2)];
  r = await get(`/v1/payments?since=${mid}&limit=1000`, admin.key);
  r2 = await get(`/v1/payments?until=${mid}&limit=1000`, admin.key);
  rig.check(r.status === 200 && r2.status === 200 && r.body.data.length === times.filter((t) => t >= mid).length &&
    r2.body.data.length === times.filter((t) => t < mid).length, `since (inclusive) and until (exclusive) split at ${mid}`);
  r = await get(`/v1/payments?since=${encodeURIComponent('2000-01-01T01:00:00+01:00')}`, admin.key);
  rig.check(r.status === 200 && r.body.data.length === 27, 'since with an offset');
  r = await get('/v1/payments?chain=local&status=confirmed&limit=1000', admin.key);
  rig.check(r.status === 200 && r.body.data.length === rows.length, 'chain and status filters');
  r = await get('/v1/payments?status=reverted', admin.key);
  rig.check(r.status === 200 && r.body.data.length === 0, 'status=reverted: none yet');
  for (const [q, param] of [['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=abc', 'limit'], ['order=up', 'order'],
    ['status=paid', 'status'], ['chain=nochain', 'chain'], ['cursor=zzz', 'cursor'], ['tx_hash=0x12', 'tx_hash'],
    ['min_amount=1e6', 'min_amount'], ['max_amount=-1', 'max_amount'], ['min_amount=1.', 'min_amount'],
    ['since=2026-11-29', 'since'], ['until=2026-13-01T00:00:00Z', 'until'], ['token=XYZ', 'token'],
    ['bogus=1', 'bogus'], ['limit=1&limit=2', 'limit'],
    // times RFC 3339's shape allows that Postgres's timestamptz refuses: a 400, not the query's 503
    ['since=2026-02-29T00:00:00Z', 'since'], ['until=0000-01-01T00:00:00Z', 'until'],
    [`cursor=${Buffer.from('2026-02-31T00:00:00.000000Z|7').toString('base64url')}`, 'cursor'],
    ['since=2026-01-01T00:00:00%2B16:00', 'since'], ['until=2026-12-31T23:59:60.5Z', 'until']]) {
    r = await get(`/v1/payments?${q}`, admin.key);
    rig.check(r.status === 400 && r.body.error.code === 'invalid_parameter' && r.body.error.param === param &&
      r.body.error.message.startsWith(`${param}:`), `${q}: 400 naming ${param} (${r.text.slice(0, 120)})`);
  }

  r = await get(`/v1/payments?since=2024-02-29T00:00:00Z&until=${encodeURIComponent('2099-12-31T23:59:60+15:59')}`, admin.key);
  rig.check(r.status === 200 && r.body.data.length > 0, `a leap day, a leap second and a +15:59 offset: 200 (${r.status})`);

  // ---- keyset pages, both orders, while payments arrive
  const before = rows.length;
  for (const order of ['desc', 'asc']) {
    const seen = [];
    let cursor = null, pages = 0;
    do {
      r = await get(`/v1/payments?limit=4&order=${order}${cursor ? `&cursor=${cursor}` : ''}`, admin.key);
      if (r.status !== 200) break;
      seen.push(...r.body.data.map((p) => p.id));
      cursor = r.body.next_cursor;
      pages++;
      if (pages === 2) { await pay(2); await node.mine(CONF); } // new payments land mid-paging
    } while (cursor && pages < 50);
    const unique = new Set(seen);
    const all = (await db.query('SELECT id FROM payments')).rows.map((x) => Number(x.id));
    const missed = rows.map((x) => Number(x.id)).filter((id) => !unique.has(id));
    rig.check(r.status === 200 && unique.size === seen.length && missed.length === 0 && pages > 3,
      `${order}: ${pages} pages, ${seen.length} payments, no repeat, none of the first ${before} skipped (table now ${all.length})`);
  }

  // ---- routes and methods
  r = await get('/v1/nothing', admin.key);
  rig.check(r.status === 404 && r.body.error.code === 'not_found', 'an unknown route: 404 JSON');
  r = await get('/v1/payments/999999999', admin.key);
  rig.check(r.status === 404, 'an unknown payment id: 404');
  r = await get('/v1/payments', admin.key, { method: 'POST', body: '{}' });
  rig.check(r.status === 405 && /GET/.test(r.headers.get('allow') || ''), `POST: 405 with Allow (${r.headers.get('allow')})`);
  r = await get('/v1/payments', admin.key, { headers: { 'x-filler': 'a'.repeat(20000) } });
  rig.check(r.status === 431, `a 20 KB header is refused: 431 (${r.status})`);
  r = await get('/v1/payments', admin.key, { headers: { 'x-filler': 'a'.repeat(8300) } });
  rig.check(r.status === 431 && r.body?.error?.code === 'too_large', `request line and headers over 8 KiB: 431 (${r.status})`);
  r = await get('/v1/payments?limit=1', admin.key, { headers: { 'x-filler': 'a'.repeat(7000) } });
  rig.check(r.status === 200, `7 KB of headers are fine (${r.status})`);

  // ---- every route of the served contract, each path segment and query
  // parameter bytes that are not UTF-8 (and an invoice id of the right
  // length made of them), and a valid value with %00 and more after it
  // (which a C string would end at: "acme%00x" read as "acme", refused
  // since the unescaping makes the NUL 0xFF): refused or not found, never a 5xx, and the
  // answer UTF-8 JSON even where it quotes the value. Postgres
  // refuses such text, and a value that reached it unchecked failed the
  // query: a 503 'try again' for a bad request (the invoices' list and
  // one invoice, an endpoint's delete, the addresses' chain filter, a
  // report's merchant_id).
  // One value at a time is bad, the others valid (so that the bad one is
  // what the server reads last): path segments, then query parameters
  // beside the required ones.
  const served = (await (await fetch(`${base}/v1/openapi.json`)).json()).paths;
  const bad = '%FF%FE', badInvoice = 'inv_' + '%FF'.repeat(22);
  const valid = { id: 'acme', chain: 'local', address: acme.toLowerCase(), endpoint_id: 'default', merchant_id: 'acme',
    from: '2026-01-01', to: '2026-01-02', format: 'json', reference: 'x', status: 'new' };
  const fivexx = [];
  let asked = 0;
  for (const [tpl, ops] of Object.entries(served)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!['get', 'post', 'delete'].includes(method)) continue;
      const names = (tpl.match(/\{[^}]+\}/g) || []).map((x) => x.slice(1, -1));
      const fill = (badName, badValue) => tpl.replace(/\{([^}]+)\}/g, (_, n) =>
        n === badName ? badValue : tpl.startsWith('/v1/invoices') && n === 'id' ? 'inv_AAAAAAAAAAAAAAAAAAAAAA' : valid[n] ?? 'x');
      // a valid value with %00 and more after it: refused, never read as the valid value (a C string ends at the NUL)
      const validOf = (n) => (tpl.startsWith('/v1/invoices') && n === 'id' ? 'inv_AAAAAAAAAAAAAAAAAAAAAA' : valid[n] ?? 'x');
      const nulOf = (n) => `${encodeURIComponent(validOf(n))}%00x`;
      const paths = names.flatMap((n) => [fill(n, bad), fill(n, nulOf(n)), ...(n === 'id' ? [fill(n, badInvoice)] : [])]);
      const params = op.parameters || [];
      const required = params.filter((x) => x.in === 'query' && x.required).map((x) => x.name);
      const queries = params.filter((x) => x.in === 'query').map((x) => x.name).flatMap((q) => [bad, nulOf(q)].map((v) =>
        [...required.filter((k) => k !== q).map((k) => `${k}=${valid[k] ?? 'x'}`), `${q}=${v}`].join('&')));
      // and a parameter whose name is such bytes: refused naming it (its param escaped too)
      const strangerName = [...required.map((k) => `${k}=${valid[k] ?? 'x'}`), `${bad}=1`].join('&');
      const urls = [...paths, ...queries.map((q) => `${fill(null, null)}?${q}`), `${fill(null, null)}?${strangerName}`];
      for (const u of urls) {
        const res = await fetch(base + u, { method: method.toUpperCase(), headers: { authorization: `Bearer ${admin.key}`,
          ...(method === 'post' ? { 'content-type': 'application/json' } : {}) }, body: method === 'post' ? '{}' : undefined });
        const buf = Buffer.from(await res.arrayBuffer());
        let text = null;
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
          if ((res.headers.get('content-type') || '').includes('json')) JSON.parse(text);
        } catch { text = null; }
        asked++;
        if (u.includes('%00x') && res.status < 400)
          fivexx.push(`${method.toUpperCase()} ${u}: ${res.status}: read as the value before %00`);
        if (res.status >= 500 || text === null)
          fivexx.push(`${method.toUpperCase()} ${u}: ${res.status} ${text === null ? 'not UTF-8 JSON: ' + buf.toString('latin1').slice(0, 80) : text.slice(0, 80)}`);
      }
    }
  }
  rig.check(asked > 80 && fivexx.length === 0, `bytes that are not UTF-8, and a valid value with %00 after it, in each of ${asked} path segments and parameters: no 5xx, every answer UTF-8 JSON, none read as the valid value${fivexx.length ? ' (' + fivexx.join(' | ') + ')' : ''}`);

  // ---- rate limit, per key
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'run exits 0 on SIGTERM with the API running');
  const slowCfg = rig.writeConfig(fs.mkdtempSync(path.join(work, 'slow')), { ...cfgObj,
    chains: [{ ...cfgObj.chains[0], max_lag_blocks: 50 }],
    api: { ...cfgObj.api, rate_limit: { per_second: 1, burst: 3 }, max_report_age_s: 3, max_outbox_age_s: 60,
      trusted_proxies: ['127.0.0.3/32'] } });
  const sv = rig.startPaywatch(bin, ['serve', '-c', slowCfg]);
  await rig.waitFor('serve to listen', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 15000);
  const codes = [];
  for (let i = 0; i < 5; i++) codes.push((await get('/v1/payments?limit=1', limited.key)));
  const limitedOut = codes.find((x) => x.status === 429);
  rig.check(codes.slice(0, 3).every((x) => x.status === 200) && limitedOut && Number(limitedOut.headers.get('retry-after')) >= 1,
    `serve: burst 3 then 429 with Retry-After (${codes.map((x) => x.status)})`);
  r = await get('/v1/payments?limit=1', admin.key);
  rig.check(r.status === 200, 'another key is not limited by it');
  // the checkout pages (no key): a bucket per client address, so one
  // visitor's flood leaves every other payer's pages answering (the
  // loopback's 127.0.0.2 as a second client)
  const page = (from, forwarded) => new Promise((resolve, reject) => {
    const headers = forwarded === undefined ? {} : { 'X-Forwarded-For': forwarded };
    const req = http.get(`${base}/assets/checkout.css`, { localAddress: from, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
  });
  const flood = [], other = [];
  for (let i = 0; i < 10; i++) flood.push(await page('127.0.0.1'));
  for (let i = 0; i < 3; i++) other.push(await page('127.0.0.2'));
  rig.check(flood.slice(0, 3).every((x) => x === 200) && flood.includes(429) && other.every((x) => x === 200),
    `checkout pages: one client's flood refused (429) after its burst of 3, another client's 3 served (${flood} | ${other})`);
  // behind a trusted proxy (127.0.0.3, api.trusted_proxies) the client is
  // the nearest address X-Forwarded-For names that is no proxy: what a
  // client wrote itself, to the left, is never read; from any other peer
  // the header is ignored
  const viaProxy = [
    ['127.0.0.1', '198.51.100.1', 429, 'X-Forwarded-For from a peer that is no trusted proxy: ignored (the flooded client)'],
    ['127.0.0.3', '127.0.0.1', 429, 'through the proxy, the flooded client'],
    ['127.0.0.3', '198.51.100.1, 127.0.0.1', 429, 'through the proxy, the flooded client naming another address to the left of its own'],
    ['127.0.0.3', '127.0.0.1, 198.51.100.1', 200, 'through the proxy, another client'],
    ['127.0.0.3', '127.0.0.1, 198.51.100.2:4711, 127.0.0.3', 200, 'through two proxies, another client (with a port)'],
    ['127.0.0.3', undefined, 200, 'the proxy itself, no header'],
  ];
  const proxied = [];
  for (const [from, fwd, want, what] of viaProxy) {
    const got = await page(from, fwd);
    if (got !== want) proxied.push(`${what}: ${got}, not ${want}`);
  }
  rig.check(proxied.length === 0, `checkout pages behind a trusted proxy: the client read from X-Forwarded-For${proxied.length ? ' (' + proxied.join('; ') + ')' : ''}`);
  // behind a proxy that writes Forwarded (RFC 7239, api.forwarded_header)
  // its elements' for nodes are read the same way, and X-Forwarded-For,
  // which such a proxy passes on as a client wrote it, is never read (nor
  // Forwarded by a server reading X-Forwarded-For)
  const pageAt = (at, from, headers) => new Promise((resolve, reject) => {
    const req = http.get(`${at}/assets/checkout.css`, { localAddress: from, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
  });
  // first, while the first serve's flood of 127.0.0.1 is fresh (its
  // bucket refills a request a second)
  const readsXff = [base, '127.0.0.3', { Forwarded: 'for=198.51.100.6', 'X-Forwarded-For': '127.0.0.1' }, 429,
    'a server reading X-Forwarded-For: Forwarded not read'];
  const xffGot = await pageAt(readsXff[0], readsXff[1], readsXff[2]);
  const fwdPort = await rig.freePort();
  const fwdBase = `http://127.0.0.1:${fwdPort}`;
  const fwdCfg = rig.writeConfig(fs.mkdtempSync(path.join(work, 'fwd')), { ...cfgObj,
    api: { ...cfgObj.api, listen: `127.0.0.1:${fwdPort}`, rate_limit: { per_second: 1, burst: 3 },
      trusted_proxies: ['127.0.0.3/32'], forwarded_header: 'Forwarded' } });
  const sv2 = rig.startPaywatch(bin, ['serve', '-c', fwdCfg]);
  await rig.waitFor('the second serve to listen', async () => (await fetch(`${fwdBase}/healthz`).catch(() => null))?.status === 200, 15000);
  const flood2 = [];
  for (let i = 0; i < 10; i++) flood2.push(await pageAt(fwdBase, '127.0.0.1', {}));
  rig.check(flood2.includes(429), `the second serve: 127.0.0.1's flood refused (${flood2})`);
  const viaForwarded = [
    [fwdBase, '127.0.0.3', { Forwarded: 'for=127.0.0.1' }, 429, 'Forwarded through the proxy, the flooded client'],
    [fwdBase, '127.0.0.3', { Forwarded: 'for=198.51.100.1;proto=https, for=127.0.0.1' }, 429,
      'the flooded client naming another address to the left of its own'],
    [fwdBase, '127.0.0.3', { Forwarded: 'for=127.0.0.1, for="[2001:db8::1]:4711";by=127.0.0.3' }, 200,
      'another client (IPv6, quoted, a port)'],
    [fwdBase, '127.0.0.3', { Forwarded: 'for=198.51.100.3', 'X-Forwarded-For': '127.0.0.1' }, 200,
      'X-Forwarded-For beside Forwarded: not read'],
    [fwdBase, '127.0.0.3', { Forwarded: 'for=127.0.0.1', 'X-Forwarded-For': '198.51.100.4' }, 429,
      'Forwarded read, X-Forwarded-For not'],
    [fwdBase, '127.0.0.1', { Forwarded: 'for=198.51.100.5' }, 429, 'Forwarded from a peer that is no trusted proxy: ignored'],
  ];
  const forwardedWrong = xffGot === readsXff[3] ? [] : [`${readsXff[4]}: ${xffGot}, not ${readsXff[3]}`];
  for (const [at, from, headers, want, what] of viaForwarded) {
    const got = await pageAt(at, from, headers);
    if (got !== want) forwardedWrong.push(`${what}: ${got}, not ${want}`);
  }
  rig.check(forwardedWrong.length === 0, `checkout pages behind a proxy writing Forwarded: the client read from its for nodes${forwardedWrong.length ? ' (' + forwardedWrong.join('; ') + ')' : ''}`);
  sv2.proc.kill('SIGTERM');
  rig.check((await sv2.done).code === 0, 'the second serve exits 0 on SIGTERM');
  // run has stopped: its report ages past max_report_age_s
  await rig.waitFor('/readyz 503 once run\'s report is stale', async () => (await get('/readyz')).status === 503, 20000);
  r = await get('/readyz');
  rig.check(r.body.status === 'not_ready' && /chain local: last report \d+ s ago/.test(r.body.reasons[0]),
    `/readyz: 503 naming the stale report (${r.text})`);
  // the rules on a report's figures (written as run would: the table is the contract between run and the API)
  const setReport = (fig) => db.query(`UPDATE chain_reports SET updated_at = now(), report = report || $1::jsonb WHERE chain = 'local'`, [JSON.stringify(fig)]);
  await setReport({ lag_blocks: 51 });
  r = await get('/readyz');
  rig.check(r.status === 503 && /51 blocks behind the head \(max_lag_blocks 50\)/.test(r.body.reasons[0]), `lag over max_lag_blocks: 503 (${r.text})`);
  await setReport({ lag_blocks: 50, outbox_oldest_age_s: 61 });
  r = await get('/readyz');
  rig.check(r.status === 503 && /outbox's oldest entry is 61 s old/.test(r.body.reasons[0]), `an old outbox entry: 503 (${r.text})`);
  await setReport({ lag_blocks: 50, outbox_oldest_age_s: 60 });
  r = await get('/readyz');
  rig.check(r.status === 200, `at the limits: ready (${r.text})`);
  // Postgres down: 503 with Retry-After, no detail; back up: answers again
  await db.end();
  pg.stop();
  r = await get('/v1/payments?limit=1', admin.key);
  rig.check(r.status === 503 && r.headers.get('retry-after') === '1' && r.body.error.code === 'unavailable' &&
    !/postgres|password|127\.0\.0\.1/i.test(r.text), `Postgres down: 503 with Retry-After (${r.status} ${r.text.slice(0, 100)})`);
  r = await get('/healthz');
  rig.check(r.status === 200, '/healthz still 200: the process answers');
  r = await get('/readyz');
  rig.check(r.status === 503 && r.body.reasons.includes('postgres: not answering'), `/readyz: 503 while Postgres is down (${r.text})`);
  pg.start();
  await rig.waitFor('the API to answer again', async () => (await get('/v1/payments?limit=1', admin.key)).status === 200, 20000);
  sv.proc.kill('SIGTERM');
  rig.check((await sv.done).code === 0, 'serve exits 0 on SIGTERM');
  const logs = pw.stderr + sv.stderr;
  rig.check(![admin.key, acmeKey.key, limited.key].some((k) => logs.includes(k)), 'no key in any log');
  // the kinds of answer (route and status) this test asks for, each once or
  // more: 16. (A count of all answers counted the polls too: 137 alone,
  // 90 once beside a CPU load, under a bound of 100.)
  rig.check(contract.stats.kinds.size >= 16 && contract.stats.failures.length === 0,
    `every response (${contract.stats.checked}, ${contract.stats.kinds.size} kinds) matches api/openapi.yaml${contract.stats.failures.length ? ': ' + contract.stats.failures.slice(0, 3).join(' | ') : ''}`);
  const noApi = rig.writeConfig(fs.mkdtempSync(path.join(work, 'noapi')), { ...cfgObj, api: undefined });
  r = rig.runPaywatchSync(bin, ['serve', '-c', noApi]);
  rig.check(r.status === 2 && /no "api" section/.test(r.stderr), 'serve without an api section exits 2');
}

rig.runTest('e2e_api', main);
