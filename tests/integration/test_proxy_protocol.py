# SPDX-License-Identifier: BSD-2-Clause
"""PROXY protocol v1/v2 on listeners with `proxy_protocol: true` (SPEC §2):
the client address from the header is the one sent in X-Forwarded-For,
rate-limited and logged; it comes before TLS (and HTTP/2) too; a bad
header closes the connection without an answer."""
import json
import socket
import ssl

import h2.config
import h2.connection
import h2.events

from conftest import free_port, wait_for
from proxyutil import config, pool, read_response
from tlsutil import CA, pp_v1, pp_v2


def plain_request(port, header, path="/", host="app.example.com"):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(header + ("GET %s HTTP/1.1\r\nHost: %s\r\n"
                            "Connection: close\r\n\r\n" % (path, host))
                  .encode())
        return read_response(s.makefile("rb"))


def xff(r):
    h = {k.lower(): v for k, v in json.loads(r.body)["headers"]}
    return h["x-forwarded-for"], h["x-real-ip"]


def test_v1_and_v2_give_the_client_address(run_limen, backend, tmp_path):
    b = backend(name="app")
    port = free_port()
    alog = tmp_path / "access.log"
    routes = [{"host": ["*"], "path": "/limited", "pool": "app",
               "rate_limit": {"rate": "1/m", "burst": 1}},
              {"host": ["*"], "pool": "app"}]
    listeners = [{"name": "web", "listen": ["127.0.0.1:%d" % port],
                  "proxy_protocol": True}]
    run_limen(config(port, routes, {"app": pool(b.address)}, tmp_path,
                     listeners=listeners,
                     access_log={"path": str(alog), "format": "json"}),
              wait_ports=[port])
    assert xff(plain_request(port, pp_v1("203.0.113.9"))) == \
        ("203.0.113.9", "203.0.113.9")
    assert xff(plain_request(port, pp_v1("2001:db8::7"))) == \
        ("2001:db8::7", "2001:db8::7")
    assert xff(plain_request(port, pp_v2("198.51.100.4"))) == \
        ("198.51.100.4", "198.51.100.4")
    assert xff(plain_request(port, pp_v2("2001:db8::8"))) == \
        ("2001:db8::8", "2001:db8::8")
    # TLVs are skipped; LOCAL (a balancer's health check) and UNKNOWN
    # keep the connection's own address
    r = plain_request(port, pp_v2("198.51.100.5", tlvs=b"\x01\x00\x02h2"))
    assert xff(r)[0] == "198.51.100.5"
    assert xff(plain_request(port, pp_v2("", local=True)))[0] == "127.0.0.1"
    assert xff(plain_request(port, b"PROXY UNKNOWN\r\n"))[0] == "127.0.0.1"

    # the rate limit counts per PROXY client address
    assert plain_request(port, pp_v1("192.0.2.1"), "/limited").status == 200
    assert plain_request(port, pp_v1("192.0.2.1"), "/limited").status == 429
    assert plain_request(port, pp_v1("192.0.2.2"), "/limited").status == 200

    # and the access log names it
    wait_for(lambda: alog.exists() and "203.0.113.9" in alog.read_text(),
             what="access log line")


def test_bad_or_missing_header_closes(run_limen, backend, tmp_path):
    b = backend(name="app")
    port = free_port()
    listeners = [{"name": "web", "listen": ["127.0.0.1:%d" % port],
                  "proxy_protocol": True}]
    run_limen(config(port, [{"host": ["*"], "pool": "app"}],
                     {"app": pool(b.address)}, tmp_path,
                     listeners=listeners), wait_ports=[port])
    for head in (b"",                                       # no header
                 b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",          # no CR
                 b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
                 b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n",
                 pp_v2("1.2.3.4")[:13] + b"\x12" + pp_v2("1.2.3.4")[14:]):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(head + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            try:
                got = s.recv(100)
            except ConnectionResetError:
                got = b""       # closed with our bytes unread
            assert got == b"", head
    assert b.count == 0


def test_proxy_protocol_before_tls_and_h2(run_limen, backend, tmp_path):
    b = backend(name="app")
    port = free_port()
    ca = CA(tmp_path / "pki")
    crt, key = ca.issue("app", ["app.example.com"])
    listeners = [{"name": "websecure", "listen": ["127.0.0.1:%d" % port],
                  "proxy_protocol": True,
                  "tls": {"certificates": [{"cert": crt, "key": key}]}}]
    run_limen(config(port, [{"host": ["*"], "pool": "app"}],
                     {"app": pool(b.address)}, tmp_path,
                     listeners=listeners), wait_ports=[port])
    ctx = ssl.create_default_context(cafile=ca.cert)

    # HTTP/1.1 over TLS after a v2 header; the header and the
    # ClientHello go in one write
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.sendall(pp_v2("203.0.113.20"))
    s = ctx.wrap_socket(raw, server_hostname="app.example.com")
    s.sendall(b"GET /tls HTTP/1.1\r\nHost: app.example.com\r\n"
              b"Connection: close\r\n\r\n")
    assert xff(read_response(s.makefile("rb")))[0] == "203.0.113.20"
    s.close()

    # HTTP/2 after a v1 header
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.sendall(pp_v1("203.0.113.21"))
    s = ctx.wrap_socket(raw, server_hostname="app.example.com")
    assert s.selected_alpn_protocol() == "h2"
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":scheme", "https"),
                          (":authority", "app.example.com"),
                          (":path", "/h2")], end_stream=True)
    s.sendall(conn.data_to_send())
    body, done = b"", False
    while not done:
        data = s.recv(65536)
        assert data
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, 1)
            elif isinstance(ev, h2.events.StreamEnded):
                done = True
        s.sendall(conn.data_to_send())
    h = {k.lower(): v for k, v in json.loads(body)["headers"]}
    assert h["x-forwarded-for"] == "203.0.113.21"
    s.close()
