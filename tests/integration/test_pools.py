# SPDX-License-Identifier: BSD-2-Clause
"""Pools (SPEC §2 pools, §3 Balancing, Health, Retries) against real
backends: the distribution of each algorithm with weights, hash
stickiness by header and cookie, a failing server leaving after `fall`
and rejoining after `rise`, a backend killed under a steady stream of
GETs costing no request, a POST whose body was sent not being retried,
503 at once when every server is down, and a DNS change (a real dnsmasq)
followed without a reload.
"""
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from conftest import SLOW, free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))


def limen_config(port, pool, global_extra="", workers=1):
    return """\
global:
  workers: %d
  log: { level: info, format: text }
%s
listeners:
  - name: web
    listen: ["127.0.0.1:%d"]
routes:
  - host: ["*"]
    path: /
    pool: backend
pools:
  backend:
%s
""" % (workers, global_extra, port, pool)


def servers_yaml(backends, weights=None):
    lines = ["    servers:"]
    for i, b in enumerate(backends):
        w = weights[i] if weights else 1
        lines.append('      - { address: "%s", weight: %d }' % (b.address, w))
    return "\n".join(lines)


class Client:
    """Keep-alive HTTP/1.1 client to limen (reconnects when closed)."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method="GET", path="/", body=None, headers=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=10 * SLOW)
            try:
                self.conn.request(method, path, body=body,
                                  headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, data
            except (ConnectionError, http.client.RemoteDisconnected,
                    http.client.BadStatusLine):
                # limen closed an idle keep-alive connection: a client
                # retries that on a new connection (only before sending)
                self.close()
                if attempt == 1:
                    raise

    def server_of(self, **kw):
        status, data = self.request(**kw)
        assert status == 200, (status, data)
        import json
        return json.loads(data)["server"]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def start(run_limen, backends_yaml, extra="", global_extra="", workers=1):
    port = free_port()
    lim = run_limen(limen_config(port, backends_yaml + "\n" + extra,
                                 global_extra, workers), wait_ports=[port])
    return lim, Client(port)


def shares(client, n, names, headers_fn=None):
    counts = dict((name, 0) for name in names)
    for i in range(n):
        h = headers_fn(i) if headers_fn else None
        counts[client.server_of(headers=h)] += 1
    return dict((k, v / n) for k, v in counts.items())


# ---- distribution ---------------------------------------------------------

@pytest.mark.parametrize("algo,tol", [
    ("round_robin", 0.01),
    ("least_conn", 0.01),      # sequential: ties, broken by weighted RR
    ("random_two", 0.07),
    ("hash", 0.08),            # keyed by a random header value
])
def test_each_algorithm_honours_weights(run_limen, backend, algo, tol):
    bs = [backend(name="b%d" % i) for i in range(3)]
    weights = [1, 2, 3]
    pool = "    balance: %s\n" % algo
    if algo == "hash":
        pool += "    hash_key: header:X-User\n"
    lim, c = start(run_limen, pool + servers_yaml(bs, weights))
    hf = (lambda i: {"X-User": uuid.uuid4().hex}) if algo == "hash" else None
    got = shares(c, 600, ["b0", "b1", "b2"], hf)
    for i, b in enumerate(bs):
        want = weights[i] / 6.0
        assert abs(got[b.name] - want) <= tol, (algo, got)


def test_hash_is_sticky_by_header(run_limen, backend):
    bs = [backend(name="b%d" % i) for i in range(4)]
    lim, c = start(run_limen, "    balance: hash\n    hash_key: header:X-User\n"
                   + servers_yaml(bs))
    seen = set()
    for user in ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]:
        first = c.server_of(headers={"X-User": user})
        seen.add(first)
        for _ in range(10):
            assert c.server_of(headers={"X-User": user}) == first
    assert len(seen) >= 2      # different keys do spread


def test_hash_is_sticky_by_cookie(run_limen, backend):
    bs = [backend(name="b%d" % i) for i in range(4)]
    lim, c = start(run_limen, "    balance: hash\n    hash_key: cookie:sid\n"
                   + servers_yaml(bs))
    seen = set()
    for i in range(8):
        sid = "session-%d" % i
        first = c.server_of(headers={"Cookie": "theme=dark; sid=%s; x=1" % sid})
        seen.add(first)
        for j in range(10):
            # other cookies change, the session cookie decides
            cookie = "sid=%s; theme=t%d" % (sid, j)
            assert c.server_of(headers={"Cookie": cookie}) == first
    assert len(seen) >= 2


# ---- health -----------------------------------------------------------------

def test_failing_server_leaves_after_fall_and_rejoins_after_rise(
        run_limen, backend):
    a, b = backend(name="a"), backend(name="b")
    lim, c = start(run_limen, servers_yaml([a, b]), """\
    health: { path: /health, interval: 100ms, timeout: 100ms, rise: 2, fall: 3 }
""")
    assert set(shares(c, 10, ["a", "b"]).values()) == {0.5}
    b.set_healthy(False)
    lim.wait_log(r"health: backend/%s: DOWN after 3 failures \(status 503\)"
                 % b.address)
    assert shares(c, 20, ["a", "b"]) == {"a": 1.0, "b": 0.0}
    b.set_healthy(True)
    lim.wait_log(r"health: backend/%s: UP after 2 successes" % b.address)
    assert shares(c, 10, ["a", "b"]) == {"a": 0.5, "b": 0.5}


def test_all_servers_down_gives_503_at_once(run_limen):
    p1, p2 = free_port(), free_port()     # nothing listens there
    pool = """\
    servers:
      - { address: "127.0.0.1:%d" }
      - { address: "127.0.0.1:%d" }
    health: { tcp: true, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }
""" % (p1, p2)
    lim, c = start(run_limen, pool)
    lim.wait_log(r"127.0.0.1:%d: DOWN after 1 failures" % p1)
    lim.wait_log(r"127.0.0.1:%d: DOWN after 1 failures" % p2)
    t0 = time.monotonic()
    status, body = c.request()
    assert status == 503
    assert time.monotonic() - t0 < 0.5 * SLOW


# ---- retries ----------------------------------------------------------------

def spawn_backend(name):
    """An echo backend in its own process, so it can be killed -9."""
    p = subprocess.Popen([sys.executable,
                          os.path.join(HERE, "peers", "echo_backend.py"),
                          "0", name], stdout=subprocess.PIPE)
    port = int(p.stdout.readline())
    return p, port


def test_killing_a_backend_under_load_loses_no_request(run_limen):
    procs = [spawn_backend("a"), spawn_backend("b")]
    try:
        pool = """\
    servers:
      - { address: "127.0.0.1:%d" }
      - { address: "127.0.0.1:%d" }
    retries: 1
    passive: { max_fails: 1, fail_timeout: 30s }
    timeouts: { connect: 1s, response: 5s, idle: 30s }
""" % (procs[0][1], procs[1][1])
        lim, _ = start(run_limen, pool, workers=2)
        port = _.port
        results, stop = [], threading.Event()

        def loop():
            c = Client(port)
            while not stop.is_set():
                try:
                    st, data = c.request(path="/slow/5")
                    results.append(st)
                except Exception as e:    # a failed request
                    results.append(repr(e))
            c.close()

        threads = [threading.Thread(target=loop) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(results) >= 100, what="100 requests")
        procs[1][0].send_signal(signal.SIGKILL)
        procs[1][0].wait()
        n = len(results)
        wait_for(lambda: len(results) >= n + 200, what="200 more requests")
        stop.set()
        for t in threads:
            t.join()
        failed = [r for r in results if r != 200]
        assert failed == [], failed[:10]
    finally:
        for p, _ in procs:
            p.kill()
            p.wait()


class BodyEater:
    """A broken upstream: reads a whole request (head and body), then
    closes the connection without answering.  Records what it got."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            length = int(v)
                    while len(body) < length:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                    self.requests.append(head.split(b"\r\n")[0])
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def test_post_with_sent_body_is_not_retried(run_limen, backend):
    eater = BodyEater()
    good = backend(name="good")
    try:
        pool = """\
    servers:
      - { address: "127.0.0.1:%d" }
      - { address: "%s" }
    retries: 1
    passive: { max_fails: 0 }
""" % (eater.port, good.address)
        lim, c = start(run_limen, pool)
        # round robin starts with the first server: the eater
        status, body = c.request("POST", "/upload", body=b"x" * 10000,
                                 headers={"Content-Type": "text/plain"})
        assert status == 502, (status, body)
        assert eater.requests == [b"POST /upload HTTP/1.1"]
        assert good.count == 0          # not retried elsewhere
        c.close()
        # the same failure on a GET (nothing streamed) is retried: round
        # robin sends every other first attempt to the eater
        for i in range(4):
            status, body = c.request("GET", "/again")
            assert status == 200
            assert b'"good"' in body
        assert b"GET /again HTTP/1.1" in eater.requests
    finally:
        eater.close()


# ---- DNS --------------------------------------------------------------------

class Dnsmasq:
    """A real DNS server answering from a hosts file we rewrite."""

    def __init__(self, tmp_path, hosts):
        self.hosts = tmp_path / "dns-hosts"
        self.hosts.write_text(hosts)
        self.log = tmp_path / "dnsmasq.log"
        for attempt in range(5):
            self.port = free_dns_port()
            if self.log.exists():
                self.log.unlink()
            self.proc = subprocess.Popen([
                "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", "--local=/limen.test/",
                "--addn-hosts=%s" % self.hosts, "--port=%d" % self.port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--pid-file=", "--user=root", "--local-ttl=1",
                "--log-facility=%s" % self.log])
            wait_for(lambda: self.started() or self.proc.poll() is not None,
                     what="dnsmasq start")
            if self.started():
                return
            self.proc.wait()     # the port was taken meanwhile: another
        raise AssertionError("dnsmasq did not start")

    def started(self):
        return self.log.exists() and " read " in self.log.read_text()

    def change(self, hosts):
        self.hosts.write_text(hosts)
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def free_dns_port():
    """A port of 127.0.0.1 free for UDP and TCP (dnsmasq binds both)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        try:
            t.bind(("127.0.0.1", port))
        except OSError:
            return free_dns_port()
        return port


def test_dns_change_is_followed_without_reload(run_limen, backend, tmp_path):
    # two backends on the same port of two loopback addresses
    port = free_port()
    a = backend(name="a", host="127.0.0.1", port=port)
    b = backend(name="b", host="127.0.0.2", port=port)
    dns = Dnsmasq(tmp_path, "127.0.0.1 api.limen.test\n")
    try:
        pool = """\
    servers:
      - { address: "api.limen.test:%d" }
    resolve_interval: 1s
""" % port
        lim, c = start(run_limen, pool,
                       global_extra='  resolvers: ["127.0.0.1:%d"]' % dns.port)

        def served_by():
            st, data = c.request()
            if st != 200:
                return None
            import json
            return json.loads(data)["server"]

        # the system resolver does not know the name: limen's own
        # resolver finds it within a second or so
        wait_for(lambda: served_by() == "a", what="backend a via DNS")
        dns.change("127.0.0.2 api.limen.test\n")
        wait_for(lambda: served_by() == "b", what="backend b after the change")
        assert all(served_by() == "b" for _ in range(10))
        lim.wait_log(r"resolve: backend: api.limen.test:%d: 1 addresses" % port)
    finally:
        dns.stop()
