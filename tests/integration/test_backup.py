# SPDX-License-Identifier: BSD-2-Clause
"""limen-backup against a real PostgreSQL 15 (SPEC §1, §2 backup, §5).

One cluster per module (initdb costs ~2 s), started as the postgres user
on a free port with WAL archiving through `limen-backup archive-wal`.
Every test makes its own databases and its own job destination.  The
scenarios are the ones an operator cares about: backups restore to the
same data, damage is caught, no fault leaves a backup that claims to be
complete, and a physical job restores to a point in time.
"""
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import (BACKUP_BIN, SAN_PATTERNS, SLOW, free_port, run_cmd,
                      wait_for)

psycopg2 = pytest.importorskip("psycopg2")

from pgcluster import Cluster, installed, pg_ids  # noqa: E402

_pg_ids = pg_ids          # test_examples.py imports it from here


class BackupCluster(Cluster):
    """The module's cluster, with its WAL-archive job and destination."""

    def __init__(self, base, port):
        super().__init__(port, os.path.join(base, "pg", "data"),
                         os.path.join(base, "pg"))
        self.base = base
        self.archive_config = os.path.join(base, "archive.yaml")
        self.dest = os.path.join(base, "dest")

    def exists(self, db):
        return bool(self.sql("SELECT 1 FROM pg_database WHERE datname = %s",
                             args=(db,)))

    def createdb(self, db):
        self.sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
        self.sql('CREATE DATABASE "%s"' % db)

    def dump_tables(self, db):
        """Every user table's rows, sorted: what "equal data" means."""
        out = {}
        for (schema, name) in self.sql(
                "SELECT schemaname, tablename FROM pg_tables WHERE "
                "schemaname NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY 1, 2", db=db):
            rows = self.sql('SELECT * FROM "%s"."%s"' % (schema, name), db=db)
            out["%s.%s" % (schema, name)] = sorted(
                rows, key=lambda r: [("" if v is None else str(v)) for v in r])
        return out


def job_yaml(name, cluster, db, dest, kind="logical", compression="gzip",
             key_file=None, verify=True, retention=None,
             schedule="0 3 * * *"):
    lines = [
        "    - name: %s" % name,
        "      conninfo: \"%s\"" % cluster.conninfo(db),
        "      kind: %s" % kind,
        "      schedule: \"%s\"" % schedule,
        "      timezone: UTC",
        "      destination: %s" % dest,
        "      compression: %s" % compression,
        "      verify: %s" % ("true" if verify else "false"),
    ]
    if key_file:
        lines.append("      encryption: { key_file: %s }" % key_file)
    if retention:
        lines.append("      retention: { %s }" % ", ".join(
            "%s: %d" % kv for kv in retention.items()))
    return "\n".join(lines) + "\n"


def write_config(path, jobs, listen=None):
    text = "global:\n  log: { level: info, format: text }\n" \
           "  shutdown_timeout: 20s\nbackup:\n"
    if listen:
        text += "  listen: %s\n" % listen
    text += "  jobs:\n" + "".join(jobs)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def backup(*args, timeout=180, **kw):
    r = run_cmd([BACKUP_BIN, *args], timeout=timeout, **kw)
    assert not SAN_PATTERNS.search(r.stderr), r.stderr
    return r


@pytest.fixture(scope="module")
def pg():
    if not installed():
        pytest.skip("PostgreSQL 15 is not installed (make deps)")
    uid, gid = _pg_ids()
    base = tempfile.mkdtemp(prefix="limen-bk-", dir="/tmp")
    os.chmod(base, 0o755)
    probe = write_config(os.path.join(base, "probe.yaml"), [])
    r = run_cmd([BACKUP_BIN, "-c", probe, "list"])
    if "loader is not built" in r.stderr:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip("the configuration loader is not on this branch yet")
    os.makedirs(os.path.join(base, "pg"))
    os.makedirs(os.path.join(base, "dest"))
    for d in ("pg", "dest"):
        os.chown(os.path.join(base, d), uid, gid)
        os.chmod(os.path.join(base, d), 0o755)
    port = free_port()
    cl = BackupCluster(base, port)
    cl.initdb()
    # the phys job that archive_command names; tests add jobs elsewhere
    write_config(cl.archive_config, [job_yaml(
        "phys", cl, "postgres", cl.dest, kind="physical",
        compression="zstd", verify=True)])
    archive = "%s -c %s archive-wal phys %%p %%f" % (BACKUP_BIN,
                                                    cl.archive_config)
    # archive_command in postgresql.auto.conf, not on the command line
    # (which would win over it): a test may point it elsewhere with
    # ALTER SYSTEM and pg_reload_conf() (test_examples.py does)
    with open(os.path.join(cl.data, "postgresql.auto.conf"), "a") as f:
        f.write("archive_command = '%s'\n" % archive)
    cl.start("wal_level=replica", "archive_mode=on", "max_wal_senders=5",
             "shared_buffers=32MB")
    yield cl
    cl.stop("immediate")
    log = cl.server_log()
    shutil.rmtree(base, ignore_errors=True)
    # archive-wal runs under PostgreSQL: its reports land in the server log
    assert not SAN_PATTERNS.search(log), log


@pytest.fixture
def work(pg, tmp_path):
    """A per-test directory that both root and postgres can use."""
    uid, gid = _pg_ids()
    d = tempfile.mkdtemp(prefix="t-", dir=pg.base)
    os.chmod(d, 0o755)
    os.chown(d, uid, gid)
    yield d
    shutil.rmtree(d, ignore_errors=True)
    # keep the cluster small: later base backups copy every database
    for (db,) in pg.sql("SELECT datname FROM pg_database WHERE datname "
                        "NOT IN ('postgres', 'template0', 'template1')"):
        pg.sql('DROP DATABASE "%s" WITH (FORCE)' % db)


def loader_ready(config):
    r = backup("-c", config, "list")
    if "loader is not built" in r.stderr:
        pytest.skip("the configuration loader is not on this branch yet")
    return r


def make_app_db(pg, db, rows=200):
    pg.createdb(db)
    pg.sql("CREATE TABLE customers (id int PRIMARY KEY, name text, "
           "note text, born date)", db=db)
    pg.sql("INSERT INTO customers SELECT g, 'name ' || g, "
           "CASE WHEN g %% 7 = 0 THEN NULL ELSE 'SECRET-MARKER-' || g END, "
           "date '2000-01-01' + g FROM generate_series(1, %d) g" % rows,
           db=db)
    pg.sql("CREATE SCHEMA sales", db=db)
    pg.sql("CREATE TABLE sales.orders (id bigserial PRIMARY KEY, "
           "customer int REFERENCES customers, amount numeric(10,2), "
           "payload jsonb)", db=db)
    pg.sql("INSERT INTO sales.orders (customer, amount, payload) SELECT "
           "1 + g %% %d, g * 1.25, jsonb_build_object('n', g, 'q', "
           "'it''s \"quoted\"') FROM generate_series(1, 500) g" % rows, db=db)
    pg.sql("CREATE TABLE empty_one (x int)", db=db)


def list_json(config, job=None):
    r = backup("-c", config, "list", *([job] if job else []), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def new_id(r):
    assert r.returncode == 0, r.stdout + r.stderr
    ids = r.stdout.split()
    assert len(ids) == 1 and re.match(r"^\d{8}T\d{6}Z(-\d)?$", ids[0]), \
        r.stdout
    return ids[0]


# ---- physical jobs ----------------------------------------------------------


def _archived(pg, name):
    d = os.path.join(pg.dest, "phys", "wal")
    return os.path.isdir(d) and any(f.startswith(name) for f in os.listdir(d))


def test_physical_backup_and_point_in_time_restore(pg, work):
    cfg = pg.archive_config
    loader_ready(cfg)
    pg.sql("CREATE TABLE IF NOT EXISTS events (v text)")
    pg.sql("TRUNCATE events")
    pg.sql("INSERT INTO events VALUES ('before the backup')")
    bid = new_id(backup("-c", cfg, "now", "phys", timeout=300))
    e = [x for x in list_json(cfg, "phys") if x["id"] == bid][0]
    assert e["kind"] == "physical" and e["status"] == "verified"
    man = json.load(open(os.path.join(pg.dest, "phys", bid,
                                      "manifest.json")))
    assert man["physical"]["restore_point"] and man["tables"]["public.events"] == 1

    pg.sql("INSERT INTO events VALUES ('first')")
    time.sleep(1.1)
    t = pg.sql("SELECT to_char(now() AT TIME ZONE 'UTC', "
               "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")[0][0]
    time.sleep(1.1)
    pg.sql("INSERT INTO events VALUES ('second')")
    seg = pg.sql("SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    wait_for(lambda: _archived(pg, seg), timeout=30, what="WAL archived")

    r = backup("-c", cfg, "restore", "phys", "--time", t, "--to-db", "pitr",
               timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(v for (v,) in pg.sql("SELECT v FROM events", db="pitr")) \
        == ["before the backup", "first"]
    # without a time: everything archived
    r = backup("-c", cfg, "restore", "phys", "--to-db", "latest",
               timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(v for (v,) in pg.sql("SELECT v FROM events",
                                       db="latest")) == \
        ["before the backup", "first", "second"]
    # a time before any backup ended cannot be reached
    r = backup("-c", cfg, "restore", "phys", "--time",
               "2001-01-01T00:00:00Z", "--to-db", "nope")
    assert r.returncode == 1 and not pg.exists("nope")
    # a time after the last archived WAL is refused by PostgreSQL itself
    r = backup("-c", cfg, "restore", "phys", "--time",
               "2099-01-01T00:00:00Z", "--to-db", "nope", timeout=300)
    assert r.returncode == 2 and not pg.exists("nope")
    assert "recovery ended before" in r.stderr


def test_archive_wal_is_idempotent_and_refuses_a_different_segment(pg, work):
    dest = work + "/dest"
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("w", pg, "postgres", dest, kind="physical",
                 compression="zstd", verify=False)])
    loader_ready(cfg)
    name = "0000000100000000000000A1"
    seg = os.path.join(work, name)
    with open(seg, "wb") as f:
        f.write(os.urandom(1 << 16))
    assert backup("-c", cfg, "archive-wal", "w", seg, name).returncode == 0
    stored = os.path.join(dest, "w", "wal", name + ".zst")
    first = open(stored, "rb").read()
    # PostgreSQL retries after a crash: the same content is fine
    assert backup("-c", cfg, "archive-wal", "w", seg, name).returncode == 0
    with open(seg, "wb") as f:
        f.write(os.urandom(1 << 16))
    r = backup("-c", cfg, "archive-wal", "w", seg, name)
    assert r.returncode == 2 and "refusing" in r.stderr
    assert open(stored, "rb").read() == first
    r = backup("-c", cfg, "archive-wal", "w", seg, "../../etc/passwd")
    assert r.returncode == 1
    assert not [f for f in os.listdir(os.path.join(dest, "w", "wal"))
                if f.startswith(".")]


# ---- logical jobs -------------------------------------------------------


def test_logical_backup_verify_and_restore_bring_back_the_same_data(pg, work):
    make_app_db(pg, "shop")
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("shop", pg, "shop", work + "/dest")])
    loader_ready(cfg)

    bid = new_id(backup("-c", cfg, "now", "shop"))
    entries = list_json(cfg, "shop")
    assert [e["id"] for e in entries] == [bid]
    assert entries[0]["status"] == "verified" and entries[0]["complete"]
    assert entries[0]["kind"] == "logical" and entries[0]["size"] > 0
    man = json.load(open(os.path.join(work, "dest", "shop", bid,
                                      "manifest.json")))
    assert man["tables"] == {"public.customers": 200, "sales.orders": 500,
                             "public.empty_one": 0}
    assert man["database"] == "shop" and man["compression"] == "gzip"
    assert len(man["files"][0]["sha256"]) == 64

    text = backup("list", "-c", cfg)          # options after the command
    assert text.returncode == 0 and bid in text.stdout

    r = backup("-c", cfg, "verify", "shop", "--id", bid)
    assert r.returncode == 0, r.stderr

    r = backup("-c", cfg, "restore", "shop", "--to-db", "shop_copy")
    assert r.returncode == 0, r.stderr
    assert pg.dump_tables("shop_copy") == pg.dump_tables("shop")

    # an existing database is refused without --force, and left alone
    pg.sql("INSERT INTO customers VALUES (9999, 'later', NULL, NULL)",
           db="shop_copy")
    r = backup("-c", cfg, "restore", "shop", "--to-db", "shop_copy")
    assert r.returncode == 1 and "--force" in r.stderr
    assert pg.sql("SELECT count(*) FROM customers", db="shop_copy")[0][0] \
        == 201
    r = backup("-c", cfg, "restore", "shop", "--to-db", "shop_copy",
               "--force")
    assert r.returncode == 0, r.stderr
    assert pg.dump_tables("shop_copy") == pg.dump_tables("shop")
    # never over the source database, not even with --force
    r = backup("-c", cfg, "restore", "shop", "--to-db", "shop", "--force")
    assert r.returncode == 1
    # --time needs a physical job
    r = backup("-c", cfg, "restore", "shop", "--to-db", "x",
               "--time", "2026-01-01T00:00:00Z")
    assert r.returncode == 1
    assert not [d for (d,) in pg.sql("SELECT datname FROM pg_database")
                if d.startswith("limen_")]


def test_encrypted_backup_is_unreadable_without_the_key(pg, work):
    make_app_db(pg, "vault", rows=50)
    key = os.path.join(work, "backup.key")
    with open(key, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(key, 0o600)
    other = os.path.join(work, "other.key")
    with open(other, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(other, 0o600)
    dest = work + "/dest"
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("vault", pg, "vault", dest, compression="zstd",
                 key_file=key)])
    loader_ready(cfg)
    bid = new_id(backup("-c", cfg, "now", "vault"))
    path = os.path.join(dest, "vault", bid, "dump.pgdump.zst.enc")
    raw = open(path, "rb").read()
    assert raw.startswith(b"LIMENAE1")
    assert b"SECRET-MARKER" not in raw and b"customers" not in raw
    assert list_json(cfg)[0]["encrypted"] is True
    assert subprocess.run(["zstd", "-d", "-c", path], capture_output=True
                          ).returncode != 0 if shutil.which("zstd") else True

    # the same job with another key cannot verify nor restore it
    wrong = write_config(os.path.join(work, "wrong.yaml"), [
        job_yaml("vault", pg, "vault", dest, compression="zstd",
                 key_file=other, verify=False)])
    r = backup("-c", wrong, "restore", "vault", "--to-db", "vault_copy")
    assert r.returncode == 2
    assert "wrong key" in r.stderr
    assert not pg.exists("vault_copy")
    # and without any key it says so
    nokey = write_config(os.path.join(work, "nokey.yaml"), [
        job_yaml("vault", pg, "vault", dest, compression="zstd",
                 verify=False)])
    r = backup("-c", nokey, "restore", "vault", "--to-db", "vault_copy")
    assert r.returncode == 2 and "encrypted" in r.stderr

    r = backup("-c", cfg, "restore", "vault", "--to-db", "vault_copy")
    assert r.returncode == 0, r.stderr
    assert pg.dump_tables("vault_copy") == pg.dump_tables("vault")


def test_verify_catches_a_corrupted_backup_file(pg, work):
    make_app_db(pg, "fragile", rows=100)
    dest = work + "/dest"
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("fragile", pg, "fragile", dest, compression="none",
                 verify=False)])
    loader_ready(cfg)
    bid = new_id(backup("-c", cfg, "now", "fragile"))
    assert list_json(cfg)[0]["status"] == "complete"
    path = os.path.join(dest, "fragile", bid, "dump.pgdump")
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x40]))
    r = backup("-c", cfg, "verify", "fragile")
    assert r.returncode == 2
    assert "damaged" in r.stderr
    e = list_json(cfg)[0]
    assert e["status"] == "verify-failed" and e["verified_at"]
    r = backup("-c", cfg, "restore", "fragile", "--to-db", "fragile_copy")
    assert r.returncode != 0 and not pg.exists("fragile_copy")


def _lock_table(pg, db, table):
    """Hold an ACCESS EXCLUSIVE lock so pg_dump waits; returns the conn."""
    c = psycopg2.connect(host="127.0.0.1", port=pg.port, user="postgres",
                         dbname=db)
    cur = c.cursor()
    cur.execute("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE" % table)
    return c


def _partial_dirs(dest, job):
    d = os.path.join(dest, job)
    if not os.path.isdir(d):
        return []
    return [x for x in os.listdir(d) if re.match(r"^\d{8}T\d{6}Z", x)]


def test_kill_9_during_a_backup_leaves_no_complete_manifest(pg, work):
    make_app_db(pg, "crashy", rows=50)
    dest = work + "/dest"
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("crashy", pg, "crashy", dest, verify=False)])
    loader_ready(cfg)
    lock = _lock_table(pg, "crashy", "customers")
    p = subprocess.Popen([BACKUP_BIN, "-c", cfg, "now", "crashy"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        wait_for(lambda: _partial_dirs(dest, "crashy"), timeout=30,
                 what="the backup directory")
        time.sleep(0.3)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
    finally:
        lock.close()
    (partial,) = _partial_dirs(dest, "crashy")
    assert not os.path.exists(os.path.join(dest, "crashy", partial,
                                           "manifest.json"))
    e = list_json(cfg, "crashy")
    assert len(e) == 1 and e[0]["status"] == "partial" and not e[0]["complete"]
    assert e[0]["end"] is None and e[0]["size"] is None
    r = backup("-c", cfg, "verify", "crashy")
    assert r.returncode == 1      # nothing complete to verify
    # the next run removes the partial backup and makes a good one
    bid = new_id(backup("-c", cfg, "now", "crashy"))
    assert _partial_dirs(dest, "crashy") == [bid]
    assert [x["status"] for x in list_json(cfg)] == ["complete"]


def test_sigterm_during_a_backup_fails_it_cleanly(pg, work):
    make_app_db(pg, "stopme", rows=50)
    dest = work + "/dest"
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("stopme", pg, "stopme", dest, verify=False)])
    loader_ready(cfg)
    lock = _lock_table(pg, "stopme", "customers")
    p = subprocess.Popen([BACKUP_BIN, "-c", cfg, "now", "stopme"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: _partial_dirs(dest, "stopme"), timeout=30,
                 what="the backup directory")
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30 * SLOW)
    finally:
        lock.close()
    assert p.returncode == 2, err
    assert out.strip() == b""
    assert _partial_dirs(dest, "stopme") == []
    # no pg_dump left behind
    r = subprocess.run(["pgrep", "-f", "pg_dump.*stopme"],
                       capture_output=True)
    assert r.returncode == 1


def test_a_full_disk_leaves_no_complete_manifest(pg, work):
    make_app_db(pg, "bulky", rows=10)
    pg.sql("CREATE TABLE filler AS SELECT md5(random()::text) || "
           "md5(random()::text) AS a FROM generate_series(1, 40000)",
           db="bulky")
    small = os.path.join(work, "small")
    os.makedirs(small)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs",
                        small], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: " + r.stderr.strip())
    try:
        cfg = write_config(os.path.join(work, "c.yaml"), [
            job_yaml("bulky", pg, "bulky", small, compression="none",
                     verify=False)])
        loader_ready(cfg)
        r = backup("-c", cfg, "now", "bulky")
        assert r.returncode == 2
        assert "No space left on device" in r.stderr
        assert r.stdout.strip() == ""
        for root, dirs, files in os.walk(small):
            assert "manifest.json" not in files
        assert [e for e in list_json(cfg) if e["complete"]] == []
        assert _partial_dirs(small, "bulky") == []
    finally:
        subprocess.run(["umount", "-l", small])


def test_one_job_never_runs_twice_at_once(pg, work):
    make_app_db(pg, "single", rows=5)
    dest = work + "/dest"
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("single", pg, "single", dest, verify=False)])
    loader_ready(cfg)
    os.makedirs(os.path.join(dest, "single"))
    with open(os.path.join(dest, "single", ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        r = backup("-c", cfg, "now", "single")
        assert r.returncode == 2 and "already running" in r.stderr
    new_id(backup("-c", cfg, "now", "single"))


def test_prune_applies_retention_and_dry_run_changes_nothing(pg, work):
    make_app_db(pg, "keep", rows=5)
    dest = work + "/dest"
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("keep", pg, "keep", dest, verify=False,
                 retention={"keep_last": 2})])
    loader_ready(cfg)
    ids = [new_id(backup("-c", cfg, "now", "keep")) for _ in range(3)]
    # every run prunes: the oldest of three is gone
    assert [e["id"] for e in list_json(cfg)] == ids[1:]
    # an old backup from "last year" appears (copied, renamed)
    jobdir = os.path.join(dest, "keep")
    old = "20250101T030000Z"
    shutil.copytree(os.path.join(jobdir, ids[1]), os.path.join(jobdir, old))
    mpath = os.path.join(jobdir, old, "manifest.json")
    m = json.load(open(mpath))
    m["id"], m["start"], m["end"] = old, "2025-01-01T03:00:00Z", \
        "2025-01-01T03:00:10Z"
    json.dump(m, open(mpath, "w"))
    r = backup("-c", cfg, "prune", "keep", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would delete %s" % old in r.stdout
    assert "keep %s (" % ids[2] in r.stdout
    assert os.path.isdir(os.path.join(jobdir, old))
    r = backup("prune", "keep", "-c", cfg)
    assert r.returncode == 0, r.stderr
    assert "deleted %s" % old in r.stdout
    assert [e["id"] for e in list_json(cfg)] == ids[1:]


def test_command_line_errors_exit_1(pg, work):
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("x", pg, "postgres", work + "/dest", verify=False)])
    loader_ready(cfg)
    r = backup("--version")
    assert r.returncode == 0 and r.stdout.startswith("limen-backup ")
    for argv in (["frobnicate"], ["now"], ["now", "nosuchjob"],
                 ["list", "nosuchjob"], ["verify", "x", "--id", "bogus"],
                 ["restore", "x"], ["restore", "x", "--to-db", "y",
                                    "--time", "yesterday"],
                 ["now", "x", "--json"], ["archive-wal", "x", "a"],
                 ["list", "--bogus"]):
        r = backup("-c", cfg, *argv)
        assert r.returncode == 1, (argv, r.stderr)
    r = backup("-c", os.path.join(work, "missing.yaml"), "list")
    assert r.returncode == 1


# ---- the scheduler and metrics ---------------------------------------------


def test_scheduler_runs_a_missed_job_at_start_and_serves_metrics(pg, work):
    make_app_db(pg, "cron", rows=20)
    dest = work + "/dest"
    port = free_port()
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("cron", pg, "cron", dest, verify=True)],
        listen="127.0.0.1:%d" % port)
    loader_ready(cfg)
    log = open(os.path.join(work, "run.log"), "wb")
    p = subprocess.Popen([BACKUP_BIN, "run", "-c", cfg], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        def metrics():
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
                    return r.read().decode()
            except OSError:
                return None

        def done():
            m = metrics()
            return m if m and re.search(
                r'limen_backup_last_verify_success\{backup_job="cron"\} 1', m) \
                else None

        text = wait_for(done, timeout=60, what="a verified run in /metrics")
        ts = float(re.search(r'limen_backup_last_success_timestamp_seconds'
                             r'\{backup_job="cron"\} (\S+)', text).group(1))
        assert abs(ts - time.time()) < 120
        assert re.search(r'limen_backup_last_size_bytes\{backup_job="cron"\} '
                         r'[1-9]', text)
        assert 'limen_backup_failures_total{backup_job="cron"} 0' in text
        assert "# TYPE limen_backup_failures_total counter" in text
        nxt = float(re.search(r'limen_backup_next_run_timestamp_seconds'
                              r'\{backup_job="cron"\} (\S+)', text).group(1))
        assert nxt > time.time()
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port,
                                    timeout=2) as r:
            assert r.status == 200 and r.read() == b"ok\n"
        assert [e["status"] for e in list_json(cfg)] == ["verified"]
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30 * SLOW) == 0
    finally:
        if p.poll() is None:
            p.kill()
        log.close()
    out = open(os.path.join(work, "run.log")).read()
    assert "running it now" in out
    assert "ERROR: AddressSanitizer" not in out
    # restarted: the run at 03:00 is not missed any more, nothing runs
    log = open(os.path.join(work, "run2.log"), "wb")
    p = subprocess.Popen([BACKUP_BIN, "-c", cfg, "run"], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "scheduler running" in open(
            os.path.join(work, "run2.log")).read(), timeout=20,
            what="scheduler start")
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30 * SLOW) == 0
    finally:
        if p.poll() is None:
            p.kill()
        log.close()
    assert len(list_json(cfg)) == 1


def test_scheduler_sigterm_stops_a_running_backup_and_exits_0(pg, work):
    make_app_db(pg, "busy", rows=10)
    dest = work + "/dest"
    cfg = write_config(os.path.join(work, "c.yaml"), [
        job_yaml("busy", pg, "busy", dest, verify=False)])
    loader_ready(cfg)
    lock = _lock_table(pg, "busy", "customers")
    logpath = os.path.join(work, "run.log")
    log = open(logpath, "wb")
    p = subprocess.Popen([BACKUP_BIN, "-c", cfg, "run"], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _partial_dirs(dest, "busy"), timeout=30,
                 what="the scheduled run to start")
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30 * SLOW) == 0
    finally:
        lock.close()
        if p.poll() is None:
            p.kill()
        log.close()
    out = open(logpath).read()
    assert "run FAILED" in out and "stopped" in out, out
    assert _partial_dirs(dest, "busy") == []
    assert not SAN_PATTERNS.search(out), out
