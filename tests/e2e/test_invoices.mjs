// test_invoices.mjs: invoices, the first part of issue 15 (creation, the
// deposit address, idempotency, reads, cancel), against real parts: anvil,
// a throwaway Postgres, `paywatch run` and `paywatch serve`. The xpub is
// ethers's (the test mnemonic's m/44'/60'/0', branch 1).
// Checks: an invoice gets the merchant's next xpub address (ethers's
// address of its index) and an exact EIP-681 URI; the same reference and
// body answers the same invoice, another body is 409; amounts exact (18
// decimals, above 2^200 base units), too many decimals or past 2^256
// refused; a merchant without an xpub is 409; merchant keys are scoped;
// list filters and pages; cancel; amount_paid after a confirmed payment;
// two API servers creating 200 invoices at once never share an address.
// Every answer validated against api/openapi.yaml.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as rig from './lib/rig.mjs';
import { loadContract } from './lib/openapi.mjs';

const { HDNodeWallet, Mnemonic, getAddress } = createRequire(import.meta.url)('ethers');
const bin = process.argv[2];

async function main() {
  const work = rig.workDir('pw-inv-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 2n ** 230n });
  const dai = await rig.deployToken(node, { from: deployer, name: 'Dai', symbol: 'DAI', decimals: 18, supply: 10n ** 30n });
  const account = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase('test test test test test test test test test test test junk'), "m/44'/60'/0'");
  const addr = (i) => account.deriveChild(1).deriveChild(i).address;
  const keyOf = (args) => { const [k, e] = rig.runPaywatchSync(bin, ['api-key', 'new', ...args]).stdout.trim().split('\n'); return { key: k, entry: JSON.parse(e) }; };
  const admin = keyOf([]), shopKey = keyOf(['--merchant', 'shop']), plainKey = keyOf(['--merchant', 'plain']);
  const cfgObj = (port) => ({
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 1,
      tokens: [{ symbol: 'USDC', address: usdc.address, decimals: 6 }, { symbol: 'DAI', address: dai.address, decimals: 18 }] }],
    merchants: [{ id: 'shop', xpub: { key: account.neuter().extendedKey, path: '1/*', chains: ['local'], gap_limit: 20 } },
      { id: 'plain', addresses: { local: ['0x000000000000000000000000000000000000dEaD'] } }],
    api: { listen: `127.0.0.1:${port}`, keys: [admin.entry, shopKey.entry, plainKey.entry], rate_limit: { per_second: 5000, burst: 5000 } },
  });
  const port = await rig.freePort();
  const cfg = rig.writeConfig(work, cfgObj(port));
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  const base = `http://127.0.0.1:${port}`;
  await rig.waitFor('the API', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 20000);
  const contract = await loadContract();
  const call = async (b, method, p, key, body) => {
    const res = await fetch(b + p, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) });
    const text = await res.text();
    let j = null;
    try { j = JSON.parse(text); } catch { /* the contract says */ }
    contract.record(method, p, res.status, res.headers.get('content-type'), j ?? text);
    return { status: res.status, body: j };
  };
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  // run's API answers before its config is in Postgres (503 for an invoice meanwhile)
  await rig.waitFor('the config seeded', async () => (await db.query('SELECT count(*)::int n FROM merchant_xpubs')).rows[0].n === 1, 20000);

  // ---- creation
  const body1 = { chain: 'local', token: 'USDC', amount: '12.50', reference: 'order-1042', metadata: { cart: [1, 2], note: 'ü' } };
  let r = await call(base, 'POST', '/v1/invoices', shopKey.key, body1);
  const inv = r.body;
  const i0 = Number((inv?.path || '').split('/')[1]);
  rig.check(r.status === 201 && /^inv_[A-Za-z0-9_-]{22}$/.test(inv.id) && inv.merchant_id === 'shop' && inv.status === 'new' &&
    inv.amount === '12.5' && inv.amount_paid === '0' && inv.exception === null && inv.address === addr(i0) && inv.path === `1/${i0}` &&
    JSON.stringify(inv.metadata) === JSON.stringify(body1.metadata), `POST /v1/invoices: 201, the next xpub address (${JSON.stringify(inv).slice(0, 200)})`);
  rig.check(inv.payment_uri === `ethereum:${getAddress(usdc.address)}@31337/transfer?address=${addr(i0)}&uint256=12500000`,
    `the EIP-681 URI, exact (${inv.payment_uri})`);
  const ttl = (Date.parse(inv.expires_at) - Date.parse(inv.created_at)) / 1000;
  rig.check(ttl === 900, `expires 900 s after creation by default (${ttl})`);
  r = await call(base, 'POST', '/v1/invoices', shopKey.key, body1);
  rig.check(r.status === 200 && r.body.id === inv.id, 'the same reference and body: 200, the same invoice');
  r = await call(base, 'POST', '/v1/invoices', shopKey.key, { ...body1, amount: '13' });
  rig.check(r.status === 409 && /reference order-1042/.test(r.body.error.message), 'the same reference, another body: 409');
  r = await call(base, 'POST', '/v1/invoices', shopKey.key, { chain: 'local', token: 'DAI', amount: '1.000000000000000001', reference: 'dai-1' });
  const daiInv = r.body;
  rig.check(r.status === 201 && daiInv.amount === '1.000000000000000001' && Number(daiInv.path.split('/')[1]) === i0 + 1 &&
    daiInv.payment_uri.endsWith('&uint256=1000000000000000001'), `18 decimals exact, the next index (${daiInv.amount}, ${daiInv.path})`);
  const big = (2n ** 200n + 7n).toString();
  r = await call(base, 'POST', '/v1/invoices', shopKey.key, { chain: 'local', token: 'USDC', amount: big, reference: 'big' });
  rig.check(r.status === 201 && r.body.amount === big && r.body.payment_uri.endsWith(`&uint256=${big}000000`), 'an amount above 2^200 tokens, exact');
  const row = (await db.query("SELECT amount_raw::text a FROM invoices WHERE reference = 'big'")).rows[0];
  rig.check(row.a === `${big}000000`, 'amount_raw in Postgres exact');
  for (const [b, param] of [[{ ...body1, reference: 'x1', amount: '1.1234567' }, 'amount'], [{ ...body1, reference: 'x2', amount: '1e5' }, 'amount'],
    [{ ...body1, reference: 'x3', amount: '0' }, 'amount'], [{ ...body1, reference: 'x4', token: 'USDT' }, 'token'],
    [{ ...body1, reference: 'x5', chain: 'mars' }, 'chain'], [{ ...body1, reference: 'x6', expires_in_s: 5 }, 'expires_in_s'],
    [{ ...body1, reference: 'x7', metadata: { blob: 'x'.repeat(5000) } }, 'metadata'], [{ ...body1, reference: 'x8', extra: 1 }, 'extra'],
    [{ ...body1, reference: '' }, 'reference'], [{ ...body1, reference: 'x9', amount: (2n ** 256n).toString() }, 'amount']]) {
    r = await call(base, 'POST', '/v1/invoices', shopKey.key, b);
    rig.check(r.status === 400 && r.body?.error?.param === param, `400 naming ${param} (${r.body?.error?.message})`);
  }
  r = await call(base, 'POST', '/v1/invoices', plainKey.key, { ...body1, reference: 'p1' });
  rig.check(r.status === 409 && /no xpub/.test(r.body.error.message), 'a merchant without an xpub: 409');
  r = await call(base, 'POST', '/v1/invoices', admin.key, { ...body1, reference: 'a1' });
  rig.check(r.status === 400 && r.body.error.param === 'merchant_id', 'an admin key names the merchant');
  r = await call(base, 'POST', '/v1/invoices', admin.key, { ...body1, merchant_id: 'shop', reference: 'a1', expires_at: '2030-01-01T00:00:00Z' });
  rig.check(r.status === 201 && r.body.expires_at === '2030-01-01T00:00:00Z', 'an admin key with merchant_id and expires_at');
  r = await call(base, 'POST', '/v1/invoices', admin.key, { ...body1, merchant_id: 'shop', reference: 'a2', expires_at: '2030-02-30T00:00:00Z' });
  rig.check(r.status === 400 && r.body.error.param === 'expires_at', `expires_at on a day February lacks: 400 (${r.status})`);
  // a number past int64 (undefined when cast: the sanitizer build stops on it)
  r = await call(base, 'POST', '/v1/invoices', admin.key, '{"merchant_id":"shop","chain":"local","token":"USDC","amount":"1","reference":"a3","expires_in_s":1e300}');
  rig.check(r.status === 400 && r.body?.error?.param === 'expires_in_s', `expires_in_s 1e300: 400 (${r.status})`);
  // text Postgres would refuse (bytes that are not UTF-8) or that would forge a line (a control
  // character): a 400 naming the field, where the insert failed with a 503 'try again'
  const raw = (before, bytes, after) => Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);
  const head = '{"merchant_id":"shop","chain":"local","token":"USDC","amount":"1",';
  for (const [what, body, param] of [
    ['a reference of bytes that are not UTF-8', raw(head + '"reference":"r-', [0xff, 0xfe], '"}'), 'reference'],
    ['a reference with a control character', head + '"reference":"r-\\u001b[31m"}', 'reference'],
    ['metadata with bytes that are not UTF-8', raw(head + '"reference":"r-m","metadata":{"n":"', [0xc3, 0x28], '"}}'), 'metadata.n']]) {
    r = await call(base, 'POST', '/v1/invoices', admin.key, body);
    rig.check(r.status === 400 && r.body?.error?.param === param, `${what}: 400 naming ${param} (${r.status} ${JSON.stringify(r.body)})`);
  }
  r = await call(base, 'POST', '/v1/invoices', shopKey.key, { ...body1, merchant_id: 'plain', reference: 'z' });
  rig.check(r.status === 403, 'a merchant key for another merchant: 403');

  // ---- reads, cancel
  r = await call(base, 'GET', `/v1/invoices/${inv.id}`, shopKey.key);
  rig.check(r.status === 200 && r.body.id === inv.id, 'GET /v1/invoices/{id}');
  r = await call(base, 'GET', `/v1/invoices/${inv.id}`, plainKey.key);
  rig.check(r.status === 404, 'another merchant\'s invoice: 404');
  r = await call(base, 'GET', '/v1/invoices?reference=order-1042', shopKey.key);
  rig.check(r.status === 200 && r.body.data.length === 1 && r.body.data[0].id === inv.id, 'filtered by reference');
  const seen = [];
  let cursor = null;
  do {
    r = await call(base, 'GET', `/v1/invoices?limit=2${cursor ? '&cursor=' + cursor : ''}`, shopKey.key);
    seen.push(...r.body.data.map((x) => x.id));
    cursor = r.body.next_cursor;
  } while (cursor);
  rig.check(seen.length === 4 && new Set(seen).size === 4, `pages of 2: every invoice once (${seen.length})`);
  // forged cursors Postgres would refuse (microseconds past a bigint, an id of bytes that are not UTF-8): 400
  for (const forged of [Buffer.from('99999999999999999999999/inv_AAAAAAAAAAAAAAAAAAAAAA'),
    Buffer.concat([Buffer.from('1/inv_'), Buffer.alloc(22, 0xff)])]) {
    r = await call(base, 'GET', `/v1/invoices?cursor=${forged.toString('base64url')}`, shopKey.key);
    rig.check(r.status === 400 && r.body?.error?.param === 'cursor', `a forged cursor: 400 naming cursor (${r.status})`);
  }
  r = await call(base, 'POST', `/v1/invoices/${daiInv.id}/cancel`, shopKey.key);
  rig.check(r.status === 200 && r.body.status === 'cancelled', 'cancel a new invoice');
  r = await call(base, 'POST', `/v1/invoices/${daiInv.id}/cancel`, shopKey.key);
  rig.check(r.status === 409, 'cancel it again: 409');
  r = await call(base, 'GET', '/v1/invoices?status=cancelled', admin.key);
  rig.check(r.status === 200 && r.body.data.length === 1 && r.body.data[0].id === daiInv.id, 'filtered by status');

  // ---- the CLI
  const cli = (args) => rig.runPaywatchSync(bin, ['invoices', ...args, '-c', cfg]);
  r = cli(['create', '--merchant', 'shop', '--chain', 'local', '--token', 'DAI', '--amount', '0.5', '--reference', 'cli-1', '--json']);
  const ci = JSON.parse(r.stdout || '{}');
  rig.check(r.status === 0 && ci.amount === '0.5' && ci.address === addr(Number(ci.path.split('/')[1])), `invoices create --json (${r.stderr.trim()})`);
  r = cli(['create', '--merchant', 'shop', '--chain', 'local', '--token', 'DAI', '--amount', '0.5', '--reference', 'cli-1', '--json']);
  rig.check(r.status === 0 && JSON.parse(r.stdout).id === ci.id, 'the same values again: the same invoice');
  r = cli(['create', '--merchant', 'shop', '--chain', 'local', '--token', 'DAI', '--amount', '0.6', '--reference', 'cli-1']);
  rig.check(r.status === 1 && /another body/.test(r.stderr), 'other values for the reference: exit 1');
  r = cli(['create', '--merchant', 'shop', '--chain', 'local', '--token', 'DAI', '--amount', '0.0000000000000000001', '--reference', 'cli-2']);
  rig.check(r.status === 2 && /amount: the token has 18 decimals/.test(r.stderr), 'too many decimals: exit 2');
  r = cli(['show', ci.id]);
  rig.check(r.status === 0 && r.stdout.includes(ci.id) && r.stdout.includes(ci.address), 'invoices show');
  r = cli(['list', '--merchant', 'shop']);
  rig.check(r.status === 0 && /INVOICE\s+MERCHANT/.test(r.stdout) && r.stdout.includes('cli-1'), 'invoices list prints a table');
  r = cli(['cancel', ci.id, '--json']);
  rig.check(r.status === 0 && JSON.parse(r.stdout).status === 'cancelled', 'invoices cancel');

  // ---- paid: amount_paid from the confirmed payment to its address
  await node.receipt(await usdc.transfer(deployer, inv.address, 12500000n));
  await node.mine(1);
  await rig.waitFor('amount_paid', async () => (await call(base, 'GET', `/v1/invoices/${inv.id}`, shopKey.key)).body.amount_paid === '12.5', 20000);
  r = await call(base, 'GET', `/v1/invoices/${inv.id}`, shopKey.key);
  rig.check(r.body.payments.length === 1, `the payment is the invoice's (${JSON.stringify(r.body.payments)})`);

  // ---- 200 invoices from two API servers at once
  const served = await rig.startServe(bin, (port) => rig.writeConfig(fs.mkdtempSync(path.join(work, 'serve')), cfgObj(port)));
  const sv = served.pw, sbase = served.base;
  const many = await Promise.all(Array.from({ length: 200 }, (_, i) =>
    call(i % 2 ? base : sbase, 'POST', '/v1/invoices', shopKey.key, { chain: 'local', token: 'USDC', amount: '1', reference: `bulk-${i}` })));
  const addrs = many.map((x) => x.body?.address);
  rig.check(many.every((x) => x.status === 201) && new Set(addrs).size === 200 && many.every((x) => x.body.address === addr(Number(x.body.path.split('/')[1]))),
    `200 invoices on two servers at once: 200 different addresses, each its index's (${many.filter((x) => x.status !== 201).length} refused)`);
  rig.check(contract.stats.checked > 200 && contract.stats.failures.length === 0,
    `every answer (${contract.stats.checked}) matches api/openapi.yaml${contract.stats.failures.length ? ': ' + contract.stats.failures.slice(0, 2).join(' | ') : ''}`);
  sv.proc.kill('SIGTERM');
  pw.proc.kill('SIGTERM');
  const stopped = await pw.done;
  rig.check(stopped.code === 0, `run stops cleanly (${JSON.stringify(stopped)})`);
}

rig.runTest('e2e_invoices', main);
