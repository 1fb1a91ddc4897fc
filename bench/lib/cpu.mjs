// cpu.mjs: CPU seconds and peak RSS of the bench's processes, from /proc
// (Linux; USER_HZ 100). Shared by bench.mjs and webhook_bench.mjs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const TICK = 100; // USER_HZ on Linux

// The pids of every process whose command line matches pattern (pgrep -f).
function pids(pattern) {
  return spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
}
// /proc/PID/stat's fields after the command name: [0] is the state, [11]
// utime, [12] stime, [13] cutime, [14] cstime (proc(5) numbers them 3 on).
function statFields(pid) {
  return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
}
// The sum of f(pid) over the live processes matching pattern, in seconds
// (a process that ended between pgrep and the read counts 0).
function sumOver(pattern, f) {
  let cpu = 0;
  for (const pid of pids(pattern)) { try { cpu += f(pid); } catch { /* ended */ } }
  return cpu;
}
// CPU seconds used so far by every process of a user's command (Postgres
// backends, anvil): the sides' shares of the machine's two cores.
const cpuOf = (pattern) => sumOver(pattern, (pid) => procFigures(pid).cpu_s);
// Postgres: the live backends, plus what the postmaster has reaped from
// backends that ended (its cutime + cstime), e.g. replay's connection
const reapedCpu = (pattern) => sumOver(pattern, (pid) => { const s = statFields(pid); return (Number(s[13]) + Number(s[14])) / TICK; });

// The machine's CPU time so far, every core, from /proc/stat's first line
// (proc(5): user nice system idle iowait irq softirq steal, in ticks;
// guest time is inside user's): busy is all but idle and iowait.
export function machineTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}
// The share of the machine's cores busy between two machineTicks(), 0-1,
// whoever ran: the sides' processes and all the others (the bench itself,
// the kernel's threads); null when no tick passed.
export function busyShare(before, now) {
  const total = now.total - before.total;
  return total > 0 ? (now.busy - before.busy) / total : null;
}

const PG_PATTERN = '^postgres: ', ANVIL_PATTERN = 'node_modules/.bin/anvil|/anvil-linux';
// The CPU beside a side (Postgres, anvil) and the machine's ticks, taken
// before it starts; otherCpuSince(before) at its end gives the CPU seconds
// of each since, and machine_busy: the whole machine's busy share over the
// same window. The machine's ticks are read after the pgreps here and before
// them there, so that their CPU stays out of the window.
export function otherCpu() {
  const pg = cpuOf(PG_PATTERN) + reapedCpu('bin/postgres -D'), anvil = cpuOf(ANVIL_PATTERN);
  return { pg, anvil, machine: machineTicks() };
}
export function otherCpuSince(before) {
  const machine_busy = busyShare(before.machine, machineTicks());
  const now = otherCpu();
  return { pg_cpu_s: now.pg - before.pg, anvil_cpu_s: now.anvil - before.anvil, machine_busy };
}

// The pids of root and its descendants, from /proc (field 4 of
// /proc/PID/stat, the parent): no pgrep, whose spawn and scan cost about
// 14 ms of CPU each.
export function treePids(root) {
  const parent = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (d.charCodeAt(0) > 57) continue; // not a pid
    try { parent.set(d, statFields(d)[1]); } catch { /* ended */ }
  }
  const out = [String(root)];
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, pp] of parent)
      if (out.includes(pp) && !out.includes(pid)) { out.push(pid); grew = true; }
  }
  return out;
}

// The machine's cores (README: Performance): what a side's CPU is spread over.
export const CORES = 2;
// The CPU seconds of a backfill side (bench.mjs's runs: cpu_s) and beside
// it (Postgres, anvil); null where one of the three was not measured (no
// figure rather than one that leaves a process out).
export function sideCpu(x) {
  return ['cpu_s', 'pg_cpu_s', 'anvil_cpu_s'].every((k) => Number.isFinite(x[k])) ? x.cpu_s + x.pg_cpu_s + x.anvil_cpu_s : null;
}

// A process's peak RSS (MB, VmHWM) and CPU seconds so far (utime + stime).
export function procFigures(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = statFields(pid);
  return { rss_mb: Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024, cpu_s: (Number(stat[11]) + Number(stat[12])) / TICK };
}
