# SPDX-License-Identifier: BSD-2-Clause
"""Response bodies through splice(2) (proxy/splice.c, issue 6): a large
Content-Length body on a plain HTTP/1.1 connection arrives byte for byte
and the connections carry on; an upstream or a client that goes away
mid-body cuts the response without reusing the upstream connection; the
access log and the metrics count what was sent; a compressed response
never takes the splice path.  limen logs at debug level which bodies it
spliced ("splicing N body bytes"), which is how the tests tell the paths
apart."""
import gzip
import json
import re
import socket
import struct
import threading
import time

from conftest import free_port, wait_for
from proxyutil import config, needs_loader, pool, read_response
from test_admin import scrape

pytestmark = needs_loader()

MIB = 1 << 20
_PATTERNS = {}


def pattern(n):
    """n bytes in 4 KiB blocks that each start with their own number (the
    rest varies with it too): a byte moved, lost or doubled shows."""
    if n not in _PATTERNS:
        blocks = []
        for i in range(n // 4096 + 1):
            head = struct.pack(">Q", i)
            blocks.append(head + bytes([i % 251]) * (4096 - len(head)))
        _PATTERNS[n] = b"".join(blocks)[:n]
    return _PATTERNS[n]


def text(n):
    line = b"limen splice test: a compressible line of text, again.\n"
    return (line * (n // len(line) + 1))[:n]


class Backend:
    """A raw HTTP/1.1 server with numbered connections (X-Conn), keep-alive:

      GET /big/N          N pattern bytes, Content-Length
      GET /text/N         N text bytes, text/plain, Content-Length
      GET /cut/N/M        Content-Length N, M bytes, then the close
      GET /stall/N/M      Content-Length N, M bytes, then silence
    """

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.n_conns = 0
        self.closed = set()        # connections that ended
        self.stop_ev = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def stop(self):
        self.stop_ev.set()
        self.sock.close()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.n_conns += 1
                cid = self.n_conns
            threading.Thread(target=self._conn, args=(c, cid),
                             daemon=True).start()

    def _conn(self, c, cid):
        f = c.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                path = line.split()[1].decode()
                while f.readline() not in (b"\r\n", b""):
                    pass
                parts = path.strip("/").split("/")
                kind, n = parts[0], int(parts[1])
                m = int(parts[2]) if len(parts) > 2 else n
                body = text(n) if kind == "text" else pattern(n)
                ctype = b"text/plain" if kind == "text" else \
                    b"application/octet-stream"
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                          b"Content-Length: %d\r\nX-Conn: %d\r\n\r\n" %
                          (ctype, n, cid))
                c.sendall(body[:m])
                if kind == "cut":
                    return
                if kind == "stall":
                    self.stop_ev.wait(60)
                    return
        except OSError:
            return
        finally:
            with self.lock:
                self.closed.add(cid)
            c.close()


def start(run_limen, tmp_path, backend, compress=False, response="60s",
          admin_port=None):
    port = free_port()
    route = {"host": ["*"], "pool": "p"}
    if compress:
        route["compress"] = True
    extra = {"log": {"level": "debug", "format": "text"}}
    text_cfg = config(port, [route],
                      {"p": pool(backend.address,
                                 timeouts={"connect": "2s",
                                           "response": response})},
                      tmp_path, extra_global=extra,
                      access_log={"path": str(tmp_path / "access.log"),
                                  "format": "json"})
    if admin_port:
        import yaml
        doc = yaml.safe_load(text_cfg)
        doc["admin"] = {"listen": "127.0.0.1:%d" % admin_port}
        text_cfg = yaml.safe_dump(doc, sort_keys=False)
    lim = run_limen(text_cfg, wait_ports=[port] + ([admin_port]
                                                   if admin_port else []))
    return port, lim


def request(s, path, headers=b""):
    s.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n%s\r\n" % (path.encode(),
                                                      headers))


def access_lines(tmp_path, n):
    log = tmp_path / "access.log"
    wait_for(lambda: log.exists() and log.read_text().count("\n") >= n,
             what="%d access log lines" % n)
    return [json.loads(x) for x in log.read_text().splitlines()]


def spliced_ids(lim):
    return set(re.findall(r"proxy: (\S+): splicing (\d+) body bytes",
                          lim.log()))


def test_large_bodies_arrive_intact_and_connections_carry_on(
        run_limen, tmp_path):
    b = Backend()
    try:
        port, lim = start(run_limen, tmp_path, b)
        sizes = [3 * MIB + 5, 100, 64 * 1024 + 1, MIB]
        rids = []
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            f = s.makefile("rb")
            for n in sizes:
                request(s, "/big/%d" % n)
                r = read_response(f)
                assert r.status == 200
                assert int(r.header("Content-Length")) == n
                assert len(r.body) == n and r.body == pattern(n), n
                rids.append((r.header("X-Request-ID"), r.header("X-Conn")))
        # one upstream connection served them all: released after each
        # spliced body, as after any other
        assert {c for _, c in rids} == {"1"}, rids
        spliced = dict(spliced_ids(lim))
        # the large ones were spliced (less what came with the head), the
        # 100-byte one was not
        assert rids[0][0] in spliced and rids[3][0] in spliced, lim.log()
        assert rids[1][0] not in spliced
        assert int(spliced[rids[0][0]]) <= sizes[0]
        lines = {x["request_id"]: x for x in access_lines(tmp_path, 4)}
        for (rid, _), n in zip(rids, sizes):
            assert lines[rid]["status"] == 200
            assert lines[rid]["bytes_out"] == n, (n, lines[rid])
    finally:
        b.stop()


def test_upstream_closing_mid_body_cuts_the_response(run_limen, tmp_path):
    b = Backend()
    try:
        aport = free_port()
        port, lim = start(run_limen, tmp_path, b, admin_port=aport)
        n, m = 4 * MIB, 3 * MIB // 2
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            f = s.makefile("rb")
            request(s, "/cut/%d/%d" % (n, m))
            line = f.readline()
            assert line.startswith(b"HTTP/1.1 200")
            head = line
            while True:
                h = f.readline()
                head += h
                if h in (b"\r\n", b""):
                    break
            rid = re.search(rb"X-Request-ID: (\S+)", head).group(1).decode()
            body = f.read()            # until limen closes
            assert len(body) == m and body == pattern(n)[:m]
        assert rid in dict(spliced_ids(lim))
        # the next request gets a fresh upstream connection and all of it
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            f = s.makefile("rb")
            request(s, "/big/%d" % (2 * MIB))
            r = read_response(f)
            assert r.status == 200 and r.body == pattern(2 * MIB)
            assert r.header("X-Conn") != "1"
        lines = {x["request_id"]: x for x in access_lines(tmp_path, 2)}
        assert lines[rid]["bytes_out"] == m, lines[rid]

        def settled():
            mt = scrape(aport)
            act = mt["limen_upstream_server_active_requests"].get(
                pool="p", server=b.address)
            total = mt["limen_upstream_server_requests_total"].get(
                pool="p", server=b.address)
            return act == 0 and total == 2
        wait_for(settled, what="upstream requests counted and released")
        assert lim.alive()
    finally:
        b.stop()


def test_client_closing_mid_body_drops_the_upstream_connection(
        run_limen, tmp_path):
    b = Backend()
    try:
        aport = free_port()
        port, lim = start(run_limen, tmp_path, b, admin_port=aport)
        n = 32 * MIB
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        request(s, "/big/%d" % n)
        f = s.makefile("rb")
        r_head = f.readline()
        assert r_head.startswith(b"HTTP/1.1 200")
        head = r_head
        while True:
            h = f.readline()
            head += h
            if h in (b"\r\n", b""):
                break
        rid = re.search(rb"X-Request-ID: (\S+)", head).group(1).decode()
        got = f.read(256 * 1024)
        assert got == pattern(n)[:256 * 1024]
        # go away with most of the body unread (the kernel resets)
        f.close()
        s.close()
        # limen closes that upstream connection instead of keeping it
        wait_for(lambda: 1 in b.closed, what="upstream connection closed")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s2:
            f2 = s2.makefile("rb")
            request(s2, "/big/%d" % MIB)
            r = read_response(f2)
            assert r.status == 200 and r.body == pattern(MIB)
            assert r.header("X-Conn") != "1"
        assert rid in dict(spliced_ids(lim))
        lines = {x["request_id"]: x for x in access_lines(tmp_path, 2)}
        assert 256 * 1024 <= lines[rid]["bytes_out"] < n, lines[rid]
        wait_for(lambda: scrape(aport)[
            "limen_upstream_server_active_requests"].get(
                pool="p", server=b.address) == 0,
            what="upstream request released")
        assert lim.alive()
    finally:
        b.stop()


def test_upstream_stalling_mid_body_times_out(run_limen, tmp_path):
    b = Backend()
    try:
        port, lim = start(run_limen, tmp_path, b, response="1s")
        n, m = 4 * MIB, MIB
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            f = s.makefile("rb")
            request(s, "/stall/%d/%d" % (n, m))
            t0 = time.monotonic()
            assert f.readline().startswith(b"HTTP/1.1 200")
            while f.readline() not in (b"\r\n", b""):
                pass
            body = f.read()            # cut after the response timeout
            assert len(body) == m and body == pattern(n)[:m]
            assert time.monotonic() - t0 < 20
        assert "splicing" in lim.log()
        assert lim.alive()
    finally:
        b.stop()


def test_compressed_responses_do_not_splice(run_limen, tmp_path):
    b = Backend()
    try:
        port, lim = start(run_limen, tmp_path, b, compress=True)
        n = 2 * MIB
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            f = s.makefile("rb")
            request(s, "/text/%d" % n, b"Accept-Encoding: gzip\r\n")
            r = read_response(f)
            assert r.status == 200
            assert r.header("Content-Encoding") == "gzip"
            assert r.header("Transfer-Encoding") == "chunked"
            assert gzip.decompress(r.body) == text(n)
            zipped = r.header("X-Request-ID")
            # the same route without Accept-Encoding: nothing transforms
            # the body, so it may take the splice path
            request(s, "/text/%d" % n)
            r = read_response(f)
            assert r.header("Content-Encoding") is None
            assert r.body == text(n)
            plain = r.header("X-Request-ID")
        spliced = dict(spliced_ids(lim))
        assert zipped not in spliced
        assert plain in spliced
    finally:
        b.stop()
