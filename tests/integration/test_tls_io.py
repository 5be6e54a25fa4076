# SPDX-License-Identifier: BSD-2-Clause
"""HTTP/1.1 over TLS through limen's own TLS reads and writes
(proxy/tlsio.c, issue 6): TLS records cut anywhere by TCP and requests
spread over many records or packed many to a record, a client that reads
slowly (the socket fills, the write event takes over), close_notify
before the close, and a WebSocket tunnelled over TLS."""
import asyncio
import hashlib
import socket
import ssl
import time

import pytest

from conftest import free_port
from peers.ws_echo import WsEcho
from proxyutil import config, pool, read_response
from tlsutil import CA, client_context, tls_connect


@pytest.fixture
def ca(tmp_path):
    return CA(tmp_path / "pki")


def start(run_limen, tmp_path, ca, addr):
    port = free_port()
    crt = ca.issue("app", ["app.example.com"])
    listener = {"name": "websecure", "listen": ["127.0.0.1:%d" % port],
                "tls": {"certificates": [{"cert": crt[0], "key": crt[1]}]}}
    run_limen(config(port, [{"host": ["*"], "pool": "app"}],
                     {"app": pool(addr)}, tmp_path, listeners=[listener]),
              wait_ports=[port])
    return port


def req(path, close=False):
    return ("GET %s HTTP/1.1\r\nHost: app.example.com\r\n%s\r\n" % (
        path, "Connection: close\r\n" if close else "")).encode()


def test_records_cut_anywhere_and_pipelined(run_limen, backend, ca,
                                            tmp_path):
    """Raw TLS bytes go out a few at a time (records split across reads),
    one request spans many records, ten requests share one record."""
    b = backend(name="app")
    port = start(run_limen, tmp_path, ca, b.address)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context(ca, None).wrap_bio(inc, out,
                                            server_hostname="app.example.com")

    def pump_out(step=None):
        data = out.read()
        if step is None:
            raw.sendall(data)
            return
        for i in range(0, len(data), step):
            raw.sendall(data[i:i + step])
            time.sleep(0.001)

    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pump_out()
            data = raw.recv(65536)
            assert data, "closed during the handshake"
            inc.write(data)
    pump_out()

    class Reader:
        """A file-like view of the decrypted stream for read_response."""
        def __init__(self):
            self.buf = b""

        def _more(self):
            while True:
                try:
                    self.buf += obj.read(65536)
                    return
                except ssl.SSLWantReadError:
                    data = raw.recv(65536)
                    assert data, "closed early"
                    inc.write(data)

        def readline(self, limit=-1):
            while b"\n" not in self.buf:
                self._more()
            i = self.buf.index(b"\n") + 1
            line, self.buf = self.buf[:i], self.buf[i:]
            return line

        def read(self, n):
            while len(self.buf) < n:
                self._more()
            data, self.buf = self.buf[:n], self.buf[n:]
            return data

    f = Reader()
    # one request, one byte per TLS record, the records 7 bytes at a time
    for ch in req("/one"):
        obj.write(bytes([ch]))
    pump_out(step=7)
    r = read_response(f)
    assert r.status == 200 and r.json()["path"] == "/one"
    # ten pipelined requests in one record, cut 3 bytes at a time
    obj.write(b"".join(req("/p%d" % i) for i in range(10)))
    pump_out(step=3)
    for i in range(10):
        r = read_response(f)
        assert r.status == 200 and r.json()["path"] == "/p%d" % i
    raw.close()


def test_slow_reader_gets_the_whole_response(run_limen, backend, ca,
                                             tmp_path):
    """8 MiB to a client that waits before reading: limen's socket fills
    and its write event finishes the job."""
    b = backend(name="app")
    port = start(run_limen, tmp_path, ca, b.address)
    n = 8 << 20
    s = tls_connect(port, ca, timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.sendall(req("/bytes/%d" % n))
    time.sleep(1.0)
    f = s.makefile("rb")
    r = read_response(f)
    assert r.status == 200 and r.body == b"x" * n
    # and the connection still serves
    s.sendall(req("/after"))
    r = read_response(f)
    assert r.status == 200 and r.json()["path"] == "/after"
    s.close()


def test_close_notify_before_the_close(run_limen, backend, ca, tmp_path):
    """Connection: close ends with a TLS close_notify, so a strict client
    (no ragged EOF allowed) sees a clean end of stream."""
    b = backend(name="app")
    port = start(run_limen, tmp_path, ca, b.address)
    ctx = client_context(ca, None)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="app.example.com",
                        suppress_ragged_eofs=False)
    s.sendall(req("/bye", close=True))
    data = b""
    while True:
        chunk = s.recv(65536)	# SSLEOFError without close_notify
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b"/bye" in data
    s.close()


def test_upload_over_tls_in_odd_pieces(run_limen, backend, ca, tmp_path):
    """A 3 MiB body sent in pieces that do not line up with records."""
    b = backend(name="app")
    port = start(run_limen, tmp_path, ca, b.address)
    s = tls_connect(port, ca, timeout=30)
    body = bytes(range(256)) * (3 * 4096)
    s.sendall(b"POST /up HTTP/1.1\r\nHost: app.example.com\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body))
    for i in range(0, len(body), 20011):
        s.sendall(body[i:i + 20011])
    doc = read_response(s.makefile("rb")).json()
    assert doc["body_len"] == len(body)
    assert doc["body_sha256"] == hashlib.sha256(body).hexdigest()
    s.close()


def test_websocket_over_tls_is_tunnelled(run_limen, ca, tmp_path):
    import websockets
    ws = WsEcho().start()
    try:
        port = start(run_limen, tmp_path, ca, ws.address)
        ctx = client_context(ca, None)

        async def talk():
            async with websockets.connect(
                    "wss://app.example.com:%d/chat" % port, ssl=ctx,
                    host="127.0.0.1", port=port,
                    server_hostname="app.example.com") as c:
                out = []
                for msg in ("hello", "x" * 300000, b"\x00\x01binary"):
                    await c.send(msg)
                    out.append(await c.recv())
                return out

        out = asyncio.run(talk())
        assert out == ["hello", "x" * 300000, b"\x00\x01binary"]
    finally:
        ws.stop()
