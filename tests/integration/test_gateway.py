# SPDX-License-Identifier: BSD-2-Clause
"""Gateway checks end to end (SPEC §2 routes auth/compress/waf, §3 Gateway
checks): basic auth with htpasswd files made by Debian's htpasswd, JWTs
signed at test time by python3-jwcrypto, a real forward-auth service,
forged identity headers, and the OWASP CRS through libmodsecurity."""
import base64
import json
import os
import subprocess
import time

import pytest

from conftest import SANITIZED, free_port, run_cmd, LIMEN_BIN
from proxyutil import config, get, needs_loader, pool

pytestmark = needs_loader()

CRS = "/usr/share/modsecurity-crs"


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def htpasswd(tmp_path):
    path = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-c", "-b", "-B", "-C", "5", str(path),
                    "alice", "wonderland"], check=True, capture_output=True)
    subprocess.run(["htpasswd", "-b", "-5", str(path), "bob", "builder"],
                   check=True, capture_output=True)
    return path


def start(run_limen, tmp_path, b, route_extra, pools=None, **kw):
    port = free_port()
    route = {"host": ["*"], "path": "/", "pool": "app"}
    route.update(route_extra)
    text = config(port, [route], pools or {"app": pool(b.address)}, tmp_path)
    lim = run_limen(text, wait_ports=[port], **kw)
    return port, lim


def seen(r):
    """Headers the echo backend received (lower-cased names)."""
    assert r.status == 200, r.raw
    hs = r.json()["headers"]
    out = {}
    for k, v in hs:
        assert k.lower() not in out, "header %s received twice" % k
        out[k.lower()] = v
    return out


# ---- basic ---------------------------------------------------------------

def test_basic_auth(run_limen, tmp_path, backend):
    b = backend()
    path = htpasswd(tmp_path)
    port, _ = start(run_limen, tmp_path, b, {"auth": {"basic": {
        "users_file": str(path), "realm": "staff"}}})
    r = get(port, "/x")
    assert r.status == 401
    assert r.header("WWW-Authenticate") == 'Basic realm="staff", charset="UTF-8"'
    assert get(port, "/x", headers={
        "Authorization": basic("alice", "nope")}).status == 401
    assert get(port, "/x", headers={
        "Authorization": basic("carol", "x")}).status == 401
    assert get(port, "/x", headers={
        "Authorization": "Basic !!!"}).status == 401
    for user, pw in (("alice", "wonderland"), ("bob", "builder")):
        h = seen(get(port, "/x", headers={"Authorization": basic(user, pw)}))
        assert h["authorization"] == basic(user, pw)


def test_bad_users_file_is_a_config_error(run_limen, tmp_path, backend):
    b = backend()
    bad = tmp_path / "md5"
    subprocess.run(["htpasswd", "-c", "-b", "-m", str(bad), "eve", "x"],
                   check=True, capture_output=True)
    port = free_port()
    route = {"host": ["*"], "pool": "app",
             "auth": {"basic": {"users_file": str(bad)}}}
    path = tmp_path / "c.yaml"
    path.write_text(config(port, [route], {"app": pool(b.address)}, tmp_path))
    p = run_cmd([LIMEN_BIN, "check", "-c", str(path)])
    assert p.returncode != 0 and "MD5" in p.stdout + p.stderr


def test_reload_rereads_users_file_and_keeps_old_on_error(run_limen,
                                                          tmp_path, backend):
    b = backend()
    path = htpasswd(tmp_path)
    port, lim = start(run_limen, tmp_path, b, {"auth": {"basic": {
        "users_file": str(path)}}})
    ok = {"Authorization": basic("alice", "wonderland")}
    assert get(port, "/", headers=ok).status == 200
    subprocess.run(["htpasswd", "-b", "-B", "-C", "5", str(path), "alice",
                    "changed"], check=True, capture_output=True)
    lim.send_signal(1)
    deadline = time.time() + 10
    while get(port, "/", headers=ok).status == 200:
        assert time.time() < deadline, "reload did not pick up the file"
        time.sleep(0.05)
    assert get(port, "/", headers={
        "Authorization": basic("alice", "changed")}).status == 200
    path.write_text("alice:plaintext\n")       # invalid: old config stays
    lim.send_signal(1)
    lim.wait_log("plain|not supported|refused|error", timeout=10)
    assert get(port, "/", headers={
        "Authorization": basic("alice", "changed")}).status == 200


# ---- jwt -----------------------------------------------------------------

@pytest.fixture
def tokens(tmp_path):
    from jwcrypto import jwk, jwt
    now = int(time.time())
    rsa = jwk.JWK.generate(kty="RSA", size=2048, kid="k1")
    other = jwk.JWK.generate(kty="RSA", size=2048, kid="k1")
    (tmp_path / "jwks.json").write_text(json.dumps(
        {"keys": [json.loads(rsa.export_public())]}))

    def make(key=rsa, **over):
        c = {"sub": "alice", "iss": "https://id.example.com", "aud": "api",
             "exp": now + 600, "uid": 42}
        c.update(over)
        c = {k: v for k, v in c.items() if v is not None}
        t = jwt.JWT(header={"alg": "RS256", "kid": "k1"}, claims=c)
        t.make_signed_token(key)
        return t.serialize()

    def b64(x):
        return base64.urlsafe_b64encode(x).rstrip(b"=").decode()

    def hs256_with_public_key():
        import hashlib
        import hmac
        h = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
        p = b64(json.dumps({"sub": "mallory", "aud": "api",
                            "iss": "https://id.example.com",
                            "exp": now + 600}).encode())
        secret = rsa.export_to_pem()
        sig = hmac.new(secret, (h + "." + p).encode(), hashlib.sha256)
        return h + "." + p + "." + b64(sig.digest())

    none = (b64(json.dumps({"alg": "none"}).encode()) + "." +
            b64(json.dumps({"sub": "mallory", "aud": "api",
                            "exp": now + 600}).encode()) + ".")
    return {
        "valid": make(),
        "expired": make(exp=now - 3600),
        "audience": make(aud="other"),
        "wrong_key": make(key=other),
        "none": none,
        "hs256": hs256_with_public_key(),
    }


def test_jwt_auth(run_limen, tmp_path, backend, tokens):
    b = backend()
    port, _ = start(run_limen, tmp_path, b, {"auth": {"jwt": {
        "jwks_file": str(tmp_path / "jwks.json"),
        "issuer": "https://id.example.com", "audience": "api",
        "claims_to_headers": {"sub": "X-User", "uid": "X-Uid"}}}})
    r = get(port, "/")
    assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer"
    for name in ("expired", "audience", "wrong_key", "none", "hs256"):
        r = get(port, "/", headers={"Authorization": "Bearer " + tokens[name],
                                    "X-User": "admin"})
        assert r.status == 401, name
        assert r.header("WWW-Authenticate").startswith(
            'Bearer error="invalid_token"'), name
    h = seen(get(port, "/", headers={
        "Authorization": "Bearer " + tokens["valid"],
        "X-User": "admin", "x-uid": "0"}))
    assert h["x-user"] == "alice" and h["x-uid"] == "42"


def test_bad_jwks_is_a_config_error(tmp_path, backend):
    b = backend()
    (tmp_path / "jwks.json").write_text('{"keys": [')
    port = free_port()
    route = {"host": ["*"], "pool": "app",
             "auth": {"jwt": {"jwks_file": str(tmp_path / "jwks.json")}}}
    path = tmp_path / "c.yaml"
    path.write_text(config(port, [route], {"app": pool(b.address)}, tmp_path))
    p = run_cmd([LIMEN_BIN, "check", "-c", str(path)])
    assert p.returncode != 0, p.stdout + p.stderr


# ---- forward -------------------------------------------------------------

@pytest.fixture
def auth_service():
    from peers.auth_service import AuthService
    s = AuthService()
    s.start()
    yield s
    s.stop()


def test_forward_auth(run_limen, tmp_path, backend, auth_service):
    b = backend()
    port, _ = start(run_limen, tmp_path, b, {"auth": {"forward": {
        "url": "http://127.0.0.1:%d/oauth2/auth" % auth_service.port,
        "copy_headers": ["X-Auth-Request-User"], "timeout": "500ms"}}})
    # a login redirect goes back to the client as it is
    r = get(port, "/app?q=1", headers={"X-Auth-Request-User": "root"})
    assert r.status == 302
    assert r.header("Location") == "https://login.example.com/login"
    assert r.header("Set-Cookie") == "csrf=1"
    assert r.body == b"please log in\n"
    last = auth_service.last
    assert last["X-Forwarded-Method"] == "GET"
    assert last["X-Forwarded-Uri"] == "/app?q=1"
    assert last["X-Forwarded-Host"] == "example.com"
    assert last["X-Forwarded-For"] == "127.0.0.1"
    # 2xx: through, with the service's header and not the client's
    h = seen(get(port, "/app", headers={"Cookie": "session=good",
                                        "x-auth-request-user": "root"}))
    assert h["x-auth-request-user"] == "alice"
    assert "x-other" not in h
    # a service that does not answer in time: 503, never an open door
    t = time.time()
    r = get(port, "/app", headers={"Cookie": "session=hang"})
    assert r.status == 503 and time.time() - t < 5


def test_forward_auth_cache(run_limen, tmp_path, backend, auth_service):
    b = backend()
    port, _ = start(run_limen, tmp_path, b, {"auth": {"forward": {
        "url": "http://127.0.0.1:%d/oauth2/auth" % auth_service.port,
        "copy_headers": ["X-Auth-Request-User"], "cache": "30s"}}})
    good = {"Cookie": "session=good"}
    for _ in range(4):      # 2 workers: at most one miss each
        assert seen(get(port, "/", headers=good))[
            "x-auth-request-user"] == "alice"
    assert auth_service.count <= 2
    n = auth_service.count
    assert get(port, "/", headers={"Cookie": "session=other"}).status == 302
    assert get(port, "/", headers={"Cookie": "session=other"}).status == 302
    assert auth_service.count == n + 2      # refusals are never cached
    assert get(port, "/").status == 302     # anonymous: asked every time
    assert auth_service.count == n + 3


def test_forward_auth_https(run_limen, tmp_path, backend):
    from peers.auth_service import AuthService
    crt, key = tmp_path / "auth.crt", tmp_path / "auth.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=auth", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True)
    svc = AuthService(tls=(str(crt), str(key)))
    svc.start()
    try:
        b = backend()
        route = {"auth": {"forward": {
            "url": "https://127.0.0.1:%d/oauth2/auth" % svc.port,
            "copy_headers": ["X-Auth-Request-User"]}}}
        # trusted through SSL_CERT_FILE: through
        port, _ = start(run_limen, tmp_path, b, route,
                        env={"SSL_CERT_FILE": str(crt)})
        h = seen(get(port, "/", headers={"Cookie": "session=good"}))
        assert h["x-auth-request-user"] == "alice"
        assert get(port, "/").status == 302
        # a certificate limen does not trust: 503, never an open door
        port, _ = start(run_limen, tmp_path, b, route, name="untrusted.yaml",
                        env={"SSL_CERT_FILE": str(tmp_path / "none.pem")})
        assert get(port, "/", headers={"Cookie": "session=good"}).status == 503
    finally:
        svc.stop()


def test_forward_auth_unreachable(run_limen, tmp_path, backend):
    b = backend()
    port, _ = start(run_limen, tmp_path, b, {"auth": {"forward": {
        "url": "http://127.0.0.1:%d/auth" % free_port()}}})
    assert get(port, "/", headers={"Cookie": "session=good"}).status == 503


def test_all_methods_must_pass(run_limen, tmp_path, backend, auth_service,
                               tokens):
    b = backend()
    path = htpasswd(tmp_path)
    port, _ = start(run_limen, tmp_path, b, {"auth": {
        "basic": {"users_file": str(path)},
        "forward": {"url": "http://127.0.0.1:%d/a" % auth_service.port,
                    "copy_headers": ["X-Auth-Request-User"]}}})
    ok = {"Authorization": basic("alice", "wonderland")}
    assert get(port, "/", headers=ok).status == 302
    assert get(port, "/", headers={"Cookie": "session=good"}).status == 401
    h = seen(get(port, "/", headers=dict(ok, Cookie="session=good")))
    assert h["x-auth-request-user"] == "alice"


# ---- waf -----------------------------------------------------------------

needs_crs = pytest.mark.skipif(not os.path.isdir(CRS),
                               reason="modsecurity-crs not installed")


@needs_crs
def test_waf_block_and_detect(run_limen, tmp_path, backend):
    b = backend()
    port = free_port()
    routes = [
        {"host": ["block.test"], "pool": "app",
         "waf": {"rules": CRS, "mode": "block"}},
        {"host": ["detect.test"], "pool": "app",
         "waf": {"rules": CRS, "mode": "detect"}},
    ]
    lim = run_limen(config(port, routes, {"app": pool(b.address)}, tmp_path),
                    wait_ports=[port])
    ua = {"User-Agent": "curl/8.0", "Accept": "*/*"}
    sqli = "/item?id=1%27%20OR%20%271%27%3D%271"
    xss = "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    assert get(port, "/item?id=42", host="block.test", headers=ua).status == 200
    assert get(port, sqli, host="block.test", headers=ua).status == 403
    assert get(port, xss, host="block.test", headers=ua).status == 403
    lim.wait_log("blocked", timeout=5)
    assert get(port, sqli, host="detect.test", headers=ua).status == 200
    lim.wait_log("detect mode", timeout=5)
    assert get(port, "/item?id=42", host="detect.test", headers=ua).status == 200
    # request bodies: a form post with an injection, a normal one, and a
    # large normal upload that still reaches the backend whole
    form = dict(ua, **{"Content-Type": "application/x-www-form-urlencoded"})
    bad = b"user=admin&pw=1%27%20OR%20%271%27%3D%271"
    assert get(port, "/login", host="block.test", method="POST", body=bad,
               headers=form).status == 403
    r = get(port, "/login", host="block.test", method="POST",
            body=b"user=alice&pw=secret", headers=form)
    assert r.status == 200 and r.json()["body_len"] == 20
    big = b"data=" + b"x" * (600 * 1024)
    r = get(port, "/upload", host="block.test", method="POST", body=big,
            headers=form)
    assert r.status == 200 and r.json()["body_len"] == len(big)
    (tmp_path / "form").write_bytes(big)
    p = run_cmd(["curl", "-sS", "-H", "Host: block.test", "-H",
                 "Expect: 100-continue", "--data-binary",
                 "@" + str(tmp_path / "form"),
                 "http://127.0.0.1:%d/upload" % port])
    assert p.returncode == 0 and json.loads(p.stdout)["body_len"] == len(big)


# ---- compress ------------------------------------------------------------

def decode(enc, data):
    if enc == "gzip":
        import gzip
        return gzip.decompress(data)
    if enc == "br":
        import brotli
        return brotli.decompress(data)
    if enc == "zstd":
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def test_compress_static_and_proxy(run_limen, tmp_path, backend):
    b = backend()
    root = tmp_path / "www"
    root.mkdir()
    text = ("<p>hello gateway</p>\n" * 400).encode()
    (root / "page.html").write_bytes(text)
    (root / "small.txt").write_text("tiny\n")
    (root / "pic.png").write_bytes(b"\x89PNG" + bytes(4000))
    port = free_port()
    routes = [
        {"host": ["static.test"], "compress": True,
         "static": {"root": str(root)}},
        {"host": ["api.test"], "compress": True, "pool": "app"},
    ]
    run_limen(config(port, routes, {"app": pool(b.address)}, tmp_path),
              wait_ports=[port])
    for enc in ("gzip", "br", "zstd"):
        r = get(port, "/page.html", host="static.test",
                headers={"Accept-Encoding": enc})
        assert r.status == 200 and r.header("Content-Encoding") == enc
        assert r.header("Vary") == "Accept-Encoding"
        assert r.header("Content-Length") is None
        assert r.header("Transfer-Encoding") == "chunked"
        assert r.header("ETag").startswith('W/"')
        assert len(r.body) < len(text) and decode(enc, r.body) == text
    r = get(port, "/page.html", host="static.test",
            headers={"Accept-Encoding": "gzip;q=0.5, br;q=0.9"})
    assert r.header("Content-Encoding") == "br"
    r = get(port, "/page.html", host="static.test")
    assert r.header("Content-Encoding") is None and r.body == text
    assert r.header("Vary") == "Accept-Encoding"
    r = get(port, "/page.html", host="static.test",
            headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
    assert r.status == 206 and r.body == text[:10]
    r = get(port, "/small.txt", host="static.test",
            headers={"Accept-Encoding": "gzip"})
    assert r.header("Content-Encoding") is None and r.body == b"tiny\n"
    r = get(port, "/pic.png", host="static.test",
            headers={"Accept-Encoding": "gzip"})
    assert r.header("Content-Encoding") is None
    # curl decodes it on its own
    p = run_cmd(["curl", "-sS", "--compressed", "-H", "Host: static.test",
                 "http://127.0.0.1:%d/page.html" % port])
    assert p.returncode == 0 and p.stdout.encode() == text
    # proxied JSON (the echo backend's answer), streamed body of /chunked
    r = get(port, "/x?" + "a" * 1200, host="api.test",
            headers={"Accept-Encoding": "zstd"})
    assert r.header("Content-Encoding") == "zstd"
    assert json.loads(decode("zstd", r.body))["path"].startswith("/x?")
    p = run_cmd(["curl", "-sS", "--compressed", "-H", "Host: api.test",
                 "-H", "Accept-Encoding: gzip",
                 "http://127.0.0.1:%d/x?%s" % (port, "b" * 1200)])
    assert p.returncode == 0 and json.loads(p.stdout)["path"].startswith("/x?")


def test_compress_big_static_file_streams(run_limen, tmp_path):
    """A large text file is compressed piece by piece as the client reads,
    never whole in memory."""
    import socket
    import zlib

    def anon_kib(pid):     # heap, not the file pages mapped to read it
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    root = tmp_path / "www"
    root.mkdir()
    data = base64.b64encode(os.urandom(6 * 1024 * 1024))   # 8 MiB, ~75 %
    (root / "big.txt").write_bytes(data)
    port = free_port()
    lim = run_limen(config(port, [{"host": ["*"], "compress": True,
                                   "static": {"root": str(root)}}],
                           None, tmp_path), wait_ports=[port])
    before = anon_kib(lim.pid)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip"
                  b"\r\nConnection: close\r\n\r\n")
        raw = s.recv(65536)
        # a slow reader: limen must wait, not compress the whole file now
        time.sleep(0.5)
        during = anon_kib(lim.pid)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
    head, body = raw.split(b"\r\n\r\n", 1)
    assert b"Content-Encoding: gzip" in head
    assert b"Transfer-Encoding: chunked" in head
    out, rest = b"", body
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2:]
    assert zlib.decompress(out, 16 + zlib.MAX_WBITS) == data
    # the compressed body is ~6 MiB: it never sat in limen's memory whole
    # (the plain run only: ASan's quarantine keeps freed buffers resident)
    if not SANITIZED:
        assert during - before < 3 * 1024, (before, during)


def test_checks_and_compression_over_http2(run_limen, tmp_path, backend):
    """The checks and compression live in the exchange: the HTTP/2 front
    gets them too (curl over TLS with ALPN h2)."""
    b = backend()
    path = htpasswd(tmp_path)
    crt, key = tmp_path / "site.crt", tmp_path / "site.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=app.test", "-addext", "subjectAltName=DNS:app.test",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True)
    port = free_port()
    listeners = [{"name": "websecure", "listen": ["127.0.0.1:%d" % port],
                  "http2": True, "tls": {"certificates": [
                      {"cert": str(crt), "key": str(key)}]}}]
    routes = [{"host": ["app.test"], "pool": "app", "compress": True,
               "auth": {"basic": {"users_file": str(path)}}}]
    run_limen(config(port, routes, {"app": pool(b.address)}, tmp_path,
                     listeners=listeners), wait_ports=[port])
    url = "https://app.test:%d/x?%s" % (port, "a" * 1500)
    base = ["curl", "-sS", "--http2", "--cacert", str(crt), "--resolve",
            "app.test:%d:127.0.0.1" % port, "-o", "/dev/null", "-w",
            "%{http_code} %{http_version}"]
    p = run_cmd(base + [url])
    assert p.stdout == "401 2", p.stdout + p.stderr
    p = run_cmd(["curl", "-sS", "--http2", "--cacert", str(crt), "--resolve",
                 "app.test:%d:127.0.0.1" % port, "-u", "alice:wonderland",
                 "--compressed", "-D",
                 str(tmp_path / "h"), url])
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["path"].startswith("/x?")
    head = (tmp_path / "h").read_text().lower()
    assert head.startswith("http/2 200")
    assert "content-encoding: " in head and "vary: accept-encoding" in head
