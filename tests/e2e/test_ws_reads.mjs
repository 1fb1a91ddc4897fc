// test_ws_reads.mjs: how the websocket client reads a large eth_getLogs
// answer from its socket, on real parts: anvil, TestToken, a throwaway
// Postgres, and paywatch run under strace (the system calls as the kernel
// sees them; strace is a Debian package that scripts/deps.sh installs).
//   - 450 Transfer logs in three blocks: the backfill's answer is some
//     hundreds of kB on the websocket, and every payment arrives;
//   - the chain's socket (the connection to anvil's port) is read with
//     64 KiB reads (chains/jsonrpc.c, RPC_READ_BYTES: lws's service buffer,
//     4 KiB by default), and some read took more than 4 KiB at once. With
//     4 KiB reads a backfill's 63 MB took 15,414 recvfrom() calls, 946 at
//     64 KiB (bench/HISTORY.md, a twenty-eighth session).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const MERCHANT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const BATCHES = 3, PER_BATCH = 150;
const READ_BYTES = 64 * 1024;

// The recvfrom() calls strace -f wrote to file, on the sockets connected to
// 127.0.0.1:port: [{ asked, got }] (got -1: an error, EAGAIN among them). A
// call another thread's line interrupted ("<unfinished ...>", then "<...
// recvfrom resumed>") is joined first, by thread id. A socket is keyed by
// its fd alone: paywatch's threads share its fds, and the thread that
// connects need not be the one that reads.
function socketReads(file, port) {
  const pending = new Map();
  const lines = [];
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\d+)\s+(.*)$/.exec(raw);
    if (!m) continue;
    const [, pid, rest] = m;
    if (rest.endsWith('<unfinished ...>')) { pending.set(pid, rest.slice(0, -'<unfinished ...>'.length)); continue; }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(rest);
    if (resumed) { lines.push(`${pending.get(pid) || ''}${resumed[1]}`); pending.delete(pid); continue; }
    lines.push(rest);
  }
  const fds = new Set();
  const reads = [];
  for (const l of lines) {
    const c = /^connect\((\d+), \{sa_family=AF_INET, sin_port=htons\((\d+)\)/.exec(l);
    if (c) { if (Number(c[2]) === port) fds.add(c[1]); else fds.delete(c[1]); continue; }
    const cl = /^close\((\d+)\)/.exec(l);
    if (cl) { fds.delete(cl[1]); continue; }
    const r = /^recvfrom\((\d+), .*?, (\d+), [^)]*\)\s+= (-?\d+)/.exec(l);
    if (r && fds.has(r[1])) reads.push({ asked: Number(r[2]), got: Number(r[3]) });
  }
  return reads;
}

async function main() {
  if (spawnSync('strace', ['-V']).status !== 0) {
    rig.check(false, 'strace is installed (scripts/deps.sh installs it)');
    return;
  }
  const work = rig.workDir('pw-wsreads-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 18n });
  for (let b = 0; b < BATCHES; b++) {
    const values = Array.from({ length: PER_BATCH }, (_, i) => BigInt(b * PER_BATCH + i + 1));
    await node.receipt(await usdc.batchTransfer(deployer, values.map(() => MERCHANT), values));
  }
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 1,
      tokens: [{ symbol: 'USDC', address: usdc.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [MERCHANT] } }],
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');

  // strace runs paywatch as its child; SIGTERM goes to paywatch itself (strace
  // would detach and leave it running). LeakSanitizer cannot stop the world
  // under ptrace: a sanitizer build's leak check is off for this run.
  const trace = path.join(work, 'strace.txt');
  const asan = [process.env.ASAN_OPTIONS, 'detect_leaks=0'].filter(Boolean).join(':');
  const st = rig.startPaywatch('strace', ['-f', '-qq', '-s', '0', '-e', 'trace=connect,close,recvfrom', '-o', trace,
    bin, 'run', '-c', cfg], { ASAN_OPTIONS: asan });
  rig.onCleanup(() => { spawnSync('pkill', ['-KILL', '-P', String(st.proc.pid)]); });
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  const total = BATCHES * PER_BATCH;
  await rig.waitFor(`the ${total} backfilled payments`, async () =>
    (await db.query('SELECT count(*)::int AS n FROM payments')).rows[0].n === total, 120000);
  const sum = (await db.query('SELECT sum(amount_raw)::text AS s FROM payments')).rows[0].s;
  rig.check(sum === String((total * (total + 1)) / 2), `every payment once, in base units (sum ${sum})`);

  const child = spawnSync('pgrep', ['-P', String(st.proc.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  rig.check(/^\d+$/.test(child), `paywatch runs as strace's child (${child})`);
  if (/^\d+$/.test(child)) process.kill(Number(child), 'SIGTERM');
  const exited = await st.done;
  rig.check(exited.code === 0, `paywatch exits 0 on SIGTERM (strace: ${JSON.stringify(exited)})`);

  const reads = socketReads(trace, node.port);
  const asked = Math.max(0, ...reads.map((r) => r.asked));
  const got = Math.max(0, ...reads.map((r) => r.got));
  const bytes = reads.reduce((n, r) => n + Math.max(0, r.got), 0);
  rig.check(reads.length > 0 && bytes > 200 * 1024,
    `the chain's socket to anvil was found and read (${reads.length} recvfrom calls, ${bytes} bytes)`);
  rig.check(asked === READ_BYTES, `a read asks for ${READ_BYTES} bytes at most (asked ${asked})`);
  rig.check(got > 4096, `some read took more than 4 KiB at once (the largest ${got} bytes)`);
}

rig.runTest('e2e_ws_reads', main);
