# SPDX-License-Identifier: BSD-2-Clause
"""Hostile clients against the real binary (issue 6, SPEC §3).

Request smuggling: every vector is sent raw, end to end, through limen to
a real echo backend that counts the requests it sees; each must be
rejected with 400 and never reach the backend, and a good request must
still work afterwards.  Slowloris and slow bodies (Debian's slowhttptest,
bounded) and thousands of held connections must not stop a normal client
from getting answers within a second.  Speed targets live in `make bench`;
these tests only check that limen stays responsive."""
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import SLOW, free_port, wait_for
from proxyutil import config, raw_exchange, read_response, needs_loader

pytestmark = needs_loader()

H = b"Host: a\r\n"
GOOD = b"GET /good HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
PROBE = b"GET /probe HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
# a smuggled request hidden behind each vector: if limen ever forwards the
# body bytes as a second request, the backend count shows it
SMUG = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

VECTORS = [
    ("cl_te", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 4\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUG),
    ("te_cl", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"Content-Length: 40\r\n\r\n0\r\n\r\n" + SMUG),
    ("differing_cl", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n"
     b"Content-Length: 36\r\n\r\n" + SMUG),
    ("cl_list", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0, 36\r\n"
     b"\r\n" + SMUG),
    ("cl_plus", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +0\r\n\r\n"
     + SMUG),
    ("cl_negative", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n"
     b"\r\n" + SMUG),
    ("cl_hex", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x10\r\n"
     b"\r\n" + SMUG),
    ("cl_overflow", b"POST / HTTP/1.1\r\n" + H +
     b"Content-Length: 99999999999999999999999\r\n\r\n" + SMUG),
    ("te_chunked_not_last", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + SMUG),
    ("te_gzip_only", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: gzip\r\n\r\n" + SMUG),
    ("te_two_headers", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n"
     + SMUG),
    ("te_xchunked", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + SMUG),
    ("te_chunked_x", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n" + SMUG),
    ("te_space_before_colon", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n"
     + SMUG),
    ("te_obs_fold", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding:\r\n chunked\r\nContent-Length: 0\r\n\r\n"
     b"0\r\n\r\n" + SMUG),
    ("te_tab_prefix", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n" + SMUG),
    ("chunk_size_bad", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n" + SMUG),
    ("chunk_size_negative", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n" + SMUG),
    ("chunk_size_0x", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n" + SMUG),
    ("chunk_size_overflow", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n"
     b"0\r\n\r\n" + SMUG),
    ("chunk_size_space", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n" + SMUG),
    ("obs_fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\r\n c\r\n\r\n"),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
    ("tab_before_colon", b"GET / HTTP/1.1\r\n" + H + b"X-A\t: b\r\n\r\n"),
    ("bare_lf_header", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\nX-B: c\r\n\r\n"),
    ("bare_cr_header", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\rX-B: c\r\n\r\n"),
    ("bare_lf_everywhere", b"GET / HTTP/1.1\nHost: a\n\n"),
    ("bare_cr_request_line", b"GET / HTTP/1.1\rHost: a\r\n\r\n"),
    ("nul_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\x00c\r\n\r\n"),
    ("nul_in_name", b"GET / HTTP/1.1\r\n" + H + b"X-\x00A: b\r\n\r\n"),
    ("ctl_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\x7fc\r\n\r\n"),
    ("empty_name", b"GET / HTTP/1.1\r\n" + H + b": b\r\n\r\n"),
    ("two_hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("bad_request_line", b"GET /  HTTP/1.1\r\n" + H + b"\r\n"),
    ("http_09", b"GET /\r\n\r\n"),
]


@pytest.fixture
def proxied(run_limen, backend, tmp_path):
    """limen on a free port, every path to one counting echo backend."""
    port = free_port()
    b = backend()
    # /probe is answered by limen itself: the slow-client tests measure
    # limen, not the Python backend their slow bodies keep busy
    routes = [{"host": ["*"], "path": "/probe",
               "respond": {"status": 200, "body": "ok\n"}},
              {"host": ["*"], "pool": "b"}]
    lim = run_limen(config(port, routes, {"b": {"servers": [{"address":
                                                             b.address}]}},
                           tmp_path),
                    wait_ports=[port])
    return port, b, lim


def _good_still_works(port, b):
    before = b.count
    r = raw_exchange(port, GOOD)
    assert r.status == 200, r.raw
    assert r.json()["path"] == "/good"
    assert b.count == before + 1


def _read_all(s, timeout):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except (socket.timeout, ConnectionResetError):
        pass
    return data


@pytest.mark.parametrize("name,data", VECTORS, ids=[v[0] for v in VECTORS])
def test_smuggling_vector_is_rejected_before_the_backend(proxied, name, data):
    port, b, _ = proxied
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        # limen answers once and closes: the bytes after the bad head are
        # never read as a second request
        out = _read_all(s, 5 * SLOW)
    assert out.startswith(b"HTTP/1.1 400 "), out[:200]
    assert out.count(b"HTTP/1.1 ") == 1, out
    assert b"Connection: close" in out
    assert b.count == 0, "the backend saw %d request(s)" % b.count
    _good_still_works(port, b)


def test_pipelined_good_requests_are_not_split_differently(proxied):
    """Control case: two honest pipelined requests are two requests."""
    port, b, _ = proxied
    data = (b"POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        f = s.makefile("rb")
        r1, r2 = read_response(f), read_response(f)
    assert (r1.status, r1.json()["path"], r1.json()["body_len"]) == \
        (200, "/one", 3)
    assert (r2.status, r2.json()["path"]) == (200, "/two")
    assert b.count == 2


# ---- slow clients -----------------------------------------------------------

class Prober:
    """A normal client asking every 50 ms on new connections while an
    attack runs; records each latency (or an error)."""

    def __init__(self, port):
        self.port = port
        self.lat = []
        self.errors = []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                r = raw_exchange(self.port, PROBE, timeout=5)
                if r.status != 200:
                    self.errors.append("status %d" % r.status)
            except OSError as e:
                self.errors.append(repr(e))
            self.lat.append(time.monotonic() - t0)
            self.stop_ev.wait(0.05)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.t.join(10)

    def check(self, at_least=10):
        assert not self.errors, self.errors[:5]
        assert len(self.lat) >= at_least, self.lat
        worst = max(self.lat)
        assert worst < 1.0 * SLOW, "worst latency %.3f s" % worst
        return worst


def _slowhttptest(port, mode, seconds, conns):
    exe = shutil.which("slowhttptest")
    if exe is None:
        pytest.fail("slowhttptest is not installed (mk/deps.txt)")
    # -H slowloris (headers never end), -B slow message body; -c
    # connections, -r per second, -i seconds between follow-up bytes,
    # -l test length, -x max follow-up data length, -p probe timeout
    argv = [exe, mode, "-c", str(conns), "-r", str(conns), "-i", "1",
            "-l", str(seconds), "-x", "10", "-p", "2", "-s", "4096",
            "-t", "POST" if mode == "-B" else "GET",
            "-u", "http://127.0.0.1:%d/good" % port]
    return subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _count_established(port):
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "01" and \
                    parts[1].endswith(":%04X" % port):
                n += 1
    return n


@pytest.mark.parametrize("mode", ["-H", "-B"], ids=["slowloris", "slowbody"])
def test_slow_clients_do_not_starve_normal_ones(proxied, mode):
    port, b, lim = proxied
    conns = 200
    with Prober(port) as p:
        att = _slowhttptest(port, mode, 6, conns)
        try:
            # the attack is really holding connections on limen
            wait_for(lambda: _count_established(port) >= conns // 2,
                     timeout=10, what="slow connections")
            out, _ = att.communicate(timeout=30 * SLOW)
        finally:
            if att.poll() is None:
                att.kill()
                att.wait()
    print(out[-1500:])
    worst = p.check(at_least=20)
    print("%s: %d probes, worst %.1f ms" % (mode, len(p.lat), worst * 1e3))
    assert lim.alive()
    _good_still_works(port, b)


def test_thousands_of_held_connections(proxied):
    port, b, lim = proxied
    n = 3000
    held = []
    try:
        with Prober(port) as p:
            for i in range(n):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                held.append(s)
                # half start a request and never finish it, half sit idle
                if i % 2:
                    s.sendall(b"GET / HTTP/1.1\r\n")
            wait_for(lambda: _count_established(port) >= n,
                     timeout=10, what="%d connections" % n)
            # keep the normal client going while they are all held
            start = len(p.lat)
            wait_for(lambda: len(p.lat) >= start + 20, timeout=10,
                     what="probes")
        worst = p.check(at_least=20)
        print("held %d: %d probes, worst %.1f ms" % (n, len(p.lat),
                                                    worst * 1e3))
        # the held idle ones still work as keep-alive connections
        for s in held[0:200:20]:
            s.sendall(b"GET /held HTTP/1.1\r\nHost: a\r\n\r\n")
            r = read_response(s.makefile("rb"))
            assert r.status == 200
    finally:
        for s in held:
            s.close()
    assert lim.alive()
    _good_still_works(port, b)
