// test_hd.mjs: HD (xpub) deposit addresses end to end (issue 14), against
// real parts: anvil, a throwaway Postgres, `paywatch run` and `paywatch
// serve`. The xpub comes from an independent implementation: ethers
// (pinned in package.json) derives the account key m/44'/60'/0' of the
// standard test mnemonic.
// Checks:
//  1. `paywatch derive` of that xpub at 0/0 .. 0/9 gives anvil's ten
//     accounts (ethers's addresses too);
//  2. a merchant with that xpub in the config (path 1/*: branch 0 holds
//     anvil's funded accounts; gap limit 20): pay index 0,
//     then 19 (the window grows to 39), then 30 (inside), then 90 (outside:
//     not a payment), then 45 and 62 in one transaction, 45 first (62 is
//     outside until 45 grows the window to 65): every payment confirmed
//     exactly, nothing else; the window and its addresses in Postgres;
//  3. after a restart the grown window is loaded from Postgres: index 80
//     is a payment; it grows the window over 90, whose earlier payment is
//     found by `paywatch addresses rescan --hd-from`;
//  4. deposit addresses handed out by two API servers at once (run's and
//     `paywatch serve`'s) are all different, each the ethers address of its
//     index, and the window covers every one;
//  5. private keys, ypub and hardened paths are refused, never echoed;
//     the key is shown by fingerprint only.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import * as rig from './lib/rig.mjs';
import { base58Decode, base58Encode } from './lib/tronnode.mjs';
import { loadContract } from './lib/openapi.mjs';

const require = createRequire(import.meta.url);
const { HDNodeWallet, Mnemonic } = require('ethers');
const bin = process.argv[2];
const CONF = 1;
const GAP = 20;

async function main() {
  const work = rig.workDir('pw-hd-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });

  // ---- 1. the xpub, derived by ethers
  const account = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase('test test test test test test test test test test test junk'), "m/44'/60'/0'");
  const xpub = account.neuter().extendedKey;
  const anvilAddr = (i) => account.deriveChild(0).deriveChild(i).address; // EIP-55
  // the merchant's addresses: branch 1 (branch 0 holds anvil's funded
  // accounts: the token's mint to the deployer would pay index 0)
  const addr = (i) => account.deriveChild(1).deriveChild(i).address;
  let r = rig.runPaywatchSync(bin, ['derive', '--xpub', xpub, '--path', '0/*', '--count', '10', '--json']);
  const derived = JSON.parse(r.stdout || '[]');
  rig.check(r.status === 0 && derived.length === 10 && derived.every((d, i) => d.address === anvilAddr(i) && d.path === `0/${i}`) &&
    derived.every((d, i) => d.address.toLowerCase() === node.accounts[i].toLowerCase()),
  `derive: ethers's m/44'/60'/0' xpub gives anvil's ten accounts at 0/0..0/9 (${derived.map((d) => d.address.slice(0, 8))})`);

  // ---- 2. a merchant with that xpub
  const apiPort = await rig.freePort();
  const [key, entry] = rig.runPaywatchSync(bin, ['api-key', 'new']).stdout.trim().split('\n');
  const cfgObj = (port) => ({
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: CONF,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'shop', xpub: { key: xpub, path: '1/*', chains: ['local'], gap_limit: GAP } },
      { id: 'other', addresses: { local: ['0x000000000000000000000000000000000000dEaD'] } }],
    api: { listen: `127.0.0.1:${port}`, keys: [JSON.parse(entry)], rate_limit: { per_second: 1000, burst: 1000 } },
  });
  const cfg = rig.writeConfig(work, cfgObj(apiPort));
  r = rig.runPaywatchSync(bin, ['check-config', '-c', cfg]);
  rig.check(r.status === 0 && !r.stdout.includes(xpub) && /xpub\*\*\*\* \(fingerprint [0-9a-f]{8}\)/.test(r.stdout),
    'check-config shows the xpub by fingerprint, never the key');
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  let pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  const base = `http://127.0.0.1:${apiPort}`;
  await rig.waitFor('the API', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 20000);
  const hdRows = async () => (await db.query("SELECT hd_index, address FROM merchant_addresses WHERE merchant_id = 'shop' ORDER BY hd_index")).rows;
  await rig.waitFor('the first window in Postgres', async () => (await hdRows()).length === GAP, 20000);
  let rows = await hdRows();
  rig.check(rows.every((x, i) => x.hd_index === i && x.address === addr(i).toLowerCase()), `the window 0..${GAP - 1} is stored: ethers's addresses at their indexes`);

  let amount = 1000n;
  const paid = new Map(); // index -> amounts
  const pay = async (indexes) => {
    const amounts = indexes.map(() => amount++);
    await node.receipt(indexes.length === 1 ? await token.transfer(deployer, addr(indexes[0]), amounts[0])
      : await token.batchTransfer(deployer, indexes.map(addr), amounts));
    indexes.forEach((i, k) => paid.set(i, [...(paid.get(i) || []), amounts[k].toString()]));
    return amounts;
  };
  const shopPayments = async () => (await db.query("SELECT to_address, amount_raw::text a FROM payments WHERE merchant_id = 'shop' ORDER BY id")).rows;
  const waitPaid = async (what, n) => {
    await node.mine(CONF);
    await rig.waitFor(what, async () => (await shopPayments()).length === n, 20000);
  };
  await pay([0]);
  await waitPaid('index 0 paid', 1);
  await pay([19]);
  await waitPaid('index 19 paid', 2);
  await pay([30]);
  await waitPaid('index 30 paid (inside the window grown to 39)', 3);
  await pay([90]);
  const marker = await pay([0]); // after 90: when it is in, 90 was seen
  await waitPaid('the marker after 90', 4);
  await pay([45, 62]);
  await waitPaid('45 and 62 of one transaction', 6);
  const got = (await shopPayments()).map((x) => `${x.to_address}:${x.a}`).sort();
  const want = [0, 19, 30, 45, 62].flatMap((i) => paid.get(i).map((a) => `${addr(i).toLowerCase()}:${a}`)).sort();
  rig.check(JSON.stringify(got) === JSON.stringify(want), `payments to 0, 19, 30, 45 and 62 exactly, none to 90 (${got.length} rows; marker ${marker})`);
  const none90 = (await db.query('SELECT count(*)::int n FROM payments WHERE to_address = $1', [addr(90).toLowerCase()])).rows[0].n;
  rig.check(none90 === 0, 'index 90 (outside the window when paid) is not a payment');
  await rig.waitFor('the window stored up to 82', async () => (await hdRows()).length === 62 + GAP + 1, 20000);
  const w = (await db.query("SELECT highest_used, next_index FROM xpub_windows WHERE merchant_id = 'shop' AND chain = 'local'")).rows[0];
  rows = await hdRows();
  rig.check(w.highest_used === 62 && rows.length === 83 && rows.every((x, i) => x.hd_index === i && x.address === addr(i).toLowerCase()),
    `the window in Postgres: highest used 62, addresses 0..82 (${w.highest_used}, ${rows.length})`);

  // ---- 3. restart: the window comes from Postgres
  pw.proc.kill('SIGTERM');
  await pw.done;
  pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  await rig.waitFor('the API again', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 20000);
  await pay([80]);
  await waitPaid('index 80 after a restart', 7);
  rig.check((await shopPayments()).some((x) => x.to_address === addr(80).toLowerCase()), 'after a restart index 80 (inside the stored window) is a payment');
  // 80 grew the window to 100: 90 is watched from now on; its earlier
  // payment is found only when asked (addresses rescan)
  await rig.waitFor('the window stored up to 100', async () => (await hdRows()).length === 101, 20000);
  rig.check((await db.query('SELECT count(*)::int n FROM payments WHERE to_address = $1', [addr(90).toLowerCase()])).rows[0].n === 0,
    'index 90 inside the grown window: its earlier payment is not found by itself');
  r = await rig.runPaywatch(bin, ['addresses', 'rescan', '--merchant', 'shop', '--chain', 'local', '--hd-from', '83', '--from-block', '0', '-c', cfg, '--json']);
  const rs = JSON.parse(r.stdout || '{"data":[]}').data;
  rig.check(r.status === 0 && rs.length === 18 && rs.every((x) => x.status === 'done') && rs.reduce((n, x) => n + x.inserted, 0) === 1,
    `addresses rescan --hd-from 83: 18 addresses scanned, one payment inserted (${r.stderr.trim().split('\n').pop()})`);
  const p90 = (await db.query("SELECT merchant_id, amount_raw::text a FROM payments WHERE to_address = $1", [addr(90).toLowerCase()])).rows;
  rig.check(p90.length === 1 && p90[0].merchant_id === 'shop' && p90[0].a === paid.get(90)[0], `the rescan finds the payment to 90 (${JSON.stringify(p90)})`);

  // ---- 4. deposit addresses from two API servers at once
  const contract = await loadContract();
  const served = await rig.startServe(bin, (port) => rig.writeConfig(fs.mkdtempSync(path.join(work, 'serve')), cfgObj(port)));
  const sv = served.pw, sbase = served.base;
  const handOut = async (b, body = { chain: 'local' }, merchant = 'shop') => {
    const res = await fetch(`${b}/v1/merchants/${merchant}/deposit-addresses`, { method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const j = await res.json();
    contract.record('POST', `/v1/merchants/${merchant}/deposit-addresses`, res.status, res.headers.get('content-type'), j);
    return { status: res.status, body: j };
  };
  const outs = await Promise.all(Array.from({ length: 60 }, (_, i) => handOut(i % 2 ? base : sbase)));
  const idx = outs.map((o) => o.body.index).sort((a, b) => a - b);
  rig.check(outs.every((o) => o.status === 201) && idx.every((v, i) => v === i),
    `60 hand-outs, 30 on each server at once: indexes 0..59, each once (${idx.slice(0, 5)}..${idx.slice(-2)})`);
  rig.check(outs.every((o) => o.body.address === addr(o.body.index) && o.body.path === `1/${o.body.index}` && o.body.chain === 'local'),
    'each is ethers\'s address of its index (EIP-55) and its path');
  const w2 = (await db.query("SELECT next_index FROM xpub_windows WHERE merchant_id = 'shop'")).rows[0];
  rows = await hdRows();
  rig.check(w2.next_index === 60 && rows.length >= 83, `the window covers every index handed out (next ${w2.next_index}, ${rows.length} addresses)`);
  let h = await handOut(base, { chain: 'local' }, 'other');
  rig.check(h.status === 409 && /no xpub/.test(h.body.error.message), `a merchant without an xpub: 409 (${h.body.error?.message})`);
  h = await handOut(base, { chain: 'nochain' });
  rig.check(h.status === 400 && h.body.error.param === 'chain', 'an unknown chain: 400');

  // ---- 5. refusals; the key shown by fingerprint only
  const xprv = account.extendedKey; // the private key of the same account
  const post = async (body) => {
    const res = await fetch(`${base}/v1/merchants`, { method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const j = await res.json();
    contract.record('POST', '/v1/merchants', res.status, res.headers.get('content-type'), j);
    return { status: res.status, body: j, text: JSON.stringify(j) };
  };
  let p = await post({ id: 'leaky', xpub: { key: xprv } });
  rig.check(p.status === 400 && p.body.error.param === 'xpub.key' && /private key/.test(p.body.error.message) && !p.text.includes(xprv.slice(4, 40)),
    `an xprv is refused, never echoed (${p.body.error?.message})`);
  p = await post({ id: 'hard', xpub: { key: xpub, path: "0'/*" } });
  rig.check(p.status === 400 && p.body.error.param === 'xpub.path' && /hardened/.test(p.body.error.message), 'a hardened path is refused');
  // the same key with BIP-49's ypub version bytes (0x049d7cb2), a valid checksum
  const raw = base58Decode(xpub).subarray(0, 78);
  const yraw = Buffer.concat([Buffer.from('049d7cb2', 'hex'), raw.subarray(4)]);
  const sha = (b) => crypto.createHash('sha256').update(b).digest();
  const ypub = base58Encode(Buffer.concat([yraw, sha(sha(yraw)).subarray(0, 4)]));
  p = await post({ id: 'seg', xpub: { key: ypub } });
  rig.check(p.status === 400 && /ypub/.test(p.body.error.message), `a ypub is refused by name (${p.body.error?.message})`);
  rig.check((await db.query("SELECT count(*)::int n FROM merchants WHERE id IN ('leaky', 'hard', 'seg')")).rows[0].n === 0, 'a refused body creates nothing');
  p = await post({ id: 'shop2', xpub: { key: xpub, path: '2/*', gap_limit: 5 } });
  rig.check(p.status === 201 && p.body.xpub.fingerprint.length === 8 && p.body.xpub.gap_limit === 5 && !p.text.includes(xpub.slice(4, 40)),
    `POST /v1/merchants with an xpub: 201, shown by fingerprint (${JSON.stringify(p.body.xpub)})`);
  const s2 = (await db.query("SELECT count(*)::int n FROM merchant_addresses WHERE merchant_id = 'shop2'")).rows[0].n;
  rig.check(s2 === 5, `its first window (gap 5) is stored (${s2})`);
  const badCfg = rig.writeConfig(fs.mkdtempSync(path.join(work, 'bad')), { ...cfgObj(apiPort), merchants: [{ id: 'shop', xpub: { key: xprv } }] });
  r = rig.runPaywatchSync(bin, ['check-config', '-c', badCfg]);
  rig.check(r.status === 2 && /merchants\[0\]\.xpub\.key: .*private key/.test(r.stderr) && !r.stderr.includes(xprv.slice(4, 40)),
    `the config: an xprv refused at merchants[0].xpub.key, never echoed (${r.stderr.trim()})`);
  rig.check(!pw.stderr.includes(xpub) && !sv.stderr.includes(xpub), 'no log line holds the xpub');
  rig.check(contract.stats.failures.length === 0, `every answer matches api/openapi.yaml${contract.stats.failures.length ? ': ' + contract.stats.failures.slice(0, 2).join(' | ') : ''}`);
  sv.proc.kill('SIGTERM');
  pw.proc.kill('SIGTERM');
  const stopped = await pw.done;
  rig.check(stopped.code === 0, `run stops cleanly (${JSON.stringify(stopped)})`);
}

rig.runTest('e2e_hd', main);
