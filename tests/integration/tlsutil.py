# SPDX-License-Identifier: BSD-2-Clause
"""Helpers for the TLS and HTTP/2 scenarios: a throw-away CA and leaf
certificates made with the openssl command, TLS clients from Python's
ssl module and openssl s_client, raw HTTP/2 connections with python3-h2,
and PROXY protocol headers.  Used by test_tls_*.py and test_h2_*.py."""
import os
import socket
import ssl
import struct
import subprocess
import time

import h2.config
import h2.connection
import h2.events


def _run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


class CA:
    """A test CA in directory d; issue() makes leaf certificates."""

    def __init__(self, d):
        self.dir = str(d)
        os.makedirs(self.dir, exist_ok=True)
        self.key = os.path.join(self.dir, "ca.key")
        self.cert = os.path.join(self.dir, "ca.crt")
        self.serial = 1000
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key,
              "-out", self.cert, "-days", "2", "-subj", "/CN=limen test CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign"])

    def issue(self, name, sans, key="ec", cn=None):
        """Leaf for sans (DNS names) signed by the CA; returns (cert, key)
        paths named after name.  key: "ec" (P-256) or "rsa" (2048)."""
        base = os.path.join(self.dir, name)
        kpath, cpath, csr = base + ".key", base + ".crt", base + ".csr"
        ext = base + ".ext"
        if key == "rsa":
            _run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                  "rsa_keygen_bits:2048", "-out", kpath])
        else:
            _run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-out", kpath])
        _run(["openssl", "req", "-new", "-key", kpath, "-out", csr,
              "-subj", "/CN=%s" % (cn or sans[0])])
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % ",".join("DNS:" + s for s in sans))
            f.write("basicConstraints=CA:FALSE\n")
            f.write("extendedKeyUsage=serverAuth\n")
        self.serial += 1
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert,
              "-CAkey", self.key, "-set_serial", str(self.serial),
              "-days", "2", "-sha256", "-extfile", ext, "-out", cpath])
        return cpath, kpath


def client_context(ca, alpn=None, minv=None, maxv=None):
    ctx = ssl.create_default_context(cafile=ca.cert)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    return ctx


def tls_connect(port, ca, sni="app.example.com", alpn=None, timeout=5.0,
                check_hostname=True, **kw):
    """A verified TLS socket to 127.0.0.1:port with SNI sni."""
    ctx = client_context(ca, alpn, **kw)
    ctx.check_hostname = check_hostname and sni is not None
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname=sni)


def peer_cert_der(sock):
    return sock.getpeercert(binary_form=True)


def cert_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def s_client(port, *args, sni="app.example.com", stdin=b"", timeout=10):
    """Run openssl s_client; returns CompletedProcess (bytes)."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port]
    if sni:
        argv += ["-servername", sni]
    argv += list(args)
    return subprocess.run(argv, input=stdin, capture_output=True,
                          timeout=timeout)


# ---- HTTP/2 with python3-h2 ------------------------------------------------

class H2Client:
    """A raw HTTP/2 client connection over TLS (ALPN h2)."""

    def __init__(self, port, ca, sni="app.example.com", timeout=5.0,
                 settings=None):
        self.sock = tls_connect(port, ca, sni=sni, alpn=["h2"],
                                timeout=timeout)
        assert self.sock.selected_alpn_protocol() == "h2"
        cfg = h2.config.H2Configuration(client_side=True,
                                        header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()
        self.responses = {}     # stream id -> dict
        self.events = []
        self.closed = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, authority="app.example.com", method="GET",
                headers=(), body=None, end=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "https"),
                (":authority", authority), (":path", path)] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        if body is not None:
            self.send_body(sid, body, end=end)
        self.flush()
        self.responses[sid] = {"headers": None, "body": b"", "ended": False,
                               "reset": None}
        return sid

    def send_body(self, sid, body, end=True):
        """Send body respecting flow control (reads while blocked)."""
        view = memoryview(body)
        while view:
            win = min(self.conn.local_flow_control_window(sid),
                      self.conn.max_outbound_frame_size)
            if win <= 0:
                self.flush()
                self.read_some()
                continue
            n = min(win, len(view))
            self.conn.send_data(sid, bytes(view[:n]))
            view = view[n:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def read_some(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, ssl.SSLError, socket.timeout):
            data = b""
        if not data:
            self.closed = True
            return []
        evs = self.conn.receive_data(data)
        for ev in evs:
            self.events.append(ev)
            r = self.responses.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived) and r is not None:
                r["headers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived) and r is not None:
                r["body"] += ev.data
                self.conn.acknowledge_received_data(
                    ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded) and r is not None:
                r["ended"] = True
            elif isinstance(ev, h2.events.StreamReset) and r is not None:
                r["reset"] = ev.error_code
        self.flush()
        return evs

    def wait(self, sid, timeout=10.0):
        """Read until stream sid ended or was reset; returns its dict."""
        deadline = time.monotonic() + timeout
        r = self.responses[sid]
        while not (r["ended"] or r["reset"] is not None):
            if self.closed or time.monotonic() > deadline:
                raise AssertionError("stream %d did not end" % sid)
            self.read_some()
        return r

    def goaway(self):
        for ev in self.events:
            if isinstance(ev, h2.events.ConnectionTerminated):
                return ev
        return None

    def read_until_closed(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.read_some()
        return self.closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---- PROXY protocol -----------------------------------------------------------

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def pp_v1(src, dst=None, sport=40000, dport=443):
    fam = "TCP6" if ":" in src else "TCP4"
    dst = dst or ("::1" if ":" in src else "127.0.0.1")
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport,
                                            dport)).encode()


def pp_v2(src, dst=None, sport=40000, dport=443, local=False,
          tlvs=b""):
    dst = dst or ("::1" if ":" in src else "127.0.0.1")
    if local:
        return V2_SIG + bytes([0x20, 0x00]) + struct.pack(">H", len(tlvs)) + tlvs
    if ":" in src:
        addr = (socket.inet_pton(socket.AF_INET6, src) +
                socket.inet_pton(socket.AF_INET6, dst) +
                struct.pack(">HH", sport, dport))
        fam = 0x21
    else:
        addr = (socket.inet_aton(src) + socket.inet_aton(dst) +
                struct.pack(">HH", sport, dport))
        fam = 0x11
    body = addr + tlvs
    return V2_SIG + bytes([0x21, fam]) + struct.pack(">H", len(body)) + body
