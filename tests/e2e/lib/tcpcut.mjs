// tcpcut.mjs: an allowed fake for a Postgres connection: a TCP forwarder on
// 127.0.0.1 in front of a real Postgres, controlled by the test, to lose
// Postgres's answers after it sent them (a statement committed whose answer
// never reaches the client) and then cut the connection: a loss a real
// server cannot be made to produce on demand. Connections made after a cut
// are forwarded as they are. rewrite(from, to) changes a client's bytes
// on their way (from and to of one length, so no message's length field
// changes): a statement of the client's own that the real server then
// refuses with its own error, where nothing else can make it refuse that
// statement (a SET of the UTC time zone).
import net from 'node:net';
import { onCleanup } from './rig.mjs';

export function startTcpCut(upstreamPort) {
  const pairs = new Set();
  const fwd = { port: 0, connections: 0, droppedBytes: 0, from: null, to: null, rewritten: 0 };
  const server = net.createServer((client) => {
    fwd.connections++;
    const up = net.connect(upstreamPort, '127.0.0.1');
    const pair = { client, up, dropping: false };
    pairs.add(pair);
    client.on('data', (b) => {
      if (fwd.from) {
        const at = b.indexOf(fwd.from);
        if (at >= 0) { b = Buffer.from(b); b.write(fwd.to, at); fwd.rewritten++; }
      }
      up.write(b);
    });
    up.on('data', (b) => {
      if (pair.dropping) fwd.droppedBytes += b.length;
      else client.write(b);
    });
    const end = () => { pairs.delete(pair); client.destroy(); up.destroy(); };
    client.on('close', end);
    up.on('close', end);
    client.on('error', () => {});
    up.on('error', () => {});
  });
  // from now on, what Postgres sends on the connections open now is read
  // and thrown away (the client waits)
  fwd.dropAnswers = () => { for (const p of pairs) p.dropping = true; };
  // from now on, the client's bytes `from` (where one read holds them
  // whole) go to Postgres as `to`, of the same length; rewrite(null) stops
  fwd.rewrite = (from, to = '') => {
    if (from && Buffer.byteLength(from) !== Buffer.byteLength(to)) throw new Error('rewrite: from and to differ in length');
    fwd.from = from ? Buffer.from(from) : null;
    fwd.to = to;
  };
  // the connections open now end at once (a reset to the client)
  fwd.cut = () => {
    for (const p of [...pairs]) {
      p.client.resetAndDestroy();
      p.up.destroy();
    }
  };
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    fwd.port = server.address().port;
    onCleanup(() => { fwd.cut(); server.close(); });
    resolve(fwd);
  }));
}
