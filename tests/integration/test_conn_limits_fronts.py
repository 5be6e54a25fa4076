# SPDX-License-Identifier: BSD-2-Clause
"""global.max_conns_per_ip behind the PROXY protocol, over TLS and over
HTTP/2 (proxy/accept.c, proxy/connlimit.c): the count is the real client
address from the PROXY header, and a TLS or HTTP/2 connection holds its
count for as long as it is open, like a plain HTTP/1.1 one."""
import ssl
import socket
import time

import pytest

from conftest import SLOW, free_port, wait_for
from proxyutil import config, needs_loader, read_response
from tlsutil import CA, H2Client, client_context, pp_v1, tls_connect

pytestmark = needs_loader()

ROUTES = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]
REQ = b"GET / HTTP/1.1\r\nHost: app.example.com\r\n\r\n"
# the probes ask limen to close, and read until it did: by then limen has
# given the probe's count back, and the next step starts from a known count
PROBE = b"GET / HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n"


def _answered(s):
    """Read to EOF; True if an answer came before it."""
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data.startswith(b"HTTP/1.1 200 ")
        data += chunk


def pp_held(port, src):
    """A keep-alive connection behind a PROXY header from src, answered."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(pp_v1(src) + REQ)
    assert read_response(s.makefile("rb")).status == 200
    return s


def pp_refused(port, src):
    """True when limen closes a connection from src without answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(pp_v1(src) + PROBE)
            return not _answered(s)
        except (ConnectionResetError, BrokenPipeError):
            return True


def test_proxy_protocol_counts_the_real_client(run_limen, tmp_path):
    port = free_port()
    listeners = [{"name": "lb", "listen": ["127.0.0.1:%d" % port],
                  "proxy_protocol": True}]
    run_limen(config(port, ROUTES, None, tmp_path, listeners=listeners,
                     extra_global={"max_conns_per_ip": 2}),
              wait_ports=[port])
    wait_for(lambda: not pp_refused(port, "203.0.113.9"),
             what="a first answer")
    held = []
    try:
        # the load balancer's own address (127.0.0.1) carries many
        # clients: five connections from it are fine
        held = [pp_held(port, "203.0.113.%d" % i) for i in range(1, 4)]
        held.append(pp_held(port, "203.0.113.1"))
        held.append(pp_held(port, "2001:db8::7"))
        # but one client is held to its limit of 2
        assert pp_refused(port, "203.0.113.1")
        held.append(pp_held(port, "203.0.113.2"))
        assert pp_refused(port, "203.0.113.2")
        # a closed one gives its count back
        held.pop(0).close()
        wait_for(lambda: not pp_refused(port, "203.0.113.1"),
                 what="a freed slot")
    finally:
        for s in held:
            s.close()


@pytest.fixture
def tls_limen(run_limen, tmp_path):
    port = free_port()
    ca = CA(tmp_path / "pki")
    crt, key = ca.issue("app", ["app.example.com"])
    listeners = [{"name": "websecure", "listen": ["127.0.0.1:%d" % port],
                  "tls": {"certificates": [{"cert": crt, "key": key}]}}]
    run_limen(config(port, ROUTES, None, tmp_path, listeners=listeners,
                     extra_global={"max_conns_per_ip": 2}),
              wait_ports=[port])
    return port, ca


def tls_refused(port, ca, alpn=None, src="127.0.0.1"):
    """True when limen closes a new TLS connection without answering."""
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5,
                                       source_address=(src, 0))
        s = client_context(ca, alpn).wrap_socket(
            raw, server_hostname="app.example.com")
    except (ssl.SSLError, OSError):
        return True
    with s:
        try:
            if alpn:    # an HTTP/2 server speaks first (SETTINGS)
                return s.recv(100) == b""
            s.sendall(PROBE)
            return not _answered(s)
        except (ssl.SSLError, OSError):
            return True


def still_open(s):
    """True while limen has not closed s (checked without blocking)."""
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def tls_held(port, ca):
    s = tls_connect(port, ca)
    s.sendall(REQ)
    assert read_response(s.makefile("rb")).status == 200
    return s


def test_tls_connections_are_counted_while_open(tls_limen):
    port, ca = tls_limen
    wait_for(lambda: not tls_refused(port, ca, src="127.0.0.3"),
             what="a first answer")
    held = []
    try:
        held = [tls_held(port, ca) for _ in range(2)]
        assert tls_refused(port, ca)
        held.pop().close()
        wait_for(lambda: not tls_refused(port, ca), what="a freed slot")
    finally:
        for s in held:
            s.close()


def accepted(port, s):
    """True once limen accept()ed the server side of client socket s: in
    /proc/net/tcp a connection still in the accept queue has inode 0."""
    cport = s.getsockname()[1]
    want = ("0100007F:%04X" % port, "0100007F:%04X" % cport)
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == want:
                return fields[9] != "0"
    return False


def test_tls_handshakes_in_progress_are_counted(tls_limen):
    port, ca = tls_limen
    # (the first probe from another address: its count, given back a
    # moment after it closes, is not 127.0.0.1's)
    wait_for(lambda: not tls_refused(port, ca, src="127.0.0.3"),
             what="a first answer")
    # two TCP connections that never start the handshake hold the limit
    # (if one is refused because the slot of an earlier probe from
    # 127.0.0.1, run_limen's port check, was not given back yet: again)
    def hold_two():
        socks = [socket.create_connection(("127.0.0.1", port), timeout=5)
                 for _ in range(2)]
        deadline = time.monotonic() + 2 * SLOW
        while time.monotonic() < deadline:
            if all(accepted(port, s) for s in socks) and \
                    all(still_open(s) for s in socks):
                return socks
            time.sleep(0.02)
        for s in socks:
            s.close()
        return None
    idle = wait_for(hold_two, what="limen to accept both")
    try:
        assert tls_refused(port, ca)
    finally:
        for s in idle:
            s.close()
    wait_for(lambda: not tls_refused(port, ca), what="slots given back")


def test_http2_connections_are_counted_while_open(tls_limen):
    port, ca = tls_limen
    wait_for(lambda: not tls_refused(port, ca, src="127.0.0.3"),
             what="a first answer")
    clients = []
    try:
        for _ in range(2):
            c = H2Client(port, ca)
            sid = c.request("/")
            assert c.wait(sid)["headers"][":status"] == "200"
            clients.append(c)
        assert tls_refused(port, ca, alpn=["h2"])
        assert tls_refused(port, ca)
        clients.pop().sock.close()
        wait_for(lambda: not tls_refused(port, ca, alpn=["h2"]),
                 what="a freed slot")
    finally:
        for c in clients:
            c.sock.close()
