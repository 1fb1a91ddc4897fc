// httpproxy.mjs: a small HTTP proxy on 127.0.0.1 for the webhook tests: it
// tunnels CONNECT requests to their target and forwards plain proxied
// requests, recording every one (method and target), so a test can tell
// whether paywatch went through it and where it asked to go.
import http from 'node:http';
import net from 'node:net';
import { freePort } from './rig.mjs';

export async function startHttpProxy() {
  const port = await freePort();
  const seen = [];
  const server = http.createServer((req, res) => { // a plain proxied request: absolute URL
    seen.push({ method: req.method, target: req.url });
    const u = new URL(req.url);
    const up = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: req.method,
      headers: req.headers }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  server.on('connect', (req, client, head) => {
    seen.push({ method: 'CONNECT', target: req.url });
    const [host, p] = req.url.startsWith('[') ? [req.url.slice(1, req.url.indexOf(']')), req.url.split(']:')[1]]
      : req.url.split(':');
    const up = net.connect(Number(p), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head && head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => { client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'); });
    client.on('error', () => up.destroy());
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}
