# SPDX-License-Identifier: BSD-2-Clause
"""Routing and the route actions (SPEC §3 Routing; routes in §2)."""
import json

from conftest import free_port
from proxyutil import config, get, pool, needs_loader

pytestmark = needs_loader()


def test_routes_pick_host_then_longest_path(run_limen, backend, tmp_path):
    api, web = backend(name="api"), backend(name="web")
    port = free_port()
    routes = [
        {"host": ["app.example.com"], "path": "/api", "pool": "api"},
        {"host": ["app.example.com"], "path": "/", "pool": "web"},
        {"host": ["*.example.com"], "respond": {"status": 200,
                                                "body": "wildcard\n"}},
        {"host": ["*"], "respond": {"status": 404, "body": "no such site\n"}},
    ]
    pools = {"api": pool(api.address), "web": pool(web.address)}
    run_limen(config(port, routes, pools, tmp_path), wait_ports=[port])
    assert get(port, "/api/x", "app.example.com").json()["server"] == "api"
    assert get(port, "/api", "app.example.com").json()["server"] == "api"
    assert get(port, "/apix", "app.example.com").json()["server"] == "web"
    assert get(port, "/", "APP.example.com:8080").json()["server"] == "web"
    r = get(port, "/", "other.example.com")
    assert (r.status, r.body) == (200, b"wildcard\n")
    r = get(port, "/", "elsewhere.org")
    assert (r.status, r.body) == (404, b"no such site\n")


def test_dot_segments_cannot_reach_another_route(run_limen, backend, tmp_path):
    b = backend(name="pub")
    port = free_port()
    routes = [
        {"host": ["*"], "path": "/public", "pool": "pub"},
        {"host": ["*"], "path": "/admin", "respond": {"status": 403}},
    ]
    run_limen(config(port, routes, {"pub": pool(b.address)}, tmp_path),
              wait_ports=[port])
    assert get(port, "/public/../admin/x").status == 403
    r = get(port, "/admin/../public/%7Efile")
    assert r.status == 200 and r.json()["path"] == "/public/~file"
    assert get(port, "/../etc/passwd").status == 400
    assert get(port, "/public/%zz").status == 400


def test_no_route_is_404_with_request_id(run_limen, tmp_path):
    port = free_port()
    routes = [{"host": ["only.example.com"], "respond": {"status": 204}}]
    run_limen(config(port, routes, None, tmp_path), wait_ports=[port])
    r = get(port, "/", "other.example.com")
    assert r.status == 404
    assert r.header("Content-Type").startswith("text/plain")
    rid = r.header("X-Request-ID")
    assert rid and rid.encode() in r.body


def test_redirect_keeps_path_and_query(run_limen, tmp_path):
    port = free_port()
    routes = [
        {"host": ["old.example.com"],
         "redirect": {"to": "https://app.example.com", "code": 301,
                      "keep_path": True}},
        {"host": ["fixed.example.com"],
         "redirect": {"to": "https://example.org/landing"}},
    ]
    run_limen(config(port, routes, None, tmp_path), wait_ports=[port])
    r = get(port, "/a/b?x=1", "old.example.com")
    assert r.status == 301
    assert r.header("Location") == "https://app.example.com/a/b?x=1"
    r = get(port, "/a/b", "fixed.example.com")
    assert r.status == 302
    assert r.header("Location") == "https://example.org/landing"


def test_respond_with_content_type_and_head(run_limen, tmp_path):
    port = free_port()
    routes = [{"host": ["*"], "respond": {
        "status": 200, "body": '{"ok":true}',
        "content_type": "application/json"}}]
    run_limen(config(port, routes, None, tmp_path), wait_ports=[port])
    r = get(port, "/")
    assert r.status == 200 and json.loads(r.body) == {"ok": True}
    assert r.header("Content-Type") == "application/json"
    r = get(port, "/", method="HEAD")
    assert r.status == 200 and r.header("Content-Length") == "11"
    assert r.body == b""


def test_route_headers_set_remove_and_hsts_only_on_tls(run_limen, backend,
                                                      tmp_path):
    b = backend()
    port = free_port()
    routes = [{"host": ["*"], "pool": "b", "hsts": "1h",
               "headers": {"set": {"X-Frame-Options": "DENY"},
                           "remove": ["Server"],
                           "request_set": {"X-From-Limen": "yes"}}}]
    run_limen(config(port, routes, {"b": pool(b.address)}, tmp_path),
              wait_ports=[port])
    r = get(port, "/")
    assert r.status == 200
    assert r.header("X-Frame-Options") == "DENY"
    assert r.header("Server") is None
    assert r.header("Strict-Transport-Security") is None   # plain HTTP
    sent = dict((k.lower(), v) for k, v in r.json()["headers"])
    assert sent["x-from-limen"] == "yes"


def test_strip_prefix(run_limen, backend, tmp_path):
    b = backend()
    port = free_port()
    routes = [{"host": ["*"], "path": "/svc", "strip_prefix": True,
               "pool": "b"}]
    run_limen(config(port, routes, {"b": pool(b.address)}, tmp_path),
              wait_ports=[port])
    assert get(port, "/svc/a/b?q=1").json()["path"] == "/a/b?q=1"
    assert get(port, "/svc").json()["path"] == "/"


def test_allow_cidrs(run_limen, tmp_path):
    port = free_port()
    routes = [
        {"host": ["*"], "path": "/in", "allow": ["127.0.0.0/8"],
         "respond": {"status": 200, "body": "in\n"}},
        {"host": ["*"], "path": "/out", "allow": ["10.0.0.0/8", "::1/128"],
         "respond": {"status": 200, "body": "out\n"}},
    ]
    run_limen(config(port, routes, None, tmp_path), wait_ports=[port])
    assert get(port, "/in").status == 200
    r = get(port, "/out")
    assert r.status == 403 and b"request-id" in r.body


def test_rate_limit_429_with_retry_after(run_limen, tmp_path):
    port = free_port()
    routes = [{"host": ["*"], "rate_limit": {"rate": "1/m", "burst": 3},
               "respond": {"status": 200, "body": "ok\n"}}]
    run_limen(config(port, routes, None, tmp_path), wait_ports=[port])
    statuses = [get(port, "/").status for _ in range(3)]
    assert statuses == [200, 200, 200]
    r = get(port, "/")
    assert r.status == 429
    assert int(r.header("Retry-After")) >= 1


def test_max_body_413(run_limen, backend, tmp_path):
    b = backend()
    port = free_port()
    routes = [{"host": ["*"], "max_body": "1k", "pool": "b"}]
    run_limen(config(port, routes, {"b": pool(b.address)}, tmp_path),
              wait_ports=[port])
    assert get(port, "/", method="POST", body=b"x" * 1000).status == 200
    assert get(port, "/", method="POST", body=b"x" * 1025).status == 413
    # chunked: found while streaming
    req = (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n" + b"800\r\n" + b"y" * 2048 +
           b"\r\n0\r\n\r\n")
    from proxyutil import raw_exchange
    assert raw_exchange(port, req).status == 413
    assert get(port, "/").status == 200
