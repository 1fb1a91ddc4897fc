// test_examples.mjs: every config under examples/ passes `check-config`
// (with its ${VARIABLES} set as an operator would set them), shows no
// secret, and agrees with the table in examples/README.md: the row naming
// the file carries the config's chain id, each token's contract and
// decimals, and its finality rule. A config edited without its table row
// (or the other way round) fails here. Needs no node and no Postgres.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.join(root, 'examples');

// What an operator exports before starting an example (the key-bearing
// parts are marked so that the test sees whether they leak).
const env = {
  PAYWATCH_PG_DSN: 'postgresql://paywatch:EXAMPLEpgPASSWORD@127.0.0.1:5432/paywatch',
  ETHEREUM_WS_URL: 'wss://eth-mainnet.example.com/v2/EXAMPLEkey1',
  BASE_WS_URL: 'wss://base-mainnet.example.com/v2/EXAMPLEkey2',
  ARBITRUM_RPC_URL: 'https://arb-mainnet.example.com/v2/EXAMPLEkey3',
  OPTIMISM_RPC_URL: 'https://opt-mainnet.example.com/v2/EXAMPLEkey4',
  POLYGON_RPC_URL: 'https://polygon-mainnet.example.com/v2/EXAMPLEkey5',
  BSC_RPC_URL: 'https://bsc-mainnet.example.com/EXAMPLEkey6',
  TRON_RPC_URL: 'https://api.trongrid.io/jsonrpc',
  TRONGRID_KEY: 'EXAMPLEtrongridKEY',
  MERCHANT_ADDRESS: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  TRON_MERCHANT_ADDRESS: 'TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt',
};
for (const chain of ['ETHEREUM', 'BASE', 'ARBITRUM', 'OPTIMISM', 'POLYGON', 'BSC'])
  env[`${chain}_START_BLOCK`] = '1000000';

// The issue's list: each network has its example.
const WANT = {
  'ethereum.json': 1, 'base.json': 8453, 'arbitrum.json': 42161, 'optimism.json': 10,
  'polygon.json': 137, 'bsc.json': 56, 'tron.json': 728126428,
};

function tableRows(readme) {
  const rows = new Map();
  for (const line of readme.split('\n')) {
    const m = /^\|\s*`([a-z0-9_-]+\.json)`\s*\|/.exec(line);
    if (m) rows.set(m[1], line);
  }
  return rows;
}

async function main() {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  rig.check(JSON.stringify(files) === JSON.stringify(Object.keys(WANT).sort()),
    `examples/ holds one config per network (${files.join(', ')})`);
  const rows = tableRows(fs.readFileSync(path.join(dir, 'README.md'), 'utf8'));

  for (const file of files) {
    const r = rig.runPaywatchSync(bin, ['check-config', '-c', path.join(dir, file)], env);
    rig.check(r.status === 0, `${file}: check-config accepts it${r.status === 0 ? '' : `: ${r.stderr.trim()}`}`);
    if (r.status !== 0)
      continue;
    const out = r.stdout + r.stderr;
    const leaked = Object.values(env).map((v) => /EXAMPLE\w+/.exec(v)?.[0]).filter((s) => s && out.includes(s));
    rig.check(leaked.length === 0, `${file}: no secret in check-config's output (${leaked.join(', ') || 'none'})`);

    const resolved = JSON.parse(r.stdout);
    const ch = resolved.chains[0];
    rig.check(ch.chain_id === WANT[file], `${file}: chain id ${ch.chain_id}`);
    rig.check(ch.start_block === (ch.kind === 'tron' ? 77000000 : 1000000), `${file}: start_block from the environment`);
    rig.check(ch.tokens.length >= 1 && ch.tokens.every((t) => ch.kind !== 'evm' || t.decimals === (ch.chain_id === 56 ? 18 : 6)),
      `${file}: stablecoin decimals (18 on BNB Smart Chain, 6 elsewhere)`);

    const row = rows.get(file);
    rig.check(row !== undefined, `${file}: has its row in examples/README.md`);
    if (!row)
      continue;
    const cells = row.split('|').map((c) => c.trim());
    rig.check(cells.includes(String(ch.chain_id)), `${file}: the table gives chain id ${ch.chain_id}`);
    for (const t of ch.tokens) {
      const cited = row.toLowerCase().includes(t.address.toLowerCase()) && row.includes(`${t.symbol} (${t.decimals})`);
      rig.check(cited, `${file}: the table gives ${t.symbol} at ${t.address} with ${t.decimals} decimals`);
    }
    const rule = ch.finality ? `finality \`${ch.finality}\`` : `\`confirmations: ${ch.confirmations}\``;
    rig.check(row.includes(rule), `${file}: the table gives its rule (${rule})`);
    rig.check(/https?:\/\//.test(row), `${file}: the row cites a source`);
  }
  for (const file of rows.keys())
    rig.check(files.includes(file), `the table's ${file} exists`);
}

rig.runTest('e2e_examples', main);
