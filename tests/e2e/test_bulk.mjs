// test_bulk.mjs: an EVM chain given both ws_url and http_url: new heads on
// the websocket, eth_getLogs over HTTP (chains/rpc_bulk.c), on real parts:
// anvil, TestToken, a throwaway Postgres, and a counting relay in front of
// anvil's HTTP side (rig.startHttpRelay: the real node's answers, or every
// connection reset while it is "down").
//   - the HTTP side down at start: paywatch says why it leaves the
//     endpoint and backs off (growing gaps, not a busy loop);
//   - the HTTP side back: the backfill's payments arrive, every
//     eth_getLogs went over HTTP and nothing else did;
//   - live: a payment mined later arrives (the head pushed on the
//     websocket, its logs fetched over HTTP).
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const MERCHANT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

async function main() {
  const work = rig.workDir('pw-bulk-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 18n });
  for (let i = 1; i <= 5; i++) await node.receipt(await usdc.transfer(deployer, MERCHANT, BigInt(i)));
  const relay = await rig.startHttpRelay(node.ws.replace(/^ws:/, 'http:'));
  relay.down = true;
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, http_url: relay.url, confirmations: 1,
      tokens: [{ symbol: 'USDC', address: usdc.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [MERCHANT] } }],
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const count = async () => (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n;

  // ---- the HTTP side down: named, and backed off
  await rig.waitFor('three departures from the endpoint', () => (pw.stderr.match(/leaving ws:/g) || []).length >= 3, 60000);
  rig.check(/ws:\/\/127\.0\.0\.1:\d+\/: bulk requests over HTTP: /.test(pw.stderr), 'why it leaves: the HTTP side failed');
  const at = [...pw.stderr.matchAll(/^(\S+) warn  chain=local leaving ws:/gm)].map((m) => Date.parse(m[1]));
  rig.check(at[2] - at[1] >= 500 && at[2] - at[1] >= at[1] - at[0],
    `backed off between departures (${at[1] - at[0]} ms, then ${at[2] - at[1]} ms)`);
  rig.check(await count() === 0, 'nothing written while the logs cannot be fetched');

  // ---- back: the backfill over HTTP
  relay.down = false;
  await rig.waitFor('the 5 backfilled payments', async () => (await count()) === 5, 60000);
  rig.check(relay.methods.eth_getLogs > 0 && Object.keys(relay.methods).every((m) => m === 'eth_getLogs'),
    `eth_getLogs went over HTTP, nothing else did (${JSON.stringify(relay.methods)})`);

  // ---- live: the head on the websocket, its logs over HTTP
  const before = relay.methods.eth_getLogs;
  await node.receipt(await usdc.transfer(deployer, MERCHANT, 6n));
  await rig.waitFor('the live payment', async () => (await count()) === 6, 30000);
  rig.check(relay.methods.eth_getLogs > before, 'the live block\'s logs came over HTTP');
  const amounts = (await db.query('SELECT amount_raw::text FROM payments ORDER BY block_number, log_index')).rows.map((r) => r.amount_raw);
  rig.check(amounts.join(',') === '1,2,3,4,5,6', `every payment once, in order (${amounts.join(',')})`);
  pw.proc.kill('SIGTERM');
  rig.check((await pw.done).code === 0, 'exits 0 on SIGTERM');
}

rig.runTest('e2e_bulk', main);
