# SPDX-License-Identifier: BSD-2-Clause
"""idle_conns.py HOST PORT N PATH — hold N idle HTTP/1.1 keep-alive connections.

Used by bench.py for the "idle keep-alive connections" scenario: opens N
connections to the proxy, sends one request on each and reads the whole
response (so every connection has been through a full request and sits
idle in keep-alive, as a browser's would), prints "ready N" and waits for
a line on stdin.  Then it sends one more request on a sample of the
connections to prove they were still open, prints "alive K/S", and
closes everything.

Connections are opened in batches with non-blocking sockets and epoll so
10,000 of them take a second or two; the file limit is raised to the
hard limit first.
"""
import random
import resource
import select
import socket
import sys
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, need + 64))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def response_done(buf):
    """True once buf holds a whole response with a Content-Length body."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v.strip())
    return False


def request_batch(socks, req, timeout):
    """Send req on every socket, read a whole response on each."""
    ep = select.epoll()
    bufs = {}
    for s in socks:
        s.sendall(req)
        bufs[s.fileno()] = b""
        ep.register(s.fileno(), select.EPOLLIN)
    byfd = {s.fileno(): s for s in socks}
    pending = set(bufs)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for fd, _ in ep.poll(0.5):
            data = byfd[fd].recv(65536)
            if not data:
                pending.discard(fd)
                ep.unregister(fd)
                bufs[fd] = None
                continue
            bufs[fd] += data
            if response_done(bufs[fd]):
                pending.discard(fd)
                ep.unregister(fd)
    ep.close()
    return sum(1 for fd in bufs if bufs[fd] is not None and fd not in pending
               and bufs[fd].startswith(b"HTTP/1.1 200"))


def main():
    host, port, n, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    limit = raise_nofile(n)
    if limit < n + 16:
        print("error: file limit %d is below %d connections" % (limit, n),
              flush=True)
        return 1
    req = ("GET %s HTTP/1.1\r\nHost: bench.test\r\n\r\n" % path).encode()
    socks = []
    batch = 200
    while len(socks) < n:
        new = []
        for _ in range(min(batch, n - len(socks))):
            s = socket.create_connection((host, port), timeout=10)
            s.setblocking(True)
            new.append(s)
        ok = request_batch(new, req, 30)
        if ok != len(new):
            print("error: %d of %d requests failed after %d connections"
                  % (len(new) - ok, len(new), len(socks)), flush=True)
            return 1
        socks.extend(new)
    print("ready %d" % len(socks), flush=True)
    sys.stdin.readline()
    sample = random.sample(socks, min(100, len(socks)))
    alive = request_batch(sample, req, 30)
    print("alive %d/%d" % (alive, len(sample)), flush=True)
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
