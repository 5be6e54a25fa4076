# SPDX-License-Identifier: BSD-2-Clause
"""A real HTTP/1.1 backend server for the tests.

It answers every request with a JSON document describing what it got
(method, path, headers, body length and sha256, the server's name), so a
test can check what limen forwarded.  Special paths:

  /status/NNN        answer with status NNN
  /bytes/N           N bytes of body (streamed in 64 KiB pieces)
  /slow/MS           wait MS milliseconds before answering
  /chunked/N         N bytes with Transfer-Encoding: chunked
  /health            200 "ok" (or 503 after .set_healthy(False))

Runs in a thread of the test process (ThreadingHTTPServer, keep-alive).
"""
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "echo"
    # headers and body go out in two writes: without TCP_NODELAY each
    # keep-alive response waits ~40 ms for a delayed ACK
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        h = hashlib.sha256()
        n = 0
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left:
                    piece = self.rfile.read(min(left, 65536))
                    h.update(piece)
                    n += len(piece)
                    left -= len(piece)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0") or 0)
            while left:
                piece = self.rfile.read(min(left, 65536))
                if not piece:
                    break
                h.update(piece)
                n += len(piece)
                left -= len(piece)
        return n, h.hexdigest()

    def _handle(self):
        srv = self.server.owner
        srv.count += 1
        n, digest = self._read_body()
        path = self.path
        if path.startswith("/slow/"):
            time.sleep(int(path.split("/")[2]) / 1000.0)
        if path == "/health":
            body = b"ok" if srv.healthy else b"down"
            self._send(200 if srv.healthy else 503, body, "text/plain")
            return
        if path.startswith("/status/"):
            code = int(path.split("/")[2])
            self._send(code, b"status %d\n" % code, "text/plain")
            return
        if path.startswith("/bytes/"):
            size = int(path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            left = size
            while left:
                piece = chunk[:min(left, 65536)]
                self.wfile.write(piece)
                left -= len(piece)
            return
        if path.startswith("/chunked/"):
            size = int(path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            left = size
            while left:
                piece = b"y" * min(left, 10000)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                left -= len(piece)
            self.wfile.write(b"0\r\n\r\n")
            return
        doc = {
            "server": srv.name,
            "method": self.command,
            "path": path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_len": n,
            "body_sha256": digest,
        }
        self._send(200, json.dumps(doc).encode(), "application/json")

    def _send(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        # Head and body in one write: a test that kills this server under
        # load then kills it before or after a whole answer, never between
        # the head and the body (which no proxy could hide: the head has
        # already gone to the client).
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = \
        do_OPTIONS = _handle


class EchoBackend:
    def __init__(self, name="backend", port=0, host="127.0.0.1"):
        self.name = name
        self.host = host
        self.port = port
        self.count = 0
        self.healthy = True
        self.httpd = None
        self.thread = None

    def start(self):
        self.httpd = ThreadingHTTPServer((self.host, self.port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def set_healthy(self, ok):
        self.healthy = ok

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


if __name__ == "__main__":
    import sys
    b = EchoBackend(name=sys.argv[2] if len(sys.argv) > 2 else "backend",
                    port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    b.start()
    print(b.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        b.stop()
