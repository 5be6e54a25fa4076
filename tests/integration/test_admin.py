# SPDX-License-Identifier: BSD-2-Clause
"""The admin listener (SPEC §6): /healthz, /metrics, /api/v1/status,
drain/enable with the bearer token, the status page in a real browser,
and global.watch_config reloading on a ConfigMap-style symlink swap."""
import datetime
import html.parser
import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
import yaml

from conftest import BACKUP_BIN, ROOT, SLOW, Process, free_port, wait_for
from proxyutil import get, pool
import promparse


def admin_config(tmp, port, admin_port, routes, pools=None, admin=None,
                 extra=None):
    g = {"workers": 2, "shutdown_timeout": "5s",
         "state_dir": str(tmp / "state")}
    doc = {
        "global": g,
        "admin": admin or {"listen": "127.0.0.1:%d" % admin_port},
        "listeners": [{"name": "web", "listen": ["127.0.0.1:%d" % port]}],
        "routes": routes,
    }
    if pools:
        doc["pools"] = pools
    for k, v in (extra or {}).items():
        if k == "global":
            g.update(v)
        else:
            doc[k] = v
    return yaml.safe_dump(doc, sort_keys=False)


def call(port, path, method="GET", headers=None, body=None):
    """One request to the admin listener: (status, headers dict, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * SLOW)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def status(port):
    s, _, body = call(port, "/api/v1/status")
    assert s == 200
    return json.loads(body)


def scrape(port):
    s, h, body = call(port, "/metrics")
    assert s == 200
    assert h["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = body.decode()
    fams = promparse.parse(text)
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, "promtool: " + p.stdout + p.stderr
    return fams


def test_healthz_and_unknown_paths(run_limen, tmp_path):
    port, aport = free_port(), free_port()
    run_limen(admin_config(tmp_path, port, aport,
                           [{"host": ["*"], "respond": {"status": 200}}]),
              wait_ports=[port, aport])
    s, h, body = call(aport, "/healthz")
    assert (s, body) == (200, b"ok\n")
    assert h["cache-control"] == "no-store"
    assert call(aport, "/healthz", method="HEAD")[0] == 200
    assert call(aport, "/nope")[0] == 404
    s, h, _ = call(aport, "/metrics", method="POST", body=b"")
    assert s == 405 and h["allow"] == "GET, HEAD"
    assert call(aport, "/healthz", method="DELETE")[0] in (405, 501)


def test_metrics_parse_strictly_and_count_requests(run_limen, backend,
                                                   tmp_path):
    b = backend(name="api")
    port, aport = free_port(), free_port()
    routes = [{"host": ["app.example.com"], "path": "/api", "pool": "api",
               "strip_prefix": True},
              {"host": ["*"], "respond": {"status": 404}}]
    run_limen(admin_config(tmp_path, port, aport, routes,
                           {"api": pool(b.address)}),
              wait_ports=[port, aport])
    before = scrape(aport)
    assert before["limen_build_info"].samples[0].labels["version"]
    assert before["limen_upstream_server_up"].get(
        pool="api", server=b.address) == 1
    assert before["limen_pool_usable_servers"].get(pool="api") == 1
    # a route with no traffic yet still has its (empty) histogram
    assert before["limen_http_request_duration_seconds"].find(
        "_count", route="app.example.com/api")[0].value == 0

    for _ in range(7):
        assert get(port, "/api/x", "app.example.com").status == 200
    assert get(port, "/api/status/503", "app.example.com").status == 503
    assert get(port, "/other", "elsewhere.org").status == 404
    # a worker counts an exchange when it ends, just after the client has
    # the last byte: a scrape may run in between
    def counted():
        m = scrape(aport)
        try:
            m["limen_http_requests_total"].get(route="*/", pool="",
                                               code="4xx")
        except KeyError:
            return None
        n = m["limen_http_request_duration_seconds"].find(
            "_count", route="app.example.com/api")[0].value
        return m if n == 8 else None
    after = wait_for(counted, what="the 404 counted")

    req = after["limen_http_requests_total"]
    assert req.get(route="app.example.com/api", pool="api", code="2xx") == 7
    assert req.get(route="app.example.com/api", pool="api", code="5xx") == 1
    assert req.get(route="*/", pool="", code="4xx") == 1
    dur = after["limen_http_request_duration_seconds"]
    assert dur.find("_count", route="app.example.com/api")[0].value == 8
    assert 0 < dur.find("_sum", route="app.example.com/api")[0].value < 8
    assert after["limen_upstream_server_requests_total"].get(
        pool="api", server=b.address) == 8
    assert after["limen_connections_accepted_total"].get(listener="web") >= 9
    assert after["limen_config_generation"].samples[0].value == 1
    assert after["limen_config_reloads_total"].get(result="success") == 0

    # an open connection shows in the gauge until it closes
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/api/keep", headers={"Host": "app.example.com"})
    c.getresponse().read()
    # (the earlier connections may still be closing)
    wait_for(lambda: scrape(aport)["limen_connections_open"].get(
        listener="web") == 1, what="one open connection")
    c.close()
    wait_for(lambda: scrape(aport)["limen_connections_open"].get(
        listener="web") == 0, what="connection gauge back to 0")


def make_cert(tmp_path, name):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert(name, "www." + name)
    cert, key = tmp_path / (name + ".crt"), tmp_path / (name + ".key")
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    from cryptography import x509
    not_after = x509.load_pem_x509_certificate(cert.read_bytes()).not_valid_after
    return cert, key, not_after.replace(tzinfo=datetime.timezone.utc)


def test_status_api_reports_pools_listeners_certificates(run_limen, backend,
                                                         tmp_path):
    a, b = backend(name="a"), backend(name="b")
    port, tport, aport = free_port(), free_port(), free_port()
    cert, key, not_after = make_cert(tmp_path, "shop.example")
    routes = [{"host": ["*"], "pool": "web"}]
    cfg = yaml.safe_load(admin_config(tmp_path, port, aport, routes,
                                      {"web": pool(a.address, b.address)}))
    cfg["listeners"].append({"name": "websecure",
                             "listen": ["127.0.0.1:%d" % tport],
                             "tls": {"certificates": [
                                 {"cert": str(cert), "key": str(key)}]}})
    lim = run_limen(yaml.safe_dump(cfg), wait_ports=[port, aport])
    for _ in range(4):
        assert get(port, "/").status == 200
    st = status(aport)
    assert st["config"]["version"] == 1
    assert st["config"]["file"] == lim.config_path
    assert abs(st["config"]["loaded_at"] - time.time()) < 60
    assert st["reloads"] == {"success": 0, "failure": 0, "last_at": None,
                             "last_ok": None, "last_error": None}
    (p,) = st["pools"]
    assert p["name"] == "web" and p["usable"] == 2
    servers = {s["name"]: s for s in p["servers"]}
    assert set(servers) == {a.address, b.address}
    for s in servers.values():
        assert s["health"] == "up" and not s["drained"]
        assert s["active"] == 0 and s["weight"] == 1
    assert sum(s["requests"] for s in servers.values()) == 4
    ls = {l["name"]: l for l in st["listeners"]}
    assert ls["web"]["connections_accepted"] >= 4
    assert ls["websecure"]["tls"] is True
    certs = {c["name"]: c for c in st["certificates"]}
    assert set(certs) == {"shop.example", "www.shop.example"}
    c = certs["shop.example"]
    assert c["source"] == "static"
    assert c["not_after"] == int(not_after.timestamp())
    assert c["days_left"] == int((c["not_after"] - st["now"]) // 86400)
    fams = scrape(aport)
    assert fams["limen_certificate_expiry_timestamp_seconds"].get(
        name="shop.example", source="static") == c["not_after"]
    # the route's rate over the last minute becomes visible
    wait_for(lambda: status(aport)["routes"][0]["rate"] > 0,
             what="a request rate")


def test_drain_takes_a_server_out_and_enable_brings_it_back(run_limen, backend,
                                                            tmp_path):
    a, b = backend(name="a"), backend(name="b")
    port, aport = free_port(), free_port()
    run_limen(admin_config(tmp_path, port, aport, [{"host": ["*"],
                                                    "pool": "web"}],
                           {"web": pool(a.address, b.address)}),
              wait_ports=[port, aport])

    def served(n=12):
        return [get(port, "/").json()["server"] for _ in range(n)]

    assert set(served()) == {"a", "b"}
    s, _, body = call(aport, "/api/v1/pools/web/servers/%s/drain" % a.address,
                      method="POST")
    assert s == 200, body
    doc = json.loads(body)
    assert doc["drained"] is True
    assert {x["name"]: x["drained"] for x in doc["servers"]} == {
        a.address: True, b.address: False}
    assert set(served()) == {"b"}
    st = status(aport)
    health = {x["name"]: x["health"] for x in st["pools"][0]["servers"]}
    assert health == {a.address: "drained", b.address: "up"}
    assert scrape(aport)["limen_upstream_server_drained"].get(
        pool="web", server=a.address) == 1

    s, _, _ = call(aport, "/api/v1/pools/web/servers/%s/enable" % a.address,
                   method="POST")
    assert s == 200
    assert set(served()) == {"a", "b"}

    assert call(aport, "/api/v1/pools/nope/servers/%s/drain" % a.address,
                method="POST")[0] == 404
    assert call(aport, "/api/v1/pools/web/servers/10.9.9.9:1/drain",
                method="POST")[0] == 404
    assert call(aport, "/api/v1/pools/web/servers/%s/pause" % a.address,
                method="POST")[0] == 404
    s, h, _ = call(aport, "/api/v1/pools/web/servers/%s/drain" % a.address)
    assert s == 405 and h["allow"] == "POST"
    # percent-encoded address
    s, _, _ = call(aport, "/api/v1/pools/web/servers/%s/drain" %
                   a.address.replace(":", "%3A"), method="POST")
    assert s == 200
    assert set(served()) == {"b"}


def test_post_needs_the_bearer_token(run_limen, backend, tmp_path):
    a = backend(name="a")
    port, aport = free_port(), free_port()
    tok = tmp_path / "admin.token"
    tok.write_text("s3cret-Token-123\n")
    os.chmod(tok, 0o600)
    run_limen(admin_config(tmp_path, port, aport,
                           [{"host": ["*"], "pool": "web"}],
                           {"web": pool(a.address)},
                           admin={"listen": "127.0.0.1:%d" % aport,
                                  "token_file": str(tok)}),
              wait_ports=[port, aport])
    path = "/api/v1/pools/web/servers/%s/drain" % a.address
    s, h, _ = call(aport, path, method="POST")
    assert s == 401 and h["www-authenticate"].startswith("Bearer")
    assert call(aport, path, method="POST",
                headers={"Authorization": "Bearer wrong"})[0] == 401
    assert call(aport, path, method="POST",
                headers={"Authorization": "Bearer s3cret-Token-12"})[0] == 401
    assert call(aport, path, method="POST",
                headers={"Authorization": "Basic czNjcmV0"})[0] == 401
    # a browser form posted from another site is refused even with it
    assert call(aport, path, method="POST", headers={
        "Authorization": "Bearer s3cret-Token-123",
        "Origin": "https://evil.example"})[0] == 403
    assert not status(aport)["pools"][0]["servers"][0]["drained"]
    s, _, _ = call(aport, path, method="POST",
                   headers={"Authorization": "bearer s3cret-Token-123"})
    assert s == 200
    assert status(aport)["pools"][0]["servers"][0]["drained"]
    # reading needs no token
    assert call(aport, "/metrics")[0] == 200


def test_healthz_fails_while_shutting_down(run_limen, backend, tmp_path):
    b = backend(name="slow")
    port, aport = free_port(), free_port()
    lim = run_limen(admin_config(tmp_path, port, aport,
                                 [{"host": ["*"], "pool": "p"}],
                                 {"p": pool(b.address)}),
                    wait_ports=[port, aport])
    done = []
    t = threading.Thread(target=lambda: done.append(
        get(port, "/slow/3000").status))
    t.start()
    wait_for(lambda: status(aport)["pools"][0]["servers"][0]["active"] == 1,
             what="the slow request in flight")
    lim.send_signal(signal.SIGTERM)
    wait_for(lambda: call(aport, "/healthz")[0] == 503, what="503 /healthz")
    assert call(aport, "/healthz")[2] == b"stopping\n"
    t.join(10 * SLOW)
    assert done == [200]
    assert lim.proc.wait(10 * SLOW) == 0


def test_admin_address_in_use_is_a_startup_error(run_limen, tmp_path):
    import socket
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        lim = run_limen(admin_config(tmp_path, port, busy,
                                     [{"host": ["*"],
                                       "respond": {"status": 200}}]),
                        expect_start=False)
        assert lim.proc.wait(10 * SLOW) == 1
        assert "admin.listen 127.0.0.1:%d" % busy in lim.log()


# ---- the status page, in Chromium ------------------------------------------

class _Dom(html.parser.HTMLParser):
    """Collects elements with data-* attributes and ids."""

    def __init__(self):
        super().__init__()
        self.rows = []
        self.ids = {}
        self._stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        el = {"tag": tag, "attrs": a, "text": ""}
        self._stack.append(el)
        if any(k.startswith("data-") for k in a):
            self.rows.append(el)
        if "id" in a:
            self.ids[a["id"]] = el

    def handle_endtag(self, tag):
        while self._stack:
            el = self._stack.pop()
            if self._stack:
                self._stack[-1]["text"] += el["text"]
            if el["tag"] == tag:
                break

    def handle_data(self, data):
        if self._stack:
            self._stack[-1]["text"] += data

    def find(self, attr, value=None):
        return [r for r in self.rows if attr in r["attrs"] and
                (value is None or r["attrs"][attr] == value)]


def chromium(url, screenshot, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is needed (Debian package chromium, mk/deps.txt)"
    p = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--user-data-dir=" + str(tmp_path / "chromium"),
         "--window-size=1280,1500", "--hide-scrollbars",
         "--screenshot=" + screenshot, "--dump-dom", url],
        capture_output=True, text=True, timeout=90 * SLOW)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def write_backup(dest, job, end):
    """A complete backup in limen-backup's catalog layout (manifest last)."""
    bid = end.strftime("%Y%m%dT%H%M%SZ")
    d = dest / job / bid
    d.mkdir(parents=True)
    (d / "dump").write_bytes(b"x")
    start = end - datetime.timedelta(seconds=42)
    m = {"format": 1, "id": bid, "job": job, "kind": "logical",
         "database": job, "server_version": "15.0",
         "server_version_num": 150000,
         "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
         "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "size": 1,
         "compression": "none", "encryption": "none",
         "files": [{"name": "dump", "size": 1, "sha256":
                    "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}],
         "tables": {"public.t": 1}}
    (d / "manifest.json").write_text(json.dumps(m))


def test_status_page_in_chromium(run_limen, backend, tmp_path):
    a, b = backend(name="a"), backend(name="b")
    port, aport, bport = free_port(), free_port(), free_port()
    cert, key, not_after = make_cert(tmp_path, "shop.example")
    dest = tmp_path / "backups"
    end = (datetime.datetime.now(datetime.timezone.utc) -
           datetime.timedelta(hours=3)).replace(microsecond=0)
    write_backup(dest, "app", end)
    jobs = [{"name": "app", "conninfo": "host=/nonexistent dbname=app",
             "schedule": "0 3 1 1 *", "destination": str(dest)},
            {"name": "billing", "conninfo": "host=/nonexistent dbname=b",
             "schedule": "0 3 1 1 *", "destination": str(dest)}]
    cfg = yaml.safe_load(admin_config(
        tmp_path, port, aport,
        [{"host": ["shop.example"], "path": "/api", "pool": "api"},
         {"host": ["*"], "respond": {"status": 404}}],
        {"api": pool(a.address, b.address)},
        extra={"backup": {"listen": "127.0.0.1:%d" % bport, "jobs": jobs}}))
    cfg["listeners"].append({"name": "websecure",
                             "listen": ["127.0.0.1:%d" % free_port()],
                             "tls": {"certificates": [
                                 {"cert": str(cert), "key": str(key)}]}})
    text = yaml.safe_dump(cfg)
    lim = run_limen(text, wait_ports=[port, aport])
    # before the companion runs, the page says it is unreachable
    wait_for(lambda: status(aport)["backup"]["error"], what="backup error")
    assert status(aport)["backup"]["jobs"][0]["reported"] is False
    companion = Process([BACKUP_BIN, "run", "-c", lim.config_path],
                        str(tmp_path / "backup.log"))
    try:
        for _ in range(20):
            get(port, "/api/x", "shop.example")
        call(aport, "/api/v1/pools/api/servers/%s/drain" % b.address,
             method="POST")
        # the companion's first run of "billing" fails (no database)
        wait_for(lambda: [j for j in status(aport)["backup"]["jobs"]
                          if j["name"] == "billing" and j["failures"]],
                 timeout=30, what="limen-backup's metrics in the status")
        wait_for(lambda: status(aport)["routes"][0]["rate"] > 0,
                 what="a request rate")
        shot = os.path.join(ROOT, "build", "admin-status-page.png")
        os.makedirs(os.path.dirname(shot), exist_ok=True)
        dom_text = chromium("http://127.0.0.1:%d/" % aport, shot, tmp_path)
    finally:
        companion.stop()
    assert os.path.getsize(shot) > 10000

    dom = _Dom()
    dom.feed(dom_text)
    assert "limen status" in dom_text
    servers = {r["attrs"]["data-server"]: r for r in dom.find("data-server")}
    assert servers[a.address]["attrs"]["data-health"] == "up"
    assert servers[b.address]["attrs"]["data-health"] == "drained"
    assert "drained" in servers[b.address]["text"]
    rate_cells = [r for r in dom.find("data-rate")
                  if float(r["attrs"]["data-rate"]) > 0]
    assert rate_cells, "a server shows a request rate"
    assert dom.find("data-pool", "api")
    assert dom.find("data-route", "shop.example/api")
    certs = {r["attrs"]["data-cert"]: r for r in dom.find("data-cert")}
    assert "shop.example" in certs
    days = [r for r in dom.find("data-days")]
    expected = int((not_after.timestamp() - time.time()) // 86400)
    assert any(abs(int(d["attrs"]["data-days"]) - expected) <= 1
               for d in days)
    jobs = {r["attrs"]["data-job"]: r["attrs"] for r in dom.find("data-job")}
    assert jobs["app"]["data-state"] == "ok"
    assert int(jobs["app"]["data-last-success"]) == int(end.timestamp())
    assert jobs["billing"]["data-state"] == "failed"
    assert "3h" in [r for r in dom.find("data-job", "app")][0]["text"]
    assert "1 / 2" in dom.ids["tile-servers"]["text"]
    assert "1 / 2" in dom.ids["tile-backups"]["text"]
    assert dom.ids["config-version"]["text"] == "1"


# ---- watch_config -------------------------------------------------------------

def configmap_swap(d, name, text, gen):
    """What the kubelet does: a new timestamped directory, a new ..data
    symlink renamed over the old one, the old directory removed."""
    new = d / ("..2026_%02d" % gen)
    new.mkdir()
    (new / name).write_text(text)
    old = os.readlink(d / "..data") if (d / "..data").is_symlink() else None
    os.symlink(new.name, d / "..data_tmp")
    os.replace(d / "..data_tmp", d / "..data")
    if old:
        shutil.rmtree(d / old)
    if not (d / name).is_symlink():
        os.symlink(os.path.join("..data", name), d / name)


def test_watch_config_reloads_after_a_configmap_swap(tmp_path):
    from conftest import Limen
    port, aport = free_port(), free_port()
    d = tmp_path / "configmap"
    d.mkdir()

    def cfg(body):
        return admin_config(tmp_path, port, aport,
                            [{"host": ["*"], "respond": {"status": 200,
                                                         "body": body}}],
                            extra={"global": {"watch_config": True}})

    configmap_swap(d, "limen.yaml", cfg("one\n"), 1)
    lim = Limen(str(d / "limen.yaml"), str(tmp_path / "limen.log"),
                cwd=str(tmp_path))
    try:
        wait_for(lambda: call_ok(aport), what="admin listener")
        lim.wait_log(r"watch_config: watching")
        assert get(port, "/").body == b"one\n"

        configmap_swap(d, "limen.yaml", cfg("two\n"), 2)
        wait_for(lambda: get(port, "/").body == b"two\n",
                 what="the new configuration")
        st = status(aport)
        assert st["config"]["version"] == 2
        assert st["reloads"]["success"] == 1

        # a broken file is rejected and reported; the old one serves
        configmap_swap(d, "limen.yaml", "routes: [ {\n", 3)
        wait_for(lambda: status(aport)["reloads"]["failure"] == 1,
                 what="the rejected reload")
        st = status(aport)
        assert st["reloads"]["last_ok"] is False
        assert "limen.yaml" in st["reloads"]["last_error"]
        assert get(port, "/").body == b"two\n"
        fams = scrape(aport)
        assert fams["limen_config_reloads_total"].get(result="failure") == 1
        assert fams["limen_config_last_reload_success"].samples[0].value == 0

        # fixed by the next update
        configmap_swap(d, "limen.yaml", cfg("three\n"), 4)
        wait_for(lambda: get(port, "/").body == b"three\n",
                 what="the fixed configuration")
        # touching without a change does not reload (nothing to wait
        # for: give the 300 ms debounce time to pass, then look)
        n = status(aport)["reloads"]["success"]
        os.utime(d / "..data" / "limen.yaml")
        time.sleep(1.0 * SLOW)
        assert status(aport)["reloads"]["success"] == n
    finally:
        rc = lim.stop()
        assert lim.sanitizer_report() is None, lim.log()
    assert rc == 0, lim.log()


def test_watch_config_in_place_edit(run_limen, tmp_path):
    port, aport = free_port(), free_port()

    def cfg(body):
        return admin_config(tmp_path, port, aport,
                            [{"host": ["*"], "respond": {"status": 200,
                                                         "body": body}}],
                            extra={"global": {"watch_config": True}})

    lim = run_limen(cfg("one\n"), wait_ports=[port, aport])
    lim.wait_log(r"watch_config: watching")
    with open(lim.config_path, "w") as f:
        f.write(cfg("two\n"))
    wait_for(lambda: get(port, "/").body == b"two\n", what="reload")
    # vim-style: write a new file and rename it over the old one
    tmp = lim.config_path + ".swp"
    with open(tmp, "w") as f:
        f.write(cfg("three\n"))
    os.replace(tmp, lim.config_path)
    wait_for(lambda: get(port, "/").body == b"three\n", what="reload")
    assert status(aport)["reloads"]["success"] == 2


def call_ok(port):
    try:
        return call(port, "/healthz")[0] == 200
    except OSError:
        return False


# ---- ACME certificates in the status and metrics ------------------------------

def acme_config(env, aport, backend_addr, directory):
    from peers.acme_env import NAMES
    doc = {
        "global": {"state_dir": str(env.state), "workers": 2},
        "admin": {"listen": "127.0.0.1:%d" % aport},
        "listeners": [
            {"name": "web", "listen": ["127.0.0.1:%d" % env.http_port]},
            {"name": "websecure", "listen": ["127.0.0.1:%d" % env.tls_port],
             "tls": {"acme": True}}],
        "routes": [{"host": list(NAMES), "pool": "app"}],
        "pools": {"app": pool(backend_addr)},
        "acme": {"directory": directory, "email": "ops@example.com",
                 "ca_roots": str(env.pebble.ca_pem),
                 "challenges": ["http-01"]},
    }
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def acme_env(tmp_path):
    from peers.acme_env import AcmeEnv
    env = AcmeEnv(tmp_path)
    yield env
    env.stop()


def test_acme_certificates_are_reported(acme_env, run_limen,
                                                     backend, tmp_path):
    from peers.acme_env import NAMES
    acme_env.start_pebble()
    b = backend()
    aport = free_port()
    run_limen(acme_config(acme_env, aport, b.address,
                          acme_env.pebble.directory),
              wait_ports=[acme_env.http_port, aport])

    def issued():
        certs = {c["name"]: c for c in status(aport)["certificates"]}
        return all(n in certs and certs[n]["not_after"] for n in NAMES) \
            and certs
    certs = wait_for(issued, timeout=30, what="ACME certificates in status")
    for n in NAMES:
        c = certs[n]
        assert c["source"] == "acme" and c["last_error"] is None
        leaf = acme_env.leaf(n)
        assert c["not_after"] == int(leaf.not_valid_after.replace(
            tzinfo=datetime.timezone.utc).timestamp())
        assert scrape(aport)["limen_certificate_expiry_timestamp_seconds"] \
            .get(name=n, source="acme") == c["not_after"]
        assert scrape(aport)["limen_acme_failures_total"].get(name=n) == 0


def test_acme_failures_are_counted_with_the_last_error(acme_env, run_limen,
                                                       backend):
    from peers.acme_env import NAMES
    acme_env.start_pebble()      # only for its CA file; the URL is dead
    b = backend()
    aport = free_port()
    dead = "https://127.0.0.1:%d/dir" % free_port()
    run_limen(acme_config(acme_env, aport, b.address, dead),
              wait_ports=[acme_env.http_port, aport])

    def failed():
        certs = {c["name"]: c for c in status(aport)["certificates"]}
        return all(n in certs and certs[n]["acme_failures"] >= 1
                   for n in NAMES) and certs
    certs = wait_for(failed, timeout=30, what="ACME failures in status")
    for n in NAMES:
        assert certs[n]["source"] == "acme"
        assert certs[n]["not_after"] is None      # only a stand-in
        assert certs[n]["last_error"]
        assert scrape(aport)["limen_acme_failures_total"].get(name=n) >= 1
    page = call(aport, "/")[2].decode()
    assert "no certificate" in page
    assert html_escape(certs[NAMES[0]]["last_error"]) in page


def html_escape(s):
    import html
    return html.escape(s, quote=True).replace("&#x27;", "&#39;")


def test_tls_and_http2_connections_and_requests_are_counted(run_limen,
                                                            tmp_path):
    from tlsutil import CA, H2Client, tls_connect
    ca = CA(tmp_path / "pki")
    crt, key = ca.issue("app", ["app.example.com"])
    port, aport = free_port(), free_port()
    cfg = yaml.safe_load(admin_config(
        tmp_path, port, aport,
        [{"host": ["app.example.com"], "respond": {"status": 200,
                                                   "body": "hi\n"}}]))
    cfg["listeners"] = [{"name": "websecure",
                         "listen": ["127.0.0.1:%d" % port],
                         "tls": {"certificates": [{"cert": crt,
                                                   "key": key}]}}]
    run_limen(yaml.safe_dump(cfg), wait_ports=[port, aport])

    def open_conns():
        return scrape(aport)["limen_connections_open"].get(
            listener="websecure")

    h2c = H2Client(port, ca)
    h1 = tls_connect(port, ca, alpn=["http/1.1"])
    try:
        sid = h2c.request("/")
        r = h2c.wait(sid)
        assert dict(r["headers"])[":status"] == "200"
        h1.sendall(b"GET / HTTP/1.1\r\nHost: app.example.com\r\n\r\n")
        assert h1.recv(4096).startswith(b"HTTP/1.1 200")
        wait_for(lambda: open_conns() == 2, what="two open connections")
    finally:
        h2c.close()
        h1.close()
    wait_for(lambda: open_conns() == 0, what="both closed")
    fams = scrape(aport)
    assert fams["limen_http_requests_total"].get(
        route="app.example.com/", pool="", code="2xx") == 2
    assert fams["limen_connections_accepted_total"].get(
        listener="websecure") == 2
