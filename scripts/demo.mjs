// demo.mjs: paywatch on a local dev chain, end to end, in about half a
// minute. Starts a throwaway Postgres and anvil on 127.0.0.1:8545 (a block
// per second), deploys a USDC-like token (account 0, nonce 0, so at
// 0x5FbDB2315678afecb367f032d93F642f64180aa3), runs `paywatch migrate` and
// `paywatch run` with the config of README's quick start, sends a few
// transfers, and prints the confirmed payments from Postgres.
// usage: USAGE below (scripts/demo.sh runs it with the binary it builds)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as rig from '../tests/e2e/lib/rig.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = 'usage: node scripts/demo.mjs PAYWATCH_BINARY [--keep]   (--keep: run until Ctrl-C)';
const [bin, ...rest] = process.argv.slice(2);
const unknown = rest.find((a) => a !== '--keep');
if (!bin || bin.startsWith('-') || unknown !== undefined) {
  const why = !bin || bin.startsWith('-') ? 'the paywatch binary comes first' : `unknown argument '${unknown}'`;
  console.error(`demo.mjs: ${why}\n${USAGE}`);
  process.exit(2);
}
const keep = rest.includes('--keep');
const MERCHANT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const say = (s) => console.log(`\x1b[1;36mdemo:\x1b[0m ${s}`);

async function portBusy(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

async function main() {
  if (await portBusy(8545)) throw new Error('127.0.0.1:8545 is in use: stop the other node (the demo config points paywatch there)');
  const work = path.join(root, '.demo');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });

  say('starting a throwaway PostgreSQL');
  const pg = await rig.startPostgres();
  say('starting anvil on ws://127.0.0.1:8545 (one block per second)');
  // --prune-history: a demo left running mines for hours; anvil would
  // otherwise persist old states under ~/.foundry and leave them there
  const anvil = spawn(path.join(rig.e2eDir, 'node_modules', '.bin', 'anvil'),
    ['--host', '127.0.0.1', '--port', '8545', '--block-time', '1', '--silent', '--prune-history', '256'], { stdio: 'ignore' });
  rig.guard(anvil.pid); // stopped even if the demo is killed: its port is fixed, a leftover would hold it
  rig.onCleanup(() => anvil.kill('SIGKILL'));
  let id = 0;
  const node = {
    rpc: async (method, params = []) => {
      const r = await fetch('http://127.0.0.1:8545', { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }) });
      const b = await r.json();
      if (b.error) throw new Error(b.error.message);
      return b.result;
    },
    mine: async () => {},
  };
  await rig.waitFor('anvil', () => node.rpc('eth_chainId'));
  const [deployer] = await node.rpc('eth_accounts');
  say('deploying a USDC-like token (6 decimals)');
  const usdc = await waitDeploy(node, deployer);
  say(`token at ${usdc.address}`);

  const config = {
    data_dir: path.join(work, 'data'),
    postgres: { dsn: '${PAYWATCH_PG_DSN}' },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: 'ws://127.0.0.1:8545', confirmations: 3, start_block: 0,
      tokens: [{ symbol: 'USDC', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [MERCHANT] } }],
  };
  const configFile = rig.writeConfig(work, config);
  const env = { PAYWATCH_PG_DSN: pg.dsn() };
  say(`config: ${path.relative(process.cwd(), configFile)}`);
  let r = rig.runPaywatchSync(bin, ['migrate', '-c', configFile], env);
  process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error('paywatch migrate failed');

  say('paywatch run (its log follows)');
  const pw = spawn(bin, ['run', '-c', configFile], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
  rig.guard(pw.pid);
  rig.onCleanup(() => pw.kill('SIGKILL'));
  // paywatch stopping before the demo stops it fails the demo at once (its
  // log, above, says why), not after the wait for the payments runs out
  let stopping = false;
  const exited = new Promise((res) => pw.on('exit', (code, signal) => res({ code, signal })));
  const died = exited.then(({ code, signal }) => {
    if (!stopping) throw new Error(`paywatch run stopped on its own (exit ${code}${signal ? `, signal ${signal}` : ''})`);
  });

  const amounts = [12_500_000n, 100_000_000n, 10_000n, 2_500_000_000n, 1n];
  for (const a of amounts) {
    await Promise.race([usdc.transfer(deployer, MERCHANT, a), died]);
    say(`sent ${rig.formatUnits(a, 6)} USDC to merchant acme`);
    await rig.sleep(1500);
  }
  await usdc.transfer(deployer, '0x000000000000000000000000000000000000dEaD', 5_000_000n);
  say('sent 5 USDC to a non-merchant address (not a payment)');

  const db = await pg.client();
  rig.onCleanup(() => db.end());
  await Promise.race([died, rig.waitFor('the payments to be confirmed', async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n >= amounts.length, 60000)]);
  const rows = (await db.query(`SELECT block_number, left(tx_hash, 12) || '…' AS tx, merchant_id, token_symbol, amount::text,
      status, confirmations FROM payments ORDER BY block_number, log_index`)).rows;
  say(`confirmed payments in Postgres (SELECT ... FROM payments; DSN ${pg.dsn()}):`);
  console.table(rows);
  if (keep) {
    say('still running; send transfers to ws://127.0.0.1:8545 and watch them arrive. Ctrl-C stops.');
    await died; // never settles while paywatch runs (Ctrl-C ends the demo); rejects if it stops on its own
  }
  stopping = true;
  pw.kill('SIGTERM');
  const { code, signal } = await exited;
  if (code !== 0) throw new Error(`paywatch run exited ${code === null ? `on signal ${signal}` : `with ${code}`} after SIGTERM (0 expected)`);
  say('paywatch run stopped cleanly (exit 0)');
}

async function waitDeploy(node, deployer) {
  // with --block-time the receipt appears at the next block
  const realMine = node.mine;
  node.mine = () => rig.sleep(1100);
  const t = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 18n });
  node.mine = realMine;
  return t;
}

main()
  .then(() => rig.cleanupAll().then(() => process.exit(0)))
  .catch(async (e) => { console.error('demo failed:', e.message); await rig.cleanupAll(); process.exit(1); });
