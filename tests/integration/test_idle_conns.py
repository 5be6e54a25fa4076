# SPDX-License-Identifier: BSD-2-Clause
"""Compact idle keep-alive connections (proxy/conn.c, issue 6).

A plain HTTP/1.1 connection idle through two sweeps (250 ms apart) is
cut down to a small record: no struct conn, no bufferevent.  From the
outside nothing may change: the next requests (pipelined too) are
answered in order, the keep-alive timeout still runs from the last
response (not from the compaction), a graceful shutdown closes it, it
keeps its connection-limit slot and its place in the open-connections
gauge, and a PROXY-protocol client address survives it.  limen logs
"compact idle" at debug level when a connection goes compact, which is
what the tests wait for."""
import json
import os
import signal
import socket
import time

from conftest import free_port, wait_for
from proxyutil import config, pool, read_response, needs_loader
from tlsutil import pp_v1

pytestmark = needs_loader()

ROUTES = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]
DEBUG = {"log": {"level": "debug", "format": "text"}, "workers": 1}


def _request(path="/", host="a"):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()


def _held(port, header=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(header + _request())
    f = s.makefile("rb")
    assert read_response(f).status == 200
    return s, f


def _compacted(lim, n):
    """Wait until limen has made n connections compact in all."""
    wait_for(lambda: lim.log().count("compact idle, fd") >= n,
             what="%d compact idle connections" % n)


def _closed_by_peer(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(100) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_compact_idle_connection_answers_pipelined_requests(run_limen,
                                                            tmp_path):
    port = free_port()
    routes = [{"host": ["*"], "path": "/a", "respond": {"status": 200,
                                                       "body": "first\n"}},
              {"host": ["*"], "path": "/b", "respond": {"status": 201,
                                                       "body": "second\n"}},
              {"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]
    lim = run_limen(config(port, routes, None, tmp_path, extra_global=DEBUG),
                    wait_ports=[port])
    s, f = _held(port)
    with s:
        _compacted(lim, 1)
        # two requests in one segment, then a third after the answers
        s.sendall(_request("/a") + _request("/b"))
        r1, r2 = read_response(f), read_response(f)
        assert (r1.status, r1.body) == (200, b"first\n")
        assert (r2.status, r2.body) == (201, b"second\n")
        _compacted(lim, 2)      # idle again: compact again
        s.sendall(_request("/b"))
        assert read_response(f).body == b"second\n"
        # a request bigger than the first read of a compact connection
        _compacted(lim, 3)
        big = ("GET /a HTTP/1.1\r\nHost: a\r\nX-Pad: %s\r\n\r\n"
               % ("p" * 6000)).encode()
        s.sendall(big)
        assert read_response(f).body == b"first\n"
    assert "compact idle fd" in lim.log()


def test_keepalive_timeout_still_closes_a_compact_connection(run_limen,
                                                             tmp_path):
    port = free_port()
    g = dict(DEBUG, keepalive_timeout="2s")
    lim = run_limen(config(port, ROUTES, None, tmp_path, extra_global=g),
                    wait_ports=[port])
    s, f = _held(port)
    t0 = time.monotonic()
    with s:
        _compacted(lim, 1)
        # the timeout counts from the response, not from the compaction
        assert not _closed_by_peer(s, max(0.05, 1.4 - (time.monotonic() - t0)))
        assert _closed_by_peer(s, 10)
        took = time.monotonic() - t0
    assert 1.4 < took < 6, took


def test_client_close_and_shutdown_end_compact_connections(run_limen,
                                                           tmp_path):
    port = free_port()
    g = dict(DEBUG, max_conns_per_ip=2)
    lim = run_limen(config(port, ROUTES, None, tmp_path, extra_global=g),
                    wait_ports=[port])
    # the port probe's connection may hold a slot for a moment
    wait_for(lambda: _try_held(port) is not None, what="a first answer")
    a, b = _held(port), _held(port)
    _compacted(lim, 2)
    # both still hold their per-address slot
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    with c:
        c.sendall(_request())
        assert _closed_by_peer(c, 5)
    # a client closing a compact connection gives its slot back
    a[1].close()        # the makefile holds the socket open too
    a[0].close()
    wait_for(lambda: _try_held(port) is not None, what="a freed slot")
    # graceful shutdown closes the compact one at once
    os.kill(lim.pid, signal.SIGTERM)
    assert _closed_by_peer(b[0], 5)
    b[1].close()
    b[0].close()
    wait_for(lambda: not lim.alive(), what="limen exits")


def _try_held(port):
    try:
        s, f = _held(port)
    except (OSError, AssertionError, ValueError):
        return None
    s.close()
    return True


def test_compact_connection_keeps_gauge_and_proxy_address(run_limen, backend,
                                                          tmp_path):
    b = backend(name="app")
    port, aport = free_port(), free_port()
    listeners = [{"name": "web", "listen": ["127.0.0.1:%d" % port],
                  "proxy_protocol": True}]
    text = config(port, [{"host": ["*"], "pool": "app"}],
                  {"app": pool(b.address)}, tmp_path, extra_global=DEBUG,
                  listeners=listeners)
    text += "admin:\n  listen: 127.0.0.1:%d\n" % aport
    lim = run_limen(text, wait_ports=[port, aport])

    def gauge():
        import urllib.request
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % aport,
                                      timeout=5).read().decode()
        for line in body.splitlines():
            if line.startswith('limen_connections_open{listener="web"}'):
                return float(line.split()[-1])
        return None

    s, f = _held(port, pp_v1("203.0.113.77"))
    with s:
        _compacted(lim, 1)
        wait_for(lambda: gauge() == 1, what="one open connection")
        s.sendall(_request("/again", "app.example.com"))
        r = read_response(f)
        assert r.status == 200
        h = {k.lower(): v for k, v in json.loads(r.body)["headers"]}
        assert h["x-forwarded-for"] == "203.0.113.77"
        _compacted(lim, 2)
        f.close()
    wait_for(lambda: gauge() == 0, what="gauge back to 0")
