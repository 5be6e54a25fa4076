# SPDX-License-Identifier: BSD-2-Clause
"""Helpers for the proxy scenarios: config text, raw HTTP/1.1 exchanges,
and reading limen's memory from /proc.  Used by test_proxy_*.py."""
import json
import socket
import time

import yaml


def config(port, routes, pools=None, tmp=None, extra_global=None,
           listeners=None, access_log=None):
    """A limen YAML config with one listener on 127.0.0.1:port."""
    g = {"workers": 2, "shutdown_timeout": "5s"}
    if tmp is not None:
        g["state_dir"] = str(tmp / "state")
        g["pid_file"] = str(tmp / "limen.pid")
    if access_log:
        g["access_log"] = access_log
    if extra_global:
        g.update(extra_global)
    doc = {
        "global": g,
        "listeners": listeners or [
            {"name": "web", "listen": ["127.0.0.1:%d" % port]}],
        "routes": routes,
    }
    if pools:
        doc["pools"] = pools
    return yaml.safe_dump(doc, sort_keys=False)


def pool(*addresses, **kw):
    p = {"servers": [{"address": a} for a in addresses]}
    p.update(kw)
    return p


class Response:
    def __init__(self, status, headers, body, raw):
        self.status = status
        self.headers = headers        # list of (name, value)
        self.body = body
        self.raw = raw

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)


def read_response(f, head_request=False):
    """Read one HTTP/1.1 response from a socket file (rb)."""
    line = f.readline()
    if not line:
        raise ConnectionError("closed before a response")
    raw = line
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    status = int(parts[1])
    headers = []
    while True:
        line = f.readline()
        raw += line
        if line in (b"\r\n", b"\n", b""):
            break
        k, v = line.decode("latin-1").split(":", 1)
        headers.append((k.strip(), v.strip()))
    r = Response(status, headers, b"", raw)
    if head_request or status in (204, 304) or 100 <= status < 200:
        return r
    te = r.header("Transfer-Encoding")
    cl = r.header("Content-Length")
    body = bytearray()
    if te and "chunked" in te.lower():
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += f.read(size)
            f.readline()
    elif cl is not None:
        body = f.read(int(cl))
    else:
        body = f.read()
    r.body = bytes(body)
    return r


def raw_exchange(port, data, timeout=5.0, head_request=False):
    """Send raw bytes, read one response.  Returns Response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        f = s.makefile("rb")
        return read_response(f, head_request)


def get(port, path="/", host="example.com", headers=None, method="GET",
        body=None, timeout=5.0):
    h = {"Host": host}
    if headers:
        h.update(headers)
    if body is not None:
        h["Content-Length"] = str(len(body))
    req = "%s %s HTTP/1.1\r\n" % (method, path)
    req += "".join("%s: %s\r\n" % kv for kv in h.items())
    req += "Connection: close\r\n\r\n"
    data = req.encode() + (body or b"")
    return raw_exchange(port, data, timeout, head_request=(method == "HEAD"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def wait_port_closed(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return True
        time.sleep(0.02)
    return False


def _loader_missing():
    """True while conf_load is the placeholder (before the conf part is
    merged): these scenarios need real configuration files."""
    import os
    import subprocess
    import tempfile
    from conftest import LIMEN_BIN
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(config(1, [{"host": ["*"], "respond": {"status": 200}}]))
    try:
        r = subprocess.run([LIMEN_BIN, "check", "-c", f.name],
                           capture_output=True, text=True, timeout=30)
        return "loader is not built yet" in r.stderr
    finally:
        os.unlink(f.name)


def needs_loader():
    import pytest
    return pytest.mark.skipif(_loader_missing(),
                              reason="the configuration loader is not merged")
