# SPDX-License-Identifier: BSD-2-Clause
"""routes[].auth.jwt.jwks_url end to end (docs/gateway.md): a real HTTPS
server in the test (Python's http.server over ssl, its certificate from a
throw-away CA given to limen as jwks_ca_file) serves the JWKS; tokens are
signed by python3-jwcrypto.  Covered: a valid token passes; a key rotation
at the server is picked up by the early refetch an unknown kid triggers;
with the server down at start tokens are refused (503, fail closed) until
it comes up; a broken JWKS keeps the keys loaded before; a reload keeps
them; an untrusted certificate loads nothing."""
import json
import os
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import LIMEN_BIN, free_port, run_cmd, wait_for
from proxyutil import config, get, needs_loader, pool
from tlsutil import CA

pytestmark = needs_loader()


def issue_ip(ca, name):
    """A leaf for the IP address 127.0.0.1 signed by ca: (cert, key)."""
    base = os.path.join(ca.dir, name)
    key, csr, crt, ext = (base + s for s in (".key", ".csr", ".crt", ".ext"))
    run = lambda a: subprocess.run(a, check=True, capture_output=True)
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-out", key])
    run(["openssl", "req", "-new", "-key", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey",
         ca.key, "-set_serial", "77", "-days", "2", "-sha256", "-extfile",
         ext, "-out", crt])
    return crt, key


class JwksServer:
    """An HTTPS server answering every GET with self.body."""

    def __init__(self, port, cert, key):
        self.port = port
        self.body = b""
        self.status = 200
        self.cache_control = None
        self.hits = 0
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.httpd = None

    def start(self):
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                if outer.cache_control:
                    self.send_header("Cache-Control", outer.cache_control)
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.httpd.socket = self.ctx.wrap_socket(self.httpd.socket,
                                                 server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


@pytest.fixture
def idp(tmp_path):
    """(server, ca_file, keys): a not yet started JWKS server, and a
    signing key factory."""
    from jwcrypto import jwk
    ca = CA(tmp_path / "ca")
    cert, key = issue_ip(ca, "jwks")
    srv = JwksServer(free_port(), cert, key)
    keys = {kid: jwk.JWK.generate(kty="EC", crv="P-256", kid=kid)
            for kid in ("k1", "k2")}
    yield srv, ca.cert, keys
    srv.stop()


def jwks_of(keys, *kids):
    return json.dumps({"keys": [json.loads(keys[k].export_public())
                                for k in kids]}).encode()


def token(keys, kid):
    from jwcrypto import jwt
    t = jwt.JWT(header={"alg": "ES256", "kid": kid},
                claims={"sub": "alice", "aud": "api",
                        "exp": int(time.time()) + 600})
    t.make_signed_token(keys[kid])
    return t.serialize()


def start(run_limen, tmp_path, backend, srv, ca_file):
    b = backend()
    port = free_port()
    jwt = {"jwks_url": "https://127.0.0.1:%d/jwks" % srv.port,
           "audience": "api", "claims_to_headers": {"sub": "X-User"}}
    if ca_file:
        jwt["jwks_ca_file"] = ca_file
    route = {"host": ["*"], "path": "/", "pool": "app",
             "auth": {"jwt": jwt}}
    text = config(port, [route], {"app": pool(b.address)}, tmp_path)
    lim = run_limen(text, wait_ports=[port])
    return port, lim


def status(port, tok=None):
    h = {"Authorization": "Bearer " + tok} if tok else None
    return get(port, "/", headers=h).status


def test_jwks_url_token_passes_and_rotation_is_picked_up(run_limen, tmp_path,
                                                         backend, idp):
    srv, ca_file, keys = idp
    srv.body = jwks_of(keys, "k1")
    srv.cache_control = "max-age=3600"
    srv.start()
    port, lim = start(run_limen, tmp_path, backend, srv, ca_file)
    # max-age=3600, brought forward by up to a tenth (jitter)
    lim.wait_log(r"jwks: https://127\.0\.0\.1:\d+/jwks: 1 keys loaded, "
                 r"next refresh in (32[4-9]\d|3[3-5]\d\d|3600)s")
    r = get(port, "/", headers={"Authorization": "Bearer " + token(keys, "k1"),
                                "X-User": "mallory"})
    assert r.status == 200 and r.json()
    assert dict((k.lower(), v) for k, v in r.json()["headers"])["x-user"] == \
        "alice"
    r = get(port, "/")
    assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer"
    hits = srv.hits

    # the IdP rotates: k2 replaces k1
    srv.body = jwks_of(keys, "k2")
    new = token(keys, "k2")
    assert status(port, new) == 401        # unknown kid: refused, refetch
    wait_for(lambda: status(port, new) == 200, timeout=5,
             what="the rotated key after the early refetch")
    assert srv.hits == hits + 1
    assert status(port, token(keys, "k1")) == 401   # k1 is gone
    lim.wait_log(r"early refresh")


def test_jwks_url_server_down_at_start_fails_closed(run_limen, tmp_path,
                                                    backend, idp):
    srv, ca_file, keys = idp
    port, lim = start(run_limen, tmp_path, backend, srv, ca_file)
    lim.wait_log(r"no keys yet, tokens are refused")
    tok = token(keys, "k1")
    assert status(port, tok) == 503        # never an open door
    assert status(port, None) == 401       # no token: the usual challenge
    assert status(port, "not.a.token") == 401
    srv.body = jwks_of(keys, "k1")
    srv.start()
    wait_for(lambda: status(port, tok) == 200, timeout=20,
             what="tokens accepted once the JWKS server is up")


def test_jwks_url_bad_json_keeps_old_keys_and_reload_keeps_them(
        run_limen, tmp_path, backend, idp):
    srv, ca_file, keys = idp
    srv.body = jwks_of(keys, "k1")
    srv.start()
    port, lim = start(run_limen, tmp_path, backend, srv, ca_file)
    tok = token(keys, "k1")
    wait_for(lambda: status(port, tok) == 200, what="keys loaded")
    srv.body = b'{"keys": ['
    hits = srv.hits
    # an unknown kid makes limen fetch now (the wake-ups from workers are
    # limited to a few a second: ask until it does); the broken answer is
    # refused
    k2 = token(keys, "k2")
    wait_for(lambda: status(port, k2) == 401 and
             "keeping the 1 keys loaded before" in lim.log(),
             what="the early fetch of a broken JWKS")
    assert srv.hits > hits
    assert status(port, tok) == 200
    # a reload of the same configuration keeps the loaded keys (the
    # server is gone meanwhile)
    srv.stop()
    r = run_cmd([LIMEN_BIN, "reload", "-c", lim.config_path])
    assert r.returncode == 0, r.stdout + r.stderr
    assert status(port, tok) == 200


def test_jwks_url_untrusted_certificate_loads_nothing(run_limen, tmp_path,
                                                      backend, idp):
    srv, _, keys = idp
    srv.body = jwks_of(keys, "k1")
    srv.start()
    port, lim = start(run_limen, tmp_path, backend, srv, None)
    lim.wait_log(r"certificate verify failed.*no keys yet")
    assert status(port, token(keys, "k1")) == 503


def test_jwks_url_plain_http_only_to_loopback(tmp_path, backend):
    b = backend()
    for url, ok in (("http://127.0.0.1:9/jwks", True),
                    ("http://id.example.com/jwks", False)):
        route = {"host": ["*"], "pool": "app",
                 "auth": {"jwt": {"jwks_url": url}}}
        path = tmp_path / "c.yaml"
        path.write_text(config(free_port(), [route], {"app": pool(b.address)},
                               tmp_path))
        p = run_cmd([LIMEN_BIN, "check", "-c", str(path)])
        assert (p.returncode == 0) == ok, p.stdout + p.stderr
