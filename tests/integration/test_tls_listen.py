# SPDX-License-Identifier: BSD-2-Clause
"""TLS listeners end to end (SPEC §2 listeners.tls, §4 first bullet):
protocol versions, SNI among several static certificates, ALPN, session
resumption, certificates reloaded on SIGHUP without touching open
connections, X-Forwarded-Proto, whole bodies on a keep-alive
connection, redirect_https and HSTS, and a testssl.sh
audit of the real binary."""
import hashlib
import json
import os
import shutil
import signal
import ssl

import pytest

from conftest import SANITIZED, free_port, wait_for
from proxyutil import config, get, pool
from tlsutil import CA, cert_der, peer_cert_der, s_client, tls_connect


def tls_listener(port, certs, **kw):
    l = {"name": "websecure", "listen": ["127.0.0.1:%d" % port],
         "tls": {"certificates": [{"cert": c, "key": k} for c, k in certs]}}
    tls_extra = kw.pop("tls", None)
    if tls_extra:
        l["tls"].update(tls_extra)
    l.update(kw)
    return l


def https_get(port, ca, path="/", sni="app.example.com", host=None,
              sock=None, close=True):
    """One HTTP/1.1 request over TLS; returns (status, headers, body)."""
    s = sock or tls_connect(port, ca, sni=sni)
    req = "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (
        path, host or sni, "Connection: close\r\n" if close else "")
    s.sendall(req.encode())
    f = s.makefile("rb")
    from proxyutil import read_response
    r = read_response(f)
    if close and sock is None:
        s.close()
    return r


@pytest.fixture
def ca(tmp_path):
    return CA(tmp_path / "pki")


def test_versions_12_13_only(run_limen, ca, tmp_path):
    port, port13 = free_port(), free_port()
    crt = ca.issue("app", ["app.example.com"])
    routes = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]
    listeners = [tls_listener(port, [crt]),
                 tls_listener(port13, [crt], name="only13",
                              tls={"min_version": "1.3"})]
    run_limen(config(port, routes, None, tmp_path, listeners=listeners),
              wait_ports=[port, port13])
    for flag, ok in (("-tls1_1", False), ("-tls1", False),
                     ("-tls1_2", True), ("-tls1_3", True)):
        r = s_client(port, flag, "-brief", stdin=b"")
        out = r.stdout + r.stderr
        assert (b"Protocol version" in out and b"Verification" in out or
                r.returncode == 0) == ok, (flag, out)
    # min_version 1.3 refuses 1.2
    r = s_client(port13, "-tls1_2", "-brief")
    assert r.returncode != 0
    r = s_client(port13, "-tls1_3", "-brief")
    assert r.returncode == 0, r.stderr
    # python's ssl: 1.2 and 1.3 verify and answer
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        s = tls_connect(port, ca, minv=v, maxv=v)
        assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                               ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v]
        assert https_get(port, ca, sock=s).status == 200
        s.close()


def test_sni_picks_exact_then_wildcard_then_default(run_limen, ca,
                                                     tmp_path):
    port = free_port()
    first = ca.issue("first", ["first.example.org"])
    exact = ca.issue("exact", ["app.example.com"])
    wild = ca.issue("wild", ["*.example.com"])
    rsa = ca.issue("rsa", ["app.example.com"], key="rsa")
    routes = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]
    run_limen(config(port, routes, None, tmp_path, listeners=[
        tls_listener(port, [first, exact, wild, rsa])]), wait_ports=[port])

    def served(sni, **kw):
        s = tls_connect(port, ca, sni=sni, check_hostname=False, **kw)
        der = peer_cert_der(s)
        s.close()
        return der

    assert served("app.example.com") == cert_der(exact[0])
    assert served("APP.example.com.") == cert_der(exact[0])
    assert served("www.example.com") == cert_der(wild[0])
    assert served("a.b.example.com") == cert_der(first[0])  # one label only
    assert served("unknown.net") == cert_der(first[0])
    assert served(None) == cert_der(first[0])
    # an RSA-only TLS 1.2 client gets the RSA certificate of the same name
    r = s_client(port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256",
                 "-showcerts")
    assert r.returncode == 0, r.stderr
    assert b"Server public key is 2048 bit" in r.stdout
    # and the certificate verifies for the name
    s = tls_connect(port, ca, sni="www.example.com")
    assert https_get(port, ca, sock=s, sni="www.example.com").status == 200


def test_alpn_h2_and_http11(run_limen, ca, tmp_path):
    port, port_noh2 = free_port(), free_port()
    crt = ca.issue("app", ["app.example.com"])
    routes = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]
    run_limen(config(port, routes, None, tmp_path, listeners=[
        tls_listener(port, [crt]),
        tls_listener(port_noh2, [crt], name="noh2", http2=False)]),
        wait_ports=[port, port_noh2])
    for p, offer, want in ((port, "h2,http/1.1", "h2"),
                           (port, "http/1.1", "http/1.1"),
                           (port_noh2, "h2,http/1.1", "http/1.1")):
        s = tls_connect(p, ca, alpn=offer.split(","))
        assert s.selected_alpn_protocol() == want
        s.close()
    r = s_client(port, "-alpn", "h2", "-CAfile", ca.cert)
    assert b"ALPN protocol: h2" in r.stdout, r.stdout
    # no ALPN at all: HTTP/1.1
    s = tls_connect(port, ca)
    assert s.selected_alpn_protocol() is None
    assert https_get(port, ca, sock=s).status == 200


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_session_resumption(run_limen, ca, tmp_path, version):
    port = free_port()
    crt = ca.issue("app", ["app.example.com"])
    routes = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]
    run_limen(config(port, routes, None, tmp_path, listeners=[
        tls_listener(port, [crt])]), wait_ports=[port])
    sess = str(tmp_path / "sess.pem")
    # TLS 1.3 tickets come after the handshake: send a request so the
    # client reads them before it closes
    req = b"GET / HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n"
    r = s_client(port, version, "-sess_out", sess, "-ign_eof", stdin=req)
    assert r.returncode == 0 and os.path.getsize(sess) > 0, r.stderr
    r = s_client(port, version, "-sess_in", sess, "-ign_eof", stdin=req)
    assert b"Reused, TLS" in r.stdout, r.stdout


def test_static_certificate_reloaded_on_sighup(run_limen, ca, tmp_path):
    port = free_port()
    live_crt, live_key = str(tmp_path / "live.crt"), str(tmp_path / "live.key")
    old = ca.issue("old", ["app.example.com"])
    new = ca.issue("new", ["app.example.com"])
    shutil.copy(old[0], live_crt)
    shutil.copy(old[1], live_key)
    routes = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]
    lim = run_limen(config(port, routes, None, tmp_path, listeners=[
        tls_listener(port, [(live_crt, live_key)])]), wait_ports=[port])
    kept = tls_connect(port, ca)
    assert peer_cert_der(kept) == cert_der(old[0])
    assert https_get(port, ca, sock=kept, close=False).status == 200

    shutil.copy(new[0], live_crt)
    shutil.copy(new[1], live_key)
    lim.send_signal(signal.SIGHUP)
    lim.wait_log(r"configuration \d+ is live")
    # the open connection carries on, a new one gets the new certificate
    assert https_get(port, ca, sock=kept, close=False).status == 200
    s = tls_connect(port, ca)
    assert peer_cert_der(s) == cert_der(new[0])
    s.close()
    kept.close()

    # a broken file rejects the reload and the certificate keeps serving
    with open(live_key, "w") as f:
        f.write("not a key\n")
    lim.send_signal(signal.SIGHUP)
    lim.wait_log(r"reload: rejected")
    s = tls_connect(port, ca)
    assert peer_cert_der(s) == cert_der(new[0])
    s.close()


def test_forwarded_proto_and_sni_host(run_limen, backend, ca, tmp_path):
    port = free_port()
    b = backend(name="app")
    crt = ca.issue("app", ["app.example.com", "*.example.com"])
    routes = [{"host": ["app.example.com"], "pool": "app"},
              {"host": ["*"], "respond": {"status": 404}}]
    run_limen(config(port, routes, {"app": pool(b.address)}, tmp_path,
                     listeners=[tls_listener(port, [crt])]),
              wait_ports=[port])
    r = https_get(port, ca, "/x")
    doc = json.loads(r.body)
    h = {k.lower(): v for k, v in doc["headers"]}
    assert h["x-forwarded-proto"] == "https"
    assert h["x-forwarded-for"] == "127.0.0.1"
    # HTTP/1.0 without Host: routed by the SNI name
    s = tls_connect(port, ca)
    s.sendall(b"GET /y HTTP/1.0\r\n\r\n")
    from proxyutil import read_response
    r = read_response(s.makefile("rb"))
    assert r.status == 200 and json.loads(r.body)["path"] == "/y"
    s.close()


def test_keepalive_bodies_whole_over_tls(run_limen, backend, ca, tmp_path):
    """Responses coalesced into TLS records (tls_bufferevent_coalesce)
    arrive whole and in order on one keep-alive connection: small, 1 MiB
    with a length, chunked, small again; then a 1 MiB upload."""
    port = free_port()
    b = backend(name="app")
    crt = ca.issue("app", ["app.example.com"])
    routes = [{"host": ["*"], "pool": "app"}]
    run_limen(config(port, routes, {"app": pool(b.address)}, tmp_path,
                     listeners=[tls_listener(port, [crt])]),
              wait_ports=[port])
    s = tls_connect(port, ca)
    for path, n, c in (("/a", None, None), ("/bytes/1048576", 1 << 20, b"x"),
                       ("/chunked/300000", 300000, b"y"), ("/b", None, None)):
        r = https_get(port, ca, path, sock=s, close=False)
        assert r.status == 200, path
        if n is None:
            assert json.loads(r.body)["path"] == path
        else:
            assert r.body == c * n, (path, len(r.body))
    # and a 1 MiB upload, read one TLS record at a time (TLS_RECORD_MAX)
    up = os.urandom(1 << 20)
    s.sendall(b"POST /up HTTP/1.1\r\nHost: app.example.com\r\n"
              b"Content-Length: %d\r\n\r\n" % len(up) + up)
    from proxyutil import read_response
    doc = json.loads(read_response(s.makefile("rb")).body)
    assert doc["body_len"] == len(up)
    assert doc["body_sha256"] == hashlib.sha256(up).hexdigest()
    s.close()


def read_to_eof(s):
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            return buf
        buf += d


def test_connection_close_closed_at_once_unless_more_was_sent(run_limen, ca,
                                                              tmp_path):
    """A client that asked for the close and sent nothing more is let go
    right after its response, over TLS and plain: limen holds no socket
    while the client still keeps its own open (no half-close and wait for
    the client's FIN: issue 6, a TLS handshake per request).  A client
    that pipelined more after Connection: close still reads its whole
    response and an orderly end, never a reset (the lingering close)."""
    port, tport = free_port(), free_port()
    crt = ca.issue("app", ["app.example.com"])
    routes = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]
    run_limen(config(port, routes, None, tmp_path, listeners=[
        {"name": "web", "listen": ["127.0.0.1:%d" % port]},
        tls_listener(tport, [crt])]), wait_ports=[port, tport])

    def held(client):
        """Whether a process (limen) still owns the server side of the
        client's connection (an orphaned socket has inode 0)."""
        me, peer = client.getsockname(), client.getpeername()
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                x = line.split()
                if (int(x[1].split(":")[1], 16) == peer[1] and
                        int(x[2].split(":")[1], 16) == me[1]):
                    return x[9] != "0"
        return False

    def connect(tls):
        if tls:
            return tls_connect(tport, ca)
        import socket
        return socket.create_connection(("127.0.0.1", port), timeout=5)

    req = b"GET / HTTP/1.1\r\nHost: app.example.com\r\n"
    for tls in (False, True):
        s = connect(tls)
        s.sendall(req + b"Connection: close\r\n\r\n")
        got = read_to_eof(s)
        assert got.startswith(b"HTTP/1.1 200") and got.endswith(b"ok\n")
        # the client still holds its socket: limen has closed its own
        wait_for(lambda: not held(s), timeout=1.0,
                 what="limen to close its socket (tls=%s)" % tls)
        s.close()
        # more sent after Connection: close: one whole response, no reset
        s = connect(tls)
        s.sendall(req + b"Connection: close\r\n\r\n" + req + b"\r\n")
        got = read_to_eof(s)
        assert got.count(b"HTTP/1.1 200") == 1 and got.endswith(b"ok\n")
        s.close()


def test_redirect_https_and_hsts(run_limen, ca, tmp_path):
    port, sport = free_port(), free_port()
    crt = ca.issue("app", ["app.example.com"])
    routes = [{"host": ["*"], "hsts": "1y",
               "respond": {"status": 200, "body": "ok\n"}}]
    listeners = [{"name": "web", "listen": ["127.0.0.1:%d" % port],
                  "redirect_https": True},
                 tls_listener(sport, [crt])]
    run_limen(config(port, routes, None, tmp_path, listeners=listeners),
              wait_ports=[port, sport])
    r = get(port, "/a/b?x=1", "app.example.com:8080")
    assert r.status == 308
    assert r.header("Location") == "https://app.example.com/a/b?x=1"
    assert r.header("Strict-Transport-Security") is None
    r = get(port, "/.well-known/acme-challenge/tok", "app.example.com")
    assert r.status != 308
    r = https_get(sport, ca, "/")
    assert r.status == 200
    assert r.header("Strict-Transport-Security") == "max-age=31536000"


@pytest.mark.skipif(shutil.which("testssl") is None,
                    reason="testssl.sh is not installed (mk/deps.txt)")
@pytest.mark.skipif(SANITIZED, reason="the TLS policy is the same in the "
                    "plain run; testssl takes 10-60 s of CPU")
def test_testssl_finds_nothing_weak(run_limen, ca, tmp_path):
    port = free_port()
    ec = ca.issue("app", ["app.example.com"])
    rsa = ca.issue("app-rsa", ["app.example.com"], key="rsa")
    routes = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]
    run_limen(config(port, routes, None, tmp_path, listeners=[
        tls_listener(port, [ec, rsa])]), wait_ports=[port])
    out = tmp_path / "testssl.json"
    import subprocess
    subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings",
                    "off", "--nodns", "none", "--protocols", "--std",
                    "--jsonfile", str(out),
                    "127.0.0.1:%d" % port], capture_output=True,
                   timeout=180)
    findings = json.loads(out.read_text())
    by_id = {f["id"]: f for f in findings}
    for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert by_id[p]["finding"].startswith("not offered"), by_id[p]
    for p in ("TLS1_2", "TLS1_3"):
        assert by_id[p]["finding"].startswith("offered"), by_id[p]
    bad = [f for f in findings if f["severity"] in ("MEDIUM", "HIGH",
                                                    "CRITICAL")]
    assert not bad, bad
