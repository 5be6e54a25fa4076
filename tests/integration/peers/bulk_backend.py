# SPDX-License-Identifier: BSD-2-Clause
"""A fast HTTP/1.1 peer for bulk transfers (the echo backend hashes every
byte and is too slow for a 1 GiB test).

  GET /bytes/N        N bytes, Content-Length, written in 1 MiB pieces
  GET /chunked/N      N bytes, chunked, 1 MiB chunks
  PUT/POST anything   reads the body (Content-Length or chunked) and
                      answers {"body_len": N}

One thread per connection, keep-alive.  Runs inside the test process.
"""
import json
import socket
import threading

PIECE = 1 << 20
ZEROS = b"\0" * PIECE


class BulkBackend:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.thread = None
        self.stopping = False

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,),
                             daemon=True).start()

    def _conn(self, c):
        f = c.makefile("rb", buffering=PIECE)
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers = {}
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b""):
                        break
                    k, v = h.decode().split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                n = 0
                if "chunked" in headers.get("transfer-encoding", ""):
                    while True:
                        size = int(f.readline().split(b";")[0], 16)
                        if size == 0:
                            while f.readline() not in (b"\r\n", b""):
                                pass
                            break
                        left = size
                        while left:
                            got = len(f.read(min(left, PIECE)))
                            if not got:
                                return
                            left -= got
                            n += got
                        f.readline()
                else:
                    left = int(headers.get("content-length", "0"))
                    while left:
                        got = len(f.read(min(left, PIECE)))
                        if not got:
                            return
                        left -= got
                        n += got
                if path.startswith("/bytes/"):
                    size = int(path.split("/")[2])
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                              b"Content-Type: application/octet-stream\r\n"
                              b"\r\n" % size)
                    while size:
                        k = min(size, PIECE)
                        c.sendall(ZEROS[:k])
                        size -= k
                elif path.startswith("/chunked/"):
                    size = int(path.split("/")[2])
                    c.sendall(b"HTTP/1.1 200 OK\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n")
                    while size:
                        k = min(size, PIECE)
                        c.sendall(b"%x\r\n" % k + ZEROS[:k] + b"\r\n")
                        size -= k
                    c.sendall(b"0\r\n\r\n")
                else:
                    body = json.dumps({"body_len": n}).encode()
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: "
                              b"application/json\r\nContent-Length: %d\r\n"
                              b"\r\n" % len(body) + body)
        except (OSError, ValueError):
            return
        finally:
            c.close()
