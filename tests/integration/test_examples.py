# SPDX-License-Identifier: BSD-2-Clause
"""The deployment examples of conf/examples/ (issue 10), end to end.

Every example must pass `limen check` as written, and then work: each one
is started by the real bin/limen with real local backends (echo backends,
peers/echo_backend.py) standing in for its frontends, APIs and Grafana,
and its backup jobs are run by bin/limen-backup against a real PostgreSQL
(the module-scoped cluster of test_backup.py, shared by this module).

What a test may change in an example is kept to `localize()`, the one
place that rewrites it for this machine; everything else (routes, pools,
balancing, retries, checks, allow lists, rate limits, TLS settings, backup
kinds, compression, encryption, retention) is used as written.  HTTPS is
real: example 1 orders its certificates from a local pebble (ACME), the
others get a test CA's certificate in place of ACME.
"""
import http.client
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import ssl
import threading
import zlib
import time
import urllib.error
import urllib.request
import types

import pytest
import yaml

from conftest import (BACKUP_BIN, LIMEN_BIN, ROOT, SAN_PATTERNS, SLOW,
                      free_port, run_cmd, wait_for)
import promparse
from conftest import Process
from proxyutil import read_response
from peers.pebble import Pebble
from test_acme_run import issued_by_pebble
from test_admin import configmap_swap
from test_pools import spawn_backend
from tlsutil import CA, H2Client
# the PostgreSQL fixtures of test_backup.py (one cluster for this module)
from test_backup import _pg_ids, make_app_db, pg, work  # noqa: F401

EXAMPLES = os.path.join(ROOT, "conf", "examples")
NAMES = ["k3s-spring-angular", "vps-node-vite", "react-fastapi-grafana",
         "express-staging-production", "two-apps"]

# Absolute paths of the examples that localize() moves under a scratch
# root: /etc/limen/x -> ROOT/etc/limen/x.  Nothing else is a path there.
PATH_PREFIXES = ("/etc/limen", "/srv", "/var/lib/limen", "/var/backups/limen",
                 "/var/log/limen", "/run/limen", "/var/tmp")

# loopback addresses of the test clients: ALLOWED and FRESH are added to the
# allow lists, OUTSIDE is in none; FRESH only sends the rate-limit bursts,
# so its bucket is full when they start
ALLOWED, OUTSIDE, FRESH = "127.0.0.1/32", "127.0.0.2", "127.0.0.3"

# health-check interval in the tests (the examples say 2s or 5s: a stopped
# replica must leave within a second here, not within 15)
TEST_HEALTH_INTERVAL = "250ms"


def example_path(name):
    return os.path.join(EXAMPLES, name + ".yaml")


def example_doc(name):
    with open(example_path(name)) as f:
        return yaml.safe_load(f)


# ---- the files an example names -------------------------------------------


def _under(root, path):
    return root + path if path.startswith(PATH_PREFIXES) else path


def _walk(node, keys=()):
    """Yield (key path, value) for every scalar of a YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, keys + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, keys + (i,))
    else:
        yield keys, node


def _write_secret(path, text, owner=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    if owner:
        os.chown(path, *owner)


def provide_files(doc, root, owner=None):
    """Create, under root, every file and directory the example names:
    secrets (*_file keys, encryption keys) at mode 0600 and static roots
    with a small site.  Returns {original path: local path}."""
    made = {}
    for keys, v in _walk(doc):
        if not isinstance(v, str) or not v.startswith(PATH_PREFIXES):
            continue
        local = _under(root, v)
        last = keys[-1]
        if last == "key_file":           # backup encryption: 32 bytes, hex
            _write_secret(local, secrets.token_hex(32), owner)
        elif isinstance(last, str) and last.endswith("_file"):
            _write_secret(local, secrets.token_urlsafe(24), owner)
        elif last == "root" and "static" in keys:
            make_site(local)
        else:
            continue
        made[v] = local
    return made


def make_site(root):
    """A Vite-like build: index.html and a fingerprinted bundle."""
    os.makedirs(os.path.join(root, "assets"), exist_ok=True)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<!doctype html><title>app</title>"
                "<script type=module src=/assets/app-3f9a1c.js></script>\n")
    with open(os.path.join(root, "assets", "app-3f9a1c.js"), "w") as f:
        f.write("console.log('the app');\n" * 200)


def env_for(text):
    """Values for the ${NAME} references of an example (none needs a real
    one: they only have to be set)."""
    names = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
    return dict((n, "example-value") for n in names)


# ---- every example passes `limen check` -----------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_example_passes_check(name, tmp_path):
    """`limen check` on the example as written; only its absolute paths are
    moved under a scratch root (same lines and columns), where the secrets
    it names exist with mode 0600 and its static roots exist."""
    with open(example_path(name)) as f:
        text = f.read()
    root = str(tmp_path / "root")
    provide_files(yaml.safe_load(text), root)
    rx = re.compile(r"(?<![\w./-])(%s)(?=[/\"'\s,}\]]|$)" % "|".join(
        re.escape(p) for p in PATH_PREFIXES), re.M)
    local = rx.sub(lambda m: root + m.group(1), text)
    path = tmp_path / (name + ".yaml")
    path.write_text(local)
    r = run_cmd([LIMEN_BIN, "check", "-c", str(path)], env=env_for(text))
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "%s: ok\n" % path)


def test_example_check_catches_a_readable_secret(tmp_path):
    """The examples' secrets are really checked: the same file with a
    world-readable admin token fails."""
    name = "two-apps"
    root = str(tmp_path / "root")
    made = provide_files(example_doc(name), root)
    os.chmod(made["/etc/limen/admin.token"], 0o644)
    text = open(example_path(name)).read().replace("/etc/limen",
                                                   root + "/etc/limen")
    path = tmp_path / "x.yaml"
    path.write_text(text)
    r = run_cmd([LIMEN_BIN, "check", "-c", str(path)])
    assert r.returncode == 1
    assert "admin.token_file" in r.stderr and "chmod 600" in r.stderr


def test_readme_names_every_example():
    readme = open(os.path.join(EXAMPLES, "README.md")).read()
    for name in NAMES:
        assert name + ".yaml" in readme
    on_disk = sorted(f[:-5] for f in os.listdir(EXAMPLES)
                     if f.endswith(".yaml") and not f.startswith("prometheus"))
    assert on_disk == sorted(NAMES)


def test_examples_pass_yamllint():
    """Same rules as the YAML the packages ship (test_packaging.py):
    duplicate keys, indentation, line length."""
    from test_packaging import YAMLLINT_CONF
    files = sorted(os.path.join(EXAMPLES, f) for f in os.listdir(EXAMPLES)
                   if f.endswith(".yaml"))
    r = run_cmd(["yamllint", "-f", "parsable", "-d", YAMLLINT_CONF, *files])
    assert r.returncode == 0, r.stdout + r.stderr


def test_prometheus_rules_pass_promtool():
    """The example alert rules load, and their unit tests (a pool at 10 %
    5xx pages after 5 minutes, one at 0.5 % does not, a late backup...)
    pass in Prometheus' own rule engine."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    r = run_cmd([promtool, "check", "rules", "prometheus-rules.yaml"],
                cwd=EXAMPLES)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cmd([promtool, "test", "rules", "prometheus-rules.test.yaml"],
                cwd=EXAMPLES)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- localize: the example on this machine --------------------------------


def route_hosts(doc):
    """The plain DNS names of the example's routes: what ACME (or the test
    CA) makes certificates for."""
    names = []
    for r in doc.get("routes", []):
        hs = r.get("host", "*")
        for h in (hs if isinstance(hs, list) else [hs]):
            if "*" not in h and not re.match(r"^[\d.]+$|:", h) and \
                    h not in names:
                names.append(h)
    return names


def localize(doc, root, replicas=None, pg_cluster=None, ports=None,
             tls=None):
    """The example `doc` made runnable here.  The only changes:

    - listen addresses become free ports on 127.0.0.1 (`ports` by
      listener name, chosen here unless given), admin and backup.listen
      too;
    - absolute paths move under `root` (see PATH_PREFIXES);
    - the certificate authority: with tls=("acme", DIRECTORY, CA_ROOTS)
      the `acme:` section points at a local pebble instead of Let's
      Encrypt (everything else in it and `tls: { acme: true }` kept);
      with tls=("static", CERT, KEY) the TLS listeners get that test
      certificate instead of ACME and `acme:` is dropped; with tls=None
      `tls:` and `acme:` are removed and the HTTPS listener serves plain
      HTTP (for the backup tests, which do not start limen);
    - each pool's servers are the local replicas given for it, and health
      checks run every TEST_HEALTH_INTERVAL (timeout likewise, when longer)
      instead of every few seconds; path, rise, fall and status are kept;
    - `allow` lists get 127.0.0.1/32 and 127.0.0.3/32 added: these
      loopback addresses stand for the allowed networks (.3 is the client
      with a fresh rate-limit bucket); 127.0.0.2 stays outside them;
    - backup jobs connect to the test cluster (host and port only: the
      database, user and options are the example's).
    """
    doc = json.loads(json.dumps(doc))    # a deep copy
    ports = dict(ports or {})

    def fix_paths(node):
        if isinstance(node, dict):
            return dict((k, fix_paths(v)) for k, v in node.items())
        if isinstance(node, list):
            return [fix_paths(v) for v in node]
        if isinstance(node, str):
            return _under(root, node)
        return node

    if tls is not None and tls[0] == "acme":
        doc["acme"]["directory"] = tls[1]
        doc["acme"]["ca_roots"] = tls[2]
    else:
        doc.pop("acme", None)
    for ls in doc["listeners"]:
        if "tls" in ls:
            if tls is None:
                del ls["tls"]
            elif tls[0] == "static":
                ls["tls"].pop("acme", None)
                ls["tls"]["certificates"] = [{"cert": tls[1],
                                              "key": tls[2]}]
        ports.setdefault(ls["name"], free_port())
        ls["listen"] = ["127.0.0.1:%d" % ports[ls["name"]]]
    if "admin" in doc:
        ports["admin"] = free_port()
        doc["admin"]["listen"] = "127.0.0.1:%d" % ports["admin"]
    for r in doc.get("routes", []):
        if "allow" in r:
            allow = r["allow"] if isinstance(r["allow"], list) else [r["allow"]]
            r["allow"] = allow + [ALLOWED, FRESH + "/32"]
    for name, p in doc.get("pools", {}).items():
        if replicas is not None:
            p["servers"] = [{"address": a} for a in replicas.get(name, [])] \
                or [{"address": "127.0.0.1:%d" % free_port()}]
        h = p.get("health")
        if h:
            h["interval"] = TEST_HEALTH_INTERVAL
            h["timeout"] = TEST_HEALTH_INTERVAL
    bk = doc.get("backup")
    if bk:
        if "listen" in bk:
            ports["backup"] = free_port()
            bk["listen"] = "127.0.0.1:%d" % ports["backup"]
        for job in bk.get("jobs", []):
            if pg_cluster is not None:
                job["conninfo"] = local_conninfo(job["conninfo"], pg_cluster)
    doc = fix_paths(doc)
    return doc, ports


def conninfo_fields(conninfo):
    return dict(kv.split("=", 1) for kv in conninfo.split())


def local_conninfo(conninfo, cluster):
    f = conninfo_fields(conninfo)
    f["host"] = "127.0.0.1"
    f["port"] = str(cluster.port)
    return " ".join("%s=%s" % kv for kv in f.items())


# ---- clients and replicas ---------------------------------------------------


class _Conn(http.client.HTTPConnection):
    """HTTP/1.1 to 127.0.0.1:port, over TLS with SNI `sni` when ctx is
    set (the certificate must be valid for sni under the test's CA)."""

    def __init__(self, port, source, ctx=None, sni=None):
        super().__init__("127.0.0.1", port, timeout=10 * SLOW,
                         source_address=(source, 0))
        self.ctx, self.sni = ctx, sni

    def connect(self):
        super().connect()
        if self.ctx is not None:
            self.sock = self.ctx.wrap_socket(self.sock,
                                             server_hostname=self.sni)


class Client:
    """A keep-alive HTTP/1.1 client to one limen port (one connection per
    host name, for SNI), optionally from another loopback address
    (127.0.0.2 is outside every allow list)."""

    def __init__(self, port, source="127.0.0.1", ctx=None):
        self.port = port
        self.source = source
        self.ctx = ctx
        self.conns = {}

    def request(self, host, path="/", method="GET", headers=None, body=None):
        h = {"Host": host}
        h.update(headers or {})
        for attempt in range(2):
            conn = self.conns.get(host)
            if conn is None:
                conn = self.conns[host] = _Conn(self.port, self.source,
                                                self.ctx, host)
            try:
                conn.request(method, path, body=body, headers=h)
                r = conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close(host)
                return r.status, dict((k.lower(), v)
                                      for k, v in r.getheaders()), data
            except (ConnectionError, http.client.RemoteDisconnected,
                    http.client.BadStatusLine):
                # limen closed an idle keep-alive connection
                self.close(host)
                if attempt == 1:
                    raise

    def echo(self, host, path="/", **kw):
        """A request that must reach a backend; returns what it saw."""
        st, hd, data = self.request(host, path, **kw)
        assert st == 200, (host, path, st, data)
        return json.loads(data)

    def close(self, host=None):
        for h in ([host] if host else list(self.conns)):
            c = self.conns.pop(h, None)
            if c is not None:
                c.close()


class Replicas:
    """Named echo backends standing in for the services of an example: in
    this process (`backend` fixture) or, for the ones a test stops, each in
    its own process that SIGKILL really stops (no connection survives)."""

    def __init__(self, backend):
        self.backend = backend
        self.by_pool = {}
        self.names = {}
        self.procs = {}
        self.threads = {}

    def add(self, pool, name, process=False):
        if process:
            p, port = spawn_backend(name)
            self.procs[name] = p
            addr = "127.0.0.1:%d" % port
        else:
            b = self.backend(name=name)
            self.threads[name] = b
            addr = b.address
        self.by_pool.setdefault(pool, []).append(addr)
        self.names[name] = addr
        return addr

    def addresses(self):
        return self.by_pool

    def kill(self, name):
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def close(self):
        for p in self.procs.values():
            p.kill()
            p.wait()
        self.procs = {}


@pytest.fixture
def replicas(backend):
    r = Replicas(backend)
    yield r
    r.close()


class Deployment:
    """A localized example, started by bin/limen unless start=False.

    tls: "static" — HTTPS with a certificate of a test CA for every route
    host (tlsutil.CA) in place of ACME; "acme" — HTTPS with certificates
    that limen orders itself from a local pebble, as the example says, just
    not from Let's Encrypt; None — no TLS (backup tests)."""

    def __init__(self, name, root, run_limen, replicas, pg_cluster=None,
                 start=True, owner=None, tls=None, configmap=None):
        self.name = name
        self.root = root
        src = example_doc(name)
        provide_files(src, root, owner)
        self.hosts = route_hosts(src)
        self.pebble = None
        self.ca_file = None
        ports = dict((ls["name"], free_port()) for ls in src["listeners"])
        spec = None
        if tls == "static":
            ca = CA(os.path.join(root, "test-ca"))
            cert, key = ca.issue("site", self.hosts)
            self.ca_file = ca.cert
            spec = ("static", cert, key)
        elif tls == "acme":
            # pebble validates HTTP-01 on the `web` listener and
            # TLS-ALPN-01 on `websecure`; its DNS resolves every name to
            # 127.0.0.1
            self.pebble = Pebble(os.path.join(root, "pebble"), ports["web"],
                                 tls_port=ports["websecure"]).start()
            spec = ("acme", self.pebble.directory, self.pebble.ca_pem)
        self.doc, self.ports = localize(src, root, replicas.addresses()
                                        if replicas else None, pg_cluster,
                                        ports, spec)
        os.makedirs(root + "/var/lib/limen", exist_ok=True)
        os.makedirs(root + "/var/log/limen", exist_ok=True)
        os.makedirs(root + "/run/limen", exist_ok=True)
        self.text = yaml.safe_dump(self.doc, sort_keys=False)
        self.config = os.path.join(root, "limen.yaml")
        with open(self.config, "w") as f:
            f.write(self.text)
        os.chmod(self.config, 0o644)
        for job in self.doc.get("backup", {}).get("jobs", []):
            for k in ("destination", "scratch_dir"):
                if k in job:
                    os.makedirs(job[k], exist_ok=True)
        self.lim = None
        self.configmap = configmap
        if start and configmap:
            # the file as a Kubernetes ConfigMap volume holds it: a symlink
            # into a ..data directory that the kubelet swaps on updates
            self.generation = 1
            os.makedirs(configmap)
            configmap_swap(pathlib.Path(configmap), "limen.yaml", self.text, 1)
        if start:
            self.lim = run_limen(self.text, name=os.path.relpath(
                os.path.join(configmap, "limen.yaml"), os.path.dirname(root))
                if configmap else "limen.yaml", wait_ports=[
                self.ports[ls["name"]] for ls in self.doc["listeners"]])
        if start and tls == "acme":
            for n in self.hosts:
                wait_for(lambda: issued_by_pebble(self.ports["websecure"], n),
                         timeout=30, what="pebble certificate for %s:\n%s"
                         % (n, self.lim.log()))
            self.ca_file = self.pebble.roots_pem()
        self.proto = "https" if tls else "http"
        self.ctx = ssl.create_default_context(cafile=self.ca_file) \
            if tls else None

    def client(self, listener="websecure", source="127.0.0.1",
               verify=True):
        """verify=False: a client that accepts any certificate (a scanner
        asking for a name limen has no certificate for)."""
        ctx = self.ctx if listener == "websecure" else None
        if ctx is not None and not verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return Client(self.ports[listener], source, ctx)

    def raw(self, host, data):
        """Send raw bytes over TLS (SNI host) to websecure; one response."""
        raw = socket.create_connection(("127.0.0.1", self.ports["websecure"]),
                                       timeout=10 * SLOW)
        with self.ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(data)
            return read_response(s.makefile("rb"))

    def close(self):
        if self.pebble is not None:
            self.pebble.stop()

    def update_configmap(self, doc):
        """`kubectl apply` of the ConfigMap with this (localized) document:
        the kubelet's atomic swap of the mounted directory."""
        self.generation += 1
        self.doc = doc
        self.text = yaml.safe_dump(doc, sort_keys=False)
        configmap_swap(pathlib.Path(self.configmap), "limen.yaml", self.text,
                       self.generation)


@pytest.fixture
def deploy(run_limen, replicas, tmp_path):
    """deploy(name, tls="static") -> a started Deployment of the example
    with the replicas added so far."""
    made = []

    def make(name, tls="static", configmap=False):
        d = Deployment(name, str(tmp_path / "root"), run_limen, replicas,
                       tls=tls, configmap=str(tmp_path / "configmap")
                       if configmap else None)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def check_h2(dep, host, path, server_prefix):
    """The same route over HTTP/2 (ALPN h2 on the TLS listener)."""
    c = H2Client(dep.ports["websecure"], types.SimpleNamespace(
        cert=dep.ca_file), sni=host)
    try:
        r = c.wait(c.request(path, authority=host))
    finally:
        c.close()
    assert r["headers"][":status"] == "200", r
    seen = json.loads(r["body"])
    assert seen["server"].startswith(server_prefix), seen["server"]
    check_forwarding(seen, host)
    return seen


def forwarded(doc):
    """The request headers a backend saw, as a dict (lower-case names)."""
    return dict((k.lower(), v) for k, v in doc["headers"])


def check_forwarding(seen, host, client_ip="127.0.0.1", proto="https"):
    h = forwarded(seen)
    assert h["x-forwarded-for"] == client_ip
    assert h["x-real-ip"] == client_ip
    assert h["x-forwarded-host"] == host
    assert h["x-forwarded-proto"] == proto
    assert re.match(r"^[\w.-]{8,}$", h["x-request-id"]), h["x-request-id"]
    assert h["host"] == host


def servers_seen(client, host, path, n=12):
    return sorted(set(client.echo(host, path)["server"] for _ in range(n)))


def check_redirect_listener(dep, host):
    """The port-80 listener: 308 to https:// with path and query, except
    ACME HTTP-01 paths."""
    c = dep.client("web")
    st, hd, _ = c.request(host, "/some/page?x=1&y=2")
    assert st == 308 and hd["location"] == \
        "https://%s/some/page?x=1&y=2" % host
    st, hd, _ = c.request(host, "/.well-known/acme-challenge/token123")
    assert st != 308
    c.close()


def stop_one_replica_under_load(dep, replicas, host, path, pool, victim,
                                survivors, rate=None):
    """Steady GETs through limen while one replica of `pool` is killed:
    the active health check takes it out, and no request fails.  On a
    rate-limited route (`rate` per second) one client stays below the
    limit."""
    results, stop = [], threading.Event()
    pace = 1.0 / (0.6 * rate) if rate else 0
    n_threads, before, after = (1, 5, 10) if rate else (3, 30, 60)

    def loop():
        c = dep.client()
        while not stop.is_set():
            try:
                st, _, data = c.request(host, path)
                results.append(json.loads(data)["server"] if st == 200
                               else st)
            except Exception as e:       # a failed request
                results.append(repr(e))
            if pace:
                stop.wait(pace)
        c.close()

    threads = [threading.Thread(target=loop) for _ in range(n_threads)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: victim in results and len(results) >= before,
                 what="traffic on %s" % victim)
        addr = replicas.names[victim]
        replicas.kill(victim)
        dep.lim.wait_log(r"health: %s/%s: DOWN after" % (
            re.escape(pool), re.escape(addr)))
        n = len(results)
        wait_for(lambda: len(results) >= n + after,
                 what="%d more requests" % after)
    finally:
        stop.set()
        for t in threads:
            t.join()
    failed = [r for r in results if r not in survivors + [victim]]
    assert failed == [], failed[:10]
    after = results[n:]
    assert set(after) <= set(survivors), set(after)


def scrape(port):
    """GET /metrics on 127.0.0.1:port, parsed strictly (promparse)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10 * SLOW) as r:
        return promparse.parse(r.read().decode())


def rule_metrics(backup):
    """The metric names prometheus-rules.yaml uses: limen's own, or with
    backup=True the companion's."""
    with open(os.path.join(EXAMPLES, "prometheus-rules.yaml")) as f:
        rules = yaml.safe_load(f)
    names = set()
    for g in rules["groups"]:
        for r in g["rules"]:
            names |= set(re.findall(r"(?<![:\w])(limen_[a-z0-9_]+)", r["expr"]))
    return sorted(n for n in names if n.startswith("limen_backup_") == backup)


def admin_post(url, token):
    """POST to the admin API; returns the status."""
    req = urllib.request.Request(url, data=b"", method="POST")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _try_scrape(port):
    try:
        return scrape(port)
    except OSError:
        return None


def rate_limited(dep, host, path, n, source=FRESH):
    """n pipelined GETs on one connection, answered in order; returns the
    responses.  Pipelining makes the burst independent of how fast this
    machine is."""
    raw = socket.create_connection(("127.0.0.1", dep.ports["websecure"]),
                                   timeout=20 * SLOW,
                                   source_address=(source, 0))
    with dep.ctx.wrap_socket(raw, server_hostname=host) as s:
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()
        s.sendall(req * n)
        f = s.makefile("rb")
        return [read_response(f) for _ in range(n)]


def check_rate_limit(dep, host, path, burst):
    """A quick burst from FRESH: the first `burst` requests go through,
    then 429 with Retry-After; other clients are not affected."""
    rs = rate_limited(dep, host, path, burst * 3)
    statuses = [r.status for r in rs]
    assert set(statuses) == {200, 429}, statuses
    first = statuses.index(429)
    assert first >= burst, statuses
    limited = rs[first]
    assert int(limited.header("Retry-After")) >= 1
    assert b"request" in limited.body.lower()         # limen's own answer
    # the bucket is per client address
    assert dep.client().request(host, path)[0] == 200
    return rs


# ---- example 1: Spring Boot + Angular on k3s ------------------------------


def test_k3s_spring_angular_routes_and_replicas(deploy, replicas):
    replicas.add("api-prod", "api-prod-1")
    replicas.add("api-prod", "api-prod-2", process=True)
    replicas.add("web-prod", "web-prod-1")
    replicas.add("api-dev", "api-dev-1")
    replicas.add("web-dev", "web-dev-1")
    # HTTPS by ACME, as the example says: limen orders the four names from
    # a local pebble at start and serves them
    dep = deploy("k3s-spring-angular", tls="acme", configmap=True)
    assert dep.hosts == ["orders.example.com", "api.orders.example.com",
                         "dev.orders.example.com",
                         "dev-api.orders.example.com"]
    c = dep.client()

    for host, path, server in [
            ("orders.example.com", "/orders/42", "web-prod-1"),
            ("api.orders.example.com", "/api/orders?page=2", None),
            ("dev.orders.example.com", "/", "web-dev-1"),
            ("dev-api.orders.example.com", "/api/orders", "api-dev-1")]:
        seen = c.echo(host, path)
        if server:
            assert seen["server"] == server
        else:
            assert seen["server"].startswith("api-prod-")
        assert seen["path"] == path
        check_forwarding(seen, host)

    # both replicas of the production API (the headless Service's pods)
    assert servers_seen(c, "api.orders.example.com", "/api/x") == \
        ["api-prod-1", "api-prod-2"]

    # response headers per environment
    st, hd, _ = c.request("orders.example.com", "/")
    assert hd["x-frame-options"] == "DENY"
    assert hd["x-content-type-options"] == "nosniff"
    assert hd["strict-transport-security"] == "max-age=31536000"
    st, hd, _ = c.request("dev.orders.example.com", "/")
    assert hd["x-robots-tag"] == "noindex, nofollow"
    assert "strict-transport-security" not in hd
    check_h2(dep, "api.orders.example.com", "/api/orders", "api-prod-")

    # Actuator is never reachable from outside
    for host in ("api.orders.example.com", "dev-api.orders.example.com"):
        st, _, body = c.request(host, "/actuator/env")
        assert (st, body) == (404, b"not found\n")
    assert c.request("api.orders.example.com", "/actuatorx")[0] == 200

    # unknown names (scanners)
    st, _, body = dep.client(verify=False).request("www.example.org", "/")
    assert (st, body) == (404, b"no such site\n")
    # max_body on the API
    r = dep.raw("api.orders.example.com",
                b"POST /upload HTTP/1.1\r\nHost: api.orders.example.com"
                b"\r\nContent-Length: 10485761\r\n\r\n")
    assert r.status == 413

    check_redirect_listener(dep, "api.orders.example.com")

    # watch_config: an edit of the ConfigMap reaches the running pod
    # without a restart (here: dev becomes reachable for search engines)
    doc = json.loads(json.dumps(dep.doc))
    dev = [r for r in doc["routes"] if r.get("host") ==
           "dev.orders.example.com"][0]
    dev["headers"]["set"]["X-Robots-Tag"] = "all"
    dep.update_configmap(doc)
    wait_for(lambda: c.request("dev.orders.example.com", "/")[1].get(
        "x-robots-tag") == "all", what="the ConfigMap edit to apply")

    # a rollout kills a pod: limen notices, nobody sees an error
    stop_one_replica_under_load(dep, replicas, "api.orders.example.com",
                                "/api/orders", "api-prod", "api-prod-2",
                                ["api-prod-1"])
    c.close()


# ---- example 2: Node API + Vite SPA on a VPS ------------------------------


def test_vps_node_vite_spa_api_and_rate_limit(deploy, replicas):
    replicas.add("api", "api-3000")
    replicas.add("api", "api-3001", process=True)
    dep = deploy("vps-node-vite")
    c = dep.client()
    app = "app.example.com"

    # the SPA is served by limen itself
    st, hd, body = c.request(app, "/")
    assert st == 200 and body.startswith(b"<!doctype html>")
    assert hd["content-type"].startswith("text/html")
    assert hd["cache-control"] == "no-cache"
    assert hd["x-frame-options"] == "DENY"
    assert hd["strict-transport-security"] == "max-age=31536000"
    index = body
    # a client-side route is not a file: index.html (SPA fallback)
    st, hd, body = c.request(app, "/orders/42/edit")
    assert (st, body) == (200, index)
    # fingerprinted assets: cached for a year
    st, hd, body = c.request(app, "/assets/app-3f9a1c.js")
    assert st == 200 and body.startswith(b"console.log")
    bundle = body
    assert hd["content-type"].startswith("text/javascript")
    assert hd["cache-control"] == "public, max-age=31536000, immutable"
    # ... and a missing bundle is a 404, never index.html
    st, _, body = c.request(app, "/assets/app-deleted.js")
    assert st == 404 and b"<!doctype" not in body
    # revalidation
    st, hd2, _ = c.request(app, "/assets/app-3f9a1c.js",
                           headers={"If-None-Match": hd["etag"]})
    assert st == 304
    # compress: true — gzipped for a browser that asks, same bytes inside
    st, hd2, gz = c.request(app, "/assets/app-3f9a1c.js",
                            headers={"Accept-Encoding": "gzip, deflate"})
    assert st == 200 and hd2["content-encoding"] == "gzip"
    assert "accept-encoding" in hd2["vary"].lower()
    assert len(gz) < len(bundle) and zlib.decompress(gz, 31) == bundle
    assert hd2["cache-control"] == "public, max-age=31536000, immutable"

    # the API: both Node processes, the forwarding headers Express trusts
    api = "api.example.com"
    seen = c.echo(api, "/v1/me")
    check_forwarding(seen, api)
    assert servers_seen(c, api, "/v1/items") == ["api-3000", "api-3001"]
    check_h2(dep, api, "/v1/items", "api-30")
    # the API's JSON is compressed too (brotli, the browsers' favourite);
    # a big header makes the echoed document big enough to be worth it
    import brotli
    st, hd, br = c.request(api, "/v1/report", headers={
        "Accept-Encoding": "gzip, br", "X-Pad": "p" * 3000})
    assert st == 200 and hd["content-encoding"] == "br"
    assert json.loads(brotli.decompress(br))["path"] == "/v1/report"

    st, _, body = dep.client(verify=False).request("www.example.com", "/")
    assert (st, body) == (404, b"no such site\n")
    check_redirect_listener(dep, app)

    # 50/s with a burst of 100 per address: the 101st of a quick burst
    # is refused with Retry-After
    check_rate_limit(dep, api, "/v1/items", 100)

    stop_one_replica_under_load(dep, replicas, api, "/v1/items", "api",
                                "api-3001", ["api-3000"], rate=50)
    c.close()

    # what the alert rules of prometheus-rules.yaml read: the metric names
    # they use exist, with the labels they group by, and count 5xx answers
    for _ in range(3):
        assert c.request(api, "/status/500")[0] == 500
    fams = scrape(dep.ports["admin"])
    for name in rule_metrics(backup=False):
        assert name in fams, name
    by_code = {}
    for x in fams["limen_http_requests_total"].samples:
        if x.labels["pool"] == "api":
            assert x.labels["route"] == "api.example.com/"
            by_code[x.labels["code"]] = x.value
    assert by_code["5xx"] == 3 and by_code["2xx"] > 100, by_code
    assert [x.value for x in fams["limen_pool_usable_servers"].samples
            if x.labels["pool"] == "api"] == [1]       # api-3001 is gone

    # the access log of the example: one JSON line per request, with the
    # route, pool and upstream that served it
    log = dep.root + "/var/log/limen/access.log"

    def logged():
        if not os.path.exists(log):
            return None
        lines = [json.loads(x) for x in open(log) if x.strip()]
        return [x for x in lines if x.get("path") == "/v1/me"] or None
    line = wait_for(logged, what="the access log line of /v1/me")[0]
    assert line["host"] == api and line["status"] == 200
    assert line["pool"] == "api" and line["client"] == "127.0.0.1"
    assert line["upstream"] in replicas.by_pool["api"]
    assert line["request_id"]


# ---- example 3: React + FastAPI + Grafana on one name ---------------------


def test_react_fastapi_grafana_paths(deploy, replicas):
    for pool, names in [("frontend", ["react-1", "react-2"]),
                        ("api", ["fastapi-1", "fastapi-2"]),
                        ("grafana", ["grafana-1", "grafana-2"])]:
        replicas.add(pool, names[0])
        replicas.add(pool, names[1], process=(pool == "api"))
    dep = deploy("react-fastapi-grafana")
    c = dep.client()
    h = "insights.example.net"

    cases = [
        ("/", "/", "react-"),
        ("/dashboard/7", "/dashboard/7", "react-"),
        ("/apiary", "/apiary", "react-"),           # not /api: segments
        ("/api", "/", "fastapi-"),                   # prefix stripped
        ("/api/items?limit=5", "/items?limit=5", "fastapi-"),
        ("/api/docs", "/docs", "fastapi-"),
        ("/grafana/", "/grafana/", "grafana-"),      # served from sub path
        ("/grafana/d/abc/overview?orgId=1", "/grafana/d/abc/overview?orgId=1",
         "grafana-"),
    ]
    for path, upstream_path, prefix in cases:
        seen = c.echo(h, path)
        assert seen["server"].startswith(prefix), (path, seen["server"])
        assert seen["path"] == upstream_path, (path, seen["path"])
        check_forwarding(seen, h)

    # two replicas each, all of them used
    assert servers_seen(c, h, "/") == ["react-1", "react-2"]
    assert servers_seen(c, h, "/api/items") == ["fastapi-1", "fastapi-2"]
    assert servers_seen(c, h, "/grafana/api/search") == \
        ["grafana-1", "grafana-2"]

    st, hd, _ = c.request(h, "/")
    assert hd["x-frame-options"] == "SAMEORIGIN"
    assert hd["strict-transport-security"] == "max-age=31536000"
    assert check_h2(dep, h, "/api/items", "fastapi-")["path"] == "/items"
    check_h2(dep, h, "/grafana/", "grafana-")
    st, _, body = dep.client(verify=False).request("other.example.net", "/")
    assert (st, body) == (404, b"no such site\n")
    check_redirect_listener(dep, h)

    check_rate_limit(dep, h, "/api/items", 60)
    # the limit is the API's: the frontend is not limited
    assert c.request(h, "/")[0] == 200

    stop_one_replica_under_load(dep, replicas, h, "/api/items", "api",
                                "fastapi-2", ["fastapi-1"], rate=30)
    c.close()


# ---- example 4: Express staging and production ----------------------------


def test_express_health_checks_staging_and_production(deploy, replicas):
    replicas.add("web-production", "web-3000")
    replicas.add("web-production", "web-3001", process=True)
    replicas.add("api-production", "api-4000")
    replicas.add("api-production", "api-4001")
    replicas.add("web-staging", "web-staging-3100")
    replicas.add("api-staging", "api-staging-4100")
    dep = deploy("express-staging-production")
    c = dep.client()

    for host, prefix in [("www.example.com", "web-300"),
                         ("api.example.com", "api-400"),
                         ("staging.example.com", "web-staging-3100"),
                         ("api.staging.example.com", "api-staging-4100")]:
        seen = c.echo(host, "/orders?id=3")
        assert seen["server"].startswith(prefix)
        assert seen["path"] == "/orders?id=3"
        check_forwarding(seen, host)
    st, hd, _ = c.request("staging.example.com", "/")
    assert hd["x-robots-tag"] == "noindex, nofollow"
    assert "strict-transport-security" not in hd
    st, hd, _ = c.request("www.example.com", "/")
    assert "x-robots-tag" not in hd and hd["x-frame-options"] == "SAMEORIGIN"
    assert hd["strict-transport-security"] == "max-age=31536000"
    check_h2(dep, "api.example.com", "/orders", "api-400")

    # the apex redirects to www, path and query kept
    st, hd, _ = c.request("example.com", "/cart?item=5")
    assert st == 301
    assert hd["location"] == "https://www.example.com/cart?item=5"

    # /health: a process that reports itself unhealthy (its database is
    # gone) is taken out after `fall` checks, and back after `rise`
    assert servers_seen(c, "api.example.com", "/x") == ["api-4000", "api-4001"]
    sick = replicas.threads["api-4001"]
    sick.set_healthy(False)
    dep.lim.wait_log(r"health: api-production/%s: DOWN after 2 failures "
                     r"\(status 503\)" % re.escape(sick.address))
    assert servers_seen(c, "api.example.com", "/x", 20) == ["api-4000"]
    sick.set_healthy(True)
    dep.lim.wait_log(r"health: api-production/%s: UP after 2 successes"
                     % re.escape(sick.address))
    assert servers_seen(c, "api.example.com", "/x") == ["api-4000", "api-4001"]

    # staging has one process: when it is unhealthy, 503 at once
    stg = replicas.threads["api-staging-4100"]
    stg.set_healthy(False)
    dep.lim.wait_log(r"health: api-staging/%s: DOWN after 2 failures"
                     % re.escape(stg.address))
    st, _, _ = c.request("api.staging.example.com", "/orders")
    assert st == 503
    stg.set_healthy(True)

    check_redirect_listener(dep, "www.example.com")

    # a restart by hand: drain the process through the admin API first
    # (the curl of the example's comment), with the token from its file
    token = open(dep.root + "/etc/limen/admin.token").read().strip()
    base = "http://127.0.0.1:%d/api/v1/pools/web-production/servers/%s/" % (
        dep.ports["admin"], replicas.names["web-3000"])
    assert admin_post(base + "drain", None) == 401
    assert admin_post(base + "drain", token) == 200
    assert servers_seen(c, "www.example.com", "/", 10) == ["web-3001"]
    assert admin_post(base + "enable", token) == 200
    assert servers_seen(c, "www.example.com", "/") == ["web-3000", "web-3001"]

    # a deployment restarts a production web process
    stop_one_replica_under_load(dep, replicas, "www.example.com", "/",
                                "web-production", "web-3001", ["web-3000"])
    c.close()


# ---- example 5: two applications side by side -----------------------------


def test_two_apps_allow_lists_and_rate_limits(deploy, replicas):
    replicas.add("provider-web", "provider-web")
    replicas.add("provider-api", "provider-api-1")
    replicas.add("provider-api", "provider-api-2")
    replicas.add("client-web", "client-web")
    replicas.add("client-api", "client-api-1")
    replicas.add("client-api", "client-api-2", process=True)
    dep = deploy("two-apps")
    inside = dep.client()                          # 127.0.0.1: allowed
    outside = dep.client(source=OUTSIDE)           # in no allow list

    for host, app in [("provider.example.com", "provider"),
                      ("client.example.com", "client")]:
        # each name reaches its own application
        seen = inside.echo(host, "/")
        assert seen["server"] == app + "-web"
        check_forwarding(seen, host)
        seen = inside.echo(host, "/api/v1/orders")
        assert seen["server"].startswith(app + "-api-")
        assert seen["path"] == "/api/v1/orders"
        check_forwarding(seen, host)
        assert servers_seen(inside, host, "/api/v1/orders") == \
            [app + "-api-1", app + "-api-2"]
        check_h2(dep, host, "/api/v1/orders", app + "-api-")

        # the web pages are public, the API is not
        seen = outside.echo(host, "/login")
        check_forwarding(seen, host, client_ip=OUTSIDE)
        st, _, body = outside.request(host, "/api/v1/orders")
        assert st == 403
        # a header naming an allowed network changes nothing: the
        # connection's address decides
        for xff in ("198.51.100.7", "192.0.2.10", "127.0.0.1"):
            st, _, _ = outside.request(host, "/api/v1/orders",
                                       headers={"X-Forwarded-For": xff,
                                                "X-Real-IP": xff})
            assert st == 403, xff

    # the 403 is limen's own answer, not the API's
    st, hd, body = outside.request("provider.example.com", "/api/x")
    assert st == 403 and hd["content-type"].startswith("text/plain")
    assert hd["x-request-id"] in body.decode()

    # provider API: 20/s, burst 40, per address
    check_rate_limit(dep, "provider.example.com", "/api/v1/sync", 40)
    # its own bucket: the client API and the provider's pages still answer
    assert inside.request("client.example.com", "/api/v1/orders")[0] == 200
    assert inside.request("provider.example.com", "/")[0] == 200
    # client API: 10/s, burst 30
    check_rate_limit(dep, "client.example.com", "/api/v1/orders", 30)

    check_redirect_listener(dep, "client.example.com")
    stop_one_replica_under_load(dep, replicas, "client.example.com",
                                "/api/v1/orders", "client-api",
                                "client-api-2", ["client-api-1"], rate=10)
    inside.close()
    outside.close()


# ---- the backup jobs against a real PostgreSQL ----------------------------


def backup(config, *args, timeout=180):
    r = run_cmd([BACKUP_BIN, "-c", config, *args], timeout=timeout)
    assert not SAN_PATTERNS.search(r.stderr), r.stderr
    return r


def prepare_databases(pg, doc, jobs):
    """The databases of these jobs of the example, with data, and their
    roles with the privileges the example's comments ask for
    (pg_read_all_data, CREATEDB)."""
    for job in doc["backup"]["jobs"]:
        if job["name"] not in jobs:
            continue
        f = conninfo_fields(job["conninfo"])
        make_app_db(pg, f["dbname"], rows=60)
        user = f.get("user", "postgres")
        if user != "postgres" and not pg.sql(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", args=(user,)):
            pg.sql('CREATE ROLE "%s" LOGIN CREATEDB' % user)
            pg.sql('GRANT pg_read_all_data TO "%s"' % user)


def run_logical_jobs(pg, dep, jobs, verify_again=True):
    """`now` for each job (which restore-tests the new backup: the examples
    say `verify: true`), and with verify_again a separate `verify` as an
    operator would run it; checks the catalog and the files."""
    for job in jobs:
        spec = [j for j in dep.doc["backup"]["jobs"] if j["name"] == job][0]
        r = backup(dep.config, "now", job)
        assert r.returncode == 0, r.stdout + r.stderr
        bid = r.stdout.strip()
        if verify_again:
            r = backup(dep.config, "verify", job)
            assert r.returncode == 0, r.stdout + r.stderr
        r = backup(dep.config, "list", job, "--json")
        entries = json.loads(r.stdout)
        assert [(e["id"], e["status"]) for e in entries] == \
            [(bid, "verified")]
        d = os.path.join(spec["destination"], job, bid)
        files = sorted(os.listdir(d))
        dump = "dump.pgdump" + {"zstd": ".zst", "gzip": ".gz",
                                "none": ""}[spec.get("compression", "gzip")]
        if "encryption" in spec:
            dump += ".enc"
            assert open(os.path.join(d, dump), "rb").read(8) == b"LIMENAE1"
        assert dump in files and "manifest.json" in files
        man = json.load(open(os.path.join(d, "manifest.json")))
        assert man["database"] == conninfo_fields(spec["conninfo"])["dbname"]
        assert man["tables"]["public.customers"] == 60
        assert man["tables"]["sales.orders"] == 500


def test_k3s_spring_angular_daily_backups(pg, work, run_limen):
    dep = Deployment("k3s-spring-angular", os.path.join(work, "root"),
                     run_limen, None, pg, start=False)
    prepare_databases(pg, dep.doc, ["orders-prod"])
    # orders-dev is the same job on the dev cluster's database
    run_logical_jobs(pg, dep, ["orders-prod"])


def test_vps_node_vite_backup_encrypted(pg, work, run_limen):
    dep = Deployment("vps-node-vite", os.path.join(work, "root"), run_limen,
                     None, pg, start=False)
    prepare_databases(pg, dep.doc, ["app"])
    run_logical_jobs(pg, dep, ["app"])
    # the retention rules as written are accepted by prune
    r = backup(dep.config, "prune", "app", "--dry-run")
    assert r.returncode == 0, r.stderr

    # the scheduler's /metrics (backup.listen) has what the backup alerts
    # of prometheus-rules.yaml read, per job; the backup just made is not
    # late, so the scheduler does not run it again at start
    sched = Process([BACKUP_BIN, "run", "-c", dep.config],
                    os.path.join(work, "scheduler.log"))
    try:
        fams = wait_for(lambda: _try_scrape(dep.ports["backup"]),
                        what="the backup scheduler's /metrics")
    finally:
        rc = sched.stop()
    assert rc == 0 and not SAN_PATTERNS.search(sched.log()), sched.log()
    for name in rule_metrics(backup=True):
        assert name in fams, name
        assert [x.labels["backup_job"] for x in fams[name].samples] == ["app"]
    last = fams["limen_backup_last_success_timestamp_seconds"].samples[0]
    assert abs(last.value - time.time()) < 600
    assert fams["limen_backup_last_verify_success"].samples[0].value == 1


def test_react_fastapi_grafana_backups(pg, work, run_limen):
    dep = Deployment("react-fastapi-grafana", os.path.join(work, "root"),
                     run_limen, None, pg, start=False)
    prepare_databases(pg, dep.doc, ["insights", "grafana"])
    run_logical_jobs(pg, dep, ["insights", "grafana"], verify_again=False)


def test_two_apps_one_backup_job_per_database(pg, work, run_limen):
    dep = Deployment("two-apps", os.path.join(work, "root"), run_limen,
                     None, pg, start=False)
    prepare_databases(pg, dep.doc, ["provider", "client"])
    run_logical_jobs(pg, dep, ["provider", "client"], verify_again=False)
    # each job's backups in its own directory, under its own key
    keys = [j["encryption"]["key_file"] for j in dep.doc["backup"]["jobs"]]
    assert len(set(open(k).read() for k in keys)) == 2


def _archived(dest, seg):
    d = os.path.join(dest, "production", "wal")
    return os.path.isdir(d) and any(f.startswith(seg) for f in os.listdir(d))


def test_express_point_in_time_recovery(pg, work, run_limen):
    """Example 4's physical job: PostgreSQL archives WAL through the
    example's archive_command (the config as written there, localized),
    the base backup is taken and restore-tested, and a restore to a
    moment between two transactions brings back exactly the first."""
    uid, gid = _pg_ids()
    dep = Deployment("express-staging-production",
                     os.path.join(work, "root"), run_limen, None, pg,
                     start=False, owner=(uid, gid))
    # archive-wal runs as postgres, so limen-backup does too in this
    # example: the files it reads and writes belong to postgres
    for dirpath, dirnames, filenames in os.walk(dep.root):
        for n in dirnames + filenames:
            os.chown(os.path.join(dirpath, n), uid, gid)
    os.chown(dep.root, uid, gid)
    prepare_databases(pg, dep.doc, ["production"])
    job = [j for j in dep.doc["backup"]["jobs"]
           if j["name"] == "production"][0]
    dest = job["destination"]
    os.makedirs(os.path.join(dest, "production", "wal"), exist_ok=True)
    for d in (dest, os.path.join(dest, "production"),
              os.path.join(dest, "production", "wal")):
        os.chown(d, uid, gid)
    archive = "%s -c %s archive-wal production %%p %%f" % (BACKUP_BIN,
                                                           dep.config)
    old = pg.sql("SHOW archive_command")[0][0]
    pg.sql("ALTER SYSTEM SET archive_command = %s", args=(archive,))
    pg.sql("ALTER SYSTEM SET archive_timeout = '5min'")
    pg.sql("SELECT pg_reload_conf()")
    try:
        db = conninfo_fields(job["conninfo"])["dbname"]
        pg.sql("CREATE TABLE events (v text)", db=db)
        pg.sql("INSERT INTO events VALUES ('before the backup')", db=db)
        r = backup(dep.config, "now", "production", timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        bid = r.stdout.strip()
        entries = json.loads(backup(dep.config, "list", "production",
                                    "--json").stdout)
        assert [(e["id"], e["kind"], e["status"]) for e in entries] == \
            [(bid, "physical", "verified")]
        assert os.path.exists(os.path.join(dest, "production", bid,
                                           "base.tar.zst.enc"))

        pg.sql("INSERT INTO events VALUES ('first')", db=db)
        t = pg.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                   "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")[0][0]
        wait_for(lambda: pg.sql("SELECT clock_timestamp() > %s::timestamptz"
                                " + interval '1 second'", args=(t,))[0][0],
                 what="a second to pass")
        pg.sql("INSERT INTO events VALUES ('second, a mistake')", db=db)
        seg = pg.sql("SELECT pg_walfile_name(pg_switch_wal())")[0][0]
        wait_for(lambda: _archived(dest, seg), timeout=30,
                 what="WAL segment %s archived by the example's job" % seg)
        r = backup(dep.config, "restore", "production", "--time", t,
                   "--to-db", "shop_before", timeout=300)
        assert r.returncode == 0, r.stderr
        assert sorted(v for (v,) in pg.sql("SELECT v FROM events",
                                           db="shop_before")) == \
            ["before the backup", "first"]
    finally:
        pg.sql("ALTER SYSTEM SET archive_command = %s", args=(old,))
        pg.sql("ALTER SYSTEM RESET archive_timeout")
        pg.sql("SELECT pg_reload_conf()")


# ---- one file, two programs, two users --------------------------------------


def _shared_deployment(tmp_dir):
    """vps-node-vite localized, its secrets owned the way the packaging
    runs the programs: the admin token by limen's user, the backup password
    and key by limen-backup's (here: nobody and postgres)."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    pgu = _pg_ids()
    root = os.path.join(tmp_dir, "root")
    src = example_doc("vps-node-vite")
    made = provide_files(src, root)
    os.chown(made["/etc/limen/admin.token"], nobody.pw_uid, nobody.pw_gid)
    for f in ("/etc/limen/backup-db.password", "/etc/limen/backup.key"):
        os.chown(made[f], *pgu)
    doc, ports = localize(src, root, {"api": ["127.0.0.1:%d" % free_port()]})
    for d, owner in (("/var/lib/limen", nobody), ("/var/log/limen", nobody),
                     ("/run/limen", nobody)):
        os.makedirs(root + d, exist_ok=True)
        os.chown(root + d, owner.pw_uid, owner.pw_gid)
    for dirpath, dirnames, _ in os.walk(root):
        for n in dirnames:
            os.chmod(os.path.join(dirpath, n), 0o755)
    os.chmod(root, 0o755)
    os.chmod(tmp_dir, 0o755)
    config = os.path.join(tmp_dir, "limen.yaml")
    with open(config, "w") as f:
        f.write(yaml.safe_dump(doc, sort_keys=False))
    os.chmod(config, 0o644)
    return config, ports, nobody, pgu


def _as(uid, gid, argv):
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
            "--clear-groups", "--", *argv]


def test_proxy_starts_without_reading_the_backup_secrets():
    """limen runs as `limen` (packaging/systemd/limen.service); the backup
    password and key belong to `limen-backup`, mode 0600.  limen never uses
    them, so it must start."""
    import tempfile
    from conftest import Process, port_open
    tmp = tempfile.mkdtemp(prefix="limen-ex-", dir="/tmp")
    try:
        config, ports, nobody, _ = _shared_deployment(tmp)
        lim = Process(_as(nobody.pw_uid, nobody.pw_gid,
                          [LIMEN_BIN, "run", "-c", config]),
                      os.path.join(tmp, "limen.log"))
        try:
            wait_for(lambda: port_open(ports["web"]) or not lim.alive(),
                     what="limen listening")
            assert lim.alive(), lim.log()
        finally:
            lim.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_backup_runs_without_reading_the_admin_token():
    """limen-backup runs as `limen-backup` (or postgres, for archive-wal);
    the admin token belongs to `limen`, mode 0600.  limen-backup never uses
    it, so it must load the file."""
    import tempfile
    tmp = tempfile.mkdtemp(prefix="limen-ex-", dir="/tmp")
    try:
        config, _, _, pgu = _shared_deployment(tmp)
        r = run_cmd(_as(pgu[0], pgu[1], [BACKUP_BIN, "-c", config, "list"]))
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_check_passes_as_the_proxy_user():
    """packaging/systemd/limen.service validates the file with `limen check`
    as User=limen before every start and reload."""
    import tempfile
    tmp = tempfile.mkdtemp(prefix="limen-ex-", dir="/tmp")
    try:
        config, _, nobody, _ = _shared_deployment(tmp)
        r = run_cmd(_as(nobody.pw_uid, nobody.pw_gid,
                        [LIMEN_BIN, "check", "-c", config]))
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
