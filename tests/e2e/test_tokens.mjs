// test_tokens.mjs: nothing watched is dropped for being many. A chain with
// 200 watched tokens, the one that carries payments last (past the ~90
// that fitted the old fixed-size eth_getLogs filter): its payments reach
// Postgres, backfill and live. 1,001 tokens are refused by check-config
// with the limit named.
import crypto from 'node:crypto';
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

async function main() {
  const work = rig.workDir('pw-tokens-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const other = (n) => Array.from({ length: n }, (_, i) => ({ symbol: `T${i}`,
    address: '0x' + crypto.createHash('sha256').update(`token ${i}`).digest('hex').slice(0, 40), decimals: 18 }));
  const tokens = [...other(199), { symbol: 'USDC', address: token.address, decimals: 6 }];
  const cfgObj = {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 2, tokens }],
    merchants: [{ id: 'acme', addresses: { local: [acme] } }],
  };
  const cfg = rig.writeConfig(work, cfgObj);
  const check = rig.runPaywatchSync(bin, ['check-config', '-c', cfg]);
  rig.check(check.status === 0 && /"symbol":\s*"T198"/.test(check.stdout), `check-config takes 200 tokens (${check.stderr.trim()})`);
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const pay = async (amount) => node.receipt(await token.transfer(deployer, acme, amount));
  for (let i = 1n; i <= 3n; i++) await pay(i); // history: backfill
  await node.mine(2);
  const pw = rig.startPaywatch(bin, ['run', '-c', cfg]);
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  await rig.waitFor('the backfilled payments of the 200th token', async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n === 3, 60000).catch((e) => rig.check(false, e.message));
  for (let i = 4n; i <= 5n; i++) await pay(i); // live
  await node.mine(2);
  await rig.waitFor('the live payments of the 200th token', async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n === 5, 60000).catch((e) => rig.check(false, e.message));
  const rows = (await db.query('SELECT token_symbol, amount_raw::text AS a FROM payments ORDER BY amount_raw')).rows;
  rig.check(rows.map((r) => `${r.token_symbol}:${r.a}`).join(' ') === 'USDC:1 USDC:2 USDC:3 USDC:4 USDC:5',
    `the 200th token's payments, each once (${JSON.stringify(rows)})`);
  pw.proc.kill('SIGTERM');
  const stopped = await pw.done;
  rig.check(stopped.code === 0, `run stops cleanly (${JSON.stringify(stopped)})`);

  cfgObj.chains[0].tokens = [...other(1000), { symbol: 'USDC', address: token.address, decimals: 6 }];
  const tooMany = rig.runPaywatchSync(bin, ['check-config', '-c', rig.writeConfig(work, cfgObj)]);
  rig.check(tooMany.status === 2 && /chains\[0\]\.tokens: at most 1000 tokens per chain/.test(tooMany.stderr),
    `1,001 tokens are refused with the limit named (${tooMany.stderr.trim()})`);
}

rig.runTest('e2e_tokens', main);
