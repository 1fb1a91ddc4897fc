// test_api_bodies.mjs: every field of every request body the API takes,
// hostile, read from the contract the server serves (GET
// /v1/openapi.json), against real parts: anvil, a throwaway Postgres,
// `paywatch run` serving the API. Each operation's valid body (sent first:
// it must work) is sent again with one field at a time replaced: by each
// JSON type the contract does not give the field, by strings that are not
// UTF-8, hold a NUL or a terminal escape, a lone surrogate, or 10,000
// characters, and by numbers out of any range. Nested fields (xpub.key)
// and array items (events[0]) are swept the same way. Then whole bodies:
// not JSON, not an object, nested 10,000 deep, a field the contract does
// not name, a key that is not UTF-8, a key twice, and 2 MB announced (413).
// Asked of every answer: no 5xx (a value that reaches Postgres unchecked
// is a 503), an error object as UTF-8 JSON; a value of a type the contract
// does not give the field is a 400 naming the field (or the object holding
// it); a string holding U+0000 or a lone surrogate is a 400 (cJSON would
// read "a\u0000b" as "a": another merchant id, another reference).
// The sweep is checked against the contract: a field the contract names
// that no valid body holds fails the test, so a new field is swept from
// the start.
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as rig from './lib/rig.mjs';

const { HDNodeWallet, Mnemonic } = createRequire(import.meta.url)('ethers');
const bin = process.argv[2];

// JSON types of a value, as JSON Schema names them
const typeOf = (v) => v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v;
const NOT_UTF8 = '\u0001NOT-UTF8\u0001'; // replaced in the body's bytes by 0x61 0xff 0x62
const LONE_SURROGATE = '\u0001SURROGATE\u0001'; // replaced by the JSON escape \ud800 alone
const OTHER_TYPES = [0, -1, 1.5, true, null, [], {}, 'text', [[[1]]], { a: { b: {} } }];
// [what, value, refused]: a NUL would be read as the string's end ("a" for "a\u0000b")
const STRINGS = [['not UTF-8', NOT_UTF8], ['a lone surrogate', LONE_SURROGATE, true], ['a NUL', 'a\u0000b', true],
  ['a terminal escape', '\u001b[31mx'], ['10,000 characters', 'x'.repeat(10000)], ['empty', '']];
const decoder = new TextDecoder('utf-8', { fatal: true });
const NUMBERS = [-1, 0, 1e308, -1e308, 2 ** 63, 2 ** 64, 1e-300, 4294967297];

function encode(body) {
  const text = JSON.stringify(body).replaceAll(JSON.stringify(LONE_SURROGATE), '"\\ud800"');
  const at = text.indexOf(JSON.stringify(NOT_UTF8));
  if (at < 0) return text;
  return Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0x22, 0x61, 0xff, 0x62, 0x22]),
    Buffer.from(text.slice(at + JSON.stringify(NOT_UTF8).length))]);
}

async function main() {
  const work = rig.workDir('pw-api-bodies-');
  const [pg, node] = await Promise.all([rig.startPostgres(), rig.startAnvil()]);
  const [deployer] = node.accounts;
  const usdc = await rig.deployToken(node, { from: deployer, name: 'USD Coin', symbol: 'USDC', decimals: 6, supply: 10n ** 30n });
  const account = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase('test test test test test test test test test test test junk'), "m/44'/60'/0'");
  const xpub = account.neuter().extendedKey;
  const [adminKey, adminEntry] = rig.runPaywatchSync(bin, ['api-key', 'new']).stdout.trim().split('\n');
  const secretKey = rig.runPaywatchSync(bin, ['secrets', 'new-key']).stdout.trim();
  const port = await rig.freePort();
  const cfg = rig.writeConfig(work, {
    data_dir: path.join(work, 'data'), postgres: { dsn: pg.dsn() },
    chains: [{ name: 'local', kind: 'evm', chain_id: 31337, ws_url: node.ws, confirmations: 1,
      tokens: [{ symbol: 'USDC', address: usdc.address, decimals: 6 }] }],
    merchants: [{ id: 'cfgm', addresses: { local: ['0x000000000000000000000000000000000000dEaD'] } }],
    webhooks: { allow_private_targets: true },
    api: { listen: `127.0.0.1:${port}`, keys: [JSON.parse(adminEntry)], rate_limit: { per_second: 100000, burst: 100000 } },
  });
  rig.check(rig.runPaywatchSync(bin, ['migrate', '-c', cfg]).status === 0, 'migrate');
  rig.startPaywatch(bin, ['run', '-c', cfg], { PAYWATCH_SECRET_KEY: secretKey });
  const base = `http://127.0.0.1:${port}`;
  await rig.waitFor('the API', async () => (await fetch(`${base}/readyz`).catch(() => null))?.status === 200, 30000);
  const post = async (p, body) => {
    const res = await fetch(base + p, { method: 'POST', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, body });
    const raw = Buffer.from(await res.arrayBuffer());
    let text = null, json = null;
    try { text = decoder.decode(raw); json = JSON.parse(text); } catch { /* checked by the caller */ }
    return { status: res.status, json, text: text ?? `(not UTF-8) ${raw.toString('latin1')}` };
  };

  // the contract as served, its references resolved
  const doc = await (await fetch(`${base}/v1/openapi.json`)).json();
  const resolve = (s) => (s && s.$ref ? resolve(s.$ref.split('/').slice(1).reduce((o, k) => o[k], doc)) : s);
  const typesOf = (s) => { s = resolve(s); const t = s.type; return t ? [].concat(t) : ['string', 'integer', 'number', 'boolean', 'null', 'array', 'object']; };

  // one valid body per operation taking one; the merchant is made by the first
  const ops = [
    ['/v1/merchants', () => ({ id: `m${Math.random().toString(36).slice(2, 10)}`, xpub: { key: xpub, path: '5/*', chains: ['local'], gap_limit: 3 } })],
    ['/v1/merchants/sweep/addresses', () => ({ chain: 'local', address: '0x976EA74026E726554dB657fA54763abd0C3a0aa9', from_block: 0 })],
    ['/v1/merchants/sweep/webhooks', () => ({ id: `w${Math.random().toString(36).slice(2, 10)}`, url: 'http://127.0.0.1:9/x', events: ['payment.confirmed'] })],
    ['/v1/merchants/sweep/deposit-addresses', () => ({ chain: 'local' })],
    ['/v1/invoices', () => ({ merchant_id: 'sweep', chain: 'local', token: 'USDC', amount: '1.5', expires_in_s: 600,
      reference: `r${Math.random().toString(36).slice(2, 10)}`, metadata: { cart: '7' } })],
    ['/v1/invoices', () => ({ merchant_id: 'sweep', chain: 'local', token: 'USDC', amount: '2', expires_at: '2030-01-01T00:00:00Z',
      reference: `r${Math.random().toString(36).slice(2, 10)}` })],
  ];
  let r = await post('/v1/merchants', JSON.stringify({ id: 'sweep', xpub: { key: xpub, path: '4/*', chains: ['local'], gap_limit: 3 } }));
  rig.check(r.status === 201, `the sweep's merchant made (${r.status} ${r.text.slice(0, 200)})`);

  // ---- every field the contract names is in some valid body
  const swept = new Set();
  const walk = (schema, value, at, visit) => {
    schema = resolve(schema);
    visit(schema, value, at);
    if (value && typeOf(value) === 'object' && schema.properties)
      for (const [k, v] of Object.entries(value)) if (schema.properties[k]) walk(schema.properties[k], v, [...at, k], visit);
    if (Array.isArray(value) && value.length && schema.items) walk(schema.items, value[0], [...at, 0], visit);
  };
  const schemaOf = (p) => {
    const route = Object.keys(doc.paths).find((k) => new RegExp('^' + k.replace(/\{[^}]+\}/g, '[^/]+') + '$').test(p));
    return resolve(doc.paths[route].post.requestBody.content['application/json'].schema);
  };
  for (const [p, make] of ops) walk(schemaOf(p), make(), [], (_s, _v, at) => swept.add(`${p} ${at.join('.')}`));
  for (const p of new Set(ops.map(([x]) => x))) {
    const named = [];
    const list = (s, at) => { s = resolve(s); for (const [k, v] of Object.entries(s.properties || {})) { named.push([...at, k].join('.')); list(v, [...at, k]); } if (s.items) list(s.items, [...at, 0]); };
    list(schemaOf(p), []);
    const missing = named.filter((f) => !swept.has(`${p} ${f}`));
    rig.check(missing.length === 0, `POST ${p}: every field the contract names is swept (${missing.join(' ') || named.length + ' fields'})`);
  }

  // ---- the valid bodies work
  for (const [p, make] of ops) {
    r = await post(p, JSON.stringify(make()));
    rig.check(r.status >= 200 && r.status < 300, `POST ${p}, a valid body: ${r.status} (${r.text.slice(0, 200)})`);
  }

  // ---- one field at a time
  const set = (obj, at, v) => { const copy = structuredClone(obj); let o = copy; for (const k of at.slice(0, -1)) o = o[k]; o[at[at.length - 1]] = v; return copy; };
  let sent = 0;
  const fivexx = [];
  for (const [p, make] of ops) {
    const cases = [];
    walk(schemaOf(p), make(), [], (schema, _v, at) => {
      if (!at.length) return;
      const types = typesOf(schema);
      for (const v of OTHER_TYPES) if (!types.includes(typeOf(v)) && !(typeOf(v) === 'integer' && types.includes('number')))
        cases.push([at, `${JSON.stringify(v)} (${typeOf(v)})`, v, true]);
      if (types.includes('string')) for (const [what, v, refused] of STRINGS) cases.push([at, what, v, false, refused]);
      if (types.includes('integer') || types.includes('number')) for (const v of NUMBERS) cases.push([at, String(v), v, false]);
    });
    for (const [at, what, v, wrongType, refused] of cases) {
      const body = set(make(), at, v);
      r = await post(p, encode(body));
      sent++;
      const field = at.map((k) => (typeof k === 'number' ? `[${k}]` : k)).join('.').replace(/\.\[/g, '[');
      const name = `POST ${p} ${field} = ${what}`;
      if (r.status >= 500) fivexx.push(`${name}: ${r.status} ${r.text.slice(0, 160)}`);
      rig.check(r.status < 500 && (r.status < 400 || r.json?.error?.message), `${name}: ${r.status}, an error as UTF-8 JSON when refused (${r.text.slice(0, 160)})`);
      if (refused) rig.check(r.status === 400, `${name}: refused, not read as another value (${r.status} ${r.text.slice(0, 160)})`);
      if (wrongType) {
        const param = r.json?.error?.param || '';
        const named = [field, ...at.slice(0, -1).map((_, k) => at.slice(0, k + 1).join('.'))].some((f) => param === f || param.startsWith(f.split('[')[0]));
        rig.check(r.status === 400 && named, `${name}: a type the contract does not give it is 400 naming it (${r.status}, param ${JSON.stringify(param)})`);
      }
    }
  }
  rig.check(fivexx.length === 0, `no 5xx in ${sent} requests${fivexx.length ? ': ' + fivexx.slice(0, 5).join(' | ') : ''}`);

  // ---- whole bodies
  const wholes = [['not JSON', '{"chain":'], ['an array', '[]'], ['a string', '"x"'], ['null', 'null'], ['empty', ''],
    ['nested 10,000 deep', '['.repeat(10000) + ']'.repeat(10000)], ['an object nested 10,000 deep', '{"a":'.repeat(10000) + '1' + '}'.repeat(10000)],
    ['a field the contract does not name', null],
    ['a key that is not UTF-8', Buffer.from('{"ch\xffain":"local"}', 'latin1')], ['a key given twice', undefined],
    ['a syntax error inside a field', 0]];
  for (const p of new Set(ops.map(([x]) => x))) {
    for (const [what, text] of wholes) {
      const valid = ops.find(([x]) => x === p)[1]();
      const [first] = Object.keys(valid);
      // a key twice: cJSON would take the first, a proxy or a log reader may take the last
      const body = text === null ? JSON.stringify({ ...valid, nosuch_field: 1 })
        : text === undefined ? JSON.stringify(valid).replace(/\}$/, `,${JSON.stringify(first)}:${JSON.stringify(valid[first])}}`)
          : text === 0 ? `{${JSON.stringify(first)}:[1,]}` : text;
      r = await post(p, body);
      rig.check(r.status >= 400 && r.status < 500 && r.json?.error?.message, `POST ${p} ${what}: a 4xx as JSON (${r.status} ${r.text.slice(0, 160)})`);
      if (text === undefined) rig.check(r.status === 400 && r.json?.error?.param === first, `POST ${p} ${what}: 400 naming ${first} (${r.text.slice(0, 160)})`);
      // the body's syntax, not the field's value: no param, and the message says where
      if (text === 0) rig.check(r.status === 400 && r.json?.error?.param === null && /invalid JSON/.test(r.json.error.message),
        `POST ${p} ${what}: 400 with param null (${r.text.slice(0, 160)})`);
    }
  }
  // a body over the limit is answered 413 from its headers, before it is read (fetch would
  // still be sending it when the server closes): the headers alone, on a socket
  for (const p of new Set(ops.map(([x]) => x))) {
    const answer = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write(`POST ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminKey}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${2 << 20}\r\n\r\n{"chain":`));
      let got = '';
      sock.on('data', (d) => { got += d; if (got.includes('\r\n\r\n') && /\}\s*$/.test(got)) { sock.destroy(); resolve(got); } });
      sock.on('close', () => resolve(got));
      sock.on('error', () => resolve(got));
    });
    rig.check(/^HTTP\/1\.1 413 /.test(answer) && /"too_large"/.test(answer), `POST ${p} with 2 MB announced: 413 as JSON before the body (${answer.split('\r\n')[0]})`);
  }
  rig.check(sent > 300, `the sweep sent ${sent} bodies`);
}

rig.runTest('e2e_api_bodies', main);
