// test_endpoints.mjs: webhook endpoints have stable ids, rotate, and go
// only where the config says.
//  1. key rotation: an endpoint with "secrets": [new, old] signs each
//     request once per secret; a receiver that knows only the old one
//     verifies it;
//  2. its URL changed in the config (a rotated token in the path), same
//     id: the deliveries pending on the old URL go to the new one, with
//     the same webhook-id; Postgres never holds either token;
//  3. a row written before endpoint ids (schema 001..005, a full URL)
//     is masked by migration 006 and adopted by the endpoint with that
//     URL: its pending delivery is delivered;
//  4. http_proxy in the environment is ignored; an explicit
//     webhooks.proxy is used as a CONNECT tunnel to the address paywatch
//     resolved and checked, and a private target is refused before the
//     proxy is asked.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';
import { startHttpProxy } from './lib/httpproxy.mjs';

const bin = process.argv[2];
const OLD = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NEW = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

async function dbText(db) { // every text value of every table, to search for secrets
  const tables = (await db.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).rows.map((r) => r.tablename);
  let all = '';
  for (const t of tables) all += (await db.query(`SELECT t::text AS row FROM "${t}" t`)).rows.map((r) => r.row).join('\n');
  return all;
}

async function main() {
  const work = rig.workDir('pw-endpoints-');
  const [pg, node, recv, envProxy, proxy] = await Promise.all([rig.startPostgres(), rig.startAnvil(),
    rig.startReceiver(work, { '/acme/tokenA': OLD, '/acme/tokenB': OLD, '/legacy/tokenL': OLD, '/proxied/tokenP': OLD }),
    startHttpProxy(), startHttpProxy()]);
  rig.onCleanup(() => envProxy.close());
  rig.onCleanup(() => proxy.close());
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const cfgObj = (url, extra = {}) => ({
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 2,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [acme] }, webhooks: [{ id: 'main', url, secrets: [NEW, OLD] }] }],
    webhooks: { allow_private_targets: true, retry_schedule_s: [0, 1, 1, 1, 1, 1, 1, 1, 1, 1], ...extra },
  });
  const cfg = rig.writeConfig(work, cfgObj(recv.base + '/acme/tokenA'));
  const proxyEnv = { http_proxy: envProxy.url, HTTP_PROXY: envProxy.url, https_proxy: envProxy.url, all_proxy: envProxy.url };

  // ---- 3 (set-up first): a database from before endpoint ids
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  await rig.migrateBefore(db, '006');
  const legacyUrl = recv.base + '/legacy/tokenL';
  await db.query(`INSERT INTO merchants (id) VALUES ('acme')`);
  await db.query(`INSERT INTO webhook_endpoints (merchant_id, url, events) VALUES ('acme', $1, '{payment.confirmed}')`, [legacyUrl]);
  await db.query(`INSERT INTO webhook_events (id, type, merchant_id, payload) VALUES ('evt_legacy', 'ping', 'acme', '{"type":"ping"}')`);
  await db.query(`INSERT INTO webhook_deliveries (event_id, endpoint_id) SELECT 'evt_legacy', id FROM webhook_endpoints`);
  const m = rig.runPaywatchSync(bin, ['migrate', '-c', cfg]);
  const fromSix = rig.migrations().filter((n) => n >= '006').length;
  rig.check(m.status === 0 && new RegExp(`${fromSix} migration\\(s\\) applied`).test(m.stderr),
    `migrate applies 006 and later (${m.stderr.trim()})`);
  const legacy = (await db.query('SELECT url, key, url_sha256 FROM webhook_endpoints')).rows[0];
  rig.check(legacy.url === recv.base && legacy.key === null &&
    legacy.url_sha256 === crypto.createHash('sha256').update(legacyUrl).digest('hex'),
    `migration 006 keeps scheme://host:port of a legacy URL (${JSON.stringify(legacy)})`);

  // the legacy row is adopted when the config names its URL (any id)
  const adoptCfg = cfgObj(legacyUrl);
  adoptCfg.merchants[0].webhooks[0].id = 'legacy';
  rig.writeConfig(work, adoptCfg);
  let pw = rig.startPaywatch(bin, ['run', '-c', cfg], proxyEnv);
  await rig.waitFor('the legacy delivery', async () =>
    (await recv.records()).some((r) => r.path === '/legacy/tokenL' && r.id === 'evt_legacy' && r.sig_ok), 30000)
    .catch((e) => rig.check(false, e.message));
  const adopted = (await db.query(`SELECT key, url, url_sha256 FROM webhook_endpoints WHERE key = 'legacy'`)).rows;
  rig.check(adopted.length === 1 && adopted[0].url === recv.base && adopted[0].url_sha256 === null,
    `the legacy row is adopted by the endpoint with its URL (${JSON.stringify(adopted)})`);
  pw.proc.kill('SIGTERM');
  await pw.done;

  // ---- 1. rotation: two signatures, the old secret still verifies
  rig.writeConfig(work, cfgObj(recv.base + '/acme/tokenA'));
  pw = rig.startPaywatch(bin, ['run', '-c', cfg], proxyEnv);
  const pay = async (amount) => node.receipt(await token.transfer(deployer, acme, amount));
  await pay(1n);
  await node.mine(2);
  await rig.waitFor('a delivery signed twice', async () =>
    (await recv.records()).some((r) => r.path === '/acme/tokenA' && r.sig_ok && r.mode === '200'), 30000)
    .catch((e) => rig.check(false, e.message));
  const rec = (await recv.records()).find((r) => r.path === '/acme/tokenA');
  rig.check(rec && rec.sig_ok, 'the receiver that knows only the old secret verifies the request');
  // (libwebsockets may take the node connection through it: that is not a webhook)
  const toReceiver = () => envProxy.seen.filter((x) => x.target.includes(`:${new URL(recv.base).port}`));
  rig.check(toReceiver().length === 0, `http_proxy in the environment is ignored by webhooks (${JSON.stringify(envProxy.seen)})`);

  // ---- 2. the URL rotates (same id): pending deliveries follow it
  await recv.control({ path: '/acme/tokenA', always: '500' });
  await pay(2n);
  await node.mine(2);
  await rig.waitFor('the second payment failing on the old URL', async () =>
    (await recv.records()).filter((r) => r.path === '/acme/tokenA' && r.mode === '500').length >= 1, 30000)
    .catch((e) => rig.check(false, e.message));
  pw.proc.kill('SIGTERM');
  await pw.done;
  const pending = (await db.query(`SELECT d.event_id FROM webhook_deliveries d WHERE d.status = 'pending'`)).rows.map((r) => r.event_id);
  rig.check(pending.length === 1, `one delivery pending on the old URL (${pending})`);
  rig.writeConfig(work, cfgObj(recv.base + '/acme/tokenB'));
  pw = rig.startPaywatch(bin, ['run', '-c', cfg], proxyEnv);
  await rig.waitFor('the pending delivery on the new URL', async () =>
    (await recv.records()).some((r) => r.path === '/acme/tokenB' && r.id === pending[0] && r.sig_ok && r.mode === '200'), 30000)
    .catch((e) => rig.check(false, e.message));
  const eps = (await db.query(`SELECT key, url, active FROM webhook_endpoints ORDER BY id`)).rows;
  rig.check(eps.some((e) => e.key === 'main' && e.active && e.url === recv.base),
    `the endpoint keeps its row, its URL shown as scheme://host:port (${JSON.stringify(eps)})`);
  const stored = await dbText(db);
  rig.check(!/token[ABL]/.test(stored), 'Postgres holds none of the URL tokens');
  pw.proc.kill('SIGTERM');
  const stopped = await pw.done;
  rig.check(stopped.code === 0, `run stops cleanly (${JSON.stringify(stopped)})`);

  // ---- 4. an explicit proxy: a CONNECT tunnel to the checked address
  const viaProxy = cfgObj(recv.base + '/proxied/tokenP', { proxy: proxy.url });
  const pcfg = rig.writeConfig(fs.mkdtempSync(path.join(work, 'p')), viaProxy);
  let r = await rig.runPaywatch(bin, ['webhooks', 'test', '-c', pcfg, '--merchant', 'acme'], proxyEnv);
  rig.check(r.status === 0 && /endpoint main \(http:\/\/127\.0\.0\.1:\d+\): HTTP 200/.test(r.stdout), `webhooks test through the proxy: ${r.stdout}${r.stderr}`);
  rig.check(proxy.seen.some((s) => s.method === 'CONNECT' && s.target === `127.0.0.1:${new URL(recv.base).port}`),
    `the proxy was asked to CONNECT to the resolved address (${JSON.stringify(proxy.seen)})`);
  rig.check((await recv.records()).some((x) => x.path === '/proxied/tokenP' && x.sig_ok), 'the receiver got it through the proxy');
  const before = proxy.seen.length;
  viaProxy.webhooks.allow_private_targets = false;
  rig.writeConfig(path.dirname(pcfg), viaProxy);
  r = await rig.runPaywatch(bin, ['webhooks', 'test', '-c', pcfg, '--merchant', 'acme'], proxyEnv);
  rig.check(r.status === 1 && /resolves to a loopback, private or link-local address/.test(r.stdout),
    `a private target is refused through a proxy too: ${r.stdout}`);
  rig.check(proxy.seen.length === before, 'the proxy was not asked for it');
  rig.check(toReceiver().length === 0, 'the environment proxy never saw a webhook');
  for (const out of [r.stdout, r.stderr]) rig.check(!/token[ABLP]/.test(out), 'no URL token in the output');
}

rig.runTest('e2e_endpoints', main);
