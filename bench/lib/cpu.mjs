// cpu.mjs: CPU seconds and peak RSS of the bench's processes, from /proc
// (Linux; USER_HZ 100). Shared by bench.mjs and webhook_bench.mjs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

// CPU seconds used so far by every process of a user's command (Postgres
// backends, anvil): the sides' shares of the machine's two cores.
function cpuOf(pattern) {
  const pids = spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  let cpu = 0;
  for (const pid of pids) { try { cpu += procFigures(pid).cpu_s; } catch { /* ended */ } }
  return cpu;
}
// Postgres: the live backends, plus what the postmaster has reaped from
// backends that ended (its cutime + cstime), e.g. replay's connection
function reapedCpu(pattern) {
  let cpu = 0;
  for (const pid of spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      cpu += (Number(stat[13]) + Number(stat[14])) / 100;
    } catch { /* ended */ }
  }
  return cpu;
}
const PG_PATTERN = '^postgres: ', ANVIL_PATTERN = 'node_modules/.bin/anvil|/anvil-linux';
export function otherCpu() { return { pg: cpuOf(PG_PATTERN) + reapedCpu('bin/postgres -D'), anvil: cpuOf(ANVIL_PATTERN) }; }
export function otherCpuSince(before) { const now = otherCpu(); return { pg_cpu_s: now.pg - before.pg, anvil_cpu_s: now.anvil - before.anvil }; }

export function procFigures(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const tick = 100; // USER_HZ on Linux
  return { rss_mb: Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024, cpu_s: (Number(stat[11]) + Number(stat[12])) / tick };
}
