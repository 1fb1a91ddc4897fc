// registry_bench.mjs: the merchant registry at size, in one run on one
// machine (bench/run --registry). Not a test: figures only.
//
//  1. N addresses (default 1,000,000) of 1,000 merchants written into a
//     throwaway Postgres by SQL (generate_series; addresses from md5).
//  2. `paywatch run` started on an empty registry and on the full one
//     (the same config: one anvil chain): the time from start to the set
//     published ("registry: ... loaded in N ms", the process's own
//     figure) and the resident memory each settles at; the difference is
//     what N addresses cost.
//  3. A live add of K addresses (default 10,000, one INSERT) while `run`
//     runs on the full registry: the time from COMMIT to the set it
//     matches against holding them (paywatch_registry_addresses on
//     /metrics, polled every 5 ms).
// Rounds alternate; medians are reported with min and max.
//
// usage: USAGE below (node bench/registry_bench.mjs --help)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as rig from '../tests/e2e/lib/rig.mjs';
import { readArgs, wholeNumber } from './lib/args.mjs';
import { median } from './lib/stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const USAGE = 'usage: node bench/registry_bench.mjs [--addresses N] [--add K] [--rounds R] [--out FILE]';
const { values: args } = readArgs(USAGE, { addresses: { type: 'string' }, add: { type: 'string' },
  rounds: { type: 'string' }, out: { type: 'string' } });
const N = wholeNumber(USAGE, '--addresses', args.addresses, 1000000);
const K = wholeNumber(USAGE, '--add', args.add, 10000);
const ROUNDS = wholeNumber(USAGE, '--rounds', args.rounds, 3);
const OUT = path.resolve(args.out ?? path.join(here, 'results-registry.json'));
const BIN = path.resolve(process.env.PAYWATCH_BIN || path.join(root, 'build', 'paywatch'));
const say = (s) => console.error(`bench registry: ${s}`);
const rssOf = (pid) => Number((fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/) || [])[1] || 0) * 1024;
const metric = (text, name) => Number((new RegExp(`^${name} (\\S+)$`, 'm').exec(text) || [])[1]);

async function main() {
  const work = rig.workDir('pw-bench-registry-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const dbs = ['empty', 'full'];
  const admin = await pg.client('postgres');
  await admin.query('CREATE DATABASE empty');
  await admin.query('CREATE DATABASE full_registry');
  await admin.end();
  const cfgFor = async (db) => {
    const port = await rig.freePort();
    const dir = fs.mkdtempSync(path.join(work, db + '-'));
    const file = rig.writeConfig(dir, {
      data_dir: path.join(dir, 'data'), postgres: { dsn: pg.dsn(db) },
      chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 1,
        tokens: [{ symbol: 'USDC', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }] }],
      merchants: [{ id: 'seed', addresses: { local: ['0x000000000000000000000000000000000000dEaD'] } }],
      metrics: { listen: `127.0.0.1:${port}` },
    });
    return { file, port, dir };
  };
  const cfgs = { empty: await cfgFor('empty'), full: await cfgFor('full_registry') };
  for (const k of dbs) {
    const r = rig.runPaywatchSync(BIN, ['migrate', '-c', cfgs[k].file]);
    if (r.status !== 0) throw new Error(`migrate: ${r.stderr}`);
  }
  const db = await pg.client('full_registry');
  rig.onCleanup(() => db.end().catch(() => {}));
  say(`writing ${N.toLocaleString()} addresses of 1,000 merchants`);
  await db.query("INSERT INTO merchants (id, origin) SELECT 'm' || i, 'registry' FROM generate_series(0, 999) i");
  await db.query(`INSERT INTO merchant_addresses (chain, address, merchant_id, chain_family, origin)
    SELECT 'local', '0x' || substr(md5(i::text) || md5('x' || i), 1, 40), 'm' || (i % 1000), 'evm', 'registry'
    FROM generate_series(1, $1::int) i`, [N]);
  await db.query('ANALYZE merchant_addresses');

  const results = { addresses: N, added: K, rounds: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const row = {};
    for (const k of round % 2 ? ['empty', 'full'] : ['full', 'empty']) {
      fs.rmSync(path.join(cfgs[k].dir, 'data'), { recursive: true, force: true });
      const t0 = Date.now();
      const pw = rig.startPaywatch(BIN, ['run', '-c', cfgs[k].file]);
      const want = (k === 'full' ? N : 0) + 1;
      await rig.waitFor(`${k}: the set loaded`, async () => {
        const m = await (await fetch(`http://127.0.0.1:${cfgs[k].port}/metrics`).catch(() => null))?.text().catch(() => '') || '';
        return metric(m, 'paywatch_registry_addresses') === want;
      }, 120000, 20);
      const wall = Date.now() - t0;
      const loadMs = Number((/(\d+) address\(es\) of \d+ merchant\(s\) \(\d+ with an xpub\) loaded in (\d+) ms/.exec(pw.stderr) || [])[2]);
      await rig.sleep(1000); // settled: a replaced set is freed
      row[k] = { load_ms: loadMs, start_to_set_ms: wall, rss_bytes: rssOf(pw.proc.pid) };
      if (k === 'full') { // a live add of K
        const m0 = Date.now();
        await db.query(`INSERT INTO merchant_addresses (chain, address, merchant_id, chain_family, origin)
          SELECT 'local', '0x' || substr(md5('r${round}y' || i) || md5('z' || i), 1, 40), 'm' || (i % 1000), 'evm', 'registry'
          FROM generate_series(1, $1::int) i`, [K]);
        const committed = Date.now();
        await rig.waitFor('the added addresses in the set', async () => {
          const m = await (await fetch(`http://127.0.0.1:${cfgs[k].port}/metrics`)).text();
          return metric(m, 'paywatch_registry_addresses') === want + K;
        }, 60000, 5);
        row.full.add_visible_ms = Date.now() - committed;
        row.full.add_insert_ms = committed - m0;
        row.full.rss_after_add_bytes = rssOf(pw.proc.pid);
        await db.query("DELETE FROM merchant_addresses WHERE address IN (SELECT '0x' || substr(md5('r" + round + "y' || i) || md5('z' || i), 1, 40) FROM generate_series(1, $1::int) i)", [K]);
      }
      pw.proc.kill('SIGTERM');
      await pw.done;
    }
    row.added_rss_mb = (row.full.rss_bytes - row.empty.rss_bytes) / 2 ** 20;
    say(`round ${round}: ${N.toLocaleString()} loaded in ${row.full.load_ms} ms (start to set ${row.full.start_to_set_ms} ms), ` +
      `RSS ${(row.empty.rss_bytes / 2 ** 20).toFixed(1)} -> ${(row.full.rss_bytes / 2 ** 20).toFixed(1)} MB (+${row.added_rss_mb.toFixed(1)} MB); ` +
      `${K.toLocaleString()} added: in the set ${row.full.add_visible_ms} ms after COMMIT`);
    results.rounds.push(row);
  }
  const col = (f) => results.rounds.map(f);
  const fmt = (xs, unit) => `${median(xs).toFixed(1)} ${unit} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;
  results.summary = {
    load_ms: median(col((r) => r.full.load_ms)),
    added_rss_mb: median(col((r) => r.added_rss_mb)),
    add_visible_ms: median(col((r) => r.full.add_visible_ms)),
  };
  console.log(`registry, ${N.toLocaleString()} addresses, ${ROUNDS} round(s): median (min-max)`);
  console.log(`  load from Postgres      ${fmt(col((r) => r.full.load_ms), 'ms')}    limit 2000 ms`);
  console.log(`  memory added            ${fmt(col((r) => r.added_rss_mb), 'MB')}    limit 150 MB`);
  console.log(`  live add of ${K.toLocaleString()} visible ${fmt(col((r) => r.full.add_visible_ms), 'ms')}    limit 1000 ms`);
  fs.writeFileSync(OUT, JSON.stringify(results, null, 2));
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => rig.cleanupAll());
