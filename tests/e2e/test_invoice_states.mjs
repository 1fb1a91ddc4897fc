// test_invoice_states.mjs: the invoice state machine of issue 15 against
// real parts: anvil, a throwaway Postgres, two `paywatch run`s (one chain,
// two data dirs, one Postgres), a real HTTP receiver checking Standard
// Webhooks signatures. One invoice per path:
//   exact        new -> processing (seen, 3 confirmations to go) -> paid
//   multiple     18 decimals, paid in two transfers -> paid, multiple
//   overpaid     above 2^200 base units, one base unit more -> overpaid
//   underpaid    part paid, then expired -> expired, underpaid
//   late         expired, then paid -> stays expired, paid_late
//   cancelled    cancelled (invoice.cancelled), then paid -> stays
//                cancelled, paid_late
//   dropped      seen, its block taken by a reorg -> back to new; an
//                endpoint added through the API for payment.pending gets
//                payment.pending, then payment.dropped naming it
//   reorg        paid, a reorg deeper than the confirmations takes the
//                payment -> invoice.reverted, the transfer mined again ->
//                paid again
// Each checks the feed's invoice events in order, each webhook delivered
// once with the same id, and the amounts exactly. Expiry: 40 invoices due
// at one moment while two runs ask, one of them SIGKILLed and started
// again: each expires exactly once, within 2 s of expires_at.
// The expiry times are set in Postgres (the API takes 60 s at least): the
// test moves expires_at, paywatch's clock is Postgres's now().
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import * as rig from './lib/rig.mjs';
import { loadContract } from './lib/openapi.mjs';

const { HDNodeWallet, Mnemonic } = createRequire(import.meta.url)('ethers');
const bin = process.argv[2];
const CONF = 3;
const SECRET = 'whsec_' + Buffer.alloc(32, 7).toString('base64');

async function main() {
  const work = rig.workDir('pw-invst-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const recv = await rig.startReceiver(work, { '/shop': SECRET });
  const [deployer] = node.accounts;
  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 2n ** 230n });
  const dai = await rig.deployToken(node, { from: deployer, name: 'Dai', symbol: 'DAI', decimals: 18, supply: 10n ** 30n });
  const account = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase('test test test test test test test test test test test junk'), "m/44'/60'/0'");
  const [k, e] = rig.runPaywatchSync(bin, ['api-key', 'new', '--merchant', 'shop']).stdout.trim().split('\n');
  const shopKey = { key: k, entry: JSON.parse(e) };
  const [ak, ae] = rig.runPaywatchSync(bin, ['api-key', 'new']).stdout.trim().split('\n');
  const admin = { key: ak, entry: JSON.parse(ae) };
  // endpoints added through the API keep their secret sealed under it
  const env = { PAYWATCH_SECRET_KEY: rig.runPaywatchSync(bin, ['secrets', 'new-key']).stdout.trim() };
  const cfgFor = (name, port) => rig.writeConfig(fs.mkdtempSync(path.join(work, name)), {
    data_dir: path.join(work, name + '-data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: CONF,
      tokens: [{ symbol: 'USDC', address: usdc.address, decimals: 6 }, { symbol: 'DAI', address: dai.address, decimals: 18 }] }],
    merchants: [{ id: 'shop', xpub: { key: account.neuter().extendedKey, path: '1/*', chains: ['local'], gap_limit: 60 },
      webhook: { url: recv.base + '/shop', secret: SECRET } }],
    webhooks: { allow_private_targets: true, retry_schedule_s: [1, 1, 2], timeout_ms: 2000 },
    api: { listen: `127.0.0.1:${port}`, keys: [admin.entry, shopKey.entry], rate_limit: { per_second: 5000, burst: 5000 } },
  });
  const port = await rig.freePort();
  const cfgA = cfgFor('a', port);
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfgA]).status === 0, 'migrate');
  let pwA = rig.startPaywatch(bin, ['run', '-c', cfgA], env);
  const base = `http://127.0.0.1:${port}`;
  await rig.waitFor('the API', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 20000);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  // run's API answers before its config is in Postgres (503 for an invoice meanwhile)
  await rig.waitFor('the config seeded', async () => (await db.query('SELECT count(*)::int n FROM merchant_xpubs')).rows[0].n === 1, 20000);
  const contract = await loadContract();
  const call = async (method, p, body, key = shopKey.key) => {
    const res = await fetch(base + p, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined });
    const j = await res.json().catch(() => null);
    contract.record(method, p, res.status, res.headers.get('content-type'), j);
    return { status: res.status, body: j };
  };
  let refs = 0;
  const create = async (token, amount) => {
    const r = await call('POST', '/v1/invoices', { chain: 'local', token, amount, reference: `t-${++refs}` });
    rig.check(r.status === 201, `invoice ${refs} created (${r.status} ${JSON.stringify(r.body)})`);
    return r.body;
  };
  const get = async (inv) => (await call('GET', `/v1/invoices/${inv.id}`)).body;
  const waitState = (inv, what, pred) => rig.waitFor(`${inv.reference}: ${what}`, async () => pred(await get(inv)), 30000)
    .then(() => true, (err) => { rig.check(false, err.message); return false; });
  // every feed event (admin key: every merchant), read to the end
  let cursor = null;
  const feed = [];
  const readFeed = async () => {
    for (;;) {
      const r = await call('GET', `/v1/events?limit=500${cursor ? '&after=' + cursor : ''}`, null, admin.key);
      feed.push(...r.body.data);
      cursor = r.body.next_cursor;
      if (r.body.data.length < 500) return;
    }
  };
  const eventsOf = async (inv) => { await readFeed(); return feed.filter((x) => x.type.startsWith('invoice.') && x.data.id === inv.id); };
  const typesOf = async (inv) => (await eventsOf(inv)).map((x) => x.type.slice(8)).join(',');
  // the feed shows an event once every older transaction has ended (any
  // session's): it can trail the invoice's row, which the API reads at
  // once. So an invoice's events are read until they are `want` (or 15 s
  // pass), and what was last read is returned for the check.
  const typesBecome = async (inv, want) => {
    let got = '';
    await rig.waitFor(`invoice ${inv.id}'s events ${want}`, async () => (got = await typesOf(inv)) === want, 15000).catch(() => {});
    return got;
  };
  const mine = (n) => node.mine(n);
  const pay = async (tok, inv, raw) => node.receipt(await tok.transfer(deployer, inv.address, raw));

  // ---- exact: new -> processing -> paid
  const exact = await create('USDC', '12.5');
  await pay(usdc, exact, 12_500_000n);
  await waitState(exact, 'processing while confirmations are due', (x) => x.status === 'processing' && x.amount_pending === '12.5' && x.amount_paid === '0');
  await mine(CONF);
  await waitState(exact, 'paid', (x) => x.status === 'paid' && x.amount_paid === '12.5' && x.amount_pending === '0' && x.exception === null && x.paid_at);
  let types = await typesBecome(exact, 'processing,paid');
  rig.check(types === 'processing,paid', `exact: events processing, paid (${types})`);
  const exactEv = await eventsOf(exact);
  rig.check(exactEv[0].data.status === 'processing' && exactEv[1].data.status === 'paid' && exactEv[1].data.payments.length === 1,
    'each event carries the INVOICE as it was');

  // ---- multiple: 18 decimals, two transfers
  const multi = await create('DAI', '1.000000000000000001');
  await pay(dai, multi, 500_000_000_000_000_000n);
  await pay(dai, multi, 500_000_000_000_000_001n);
  await mine(CONF);
  await waitState(multi, 'paid in two transfers', (x) => x.status === 'paid' && x.exception === 'multiple' && x.amount_paid === '1.000000000000000001' && x.payments.length === 2);
  types = await typesBecome(multi, 'processing,paid');
  rig.check(types === 'processing,paid', `multiple: events processing, paid (${types})`);

  // ---- overpaid, above 2^200 base units
  const bigTokens = (2n ** 200n + 7n).toString();
  const over = await create('USDC', bigTokens);
  await pay(usdc, over, (2n ** 200n + 7n) * 1_000_000n + 1n);
  await mine(CONF);
  await waitState(over, 'overpaid', (x) => x.status === 'paid' && x.exception === 'overpaid' && x.amount_paid === `${bigTokens}.000001`);
  types = await typesBecome(over, 'processing,paid');
  rig.check(types === 'processing,paid', `overpaid: events processing, paid (${types})`);

  // ---- seen, then its block taken by a reorg before it confirmed: back to new
  // (and an endpoint added through the API that takes payment.pending, as
  // a checkout would: told of the payment, then of its drop)
  let r = await call('POST', '/v1/merchants/shop/webhooks', { url: `${recv.base}/shop-pending`, events: ['payment.pending'] });
  rig.check(r.status === 201 && r.body.events.join() === 'payment.pending', `an endpoint for payment.pending added (${r.status})`);
  await recv.control({ path: '/shop-pending', secret: r.body.secret });
  const dropped = await create('USDC', '5');
  await pay(usdc, dropped, 5_000_000n);
  await waitState(dropped, 'processing', (x) => x.status === 'processing' && x.amount_pending === '5');
  const pendingTold = (type) => async () => (await recv.records())
    .find((x) => x.path === '/shop-pending' && JSON.parse(x.body).type === type && JSON.parse(x.body).data.to === dropped.address.toLowerCase());
  await rig.waitFor('payment.pending delivered', async () => !!(await pendingTold('payment.pending')()), 20000)
    .catch((err) => rig.check(false, err.message));
  await node.rpc('anvil_reorg', [1, []]);
  await node.mine(1);
  await waitState(dropped, 'new again, nothing pending', (x) => x.status === 'new' && x.amount_pending === '0' && x.amount_paid === '0');
  types = await typesBecome(dropped, 'processing,reverted');
  rig.check(types === 'processing,reverted' &&
    (await db.query('SELECT count(*)::int n FROM pending_payments WHERE to_address = lower($1)', [dropped.address])).rows[0].n === 0,
  `a dropped pending payment: processing, reverted; its pending row deleted (${types})`);
  await rig.waitFor('payment.dropped delivered', async () => !!(await pendingTold('payment.dropped')()), 20000)
    .catch((err) => rig.check(false, err.message));
  const [told, withdrawn] = [await pendingTold('payment.pending')(), await pendingTold('payment.dropped')()];
  rig.check(told?.sig_ok && withdrawn?.sig_ok && JSON.parse(withdrawn.body).data.reverses_event_id === told.id &&
    JSON.parse(withdrawn.body).data.amount === '5',
  `the API's endpoint for payment.pending: told of the payment, then of its drop (${withdrawn?.body?.slice(0, 120)})`);

  // ---- underpaid, then expired; expired then paid late; cancelled then paid
  const under = await create('USDC', '10');
  await pay(usdc, under, 4_000_000n);
  await mine(CONF);
  await waitState(under, 'part paid, still new', (x) => x.status === 'new' && x.amount_paid === '4');
  const late = await create('USDC', '3');
  const cancelled = await create('USDC', '2');
  rig.check((await call('POST', `/v1/invoices/${cancelled.id}/cancel`)).body?.status === 'cancelled', 'cancelled');
  await db.query("UPDATE invoices SET expires_at = now() + interval '1 second' WHERE id = ANY ($1)", [[under.id, late.id]]);
  await waitState(under, 'expired, underpaid', (x) => x.status === 'expired' && x.exception === 'underpaid' && x.amount_paid === '4');
  await waitState(late, 'expired', (x) => x.status === 'expired' && x.exception === null);
  await pay(usdc, late, 3_000_000n);
  await pay(usdc, cancelled, 2_000_000n);
  await mine(CONF);
  await waitState(late, 'paid late, still expired', (x) => x.status === 'expired' && x.exception === 'paid_late' && x.amount_paid === '3' && x.payments.length === 1);
  await waitState(cancelled, 'paid late, still cancelled', (x) => x.status === 'cancelled' && x.exception === 'paid_late' && x.amount_paid === '2');
  types = await typesBecome(under, 'expired');
  rig.check(types === 'expired', `underpaid: one expired event (${types})`);
  types = await typesBecome(late, 'expired,payment_late');
  rig.check(types === 'expired,payment_late', `late: expired, payment_late (${types})`);
  types = await typesBecome(cancelled, 'cancelled,payment_late');
  const cancelEv = (await eventsOf(cancelled)).find((x) => x.type === 'invoice.cancelled');
  rig.check(types === 'cancelled,payment_late' && cancelEv?.data.status === 'cancelled' && cancelEv.data.amount_paid === '0' &&
    typeof cancelEv.id === 'string', `cancelled: events cancelled (the INVOICE as cancelled, nothing paid), payment_late (${types})`);

  // ---- paid, reverted by a reorg, paid again
  const reorged = await create('USDC', '7');
  await pay(usdc, reorged, 7_000_000n);
  const payBlock = await node.head();
  await mine(CONF);
  await waitState(reorged, 'paid before the reorg', (x) => x.status === 'paid');
  const depth = (await node.head()) - payBlock + 1;
  const transferData = (to, amount) => '0xa9059cbb' + to.slice(2).toLowerCase().padStart(64, '0') + amount.toString(16).padStart(64, '0');
  // the same transfer, mined again one block later in the new branch
  await node.rpc('anvil_reorg', [depth, [[{ from: deployer, to: usdc.address, data: transferData(reorged.address, 7_000_000n), gas: '0x30000' }, 1]]]);
  await mine(CONF);
  await rig.waitFor('the reverted and paid-again events', async () => /paid,reverted,.*paid$/.test(await typesOf(reorged)), 30000)
    .catch((err) => rig.check(false, err.message));
  const rv = await get(reorged);
  const rows = (await db.query("SELECT p.id::text AS id, p.status FROM payments p WHERE p.to_address = lower($1) ORDER BY p.id", [reorged.address])).rows;
  rig.check(rv.status === 'paid' && rv.amount_paid === '7' && rv.payments.length === 1 && rows.length === 2 &&
    rows[0].status === 'reverted' && rows[1].status === 'confirmed' && rv.payments[0] === Number(rows[1].id),
    `reorg: paid by the transfer of the new branch (${await typesOf(reorged)}; ${JSON.stringify(rows)})`);
  const revEv = (await eventsOf(reorged)).find((x) => x.type === 'invoice.reverted');
  rig.check(revEv && ['new', 'processing'].includes(revEv.data.status) && revEv.data.amount_paid === '0', 'the reverted event: the invoice no longer paid');

  // ---- expiry: 40 invoices due at one moment, two runs asking, one killed and started again
  const portB = await rig.freePort();
  const pwB = rig.startPaywatch(bin, ['run', '-c', cfgFor('b', portB)], env);
  const due = await Promise.all(Array.from({ length: 40 }, () => null).map(async (_, i) =>
    (await call('POST', '/v1/invoices', { chain: 'local', token: 'USDC', amount: '1', reference: `due-${i}` })).body));
  rig.check(due.every((x) => x && x.id), '40 invoices to expire');
  await rig.waitFor('run b up', async () => (await fetch(`http://127.0.0.1:${portB}/healthz`).catch(() => null))?.status === 200, 20000);
  await db.query("UPDATE invoices SET expires_at = now() + interval '1500 milliseconds' WHERE reference LIKE 'due-%'");
  // kill run a right around the moment the invoices are due (by Postgres's clock, which expiry follows)
  await rig.waitFor('the invoices about due', async () => (await db.query(
    "SELECT now() >= min(expires_at) - interval '100 milliseconds' AS due FROM invoices WHERE reference LIKE 'due-%'")).rows[0].due,
  10000, 10);
  pwA.proc.kill('SIGKILL');
  await pwA.done;
  pwA = rig.startPaywatch(bin, ['run', '-c', cfgA], env);
  await rig.waitFor('run a up again', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 20000);
  await rig.waitFor('every due invoice expired', async () =>
    (await db.query("SELECT count(*)::int n FROM invoices WHERE reference LIKE 'due-%' AND status = 'expired'")).rows[0].n === 40, 30000)
    .catch((err) => rig.check(false, err.message));
  const once = (await db.query(`SELECT i.reference, count(f.*)::int n, max(extract(epoch FROM f.created_at - i.expires_at))::float lag
      FROM invoices i LEFT JOIN event_feed f ON f.invoice_id = i.id AND f.type = 'invoice.expired'
      WHERE i.reference LIKE 'due-%' GROUP BY i.reference`)).rows;
  const maxLag = Math.max(...once.map((x) => x.lag));
  rig.check(once.length === 40 && once.every((x) => x.n === 1), `each due invoice expired exactly once (${once.filter((x) => x.n !== 1).length} not once)`);
  rig.check(maxLag <= 2, `expired within 2 s of expires_at (worst ${maxLag.toFixed(3)} s)`);

  // ---- webhooks: each invoice event delivered once, signed, with the feed's id
  // the feed shows an event once every older transaction has ended (its
  // order), so it can trail the webhooks: read both until they hold the
  // same invoice events
  const deliveredIds = async () => new Set((await recv.records())
    .filter((x) => x.sig_ok && JSON.parse(x.body).type.startsWith('invoice.')).map((x) => x.id));
  await rig.waitFor('every invoice event delivered and in the feed', async () => {
    await readFeed();
    const inFeed = feed.filter((x) => x.type.startsWith('invoice.')).map((x) => x.id);
    const got = await deliveredIds();
    return inFeed.length === got.size && inFeed.every((id) => got.has(id));
  }, 30000).catch((err) => rig.check(false, err.message));
  const invoiceEvents = feed.filter((x) => x.type.startsWith('invoice.'));
  const recs = (await recv.records()).filter((x) => JSON.parse(x.body).type.startsWith('invoice.'));
  const byId = new Map();
  for (const x of recs) byId.set(x.id, (byId.get(x.id) || 0) + 1);
  rig.check(recs.every((x) => x.sig_ok) && [...byId.values()].every((n) => n === 1) && byId.size === invoiceEvents.length,
    `each invoice event delivered once, signed (${byId.size} delivered, ${invoiceEvents.length} in the feed)`);
  const sample = recs.find((x) => x.id === exactEv[1].id);
  rig.check(sample && JSON.parse(sample.body).type === 'invoice.paid' && JSON.parse(sample.body).data.id === exact.id &&
    JSON.parse(sample.body).data.amount_paid === '12.5', 'the webhook body: the invoice.paid event with the INVOICE');
  rig.check(new Set(invoiceEvents.map((x) => x.id)).size === invoiceEvents.length, 'invoice event ids are unique');

  // ---- reports: settlement and payments, JSON and CSV, against SQL sums over the same rows
  const today = new Date().toISOString().slice(0, 10);
  const q = `merchant_id=shop&from=${today}&to=${today}`;
  // a fetch that fails says why (once, beside a CPU load, one failed here
  // with undici's bare "fetch failed")
  const text = async (p, key = admin.key) => { const res = await fetch(base + p, { headers: { authorization: `Bearer ${key}` } })
      .catch((e) => { throw new Error(`GET ${p}: ${e.message}: ${e.cause?.code || ''} ${e.cause?.message || e.cause || ''}`); });
    const body = await res.text();
    if (/json/.test(res.headers.get('content-type') || '')) contract.record('GET', p, res.status, res.headers.get('content-type'), JSON.parse(body));
    return { status: res.status, type: res.headers.get('content-type'), disposition: res.headers.get('content-disposition'), body }; };
  const sums = (await db.query(`SELECT chain, token_symbol, count(*)::int n, count(*) FILTER (WHERE status = 'reverted')::int nr,
      trim_scale(sum(amount))::text gross, trim_scale(coalesce(sum(amount) FILTER (WHERE status = 'reverted'), 0))::text rev,
      trim_scale(sum(amount) FILTER (WHERE status = 'confirmed'))::text net
      FROM payments WHERE merchant_id = 'shop' GROUP BY 1, 2 ORDER BY 1, 2`)).rows;
  let rep = await text(`/v1/reports/settlement?${q}`);
  const sj = JSON.parse(rep.body);
  const tot = (sym) => sj.totals.find((x) => x.token.symbol === sym);
  rig.check(rep.status === 200 && sums.length === 2 && sums.every((x) => { const t = tot(x.token_symbol);
    return t && t.payments === x.n && t.reverted_payments === x.nr && t.gross === x.gross && t.reverted === x.rev && t.net === x.net; }),
  `settlement JSON totals equal the SQL sums (${JSON.stringify(sj.totals.map((t) => [t.token.symbol, t.payments, t.gross, t.net]))})`);
  rig.check(tot('USDC').reverted === '7' && tot('USDC').gross.startsWith('1606938044258990275541962092341162602522202993782792835301383.000001'.slice(0, 10)) &&
    sj.rows.every((x) => x.day === today) && sj.chains[0].chain === 'local' && Number.isInteger(sj.chains[0].final_height) && sj.rows.every((x) => x.final),
  `settlement: the reverted 7 USDC, the 2^200 amount exact, the day final below height ${sj.chains[0].final_height}`);
  rep = await text(`/v1/reports/settlement?${q}&format=csv`);
  const csvRows = parseCsv(rep.body);
  const head = csvRows[0];
  const col = (r, name) => r[head.indexOf(name)];
  const unText = (v) => /^="(.*)"$/.test(v) ? v.slice(2, -1) : v;
  const csvTot = (sym) => csvRows.find((r) => col(r, 'day') === 'total' && col(r, 'token') === sym);
  rig.check(rep.status === 200 && /^text\/csv/.test(rep.type) && /attachment; filename="settlement-/.test(rep.disposition) &&
    rep.body.endsWith('\r\n') && sums.every((x) => { const r = csvTot(x.token_symbol);
      return r && Number(col(r, 'payments')) === x.n && unText(col(r, 'gross')) === x.gross && unText(col(r, 'net')) === x.net && col(r, 'gross').startsWith('="'); }),
  'settlement CSV: RFC 4180 lines, totals equal the SQL sums, amounts as ="..." text');
  rep = await text(`/v1/reports/payments?${q}&format=csv`);
  const prow = parseCsv(rep.body);
  const all = (await db.query("SELECT p.id::text AS id, p.amount::text a, p.tx_hash FROM payments p WHERE p.merchant_id = 'shop' ORDER BY p.block_time, p.id")).rows;
  const ph = prow[0];
  rig.check(prow.length - 1 === all.length && prow.slice(1).every((r, i) => r[ph.indexOf('id')] === all[i].id &&
    unText(r[ph.indexOf('tx_hash')]) === all[i].tx_hash && unText(r[ph.indexOf('amount')]).replace(/\.?0+$/, '') === all[i].a.replace(/\.?0+$/, '')),
  `payments CSV: every payment, hashes and amounts exact (${prow.length - 1} rows, ${all.length} in SQL)`);
  rig.check(prow.slice(1).some((r) => r[ph.indexOf('invoice_reference')] === exact.reference && r[ph.indexOf('invoice_id')] === exact.id),
    'payments CSV: a payment names its invoice and reference');
  // a real spreadsheet (LibreOffice Calc, headless) opens both CSVs and writes back what its cells show:
  // amounts and hashes unchanged; the same big amount written as a bare number is mangled (the control)
  const settleCsv = (await text(`/v1/reports/settlement?${q}&format=csv`)).body;
  const bigGross = sums.find((x) => x.token_symbol === 'USDC').gross;
  const shown = await spreadsheetRoundTrip(work, { settlement: settleCsv, payments: rep.body, control: `amount\r\n${bigGross}\r\n` });
  const sTot = shown.settlement.find((r) => r[0] === 'total' && r[2] === 'USDC');
  rig.check(sTot && sTot[head.indexOf('gross')] === bigGross && sTot[head.indexOf('net')] === sums.find((x) => x.token_symbol === 'USDC').net,
    `LibreOffice Calc shows the settlement's amounts exactly (${sTot && sTot[head.indexOf('gross')]})`);
  rig.check(shown.payments.length === all.length + 1 && shown.payments.slice(1).every((r, i) => r[ph.indexOf('tx_hash')] === all[i].tx_hash &&
    r[ph.indexOf('amount')].replace(/\.?0+$/, '') === all[i].a.replace(/\.?0+$/, '')), 'LibreOffice Calc shows every payment\'s hash and amount exactly');
  rig.check(shown.control[1][0] !== bigGross, `the control: a bare ${bigGross.length}-digit amount is mangled by the spreadsheet (${shown.control[1][0]})`);
  rep = await text(`/v1/reports/payments?from=${today}&to=${today}`, shopKey.key);
  const pj = JSON.parse(rep.body);
  rig.check(rep.status === 200 && pj.data.length === all.length && pj.data.every((x, i) => String(x.id) === all[i].id), `payments JSON with a merchant key (its own) (${pj.data.map((x) => x.id)} vs ${all.map((x) => x.id)})`);
  for (const [p, param] of [[`/v1/reports/settlement?from=${today}&to=${today}`, 'merchant_id'], [`/v1/reports/settlement?${q.replace(today, '2026-02-30')}`, 'from'],
    [`/v1/reports/settlement?merchant_id=shop&from=2025-01-01&to=2026-06-01`, 'to'], [`/v1/reports/settlement?${q}&format=xls`, 'format']]) {
    rep = await text(p);
    rig.check(rep.status === 400 && JSON.parse(rep.body).error.param === param, `400 naming ${param}`);
  }
  rep = await text(`/v1/reports/settlement?merchant_id=other&from=${today}&to=${today}`, shopKey.key);
  rig.check(rep.status === 403, 'another merchant\'s report: 403');
  const cliRep = rig.runPaywatchSync(bin, ['report', 'settlement', '-c', cfgA, '--merchant', 'shop', '--from', today, '--to', today, '--format', 'csv']);
  const apiCsv = await text(`/v1/reports/settlement?${q}&format=csv`);
  rig.check(cliRep.status === 0 && cliRep.stdout.split('\r\n').slice(1).join() === apiCsv.body.split('\r\n').slice(1).join(),
    `paywatch report settlement --format csv gives the API's rows (${cliRep.stderr.trim()})`);

  rig.check(contract.stats.checked > 100 && contract.stats.failures.length === 0,
    `every JSON answer (${contract.stats.checked}: invoices, the feed's invoice events, reports) matches api/openapi.yaml${contract.stats.failures.length ? ': ' + contract.stats.failures.slice(0, 2).join(' | ') : ''}`);
  pwB.proc.kill('SIGTERM');
  pwA.proc.kill('SIGTERM');
  rig.check((await pwA.done).code === 0 && (await pwB.done).code === 0, 'both runs stop cleanly');
}

// Open each CSV in LibreOffice Calc (headless) and write it back as CSV
// of the cells as shown: name -> rows.
// Asynchronous: a synchronous soffice held node's event loop, so its HTTP
// client kept an idle connection past the API's 10 s idle timeout (beside a
// CPU load) and the next request met it closed ("other side closed").
async function spreadsheetRoundTrip(work, files) {
  const dir = fs.mkdtempSync(path.join(work, 'calc-'));
  for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(dir, `${name}.csv`), body);
  await promisify(execFile)('soffice', ['--headless', '--infilter=CSV:44,34,76,1', '--convert-to',
    'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1', '--outdir', path.join(dir, 'out'),
    ...Object.keys(files).map((n) => path.join(dir, `${n}.csv`))], { encoding: 'utf8', env: { ...process.env, HOME: dir }, timeout: 120000 })
    .catch((e) => { throw new Error(`soffice failed: ${e.stderr || e.stdout || e.message}`); });
  const out = {};
  for (const name of Object.keys(files))
    out[name] = parseCsv(fs.readFileSync(path.join(dir, 'out', `${name}-${name}.csv`), 'utf8').replace(/\r?\n/g, '\r\n'));
  return out;
}

// RFC 4180: fields separated by commas, quoted fields with "" for a quote, CRLF line ends
function parseCsv(text) {
  const rows = [];
  let row = [], field = '', i = 0, quoted = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (ch === '"') { quoted = false; i++; continue; }
      field += ch; i++; continue;
    }
    if (ch === '"') { quoted = true; i++; continue; }
    if (ch === ',') { row.push(field); field = ''; i++; continue; }
    if (ch === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i += 2; continue; }
    if (ch === '\n') throw new Error('a bare LF in the CSV');
    field += ch; i++;
  }
  if (field || row.length) throw new Error('the last line has no CRLF');
  return rows;
}

rig.runTest('e2e_invoice_states', main);
