// test_sink.mjs: the Postgres sink's write path on a real Postgres. Starts a
// throwaway cluster, applies the migrations with `paywatch migrate`, then
// runs pg_sink_check (tests/e2e/pg_sink_check.c, built next to paywatch),
// which writes batches through pg_sink_write_payments and checks the rows
// and events: the direct COPY, its fallback to the upsert, and a payment
// reverted, confirmed again when the chain goes back, and reverted again.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as rig from './lib/rig.mjs';

const bin = path.resolve(process.argv[2] || 'build/paywatch');
const check = path.join(path.dirname(bin), 'pg_sink_check');

rig.runTest('e2e_sink', async () => {
  const work = rig.workDir('pw-sink-');
  const pg = await rig.startPostgres();
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: 'ws://127.0.0.1:9', confirmations: 2,
      tokens: [{ symbol: 'USDC', address: '0x' + '00'.repeat(19) + '03', decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: ['0x' + '00'.repeat(19) + '01'] } }],
  });
  const m = rig.runPaywatchSync(bin, ['migrate', '-c', cfg]);
  rig.check(m.status === 0, `migrate (${m.status}: ${m.stderr.slice(-300)})`);
  rig.check(fs.existsSync(check), `${check} is built`);
  const r = spawnSync(check, [pg.dsn()], { encoding: 'utf8' });
  process.stderr.write(r.stderr);
  rig.check(r.status === 0, `pg_sink_check: ${r.stdout.trim()} (exit ${r.status})`);
  console.log(r.stdout.trim());
});
