// test_report_stream.mjs: a payments report of more rows than the API
// answers (REPORT_PAYMENTS_MAX, 100,000), on a real Postgres holding
// 100,003 payments of one merchant on one day (written by SQL: the rows a
// backfill would have written) and 3 on the next:
//   - the API's GET /v1/reports/payments for that day is 409, naming
//     `paywatch report payments`;
//   - `paywatch report payments` writes every row, in CSV and in JSON,
//     each payment once, in block time order (SQL's), its peak memory a
//     page's beyond its own (far below the 32 MB of the CSV it writes;
//     checked outside the sanitizer build);
//   - for the next day's 3 rows the command's bytes are the API's (CSV;
//     JSON but for generated_at).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const BIG = 100003;
const DAY = '2026-01-05', NEXT = '2026-01-06';

async function main() {
  const work = rig.workDir('pw-report-stream-');
  const pg = await rig.startPostgres();
  const [ak, ae] = rig.runPaywatchSync(bin, ['api-key', 'new']).stdout.trim().split('\n');
  const port = await rig.freePort();
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: 'ws://127.0.0.1:9', confirmations: 1,
      tokens: [{ symbol: 'USDC', address: '0x5fbdb2315678afecb367f032d93f642f64180aa3', decimals: 6 }] }],
    merchants: [{ id: 'big', addresses: { local: ['0x70997970c51812dc3a010c7d01b50e0d17dc79c8'] } }],
    api: { listen: `127.0.0.1:${port}`, keys: [JSON.parse(ae)], rate_limit: { per_second: 1000, burst: 1000 } },
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  await db.query("INSERT INTO merchants (id) VALUES ('big') ON CONFLICT DO NOTHING");
  // g-th payment: its own block hash and tx hash (64 hex digits), a block
  // time within the day, g base units
  const insert = (day, lo, hi) => db.query(`INSERT INTO payments (chain, chain_id, block_number, block_hash, block_time,
    tx_hash, log_index, token_address, token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount,
    status, confirmations, confirmed_at, chain_family)
    SELECT 'local', 31337, g, '0x' || md5('b' || g) || md5('B' || g),
      ($1::date)::timestamp AT TIME ZONE 'UTC' + (g % 86400) * interval '1 second',
      '0x' || md5('t' || g) || md5('T' || g), 0, '0x5fbdb2315678afecb367f032d93f642f64180aa3', 'USDC',
      '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266', '0x70997970c51812dc3a010c7d01b50e0d17dc79c8', 'big', g, 6, g / 1000000.0,
      'confirmed', 1, now(), 'evm' FROM generate_series($2::int, $3::int) g`, [day, lo, hi]);
  await insert(DAY, 1, BIG);
  await insert(NEXT, BIG + 1, BIG + 3);

  // ---- the API stops at 100,000 and names the command
  const sv = rig.startPaywatch(bin, ['serve', '-c', cfg]);
  const base = `http://127.0.0.1:${port}`;
  await rig.waitFor('serve to listen', async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 15000);
  const api = (q) => fetch(`${base}/v1/reports/payments?merchant_id=big&${q}`, { headers: { authorization: `Bearer ${ak}` } });
  let res = await api(`from=${DAY}&to=${DAY}&format=csv`);
  const refused = await res.json().catch(() => null);
  rig.check(res.status === 409 && /more than 100000 payments/.test(refused?.error?.message) &&
    refused.error.message.includes('paywatch report payments'), `the API: 409 naming the command (${JSON.stringify(refused)})`);

  // ---- the command writes every row, in a page's memory
  const report = (day, format) => {
    const out = path.join(work, `report-${day}.${format}`);
    const fd = fs.openSync(out, 'w');
    const x = spawnSync('/usr/bin/time', ['-f', '%M', bin, 'report', 'payments', '-c', cfg, '--merchant', 'big',
      '--from', day, '--to', day, '--format', format], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 120000 });
    fs.closeSync(fd);
    const kb = Number(/(\d+)\s*$/.exec(x.stderr || '')?.[1]);
    return { status: x.status, stderr: x.stderr, text: fs.readFileSync(out, 'utf8'), kb };
  };
  const csv = report(DAY, 'csv');
  const lines = csv.text.split('\r\n');
  const ids = lines.slice(1, -1).map((l) => Number(l.split(',')[0]));
  rig.check(csv.status === 0 && lines[0].startsWith('id,invoice_id,') && lines.at(-1) === '' && ids.length === BIG &&
    new Set(ids).size === BIG, `report payments --format csv: ${ids.length} rows of ${BIG}, each once (exit ${csv.status}: ${csv.stderr.trim().slice(-200)})`);
  const sqlIds = (await db.query(`SELECT id FROM payments WHERE merchant_id = 'big'
    AND block_time < ($1::date)::timestamp AT TIME ZONE 'UTC' ORDER BY block_time, id`, [NEXT])).rows.map((x) => Number(x.id));
  const firstOff = sqlIds.findIndex((id, i) => id !== ids[i]);
  rig.check(sqlIds.length === ids.length && firstOff === -1,
    `the rows are the SQL rows, in block time order (${sqlIds.length} rows; first apart: ${firstOff}: ${sqlIds[firstOff]} against ${ids[firstOff]})`);
  // its memory beyond the same command's for 3 rows (the libraries', the
  // process's own): a page of rows, not the report (which a build whole
  // would hold twice: Postgres's answer and the text)
  // would hold twice: Postgres's answer and the text). Not in the
  // sanitizer build: AddressSanitizer's allocator keeps freed memory.
  const small = report(NEXT, 'csv');
  const extraMb = (csv.kb - small.kb) / 1024, wroteMb = csv.text.length / 1048576;
  const asan = (spawnSync('ldd', [bin], { encoding: 'utf8' }).stdout || '').includes('libasan');
  if (!asan)
    rig.check(Number.isFinite(extraMb) && extraMb < wroteMb / 4,
      `its peak RSS ${(csv.kb / 1024).toFixed(1)} MB, ${extraMb.toFixed(1)} MB above the same command's for 3 rows: below a quarter of the ${wroteMb.toFixed(1)} MB it wrote`);
  const json = report(DAY, 'json');
  let parsed = null;
  try { parsed = JSON.parse(json.text); } catch { /* checked below */ }
  rig.check(json.status === 0 && parsed?.report === 'payments' && parsed.data.length === BIG &&
    parsed.data.every((x, i) => x.id === ids[i]), `report payments (JSON): ${parsed?.data?.length} payments, one document, the CSV's rows (exit ${json.status})`);

  // ---- a small report: the command's bytes are the API's
  res = await api(`from=${NEXT}&to=${NEXT}&format=csv`);
  const apiCsv = await res.text();
  const cliCsv = report(NEXT, 'csv').text;
  rig.check(res.status === 200 && apiCsv === cliCsv && apiCsv.split('\r\n').length === 5, `3 rows: the command's CSV is the API's (${apiCsv.length} bytes)`);
  res = await api(`from=${NEXT}&to=${NEXT}`);
  const strip = (t) => t.trim().replace(/"generated_at":"[^"]*"/, '');
  const apiJson = await res.text();
  const cliJson = report(NEXT, 'json').text;
  rig.check(res.status === 200 && strip(apiJson) === strip(cliJson) && JSON.parse(cliJson).data.length === 3,
    `3 rows: the command's JSON is the API's but for generated_at (${cliJson.length} bytes)`);
  sv.proc.kill('SIGTERM');
  rig.check((await sv.done).code === 0, 'serve exits 0 on SIGTERM');
}

rig.runTest('e2e_report_stream', main);
