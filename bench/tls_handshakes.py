# SPDX-License-Identifier: BSD-2-Clause
"""tls_handshakes.py HOST PORT PATH SECONDS PROCS — a full TLS handshake per request.

Used by bench.py for the "TLS handshake per request" scenario.  wrk and
h2load both resume TLS sessions when the server closes the connection
(tickets, also under TLS 1.3), so with them that scenario would measure
resumptions, not handshakes.  This client never offers a session: every
request is a new TCP connection, a full TLS 1.3 handshake (the client
default: X25519, the server's P-256 certificate), one GET with
`Connection: close`, and the response read to its end.

PROCS processes run the loop for SECONDS each; it prints one JSON line:
{"requests": N, "errors": N, "seconds": S, "latencies_ms": [...]}, the
latencies being per request, connect to last byte.
"""
import json
import multiprocessing
import socket
import ssl
import sys
import time


def worker(args):
    host, port, path, seconds = args
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    req = ("GET %s HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n"
           % path).encode()
    lat, errors = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="bench.test") as s:
                    s.sendall(req)
                    buf = b""
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        buf += d
            if buf.startswith(b"HTTP/1.1 200"):
                lat.append((time.monotonic() - t0) * 1000.0)
            else:
                errors += 1
        except (OSError, ssl.SSLError):
            errors += 1
    return lat, errors


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    seconds, procs = float(sys.argv[4]), int(sys.argv[5])
    t0 = time.monotonic()
    with multiprocessing.Pool(procs) as pool:
        parts = pool.map(worker, [(host, port, path, seconds)] * procs)
    lat = sorted(x for p in parts for x in p[0])
    print(json.dumps({"requests": len(lat), "errors": sum(p[1] for p in parts),
                      "seconds": time.monotonic() - t0, "latencies_ms": lat}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
