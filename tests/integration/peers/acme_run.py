# SPDX-License-Identifier: BSD-2-Clause
"""What the tests of ACME inside `limen run` share (test_acme_run.py,
test_acme_chaos.py): the config they run, how they look at the served
certificates and /metrics, and Traffic, a request loop on another thread
that counts every failed request while the CA misbehaves.

Used with peers/acme_env.py (pebble, the state directory).
"""
import http.client
import re
import socket
import ssl
import subprocess
import threading
import time

from cryptography import x509

from conftest import SLOW
from peers.acme_env import NAMES


def run_config(env, backend_addr, challenges="[http-01]", redirect=True,
               directory=None, names=NAMES, admin_port=None, extra_acme=""):
    """limen run: plaintext listener (pebble's httpPort), TLS listener with
    acme (pebble's tlsPort), every name proxied to backend_addr."""
    directory = directory or (env.ext.directory if env.ext
                              else env.pebble.directory)
    return """
global:
  state_dir: %s
  workers: 2
  log: { level: debug, format: text }
listeners:
  - name: web
    listen: ["127.0.0.1:%d"]
    redirect_https: %s
  - name: websecure
    listen: ["127.0.0.1:%d"]
    tls:
      acme: true
routes:
  - host: [%s]
    path: /
    pool: app
pools:
  app:
    servers: [{ address: "%s" }]
acme:
  directory: %s
  email: ops@example.com
  ca_roots: %s
  challenges: %s
%s%s""" % (env.state, env.http_port, "true" if redirect else "false",
           env.tls_port, ", ".join(names), backend_addr, directory,
           env.pebble.ca_pem, challenges, extra_acme,
           'admin: { listen: "127.0.0.1:%d" }\n' % admin_port
           if admin_port else "")


def served_cert(port, name):
    """The leaf the TLS listener presents for SNI name (no verification)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            return x509.load_der_x509_certificate(t.getpeercert(True))


def from_pebble(cert):
    return "Pebble" in cert.issuer.rfc4514_string()


def issued_by_pebble(port, name):
    try:
        c = served_cert(port, name)
    except OSError:
        return None
    return c if from_pebble(c) else None


def s_client_verify(port, name, root):
    return subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
         "-servername", name, "-verify_hostname", name, "-CAfile", root,
         "-verify_return_error", "-brief"],
        input="", capture_output=True, text=True, timeout=10 * SLOW)


def curl_https(port, name, root):
    return subprocess.run(
        ["curl", "-sS", "--max-time", "5", "--cacert", root,
         "--resolve", "%s:%d:127.0.0.1" % (name, port),
         "https://%s:%d/hello" % (name, port)],
        capture_output=True, text=True, timeout=10 * SLOW)


def metrics_text(admin_port):
    r = subprocess.run(["curl", "-sS", "--max-time", "5",
                        "http://127.0.0.1:%d/metrics" % admin_port],
                       capture_output=True, text=True, timeout=10 * SLOW)
    assert r.returncode == 0, r.stderr
    return r.stdout


def metric(admin_port, family, name):
    """The value of family{name="NAME",...} on /metrics, or None."""
    m = re.search(r'^%s\{[^}]*name="%s"[^}]*\} (\S+)$' %
                  (family, re.escape(name)), metrics_text(admin_port), re.M)
    return float(m.group(1)) if m else None


class Traffic:
    """Requests in a loop on a thread of its own until stop(): each round,
    for every name, a GET on the plaintext listener (Host: name; the
    listener must not redirect) and a GET over a new TLS connection with
    SNI name, both proxied to the echo backend.  Every request must come
    back 200 with the backend's answer, or it counts as a failure.

    root=None accepts any certificate (the self-signed stand-in too);
    with a root file every handshake must verify against it for the name.
    .serials[name] lists the served leaves in the order they changed:
    (first seen, serial, issued by pebble)."""

    def __init__(self, http_port, tls_port, names, root=None, pause=0.02):
        self.http_port = http_port
        self.tls_port = tls_port
        self.names = list(names)
        self.root = root
        self.pause = pause
        self.ok = 0
        self.failures = []
        self.serials = {n: [] for n in self.names}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._n = 0
        self._sslctx = None

    def start(self):
        self._thread.start()
        return self

    def _ctx(self):
        # one context: making one loads a trust store (tens of ms)
        if self._sslctx is None:
            if self.root:
                self._sslctx = ssl.create_default_context(cafile=self.root)
            else:
                self._sslctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                self._sslctx.check_hostname = False
                self._sslctx.verify_mode = ssl.CERT_NONE
        return self._sslctx

    def _plain(self, name, path):
        c = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                       timeout=10 * SLOW)
        try:
            c.request("GET", path, headers={"Host": name})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def _tls(self, name, path):
        raw = socket.create_connection(("127.0.0.1", self.tls_port),
                                       timeout=10 * SLOW)
        with self._ctx().wrap_socket(raw, server_hostname=name) as s:
            leaf = x509.load_der_x509_certificate(s.getpeercert(True))
            seen = self.serials[name]
            if not seen or seen[-1][1] != leaf.serial_number:
                seen.append((time.time(), leaf.serial_number,
                             from_pebble(leaf)))
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close"
                       "\r\n\r\n" % (path, name)).encode())
            r = http.client.HTTPResponse(s)
            r.begin()
            return r.status, r.read()

    def _one(self, kind, fn, name):
        self._n += 1
        path = "/traffic/%s/%d" % (kind, self._n)
        try:
            status, body = fn(name, path)
            if status != 200 or path.encode() not in body:
                self.failures.append((time.time(), kind, name,
                                      "HTTP %d" % status))
            else:
                self.ok += 1
        except (OSError, http.client.HTTPException) as e:
            self.failures.append((time.time(), kind, name, repr(e)))

    def _run(self):
        while not self._stop.is_set():
            for n in self.names:
                self._one("http", self._plain, n)
                self._one("https", self._tls, n)
            self._stop.wait(self.pause)

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        return self

    def check(self, min_ok=20):
        """Stop, and fail unless every request succeeded (and enough of
        them ran to mean something)."""
        self.stop()
        assert not self.failures, "failed requests: %r" % self.failures[:10]
        assert self.ok >= min_ok, "only %d requests ran" % self.ok
