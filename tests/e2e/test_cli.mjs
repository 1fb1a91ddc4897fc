// test_cli.mjs: the command line against real parts: --help and exit codes,
// check-config (masked output, JSON path errors, unset ${ENV}), migrate
// (idempotent, schema_migrations, unreachable Postgres, RocksDB's library
// loaded only by the commands that open data_dir, a schema behind the
// build named by each of run's threads that use Postgres, by the commands that read it
// outside run, and by serve's API and /readyz), run refusing a
// chain-id mismatch, --log-format json, and `run` started while Postgres is
// down with a new data_dir (no registry kept): it says the chains wait for
// the registry, and the payments land once Postgres is up (e2e_registry_start
// covers a start with the registry kept: payments wait in the outbox); its
// data_dir deleted under it: an error and exit 1.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as rig from './lib/rig.mjs';
import { startTcpCut } from './lib/tcpcut.mjs';

const bin = process.argv[2];
const SECRET = 'cli-DSN-pa55word';

async function main() {
  const work = rig.workDir('pw-cli-');

  // ---- help and usage
  let r = rig.runPaywatchSync(bin, ['--help']);
  rig.check(r.status === 0 && /check-config/.test(r.stdout) && /migrate/.test(r.stdout) && /run -c FILE/.test(r.stdout), '--help lists the commands');
  rig.check(/EVM chains and Tron/.test(r.stdout) && /TRC-20/.test(r.stdout), `--help names both chain families (${r.stdout.split('\n')[2]})`);
  for (const cmd of ['run', 'migrate', 'check-config']) {
    r = rig.runPaywatchSync(bin, [cmd, '--help']);
    rig.check(r.status === 0 && r.stdout.includes(`usage: paywatch ${cmd}`), `${cmd} --help answers`);
  }
  r = rig.runPaywatchSync(bin, ['help', 'run']);
  rig.check(r.status === 0 && r.stdout.includes('usage: paywatch run'), 'help run');
  r = rig.runPaywatchSync(bin, ['frobnicate']);
  rig.check(r.status === 2 && /unknown command: frobnicate/.test(r.stderr) && /usage:/.test(r.stderr), 'unknown command exits 2 with usage');
  r = rig.runPaywatchSync(bin, ['run', '--bogus']);
  rig.check(r.status === 2 && /unknown option: --bogus/.test(r.stderr), 'unknown flag exits 2');
  r = rig.runPaywatchSync(bin, ['run']);
  rig.check(r.status === 2 && /missing -c FILE/.test(r.stderr), 'missing -c exits 2');
  // every command --help lists, given nothing: exit 2, its usage error said
  // as every other is ("paywatch: ...", replay and quarantine said
  // "paywatch replay: ..." until a thirty-fifth session), then its usage
  const listed = (rig.runPaywatchSync(bin, ['--help']).stdout.split('commands:\n')[1] || '').split('\n')
    .map((l) => (l.match(/^ {2}([a-z][a-z-]+) /) || [])[1]).filter((c) => c && c !== 'help');
  rig.check(listed.length >= 17 && listed.includes('replay') && listed.includes('quarantine'), `--help lists ${listed.length} commands`);
  for (const cmd of listed) {
    r = rig.runPaywatchSync(bin, [cmd]);
    rig.check(r.status === 2 && /^paywatch: \S/.test(r.stderr) && r.stderr.includes(`usage: paywatch ${cmd}`),
      `${cmd} with nothing: exit 2, "paywatch: ..." and its usage (${r.status}: ${r.stderr.split('\n')[0]})`);
  }
  r = rig.runPaywatchSync(bin, ['--log-format', 'xml', 'run']);
  rig.check(r.status === 2, 'bad --log-format exits 2');

  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const merchant = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
  const cfgObj = (over = {}) => ({
    data_dir: path.join(work, over.dataDir || 'data'),
    postgres: { dsn: '${PW_CLI_DSN}' },
    chains: [{ name: 'local', kind: 'evm', chain_id: over.chainId || 31337, ws_url: node.ws, confirmations: 2,
      start_block: 0, tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [merchant] } }],
  });
  const env = { PW_CLI_DSN: pg.dsn('paywatch', SECRET) };

  // ---- check-config
  const good = rig.writeConfig(work, cfgObj());
  r = rig.runPaywatchSync(bin, ['check-config', '-c', good], env);
  rig.check(r.status === 0, `check-config of a good file exits 0 (${r.stderr})`);
  let dumped = null;
  try { dumped = JSON.parse(r.stdout); } catch { /* checked below */ }
  rig.check(dumped && dumped.postgres.dsn === `user=postgres password=**** dbname=paywatch host=127.0.0.1 port=${pg.port}`,
    `check-config prints the DSN as libpq reads it, the password masked (${dumped && dumped.postgres.dsn})`);
  rig.check(!r.stdout.includes(SECRET) && !r.stderr.includes(SECRET), 'check-config never prints the password');
  const bad = cfgObj();
  bad.chains[0].tokens[0].decimals = 99;
  const badFile = path.join(work, 'bad.json');
  fs.writeFileSync(badFile, JSON.stringify(bad));
  r = rig.runPaywatchSync(bin, ['check-config', '-c', badFile], env);
  rig.check(r.status === 2 && r.stderr.includes('chains[0].tokens[0].decimals: must be an integer 0..77'), `bad decimals: exit 2 with the path (${r.stderr.trim()})`);
  r = rig.runPaywatchSync(bin, ['check-config', '-c', good], { PW_CLI_DSN: '' });
  rig.check(r.status === 2 && r.stderr.includes('postgres.dsn: must not be empty'), 'an empty DSN is refused with its path');
  r = rig.runPaywatchSync(bin, ['check-config', '-c', good], {});
  rig.check(r.status === 2 && /postgres.dsn: environment variable PW_CLI_DSN is not set/.test(r.stderr), 'an unset ${VAR} is a config error naming it');
  r = rig.runPaywatchSync(bin, ['run', '-c', path.join(work, 'nope.json')], env);
  rig.check(r.status === 2 && /cannot open/.test(r.stderr), 'a missing config file exits 2');

  // ---- migrate
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  r = rig.runPaywatchSync(bin, ['migrate', '-c', good], env);
  const migrations = fs.readdirSync(path.join(rig.e2eDir, '..', '..', 'schema')).filter((f) => f.endsWith('.sql')).sort();
  rig.check(r.status === 0 && r.stderr.includes(`${migrations.length} migration(s) applied, 0 already present`), `migrate applies ${migrations.join(', ')} (${r.stderr.trim()})`);
  const versions = (await db.query('SELECT version FROM schema_migrations')).rows.map((x) => x.version);
  rig.check(JSON.stringify(versions.sort()) === JSON.stringify(migrations), `schema_migrations records every migration (${versions})`);

  // ---- RocksDB is loaded when data_dir is opened (store.c), not at the
  // start: with a broken librocksdb first on the library path, the commands
  // that never open data_dir start and work, and those that do say which
  // library failed (a build linked to RocksDB does not start at all)
  const ldconfig = spawnSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }).stdout || '';
  const sonames = [...new Set([...ldconfig.matchAll(/^\s*(librocksdb\.so\.[0-9][0-9.]*) /gm)].map((x) => x[1]))];
  rig.check(sonames.length > 0, `ldconfig knows RocksDB's shared library (${sonames})`);
  const brokenLibs = fs.mkdtempSync(path.join(work, 'broken-libs-'));
  for (const so of sonames) fs.writeFileSync(path.join(brokenLibs, so), 'not a shared library\n');
  const noLib = { ...env, LD_LIBRARY_PATH: brokenLibs };
  const noLibCfg = rig.writeConfig(fs.mkdtempSync(path.join(work, 'nolib-')), cfgObj({ dataDir: 'data-nolib' }));
  fs.mkdirSync(path.join(work, 'data-nolib'));
  r = rig.runPaywatchSync(bin, ['--version'], noLib);
  rig.check(r.status === 0 && /^paywatch \d/.test(r.stdout), `--version starts without RocksDB (${r.status}: ${r.stderr.trim().slice(0, 160)})`);
  r = rig.runPaywatchSync(bin, ['migrate', '-c', noLibCfg], noLib);
  rig.check(r.status === 0 && r.stderr.includes(`0 migration(s) applied, ${migrations.length} already present`),
    `migrate works without RocksDB (${r.status}: ${r.stderr.trim().slice(0, 160)})`);
  r = rig.runPaywatchSync(bin, ['check-config', '-c', noLibCfg], noLib);
  rig.check(r.status === 0, `check-config works without RocksDB (${r.status}: ${r.stderr.trim().slice(0, 160)})`);
  const loadErr = new RegExp(`cannot load RocksDB \\((${sonames.join('|').replace(/\./g, '\\.')})\\): .*${brokenLibs.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
  r = rig.runPaywatchSync(bin, ['status', '-c', noLibCfg, '--json'], noLib);
  let noLibStatus = null;
  try { noLibStatus = JSON.parse(r.stdout); } catch { /* checked below */ }
  rig.check(r.status === 1 && noLibStatus && loadErr.test(JSON.stringify(noLibStatus)),
    `status names the RocksDB library it could not load (${r.status}: ${r.stdout.trim().slice(0, 300)})`);
  // what it could not read it does not report as known: no "0 pending", no
  // "not indexed yet" for a data_dir it never opened
  const unread = noLibStatus?.chains?.[0];
  rig.check(unread && unread.pending_payments === null && unread.outbox_depth === null && unread.checkpoint === null,
    `status --json without RocksDB: the chain's store figures null, not 0 (${JSON.stringify(unread)})`);
  r = rig.runPaywatchSync(bin, ['status', '-c', noLibCfg], noLib);
  rig.check(r.status === 1 && loadErr.test(r.stdout) && !/RocksDB: cannot load RocksDB/.test(r.stdout) &&
    /figures +unknown: data_dir's RocksDB could not be read/.test(r.stdout) &&
    !/not indexed yet|pending payments|outbox +empty|run state/.test(r.stdout),
    `status without RocksDB says once why, and prints no chain figure as known (${r.status}: ${r.stdout.trim().slice(0, 500)})`);
  r = rig.runPaywatchSync(bin, ['run', '-c', noLibCfg], noLib);
  rig.check(r.status === 1 && loadErr.test(r.stderr) && /install RocksDB's shared library/.test(r.stderr),
    `run exits 1 naming the RocksDB library it could not load (${r.status}: ${r.stderr.trim().slice(-300)})`);
  // the hex checks hold without regular expressions
  const badInsert = await db.query(`INSERT INTO merchants (id) VALUES ('x'); INSERT INTO merchant_addresses VALUES ('local', '0x70997970c51812dc3a010c7d01b50e0d17dc79cg', 'x')`).then(() => null, (e) => e.message);
  rig.check(badInsert && /merchant_addresses_address_check|invalid hexadecimal digit/.test(badInsert), `a non-hex address is refused by the schema (${badInsert})`);
  for (const [bad, what] of [['0x70997970C51812dc3a010c7d01b50e0d17dc79c8', 'an uppercase digit'], ['0x70997970c51812dc3a010c7d01b50e0d17dc79', 'a short address'],
    ['1x70997970c51812dc3a010c7d01b50e0d17dc79c8', 'a missing 0x']]) {
    const e = await db.query(`INSERT INTO merchants (id) VALUES ('y') ON CONFLICT DO NOTHING; INSERT INTO merchant_addresses VALUES ('local', '${bad}', 'y')`).then(() => null, (x) => x.message);
    rig.check(e && /merchant_addresses_address_check/.test(e), `${what} is refused by the schema (${e})`);
  }
  await db.query(`DELETE FROM merchants WHERE id = 'x'`).catch(() => {});
  // the identity CHECKs are inlined into the statement, not run as a
  // function per column per row (017: 0.60x the time of a COPY)
  for (const [fn, col] of [['paywatch_hash_ok', 'block_hash'], ['paywatch_address_ok', 'to_address']]) {
    const plan = (await db.query(`EXPLAIN (VERBOSE) SELECT ${fn}(chain_family, ${col}) FROM payments`)).rows
      .map((x) => x['QUERY PLAN']).join(' ');
    rig.check(!plan.includes(fn) && /CASE/.test(plan), `${fn} is inlined where it is used (${plan.replace(/\s+/g, ' ').slice(0, 120)})`);
  }
  const hashRefused = await db.query(`SELECT paywatch_hash_ok('evm', '0x' || repeat('A', 64)) a, paywatch_hash_ok('evm', '0x' || repeat('a', 64)) b,
    paywatch_hash_ok('tron', repeat('a', 64)) c, paywatch_address_ok('tron', 'T' || repeat('0', 33)) d, paywatch_hash_ok('evm', NULL) e`);
  const hr = hashRefused.rows[0];
  rig.check(hr.a === false && hr.b === true && hr.c === true && hr.d === false && hr.e === null,
    `the inlined CHECKs accept and refuse as before (${JSON.stringify(hr)})`);
  // 018: hashes and addresses compare as bytes (COLLATE "C"), whatever the
  // cluster's locale, in every table that holds them, and their indexes
  // were built that way; user-facing names keep the database's collation
  const collated = (await db.query(`SELECT c.relname AS t, a.attname AS col, coalesce(k.collname, '') AS coll
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid LEFT JOIN pg_collation k ON k.oid = a.attcollation
     WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
       AND a.atttypid = 'text'::regtype`)).rows;
  const collOf = (t, col) => (collated.find((x) => x.t === t && x.col === col) || {}).coll;
  const bytewise = [['payments', 'block_hash'], ['payments', 'tx_hash'], ['payments', 'token_address'], ['payments', 'from_address'],
    ['payments', 'to_address'], ['pending_payments', 'block_hash'], ['pending_payments', 'tx_hash'], ['pending_payments', 'token_address'],
    ['pending_payments', 'to_address'], ['payment_quarantine', 'block_hash'], ['payment_quarantine', 'tx_hash'],
    ['merchant_addresses', 'address'], ['invoices', 'token_address'], ['invoices', 'address'], ['address_rescans', 'address']];
  const notC = bytewise.filter(([t, col]) => collOf(t, col) !== 'C');
  rig.check(notC.length === 0, `hashes and addresses are COLLATE "C" (not: ${notC.map((x) => x.join('.')).join(', ') || 'none'})`);
  const keptDefault = [['payments', 'merchant_id'], ['payments', 'chain'], ['merchants', 'id'], ['invoices', 'reference']]
    .filter(([t, col]) => collOf(t, col) === 'default');
  rig.check(keptDefault.length === 4, `names keep the database's collation (${keptDefault.map((x) => x.join('.')).join(', ')})`);
  const idxColl = (await db.query(`SELECT i.relname AS name, array_to_string(array(SELECT coalesce(k.collname, '-')
      FROM unnest(x.indcollation) AS u(oid) LEFT JOIN pg_collation k ON k.oid = u.oid), ',') AS colls
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
     WHERE i.relname IN ('payments_identity', 'payments_by_to_address', 'payments_by_tx_hash', 'invoices_chain_address_key')`)).rows;
  rig.check(idxColl.length === 4 && idxColl.every((x) => x.colls.split(',').includes('C')),
    `the indexes on them compare as bytes (${idxColl.map((x) => `${x.name}: ${x.colls}`).join('; ')})`);
  // a lookup across tables (invoices.address = payments.to_address) is C on
  // both sides: either side's index serves it
  const joinPlan = (await db.query(`EXPLAIN SELECT p.id FROM invoices i JOIN payments p ON p.to_address = i.address WHERE i.id = 'inv_x'`))
    .rows.map((x) => x['QUERY PLAN']).join(' ');
  rig.check(/payments_by_to_address/.test(joinPlan), `a payment looked up by an invoice's address uses the recipient index (${joinPlan.replace(/\s+/g, ' ').slice(0, 160)})`);
  // 019: a payment is found by its transaction through a hash index (equality only)
  const txPlan = (await db.query(`EXPLAIN SELECT id FROM payments WHERE tx_hash = '0x${'ab'.repeat(32)}'`))
    .rows.map((x) => x['QUERY PLAN']).join(' ');
  rig.check(/payments_by_tx_hash/.test(txPlan), `a payment looked up by its transaction uses the transaction index (${txPlan.replace(/\s+/g, ' ').slice(0, 160)})`);
  const cols = (await db.query(`SELECT column_name, data_type, numeric_precision FROM information_schema.columns WHERE table_name = 'payments'`)).rows;
  const colType = Object.fromEntries(cols.map((c) => [c.column_name, c]));
  for (const c of ['id', 'chain', 'chain_id', 'block_number', 'block_hash', 'block_time', 'tx_hash', 'log_index', 'token_address',
    'token_symbol', 'from_address', 'to_address', 'merchant_id', 'amount_raw', 'decimals', 'amount', 'status', 'confirmations',
    'confirmed_at', 'inserted_at']) rig.check(colType[c], `payments has column ${c}`);
  rig.check(colType.amount_raw && colType.amount_raw.numeric_precision === 78, 'amount_raw is numeric(78,0)');
  const idx = (await db.query(`SELECT indexdef FROM pg_indexes WHERE tablename = 'payments'`)).rows.map((x) => x.indexdef).join('\n');
  rig.check(/UNIQUE.*\(chain_id, block_hash, log_index\)/.test(idx), 'unique payment identity');
  rig.check(/\(merchant_id, confirmed_at, id\)/.test(idx) && /\(confirmed_at, id\)/.test(idx) && /\(to_address\)/.test(idx) &&
    /USING hash \(tx_hash\)/.test(idx) && !/block_time DESC/.test(idx), 'query indexes present (008: the keyset ones, not 001\'s by block_time; 019: the transaction one a hash index)');
  r = rig.runPaywatchSync(bin, ['migrate', '-c', good], env);
  rig.check(r.status === 0 && r.stderr.includes(`0 migration(s) applied, ${migrations.length} already present`), 'migrate twice changes nothing');
  r = rig.runPaywatchSync(bin, ['migrate', '-c', good], { PW_CLI_DSN: `postgresql://postgres:${SECRET}@127.0.0.1:1/x` });
  rig.check(r.status === 1 && /cannot connect/.test(r.stderr) && !r.stderr.includes(SECRET), 'unreachable Postgres: migrate exits 1, no password shown');
  // a session whose settings Postgres refuses is no connection: every
  // time would be read and shown in the server's zone. An allowed fake
  // (tcpcut.mjs, in front of the real Postgres) turns the client's
  // `SET TIME ZONE 'UTC'` into a zone that does not exist, which the real
  // server refuses; the build before went on and migrated (exit 0)
  const fwd = await startTcpCut(pg.port);
  fwd.rewrite("SET TIME ZONE 'UTC'", "SET TIME ZONE 'Nop'");
  r = await rig.runPaywatch(bin, ['migrate', '-c', good], { PW_CLI_DSN: `postgresql://postgres:${SECRET}@127.0.0.1:${fwd.port}/paywatch` });
  rig.check(fwd.rewritten >= 1 && r.status === 1 && /cannot connect: the session's settings \(application_name, TimeZone UTC\) refused: .*TimeZone/.test(r.stderr) &&
    !r.stderr.includes(SECRET), `settings refused: migrate exits 1 and says so (${r.status}: ${r.stderr.trim().split('\n').pop()})`);
  fwd.rewrite(null);
  r = await rig.runPaywatch(bin, ['migrate', '-c', good], { PW_CLI_DSN: `postgresql://postgres:${SECRET}@127.0.0.1:${fwd.port}/paywatch` });
  rig.check(r.status === 0, `the same forwarder without the rewrite: migrate exits 0 (${r.status}: ${r.stderr.trim().split('\n').pop()})`);
  // a schema one migration behind the build: every thread of run that
  // uses Postgres (the writers, the dispatcher, the registry watch,
  // rescans, invoice expiry, the chain reporter) names it and runs none of
  // its statements until `migrate` has run; run keeps running (checked
  // again below, once the migration is recorded)
  const last = migrations[migrations.length - 1];
  await db.query('DELETE FROM schema_migrations WHERE version = $1', [last]);
  const behindAt = (await db.query('SELECT now() t')).rows[0].t;
  const behind = rig.startPaywatch(bin, ['run', '-c', rig.writeConfig(work, cfgObj({ dataDir: 'data-behind-run' }))], env);
  const threads = ['postgres', 'webhooks: postgres', 'registry: postgres', 'rescan: postgres', 'invoice expiry: postgres',
    'chain reports: postgres'];
  const namedBy = (t) => new RegExp(` error +${t}: 1 schema migration\\(s\\) not applied: run \`paywatch migrate -c FILE\` first`);
  await rig.waitFor('each of run\'s threads names the missing migration', () => threads.every((t) => namedBy(t).test(behind.stderr)), 30000)
    .catch((e) => rig.check(false, `${e.message}: not named by ${threads.filter((t) => !namedBy(t).test(behind.stderr)).join(', ')}`));
  const loadedLine = /registry: \d+ address\(es\) of \d+ merchant\(s\).* loaded/;
  rig.check(!loadedLine.test(behind.stderr), 'run on a schema behind: the registry is not loaded from Postgres');
  const reportsBehind = (await db.query('SELECT count(*)::int n FROM chain_reports WHERE updated_at >= $1', [behindAt])).rows[0].n;
  rig.check(reportsBehind === 0, `run on a schema behind: no chain report published (${reportsBehind})`);
  rig.check(!behind.stderr.includes(SECRET), 'run on a schema behind: no password in its log');
  // the commands that read the schema outside run, on the same database:
  // each names the missing migration (exit 1), never Postgres's error of a
  // statement this build's schema would have answered
  const behindCfg = rig.writeConfig(fs.mkdtempSync(path.join(work, 'behind-')), cfgObj({ dataDir: 'data-behind' }));
  const named = /1 schema migration\(s\) not applied: run `paywatch migrate -c \S+` first/;
  for (const args of [['merchants', 'list'], ['invoices', 'list'], ['webhooks', 'list'], ['quarantine', 'list'],
    ['report', 'payments', '--merchant', 'acme', '--from', '2026-01-01', '--to', '2026-01-02'],
    ['replay', '--chain', 'local', '--from', '0', '--to', '1']]) {
    r = rig.runPaywatchSync(bin, [...args, '-c', behindCfg], env);
    rig.check(r.status === 1 && named.test(r.stderr) && !/does not exist/.test(r.stderr) && !r.stderr.includes(SECRET),
      `${args.slice(0, 2).join(' ')} on a schema behind its build: exit 1, the migration named (${r.status}: ${r.stderr.trim()})`);
  }
  r = rig.runPaywatchSync(bin, ['status', '-c', behindCfg, '--json'], env);
  let st = null;
  try { st = JSON.parse(r.stdout); } catch { /* checked below */ }
  rig.check(r.status === 1 && st && st.errors.some((e) => named.test(e)),
    `status --json on a schema behind: exit 1, its errors name the migration (${r.status}: ${st && JSON.stringify(st.errors)})`);
  // serve: 503 from the API and the reason in /readyz; once migrate has
  // run, it answers without a restart (no connection was kept)
  const [apiKey, apiEntry] = rig.runPaywatchSync(bin, ['api-key', 'new']).stdout.trim().split('\n');
  const sv = await rig.startServe(bin, (port) => rig.writeConfig(fs.mkdtempSync(path.join(work, 'serve-')),
    { ...cfgObj({ dataDir: 'data-behind' }), api: { listen: `127.0.0.1:${port}`, keys: [JSON.parse(apiEntry)] } }), env);
  const get = async (p) => {
    const res = await fetch(sv.base + p, { headers: { authorization: `Bearer ${apiKey}` } });
    return { status: res.status, retry: res.headers.get('retry-after'), body: await res.json().catch(() => null) };
  };
  let a = await get('/v1/payments');
  rig.check(a.status === 503 && a.body?.error?.code === 'unavailable' && /not migrated to this server's version/.test(a.body.error.message) &&
    a.retry === '10', `serve on a schema behind: /v1/payments 503, not migrated (${a.status} ${JSON.stringify(a.body)})`);
  a = await get('/readyz');
  rig.check(a.status === 503 && a.body?.reasons?.some((x) => /^postgres: 1 schema migration\(s\) not applied/.test(x)),
    `serve on a schema behind: /readyz 503 naming the migration (${JSON.stringify(a.body)})`);
  rig.check(/GET \/v1\/payments: postgres: 1 schema migration\(s\) not applied/.test(sv.pw.stderr) && !sv.pw.stderr.includes(SECRET),
    'serve logs the missing migration, no password');
  // the event feed's watch (its LISTEN connection) checks the schema too:
  // it names the migration and holds no connection on the schema behind
  const feedWatch = () => rig.backends(db, { app: 'paywatch api feed' });
  await rig.waitFor('serve\'s feed watch names the missing migration',
    () => /event feed watch: 1 schema migration\(s\) not applied: run `paywatch migrate -c FILE` first/.test(sv.pw.stderr), 20000)
    .catch((e) => rig.check(false, `${e.message}: ${sv.pw.stderr.trim().slice(-400)}`));
  const watchBehind = await feedWatch();
  rig.check(watchBehind === 0, `serve on a schema behind: the feed watch keeps no connection (${watchBehind})`);
  const migratedAt = (await db.query('INSERT INTO schema_migrations (version) VALUES ($1) RETURNING now() t', [last])).rows[0].t;
  a = await get('/v1/payments');
  rig.check(a.status === 200 && Array.isArray(a.body?.data), `serve answers once the schema is migrated, without a restart (${a.status})`);
  await rig.waitFor('serve\'s feed watch connects once the schema is migrated (checked again every 5 s)',
    async () => (await feedWatch()) === 1, 30000).catch((e) => rig.check(false, e.message));
  r = rig.runPaywatchSync(bin, ['merchants', 'list', '-c', behindCfg], env);
  rig.check(r.status === 0, `merchants list once the schema is migrated: exit 0 (${r.stderr.trim()})`);
  sv.pw.proc.kill('SIGINT');
  rig.check((await sv.pw.done).code === 0, 'serve exits 0 on SIGINT');
  // run, left running on the schema behind: its threads go on by themselves
  await rig.waitFor('run loads the registry once the schema is migrated', () => loadedLine.test(behind.stderr), 30000)
    .catch((e) => rig.check(false, e.message));
  await rig.waitFor('run publishes its chain report once the schema is migrated', async () =>
    (await db.query('SELECT count(*)::int n FROM chain_reports WHERE updated_at >= $1', [migratedAt])).rows[0].n > 0, 30000)
    .catch((e) => rig.check(false, e.message));
  const times = threads.slice(2).map((t) => [t, (behind.stderr.match(new RegExp(namedBy(t).source, 'g')) || []).length]);
  rig.check(times.every(([, n]) => n === 1), `the registry watch, rescans, invoice expiry and the chain reporter each named it once (${JSON.stringify(times)})`);
  behind.proc.kill('SIGINT');
  rig.check((await behind.done).code === 0, 'run on a schema behind its build keeps running until stopped, and exits 0');

  // ---- chain id mismatch, JSON logs
  const wrong = rig.writeConfig(work, cfgObj({ chainId: 1, dataDir: 'data-wrong' }));
  r = rig.runPaywatchSync(bin, ['--log-format', 'json', 'run', '-c', wrong], env);
  rig.check(r.status === 1 && /serves chain id 31337, config says 1/.test(r.stderr), `chain id mismatch refused (exit ${r.status})`);
  const lines = r.stderr.trim().split('\n');
  let jsonOk = lines.length > 1;
  for (const l of lines) {
    try { const o = JSON.parse(l); jsonOk &&= typeof o.time === 'string' && typeof o.level === 'string' && typeof o.msg === 'string'; }
    catch { jsonOk = false; }
  }
  rig.check(jsonOk, '--log-format json: every line is a JSON object with time, level and msg');
  rig.check(lines.some((l) => { try { return JSON.parse(l).chain === 'local'; } catch { return false; } }), 'JSON log lines carry the chain');

  // ---- run while Postgres is down, nothing kept: the chains wait for the
  // registry, and the payments land once Postgres is back
  pg.stop();
  const live = rig.writeConfig(work, cfgObj());
  const pw = rig.startPaywatch(bin, ['run', '-c', live], env);
  for (let i = 0; i < 4; i++) await token.transfer(deployer, merchant, 1_000_000n * BigInt(i + 1)); // automine: 4 blocks
  await node.mine(3);
  await rig.waitFor('the warning that the chains wait for the registry',
    () => /none was kept: the chains fetch, and match once it is loaded/.test(pw.stderr), 30000)
    .catch((e) => rig.check(false, e.message));
  rig.check(!pw.exited, 'paywatch keeps running while Postgres is down');
  pg.start();
  const db2 = await pg.client();
  rig.onCleanup(() => db2.end().catch(() => {}));
  await rig.waitFor('payments after Postgres returns', async () =>
    (await db2.query('SELECT count(*)::int AS n FROM payments')).rows[0].n === 4, 90000)
    .catch((e) => rig.check(false, e.message));
  const amounts = (await db2.query('SELECT amount::text FROM payments ORDER BY block_number')).rows.map((x) => x.amount);
  rig.check(JSON.stringify(amounts) === JSON.stringify(['1', '2', '3', '4']), `the 4 payments arrive exactly (${amounts})`);
  pw.proc.kill('SIGINT');
  const ex = await pw.done;
  rig.check(ex.code === 0, `SIGINT exits 0 (${JSON.stringify(ex)})`);
  rig.check(!pw.stderr.includes(SECRET), 'no password in the run log');

  // ---- data_dir deleted under a running `run`: noticed, an error, exit 1
  const pw2 = rig.startPaywatch(bin, ['run', '-c', live], env);
  await rig.waitFor('run to resume', () => /resuming from block/.test(pw2.stderr), 30000).catch((e) => rig.check(false, e.message));
  fs.rmSync(cfgObj().data_dir, { recursive: true, force: true });
  const gone = await Promise.race([pw2.done, rig.sleep(30000).then(() => null)]);
  rig.check(gone && gone.code === 1, `run exits 1 when its data_dir is deleted (${JSON.stringify(gone)})`);
  rig.check(/data_dir .* was removed or replaced while paywatch was running: stopping/.test(pw2.stderr),
    `the error says what happened: ${pw2.stderr.split('\n').filter((l) => / error /.test(l)).join(' / ')}`);
}

rig.runTest('e2e_cli', main);
