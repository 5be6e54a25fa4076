# SPDX-License-Identifier: BSD-2-Clause
"""static: root, index, spa_fallback, types, ETag/304, Range, HEAD, and
never leaving the root (SPEC §2 static)."""
import os

from conftest import free_port
from proxyutil import config, get, needs_loader

pytestmark = needs_loader()


def start(run_limen, tmp_path, **static):
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "app.js").write_text("console.log(1)\n")
    (root / "sub" / "index.html").write_text("sub\n")
    (root / "data.bin").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "secret.txt").write_text("secret\n")
    os.symlink(str(tmp_path / "secret.txt"), str(root / "escape.txt"))
    os.symlink("app.js", str(root / "inside.js"))
    port = free_port()
    s = {"root": str(root)}
    s.update(static)
    routes = [{"host": ["*"], "static": s}]
    run_limen(config(port, routes, None, tmp_path), wait_ports=[port])
    return port


def test_files_index_and_types(run_limen, tmp_path):
    port = start(run_limen, tmp_path)
    r = get(port, "/")
    assert r.status == 200 and r.body == b"<h1>home</h1>\n"
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    r = get(port, "/app.js")
    assert r.header("Content-Type").startswith("text/javascript")
    assert get(port, "/sub/").body == b"sub\n"
    r = get(port, "/sub?x=1")
    assert r.status == 301 and r.header("Location") == "/sub/?x=1"
    assert get(port, "/missing").status == 404
    r = get(port, "/data.bin", method="HEAD")
    assert r.status == 200 and r.header("Content-Length") == "10240"
    assert r.body == b""
    assert get(port, "/app.js", method="POST", body=b"x").status == 405


def test_symlinks_cannot_leave_the_root(run_limen, tmp_path):
    port = start(run_limen, tmp_path)
    assert get(port, "/escape.txt").status == 404
    assert get(port, "/inside.js").body == b"console.log(1)\n"
    assert get(port, "/%2e%2e/secret.txt").status == 400


def test_etag_last_modified_304(run_limen, tmp_path):
    port = start(run_limen, tmp_path)
    r = get(port, "/app.js")
    etag, lm = r.header("ETag"), r.header("Last-Modified")
    assert etag and lm
    r = get(port, "/app.js", headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    assert get(port, "/app.js",
               headers={"If-Modified-Since": lm}).status == 304
    assert get(port, "/app.js",
               headers={"If-None-Match": '"other"'}).status == 200


def test_ranges(run_limen, tmp_path):
    port = start(run_limen, tmp_path)
    data = bytes(range(256)) * 40
    r = get(port, "/data.bin", headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == data[10:20]
    assert r.header("Content-Range") == "bytes 10-19/10240"
    r = get(port, "/data.bin", headers={"Range": "bytes=-5"})
    assert r.status == 206 and r.body == data[-5:]
    r = get(port, "/data.bin", headers={"Range": "bytes=10000-"})
    assert r.body == data[10000:]
    r = get(port, "/data.bin", headers={"Range": "bytes=20000-"})
    assert r.status == 416 and r.header("Content-Range") == "bytes */10240"
    r = get(port, "/data.bin", headers={"Range": "bytes=1-2, 5-6"})
    assert r.status == 200 and r.body == data


def test_spa_fallback(run_limen, tmp_path):
    port = start(run_limen, tmp_path, spa_fallback=True)
    r = get(port, "/some/client/route")
    assert r.status == 200 and r.body == b"<h1>home</h1>\n"
    assert get(port, "/app.js").body == b"console.log(1)\n"
