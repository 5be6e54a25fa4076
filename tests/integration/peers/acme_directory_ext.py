# SPDX-License-Identifier: BSD-2-Clause
"""TEST-ONLY ACME directory extension in front of pebble.

Debian's pebble (2.4) predates ACME Renewal Information (RFC 9773) and
certificate profiles.  This small HTTPS server sits in front of a running
pebble and is NOT an ACME server of its own:

  - GET /dir is pebble's directory plus, on request, a "renewalInfo" URL
    pointing here and a "meta.profiles" object;
  - GET /renewal-info/CERTID answers with the window the test sets
    (.windows[CERTID], else .window = (start, end) as UNIX times; None:
    404), with Retry-After;
  - every other request is passed to pebble unchanged, with the Host
    header kept, so pebble builds its URLs (and checks each JWS "url")
    against this server's address.

It records what limen sent: .posts (every signed POST, decoded: url,
protected header, payload, the raw JWS, when it came, and the answer's
status and Location) and .ari_ids (the certIDs asked for).
"""
import base64
import http.client
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    @property
    def ext(self):
        return self.server.ext

    def _reply(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, body=None):
        p = self.ext.pebble
        conn = http.client.HTTPSConnection("127.0.0.1", p.port, timeout=30,
                                           context=p.ssl_context())
        conn.putrequest(self.command, self.path, skip_host=True,
                        skip_accept_encoding=True)
        conn.putheader("Host", self.ext.hostport)
        for k in ("Content-Type", "Accept", "User-Agent"):
            if self.headers.get(k):
                conn.putheader(k, self.headers[k])
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        headers = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in ("transfer-encoding", "connection",
                                        "content-length")]
        conn.close()
        return resp.status, data, headers

    def do_HEAD(self):
        status, data, headers = self._forward()
        self._reply(status, b"", headers)

    def do_GET(self):
        ext = self.ext
        if self.path == "/dir":
            status, data, headers = self._forward()
            d = json.loads(data)
            if ext.renewal_info:
                d["renewalInfo"] = ext.base + "/renewal-info"
            if ext.profiles is not None:
                d.setdefault("meta", {})["profiles"] = ext.profiles
            self._reply(status, json.dumps(d).encode(),
                        [("Content-Type", "application/json")])
            return
        if self.path.startswith("/renewal-info/"):
            cert_id = self.path[len("/renewal-info/"):]
            with ext.lock:
                ext.ari_ids.append(cert_id)
            window = ext.windows.get(cert_id, ext.window)
            if window is None:
                self._reply(404, b'{"type": "about:blank"}',
                            [("Content-Type", "application/problem+json")])
                return
            body = json.dumps({"suggestedWindow": {
                "start": rfc3339(window[0]),
                "end": rfc3339(window[1])}}).encode()
            self._reply(200, body, [("Content-Type", "application/json"),
                                    ("Retry-After", str(ext.retry_after))])
            return
        status, data, headers = self._forward()
        self._reply(status, data, headers)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        try:
            jws = json.loads(body)
            protected = json.loads(b64url_decode(jws["protected"]))
            payload = b64url_decode(jws["payload"])
            rec = {"url": self.ext.base + self.path, "path": self.path,
                   "time": time.time(), "jws": jws, "protected": protected,
                   "payload": json.loads(payload) if payload else None}
        except (ValueError, KeyError) as e:
            rec = {"url": self.ext.base + self.path, "path": self.path,
                   "time": time.time(), "error": str(e), "raw": body}
        status, data, headers = self._forward(body)
        rec["status"] = status
        rec["location"] = dict((k.lower(), v) for k, v in headers).get(
            "location")
        with self.ext.lock:
            self.ext.posts.append(rec)
        self._reply(status, data, headers)


class AcmeDirectoryExtension:
    def __init__(self, pebble, renewal_info=False, profiles=None):
        self.pebble = pebble
        self.renewal_info = renewal_info
        self.profiles = profiles
        self.window = None
        self.windows = {}
        self.retry_after = 21600
        self.posts = []
        self.ari_ids = []
        self.lock = threading.Lock()

    def start(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.ext = self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pebble.wfe_cert, self.pebble.wfe_key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.port = self.httpd.server_address[1]
        self.hostport = "127.0.0.1:%d" % self.port
        self.base = "https://" + self.hostport
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    @property
    def directory(self):
        return self.base + "/dir"

    def new_orders(self):
        """Payloads of the newOrder requests pebble accepted so far (a
        request refused with badNonce is sent again and counted once)."""
        with self.lock:
            return [p["payload"] for p in self.posts
                    if p["path"] == "/order-plz" and p.get("status") == 201]

    def orders_of(self, name):
        """(time, payload) of the accepted newOrder requests for name."""
        with self.lock:
            return [(p["time"], p["payload"]) for p in self.posts
                    if p["path"] == "/order-plz" and p.get("status") == 201
                    and p["payload"]["identifiers"][0]["value"] == name]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
