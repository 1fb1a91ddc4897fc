// test_memory.mjs: the memory a node's answer can cost is bounded. A
// websocket proxy in front of anvil (lib/proxy.mjs, the one allowed fake:
// a real node does not send these) answers four eth_getLogs in a row with
// 20 MB of [0,0,0,...] (10 M JSON values: ~800 MB as a cJSON tree; it took
// paywatch to 839 MB). With the default message cap each is refused
// unparsed, logged, counted, and retried; the payments still arrive and
// the peak RSS (VmHWM) stays bounded. The figure is printed.
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';
import { startProxy } from './lib/proxy.mjs';

const bin = process.argv[2];
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

function status(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s) || [])[1] || 0);
  return { hwm: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
}

async function main() {
  const work = rig.workDir('pw-memory-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const proxy = await startProxy(node.ws);
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_urls: [proxy.url], confirmations: 2,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }], // default max_message_bytes
    merchants: [{ id: 'acme', addresses: { local: [acme] } }],
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const pay = async (amount) => node.receipt(await token.transfer(deployer, acme, amount));
  await pay(1n);
  await node.mine(2);
  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const rows = async () => (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n;
  await rig.waitFor('the first payment', async () => (await rows()) === 1, 60000).catch((e) => rig.check(false, e.message));
  const asan = fs.readFileSync(`/proc/${pw.proc.pid}/maps`, 'utf8').includes('libasan');
  const before = status(pw.proc.pid);

  const junk = (text, id) => `{"jsonrpc":"2.0","id":${id},"result":[${'0,'.repeat(10 * 1024 * 1024 - 1)}0]}`;
  await pay(2n);
  await node.mine(2);
  // a junk answer in place of each eth_getLogs answer until four were
  // refused (one served while paywatch was leaving a connection is not
  // received: another takes its place); new blocks keep paywatch asking
  const refusals = () => (pw.stderr.match(/message holds \d+ JSON values, more than one per 20 bytes: refused unparsed/g) || []).length;
  let served = 0;
  await rig.waitFor('four junk answers refused', async () => {
    if (refusals() >= 4) return true;
    if (proxy.pending() === 0) proxy.inject(`junk ${served++}`, 'eth_getLogs', junk);
    await node.mine(1);
    return false;
  }, 120000, 200).catch((e) => rig.check(false, e.message));
  await rig.waitFor('the payment after the junk', async () => (await rows()) === 2, 60000).catch((e) => rig.check(false, e.message));
  if (process.env.PW_DEBUG) console.error(pw.stderr.split('\n').slice(-40).join('\n'));
  const after = status(pw.proc.pid);
  console.log(`peak RSS: ${before.hwm.toFixed(0)} MB before the junk answers, ${after.hwm.toFixed(0)} MB after` +
    ` (RSS now ${after.rss.toFixed(0)} MB${asan ? ', AddressSanitizer build: its allocator keeps freed memory' : ''})`);
  rig.check(/bad message from ws:\/\/127\.0\.0\.1:\d+\/.*refused unparsed|request for .* failed at ws:\/\/127\.0\.0\.1:\d+\/: message holds/.test(pw.stderr),
    'each refusal names the endpoint');
  // the 20 MB buffer (a 32 MiB cap) and no tree: far below the 839 MB seen
  if (!asan) rig.check(after.hwm < 200, `peak RSS ${after.hwm.toFixed(0)} MB < 200 MB`);
  rig.check(!pw.exited, 'paywatch is still running');
  pw.proc.kill('SIGTERM');
  const stopped = await pw.done;
  rig.check(stopped.code === 0, `run stops cleanly (${JSON.stringify(stopped)})`);
  await proxy.kill();
}

rig.runTest('e2e_memory', main);
