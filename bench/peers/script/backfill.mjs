// backfill.mjs: the "lean hand-written script" of issue 6 (fetch, decode by
// hand, COPY), writing the same rows as paywatch into paywatch's own
// `payments` table, so the two are compared on the same schema.
//   - eth_getLogs over one websocket: 50-block ranges, 4 in flight (as the
//     raw side and paywatch);
//   - each range's block times: one JSON-RPC batch of eth_getBlockByNumber
//     for the blocks that hold a payment, in the same pipeline;
//   - Transfer logs decoded by hand (topics and data as hex), kept when the
//     recipient is a merchant, amounts scaled with BigInt;
//   - every row into one COPY ... FROM STDIN stream, ended at the last range.
// What it does not do (paywatch does): checkpoints, confirmations, reorgs,
// crash safety, idempotency, webhook events, reconnects.
// usage: node backfill.mjs CONFIG.json
//   {"ws","dsn","token","decimals","symbol","chain","chain_id","from","to",
//    "merchants":{"0xaddress":"merchant id"}}
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const { Client } = require('pg');
const { from: copyFrom } = require('pg-copy-streams');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const TRANSFER = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
const RANGE = 50, IN_FLIGHT = 4;
const hex = (n) => '0x' + n.toString(16);
const scale = 10n ** BigInt(cfg.decimals);
const units = (v) => {
  const q = v / scale, r = v % scale;
  if (r === 0n) return q.toString();
  return `${q}.${r.toString().padStart(cfg.decimals, '0').replace(/0+$/, '')}`;
};

const db = new Client({ connectionString: cfg.dsn });
await db.connect();
const copy = db.query(copyFrom('COPY payments (chain, chain_id, block_number, block_hash, block_time, tx_hash, log_index, ' +
  'token_address, token_symbol, from_address, to_address, merchant_id, amount_raw, decimals, amount, status, confirmations, ' +
  'confirmed_at) FROM STDIN'));
const copied = new Promise((res, rej) => { copy.on('finish', res); copy.on('error', rej); });

const ws = new WebSocket(cfg.ws, { maxPayload: 1 << 30 });
await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
let id = 0;
const waiting = new Map();
ws.on('message', (d) => {
  const m = JSON.parse(d);
  const key = Array.isArray(m) ? m[0].id : m.id;
  waiting.get(key)(m);
  waiting.delete(key);
});
const call = (method, params) => new Promise((res) => {
  waiting.set(++id, res);
  ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
});
const batch = (reqs) => new Promise((res) => {
  const first = id + 1;
  waiting.set(first, res);
  ws.send(JSON.stringify(reqs.map(([method, params]) => ({ jsonrpc: '2.0', id: ++id, method, params }))));
});

const ranges = [];
for (let f = cfg.from; f <= cfg.to; f += RANGE) ranges.push([f, Math.min(cfg.to, f + RANGE - 1)]);
let rows = 0;
const confirmedAt = new Date().toISOString();
// ranges are fetched 4 at a time and written in order
const results = new Map();
let nextWrite = 0;
const write = async () => {
  while (results.has(nextWrite)) {
    const text = results.get(nextWrite);
    results.delete(nextWrite++);
    if (text && !copy.write(text)) await new Promise((res) => copy.once('drain', res));
  }
};
let taken = 0;
await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
  while (taken < ranges.length) {
    const k = taken++;
    const [f, t] = ranges[k];
    const logs = (await call('eth_getLogs', [{ fromBlock: hex(f), toBlock: hex(t), address: cfg.token, topics: [TRANSFER] }])).result;
    const mine = logs.filter((l) => l.topics.length === 3 && cfg.merchants['0x' + l.topics[2].slice(26)] !== undefined);
    const blocks = [...new Set(mine.map((l) => l.blockNumber))];
    const times = new Map();
    if (blocks.length) {
      const answers = await batch(blocks.map((b) => ['eth_getBlockByNumber', [b, false]]));
      for (const a of answers) times.set(a.result.number, new Date(Number(BigInt(a.result.timestamp)) * 1000).toISOString());
    }
    let text = '';
    for (const l of mine) {
      const to = '0x' + l.topics[2].slice(26), v = BigInt(l.data);
      text += `${cfg.chain}\t${cfg.chain_id}\t${Number(BigInt(l.blockNumber))}\t${l.blockHash}\t${times.get(l.blockNumber)}\t` +
        `${l.transactionHash}\t${Number(BigInt(l.logIndex))}\t${cfg.token.toLowerCase()}\t${cfg.symbol}\t0x${l.topics[1].slice(26)}\t` +
        `${to}\t${cfg.merchants[to]}\t${v}\t${cfg.decimals}\t${units(v)}\tconfirmed\t1\t${confirmedAt}\n`;
    }
    rows += mine.length;
    results.set(k, text);
    await write();
  }
}));
copy.end();
await copied;
ws.close();
await db.end();
console.log(JSON.stringify({ rows }));
