// test_args.mjs: every bench and probe reads its command line strictly
// (bench/lib/args.mjs), and so do the README's two set-up commands and
// bench/run (the last checks): --help prints its usage and exits 0, and a
// mistyped option, a stray argument, a count that is not a whole number in
// its range, or a value the bench does not know stops it at once with exit
// 2, what is wrong and the usage, before it starts anything (before, each
// of these ran the whole bench, minutes long, with the option ignored or
// a count of NaN). Nothing here runs a bench: each refusal comes back
// within seconds, and none prints a bench's progress.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let passed = 0;
const check = (name, fn) => { fn(); passed++; console.log(`ok ${passed} - ${name}`); };
// env: without PAYWATCH_BIN_BASE, whatever the caller's environment holds
const run = (script, args, env = {}) => spawnSync(process.execPath, [path.join(root, 'bench', script), ...args],
  { encoding: 'utf8', timeout: 60000, env: { ...process.env, PAYWATCH_BIN_BASE: '', ...env } });

const SCRIPTS = ['bench.mjs', 'webhook_bench.mjs', 'api_bench.mjs', 'registry_bench.mjs', 'goals.mjs',
  'claim_explain.mjs', 'settle_probe.mjs', 'warm_probe.mjs', 'copy_probe.mjs', 'payload_probe.mjs'];

// A refusal: exit 2, the reason on stderr with the script's name, then its
// usage; nothing started (no progress line of a bench: "bench...: ").
const refused = (script, args, reason, env = {}) => {
  const r = run(script, args, env);
  assert.equal(r.status, 2, `${script} ${args.join(' ')}: exit ${r.status} (${r.error?.message ?? ''}) ${r.stderr}`);
  const [first, second] = r.stderr.split('\n');
  assert.equal(first, `${script}: ${reason}`, r.stderr);
  assert.match(second, new RegExp(`^usage: (?:\\S+=\\S+ )?node bench/${script.replace('.', '\\.')}`), r.stderr);
  assert.doesNotMatch(r.stderr, /^bench( [a-z]+)?: /m, `${script} started: ${r.stderr}`);
  assert.equal(r.stdout, '');
};

for (const script of SCRIPTS) {
  check(`${script} --help prints its usage and exits 0`, () => {
    for (const h of ['--help', '-h']) {
      const r = run(script, [h]);
      assert.equal(r.status, 0, `${script} ${h}: exit ${r.status}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: (?:\\S+=\\S+ )?node bench/${script.replace('.', '\\.')}`), r.stdout);
      assert.equal(r.stderr, '');
    }
  });
  check(`${script} refuses an option it does not know`, () =>
    refused(script, ['--rounds-typo', '3'], "unknown option '--rounds-typo'"));
}

check('a count that is not a whole number in its range is refused', () => {
  refused('webhook_bench.mjs', ['--rounds', '0'], "--rounds: '0' is not a whole number of at least 1");
  refused('webhook_bench.mjs', ['--rounds', '2x'], "--rounds: '2x' is not a whole number of at least 1");
  refused('webhook_bench.mjs', ['--in-flight', '10001'], "--in-flight: '10001' is not a whole number from 1 to 10000");
  refused('bench.mjs', ['--rounds', '-1'],
    "option '--rounds' needs a value (one that starts with '-' goes as --rounds=VALUE)");
  refused('bench.mjs', ['--rounds=-1'], "--rounds: '-1' is not a whole number of at least 1");
  refused('settle_probe.mjs', ['many'], "ROUNDS: 'many' is not a whole number of at least 1");
  refused('copy_probe.mjs', ['1'], "N: '1' is not a whole number of at least 2");
  refused('copy_probe.mjs', [], "PROBE_ADDRESSES: '1k' is not a whole number of at least 50", { PROBE_ADDRESSES: '1k' });
  refused('copy_probe.mjs', [], 'PROBE_ADDRESSES: 70 is not a multiple of 50 (the merchants)', { PROBE_ADDRESSES: '70' });
  refused('payload_probe.mjs', ['0'], "N: '0' is not a whole number of at least 1");
  refused('webhook_bench.mjs', ['--threads', '17'], "--threads: '17' is not a whole number from 1 to 16");
  refused('bench.mjs', ['--pg-explain', 'slow'], "--pg-explain: 'slow' is not a whole number of at least 0");
});

check('an option without its value, or a stray argument, is refused', () => {
  refused('api_bench.mjs', ['--rounds'], "option '--rounds' needs a value");
  refused('registry_bench.mjs', ['1000'], "unexpected argument '1000'");
  refused('webhook_bench.mjs', ['--only-rate=yes'], "option '--only-rate' takes no value");
  refused('claim_explain.mjs', ['1', '2', '3', '4'], "unexpected argument '4'");
});

check('values a bench does not know are refused', () => {
  refused('bench.mjs', ['--only', 'paywatch,raws'],
    "--only: unknown side 'raws' (raw, paywatch, hooks, http, floor, replay, " +
    'script, ponder, live, matcher, config, outbox)');
  refused('bench.mjs', ['--pg-statements', '--pg-explain', '100'], '--pg-statements and --pg-explain: one profile per run');
  refused('webhook_bench.mjs', ['--shapes', '50,100'], "--shapes: '100' is not 50 or 1000");
  refused('webhook_bench.mjs', ['--only-rate', '--only-latency'], '--only-rate and --only-latency: one or the other');
  refused('webhook_bench.mjs', ['--base-in-flight', '8'],
    '--base-sql, --base-args, --base-in-flight and --base-threads need PAYWATCH_BIN_BASE');
  refused('webhook_bench.mjs', ['--base-threads', '1'],
    '--base-sql, --base-args, --base-in-flight and --base-threads need PAYWATCH_BIN_BASE');
});

// The README's two set-up commands and bench/run read their arguments
// before they install or build anything (pw_log's "==> " lines): --help
// answers at once, and an argument they do not take stops them (before,
// `bash scripts/test.sh --help` ran the whole suite, and `bash
// scripts/demo.sh --kep` the demo without --keep).
const sh = (script, args) => spawnSync('bash', [path.join(root, script), ...args],
  { encoding: 'utf8', timeout: 60000 });
check('scripts/demo.sh, scripts/test.sh and bench/run answer --help before doing anything', () => {
  for (const [script, usage] of [['scripts/demo.sh', 'usage: bash scripts/demo.sh [--keep]'],
    ['scripts/test.sh', 'usage: bash scripts/test.sh'], ['bench/run', 'bench/run --goals N']]) {
    const r = sh(script, ['--help']);
    assert.equal(r.status, 0, `${script} --help: exit ${r.status}: ${r.stderr}`);
    assert.ok(r.stdout.includes(usage), `${script} --help: ${r.stdout}`);
    assert.doesNotMatch(r.stdout + r.stderr, /==> /, `${script} --help did something: ${r.stdout}${r.stderr}`);
  }
});
check('scripts/demo.sh and scripts/test.sh refuse an argument they do not take, before doing anything', () => {
  for (const [script, arg] of [['scripts/demo.sh', '--kep'], ['scripts/test.sh', '--help-me']]) {
    const r = sh(script, [arg]);
    assert.equal(r.status, 2, `${script} ${arg}: exit ${r.status}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^${path.basename(script)}: unknown argument '${arg}'`), r.stderr);
    assert.match(r.stderr, /\nusage: bash scripts\//, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /==> /, `${script} ${arg} did something: ${r.stdout}${r.stderr}`);
  }
});

// tests/mutations.py plants 81 bugs and runs their tests, an hour or more:
// before, it read its arguments by hand, so `--help` and a mistyped option
// started the whole run (building its scratch copy first).
const py = (args) => spawnSync('python3', [path.join(root, 'tests', 'mutations.py'), ...args], { encoding: 'utf8', timeout: 60000 });
check('tests/mutations.py answers --help and refuses what it does not take, before planting anything', () => {
  const h = py(['--help']);
  assert.equal(h.status, 0, `--help: exit ${h.status}: ${h.stderr}`);
  assert.match(h.stdout, /^usage: python3 tests\/mutations\.py /, h.stdout);
  assert.doesNotMatch(h.stdout + h.stderr, /building the scratch copy/, h.stdout);
  for (const args of [['--bogus'], ['--only'], ['--only', ''], ['--only', ','], ['--list', '--check'], ['stray']]) {
    const r = py(args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^usage: python3 tests\/mutations\.py /, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /building the scratch copy/, `${args.join(' ')} started: ${r.stdout}`);
  }
  const u = py(['--only', 'no-such-mutation']);
  assert.equal(u.status, 2, `--only no-such-mutation: exit ${u.status}`);
  assert.match(u.stderr, /unknown mutation\(s\): no-such-mutation/, u.stderr);
});

console.log(`bench_args: ${passed} passed`);
