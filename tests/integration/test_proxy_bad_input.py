# SPDX-License-Identifier: BSD-2-Clause
"""Strict parsing and limits from raw sockets (SPEC §3).  Every case ends
by proving that a good request still works and limen is alive."""
import socket
import time

import pytest

from conftest import SLOW, free_port
from proxyutil import config, get, raw_exchange, needs_loader

GOOD = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"

CASES = [
    ("cl_and_te", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("differing_cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
     b"Content-Length: 4\r\n\r\nabcd", 400),
    ("invalid_cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n"
     b"\r\nabc", 400),
    ("te_not_chunked_last", b"POST / HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("bad_chunk_size", b"POST /up HTTP/1.1\r\nHost: a\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
    ("ctl_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n",
     400),
    ("bad_request_line", b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bad_version", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400),
    ("no_host_11", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("bad_percent", b"GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("escapes_root", b"GET /a/../../b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("uri_too_long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
     414),
    ("head_too_large", b"GET / HTTP/1.1\r\nHost: a\r\n" +
     b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(40)) +
     b"\r\n", 431),
]

pytestmark = needs_loader()


@pytest.fixture
def limen_port(run_limen, backend, tmp_path):
    port = free_port()
    b = backend()
    # /up reads bodies (a pool); "/" answers without reading them
    routes = [{"host": ["*"], "respond": {"status": 200, "body": "fine\n"}},
              {"host": ["*"], "path": "/up", "pool": "b"}]
    run_limen(config(port, routes, {"b": {"servers": [{"address":
                                                       b.address}]}},
                     tmp_path,
                     extra_global={"header_timeout": "1s"}),
              wait_ports=[port])
    return port


@pytest.mark.parametrize("name,data,status", CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_is_rejected(limen_port, name, data, status):
    r = raw_exchange(limen_port, data)
    assert r.status == status
    assert r.header("Connection") == "close"
    assert b"request-id" in r.body
    r = raw_exchange(limen_port, GOOD)
    assert (r.status, r.body) == (200, b"fine\n")


def test_header_timeout_is_408(limen_port):
    with socket.create_connection(("127.0.0.1", limen_port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")   # never finished
        t = time.monotonic()
        data = s.recv(4096)
        assert data.startswith(b"HTTP/1.1 408 ")
        assert 0.5 < time.monotonic() - t < 5 * SLOW
    assert raw_exchange(limen_port, GOOD).status == 200


def test_idle_keepalive_connection_is_closed(run_limen, tmp_path):
    port = free_port()
    routes = [{"host": ["*"], "respond": {"status": 200, "body": "ok"}}]
    run_limen(config(port, routes, None, tmp_path,
                     extra_global={"keepalive_timeout": "500ms"}),
              wait_ports=[port])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        f = s.makefile("rb")
        from proxyutil import read_response
        assert read_response(f).status == 200
        t = time.monotonic()
        assert f.read() == b""      # closed quietly, no response
        assert 0.3 < time.monotonic() - t < 5 * SLOW
    assert get(port, "/").status == 200


def test_split_request_is_reassembled(limen_port):
    with socket.create_connection(("127.0.0.1", limen_port), timeout=5) as s:
        for b in GOOD:
            s.sendall(bytes([b]))
        data = s.makefile("rb").read()
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"fine\n")
