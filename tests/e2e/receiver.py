#!/usr/bin/env python3
"""A webhook receiver for paywatch's tests: a real HTTP server on 127.0.0.1
that verifies Standard Webhooks signatures with an implementation of its
own (hmac + base64, constant-time compare, timestamps at most 5 minutes
off), records every request, and fails on command.

usage: receiver.py PORT SECRETS_JSON    SECRETS_JSON maps path -> "whsec_..."
GET  /_records            -> JSON list of every request received
POST /_control  {"path": "/acme", "fail": ["500", "hang", ...], "always": "hang", "secret": "whsec_..."}
    fail: modes for attempts 1..N of each webhook-id, then 200
    always: a mode for every request ("" to clear)
    secret: the path's secret from now on (one paywatch generated and showed once)
modes: 500, hang (no answer for 30 s), close (drop the connection), 429
(Retry-After: 1), 429-now (Retry-After: 0), 429-late (Retry-After: 3, with a
space after it), 410, slow (answer 200 after 0.8 s)
"""
import base64, hashlib, hmac, json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, SECRETS = int(sys.argv[1]), json.load(open(sys.argv[2]))
records, control, seen = [], {}, {}
lock = threading.Lock()
# the 429 modes' Retry-After values, sent as written (http.server adds no trimming)
RETRY_AFTER = {"429": "1", "429-now": "0", "429-late": "3 "}


def verify(secret, msg_id, ts, body, header):
    key = base64.b64decode(secret[len("whsec_"):])
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    ok = any(hmac.compare_digest(expected, s.split(",", 1)[1]) for s in header.split() if s.startswith("v1,"))
    fresh = abs(time.time() - int(ts)) <= 300
    return ok, fresh


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            out = json.dumps(records).encode()
        self.reply(200, out, [("content-type", "application/json")])

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/_control":
            c = json.loads(body)
            with lock:
                control[c["path"]] = c
                if "secret" in c:
                    SECRETS[c["path"]] = c["secret"]
            return self.reply(200)
        msg_id = self.headers.get("webhook-id", "")
        ts = self.headers.get("webhook-timestamp", "0")
        secret = SECRETS.get(self.path, "")
        sig_ok, fresh = verify(secret, msg_id, ts, body, self.headers.get("webhook-signature", "")) if secret else (False, False)
        with lock:
            attempt = seen.get((self.path, msg_id), 0)
            seen[(self.path, msg_id)] = attempt + 1
            c = control.get(self.path, {})
            mode = c.get("always") or (c.get("fail", [])[attempt] if attempt < len(c.get("fail", [])) else "")
            records.append({"path": self.path, "id": msg_id, "ts": ts, "sig_ok": sig_ok, "fresh": fresh,
                            "attempt": attempt + 1, "mode": mode or "200", "received_ms": int(time.time() * 1000),
                            "body": body.decode(), "user_agent": self.headers.get("user-agent", ""),
                            "content_type": self.headers.get("content-type", "")})
        if mode == "hang":
            time.sleep(30)
            return
        if mode == "close":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if mode == "slow":
            time.sleep(0.8)
        if mode in ("500", "410"):
            return self.reply(int(mode), b"no")
        if mode in RETRY_AFTER:
            return self.reply(429, b"slow down", [("retry-after", RETRY_AFTER[mode])])
        if not sig_ok or not fresh:
            return self.reply(401, b"bad signature")
        self.reply(200, b"ok")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client gone before its answer (paywatch's timeout on a hang, a
        # stop) is what the hang and close modes provoke, not an error of
        # the receiver: anything else is printed as before
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


Server(("127.0.0.1", PORT), Handler).serve_forever()
