// test_checkout.mjs: the hosted checkout page (issue 15) in a real browser:
// Debian's chromium, headless, driven by playwright-core, against anvil, a
// throwaway Postgres and `paywatch run`. Checks: the page loads with no
// console error and no request leaving this origin, under a strict
// Content-Security-Policy; a screenshot shows the amount (tesseract reads
// it back), and the QR code
// read back from that screenshot by zbarimg (zbar-tools) is the invoice's
// payment URI exactly; the copy button puts the address on the clipboard;
// the controls have accessible names; the time left counts down; the
// status turns to paid after the transfer confirms, without a reload;
// an unknown invoice is a 404 page; /pay/{id}/status matches the OpenAPI
// document.
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import * as rig from './lib/rig.mjs';
import { loadContract } from './lib/openapi.mjs';

const require = createRequire(import.meta.url);
const { HDNodeWallet, Mnemonic } = require('ethers');
const { chromium } = require('playwright-core');
const bin = process.argv[2];
const CONF = 2;

async function main() {
  const work = rig.workDir('pw-checkout-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 15n });
  const account = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase('test test test test test test test test test test test junk'), "m/44'/60'/0'");
  const [k, e] = rig.runPaywatchSync(bin, ['api-key', 'new', '--merchant', 'shop']).stdout.trim().split('\n');
  const port = await rig.freePort();
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: CONF,
      tokens: [{ symbol: 'USDC', address: usdc.address, decimals: 6 }] }],
    merchants: [{ id: 'shop', xpub: { key: account.neuter().extendedKey, path: '1/*', chains: ['local'] } }],
    api: { listen: `127.0.0.1:${port}`, keys: [JSON.parse(e)] },
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  const base = `http://127.0.0.1:${port}`;
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  await rig.waitFor('the config seeded', async () => (await db.query('SELECT count(*)::int n FROM merchant_xpubs')).rows[0].n === 1, 20000);
  await rig.waitFor('the API', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 20000);
  const res = await fetch(`${base}/v1/invoices`, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' },
    body: JSON.stringify({ chain: 'local', token: 'USDC', amount: '12.5', reference: 'order-7', metadata: { secret_note: 'not for payers' } }) });
  const inv = await res.json();
  rig.check(res.status === 201, `invoice created (${res.status})`);

  const contract = await loadContract();
  const st = await fetch(`${base}/pay/${inv.id}/status`);
  const stBody = await st.json();
  contract.record('GET', `/pay/${inv.id}/status`, st.status, st.headers.get('content-type'), stBody);
  rig.check(st.status === 200 && stBody.status === 'new' && stBody.amount === '12.5' && !JSON.stringify(stBody).includes('not for payers'),
    'the status endpoint: no key, the invoice\'s state, no metadata');
  const missing = await fetch(`${base}/pay/inv_AAAAAAAAAAAAAAAAAAAAAA`);
  rig.check(missing.status === 404 && /text\/html/.test(missing.headers.get('content-type')) && /No such invoice/.test(await missing.text()),
    'an unknown invoice: a 404 page');

  const browser = await chromium.launch({ executablePath: process.env.PW_CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  rig.onCleanup(() => browser.close().catch(() => {}));
  const context = await browser.newContext({ viewport: { width: 480, height: 900 }, deviceScaleFactor: 2 });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await context.newPage();
  const errors = [], foreign = [];
  let navigations = 0;
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  page.on('request', (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });
  const resp = await page.goto(`${base}/pay/${inv.id}`, { waitUntil: 'load' });
  const csp = resp.headers()['content-security-policy'] || '';
  rig.check(resp.status() === 200 && /default-src 'none'/.test(csp) && /script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp),
    `served with a strict CSP (${csp})`);
  await page.waitForFunction(() => document.getElementById('left').textContent.length > 0);
  rig.check((await page.locator('h1').innerText()) === 'Pay 12.5 USDC' && await page.locator('#amount').isVisible() &&
    (await page.locator('#merchant').innerText()) === 'shop', 'the page shows the merchant, the amount and the token');
  rig.check(!(await page.content()).includes('not for payers') && !(await page.content()).includes('order-7'),
    'the page shows neither the metadata nor the reference');

  // the screenshot: the amount in view, the QR code read back by zbarimg
  const shot = path.join(work, 'checkout.png');
  await page.screenshot({ path: shot, fullPage: true });
  const box = await page.locator('#amount').boundingBox();
  // asynchronous, like e2e_invoice_states' soffice: a synchronous child held
  // node's event loop, and with it the browser connection's and the HTTP
  // client's timers, for as long as the tool ran (seconds on a loaded machine)
  const tool = (cmd, args) => promisify(execFile)(cmd, args, { encoding: 'utf8' })
    .then((r) => ({ status: 0, stdout: r.stdout, stderr: r.stderr }))
    .catch((e) => ({ status: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout || '', stderr: e.stderr || e.message }));
  const ocr = await tool('tesseract', [shot, '-', '--psm', '3']);
  rig.check(box && box.width > 0 && box.y >= 0 && box.y + box.height <= 900 && ocr.status === 0 && /Pay 12\.5 USDC/.test(ocr.stdout),
    `the screenshot shows the amount (tesseract reads: ${JSON.stringify(ocr.stdout.split('\n').find((l) => /USDC/.test(l)) || ocr.stderr.trim())})`);
  const z = await tool('zbarimg', ['--raw', '-q', shot]);
  rig.check(z.status === 0 && z.stdout.trim() === inv.payment_uri, `zbarimg reads the payment URI from the screenshot (${z.stdout.trim() || z.stderr.trim()})`);

  // accessible names, the copy button
  rig.check(await page.getByRole('button', { name: 'Copy' }).count() === 1 && await page.getByLabel('Address').inputValue() === inv.address &&
    await page.getByRole('img', { name: 'QR code of the payment request' }).count() === 1 &&
    (await page.locator('html').getAttribute('lang')) === 'en', 'the controls and the QR code have accessible names; the page has a language');
  await page.getByRole('button', { name: 'Copy' }).click();
  await page.waitForFunction(() => document.getElementById('copied').textContent === 'Address copied', null, { timeout: rig.scaled(10000) })
    .catch(() => {});
  rig.check(await page.evaluate(() => navigator.clipboard.readText()) === inv.address, 'the copy button puts the address on the clipboard');

  // the time left counts down
  const left1 = await page.locator('#left').innerText();
  await page.waitForFunction((t) => document.getElementById('left').textContent !== t, left1, { timeout: rig.scaled(10000) });
  const left2 = await page.locator('#left').innerText();
  const secs = (t) => t.split(':').reduce((a, x) => a * 60 + Number(x), 0);
  rig.check(/^\d+:\d\d$/.test(left1) && secs(left2) < secs(left1) && secs(left1) <= 900, `the time left counts down (${left1} -> ${left2})`);

  // paid: the page follows without a reload
  await node.receipt(await usdc.transfer(deployer, inv.address, 12_500_000n));
  await page.waitForFunction(() => document.getElementById('status').dataset.status === 'processing', null, { timeout: rig.scaled(30000) })
    .then(() => rig.check(true, 'the page shows the payment seen (processing)'), () => rig.check(false, 'the page shows the payment seen (processing)'));
  await node.mine(CONF);
  await page.waitForFunction(() => document.getElementById('status').dataset.status === 'paid', null, { timeout: rig.scaled(30000) })
    .then(() => {}, () => {});
  rig.check((await page.locator('#status').innerText()) === 'Paid' && (await page.locator('#paid').innerText()) === '12.5' && navigations === 1,
    `the status turns to paid after the transfer confirms, without a reload (${await page.locator('#status').innerText()}, ${navigations} navigation)`);
  rig.check(errors.length === 0, `no console error or CSP violation (${errors.slice(0, 3).join(' | ')})`);
  rig.check(foreign.length === 0, `no request leaves this origin (${foreign.slice(0, 3).join(', ')})`);
  rig.check(contract.stats.failures.length === 0, `the status answer matches api/openapi.yaml${contract.stats.failures.length ? ': ' + contract.stats.failures[0] : ''}`);
  await browser.close();
  pw.proc.kill('SIGTERM');
  const stopped = await pw.done;
  rig.check(stopped.code === 0, `run stops cleanly (${JSON.stringify(stopped)})`);
}

rig.runTest('e2e_checkout', main);
