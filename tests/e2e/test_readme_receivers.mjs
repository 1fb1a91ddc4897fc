// test_readme_receivers.mjs: the receiver examples in README.md ("Verifying
// webhooks") really verify paywatch's signatures: each is extracted from the
// README, started on a free loopback port, sent a signed ping by `paywatch
// webhooks test` (must answer 200), and a forged request (must answer 401).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as rig from './lib/rig.mjs';

const bin = process.argv[2];
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

async function main() {
  const work = rig.workDir('pw-readme-');
  const readme = fs.readFileSync(path.join(rig.e2eDir, '..', '..', 'README.md'), 'utf8');
  const py = /Python \(standard library only\):\n\n```python\n([\s\S]*?)```/.exec(readme)[1];
  const js = /Node \(no dependencies\):\n\n```js\n([\s\S]*?)```/.exec(readme)[1];
  for (const [lang, code] of [['python', py], ['node', js]]) {
    const port = await rig.freePort();
    const file = path.join(work, lang === 'python' ? 'r.py' : 'r.cjs');
    // the examples listen on 8000 (Python on all interfaces): here, loopback and a free port
    fs.writeFileSync(file, code.replace('"whsec_..."', JSON.stringify(SECRET)).replace('("0.0.0.0", 8000)', `("127.0.0.1", ${port})`)
      .replace('.listen(8000)', `.listen(${port}, '127.0.0.1')`));
    const proc = spawn(lang === 'python' ? 'python3' : 'node', [file], { env: { ...process.env, PAYWATCH_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'inherit'] });
    rig.guard(proc.pid);
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    rig.onCleanup(() => proc.kill('SIGKILL'));
    await rig.waitFor(`${lang} receiver`, () => fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}',
      headers: { 'webhook-id': 'x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' } })
      .then((r) => r.status === 401), 10000);
    const cfg = rig.writeConfig(fs.mkdtempSync(path.join(work, lang)), {
      postgres: { dsn: 'postgresql://unused@127.0.0.1:1/x' },
      chains: [{ name: 'local', kind: 'evm', chain_id: 1, ws_url: 'ws://127.0.0.1:1', tokens: [{ symbol: 'U', address: '0x5fbdb2315678afecb367f032d93f642f64180aa3', decimals: 6 }] }],
      merchants: [{ id: 'acme', addresses: {}, webhook: { url: `http://127.0.0.1:${port}/hook`, secret: SECRET } }],
      webhooks: { allow_private_targets: true },
    });
    const r = rig.runPaywatchSync(bin, ['webhooks', 'test', '-c', cfg, '--merchant', 'acme']);
    rig.check(r.status === 0 && /HTTP 200 \(ok\)/.test(r.stdout), `README ${lang} receiver accepts paywatch's signed ping (${r.stdout.trim()})`);
    // the receiver prints the event after it answered: waited for, not slept on
    await rig.waitFor(`the README ${lang} receiver's line for the ping`, () => /"type":"ping"/.test(out), 10000).catch(() => {});
    rig.check(/"type":"ping"/.test(out), `README ${lang} receiver handled the event`);
    const forged = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{"type":"payment.confirmed"}',
      headers: { 'webhook-id': 'evt_forged', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64') } });
    rig.check(forged.status === 401, `README ${lang} receiver rejects a forged signature (${forged.status})`);
  }
}

rig.runTest('e2e_readme_receivers', main);
