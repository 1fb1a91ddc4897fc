// test_cli_inputs.mjs: every argument of every command, hostile, against
// real parts (anvil, a throwaway Postgres): the command line is an edge
// like the API. Each command is given valid arguments (checked once: they
// work) with one argument at a time replaced by a hostile value: 5,000
// bytes and an empty value for each, bytes that are not UTF-8 and a
// terminal escape for one of each command (a lone continuation byte, a C1
// control and a carriage return once), and for numbers, amounts, days and
// times values out of range or of another shape. What is asked of every answer:
//  - the process exits (0, 1 or 2), not a signal, and the sanitizer build
//    reports nothing;
//  - bytes that are not UTF-8 are a usage error (exit 2), and a number or
//    date out of range or shape too: no such value reaches Postgres (no
//    "ERROR:" of Postgres's in the output, the command line's 5xx);
//  - stdout and stderr are UTF-8 with no control character but newline and
//    tab: a value is escaped before it is shown.
// The table is checked against each command's --help: an option the help
// names and the table does not sweep fails the test, so a new option is
// swept from the start.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const ADDR = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const ADDR2 = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
const CFG_ADDR = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';

// bash's $'...' quoting of every byte: argv can carry bytes no JS string
// can (spawn encodes its arguments as UTF-8)
const quote = (v) => "$'" + [...Buffer.from(v)].map((x) => '\\x' + x.toString(16).padStart(2, '0')).join('') + "'";
function runBytes(args, env) {
  return spawnSync('bash', ['-c', 'exec "$PW_BIN" ' + args.map(quote).join(' ')],
    { env: { ...process.env, ...env, PW_BIN: bin }, timeout: 60000, maxBuffer: 1 << 26 });
}

// Every value of every command: these reach the command's own code.
// PW_SWEEP=lean (the sanitizer build's ctest sets it: each of its
// processes costs about 4x, and the suite has to stay in time) sends the
// 5,000 bytes alone, and no typed values.
const LEAN = process.env.PW_SWEEP === 'lean';
const HOSTILE = [
  ['5,000 bytes', 'a'.repeat(5000), null],
  ...(LEAN ? [] : [['empty', '', null]]),
];
// For the first value of each command: bytes the check every argument
// passes refuses before any command runs, so one value shows it per
// command (the rarer three for the first command only).
const HOSTILE_ONCE = [
  ['not UTF-8', Buffer.from([0x61, 0xff, 0xfe, 0x62]), 2],
  ['a terminal escape', '\x1b[31mred\x1b[0m', 2],
];
const HOSTILE_FIRST = [
  ['a lone continuation byte', Buffer.from([0x80]), 2],
  ['a C1 control (CSI)', '\u009b31m', 2],
  ['a carriage return', 'a\rb', 2],
];
const NUMBERS = ['-1', ' 1', '1e3', '0x10', '18446744073709551616', '9223372036854775808', '1.5'];
// amounts in token units (USDC: 6 decimals, at most a uint256 of base units)
const AMOUNTS = ['-1', ' 1', '1e3', '0x10', '1.1234567', '0', '1' + '0'.repeat(72), '.5', '1.'];
// times no calendar has (--since takes what Postgres reads as a timestamptz:
// "today", "20260101"), and days written otherwise (report: YYYY-MM-DD only)
const TIMES = ['2026-02-31', '2026-13-01', '2026-01-01T25:00:00Z', '0000-01-01', 'someday'];
const DAYS = [...TIMES, '20260101', '2026-1-01', '2026-01-01T00:00:00Z'];

const decoder = new TextDecoder('utf-8', { fatal: true });
const utf8 = (b) => { try { decoder.decode(b); return true; } catch { return false; } };
// eslint-disable-next-line no-control-regex
const controls = (s) => /[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(s);
const shown = (b) => JSON.stringify(b.toString('latin1').slice(0, 160));

async function main() {
  const work = rig.workDir('pw-cli-inputs-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 1, start_block: 0,
      tokens: [{ symbol: 'USDC', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }] }],
    merchants: [{ id: 'cfgm', addresses: { local: [CFG_ADDR] } }],
  });
  const key = rig.runPaywatchSync(bin, ['secrets', 'new-key']).stdout.trim();
  const env = { PAYWATCH_SECRET_KEY: key };
  const ok = (args, what) => {
    const r = runBytes(args, env);
    rig.check(r.status === 0, `${what}: exit 0 (${r.status}: ${r.stderr.toString().trim().slice(0, 300)})`);
    return r;
  };
  ok(['migrate', '-c', cfg], 'migrate');
  const fx = JSON.parse(fs.readFileSync(path.join(rig.fixturesDir, 'vectors', 'anvil_default_accounts_bip44_eth.json'), 'utf8'));
  const xpub = fx.derived_not_in_source["xpub_m/44'/60'/0'/0"];
  ok(['merchants', 'add', 'acme', '-c', cfg], 'merchants add acme');
  ok(['addresses', 'add', '--merchant', 'acme', '--chain', 'local', ADDR, '-c', cfg], 'addresses add');
  ok(['merchants', 'add', 'hdm', '--xpub', xpub, '--path', '1/*', '--chains', 'local', '--gap-limit', '5', '-c', cfg],
    'merchants add hdm --xpub');
  ok(['endpoints', 'add', '--merchant', 'acme', '--id', 'main', '--url', 'http://127.0.0.1:9/hook', '-c', cfg], 'endpoints add');
  const inv = JSON.parse(ok(['invoices', 'create', '--merchant', 'hdm', '--chain', 'local', '--token', 'USDC', '--amount', '1.5',
    '--reference', 'order-1', '-c', cfg, '--json'], 'invoices create').stdout.toString());

  // [argv, { option, or @N for argv[N]: the kind of its value }, whether the argv itself is run]; kind: text, number, date
  const T = 'text', N = 'number', D = 'day', S = 'time', A = 'amount';
  const table = [
    [['--log-format', 'text', '--log-level', 'info', 'check-config', '-c', cfg], { '--log-format': T, '--log-level': T, '-c': T }],
    [['migrate', '-c', cfg], { '-c': T }],
    [['status', '-c', cfg, '--json'], { '-c': T }],
    [['api-key', 'new', '--merchant', 'acme'], { '--merchant': T }],
    [['derive', '--xpub', xpub, '--path', '0/*', '--from', '3', '--count', '2', '--format', 'evm', '--json'],
      { '--xpub': T, '--path': T, '--from': N, '--count': N, '--format': T }],
    [['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', '0', '--dry-run', '--merchant', 'cfgm',
      '--address', CFG_ADDR, '--json'], { '--chain': T, '--from': N, '--to': N, '--merchant': T, '--address': T }],
    [['merchants', 'list', '-c', cfg, '--json'], { '-c': T }],
    [['merchants', 'add', 'newm', '--xpub', xpub, '--path', '2/*', '--chains', 'local', '--gap-limit', '5', '-c', cfg],
      { '@2': T, '--xpub': T, '--path': T, '--chains': T, '--gap-limit': N }, false],
    [['merchants', 'remove', 'nosuch', '-c', cfg], { '@2': T }, false],
    [['addresses', 'list', '--merchant', 'acme', '--chain', 'local', '-c', cfg, '--json'], { '--merchant': T, '--chain': T }],
    [['addresses', 'add', '--merchant', 'acme', '--chain', 'local', ADDR2, '--from-block', '0', '-c', cfg],
      { '--merchant': T, '--chain': T, '@6': T, '--from-block': N }, false],
    [['addresses', 'remove', '--merchant', 'acme', '--chain', 'local', ADDR2, '-c', cfg],
      { '--merchant': T, '--chain': T, '@6': T }, false],
    [['addresses', 'rescan', '--merchant', 'hdm', '--chain', 'local', '--from-block', '0', '--hd-from', '0', '--no-wait', '-c', cfg],
      { '--merchant': T, '--chain': T, '--from-block': N, '--hd-from': N }, false],
    [['endpoints', 'list', '--merchant', 'acme', '-c', cfg, '--json'], { '--merchant': T }],
    [['endpoints', 'add', '--merchant', 'acme', '--id', 'second', '--url', 'http://127.0.0.1:9/two',
      '--events', 'payment.confirmed', '-c', cfg], { '--merchant': T, '--id': T, '--url': T, '--events': T }, false],
    [['endpoints', 'remove', '--merchant', 'acme', '--id', 'nosuch', '-c', cfg], { '--merchant': T, '--id': T }, false],
    [['secrets', 'rotate-key', '-c', cfg, '--json'], { '-c': T }, false],
    [['invoices', 'list', '--merchant', 'hdm', '--status', 'new', '--reference', 'order-1', '-c', cfg, '--json'],
      { '--merchant': T, '--status': T, '--reference': T }],
    [['invoices', 'show', inv.id, '-c', cfg, '--json'], { '@2': T }],
    [['invoices', 'create', '--merchant', 'hdm', '--chain', 'local', '--token', 'USDC', '--amount', '2.25',
      '--reference', 'order-2', '--expires-in', '600', '--metadata', '{"cart":"7"}', '-c', cfg, '--json'],
      { '--merchant': T, '--chain': T, '--token': T, '--amount': A, '--reference': T, '--expires-in': N, '--metadata': T }, false],
    [['invoices', 'cancel', 'inv_AAAAAAAAAAAAAAAAAAAAAA', '-c', cfg], { '@2': T }, false],
    [['report', 'settlement', '-c', cfg, '--merchant', 'acme', '--from', '2026-01-01', '--to', '2026-01-31', '--format', 'csv'],
      { '--merchant': T, '--from': D, '--to': D, '--format': T }],
    [['report', 'payments', '-c', cfg, '--merchant', 'acme', '--from', '2026-01-01', '--to', '2026-01-31'],
      { '--merchant': T, '--from': D, '--to': D }],
    [['webhooks', 'list', '-c', cfg, '--merchant', 'acme', '--status', 'failed', '--since', '2026-01-01T00:00:00Z', '--json'],
      { '--merchant': T, '--status': T, '--since': S }],
    [['webhooks', 'redeliver', '-c', cfg, 'evt_000000000000000000000000'], { '@4': T }, false],
    [['webhooks', 'redeliver', '-c', cfg, '--failed', '--merchant', 'acme'], { '--merchant': T }],
    [['webhooks', 'test', '-c', cfg, '--merchant', 'nosuch'], { '--merchant': T }, false],
    [['quarantine', 'list', '-c', cfg, '--chain', 'local', '--limit', '10', '--json'], { '--chain': T, '--limit': N }],
    [['quarantine', 'retry', '-c', cfg, '--all', '--chain', 'local', '--json'], { '--chain': T }],
    [['quarantine', 'retry', '-c', cfg, '12', '--json'], { '@4': N }, false],
    [['run', '-c', cfg], { '-c': T }, false],
    [['dispatch', '-c', cfg], { '-c': T }, false],
    [['serve', '-c', cfg], { '-c': T }, false],
    [['serve', '--routes'], {}],
  ];

  // ---- the table covers every option each command's help names
  const commandOf = (argv) => { const k = argv.findIndex((a) => !a.startsWith('-') && !['text', 'info'].includes(a)); return argv[k]; };
  const swept = new Map();
  for (const [argv, opts] of table) {
    const c = commandOf(argv);
    const set = swept.get(c) || new Set();
    for (const a of argv) if (a.startsWith('--')) set.add(a);
    for (const o of Object.keys(opts)) set.add(o);
    swept.set(c, set);
  }
  for (const c of swept.keys()) {
    const help = rig.runPaywatchSync(bin, [c, '--help']).stdout;
    const named = [...new Set(help.match(/--[a-z][a-z-]*/g) || [])].filter((o) => o !== '--help' && !o.startsWith('--log-'));
    const missing = named.filter((o) => !swept.get(c).has(o) && !(o === '--all' || o === '--fix' || o === '--no-webhooks'));
    rig.check(missing.length === 0, `${c}: every option its --help names is swept (${missing.join(' ') || 'all'})`);
  }

  // ---- the valid arguments work (so each sweep changes one thing only)
  for (const [argv, , runnable = true] of table) if (runnable) ok(argv, argv.slice(0, 3).join(' '));

  // ---- one grammar for every command (cli_parse): each option the table
  // gives a value says so when its value is missing (the command line cut
  // after it), a flag given a value and an unknown option are refused by
  // name, `help COMMAND` is `COMMAND --help`, and (runnable rows, not in
  // the lean sweep) every long option's value may be joined by '=' with
  // -c written as --config=FILE.
  const FLAGS = ['--json', '--dry-run', '--no-wait', '--all', '--failed', '--routes'];
  const usage = (args, want, what) => {
    const r = runBytes(args, env);
    const err = r.stderr.toString();
    rig.check(r.status === 2 && err.includes(want), `${args.slice(0, 4).join(' ')} ...: ${what}: exit 2 saying "${want}" ` +
      `(${r.status}: ${err.split('\n')[0].slice(0, 200)})`);
  };
  for (const [argv, opts, runnable = true] of table) {
    const c = commandOf(argv);
    for (const o of [...Object.keys(opts), '-c'].filter((o, k, all) => !o.startsWith('@') && all.indexOf(o) === k)) {
      const at = argv.indexOf(o);
      if (at >= 0) usage(argv.slice(0, at + 1), `${o} needs a value`, `${o} without its value`);
    }
    const flag = argv.find((a) => FLAGS.includes(a));
    if (flag) usage(argv.map((a) => (a === flag ? `${flag}=yes` : a)), `${flag} takes no value`, 'a flag with a value');
    if (c !== argv[0]) continue; // the global options' row: its command is check-config's row's too
    usage([...argv, '--no-such-option'], 'unknown option: --no-such-option', 'an unknown option');
    if (!runnable || LEAN) continue;
    const joined = [];
    for (let k = 0; k < argv.length; k++) {
      const a = argv[k];
      const value = a === '-c' || (a.startsWith('--') && opts[a] !== undefined);
      if (value) joined.push(`${a === '-c' ? '--config' : a}=${argv[++k]}`);
      else joined.push(a);
    }
    if (joined.join('\0') !== argv.join('\0')) ok(joined, `${joined.slice(0, 3).join(' ')} (--name=value)`);
  }
  for (const c of swept.keys()) {
    const direct = rig.runPaywatchSync(bin, [c, '--help']), via = rig.runPaywatchSync(bin, ['help', c]);
    rig.check(direct.status === 0 && via.status === 0 && direct.stdout === via.stdout && /^usage: paywatch /.test(direct.stdout),
      `help ${c}: the same text as ${c} --help, exit 0 (${direct.status}, ${via.status})`);
  }
  usage(['help', 'no-such-command'], 'no such command: no-such-command', 'help of a command that does not exist');

  // ---- the sweep
  let runs = 0;
  for (const [row, [argv, opts]] of table.entries()) {
    for (const [k, [opt, kind]] of Object.entries(opts).entries()) {
      const at = opt.startsWith('@') ? Number(opt.slice(1)) : argv.indexOf(opt) + 1;
      if (at <= 0) { rig.check(false, `${argv.join(' ')}: ${opt} is in its argv`); continue; }
      const values = [...HOSTILE, ...(k === 0 ? HOSTILE_ONCE : []), ...(k === 0 && row === 0 ? HOSTILE_FIRST : [])];
      const typed = { [N]: ['number', NUMBERS], [D]: ['day', DAYS], [S]: ['time', TIMES], [A]: ['amount', AMOUNTS] }[kind];
      if (typed && !LEAN) for (const v of typed[1]) values.push([`the ${typed[0]} ${JSON.stringify(v)}`, v, 2]);
      for (const [what, v, want] of values) {
        const args = argv.slice();
        args[at] = v;
        const r = runBytes(args, env);
        runs++;
        const name = `${commandOf(argv)} ${argv[argv.indexOf(commandOf(argv)) + 1] || ''} ${opt} = ${what}`;
        const out = Buffer.concat([r.stdout, r.stderr]);
        const text = out.toString('utf8');
        rig.check(r.signal === null && [0, 1, 2].includes(r.status) && !/runtime error|AddressSanitizer|LeakSanitizer/.test(text),
          `${name}: exits (${r.status}, ${r.signal}) ${r.stderr.toString().slice(0, 400)}`);
        if (want !== null)
          rig.check(r.status === want, `${name}: exit ${want}, not ${r.status}: ${shown(r.stderr)}`);
        rig.check(!/\bERROR:\s|CONTEXT:/.test(text), `${name}: does not reach Postgres: ${shown(r.stderr)}`);
        rig.check(utf8(r.stdout) && utf8(r.stderr) && !controls(text),
          `${name}: what it prints is UTF-8 without control characters: ${shown(r.stderr)}`);
      }
    }
  }
  rig.check(runs > (LEAN ? 100 : 250), `the sweep ran ${runs} commands${LEAN ? ' (lean)' : ''}`);
}

rig.runTest('e2e_cli_inputs', main);
