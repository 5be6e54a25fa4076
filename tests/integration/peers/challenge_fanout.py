# SPDX-License-Identifier: BSD-2-Clause
"""TEST-ONLY stand-in for the load balancer in front of several limen
instances, for HTTP-01 only.

Pebble validates HTTP-01 on one port, but with shared storage
(acme.storage: postgres) the instance that orders a name is whichever
holds its lock.  ChallengeFanout(port, [p1, p2]) listens on pebble's
httpPort and answers GET /.well-known/acme-challenge/TOKEN with the first
200 answer among the instances' plaintext listeners (asked in turn);
anything else is 404.  Real deployments route the CA to the instance
that asked, or share the token (see docs/acme.md "Shared storage").
"""
import http.server
import threading
import urllib.error
import urllib.request


class ChallengeFanout:
    def __init__(self, port, backends):
        self.port = port
        self.backends = list(backends)
        self.asked = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = None
                if self.path.startswith("/.well-known/acme-challenge/"):
                    for p in outer.backends:
                        try:
                            with urllib.request.urlopen(
                                    "http://127.0.0.1:%d%s" % (p, self.path),
                                    timeout=5) as r:
                                if r.status == 200:
                                    body = r.read()
                                    outer.asked.append((self.path, p))
                                    break
                        except (urllib.error.URLError, OSError):
                            continue
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                                      Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
