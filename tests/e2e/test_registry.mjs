// test_registry.mjs: the merchant registry in Postgres, followed live
// (issue 14), against real parts: anvil, a throwaway Postgres, `paywatch
// run`, a real webhook receiver (receiver.py verifies signatures itself).
// Checks:
//  1. the config seeds the registry; its rows are refused to the CLI
//     (remove, or another merchant taking its address);
//  2. an address added through the CLI while `run` runs is in the set it
//     matches against within one second (the published set's version and
//     size on /metrics), and its payment is matched; a removed one stops
//     matching at once (a later payment to it is not a payment) and its
//     earlier payment stays;
//  3. an endpoint added through the CLI gets a generated secret, shown
//     once; the next payment is delivered signed with it; no column of
//     Postgres holds the secret or the URL's path; `endpoints list` does
//     not show it; without PAYWATCH_SECRET_KEY it is refused;
//  4. `secrets rotate-key` re-seals under a new key (opened independently
//     with node's AES-256-GCM before), and a run holding the new key,
//     started while Postgres is down, matches the registry's addresses
//     as last loaded and delivers with the same secret once it is back;
//  5. the registry's lists print --json; a merchant removed stops matching;
//  6. the API: merchants, addresses and webhooks created, listed and
//     removed with admin and merchant keys (403 for another's, 409 for a
//     config row or another's address, 400 naming the field of a bad
//     body); an address added is matched within one second; an endpoint
//     added receives the next payment signed with the secret it showed;
//     every answer validated against api/openapi.yaml.
import path from 'node:path';
import crypto from 'node:crypto';
import * as rig from './lib/rig.mjs';
import { loadContract } from './lib/openapi.mjs';

const bin = process.argv[2];
const CONF = 1;
const acme = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const globexA = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const globexB = '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65';
const globexC = '0x976EA74026E726554dB657fA54763abd0C3a0aa9';

const { metricValue } = rig;

async function main() {
  const work = rig.workDir('pw-registry-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const receiver = await rig.startReceiver(work, {});
  const newKey = (args) => {
    const [key, entry] = rig.runPaywatchSync(bin, ['api-key', 'new', ...args]).stdout.trim().split('\n');
    return { key, entry: JSON.parse(entry) };
  };
  const admin = newKey([]), initechKey = newKey(['--merchant', 'initech']);
  const apiPort = await rig.freePort();
  const key1 = crypto.randomBytes(32).toString('hex');
  const key2 = crypto.randomBytes(32).toString('base64');
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: CONF,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [acme] } }],
    webhooks: { allow_private_targets: true, retry_schedule_s: [1, 1, 1] },
    api: { listen: `127.0.0.1:${apiPort}`, keys: [admin.entry, initechKey.entry], rate_limit: { per_second: 1000, burst: 1000 } },
  });
  const env1 = { PAYWATCH_SECRET_KEY: key1 };
  const cli = (args, env = env1) => rig.runPaywatchSync(bin, [...args, '-c', cfg], env);
  rig.check(cli(['migrate']).status === 0, 'migrate');
  let db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));

  // paid before it is anyone's: found later by a rescan from block 0
  await node.receipt(await token.transfer(deployer, globexC, 7001n));
  await node.receipt(await token.transfer(deployer, globexC, 7002n));
  let pw = rig.startPaywatch(bin, ['run', '-c', cfg], env1);
  const metrics = async () => (await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text());
  await rig.waitFor('the registry loaded from Postgres', async () => {
    const m = await metrics().catch(() => '');
    return metricValue(m, 'paywatch_registry_version') >= 2;
  }, 20000);

  // ---- 1. the config seeded it
  let r = cli(['merchants', 'list', '--json']);
  let list = JSON.parse(r.stdout || '{}');
  rig.check(r.status === 0 && list.data?.length === 1 && list.data[0].id === 'acme' && list.data[0].origin === 'config' &&
    list.data[0].addresses === 1, `merchants list --json: acme from the config (${r.stdout.trim()})`);
  r = cli(['addresses', 'remove', '--merchant', 'acme', '--chain', 'local', acme]);
  rig.check(r.status === 1 && /named by the config/.test(r.stderr), `a config address is not removed by the CLI (${r.stderr.trim()})`);
  r = cli(['merchants', 'remove', 'acme']);
  rig.check(r.status === 1 && /named by the config/.test(r.stderr), 'a config merchant is not removed by the CLI');

  // ---- 2. an address added while run runs
  r = cli(['merchants', 'add', 'globex']);
  rig.check(r.status === 0 && /globex added/.test(r.stdout), `merchants add globex (${r.stdout.trim()}${r.stderr.trim()})`);
  r = cli(['addresses', 'add', '--merchant', 'globex', '--chain', 'local', acme]);
  rig.check(r.status === 1 && /belongs to another merchant/.test(r.stderr) && !/acme/.test(r.stderr),
    `another merchant's address is refused, without naming it (${r.stderr.trim()})`);
  r = cli(['addresses', 'add', '--merchant', 'globex', '--chain', 'local', 'not-an-address']);
  rig.check(r.status === 2 && /address: not a evm address on chain local/.test(r.stderr), 'a bad address is refused (exit 2)');
  r = cli(['addresses', 'add', '--merchant', 'globex', '--chain', 'nochain', globexA]);
  rig.check(r.status === 2 && /no chain "nochain"/.test(r.stderr), 'an unknown chain is refused (exit 2)');
  const before = metricValue(await metrics(), 'paywatch_registry_version');
  const t0 = Date.now();
  r = cli(['addresses', 'add', '--merchant', 'globex', '--chain', 'local', globexA.toLowerCase()]);
  const tAdded = Date.now();
  rig.check(r.status === 0 && /added for merchant globex/.test(r.stdout), `addresses add (${r.stdout.trim()}${r.stderr.trim()})`);
  let tSeen = 0;
  await rig.waitFor('the set with globex\'s address', async () => {
    const m = await metrics();
    if (metricValue(m, 'paywatch_registry_version') > before && metricValue(m, 'paywatch_registry_addresses') === 2) {
      tSeen = Date.now();
      return true;
    }
    return false;
  }, 10000, 10);
  rig.check(tSeen - tAdded < 1000, `the running run matches against it ${tSeen - tAdded} ms after the CLI returned (command took ${tAdded - t0} ms; required: within one second)`);
  await node.receipt(await token.transfer(deployer, globexA, 1234567n));
  await node.mine(CONF);
  await rig.waitFor('globex\'s payment', async () =>
    (await db.query("SELECT count(*)::int n FROM payments WHERE merchant_id = 'globex'")).rows[0].n === 1, 20000);
  const p1 = (await db.query("SELECT amount_raw::text a, to_address FROM payments WHERE merchant_id = 'globex'")).rows[0];
  rig.check(p1.a === '1234567' && p1.to_address === globexA.toLowerCase(), `the payment is globex's, exact (${JSON.stringify(p1)})`);
  r = cli(['addresses', 'list', '--merchant', 'globex', '--json']);
  list = JSON.parse(r.stdout || '{}');
  rig.check(r.status === 0 && list.data?.length === 1 && list.data[0].address === globexA.toLowerCase() && list.data[0].origin === 'registry',
    `addresses list --json (${r.stdout.trim()})`);
  r = cli(['addresses', 'list', '--merchant', 'globex']);
  rig.check(r.status === 0 && /CHAIN\s+ADDRESS/.test(r.stdout) && r.stdout.includes(globexA.toLowerCase()), 'addresses list prints a table');

  // removed: stops matching at once
  r = cli(['addresses', 'remove', '--merchant', 'globex', '--chain', 'local', globexA]);
  rig.check(r.status === 0 && /removed/.test(r.stdout), `addresses remove (${r.stdout.trim()}${r.stderr.trim()})`);
  await rig.waitFor('the set without it', async () => metricValue(await metrics(), 'paywatch_registry_addresses') === 1, 10000, 10);
  await node.receipt(await token.transfer(deployer, globexA, 555n));
  await node.receipt(await token.transfer(deployer, acme, 777n)); // a marker after it
  await node.mine(CONF);
  await rig.waitFor('acme\'s marker payment', async () =>
    (await db.query("SELECT count(*)::int n FROM payments WHERE amount_raw = 777")).rows[0].n === 1, 20000);
  const g = (await db.query("SELECT amount_raw::text a FROM payments WHERE merchant_id = 'globex' ORDER BY id")).rows.map((x) => x.a);
  rig.check(JSON.stringify(g) === '["1234567"]', `after removal no payment to it is matched; the earlier one stays (${g})`);

  // added with --from-block: its earlier payments are found, with their events
  r = cli(['addresses', 'add', '--merchant', 'globex', '--chain', 'local', globexC, '--from-block', '0']);
  rig.check(r.status === 0 && /history from block 0 is scanned/.test(r.stdout), `addresses add --from-block 0 (${r.stdout.trim()}${r.stderr.trim()})`);
  await node.mine(2); // the rescan waits for the head it starts from to be confirmed
  await rig.waitFor('the rescan of globexC', async () =>
    (await db.query("SELECT status FROM address_rescans WHERE address = $1", [globexC.toLowerCase()])).rows[0]?.status === 'done', 30000);
  const resc = (await db.query("SELECT p.amount_raw::text a, p.merchant_id, (SELECT count(*)::int FROM event_feed f WHERE f.payment_id = p.id AND f.type = 'payment.confirmed') ev FROM payments p WHERE p.to_address = $1 ORDER BY p.block_number", [globexC.toLowerCase()])).rows;
  rig.check(JSON.stringify(resc) === JSON.stringify([{ a: '7001', merchant_id: 'globex', ev: 1 }, { a: '7002', merchant_id: 'globex', ev: 1 }]),
    `the payments before it was added are found by the rescan, globex's, each with its event (${JSON.stringify(resc)})`);
  const rrow = (await db.query("SELECT found, inserted, to_block FROM address_rescans WHERE address = $1", [globexC.toLowerCase()])).rows[0];
  rig.check(rrow.found === 2 && rrow.inserted === 2 && rrow.to_block > 0, `the rescan row: found 2, inserted 2, up to block ${rrow.to_block}`);
  r = cli(['addresses', 'remove', '--merchant', 'globex', '--chain', 'local', globexC]);
  rig.check(r.status === 0, 'globexC removed again');
  await rig.waitFor('the set without globexC', async () => metricValue(await metrics(), 'paywatch_registry_addresses') === 1, 10000, 10);

  // ---- 3. an endpoint added through the CLI
  r = cli(['endpoints', 'add', '--merchant', 'globex', '--url', `${receiver.base}/globex?token=tok-secret-123`], {});
  rig.check(r.status === 2 && /PAYWATCH_SECRET_KEY is not set/.test(r.stderr), `without PAYWATCH_SECRET_KEY an endpoint is refused (${r.stderr.trim()})`);
  r = cli(['endpoints', 'add', '--merchant', 'globex', '--id', 'main', '--url', `${receiver.base}/globex?token=tok-secret-123`, '--json']);
  const ep = JSON.parse(r.stdout || '{}');
  rig.check(r.status === 0 && ep.id === 'main' && /^whsec_[A-Za-z0-9+/]{43}=$/.test(ep.secret) &&
    Buffer.from(ep.secret.slice(6), 'base64').length === 32, `endpoints add: whsec_ + 32 random bytes, shown once (${(r.stdout + r.stderr).replace(ep.secret, 'whsec_…').trim()})`);
  rig.check(ep.url === receiver.base && !JSON.stringify(ep).includes('tok-secret-123'), 'its URL is shown as scheme://host:port only');
  await receiver.control({ path: '/globex?token=tok-secret-123', secret: ep.secret });
  r = cli(['addresses', 'add', '--merchant', 'globex', '--chain', 'local', globexB]);
  rig.check(r.status === 0, 'a second address for globex');
  await rig.waitFor('the set with it', async () => metricValue(await metrics(), 'paywatch_registry_addresses') === 2, 10000, 10);
  await node.receipt(await token.transfer(deployer, globexB, 4242n));
  await node.mine(CONF);
  await rig.waitFor('the webhook at the registry endpoint', async () =>
    (await receiver.records()).some((x) => x.path.startsWith('/globex') && x.body.includes('"4242"')), 20000);
  let recs = (await receiver.records()).filter((x) => x.path.startsWith('/globex'));
  rig.check(recs.length >= 1 && recs.every((x) => x.sig_ok && x.fresh) && recs[0].path === '/globex?token=tok-secret-123',
    `delivered to the full URL, signed with the secret shown at creation (${recs.map((x) => x.sig_ok)})`);
  const dump = JSON.stringify((await db.query('SELECT * FROM webhook_endpoints')).rows);
  const secretB64 = ep.secret.slice(6);
  rig.check(!dump.includes(secretB64) && !dump.includes('tok-secret-123') && !dump.includes('/globex') && /pw1:[0-9a-f]{16}:/.test(dump),
    'SELECT * FROM webhook_endpoints holds neither the secret nor the URL\'s path and token: only sealed texts');
  // the sealed text opened by an independent AES-256-GCM (node's crypto):
  // pw1:KEYID:base64(nonce | ciphertext | tag), bound to the row
  const row = (await db.query("SELECT secret_sealed, url_sealed, key_id FROM webhook_endpoints WHERE key = 'main'")).rows[0];
  const open = (sealed, field) => {
    const raw = Buffer.from(sealed.split(':')[2], 'base64');
    const d = crypto.createDecipheriv('aes-256-gcm', Buffer.from(key1, 'hex'), raw.subarray(0, 12));
    d.setAAD(Buffer.from(`webhook_endpoints/globex/main/${field}`));
    d.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString();
  };
  const keyId = crypto.createHash('sha256').update(Buffer.concat([Buffer.from('paywatch secret key id'), Buffer.from(key1, 'hex')])).digest('hex').slice(0, 16);
  rig.check(open(row.secret_sealed, 'secret') === ep.secret && open(row.url_sealed, 'url') === `${receiver.base}/globex?token=tok-secret-123` &&
    row.key_id === keyId, 'the sealed secret and URL open with node\'s AES-256-GCM under the key, bound to the endpoint');
  r = cli(['endpoints', 'list', '--merchant', 'globex', '--json']);
  rig.check(r.status === 0 && !r.stdout.includes(secretB64) && !r.stdout.includes('tok-secret') && JSON.parse(r.stdout).data[0].active === true,
    'endpoints list shows neither');
  rig.check(!pw.stderr.includes(secretB64) && !pw.stderr.includes('tok-secret-123'), 'nor does run\'s log');
  // `webhooks test` pings the registry's endpoints too, opened with the key
  r = rig.runPaywatchSync(bin, ['webhooks', 'test', '-c', cfg, '--merchant', 'globex'], env1);
  const pings = (await receiver.records()).filter((x) => x.path === '/globex?token=tok-secret-123' && x.body.includes('"type":"ping"'));
  rig.check(r.status === 0 && r.stdout.trim() === `endpoint main (${receiver.base}): HTTP 200 (ok)` && pings.length === 1 &&
    pings[0].sig_ok && pings[0].fresh && !(r.stdout + r.stderr).includes('tok-secret'),
    `webhooks test of a registry merchant: a ping signed with its secret, to its full URL, shown by host only (${r.status}: ${r.stdout.trim()} ${r.stderr.trim()})`);
  r = rig.runPaywatchSync(bin, ['webhooks', 'test', '-c', cfg, '--merchant', 'globex'], {});
  rig.check(r.status === 1 && /endpoint main of merchant globex: cannot open/.test(r.stderr) && /1 endpoint\(s\) of the registry not opened/.test(r.stderr) &&
    !(r.stdout + r.stderr).includes('tok-secret') && !(r.stdout + r.stderr).includes(secretB64),
    `without the key: exit 1, the endpoint named, nothing of it shown (${r.stderr.trim()})`);
  r = rig.runPaywatchSync(bin, ['webhooks', 'test', '-c', cfg, '--merchant', 'initech'], env1);
  rig.check(r.status === 1 && /merchant initech has no webhook endpoint/.test(r.stderr), `a merchant without endpoints: exit 1 saying so (${r.stderr.trim()})`);

  // ---- 4. rotate the key
  pw.proc.kill('SIGTERM');
  await pw.done;
  const kid1 = (await db.query("SELECT key_id FROM webhook_endpoints WHERE key = 'main'")).rows[0].key_id;
  r = cli(['secrets', 'rotate-key', '--json'], { PAYWATCH_SECRET_KEY: key2 });
  rig.check(r.status === 1 && /cannot open/.test(r.stderr) && !r.stderr.includes(secretB64), `rotate-key without the old key: exit 1, the row named (${r.stderr.trim().split('\n')[0]})`);
  r = cli(['secrets', 'rotate-key', '--json'], { PAYWATCH_SECRET_KEY: key2, PAYWATCH_SECRET_KEY_OLD: key1 });
  const rot = JSON.parse(r.stdout || '{}');
  const kid2 = (await db.query("SELECT key_id FROM webhook_endpoints WHERE key = 'main'")).rows[0].key_id;
  rig.check(r.status === 0 && rot.resealed === 1 && rot.failed === 0 && kid2 === rot.key_id && kid2 !== kid1,
    `rotate-key re-seals the endpoint under the new key (${r.stdout.trim()}; ${kid1} -> ${kid2})`);
  // a start while Postgres is away matches the registry as last loaded
  // (kept in the store), not the config's addresses alone
  pg.stop();
  pw = rig.startPaywatch(bin, ['run', '-c', cfg], { PAYWATCH_SECRET_KEY: key2 });
  await rig.waitFor('the kept registry in use', () => /matching the registry as last loaded \(2 address\(es\)\)/.test(pw.stderr), 30000);
  await node.receipt(await token.transfer(deployer, globexB, 4343n));
  await node.mine(CONF);
  await rig.waitFor('the outbox to hold it', () => /outbox: \d+ payment\(s\) waiting for Postgres/.test(pw.stderr), 30000);
  pg.start();
  db = await pg.client(); // the old session ended with the server
  rig.onCleanup(() => db.end().catch(() => {}));
  await rig.waitFor('the webhook after the rotation', async () =>
    (await receiver.records()).some((x) => x.path.startsWith('/globex') && x.body.includes('"4343"')), 20000);
  recs = (await receiver.records()).filter((x) => x.body.includes('"4343"'));
  rig.check(recs.every((x) => x.sig_ok), 'after the rotation: signed with the same secret');

  // ---- 5. a merchant removed
  r = cli(['merchants', 'list']);
  rig.check(r.status === 0 && /globex\s+registry\s+1\s+1/.test(r.stdout), `merchants list prints a table (${r.stdout.trim()})`);
  r = cli(['merchants', 'remove', 'globex']);
  rig.check(r.status === 0, 'merchants remove globex');
  await rig.waitFor('the set without globex', async () => metricValue(await metrics(), 'paywatch_registry_addresses') === 1, 10000, 10);
  r = cli(['endpoints', 'list', '--merchant', 'globex']);
  rig.check(r.status === 1 && /no such merchant/.test(r.stderr), 'a removed merchant is gone from the lists');
  const e = (await db.query("SELECT active FROM webhook_endpoints WHERE key = 'main'")).rows[0];
  rig.check(e.active === false, 'its endpoint is inactive (its deliveries stay)');
  r = cli(['merchants', 'add', 'globex']);
  rig.check(r.status === 0 && /added/.test(r.stdout), 'a removed merchant can be added again');

  // ---- 6. the same through the API (admin and merchant keys), every answer
  // validated against api/openapi.yaml
  const contract = await loadContract();
  const api = `http://127.0.0.1:${apiPort}`;
  await rig.waitFor('the API', async () => (await fetch(`${api}/healthz`).catch(() => null))?.status === 200, 15000);
  const call = async (method, p, key, body) => {
    const res = await fetch(api + p, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) });
    const text = await res.text();
    let parsed = null;
    try { parsed = JSON.parse(text); } catch { /* checked by the contract */ }
    contract.record(method, p, res.status, res.headers.get('content-type'), parsed ?? text);
    return { status: res.status, body: parsed, headers: res.headers };
  };
  const initech = '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc';
  await node.receipt(await token.transfer(deployer, initech, 5555n)); // before it is initech's: from_block 0 finds it
  r = await call('POST', '/v1/merchants', initechKey.key, { id: 'other' });
  rig.check(r.status === 403, `a merchant key does not create merchants (${r.status})`);
  r = await call('POST', '/v1/merchants', admin.key, { id: 'initech' });
  rig.check(r.status === 201 && r.body.id === 'initech' && r.body.origin === 'registry', `POST /v1/merchants: 201 (${JSON.stringify(r.body)})`);
  r = await call('POST', '/v1/merchants', admin.key, { id: 'initech' });
  rig.check(r.status === 200, 'again: 200, unchanged');
  for (const [body, param] of [['{"id":', null], [{ id: 'a b' }, 'id'], [{ id: 'x', extra: 1 }, 'extra'], [[1], null]]) {
    r = await call('POST', '/v1/merchants', admin.key, body);
    rig.check(r.status === 400 && r.body?.error?.param === param, `a bad body is a 400 naming ${param} (${JSON.stringify(r.body)})`);
  }
  r = await call('PUT', '/v1/merchants', admin.key);
  rig.check(r.status === 405 && r.headers.get('allow') === 'GET, HEAD, POST', `PUT /v1/merchants: 405, Allow: ${r.headers.get('allow')}`);
  r = await call('GET', '/v1/merchants', initechKey.key);
  rig.check(r.status === 200 && r.body.data.length === 1 && r.body.data[0].id === 'initech', 'a merchant key lists its own merchant only');
  r = await call('GET', '/v1/merchants', admin.key);
  rig.check(r.status === 200 && r.body.data.map((x) => x.id).join() === 'acme,globex,initech', `an admin key lists every merchant (${r.body?.data?.map((x) => x.id)})`);
  r = await call('GET', '/v1/merchants/acme', initechKey.key);
  rig.check(r.status === 403, 'another merchant: 403');
  r = await call('GET', '/v1/merchants/nobody', admin.key);
  rig.check(r.status === 404, 'no such merchant: 404');

  for (const [body, param] of [[{ chain: 'local' }, 'address'], [{ chain: 'nochain', address: initech }, 'chain'],
    [{ chain: 'local', address: '0x12' }, 'address'], [{ chain: 'local', address: initech, from_block: -1 }, 'from_block'],
    [{ chain: 'local', address: initech, from_block: 1.5 }, 'from_block']]) {
    r = await call('POST', '/v1/merchants/initech/addresses', initechKey.key, body);
    rig.check(r.status === 400 && r.body?.error?.param === param, `POST addresses ${JSON.stringify(body).slice(0, 60)}: 400 naming ${param} (${r.body?.error?.message})`);
  }
  r = await call('POST', '/v1/merchants/initech/addresses', initechKey.key, { chain: 'local', address: acme });
  rig.check(r.status === 409 && !/acme/.test(r.body.error.message), `another merchant's address: 409, its owner not named (${r.body.error.message})`);
  const v0 = metricValue(await metrics(), 'paywatch_registry_version');
  r = await call('POST', '/v1/merchants/initech/addresses', initechKey.key, { chain: 'local', address: initech, from_block: 0 });
  const tApi = Date.now();
  rig.check(r.status === 201 && r.body.address === initech.toLowerCase() && r.body.from_block === 0, `POST addresses: 201 with a merchant key (${JSON.stringify(r.body)})`);
  let tApiSeen = 0;
  await rig.waitFor('the set with initech\'s address', async () => {
    const m = await metrics();
    if (metricValue(m, 'paywatch_registry_version') > v0 && metricValue(m, 'paywatch_registry_addresses') === 2) { tApiSeen = Date.now(); return true; }
    return false;
  }, 10000, 10);
  rig.check(tApiSeen - tApi < 1000, `run matches against it ${tApiSeen - tApi} ms after the API answered (required: within one second)`);
  r = await call('POST', '/v1/merchants/initech/webhooks', initechKey.key, { url: `${receiver.base}/initech`, events: ['payment.confirmed'] });
  rig.check(r.status === 201 && /^ep_[0-9a-f]{12}$/.test(r.body.id) && /^whsec_/.test(r.body.secret) && r.body.events.join() === 'payment.confirmed',
    `POST webhooks: 201, a generated id and secret (${r.body?.id})`);
  const apiSecret = r.body.secret, epId = r.body.id;
  await receiver.control({ path: '/initech', secret: apiSecret });
  r = await call('POST', '/v1/merchants/initech/webhooks', initechKey.key, { url: 'ftp://x', events: ['payment.confirmed'] });
  rig.check(r.status === 400 && r.body.error.param === 'url', 'a bad URL: 400 naming url');
  r = await call('POST', '/v1/merchants/initech/webhooks', initechKey.key, { url: `${receiver.base}/x`, events: ['payment.nope'] });
  rig.check(r.status === 400 && r.body.error.param === 'events', 'an unknown event type: 400 naming events');
  r = await call('POST', '/v1/merchants/initech/webhooks', initechKey.key, { id: epId, url: `${receiver.base}/x` });
  rig.check(r.status === 409, 'an id in use: 409');
  // bodies whose text is not UTF-8, in each field the registry stores or looks up: a 4xx naming
  // it, never the 503 of a query Postgres refused
  const notUtf8 = (json) => Buffer.from(json.replace('<FF>', '\u00ff'), 'latin1');
  for (const [p, body] of [['/v1/merchants', '{"id":"m-<FF>"}'], ['/v1/merchants/initech/addresses', '{"chain":"local","address":"0x<FF>"}'],
    ['/v1/merchants/initech/addresses', '{"chain":"lo<FF>","address":"0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"}'],
    ['/v1/merchants/initech/webhooks', `{"id":"e<FF>","url":"${receiver.base}/x"}`],
    ['/v1/merchants/initech/webhooks', '{"url":"https://h<FF>.example/x"}'],
    ['/v1/merchants/initech/deposit-addresses', '{"chain":"lo<FF>"}']]) {
    r = await call('POST', p, admin.key, notUtf8(body));
    rig.check(r.status >= 400 && r.status < 500 && r.body?.error, `POST ${p} ${body}: ${r.status}, not a 5xx (${JSON.stringify(r.body)})`);
  }
  r = await call('GET', '/v1/merchants/initech/webhooks', initechKey.key);
  rig.check(r.status === 200 && r.body.data.length === 1 && !JSON.stringify(r.body).includes(apiSecret.slice(6)), 'GET webhooks: never the secret');
  await node.receipt(await token.transfer(deployer, initech, 31337n));
  await node.mine(CONF);
  await rig.waitFor('initech\'s webhook', async () => (await receiver.records()).some((x) => x.path === '/initech'), 20000);
  recs = (await receiver.records()).filter((x) => x.path === '/initech' && JSON.parse(x.body).data.amount_raw === '31337');
  rig.check(recs.length === 1 && recs[0].sig_ok,
    'the endpoint added through the API receives the payment, signed with the secret shown at creation');
  await node.mine(2);
  await rig.waitFor('the rescan of initech\'s address (from_block 0)', async () =>
    (await db.query("SELECT status FROM address_rescans WHERE merchant_id = 'initech'")).rows[0]?.status === 'done', 30000);
  const early = (await db.query("SELECT merchant_id FROM payments WHERE to_address = $1 AND amount_raw = 5555", [initech.toLowerCase()])).rows;
  rig.check(early.length === 1 && early[0].merchant_id === 'initech', 'POST addresses with from_block 0: the payment before it was added is found');
  // replay matches the registry's addresses as run does: a registry merchant's row deleted comes
  // back, and no row of theirs counts as unwatched
  const replayJson = (args) => {
    const x = rig.runPaywatchSync(bin, ['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(1e6), '--json', ...args]);
    let j = null;
    try { j = JSON.parse(x.stdout); } catch { /* checked below */ }
    return { status: x.status, j, stderr: x.stderr };
  };
  const gone = (await db.query("SELECT id FROM payments WHERE merchant_id = 'initech' AND amount_raw = 5555")).rows[0].id;
  await db.query('DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM webhook_events WHERE payment_id = $1)', [gone]);
  await db.query('DELETE FROM webhook_events WHERE payment_id = $1', [gone]);
  await db.query('DELETE FROM payments WHERE id = $1', [gone]);
  const count = async (where) => (await db.query(`SELECT count(*)::int n FROM payments WHERE chain = 'local' AND status = 'confirmed'${where}`)).rows[0].n;
  const rowsNow = await count(''), initechRows = await count(" AND merchant_id = 'initech'");
  let rp = replayJson(['--dry-run']);
  rig.check(rp.status === 0 && rp.j && rp.j.missing === 1 && rp.j.present + rp.j.unwatched_rows === rowsNow,
    `replay --dry-run: initech's deleted row missing (${rp.j?.missing}), the others present or of removed addresses (${rp.j?.present} + ${rp.j?.unwatched_rows} of ${rowsNow}) ${rp.stderr.trim().split('\n').pop()}`);
  rp = replayJson(['--dry-run', '--merchant', 'initech']);
  rig.check(rp.status === 0 && rp.j && rp.j.missing === 1 && rp.j.present === initechRows && rp.j.unwatched_rows === 0,
    `replay --dry-run --merchant initech: its address watched (present ${rp.j?.present} of ${initechRows}, unwatched ${rp.j?.unwatched_rows}), the deleted row missing`);
  rp = replayJson(['--merchant', 'initech']);
  const back = (await db.query("SELECT merchant_id FROM payments WHERE amount_raw = 5555")).rows;
  rig.check(rp.status === 0 && rp.j?.inserted === 1 && back.length === 1 && back[0].merchant_id === 'initech',
    `replay --merchant initech (a merchant of the registry): its row inserted again (${rp.j?.inserted}) ${rp.stderr.trim().split('\n').pop()}`);
  rp = replayJson(['--merchant', 'nosuch']);
  rig.check(rp.status === 2 && /no such merchant in .*, nor one with an address on chain local in the registry/.test(rp.stderr), `replay --merchant of neither: exit 2 (${rp.stderr.trim()})`);
  r = await call('GET', '/v1/merchants/initech/addresses?chain=local&limit=1', initechKey.key);
  rig.check(r.status === 200 && r.body.data.length === 1 && r.body.next_cursor === `local/${initech.toLowerCase()}`, 'GET addresses: a page');
  r = await call('GET', `/v1/merchants/initech/addresses?cursor=${encodeURIComponent(r.body.next_cursor)}`, initechKey.key);
  rig.check(r.status === 200 && r.body.data.length === 0 && r.body.next_cursor === null, 'the page after the last is empty');
  r = await call('GET', '/v1/merchants/initech/addresses?cursor=%27%3B', initechKey.key);
  rig.check(r.status === 400 && r.body.error.param === 'cursor', 'a bad cursor: 400');
  r = await call('DELETE', `/v1/merchants/initech/addresses/local/${initech}`, initechKey.key);
  rig.check(r.status === 200 && r.body.removed === true, 'DELETE the address (any letter case): 200');
  r = await call('DELETE', `/v1/merchants/initech/addresses/local/${initech}`, initechKey.key);
  rig.check(r.status === 404, 'again: 404');
  r = await call('DELETE', `/v1/merchants/acme/addresses/local/${acme}`, admin.key);
  rig.check(r.status === 409, 'a config address: 409');
  r = await call('DELETE', `/v1/merchants/initech/webhooks/${epId}`, initechKey.key);
  rig.check(r.status === 200, 'DELETE the endpoint: 200');
  r = await call('DELETE', '/v1/merchants/initech', initechKey.key);
  rig.check(r.status === 403, 'a merchant key does not remove its merchant');
  r = await call('DELETE', '/v1/merchants/initech', admin.key);
  rig.check(r.status === 200, 'an admin key does');
  rig.check(contract.stats.checked >= 30 && contract.stats.failures.length === 0,
    `every answer (${contract.stats.checked}) matches api/openapi.yaml${contract.stats.failures.length ? ': ' + contract.stats.failures.slice(0, 3).join(' | ') : ''}`);
  rig.check(!pw.stderr.includes(apiSecret.slice(6)), 'the secret is in no log line');

  pw.proc.kill('SIGTERM');
  const exit = await pw.done;
  rig.check(exit.code === 0, `run stops cleanly (${JSON.stringify(exit)})`);
}

rig.runTest('e2e_registry', main);
