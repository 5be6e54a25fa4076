# SPDX-License-Identifier: BSD-2-Clause
"""Streaming with back-pressure (SPEC §3): 1 GiB up and down through
limen while its memory stays bounded, and a WebSocket echo."""
import asyncio
import socket
import threading

from conftest import SANITIZED, free_port
from peers.bulk_backend import BulkBackend
from peers.ws_echo import WsEcho
from proxyutil import config, hwm_kib, pool, read_response, needs_loader

GIB = 1 << 30
# ASan keeps freed memory in quarantine and adds its own; a small
# quarantine and a looser bound keep the check meaningful there.
RSS_LIMIT_KIB = (192 if SANITIZED else 64) * 1024
ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:"
            "halt_on_error=1:quarantine_size_mb=8"}

pytestmark = needs_loader()


def start(run_limen, tmp_path, addr):
    port = free_port()
    lim = run_limen(config(port, [{"host": ["*"], "pool": "p"}],
                           {"p": pool(addr)}, tmp_path),
                    wait_ports=[port], env=ASAN_ENV)
    return port, lim


def test_1gib_download_and_upload_bounded_memory(run_limen, tmp_path):
    bulk = BulkBackend().start()
    try:
        port, lim = start(run_limen, tmp_path, bulk.address)
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: a\r\n\r\n" % GIB)
            f = s.makefile("rb", buffering=1 << 20)
            while f.readline() not in (b"\r\n", b""):
                pass
            got = 0
            buf = bytearray(1 << 20)
            while got < GIB:
                n = f.readinto(buf)
                assert n, "download cut at %d" % got
                got += n
            assert got == GIB

            # upload on the same connection, Content-Length
            s.sendall(b"PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: %d"
                      b"\r\n\r\n" % GIB)
            piece = b"\0" * (1 << 20)
            for _ in range(GIB >> 20):
                s.sendall(piece)
            r = read_response(f)
            assert r.status == 200 and r.json()["body_len"] == GIB
        assert hwm_kib(lim.pid) < RSS_LIMIT_KIB, hwm_kib(lim.pid)
    finally:
        bulk.stop()


def test_chunked_upload_and_download_stream(run_limen, tmp_path):
    bulk = BulkBackend().start()
    try:
        port, lim = start(run_limen, tmp_path, bulk.address)
        size = 256 << 20
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            piece = b"%x\r\n" % (1 << 20) + b"\0" * (1 << 20) + b"\r\n"
            for _ in range(size >> 20):
                s.sendall(piece)
            s.sendall(b"0\r\n\r\n")
            f = s.makefile("rb", buffering=1 << 20)
            r = read_response(f)
            assert r.json()["body_len"] == size
            s.sendall(b"GET /chunked/%d HTTP/1.1\r\nHost: a\r\n\r\n" % size)
            r = read_response(f)
            assert len(r.body) == size
        assert hwm_kib(lim.pid) < RSS_LIMIT_KIB
    finally:
        bulk.stop()


def test_websocket_is_tunnelled(run_limen, tmp_path):
    import websockets
    ws = WsEcho().start()
    try:
        port, _ = start(run_limen, tmp_path, ws.address)

        async def talk():
            async with websockets.connect(
                    "ws://127.0.0.1:%d/chat" % port) as c:
                out = []
                for msg in ("hello", "x" * 100000, b"\x00\x01binary"):
                    await c.send(msg)
                    out.append(await c.recv())
                return out

        out = asyncio.run(talk())
        assert out == ["hello", "x" * 100000, b"\x00\x01binary"]
    finally:
        ws.stop()
