// test_tls.mjs: wss:// endpoints with certificate verification on. A TLS
// websocket proxy in front of anvil serves certificates from a throwaway CA
// made here with openssl; paywatch trusts it through SSL_CERT_FILE (OpenSSL's
// default verify paths). Trusted CA and matching name: payments arrive.
// CA not trusted, or a certificate for another name: the connection is
// refused with a clear TLS error and nothing is written.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';
import { startProxy } from './lib/proxy.mjs';

const bin = process.argv[2];
const acme = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

function makeCerts(dir) {
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=paywatch test CA');
  for (const [name, san] of [['good', 'IP:127.0.0.1,DNS:localhost'], ['other', 'DNS:other.example']]) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
  const read = (f) => fs.readFileSync(path.join(dir, f));
  return { ca: path.join(dir, 'ca.pem'), good: { key: read('good.key'), cert: read('good.pem') }, other: { key: read('other.key'), cert: read('other.pem') } };
}

async function main() {
  const work = rig.workDir('pw-tls-');
  const certs = makeCerts(work);
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const token = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const good = await startProxy(node.ws, certs.good);
  const other = await startProxy(node.ws, certs.other);
  const admin = await pg.client('postgres');
  rig.onCleanup(() => admin.end().catch(() => {}));
  const config = (name, url) => {
    const db = `pw_${name}`;
    return { db, file: rig.writeConfig(fs.mkdtempSync(path.join(work, name)), {
      data_dir: path.join(work, `${name}-data`), postgres: { dsn: pg.dsn(db) },
      chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: url, confirmations: 1,
        tokens: [{ symbol: 'USDC', address: token.address, decimals: 6 }] }],
      merchants: [{ id: 'acme', addresses: { local: [acme] } }],
    }) };
  };
  const runs = [
    ['trusted', good.url, { SSL_CERT_FILE: certs.ca }],
    ['untrusted', good.url, { SSL_CERT_FILE: '/nonexistent/ca.pem', SSL_CERT_DIR: '/nonexistent' }],
    ['wrongname', other.url, { SSL_CERT_FILE: certs.ca }],
  ];
  const procs = {};
  for (const [name, url, env] of runs) {
    const c = config(name, url);
    await admin.query(`CREATE DATABASE ${c.db}`);
    rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', c.file]).status === 0, `migrate ${name}`);
    procs[name] = { p: rig.startPaywatch(bin, ['run', '-c', c.file], env), db: c.db };
  }
  for (let i = 0; i < 3; i++) await node.receipt(await token.transfer(deployer, acme, 5n + BigInt(i)));
  await node.mine(1);
  const count = async (db) => {
    const c = await pg.client(db);
    const n = (await c.query('SELECT count(*)::int AS n FROM payments')).rows[0].n;
    await c.end();
    return n;
  };
  await rig.waitFor('payments over wss://', async () => (await count(procs.trusted.db)) === 3, 20000).catch((e) => rig.check(false, e.message));
  rig.check(/connected to wss:\/\/127\.0\.0\.1:\d+\//.test(procs.trusted.p.stderr), 'trusted: connected over wss://');
  // the refused instances have tried (and logged why) by the time the trusted one is done
  await rig.waitFor('TLS errors from the refused instances', () =>
    ['untrusted', 'wrongname'].every((n) => /TLS handshake failed/.test(procs[n].p.stderr)), 20000).catch(() => {});
  for (const name of ['untrusted', 'wrongname']) {
    const { p, db } = procs[name];
    rig.check(/TLS handshake failed/.test(p.stderr), `${name}: refused with a TLS error`);
    rig.check(!/connected to wss/.test(p.stderr), `${name}: never connected`);
    rig.check((await count(db)) === 0, `${name}: nothing written`);
  }
  for (const { p } of Object.values(procs)) p.proc.kill('SIGTERM');
  for (const { p } of Object.values(procs)) rig.check((await p.done).code === 0, 'exits 0 on SIGTERM');
  await good.kill();
  await other.kill();
}

rig.runTest('e2e_tls', main);
