// test_secrets.mjs: no secret leaves, table-driven. Every DSN form below
// (percent-encoded specials, a percent-encoded keyword, key=value quoting;
// the unencoded '%', '@', '/' and an unquoted space that made libpq quote
// pieces of the password; an unreachable server) and every webhook URL form
// (user info, a token in the path, a key in the query) go through every
// command: check-config, migrate, status (text and --json), webhooks
// list and test, quarantine list, replay, run and dispatch (these two at
// --log-level debug: every line they have, a delivery's too). Each secret
// carries the markers Zx9 (its start) and Qk7 (its end), so any piece of it
// is found: none may appear in stdout, stderr or anything Postgres holds.
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const leaks = (text) => /Zx9|Qk7|MfKQ9r8G/.test(text);

async function main() {
  const work = rig.workDir('pw-secrets-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const recv = await rig.startReceiver(work, { '/acme': SECRET, '/acme/Zx9u2Qk7': SECRET, '/acme?key=Zx9u3Qk7': SECRET });
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  await node.receipt(await token.transfer(deployer, acme, 5n));
  await node.mine(3);
  const head = await node.head();
  const P = pg.port;
  const dsns = [
    { name: 'URI, specials percent-encoded', dsn: `postgresql://postgres:Zx9a%40b%2Fc%25dQk7@127.0.0.1:${P}/paywatch`, works: true },
    { name: 'URI, percent-encoded keyword', dsn: `postgresql://postgres@127.0.0.1:${P}/paywatch?passwor%64=Zx9kwQk7`, works: true },
    { name: 'key=value, quoted', dsn: `host=127.0.0.1 port=${P} dbname=paywatch user=postgres password = 'Zx9 it\\'s Qk7'`, works: true },
    { name: "URI, a raw '%'", dsn: `postgresql://postgres:Zx9pa%zzQk7@127.0.0.1:${P}/paywatch`, refused: true },
    { name: "URI, a raw '@'", dsn: `postgresql://postgres:Zx9pa@ssQk7@127.0.0.1:${P}/paywatch`, refused: true },
    { name: "URI, a raw '/'", dsn: `postgresql://postgres:Zx9pa/ssQk7@127.0.0.1:${P}/paywatch`, refused: true },
    { name: 'key=value, an unquoted space', dsn: `host=127.0.0.1 port=${P} password=Zx9pa ssQk7 dbname=paywatch`, refused: true },
    { name: 'URI, unreachable server', dsn: 'postgresql://postgres:Zx9unrQk7@127.0.0.1:1/paywatch', unreachable: true },
  ];
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: '${PW_SECRET_DSN}' },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 2,
      tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
    merchants: [{ id: 'acme', addresses: { local: [acme] }, webhooks: [
      { id: 'userinfo', url: recv.base.replace('http://', 'http://user:Zx9u1Qk7@') + '/acme', secret: SECRET },
      { id: 'path', url: recv.base + '/acme/Zx9u2Qk7', secret: SECRET },
      { id: 'query', url: recv.base + '/acme?key=Zx9u3Qk7', secret: SECRET }] }],
    webhooks: { allow_private_targets: true },
  });
  const commands = [
    ['check-config', '-c', cfg], ['migrate', '-c', cfg], ['status', '-c', cfg], ['status', '-c', cfg, '--json'],
    ['webhooks', 'list', '-c', cfg], ['webhooks', 'test', '-c', cfg, '--merchant', 'acme'],
    ['quarantine', 'list', '-c', cfg, '--json'],
    ['replay', '-c', cfg, '--chain', 'local', '--from', '0', '--to', String(head), '--json'],
  ];
  const db = await pg.client();
  rig.onCleanup(() => db.end().catch(() => {}));
  for (const form of dsns) {
    const env = { PW_SECRET_DSN: form.dsn };
    let out = '';
    for (const args of commands) {
      const r = await rig.runPaywatch(bin, args, env);
      out += r.stdout + r.stderr;
      if (form.refused) rig.check(r.status === 2 && /postgres\.dsn: /.test(r.stderr), `${form.name}: ${args[0]} refuses the DSN naming the field (${r.status})`);
      if (form.works && args[0] === 'check-config') rig.check(r.status === 0 && /password=\*\*\*\*/.test(r.stdout), `${form.name}: check-config masks it`);
      if (form.works && args[0] === 'webhooks' && args[1] === 'test')
        rig.check(r.status === 0 && (r.stdout.match(/HTTP 200/g) || []).length === 3, `${form.name}: webhooks test reaches the 3 endpoints: ${r.stdout}`);
      if (form.unreachable && args[0] !== 'check-config' && args[1] !== 'test') rig.check(r.status === 1, `${form.name}: ${args.slice(0, 2).join(' ')} exits 1 (${r.status})`);
    }
    // the long-running commands: run until a delivery (or a while), dispatch a while
    if (form.works) { // a new payment for this run to deliver
      await node.receipt(await token.transfer(deployer, acme, 6n));
      await node.mine(2);
    }
    const before = (await recv.records()).filter((r) => JSON.parse(r.body).type === 'payment.confirmed').length;
    const pw = rig.startPaywatch(bin, ['--log-level', 'debug', 'run', '-c', cfg], env);
    if (form.works) {
      await rig.waitFor(`${form.name}: run delivers`, async () =>
        (await recv.records()).filter((r) => JSON.parse(r.body).type === 'payment.confirmed').length > before, 30000)
        .catch((e) => rig.check(false, e.message));
    } else {
      await rig.waitFor(`${form.name}: run ends or retries`, () => pw.exited || /postgres: cannot connect/.test(pw.stderr), 30000)
        .catch((e) => rig.check(false, e.message));
    }
    if (!pw.exited) pw.proc.kill('SIGTERM');
    await pw.done;
    out += pw.stderr;
    const dp = rig.startPaywatch(bin, ['--log-level', 'debug', 'dispatch', '-c', cfg], env);
    await rig.waitFor(`${form.name}: dispatch starts`, () => dp.exited || /dispatcher running|cannot connect/.test(dp.stderr), 15000)
      .catch((e) => rig.check(false, e.message));
    if (!dp.exited) dp.proc.kill('SIGTERM');
    await dp.done;
    out += dp.stderr;
    if (form.refused) rig.check(pw.exited.code === 2 && dp.exited.code === 2, `${form.name}: run and dispatch refuse it`);
    rig.check(!leaks(out), `${form.name}: no piece of a secret in any output${leaks(out) ? ': ' + out.split('\n').filter(leaks).slice(0, 3).join(' | ') : ''}`);
  }
  // what Postgres holds: no DSN password, no URL credential, no webhook secret
  const tables = (await db.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).rows.map((r) => r.tablename);
  let stored = '';
  for (const t of tables) stored += (await db.query(`SELECT t::text AS row FROM "${t}" t`)).rows.map((r) => r.row).join('\n');
  rig.check(stored.length > 1000 && !leaks(stored), `Postgres holds no piece of a secret (${tables.length} tables)`);
  const recs = await recv.records();
  rig.check(recs.some((r) => r.path === '/acme' && r.sig_ok) && recs.some((r) => r.path === '/acme/Zx9u2Qk7' && r.sig_ok) &&
    recs.some((r) => r.path === '/acme?key=Zx9u3Qk7' && r.sig_ok), 'the three endpoints got their signed deliveries (their URLs work)');
}

rig.runTest('e2e_secrets', main);
