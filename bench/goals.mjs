// goals.mjs: issue 16's goals read from several runs of the benchmark, each
// goal's figure in every run beside the median of the runs and how many runs
// met it (the issue asks for medians of at least 3 runs). Not a bench itself:
// it reads the files bench.mjs (the backfill and live sides) and
// webhook_bench.mjs (webhook delivery) wrote, told apart by their shape.
// `bench/run --goals N` makes N runs of each and calls it.
//
// A run's figure is what that run's own table says: the median over its
// rounds of the per-round ratio (the sides of one round ran back to back;
// compare within a run, never across runs). The median of the runs is the
// median of those figures. A goal is met by the median when the median is
// within its limit; "in every run" goals (live) only when every run is.
//
// Where the issue gives no number, the reading is this program's and is
// printed beside the goal:
//  - one slow endpoint "not lowering the others' rate": the others' rate
//    with the slow one at 0.95x or more of theirs alone (the rounds' spread
//    of one build against itself reaches 5 %: bench/HISTORY.md), read
//    twice: with the endpoints answering at once (the cores the bound)
//    and with every endpoint answering after 20 ms (the requests in
//    flight the bound, where a slow endpoint's requests could take the
//    others' slots);
//  - several dispatchers "add up": two at 1.5x or more of one where the
//    endpoints' latency bounds a dispatcher (every endpoint answering after
//    20 ms). Drained as fast as the machine allows, two share its two cores
//    with Postgres and the receiver; that figure is printed as well, with
//    no limit (bench/HISTORY.md, an eleventh session).
//
// usage: node bench/goals.mjs [--json] [--out FILE] RESULTS.json...
//   --json     the goals as JSON on stdout instead of the table
//   --out FILE also write that JSON to FILE
// Exit status: 0 when every file was read (met or not), 2 on a file it
// cannot read or tell apart, or no file at all.
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { readArgs, usageError } from './lib/args.mjs';
import { CORES, sideCpu } from './lib/cpu.mjs';
import { median } from './lib/stats.mjs';

const FULL_HISTORY = 100000; // transfers: the goals are read on bench.mjs's full history, not --quick's

// A figure of one run, or null when the run did not measure it.
const perRound = (xs, ys, f) => (xs && ys && xs.length && xs.length === ys.length ? median(xs.map((x, i) => f(x, ys[i], i))) : null);
const largest = (xs) => (xs.length ? Math.max(...xs) : null);

const measuredCpu = (xs) => xs.length > 0 && xs.every((x) => sideCpu(x) != null);

// The backfill's figures for transport side ('paywatch': ws; 'http': ws+http).
const backfill = (side) => ({
  floor: (r) => (r.runs.raw.length === r.runs.floor.length
    ? perRound(r.runs[side], r.runs.floor, (x, f, i) => x.ms / Math.max(f.ms, r.runs.raw[i].ms)) : null),
  script: (r) => perRound(r.runs[side], r.runs.script, (x, s) => s.ms / x.ms),
  // the least time the CPU of the side, Postgres and anvil allows on two
  // cores, over the same limit as `floor`; and how busy the cores were
  cpuBound: (r) => (r.runs.raw.length === r.runs.floor.length && measuredCpu(r.runs[side])
    ? perRound(r.runs[side], r.runs.floor, (x, f, i) => (sideCpu(x) / CORES * 1000) / Math.max(f.ms, r.runs.raw[i].ms)) : null),
  busy: (r) => (measuredCpu(r.runs[side]) ? median(r.runs[side].map((x) => sideCpu(x) / (CORES * x.ms / 1000))) : null),
  // the whole machine's busy share over the same windows (every process)
  machine: (r) => (r.runs[side].length && r.runs[side].every((x) => Number.isFinite(x.machine_busy))
    ? median(r.runs[side].map((x) => x.machine_busy)) : null),
  ponder: (r) => perRound(r.runs[side], r.runs.ponder, (x, p) => p.ms / x.ms),
});
const ws = backfill('paywatch'), wsHttp = backfill('http');
const sideMedian = (r, field) => {
  const xs = ['paywatch', 'http'].filter((k) => r.runs[k].length).map((k) => median(r.runs[k].map((x) => x[field])));
  return xs.length ? Math.max(...xs) : null;
};
const shape = (n) => (r) => r.results.find((s) => s.endpoints === n);
const ofShape = (n, f) => (r) => { const s = shape(n)(r); const v = s ? f(s) : null; return v ?? null; };

// Figures with no limit, printed beside the goals to say where a gap sits
// (their notes say so, not "this program's reading").
const SHARED = 'no limit: the two cores are shared with Postgres and the receiver';
const CPU_BOUND = 'no limit: the CPU-s of run, Postgres and anvil over two cores, against the floor goal\'s limit; ' +
  'above 1.1x, that goal needs less CPU, not fewer waits';
const BUSY = 'no limit: that CPU over twice the wall time';
const MACHINE = 'no limit: every process\'s CPU over twice the wall time (/proc/stat); above the cores busy, ' +
  'the bench\'s own and the kernel\'s threads; below 100 %, idle cores';
const RECEIVER = 'no limit: the receiver\'s CPU per delivery in the drains over its CPU per request under wrk ' +
  '(the same process, the same run); above 1x a delivery costs it more than a wrk request, on the cores the ' +
  'dispatcher and Postgres share';
const BESIDE = new Set([SHARED, CPU_BOUND, BUSY, MACHINE, RECEIVER]);
// The receiver's cost ratio of one shape (null in files from before the
// forty-second session, which lack its CPU under wrk).
const receiverCost = (s) => (s.cpu_median && Number.isFinite(s.median_receiver_wrk_us) && s.median_receiver_wrk_us > 0
  ? s.cpu_median.receiver_us / s.median_receiver_wrk_us : null);

// Each goal: where its figure comes from ('backfill' files or 'webhooks'
// files), how one run's figure is read, its limit, and how it is shown.
const GOALS = [
  { id: 'webhooks_50', label: 'webhooks, 50 endpoints: of the receiver\'s limit (wrk)', from: 'webhooks', at_least: 0.25,
    fig: ofShape(50, (s) => s.ratio), show: 'pct' },
  { id: 'webhooks_1000', label: 'webhooks, 1,000 endpoints: the same', from: 'webhooks', at_least: 0.25,
    fig: ofShape(1000, (s) => s.ratio), show: 'pct' },
  { id: 'receiver_cost_50', label: 'the receiver, 50: CPU per delivery over CPU per wrk request', from: 'webhooks',
    fig: ofShape(50, receiverCost), show: 'x', reading: RECEIVER },
  { id: 'receiver_cost_1000', label: 'the receiver, 1,000: the same', from: 'webhooks',
    fig: ofShape(1000, receiverCost), show: 'x', reading: RECEIVER },
  { id: 'slow_endpoint_50', label: 'one slow endpoint, 50: the others against alone', from: 'webhooks',
    at_least: 0.95, fig: ofShape(50, (s) => s.slow_over_alone), show: 'x', reading: 'not lower: 0.95x or more' },
  { id: 'slow_endpoint_1000', label: 'one slow endpoint, 1,000: the same', from: 'webhooks', at_least: 0.95,
    fig: ofShape(1000, (s) => s.slow_over_alone), show: 'x', reading: 'not lower: 0.95x or more' },
  { id: 'slow_endpoint_latency_50', label: 'one slow endpoint, 50, endpoints at 20 ms: the others against alone',
    from: 'webhooks', at_least: 0.95, fig: ofShape(50, (s) => s.latency_slow_over_alone), show: 'x',
    reading: 'not lower: 0.95x or more' },
  { id: 'slow_endpoint_latency_1000', label: 'one slow endpoint, 1,000, endpoints at 20 ms: the same', from: 'webhooks',
    at_least: 0.95, fig: ofShape(1000, (s) => s.latency_slow_over_alone), show: 'x', reading: 'not lower: 0.95x or more' },
  { id: 'dispatchers_latency_50', label: 'two dispatchers, 50, endpoints at 20 ms: against one',
    from: 'webhooks', at_least: 1.5, fig: ofShape(50, (s) => s.latency_two_over_one), show: 'x', reading: 'add up: 1.5x or more' },
  { id: 'dispatchers_latency_1000', label: 'two dispatchers, 1,000, endpoints at 20 ms: the same', from: 'webhooks', at_least: 1.5,
    fig: ofShape(1000, (s) => s.latency_two_over_one), show: 'x', reading: 'add up: 1.5x or more' },
  { id: 'dispatchers_cores_50', label: 'two dispatchers, 50, as fast as the cores allow',
    from: 'webhooks', fig: ofShape(50, (s) => s.two_over_one), show: 'x', reading: SHARED },
  { id: 'dispatchers_cores_1000', label: 'two dispatchers, 1,000, as fast as the cores allow', from: 'webhooks',
    fig: ofShape(1000, (s) => s.two_over_one), show: 'x', reading: SHARED },
  { id: 'backfill_floor_ws', label: 'backfill (ws) over the slower of raw fetch, COPY floor', from: 'backfill',
    at_most: 1.1, fig: ws.floor, show: 'x' },
  { id: 'backfill_floor_http', label: 'backfill (ws+http): the same', from: 'backfill', at_most: 1.1,
    fig: wsHttp.floor, show: 'x' },
  { id: 'backfill_cpu_bound_ws', label: 'backfill (ws): the least time its CPU allows, over the same', from: 'backfill',
    fig: ws.cpuBound, show: 'x', reading: CPU_BOUND },
  { id: 'backfill_cpu_bound_http', label: 'backfill (ws+http): the same', from: 'backfill', fig: wsHttp.cpuBound, show: 'x',
    reading: CPU_BOUND },
  { id: 'backfill_busy_ws', label: 'backfill (ws): the two cores busy', from: 'backfill', fig: ws.busy, show: 'pct',
    reading: BUSY },
  { id: 'backfill_busy_http', label: 'backfill (ws+http): the same', from: 'backfill', fig: wsHttp.busy, show: 'pct',
    reading: BUSY },
  { id: 'backfill_machine_busy_ws', label: 'backfill (ws): the machine busy, every process', from: 'backfill',
    fig: ws.machine, show: 'pct', reading: MACHINE },
  { id: 'backfill_machine_busy_http', label: 'backfill (ws+http): the same', from: 'backfill', fig: wsHttp.machine,
    show: 'pct', reading: MACHINE },
  { id: 'backfill_script_ws', label: 'backfill (ws): times as fast as the script', from: 'backfill',
    at_least: 1.3, fig: ws.script, show: 'x' },
  { id: 'backfill_script_http', label: 'backfill (ws+http): the same', from: 'backfill', at_least: 1.3, fig: wsHttp.script,
    show: 'x' },
  { id: 'backfill_ponder_ws', label: 'backfill (ws): times as fast as Ponder', from: 'backfill', at_least: 10,
    fig: ws.ponder, show: 'x' },
  { id: 'backfill_ponder_http', label: 'backfill (ws+http): the same', from: 'backfill', at_least: 10, fig: wsHttp.ponder,
    show: 'x' },
  { id: 'backfill_rss', label: 'backfill peak RSS (the larger side)', from: 'backfill', at_most: 60,
    fig: (r) => sideMedian(r, 'rss_mb'), show: 'MB' },
  { id: 'backfill_cpu', label: 'backfill CPU (the larger side)', from: 'backfill', at_most: 2,
    fig: (r) => sideMedian(r, 'cpu_s'), show: 'CPU-s' },
  { id: 'live_row_p99', label: 'live row p99 (1 or 3 confirmations)', from: 'backfill', at_most: 20,
    every: true, fig: (r) => largest((r.live || []).map((l) => l.row_p99_ms)), show: 'ms' },
  { id: 'live_webhook_p99', label: 'live webhook p99 (1 or 3)', from: 'backfill', at_most: 50, every: true,
    fig: (r) => largest((r.live || []).map((l) => l.hook_p99_ms)), show: 'ms' },
];

const within = (g, v) => (g.at_least != null ? v >= g.at_least : g.at_most != null ? v <= g.at_most : null);
const fmt = (g, v) => {
  if (v == null) return '-';
  if (g.show === 'pct') return `${(v * 100).toFixed(1)} %`;
  if (g.show === 'x') return `${v.toFixed(2)}x`;
  return `${v.toFixed(g.show === 'ms' || g.show === 'MB' ? 1 : 2)} ${g.show}`;
};
const limitText = (g) => (g.at_least != null ? `>= ${fmt(g, g.at_least)}` : g.at_most != null ? `<= ${fmt(g, g.at_most)}` : '');

/** Read each goal over the runs: runs is { backfill: [{ file, data }], webhooks: [...] }. Returns one entry per goal:
 * its figure per run (null where a run did not measure it), the median of the runs that did, and whether the goal is
 * met (null: no limit, or no run measured it). */
export function readGoals(runs) {
  return GOALS.map((g) => {
    const per_run = runs[g.from].map((r) => g.fig(r.data));
    const got = per_run.filter((v) => v != null);
    const med = got.length ? median(got) : null;
    const runs_met = got.filter((v) => within(g, v)).length;
    const limited = g.at_least != null || g.at_most != null;
    const met = !limited || !got.length ? null : g.every ? runs_met === got.length : within(g, med);
    return { id: g.id, label: g.label, limit: limitText(g), reading: g.reading || null, every_run: !!g.every,
      per_run, median: med, runs: got.length, runs_met: limited ? runs_met : null, met,
      shown: { per_run: per_run.map((v) => fmt(g, v)), median: fmt(g, med) } };
  });
}

/** Tell a results file apart: 'backfill' (bench.mjs: runs, live), 'webhooks' (webhook_bench.mjs: results per
 * shape), or null. */
export function kindOf(data) {
  if (data && data.runs && Array.isArray(data.runs.paywatch)) return 'backfill';
  if (data && Array.isArray(data.results) && data.results.every((s) => typeof s.endpoints === 'number')) return 'webhooks';
  return null;
}

function table(goals, runs) {
  const n = Math.max(runs.backfill.length, runs.webhooks.length);
  const head = ['goal', 'limit', ...Array.from({ length: n }, (_, i) => `run ${i + 1}`), 'median', 'met'];
  const notes = [...new Set(goals.map((g) => g.reading).filter(Boolean))];
  const rows = goals.map((g) => [g.label + (g.reading ? ` [${notes.indexOf(g.reading) + 1}]` : ''), g.limit,
    ...Array.from({ length: n }, (_, i) => g.shown.per_run[i] || '-'), g.shown.median,
    g.met == null ? (g.runs ? '' : 'not measured') : `${g.met ? 'yes' : 'no'} (${g.runs_met} of ${g.runs} runs${g.every_run ? ', every run' : ''})`]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line), ...notes.map((x, i) => `[${i + 1}] ${x} (${BESIDE.has(x) ? 'beside the goals, not one of them' : 'this program\'s reading of the issue'})`)]
    .join('\n');
}

const USAGE = 'usage: node bench/goals.mjs [--json] [--out FILE] RESULTS.json...\n' +
  '  RESULTS: files bench/bench.mjs and bench/webhook_bench.mjs wrote (bench/run --goals N makes N of each)';

function main(argv) {
  const { values, positionals: files } = readArgs(USAGE, { json: { type: 'boolean' }, out: { type: 'string' } },
    { positionals: Infinity, argv });
  const json = !!values.json, out = values.out ?? null;
  if (!files.length) usageError(USAGE, 'no RESULTS file given');
  const runs = { backfill: [], webhooks: [] };
  for (const file of files) {
    let data;
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      console.error(`goals: ${file}: cannot read it: ${e.message}`);
      return 2;
    }
    const kind = kindOf(data);
    if (!kind) {
      console.error(`goals: ${file}: neither bench.mjs's nor webhook_bench.mjs's results`);
      return 2;
    }
    runs[kind].push({ file, data });
  }
  const goals = readGoals(runs);
  const short = runs.backfill.filter((r) => r.data.transfers !== FULL_HISTORY).map((r) => r.file);
  const doc = { at: new Date().toISOString(), files: { backfill: runs.backfill.map((r) => r.file),
    webhooks: runs.webhooks.map((r) => r.file) }, not_full_history: short, goals };
  if (out) fs.writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
  if (json) {
    console.log(JSON.stringify(doc, null, 2));
    return 0;
  }
  console.log(`issue 16's goals over ${runs.backfill.length} backfill run(s) and ${runs.webhooks.length} webhook run(s); ` +
    'each run\'s figure the median of its rounds');
  for (const [k, rs] of Object.entries(runs)) rs.forEach((r, i) => console.log(`  ${k} run ${i + 1}: ${r.file}`));
  if (short.length) console.log(`  not the ${FULL_HISTORY.toLocaleString('en')}-transfer history (--quick?): ${short.join(', ')}`);
  console.log(table(goals, runs));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main(process.argv.slice(2));
