// tronnode.mjs: A STAND-IN FOR A TRON FULL NODE, not a Tron node. No Tron
// node can run on these machines (java-tron is in neither Debian nor npm),
// so the Tron tests run paywatch against this: an HTTP server on 127.0.0.1
// that speaks java-tron's Ethereum-compatible JSON-RPC (/jsonrpc) as
// java-tron's code describes it (framework/src/main/java/org/tron/core/
// services/jsonrpc: TronJsonRpc, TronJsonRpcImpl, types/BlockResult,
// filters/LogFilterWrapper, filters/LogBlockQuery; the TRON developer docs'
// JSON-RPC page):
//  - eth_chainId "0x2b6653dc" (mainnet 728126428); eth_blockNumber;
//  - eth_getBlockByNumber: BlockResult's fields in alphabetical order, the
//    block id as hash (its first 8 bytes are the block number), timestamp
//    in seconds, nonce/sha3Uncles/receiptsRoot zero; tags "latest",
//    "earliest" and "finalized" (= the solidified block); "safe" refused;
//    null for a block above the head;
//  - eth_getLogs: LogFilterElement's fields in alphabetical order; the log
//    address and topics carry 20-byte addresses without Tron's 0x41
//    prefix; logIndex counts every log of the block; "removed" false;
//    java-tron's limits: -32602 "exceed max block range: 5000" when
//    min(to, head) - from > maxBlockRange, -32005 "query returned more
//    than 10000 results" when the blocks holding matching logs number
//    maxResult or more (LogBlockQuery counts candidate blocks);
//  - JSON-RPC batches (jsonrpc4j answers arrays); errors carry data "{}";
//  - a TronGrid-style API key header (TRON-PRO-API-KEY) when configured:
//    401 without it.
// The chain is scripted: blocks 3 s apart, solidified `solidifyLag` blocks
// below the head (java-tron: ~19), built from the real mainnet values in
// ../shared/fixtures/tron/ (block 30864600's USDT Transfer from
// gettransactioninfobyid/…blocknum; TronGrid's TRC-20 list of 20 USDT
// transfers) plus generated traffic the test asks for: decoys, zero-value
// transfers, other TRC-20 contracts, non-Transfer logs, reorgs before
// solidification. Faults on command: HTTP 429 and 503 answers.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

export const TRANSFER = 'ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
const APPROVAL = '8c5be1e5ebec7d5bd14f71427d1e84f3dd0325ef8e4382e5f4c9e1c1a2ac31d3'.slice(0, 64);
export const MAINNET_CHAIN_ID = 728126428;
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

const sha256 = (b) => crypto.createHash('sha256').update(b).digest();

// base58check as Tron writes addresses; decode returns { payload, checksumOk }
export function base58Encode(bytes) {
  let n = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'));
  let s = '';
  while (n > 0n) { s = ALPHABET[Number(n % 58n)] + s; n /= 58n; }
  for (const b of bytes) { if (b !== 0) break; s = '1' + s; }
  return s;
}
export function base58Decode(s) {
  let n = 0n;
  for (const c of s) {
    const i = ALPHABET.indexOf(c);
    if (i < 0) throw new Error('not base58: ' + s);
    n = n * 58n + BigInt(i);
  }
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const zeros = s.length - s.replace(/^1+/, '').length;
  return Buffer.concat([Buffer.alloc(zeros), Buffer.from(hex === '00' ? '' : hex, 'hex')]);
}
export function tronToHex20(t) { // "T..." -> 20-byte hex (no 0x41), checksum reported
  const raw = base58Decode(t);
  const payload = raw.subarray(0, raw.length - 4);
  const checksumOk = sha256(sha256(payload)).subarray(0, 4).equals(raw.subarray(raw.length - 4));
  if (payload.length !== 21 || payload[0] !== 0x41) throw new Error('not a Tron address: ' + t);
  return { hex: payload.subarray(1).toString('hex'), checksumOk };
}
export function hex20ToTron(hex) {
  const payload = Buffer.concat([Buffer.from([0x41]), Buffer.from(hex, 'hex')]);
  return base58Encode(Buffer.concat([payload, sha256(sha256(payload)).subarray(0, 4)]));
}

const q = (n) => '0x' + BigInt(n).toString(16);
const word = (hex20) => '0'.repeat(24) + hex20;
const word256 = (v) => BigInt(v).toString(16).padStart(64, '0');

// A seeded generator (xorshift), so a failing run can be repeated.
export function rng(seed) {
  let s = BigInt(seed) || 1n;
  return () => {
    s ^= (s << 13n) & 0xffffffffffffffffn; s ^= s >> 7n; s ^= (s << 17n) & 0xffffffffffffffffn;
    return Number(s & 0xffffffffn) / 0x100000000;
  };
}
export function randomHex20(r) { let h = ''; for (let i = 0; i < 20; i++) h += Math.floor(r() * 256).toString(16).padStart(2, '0'); return h; }

// The real values of ../shared/fixtures/tron/ (see SOURCES.txt).
export function loadFixtures(fixturesDir) {
  const info = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'tron', 'getblockdocs_wallet_gettransactioninfobyblocknum_30864600_TRUNCATED.json'), 'utf8'));
  const list = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'tron', 'blockatlas_trongrid_v1_accounts_transactions_trc20.json'), 'utf8'));
  const block = info.response[0].blockNumber;
  const blockTime = Math.floor(info.response[0].blockTimeStamp / 1000);
  const txs = info.response.map((t) => ({ id: t.id, logs: (t.log || []).map((l) => ({ address: l.address, topics: l.topics, data: l.data })) }));
  // TronGrid's list: unique transaction ids (one appears twice: once
  // "_unconfirmed", once confirmed); a hand-edited address (SOURCES.txt:
  // TM1zz...x9D fails its checksum) is read for its payload bytes
  const seen = new Set(), trc20 = [], editedAddresses = new Set();
  for (const row of list.data) {
    if (seen.has(row.transaction_id)) continue;
    seen.add(row.transaction_id);
    const from = tronToHex20(row.from), to = tronToHex20(row.to), token = tronToHex20(row.token_info.address);
    for (const [a, d] of [[row.from, from], [row.to, to]]) if (!d.checksumOk) editedAddresses.add(a);
    trc20.push({ id: row.transaction_id, token: token.hex, from: from.hex, to: to.hex, value: BigInt(row.value),
      symbol: row.token_info.symbol, decimals: row.token_info.decimals });
  }
  return { block, blockTime, txs, trc20, editedAddresses: [...editedAddresses] };
}

export function transferLog(token, from, to, value) {
  return { address: token, topics: [TRANSFER, word(from), word(to)], data: word256(value) };
}
export function approvalLog(token, owner, spender, value) {
  return { address: token, topics: [APPROVAL, word(owner), word(spender)], data: word256(value) };
}

export class TronStandIn {
  // opts: firstBlock, firstTime (unix s of firstBlock), solidifyLag,
  // maxBlockRange (java-tron's jsonrpc.maxBlockRange; 0: none),
  // maxResult (LogBlockQuery.MAX_RESULT), apiKey, chainId
  constructor(opts) {
    this.opts = { solidifyLag: 19, maxBlockRange: 5000, maxResult: 10000, chainId: MAINNET_CHAIN_ID, ...opts };
    this.blocks = [];
    this.salt = 0;
    this.faults = [];       // queued HTTP faults: { status, methods }
    this.requests = [];     // { method, params, ok }
    this.served = [];       // [from, to] of answered eth_getLogs
    this.genesis(opts.firstBlock, opts.firstTime);
  }

  genesis(number, time) {
    this.blocks = [this.makeBlock(number, '00'.repeat(32), time, [])];
  }

  makeBlock(number, parentHash, timestamp, txs) {
    const h = sha256(`${number}:${parentHash}:${this.salt++}`);
    h.writeBigUInt64BE(BigInt(number), 0); // java-tron's block id: the number in the first 8 bytes
    return { number, hash: h.toString('hex'), parentHash, timestamp, txs };
  }

  get head() { return this.blocks.at(-1).number; }
  get solidified() { return Math.max(this.blocks[0].number, this.head - this.opts.solidifyLag); }
  block(n) { const b = this.blocks[n - this.blocks[0].number]; return b && b.number === n ? b : null; }

  // txs: array of { id?, logs: [...] }; one block per call
  mine(txs = [], timestamp) {
    const prev = this.blocks.at(-1);
    const ts = timestamp ?? prev.timestamp + 3;
    const withIds = txs.map((t) => ({ id: t.id || sha256(`tx:${prev.number + 1}:${this.salt++}`).toString('hex'), logs: t.logs || [] }));
    this.blocks.push(this.makeBlock(prev.number + 1, prev.hash, ts, withIds));
    return this.blocks.at(-1);
  }
  mineEmpty(n) { for (let i = 0; i < n; i++) this.mine([]); }

  // Replace the last `depth` blocks (none of them solidified) with blocks
  // holding replacementTxs[i] (and one more block, so the head moves on).
  reorg(depth, replacementTxs = []) {
    if (this.head - depth + 1 <= this.solidified) throw new Error('a reorg cannot reach solidified blocks');
    const orphaned = this.blocks.splice(this.blocks.length - depth, depth);
    for (let i = 0; i < depth; i++) this.mine(replacementTxs[i] || [], orphaned[i].timestamp);
    return orphaned;
  }

  // The canonical Transfer logs of [from, to] to any of `toSet` from `tokens` (expected sets).
  transfers(from, to, filter = () => true) {
    const out = [];
    for (let n = from; n <= to; n++) {
      const b = this.block(n);
      if (!b) continue;
      let logIndex = 0;
      b.txs.forEach((t) => t.logs.forEach((l) => {
        if (l.topics[0] === TRANSFER && l.topics.length === 3) {
          const e = { block: n, blockHash: b.hash, time: b.timestamp, tx: t.id, logIndex, token: l.address,
            from: l.topics[1].slice(24), to: l.topics[2].slice(24), value: BigInt('0x' + l.data) };
          if (filter(e)) out.push(e);
        }
        logIndex++;
      }));
    }
    return out;
  }

  failNext(count, status, methods = null) { for (let i = 0; i < count; i++) this.faults.push({ status, methods }); }

  blockJson(b) {
    const z32 = '0x' + '00'.repeat(32);
    return { baseFeePerGas: '0x0', difficulty: '0x0', extraData: '0x', gasLimit: '0x0', gasUsed: '0x0', hash: '0x' + b.hash,
      logsBloom: '0x' + '00'.repeat(256), miner: '0x' + '00'.repeat(20), mixHash: z32, nonce: '0x' + '00'.repeat(8),
      number: q(b.number), parentHash: '0x' + b.parentHash, receiptsRoot: z32, sha3Uncles: z32, size: q(200 + 300 * b.txs.length),
      stateRoot: '0x', timestamp: q(b.timestamp), totalDifficulty: '0x0', transactions: b.txs.map((t) => '0x' + t.id),
      transactionsRoot: z32, uncles: [] };
  }

  blockNumberOf(tag) {
    if (tag === 'latest') return this.head;
    if (tag === 'earliest') return this.blocks[0].number;
    if (tag === 'finalized') return this.solidified;
    if (typeof tag !== 'string' || !/^0x[0-9a-fA-F]+$/.test(tag)) throw rpcError(-32602, 'invalid block number');
    return Number(BigInt(tag));
  }

  getLogs(f) {
    if (f.blockHash) throw rpcError(-32602, 'invalid blockHash');
    const from = f.fromBlock === undefined ? this.head : this.blockNumberOf(f.fromBlock);
    const to = f.toBlock === undefined ? this.head : this.blockNumberOf(f.toBlock);
    if (from > to) throw rpcError(-32602, 'please verify: fromBlock <= toBlock');
    const max = this.opts.maxBlockRange;
    if (max > 0 && Math.min(to, this.head) - from > max) throw rpcError(-32602, 'exceed max block range: ' + max);
    // java-tron reads 20-byte hex and 21-byte hex with the 41 prefix alike
    const addrs = (Array.isArray(f.address) ? f.address : f.address ? [f.address] : []).map((a) => {
      const h = a.toLowerCase().replace(/^0x/, '');
      return h.length === 42 && h.startsWith('41') ? h.slice(2) : h;
    });
    const topics = (f.topics || []).map((t) => (t === null ? null : (Array.isArray(t) ? t : [t]).map((x) => x.toLowerCase().replace(/^0x/, ''))));
    const match = (l) => (addrs.length === 0 || addrs.includes(l.address)) &&
      topics.every((alts, i) => alts === null || (l.topics[i] && alts.includes(l.topics[i])));
    const out = [];
    let blocksWithMatches = 0;
    for (let n = from; n <= Math.min(to, this.head); n++) {
      const b = this.block(n);
      if (!b) continue;
      let logIndex = 0, any = false;
      b.txs.forEach((t, ti) => t.logs.forEach((l) => {
        if (match(l)) {
          any = true;
          out.push({ address: '0x' + l.address, blockHash: '0x' + b.hash, blockNumber: q(n), data: '0x' + l.data, logIndex: q(logIndex),
            removed: false, topics: l.topics.map((x) => '0x' + x), transactionHash: '0x' + t.id, transactionIndex: q(ti) });
        }
        logIndex++;
      }));
      if (any) blocksWithMatches++;
    }
    if (blocksWithMatches >= this.opts.maxResult) throw rpcError(-32005, `query returned more than ${this.opts.maxResult} results`);
    this.served.push([from, Math.min(to, this.head)]);
    return out;
  }

  call(req) {
    const { method, params = [] } = req;
    switch (method) {
      case 'eth_chainId': return q(this.opts.chainId);
      case 'eth_blockNumber': return q(this.head);
      case 'eth_getBlockByNumber': {
        if (params[0] === 'safe' || params[0] === 'pending') throw rpcError(-32602, 'TAG [earliest | pending | safe] not supported');
        const b = this.block(this.blockNumberOf(params[0]));
        return b ? this.blockJson(b) : null;
      }
      case 'eth_getLogs': return this.getLogs(params[0] || {});
      default: throw rpcError(-32601, `method ${method} not found`);
    }
  }

  answer(req) {
    const id = req && req.id !== undefined ? req.id : null;
    try {
      if (!req || req.jsonrpc !== '2.0' || typeof req.method !== 'string') throw rpcError(-32600, 'invalid json request');
      const result = this.call(req);
      this.requests.push({ method: req.method, params: req.params, ok: true });
      return { jsonrpc: '2.0', id, result };
    } catch (e) {
      if (!e.rpc) throw e;
      this.requests.push({ method: req && req.method, params: req && req.params, ok: false, error: e.rpc });
      return { jsonrpc: '2.0', id, error: { ...e.rpc, data: '{}' } };
    }
  }

  async listen(port = 0) {
    this.server = http.createServer((rq, rs) => {
      let body = '';
      rq.on('data', (d) => { body += d; });
      rq.on('end', () => {
        const send = (status, text, type = 'application/json') => {
          rs.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
          rs.end(text);
        };
        if (rq.method !== 'POST' || rq.url !== '/jsonrpc') return send(404, '{"Error":"not found"}');
        if (this.opts.apiKey && rq.headers['tron-pro-api-key'] !== this.opts.apiKey) {
          this.requests.push({ method: 'unauthorized', ok: false });
          return send(401, '{"Success":false,"Error":"ApiKey not exists"}');
        }
        let parsed;
        try { parsed = JSON.parse(body); } catch {
          return send(200, JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'JSON parse error', data: '{}' } }));
        }
        const methods = (Array.isArray(parsed) ? parsed : [parsed]).map((r) => r && r.method);
        const fi = this.faults.findIndex((f) => !f.methods || methods.some((m) => f.methods.includes(m)));
        if (fi >= 0) {
          const [f] = this.faults.splice(fi, 1);
          this.requests.push({ method: methods.join(','), ok: false, http: f.status });
          if (f.status === 429) return send(429, '{"Success":false,"Error":"request rate exceeded"}');
          return send(f.status, 'Service Temporarily Unavailable', 'text/plain');
        }
        const out = Array.isArray(parsed) ? parsed.map((r) => this.answer(r)) : this.answer(parsed);
        send(200, JSON.stringify(out));
      });
    });
    this.server.keepAliveTimeout = 60000;
    await new Promise((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}/jsonrpc`;
    return this;
  }

  close() { return new Promise((resolve) => { if (!this.server) return resolve(); this.server.closeAllConnections?.(); this.server.close(() => resolve()); }); }
}

function rpcError(code, message) { const e = new Error(message); e.rpc = { code, message }; return e; }
