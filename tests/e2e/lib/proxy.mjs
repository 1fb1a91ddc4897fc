// proxy.mjs: the one allowed fake: a websocket proxy on 127.0.0.1 between
// paywatch and anvil, controlled by the test, to inject faults a real node
// cannot produce on demand: a cut connection (TCP reset, no close frame), a
// stall (the socket stays open, nothing moves), an endpoint gone for good,
// and malformed answers (a transform applied to one answer of a method).
import https from 'node:https';
import { WebSocket, WebSocketServer } from 'ws';
import { freePort } from './rig.mjs';

// tls: { key, cert } (PEM) serves wss:// instead of ws://
export async function startProxy(upstream, tls = null) {
  const port = await freePort();
  let wss, server;
  if (tls) {
    server = https.createServer({ key: tls.key, cert: tls.cert });
    wss = new WebSocketServer({ server, maxPayload: 512 * 1024 * 1024 });
    await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  } else {
    wss = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 512 * 1024 * 1024 });
  }
  const pairs = new Set();
  const faults = []; // { method, transform(text, requestId) -> string | Buffer }
  const proxy = { port, url: `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`, connections: 0, stalled: false, faultsApplied: 0 };

  wss.on('connection', (client) => {
    proxy.connections++;
    const up = new WebSocket(upstream, { maxPayload: 512 * 1024 * 1024 });
    const pair = { client, up, methods: new Map(), held: [] };
    pairs.add(pair);
    const early = [];
    up.on('open', () => { for (const m of early) up.send(m); early.length = 0; });
    client.on('message', (data) => {
      const text = data.toString();
      try {
        const msg = JSON.parse(text);
        for (const m of Array.isArray(msg) ? msg : [msg]) pair.methods.set(m.id, m.method);
      } catch { /* forwarded as is */ }
      if (proxy.stalled) return;
      if (up.readyState === WebSocket.OPEN) up.send(text); else early.push(text);
    });
    up.on('message', (data) => {
      if (proxy.stalled) return;
      let out = data.toString();
      if (proxy.mangleHeads && out.includes('"eth_subscription"')) {
        // newHeads that skip, repeat and arrive out of order
        const roll = Math.random();
        if (roll < 0.3) { proxy.headsMangled++; return; } // dropped
        if (roll < 0.5) { proxy.headsMangled++; client.send(out); } // repeated
        if (roll < 0.7) { proxy.headsMangled++; pair.held.push(out); return; } // held back, sent after the next one
        client.send(out);
        for (const h of pair.held.splice(0)) client.send(h);
        return;
      }
      let id;
      try { id = JSON.parse(out).id; } catch { id = undefined; }
      const method = id !== undefined ? pair.methods.get(id) : undefined;
      // a fault is spent only on an answer someone will receive
      const i = client.readyState === WebSocket.OPEN ? faults.findIndex((f) => f.method === method) : -1;
      if (i >= 0) {
        const changed = faults[i].transform(out, id); // undefined: not applicable to this answer
        if (changed !== undefined) {
          const f = faults.splice(i, 1)[0];
          out = changed;
          proxy.faultsApplied++;
          proxy.applied.push(f.name);
          proxy.servedOn.set(f.name, pair);
        }
      }
      if (client.readyState === WebSocket.OPEN) client.send(out);
    });
    const close = () => { pairs.delete(pair); try { client.terminate(); } catch {} try { up.terminate(); } catch {} };
    client.on('close', close);
    up.on('close', close);
    client.on('error', close);
    up.on('error', close);
  });

  proxy.cut = () => { for (const p of pairs) { p.client._socket?.destroy(); p.up.terminate(); } pairs.clear(); };
  proxy.stall = (on) => { proxy.stalled = on; };
  proxy.kill = () => new Promise((resolve) => { proxy.cut(); wss.close(() => (server ? server.close(() => resolve()) : resolve())); });
  proxy.applied = [];
  proxy.servedOn = new Map(); // fault name -> the connection it was served on
  // the connection a fault was served on has closed since (paywatch left
  // it: an answer sent as paywatch was leaving may never have been read)
  proxy.servedOnClosed = (name) => proxy.servedOn.has(name) && !pairs.has(proxy.servedOn.get(name));
  proxy.mangleHeads = false;
  proxy.headsMangled = 0;
  proxy.active = () => pairs.size;
  proxy.inject = (name, method, transform) => faults.push({ name, method, transform });
  proxy.pending = () => faults.length;
  return proxy;
}
