// copy_probe.mjs: what a COPY of payments costs Postgres, variant against
// variant (issue 16; for profiling before changing the schema, not a test).
// A throwaway Postgres with every migration; N synthetic payments (50 per
// block, 50 merchants, PROBE_ADDRESSES recipients (50 unless given, a
// multiple of 50: recipient i is merchant i % 50's), random hashes) are
// written once to a server-side
// file, then COPied into a fresh database per variant and round, the
// variants' order reversed every other round. Each COPY's time is printed,
// and each variant's ratio to `schema` per round.
//
// Variants (PROBE_VARIANTS, comma-separated; the first is the reference):
//   schema       the migrations as they are
//   binary       the same rows in COPY's binary format
//   btree-tx     the transaction index as a btree, as before 019
//   c-merchant   payments.merchant_id COLLATE "C" (its two indexes compare bytes)
//   c:COL[+COL]  payments' text columns COL COLLATE "C" (c:chain+merchant_id:
//                every text column an index of payments holds but the hashes
//                and addresses, which 018 made "C")
//   hash-to      the recipient index (payments_by_to_address) as a hash index
//   nohexchecks  the five hash and address CHECKs dropped (what they cost)
//   bytea        the five hashes and addresses stored as their bytes (bytea,
//                CHECKed by length), the rows written so; without the
//                settlement trigger (which compares addresses as text): an
//                upper bound of what bytes would buy, read against
//                notrigger:payments_settle_insert, not a schema that works
//   bytea-hashes the two hashes alone as bytes (block_hash, tx_hash: 32
//                bytes CHECKed by length), the addresses text, the trigger
//                kept: read against schema (the part of bytea that leaves
//                every family's address as it is)
//   no:INDEX     the migrations without index INDEX, or the constraint of
//                that name (what it costs)
//   notrigger:T  the migrations without trigger T on payments (what it costs)
//   split-db     as schema, but with PROBE_SESSIONS=2 the second session
//                copies its half into a second database of its own: two
//                backends sharing no table or index page (what partitions
//                written one per writer could give at most; the WAL,
//                the buffer pool and the cores still shared)
// PROBE_LOCALE=L: the cluster made in locale L (initdb --locale; it must be
// installed, locale -a), as bench.mjs --pg-locale: en_US.UTF-8 is the
// official postgres image's, where text compares through strcoll.
// PROBE_PERF=FILE: `perf record -g` of the reference's backend in round 1.
// PROBE_SESSIONS=2: each variant's COPY also as two halves in two sessions
// at once (as run's two writers and the bench's "two floors" do), with the
// CPU seconds of the backends beside each time: what copying at once costs
// Postgres against one session, variant by variant. PROBE_PERF2=FILE:
// `perf record -g` of the reference's two backends in round 1.
//
// usage: USAGE below (node bench/copy_probe.mjs --help)
import * as rig from '../tests/e2e/lib/rig.mjs';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readArgs, usageError, wholeNumber } from './lib/args.mjs';
import { procFigures } from './lib/cpu.mjs';

const USAGE = 'usage: PROBE_VARIANTS=schema,btree-tx node bench/copy_probe.mjs [N] [ROUNDS]   (defaults 100000, 4)';
const { positionals: pos } = readArgs(USAGE, {}, { positionals: 2 });
const N = wholeNumber(USAGE, 'N', pos[0], 100000, 2), ROUNDS = wholeNumber(USAGE, 'ROUNDS', pos[1], 4);
const VARIANTS = (process.env.PROBE_VARIANTS || 'schema,binary').split(',');
const ADDRESSES = wholeNumber(USAGE, 'PROBE_ADDRESSES', process.env.PROBE_ADDRESSES, 50, 50);
if (ADDRESSES % 50) usageError(USAGE, `PROBE_ADDRESSES: ${ADDRESSES} is not a multiple of 50 (the merchants)`);
const pg = await rig.startPostgres({}, { locale: process.env.PROBE_LOCALE || null });
const schema = fs.readdirSync(new URL('../schema/', import.meta.url)).sort()
  .map((f) => fs.readFileSync(new URL('../schema/' + f, import.meta.url), 'utf8'));
const admin = await pg.client('postgres');
let made = 0;
const fresh = async () => {
  const name = `probe_${made++}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const c = await pg.client(name);
  for (const s of schema) await c.query(s);
  await c.query(`INSERT INTO merchants (id) SELECT 'm' || g FROM generate_series(0, 49) g`);
  return c;
};
const COLS = 'chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index, token_address, token_symbol, ' +
  'from_address, to_address, merchant_id, amount_raw, decimals, amount, status, confirmations, confirmed_at, chain_family';
const hex = (seed, chars) => `substr(md5('a' || ${seed}) || md5('b' || ${seed}), 1, ${chars})`;
const src = await fresh();
await src.query(`INSERT INTO payments (${COLS}) SELECT 'local', 31337, g / 50, '0x' || ${hex("'blk' || g / 50", 64)},
  to_timestamp(1700000000 + g / 50), '0x' || ${hex("'tx' || g", 64)}, g % 50,
  '0x5fbdb2315678afecb367f032d93f642f64180aa3', 'USDC', '0x' || ${hex("'from' || g", 40)}, '0x' || ${hex(`'to' || g % ${ADDRESSES}`, 40)},
  'm' || (g % 50), (g::numeric * 1000003 + 1) * 1000000000000, 6, (g::numeric * 1000003 + 1) * 1000000, 'confirmed', 1,
  to_timestamp(1700000000 + g / 5000), 'evm' FROM generate_series(0, ${N - 1}) g`);
const file = (n) => path.join(pg.dir, n); // the cluster's own directory: the server reads it
await src.query(`COPY (SELECT ${COLS} FROM payments ORDER BY id) TO '${file('binary.copy')}' WITH (FORMAT binary)`);
// the columns each bytes variant stores as bytea; its rows' files are named
// after it, and written only for the variants asked for
const BYTEA_COLS = {
  bytea: ['block_hash', 'tx_hash', 'token_address', 'from_address', 'to_address'],
  'bytea-hashes': ['block_hash', 'tx_hash'],
};
const HALF = Math.floor(N / 2);
for (const [name, cols] of [['', []], ...VARIANTS.filter((v) => BYTEA_COLS[v]).map((v) => [v + '-', BYTEA_COLS[v]])]) {
  const select = COLS.split(', ').map((k) => (cols.includes(k) ? `decode(substr(${k}, 3), 'hex')` : k)).join(', ');
  await src.query(`COPY (SELECT ${select} FROM payments ORDER BY id) TO '${file(name + 'text.copy')}'`);
  await src.query(`COPY (SELECT ${select} FROM payments ORDER BY id LIMIT ${HALF}) TO '${file(name + 'half0.copy')}'`);
  await src.query(`COPY (SELECT ${select} FROM payments ORDER BY id OFFSET ${HALF}) TO '${file(name + 'half1.copy')}'`);
}
const rowsOf = (v) => (BYTEA_COLS[v] ? v + '-' : ''); // the prefix of variant v's rows' files
console.log((await src.query(`SELECT indexrelid::regclass::text AS i, pg_relation_size(indexrelid) AS bytes FROM pg_index
  WHERE indrelid = 'payments'::regclass ORDER BY 2 DESC`)).rows.map((x) => `  ${x.i}: ${x.bytes} bytes`).join('\n'));
await src.end();

const copy = (c, v) => c.query(v === 'binary' ? `COPY payments (${COLS}) FROM '${file('binary.copy')}' WITH (FORMAT binary)`
  : `COPY payments (${COLS}) FROM '${file(rowsOf(v) + 'text.copy')}'`);
const SESSIONS = Number(process.env.PROBE_SESSIONS || 1);
const res = Object.fromEntries(VARIANTS.map((v) => [v, []])); // ms, one session
const cpu = Object.fromEntries(VARIANTS.map((v) => [v, []])); // its backend's CPU-s
const two = Object.fromEntries(VARIANTS.map((v) => [v, []])); // { ms, cpu } of two sessions at once
const pidOf = async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
const cpuOf = (pid) => procFigures(pid).cpu_s; // a backend's CPU seconds so far
// Run work with `perf record -g` of the backends pids into file: perf
// starts with its events disabled and is told through a FIFO to enable
// them (--control), and work starts once it says it has (its "ack");
// perf stopped and its file written before this returns.
const underPerf = async (file, pids, work) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-perf-'));
  const ctl = path.join(dir, 'ctl'), ack = path.join(dir, 'ack');
  execFileSync('mkfifo', [ctl, ack]);
  const perf = spawn('perf', ['record', '-g', '-q', '-D', '-1', '--control', `fifo:${ctl},${ack}`, '-o', file,
    '-p', pids.join(',')], { stdio: 'ignore' });
  const exited = new Promise((ok) => perf.on('exit', ok));
  const failed = exited.then((code) => { throw new Error(`perf record exited (${code}) before it enabled its events`); });
  const fds = [];
  try {
    // perf opens ack for writing only once a reader has it open: both opened here, off the event loop
    const [acks, cmds] = await Promise.race([Promise.all([fs.promises.open(ack, 'r'), fs.promises.open(ctl, 'w')]), failed]);
    fds.push(acks, cmds);
    await cmds.write('enable\n');
    const buf = Buffer.alloc(16);
    const { bytesRead } = await Promise.race([acks.read(buf, 0, buf.length), failed]);
    if (!buf.subarray(0, bytesRead).toString().startsWith('ack')) throw new Error('perf record did not acknowledge enable');
    await work();
  } finally { // perf stopped and its file written, whatever happened
    if (perf.exitCode === null) perf.kill('SIGINT');
    await exited;
    await Promise.all(fds.map((f) => f.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
};
// Make database c's schema variant v.
const shape = async (c, v) => {
  if (v === 'btree-tx') await c.query('DROP INDEX payments_by_tx_hash; CREATE INDEX payments_by_tx_hash ON payments (tx_hash)');
  const dropChecks = async (re) => { // payments' CHECKs whose definition matches the regular expression re
    const checks = (await c.query(`SELECT conname FROM pg_constraint WHERE conrelid = 'payments'::regclass
      AND contype = 'c' AND pg_get_constraintdef(oid) ~ $1`, [re])).rows;
    for (const { conname } of checks) await c.query(`ALTER TABLE payments DROP CONSTRAINT ${conname}`);
  };
  if (v === 'nohexchecks') await dropChecks('(hash|address)'); // the five hash and address CHECKs
  if (v === 'bytea') {
    await c.query('DROP TRIGGER payments_settle_insert ON payments; DROP TRIGGER payments_settle_update ON payments');
    await dropChecks('(hash|address)');
  }
  if (v === 'bytea-hashes') await dropChecks('(block_hash|tx_hash)'); // the two hashes' CHECKs
  for (const k of BYTEA_COLS[v] || [])
    await c.query(`ALTER TABLE payments ALTER COLUMN ${k} TYPE bytea USING decode(substr(${k}, 3), 'hex'),
      ADD CHECK (octet_length(${k}) = ${k.endsWith('hash') ? 32 : 20})`);
  if (v === 'hash-to')
    await c.query('DROP INDEX payments_by_to_address; CREATE INDEX payments_by_to_address ON payments USING hash (to_address)');
  if (v === 'c-merchant') await c.query('ALTER TABLE payments ALTER COLUMN merchant_id TYPE text COLLATE "C"');
  if (v.startsWith('c:'))
    await c.query(`ALTER TABLE payments ${v.slice(2).split('+').map((k) => `ALTER COLUMN ${k} TYPE text COLLATE "C"`).join(', ')}`);
  if (v.startsWith('no:')) { // an index, or the constraint it serves
    const con = (await c.query('SELECT 1 FROM pg_constraint WHERE conname = $1', [v.slice(3)])).rows.length;
    await c.query(con ? `ALTER TABLE payments DROP CONSTRAINT ${v.slice(3)} CASCADE` : `DROP INDEX ${v.slice(3)}`);
  }
  if (v.startsWith('notrigger:')) await c.query(`DROP TRIGGER ${v.slice(10)} ON payments`);
};
for (let r = 0; r < ROUNDS; r++) {
  for (const v of r % 2 ? [...VARIANTS].reverse() : VARIANTS) {
    const c = await fresh();
    await shape(c, v);
    if (process.env.PROBE_PERF && r === 0 && v === VARIANTS[0]) {
      await underPerf(process.env.PROBE_PERF, [await pidOf(c)], () => copy(c, v));
      await c.query('TRUNCATE payments CASCADE');
    }
    // timed on a connection of its own, as each of the bench's floors is:
    // a new backend, whose first touches of the shared buffers fault
    const one = await pg.client(`probe_${made - 1}`);
    const pid = await pidOf(one), c0 = cpuOf(pid);
    const t0 = performance.now();
    await copy(one, v);
    res[v].push(performance.now() - t0);
    cpu[v].push(cpuOf(pid) - c0);
    await one.end();
    if (SESSIONS === 2) { // the two halves at once, in the same database emptied, on two new connections
      await c.query('TRUNCATE payments CASCADE');
      const db = `probe_${made - 1}`;
      const other = v === 'split-db' ? await fresh() : null;
      const cs = [await pg.client(db), await pg.client(other ? `probe_${made - 1}` : db)];
      const pids = await Promise.all(cs.map(pidOf));
      const before = pids.map(cpuOf);
      const halfFile = (k) => file(`${rowsOf(v)}half${k}.copy`);
      const halves = () => Promise.all(cs.map((x, k) => x.query(`COPY payments (${COLS}) FROM '${halfFile(k)}'`)));
      const t1 = performance.now();
      if (process.env.PROBE_PERF2 && r === 0 && v === VARIANTS[0]) await underPerf(process.env.PROBE_PERF2, pids, halves);
      else await halves();
      const ms = performance.now() - t1;
      const after = pids.map(cpuOf);
      two[v].push({ ms, cpu: after[0] - before[0] + after[1] - before[1] });
      await Promise.all(cs.map((x) => x.end()));
      if (other) await other.end();
    }
    await c.end();
  }
}
const fmt = (xs) => xs.map((x) => x.toFixed(2)).join(' ');
for (const v of VARIANTS) {
  console.log(`${v}: ${fmt(res[v].map((ms) => ms / 1000))} s, backend CPU ${fmt(cpu[v])} s`);
  if (SESSIONS === 2)
    console.log(`${v}, two sessions at once: ${fmt(two[v].map((x) => x.ms / 1000))} s, backends' CPU ${fmt(two[v].map((x) => x.cpu))} s;`
      + ` CPU against one session ${fmt(two[v].map((x, i) => x.cpu / cpu[v][i]))}`);
}
for (const v of VARIANTS.slice(1))
  console.log(`ratio ${v} / ${VARIANTS[0]} per round: ${res[v].map((ms, i) => (ms / res[VARIANTS[0]][i]).toFixed(2)).join(' ')}`);
await admin.end();
await rig.cleanupAll();
