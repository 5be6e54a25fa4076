# SPDX-License-Identifier: BSD-2-Clause
"""A real forward-auth service for the tests (the oauth2-proxy /oauth2/auth
contract): limen sends it a GET per request and acts on the answer.

  Cookie: session=good   -> 200 with X-Auth-Request-User: alice
  Cookie: session=hang   -> never answers (limen's timeout -> 503)
  anything else          -> 302 to /login with a small body

It records the headers of the last subrequest in .last and counts
subrequests in .count.
"""
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        srv = self.server.owner
        srv.last = {k: v for k, v in self.headers.items()}
        srv.count += 1
        cookie = self.headers.get("Cookie", "")
        if "session=hang" in cookie:
            srv.hang.wait(10)
            return
        if "session=good" in cookie:
            self.send_response(200)
            self.send_header("X-Auth-Request-User", "alice")
            self.send_header("X-Other", "not copied")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"please log in\n"
        self.send_response(302)
        self.send_header("Location", "https://login.example.com/login")
        self.send_header("Set-Cookie", "csrf=1")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class AuthService:
    def __init__(self, tls=None):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        if tls is not None:         # (certfile, keyfile): answer over TLS
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                                server_side=True)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.last = None
        self.count = 0
        self.hang = threading.Event()
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.hang.set()
        self.httpd.shutdown()
        self.httpd.server_close()
