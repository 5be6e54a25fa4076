# SPDX-License-Identifier: BSD-2-Clause
"""ACME with shared storage in PostgreSQL (acme.storage: { postgres:
CONNINFO, key_file: FILE }; SPEC §4, docs/acme.md "Shared storage").

A real PostgreSQL 15 cluster (started as the postgres user in a temporary
directory, on a free port; one per module) and a real pebble.  Two limen
instances with the same store and the same two names must order exactly
one certificate per name between them, both serve it, a restart orders
nothing, private keys in the tables are not plaintext, a wrong key is a
clear error, and a store that is down at start does not stop serving.

Pebble validates HTTP-01 on one port: instance "a" listens there, and
answers for the shared account whichever instance ordered (stateless
HTTP-01, docs/acme.md), as an instance behind a load balancer must.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import free_port, wait_for
from peers.acme_env import NAMES, AcmeEnv
from test_acme_run import issued_by_pebble, s_client_verify, served_cert

psycopg2 = pytest.importorskip("psycopg2")

from pgcluster import Cluster, installed, pg_ids  # noqa: E402


@pytest.fixture(scope="module")
def pg():
    if not installed():
        pytest.skip("PostgreSQL 15 is not installed (make deps)")
    uid, gid = pg_ids()
    base = tempfile.mkdtemp(prefix="limen-acmepg-", dir="/tmp")
    os.chown(base, uid, gid)
    os.chmod(base, 0o700)
    cl = Cluster(free_port(), os.path.join(base, "data"), base,
                 connect_timeout=5)
    cl.initdb()
    cl.start("shared_buffers=16MB")
    yield cl
    cl.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def db(pg, request):
    name = "acme_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:40]
    pg.sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    pg.sql('CREATE DATABASE "%s"' % name)
    yield name
    pg.sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


@pytest.fixture
def acme(tmp_path):
    env = AcmeEnv(tmp_path)
    yield env
    env.stop()


def key_file(tmp_path, name, secret):
    p = tmp_path / name
    p.write_text(secret + "\n")
    os.chmod(p, 0o600)
    return str(p)


class Instance:
    """The ports and state of one limen instance."""

    def __init__(self, tmp_path, tag, http_port=None):
        self.tag = tag
        self.http_port = http_port or free_port()
        self.tls_port = free_port()
        self.state = tmp_path / ("state-" + tag)


def config(acme, inst, conninfo, keyfile, directory=None, names=NAMES):
    return """
global:
  state_dir: %s
  workers: 1
  log: { level: debug, format: text }
listeners:
  - name: web
    listen: ["127.0.0.1:%d"]
  - name: websecure
    listen: ["127.0.0.1:%d"]
    tls: { acme: true }
routes:
  - host: [%s]
    path: /
    respond: { status: 200, body: "hello\\n" }
acme:
  directory: %s
  email: ops@example.com
  ca_roots: %s
  challenges: [http-01]
  storage:
    postgres: "%s"
    key_file: %s
""" % (inst.state, inst.http_port, inst.tls_port, ", ".join(names),
       directory or acme.pebble.directory, acme.pebble.ca_pem, conninfo,
       keyfile)


def start(run_limen, acme, inst, conninfo, keyfile, **kw):
    return run_limen(config(acme, inst, conninfo, keyfile, **kw),
                     wait_ports=[inst.http_port, inst.tls_port],
                     name="limen-%s.yaml" % inst.tag)


def stored_names(pg, db):
    """Names with a row in limen_acme_certs ([] before the tables exist)."""
    try:
        return sorted(r[0] for r in pg.sql("SELECT name FROM "
                                           "limen_acme_certs", db=db))
    except psycopg2.errors.UndefinedTable:
        return []


def orders(log, name):
    return len(re.findall(r"acme: %s: .*order created" % re.escape(name),
                          log))


def serial(port, name):
    c = issued_by_pebble(port, name)
    return c.serial_number if c else None


def test_two_instances_order_each_name_once_and_share_it(
        pg, db, acme, run_limen, tmp_path):
    acme.start_pebble()
    a = Instance(tmp_path, "a", http_port=acme.http_port)
    b = Instance(tmp_path, "b")
    kf = key_file(tmp_path, "store.key", "s3cret-store-key")
    ci = pg.conninfo(db, connect_timeout=3)
    la = start(run_limen, acme, a, ci, kf)
    # a answers HTTP-01 for the shared account once it has it
    la.wait_log(r"storage: connected to PostgreSQL", timeout=10)
    lb = start(run_limen, acme, b, ci, kf)
    for inst in (a, b):
        for n in NAMES:
            wait_for(lambda: issued_by_pebble(inst.tls_port, n),
                     timeout=40, what="%s serving pebble's certificate "
                     "for %s:\n%s\n%s" % (inst.tag, n, la.log(),
                                          lb.log()))
    logs = la.log() + lb.log()
    for n in NAMES:
        assert orders(logs, n) == 1, logs
        # both serve the same certificate, valid under pebble's root
        assert serial(a.tls_port, n) == serial(b.tls_port, n)
        root = acme.pebble.roots_pem()
        for inst in (a, b):
            r = s_client_verify(inst.tls_port, n, root)
            assert r.returncode == 0, r.stdout + r.stderr
    # pebble made exactly one order per name (counted by what it added:
    # a POST refused with badNonce, 5 % by default, is sent again)
    plog = acme.pebble.log()
    assert len(re.findall(r"Added order ", plog)) == len(NAMES), plog
    # what is in the tables: sealed keys, never PEM
    rows = pg.sql("SELECT name, cert_pem, key_enc FROM limen_acme_certs "
                  "ORDER BY name", db=db)
    assert [r[0] for r in rows] == sorted(NAMES)
    for name, cert_pem, key_enc in rows:
        blob = bytes(key_enc)
        assert blob[:4] == b"LSK1"
        assert b"PRIVATE KEY" not in blob and b"-----" not in blob
        assert cert_pem.startswith("-----BEGIN CERTIFICATE-----")
    acc = pg.sql("SELECT key_enc, url FROM limen_acme_account", db=db)
    assert len(acc) == 1
    assert bytes(acc[0][0])[:4] == b"LSK1"
    assert b"PRIVATE KEY" not in bytes(acc[0][0])
    assert acc[0][1] and acc[0][1].startswith("https://")
    assert pg.sql("SELECT value FROM limen_acme_meta WHERE key = "
                  "'schema_version'", db=db) == [("1",)]
    serials = {n: serial(a.tls_port, n) for n in NAMES}

    # a restart of both orders nothing new
    la.stop()
    lb.stop()
    la = start(run_limen, acme, a, ci, kf)
    lb = start(run_limen, acme, b, ci, kf)
    for inst, lim in ((a, la), (b, lb)):
        lim.wait_log(r"storage: connected to PostgreSQL",
                     timeout=10)
        for n in NAMES:
            assert serial(inst.tls_port, n) == serials[n]
    # the renewal checks have run (under the lock) and found nothing due
    for lim in (la, lb):
        wait_for(lambda: all(re.search(
            r"acme: %s: (certificate valid until .*not due|another "
            r"instance holds its lock)" % re.escape(n), lim.log())
            for n in NAMES), timeout=20, what="renewal checks:\n" +
            lim.log())
    for n in NAMES:
        assert orders(la.log() + lb.log(), n) == 0
    assert len(re.findall(r"Added order ", acme.pebble.log())) == \
        len(NAMES)

    # PostgreSQL unreachable at start: the local copy still serves
    lb.stop()
    dead = "host=127.0.0.1 port=%d dbname=x user=postgres " \
           "connect_timeout=2" % free_port()
    lb = start(run_limen, acme, b, dead, kf)
    lb.wait_log(r"storage: PostgreSQL: cannot connect", timeout=10)
    for n in NAMES:
        assert serial(b.tls_port, n) == serials[n]
    assert orders(lb.log(), NAMES[0]) == 0


def test_wrong_storage_key_is_a_clear_error(pg, db, acme, run_limen,
                                            tmp_path):
    acme.start_pebble()
    a = Instance(tmp_path, "a")
    ci = pg.conninfo(db, connect_timeout=3)
    good = key_file(tmp_path, "good.key", "the-right-key")
    bad = key_file(tmp_path, "bad.key", "another-key")
    # the first start sets the store up with the right key (no CA needed)
    dead_ca = "https://127.0.0.1:%d/dir" % free_port()
    lim = start(run_limen, acme, a, ci, good, directory=dead_ca)
    lim.wait_log(r"storage: connected to PostgreSQL", timeout=10)
    lim.stop()
    lim = start(run_limen, acme, a, ci, bad, directory=dead_ca)
    lim.wait_log(r"storage key .* is not the one the shared store was set "
                 r"up with", timeout=10)
    assert "connected to PostgreSQL" not in lim.log()
    assert orders(lim.log(), NAMES[0]) == 0
    # still serving: a stand-in certificate on TLS
    c = served_cert(a.tls_port, NAMES[0])
    assert "Pebble" not in c.issuer.rfc4514_string()
    assert lim.alive()


def test_store_down_at_start_serves_stand_in_and_orders_nothing(
        acme, run_limen, tmp_path):
    acme.start_pebble()
    a = Instance(tmp_path, "a")
    kf = key_file(tmp_path, "store.key", "k")
    dead = "host=127.0.0.1 port=%d dbname=x user=postgres " \
           "connect_timeout=2" % free_port()
    lim = start(run_limen, acme, a, dead, kf)
    lim.wait_log(r"storage: PostgreSQL: cannot connect.*installed "
                 r"certificates keep serving", timeout=10)
    c = served_cert(a.tls_port, NAMES[0])
    assert "Pebble" not in c.issuer.rfc4514_string()
    assert orders(lim.log(), NAMES[0]) == 0
    assert "POST /order-plz" not in acme.pebble.log()


def test_an_instance_that_did_not_order_answers_http01(
        pg, db, acme, run_limen, tmp_path):
    """The CA's HTTP-01 request reaches "a", which has no name to order;
    "b" orders both names and gets them."""
    acme.start_pebble()
    a = Instance(tmp_path, "a", http_port=acme.http_port)
    b = Instance(tmp_path, "b", http_port=None)
    kf = key_file(tmp_path, "store.key", "k2")
    ci = pg.conninfo(db, connect_timeout=3)
    la = start(run_limen, acme, a, ci, kf, names=['"*"'])
    la.wait_log(r"storage: connected to PostgreSQL", timeout=10)
    lb = start(run_limen, acme, b, ci, kf)
    for n in NAMES:
        wait_for(lambda: issued_by_pebble(b.tls_port, n), timeout=30,
                 what="b serving pebble's certificate for %s:\n%s\n%s" %
                 (n, la.log(), lb.log()))
        assert orders(lb.log(), n) == 1
        assert orders(la.log(), n) == 0
    assert "using the shared account key" in lb.log()
    # an unknown token on b's own listener: token "." thumbprint
    r = subprocess.run(["curl", "-sS", "--max-time", "5",
                        "http://127.0.0.1:%d/.well-known/acme-challenge/"
                        "abcdefghijklmnopqrstuvwxyz012345" % b.http_port],
                       capture_output=True, text=True, timeout=10)
    assert re.fullmatch(r"abcdefghijklmnopqrstuvwxyz012345\.[A-Za-z0-9_-]{43}",
                        r.stdout), r.stdout


def test_store_lost_then_back_keeps_serving_and_reconnects(
        pg, db, acme, run_limen, tmp_path):
    acme.start_pebble()
    a = Instance(tmp_path, "a", http_port=acme.http_port)
    kf = key_file(tmp_path, "store.key", "k3")
    lim = start(run_limen, acme, a, pg.conninfo(db, connect_timeout=3), kf)
    for n in NAMES:
        wait_for(lambda: issued_by_pebble(a.tls_port, n), timeout=30,
                 what="pebble's certificate for %s:\n%s" % (n, lim.log()))
    serials = {n: serial(a.tls_port, n) for n in NAMES}
    pg.stop()
    try:
        lim.wait_log(r"storage: PostgreSQL: connection lost", timeout=10)
        for n in NAMES:
            assert serial(a.tls_port, n) == serials[n]
        lim.wait_log(r"storage: PostgreSQL: cannot connect", timeout=10)
    finally:
        pg.start()
    wait_for(lambda: len(re.findall(r"storage: connected to PostgreSQL",
                                    lim.log())) >= 2, timeout=40,
             what="a reconnection:\n" + lim.log())
    for n in NAMES:
        assert serial(a.tls_port, n) == serials[n]
        assert orders(lim.log(), n) == 1
    assert lim.alive()


def storage_yaml(conninfo, keyfile):
    return "  storage:\n    postgres: \"%s\"\n    key_file: %s\n" % (
        conninfo, keyfile)


def test_limen_certs_saves_to_the_store_and_fails_cleanly_without_it(
        pg, db, acme, tmp_path):
    acme.start_pebble()
    kf = key_file(tmp_path, "store.key", "k4")
    dead = "host=127.0.0.1 port=%d dbname=x user=postgres " \
           "connect_timeout=2" % free_port()
    r = acme.certs(extra_acme=storage_yaml(dead, kf), timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    for n in NAMES:
        assert re.search(r"%s: failed: shared store: .*cannot connect" %
                         re.escape(n), r.stdout), r.stdout + r.stderr
    assert "POST /order-plz" not in acme.pebble.log()

    r = acme.certs(extra_acme=storage_yaml(pg.conninfo(db, connect_timeout=3), kf), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = pg.sql("SELECT name FROM limen_acme_certs ORDER BY name", db=db)
    assert [x[0] for x in rows] == sorted(NAMES), r.stderr


def test_reload_adds_a_name_under_the_same_store(pg, db, acme, run_limen,
                                                 tmp_path):
    """A reload keeps the connection (no second "connected") and orders
    the added name under its lock, into the store."""
    acme.start_pebble()
    a = Instance(tmp_path, "a", http_port=acme.http_port)
    kf = key_file(tmp_path, "store.key", "k5")
    ci = pg.conninfo(db, connect_timeout=3)
    lim = run_limen(config(acme, a, ci, kf, names=NAMES[:1]),
                    wait_ports=[a.http_port, a.tls_port], name="limen-a.yaml")
    wait_for(lambda: issued_by_pebble(a.tls_port, NAMES[0]), timeout=30,
             what="first name:\n" + lim.log())
    (tmp_path / "limen-a.yaml").write_text(config(acme, a, ci, kf))
    lim.send_signal(signal.SIGHUP)
    wait_for(lambda: issued_by_pebble(a.tls_port, NAMES[1]), timeout=30,
             what="added name after reload:\n" + lim.log())
    wait_for(lambda: stored_names(pg, db) == sorted(NAMES), timeout=10,
             what="both rows:\n" + lim.log())
    assert len(re.findall(r"storage: connected to PostgreSQL",
                          lim.log())) == 1
    for n in NAMES:
        assert orders(lim.log(), n) == 1


def test_two_instances_renew_each_name_once(pg, db, acme, run_limen,
                                            tmp_path):
    """15-second certificates, renewed at two thirds of their lifetime:
    one renewal order per name between both instances, and both serve
    the renewed certificate."""
    acme.start_pebble(validity=15)
    a = Instance(tmp_path, "a", http_port=acme.http_port)
    b = Instance(tmp_path, "b")
    kf = key_file(tmp_path, "store.key", "k6")
    ci = pg.conninfo(db, connect_timeout=3)
    la = start(run_limen, acme, a, ci, kf)
    la.wait_log(r"storage: connected to PostgreSQL", timeout=10)
    lb = start(run_limen, acme, b, ci, kf)
    first = {}
    for n in NAMES:
        wait_for(lambda: serial(a.tls_port, n) and
                 serial(a.tls_port, n) == serial(b.tls_port, n), timeout=30,
                 what="the same first certificate for %s" % n)
        first[n] = serial(a.tls_port, n)
    for n in NAMES:
        wait_for(lambda: serial(a.tls_port, n) not in (None, first[n]) and
                 serial(a.tls_port, n) == serial(b.tls_port, n), timeout=40,
                 what="both serving the renewed certificate for %s:\n%s\n%s"
                 % (n, la.log(), lb.log()))
    logs = la.log() + lb.log()
    for n in NAMES:
        # the first order and one renewal, whoever made them
        assert orders(logs, n) == 2, logs


def test_moving_from_local_storage_uploads_without_ordering(
        pg, db, acme, run_limen, tmp_path):
    acme.start_pebble()
    r = acme.certs()           # storage: local, files in acme.state
    assert r.returncode == 0, r.stdout + r.stderr
    before = {n: acme.leaf(n).serial_number for n in NAMES}
    a = Instance(tmp_path, "a", http_port=acme.http_port)
    a.state = acme.state
    kf = key_file(tmp_path, "store.key", "k7")
    lim = start(run_limen, acme, a, pg.conninfo(db, connect_timeout=3), kf)
    wait_for(lambda: stored_names(pg, db) == sorted(NAMES), timeout=20,
             what="the local certificates in the store:\n" + lim.log())
    for n in NAMES:
        assert serial(a.tls_port, n) == before[n]
        assert orders(lim.log(), n) == 0
    assert len(re.findall(r"Added order ", acme.pebble.log())) == \
        len(NAMES)
